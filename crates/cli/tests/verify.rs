//! `dbaudit verify`, the real binary, on input that holds no record at all: it must say so
//! and fail, never report a clean log. Records come from a real, private MariaDB.

use std::path::Path;
use std::process::Command;

use dbaudit_tests::MariaDb;
use mysql::prelude::Queryable;

/// `dbaudit verify <logs>` with the server's key: exit code, stdout, stderr.
fn verify(server: &MariaDb, logs: &[&Path]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
        .arg("--key-file")
        .arg(server.dir().join("dbaudit.key"))
        .arg("verify")
        .args(logs)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[test]
fn input_without_a_record_fails_and_says_so_instead_of_clean() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    let mut root = server.root();
    root.query_drop("CREATE TABLE acme.users (id INT PRIMARY KEY)").unwrap();
    let watched = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
        .args(["--defaults-file", "/dev/null", "--user", "root", "--socket"])
        .arg(server.socket())
        .args(["watch", "acme.users"])
        .env("DBAUDIT_UDF_CONFIG", server.dir().join("dbaudit.cnf"))
        .output()
        .unwrap();
    assert!(watched.status.success(), "{}", String::from_utf8_lossy(&watched.stderr));
    root.query_drop("INSERT INTO acme.users VALUES (1)").unwrap();

    let file = |name: &str, bytes: &[u8]| {
        let path = server.dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let empty = file("empty.log", b"");
    let zeros = file("zeros.log", &[0; 4096]);
    let half = file("half.log", b"{\"v\":1,\"epoch\":\"9f2c");
    for (paths, says) in [
        (vec![empty.as_path()], vec!["empty.log (empty)"]),
        (vec![zeros.as_path()], vec!["zeros.log (4096 NUL bytes)"]),
        (vec![half.as_path()], vec!["half.log (20 bytes, no whole record)"]),
        (vec![empty.as_path(), zeros.as_path()], vec!["empty.log (empty)", "zeros.log (4096 NUL bytes)"]),
    ] {
        let (code, stdout, stderr) = verify(&server, &paths);
        assert_eq!(code, 2, "{paths:?}\nstdout: {stdout}\nstderr: {stderr}");
        assert!(!stdout.contains("clean"), "{paths:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("dbaudit: no dbaudit record in ") && stderr.contains("nothing was verified"));
        for said in says {
            assert!(stderr.contains(said), "{said:?} not in {stderr}");
        }
    }

    // A log with records beside an empty one is checked as before.
    let (code, stdout, stderr) = verify(&server, &[&empty, &server.log_path()]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.starts_with("2 records in 2 files") && stdout.ends_with("clean\n"), "{stdout}");
}
