//! What the normaliser's tests share: a raw log written the way the UDF writes it, the real
//! `dbaudit-normalise` binary run on real files, and its output read back.

#![allow(dead_code)]
// Each test file includes this module privately: `pub` is its interface to them, not the world.
#![allow(unreachable_pub)]

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dbaudit_record::{Chain, ChainPoint, ColumnRef, Epoch, EventRef, Key, Op, RowRef, Timestamp};

pub const BIN: &str = env!("CARGO_BIN_EXE_dbaudit-normalise");

/// A fresh directory under the target's tmp dir, removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("normalise-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A raw log written as the UDF writes it: one chain, O_APPEND, one write per record.
pub struct RawLog {
    pub path: PathBuf,
    pub key: Key,
    chain: Chain,
    file: File,
    /// Every record written whole, in order: (epoch, seq).
    pub written: Vec<(u64, u64)>,
    /// The unwritten rest of a record begun by `write_partial`.
    rest: Vec<u8>,
    next_point: Option<ChainPoint>,
    torn: bool,
    ts: u64,
}

impl RawLog {
    /// A new log at `path` whose first record is a start record.
    pub fn create(path: &Path, key: Key) -> RawLog {
        let mut log = RawLog::continue_at(path, key, Epoch(0x1000_0000_0000_0001), None);
        log.start(None);
        log
    }

    /// A writer of epoch `epoch` appending to `path`, without writing a start record.
    pub fn continue_at(path: &Path, key: Key, epoch: Epoch, tip: Option<ChainPoint>) -> RawLog {
        let mut chain = Chain::new(key.clone(), epoch);
        if let Some(tip) = tip {
            chain.advance(tip);
        }
        RawLog {
            path: path.to_owned(),
            key,
            chain,
            file: open_append(path),
            written: Vec::new(),
            rest: Vec::new(),
            next_point: None,
            torn: false,
            ts: 1_795_681_884_000_000,
        }
    }

    pub fn start(&mut self, prev: Option<ChainPoint>) {
        let line = self.line(&EventRef::Start { prev });
        self.write_whole(line);
    }

    /// Writes the first `fraction` of a start record; the next append writes the rest.
    pub fn start_partial(&mut self, prev: Option<ChainPoint>, fraction: f64) {
        self.finish_partial();
        let line = self.line(&EventRef::Start { prev });
        self.write_part(line, fraction);
    }

    /// The line of the next record, realistic: 8 columns, about 250 bytes.
    pub fn next_line(&mut self) -> (Vec<u8>, ChainPoint) {
        self.line_with_note(b"line one\nline two")
    }

    /// The line of the next record, exactly `len` bytes with its newline: its new `note` is
    /// padded to fit.
    pub fn next_line_of(&mut self, len: usize) -> (Vec<u8>, ChainPoint) {
        let bare = self.line_with_note(b"").0.len();
        assert!(len >= bare, "a record is at least {bare} bytes");
        let (line, point) = self.line_with_note(&vec![b'x'; len - bare]);
        assert_eq!(line.len(), len);
        (line, point)
    }

    /// Appends one record whose line is `len` bytes long, its newline included.
    pub fn append_of(&mut self, len: usize) {
        self.finish_partial();
        let next = self.next_line_of(len);
        self.write_whole(next);
    }

    fn line_with_note(&mut self, note: &[u8]) -> (Vec<u8>, ChainPoint) {
        let n = self.chain.tip().map_or(0, |t| t.seq + 1);
        let id = format!("{n}");
        let login = format!("user{}", n % 97);
        let values: [(&str, Vec<u8>); 8] = [
            ("id", id.clone().into_bytes()),
            ("login", login.into_bytes()),
            ("password", b"hunter2".to_vec()),
            ("email", format!("u{n}@example.com").into_bytes()),
            ("price", b"19.99".to_vec()),
            ("note", note.to_vec()),
            ("created", b"2026-11-26 08:31:24".to_vec()),
            ("flags", vec![0xff, 0x00, 0x41]),
        ];
        let old: Vec<ColumnRef> = values
            .iter()
            .map(|(name, _)| ColumnRef { name: name.as_bytes(), value: Some(b"old"), secret: *name == "password" })
            .collect();
        let new: Vec<ColumnRef> = values
            .iter()
            .map(|(name, v)| ColumnRef { name: name.as_bytes(), value: Some(v), secret: *name == "password" })
            .collect();
        let changed: Vec<&[u8]> = vec![b"login", b"email"];
        let event = EventRef::Row(RowRef {
            db: b"acme",
            table: b"users",
            op: Op::Update,
            user: b"admin@localhost",
            conn: 17,
            pk: &new[..1],
            changed: Some(&changed),
            old: Some(&old),
            new: Some(&new),
        });
        self.ts += 1;
        let mut out = Vec::new();
        let point = self.chain.append_next(&mut out, Timestamp(self.ts), &event);
        (out, point)
    }

    fn line(&mut self, event: &EventRef) -> (Vec<u8>, ChainPoint) {
        self.ts += 1;
        let mut out = Vec::new();
        let point = self.chain.append_next(&mut out, Timestamp(self.ts), event);
        (out, point)
    }

    /// As the UDF does after a failed write: the next line begins on a line of its own.
    fn end_torn(&mut self) {
        if self.torn {
            self.file.write_all(b"\n").unwrap();
            self.torn = false;
        }
    }

    fn write_whole(&mut self, (line, point): (Vec<u8>, ChainPoint)) {
        self.finish_partial();
        self.end_torn();
        self.file.write_all(&line).unwrap();
        self.chain.advance(point);
        self.written.push((point.epoch.0, point.seq));
    }

    /// Appends `n` records.
    pub fn append(&mut self, n: usize) {
        for _ in 0..n {
            self.finish_partial();
            let next = self.next_line();
            self.write_whole(next);
        }
    }

    /// Writes the first `k` bytes of the next record; the next append writes the rest.
    pub fn write_partial(&mut self, fraction: f64) {
        self.finish_partial();
        let next = self.next_line();
        self.write_part(next, fraction);
    }

    /// [`RawLog::write_partial`] of a record whose line is `len` bytes long.
    pub fn write_partial_of(&mut self, len: usize, fraction: f64) {
        self.finish_partial();
        let next = self.next_line_of(len);
        self.write_part(next, fraction);
    }

    fn write_part(&mut self, (line, point): (Vec<u8>, ChainPoint), fraction: f64) {
        self.end_torn();
        let k = ((line.len() as f64 * fraction) as usize).clamp(1, line.len() - 1);
        self.file.write_all(&line[..k]).unwrap();
        self.rest = line[k..].to_vec();
        self.next_point = Some(point);
    }

    /// Completes a record begun by `write_partial`.
    pub fn finish_partial(&mut self) {
        if let Some(point) = self.next_point.take() {
            self.file.write_all(&self.rest).unwrap();
            self.rest.clear();
            self.chain.advance(point);
            self.written.push((point.epoch.0, point.seq));
        }
    }

    /// A write that failed half way, as the UDF meets it: the fragment stays, the record is
    /// not in the chain, and the next line starts with a newline of its own.
    pub fn write_torn(&mut self) {
        self.finish_partial();
        self.end_torn();
        let (line, _) = self.next_line();
        self.file.write_all(&line[..line.len() / 2]).unwrap();
        self.torn = true;
    }

    /// logrotate without copytruncate: shift `.N` names up, rename the log to `.1`; the
    /// writer keeps its descriptor (it writes on in the renamed file) until `reopen`.
    pub fn rename_rotate(&mut self) {
        if !self.path.exists() {
            return;
        }
        shift(&self.path);
        fs::rename(&self.path, numbered(&self.path, 1)).unwrap();
    }

    /// The writer notices the rename and opens the path anew.
    pub fn reopen(&mut self) {
        self.finish_partial();
        self.file = open_append(&self.path);
        // The UDF looks at the end of the file it opens: a fragment there is ended first.
        let bytes = fs::read(&self.path).unwrap();
        self.torn = bytes.last().is_some_and(|&b| b != b'\n');
    }

    /// logrotate's copytruncate: copy to `.1`, truncate in place; the writer's O_APPEND
    /// descriptor goes on at the new end.
    pub fn copytruncate(&mut self) {
        self.finish_partial();
        shift(&self.path);
        fs::copy(&self.path, numbered(&self.path, 1)).unwrap();
        OpenOptions::new().write(true).open(&self.path).unwrap().set_len(0).unwrap();
    }

    pub fn tip(&self) -> Option<ChainPoint> {
        self.chain.tip()
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new().append(true).create(true).open(path).unwrap()
}

pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn shift(path: &Path) {
    for n in (1..64).rev() {
        let from = numbered(path, n);
        if from.exists() {
            fs::rename(&from, numbered(path, n + 1)).unwrap();
        }
    }
}

/// The stored checkpoint's `key=` value.
pub fn checkpoint_field(state: &Path, key: &str) -> Option<String> {
    let text = fs::read_to_string(state).ok()?;
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

/// Whether the stored checkpoint names a file it knows only by its inode (not one whole
/// line read from it: no head) and no record accepted yet (no tip).
pub fn checkpoint_is_headless(state: &Path) -> bool {
    let input = checkpoint_field(state, "input").unwrap_or_default();
    input.split(':').nth(2) == Some("0") && checkpoint_field(state, "tip").as_deref() == Some("none")
}

/// A key file in `dir`.
pub fn key_file(dir: &Dir, key: &Key) -> PathBuf {
    let path = dir.join("dbaudit.key");
    fs::write(&path, format!("{}\n", key.to_hex())).unwrap();
    path
}

/// The arguments of one normaliser setup.
#[derive(Clone)]
pub struct Normaliser {
    pub input: PathBuf,
    pub key_file: PathBuf,
    pub state: PathBuf,
    pub output: PathBuf,
    pub extra: Vec<String>,
    /// Arguments only `follow` takes (`--recheck`).
    pub follow_extra: Vec<String>,
}

impl Normaliser {
    pub fn in_dir(dir: &Dir, input: &Path, key: &Key) -> Normaliser {
        Normaliser {
            input: input.to_owned(),
            key_file: key_file(dir, key),
            state: dir.join("normalise.state"),
            output: dir.join("out.log"),
            extra: Vec::new(),
            follow_extra: Vec::new(),
        }
    }

    pub fn command(&self, mode: &str) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg(mode)
            .arg("--input")
            .arg(&self.input)
            .arg("--key-file")
            .arg(&self.key_file)
            .arg("--state")
            .arg(&self.state)
            .arg("--output")
            .arg(&self.output)
            .args(["--host", "dbhost", "--poll-ms", "5"])
            .args(&self.extra)
            .stdin(Stdio::null());
        command
    }

    /// Runs `once` and returns how it ended.
    pub fn once(&self) -> Output {
        self.command("once").output().unwrap()
    }

    /// Runs `once` and insists that it succeeded.
    pub fn once_ok(&self) {
        let out = self.once();
        assert!(out.status.success(), "once failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn follow(&self) -> Follower {
        let log = OpenOptions::new().create(true).append(true).open(self.state.with_extension("err")).unwrap();
        let mut command = self.command("follow");
        command.args(&self.follow_extra).env("DBAUDIT_NORMALISE_TRACE", "1").stderr(log);
        Follower(command.spawn().unwrap())
    }

    pub fn lines(&self) -> Vec<Line> {
        read_lines(&self.output)
    }

    /// The lines so far of a normaliser that may be running.
    pub fn lines_so_far(&self) -> Vec<Line> {
        read_lines_so_far(&self.output)
    }
}

/// One normalised line, split into its fields.
#[derive(Clone, Debug)]
pub struct Line {
    pub text: String,
    pub op: String,
}

impl Line {
    pub fn get(&self, key: &str) -> Option<&str> {
        let head = self.text.split(" data=").next().unwrap_or_default();
        head.split(' ').find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// (epoch, seq) of a row, start or forged line.
    pub fn point(&self) -> Option<(u64, u64)> {
        let epoch = u64::from_str_radix(self.get("epoch")?, 16).ok()?;
        Some((epoch, self.get("seq")?.parse().ok()?))
    }

    pub fn is_record(&self) -> bool {
        !matches!(self.op.as_str(), "tamper" | "error")
    }
}

/// The whole lines of the output (a stopped normaliser leaves no partial line).
pub fn read_lines(path: &Path) -> Vec<Line> {
    let lines = read_lines_so_far(path);
    let bytes = fs::read(path).unwrap_or_default();
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"), "output ends mid-line");
    lines
}

/// The whole lines of an output that may be being written right now.
pub fn read_lines_so_far(path: &Path) -> Vec<Line> {
    let mut bytes = fs::read(path).unwrap_or_default();
    bytes.truncate(bytes.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1));
    let text = String::from_utf8(bytes).expect("output is UTF-8");
    text.lines()
        .map(|l| {
            let after = l.split_once(" dbaudit: ").unwrap_or_else(|| panic!("not a normalised line: {l}")).1;
            let op = after.strip_prefix("op=").and_then(|r| r.split(' ').next()).unwrap_or_default().to_owned();
            Line { text: l.to_owned(), op }
        })
        .collect()
}

/// The (epoch, seq) of every record line, in order.
pub fn record_points(lines: &[Line]) -> Vec<(u64, u64)> {
    lines.iter().filter(|l| l.is_record()).filter_map(Line::point).collect()
}

/// Waits until `done` holds, or panics after `secs` seconds saying `what`.
pub fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `follow`, killed (SIGKILL) when dropped, so a failing test leaves none behind.
pub struct Follower(pub Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kill -9`, as a crash or the OOM killer would.
pub fn kill9(follower: &mut Follower) {
    let _ = follower.0.kill();
    let _ = follower.0.wait();
}

/// Sends `signal` (`STOP`, `CONT`) to a running follower, to hold it still while files change.
pub fn signal(follower: &Follower, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(follower.0.id().to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} failed");
}
