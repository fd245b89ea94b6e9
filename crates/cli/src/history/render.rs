//! The row's story for the terminal (a table) and for programs (one JSON object per event).

use std::io::{self, Write};

use dbaudit_record::Value;

use super::{Change, History, RowEvent};

/// A value for a person: NULL, a string in quotes with odd characters escaped, bytes in hex.
/// A secret column's value is its mask, `"secret:…"`, as the log holds it.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Text(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("0x{}", dbaudit_record::hex::encode(b)),
    }
}

/// One column's change for a person: `old → new`, `-` where the row did not exist.
pub(crate) fn change_shown(change: &Change) -> String {
    let side = |v: &Option<Value>| v.as_ref().map_or_else(|| "-".to_owned(), shown);
    format!("{}: {} → {}", change.column, side(&change.old), side(&change.new))
}

/// The time as the table shows it: UTC, to the microsecond.
pub(crate) fn time_shown(event: &RowEvent) -> String {
    let mut text = event.ts.to_string();
    text = text.replacen('T', " ", 1);
    text.pop(); // the Z: the heading says UTC
    text
}

/// The heading: table, key, files, and whether the chain vouches for everything.
pub(crate) fn heading(history: &History) -> String {
    let files = history.files.len();
    format!(
        "{} {}: {} verified events, {} unverified ({} records in {files} file{})",
        history.query.table,
        history.query.key.shown(),
        history.facts.len(),
        history.unverified.len(),
        history.records,
        if files == 1 { "" } else { "s" }
    )
}

/// Lines that say what the story may lack: findings, things not checked.
pub(crate) fn notes(history: &History) -> Vec<String> {
    let mut notes: Vec<String> = history.warnings.iter().map(|w| format!("warning: {w}")).collect();
    if history.findings > 0 {
        notes.push(format!(
            "TAMPERED: {} findings in the input; the row's story may lack events; `dbaudit verify` lists them all:",
            history.findings
        ));
        notes.extend(history.first_findings.iter().map(|f| format!("  {f}")));
    }
    notes
}

/// The text table: verified events, then the unverified ones apart, then the notes.
pub(crate) fn text(out: &mut dyn Write, history: &History) -> io::Result<()> {
    writeln!(out, "{}", heading(history))?;
    if history.facts.is_empty() {
        writeln!(out, "\nno verified event")?;
    } else {
        writeln!(out)?;
        table(out, &history.facts)?;
    }
    if !history.unverified.is_empty() {
        writeln!(out, "\nUNVERIFIED: the chain does not vouch for these; they are not part of the row's story")?;
        table(out, &history.unverified)?;
    }
    let notes = notes(history);
    if !notes.is_empty() {
        writeln!(out)?;
    }
    for note in notes {
        writeln!(out, "{note}")?;
    }
    Ok(())
}

/// Events as an aligned table, one line per changed column; an unverified event's reason
/// follows it, indented.
fn table(out: &mut dyn Write, events: &[RowEvent]) -> io::Result<()> {
    const HEAD: [&str; 5] = ["TIME (UTC)", "ACCOUNT", "CONN", "OP", "CHANGE"];
    let rows: Vec<[String; 4]> =
        events.iter().map(|e| [time_shown(e), e.user.clone(), e.conn.clone(), e.op.name()]).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([HEAD[i].len()]).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3)];
    let line = |out: &mut dyn Write, cells: [&str; 4], change: &str| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            text.push_str(&format!("{cell:<w$}  "));
        }
        text.push_str(change);
        writeln!(out, "{}", text.trim_end())
    };
    line(out, [HEAD[0], HEAD[1], HEAD[2], HEAD[3]], HEAD[4])?;
    for (event, row) in events.iter().zip(&rows) {
        let mut changes: Vec<String> = event.changes.iter().map(change_shown).collect();
        if let Some(note) = &event.note {
            changes.push(note.clone());
        }
        if changes.is_empty() {
            changes.push("(no column changed)".to_owned());
        }
        for (i, change) in changes.iter().enumerate() {
            let cells = if i == 0 { [&*row[0], &*row[1], &*row[2], &*row[3]] } else { ["", "", "", ""] };
            line(out, cells, change)?;
        }
        if let Some(why) = &event.unverified {
            writeln!(out, "    ^ unverified: {why}")?;
        }
    }
    Ok(())
}

/// A value in JSON: a string, null, or `{"hex":"…"}` for bytes that are not UTF-8 (as the
/// raw record writes it).
fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Text(s) => s.clone().into(),
        Value::Bytes(b) => serde_json::json!({ "hex": dbaudit_record::hex::encode(b) }),
    }
}

/// One event as a JSON object.
pub(crate) fn event_json(history: &History, event: &RowEvent) -> serde_json::Value {
    let pk: serde_json::Map<String, serde_json::Value> =
        event.pk.iter().map(|(name, value)| (name.clone(), json_value(value))).collect();
    let changes: Vec<serde_json::Value> = event
        .changes
        .iter()
        .map(|c| {
            let mut change = serde_json::Map::new();
            change.insert("column".into(), c.column.clone().into());
            // A side is absent where the row did not exist: before an insert, after a delete.
            if let Some(old) = &c.old {
                change.insert("old".into(), json_value(old));
            }
            if let Some(new) = &c.new {
                change.insert("new".into(), json_value(new));
            }
            change.into()
        })
        .collect();
    let mut object = serde_json::json!({
        "verified": event.unverified.is_none(),
        "time": event.ts.to_string(),
        "db": history.query.table.db,
        "table": history.query.table.table,
        "op": event.op.name(),
        "user": event.user,
        // A row's connection id is a number; a forged call's is whatever was typed.
        "conn": event.conn.parse::<u64>().map_or_else(|_| event.conn.clone().into(), serde_json::Value::from),
        "pk": pk,
        "changes": changes,
        "epoch": event.epoch.to_string(),
        "seq": event.seq,
        "file": event.file,
        "line": event.line,
    });
    if let Some(why) = &event.unverified {
        object["unverified_because"] = why.clone().into();
    }
    if let Some(note) = &event.note {
        object["note"] = note.clone().into();
    }
    object
}

/// One JSON object per line: the verified events, then the unverified ones.
pub(crate) fn json(out: &mut dyn Write, history: &History) -> io::Result<()> {
    for event in history.facts.iter().chain(&history.unverified) {
        writeln!(out, "{}", event_json(history, event))?;
    }
    Ok(())
}
