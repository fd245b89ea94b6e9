//! The UDF inside a real mariadbd: triggers call it, rows become sealed records, and
//! nothing a caller passes can tear a line, forge a record or take the server down.

use std::path::Path;
use std::time::Duration;

use dbaudit_record::{Column, Event, Key, Record, Row, Value, Verifier};
use dbaudit_tests::{sql_quote_str as string, MariaDb, Options};
use dbaudit_triggers::{watch_table, Flavour, TableName, WatchRequest};
use mysql::prelude::Queryable;

/// Watches `db.table` with `dbaudit watch`'s own generator, fail-open or fail-closed.
fn watch(server: &MariaDb, db: &str, table: &str, secret: &[&str], fail_closed: bool) {
    let request = WatchRequest {
        secrets: secret.iter().map(|s| s.to_string()).collect(),
        fail_closed: Some(fail_closed),
        ..WatchRequest::default()
    };
    watch_table(&mut server.root(), Flavour::MariaDb, &TableName::new(db, table), &server.tokens(), &request)
        .unwrap_or_else(|e| panic!("watch {db}.{table}: {e}"));
}

/// The seed article's table, watched with `password` secret.
fn acme_users(server: &MariaDb, fail_closed: bool) {
    let mut root = server.root();
    server.fresh_database("acme");
    root.query_drop("CREATE TABLE acme.users (id INT PRIMARY KEY AUTO_INCREMENT, login CHAR(20) NOT NULL, password CHAR(20) NOT NULL)").unwrap();
    watch(server, "acme", "users", &["password"], fail_closed);
}

fn lines_of(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with(b"\n"), "{} ends mid-line", path.display());
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

/// Reads the lines as records and checks the chain: every line a record, no tampering.
fn verified(key_hex: &str, lines: &[Vec<u8>]) -> Vec<Record> {
    let mut verifier = Verifier::new(Key::from_hex(key_hex).unwrap());
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let verdict = verifier
                .check(line)
                .unwrap_or_else(|e| panic!("line {}: {e}: {}", i + 1, String::from_utf8_lossy(line)));
            assert_eq!(verdict.tamper, None, "line {}", i + 1);
            assert!(verdict.anchored, "line {} is not anchored", i + 1);
            verdict.record
        })
        .collect()
}

fn row(record: &Record) -> &Row {
    match &record.event {
        Event::Row(row) => row,
        other => panic!("expected a row record at seq {}, got {other:?}", record.seq),
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn column<'a>(columns: &'a Option<Vec<Column>>, name: &str) -> &'a Value {
    &columns
        .as_ref()
        .expect("values")
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .value
}

#[test]
fn seed_scenario_by_a_low_privilege_account_is_recorded_and_sealed() {
    let server = MariaDb::start();
    acme_users(&server, false);
    let app = server.create_user("app", "app-pw", &["SELECT, INSERT, UPDATE, DELETE ON acme.*"]);
    let mut conn = server.connect_as("app", "app-pw").unwrap();
    conn.query_drop("INSERT INTO acme.users VALUES (7, 'xavier', 'zZDDIZ0NOlPzw')").unwrap();
    conn.query_drop("UPDATE acme.users SET password = 'RjdqndSkxdjeX' WHERE id = 7").unwrap();
    conn.query_drop("DELETE FROM acme.users WHERE id = 7").unwrap();
    let app_conn: u64 = conn.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();

    let lines = lines_of(&server.log_path());
    let log = String::from_utf8_lossy(&lines.concat()).into_owned();
    assert!(!log.contains("zZDDIZ0NOlPzw") && !log.contains("RjdqndSkxdjeX"), "a secret left the UDF: {log}");
    let records = verified(server.key_hex(), &lines);
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].event, Event::Start { prev: None });
    let ops: Vec<_> = records[1..].iter().map(|r| row(r).op.as_str()).collect();
    assert_eq!(ops, ["insert", "update", "delete"]);
    for (seq, record) in records.iter().enumerate() {
        assert_eq!(record.seq, seq as u64);
        assert_eq!(record.epoch, records[0].epoch);
    }
    for record in &records[1..] {
        let row = row(record);
        assert_eq!(row.user, text(&app), "the invoker, not the trigger's definer");
        assert_eq!(row.conn, app_conn);
        assert_eq!((&row.db, &row.table), (&text("acme"), &text("users")));
        assert_eq!(row.pk, vec![Column { name: "id".into(), value: text("7") }]);
    }
    let update = row(&records[2]);
    assert_eq!(update.changed, Some(vec!["password".to_owned()]));
    let (old, new) = (column(&update.old, "password"), column(&update.new, "password"));
    assert!(matches!(old, Value::Text(m) if m.starts_with("secret:") && m.len() == 23), "{old:?}");
    assert_ne!(old, new, "a changed secret must show as a changed mask");
    assert_eq!(column(&update.new, "login"), &text("xavier"));
    assert_eq!((&row(&records[1]).old, &row(&records[3]).new), (&None, &None));
}

#[test]
fn hostile_values_round_trip_on_one_line_each() {
    let server = MariaDb::start();
    let mut root = server.root();
    server.fresh_database("shop");
    root.query_drop("CREATE TABLE shop.notes (id INT PRIMARY KEY, body LONGTEXT, raw LONGBLOB)").unwrap();
    watch(&server, "shop", "notes", &[], false);
    let big = "x".repeat(70 * 1024);
    let hostile: Vec<(String, Option<Vec<u8>>)> = vec![
        ("ok\n2011-01-07 16:38:30 Table: acme.users: insert(7,x,y) by root@localhost".into(), Some(b"a\nb".to_vec())),
        ("carriage\rreturn".into(), Some(b"\r\n".to_vec())),
        ("nul\0inside".into(), Some(vec![0, 0, 0])),
        ("line\u{2028}sep\u{2029}".into(), None),
        (r#"","mac":"00000000000000000000000000000000"} {"v":1}"#.into(), Some(b"}{".to_vec())),
        (r"back\slash\\ \n".into(), Some(vec![0xff, 0xfe, 0x80, b'\n'])),
        (big.clone(), Some(big.clone().into_bytes())),
    ];
    for (i, (body, raw)) in hostile.iter().enumerate() {
        root.exec_drop("INSERT INTO shop.notes VALUES (?, ?, ?)", (i, body, raw)).unwrap();
    }
    root.query_drop("INSERT INTO shop.notes VALUES (100, NULL, NULL)").unwrap();

    let lines = lines_of(&server.log_path());
    assert_eq!(lines.len(), 1 + hostile.len() + 1, "one line per record, whatever the values");
    let records = verified(server.key_hex(), &lines);
    for (i, (body, raw)) in hostile.iter().enumerate() {
        let row = row(&records[i + 1]);
        assert_eq!(column(&row.new, "body"), &text(body), "row {i}");
        assert_eq!(column(&row.new, "raw"), &Value::from_bytes(raw.as_deref()), "row {i}");
    }
    let last = row(&records[hostile.len() + 1]);
    assert_eq!((column(&last.new, "body"), column(&last.new, "raw")), (&Value::Null, &Value::Null));
}

#[test]
fn eight_connections_writing_at_once_keep_the_chain_whole() {
    const CONNECTIONS: usize = 8;
    const ROWS: usize = 5_000;
    let server = MariaDb::start();
    server.fresh_database("load");
    let mut root = server.root();
    root.query_drop("CREATE TABLE load.events (id INT PRIMARY KEY, conn INT, payload VARCHAR(300))").unwrap();
    watch(&server, "load", "events", &[], false);
    std::thread::scope(|scope| {
        for c in 0..CONNECTIONS {
            let server = &server;
            scope.spawn(move || {
                let mut conn = server.root();
                let payload = format!("{c}").repeat(250);
                for i in 0..ROWS {
                    conn.exec_drop("INSERT INTO load.events VALUES (?, ?, ?)", (c * ROWS + i, c, &payload)).unwrap();
                }
            });
        }
    });
    let lines = lines_of(&server.log_path());
    assert_eq!(lines.len(), 1 + CONNECTIONS * ROWS);
    let records = verified(server.key_hex(), &lines);
    assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64), "seq is not contiguous");
    let mut ids: Vec<_> = records[1..].iter().map(|r| column(&row(r).new, "id").clone()).collect();
    ids.sort_by_key(|v| match v {
        Value::Text(t) => t.parse::<usize>().unwrap(),
        other => panic!("{other:?}"),
    });
    ids.dedup();
    assert_eq!(ids.len(), CONNECTIONS * ROWS, "every row exactly once");
}

#[test]
fn forged_call_from_a_low_privilege_account_is_recorded_and_refused() {
    let server = MariaDb::start();
    acme_users(&server, false);
    server.create_user("mallory", "m-pw", &[]);
    let mut conn = server.connect_as("mallory", "m-pw").unwrap();
    let result: Option<Option<i64>> = conn
        .query_first("SELECT dbaudit_log('0123456789abcdef0123456789abcdef', 'acme', 'users', 'delete', 'root@localhost', 1, 'id', '', '7' AS `old.id`)")
        .unwrap();
    assert_eq!(result, Some(None), "a forged call returns NULL");
    assert!(server.is_alive());
    let records = verified(server.key_hex(), &lines_of(&server.log_path()));
    assert_eq!(records.len(), 2);
    let Event::Forged(claimed) = &records[1].event else { panic!("expected forged, got {:?}", records[1].event) };
    assert_eq!(claimed.user, text("root@localhost"), "recorded as claimed, never as the actor");
    assert_eq!((&claimed.db, &claimed.op, &claimed.conn), (&text("acme"), &text("delete"), &text("1")));
    assert!(
        !String::from_utf8_lossy(&lines_of(&server.log_path())[1]).contains("\"7\""),
        "forged values are not recorded"
    );
}

#[test]
fn fail_closed_trigger_refuses_the_statement_when_the_log_cannot_be_written() {
    let server =
        MariaDb::start_with(Options { log: Some("/nonexistent-dbaudit-dir/dbaudit.log".into()), ..Options::default() });
    acme_users(&server, true);
    let mut root = server.root();
    let err = root.query_drop("INSERT INTO acme.users VALUES (1, 'a', 'b')").unwrap_err();
    assert!(err.to_string().contains("audit record not written"), "{err}");
    let count: u64 = root.query_first("SELECT COUNT(*) FROM acme.users").unwrap().unwrap();
    assert_eq!(count, 0);
    let errors = String::from_utf8_lossy(&server.error_log()).into_owned();
    let reported: Vec<_> = errors.lines().filter(|l| l.starts_with("dbaudit_udf:")).collect();
    assert_eq!(reported.len(), 1, "one line per trouble: {errors}");
    assert!(reported[0].contains("/nonexistent-dbaudit-dir/dbaudit.log"), "{}", reported[0]);
}

#[test]
fn fail_open_trigger_lets_the_statement_through_when_the_log_cannot_be_written() {
    let server =
        MariaDb::start_with(Options { log: Some("/nonexistent-dbaudit-dir/dbaudit.log".into()), ..Options::default() });
    acme_users(&server, false);
    let mut root = server.root();
    root.query_drop("INSERT INTO acme.users VALUES (1, 'a', 'b')").unwrap();
    let count: u64 = root.query_first("SELECT COUNT(*) FROM acme.users").unwrap().unwrap();
    assert_eq!(count, 1);
    // The record is counted as lost, not forgotten, and the trigger took no drift for it.
    let health: String = root.query_first("SELECT dbaudit_health()").unwrap().unwrap();
    assert!(health.contains(r#""state":"failing""#) && health.contains(r#""lost":1,"#), "{health}");
    let drift: Option<String> = root.query_first("SELECT @dbaudit_error").unwrap().unwrap();
    assert_eq!(drift, None);
}

#[test]
fn junk_calls_and_a_panic_leave_mysqld_answering() {
    let server = MariaDb::start();
    let mut root = server.root();
    let raw_token = server.token_for("d", "t");
    let token = string(&raw_token);
    // A protocol-2 header for d.t with the right token, and one with a wrong token.
    let header = |op: &str| string(&format!("dbaudit/2,{raw_token},d,t,{op},,"));
    let wrong = string(&format!("dbaudit/2,{},d,t,insert,,", "0".repeat(32)));
    let refused_by_init = [
        "SELECT dbaudit_log()".to_owned(),
        "SELECT dbaudit_log(1, 2)".to_owned(),
        "SELECT dbaudit_version(1)".to_owned(),
        "SELECT dbaudit_health(1)".to_owned(),
    ];
    for sql in &refused_by_init {
        assert!(root.query_drop(sql).is_err(), "{sql} should be refused");
    }
    let null_results = [
        "SELECT dbaudit_log(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)".to_owned(),
        "SELECT dbaudit_log(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)".to_owned(),
        format!("SELECT dbaudit_log({token}, 'd', 't', 'insert', 'u', 1, '', '', 1 AS id)"),
        format!("SELECT dbaudit_log({token}, 'd', 't', 'truncate', 'u', 1, '', '')"),
        format!("SELECT dbaudit_log({token}, 'd', 't', 'insert', 'u', 'not a number', '', '')"),
        format!("SELECT dbaudit_log({token}, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"),
        format!("SELECT dbaudit_log({token}, 'd', 't', 'insert', 'u', 1, '', '', REPEAT('x', 4 << 20) AS `new.big`, 1 AS `old.x`)"),
        "SELECT dbaudit_log(REPEAT('t', 1 << 20), REPEAT('d', 1 << 20), 't', 'insert', 'u', 1, '', '')".to_owned(),
        "SELECT dbaudit_log('dbaudit/2,', 'u', 1)".to_owned(),
        format!("SELECT dbaudit_log({}, 'u', 1)", header("truncate")),
        format!("SELECT dbaudit_log({}, 'u', 1, 1 AS id)", header("insert")),
        format!("SELECT dbaudit_log({wrong}, 'u', 1, 1 AS `new.id`)"),
        "SELECT dbaudit_test_panic()".to_owned(),
    ];
    for sql in &null_results {
        let value: Option<Option<i64>> = root.query_first(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(value, Some(None), "{sql}");
        assert!(server.is_alive(), "mysqld died after {sql}");
    }
    let ok: Option<i64> = root
        .query_first(format!(
            "SELECT dbaudit_log({token}, 'd', 't', 'insert', 'u', 1, '', '', REPEAT('x', 1 << 20) AS `new.big`)"
        ))
        .unwrap()
        .unwrap();
    assert!(ok.is_some(), "a megabyte value with the right token is recorded");
    let ok: Option<i64> = root
        .query_first(format!("SELECT dbaudit_log({}, 'u', 1, REPEAT('y', 1 << 20) AS `new.big`)", header("insert")))
        .unwrap()
        .unwrap();
    assert!(ok.is_some(), "and so is one in protocol 2");
    let version: String = root.query_first("SELECT dbaudit_version()").unwrap().unwrap();
    assert!(version.starts_with("dbaudit_udf "), "{version}");

    let errors = String::from_utf8_lossy(&server.error_log()).into_owned();
    let panics: Vec<_> = errors.lines().filter(|l| l.contains("panic")).collect();
    assert_eq!(panics.len(), 1, "the panic is reported on one line: {errors}");
    assert!(panics[0].starts_with("dbaudit_udf: panic"), "{}", panics[0]);
    assert!(errors.contains("values must be aliased old.<column> or new.<column>"), "{errors}");
    // Forged calls (wrong or NULL token, or no table to check it against) are in the chain;
    // refused ones are not, but the next record written is preceded by one that counts them
    // as lost.
    let records = verified(server.key_hex(), &lines_of(&server.log_path()));
    let forged = records.iter().filter(|r| matches!(r.event, Event::Forged(_))).count();
    assert_eq!(forged, 6);
    let lost: Vec<u64> =
        records.iter().filter_map(|r| if let Event::Lost(l) = &r.event { Some(l.count) } else { None }).collect();
    // Each forged record or the last row is preceded by a count of the refusals before it.
    assert_eq!(lost, [3, 1, 2]);
    assert_eq!(records.len(), 1 + forged + lost.len() + 2);
}

#[test]
fn rename_rotation_mid_stream_loses_nothing_and_keeps_the_chain() {
    let server = MariaDb::start();
    acme_users(&server, false);
    let mut root = server.root();
    let rotated = server.log_path().with_extension("log.1");
    for id in 1..=300 {
        if id == 150 {
            std::fs::rename(server.log_path(), &rotated).unwrap();
        }
        if id == 200 {
            // The UDF looks at the path at most once a second.
            std::thread::sleep(Duration::from_millis(1100));
        }
        root.exec_drop("INSERT INTO acme.users VALUES (?, 'l', 'p')", (id,)).unwrap();
    }
    let (old, new) = (lines_of(&rotated), lines_of(&server.log_path()));
    assert!(!new.is_empty(), "records continue in the new file");
    let records = verified(server.key_hex(), &[old, new].concat());
    assert_eq!(records.len(), 301);
    assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64 && r.epoch == records[0].epoch));
}

#[test]
fn restart_and_crash_start_new_epochs_that_name_the_previous_last_record() {
    let mut server = MariaDb::start();
    acme_users(&server, false);
    server.root().query_drop("INSERT INTO acme.users VALUES (1, 'a', 'b')").unwrap();
    server.restart();
    server.root().query_drop("INSERT INTO acme.users VALUES (2, 'a', 'b')").unwrap();
    server.kill9();
    server.start_again();
    server.root().query_drop("INSERT INTO acme.users VALUES (3, 'a', 'b')").unwrap();

    let records = verified(server.key_hex(), &lines_of(&server.log_path()));
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 0, 1, 0, 1]);
    for start in [2, 4] {
        assert_eq!(records[start].event, Event::Start { prev: Some(records[start - 1].point()) });
        assert_ne!(records[start].epoch, records[start - 1].epoch);
    }
}
