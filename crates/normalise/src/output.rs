//! Where normalised lines go: a file that ossec-logcollector reads (appended, rotation
//! followed), standard output (`once` under `<log_format>command</log_format>`), or syslog.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dbaudit_syslog::{Severity, Syslog};

/// How often the output path is checked for rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// An open destination for lines.
#[derive(Debug)]
pub enum Output {
    /// An append-only file.
    File(OutputFile),
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

    /// Writes whole lines.
    pub fn write(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        match self {
            Output::File(out) => out.write(lines),
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
            Output::File(out) => {
                out.file.sync_data()?;
                let meta = out.file.metadata()?;
                Ok(Some((meta.dev(), meta.ino(), meta.len())))
            }
            Output::Stdout => io::stdout().lock().flush().map(|()| None),
            Output::Syslog(_) => Ok(None),
        }
    }

    /// The last `max` bytes of the output file (nothing for standard output or syslog).
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
    fn syslog_message_keeps_the_fields_and_flags_tamper_as_warning() {
        let line = b"2026-11-26T08:31:24.123456+00:00 h dbaudit: op=tamper kind=gap";
        assert_eq!(syslog_message(line), (Severity::Warning, &b"op=tamper kind=gap"[..]));
        assert_eq!(syslog_message(b"x dbaudit: op=update"), (Severity::Info, &b"op=update"[..]));
    }
}
