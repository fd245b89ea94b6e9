//! `dbaudit verify`, the real binary, on input that holds no record at all: it must say so
//! and fail, never report a clean log. Records come from a real, private MariaDB.

mod common;

use common::{sql, Dbaudit};
use dbaudit_tests::MariaDb;

#[test]
fn input_without_a_record_fails_and_says_so_instead_of_clean() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    sql(&server, &["CREATE TABLE acme.users (id INT PRIMARY KEY)"]);
    Dbaudit::new(&server).args(&["watch", "acme.users"]).expect(0);
    sql(&server, &["INSERT INTO acme.users VALUES (1)"]);

    let file = |name: &str, bytes: &[u8]| {
        let path = server.dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let empty = file("empty.log", b"");
    let zeros = file("zeros.log", &[0; 4096]);
    let half = file("half.log", b"{\"v\":1,\"epoch\":\"9f2c");
    for (paths, says) in [
        (vec![empty.as_str()], vec!["empty.log (empty)"]),
        (vec![zeros.as_str()], vec!["zeros.log (4096 NUL bytes)"]),
        (vec![half.as_str()], vec!["half.log (20 bytes, no whole record)"]),
        (vec![empty.as_str(), zeros.as_str()], vec!["empty.log (empty)", "zeros.log (4096 NUL bytes)"]),
    ] {
        let run = Dbaudit::new(&server).args(&["verify"]).args(&paths).expect(2);
        assert!(!run.stdout.contains("clean"), "{paths:?}: {}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(
            run.stderr.starts_with("dbaudit: no dbaudit record in ") && run.stderr.contains("nothing was verified")
        );
        for said in says {
            assert!(run.stderr.contains(said), "{said:?} not in {}", run.stderr);
        }
    }

    // A log with records beside an empty one is checked as before.
    let log = server.log_path().display().to_string();
    let run = Dbaudit::new(&server).args(&["verify", &empty, &log]).expect(0);
    assert!(run.stdout.starts_with("2 records in 2 files") && run.stdout.ends_with("clean\n"), "{}", run.stdout);
}
