//! One pass over the input: every record verified, the trust rule applied, the row's
//! events picked out (see the parent module for the rule).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dbaudit_record::{EventView, Key, Op, RawValue, RecordView, RowView, TamperKind, Value, Verdict, Verifier};
use dbaudit_triggers::TableName;
use memchr::memmem;

use super::{Change, EventOp, History, Query, RowEvent, RowKey};
use crate::error::Failure;
use crate::logs::{Line, LogLines};

/// How many findings are said in full; `dbaudit verify` lists them all.
const FINDINGS_SHOWN: usize = 5;
/// How many other tables an unknown-table error names.
const TABLES_SHOWN: usize = 12;

/// Reads `logs` in order and tells `query`'s row's story.
pub(crate) fn read_history(key: Key, logs: &[PathBuf], query: Query) -> Result<History, Failure> {
    let mut scan = Scan::new(key, query);
    for path in logs {
        scan.file(path)?;
    }
    scan.finish(logs)
}

/// The state of one pass over the input.
struct Scan {
    verifier: Verifier,
    query: Query,
    /// The table's name as a record writes it (`"table":"…"`), to pass over other records
    /// without looking at them.
    needle: memmem::Finder<'static>,
    db: Vec<u8>,
    table: Vec<u8>,
    /// The keys the row has had: the one asked for, and those verified updates gave it.
    keys: Vec<KnownKey>,
    /// The finding after which nothing is a fact, until a start record re-anchors the chain.
    taint: Option<String>,
    facts: Vec<RowEvent>,
    unverified: Vec<RowEvent>,
    records: u64,
    /// Records whose mac was checked and found good.
    sealed: u64,
    bad_macs: u64,
    findings: u64,
    first_findings: Vec<String>,
    warnings: Vec<String>,
    /// Whether any record named the table; and any of its rows, by the asked key's columns.
    table_seen: bool,
    table_keys: Option<Vec<String>>,
    key_columns_seen: bool,
    other_tables: BTreeSet<String>,
    /// The last other table noted, as the line spells it: most records repeat it.
    last_other: (Vec<u8>, Vec<u8>),
}

impl Scan {
    fn new(key: Key, query: Query) -> Scan {
        let mut needle = b"\"table\":".to_vec();
        dbaudit_record::json::write_value(&mut needle, Some(query.table.table.as_bytes()));
        Scan {
            verifier: Verifier::new(key),
            needle: memmem::Finder::new(&needle).into_owned(),
            db: query.table.db.as_bytes().to_vec(),
            table: query.table.table.as_bytes().to_vec(),
            keys: vec![KnownKey::new(query.key.clone())],
            query,
            taint: None,
            facts: Vec::new(),
            unverified: Vec::new(),
            records: 0,
            sealed: 0,
            bad_macs: 0,
            findings: 0,
            first_findings: Vec::new(),
            warnings: Vec::new(),
            table_seen: false,
            table_keys: None,
            key_columns_seen: false,
            other_tables: BTreeSet::new(),
            last_other: (Vec::new(), Vec::new()),
        }
    }

    fn file(&mut self, path: &Path) -> Result<(), Failure> {
        let mut lines = LogLines::open(path)?;
        let file = path.display().to_string();
        while let Some((line_no, line)) = lines.next_line()? {
            let Line::Whole(line) = line else {
                self.warnings.push(format!(
                    "{file}:{line_no}: the last line is incomplete (being written, or cut by a crash); not read"
                ));
                break;
            };
            let at = Place { file: &file, line: line_no };
            match self.verifier.check_view(line) {
                Ok(verdict) => self.record(verdict, line, at),
                Err(e) => self.finding(format!("{}:{}: not a record ({e}): inserted or damaged", at.file, at.line)),
            }
        }
        Ok(())
    }

    /// Counts a finding; nothing after it is a fact until the chain is re-anchored.
    fn finding(&mut self, said: String) {
        self.findings += 1;
        if self.first_findings.len() < FINDINGS_SHOWN {
            self.first_findings.push(said.clone());
        }
        self.taint = Some(said);
    }

    fn record(&mut self, verdict: Verdict<RecordView<'_>>, line: &[u8], at: Place<'_>) {
        self.records += 1;
        let record = verdict.record;
        let standing = match (verdict.tamper, verdict.anchored) {
            (Some(tamper), _) => {
                self.bad_macs += u64::from(tamper.kind == TamperKind::Mac);
                let said = format!("{}:{}: {}: {tamper}", at.file, at.line, tamper.kind.as_str());
                self.finding(said.clone());
                Standing::Unverified(said)
            }
            (None, false) => Standing::Unverified(format!(
                "{}:{}: the first record of epoch {} in the input (its start is in a file not read): it cannot be checked",
                at.file, at.line, record.epoch
            )),
            (None, true) => {
                self.sealed += 1;
                if matches!(record.event, EventView::Start { .. }) {
                    self.taint = None;
                }
                if self.taint.is_some() {
                    Standing::AfterFinding
                } else {
                    Standing::Fact
                }
            }
        };
        if let EventView::Forged(claimed) = &record.event {
            self.findings += 1;
            if self.first_findings.len() < FINDINGS_SHOWN {
                self.first_findings.push(format!(
                    "{}:{}: forged: dbaudit_log was called with a wrong token, not by a trigger",
                    at.file, at.line
                ));
            }
            let ours = claimed.db.bytes().is_some_and(|b| *b == *self.db)
                && claimed.table.bytes().is_some_and(|b| *b == *self.table);
            if ours {
                self.table_seen = true;
                let event = forged_event(&record, claimed, at);
                if self.query.wants(&event) {
                    self.unverified.push(event);
                }
            }
            return;
        }
        if self.needle.find(line).is_none() {
            self.note_other_table(&record);
            return;
        }
        match &record.event {
            EventView::Row(row) if self.is_our_table(row.db.bytes(), row.table.bytes()) => {
                let unverified = self.why(standing);
                self.row(&record, row, line, at, unverified);
            }
            EventView::Drift(drift) if self.is_our_table(drift.db.bytes(), drift.table.bytes()) => {
                let mut event = base_event(&record, at, EventOp::Drift(drift.row_op), self.why(standing));
                event.user = text_of(&drift.user.to_value());
                event.conn = drift.conn.to_string();
                event.note = Some(text_of(&drift.error.to_value()));
                self.keep(event);
            }
            _ => self.note_other_table(&record),
        }
    }

    /// Why the chain does not vouch for a record; None when it does.
    fn why(&self, standing: Standing) -> Option<String> {
        match standing {
            Standing::Fact => None,
            Standing::Unverified(why) => Some(why),
            Standing::AfterFinding => self.taint.as_ref().map(|taint| format!("after {taint}")),
        }
    }

    fn is_our_table(
        &mut self,
        db: Option<std::borrow::Cow<'_, [u8]>>,
        table: Option<std::borrow::Cow<'_, [u8]>>,
    ) -> bool {
        let ours = db.is_some_and(|d| *d == *self.db) && table.is_some_and(|t| *t == *self.table);
        self.table_seen |= ours;
        ours
    }

    /// A row change of the table: kept when it is the row's, under any key it has had.
    fn row(
        &mut self,
        record: &RecordView<'_>,
        row: &RowView<'_>,
        line: &[u8],
        at: Place<'_>,
        unverified: Option<String>,
    ) {
        let asked = &self.query.key;
        if !self.key_columns_seen {
            if asked.same_columns(row.pk.iter().map(|(name, _)| name)) {
                self.key_columns_seen = true;
            } else if self.table_keys.is_none() {
                self.table_keys = Some(row.pk.iter().map(|(name, _)| name.unescaped()).collect());
            }
        }
        let by_pk = self.keys.iter().any(|k| k.could_be_in(line) && k.key.is_in(row.pk));
        // An update that changes the key records the new one; the old is in its old values.
        let by_old_key = !by_pk
            && row.op == Op::Update
            && row.old.is_some_and(|old| self.keys.iter().any(|k| k.could_be_in(line) && k.key.is_in(old)));
        if !by_pk && !by_old_key {
            return;
        }
        if by_old_key && !by_pk && unverified.is_none() {
            let columns: Vec<&str> = asked.0.iter().map(|(n, _)| n.as_str()).collect();
            let new_key = row.new.map(|new| {
                new.iter()
                    .filter(|(n, _)| columns.iter().any(|c| n.text().eq_ignore_ascii_case(c.as_bytes())))
                    .map(|(n, v)| (n.unescaped(), v.bytes().map(|b| b.into_owned()).unwrap_or_default()))
                    .collect::<Vec<_>>()
            });
            if let Some(new_key) = new_key.filter(|k| k.len() == columns.len()) {
                self.keys.push(KnownKey::new(RowKey(new_key)));
            }
        }
        let mut event = base_event(record, at, EventOp::Row(row.op), unverified);
        event.user = text_of(&row.user.to_value());
        event.conn = row.conn.to_string();
        event.pk = row.pk.iter().map(|(n, v)| (n.unescaped(), v.to_value())).collect();
        event.changes = changes(row);
        self.keep(event);
    }

    fn keep(&mut self, event: RowEvent) {
        if !self.query.wants(&event) {
            return;
        }
        if event.unverified.is_some() {
            self.unverified.push(event);
        } else {
            self.facts.push(event);
        }
    }

    /// Remembers the tables records name, a few, for the error when the table is never named.
    fn note_other_table(&mut self, record: &RecordView<'_>) {
        if self.table_seen || self.other_tables.len() >= TABLES_SHOWN {
            return;
        }
        let (db, table) = match &record.event {
            EventView::Row(row) => (row.db, row.table),
            EventView::Drift(drift) => (drift.db, drift.table),
            _ => return,
        };
        if self.last_other.0 == spelt(&db) && self.last_other.1 == spelt(&table) {
            return;
        }
        self.last_other = (spelt(&db).to_vec(), spelt(&table).to_vec());
        let name = TableName::new(&text_of(&db.to_value()), &text_of(&table.to_value())).to_string();
        self.other_tables.insert(name);
    }

    fn finish(self, logs: &[PathBuf]) -> Result<History, Failure> {
        let query = &self.query;
        let files: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
        if self.records == 0 {
            return Err(Failure::new(format!(
                "no dbaudit record in {}: name the raw log the UDF writes ([dbaudit-udf] log)",
                files.join(", ")
            )));
        }
        if self.sealed == 0 && self.bad_macs > 0 {
            return Err(Failure::new(format!(
                "the key does not match this log: none of its {} records carries a mac made with it; name the key \
                 the UDF used with --key-file",
                self.records
            )));
        }
        if !self.table_seen {
            let others: Vec<String> = self.other_tables.into_iter().collect();
            let others = if others.is_empty() { "none".to_owned() } else { others.join(", ") };
            return Err(Failure::new(format!(
                "no record in {} names table {}: not watched, or no change recorded; tables it names: {others}",
                files.join(", "),
                query.table
            )));
        }
        if let (false, Some(columns)) = (self.key_columns_seen, &self.table_keys) {
            return Err(Failure::new(format!(
                "--pk {}: the records of {} are keyed by ({}); name those columns",
                query.key.shown(),
                query.table,
                columns.join(", ")
            )));
        }
        Ok(History {
            query: self.query,
            facts: self.facts,
            unverified: self.unverified,
            files: logs.to_vec(),
            records: self.records,
            findings: self.findings,
            first_findings: self.first_findings,
            warnings: self.warnings,
        })
    }
}

/// A value as the line spells it, escapes and all.
fn spelt<'a>(value: &RawValue<'a>) -> &'a [u8] {
    match value {
        RawValue::Text(text) => text.raw(),
        RawValue::Hex(digits) => digits,
        RawValue::Null => b"",
    }
}

/// A key the row has had, with the text each of its values has in a record's line: a line
/// without them all is not the row's, and its columns need not be read.
struct KnownKey {
    key: RowKey,
    values: Vec<memmem::Finder<'static>>,
}

impl KnownKey {
    fn new(key: RowKey) -> KnownKey {
        let values = key
            .0
            .iter()
            .map(|(_, value)| {
                let mut json = Vec::new();
                dbaudit_record::json::write_value(&mut json, Some(value));
                memmem::Finder::new(&json).into_owned()
            })
            .collect();
        KnownKey { key, values }
    }

    fn could_be_in(&self, line: &[u8]) -> bool {
        self.values.iter().all(|value| value.find(line).is_some())
    }
}

/// Whether the chain vouches for a record. Said in words only for the few records kept.
enum Standing {
    /// It does.
    Fact,
    /// It does not, for this reason.
    Unverified(String),
    /// It comes after a finding, before a start record anchored the chain again.
    AfterFinding,
}

/// Where a record is.
#[derive(Clone, Copy)]
struct Place<'a> {
    file: &'a str,
    line: u64,
}

fn base_event(record: &RecordView<'_>, at: Place<'_>, op: EventOp, unverified: Option<String>) -> RowEvent {
    RowEvent {
        unverified,
        ts: record.ts,
        epoch: record.epoch,
        seq: record.seq,
        file: at.file.to_owned(),
        line: at.line,
        op,
        user: String::new(),
        conn: String::new(),
        pk: Vec::new(),
        changes: Vec::new(),
        note: None,
    }
}

fn forged_event(record: &RecordView<'_>, claimed: &dbaudit_record::ClaimedView<'_>, at: Place<'_>) -> RowEvent {
    let why = format!(
        "{}:{}: forged: dbaudit_log was called with a wrong token, not by a trigger; what it claims is not a fact",
        at.file, at.line
    );
    let mut event = base_event(record, at, EventOp::Forged, Some(why));
    event.user = text_of(&claimed.user.to_value());
    event.conn = text_of(&claimed.conn.to_value());
    event.note = Some(format!("claimed op {}", text_of(&claimed.op.to_value())));
    event
}

/// The columns a row change touched: every column of an insert or a delete, the changed
/// ones of an update.
fn changes(row: &RowView<'_>) -> Vec<Change> {
    let value_in = |columns: Option<dbaudit_record::Columns<'_>>, name: &[u8]| {
        columns.and_then(|c| c.iter().find(|(n, _)| *n.text() == *name).map(|(_, v)| v.to_value()))
    };
    match row.op {
        Op::Insert => row
            .new
            .iter()
            .flat_map(|c| c.iter())
            .map(|(n, v)| Change { column: n.unescaped(), old: None, new: Some(v.to_value()) })
            .collect(),
        Op::Delete => row
            .old
            .iter()
            .flat_map(|c| c.iter())
            .map(|(n, v)| Change { column: n.unescaped(), old: Some(v.to_value()), new: None })
            .collect(),
        Op::Update => row
            .changed
            .iter()
            .flat_map(|names| names.iter())
            .map(|name| Change {
                column: name.unescaped(),
                old: value_in(row.old, &name.text()),
                new: value_in(row.new, &name.text()),
            })
            .collect(),
    }
}

/// A value as text, for names and accounts.
fn text_of(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => format!("0x{}", dbaudit_record::hex::encode(b)),
    }
}
