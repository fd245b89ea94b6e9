//! Reading raw logs as the UDF and logrotate leave them: line by line with flat memory,
//! gzip-compressed rotations read as they stand, and a set of rotated files put in the
//! order the chain runs through them. `dbaudit verify` and `dbaudit history` share it.

use std::cmp::Reverse;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::Failure;
use crate::udf_config::UdfConfig;

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How much of a file is read at a time.
const READ_BUFFER: usize = 1 << 16;

/// One raw log, read a line at a time.
pub(crate) struct LogLines {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    line: Vec<u8>,
    line_no: u64,
    content: Content,
}

/// A line of a log, without its newline.
pub(crate) enum Line<'a> {
    /// A line ended by a newline.
    Whole(&'a [u8]),
    /// The last line, with no newline: being written, or cut by a crash.
    Incomplete,
}

impl LogLines {
    /// Opens `path`; gzip is recognised by its magic bytes, whatever the file is called.
    pub(crate) fn open(path: &Path) -> Result<LogLines, Failure> {
        let mut file = BufReader::with_capacity(READ_BUFFER, File::open(path).map_err(|e| unreadable(path, &e))?);
        let gzip = file.fill_buf().map_err(|e| unreadable(path, &e))?.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::with_capacity(READ_BUFFER, MultiGzDecoder::new(file)))
        } else {
            Box::new(file)
        };
        Ok(LogLines { path: path.to_owned(), reader, line: Vec::new(), line_no: 0, content: Content::default() })
    }

    /// The next line and its number (from 1), or None at the end of the file.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, Line<'_>)>, Failure> {
        self.line.clear();
        let read = self.reader.read_until(b'\n', &mut self.line).map_err(|e| unreadable(&self.path, &e))?;
        if read == 0 {
            return Ok(None);
        }
        self.content.bytes += read as u64;
        self.content.all_nul &= self.line.iter().all(|&b| b == 0);
        self.line_no += 1;
        if self.line.pop() != Some(b'\n') {
            return Ok(Some((self.line_no, Line::Incomplete)));
        }
        Ok(Some((self.line_no, Line::Whole(&self.line))))
    }

    /// What the file held so far (uncompressed).
    pub(crate) fn content(&self) -> Content {
        self.content
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> Failure {
    Failure::new(format!("cannot read log {}: {e}", path.display()))
}

/// What a file held, said when no file held a record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Content {
    bytes: u64,
    /// Whether every byte was NUL: what a crash can leave in a file's unwritten blocks.
    all_nul: bool,
}

impl Default for Content {
    fn default() -> Content {
        Content { bytes: 0, all_nul: true }
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.bytes, self.all_nul) {
            (0, _) => f.write_str("empty"),
            (n, true) => write!(f, "{n} NUL bytes"),
            (n, false) => write!(f, "{n} bytes, no whole record"),
        }
    }
}

/// The order several logs are read in, as a literal for `--help` (`concat!`) and the README.
macro_rules! logs_order_rule {
    () => {
        "\
Several files, or a directory (its files whose name begins with the UDF's log's name,
default dbaudit.log), are read oldest first, in logrotate's order: numbered rotations by
number, highest first (dbaudit.log.3.gz, dbaudit.log.2.gz, dbaudit.log.1), then the others by
name, a name coming after every name it begins (dbaudit.log-20261130.gz, then dbaudit.log).
Compressed (gzip) files are read as they stand. The chain checks the order: a file out of
place shows as records missing or moved."
    };
}
pub(crate) use logs_order_rule;

/// The logs to read: `inputs` (files, and directories standing for their rotated logs), or
/// the UDF's own log when none is given; several are put in chain order ([`logs_order_rule`]).
pub(crate) fn logs_to_read(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let config = UdfConfig::read(&UdfConfig::path()).ok();
    let udf_log = config.as_ref().and_then(|c| c.log_file().map(Path::to_owned));
    if inputs.is_empty() {
        let log = udf_log.ok_or_else(|| {
            Failure::new(format!(
                "the UDF writes its records to the server's error log ({}: log = stderr): name the log files to read",
                UdfConfig::path().display()
            ))
        })?;
        return Ok(vec![log]);
    }
    let base = udf_log
        .as_deref()
        .and_then(Path::file_name)
        .map_or_else(|| "dbaudit.log".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut logs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            logs.extend(rotated_logs_in(input, &base)?);
        } else {
            logs.push(input.clone());
        }
    }
    if logs.is_empty() {
        let dirs: Vec<String> = inputs.iter().map(|d| d.display().to_string()).collect();
        return Err(Failure::new(format!("no file named {base}* in {}: name the log files to read", dirs.join(", "))));
    }
    logs.sort_by_cached_key(|path| rotation_age(path));
    logs.dedup();
    Ok(logs)
}

/// The files of `dir` whose name begins with `base`.
fn rotated_logs_in(dir: &Path, base: &str) -> Result<Vec<PathBuf>, Failure> {
    let fail = |e: std::io::Error| Failure::new(format!("cannot list {}: {e}", dir.display()));
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let ours = entry.file_name().to_string_lossy().starts_with(base);
        if ours && entry.file_type().map_err(fail)?.is_file() {
            logs.push(entry.path());
        }
    }
    Ok(logs)
}

/// A sort key, oldest first: numbered rotations (`NAME.N`, `NAME.N.gz`) by number, highest
/// first; then the rest by name, where a name sorts after every name it begins (0xFF never
/// occurs in UTF-8, so it outranks any next character).
fn rotation_age(path: &Path) -> (u8, Reverse<u64>, Vec<u8>) {
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let number = stem.rsplit_once('.').and_then(|(_, n)| n.parse::<u64>().ok().filter(|_| !n.starts_with('+')));
    let mut tail = name.clone().into_bytes();
    tail.push(0xFF);
    match number {
        Some(n) => (0, Reverse(n), tail),
        None => (1, Reverse(0), tail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(names: &[&str]) -> Vec<String> {
        let mut paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from("/logs").join(n)).collect();
        paths.sort_by_cached_key(|p| rotation_age(p));
        paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn numbered_rotations_come_oldest_first_and_the_live_log_last() {
        let names = ["dbaudit.log", "dbaudit.log.1", "dbaudit.log.10.gz", "dbaudit.log.2.gz", "dbaudit.log.3.gz"];
        assert_eq!(
            ordered(&names),
            ["dbaudit.log.10.gz", "dbaudit.log.3.gz", "dbaudit.log.2.gz", "dbaudit.log.1", "dbaudit.log"]
        );
    }

    #[test]
    fn dated_rotations_come_by_date_and_before_the_live_log() {
        let names = ["dbaudit.log", "dbaudit.log-20261201", "dbaudit.log-20261130.gz"];
        assert_eq!(ordered(&names), ["dbaudit.log-20261130.gz", "dbaudit.log-20261201", "dbaudit.log"]);
    }

    #[test]
    fn gzip_is_read_by_its_magic_whatever_the_name() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("dbaudit-cli-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = b"one\ntwo\nthree";
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        let path = dir.join("dbaudit.log.1");
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let mut lines = LogLines::open(&path).unwrap();
        let mut seen = Vec::new();
        while let Some((_, line)) = lines.next_line().unwrap() {
            seen.push(match line {
                Line::Whole(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                Line::Incomplete => "(incomplete)".to_owned(),
            });
        }
        assert_eq!(seen, ["one", "two", "(incomplete)"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
