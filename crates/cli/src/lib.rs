//! `dbaudit`, the administrator's command: watch tables with audit triggers, report their
//! state, fingerprint what an attacker would change, and verify the raw audit log.
//!
//! The binary is one line; everything lives here so that tests can call it, and the
//! trigger generator ([`triggers`]) is the one the rest of the workspace uses. It does not
//! write records (crates/udf does) nor follow the log (dbaudit-normalise does).

pub mod cli;
pub mod error;
pub mod fingerprint;
pub mod install;
pub mod schema;
pub mod server;
pub mod status;
pub mod table;
pub mod triggers;
pub mod udf_config;
pub mod verify;
pub mod watch;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use dbaudit_connect::ClientOptions;

use crate::cli::{Cli, Command, ConnectionArgs, WatchArgs};
use crate::error::{exit_code, Failure, Outcome, EXIT_FAILURE, EXIT_OK};
use crate::server::Server;
use crate::table::TableName;
use crate::udf_config::read_key;
use crate::watch::{apply, print_plan, unwatch_table, WatchPlan, WatchRequest};

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
            for table in tables {
                let dropped = unwatch_table(&mut server.conn, &table)?;
                let line = if dropped.is_empty() {
                    format!("{table}: not watched; nothing to drop")
                } else {
                    format!("{table}: dropped {}", dropped.join(", "))
                };
                writeln!(out, "{line}").map_err(output)?;
            }
            Ok(Outcome::Clean)
        }
        Command::Status(args) => {
            let mut server = connect(connection)?;
            status::run(out, &mut server, read_key(connection.key_file.as_deref()), args.json)
        }
        Command::Fingerprint => fingerprint::run(out, &mut connect(connection)?),
        Command::Verify(args) => verify::run(out, read_key(connection.key_file.as_deref())?, &args.logs),
    }
}

fn watch(out: &mut dyn Write, connection: &ConnectionArgs, args: WatchArgs) -> Result<Outcome, Failure> {
    let tables = parse_tables(&args.tables)?;
    let token = read_key(connection.key_file.as_deref())?.trigger_token();
    let mut server = connect(connection)?;
    server.require_udf()?;
    let fail_closed = match (args.fail_closed, args.fail_open) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let request = WatchRequest { secrets: args.secrets.clone(), fail_closed };
    // Every table is read and planned before anything changes: a typo in the last name
    // must not leave the first ones half done.
    let plans = tables
        .iter()
        .map(|table| WatchPlan::make(&mut server.conn, server.flavour, table, &token, &request))
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
        let done = if plan.statements.is_empty() { "already watched, triggers up to date" } else { "watched" };
        writeln!(out, "{}: {done} ({})", plan.schema.name, plan.summary()).map_err(output)?;
    }
    Ok(Outcome::Clean)
}

fn parse_tables(texts: &[String]) -> Result<Vec<TableName>, Failure> {
    texts.iter().map(|t| TableName::parse(t).map_err(Failure::new)).collect()
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
