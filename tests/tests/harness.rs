//! The harness itself: a private server starts, answers, survives `kill -9`, and goes away.

use std::path::Path;

use dbaudit_tests::{MariaDb, Options};
use mysql::prelude::Queryable;

fn without_udf() -> Options {
    Options { load_udf: false, ..Options::default() }
}

#[test]
fn server_starts_and_answers() {
    let server = MariaDb::start_with(without_udf());
    let version: String = server.root().query_first("SELECT VERSION()").unwrap().unwrap();
    assert!(version.contains("MariaDB"), "{version}");
    assert!(server.is_alive());
}

#[test]
fn udf_functions_are_created_and_survive_a_restart() {
    let mut server = MariaDb::start();
    let functions: Vec<String> = server.root().query("SELECT name FROM mysql.func ORDER BY name").unwrap();
    assert_eq!(functions, ["dbaudit_health", "dbaudit_log", "dbaudit_test_panic", "dbaudit_version"]);

    server.restart();

    let version: Option<String> = server.root().query_first("SELECT dbaudit_version()").unwrap();
    assert!(version.is_some_and(|v| !v.is_empty()));
    assert_eq!(server.token_for("acme", "users").len(), 32);
}

#[test]
fn kill9_and_start_again_keeps_data() {
    let mut server = MariaDb::start_with(without_udf());
    let db = server.fresh_database("acme");
    let mut root = server.root();
    root.query_drop(format!("CREATE TABLE {db}.users (id INT PRIMARY KEY, login TEXT)")).unwrap();
    root.query_drop(format!("INSERT INTO {db}.users VALUES (7, 'xavier')")).unwrap();
    drop(root);
    let first_pid = server.pid();

    server.kill9();
    assert!(!server.is_alive());
    server.start_again();

    assert_ne!(server.pid(), first_pid);
    let login: Option<String> =
        server.root().query_first(format!("SELECT login FROM {db}.users WHERE id = 7")).unwrap();
    assert_eq!(login.as_deref(), Some("xavier"));
}

#[test]
fn restart_keeps_data() {
    let mut server = MariaDb::start_with(without_udf());
    let db = server.fresh_database("acme");
    server.root().query_drop(format!("CREATE TABLE {db}.t (id INT PRIMARY KEY)")).unwrap();

    server.restart();

    let tables: Vec<String> = server.root().query(format!("SHOW TABLES FROM {db}")).unwrap();
    assert_eq!(tables, ["t"]);
}

#[test]
fn created_user_connects_with_its_password_only() {
    let server = MariaDb::start_with(without_udf());
    let db = server.fresh_database("we`ird db");
    let account = server.create_user(
        "o'brien\\",
        "pa'ss\\word",
        &[&format!("SELECT ON {}.*", dbaudit_tests::sql_quote_ident(&db))],
    );
    assert_eq!(account, "o'brien\\@localhost");

    let mut conn = server.connect_as("o'brien\\", "pa'ss\\word").unwrap();
    let user: String = conn.query_first("SELECT USER()").unwrap().unwrap();
    assert_eq!(user, account);
    assert!(server.connect_as("o'brien\\", "wrong").is_err());
}

#[test]
fn dropping_the_server_stops_it_and_removes_its_directory() {
    let server = MariaDb::start_with(without_udf());
    let pid = server.pid();
    let dir = server.dir().to_path_buf();

    drop(server);

    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "mariadbd {pid} still runs");
    if std::env::var_os("DBAUDIT_KEEP_TMP").is_none() {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}
