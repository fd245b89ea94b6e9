//! Schema changes under watched tables: a trigger that names a column the table no longer
//! has must never fail a fail-open write, and must leave a record of the change either way.

use dbaudit_cli::server::Flavour;
use dbaudit_cli::table::TableName;
use dbaudit_cli::triggers::DRIFT_MESSAGE;
use dbaudit_cli::watch::{watch_table, WatchRequest};
use dbaudit_record::{Event, Key, Op, Record, Value, Verifier};
use dbaudit_tests::MariaDb;
use mysql::prelude::Queryable;

fn watch(server: &MariaDb, db: &str, table: &str, fail_closed: bool) {
    let request = WatchRequest { fail_closed: Some(fail_closed), ..WatchRequest::default() };
    watch_table(&mut server.root(), Flavour::MariaDb, &TableName::new(db, table), &server.tokens(), &request)
        .unwrap_or_else(|e| panic!("watch {db}.{table}: {e}"));
}

fn records(server: &MariaDb) -> Vec<Record> {
    let text = std::fs::read(server.log_path()).unwrap_or_default();
    let mut verifier = Verifier::new(Key::from_hex(server.key_hex()).unwrap());
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let verdict = verifier.check(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            assert_eq!(verdict.tamper, None);
            verdict.record
        })
        .collect()
}

#[test]
fn a_dropped_column_lets_fail_open_writes_through_and_records_the_drift() {
    let server = MariaDb::start();
    let mut root = server.root();
    server.fresh_database("shop");
    root.query_drop("CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b INT)").unwrap();
    watch(&server, "shop", "t", false);
    root.query_drop("ALTER TABLE shop.t DROP COLUMN b").unwrap();
    root.query_drop("INSERT INTO shop.t VALUES (1, 10)").unwrap();
    root.query_drop("UPDATE shop.t SET a = 11 WHERE id = 1").unwrap();
    root.query_drop("DELETE FROM shop.t WHERE id = 1").unwrap();

    let drifts: Vec<_> = records(&server)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Drift(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(drifts.iter().map(|d| d.row_op).collect::<Vec<_>>(), [Op::Insert, Op::Update, Op::Delete]);
    let Value::Text(error) = &drifts[0].error else { panic!("error text") };
    assert!(error.starts_with("1054: ") && error.contains("'b'"), "{error}");
    assert_eq!(drifts[0].table, Value::Text("t".into()));
    assert!(matches!(&drifts[0].user, Value::Text(u) if u.starts_with("root@")));
}

#[test]
fn fail_closed_refuses_a_write_to_a_changed_table_naming_dbaudit_watch_and_records_it() {
    let server = MariaDb::start();
    let mut root = server.root();
    server.fresh_database("shop");
    root.query_drop("CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b INT)").unwrap();
    watch(&server, "shop", "t", true);
    root.query_drop("INSERT INTO shop.t VALUES (1, 10, 20)").unwrap();
    root.query_drop("ALTER TABLE shop.t RENAME COLUMN b TO c").unwrap();
    let refused = root.query_drop("INSERT INTO shop.t VALUES (2, 10, 20)").unwrap_err().to_string();
    assert!(refused.contains(DRIFT_MESSAGE), "{refused}");
    let rows: Vec<i64> = root.query("SELECT id FROM shop.t ORDER BY id").unwrap();
    assert_eq!(rows, [1]);
    let last = records(&server).pop().unwrap();
    assert!(matches!(last.event, Event::Drift(ref d) if d.row_op == Op::Insert), "{last:?}");
}
