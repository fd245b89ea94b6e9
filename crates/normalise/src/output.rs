//! Where normalised lines go: a file that ossec-logcollector reads (appended, rotation
//! followed), standard output (`once` under `<log_format>command</log_format>`), or syslog.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dbaudit_syslog::{Severity, Syslog};

/// How often the output path is checked for rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// An open destination for lines.
#[derive(Debug)]
pub enum Output {
    /// An append-only file.
    File(OutputFile),
    /// The same, written on a thread of its own ([`Output::write_behind`]).
    Behind(WriteBehind),
    /// Standard output.
    Stdout,
    /// The local syslog daemon, facility `authpriv`.
    Syslog(Syslog),
}

/// The output file, reopened when logrotate renames it away.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
    checked: Instant,
}

impl Output {
    /// Opens `spec`: `-` for standard output, `syslog`, or a file path.
    pub fn open(spec: &Path) -> io::Result<Output> {
        match spec.to_str() {
            Some("-") => Ok(Output::Stdout),
            Some("syslog") => Syslog::open("dbaudit").map(Output::Syslog),
            _ => OutputFile::open(spec).map(Output::File),
        }
    }

    /// With a second core, the output file from now on written on a thread of its own, while
    /// this one goes on framing: the kernel's copy of a line into a file costs about as much
    /// as framing it. Lines still go out in order, and [`Output::sync`] waits for them all.
    pub fn write_behind(self) -> Output {
        match self {
            Output::File(out) if thread::available_parallelism().is_ok_and(|cores| cores.get() >= 2) => {
                match WriteBehind::start(out) {
                    Ok(behind) => Output::Behind(behind),
                    Err(out) => Output::File(*out),
                }
            }
            other => other,
        }
    }

    /// Writes whole lines, taking them: `lines` is left empty (its buffer may be another).
    pub fn write(&mut self, lines: &mut Vec<u8>) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let written = self.write_now(lines);
        lines.clear();
        written
    }

    fn write_now(&mut self, lines: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Output::File(out) => out.write(lines),
            Output::Behind(behind) => behind.write(lines),
            Output::Stdout => io::stdout().lock().write_all(lines),
            Output::Syslog(syslog) => {
                for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let (severity, text) = syslog_message(line);
                    syslog.send(severity, text)?;
                }
                Ok(())
            }
        }
    }

    /// Makes what was written durable and says where the file ends: device, inode, length.
    pub fn sync(&mut self) -> io::Result<Option<(u64, u64, u64)>> {
        match self {
            Output::File(out) => out.sync().map(Some),
            Output::Behind(behind) => behind.sync().map(Some),
            Output::Stdout => io::stdout().lock().flush().map(|()| None),
            Output::Syslog(_) => Ok(None),
        }
    }

    /// The last `max` bytes of the output file (nothing for standard output or syslog, or
    /// once it is written behind).
    pub fn tail(&self, max: u64) -> io::Result<Vec<u8>> {
        let Output::File(out) = self else { return Ok(Vec::new()) };
        let len = out.file.metadata()?.len();
        let start = len.saturating_sub(max);
        let mut buf = vec![0; (len - start) as usize];
        out.file.read_exact_at(&mut buf, start)?;
        Ok(buf)
    }

    /// The bytes written after `at` (device, inode, length) by a run that stopped before it
    /// could store its checkpoint, in the file at the path or, when that was rotated since, in
    /// the renamed file beside it (its whole lines only: the rest of a line cut there goes to
    /// the new file whole). Empty when the file was truncated or is nowhere to be found.
    pub fn written_after(&self, at: Option<(u64, u64, u64)>) -> io::Result<Vec<u8>> {
        let (Output::File(out), Some((dev, ino, len))) = (self, at) else { return Ok(Vec::new()) };
        let meta = out.file.metadata()?;
        if (meta.dev(), meta.ino()) == (dev, ino) {
            return read_after(&out.file, meta.len(), len);
        }
        for candidate in crate::input::siblings(&out.path)? {
            let Ok(file) = File::open(&candidate) else { continue };
            let meta = file.metadata()?;
            if (meta.dev(), meta.ino()) == (dev, ino) {
                let mut written = read_after(&file, meta.len(), len)?;
                written.truncate(written.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1));
                return Ok(written);
            }
        }
        Ok(Vec::new())
    }
}

impl OutputFile {
    fn open(path: &Path) -> io::Result<OutputFile> {
        let file = OpenOptions::new().append(true).create(true).read(true).mode(0o640).open(path)?;
        let meta = file.metadata()?;
        Ok(OutputFile { path: path.to_owned(), file, identity: (meta.dev(), meta.ino()), checked: Instant::now() })
    }

    fn write(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.checked.elapsed() >= ROTATION_CHECK {
            self.checked = Instant::now();
            let moved = match fs::metadata(&self.path) {
                Ok(meta) => (meta.dev(), meta.ino()) != self.identity,
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => return Err(e),
            };
            if moved {
                // What went to the renamed file stays there; logcollector reads both.
                self.file.sync_data()?;
                *self = OutputFile::open(&self.path)?;
            }
        }
        self.file.write_all(lines)
    }

    fn sync(&mut self) -> io::Result<(u64, u64, u64)> {
        self.file.sync_data()?;
        let meta = self.file.metadata()?;
        Ok((meta.dev(), meta.ino(), meta.len()))
    }
}

/// The output file on a thread of its own ("write-behind"), fed buffers of lines in order.
#[derive(Debug)]
pub struct WriteBehind {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// Buffers written and handed back, to take the next lines.
    spare: Vec<Vec<u8>>,
}

#[derive(Debug)]
enum Job {
    Write(Vec<u8>),
    Sync,
}

#[derive(Debug)]
enum Done {
    /// A buffer written (emptied, to be used again), or why it was not.
    Written(Vec<u8>, io::Result<()>),
    Synced(io::Result<(u64, u64, u64)>),
}

impl WriteBehind {
    /// The thread, started; `out` back if it could not be.
    fn start(out: OutputFile) -> Result<WriteBehind, Box<OutputFile>> {
        // One buffer waiting at most: a writer that lags holds this thread back (memory stays flat).
        let (jobs, incoming) = mpsc::sync_channel::<Job>(1);
        let (finished, done) = mpsc::channel();
        // The file goes to the thread once it runs, so that it stays here if it cannot.
        let (handed, back) = mpsc::channel::<OutputFile>();
        let thread = thread::Builder::new().name("write-behind".to_owned()).spawn(move || {
            let Ok(mut out) = back.recv() else { return };
            // After a failed write nothing more is written: the output must not skip lines.
            let mut failed = false;
            for job in incoming {
                let done = match job {
                    Job::Write(mut lines) => {
                        let written =
                            if failed { Err(io::Error::other("an earlier write failed")) } else { out.write(&lines) };
                        failed |= written.is_err();
                        lines.clear();
                        Done::Written(lines, written)
                    }
                    Job::Sync => Done::Synced(out.sync()),
                };
                if finished.send(done).is_err() {
                    return;
                }
            }
        });
        match thread {
            Ok(thread) => {
                let _ = handed.send(out);
                Ok(WriteBehind { jobs: Some(jobs), done, thread: Some(thread), spare: Vec::new() })
            }
            Err(_) => Err(Box::new(out)),
        }
    }

    fn write(&mut self, lines: &mut Vec<u8>) -> io::Result<()> {
        while let Ok(done) = self.done.try_recv() {
            self.finished(done)?;
        }
        let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(lines.capacity()));
        self.send(Job::Write(std::mem::replace(lines, next)))
    }

    fn sync(&mut self) -> io::Result<(u64, u64, u64)> {
        self.send(Job::Sync)?;
        loop {
            match self.done.recv().map_err(|_| gone())? {
                Done::Synced(synced) => return synced,
                written => self.finished(written)?,
            }
        }
    }

    fn send(&self, job: Job) -> io::Result<()> {
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())
    }

    fn finished(&mut self, done: Done) -> io::Result<()> {
        match done {
            Done::Written(buffer, written) => {
                self.spare.push(buffer);
                written
            }
            Done::Synced(synced) => synced.map(|_| ()),
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // Closing the queue ends the thread once what was handed to it is written.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the write-behind thread is gone")
}

/// The bytes of `file` (`size` long) past `len`; none when it is not longer than that.
fn read_after(file: &File, size: u64, len: u64) -> io::Result<Vec<u8>> {
    if size <= len {
        return Ok(Vec::new());
    }
    let mut buf = vec![0; (size - len) as usize];
    file.read_exact_at(&mut buf, len)?;
    Ok(buf)
}

/// What of a normalised line goes to syslog, and how urgent it is: the line after its own
/// `dbaudit: ` header (syslog puts its own in front), as a warning when the event calls for
/// attention (tamper, forged, error), as info otherwise.
fn syslog_message(line: &[u8]) -> (Severity, &[u8]) {
    let text = match line.windows(9).position(|w| w == b"dbaudit: ") {
        Some(at) => &line[at + 9..],
        None => line,
    };
    let urgent = [&b"op=tamper"[..], b"op=forged", b"op=error"].iter().any(|p| text.starts_with(p));
    (if urgent { Severity::Warning } else { Severity::Info }, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_written_behind_are_all_in_the_file_in_order_once_synced() {
        let path = std::env::temp_dir().join(format!("dbaudit-write-behind-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut output = Output::File(OutputFile::open(&path).unwrap());
        if thread::available_parallelism().is_ok_and(|cores| cores.get() >= 2) {
            output = output.write_behind();
            assert!(matches!(output, Output::Behind(_)));
        }
        let mut expected = Vec::new();
        for i in 0..50 {
            let mut lines = format!("line {i}\n").repeat(1000).into_bytes();
            expected.extend_from_slice(&lines);
            output.write(&mut lines).unwrap();
            assert!(lines.is_empty());
        }
        let (_, _, len) = output.sync().unwrap().unwrap();
        assert_eq!(len, expected.len() as u64);
        assert!(fs::read(&path).unwrap() == expected);
        drop(output);
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn syslog_message_keeps_the_fields_and_flags_tamper_as_warning() {
        let line = b"2026-11-26T08:31:24.123456+00:00 h dbaudit: op=tamper kind=gap";
        assert_eq!(syslog_message(line), (Severity::Warning, &b"op=tamper kind=gap"[..]));
        assert_eq!(syslog_message(b"x dbaudit: op=update"), (Severity::Info, &b"op=update"[..]));
    }
}
