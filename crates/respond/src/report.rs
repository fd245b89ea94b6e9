//! The one JSON line each invocation leaves in the log file and in syslog, whatever happened.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

use dbaudit_record::Timestamp;
use dbaudit_syslog::{Severity, Syslog};
use serde_json::{json, Map, Value};

/// A line kept under this many bytes: OSSEC and Wazuh may read the log (Wazuh does by
/// default), and they cut or split lines past 6,144 bytes.
const MAX_LINE: usize = 5800;
/// Syslog gets the line without row and sessions past this size.
const MAX_SYSLOG: usize = 2048;

/// How the invocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it was asked.
    Done,
    /// Wazuh's execd said `abort` (a response for this account is already active).
    Aborted,
    /// The input was refused: nothing was done.
    Refused,
    /// Policy said no: a protected, anonymous or unresolvable account.
    Declined,
    /// The configuration could not be read.
    ConfigError,
    /// The server was unreachable, refused a statement, or time ran out.
    ServerError,
    /// The state file could not be used.
    StateError,
}

impl Outcome {
    /// The name in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Aborted => "aborted",
            Outcome::Refused => "refused",
            Outcome::Declined => "declined",
            Outcome::ConfigError => "config-error",
            Outcome::ServerError => "server-error",
            Outcome::StateError => "state-error",
        }
    }

    /// The exit status (documented in `--help`).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done | Outcome::Aborted => 0,
            Outcome::Refused => 1,
            Outcome::Declined => 2,
            Outcome::ConfigError => 3,
            Outcome::ServerError => 4,
            Outcome::StateError => 5,
        }
    }
}

/// The line being built; fields appear in the order they are set.
#[derive(Debug)]
pub(crate) struct Report {
    started: Instant,
    fields: Map<String, Value>,
    /// How it ended, with a reason when not done.
    pub outcome: Outcome,
}

impl Report {
    /// A report for an invocation that started at `started`.
    pub(crate) fn new(started: Instant) -> Report {
        let mut fields = Map::new();
        fields.insert("ts".into(), json!(timestamp()));
        fields.insert("program".into(), json!("dbaudit-respond"));
        fields.insert("pid".into(), json!(std::process::id()));
        Report { started, fields, outcome: Outcome::Done }
    }

    /// Sets a field.
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    /// Records the milliseconds since the start under `timings.<what>`.
    pub(crate) fn mark(&mut self, what: &str) {
        let ms = (self.started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let timings = self.fields.entry("timings_ms".to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(timings) = timings {
            timings.insert(what.to_owned(), json!(ms));
        }
    }

    /// Ends the report with `outcome` and `reason`.
    pub(crate) fn finish(&mut self, outcome: Outcome, reason: Option<String>) {
        self.outcome = outcome;
        if let Some(reason) = reason {
            self.set("reason", reason);
        }
    }

    /// The line: `outcome` and the total time added, row and sessions dropped if it would
    /// be longer than `limit`.
    pub(crate) fn line(&mut self, limit: usize) -> String {
        self.mark("total");
        let mut fields = self.fields.clone();
        fields.insert("outcome".into(), json!(self.outcome.as_str()));
        let mut line = Value::Object(fields.clone()).to_string();
        if line.len() > limit {
            for key in ["row", "sessions"] {
                if fields.remove(key).is_some() {
                    fields.insert(format!("{key}_dropped"), json!("the line would be too long"));
                }
            }
            line = Value::Object(fields).to_string();
        }
        line
    }

    /// Writes the line to `log` (one `write` on an `O_APPEND` descriptor) and to syslog;
    /// returns the log's error if it could not be written. Syslog trouble is ignored.
    pub(crate) fn emit(&mut self, log: &Path) -> std::io::Result<()> {
        let line = self.line(MAX_LINE);
        let mut record = line.clone().into_bytes();
        record.push(b'\n');
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(log)
            .and_then(|mut file| file.write_all(&record));
        let short = if line.len() > MAX_SYSLOG { self.line(MAX_SYSLOG) } else { line };
        let done = self.outcome == Outcome::Done || self.outcome == Outcome::Aborted;
        // A host without syslog still gets its response: trouble reaching it is ignored.
        if let Ok(syslog) = Syslog::open("dbaudit-respond") {
            let _ = syslog.send(if done { Severity::Notice } else { Severity::Error }, short.as_bytes());
        }
        written
    }
}

fn timestamp() -> String {
    let mut out = Vec::new();
    Timestamp::now().write(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_long_line_drops_row_and_sessions() {
        let mut report = Report::new(Instant::now());
        report.set("account", "app@localhost");
        report.set("row", "x".repeat(10_000));
        report.finish(Outcome::Done, None);
        let line = report.line(MAX_LINE);
        assert!(line.len() < MAX_LINE, "{}", line.len());
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["account"], "app@localhost");
        assert_eq!(value["outcome"], "done");
        assert!(value.get("row").is_none());
    }
}
