//! `dbaudit history`: one row's story from the verified raw log — who changed it, when,
//! from what to what — for the auditor's first question after an alert.
//!
//! Every record of the input goes through crates/record's [`Verifier`], since the chain
//! needs all of them; only those whose bytes name the table are looked at further. The
//! trust rule: a record is a fact when the chain vouches for it. From a finding (records
//! missing, a bad mac, a record moved, a line that is not a record) on, nothing is a fact
//! until a start record that verifies re-anchors the chain (the next mysqld's epoch): the
//! row's events in between are listed apart, as unverified, never merged into its story.
//! The first record of an epoch whose start is not in the input cannot be checked either.
//! Forged calls (a wrong token) that claim the table are listed apart too: claims, not facts.
//! Secret columns are masks in the log and stay masks here.

mod html;
mod query;
mod render;
mod scan;

use std::io::Write;
use std::path::{Path, PathBuf};

use dbaudit_record::{Epoch, Key, Op, Timestamp, Value};
use dbaudit_triggers::TableName;

use crate::error::{Failure, Outcome};
use query::RowKey;

/// What the auditor asks about.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    /// The table.
    pub table: TableName,
    /// The row's primary key.
    pub key: RowKey,
    /// Only changes by this account: `name@host`, or a name for any host.
    pub account: Option<String>,
    /// Only changes at or after this moment.
    pub since: Option<Timestamp>,
    /// Only changes before this moment.
    pub until: Option<Timestamp>,
    /// Only these kinds of change.
    pub ops: Vec<Op>,
}

impl Query {
    /// A query from the command line's words.
    pub(crate) fn parse(args: &crate::cli::HistoryArgs) -> Result<Query, Failure> {
        let since = args.since.as_deref().map(|t| query::parse_moment("--since", t)).transpose()?;
        let until = args.until.as_deref().map(|t| query::parse_moment("--until", t)).transpose()?;
        let ops: Vec<Op> = args.ops.iter().map(|o| o.op()).collect();
        Ok(Query {
            table: TableName::parse(&args.table)?,
            key: RowKey::parse(&args.pk)?,
            account: args.account.clone(),
            since,
            until,
            ops: query::ops_wanted(&ops),
        })
    }

    /// Whether an event passes the filters.
    fn wants(&self, event: &RowEvent) -> bool {
        let account_matches = self.account.as_ref().is_none_or(|wanted| {
            event.user == *wanted || (!wanted.contains('@') && event.user.split('@').next() == Some(wanted.as_str()))
        });
        let op_matches = match event.op {
            EventOp::Row(op) | EventOp::Drift(op) => self.ops.contains(&op),
            EventOp::Forged => true,
        };
        account_matches
            && op_matches
            && self.since.is_none_or(|since| event.ts >= since)
            && self.until.is_none_or(|until| event.ts < until)
    }
}

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventOp {
    /// The row was inserted, updated or deleted.
    Row(Op),
    /// A change of this kind was made to the table but its trigger no longer matched the
    /// table: the row is not known.
    Drift(Op),
    /// `dbaudit_log` was called with a wrong token, claiming this table.
    Forged,
}

impl EventOp {
    /// The name shown: `insert`, `drift:update`, `forged`.
    pub(crate) fn name(self) -> String {
        match self {
            EventOp::Row(op) => op.as_str().to_owned(),
            EventOp::Drift(op) => format!("drift:{}", op.as_str()),
            EventOp::Forged => "forged".to_owned(),
        }
    }
}

/// One column's change: its value before and after; None where the row did not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// The column.
    pub column: String,
    /// The value before (update, delete).
    pub old: Option<Value>,
    /// The value after (insert, update).
    pub new: Option<Value>,
}

/// One event of the row's story.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RowEvent {
    /// Why the chain does not vouch for it; None for a fact.
    pub unverified: Option<String>,
    /// When the UDF wrote it.
    pub ts: Timestamp,
    /// The mysqld process's stream it belongs to.
    pub epoch: Epoch,
    /// Its place in the epoch.
    pub seq: u64,
    /// The file it is in.
    pub file: String,
    /// Its line there, from 1.
    pub line: u64,
    /// What happened.
    pub op: EventOp,
    /// The account (`USER()`); for a forged call, what the caller typed.
    pub user: String,
    /// The connection id (for a forged call, as typed).
    pub conn: String,
    /// The row's key as the record gives it.
    pub pk: Vec<(String, Value)>,
    /// The columns that changed.
    pub changes: Vec<Change>,
    /// The server's error for a drift record.
    pub note: Option<String>,
}

/// The row's story, and what reading the input found.
#[derive(Debug)]
pub(crate) struct History {
    /// What was asked.
    pub query: Query,
    /// The events the chain vouches for, oldest first.
    pub facts: Vec<RowEvent>,
    /// The events it does not, oldest first.
    pub unverified: Vec<RowEvent>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Records read.
    pub records: u64,
    /// Findings anywhere in the input (gaps, bad macs, moved records, lines that are not
    /// records, forged calls), the first few said in full.
    pub findings: u64,
    /// The first findings, with file and line.
    pub first_findings: Vec<String>,
    /// Things that could not be checked (an incomplete last line).
    pub warnings: Vec<String>,
}

/// How the story is written out.
pub(crate) enum Format<'a> {
    /// A table for the terminal.
    Text,
    /// One JSON object per event, a line each.
    Json,
    /// A self-contained HTML page written to this file.
    Html(&'a Path),
}

/// Runs `dbaudit history`. Exit 1 when the input holds findings: an event of the row may be
/// missing or altered, whatever is shown.
pub(crate) fn run(
    out: &mut dyn Write,
    key: Key,
    logs: &[PathBuf],
    query: Query,
    format: Format<'_>,
) -> Result<Outcome, Failure> {
    let history = scan::read_history(key, logs, query)?;
    let write = |e: std::io::Error| Failure::new(format!("cannot write the history: {e}"));
    match format {
        Format::Text => render::text(out, &history).map_err(write)?,
        Format::Json => {
            render::json(out, &history).map_err(write)?;
            for line in render::notes(&history) {
                eprintln!("dbaudit: {line}");
            }
        }
        Format::Html(path) => {
            std::fs::write(path, html::page(&history))
                .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
            writeln!(
                out,
                "{}: {} events ({} verified, {} unverified)",
                path.display(),
                history.facts.len() + history.unverified.len(),
                history.facts.len(),
                history.unverified.len()
            )
            .map_err(write)?;
            for line in render::notes(&history) {
                writeln!(out, "{line}").map_err(write)?;
            }
        }
    }
    Ok(Outcome::findings_if(history.findings > 0))
}
