use std::fmt;
use std::path::{Path, PathBuf};

/// Why an option file could not be read, located to a file and usually a line.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    path: PathBuf,
    line: Option<usize>,
    message: String,
}

/// The broad class of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or directory could not be read.
    Io,
    /// A line does not follow option-file syntax.
    Syntax,
    /// A line is not valid UTF-8.
    Encoding,
    /// Includes nest too deeply, almost always because of an include loop.
    IncludeDepth,
}

impl Error {
    pub(crate) fn at(kind: ErrorKind, path: &Path, line: usize, message: String) -> Error {
        Error { kind, path: path.to_path_buf(), line: Some(line), message }
    }

    pub(crate) fn unreadable(path: &Path, err: &std::io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read {}: {err}", path.display()),
        }
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file being read when the error arose.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line at fault, or `None` when the whole file could not be read.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}
