//! The row's story as one self-contained HTML page: the timeline, each event's columns old
//! and new, and each column's values over time. Inline CSS only — no script, font or image
//! from anywhere — so the page opens the same on an auditor's machine without a network.

use std::fmt::Write;

use dbaudit_record::Value;

use super::render::{heading, notes, shown, time_shown};
use super::{History, RowEvent};

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f23;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.summary{color:#444;margin:0 0 12px}
table{border-collapse:collapse;margin:0 0 8px;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}
.mono,td.old,td.new,td.value{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
td.fixed{font-family:ui-monospace,monospace;white-space:nowrap}
td.old{background:#ffebe9;color:#82071e}td.new{background:#dafbe1;color:#116329}
td.absent{color:#8c959f;background:#f6f8fa}
.op{font-weight:600}.op-insert{color:#116329}.op-update{color:#0550ae}.op-delete{color:#82071e}
section.unverified{border:3px solid #cf222e;background:#fff5f5;padding:8px 12px;margin-top:24px}
section.unverified h2{color:#cf222e;margin-top:4px}
.why{color:#cf222e;font-size:12px}
.notes{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;white-space:pre-wrap;font-family:ui-monospace,monospace}
";

/// The page.
pub(crate) fn page(history: &History) -> String {
    let mut html = String::new();
    let title = format!("{} {}", history.query.table, history.query.key.shown());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>dbaudit history: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = write!(
        html,
        "<h1>History of {}</h1>\n<p class=\"summary\">{}</p>\n",
        escape(&title),
        escape(&heading(history))
    );
    let notes = notes(history);
    if !notes.is_empty() {
        let _ = writeln!(html, "<div class=\"notes\">{}</div>", escape(&notes.join("\n")));
    }
    html.push_str("<section class=\"verified\" id=\"verified\"><h2>Timeline (verified)</h2>\n");
    if history.facts.is_empty() {
        html.push_str("<p>No verified event.</p>\n");
    } else {
        timeline(&mut html, &history.facts);
    }
    html.push_str("</section>\n");
    if !history.unverified.is_empty() {
        html.push_str(
            "<section class=\"unverified\" id=\"unverified\"><h2>UNVERIFIED: not part of the row's story</h2>\n\
             <p>The chain does not vouch for these events: they follow a finding (records missing, edited or \
             moved) before the chain was anchored again, or are forged calls.</p>\n",
        );
        timeline(&mut html, &history.unverified);
        html.push_str("</section>\n");
    }
    columns(&mut html, &history.facts);
    html.push_str("<p class=\"summary\">Times are UTC. Secret columns show the keyed mask the log holds.</p>\n");
    html.push_str("</body></html>\n");
    html
}

/// The events, oldest first, each with its columns old and new.
fn timeline(html: &mut String, events: &[RowEvent]) {
    html.push_str(
        "<table class=\"timeline\"><thead><tr><th>time (UTC)</th><th>account</th><th>conn</th><th>op</th>\
         <th>changes</th></tr></thead><tbody>\n",
    );
    for event in events {
        let op = event.op.name();
        let _ = write!(
            html,
            "<tr class=\"event\"><td class=\"fixed\">{}</td><td class=\"fixed\">{}</td><td>{}</td>\
             <td class=\"op op-{}\">{}</td><td>",
            escape(&time_shown(event)),
            escape(&event.user),
            escape(&event.conn),
            escape(&op),
            escape(&op)
        );
        diff(html, event);
        if let Some(note) = &event.note {
            let _ = write!(html, "<div class=\"mono\">{}</div>", escape(note));
        }
        if let Some(why) = &event.unverified {
            let _ = write!(html, "<div class=\"why\">unverified: {}</div>", escape(why));
        }
        html.push_str("</td></tr>\n");
    }
    html.push_str("</tbody></table>\n");
}

/// One event's columns: name, old, new.
fn diff(html: &mut String, event: &RowEvent) {
    if event.changes.is_empty() {
        return;
    }
    html.push_str("<table class=\"diff\"><thead><tr><th>column</th><th>old</th><th>new</th></tr></thead><tbody>");
    for change in &event.changes {
        let _ = write!(
            html,
            "<tr><td class=\"mono\">{}</td>{}{}</tr>",
            escape(&change.column),
            side("old", change.old.as_ref()),
            side("new", change.new.as_ref())
        );
    }
    html.push_str("</tbody></table>");
}

fn side(class: &str, value: Option<&Value>) -> String {
    match value {
        Some(value) => format!("<td class=\"{class}\">{}</td>", escape(&shown(value))),
        None => "<td class=\"absent\">(no row)</td>".to_owned(),
    }
}

/// Each column's values over the verified events: when it changed, by whom, to what.
fn columns(html: &mut String, facts: &[RowEvent]) {
    let mut names: Vec<&str> = Vec::new();
    for change in facts.iter().flat_map(|e| &e.changes) {
        if !names.contains(&change.column.as_str()) {
            names.push(&change.column);
        }
    }
    if names.is_empty() {
        return;
    }
    html.push_str("<section class=\"columns\" id=\"columns\"><h2>Per column (verified)</h2>\n");
    for name in names {
        let _ = write!(
            html,
            "<h3 class=\"mono\">{}</h3><table class=\"column\"><thead><tr><th>time (UTC)</th><th>account</th>\
             <th>op</th><th>old</th><th>new</th></tr></thead><tbody>",
            escape(name)
        );
        for event in facts {
            for change in event.changes.iter().filter(|c| c.column == name) {
                let _ = write!(
                    html,
                    "<tr><td class=\"fixed\">{}</td><td class=\"fixed\">{}</td><td>{}</td>{}{}</tr>",
                    escape(&time_shown(event)),
                    escape(&event.user),
                    escape(&event.op.name()),
                    side("old", change.old.as_ref()),
                    side("new", change.new.as_ref())
                );
            }
        }
        html.push_str("</tbody></table>\n");
    }
    html.push_str("</section>\n");
}

/// Text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_values_is_text() {
        assert_eq!(super::escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
    }
}
