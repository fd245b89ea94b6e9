//! `dbaudit fingerprint`: a text for OSSEC's `full_command` + `check_diff` whose lines
//! change exactly when something an attacker would change does — our triggers, other
//! triggers on watched tables, the loaded UDFs, watched tables' columns and keys,
//! accounts with their grants and lock state. Sorted, one item per line, each under 200
//! bytes, the whole under 5,000; what does not fit is hashed, and the line says what.

use std::io::Write;

use dbaudit_connect::{quote_str, Account};
use dbaudit_triggers::{our_triggers, triggers_on, watched_tables, TableSchema};
use mysql::prelude::Queryable;

use crate::error::{Failure, Outcome};
use crate::server::Server;
use crate::status::{anonymous_accounts, watch_list_problems};
use crate::watchlist::WatchList;

/// The longest line, in bytes, before its `;` and newline.
pub(crate) const MAX_LINE: usize = 198;
/// The longest output, in bytes.
pub(crate) const MAX_TOTAL: usize = 4_999;

/// 16 hex characters of BLAKE3 over `parts`, each ended by a NUL so that no two lists
/// of parts hash alike.
fn hash<S: AsRef<str>>(parts: &[S]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part.as_ref().as_bytes());
        hasher.update(b"\0");
    }
    hasher.finalize().to_hex()[..16].to_owned()
}

/// `line`, cut to [`MAX_LINE`] bytes when longer, ending in a hash of the whole.
fn bounded(line: String) -> String {
    if line.len() <= MAX_LINE {
        return line;
    }
    let suffix = format!(" …line-hash={}", hash(&[&line]));
    let mut end = MAX_LINE - suffix.len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &line[..end])
}

/// One group of lines that can be folded into a single line naming what it hashes.
struct Section {
    lines: Vec<String>,
    folded: String,
}

impl Section {
    fn new(lines: Vec<String>, what: &str) -> Section {
        let folded = bounded(format!("{what} n={} hash={}", lines.len(), hash(&lines)));
        Section { lines: lines.into_iter().map(bounded).collect(), folded }
    }

    fn size(&self) -> usize {
        self.lines.iter().map(|l| l.len() + 2).sum()
    }
}

/// Puts the sections together within [`MAX_TOTAL`], folding the largest first.
fn assemble(mut sections: Vec<Section>) -> Vec<String> {
    let total = |sections: &[Section]| sections.iter().map(Section::size).sum::<usize>();
    while total(&sections) > MAX_TOTAL {
        let Some(largest) = sections.iter_mut().filter(|s| s.lines.len() > 1).max_by_key(|s| s.size()) else {
            break;
        };
        largest.lines = vec![largest.folded.clone()];
    }
    let mut lines: Vec<String> = sections.into_iter().flat_map(|s| s.lines).collect();
    lines.sort();
    lines
}

/// Gathers the fingerprint's lines, holding the server to the watch list `list`. Accounts in
/// `held` (those dbaudit-respond holds locked) are shown as if unlocked: the response's own
/// lock is not a change to the audit setup, and must not raise rule 100029.
pub(crate) fn gather(conn: &mut impl Queryable, list: &WatchList, held: &[Account]) -> Result<Vec<String>, Failure> {
    let sql = |what: &str| {
        let what = what.to_owned();
        move |e: mysql::Error| Failure::new(format!("fingerprint: cannot read {what}: {e}"))
    };
    let mut sections = Vec::new();

    let functions: Vec<(String, i64, String, String)> =
        conn.query("SELECT name, ret, dl, type FROM mysql.func ORDER BY name").map_err(sql("mysql.func"))?;
    let functions =
        functions.into_iter().map(|(name, ret, dl, kind)| format!("udf {name} ret={ret} type={kind} dl={dl}"));
    sections.push(Section::new(functions.collect(), "udf (mysql.func rows)"));

    // Records lost show here too: a UDF that cannot write is audit switched off.
    let health: Option<String> = conn.query_first("SELECT dbaudit_health()").ok().flatten();
    let health = health.and_then(|h| serde_json::from_str::<serde_json::Value>(&h).ok());
    sections.push(Section::new(
        vec![match health {
            Some(h) => format!("udf health state={} lost={}", h["state"].as_str().unwrap_or("?"), h["lost"]),
            None => "udf health unavailable".to_owned(),
        }],
        "udf health",
    ));
    let listed: Vec<String> = list
        .tables
        .iter()
        .map(|w| {
            let mode = if w.fail_closed { "fail-closed" } else { "fail-open" };
            format!("watch {} {mode} secrets={}", w.table, w.secrets.join(","))
        })
        .collect();
    sections.push(Section::new(listed, "watch list (table, mode, secrets)"));
    let ours = our_triggers(conn)?;
    let mut problems = watch_list_problems(conn, list, &ours)?;
    problems.extend(anonymous_accounts(conn));
    let problems = problems.into_iter().map(|p| format!("problem {p}")).collect();
    sections.push(Section::new(problems, "problems"));

    for table in watched_tables(conn)? {
        let schema = match TableSchema::read(conn, &table) {
            Ok(schema) => schema,
            // One odd table must not hide what happens to the others.
            Err(e) => {
                sections.push(Section::new(vec![format!("table {table} unreadable: {e}")], "unreadable"));
                continue;
            }
        };
        let triggers = triggers_on(conn, &table)?.into_iter().map(|t| {
            format!(
                "trigger {table} {} {} {} order={} {} definer={} sql_mode={} body={}",
                t.name,
                t.timing,
                t.event,
                t.order,
                if t.is_ours() { "dbaudit" } else { "other" },
                t.definer,
                hash(&[&t.sql_mode]),
                hash(&[&t.body])
            )
        });
        sections.push(Section::new(triggers.collect(), &format!("triggers {table} (name, timing, event, body)")));
        let columns: Vec<String> = schema
            .columns
            .iter()
            .flat_map(|c| {
                [
                    c.name.clone(),
                    c.column_type.clone(),
                    c.charset.clone().unwrap_or_default(),
                    c.collation.clone().unwrap_or_default(),
                    c.nullable.clone(),
                    c.default.clone().unwrap_or_else(|| "\u{1}".into()),
                    c.extra.clone(),
                    c.generation.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let keys: Vec<String> = schema
            .indexes
            .iter()
            .map(|p| format!("{}\0{}\0{}\0{:?}\0{:?}", p.index, p.unique, p.seq, p.column, p.sub_part))
            .collect();
        let shape = vec![
            format!(
                "columns {table} n={} hash={} (name, type, charset, collation, null, default, extra, generated)",
                schema.columns.len(),
                hash(&columns)
            ),
            format!("keys {table} n={} hash={} (index, unique, position, column, prefix)", keys.len(), hash(&keys)),
        ];
        sections.push(Section::new(shape, &format!("schema {table}")));
    }

    let accounts: Vec<(String, String)> =
        conn.query("SELECT User, Host FROM mysql.user ORDER BY User, Host").map_err(sql("mysql.user"))?;
    let mut lines = Vec::new();
    for (user, host) in accounts {
        let account =
            if host.is_empty() { quote_str(&user) } else { format!("{}@{}", quote_str(&user), quote_str(&host)) };
        // A role has no CREATE USER statement.
        let created: Option<String> =
            conn.query_first::<(String,), _>(format!("SHOW CREATE USER {account}")).ok().flatten().map(|r| r.0);
        let held_by_response = held.iter().any(|a| a.name == user && a.host == host);
        let created = created.map(|text| if held_by_response { text.replace(" ACCOUNT LOCK", "") } else { text });
        let grants: Vec<String> = conn.query(format!("SHOW GRANTS FOR {account}")).map_err(sql("grants"))?;
        let locked = match &created {
            Some(text) if text.contains(" ACCOUNT LOCK") => "yes",
            Some(_) => "no",
            None => "role",
        };
        lines.push(format!(
            "account {account} locked={locked} show-create-user={} show-grants={}",
            created.as_deref().map_or("-".to_owned(), |c| hash(&[c])),
            hash(&grants)
        ));
    }
    sections.push(Section::new(lines, "accounts (name, lock, SHOW CREATE USER, SHOW GRANTS)"));
    Ok(assemble(sections))
}

/// Runs `dbaudit fingerprint`; each line ends in `;` so that items stay apart when OSSEC's
/// `full_command` joins the output into one line.
pub(crate) fn run(out: &mut dyn Write, server: &mut Server, list: &WatchList) -> Result<Outcome, Failure> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let held = dbaudit_lockstate::held_accounts(&server.response_state, deadline).map_err(|e| {
        Failure::new(format!(
            "fingerprint: cannot read dbaudit-respond's locks in {}: {e}; set [dbaudit] state_dir as the response has it",
            server.response_state.display()
        ))
    })?;
    let lines = gather(&mut server.conn, list, &held)?;
    let write = |e: std::io::Error| Failure::new(format!("cannot write the fingerprint: {e}"));
    for line in lines {
        writeln!(out, "{line};").map_err(write)?;
    }
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_with_a_hash_of_the_whole() {
        let long = format!("trigger {} x", "ü".repeat(150));
        let cut = bounded(long.clone());
        assert!(cut.len() <= MAX_LINE, "{}", cut.len());
        assert_ne!(bounded(format!("{long}y")), cut);
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn too_much_is_folded_into_hashes_largest_first() {
        let many: Vec<String> = (0..200).map(|i| format!("account 'u{i}'@'localhost' locked=no")).collect();
        let few = vec!["udf dbaudit_log ret=2".to_owned()];
        let lines = assemble(vec![Section::new(few.clone(), "udf"), Section::new(many, "accounts")]);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().any(|l| l.starts_with("accounts n=200 hash=")), "{lines:?}");
        assert!(lines.contains(&few[0]));
    }
}
