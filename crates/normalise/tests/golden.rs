//! The normalised lines are a contract (docs/ARCHITECTURE.md): whatever is done to make the
//! normaliser faster, the same raw log must give the same bytes. `fixtures/hostile.log` holds
//! every kind of record and every kind of trouble — values that need escaping or percent-encoding
//! (quotes, backslashes, newlines, C0 and C1 controls, U+2028, DEL, raw UTF-8, bytes that are not
//! UTF-8, NULL, separators in names), fields and lines cut to fit, forged, drift and lost records,
//! an unanchored first record, a mac edited, a line deleted, lines swapped and repeated, junk
//! (a half line, a control character or a non-UTF-8 byte where a record must have none), epochs
//! that start right, after a gap, under another key, and a start replayed; between them, enough
//! plain rows that lines are verified in batches. `fixtures/hostile.normalised` is what
//! dbaudit-normalise made of it at commit 2d8e947, before the work on its speed.

mod common;

use std::fs;
use std::process::Command;

use common::{key_file, Dir, BIN};
use dbaudit_record::Key;

/// The output with what differs from run to run masked: the time of an `op=error
/// kind=unparsable` line is when the junk was seen, not when it was written.
fn masked(output: &str) -> String {
    output
        .lines()
        .map(|line| match line.split_once(" dbhost dbaudit: op=error kind=unparsable ") {
            Some((_, rest)) => format!("<now> dbhost dbaudit: op=error kind=unparsable {rest}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn a_hostile_log_gives_the_very_bytes_it_always_gave() {
    let dir = Dir::new("golden");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    fs::copy(fixtures.join("hostile.log"), dir.join("hostile.log")).unwrap();
    let key = key_file(&dir, &Key::from_bytes([7; 32]));
    // Run where the log is, so that `file=` on an unparsable line names it as the fixture does.
    let run = Command::new(BIN)
        .current_dir(&dir.0)
        .args(["once", "--input", "hostile.log", "--state", "state", "--output", "out.log", "--host", "dbhost"])
        .arg("--key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let expected = fs::read_to_string(fixtures.join("hostile.normalised")).unwrap();
    let made = masked(&fs::read_to_string(dir.join("out.log")).unwrap());
    assert_eq!(made.lines().count(), expected.lines().count(), "{made}");
    for (n, (made, expected)) in made.lines().zip(expected.lines()).enumerate() {
        assert_eq!(made, expected, "line {} differs", n + 1);
    }
    assert_eq!(made, expected);
}
