//! The raw log as a sequence of whole lines, across rotation: which file holds the next line,
//! and reading it from a byte offset without ever handing out half a line.
//!
//! A file is known by its device, inode and a hash of its first line (its *head*). The inode
//! follows a renamed file (`dbaudit.log` → `dbaudit.log.1`); the head tells a file that was
//! truncated, or a new file on a reused inode, from the one that was being read, and finds the
//! copy `copytruncate` left behind.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use dbaudit_record::{ChainPoint, Event, Record};
// The newline search is the normaliser's first hot spot in a profile: memchr's is vectorised.
use memchr::memchr;

/// The most bytes of the first line that the head hash covers.
const HEAD_MAX: u64 = 4096;

/// How much is read at a time.
const CHUNK: usize = 1 << 20;

/// The longest line handed out whole, its newline included. A longer one is passed over and
/// only its first bytes handed out, marked as cut: memory stays bounded whatever the file holds.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The most lines [`Source::read_batches`] hands out at once: bounded, whatever their length.
pub const MAX_BATCH: usize = 4096;

/// How much of a line too long to hold is kept: enough to tell whose line it is.
const LONG_LINE_KEPT: usize = 4096;

/// Which file a checkpoint's offset is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Bytes covered by `head` (0 while the file has no whole line yet).
    pub head_len: u64,
    /// BLAKE3 of the first `head_len` bytes, first 16 bytes.
    pub head: [u8; 16],
}

/// An open input file and the position of the next line to hand out.
#[derive(Debug)]
pub struct Source {
    file: File,
    /// The file's path when it was opened (it may have been renamed since).
    pub path: PathBuf,
    /// Device, inode and head.
    pub id: FileId,
    /// Byte offset after the last whole line handed out.
    pub offset: u64,
    buf: Vec<u8>,
    // `buf[consumed..filled]` are bytes read past `offset` (and past what `long` skipped),
    // not yet a whole line.
    consumed: usize,
    filled: usize,
    long: Option<LongLine>,
}

/// The line at `offset` while it is passed over, being longer than [`MAX_LINE_BYTES`].
#[derive(Debug)]
struct LongLine {
    /// Its first bytes.
    first: Vec<u8>,
    /// How many of its bytes were read and let go.
    skipped: u64,
}

/// One line of the input, as [`Source::read`] hands it out.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// Its bytes without the newline; only the first ones when `cut`.
    pub bytes: &'a [u8],
    /// Whether the line was longer than [`MAX_LINE_BYTES`], so `bytes` is only its start.
    pub cut: bool,
    /// The offset of its first byte.
    pub start: u64,
    /// The offset just after it (and its newline, if it has one).
    pub end: u64,
    /// The file it is in, by the name it had when opened.
    pub file: &'a Path,
}

/// What reading found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Whole lines were handed out.
    Lines,
    /// Nothing new: the file ends here, perhaps in the middle of a line.
    End,
    /// The file is no longer what was being read (truncated, or rewritten from the start).
    Replaced,
}

impl Source {
    /// Opens `path` to read from `offset`.
    pub fn open(path: &Path, offset: u64) -> io::Result<Source> {
        Source::from_file(Opened::at(path, File::open(path)?)?, offset)
    }

    /// Reads `opened` from `offset`: the very file that was checked, whatever its path holds
    /// now, known by the head it had when it was checked — so that a truncation and rewrite
    /// between the check and the first read is seen as such, not read as the file's rest.
    pub fn from_file(opened: Opened, offset: u64) -> io::Result<Source> {
        let Opened { path, file, id } = opened;
        Ok(Source { file, path, id, offset, buf: Vec::new(), consumed: 0, filled: 0, long: None })
    }

    /// Reads what is new and hands each whole line (without its newline) to `line`. Returns
    /// [`Read::End`] only once the file has no more bytes, whatever the length of the line being
    /// read: `once` stops there. Checks after each read that the file was not replaced
    /// meanwhile, so no line of a truncated file's new content is taken for the old one's.
    pub fn read(&mut self, mut line: impl FnMut(Line<'_>)) -> io::Result<Read> {
        self.read_batches(|lines| lines.iter().for_each(|l| line(*l)))
    }

    /// [`Source::read`], handing out the whole lines of each read together (at most
    /// [`MAX_BATCH`] at a time): a consumer may share the work on them out.
    pub fn read_batches(&mut self, mut batch: impl FnMut(&[Line<'_>])) -> io::Result<Read> {
        loop {
            // Keep the unfinished line at the front; the buffer is zeroed as it grows, then reused.
            self.buf.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
            if self.filled == self.buf.len() {
                if self.buf.len() < MAX_LINE_BYTES {
                    let grown = (self.buf.len() * 2).clamp(CHUNK, MAX_LINE_BYTES);
                    self.buf.resize(grown, 0);
                } else {
                    self.pass_over();
                }
            }
            let pending = self.filled;
            // A chunk at a time even in a buffer grown for a long line: what follows it is handed
            // out, and written, in batches of the usual size.
            let room = pending..self.buf.len().min(pending + CHUNK);
            let read_at = self.offset + self.skipped() + pending as u64;
            let n = loop {
                match self.file.read_at(&mut self.buf[room.clone()], read_at) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            self.filled += n;
            if self.replaced()? {
                self.filled = 0;
                self.long = None;
                return Ok(Read::Replaced);
            }
            if n == 0 {
                // Bytes without a newline are a line still being written: wait for the rest.
                // Meanwhile a buffer grown for a long line goes back to its usual size.
                if self.buf.len() > CHUNK && self.filled <= CHUNK {
                    self.buf.truncate(CHUNK);
                    self.buf.shrink_to_fit();
                }
                return Ok(Read::End);
            }
            if self.hand_out(pending, &mut batch) {
                return Ok(Read::Lines);
            }
            // Only more of a line longer than what was read of it: the file has more to read.
        }
    }

    /// Hands out each line that ends in `buf[from..filled]`; whether there was one.
    fn hand_out(&mut self, from: usize, batch: &mut impl FnMut(&[Line<'_>])) -> bool {
        // Only the first line can be the one too long to hold.
        let long = self.long.take();
        let mut skipped = long.as_ref().map_or(0, |long| long.skipped);
        let mut lines = Vec::with_capacity(MAX_BATCH.min(64));
        let (mut any, mut search_from) = (false, from);
        while let Some(nl) = memchr(b'\n', &self.buf[search_from..self.filled]) {
            let end = search_from + nl;
            let line_end = self.offset + skipped + (end + 1 - self.consumed) as u64;
            let line = match &long {
                Some(long) if !any => {
                    Line { bytes: &long.first, cut: true, start: self.offset, end: line_end, file: &self.path }
                }
                _ => {
                    if self.offset == 0 {
                        self.id = head_of(&self.buf[..=end], self.id);
                    }
                    let bytes = &self.buf[self.consumed..end];
                    Line { bytes, cut: false, start: self.offset, end: line_end, file: &self.path }
                }
            };
            lines.push(line);
            if lines.len() == MAX_BATCH {
                batch(&lines);
                lines.clear();
            }
            skipped = 0;
            self.offset = line_end;
            self.consumed = end + 1;
            search_from = self.consumed;
            any = true;
        }
        if !lines.is_empty() {
            batch(&lines);
        }
        drop(lines);
        if !any {
            self.long = long;
        }
        any
    }

    /// Lets go of the full buffer, all of it one line too long to hold, keeping its first bytes.
    fn pass_over(&mut self) {
        let skipped = self.filled as u64;
        match &mut self.long {
            Some(long) => long.skipped += skipped,
            None => {
                if self.offset == 0 {
                    // The head a whole first line would have given: it covers no more than this.
                    self.id = head_in(&self.buf[..self.filled], self.id);
                }
                self.long = Some(LongLine { first: self.buf[..LONG_LINE_KEPT].to_vec(), skipped });
            }
        }
        self.filled = 0;
    }

    /// Bytes of the line at `offset` that were read and let go.
    fn skipped(&self) -> u64 {
        self.long.as_ref().map_or(0, |long| long.skipped)
    }

    /// Hands out the unfinished last line as a line of its own: the file is done with (rotated
    /// away and superseded) and the writer will never finish it.
    pub fn take_partial(&mut self, mut line: impl FnMut(Line<'_>)) {
        let rest = self.consumed..self.filled;
        if rest.is_empty() && self.long.is_none() {
            return;
        }
        let end = self.offset + self.skipped() + rest.len() as u64;
        match self.long.take() {
            Some(long) => line(Line { bytes: &long.first, cut: true, start: self.offset, end, file: &self.path }),
            None => line(Line { bytes: &self.buf[rest], cut: false, start: self.offset, end, file: &self.path }),
        }
        self.offset = end;
        self.filled = 0;
        self.consumed = 0;
    }

    /// The very file this reads, through a descriptor of its own, known by the same identity:
    /// a second reader that sees what this one would, rename or not.
    pub fn second_reader(&self) -> io::Result<Opened> {
        Ok(Opened { path: self.path.clone(), file: self.file.try_clone()?, id: self.id })
    }

    /// Whether the file now holds a first line to know it by (whole, or as much as a head covers).
    pub fn has_head(&self) -> io::Result<bool> {
        Ok(identity_of(&self.file)?.head_len > 0)
    }

    /// Whether the file was truncated below the offset or no longer starts with its head.
    pub fn replaced(&self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        if size < self.offset + self.skipped() + (self.filled - self.consumed) as u64 {
            return Ok(true);
        }
        if self.id.head_len > 0 {
            return Ok(head_hash(&self.file, self.id.head_len)? != Some(self.id.head));
        }
        // No whole line yet: the bytes of the unfinished first line must still be there.
        let pending = &self.buf[self.consumed..self.filled];
        if pending.is_empty() {
            return Ok(false);
        }
        let mut now = vec![0; pending.len()];
        let n = read_full_at(&self.file, &mut now, self.offset + self.skipped())?;
        Ok(now[..n] != *pending)
    }
}

/// The identity of an open file: device, inode and the hash of its first line.
pub fn identity_of(file: &File) -> io::Result<FileId> {
    let meta = file.metadata()?;
    let id = FileId { dev: meta.dev(), ino: meta.ino(), head_len: 0, head: [0; 16] };
    let mut buf = vec![0; HEAD_MAX as usize];
    let n = read_full_at(file, &mut buf, 0)?;
    Ok(head_in(&buf[..n], id))
}

/// `id` with the head found in `start`, the first bytes of its file; unchanged while they
/// hold no whole line and are shorter than the most a head covers.
fn head_in(start: &[u8], id: FileId) -> FileId {
    let start = &start[..start.len().min(HEAD_MAX as usize)];
    match memchr(b'\n', start) {
        Some(nl) => head_of(&start[..=nl], id),
        None if start.len() as u64 == HEAD_MAX => head_of(start, id),
        None => id,
    }
}

fn head_of(first_line: &[u8], id: FileId) -> FileId {
    let covered = &first_line[..first_line.len().min(HEAD_MAX as usize)];
    let mut head = [0; 16];
    head.copy_from_slice(&blake3::hash(covered).as_bytes()[..16]);
    FileId { head_len: covered.len() as u64, head, ..id }
}

fn head_hash(file: &File, len: u64) -> io::Result<Option<[u8; 16]>> {
    let mut buf = vec![0; len as usize];
    let n = read_full_at(file, &mut buf, 0)?;
    if (n as u64) < len {
        return Ok(None);
    }
    let mut head = [0; 16];
    head.copy_from_slice(&blake3::hash(&buf).as_bytes()[..16]);
    Ok(Some(head))
}

fn read_full_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Where the checkpointed file is now.
#[derive(Debug)]
pub enum Found {
    /// At `path`, or renamed to a sibling: go on reading it at the offset.
    Same(Opened),
    /// A copy of it (`copytruncate`) holding at least the offset's bytes: read that copy
    /// from the offset, then the truncated original from its start.
    Copy(Opened),
    /// Truncated or replaced in place: read the file at the path from its start.
    Restarted,
    /// Nowhere: deleted, or rotated away and compressed before it was finished.
    Lost,
}

/// A file opened while it was being checked, the name it had then and the identity it was
/// checked by. Reading that open file, not its name again, means a rename in between cannot
/// swap it for another; keeping that identity means a copytruncate in between is noticed.
#[derive(Debug)]
pub struct Opened {
    /// Its name when it was opened.
    pub path: PathBuf,
    /// The open file.
    pub file: File,
    /// Its device and inode, and the head it had when it was checked.
    pub id: FileId,
}

impl Opened {
    /// `file`, opened at `path`, known by the head it has now.
    pub fn at(path: &Path, file: File) -> io::Result<Opened> {
        let id = identity_of(&file)?;
        Ok(Opened { path: path.to_owned(), file, id })
    }
}

/// Looks for the file `id` at `path` and among its siblings whose name begins with the
/// path's name (`dbaudit.log.1`, `dbaudit.log-20261126`). `offset` must lie within it.
/// `older` matters only while no record was accepted (`tip` is None) and `id` has no head:
/// see [`first_unread`].
pub fn find(path: &Path, id: &FileId, offset: u64, tip: Option<ChainPoint>, older: &[FileId]) -> io::Result<Found> {
    let mut searches = 1;
    loop {
        let before = names(path)?;
        let (found, sure) = find_once(path, id, offset, tip, older)?;
        // A file found by what identifies it is held open and was checked. Anything else
        // (nothing, the path by default, the earliest of several) is only right if no name
        // moved while the names were opened one by one.
        if sure || searches == SEARCHES || names(path)? == before {
            return Ok(found);
        }
        let_rotation_settle(searches);
        searches += 1;
    }
}

/// One search; whether what it found is known by its identity, not chosen by elimination.
fn find_once(
    path: &Path,
    id: &FileId,
    offset: u64,
    tip: Option<ChainPoint>,
    older: &[FileId],
) -> io::Result<(Found, bool)> {
    if id.head_len == 0 {
        // Not one whole line was taken from it, so nothing identifies it but the chain.
        let (next, sure) = match tip {
            // If it was copied and truncated meanwhile, the copy is the file whose first
            // record continues the chain.
            Some(_) => next_file_once(path, tip, None)?,
            // Nor a record: the earliest of the files made since the normaliser began.
            None => (first_unread(path, older)?, false),
        };
        return Ok((next.map_or(Found::Lost, Found::Same), sure));
    }
    let matches = |candidate: &Path, by_inode: bool| -> io::Result<Option<Opened>> {
        let Ok(file) = File::open(candidate) else { return Ok(None) };
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() < offset {
            return Ok(None);
        }
        if by_inode && (meta.dev(), meta.ino()) != (id.dev, id.ino) {
            return Ok(None);
        }
        let same = head_hash(&file, id.head_len)? == Some(id.head);
        let id = FileId { dev: meta.dev(), ino: meta.ino(), ..*id };
        Ok(same.then(|| Opened { path: candidate.to_owned(), file, id }))
    };
    if let Some(opened) = matches(path, true)? {
        return Ok((Found::Same(opened), true));
    }
    let siblings = siblings(path)?;
    for candidate in &siblings {
        if let Some(opened) = matches(candidate, true)? {
            return Ok((Found::Same(opened), true));
        }
    }
    for candidate in &siblings {
        if let Some(opened) = matches(candidate, false)? {
            return Ok((Found::Copy(opened), true));
        }
    }
    if let Some(opened) = matches(path, false)? {
        return Ok((Found::Same(opened), true));
    }
    match fs::metadata(path) {
        Ok(meta) if (meta.dev(), meta.ino()) == (id.dev, id.ino) => Ok((Found::Restarted, false)),
        _ => Ok((Found::Lost, false)),
    }
}

/// Where to start when no record was accepted yet and the checkpointed file had not one
/// whole line: nothing of it was read, so nothing says which file holds its records now.
/// `older` names the files that were beside the path when the normaliser began — rotated
/// before it, never its to read. Every other file at the path or beside it was made since
/// from what the path held: the checkpointed file, wherever it was renamed, and each copy
/// copytruncate made. Of those that hold a record, the earliest in the order their records
/// chain; the path itself when none does yet; None when there is no path either.
fn first_unread(path: &Path, older: &[FileId]) -> io::Result<Option<Opened>> {
    struct Candidate {
        opened: Opened,
        first: Record,
        last: Option<ChainPoint>,
        at_path: bool,
        modified: Option<std::time::SystemTime>,
    }
    let siblings = siblings(path)?;
    let mut candidates = Vec::new();
    for (name, at_path) in std::iter::once((path, true)).chain(siblings.iter().map(|s| (s.as_path(), false))) {
        let Ok(file) = File::open(name) else { continue };
        let meta = file.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let (id, first) = opening(&file, &meta)?;
        let Some(first) = first.filter(|_| !older.contains(&id)) else { continue };
        let last = dbaudit_record::last_record_of(&file)?.map(|record| record.point());
        let opened = Opened { path: name.to_owned(), file, id };
        candidates.push(Candidate { opened, first, last, at_path, modified: meta.modified().ok() });
    }
    // A file whose first record continues another's last one comes after it. Of those that
    // continue none (a new epoch names no earlier record when it began on an empty log), the
    // least recently written, the path last: rotation only ever moves older records aside.
    let continued = |c: &Candidate| {
        candidates.iter().any(|d| !std::ptr::eq(c, d) && d.last.is_some_and(|last| continues(&c.first, last)))
    };
    let earliest = (0..candidates.len())
        .filter(|&i| !continued(&candidates[i]))
        .min_by_key(|&i| (candidates[i].at_path, candidates[i].modified));
    if let Some(i) = earliest {
        return Ok(Some(candidates.swap_remove(i).opened));
    }
    match File::open(path) {
        Ok(file) => Ok(Some(Opened::at(path, file)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The identities of the files beside `path` now, except the one `except` names by its
/// inode: what [`find`] is to pass over while no record was accepted.
pub fn beside(path: &Path, except: Option<&FileId>) -> io::Result<Vec<FileId>> {
    let mut searches = 1;
    loop {
        let before = names(path)?;
        let mut ids = Vec::new();
        for sibling in siblings(path)? {
            let Ok(file) = File::open(&sibling) else { continue };
            if !file.metadata()?.is_file() {
                continue;
            }
            let id = identity_of(&file)?;
            if except.is_none_or(|e| (e.dev, e.ino) != (id.dev, id.ino)) {
                ids.push(id);
            }
        }
        // A file renamed while the names were opened could be missed, and later taken for one
        // made since: list them again until no name moved.
        if searches == SEARCHES || names(path)? == before {
            return Ok(ids);
        }
        let_rotation_settle(searches);
        searches += 1;
    }
}

/// How much of a file is read to find its first record.
const OPENING: usize = 64 << 10;

/// The identity of `file` and its first record, judged from one read of its first bytes.
/// A torn fragment may come before the record.
fn opening(file: &File, meta: &fs::Metadata) -> io::Result<(FileId, Option<Record>)> {
    let mut buf = vec![0; OPENING];
    let n = read_full_at(file, &mut buf, 0)?;
    let id = head_in(&buf[..n], FileId { dev: meta.dev(), ino: meta.ino(), head_len: 0, head: [0; 16] });
    let whole = &buf[..buf[..n].iter().rposition(|&b| b == b'\n').unwrap_or(0)];
    let first = whole.split(|&b| b == b'\n').find_map(|line| dbaudit_record::parse(line).ok());
    Ok((id, first))
}

/// Whether `first` is the record that comes right after `tip`.
fn continues(first: &Record, tip: ChainPoint) -> bool {
    match first.event {
        Event::Start { prev } => prev == Some(tip),
        _ => first.epoch == tip.epoch && first.seq == tip.seq + 1,
    }
}

/// The file to read after one that was rotated away: the sibling (or the path) whose first
/// record continues the chain at `tip`, so that two rotations while stopped skip nothing;
/// the path itself when none does (a new epoch whose start found no earlier record).
pub fn next_file(path: &Path, tip: Option<ChainPoint>, done: Option<&FileId>) -> io::Result<Option<Opened>> {
    let mut searches = 1;
    loop {
        let before = names(path)?;
        let (next, continues) = next_file_once(path, tip, done)?;
        if continues || searches == SEARCHES || names(path)? == before {
            return Ok(next);
        }
        let_rotation_settle(searches);
        searches += 1;
    }
}

/// The next file, and whether it continues the chain (rather than being the path by default).
fn next_file_once(path: &Path, tip: Option<ChainPoint>, done: Option<&FileId>) -> io::Result<(Option<Opened>, bool)> {
    let continuing = |candidate: &Path| -> Option<Opened> {
        let file = File::open(candidate).ok()?;
        let meta = file.metadata().ok()?;
        if done.is_some_and(|done| (meta.dev(), meta.ino()) == (done.dev, done.ino)) {
            return None;
        }
        let tip = tip?;
        // The first record decides; its head is taken from the bytes that were judged, not
        // read again later.
        let (id, first) = opening(&file, &meta).ok()?;
        continues(&first?, tip).then(|| Opened { path: candidate.to_owned(), file, id })
    };
    if let Some(opened) = continuing(path) {
        return Ok((Some(opened), true));
    }
    if let Some(opened) = siblings(path)?.iter().find_map(|candidate| continuing(candidate)) {
        return Ok((Some(opened), true));
    }
    match File::open(path) {
        Ok(file) => Ok((Some(Opened::at(path, file)?), false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((None, false)),
        Err(e) => Err(e),
    }
}

/// How many times a search that found nothing is made again because files were renamed
/// while it looked (logrotate shifting `.1` to `.2`, say).
const SEARCHES: usize = 100;

/// Waits a little longer after each search that names moved under, up to 10 ms, so that a
/// burst of renames can finish: all the searches together wait under a second.
fn let_rotation_settle(searches: usize) {
    std::thread::sleep(std::time::Duration::from_millis(searches.min(10) as u64));
}

/// The path and its siblings: each name and the inode it holds, by name.
fn names(path: &Path) -> io::Result<Vec<(std::ffi::OsString, u64)>> {
    use std::os::unix::fs::DirEntryExt;
    let Some(name) = path.file_name() else { return Ok(Vec::new()) };
    let name = name.as_encoded_bytes();
    let mut found = Vec::new();
    let entries = match fs::read_dir(parent(path)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().as_encoded_bytes().starts_with(name) {
            found.push((entry.file_name(), entry.ino()));
        }
    }
    found.sort();
    Ok(found)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Files beside `path` whose names begin with its name, most recently modified first.
pub(crate) fn siblings(path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = path.file_name() else { return Ok(Vec::new()) };
    let dir = parent(path);
    let name = name.as_encoded_bytes();
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let other = entry.file_name();
        let bytes = other.as_encoded_bytes();
        if bytes.len() > name.len() && bytes.starts_with(name) {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            found.push((modified, entry.path()));
        }
    }
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    Ok(found.into_iter().map(|(_, p)| p).collect())
}
