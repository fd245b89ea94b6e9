//! Why reading a table or changing its triggers failed.

use std::fmt;

/// What went wrong, as one line that names the table and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The kind of an [`Error`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text given for a table is not `DB.TABLE`.
    Name,
    /// The table does not exist, this account cannot see it, or it is not a base table.
    NoTable,
    /// The server refused a query or a statement.
    Server,
    /// The table's state forbids the change: a secret column gone, a trigger name taken.
    Conflict,
}

impl Error {
    /// An error of `kind`, described by `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
