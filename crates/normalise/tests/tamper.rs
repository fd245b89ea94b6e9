//! An altered log is reported, never passed on as genuine: deleted, edited, swapped and
//! inserted lines each raise `op=tamper`; junk becomes `op=error` and the stream goes on.

mod common;

use std::fs;

use common::*;
use dbaudit_record::Key;

/// A log of 6 records (start + 5 rows), altered by `alter` before the normaliser sees it.
fn altered(name: &str, alter: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<Line> {
    let dir = Dir::new(name);
    let key = Key::from_bytes([8; 32]);
    let mut log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    log.append(5);
    let text = fs::read(&log.path).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    alter(&mut lines);
    let mut out = lines.join(&b'\n');
    out.push(b'\n');
    fs::write(&log.path, out).unwrap();
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    norm.once_ok();
    norm.lines()
}

fn tampers(lines: &[Line]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.op == "tamper")
        .map(|l| (l.get("kind").unwrap().to_owned(), l.get("seq").unwrap().to_owned()))
        .collect()
}

#[test]
fn a_deleted_line_is_a_gap() {
    let lines = altered("deleted", |lines| {
        lines.remove(3);
    });
    assert_eq!(tampers(&lines), [("gap".to_owned(), "4".to_owned())]);
    let gap = lines.iter().find(|l| l.op == "tamper").unwrap();
    assert_eq!(gap.get("last_seq"), Some("2"));
}

#[test]
fn an_edited_line_is_a_mac_failure_and_its_content_is_only_claimed() {
    let lines = altered("edited", |lines| {
        let edited = String::from_utf8(lines[2].clone()).unwrap().replace("admin@localhost", "victim@localhost");
        lines[2] = edited.into_bytes();
    });
    assert_eq!(tampers(&lines), [("mac".to_owned(), "2".to_owned())]);
    assert!(lines.iter().all(|l| l.get("user") != Some("victim@localhost")), "{lines:?}");
    let tamper = lines.iter().find(|l| l.op == "tamper").unwrap();
    assert_eq!(tamper.get("claimed_user"), Some("victim@localhost"));
}

#[test]
fn swapped_lines_are_reported() {
    let lines = altered("swapped", |lines| lines.swap(2, 3));
    let found = tampers(&lines);
    assert!(!found.is_empty(), "{lines:?}");
    assert!(found.iter().any(|(kind, _)| kind == "gap"), "{found:?}");
    assert!(found.iter().any(|(kind, _)| kind == "order"), "{found:?}");
}

#[test]
fn an_inserted_line_without_the_key_is_a_mac_failure() {
    let lines = altered("inserted", |lines| {
        // A forger copies a genuine line and edits the seq to fit in.
        let fake = String::from_utf8(lines[5].clone()).unwrap().replace("\"seq\":5", "\"seq\":6");
        lines.push(fake.into_bytes());
    });
    assert_eq!(tampers(&lines), [("mac".to_owned(), "6".to_owned())]);
}

#[test]
fn junk_is_counted_and_the_stream_goes_on() {
    let lines = altered("junk", |lines| {
        lines.insert(2, b"this is not a record".to_vec());
        lines.insert(3, vec![0xff, 0xfe, 0x00, 0x1b, b'[', b'2', b'J']);
        lines.insert(4, b"{\"v\":1,\"epoch\":\"1000".to_vec());
    });
    let errors: Vec<&Line> = lines.iter().filter(|l| l.op == "error").collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert_eq!(errors[0].get("kind"), Some("unparsable"));
    assert_eq!(errors[0].get("count"), Some("3"));
    assert_eq!(record_points(&lines).len(), 6);
    assert!(tampers(&lines).is_empty());
}

#[test]
fn a_newline_in_a_value_never_starts_a_line() {
    let dir = Dir::new("newline");
    let key = Key::from_bytes([9; 32]);
    let mut log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    log.append(2); // each record's `note` holds "line one\nline two"
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    norm.once_ok();
    let text = fs::read_to_string(&norm.output).unwrap();
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        assert!(line.starts_with("2026-11-26T08:31:24."), "{line}");
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b) || b >= 0x80), "{line}");
    }
    assert!(text.contains(r#""note":"line one\nline two""#));
}
