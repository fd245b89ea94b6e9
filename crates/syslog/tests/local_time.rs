//! The header's time is the machine's local time as glibc's syslog(3) would give it: a child
//! process with `TZ` set sends one message to a socket of the test's, and its header must be
//! what `date` (glibc's localtime) says in that zone for a second the child ran in.

use std::env;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dbaudit_syslog::{Severity, Syslog};

/// Set only in the child: the socket it sends its message to.
const CHILD_SOCKET: &str = "DBAUDIT_SYSLOG_TEST_SOCKET";

const TEST: &str = "header_is_local_time_as_glibc_has_it";

#[test]
fn header_is_local_time_as_glibc_has_it() {
    if let Some(path) = env::var_os(CHILD_SOCKET) {
        // The child: this same test, started by the parent below under another TZ.
        Syslog::open_at(Path::new(&path), "dbaudit-test").unwrap().send(Severity::Info, b"hello").unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let daemon = UnixDatagram::bind(&path).unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A fixed zone from the zone files, a POSIX TZ string (no zone file), a zone with DST.
    for zone in ["Etc/GMT-3", "<+0530>-5:30", "America/New_York"] {
        let before = unix_now();
        let child = Command::new(env::current_exe().unwrap())
            .args(["--exact", TEST, "--test-threads=1"])
            .env(CHILD_SOCKET, &path)
            .env("TZ", zone)
            .output()
            .unwrap();
        assert!(child.status.success(), "{zone}: the child failed: {}", String::from_utf8_lossy(&child.stdout));
        let after = unix_now();
        let mut buf = [0; 512];
        let n = daemon.recv(&mut buf).unwrap();
        let message = String::from_utf8_lossy(&buf[..n]);
        let expected: Vec<String> = (before..=after).map(|second| glibc_header(zone, second)).collect();
        assert!(
            expected.iter().any(|header| message.starts_with(header.as_str()) && message.ends_with("]: hello")),
            "TZ={zone}: {message:?} starts with none of {expected:?}"
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The header syslog(3) makes for `second` in `zone`: its format, `%h %e %T`, through `date`.
fn glibc_header(zone: &str, second: u64) -> String {
    let date = Command::new("date")
        .env("TZ", zone)
        .env("LC_ALL", "C")
        .arg(format!("--date=@{second}"))
        .arg("+<86>%h %e %T dbaudit-test[")
        .output()
        .unwrap();
    assert!(date.status.success(), "date failed: {}", String::from_utf8_lossy(&date.stderr));
    String::from_utf8(date.stdout).unwrap().trim_end().to_owned()
}
