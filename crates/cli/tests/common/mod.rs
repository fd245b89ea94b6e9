//! What the `dbaudit` binary's end-to-end tests share: running it against a real, private
//! MariaDB (tests/ harness) and reading back the records its triggers wrote.

#![allow(dead_code)] // each test binary uses its own part of it

use std::process::Command;

use dbaudit_record::{Column, Event, Key, Record, Row, Value, Verifier};
use dbaudit_tests::MariaDb;
use mysql::prelude::Queryable;

/// One run of `dbaudit` against `server`: its exit code and output.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `dbaudit` pointed at `server`: its socket, as root, its UDF config and so its key.
pub(crate) struct Dbaudit<'a> {
    server: &'a MariaDb,
    args: Vec<String>,
    /// Whether to name the server's account (root); commands that read no server
    /// (history) give `--user` a meaning of their own.
    as_root: bool,
}

impl<'a> Dbaudit<'a> {
    pub(crate) fn new(server: &'a MariaDb) -> Dbaudit<'a> {
        Dbaudit { server, args: Vec::new(), as_root: true }
    }

    /// A run without `--user root`, for commands that read logs, not the server.
    pub(crate) fn offline(server: &'a MariaDb) -> Dbaudit<'a> {
        Dbaudit { as_root: false, ..Dbaudit::new(server) }
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Dbaudit<'a> {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub(crate) fn run(self) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .args(["--defaults-file", "/dev/null"])
            .args(if self.as_root { &["--user", "root"][..] } else { &[] })
            .arg("--socket")
            .arg(self.server.socket())
            .arg("--watch-list")
            .arg(self.server.dir().join("dbaudit-watch.json"))
            .args(&self.args)
            .env("DBAUDIT_UDF_CONFIG", self.server.dir().join("dbaudit.cnf"))
            .output()
            .expect("run dbaudit");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and insists on `code`, showing the output when it differs.
    pub(crate) fn expect(self, code: i32) -> Run {
        let args = self.args.join(" ");
        let run = self.run();
        assert_eq!(run.code, code, "dbaudit {args}\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
        run
    }
}

pub(crate) fn sql(server: &MariaDb, statements: &[&str]) {
    let mut root = server.root();
    for statement in statements {
        root.query_drop(statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// The log's records, every one checked against the chain.
pub(crate) fn records(server: &MariaDb) -> Vec<Record> {
    let text = std::fs::read(server.log_path()).unwrap_or_default();
    let mut verifier = Verifier::new(Key::from_hex(server.key_hex()).unwrap());
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let verdict = verifier.check(line).unwrap();
            assert_eq!((verdict.tamper, verdict.anchored), (None, true));
            verdict.record
        })
        .collect()
}

pub(crate) fn rows(server: &MariaDb) -> Vec<Row> {
    records(server)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Row(row) => Some(row),
            _ => None,
        })
        .collect()
}

pub(crate) fn value<'a>(columns: &'a Option<Vec<Column>>, name: &str) -> &'a Value {
    &columns.as_ref().expect("values").iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name}")).value
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(crate) fn trigger_names(server: &MariaDb, db: &str) -> Vec<String> {
    server
        .root()
        .exec("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1", (db,))
        .unwrap()
}
