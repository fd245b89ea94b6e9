//! Macs computed ahead, on a second core. The mac (keyed BLAKE3 over each whole line) is the
//! one cost of verifying that cannot be cut, and it needs only the line and the mac before
//! it — as a rule, the mac the line before claims. So a helper thread that lives as long as
//! the run seals the lines of each read in groups, in order, while the normaliser's own thread
//! parses, judges, frames and writes them — those of the read before, so that the helper has
//! lines to seal while that thread reads (`Normaliser::deferred`). When that thread reaches a
//! group the helper has not begun, it seals the group itself, and while it waits for one the
//! helper is at, it seals the next group neither has claimed — so the two threads share the
//! macs whichever is the faster. With none left, it waits for only as long as sealing the
//! group would take (a busy machine may not run the helper for a while), then seals it too.
//! The verifier uses a mac computed ahead only where it chains to the mac it would have used
//! itself (`Verifier::check_view_sealed`), so a wrong guess (junk between records, a start
//! record, a moved line) changes nothing.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dbaudit_record::{Key, Mac, Sealed};

use crate::input::Line;

/// Reads of fewer lines are sealed by the normaliser's own thread alone: handing them over
/// costs more than it saves.
pub(crate) const AHEAD_MIN: usize = 64;

/// How many lines' macs one thread computes at a time: each group costs a hand-over, and
/// 64 lines took 7 % less CPU than 32 over the bench's 5M records.
pub(crate) const GROUP: usize = 64;

/// How long the normaliser's thread waits for a group the helper is sealing (a running
/// helper seals one in about 50 µs) before it seals the group itself.
const WAIT: Duration = Duration::from_micros(150);

/// The helper thread and the way to it.
#[derive(Debug)]
pub(crate) struct MacsAhead {
    key: Key,
    batches: Option<SyncSender<Arc<Batch>>>,
    helper: Option<JoinHandle<()>>,
    spare: Arc<Spare>,
}

/// The buffers of batches that are over, for the next ones: a megabyte allocated and freed
/// for each read costs the kernel its pages again each time.
#[derive(Debug, Default)]
struct Spare(Mutex<Vec<(Vec<u8>, Vec<BatchLine>)>>);

/// Batches alive at once, at most: the one judged, the one the helper seals, the one waiting.
const SPARE_KEPT: usize = 3;

/// The lines of one read, copied (the reader's buffer is reused for the next read, which
/// may come before these lines are judged), and their macs as they are sealed.
#[derive(Debug)]
pub(crate) struct Batch {
    tip: Option<Mac>,
    text: Vec<u8>,
    file: PathBuf,
    lines: Vec<BatchLine>,
    spare: Arc<Spare>,
    /// The first group no thread has claimed.
    next: AtomicUsize,
    /// The groups the helper has sealed.
    sealed: Vec<OnceLock<Vec<Option<Sealed>>>>,
}

/// Where a line of a batch is: its bytes in the batch's text and its place in the file.
#[derive(Debug)]
struct BatchLine {
    bytes: Range<usize>,
    /// Too long to hold (see [`Line::cut`]): it has no mac.
    cut: bool,
    start: u64,
    end: u64,
}

impl MacsAhead {
    /// The helper, when there is a second core to run it on and it could be started.
    pub(crate) fn start(key: &Key) -> Option<MacsAhead> {
        if thread::available_parallelism().map_or(true, |cores| cores.get() < 2) {
            return None;
        }
        // One batch waiting at most: a helper that lags is not handed more (memory stays flat).
        let (batches, incoming) = mpsc::sync_channel::<Arc<Batch>>(1);
        let helper_key = key.clone();
        let helper = thread::Builder::new()
            .name("mac-ahead".to_owned())
            .spawn(move || incoming.iter().for_each(|batch| batch.help(&helper_key)))
            .ok()?;
        Some(MacsAhead { key: key.clone(), batches: Some(batches), helper: Some(helper), spare: Arc::default() })
    }

    /// Hands `lines` (which come after the record whose mac is `tip`) to the helper.
    pub(crate) fn batch(&self, tip: Option<Mac>, lines: &[Line<'_>]) -> Arc<Batch> {
        let (mut text, mut kept) = self.spare.0.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default();
        let file = lines.first().map(|line| line.file.to_owned()).unwrap_or_default();
        text.reserve(lines.iter().map(|line| line.bytes.len()).sum());
        kept.extend(lines.iter().map(|line| {
            text.extend_from_slice(line.bytes);
            let bytes = text.len() - line.bytes.len()..text.len();
            BatchLine { bytes, cut: line.cut, start: line.start, end: line.end }
        }));
        let groups = kept.len().div_ceil(GROUP);
        let sealed = (0..groups).map(|_| OnceLock::new()).collect();
        let spare = Arc::clone(&self.spare);
        let batch = Arc::new(Batch { tip, text, file, lines: kept, spare, next: AtomicUsize::new(0), sealed });
        if let Some(batches) = &self.batches {
            // A helper that is gone, or still has a batch waiting, leaves every group of this
            // one to the normaliser's own thread.
            let _ = batches.try_send(Arc::clone(&batch));
        }
        batch
    }

    /// The macs of `group` of `batch`: sealed here when the helper has not begun the group
    /// (claiming it makes the helper pass it over); else the helper's, once it is through
    /// with them. Meanwhile this thread seals the next group no thread has claimed, so that
    /// the two share the macs when this one is the faster; with none left, it waits no longer
    /// than [`WAIT`] (a busy machine does not run the helper), then seals the group too.
    pub(crate) fn group(&self, batch: &Batch, group: usize) -> Vec<Option<Sealed>> {
        if let Some(sealed) = batch.sealed[group].get() {
            return sealed.clone();
        }
        // Groups are claimed in order, so every one before it is claimed already.
        if batch.next.compare_exchange(group, group + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return batch.seal(&self.key, group);
        }
        let mut deadline = Instant::now() + WAIT;
        loop {
            if let Some(sealed) = batch.sealed[group].get() {
                return sealed.clone();
            }
            if batch.seal_next(&self.key) {
                deadline = Instant::now() + WAIT;
                continue;
            }
            if Instant::now() >= deadline {
                return batch.seal(&self.key, group);
            }
            // The core may be wanted by the helper itself, or by the write-behind thread.
            std::thread::yield_now();
        }
    }

    /// Tells the helper to leave the rest of `batch`: it is handled.
    pub(crate) fn done(&self, batch: &Batch) {
        batch.next.store(batch.sealed.len(), Ordering::Relaxed);
    }
}

impl Drop for MacsAhead {
    fn drop(&mut self) {
        // Closing the channel ends the helper once it is through with the batch it is on.
        self.batches = None;
        if let Some(helper) = self.helper.take() {
            let _ = helper.join();
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Ok(mut spare) = self.spare.0.lock() {
            if spare.len() < SPARE_KEPT {
                let (mut text, mut lines) = (std::mem::take(&mut self.text), std::mem::take(&mut self.lines));
                text.clear();
                lines.clear();
                spare.push((text, lines));
            }
        }
    }
}

impl Batch {
    /// How many groups of lines it has.
    pub(crate) fn groups(&self) -> usize {
        self.sealed.len()
    }

    /// The lines of `group`, as the reader handed them out.
    pub(crate) fn lines(&self, group: usize) -> impl Iterator<Item = Line<'_>> {
        let end = self.lines.len().min((group + 1) * GROUP);
        self.lines[group * GROUP..end].iter().map(|line| Line {
            bytes: &self.text[line.bytes.clone()],
            cut: line.cut,
            start: line.start,
            end: line.end,
            file: &self.file,
        })
    }

    /// The offset of its first line.
    pub(crate) fn start(&self) -> u64 {
        self.lines.first().map_or(0, |line| line.start)
    }

    /// The offset just after its last line.
    pub(crate) fn end(&self) -> u64 {
        self.lines.last().map_or(0, |line| line.end)
    }

    /// The mac its last record line claims, if it has one: what the lines after it chain to,
    /// as a rule.
    pub(crate) fn last_claimed(&self) -> Option<Mac> {
        self.lines
            .iter()
            .rev()
            .filter(|line| !line.cut)
            .find_map(|line| Sealed::claimed(&self.text[line.bytes.clone()]))
    }

    /// The helper's part: claims the groups in order and seals them, until none is left.
    fn help(&self, key: &Key) {
        while self.seal_next(key) {}
    }

    /// Claims the next group no thread has claimed and seals it; false when none is left.
    fn seal_next(&self, key: &Key) -> bool {
        if self.next.load(Ordering::Relaxed) >= self.sealed.len() {
            return false;
        }
        // Claims are ordered by the one counter; the macs pass through the OnceLock.
        let group = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = self.sealed.get(group) else { return false };
        let _ = slot.set(self.seal(key, group));
        true
    }

    /// The mac of each line of `group` chained to the mac the record line before it claims
    /// (for the first line, the last one in the group before; failing that, the tip's).
    fn seal(&self, key: &Key, group: usize) -> Vec<Option<Sealed>> {
        let start = group * GROUP;
        let line = |line: &BatchLine| (!line.cut).then(|| &self.text[line.bytes.clone()]);
        let before = &self.lines[start.saturating_sub(GROUP)..start];
        let mut prev = before.iter().rev().find_map(|before| Sealed::claimed(line(before)?)).or(self.tip);
        self.lines[start..self.lines.len().min(start + GROUP)]
            .iter()
            .map(|here| {
                let bytes = line(here)?;
                let sealed = prev.and_then(|prev| Sealed::ahead(key, &prev, bytes));
                // A line that is no record leaves the verifier's tip where it was.
                if let Some(claimed) = Sealed::claimed(bytes) {
                    prev = Some(claimed);
                }
                sealed
            })
            .collect()
    }
}
