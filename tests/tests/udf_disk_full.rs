//! A full disk, for real: the audit log on a 64 KiB tmpfs that a filler file fills up.
//! The call fails (NULL, one line in the error log), a torn record never glues itself to the
//! next one, and once space returns the chain goes on with no gap.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use dbaudit_record::{Event, Key, Verifier};
use dbaudit_tests::{sql_quote_str, MariaDb, Options, TempDir};
use mysql::prelude::Queryable;

/// A tmpfs of `size` mounted at `path` for as long as it lives.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("cannot run mount");
        assert!(status.success(), "mounting a tmpfs failed: this test needs root with CAP_SYS_ADMIN (run as root)");
        Tmpfs(path.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_fails_the_call_and_loses_nothing_once_space_returns() {
    let dir = TempDir::new("dbaudit-disk-full");
    let fs = Tmpfs::mount(&dir.path().join("fs"), "64k");
    let log = fs.0.join("dbaudit.log");
    let server = MariaDb::start_with(Options { log: Some(log.display().to_string()), ..Options::default() });
    let mut root = server.root();
    let call = |root: &mut mysql::Conn, value: &str| -> Option<i64> {
        let sql = format!(
            "SELECT dbaudit_log({}, 'acme', 'users', 'insert', 'app@localhost', 1, 'id', '', 1 AS `new.id`, {} AS `new.note`)",
            sql_quote_str(&server.token_for("acme", "users")),
            sql_quote_str(value)
        );
        root.query_first::<Option<i64>, _>(sql).unwrap().unwrap()
    };

    assert_eq!(call(&mut root, "before"), Some(1));
    let filler_path = fs.0.join("filler");
    let mut filler = File::create(&filler_path).unwrap();
    while filler.write_all(&[b'f'; 512]).is_ok() {}
    drop(filler);

    assert_eq!(call(&mut root, &"x".repeat(8192)), None, "a record that does not fit fails the call");
    assert_eq!(call(&mut root, "small"), None, "nothing fits while the disk is full");
    assert!(server.is_alive());
    std::fs::remove_file(&filler_path).unwrap();
    assert_eq!(call(&mut root, "after"), Some(3), "the failed records took no seq; a count of them took 2");

    let text = std::fs::read(&log).unwrap();
    let mut verifier = Verifier::new(Key::from_hex(server.key_hex()).unwrap());
    let (mut records, mut torn) = (Vec::new(), 0);
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match verifier.check(line) {
            Ok(verdict) => {
                assert_eq!(verdict.tamper, None);
                if let Event::Lost(lost) = &verdict.record.event {
                    assert_eq!(lost.count, 2, "both calls made while the disk was full");
                }
                records.push(verdict.record.seq);
            }
            Err(_) => torn += 1,
        }
    }
    assert_eq!(records, [0, 1, 2, 3], "every record whole and chained");
    assert_eq!(torn, 1, "the record cut short by the full disk stays a fragment on a line of its own");
    let errors = String::from_utf8_lossy(&server.error_log()).into_owned();
    assert!(errors.contains("No space left on device"), "the error log says why: {errors}");
}
