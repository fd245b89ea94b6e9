//! The loop: read whole lines from wherever the log now is, verify them, frame them, write
//! them, and checkpoint — so that every record reaches the output exactly once.
//!
//! Exactly once across a crash: the checkpoint stores the output's length along with the input
//! offset, after the output was synced. A run killed between writing lines and storing the
//! checkpoint leaves lines past that length; the next run regenerates lines from the stored
//! offset and, instead of writing them again, matches them against those bytes ([`Replay`]),
//! finishing a half-written last line if there is one.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use dbaudit_record::{ChainPoint, Epoch, Key, Sealed, TamperKind, Timestamp, Verifier};
use memchr::memchr;

use crate::ahead::{Batch, MacsAhead, AHEAD_MIN};
use crate::checkpoint::{Checkpoint, StateFile, REPORTED_KEPT};
use crate::input::{self, FileId, Found, Line, Read, Source};
use crate::output::Output;
use crate::recheck::{Judge, Recheck};
use dbaudit_record::normalised::{Frame, LineFields};

/// Lines are written out once this many bytes are waiting.
const WRITE_AT: usize = 256 << 10;

/// A checkpoint is stored at least once per this many output bytes, and whenever the input is idle.
const COMMIT_AT: u64 = 8 << 20;

/// Which lines of the input are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// The UDF's own log: every line should be a record.
    Json,
    /// The MySQL error log (`log = stderr`): lines that begin like a record are ours, the
    /// server's own lines are skipped.
    Stderr,
}

impl InputFormat {
    /// Whether `line` is one to judge: a record, or junk where a record should be.
    pub(crate) fn takes(self, line: &[u8]) -> bool {
        !line.is_empty() && (self == InputFormat::Json || line.starts_with(b"{\"v\":1,"))
    }
}

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The raw log.
    pub input: PathBuf,
    /// Its kind.
    pub format: InputFormat,
    /// The chain's key.
    pub key: Key,
    /// Where lines go (path, `-` or `syslog`).
    pub output: PathBuf,
    /// The host name on each line.
    pub host: String,
    /// Keep following (`follow`) or stop at the end of what is there (`once`).
    pub follow: bool,
    /// How long to sleep when there is nothing new.
    pub poll: Duration,
    /// How often `follow` verifies again what it delivered of the current file; None: never.
    pub recheck: Option<Duration>,
}

/// Lines this run generated that an earlier run had already written.
#[derive(Debug)]
struct Replay {
    written: Vec<u8>,
    pos: usize,
}

/// A run of lines that are not records, reported as one `op=error kind=unparsable` line.
#[derive(Debug)]
struct Junk {
    count: u64,
    offset: u64,
    file: PathBuf,
}

/// The verifying, framing part of the loop, fed one line at a time.
#[derive(Debug)]
struct Normaliser {
    verifier: Verifier,
    /// The helper that computes macs ahead, when there is a second core.
    ahead: Option<MacsAhead>,
    /// The lines of the last read, handed to the helper but not yet judged: they are judged
    /// once the next read is handed to it too, so that it seals those while this thread
    /// reads, and never waits for a read. Nothing that depends on them (a checkpoint, a
    /// change of file, the tip) happens before they are judged ([`Normaliser::flush`]).
    deferred: Option<Arc<Batch>>,
    frame: Frame,
    format: InputFormat,
    pending: Vec<u8>,
    replay: Option<Replay>,
    junk: Option<Junk>,
    /// The last record already in the output when it is ahead of the checkpoint's tip:
    /// records up to it, met again, are verified but not written twice.
    emitted: Option<(Epoch, u64)>,
    /// The records of the current file an `op=tamper` line named: a re-check names each once.
    reported: HashSet<(Epoch, u64)>,
}

impl Normaliser {
    /// Takes the lines of one read, in order. With a second core, their macs are computed
    /// ahead ([`crate::ahead`]) and they are judged after the next read ([`Normaliser::deferred`]);
    /// every line is still judged, framed and written here, in order, so output, replay and
    /// checkpoints are what one thread makes of the input.
    fn lines(&mut self, lines: &[Line<'_>]) {
        let Some(ahead) = self.ahead.as_ref().filter(|_| lines.len() >= AHEAD_MIN) else {
            self.flush();
            lines.iter().for_each(|line| self.line(*line, None));
            return;
        };
        // The first line chains, as a rule, to the last record before it.
        let tip = match &self.deferred {
            Some(before) => before.last_claimed(),
            None => self.verifier.tip().map(|tip| tip.mac),
        };
        let batch = ahead.batch(tip, lines);
        if let Some(before) = self.deferred.replace(batch) {
            self.judge(&before);
        }
    }

    /// Judges the lines read but not yet judged; the offset just after them, if there were any.
    fn flush(&mut self) -> Option<u64> {
        let batch = self.deferred.take()?;
        self.judge(&batch);
        Some(batch.end())
    }

    /// The offset after the last line judged, `read_to` being the offset after the last line read.
    fn judged_to(&self, read_to: u64) -> u64 {
        self.deferred.as_ref().map_or(read_to, |batch| batch.start())
    }

    fn judge(&mut self, batch: &Batch) {
        for group in 0..batch.groups() {
            let sealed = self.ahead.as_ref().map(|ahead| ahead.group(batch, group)).unwrap_or_default();
            for (i, line) in batch.lines(group).enumerate() {
                self.line(line, sealed.get(i).copied().flatten());
            }
        }
        if let Some(ahead) = &self.ahead {
            ahead.done(batch);
        }
    }

    fn line(&mut self, line: Line<'_>, ahead: Option<Sealed>) {
        if !self.format.takes(line.bytes) {
            return;
        }
        let tip = self.verifier.tip();
        // A line too long to hold cannot be checked; if it was a record, the next one is a gap.
        let checked = if line.cut { None } else { self.verifier.check_view_sealed(line.bytes, ahead).ok() };
        match checked {
            None => match &mut self.junk {
                Some(junk) => junk.count += 1,
                None => self.junk = Some(Junk { count: 1, offset: line.start, file: line.file.to_owned() }),
            },
            Some(verdict) => {
                if let Some((epoch, seq)) = self.emitted {
                    if verdict.record.epoch == epoch && verdict.tamper.is_none() {
                        if verdict.record.seq <= seq {
                            return;
                        }
                        self.emitted = None;
                    }
                }
                // Both are as a rule not needed: checked here, not in a call.
                if self.junk.is_some() {
                    self.flush_junk();
                }
                let start = self.pending.len();
                match verdict.tamper {
                    // The very record last accepted, shown again (a copy read twice): not news.
                    Some(t) if t.kind == TamperKind::Order && tip == Some(verdict.record.point()) => return,
                    Some(tamper) => {
                        self.reported.insert((tamper.epoch, tamper.seq));
                        self.frame.tamper(&mut self.pending, &tamper, &verdict.record)
                    }
                    None => {
                        if !verdict.anchored {
                            let (epoch, seq) = (verdict.record.epoch.to_string(), verdict.record.seq.to_string());
                            self.frame.error(
                                &mut self.pending,
                                verdict.record.ts,
                                "unanchored",
                                &[("epoch", epoch.as_bytes()), ("seq", seq.as_bytes())],
                            );
                        }
                        self.frame.record(&mut self.pending, &verdict.record)
                    }
                }
                if self.replay.is_some() {
                    self.replayed(start);
                }
            }
        }
    }

    /// Reports the junk run, if one is open.
    fn flush_junk(&mut self) {
        if let Some(junk) = self.junk.take() {
            let start = self.pending.len();
            let (count, offset) = (junk.count.to_string(), junk.offset.to_string());
            self.frame.error(
                &mut self.pending,
                Timestamp::now(),
                "unparsable",
                &[
                    ("count", count.as_bytes()),
                    ("file", junk.file.as_os_str().as_encoded_bytes()),
                    ("offset", offset.as_bytes()),
                ],
            );
            self.replayed(start);
        }
    }

    /// An error of the normaliser's own, reported now.
    fn error(&mut self, kind: &str, fields: &[(&'static str, &[u8])]) {
        self.flush_junk();
        let start = self.pending.len();
        self.frame.error(&mut self.pending, Timestamp::now(), kind, fields);
        self.replayed(start);
    }

    /// Drops the line at `pending[start..]` if an earlier run already wrote it.
    ///
    /// Runs of junk are reported when the next record comes or when the input is idle, and
    /// the two runs were idle at different times: one may have reported as two
    /// `kind=unparsable` lines what the other reports as one. So an error line already written
    /// is passed over when this run's line is another event, and an unparsable report of this
    /// run is dropped when the written line is an event (that junk came before it, so it was
    /// reported already).
    fn replayed(&mut self, start: usize) {
        self.pass_rechecked();
        let Some(replay) = &mut self.replay else { return };
        let line = &self.pending[start..];
        let mut written = &replay.written[replay.pos..];
        let mut whole = memchr(b'\n', written).map(|nl| &written[..=nl]);
        while let Some(old) = whole.filter(|old| error_kind(old).is_some() && !same_event(old, line)) {
            replay.pos += old.len();
            written = &replay.written[replay.pos..];
            whole = memchr(b'\n', written).map(|nl| &written[..=nl]);
        }
        match whole {
            // Times and host may differ (an error's time is when it was seen): compare the rest.
            Some(old) if same_event(old, line) => {
                replay.pos += old.len();
                self.pending.truncate(start);
            }
            None if line.starts_with(written) => {
                // The earlier run died inside this line: write only its rest.
                self.pending.drain(start..start + written.len());
                replay.pos = replay.written.len();
            }
            None if written.windows(9).any(|w| w == b" dbaudit:")
                && after_tag(line).starts_with(after_tag(written)) =>
            {
                // The same, inside an error line whose time differs: the rest after the part written.
                let rest = after_tag(line).len() - after_tag(written).len();
                self.pending.drain(start..self.pending.len() - rest);
                replay.pos = replay.written.len();
            }
            _ if error_kind(line) == Some("unparsable") && is_event(whole.unwrap_or(written)) => {
                self.pending.truncate(start);
                return;
            }
            None => {
                // A fragment that is not this line: end it, so the line starts on its own.
                self.pending.insert(start, b'\n');
                replay.pos = replay.written.len();
            }
            Some(_) => {
                // Not what this run makes of the input: the output was changed, or the input.
                // Say so; what follows may repeat lines the earlier run wrote.
                trace(|| {
                    let old = String::from_utf8_lossy(&replay.written[replay.pos..]);
                    let new = String::from_utf8_lossy(line);
                    format!("replay: {} bytes unmatched, expected {:?}, made {new:?}", old.len(), old.lines().next())
                });
                self.emitted = last_record(&replay.written[replay.pos..]);
                replay.pos = replay.written.len();
                self.replay = None;
                let line = self.pending.split_off(start);
                self.error("replay", &[]);
                self.pending.extend_from_slice(&line);
                return;
            }
        }
        if replay.pos == replay.written.len() {
            trace(|| format!("replay: all {} bytes matched", replay.written.len()));
            self.replay = None;
        }
    }

    /// Passes over the re-check lines an earlier run wrote next, taking note of the records
    /// they named: this run reads the input again, not the moments the earlier one checked it.
    fn pass_rechecked(&mut self) {
        let Some(replay) = &mut self.replay else { return };
        while let Some(nl) = memchr(b'\n', &replay.written[replay.pos..]) {
            let Some(record) = rechecked(&replay.written[replay.pos..=replay.pos + nl]) else { break };
            self.reported.insert(record);
            replay.pos += nl + 1;
        }
        if replay.pos == replay.written.len() {
            trace(|| format!("replay: all {} bytes matched", replay.written.len()));
            self.replay = None;
        }
    }
}

/// The (epoch, seq) of the last record line in the output, when it is past `tip` in the
/// same epoch: a run that died before storing its checkpoint wrote up to there.
fn last_emitted(output: &Output, tip: Option<ChainPoint>) -> Option<(Epoch, u64)> {
    let (epoch, seq) = last_record(&output.tail(64 << 10).ok()?)?;
    match tip {
        Some(tip) if tip.epoch == epoch && tip.seq < seq => Some((epoch, seq)),
        None => Some((epoch, seq)),
        _ => None,
    }
}

/// The (epoch, seq) of the last whole record line (not tamper, not error) in `text`.
fn last_record(text: &[u8]) -> Option<(Epoch, u64)> {
    let line = text.split(|&b| b == b'\n').rev().find(|line| {
        let text = after_tag(line);
        !text.is_empty() && !text.starts_with(b" dbaudit: op=error") && !text.starts_with(b" dbaudit: op=tamper")
    })?;
    point_of(line)
}

/// The record a re-check's `op=tamper … found=recheck` line names; None for any other line.
fn rechecked(line: &[u8]) -> Option<(Epoch, u64)> {
    let fields = fields_of(line)?;
    (fields.raw("op")? == "tamper" && fields.raw("found")? == "recheck").then(|| point_of(line))?
}

/// The `epoch=` and `seq=` of a normalised line.
fn point_of(line: &[u8]) -> Option<(Epoch, u64)> {
    let fields = fields_of(line)?;
    Some((Epoch::from_hex(fields.raw("epoch")?.as_bytes())?, fields.raw("seq")?.parse().ok()?))
}

/// A normalised line's fields, read with the frame's own reader; None for a line that is
/// not text (junk in an output file).
fn fields_of(line: &[u8]) -> Option<LineFields<'_>> {
    std::str::from_utf8(line).ok().map(|text| LineFields::parse(text.trim_end_matches('\n')))
}

/// Whether two lines report the same event. Lines of the normaliser's own errors name
/// files and times that may differ between runs; two errors of one kind count as the same.
fn same_event(written: &[u8], generated: &[u8]) -> bool {
    after_tag(written) == after_tag(generated)
        || matches!((error_kind(written), error_kind(generated)), (Some(x), Some(y)) if x == y)
}

/// Whether `line` (or the start of one) is a normalised line of an event, not of an error.
fn is_event(line: &[u8]) -> bool {
    let text = after_tag(line);
    text.len() < line.len() && !text.starts_with(b" dbaudit: op=error")
}

/// The kind of an `op=error` line, None for any other line.
fn error_kind(line: &[u8]) -> Option<&str> {
    let fields = fields_of(line)?;
    (fields.raw("op")? == "error").then(|| fields.raw("kind"))?
}

/// With `DBAUDIT_NORMALISE_TRACE` set, says on stderr which file it chose and why.
pub(crate) fn trace(message: impl FnOnce() -> String) {
    if std::env::var_os("DBAUDIT_NORMALISE_TRACE").is_some() {
        eprintln!("dbaudit-normalise: trace: {}", message());
    }
}

fn after_tag(line: &[u8]) -> &[u8] {
    match line.windows(9).position(|w| w == b" dbaudit:") {
        Some(at) => &line[at..],
        None => line,
    }
}

/// Why a run stopped early.
#[derive(Debug)]
pub enum RunError {
    /// The input is missing and was never read: probably the wrong path.
    NoInput(PathBuf),
    /// Reading, writing or storing failed.
    Io(String, io::Error),
}

/// Runs until the input is exhausted (`once`) or forever (`follow`).
pub(crate) fn run(settings: &Settings, state: &StateFile, checkpoint: Checkpoint) -> Result<(), RunError> {
    let output = Output::open(&settings.output)
        .map_err(|e| RunError::Io(format!("cannot open the output {}", settings.output.display()), e))?;
    let written = output
        .written_after(checkpoint.output)
        .map_err(|e| RunError::Io(format!("cannot read back the output {}", settings.output.display()), e))?;
    let replay_empty = written.is_empty();
    trace(|| format!("replay: {} bytes written past the checkpoint", written.len()));
    let mut norm = Normaliser {
        verifier: Verifier::resume(settings.key.clone(), checkpoint.tip),
        ahead: MacsAhead::start(&settings.key),
        deferred: None,
        frame: Frame::new(&settings.host),
        format: settings.format,
        pending: Vec::with_capacity(WRITE_AT + 64 * 1024),
        replay: (!written.is_empty()).then_some(Replay { written, pos: 0 }),
        junk: None,
        // Replay covers lines past the checkpoint exactly; this covers what replay cannot see.
        emitted: if replay_empty { last_emitted(&output, checkpoint.tip) } else { None },
        reported: checkpoint.reported.iter().copied().collect(),
    };
    let input = &settings.input;
    let io_err = |what: &str, path: &Path| format!("{what} {}", path.display());
    // Until a record is accepted, the files beside the input when this normaliser began are
    // not its to read: a later run must tell them from the copies made since.
    let older = match (checkpoint.tip, &checkpoint.older) {
        (Some(_), _) => None,
        (None, Some(older)) => Some(older.clone()),
        (None, None) => Some(
            input::beside(input, checkpoint.input.as_ref())
                .map_err(|e| RunError::Io(io_err("cannot look beside the input", input), e))?,
        ),
    };
    let mut run = Run {
        settings,
        state,
        output: output.write_behind(),
        last: checkpoint.clone(),
        since_commit: 0,
        at: checkpoint.input.map(|id| (id, checkpoint.offset)),
        older,
        entry: checkpoint.entry,
        recheck: settings.recheck.map(Recheck::new),
        judge: Judge { key: settings.key.clone(), format: settings.format, frame: Frame::new(&settings.host) },
    };

    let current = match checkpoint.input {
        None => open_if_there(input, 0).map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?,
        Some(id) => {
            let found = input::find(input, &id, checkpoint.offset, checkpoint.tip, run.older())
                .map_err(|e| RunError::Io(io_err("cannot look for the input beside", input), e))?;
            trace(|| format!("start: checkpoint {checkpoint:?}, found {found:?}"));
            match found {
                Found::Same(opened) | Found::Copy(opened) => Some(
                    Source::from_file(opened, checkpoint.offset)
                        .map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?,
                ),
                Found::Restarted => {
                    open_if_there(input, 0).map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?
                }
                Found::Lost => {
                    let offset = checkpoint.offset.to_string();
                    norm.error(
                        "lost",
                        &[("file", input.as_os_str().as_encoded_bytes()), ("offset", offset.as_bytes())],
                    );
                    open_if_there(input, 0).map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?
                }
            }
        }
    };
    if current.is_none() && !settings.follow && !state.exists() {
        return Err(RunError::NoInput(input.clone()));
    }
    let mut current = run.enter(&mut norm, current);

    loop {
        let Some(source) = &mut current else {
            run.idle(&mut norm, None)?;
            if !settings.follow {
                return Ok(());
            }
            let opened =
                open_if_there(input, 0).map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?;
            current = run.enter(&mut norm, opened);
            continue;
        };
        if norm.verifier.tip().is_none() && source.id.head_len == 0 {
            // Nothing read from it identifies it and no record anchors the chain: once it is
            // copied away and truncated, its new first line may begin with the bytes it held.
            // So it is read only once it has a whole line, from whichever file then holds
            // the earliest record made since the normaliser began.
            let has_head =
                source.has_head().map_err(|e| RunError::Io(io_err("cannot read the input", &source.path), e))?;
            if has_head {
                let found = input::find(input, &source.id, 0, None, run.older())
                    .map_err(|e| RunError::Io(io_err("cannot look for the input beside", input), e))?;
                trace(|| format!("first line: {:?}, found {found:?}", source.path));
                let next = match found {
                    Found::Same(opened) | Found::Copy(opened) => Source::from_file(opened, 0).map(Some),
                    Found::Restarted | Found::Lost => open_if_there(input, 0),
                }
                .map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?;
                current = run.enter(&mut norm, next);
                continue;
            }
            // A file rotated away before it had a line is finished below, as any other.
            if !rotated_away(input, source) {
                run.idle(&mut norm, Some(source))?;
                if !settings.follow {
                    return Ok(());
                }
                continue;
            }
        }
        let read = source
            .read_batches(|lines| norm.lines(lines))
            .map_err(|e| RunError::Io(io_err("cannot read the input", &source.path), e))?;
        if read != Read::Lines {
            norm.flush();
        }
        match read {
            Read::Lines => run.progress(&mut norm, source)?,
            Read::Replaced => {
                let found = input::find(input, &source.id, source.offset, norm.verifier.tip(), run.older())
                    .map_err(|e| RunError::Io(io_err("cannot look for the input beside", input), e))?;
                trace(|| format!("replaced: {:?} at {}, found {found:?}", source.path, source.offset));
                let next = match found {
                    Found::Same(opened) | Found::Copy(opened) => Source::from_file(opened, source.offset).map(Some),
                    Found::Restarted | Found::Lost => open_if_there(input, 0),
                }
                .map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?;
                current = run.enter(&mut norm, next);
            }
            Read::End => {
                if rotated_away(input, source) {
                    // The path now holds a newer file with a line in it, so the writer has
                    // moved on: finish ours (writes that raced the rename), then go on there.
                    loop {
                        let read = source
                            .read_batches(|lines| norm.lines(lines))
                            .map_err(|e| RunError::Io(io_err("cannot read the input", &source.path), e))?;
                        if read != Read::Lines {
                            break;
                        }
                    }
                    norm.flush();
                    source.take_partial(|line| norm.line(line, None));
                    run.progress(&mut norm, source)?;
                    let next = input::next_file(input, norm.verifier.tip(), Some(&source.id))
                        .map_err(|e| RunError::Io(io_err("cannot look for the input beside", input), e))?;
                    trace(|| {
                        format!(
                            "rotated: {:?} done at {}, tip {:?}, next {next:?}",
                            source.path,
                            source.offset,
                            norm.verifier.tip()
                        )
                    });
                    let next = next
                        .map(|opened| Source::from_file(opened, 0))
                        .transpose()
                        .map_err(|e| RunError::Io(io_err("cannot open the input", input), e))?;
                    current = run.enter(&mut norm, next);
                    continue;
                }
                run.idle(&mut norm, Some(source))?;
                if !settings.follow {
                    return Ok(());
                }
            }
        }
    }
}

/// Whether the input path holds another file than `source`, and that file has a whole line.
/// A first line still being written is no identity: were the file copied away and
/// truncated, new lines could begin with the same bytes. So the move waits until the next
/// file's first record can be judged (and the head kept) by [`input::next_file`].
fn rotated_away(input: &Path, source: &Source) -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(input) {
        Ok(meta) if (meta.dev(), meta.ino()) != (source.id.dev, source.id.ino) && meta.len() > 0 => {
            std::fs::File::open(input).and_then(|file| input::identity_of(&file)).is_ok_and(|id| id.head_len > 0)
        }
        _ => false,
    }
}

fn open_if_there(path: &Path, offset: u64) -> io::Result<Option<Source>> {
    match Source::open(path, offset) {
        Ok(source) => Ok(Some(source)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Output and checkpoint bookkeeping for one run.
struct Run<'a> {
    settings: &'a Settings,
    state: &'a StateFile,
    output: Output,
    last: Checkpoint,
    since_commit: u64,
    /// The file and offset just after the last line handled: what a checkpoint must name.
    at: Option<(FileId, u64)>,
    /// Until a record is accepted: the files beside the input when the normaliser began.
    older: Option<Vec<FileId>>,
    /// The last record accepted before the current file's first line.
    entry: Option<ChainPoint>,
    /// Rounds of re-checking what was delivered (`follow --recheck`).
    recheck: Option<Recheck>,
    /// How a round judges and reports.
    judge: Judge,
}

impl Run<'_> {
    fn older(&self) -> &[FileId] {
        self.older.as_deref().unwrap_or_default()
    }

    /// Takes `source` as the file read from now on. Opened at its start it holds what comes
    /// after the tip, and nothing in it was reported yet; opened further on, it is the file
    /// (or a copy of the file) that was being read.
    fn enter(&mut self, norm: &mut Normaliser, source: Option<Source>) -> Option<Source> {
        if source.as_ref().is_some_and(|source| source.offset == 0) {
            self.entry = norm.verifier.tip();
            norm.reported.clear();
        }
        source
    }

    /// Reports what a re-check round that is over found anew.
    fn rechecked(&mut self, norm: &mut Normaliser, source: &Source) {
        let Some(recheck) = &mut self.recheck else { return };
        if let Some(checked) = recheck.finished(source) {
            // Findings come after the lines read before the round ended.
            if let Some(end) = norm.flush() {
                self.at = Some((source.id, end));
            }
            let mut new = 0;
            for finding in &checked.findings {
                if norm.reported.insert(finding.record) {
                    norm.pending.extend_from_slice(&finding.line);
                    new += 1;
                }
            }
            trace(|| {
                format!(
                    "recheck: {:?} to {}: {} records in {:.1} ms, {} found, {new} new",
                    checked.path,
                    checked.bound,
                    checked.records,
                    checked.took.as_secs_f64() * 1e3,
                    checked.findings.len()
                )
            });
        }
    }

    /// Begins a re-check round when one is due: only once delivery has caught up (a backlog
    /// is read first), and once the lines an earlier run wrote are matched (a finding written
    /// meanwhile would be taken for a line of theirs).
    fn recheck(&mut self, norm: &mut Normaliser, source: &Source) {
        self.rechecked(norm, source);
        if let Some(recheck) = &mut self.recheck {
            if norm.replay.is_none() {
                recheck.start(source, self.entry, &self.judge);
            }
        }
    }

    fn progress(&mut self, norm: &mut Normaliser, source: &Source) -> Result<(), RunError> {
        self.rechecked(norm, source);
        self.at = Some((source.id, norm.judged_to(source.offset)));
        if norm.pending.len() >= WRITE_AT {
            self.write(norm)?;
        }
        if self.since_commit >= COMMIT_AT {
            self.commit(norm)?;
        }
        Ok(())
    }

    fn idle(&mut self, norm: &mut Normaliser, source: Option<&Source>) -> Result<(), RunError> {
        norm.flush();
        if let Some(source) = source {
            self.at = Some((source.id, source.offset));
        }
        // Replay goes on through idle moments: the earlier run may have read further than
        // this one can yet (a file it went on to is renamed and its successor still empty).
        // Only re-check lines it wrote last wait for no line of this run's.
        norm.pass_rechecked();
        norm.flush_junk();
        if let Some(source) = source {
            self.recheck(norm, source);
        }
        self.commit(norm)?;
        if self.settings.follow {
            thread::sleep(self.settings.poll);
        }
        Ok(())
    }

    fn write(&mut self, norm: &mut Normaliser) -> Result<(), RunError> {
        self.since_commit += norm.pending.len() as u64;
        self.output
            .write(&mut norm.pending)
            .map_err(|e| RunError::Io(format!("cannot write to {}", self.settings.output.display()), e))?;
        Ok(())
    }

    fn commit(&mut self, norm: &mut Normaliser) -> Result<(), RunError> {
        if let Some(end) = norm.flush() {
            if let Some((_, offset)) = &mut self.at {
                *offset = end;
            }
        }
        norm.flush_junk();
        if norm.replay.is_some() {
            // Lines an earlier run wrote are not all matched yet: storing now would forget them.
            return Ok(());
        }
        self.write(norm)?;
        let tip = norm.verifier.tip();
        if tip.is_some() {
            self.older = None;
        }
        let mut reported: Vec<(Epoch, u64)> = norm.reported.iter().copied().collect();
        reported.sort_unstable_by_key(|&(epoch, seq)| (epoch.0, seq));
        reported.truncate(REPORTED_KEPT);
        let mut next = Checkpoint { tip, older: self.older.clone(), entry: self.entry, reported, ..self.last.clone() };
        if let Some((id, offset)) = self.at {
            next.input = Some(id);
            next.offset = offset;
        }
        if next == self.last && self.since_commit == 0 {
            return Ok(());
        }
        next.output = self
            .output
            .sync()
            .map_err(|e| RunError::Io(format!("cannot sync {}", self.settings.output.display()), e))?;
        if next != self.last {
            self.state
                .store(&next)
                .map_err(|e| RunError::Io(format!("cannot store the checkpoint {}", self.state.path().display()), e))?;
            self.last = next;
        }
        self.since_commit = 0;
        Ok(())
    }
}
