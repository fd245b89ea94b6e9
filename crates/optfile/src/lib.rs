//! Reads MySQL/MariaDB option files (`my.cnf`) the way mysqld does, so that dbaudit's UDF,
//! CLI and active-response program agree with the server on every setting.
//!
//! It handles `[group]` headers, `key = value` and bare boolean options, comments, quoting and
//! escapes, and `!include` / `!includedir`. Where mysqld silently guesses (an unclosed quote, a
//! misspelt `!include`, a loop of includes) this crate refuses instead, with an error that names
//! the file, the line and the fix: an audit setting must never be read differently than written.
//!
//! It is not a writer, and it does not search for option files: callers pass the path they
//! mean, with no `--defaults-file` / `--defaults-extra-file` logic here. Because it runs inside
//! mysqld, it never panics on any input.

mod error;
mod line;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

pub use crate::error::{Error, ErrorKind};
use crate::line::{classify, normalise_key, Line};

/// mysqld's own limit; it also turns an include loop into an error rather than a stack overflow.
const MAX_INCLUDE_DEPTH: usize = 10;

/// The options of one file and everything it includes, in the order mysqld reads them.
#[derive(Debug, Clone, Default)]
pub struct OptionFile {
    /// Each entry beside its lowercased group name.
    entries: Vec<(String, Entry)>,
}

/// One option as written, with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The option name, lowercased and with `-` written as `_`.
    pub key: String,
    /// The unquoted, unescaped value; `None` for a bare boolean option.
    pub value: Option<String>,
    /// The file the option was read from.
    pub path: PathBuf,
    /// The 1-based line within `path`.
    pub line: usize,
}

impl OptionFile {
    /// Reads the file at `path`, following its includes.
    pub fn read(path: &Path) -> Result<OptionFile, Error> {
        let bytes = fs::read(path).map_err(|err| Error::unreadable(path, &err))?;
        let mut file = OptionFile::default();
        file.add(&bytes, path, 0)?;
        Ok(file)
    }

    /// Parses `text` as if read from `origin`, which names it in errors and anchors relative includes.
    pub fn parse(text: &str, origin: &Path) -> Result<OptionFile, Error> {
        let mut file = OptionFile::default();
        file.add(text.as_bytes(), origin, 0)?;
        Ok(file)
    }

    /// The value of `key` in `group`, where the last occurrence wins; `None` if absent or bare.
    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        self.winner(group, key)?.value.as_deref()
    }

    /// Whether `key` appears in `group` in any form, bare or with a value.
    pub fn has(&self, group: &str, key: &str) -> bool {
        self.winner(group, key).is_some()
    }

    /// The entries of `group`, in file order.
    pub fn entries<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let group = group.trim();
        self.entries.iter().filter(move |(name, _)| name.eq_ignore_ascii_case(group)).map(|(_, entry)| entry)
    }

    /// The file and line of the entry that [`get`](Self::get) answers from.
    pub fn origin(&self, group: &str, key: &str) -> Option<(&Path, usize)> {
        self.winner(group, key).map(|entry| (entry.path.as_path(), entry.line))
    }

    fn winner(&self, group: &str, key: &str) -> Option<&Entry> {
        let (group, key) = (group.trim(), normalise_key(key));
        self.entries
            .iter()
            .rev()
            .find(|(name, entry)| name.eq_ignore_ascii_case(group) && entry.key == key)
            .map(|(_, entry)| entry)
    }

    fn add(&mut self, bytes: &[u8], origin: &Path, depth: usize) -> Result<(), Error> {
        // Each file starts outside any group, and an include does not change the includer's.
        let mut group: Option<String> = None;
        for (index, raw) in bytes.split(|&byte| byte == b'\n').enumerate() {
            let number = index + 1;
            let at = |kind, message| Error::at(kind, origin, number, message);
            let text = std::str::from_utf8(raw)
                .map_err(|_| at(ErrorKind::Encoding, "invalid UTF-8; save the file as UTF-8".to_string()))?;
            // Editors on Windows may start the file with a byte-order mark.
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            match classify(text).map_err(|message| at(ErrorKind::Syntax, message))? {
                Line::Blank => {}
                Line::Group(name) => group = Some(name),
                Line::Option { key, value } => {
                    let Some(group) = &group else {
                        return Err(at(
                            ErrorKind::Syntax,
                            format!(
                                "option {key:?} is outside a [group]; add a group header such as [mysqld] above it"
                            ),
                        ));
                    };
                    let entry = Entry { key, value, path: origin.to_path_buf(), line: number };
                    self.entries.push((group.clone(), entry));
                }
                Line::Include(target) => {
                    self.include(&resolve(origin, target), origin, number, depth)?;
                }
                Line::IncludeDir(target) => {
                    self.include_dir(&resolve(origin, target), origin, number, depth)?;
                }
            }
        }
        Ok(())
    }

    fn include_dir(&mut self, dir: &Path, origin: &Path, line: usize, depth: usize) -> Result<(), Error> {
        let unreadable = |err: std::io::Error| {
            Error::at(ErrorKind::Io, origin, line, format!("cannot read {}: {err}", dir.display()))
        };
        let mut files = fs::read_dir(dir)
            .map_err(unreadable)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        // mysqld reads only `.cnf` files, in name order, so the result is repeatable.
        files.retain(|file| file.extension() == Some("cnf".as_ref()) && file.is_file());
        files.sort();
        files.iter().try_for_each(|file| self.include(file, origin, line, depth))
    }

    fn include(&mut self, target: &Path, origin: &Path, line: usize, depth: usize) -> Result<(), Error> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(Error::at(
                ErrorKind::IncludeDepth,
                origin,
                line,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files; look for a file that includes itself"),
            ));
        }
        let bytes = fs::read(target).map_err(|err| {
            Error::at(ErrorKind::Io, origin, line, format!("cannot read {}: {err}", target.display()))
        })?;
        self.add(&bytes, target, depth + 1)
    }
}

/// mysqld resolves a relative include against the including file's directory, not the cwd.
fn resolve(origin: &Path, target: &str) -> PathBuf {
    origin.parent().unwrap_or(Path::new("")).join(target)
}
