//! Exactly-once delivery through the faults a log meets: restarts, rotation of every kind,
//! partial lines, a crash between writing and checkpointing, a second instance.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use common::*;
use dbaudit_normalise::input::{self, Found, Read, Source};
use dbaudit_record::Key;

fn setup(name: &str) -> (Dir, RawLog, Normaliser) {
    let dir = Dir::new(name);
    let key = Key::from_bytes([5; 32]);
    let log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    (dir, log, norm)
}

#[test]
fn once_twice_delivers_each_record_once() {
    let (_dir, mut log, norm) = setup("once-twice");
    log.append(10);
    norm.once_ok();
    log.append(5);
    norm.once_ok();
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert_eq!(lines[0].op, "start");
    assert_eq!(lines[1].get("user"), Some("admin@localhost"));
    assert_eq!(lines[1].get("host"), Some("localhost"));
    assert_eq!(lines[1].get("table"), Some("acme.users"));
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_partial_last_line_waits_for_its_newline() {
    let (_dir, mut log, norm) = setup("partial");
    log.append(3);
    log.write_partial(0.5);
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()).len(), 4);
    log.finish_partial();
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
}

#[test]
fn rotation_by_rename_while_stopped_finishes_the_old_file_first() {
    let (_dir, mut log, norm) = setup("rename");
    log.append(3);
    norm.once_ok();
    log.append(2);
    log.rename_rotate();
    log.append(2); // late writes into the renamed file, before the writer notices
    log.reopen();
    log.append(4);
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
}

#[test]
fn rotation_to_an_empty_file_keeps_the_old_one_until_the_new_one_has_lines() {
    let (_dir, mut log, norm) = setup("rename-empty");
    log.append(3);
    norm.once_ok();
    log.append(2);
    log.rename_rotate();
    log.reopen();
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
    log.append(1);
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
}

#[test]
fn copytruncate_while_stopped_reads_the_rest_from_the_copy() {
    let (_dir, mut log, norm) = setup("copytruncate");
    log.append(3);
    norm.once_ok();
    log.append(4);
    log.copytruncate();
    log.append(2);
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
    let lines = norm.lines();
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn delete_and_recreate_while_following_loses_nothing() {
    let (dir, mut log, norm) = setup("recreate");
    log.append(3);
    let mut child = norm.follow();
    wait_until(20, "3 records", || record_points(&norm.lines_so_far()).len() == 4);
    log.append(2);
    fs::remove_file(&log.path).unwrap();
    log.reopen();
    log.append(3);
    wait_until(20, "all records", || record_points(&norm.lines_so_far()).len() == log.written.len());
    kill9(&mut child);
    assert_eq!(record_points(&norm.lines()), log.written);
    drop(dir);
}

#[test]
fn a_new_file_on_a_reused_inode_is_read_from_its_start() {
    let (dir, mut log, norm) = setup("inode-reuse");
    log.append(5);
    norm.once_ok();
    let old_inode = fs::metadata(&log.path).unwrap().ino();
    fs::remove_file(&log.path).unwrap();
    // A new mysqld (a new epoch) starts a new log; the file system may hand it the same inode.
    let tip = log.tip();
    let mut next = RawLog::continue_at(&log.path, log.key.clone(), dbaudit_record::Epoch(0x2000_0000_0000_0002), None);
    next.start(tip);
    next.append(2);
    let reused = fs::metadata(&log.path).unwrap().ino() == old_inode;
    norm.once_ok();
    let mut expected = log.written.clone();
    expected.extend(&next.written);
    assert_eq!(record_points(&norm.lines()), expected, "inode reused: {reused}");
    drop(dir);
}

#[test]
fn a_crash_between_output_and_checkpoint_repeats_nothing() {
    let (_dir, mut log, norm) = setup("crash-window");
    log.append(5);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    log.append(5);
    norm.once_ok();
    // As if killed after writing the lines but before storing the checkpoint.
    fs::write(&norm.state, &before).unwrap();
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
}

#[test]
fn a_crash_in_the_middle_of_an_output_line_is_finished_not_repeated() {
    let (_dir, mut log, norm) = setup("crash-mid-line");
    log.append(5);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    let len_before = fs::metadata(&norm.output).unwrap().len();
    log.append(3);
    norm.once_ok();
    let full = fs::read(&norm.output).unwrap();
    // Killed while writing: only part of the new lines reached the file.
    let cut = len_before as usize + (full.len() - len_before as usize) / 2 + 7;
    fs::write(&norm.output, &full[..cut]).unwrap();
    fs::write(&norm.state, &before).unwrap();
    norm.once_ok();
    assert_eq!(fs::read(&norm.output).unwrap(), full);
}

#[test]
fn a_second_instance_on_the_same_state_exits_4_with_one_line() {
    let (_dir, mut log, norm) = setup("locked");
    log.append(1);
    let mut first = norm.follow();
    wait_until(20, "the first instance", || !norm.lines_so_far().is_empty());
    let second = norm.once();
    kill9(&mut first);
    assert_eq!(second.status.code(), Some(4));
    let stderr = String::from_utf8(second.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("another dbaudit-normalise"), "{stderr}");
}

#[test]
fn a_wrong_key_file_is_a_setup_error() {
    let (dir, mut log, mut norm) = setup("bad-key");
    log.append(1);
    fs::write(dir.join("bad.key"), "not a key\n").unwrap();
    norm.key_file = dir.join("bad.key");
    let out = norm.once();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.key"));
    norm.key_file = dir.join("missing.key");
    assert_eq!(norm.once().status.code(), Some(3));
}

#[test]
fn a_missing_input_on_the_first_run_is_a_setup_error() {
    let (dir, _log, mut norm) = setup("no-input");
    norm.input = dir.join("nowhere.log");
    let out = norm.once();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn help_documents_every_exit_code() {
    let out = std::process::Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for code in ["0  done", "1  reading", "2  wrong usage", "3  setup", "4  another"] {
        assert!(help.contains(code), "{help}");
    }
    // Every op and kind the normaliser writes, and what a line too long to hold becomes.
    let too_long = format!("longer than {} MiB", input::MAX_LINE_BYTES >> 20);
    for said in ["drift", "kind=gap|mac|order", "unparsable", &too_long, "unanchored", "replay", "lost"] {
        assert!(help.contains(said), "--help does not mention {said}: {help}");
    }
    let out = std::process::Command::new(BIN).args(["once", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for option in ["--input", "--input-format", "--key-file", "--state", "--output", "--host", "--poll-ms"] {
        assert!(help.contains(option), "{help}");
    }
    assert_eq!(std::process::Command::new(BIN).arg("--bogus").output().unwrap().status.code(), Some(2));
}

#[test]
fn stdout_output_carries_the_same_lines() {
    let (_dir, mut log, mut norm) = setup("stdout");
    log.append(4);
    norm.output = "-".into();
    let out = norm.once();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(text.lines().all(|l| l.contains(" dbhost dbaudit: op=")), "{text}");
}

#[test]
fn the_error_log_yields_only_our_records() {
    let dir = Dir::new("stderr");
    let key = Key::from_bytes([6; 32]);
    let path = dir.join("error.log");
    fs::write(&path, "2026-11-26  8:31:24 0 [Note] Starting MariaDB 10.11.19\n").unwrap();
    let mut log = RawLog::create(&path, key.clone());
    log.append(2);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"2026-11-26  8:31:25 0 [Note] ready\n")
        .unwrap();
    log.append(2);
    let mut norm = Normaliser::in_dir(&dir, &path, &key);
    norm.extra = vec!["--input-format".into(), "stderr".into()];
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_checkpoint_older_than_the_output_repeats_nothing_seq_tells() {
    let (_dir, mut log, norm) = setup("old-checkpoint");
    log.append(5);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    log.append(5);
    norm.once_ok();
    // An older checkpoint whose output length no longer fits (the output was copied away
    // and back, say): replay cannot match, but the seq of the last line written can.
    let mut old = String::from_utf8(before).unwrap();
    old = old.lines().map(|l| if l.starts_with("output=") { "output=none" } else { l }).collect::<Vec<_>>().join("\n");
    fs::write(&norm.state, old + "\n").unwrap();
    log.append(2);
    norm.once_ok();
    assert_eq!(record_points(&norm.lines()), log.written);
}

#[test]
fn a_crash_after_following_a_rotation_repeats_nothing_while_the_next_file_is_renamed_away() {
    let (_dir, mut log, norm) = setup("crash-rotation-replay");
    log.append(3);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    log.append(2);
    log.rename_rotate();
    log.reopen();
    log.append(3);
    norm.once_ok();
    // As if killed after writing the new file's lines but before storing the checkpoint;
    // then that file is rotated away too, and the writer has not yet made the next one.
    fs::write(&norm.state, &before).unwrap();
    log.rename_rotate();
    // The restarted follower matches the old file's lines, then finds nothing more for a while…
    let mut child = norm.follow();
    let trace = norm.state.with_extension("err");
    wait_until(20, "the follower's start", || fs::read_to_string(&trace).unwrap_or_default().contains("start:"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    // …until the writer opens a new file: then it reads the renamed one, already written.
    log.reopen();
    log.append(2);
    wait_until(20, "the last record", || record_points(&norm.lines_so_far()).last() == log.written.last());
    kill9(&mut child);
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_crash_after_junk_was_reported_in_two_parts_repeats_nothing() {
    let (_dir, mut log, norm) = setup("crash-junk-replay");
    log.append(2);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    // Two torn writes: the first fragment is a whole line (and reported) before the second is.
    log.write_torn();
    log.write_torn();
    norm.once_ok();
    log.append(2);
    norm.once_ok();
    let unparsable = |lines: &[Line]| lines.iter().filter(|l| l.get("kind") == Some("unparsable")).count();
    assert_eq!(unparsable(&norm.lines()), 2);
    // Killed before the checkpoint: the next run meets both fragments at once.
    fs::write(&norm.state, &before).unwrap();
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert_eq!(unparsable(&lines), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.is_record() || l.get("kind") == Some("unparsable")), "{lines:?}");
}

#[test]
fn a_copytruncate_between_choosing_the_next_file_and_reading_it_is_noticed() {
    let (_dir, mut log, _norm) = setup("next-file-copytruncate");
    log.append(3);
    let done = log.tip();
    log.rename_rotate();
    log.reopen();
    log.append(4);
    // The follower, done with the renamed file, checks that the new one continues the chain…
    let Some(opened) = input::next_file(&log.path, done, None).unwrap() else { panic!("no next file") };
    assert_eq!(opened.path, log.path);
    // …and before it reads a byte, the new file is copied away and truncated, and written again.
    log.copytruncate();
    log.append(40);
    let mut source = Source::from_file(opened, 0).unwrap();
    assert_eq!(source.read(|_| {}).unwrap(), Read::Replaced);
    let found = input::find(&log.path, &source.id, source.offset, done, &[]).unwrap();
    assert!(matches!(&found, Found::Copy(o) if o.path == numbered(&log.path, 1)), "{found:?}");
}

#[test]
fn a_copytruncate_between_finding_the_checkpointed_file_and_reading_it_is_noticed() {
    let (_dir, mut log, _norm) = setup("find-copytruncate");
    log.append(3);
    let mut source = Source::open(&log.path, 0).unwrap();
    source.read(|_| {}).unwrap();
    let (id, offset) = (source.id, source.offset);
    log.append(2);
    let Found::Same(opened) = input::find(&log.path, &id, offset, log.tip(), &[]).unwrap() else { panic!("not found") };
    log.copytruncate();
    log.append(40);
    let mut source = Source::from_file(opened, offset).unwrap();
    assert_eq!(source.read(|_| {}).unwrap(), Read::Replaced);
}

#[test]
fn a_crash_in_the_middle_of_an_error_line_is_finished_not_repeated() {
    let (_dir, mut log, norm) = setup("crash-mid-error-line");
    log.append(2);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    let len_before = fs::metadata(&norm.output).unwrap().len() as usize;
    log.write_torn();
    log.append(1);
    norm.once_ok();
    let full = fs::read(&norm.output).unwrap();
    assert!(String::from_utf8_lossy(&full[len_before..]).contains("kind=unparsable"));
    // Killed inside the error line's fields; the next run sees the junk at another time.
    let cut = len_before + full[len_before..].windows(9).position(|w| w == b" dbaudit:").unwrap() + 30;
    fs::write(&norm.output, &full[..cut]).unwrap();
    fs::write(&norm.state, &before).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    norm.once_ok();
    assert_eq!(String::from_utf8(fs::read(&norm.output).unwrap()).unwrap(), String::from_utf8(full).unwrap());
}

#[test]
fn a_new_file_copied_away_while_its_first_line_was_unfinished_is_read_from_the_copy() {
    let (_dir, mut log, norm) = setup("first-line-copytruncate");
    log.append(3);
    let mut child = norm.follow();
    wait_until(20, "the first records", || record_points(&norm.lines_so_far()) == log.written);
    log.rename_rotate();
    log.reopen();
    // The new file holds only the start of its first record, the bytes every record starts with.
    log.write_partial(0.02);
    let trace = norm.state.with_extension("err");
    let moved = || fs::read_to_string(&trace).unwrap_or_default().contains("rotated:");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while !moved() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // While the follower is held still, the record is finished, the file copied away and
    // truncated, and a new record written: it starts with the same bytes.
    signal(&child, "STOP");
    log.append(2);
    log.copytruncate();
    log.append(1);
    signal(&child, "CONT");
    wait_until(20, "the last record", || record_points(&norm.lines_so_far()).last() == log.written.last());
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_crash_before_the_checkpoint_and_then_output_rotation_repeats_nothing() {
    let (_dir, mut log, norm) = setup("crash-output-rotated");
    log.append(3);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    log.append(4);
    norm.once_ok();
    // Killed before the checkpoint; then logrotate moves the output away (create, no copy).
    fs::write(&norm.state, &before).unwrap();
    let rotated = numbered(&norm.output, 1);
    fs::rename(&norm.output, &rotated).unwrap();
    log.append(2);
    norm.once_ok();
    let mut lines = read_lines(&rotated);
    lines.extend(norm.lines());
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_rotated_file_is_found_while_rotation_renames_its_siblings() {
    let (_dir, mut log, _norm) = setup("find-while-renamed");
    log.append(3);
    let mut source = Source::open(&log.path, 0).unwrap();
    source.read(|_| {}).unwrap();
    let (id, offset) = (source.id, source.offset);
    log.rename_rotate();
    log.reopen();
    log.append(2);
    // logrotate shifts names one rename at a time (`.1` to `.2`, …): the file is always at
    // one of them, but a search that lists the names and then opens them can look where it
    // no longer is.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs::rename(numbered(&log.path, n), numbered(&log.path, n + 1)).unwrap();
                n += 1;
                // Far faster than logrotate, yet not a rename at every instant: a renamer
                // that never pauses would keep any search from ever seeing still names.
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        });
        for _ in 0..3000 {
            let found = input::find(&log.path, &id, offset, log.tip(), &[]);
            if !matches!(found, Ok(Found::Same(_) | Found::Copy(_))) {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                panic!("not found while renamed: {found:?}");
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn a_crash_around_a_long_record_repeats_nothing() {
    let (_dir, mut log, norm) = setup("crash-long-record");
    log.append(2);
    norm.once_ok();
    let before = fs::read(&norm.state).unwrap();
    let len_before = fs::metadata(&norm.output).unwrap().len() as usize;
    log.append_of(3 << 20);
    log.append(2);
    norm.once_ok();
    let full = fs::read(&norm.output).unwrap();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
    // Killed before the checkpoint: with none of the new lines written, in the middle of the
    // long record's line, right after it, or after all of them.
    let long_end = len_before + full[len_before..].iter().position(|&b| b == b'\n').unwrap() + 1;
    for cut in [len_before, len_before + 100, long_end, full.len()] {
        fs::write(&norm.output, &full[..cut]).unwrap();
        fs::write(&norm.state, &before).unwrap();
        norm.once_ok();
        assert_eq!(fs::read(&norm.output).unwrap(), full, "cut at {cut}");
    }
}

#[test]
fn a_long_record_half_written_across_a_kill_is_delivered_once() {
    let (_dir, mut log, norm) = setup("kill-long-record");
    log.append(2);
    log.write_partial_of(3 << 20, 0.6);
    let mut child = norm.follow();
    wait_until(20, "the records before it", || record_points(&norm.lines_so_far()).len() == 3);
    kill9(&mut child);
    log.append(2);
    let mut child = norm.follow();
    wait_until(60, "the last record", || record_points(&norm.lines_so_far()).last() == log.written.last());
    kill9(&mut child);
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

/// A follower started on `path` before it holds one whole line, killed (`kill -9`) once its
/// first checkpoint is stored — a checkpoint that knows the file by its inode alone (no
/// head) and has accepted no record (no tip) — and the bytes of that checkpoint.
fn killed_while_headless(norm: &Normaliser) -> Vec<u8> {
    let mut child = norm.follow();
    wait_until(20, "the first checkpoint", || norm.state.exists());
    kill9(&mut child);
    assert!(checkpoint_is_headless(&norm.state), "{}", fs::read_to_string(&norm.state).unwrap());
    fs::read(&norm.state).unwrap()
}

/// The epoch every test log here writes.
const EPOCH: dbaudit_record::Epoch = dbaudit_record::Epoch(0x1000_0000_0000_0001);

#[test]
fn a_copytruncate_after_a_kill_while_the_first_line_was_unfinished_loses_nothing() {
    let dir = Dir::new("headless-copytruncate");
    let key = Key::from_bytes([5; 32]);
    let mut log = RawLog::continue_at(&dir.join("dbaudit.log"), key.clone(), EPOCH, None);
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    log.start_partial(None, 0.3);
    let headless = killed_while_headless(&norm);
    // A later run delivers the first records, and is killed before it can store their
    // checkpoint: the next run finds those lines past the checkpoint's output length.
    log.append(3);
    let mut child = norm.follow();
    wait_until(20, "the first records", || record_points(&norm.lines_so_far()) == log.written);
    kill9(&mut child);
    fs::write(&norm.state, &headless).unwrap();
    // Meanwhile more records, then the log is copied away and truncated, and written on.
    log.append(2);
    log.copytruncate();
    log.append(2);
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

/// A normaliser killed while the log was still empty, then three records, `rotate`, two more:
/// the next run delivers all five, nothing else.
fn killed_while_empty_then(name: &str, rotate: impl FnOnce(&mut RawLog)) {
    let dir = Dir::new(name);
    let key = Key::from_bytes([5; 32]);
    let path = dir.join("dbaudit.log");
    fs::File::create(&path).unwrap();
    let norm = Normaliser::in_dir(&dir, &path, &key);
    killed_while_headless(&norm);
    let mut log = RawLog::create(&path, key.clone());
    log.append(3);
    rotate(&mut log);
    log.append(2);
    norm.once_ok();
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}

#[test]
fn a_copytruncate_after_a_kill_while_the_log_was_empty_loses_nothing() {
    killed_while_empty_then("headless-empty-copytruncate", RawLog::copytruncate);
}

#[test]
fn a_rename_rotation_after_a_kill_while_the_log_was_empty_loses_nothing() {
    killed_while_empty_then("headless-empty-rename", |log| {
        log.rename_rotate();
        log.reopen();
    });
}

#[test]
fn files_rotated_before_the_first_checkpoint_stay_unread_after_a_kill_and_a_copytruncate() {
    let dir = Dir::new("headless-history");
    let key = Key::from_bytes([5; 32]);
    // A log the normaliser never read: rotated away, and the new file still empty.
    let mut log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    log.append(3);
    log.rename_rotate();
    log.reopen();
    let history = log.written.len();
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    killed_while_headless(&norm);
    // The epoch goes on in the new file, which is then copied away and truncated.
    log.append(2);
    log.copytruncate();
    log.append(2);
    norm.once_ok();
    let lines = norm.lines();
    // Everything written since the normaliser began, as a first run would have had it: the
    // first record continues one it never read, which it says; nothing from before.
    assert_eq!(record_points(&lines), log.written[history..]);
    let errors: Vec<_> = lines.iter().filter(|l| !l.is_record()).map(|l| l.get("kind")).collect();
    assert_eq!(errors, [Some("unanchored")], "{lines:?}");
}

#[test]
fn a_copytruncate_while_following_a_log_with_no_whole_line_yet_loses_nothing() {
    let dir = Dir::new("headless-live-copytruncate");
    let key = Key::from_bytes([5; 32]);
    let mut log = RawLog::continue_at(&dir.join("dbaudit.log"), key.clone(), EPOCH, None);
    let norm = Normaliser::in_dir(&dir, &log.path, &key);
    // So little of the first record that the truncated file's next record starts the same way.
    log.start_partial(None, 0.2);
    let mut child = norm.follow();
    wait_until(20, "the first checkpoint", || norm.state.exists());
    // While the follower is held still, the record is finished, the log copied away and
    // truncated, and written on.
    signal(&child, "STOP");
    log.append(3);
    log.copytruncate();
    log.append(2);
    signal(&child, "CONT");
    wait_until(20, "the last record", || record_points(&norm.lines_so_far()).last() == log.written.last());
    kill9(&mut child);
    let lines = norm.lines();
    assert_eq!(record_points(&lines), log.written);
    assert!(lines.iter().all(|l| l.is_record()), "{lines:?}");
}
