//! Records of any length up to the limit, and a line past it: `once` reads as far as `follow`
//! does, both deliver the same lines, and a line too long to hold is reported, not the place
//! where reading stops.

mod common;

use std::fs;
use std::io::Write;

use common::*;
use dbaudit_normalise::input::MAX_LINE_BYTES;
use dbaudit_record::normalised::MAX_LINE;
use dbaudit_record::Key;

const MIB: usize = 1 << 20;

/// What the output should say about each record written, in order.
#[derive(Debug, PartialEq)]
enum Expected {
    /// Its own line, with its epoch and seq.
    Record(u64, u64),
    /// `op=error kind=unparsable` at this input offset: the line was too long to hold.
    Unparsable(u64),
    /// `op=tamper kind=gap` at this seq, after the record that could not be read.
    Gap(u64),
}

fn summary(lines: &[Line]) -> Vec<Expected> {
    lines
        .iter()
        .map(|line| match line.op.as_str() {
            "error" => {
                assert_eq!(line.get("kind"), Some("unparsable"), "{}", line.text);
                assert_eq!(line.get("count"), Some("1"), "{}", line.text);
                Expected::Unparsable(line.get("offset").unwrap().parse().unwrap())
            }
            "tamper" => {
                assert_eq!(line.get("kind"), Some("gap"), "{}", line.text);
                Expected::Gap(line.get("seq").unwrap().parse().unwrap())
            }
            _ => {
                let (epoch, seq) = line.point().unwrap_or_else(|| panic!("no epoch or seq: {}", line.text));
                Expected::Record(epoch, seq)
            }
        })
        .collect()
}

/// A line with the time of an `op=error` line left out: it is when the error was seen.
fn comparable(line: &Line) -> &str {
    match line.op.as_str() {
        "error" => &line.text[line.text.find(" dbaudit: ").unwrap()..],
        _ => &line.text,
    }
}

#[test]
fn once_and_follow_deliver_the_same_lines_whatever_the_record_length() {
    let dir = Dir::new("long-records");
    let key = Key::from_bytes([9; 32]);
    let mut log = RawLog::create(&dir.join("dbaudit.log"), key.clone());
    let follow = Normaliser::in_dir(&dir, &log.path, &key);
    let mut once = follow.clone();
    once.state = dir.join("once.state");
    once.output = dir.join("once.log");

    // The follower reads the records as they come; `once` reads them all afterwards.
    let mut child = follow.follow();
    log.append(3);
    for len in [MIB - 1, MIB, MIB + 1, 3 * MIB] {
        log.append_of(len);
        log.append(1);
    }
    log.append_of(MAX_LINE_BYTES);
    let too_long_at = fs::metadata(&log.path).unwrap().len();
    log.append_of(MAX_LINE_BYTES + 1);
    log.append(3);
    wait_until(600, "the follower's last record", || {
        record_points(&follow.lines_so_far()).last() == log.written.last()
    });
    kill9(&mut child);
    once.once_ok();

    let (too_long, after) = (log.written.len() - 4, log.written.len() - 3);
    let expected: Vec<Expected> = log
        .written
        .iter()
        .enumerate()
        .map(|(i, &(epoch, seq))| match i {
            _ if i == too_long => Expected::Unparsable(too_long_at),
            _ if i == after => Expected::Gap(seq),
            _ => Expected::Record(epoch, seq),
        })
        .collect();
    let (followed, onced) = (follow.lines(), once.lines());
    assert_eq!(summary(&onced), expected);
    assert_eq!(summary(&followed), expected);
    for (i, (f, o)) in followed.iter().zip(&onced).enumerate() {
        assert_eq!(comparable(f), comparable(o), "line {i}");
    }
    for line in &onced {
        assert!(line.text.len() < MAX_LINE, "{} bytes: {}", line.text.len(), &line.text[..200]);
    }
    let cut = onced.iter().filter(|l| l.get("cut") == Some("data")).count();
    assert_eq!(cut, 5, "each of the five long records, and only they, cut to fit");
}

#[test]
fn a_first_line_too_long_to_hold_is_reported_once_across_a_copytruncate() {
    let dir = Dir::new("long-first-line");
    let key = Key::from_bytes([10; 32]);
    let path = dir.join("dbaudit.log");
    let norm = Normaliser::in_dir(&dir, &path, &key);
    // The follower opens the file while it holds too little to know it by.
    fs::write(&path, b"{\"v\":1,").unwrap();
    let mut child = norm.follow();
    wait_until(20, "the follower's first checkpoint", || norm.state.exists());
    let mut rest = fs::OpenOptions::new().append(true).open(&path).unwrap();
    rest.write_all(&vec![b'x'; MAX_LINE_BYTES - 7]).unwrap();
    rest.write_all(b"\n").unwrap();
    let mut log = RawLog::create(&path, key.clone());
    log.append(2);
    // Killed once its checkpoint names the last record, so that it names the file by the head
    // read while the first line was passed over.
    let last = log.tip().map(|tip| tip.seq);
    wait_until(120, "the follower's checkpoint of the last record", || checkpointed_seq(&norm) == last);
    kill9(&mut child);
    // Copied away and truncated while stopped: the checkpoint must know the copy by its head.
    log.append(2);
    log.copytruncate();
    log.append(2);
    norm.once_ok();
    let mut expected = vec![Expected::Unparsable(0)];
    expected.extend(log.written.iter().map(|&(epoch, seq)| Expected::Record(epoch, seq)));
    assert_eq!(summary(&norm.lines()), expected);
}

/// The seq of the last record the stored checkpoint names.
fn checkpointed_seq(norm: &Normaliser) -> Option<u64> {
    let text = fs::read_to_string(&norm.state).ok()?;
    let tip = text.lines().find_map(|line| line.strip_prefix("tip="))?;
    tip.split(':').nth(1)?.parse().ok()
}
