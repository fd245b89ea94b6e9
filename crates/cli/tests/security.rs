//! What an attacker with one odd privilege can do to the audit trail, against a real
//! MariaDB: read a token and forge with it, find it in the binary log, be recorded under a
//! name of their choosing, see reused passwords, or read a timestamp in the wrong zone.

mod common;

use common::{records, rows, sql, text, value, Dbaudit};
use dbaudit_record::{Event, Value};
use dbaudit_tests::{sql_quote_str, MariaDb, Options};
use mysql::prelude::Queryable;

/// The token in the body of one of `table`'s triggers, as an account that may read it sees it.
fn token_in_trigger(conn: &mut mysql::Conn, db: &str, table: &str) -> String {
    let body: String = conn
        .exec_first(
            "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? \
             AND EVENT_OBJECT_TABLE = ? AND EVENT_MANIPULATION = 'INSERT'",
            (db, table),
        )
        .unwrap()
        .unwrap_or_else(|| panic!("the account cannot see {db}.{table}'s trigger"));
    let start = body.find("dbaudit_log('dbaudit/2,").expect("a protocol-2 call") + "dbaudit_log('dbaudit/2,".len();
    body[start..start + 32].to_owned()
}

#[test]
fn a_token_read_from_one_table_forges_nothing_for_another() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)", "CREATE TABLE acme.scratch (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users", "acme.scratch"]).expect(0);
    server.create_user("mallory", "pw", &["TRIGGER ON acme.scratch"]);
    let mut mallory = server.connect_as("mallory", "pw").unwrap();
    let token = token_in_trigger(&mut mallory, "acme", "scratch");

    let forged: Option<Option<i64>> = mallory
        .query_first(format!(
            "SELECT dbaudit_log({}, 'acme', 'users', 'delete', 'victim@localhost', 1, 'id', '', 7 AS `old.id`)",
            sql_quote_str(&token)
        ))
        .unwrap();
    assert_eq!(forged, Some(None), "refused");
    let last = records(&server).pop().unwrap();
    assert!(matches!(&last.event, Event::Forged(c) if c.table == text("users")), "{last:?}");
    // The same in protocol 2: the header names users, with scratch's token.
    let forged: Option<Option<i64>> = mallory
        .query_first(format!(
            "SELECT dbaudit_log({}, 'victim@localhost', 1, 7 AS `old.id`)",
            sql_quote_str(&format!("dbaudit/2,{token},acme,users,delete,id,"))
        ))
        .unwrap();
    assert_eq!(forged, Some(None), "refused");
    let last = records(&server).pop().unwrap();
    assert!(
        matches!(&last.event, Event::Forged(c) if c.table == text("users") && c.user == text("victim@localhost")),
        "{last:?}"
    );
    let verify = Dbaudit::new(&server).args(&["verify", &server.log_path().display().to_string()]).run();
    assert_eq!(verify.code, 1, "a forged record is a finding: {}", verify.stdout);
}

#[test]
fn trigger_statements_stay_out_of_the_binary_log_unless_replicated() {
    let server = MariaDb::start_with(Options {
        server_args: vec!["--log-bin=binlog".into(), "--server-id=1".into()],
        ..Options::default()
    });
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)", "CREATE TABLE acme.orders (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    Dbaudit::new(&server).args(&["watch", "acme.orders", "--replicate"]).expect(0);
    let mut root = server.root();
    let (users, orders) = (token_in_trigger(&mut root, "acme", "users"), token_in_trigger(&mut root, "acme", "orders"));
    let files: Vec<(String, u64)> = root.query("SHOW BINARY LOGS").unwrap();
    let mut events = String::new();
    for (file, _) in files {
        let rows: Vec<mysql::Row> = root.query(format!("SHOW BINLOG EVENTS IN '{file}'")).unwrap();
        for row in rows {
            events.push_str(&row.get::<String, _>("Info").unwrap_or_default());
            events.push('\n');
        }
    }
    assert!(events.contains("CREATE TABLE acme.users"), "the binary log is on: {events}");
    assert!(!events.contains(&users), "a token in the binary log:\n{events}");
    assert!(events.contains(&orders), "--replicate puts the triggers in the binary log");
}

#[test]
fn rotating_the_tokens_keeps_recording_and_retires_the_old_ones() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)", "INSERT INTO acme.users VALUES (1)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    let old = token_in_trigger(&mut server.root(), "acme", "users");
    sql(&server, &["INSERT INTO acme.users VALUES (2)"]);

    let rotated = Dbaudit::new(&server).args(&["watch", "--rotate-token"]).expect(0);
    assert!(rotated.stdout.contains("token generation 1 in force"), "{}", rotated.stdout);
    let new = token_in_trigger(&mut server.root(), "acme", "users");
    assert_ne!(old, new);
    sql(&server, &["INSERT INTO acme.users VALUES (3)"]);
    let replayed: Option<Option<i64>> = server
        .root()
        .query_first(format!(
            "SELECT dbaudit_log({}, 'acme', 'users', 'delete', 'victim@localhost', 1, 'id', '', 7 AS `old.id`)",
            sql_quote_str(&old)
        ))
        .unwrap();
    assert_eq!(replayed, Some(None));
    let ids: Vec<Value> = rows(&server).iter().map(|r| value(&r.new, "id").clone()).collect();
    assert_eq!(ids, [text("2"), text("3")]);
    assert!(matches!(records(&server).pop().unwrap().event, Event::Forged(_)));
    Dbaudit::new(&server).args(&["status"]).expect(0);
}

#[test]
fn an_anonymous_account_is_a_problem_in_status_and_fingerprint() {
    let server = MariaDb::start();
    Dbaudit::new(&server).args(&["status"]).expect(0);
    sql(&server, &["CREATE USER ''@'localhost'"]);
    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("anonymous account ''@'localhost'"), "{}", status.stdout);
    let fingerprint = Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
    assert!(fingerprint.stdout.contains("problem anonymous account ''@'localhost'"), "{}", fingerprint.stdout);
}

#[test]
fn a_secret_dropped_and_added_again_stays_masked_and_masks_differ_by_column() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, pw TEXT, old_pw TEXT)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users", "--secret", "pw", "--secret", "old_pw"]).expect(0);
    sql(&server, &["ALTER TABLE acme.users DROP COLUMN pw", "ALTER TABLE acme.users ADD COLUMN pw TEXT"]);
    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    sql(&server, &["INSERT INTO acme.users (id, pw, old_pw) VALUES (1, 'hunter2', 'hunter2')"]);
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(!log.contains("hunter2"), "{log}");
    let row = rows(&server).pop().unwrap();
    let (pw, old_pw) = (value(&row.new, "pw"), value(&row.new, "old_pw"));
    assert!(matches!(pw, Value::Text(m) if m.starts_with("secret:")), "{pw:?}");
    assert_ne!(pw, old_pw, "one password in two columns must not show as reuse");
}

#[test]
fn a_timestamp_is_recorded_in_utc_whatever_the_writers_time_zone() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.t (id INT PRIMARY KEY, at TIMESTAMP(3) NULL, plain DATETIME)"]);
    Dbaudit::new(&server).args(&["watch", "acme.t"]).expect(0);
    let mut conn = server.root();
    conn.query_drop("SET time_zone = '+02:00'").unwrap();
    conn.query_drop("INSERT INTO acme.t VALUES (1, '2024-01-02 05:04:05.250', '2024-01-02 05:04:05')").unwrap();
    conn.query_drop("SET time_zone = '-05:00'").unwrap();
    conn.query_drop("INSERT INTO acme.t VALUES (2, '2024-01-01 22:04:05.250', NULL)").unwrap();
    conn.query_drop("INSERT INTO acme.t VALUES (3, NULL, NULL)").unwrap();
    let rows = rows(&server);
    assert_eq!(value(&rows[0].new, "at"), &text("2024-01-02 03:04:05.250Z"));
    assert_eq!(value(&rows[1].new, "at"), &text("2024-01-02 03:04:05.250Z"));
    assert_eq!(value(&rows[2].new, "at"), &Value::Null);
    assert_eq!(value(&rows[0].new, "plain"), &text("2024-01-02 05:04:05"), "DATETIME has no zone to convert");
}

#[test]
fn a_lock_the_response_holds_leaves_the_fingerprint_as_it_was() {
    let server = MariaDb::start();
    sql(&server, &["CREATE USER app@localhost IDENTIFIED BY 'pw'", "CREATE USER old@localhost IDENTIFIED BY 'pw'"]);
    let state = server.dir().join("respond-state");
    let cnf = server.dir().join("etc-dbaudit.cnf");
    let text = format!(
        "[client]\nsocket = {}\nuser = root\n[dbaudit]\nstate_dir = {}\n",
        server.socket().display(),
        state.display()
    );
    std::fs::write(&cnf, text).unwrap();
    let fingerprint = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .arg("--defaults-file")
            .arg(&cnf)
            .arg("fingerprint")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let before = fingerprint();
    // What dbaudit-respond does in lock mode: the lock, and its entry in the state.
    sql(&server, &["ALTER USER app@localhost ACCOUNT LOCK"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let account = dbaudit_connect::Account { name: "app".into(), host: "localhost".into() };
    let entry = dbaudit_lockstate::Entry { session: "app@localhost".into(), account, since: "now".into() };
    dbaudit_lockstate::LockState::open(&state, deadline).unwrap().add(entry).unwrap();
    assert_eq!(fingerprint(), before, "the response's own lock is not a change to the setup");
    sql(&server, &["ALTER USER old@localhost ACCOUNT LOCK"]);
    let after = fingerprint();
    assert!(after.contains("account 'old'@'localhost' locked=yes"), "{after}");
    assert!(after.contains("account 'app'@'localhost' locked=no"), "{after}");
}
