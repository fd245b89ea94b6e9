//! `dbaudit verify`: checks raw logs against the keyed chain with crates/record's
//! [`Verifier`], and says what it found with file and line.

use std::io::Write;
use std::path::{Path, PathBuf};

use dbaudit_record::{EventView, Key, TamperKind, Value, Verifier};

use crate::error::{Failure, Outcome};
use crate::logs::{Content, Line, LogLines};

/// What verifying the input found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Epochs seen.
    pub epochs: u64,
    /// Places where records are missing.
    pub gaps: u64,
    /// Records whose mac is wrong: edited, or inserted by someone without the key.
    pub bad_macs: u64,
    /// Records out of order: moved or repeated.
    pub out_of_order: u64,
    /// Calls of `dbaudit_log` with a wrong token.
    pub forged: u64,
    /// Lines that are not records.
    pub unreadable: u64,
    /// One line per finding, with file and line number.
    pub findings: Vec<String>,
    /// One line per thing that could not be checked.
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Whether anything is wrong.
    pub(crate) fn tampered(&self) -> bool {
        !self.findings.is_empty()
    }

    /// The one-line summary.
    pub(crate) fn summary(&self, files: usize) -> String {
        format!(
            "{} records in {files} file{}: {} epochs, {} gaps, {} bad macs, {} out of order, {} forged calls, \
             {} unreadable lines, {} warnings: {}",
            self.records,
            if files == 1 { "" } else { "s" },
            self.epochs,
            self.gaps,
            self.bad_macs,
            self.out_of_order,
            self.forged,
            self.unreadable,
            self.warnings.len(),
            if self.tampered() { "TAMPERED" } else { "clean" }
        )
    }
}

/// Verifies `logs` in the order given (rotated files first) as one stream. Input without
/// a single record is a failure, not a clean result: nothing could be checked.
pub(crate) fn verify_logs(key: Key, logs: &[PathBuf]) -> Result<VerifyReport, Failure> {
    let mut verifier = Verifier::new(key);
    let mut report = VerifyReport::default();
    let mut epochs = Vec::new();
    let mut contents = Vec::new();
    for path in logs {
        contents.push(verify_file(&mut verifier, path, &mut report, &mut epochs)?);
    }
    if report.records == 0 {
        let held: Vec<String> =
            logs.iter().zip(&contents).map(|(path, content)| format!("{} ({content})", path.display())).collect();
        return Err(Failure::new(format!(
            "no dbaudit record in {}: nothing was verified; name the raw log the UDF writes ([dbaudit-udf] log), \
             and if it is that log, its records were never written or have been removed",
            held.join(", ")
        )));
    }
    report.epochs = epochs.len() as u64;
    Ok(report)
}

fn verify_file(
    verifier: &mut Verifier,
    path: &Path,
    report: &mut VerifyReport,
    epochs: &mut Vec<dbaudit_record::Epoch>,
) -> Result<Content, Failure> {
    let mut lines = LogLines::open(path)?;
    let shown = path.display();
    let (mut records_here, mut first_error) = (0u64, None);
    while let Some((line_no, line)) = lines.next_line()? {
        let Line::Whole(line) = line else {
            report.warnings.push(format!(
                "{shown}:{line_no}: the last line is incomplete (being written, or cut by a crash); not checked"
            ));
            break;
        };
        let verdict = match verifier.check_view(line) {
            Ok(verdict) => verdict,
            Err(e) => {
                report.unreadable += 1;
                report.findings.push(format!("{shown}:{line_no}: {e}: inserted or damaged"));
                first_error.get_or_insert_with(|| format!("line {line_no}: {e}"));
                continue;
            }
        };
        records_here += 1;
        report.records += 1;
        let record = &verdict.record;
        if !epochs.contains(&record.epoch) {
            epochs.push(record.epoch);
        }
        if !verdict.anchored {
            report.warnings.push(format!(
                "{shown}:{line_no}: epoch {} begins at seq {} here: the records before it are not in the input \
                 (an earlier log not given, or deleted); this first record cannot be checked",
                record.epoch, record.seq
            ));
        }
        if let Some(tamper) = verdict.tamper {
            match tamper.kind {
                TamperKind::Gap => report.gaps += 1,
                TamperKind::Mac => report.bad_macs += 1,
                TamperKind::Order => report.out_of_order += 1,
            }
            report.findings.push(format!("{shown}:{line_no}: {}: {tamper}", tamper.kind.as_str()));
        }
        if let EventView::Forged(claimed) = &record.event {
            report.forged += 1;
            report.findings.push(format!(
                "{shown}:{line_no}: forged: dbaudit_log was called with a wrong token, not by a trigger \
                 (seq {}; it claimed table {}.{}, op {}, user {} — claims, not the caller)",
                record.seq,
                shown_value(&claimed.db.to_value()),
                shown_value(&claimed.table.to_value()),
                shown_value(&claimed.op.to_value()),
                shown_value(&claimed.user.to_value())
            ));
        }
    }
    if records_here == 0 {
        if let Some(error) = first_error {
            return Err(Failure::new(format!(
                "{shown} is not a dbaudit log ({error}); name the raw log the UDF writes"
            )));
        }
    }
    Ok(lines.content())
}

/// A claimed value for a message: short, one line.
fn shown_value(value: &Value) -> String {
    let text = match value {
        Value::Null => "null".to_owned(),
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => format!("hex:{}", dbaudit_record::hex::encode(b)),
    };
    let mut shown: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

/// Runs `dbaudit verify`: findings and warnings, then the summary.
pub(crate) fn run(out: &mut dyn Write, key: Key, logs: &[PathBuf]) -> Result<Outcome, Failure> {
    let report = verify_logs(key, logs)?;
    let write = |e: std::io::Error| Failure::new(format!("cannot write the report: {e}"));
    for line in report.warnings.iter().map(|w| format!("warning: {w}")).chain(report.findings.iter().cloned()) {
        writeln!(out, "{line}").map_err(write)?;
    }
    writeln!(out, "{}", report.summary(logs.len())).map_err(write)?;
    Ok(Outcome::findings_if(report.tampered()))
}
