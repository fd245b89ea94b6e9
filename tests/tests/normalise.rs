//! End to end: rows changed through real triggers in a real mariadbd, the real UDF's log,
//! dbaudit-normalise over it, normalised lines out — for the UDF's own log and for the
//! server's error log (`log = stderr`).

use std::path::Path;

use dbaudit_tests::{MariaDb, Options};
use dbaudit_triggers::{watch_table, Flavour, TableName, WatchRequest};
use mysql::prelude::Queryable;

fn acme_users(server: &MariaDb) {
    let mut root = server.root();
    server.fresh_database("acme");
    root.query_drop(
        "CREATE TABLE acme.users (id INT PRIMARY KEY, login VARCHAR(200) NOT NULL, password CHAR(20) NOT NULL)",
    )
    .unwrap();
    let request =
        WatchRequest { secrets: vec!["password".to_owned()], fail_closed: Some(false), ..WatchRequest::default() };
    watch_table(&mut root, Flavour::MariaDb, &TableName::new("acme", "users"), &server.tokens(), &request).unwrap();
}

/// Runs `dbaudit-normalise once` in this process and returns the output's lines.
fn normalise(server: &MariaDb, input: &Path, extra: &[&str]) -> Vec<String> {
    let dir = server.dir();
    std::fs::write(dir.join("normalise.key"), format!("{}\n", server.key_hex())).unwrap();
    let out = dir.join("normalised.log");
    let mut args: Vec<std::ffi::OsString> = vec!["dbaudit-normalise".into(), "once".into(), "--input".into()];
    args.push(input.into());
    for (flag, value) in
        [("--key-file", dir.join("normalise.key")), ("--state", dir.join("normalise.state")), ("--output", out.clone())]
    {
        args.push(flag.into());
        args.push(value.into());
    }
    args.extend(["--host", "dbhost"].iter().chain(extra).map(Into::into));
    let code = dbaudit_normalise::main(args);
    assert_eq!(format!("{code:?}"), format!("{:?}", std::process::ExitCode::SUCCESS));
    std::fs::read_to_string(&out).unwrap().lines().map(str::to_owned).collect()
}

fn changes(root: &mut mysql::Conn) {
    root.query_drop("INSERT INTO acme.users VALUES (7, 'xavier', 'zZDDIZ0NOlPzw')").unwrap();
    root.query_drop("UPDATE acme.users SET login = 'x\\navier\\r\\n2026-01-01T00:00:00+00:00 evil dbaudit: op=delete', password = 'new' WHERE id = 7").unwrap();
    root.query_drop("DELETE FROM acme.users WHERE id = 7").unwrap();
}

fn check(lines: &[String]) {
    let ops: Vec<&str> =
        lines.iter().map(|l| l.split(" dbaudit: op=").nth(1).unwrap().split(' ').next().unwrap()).collect();
    assert_eq!(ops, ["start", "insert", "update", "delete"], "{lines:#?}");
    for line in lines {
        assert!(line.contains(" dbhost dbaudit: op="), "{line}");
        assert!(!line.contains("zZDDIZ0NOlPzw"), "a secret column leaked: {line}");
    }
    let update = &lines[2];
    assert!(update.contains(" table=acme.users user=root@localhost host=localhost conn="), "{update}");
    assert!(update.contains(" pk=id:7 changed=login,password data={\"old\":"), "{update}");
    assert!(update.contains(r#"x\navier\r\n2026-01-01T00:00:00+00:00 evil dbaudit: op=delete"#), "{update}");
}

#[test]
fn rows_changed_through_triggers_come_out_as_normalised_lines() {
    let server = MariaDb::start();
    acme_users(&server);
    changes(&mut server.root());
    check(&normalise(&server, &server.log_path(), &[]));
}

#[test]
fn records_in_the_error_log_are_found_among_the_servers_own_lines() {
    let server = MariaDb::start_with(Options { log: Some("stderr".to_owned()), ..Options::default() });
    acme_users(&server);
    changes(&mut server.root());
    check(&normalise(&server, &server.dir().join("error.log"), &["--input-format", "stderr"]));
}

#[test]
fn a_change_under_a_stale_trigger_comes_out_as_op_drift() {
    let server = MariaDb::start();
    acme_users(&server);
    let mut root = server.root();
    root.query_drop("ALTER TABLE acme.users DROP COLUMN login").unwrap();
    root.query_drop("INSERT INTO acme.users VALUES (8, 'pw')").unwrap();
    let lines = normalise(&server, &server.log_path(), &[]);
    let drift = lines.last().unwrap();
    assert!(drift.contains(" dbaudit: op=drift table=acme.users user=root@localhost host=localhost conn="), "{drift}");
    assert!(drift.contains(" row_op=insert error=1054:%20Unknown%20column%20%27login%27"), "{drift}");
}
