//! The re-check of `follow --recheck`: once the reader has caught up after it starts, and then
//! every `--recheck` seconds, the part of the current raw log already delivered is verified
//! against the chain again, so that a record edited, deleted, inserted or moved after it was
//! delivered raises `op=tamper … found=recheck` without waiting for someone to run
//! `dbaudit verify`. Each alteration is named once: the normaliser remembers which records of
//! the file a tamper line named (the checkpoint keeps them across a restart).
//!
//! A round reads the file once, from its first line to where delivery had read when the round
//! began, on a thread of its own and through a descriptor of its own: delivery never waits
//! for it. The first record is checked against the record that came before the file (the
//! checkpoint keeps it), so every record in the file is covered. A file that no longer holds
//! what was delivered (truncated, rewritten from its start, its first line changed) is the
//! reader's business, not a finding: the round is dropped.

use std::io;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dbaudit_record::normalised::Frame;
use dbaudit_record::{ChainPoint, Epoch, Key, TamperKind, Verifier};

use crate::input::{FileId, Opened, Read, Source};
use crate::normaliser::{trace, InputFormat};

/// When rounds are due, and the one running.
#[derive(Debug)]
pub(crate) struct Recheck {
    every: Duration,
    last: Option<Instant>,
    round: Option<Round>,
}

/// A round under way over one file.
#[derive(Debug)]
struct Round {
    file: FileId,
    path: PathBuf,
    handle: JoinHandle<io::Result<Option<Checked>>>,
}

/// What a round found in a file that still held what was delivered.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The file, by the name it had when the round began.
    pub path: PathBuf,
    /// Where the round stopped: the offset delivery had reached.
    pub bound: u64,
    /// How many records it verified.
    pub records: u64,
    /// How long it took to read and verify them.
    pub took: Duration,
    /// Each alteration, with the line that reports it.
    pub findings: Vec<Finding>,
}

/// One alteration a round found.
#[derive(Debug)]
pub(crate) struct Finding {
    /// The record named: (epoch, seq).
    pub record: (Epoch, u64),
    /// Its `op=tamper … found=recheck` line.
    pub line: Vec<u8>,
}

/// What a round needs besides the file.
#[derive(Clone, Debug)]
pub(crate) struct Judge {
    /// The chain's key.
    pub key: Key,
    /// Which lines are records.
    pub format: InputFormat,
    /// How findings are written.
    pub frame: Frame,
}

impl Recheck {
    /// Rounds every `every`, the first one as soon as there is something delivered: what
    /// was delivered before a restart may have been edited while nothing was watching.
    pub(crate) fn new(every: Duration) -> Recheck {
        Recheck { every, last: None, round: None }
    }

    /// Starts a round over `source`'s file, from its start to its offset, whose first record
    /// comes after `entry` — if one is due and none is running.
    pub(crate) fn start(&mut self, source: &Source, entry: Option<ChainPoint>, judge: &Judge) {
        let due = self.last.is_none_or(|last| last.elapsed() >= self.every);
        if self.round.is_some() || !due || source.offset == 0 {
            return;
        }
        self.last = Some(Instant::now());
        let bound = source.offset;
        let judge = judge.clone();
        let started = source.second_reader().and_then(|opened| {
            std::thread::Builder::new().name("recheck".to_owned()).spawn(move || check(opened, entry, bound, judge))
        });
        match started {
            Ok(handle) => self.round = Some(Round { file: source.id, path: source.path.clone(), handle }),
            Err(e) => trace(|| format!("recheck: cannot begin a round over {:?}: {e}", source.path)),
        }
    }

    /// The round that is over, if it was about `source`'s file as it still is.
    pub(crate) fn finished(&mut self, source: &Source) -> Option<Checked> {
        if !self.round.as_ref()?.handle.is_finished() {
            return None;
        }
        let round = self.round.take()?;
        let result = round.handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let path = &round.path;
        match result {
            Ok(Some(checked)) if round.file == source.id => Some(checked),
            Ok(Some(_)) => {
                trace(|| format!("recheck: {path:?} was done with while it was checked"));
                None
            }
            Ok(None) => {
                trace(|| format!("recheck: {path:?} no longer holds what was delivered: left to the reader"));
                None
            }
            Err(e) => {
                trace(|| format!("recheck: cannot read {path:?}: {e}"));
                None
            }
        }
    }
}

/// One round: the lines of `opened` that end by `bound`, verified from `entry` on. None when
/// the file ends before `bound` or no longer starts with the line it was known by.
fn check(opened: Opened, entry: Option<ChainPoint>, bound: u64, judge: Judge) -> io::Result<Option<Checked>> {
    let began = Instant::now();
    let Judge { key, format, mut frame } = judge;
    let path = opened.path.clone();
    let mut source = Source::from_file(opened, 0)?;
    let mut verifier = Verifier::resume(key, entry);
    let mut checked = Checked { path, bound, records: 0, took: Duration::ZERO, findings: Vec::new() };
    while source.offset < bound {
        let read = source.read(|line| {
            // Cut lines and junk are no records; the record after them shows what they hid.
            if line.end > bound || line.cut || !format.takes(line.bytes) {
                return;
            }
            let tip = verifier.tip();
            let Ok(verdict) = verifier.check_view(line.bytes) else { return };
            checked.records += 1;
            match verdict.tamper {
                // The reader passes over the record it accepted last, met again: so does this.
                Some(t) if t.kind == TamperKind::Order && tip == Some(verdict.record.point()) => {}
                Some(tamper) => {
                    let mut line = Vec::new();
                    frame.recheck_tamper(&mut line, &tamper, &verdict.record);
                    checked.findings.push(Finding { record: (tamper.epoch, tamper.seq), line });
                }
                None => {}
            }
        })?;
        if read != Read::Lines {
            return Ok(None);
        }
    }
    checked.took = began.elapsed();
    Ok(Some(checked))
}
