//! Watched tables under the operations a busy DBA runs: schema changes while clients write,
//! renames, drop and re-create, system versioning, look-alike names, a log directory that is
//! not there. Nothing may fail a fail-open write, and nothing may go unsaid.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::{records, rows, sql, text, trigger_names, value, Dbaudit};
use dbaudit_record::{Event, Value};
use dbaudit_tests::MariaDb;
use dbaudit_triggers::DRIFT_MESSAGE;
use mysql::prelude::Queryable;

/// ER_NO_SUCH_TABLE: the table is between two names; the client retries, as an application would.
const NO_SUCH_TABLE: u16 = 1146;

/// What one writing client did: its connection id, the row changes that took effect, and
/// every error other than the table being briefly absent.
struct Writer {
    conn: u64,
    changed: u64,
    failures: Vec<String>,
}

/// Inserts, updates and deletes rows of `shop.t` of its own until `stop`, holding `gate` for
/// reading around each statement so that the test can pause every writer at once.
fn write_until(server: &MariaDb, number: i64, stop: Arc<AtomicBool>, gate: Arc<RwLock<()>>) -> Writer {
    let mut conn = server.root();
    let id: u64 = conn.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    let mut writer = Writer { conn: id, changed: 0, failures: Vec::new() };
    let mut live: Vec<i64> = Vec::new();
    let mut next = number * 1_000_000;
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let _open = gate.read().unwrap();
        step += 1;
        let (statement, row) = match (step % 3, live.first().copied()) {
            (1, Some(row)) => ("UPDATE shop.t SET n = n + 1 WHERE id = ?", row),
            (2, Some(row)) => ("DELETE FROM shop.t WHERE id = ?", row),
            _ => {
                next += 1;
                ("INSERT INTO shop.t (id) VALUES (?)", next)
            }
        };
        match conn.exec_drop(statement, (row,)) {
            Ok(()) => {
                let affected = conn.affected_rows();
                writer.changed += affected;
                match statement.as_bytes()[0] {
                    b'I' => live.push(row),
                    // A row gone under TRUNCATE or DROP is not this client's any more.
                    b'D' => live.retain(|r| *r != row),
                    _ if affected == 0 => live.retain(|r| *r != row),
                    _ => {}
                }
            }
            Err(mysql::Error::MySqlError(e)) if e.code == NO_SUCH_TABLE => {}
            Err(e) => writer.failures.push(format!("{statement} ({row}): {e}")),
        }
    }
    writer
}

#[test]
fn schema_changes_under_four_writers_fail_no_write_and_every_write_leaves_a_record() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0, a INT, b INT)"]);
    Dbaudit::new(&server).args(&["watch", "shop.t"]).expect(0);

    let stop = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(RwLock::new(()));
    let outcome = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=4)
            .map(|number| {
                let (stop, gate, server) = (stop.clone(), gate.clone(), &server);
                scope.spawn(move || write_until(server, number, stop, gate))
            })
            .collect();
        let settle = || std::thread::sleep(Duration::from_millis(300));
        settle();
        for ddl in [
            "ALTER TABLE shop.t ADD COLUMN c INT",
            "ALTER TABLE shop.t DROP COLUMN b",
            "ALTER TABLE shop.t RENAME COLUMN a TO a2",
            "RENAME TABLE shop.t TO shop.t_moved",
            "RENAME TABLE shop.t_moved TO shop.t",
            "TRUNCATE TABLE shop.t",
            "ALTER TABLE shop.t ADD SYSTEM VERSIONING",
        ] {
            sql(&server, &[ddl]);
            settle();
        }
        let stale = Dbaudit::new(&server).args(&["status"]).expect(1);
        assert!(stale.stdout.contains("shop.t: the INSERT trigger is altered"), "{}", stale.stdout);
        // Healed while the writers go on: CREATE OR REPLACE TRIGGER waits for their statements.
        Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
        settle();

        let paused = gate.write().unwrap();
        sql(&server, &["DROP TABLE shop.t", "CREATE TABLE shop.t (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0)"]);
        let unwatched = Dbaudit::new(&server).args(&["status"]).expect(1);
        assert!(
            unwatched.stdout.contains("shop.t: in the watch list but has no dbaudit triggers"),
            "{}",
            unwatched.stdout
        );
        let fingerprint = Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
        assert!(fingerprint.stdout.contains("problem shop.t: in the watch list but has no dbaudit triggers"));
        Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
        drop(paused);
        settle();
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<Writer>>()
    });

    let mut recorded: HashMap<u64, u64> = HashMap::new();
    let mut drifts = 0;
    for record in records(&server) {
        match record.event {
            Event::Row(row) if row.db == text("shop") => *recorded.entry(row.conn).or_default() += 1,
            Event::Drift(drift) if drift.db == text("shop") => {
                drifts += 1;
                *recorded.entry(drift.conn).or_default() += 1
            }
            _ => {}
        }
    }
    for writer in &outcome {
        assert!(writer.failures.is_empty(), "fail-open writes failed: {:?}", writer.failures);
        assert!(writer.changed > 0, "writer {} changed nothing", writer.conn);
        assert_eq!(recorded.get(&writer.conn).copied().unwrap_or(0), writer.changed, "writer {}", writer.conn);
    }
    assert!(drifts > 0, "the stale column references were recorded as drift");
    Dbaudit::new(&server).args(&["status"]).expect(0);
}

#[test]
fn a_renamed_table_is_reported_and_followed_by_watch_all() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, login TEXT)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    sql(&server, &["RENAME TABLE acme.users TO acme.people", "INSERT INTO acme.people VALUES (1, 'x')"]);
    assert_eq!(rows(&server)[0].table, text("users"), "the trigger still names the table it was made for");

    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    for expected in [
        "acme.people: its triggers were made for acme.users (renamed?)",
        "acme.users: in the watch list but the table does not exist",
    ] {
        assert!(status.stdout.contains(expected), "{expected}\n{}", status.stdout);
    }
    let healed = Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    assert!(healed.stdout.contains("acme.users: renamed to acme.people"), "{}", healed.stdout);
    sql(&server, &["INSERT INTO acme.people VALUES (2, 'y')"]);
    assert_eq!(rows(&server)[1].table, text("people"));
    Dbaudit::new(&server).args(&["status"]).expect(0);
    assert_eq!(trigger_names(&server, "acme"), ["dbaudit_people_ad", "dbaudit_people_ai", "dbaudit_people_au"]);
}

#[test]
fn a_secret_column_renamed_is_never_recorded_in_clear() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, pw TEXT)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users", "--secret", "pw"]).expect(0);
    sql(
        &server,
        &["ALTER TABLE acme.users RENAME COLUMN pw TO password", "INSERT INTO acme.users VALUES (1, 'hunter2')"],
    );

    for args in [&["watch", "--all"][..], &["watch", "acme.users"]] {
        let refused = Dbaudit::new(&server).args(args).run();
        let said = format!("{}{}", refused.stdout, refused.stderr);
        assert_ne!(refused.code, 0, "{said}");
        assert!(said.contains("secret column pw is gone") && said.contains("--release-secret pw"), "{said}");
    }
    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("secret column pw is gone"), "{}", status.stdout);

    Dbaudit::new(&server).args(&["watch", "acme.users", "--secret", "password", "--release-secret", "pw"]).expect(0);
    sql(&server, &["UPDATE acme.users SET password = 'hunter3' WHERE id = 1"]);
    let log = String::from_utf8(std::fs::read(server.log_path()).unwrap()).unwrap();
    assert!(!log.contains("hunter"), "a secret reached the log in clear:\n{log}");
    let rows = rows(&server);
    assert!(matches!(value(&rows.last().unwrap().new, "password"), Value::Text(m) if m.starts_with("secret:")));
    Dbaudit::new(&server).args(&["status"]).expect(0);
}

#[test]
fn a_system_versioned_table_is_watched_and_blinds_no_other() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(
        &server,
        &["CREATE TABLE acme.prices (id INT PRIMARY KEY, p INT)", "CREATE TABLE acme.users (id INT PRIMARY KEY)"],
    );
    Dbaudit::new(&server).args(&["watch", "acme.prices", "acme.users"]).expect(0);
    sql(&server, &["ALTER TABLE acme.prices ADD SYSTEM VERSIONING", "DROP TRIGGER acme.dbaudit_users_ad"]);

    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("acme.users: the DELETE trigger is missing"), "{}", status.stdout);
    Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    sql(
        &server,
        &["INSERT INTO acme.prices VALUES (1, 10)", "UPDATE acme.prices SET p = 11", "DELETE FROM acme.users"],
    );
    let ops: Vec<_> = rows(&server).iter().map(|r| (r.table.clone(), r.op.as_str())).collect();
    assert_eq!(ops, [(text("prices"), "insert"), (text("prices"), "update")]);
    Dbaudit::new(&server).args(&["status"]).expect(0);
    Dbaudit::new(&server).args(&["unwatch", "acme.prices"]).expect(0);
    assert!(trigger_names(&server, "acme").iter().all(|n| !n.contains("prices")));
}

#[test]
fn tables_whose_names_differ_only_in_case_are_both_watched() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)", "CREATE TABLE acme.Users (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users", "acme.Users"]).expect(0);
    sql(&server, &["INSERT INTO acme.users VALUES (1)", "INSERT INTO acme.Users VALUES (2)"]);
    let tables: Vec<Value> = rows(&server).into_iter().map(|r| r.table).collect();
    assert_eq!(tables, [text("users"), text("Users")]);
    assert_eq!(trigger_names(&server, "acme").len(), 6);
    Dbaudit::new(&server).args(&["status"]).expect(0);
}

#[test]
fn a_missing_log_directory_is_reported_and_the_loss_is_chained_once_it_is_back() {
    let server = MariaDb::start();
    let logs = server.dir().join("logs");
    let config = format!(
        "[dbaudit-udf]\nlog = {}\nkey_file = {}\n",
        logs.join("dbaudit.log").display(),
        server.dir().join("dbaudit.key").display()
    );
    std::fs::write(server.dir().join("dbaudit.cnf"), config).unwrap();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    sql(&server, &["INSERT INTO acme.users VALUES (1)", "INSERT INTO acme.users VALUES (2)"]);

    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    for expected in ["does not exist and mysqld cannot create it", "the UDF cannot write records: 2 lost"] {
        assert!(status.stdout.contains(expected), "{expected}\n{}", status.stdout);
    }
    let fingerprint = Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
    assert!(fingerprint.stdout.contains("udf health state=failing lost=2;"), "{}", fingerprint.stdout);

    std::fs::create_dir(&logs).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    sql(&server, &["INSERT INTO acme.users VALUES (3)"]);
    let text = std::fs::read(logs.join("dbaudit.log")).unwrap();
    let events: Vec<Event> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| dbaudit_record::parse(l).unwrap().event)
        .collect();
    assert!(matches!(&events[1], Event::Lost(lost) if lost.count == 2), "{events:?}");
    assert!(matches!(&events[2], Event::Row(_)));
    let status = Dbaudit::new(&server).args(&["status"]).expect(0);
    assert!(status.stdout.contains("\"lost\":2"), "{}", status.stdout);
}

#[test]
fn a_dropped_column_lets_fail_open_writes_through_and_records_the_drift() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b INT)"]);
    Dbaudit::new(&server).args(&["watch", "shop.t"]).expect(0);
    sql(
        &server,
        &[
            "ALTER TABLE shop.t DROP COLUMN b",
            "INSERT INTO shop.t VALUES (1, 10)",
            "UPDATE shop.t SET a = 11 WHERE id = 1",
            "DELETE FROM shop.t WHERE id = 1",
        ],
    );
    let drifts: Vec<_> = records(&server)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Drift(d) => Some(d),
            _ => None,
        })
        .collect();
    let ops: Vec<&str> = drifts.iter().map(|d| d.row_op.as_str()).collect();
    assert_eq!(ops, ["insert", "update", "delete"]);
    let Value::Text(error) = &drifts[0].error else { panic!("error text") };
    assert!(error.starts_with("1054: ") && error.contains("'b'"), "{error}");
    assert_eq!(drifts[0].table, text("t"));
    assert!(matches!(&drifts[0].user, Value::Text(u) if u.starts_with("root@")));
}

#[test]
fn fail_closed_refuses_a_write_to_a_changed_table_naming_dbaudit_watch_and_records_it() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b INT)", "INSERT INTO shop.t VALUES (1, 10, 20)"]);
    Dbaudit::new(&server).args(&["watch", "shop.t", "--fail-closed"]).expect(0);
    sql(&server, &["ALTER TABLE shop.t RENAME COLUMN b TO c"]);
    let refused = server.root().query_drop("INSERT INTO shop.t VALUES (2, 10, 20)").unwrap_err().to_string();
    assert!(refused.contains(DRIFT_MESSAGE), "{refused}");
    let ids: Vec<i64> = server.root().query("SELECT id FROM shop.t ORDER BY id").unwrap();
    assert_eq!(ids, [1]);
    let last = records(&server).pop().unwrap();
    assert!(matches!(last.event, Event::Drift(ref d) if d.row_op.as_str() == "insert"), "{last:?}");
}

#[test]
fn a_misspelt_setting_of_the_udf_is_a_problem_in_status() {
    let server = MariaDb::start();
    let config = server.dir().join("dbaudit.cnf");
    let text = std::fs::read_to_string(&config).unwrap() + "logfile = /elsewhere/dbaudit.log\n";
    std::fs::write(&config, text).unwrap();
    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("[dbaudit-udf] logfile is not a setting of the UDF"), "{}", status.stdout);
    sql(&server, &["CREATE DATABASE acme", "CREATE TABLE acme.t (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.t"]).expect(0);
    sql(&server, &["INSERT INTO acme.t VALUES (1)"]);
    let errors = String::from_utf8_lossy(&server.error_log()).into_owned();
    assert!(errors.contains("dbaudit_udf: ") && errors.contains("logfile is not a setting"), "{errors}");
}

#[test]
fn a_watched_table_moved_to_another_database_is_a_problem() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    server.fresh_database("archive");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    // MariaDB will not move a table with triggers to another database (ER_TRG_IN_WRONG_SCHEMA) ...
    let refused = server.root().query_drop("RENAME TABLE acme.users TO archive.users").unwrap_err().to_string();
    assert!(refused.contains("1435"), "{refused}");
    // ... so whoever moves it drops the triggers first, and that is what status must not miss.
    sql(
        &server,
        &[
            "DROP TRIGGER acme.dbaudit_users_ai",
            "DROP TRIGGER acme.dbaudit_users_au",
            "DROP TRIGGER acme.dbaudit_users_ad",
            "RENAME TABLE acme.users TO archive.users",
        ],
    );
    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("acme.users: in the watch list but the table does not exist"), "{}", status.stdout);
    let fingerprint = Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
    assert!(fingerprint.stdout.contains("problem acme.users: in the watch list but the table does not exist"));
    let healed = Dbaudit::new(&server).args(&["watch", "--all"]).expect(1);
    assert!(healed.stdout.contains("acme.users: does not exist"), "{}", healed.stdout);
}

/// Triggers made by an earlier dbaudit call the UDF in protocol 1 (eight fixed arguments, a
/// handler with DECLAREd variables). After an upgrade they go on being recorded, with their
/// secrets masked; status says what they are; `watch --all` makes them anew in protocol 2,
/// keeping the secret, and the chain runs on unbroken.
#[test]
fn triggers_of_an_earlier_build_record_until_watch_all_makes_them_anew() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, pw VARCHAR(20))"]);
    let token = dbaudit_tests::sql_quote_str(&server.token_for("shop", "t"));
    for (event, suffix, values) in [
        ("insert", "ai", "NEW.`id` AS `new.id`, NEW.`pw` AS `new.pw`"),
        ("update", "au", "OLD.`id` AS `old.id`, OLD.`pw` AS `old.pw`, NEW.`id` AS `new.id`, NEW.`pw` AS `new.pw`"),
        ("delete", "ad", "OLD.`id` AS `old.id`, OLD.`pw` AS `old.pw`"),
    ] {
        let body = format!(
            "BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN DECLARE dbaudit_errno INT DEFAULT 0; \
             DECLARE dbaudit_error TEXT DEFAULT ''; GET DIAGNOSTICS CONDITION 1 dbaudit_errno = MYSQL_ERRNO, \
             dbaudit_error = MESSAGE_TEXT; BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; \
             SET @dbaudit_drift = dbaudit_log({token}, 'shop', 't', 'drift', USER(), CONNECTION_ID(), '{event}', \
             CONCAT(dbaudit_errno, ': ', dbaudit_error)); END; END; SET @dbaudit_seq = dbaudit_log({token}, \
             'shop', 't', '{event}', USER(), CONNECTION_ID(), 'id', 'pw', {values}); END"
        );
        sql(&server, &[&format!("CREATE TRIGGER shop.dbaudit_t_{suffix} AFTER {event} ON shop.t FOR EACH ROW {body}")]);
    }
    sql(&server, &["INSERT INTO shop.t VALUES (1, 'hunter2')", "UPDATE shop.t SET pw = 'hunter3' WHERE id = 1"]);
    assert_triggers_of_an_earlier_build(&server);

    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    let bodies: Vec<String> = server
        .root()
        .query("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop'")
        .unwrap();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b.contains("dbaudit_log('dbaudit/2,")), "{bodies:?}");
    let status = Dbaudit::new(&server).args(&["status"]).run();
    assert!(!status.stdout.contains("earlier dbaudit"), "{}", status.stdout);
    sql(&server, &["DELETE FROM shop.t WHERE id = 1", "INSERT INTO shop.t VALUES (2, 'hunter4')"]);

    let rows = rows(&server);
    let ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["insert", "update", "delete", "insert"]);
    for row in &rows {
        let side = if row.op.as_str() == "delete" { &row.old } else { &row.new };
        assert!(matches!(value(side, "pw"), Value::Text(t) if t.starts_with("secret:")), "{row:?}");
    }
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(!log.contains("hunter"), "a secret reached the log");
    Dbaudit::new(&server).args(&["verify", &server.log_path().display().to_string()]).expect(0);
}

/// The build before this one made fail-open row calls as `SET @dbaudit_seq = dbaudit_log(…)`.
/// Such triggers are called what they are, not altered, and `watch --all` makes them anew.
#[test]
fn fail_open_triggers_of_the_build_before_are_earlier_not_altered() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20))"]);
    Dbaudit::new(&server).args(&["watch", "shop.t"]).expect(0);
    let triggers: Vec<(String, String, String)> = server
        .root()
        .query(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, ACTION_STATEMENT FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = 'shop'",
        )
        .unwrap();
    assert_eq!(triggers.len(), 3);
    for (name, event, body) in &triggers {
        let start = body.find(" IF dbaudit_log(").unwrap_or_else(|| panic!("no IF row call: {body}"));
        let call = body[start + " IF ".len()..].strip_suffix(" IS NULL THEN BEGIN END; END IF; END").expect("the tail");
        let before = format!("{} SET @dbaudit_seq = {call}; END", &body[..start]);
        sql(
            &server,
            &[&format!("CREATE OR REPLACE TRIGGER shop.{name} AFTER {event} ON shop.t FOR EACH ROW {before}")],
        );
    }
    // They run as they did: the session sees each record's seq.
    let mut conn = server.root();
    conn.query_drop("INSERT INTO shop.t VALUES (1, 'a')").unwrap();
    conn.query_drop("UPDATE shop.t SET v = 'b' WHERE id = 1").unwrap();
    let seq: Option<i64> = conn.query_first("SELECT @dbaudit_seq").unwrap().unwrap();
    assert_eq!(seq, Some(2), "the start record is 0, the insert 1");
    assert_triggers_of_an_earlier_build(&server);

    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    let status = Dbaudit::new(&server).args(&["status"]).run();
    assert!(!status.stdout.contains("earlier dbaudit"), "{}", status.stdout);
    conn.query_drop("DELETE FROM shop.t WHERE id = 1").unwrap();
    let seq: Option<i64> = conn.query_first("SELECT @dbaudit_seq").unwrap().unwrap();
    assert_eq!(seq, Some(2), "made anew, the row call sets no variable");
    let ops: Vec<String> = rows(&server).iter().map(|r| r.op.as_str().to_owned()).collect();
    assert_eq!(ops, ["insert", "update", "delete"]);
    Dbaudit::new(&server).args(&["verify", &server.log_path().display().to_string()]).expect(0);
}

/// A column added, then the triggers made again: their header stays the same (same key and
/// secrets), so the UDF, which keeps what a header's first call said of each value, must see
/// the new columns and take them up. Every record after shows them, a secret stays masked,
/// an update's `changed` names what changed; the same when the column goes again.
#[test]
fn a_column_added_and_the_triggers_made_again_are_recorded_with_it() {
    let server = MariaDb::start();
    server.fresh_database("shop");
    sql(&server, &["CREATE TABLE shop.t (id INT PRIMARY KEY, pw VARCHAR(20), note VARCHAR(20))"]);
    Dbaudit::new(&server).args(&["watch", "shop.t", "--secret", "pw"]).expect(0);
    let insert_header = || -> String {
        let body: String = server
            .root()
            .query_first("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = 'dbaudit_t_ai'")
            .unwrap()
            .unwrap();
        let start = body.find("IF dbaudit_log('").expect("the row call") + "IF dbaudit_log('".len();
        body[start..start + body[start..].find('\'').unwrap()].to_owned()
    };
    let before = insert_header();
    // The UDF learns the header from these.
    sql(&server, &["INSERT INTO shop.t VALUES (1, 'hunter1', 'a')", "UPDATE shop.t SET note = 'b' WHERE id = 1"]);

    sql(&server, &["ALTER TABLE shop.t ADD COLUMN city VARCHAR(20) AFTER pw"]);
    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    assert_eq!(insert_header(), before, "the header is the same, only the columns differ");
    sql(
        &server,
        &[
            "INSERT INTO shop.t VALUES (2, 'hunter2', 'Oslo', 'c')",
            "UPDATE shop.t SET city = 'Rome' WHERE id = 2",
            "UPDATE shop.t SET pw = 'hunter3', note = 'd' WHERE id = 2",
            "DELETE FROM shop.t WHERE id = 1",
        ],
    );
    let rows = rows(&server);
    assert_eq!(rows.len(), 6);
    let names = |columns: &Option<Vec<dbaudit_record::Column>>| -> Vec<String> {
        columns.as_ref().map(|c| c.iter().map(|c| c.name.clone()).collect()).unwrap_or_default()
    };
    assert_eq!(names(&rows[0].new), ["id", "pw", "note"]);
    assert_eq!(names(&rows[2].new), ["id", "pw", "city", "note"]);
    assert_eq!(value(&rows[2].new, "city"), &text("Oslo"));
    assert_eq!(rows[3].changed.as_deref(), Some(&["city".to_owned()][..]));
    assert_eq!((value(&rows[3].old, "city"), value(&rows[3].new, "city")), (&text("Oslo"), &text("Rome")));
    assert_eq!(rows[4].changed.as_deref(), Some(&["pw".to_owned(), "note".to_owned()][..]));
    assert!(matches!(value(&rows[4].new, "pw"), Value::Text(m) if m.starts_with("secret:")));
    assert_eq!(names(&rows[5].old), ["id", "pw", "city", "note"]);
    assert_eq!(value(&rows[5].old, "city"), &Value::Null, "row 1 had no city");

    sql(&server, &["ALTER TABLE shop.t DROP COLUMN city"]);
    Dbaudit::new(&server).args(&["watch", "--all"]).expect(0);
    sql(&server, &["INSERT INTO shop.t VALUES (3, 'hunter4', 'e')"]);
    assert_eq!(names(&common::rows(&server)[6].new), ["id", "pw", "note"]);
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(!log.contains("hunter"), "a secret reached the log in clear");
    Dbaudit::new(&server).args(&["verify", &server.log_path().display().to_string()]).expect(0);
}

/// `dbaudit status` exits 1 and names each of shop.t's triggers as made by an earlier build,
/// none as altered.
fn assert_triggers_of_an_earlier_build(server: &MariaDb) {
    let status = Dbaudit::new(server).args(&["status"]).expect(1);
    for event in ["INSERT", "UPDATE", "DELETE"] {
        let line =
            format!("shop.t: the {event} trigger is from an earlier dbaudit, or altered: run `dbaudit watch --all`");
        assert!(status.stdout.contains(&line), "{line}\n{}", status.stdout);
    }
    assert!(!status.stdout.contains("trigger is altered"), "{}", status.stdout);
}
