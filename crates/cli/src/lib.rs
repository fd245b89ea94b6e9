//! `dbaudit`, the administrator's command: watch tables with audit triggers, report their
//! state, fingerprint what an attacker would change, verify the raw audit log, and tell one
//! row's history from it.
//!
//! The binary is one line that calls [`run`]. The triggers themselves (reading a table,
//! generating its triggers, putting them in place) are crates/triggers'. It does not write
//! records (crates/udf does) nor follow the log (dbaudit-normalise does).

mod cli;
mod error;
mod fingerprint;
mod history;
mod install;
mod logs;
mod server;
mod status;
mod udf_config;
mod verify;
mod watchlist;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use dbaudit_connect::ClientOptions;
use dbaudit_triggers::{
    apply, our_triggers, print_plan, table_exists, unwatch_table, written_for, TableName, Tokens, WatchPlan,
    WatchRequest,
};

use crate::cli::{Cli, Command, ConnectionArgs, WatchArgs};
use crate::error::{exit_code, Failure, Outcome, EXIT_FAILURE, EXIT_OK};
use crate::server::Server;
use crate::udf_config::read_key;
use crate::watchlist::{WatchList, Watched};

/// Runs the command line `args` and returns the exit code.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_FAILURE } else { EXIT_OK };
        }
    };
    let mut out = std::io::stdout().lock();
    let result = execute(&mut out, cli);
    let _ = out.flush();
    if let Err(failure) = &result {
        eprintln!("dbaudit: {failure}");
    }
    exit_code(&result)
}

fn execute(out: &mut dyn Write, cli: Cli) -> Result<Outcome, Failure> {
    let connection = &cli.connection;
    match cli.command {
        Command::Install(args) => install::run(out, connection, &args, install::Direction::Install, false),
        Command::Uninstall(args) => {
            install::run(out, connection, &args.install, install::Direction::Uninstall, args.force)
        }
        Command::Watch(args) => watch(out, connection, args),
        Command::Unwatch(args) => {
            let tables = parse_tables(&args.tables)?;
            let mut server = connect(connection)?;
            let mut list = WatchList::lock(&watch_list_path(connection))?;
            for table in tables {
                let listed = list.remove(&table);
                let line = if !table_exists(&mut server.conn, &table)? && listed {
                    format!("{table}: not on the server; taken off the watch list")
                } else {
                    let dropped = unwatch_table(&mut server.conn, &table)?;
                    match (dropped.is_empty(), listed) {
                        (true, false) => format!("{table}: not watched; nothing to drop"),
                        (true, true) => format!("{table}: had no dbaudit triggers; taken off the watch list"),
                        (false, _) => format!("{table}: dropped {}", dropped.join(", ")),
                    }
                };
                if listed {
                    list.save()?;
                }
                writeln!(out, "{line}").map_err(output)?;
            }
            Ok(Outcome::Clean)
        }
        Command::Status(args) => {
            let mut server = connect(connection)?;
            let list = WatchList::read(&watch_list_path(connection))?;
            status::run(out, &mut server, udf_config::tokens(connection.key_file.as_deref()), &list, args.json)
        }
        Command::Fingerprint => {
            let list = WatchList::read(&watch_list_path(connection))?;
            fingerprint::run(out, &mut connect(connection)?, &list)
        }
        Command::Verify(args) => verify::run(out, read_key(connection.key_file.as_deref())?, &args.logs),
        Command::History(mut args) => {
            // History reads no server, so --user, which names the connection's account to the
            // other commands, names here the account whose changes to show, as --account does.
            match (&args.account, &connection.user) {
                (None, Some(user)) => args.account = Some(user.clone()),
                (Some(account), Some(user)) if account != user => {
                    return Err(Failure::new(format!(
                        "history: --user {user} and --account {account} name different accounts; give one"
                    )))
                }
                _ => {}
            }
            let query = history::Query::parse(&args)?;
            let logs = logs::logs_to_read(&args.logs)?;
            let format = match (&args.html, args.json) {
                (Some(path), _) => history::Format::Html(path),
                (None, true) => history::Format::Json,
                (None, false) => history::Format::Text,
            };
            history::run(out, read_key(connection.key_file.as_deref())?, &logs, query, format)
        }
    }
}

fn watch(out: &mut dyn Write, connection: &ConnectionArgs, args: WatchArgs) -> Result<Outcome, Failure> {
    let tokens = udf_config::tokens(connection.key_file.as_deref())?;
    let mut server = connect(connection)?;
    server.require_udf()?;
    let path = watch_list_path(connection);
    let mut list = if args.print { WatchList::read(&path)? } else { WatchList::lock(&path)? };
    let fail_closed = match (args.fail_closed, args.fail_open) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    if !args.print && !args.replicate {
        keep_out_of_the_logs(&mut server)?;
    }
    if args.rotate_token {
        return rotate_tokens(out, &mut server, tokens, &mut list, &args);
    }
    if args.all {
        return watch_all(out, &mut server, &tokens, &mut list, &args, fail_closed);
    }
    let tables = parse_tables(&args.tables)?;
    // Every table is read and planned before anything changes: a typo in the last name
    // must not leave the first ones half done.
    let plans = tables
        .iter()
        .map(|table| {
            let listed = list.get(table);
            let request = WatchRequest {
                secrets: args.secrets.clone(),
                fail_closed: fail_closed.or(listed.map(|w| w.fail_closed)),
                kept: listed.map(|w| w.secrets.clone()).unwrap_or_default(),
                release: args.release.clone(),
            };
            WatchPlan::make(&mut server.conn, server.flavour, table, &tokens, &request)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for secret in &args.secrets {
        let known =
            plans.iter().any(|p| p.schema.columns.iter().any(|c| c.name.to_lowercase() == secret.to_lowercase()));
        if !known {
            return Err(Failure::new(format!(
                "--secret {secret}: no such column in {}; check the spelling (it would be recorded in clear)",
                tables.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    for plan in &plans {
        if args.print {
            print_plan(out, plan).map_err(output)?;
            continue;
        }
        apply(&mut server.conn, &plan.schema.name, &plan.statements)?;
        list.set(watched(plan));
        list.save()?;
        let done = if plan.statements.is_empty() { "already watched, triggers up to date" } else { "watched" };
        writeln!(out, "{}: {done} ({})", plan.schema.name, plan.summary()).map_err(output)?;
    }
    Ok(Outcome::Clean)
}

/// The watch list's entry for what `plan` installed.
fn watched(plan: &WatchPlan) -> Watched {
    Watched { table: plan.schema.name.clone(), secrets: plan.set.secrets.clone(), fail_closed: plan.fail_closed }
}

/// `watch --all`: brings every table of the watch list back in line with it, following a
/// renamed table; with no list yet, adopts the tables that carry our triggers. A table that
/// cannot be healed is said on a line and the others go on.
fn watch_all(
    out: &mut dyn Write,
    server: &mut Server,
    tokens: &Tokens,
    list: &mut WatchList,
    args: &WatchArgs,
    fail_closed: Option<bool>,
) -> Result<Outcome, Failure> {
    let ours = our_triggers(&mut server.conn)?;
    let wanted: Vec<(TableName, Option<&Watched>)> = if list.exists {
        list.tables.iter().map(|w| (w.table.clone(), Some(w))).collect()
    } else {
        let mut tables: Vec<TableName> = ours.iter().map(|t| TableName::new(&t.db, &t.table)).collect();
        tables.dedup();
        tables.into_iter().map(|t| (t, None)).collect()
    };
    let wanted: Vec<(TableName, Option<Watched>)> = wanted.into_iter().map(|(t, w)| (t, w.cloned())).collect();
    if wanted.is_empty() {
        writeln!(out, "no table is watched (dbaudit watch DB.TABLE)").map_err(output)?;
        return Ok(Outcome::Clean);
    }
    let mut trouble = false;
    for (table, listed) in wanted {
        let target = if table_exists(&mut server.conn, &table)? {
            table.clone()
        } else {
            // RENAME TABLE takes the triggers along; they still name the table they were made for.
            let mut moved: Vec<TableName> = ours
                .iter()
                .filter(|t| written_for(&t.body).as_ref() == Some(&table))
                .map(|t| TableName::new(&t.db, &t.table))
                .filter(|t| *t != table)
                .collect();
            moved.dedup();
            match moved.as_slice() {
                [to] => {
                    writeln!(out, "{table}: renamed to {to}; watching it under its new name").map_err(output)?;
                    to.clone()
                }
                _ => {
                    writeln!(
                        out,
                        "{table}: does not exist (dropped, or renamed and its triggers dropped); left in the watch \
                         list: create it again and re-run, or `dbaudit unwatch {table}`"
                    )
                    .map_err(output)?;
                    trouble = true;
                    continue;
                }
            }
        };
        let request = WatchRequest {
            secrets: args.secrets.clone(),
            fail_closed: fail_closed.or(listed.as_ref().map(|w| w.fail_closed)),
            kept: listed.as_ref().map(|w| w.secrets.clone()).unwrap_or_default(),
            release: args.release.clone(),
        };
        let plan = match WatchPlan::make(&mut server.conn, server.flavour, &target, tokens, &request) {
            Ok(plan) => plan,
            Err(e) => {
                writeln!(out, "{e}").map_err(output)?;
                trouble = true;
                continue;
            }
        };
        if args.print {
            print_plan(out, &plan).map_err(output)?;
            continue;
        }
        apply(&mut server.conn, &plan.schema.name, &plan.statements)?;
        list.remove(&table);
        list.set(watched(&plan));
        list.save()?;
        let done = if plan.statements.is_empty() { "in line, nothing to do" } else { "triggers brought in line" };
        writeln!(out, "{}: {done} ({})", plan.schema.name, plan.summary()).map_err(output)?;
    }
    Ok(Outcome::findings_if(trouble))
}

/// Keeps this session's statements out of the binary log and the general log: a trigger's
/// body carries its table's token, which anyone with BINLOG MONITOR (or read access to the
/// general log) could otherwise read and forge records with.
fn keep_out_of_the_logs(server: &mut Server) -> Result<(), Failure> {
    use mysql::prelude::Queryable;
    server.conn.query_drop("SET SESSION sql_log_bin = 0, SESSION sql_log_off = 1").map_err(|e| {
        Failure::new(format!(
            "cannot keep the trigger statements out of the binary and general logs ({e}): they carry the table's \
             token; grant this account BINLOG ADMIN and SUPER, or pass --replicate so that replicas get the triggers"
        ))
    })
}

/// `watch --rotate-token`: the UDF is told to accept the next token generation beside the
/// current one, every watched table's triggers are made again with the next, and then the
/// UDF is told to accept the next alone. Writes are recorded throughout; a run cut short is
/// finished by running it again.
fn rotate_tokens(
    out: &mut dyn Write,
    server: &mut Server,
    tokens: Tokens,
    list: &mut WatchList,
    args: &WatchArgs,
) -> Result<Outcome, Failure> {
    use crate::udf_config::{set_token_generations, UdfConfig};
    let path = UdfConfig::path();
    let config = UdfConfig::read(&path).map_err(|e| Failure::new(format!("the UDF configuration: {e}")))?;
    let from = config.token_generation;
    let to = config.token_generation_next.unwrap_or(from + 1);
    if list.exists {
        let outside: Vec<String> = our_triggers(&mut server.conn)?
            .iter()
            .map(|t| TableName::new(&t.db, &t.table))
            .filter(|t| list.get(t).is_none())
            .map(|t| t.to_string())
            .collect();
        if !outside.is_empty() {
            return Err(Failure::new(format!(
                "{} carry dbaudit triggers but are not in the watch list: their writes would be refused as forged \
                 once the old tokens are; watch or unwatch them first (nothing changed)",
                outside.join(", ")
            )));
        }
    }
    set_token_generations(&path, from, Some(to))?;
    wait_for_generations(server, &[from, to])?;
    writeln!(out, "token generation {to}: the UDF accepts {from} and {to}; making every table's triggers again")
        .map_err(output)?;
    let tokens = Tokens::new(tokens.into_key(), to);
    if watch_all(out, server, &tokens, list, args, None)? == Outcome::Findings {
        writeln!(
            out,
            "tokens of generation {from} are still accepted: bring the tables above in line and run --rotate-token again"
        )
        .map_err(output)?;
        return Ok(Outcome::Findings);
    }
    set_token_generations(&path, to, None)?;
    wait_for_generations(server, &[to])?;
    writeln!(out, "token generation {to} in force; tokens of generation {from} are refused and recorded as forged")
        .map_err(output)?;
    Ok(Outcome::Clean)
}

/// Waits until the loaded UDF accepts exactly `generations` (it looks at its configuration at
/// most once a second). A UDF not called since mysqld started reads the file when first called.
fn wait_for_generations(server: &mut Server, generations: &[u32]) -> Result<(), Failure> {
    let wanted: Vec<serde_json::Value> = generations.iter().map(|&g| g.into()).collect();
    let mut seen = serde_json::Value::Null;
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let health = server.udf_health()?.unwrap_or_default();
        seen = serde_json::from_str::<serde_json::Value>(&health).unwrap_or_default()["token_generations"].clone();
        if seen.is_null() || seen.as_array() == Some(&wanted) {
            return Ok(());
        }
    }
    Err(Failure::new(format!(
        "the UDF still accepts token generations {seen} rather than {wanted:?}: does mysqld read the same \
         configuration file ({})? Nothing else changed; run --rotate-token again once it does",
        crate::udf_config::UdfConfig::path().display()
    )))
}

fn watch_list_path(connection: &ConnectionArgs) -> std::path::PathBuf {
    WatchList::path_for(connection.watch_list.as_deref(), connection.defaults_file.as_deref())
}

fn parse_tables(texts: &[String]) -> Result<Vec<TableName>, Failure> {
    texts.iter().map(|t| Ok(TableName::parse(t)?)).collect()
}

fn connect(args: &ConnectionArgs) -> Result<Server, Failure> {
    let flags = ClientOptions {
        socket: args.socket.clone(),
        host: args.host.clone(),
        port: args.port,
        user: args.user.clone(),
        password: args.password.clone(),
        timeout: None,
    };
    Server::connect(args.defaults_file.as_deref(), &flags)
}

fn output(e: std::io::Error) -> Failure {
    Failure::new(format!("cannot write to standard output: {e}"))
}
