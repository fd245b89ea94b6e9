//! `dbaudit status`: which tables are watched, whether each trigger is what `watch` would
//! generate now, which UDF is loaded, where it writes and the last record written.

use std::io::Write;
use std::path::Path;

use dbaudit_record::{json, Op};

use mysql::prelude::Queryable;

use dbaudit_triggers::{
    call_protocol, options_of, our_triggers, sql_event, table_exists, triggers_on, written_for, ExistingTrigger,
    TableName, TableSchema, Tokens, TriggerSet, WatchOptions,
};

use crate::error::{Failure, Outcome};
use crate::server::Server;
use crate::udf_config::UdfConfig;
use crate::watchlist::WatchList;

/// The state of one of a table's three triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TriggerState {
    /// Present, and exactly what `watch` generates now.
    Unaltered,
    /// Present, but not what `watch` generates now: edited, or the table changed since.
    Differs,
    /// Present, not what `watch` generates now, and calling the UDF in protocol 1: made by
    /// an earlier dbaudit (or altered since). Still recorded by the UDF.
    Earlier,
    /// Not there.
    Missing,
    /// Present; not compared, for want of the key.
    Unchecked,
}

impl TriggerState {
    /// The word shown for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TriggerState::Unaltered => "ok",
            TriggerState::Differs => "altered",
            TriggerState::Earlier => "from an earlier dbaudit, or altered",
            TriggerState::Missing => "missing",
            TriggerState::Unchecked => "unchecked",
        }
    }
}

/// One watched table.
#[derive(Clone, Debug)]
pub(crate) struct TableStatus {
    /// The table.
    pub table: TableName,
    /// Its INSERT, UPDATE and DELETE triggers.
    pub triggers: [TriggerState; 3],
    /// How many triggers of other people it has.
    pub other_triggers: usize,
}

/// The last record of the log.
#[derive(Clone, Debug)]
pub(crate) struct LastRecord {
    /// Its epoch and seq, as `epoch/seq`.
    pub epoch: String,
    /// Its seq.
    pub seq: u64,
    /// When it was written.
    pub ts: String,
}

/// Everything `status` reports.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    /// `dbaudit_version()`, None when the UDF is not loaded.
    pub udf_version: Option<String>,
    /// The UDF's log setting.
    pub log: String,
    /// The UDF configuration file it came from.
    pub udf_config: String,
    /// The last record in the log, when it can be read.
    pub last_record: Option<LastRecord>,
    /// `dbaudit_health()`'s JSON object, None when the function does not exist.
    pub health: Option<String>,
    /// Watched tables.
    pub tables: Vec<TableStatus>,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
}

/// Gathers the status, holding the server to the watch list `list`.
pub(crate) fn gather(
    server: &mut Server,
    tokens: Result<Tokens, Failure>,
    list: &WatchList,
) -> Result<Status, Failure> {
    let mut problems = Vec::new();
    let udf_version = server.udf_version()?;
    let health = if udf_version.is_some() { server.udf_health()? } else { None };
    if udf_version.is_none() {
        problems.push(format!("the dbaudit UDF is not loaded on {}: run `dbaudit install`", server.target));
    } else if let Some(problem) = health.as_deref().map_or_else(
        || Some("dbaudit_health() does not exist: re-run `dbaudit install` to create this build's functions".into()),
        health_problem,
    ) {
        problems.push(problem);
    }
    let tokens = match tokens {
        Ok(tokens) => Some(tokens),
        Err(e) => {
            problems.push(format!("triggers not compared: {e}"));
            None
        }
    };
    let config =
        UdfConfig::read(&UdfConfig::path()).map_err(|e| Failure::new(format!("the UDF configuration: {e}")))?;
    problems.extend(config.warnings());
    let last_record = match config.log_file() {
        Some(path) => match last_record(path) {
            Ok(last) => last,
            // mysqld cannot create a directory (Debian's MariaDB has no /var/log/mysql).
            Err(_) if path.parent().is_some_and(|dir| !dir.as_os_str().is_empty() && !dir.is_dir()) => {
                problems.push(format!(
                    "the log's directory {} does not exist and mysqld cannot create it: every record is lost; \
                     create it (owner mysql, mode 0750) or re-run `dbaudit install`",
                    path.parent().unwrap_or(path).display()
                ));
                None
            }
            // The UDF creates the log with its first record.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                problems.push(format!("cannot read the log {}: {e}", path.display()));
                None
            }
        },
        None => None,
    };
    let ours = our_triggers(&mut server.conn)?;
    let mut names: Vec<TableName> = ours.iter().map(|t| TableName::new(&t.db, &t.table)).collect();
    for watched in &list.tables {
        if table_exists(&mut server.conn, &watched.table)? {
            names.push(watched.table.clone());
        }
    }
    names.sort();
    names.dedup();
    let mut tables = Vec::new();
    for table in names {
        // One odd table must not blind the status of the others.
        let status = match table_status(server, &table, tokens.as_ref(), list) {
            Ok(status) => status,
            Err(e) => {
                problems.push(format!("{table}: cannot be checked: {e}"));
                continue;
            }
        };
        for (event, state) in Op::ALL.iter().zip(status.triggers) {
            if matches!(state, TriggerState::Differs | TriggerState::Earlier | TriggerState::Missing) {
                problems.push(format!(
                    "{table}: the {} trigger is {}: run `dbaudit watch --all` (or `dbaudit watch {table}`)",
                    sql_event(*event),
                    state.as_str()
                ));
            }
        }
        tables.push(status);
    }
    problems.extend(watch_list_problems(&mut server.conn, list, &ours)?);
    problems.extend(anonymous_accounts(&mut server.conn));
    Ok(Status {
        udf_version,
        log: config.log_setting(),
        udf_config: config.path.display().to_string(),
        last_record,
        health,
        tables,
        problems,
    })
}

/// One line per anonymous account (`''@host`): anyone who connects matching its host logs in
/// as it, and `USER()`, which records carry, then holds whatever name the client gave.
pub(crate) fn anonymous_accounts(conn: &mut impl Queryable) -> Vec<String> {
    match conn.query::<String, _>("SELECT Host FROM mysql.user WHERE User = '' ORDER BY Host") {
        Ok(hosts) => hosts
            .into_iter()
            .map(|host| {
                format!(
                    "anonymous account ''@'{host}': a client logging in through it chooses the name that records \
                     carry as user; drop it (DROP USER ''@'{host}')"
                )
            })
            .collect(),
        Err(e) => vec![format!("cannot look for anonymous accounts in mysql.user: {e}")],
    }
}

/// The problem `dbaudit_health()` reports, if any: records being lost right now.
fn health_problem(health: &str) -> Option<String> {
    let Ok(health) = serde_json::from_str::<serde_json::Value>(health) else {
        return Some(format!("dbaudit_health() answered something unreadable: {health}"));
    };
    (health["state"] == "failing").then(|| {
        format!(
            "the UDF cannot write records: {} lost since mysqld loaded it, the last at {}: {}",
            health["lost"],
            health["last_error_at"].as_str().unwrap_or("?"),
            health["last_error"].as_str().unwrap_or("?")
        )
    })
}

/// Where the server and the watch list disagree, one line each: a table renamed, dropped,
/// dropped and re-created, a secret column gone, triggers on a table the list does not name.
/// `ours` is every trigger of ours on the server. `status` and `fingerprint` both show these.
pub(crate) fn watch_list_problems(
    conn: &mut impl Queryable,
    list: &WatchList,
    ours: &[ExistingTrigger],
) -> Result<Vec<String>, Failure> {
    let mut problems = Vec::new();
    let mut carrying: Vec<TableName> = ours.iter().map(|t| TableName::new(&t.db, &t.table)).collect();
    carrying.dedup();
    for table in &carrying {
        let written: Vec<TableName> = ours
            .iter()
            .filter(|t| t.db == table.db && t.table == table.table)
            .filter_map(|t| written_for(&t.body))
            .filter(|w| w != table)
            .collect();
        if let Some(original) = written.first() {
            problems.push(format!(
                "{table}: its triggers were made for {original} (renamed?), so its records name {original}: \
                 run `dbaudit watch --all`"
            ));
        }
        if list.exists && list.get(table).is_none() {
            problems.push(format!(
                "{table}: carries dbaudit triggers but is not in the watch list {}: `dbaudit watch {table}` keeps \
                 it, `dbaudit unwatch {table}` drops them",
                list.path().display()
            ));
        }
    }
    for watched in &list.tables {
        let table = &watched.table;
        if !table_exists(conn, table)? {
            problems.push(format!(
                "{table}: in the watch list but the table does not exist (dropped or renamed): \
                 `dbaudit watch --all` follows a rename, `dbaudit unwatch {table}` forgets it"
            ));
            continue;
        }
        if !carrying.contains(table) {
            problems.push(format!(
                "{table}: in the watch list but has no dbaudit triggers (dropped and re-created, or its triggers \
                 dropped): nothing done to it is recorded; run `dbaudit watch --all`"
            ));
        }
        let schema = match TableSchema::read(conn, table) {
            Ok(schema) => schema,
            Err(e) => {
                problems.push(format!("{table}: cannot be checked: {e}"));
                continue;
            }
        };
        for secret in &watched.secrets {
            if !schema.columns.iter().any(|c| c.name.to_lowercase() == secret.to_lowercase()) {
                problems.push(format!(
                    "{table}: secret column {secret} is gone (renamed or dropped): `dbaudit watch {table} --secret \
                     NEWNAME` masks it again, --release-secret {secret} lets it go"
                ));
            }
        }
    }
    Ok(problems)
}

fn table_status(
    server: &mut Server,
    table: &TableName,
    tokens: Option<&Tokens>,
    list: &WatchList,
) -> Result<TableStatus, Failure> {
    let triggers = triggers_on(&mut server.conn, table)?;
    let schema = TableSchema::read(&mut server.conn, table)?;
    // The watch list says how the table should be watched; without it, its triggers do.
    let listed = list.get(table).map(|w| WatchOptions { secrets: w.secrets.clone(), fail_closed: w.fail_closed });
    let states = Op::ALL.map(|event| {
        let Some(existing) = triggers.iter().find(|t| t.is_ours() && t.event == sql_event(event)) else {
            return TriggerState::Missing;
        };
        let (Some(tokens), Some(options)) = (tokens, listed.clone().or_else(|| options_of(&existing.body))) else {
            return if tokens.is_none() { TriggerState::Unchecked } else { TriggerState::Differs };
        };
        let of = |set: TriggerSet| set.triggers.into_iter().find(|t| t.event == event).expect("one trigger per event");
        let wanted = of(TriggerSet::generate(&schema, tokens, &options));
        let made_here = existing.timing == "AFTER" && existing.name == wanted.name;
        if made_here && existing.body == wanted.body {
            TriggerState::Unaltered
        } else if call_protocol(&existing.body) == Some(1)
            || made_here && existing.body == of(TriggerSet::generate_earlier(&schema, tokens, &options)).body
        {
            TriggerState::Earlier
        } else {
            TriggerState::Differs
        }
    });
    let other_triggers = triggers.iter().filter(|t| !t.is_ours()).count();
    Ok(TableStatus { table: table.clone(), triggers: states, other_triggers })
}

/// The last whole record of the log at `path`.
fn last_record(path: &Path) -> std::io::Result<Option<LastRecord>> {
    Ok(dbaudit_record::last_record(path)?.map(|record| LastRecord {
        epoch: record.epoch.to_string(),
        seq: record.seq,
        ts: record.ts.to_string(),
    }))
}

/// Prints the status as a table for people.
pub(crate) fn print_human(out: &mut dyn Write, status: &Status) -> std::io::Result<()> {
    let udf = status
        .udf_version
        .as_deref()
        .map_or("not loaded (run `dbaudit install`)".to_owned(), |v| format!("{v} (loaded)"));
    writeln!(out, "udf:     {udf}")?;
    writeln!(out, "log:     {} (from {})", status.log, status.udf_config)?;
    let last = status
        .last_record
        .as_ref()
        .map_or("none found".to_owned(), |r| format!("seq {} of epoch {} at {}", r.seq, r.epoch, r.ts));
    writeln!(out, "last:    {last}")?;
    if let Some(health) = &status.health {
        writeln!(out, "health:  {health}")?;
    }
    if status.tables.is_empty() {
        writeln!(out, "tables:  none watched (dbaudit watch DB.TABLE)")?;
    } else {
        let width = status.tables.iter().map(|t| t.table.to_string().chars().count()).max().unwrap_or(0).max(5);
        writeln!(out, "{:width$}  INSERT     UPDATE     DELETE     OTHER-TRIGGERS", "TABLE")?;
        for t in &status.tables {
            let [i, u, d] = t.triggers.map(TriggerState::as_str);
            writeln!(out, "{:width$}  {i:10} {u:10} {d:10} {}", t.table.to_string(), t.other_triggers)?;
        }
    }
    for problem in &status.problems {
        writeln!(out, "problem: {problem}")?;
    }
    Ok(())
}

/// Prints the status as one JSON object.
pub(crate) fn print_json(out: &mut dyn Write, status: &Status) -> std::io::Result<()> {
    let mut j = Vec::new();
    let string = |j: &mut Vec<u8>, s: &str| json::write_str(j, s);
    j.extend_from_slice(b"{\"udf_version\":");
    match &status.udf_version {
        Some(v) => string(&mut j, v),
        None => j.extend_from_slice(b"null"),
    }
    j.extend_from_slice(b",\"log\":");
    string(&mut j, &status.log);
    j.extend_from_slice(b",\"udf_config\":");
    string(&mut j, &status.udf_config);
    j.extend_from_slice(b",\"last_record\":");
    match &status.last_record {
        Some(r) => {
            j.extend_from_slice(b"{\"epoch\":");
            string(&mut j, &r.epoch);
            j.extend_from_slice(format!(",\"seq\":{},\"ts\":", r.seq).as_bytes());
            string(&mut j, &r.ts);
            j.push(b'}');
        }
        None => j.extend_from_slice(b"null"),
    }
    j.extend_from_slice(b",\"health\":");
    match status.health.as_deref().and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok()) {
        Some(health) => j.extend_from_slice(health.to_string().as_bytes()),
        None => j.extend_from_slice(b"null"),
    }
    j.extend_from_slice(b",\"tables\":[");
    for (n, t) in status.tables.iter().enumerate() {
        if n > 0 {
            j.push(b',');
        }
        j.extend_from_slice(b"{\"db\":");
        string(&mut j, &t.table.db);
        j.extend_from_slice(b",\"table\":");
        string(&mut j, &t.table.table);
        for (event, state) in Op::ALL.iter().zip(t.triggers) {
            j.extend_from_slice(format!(",\"{}\":\"{}\"", event.as_str(), state.as_str()).as_bytes());
        }
        j.extend_from_slice(format!(",\"other_triggers\":{}}}", t.other_triggers).as_bytes());
    }
    j.extend_from_slice(b"],\"problems\":[");
    for (n, p) in status.problems.iter().enumerate() {
        if n > 0 {
            j.push(b',');
        }
        string(&mut j, p);
    }
    j.extend_from_slice(b"]}\n");
    out.write_all(&j)
}

/// Runs `dbaudit status`.
pub(crate) fn run(
    out: &mut dyn Write,
    server: &mut Server,
    tokens: Result<Tokens, Failure>,
    list: &WatchList,
    as_json: bool,
) -> Result<Outcome, Failure> {
    let status = gather(server, tokens, list)?;
    let written = if as_json { print_json(out, &status) } else { print_human(out, &status) };
    written.map_err(|e| Failure::new(format!("cannot write the status: {e}")))?;
    Ok(Outcome::findings_if(!status.problems.is_empty()))
}
