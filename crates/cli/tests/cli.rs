//! The real `dbaudit` binary against a real, private MariaDB (tests/ harness).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{rows, sql, text, trigger_names, value, Dbaudit, Run};
use dbaudit_record::{Column, Value};
use dbaudit_tests::{MariaDb, Options};
use mysql::prelude::Queryable;

#[test]
fn awkward_table_is_watched_and_every_value_recorded() {
    let server = MariaDb::start();
    server.fresh_database("shop-db");
    sql(
        &server,
        &[
            "CREATE TABLE `shop-db`.`weird``tab le` (
                `select` INT NOT NULL, `ünï cødé` VARCHAR(20) CHARACTER SET latin1, `a,b\\c` TEXT,
                `back``tick` BLOB, doc JSON, price DECIMAL(10,2), at DATETIME(6), `where` POINT,
                twice DECIMAL(11,2) AS (price * 2) VIRTUAL, `password` CHAR(20),
                PRIMARY KEY (`select`, `a,b\\c`(10)))",
            "CREATE USER app@localhost IDENTIFIED BY 'pw'",
        ],
    );
    let run = Dbaudit::new(&server).args(&["watch", "`shop-db`.`weird``tab le`", "--secret", "PASSWORD"]).expect(0);
    assert!(
        run.stdout.contains("key select,a,b\\c (primary)") && run.stdout.contains("secret password"),
        "{}",
        run.stdout
    );
    sql(
        &server,
        &[
            "INSERT INTO `shop-db`.`weird``tab le` (`select`, `ünï cødé`, `a,b\\c`, `back``tick`, doc, price, at, `where`, password)
             VALUES (1, 'ça', 'k', X'FF00', '{\"a\": [1]}', 12.5, '2024-01-02 03:04:05.000006', POINT(1, 2), 'hunter2')",
            "UPDATE `shop-db`.`weird``tab le` SET price = 13, password = 'hunter3' WHERE `select` = 1",
            "DELETE FROM `shop-db`.`weird``tab le`",
        ],
    );
    let rows = rows(&server);
    assert_eq!(rows.iter().map(|r| r.op.as_str()).collect::<Vec<_>>(), ["insert", "update", "delete"]);
    let insert = &rows[0];
    assert_eq!((&insert.db, &insert.table), (&text("shop-db"), &text("weird`tab le")));
    assert_eq!(insert.pk.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["select", "a,b\\c"]);
    assert_eq!(value(&insert.new, "ünï cødé"), &text("ça"), "latin1 converted to UTF-8");
    assert_eq!(value(&insert.new, "back`tick"), &Value::Bytes(vec![0xff, 0]));
    assert_eq!(value(&insert.new, "doc"), &text("{\"a\": [1]}"));
    assert_eq!(value(&insert.new, "price"), &text("12.50"));
    assert_eq!(value(&insert.new, "at"), &text("2024-01-02 03:04:05.000006"));
    assert_eq!(value(&insert.new, "where"), &text("POINT(1 2)"));
    assert_eq!(value(&insert.new, "twice"), &text("25.00"), "generated columns are recorded");
    assert!(matches!(value(&insert.new, "password"), Value::Text(m) if m.starts_with("secret:")));
    assert_eq!(rows[1].changed, Some(vec!["price".to_owned(), "twice".to_owned(), "password".to_owned()]));
    assert_eq!(rows[2].new, None);
}

#[test]
fn keyless_wide_and_long_named_tables_are_watched() {
    let server = MariaDb::start();
    server.fresh_database("w");
    let columns: Vec<String> = (0..100).map(|i| format!("`c{i}` INT DEFAULT {i}")).collect();
    let long = "t".repeat(64);
    sql(
        &server,
        &[
            &format!("CREATE TABLE w.wide (id INT PRIMARY KEY, {})", columns.join(", ")),
            "CREATE TABLE w.nokey (a INT, b TEXT)",
            "CREATE TABLE w.uniq (a INT NOT NULL, b INT, UNIQUE KEY ua (a))",
            &format!("CREATE TABLE w.{long} (id INT PRIMARY KEY)"),
        ],
    );
    let run = Dbaudit::new(&server).args(&["watch", "w.wide", "w.nokey", "w.uniq", &format!("w.{long}")]).expect(0);
    assert!(run.stdout.contains("w.nokey: watched (2 columns; no key"), "{}", run.stdout);
    assert!(run.stdout.contains("key a (unique key ua"), "{}", run.stdout);
    assert!(trigger_names(&server, "w").iter().all(|n| n.chars().count() <= 64));
    sql(
        &server,
        &[
            "INSERT INTO w.wide (id) VALUES (1)",
            "INSERT INTO w.nokey VALUES (1, 'x')",
            "INSERT INTO w.uniq VALUES (5, 6)",
            &format!("INSERT INTO w.{long} VALUES (9)"),
        ],
    );
    let rows = rows(&server);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].new.as_ref().unwrap().len(), 101);
    assert_eq!(value(&rows[0].new, "c99"), &text("99"));
    assert!(rows[1].pk.is_empty());
    assert_eq!(rows[2].pk, vec![Column { name: "a".into(), value: text("5") }]);
    assert_eq!(rows[3].table, text(&long));
}

#[test]
fn watch_is_idempotent_print_changes_nothing_and_their_triggers_keep_working() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(
        &server,
        &[
            "CREATE TABLE acme.users (id INT PRIMARY KEY, login CHAR(20), password CHAR(20))",
            "CREATE TABLE acme.counter (n INT)",
            "INSERT INTO acme.counter VALUES (0)",
            "CREATE TRIGGER acme.theirs AFTER INSERT ON acme.users FOR EACH ROW UPDATE acme.counter SET n = n + 1",
        ],
    );
    let printed = Dbaudit::new(&server).args(&["watch", "acme.users", "--print", "--fail-closed"]).expect(0);
    assert!(
        printed.stdout.contains("DELIMITER ;;\nCREATE TRIGGER `acme`.`dbaudit_users_ai` AFTER INSERT"),
        "{}",
        printed.stdout
    );
    assert_eq!(trigger_names(&server, "acme"), ["theirs"], "--print changed nothing");

    Dbaudit::new(&server).args(&["watch", "acme.users", "--secret", "password", "--fail-closed"]).expect(0);
    let created: Vec<(String, String)> =
        server.root().query("SELECT TRIGGER_NAME, CAST(CREATED AS CHAR(30)) FROM information_schema.TRIGGERS").unwrap();
    let again = Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    assert!(again.stdout.contains("already watched, triggers up to date"), "{}", again.stdout);
    assert!(again.stdout.contains("secret password; fail-closed"), "secret and mode are kept: {}", again.stdout);
    let after: Vec<(String, String)> =
        server.root().query("SELECT TRIGGER_NAME, CAST(CREATED AS CHAR(30)) FROM information_schema.TRIGGERS").unwrap();
    assert_eq!(created, after, "an idempotent re-run touches nothing");

    sql(&server, &["INSERT INTO acme.users VALUES (1, 'a', 'b')"]);
    let n: i64 = server.root().query_first("SELECT n FROM acme.counter").unwrap().unwrap();
    assert_eq!(n, 1, "their trigger still fires");
    assert_eq!(rows(&server).len(), 1, "and ours records");

    // A new column: the triggers differ from what watch generates, until it is re-run.
    sql(&server, &["ALTER TABLE acme.users ADD COLUMN email VARCHAR(50)"]);
    let status = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(status.stdout.contains("altered"), "{}", status.stdout);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    let status = Dbaudit::new(&server).args(&["status", "--json"]).expect(0);
    assert!(
        status.stdout.contains("\"insert\":\"ok\",\"update\":\"ok\",\"delete\":\"ok\",\"other_triggers\":1"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("\"last_record\":{\"epoch\":"), "{}", status.stdout);
    sql(&server, &["INSERT INTO acme.users VALUES (2, 'c', 'd', 'e@x')"]);
    assert_eq!(value(&rows(&server)[1].new, "email"), &text("e@x"));

    let unwatch = Dbaudit::new(&server).args(&["unwatch", "acme.users"]).expect(0);
    assert!(
        unwatch.stdout.contains("dropped dbaudit_users_ad, dbaudit_users_ai, dbaudit_users_au"),
        "{}",
        unwatch.stdout
    );
    assert_eq!(trigger_names(&server, "acme"), ["theirs"]);
    sql(&server, &["INSERT INTO acme.users VALUES (3, 'e', 'f', NULL)"]);
    let n: i64 = server.root().query_first("SELECT n FROM acme.counter").unwrap().unwrap();
    assert_eq!(n, 3, "their trigger survives unwatch");
    assert_eq!(rows(&server).len(), 2);
}

#[test]
fn status_reports_udf_log_last_record_and_missing_triggers() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, login CHAR(20))"]);
    let empty = Dbaudit::new(&server).args(&["status"]).expect(0);
    assert!(empty.stdout.contains("none watched") && empty.stdout.contains("dbaudit_udf "), "{}", empty.stdout);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    sql(&server, &["INSERT INTO acme.users VALUES (1, 'a')", "INSERT INTO acme.users VALUES (2, 'b')"]);
    let ok = Dbaudit::new(&server).args(&["status"]).expect(0);
    assert!(ok.stdout.contains("last:    seq 2 of epoch"), "{}", ok.stdout);
    assert!(ok.stdout.contains(&server.log_path().display().to_string()), "{}", ok.stdout);
    assert!(ok.stdout.contains("acme.users  ok         ok         ok         0"), "{}", ok.stdout);
    sql(&server, &["DROP TRIGGER acme.dbaudit_users_au"]);
    let missing = Dbaudit::new(&server).args(&["status"]).expect(1);
    assert!(missing.stdout.contains("the UPDATE trigger is missing"), "{}", missing.stdout);
}

#[test]
fn fingerprint_is_stable_and_changes_with_each_security_relevant_change() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, login CHAR(20))"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    let fingerprint = || {
        let run = Dbaudit::new(&server).args(&["fingerprint"]).expect(0);
        assert!(run.stdout.len() < 5_000, "{}", run.stdout.len());
        assert!(run.stdout.lines().all(|l| l.len() < 200), "{}", run.stdout);
        run.stdout
    };
    let first = fingerprint();
    assert!(first.contains("trigger acme.users dbaudit_users_ai AFTER INSERT"), "{first}");
    assert_eq!(fingerprint(), first, "stable when nothing changed");
    let mut previous = first;
    for change in [
        "DROP TRIGGER acme.dbaudit_users_au",
        "ALTER TABLE acme.users ADD COLUMN email TEXT",
        "CREATE USER mallory@localhost IDENTIFIED BY 'm'",
        "GRANT SELECT ON acme.* TO mallory@localhost",
        "ALTER USER mallory@localhost ACCOUNT LOCK",
        "DROP FUNCTION dbaudit_version",
    ] {
        sql(&server, &[change]);
        let now = fingerprint();
        assert_ne!(now, previous, "unchanged after {change}");
        let changed = now.lines().filter(|l| !previous.lines().any(|p| p == *l)).count();
        assert!(changed <= 2, "{change} changed {changed} lines:\n{now}");
        previous = now;
    }
    assert!(previous.contains("account 'mallory'@'localhost' locked=yes"), "{previous}");
}

#[test]
fn verify_exit_codes_follow_what_was_done_to_the_log() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY, login CHAR(20))"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    for id in 1..=5 {
        sql(&server, &[&format!("INSERT INTO acme.users VALUES ({id}, 'x')")]);
    }
    let log = server.log_path();
    let clean = Dbaudit::new(&server).args(&["verify", log.to_str().unwrap()]).expect(0);
    assert!(
        clean.stdout.contains("6 records in 1 file: 1 epochs, 0 gaps") && clean.stdout.ends_with("clean\n"),
        "{}",
        clean.stdout
    );

    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    let altered = |name: &str, lines: Vec<String>| -> PathBuf {
        let path = server.dir().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let mut deleted = lines.clone();
    deleted.remove(3);
    let edited: Vec<String> = lines.iter().map(|l| l.replace("\"id\":\"2\"", "\"id\":\"9\"")).collect();
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    let mut inserted = lines.clone();
    inserted.insert(4, lines[4].replace("\"x\"", "\"y\""));
    for (name, copy, finding) in [
        ("deleted.log", deleted, "gap"),
        ("edited.log", edited, "mac"),
        ("swapped.log", swapped, "order"),
        ("inserted.log", inserted, "mac"),
    ] {
        let path = altered(name, copy);
        let run = Dbaudit::new(&server).args(&["verify", path.to_str().unwrap()]).expect(1);
        assert!(
            run.stdout.contains(&format!("{name}:")) && run.stdout.contains(&format!(": {finding}: ")),
            "{name}: {}",
            run.stdout
        );
        assert!(run.stdout.ends_with("TAMPERED\n"), "{}", run.stdout);
    }

    let tail = altered("tail.log", lines[3..].to_vec());
    let run = Dbaudit::new(&server).args(&["verify", tail.to_str().unwrap()]).expect(0);
    assert!(run.stdout.starts_with("warning: ") && run.stdout.contains("begins at seq 3"), "{}", run.stdout);
    let (head, rest) = (altered("head.log", lines[..3].to_vec()), altered("rest.log", lines[3..].to_vec()));
    Dbaudit::new(&server).args(&["verify", head.to_str().unwrap(), rest.to_str().unwrap()]).expect(0);
    Dbaudit::new(&server).args(&["verify", rest.to_str().unwrap(), head.to_str().unwrap()]).expect(1);

    server.create_user("mallory", "m", &[]);
    let mut mallory = server.connect_as("mallory", "m").unwrap();
    let _: Option<Option<i64>> =
        mallory.query_first("SELECT dbaudit_log('x', 'acme', 'users', 'delete', 'root@localhost', 1, '', '')").unwrap();
    let forged = Dbaudit::new(&server).args(&["verify", log.to_str().unwrap()]).expect(1);
    assert!(
        forged.stdout.contains("1 forged calls") && forged.stdout.contains("claimed table acme.users"),
        "{}",
        forged.stdout
    );

    let missing = Dbaudit::new(&server).args(&["verify", "/nonexistent/dbaudit.log"]).expect(2);
    assert!(missing.stderr.contains("/nonexistent/dbaudit.log"), "{}", missing.stderr);
    let junk = altered("junk.log", vec!["hello".into()]);
    Dbaudit::new(&server).args(&["verify", junk.to_str().unwrap()]).expect(2);
}

/// One line on stderr, exit 2, naming `what`.
fn assert_clear_error(run: &Run, what: &[&str]) {
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    for w in what {
        assert!(run.stderr.contains(w), "{w:?} not in {}", run.stderr);
    }
}

#[test]
fn failures_are_one_clear_line() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    assert_clear_error(&Dbaudit::new(&server).args(&["watch", "acme.nope"]).run(), &["acme.nope", "does not exist"]);
    assert_clear_error(
        &Dbaudit::new(&server).args(&["watch", "acme.users", "--secret", "pasword"]).run(),
        &["--secret pasword", "no such column"],
    );
    server.create_user("admin", "right", &["ALL ON *.*"]);
    assert_clear_error(
        &Dbaudit::new(&server).args(&["status", "--user", "admin", "--password", "wrong"]).run(),
        &["access denied", "admin", "password"],
    );
    assert_clear_error(
        &Dbaudit::new(&server).args(&["watch", "acme.users", "--key-file", "/nonexistent/dbaudit.key"]).run(),
        &["/nonexistent/dbaudit.key", "dbaudit install"],
    );
    assert_clear_error(
        &Dbaudit::new(&server).args(&["status", "--socket", "/nonexistent/mysqld.sock"]).run(),
        &["cannot reach the server", "/nonexistent/mysqld.sock"],
    );
    assert_clear_error(&Dbaudit::new(&server).args(&["watch", "users"]).run(), &["DB.TABLE"]);
    assert!(trigger_names(&server, "acme").is_empty(), "nothing was created by a failed watch");

    let bare = MariaDb::start_with(Options { load_udf: false, ..Options::default() });
    bare.fresh_database("acme");
    sql(&bare, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    assert_clear_error(
        &Dbaudit::new(&bare).args(&["watch", "acme.users"]).run(),
        &["UDF is not loaded", "dbaudit install"],
    );
    assert!(trigger_names(&bare, "acme").is_empty());
    let status = Dbaudit::new(&bare).args(&["status"]).expect(1);
    assert!(status.stdout.contains("not loaded"), "{}", status.stdout);
    let help = Command::new(env!("CARGO_BIN_EXE_dbaudit")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit status:"));
}

#[test]
fn fail_closed_trigger_refuses_writes_the_log_cannot_take() {
    let server =
        MariaDb::start_with(Options { log: Some("/nonexistent-dbaudit-dir/dbaudit.log".into()), ..Options::default() });
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users", "--fail-closed"]).expect(0);
    let err = server.root().query_drop("INSERT INTO acme.users VALUES (1)").unwrap_err();
    assert!(err.to_string().contains("audit record not written"), "{err}");
    Dbaudit::new(&server).args(&["watch", "acme.users", "--fail-open"]).expect(0);
    server.root().query_drop("INSERT INTO acme.users VALUES (1)").unwrap();
}

/// Commas and backslashes in the database's and the table's names travel inside the
/// protocol-2 header, escaped: records name the table exactly, and status finds its
/// triggers unaltered.
#[test]
fn names_with_commas_and_backslashes_survive_the_header() {
    let server = MariaDb::start();
    server.fresh_database("d,b\\1");
    sql(&server, &["CREATE TABLE `d,b\\1`.`t,a\\b` (id INT PRIMARY KEY, `c,d` VARCHAR(10))"]);
    Dbaudit::new(&server).args(&["watch", "`d,b\\1`.`t,a\\b`", "--secret", "c,d"]).expect(0);
    sql(&server, &["INSERT INTO `d,b\\1`.`t,a\\b` VALUES (1, 'x')", "UPDATE `d,b\\1`.`t,a\\b` SET `c,d` = 'y'"]);
    let rows = rows(&server);
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!((&row.db, &row.table), (&text("d,b\\1"), &text("t,a\\b")));
        assert!(matches!(value(&row.new, "c,d"), Value::Text(t) if t.starts_with("secret:")), "{row:?}");
    }
    let status = Dbaudit::new(&server).args(&["status"]).run();
    assert!(
        status.stdout.contains("d,b\\1.t,a\\b") || status.stdout.contains("`d,b\\1`.`t,a\\b`"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("altered"), "{}{}", status.stdout, status.stderr);
}
