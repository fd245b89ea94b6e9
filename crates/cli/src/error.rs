//! What a command can end in, and the exit code each maps to — in one place.

use std::fmt;

/// How a command ended, when it ran to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done, or nothing wrong found: exit 0.
    Clean,
    /// It ran, and found something wrong (tampering, an altered trigger): exit 1.
    Findings,
}

impl Outcome {
    /// [`Outcome::Findings`] when `found`, else [`Outcome::Clean`].
    pub(crate) fn findings_if(found: bool) -> Outcome {
        if found {
            Outcome::Findings
        } else {
            Outcome::Clean
        }
    }
}

/// Why a command could not do its job: one line naming what failed and the fix. Exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure(String);

impl Failure {
    /// A failure described by `message`.
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

impl From<dbaudit_connect::ConnectError> for Failure {
    fn from(e: dbaudit_connect::ConnectError) -> Failure {
        Failure(e.to_string())
    }
}

impl From<dbaudit_triggers::Error> for Failure {
    fn from(e: dbaudit_triggers::Error) -> Failure {
        Failure(e.to_string())
    }
}

/// Exit code: success, or nothing wrong found.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code: the check ran and found something wrong.
pub(crate) const EXIT_FINDINGS: i32 = 1;
/// Exit code: the command could not run (usage, configuration, key, connection, input).
pub(crate) const EXIT_FAILURE: i32 = 2;

/// The exit code for a command's result.
pub(crate) fn exit_code(result: &Result<Outcome, Failure>) -> i32 {
    match result {
        Ok(Outcome::Clean) => EXIT_OK,
        Ok(Outcome::Findings) => EXIT_FINDINGS,
        Err(_) => EXIT_FAILURE,
    }
}
