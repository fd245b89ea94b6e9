//! `follow --recheck`: a record edited, or a line deleted, in the live raw log after it was
//! delivered raises one `op=tamper … found=recheck` line per alteration, however many rounds
//! see it; an untouched log, rotated both ways and followed across a restart, raises none;
//! `--recheck 0` never looks back. Rounds are counted from the follower's trace, never timed.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use dbaudit_record::Key;

fn setup(name: &str, recheck: &str) -> (Dir, RawLog, Normaliser) {
    let dir = Dir::new(name);
    let key = Key::from_bytes([11; 32]);
    let log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    let mut norm = Normaliser::in_dir(&dir, &log.path, &key);
    norm.follow_extra = vec!["--recheck".into(), recheck.into()];
    (dir, log, norm)
}

/// The trace of `norm`'s followers.
fn trace(norm: &Normaliser) -> String {
    fs::read_to_string(norm.state.with_extension("err")).unwrap_or_default()
}

/// How many re-check rounds `norm`'s followers finished over a file that still held what
/// was delivered.
fn rounds(norm: &Normaliser) -> usize {
    trace(norm).lines().filter(|l| l.contains("trace: recheck: ") && l.contains(" records in ")).count()
}

/// Waits for `n` more rounds: with two, one began after whatever was just done.
fn wait_rounds(norm: &Normaliser, n: usize) {
    let from = rounds(norm);
    wait_until(60, "re-check rounds", || rounds(norm) >= from + n);
}

/// (kind, seq, found) of each `op=tamper` line.
fn tampers(lines: &[Line]) -> Vec<(String, String, Option<String>)> {
    let field = |line: &Line, key: &str| line.get(key).map(str::to_owned);
    lines
        .iter()
        .filter(|l| l.op == "tamper")
        .map(|l| (field(l, "kind").unwrap(), field(l, "seq").unwrap(), field(l, "found")))
        .collect()
}

fn recheck_found(kind: &str, seq: u64) -> (String, String, Option<String>) {
    (kind.to_owned(), seq.to_string(), Some("recheck".to_owned()))
}

/// Where line `n` (from 0) of `bytes` begins, and its length with its newline.
fn line_at(bytes: &[u8], n: usize) -> (usize, usize) {
    let start =
        if n == 0 { 0 } else { bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(n - 1).unwrap().0 + 1 };
    let len = bytes[start..].iter().position(|&b| b == b'\n').unwrap() + 1;
    (start, len)
}

/// Overwrites `from` in line `n` of the file with `to` (as long), in place: same inode, same length.
fn edit_in_place(path: &Path, n: usize, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let bytes = fs::read(path).unwrap();
    let (start, len) = line_at(&bytes, n);
    let at = start + bytes[start..start + len].windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
    fs::OpenOptions::new().write(true).open(path).unwrap().write_all_at(to.as_bytes(), at as u64).unwrap();
}

/// Removes line `n` from the file in place (same inode) and returns its length.
fn delete_in_place(path: &Path, n: usize) -> usize {
    let mut bytes = fs::read(path).unwrap();
    let (start, len) = line_at(&bytes, n);
    bytes.drain(start..start + len);
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&bytes, 0).unwrap();
    file.set_len(bytes.len() as u64).unwrap();
    len
}

#[test]
fn a_byte_edited_in_a_delivered_record_is_reported_once_by_the_recheck() {
    let (_dir, mut log, norm) = setup("recheck-edited", "1");
    log.append(9);
    let mut child = norm.follow();
    wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
    wait_rounds(&norm, 2);
    assert!(tampers(&norm.lines_so_far()).is_empty(), "{:?}", norm.lines_so_far());
    edit_in_place(&log.path, 4, "admin@localhost", "ADMIN@localhost");
    wait_until(60, "the re-check's finding", || !tampers(&norm.lines_so_far()).is_empty());
    // Rounds go on seeing the same edit; delivery goes on too.
    wait_rounds(&norm, 3);
    log.append(1);
    wait_until(20, "the next record", || record_points(&norm.lines_so_far()) == log.written);
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(tampers(&lines), [recheck_found("mac", 4)], "{lines:?}");
    let tamper = lines.iter().find(|l| l.op == "tamper").unwrap();
    assert_eq!(tamper.get("claimed_user"), Some("ADMIN@localhost"));
    assert_eq!(record_points(&lines), log.written);
}

#[test]
fn a_delivered_line_deleted_is_a_gap_found_by_the_recheck() {
    let (_dir, mut log, norm) = setup("recheck-deleted", "1");
    log.append(9);
    let mut child = norm.follow();
    wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
    // Held still while record 5 goes and the writer's next record happens to fill its room:
    // the file is as long as it was, and the reader, at its end, sees nothing amiss.
    signal(&child, "STOP");
    let before = log.written.clone();
    let room = delete_in_place(&log.path, 5);
    log.append_of(room);
    signal(&child, "CONT");
    wait_until(60, "the re-check's finding", || !tampers(&norm.lines_so_far()).is_empty());
    wait_rounds(&norm, 3);
    // The reader never saw the record that filled the room: the next one tells it.
    log.append(1);
    wait_until(20, "the reader's gap", || tampers(&norm.lines_so_far()).len() == 2);
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(tampers(&lines), [recheck_found("gap", 6), ("gap".to_owned(), "11".to_owned(), None)], "{lines:?}");
    let gap = lines.iter().find(|l| l.op == "tamper").unwrap();
    assert_eq!(gap.get("last_seq"), Some("4"));
    assert_eq!(record_points(&lines), before);
}

#[test]
fn an_untouched_log_rotated_both_ways_and_followed_across_a_restart_raises_nothing() {
    let (_dir, mut log, norm) = setup("recheck-untouched", "1");
    log.append(5);
    let mut child = norm.follow();
    let delivered = |log: &RawLog| {
        wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
        wait_rounds(&norm, 2);
    };
    delivered(&log);
    log.rename_rotate();
    log.append(2);
    log.reopen();
    log.append(5);
    delivered(&log);
    log.copytruncate();
    log.append(3);
    delivered(&log);
    // Restarted in the middle of a file whose first record continues the previous file's.
    kill9(&mut child);
    log.append(2);
    let mut child = norm.follow();
    delivered(&log);
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn after_a_restart_the_first_record_of_a_file_is_checked_against_the_one_before_it() {
    // The server's error log: its first line is the server's, so the line that tells the
    // file from others is not the first record, which only the record before it can vouch for.
    let dir = Dir::new("recheck-entry");
    let key = Key::from_bytes([12; 32]);
    let path = dir.join("error.log");
    let server_line = |path: &Path| {
        let mut file = fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
        std::io::Write::write_all(&mut file, b"2026-11-26  8:31:24 0 [Note] Starting MariaDB 10.11.19\n").unwrap();
    };
    server_line(&path);
    let mut log = RawLog::create(&path, key.clone());
    log.append(3);
    let mut norm = Normaliser::in_dir(&dir, &path, &key);
    norm.extra = vec!["--input-format".into(), "stderr".into()];
    norm.follow_extra = vec!["--recheck".into(), "1".into()];
    let mut child = norm.follow();
    wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
    log.rename_rotate();
    server_line(&path);
    log.reopen();
    log.append(3);
    wait_until(20, "the new file", || record_points(&norm.lines_so_far()) == log.written);
    kill9(&mut child);
    let first_in_file = log.written[log.written.len() - 3].1;
    let mut child = norm.follow();
    wait_rounds(&norm, 2);
    edit_in_place(&path, 1, "admin@localhost", "ADMIN@localhost");
    wait_until(60, "the re-check's finding", || !tampers(&norm.lines_so_far()).is_empty());
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(tampers(&lines), [recheck_found("mac", first_in_file)], "{lines:?}");
    assert_eq!(record_points(&lines), log.written);
}

#[test]
fn recheck_0_never_looks_back() {
    let (dir, mut log, checking) = setup("recheck-off", "1");
    let mut off = checking.clone();
    off.state = dir.join("off.state");
    off.output = dir.join("off.log");
    off.follow_extra = vec!["--recheck".into(), "0".into()];
    log.append(9);
    let (mut a, mut b) = (checking.follow(), off.follow());
    for norm in [&checking, &off] {
        wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
    }
    edit_in_place(&log.path, 4, "admin@localhost", "ADMIN@localhost");
    // Once the follower that re-checks has seen the edit, the other one has had as long.
    wait_until(60, "the re-check's finding", || !tampers(&checking.lines_so_far()).is_empty());
    log.append(1);
    wait_until(20, "the next record", || record_points(&off.lines_so_far()) == log.written);
    kill9(&mut a);
    kill9(&mut b);
    assert!(off.lines().iter().all(|l| l.is_record()), "{:?}", off.lines());
    assert!(!trace(&off).contains("recheck:"), "{}", trace(&off));
}

#[test]
fn what_was_reported_is_not_reported_again_after_a_restart() {
    let (_dir, mut log, norm) = setup("recheck-restart", "1");
    log.append(9);
    // A line gone before the reader came: it reports the gap as it reads.
    delete_in_place(&log.path, 3);
    let mut child = norm.follow();
    wait_until(20, "the reader's gap", || tampers(&norm.lines_so_far()).len() == 1);
    edit_in_place(&log.path, 6, "admin@localhost", "ADMIN@localhost");
    wait_until(60, "the re-check's finding", || tampers(&norm.lines_so_far()).len() == 2);
    kill9(&mut child);
    let mut child = norm.follow();
    wait_rounds(&norm, 2);
    kill9(&mut child);
    let lines = norm.lines();
    let found = [("gap".to_owned(), "4".to_owned(), None), recheck_found("mac", 7)];
    assert_eq!(tampers(&lines), found, "{lines:?}");
}

#[test]
fn a_finding_written_just_before_a_kill_is_matched_not_repeated() {
    let (_dir, mut log, norm) = setup("recheck-replay", "1");
    log.append(9);
    let mut child = norm.follow();
    wait_until(20, "delivery", || record_points(&norm.lines_so_far()) == log.written);
    wait_rounds(&norm, 1);
    let before = fs::read(&norm.state).unwrap();
    edit_in_place(&log.path, 4, "admin@localhost", "ADMIN@localhost");
    wait_until(60, "the re-check's finding", || !tampers(&norm.lines_so_far()).is_empty());
    // As if killed after writing the finding but before storing the checkpoint after it.
    kill9(&mut child);
    fs::write(&norm.state, &before).unwrap();
    let mut child = norm.follow();
    wait_rounds(&norm, 2);
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(tampers(&lines), [recheck_found("mac", 4)], "{lines:?}");
    assert!(lines.iter().all(|l| l.op != "error"), "{lines:?}");
}

#[test]
fn recheck_is_an_option_of_follow_only() {
    let help = std::process::Command::new(BIN).args(["follow", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--recheck <SECONDS>") && help.contains("[default: 300]"), "{help}");
    let once = std::process::Command::new(BIN).args(["once", "--recheck", "1"]).output().unwrap();
    assert_eq!(once.status.code(), Some(2), "{}", String::from_utf8_lossy(&once.stderr));
}
