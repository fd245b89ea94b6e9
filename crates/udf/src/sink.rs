//! Where record lines go: an append-only file that follows rotation, or mysqld's stderr.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dbaudit_record::ChainPoint;

use dbaudit_udfconfig::Destination;

/// How often the log's path is checked for rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// An open destination for record lines.
#[derive(Debug)]
pub(crate) enum Sink {
    /// A log file of our own.
    File(LogFile),
    /// The server's error log.
    Stderr,
}

impl Sink {
    /// Opens the destination.
    pub(crate) fn open(destination: &Destination) -> io::Result<Sink> {
        match destination {
            Destination::File(path) => LogFile::open(path).map(Sink::File),
            Destination::Stderr => Ok(Sink::Stderr),
        }
    }

    /// Where it writes.
    pub(crate) fn destination(&self) -> Destination {
        match self {
            Sink::File(log) => Destination::File(log.path.clone()),
            Sink::Stderr => Destination::Stderr,
        }
    }

    /// The last record at the end of the log, if one can be found there.
    pub(crate) fn last_record(&self) -> Option<ChainPoint> {
        match self {
            Sink::File(log) => dbaudit_record::last_record(&log.path).ok().flatten().map(|r| r.point()),
            Sink::Stderr => None,
        }
    }

    /// Appends one whole line, `now` being the time it is written. On error the line may be
    /// partly written; the next line then begins with a newline of its own, so it is never
    /// glued to the fragment.
    pub(crate) fn write_line(&mut self, line: &[u8], now: Instant) -> io::Result<()> {
        match self {
            Sink::File(log) => log.write_line(line, now),
            Sink::Stderr => io::stderr().lock().write_all(line),
        }
    }
}

/// The audit log file, opened `O_APPEND` so each record lands whole at the end.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
    /// When the path is next looked at (a deadline: one clock read a line, no subtraction).
    check_at: Instant,
    torn: bool,
}

impl LogFile {
    fn open(path: &Path) -> io::Result<LogFile> {
        let file = OpenOptions::new().append(true).create(true).mode(0o640).open(path)?;
        let meta = file.metadata()?;
        let mut log = LogFile {
            path: path.to_owned(),
            file,
            identity: (meta.dev(), meta.ino()),
            check_at: Instant::now() + ROTATION_CHECK,
            torn: false,
        };
        log.torn = log.ends_mid_line()?;
        Ok(log)
    }

    fn ends_mid_line(&mut self) -> io::Result<bool> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok(false);
        }
        let mut reader = File::open(&self.path)?;
        reader.seek(SeekFrom::Start(len - 1))?;
        let mut last = [0u8; 1];
        reader.read_exact(&mut last)?;
        Ok(last[0] != b'\n')
    }

    /// Reopens the path when the file there is no longer the one we hold: logrotate
    /// renamed it, or it was deleted. Checked at most once a second, so a rename costs at
    /// most a second of records in the old file, where the normaliser still finds them.
    fn follow_rotation(&mut self, now: Instant) -> io::Result<()> {
        if now < self.check_at {
            return Ok(());
        }
        self.check_at = now + ROTATION_CHECK;
        let moved = match std::fs::metadata(&self.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != self.identity,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        if moved {
            *self = LogFile::open(&self.path)?;
        }
        Ok(())
    }

    fn write_line(&mut self, line: &[u8], now: Instant) -> io::Result<()> {
        self.follow_rotation(now)?;
        if self.torn {
            self.file.write_all(b"\n")?;
            self.torn = false;
        }
        let mut written = 0;
        while written < line.len() {
            match self.file.write(&line[written..]) {
                Ok(0) => {
                    self.torn = written > 0;
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "the log accepted no bytes"));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.torn = written > 0;
                    // Look at the path again on the next call: the file may have been replaced.
                    self.check_at = Instant::now();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log path in a directory of its own, removed when the directory is dropped.
    fn temp_path() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbaudit.log");
        (dir, path)
    }

    #[test]
    fn a_line_after_a_torn_tail_starts_on_a_new_line() {
        let (_dir, path) = temp_path();
        std::fs::write(&path, b"{\"v\":1,\"epo").unwrap();
        let mut sink = Sink::open(&Destination::File(path.clone())).unwrap();
        sink.write_line(b"whole\n", Instant::now()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":1,\"epo\nwhole\n");
    }

    #[test]
    fn rename_rotation_is_followed_within_a_second() {
        let (_dir, path) = temp_path();
        let mut sink = Sink::open(&Destination::File(path.clone())).unwrap();
        sink.write_line(b"one\n", Instant::now()).unwrap();
        std::fs::rename(&path, path.with_extension("1")).unwrap();
        std::thread::sleep(ROTATION_CHECK + Duration::from_millis(50));
        sink.write_line(b"two\n", Instant::now()).unwrap();
        assert_eq!(std::fs::read(path.with_extension("1")).unwrap(), b"one\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
    }
}
