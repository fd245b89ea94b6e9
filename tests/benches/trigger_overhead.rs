//! What auditing costs a real MariaDB: 50,000 single-row INSERTs, then UPDATEs, then DELETEs,
//! each in one transaction (a stored procedure, so no client round trip dilutes the cost) on a
//! 10-column table, in four configurations in the same server and run:
//! (a) no trigger, (b) triggers that only CONCAT_WS the same columns, (c) dbaudit's triggers,
//! (d) dbaudit's call alone, without the block and the SQLEXCEPTION handler that records a
//! schema drift: c − d is what that handler costs per row.
//! Then the UDF's own work per call: `BENCHMARK(200000, dbaudit_log(…10 values…))` minus
//! the same with CONCAT_WS.
//!
//! Times are mariadbd's CPU time (user + system, all threads, from /proc/PID/stat) across
//! each statement, not wall-clock time: on a shared machine the wall clock measures the
//! neighbours too. `cargo bench -p dbaudit-tests --bench trigger_overhead` prints the table
//! (medians of 5 rounds, min–max spread, ratios; `DBAUDIT_BENCH_ROUNDS` sets the rounds).
//! Nothing is asserted. `--bench sysbench` measures the same configurations under sysbench.

use std::time::Duration;

use dbaudit_record::{protocol, Op};
use dbaudit_tests::bench::{concat_ws_triggers, knob, server_cpu};
use dbaudit_tests::{sql_quote_str, MariaDb};
use dbaudit_triggers::{watch_table, Flavour, TableName, Trigger, WatchRequest};
use mysql::prelude::Queryable;
use mysql::Conn;

const ROWS: u32 = 50_000;
const CALLS: u32 = 200_000;
const OPERATIONS: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];
const COLUMNS: [&str; 10] =
    ["id", "login", "password", "email", "first_name", "last_name", "role", "team", "phone", "note"];

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    NoTrigger,
    ConcatWs,
    Dbaudit,
    DbauditWithoutHandler,
}

impl Setup {
    fn table(self) -> &'static str {
        match self {
            Setup::NoTrigger => "users_a",
            Setup::ConcatWs => "users_b",
            Setup::Dbaudit => "users_c",
            Setup::DbauditWithoutHandler => "users_d",
        }
    }
}

fn procedures(table: &str) -> [String; 3] {
    [
        format!(
            "CREATE PROCEDURE bench.fill_{table}(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION; \
             WHILE i < n DO INSERT INTO bench.{table} VALUES (i, CONCAT('login', i), 'zZDDIZ0NOlPzw', \
             CONCAT('user', i, '@example.com'), 'Xavier', 'Mertens', 'admin', 'security', '+32 2 555 0101', 'a note'); \
             SET i = i + 1; END WHILE; COMMIT; END"
        ),
        format!(
            "CREATE PROCEDURE bench.touch_{table}(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION; \
             WHILE i < n DO UPDATE bench.{table} SET password = CONCAT('RjdqndSkxdjeX', i) WHERE id = i; \
             SET i = i + 1; END WHILE; COMMIT; END"
        ),
        format!(
            "CREATE PROCEDURE bench.empty_{table}(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION; \
             WHILE i < n DO DELETE FROM bench.{table} WHERE id = i; \
             SET i = i + 1; END WHILE; COMMIT; END"
        ),
    ]
}

/// The same statements sent one by one from the client (prepared, one round trip each),
/// as an application does; returns the INSERT, the UPDATE and the DELETE times.
fn client_loop(pid: u32, conn: &mut Conn, table: &str) -> [Duration; 3] {
    let insert = conn
        .prep(format!(
            "INSERT INTO bench.{table} VALUES (?, ?, 'zZDDIZ0NOlPzw', ?, 'Xavier', 'Mertens', 'admin', 'security', '+32 2 555 0101', 'a note')"
        ))
        .unwrap();
    let update = conn.prep(format!("UPDATE bench.{table} SET password = ? WHERE id = ?")).unwrap();
    let delete = conn.prep(format!("DELETE FROM bench.{table} WHERE id = ?")).unwrap();
    let mut transaction = |statement: &dyn Fn(&mut Conn, u32)| {
        let start = server_cpu(pid);
        conn.query_drop("START TRANSACTION").unwrap();
        for i in 0..ROWS {
            statement(conn, i);
        }
        conn.query_drop("COMMIT").unwrap();
        server_cpu(pid) - start
    };
    [
        transaction(&|conn, i| {
            conn.exec_drop(&insert, (i, format!("login{i}"), format!("user{i}@example.com"))).unwrap()
        }),
        transaction(&|conn, i| conn.exec_drop(&update, (format!("RjdqndSkxdjeX{i}"), i)).unwrap()),
        transaction(&|conn, i| conn.exec_drop(&delete, (i,)).unwrap()),
    ]
}

/// The server's CPU time spent on `sql`.
fn timed(pid: u32, conn: &mut Conn, sql: &str) -> Duration {
    let start = server_cpu(pid);
    conn.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    server_cpu(pid) - start
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats { median: samples[samples.len() / 2], min: samples[0], max: samples[samples.len() - 1] }
}

/// Prints one table: CPU per configuration and operation, then ratios and µs per row.
fn report(title: &str, samples: Vec<Vec<Vec<Duration>>>, rounds: usize) {
    const NAMES: [&str; 4] =
        ["(a) no trigger", "(b) CONCAT_WS trigger", "(c) dbaudit trigger", "(d) (c) without drift handler"];
    let stats: Vec<Vec<Stats>> = samples.into_iter().map(|op| op.into_iter().map(stats).collect()).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let line = |label: &str, cells: Vec<String>| {
        println!("{label:<32} {}", cells.iter().map(|c| format!("{c:>22}")).collect::<Vec<_>>().join(" "));
    };
    println!(
        "{title}: {ROWS} single-row statements in one transaction, 10 columns; median of {rounds} rounds (min–max)"
    );
    line("configuration", OPERATIONS.iter().map(|op| format!("{op} CPU ms")).collect());
    for (i, name) in NAMES.iter().enumerate() {
        let cell = |s: &Stats| format!("{:.0} ({:.0}–{:.0})", ms(s.median), ms(s.min), ms(s.max));
        line(name, stats.iter().map(|op| cell(&op[i])).collect());
    }
    let ratio = |x: &Stats, y: &Stats| format!("{:.3}", x.median.as_secs_f64() / y.median.as_secs_f64());
    let per_row = |x: &Stats, y: &Stats| {
        format!("{:.2}", (x.median.as_secs_f64() - y.median.as_secs_f64()) * 1e6 / f64::from(ROWS))
    };
    for (label, x, y) in
        [("ratio c/a", 2, 0), ("ratio c/b", 2, 1), ("ratio b/a", 1, 0), ("ratio c/d (the handler)", 2, 3)]
    {
        line(label, stats.iter().map(|op| ratio(&op[x], &op[y])).collect());
    }
    for (label, x, y) in [("µs per row, c − a", 2, 0), ("µs per row, c − b", 2, 1), ("µs per row, c − d", 2, 3)]
    {
        line(label, stats.iter().map(|op| per_row(&op[x], &op[y])).collect());
    }
    println!();
}

fn main() {
    let server = MariaDb::start();
    let pid = server.pid();
    let mut root = server.root();
    server.fresh_database("bench");
    let setups = [Setup::NoTrigger, Setup::ConcatWs, Setup::Dbaudit, Setup::DbauditWithoutHandler];
    let columns = COLUMNS[1..].iter().map(|c| format!("`{c}` VARCHAR(40)")).collect::<Vec<_>>().join(", ");
    for setup in setups {
        let table = setup.table();
        root.query_drop(format!("CREATE TABLE bench.{table} (id INT PRIMARY KEY, {columns})")).unwrap();
        for sql in procedures(table) {
            root.query_drop(sql).unwrap();
        }
        match setup {
            Setup::NoTrigger => {}
            Setup::ConcatWs => {
                concat_ws_triggers("bench", table, &COLUMNS).iter().for_each(|sql| root.query_drop(sql).unwrap())
            }
            Setup::Dbaudit | Setup::DbauditWithoutHandler => {
                let request = WatchRequest {
                    secrets: vec!["password".into()],
                    fail_closed: Some(false),
                    ..WatchRequest::default()
                };
                let name = TableName::new("bench", table);
                let plan = watch_table(&mut root, Flavour::MariaDb, &name, &server.tokens(), &request)
                    .unwrap_or_else(|e| panic!("watch: {e}"));
                if setup == Setup::DbauditWithoutHandler {
                    for trigger in &plan.set.triggers {
                        let body = &trigger.body;
                        let call =
                            &body[body.find("IF dbaudit_log(").expect("the row call")..body.len() - "; END".len()];
                        let bare = Trigger { body: call.to_owned(), ..trigger.clone() };
                        root.query_drop(bare.create_sql(&name, true)).unwrap();
                    }
                }
            }
        }
    }

    let rounds = knob("DBAUDIT_BENCH_ROUNDS", 5) as usize;
    // samples[operation][setup]: one CPU time per round.
    let mut server_side = vec![vec![Vec::new(); setups.len()]; OPERATIONS.len()];
    let mut client_side = vec![vec![Vec::new(); setups.len()]; OPERATIONS.len()];
    for _ in 0..rounds {
        for (i, setup) in setups.iter().enumerate() {
            let table = setup.table();
            root.query_drop(format!("TRUNCATE bench.{table}")).unwrap();
            for (samples, procedure) in server_side.iter_mut().zip(["fill", "touch", "empty"]) {
                samples[i].push(timed(pid, &mut root, &format!("CALL bench.{procedure}_{table}({ROWS})")));
            }
            for (samples, time) in client_side.iter_mut().zip(client_loop(pid, &mut root, table)) {
                samples[i].push(time);
            }
        }
    }

    let values: Vec<String> = COLUMNS.iter().enumerate().map(|(i, c)| format!("'value-{i}' AS `new.{c}`")).collect();
    let token = server.token_for("bench", "users");
    let header = sql_quote_str(&protocol::header(&token, "bench", "users", Op::Insert, &["id"], &["password"]));
    let token = sql_quote_str(&token);
    let udf = format!("SELECT BENCHMARK({CALLS}, dbaudit_log({header}, 'app@localhost', 1, {}))", values.join(", "));
    let concat = format!(
        "SELECT BENCHMARK({CALLS}, CONCAT_WS(',', {token}, 'bench', 'users', 'insert', 'app@localhost', 1, 'id', 'password', {}))",
        COLUMNS.iter().enumerate().map(|(i, _)| format!("'value-{i}'")).collect::<Vec<_>>().join(", ")
    );
    let (mut udf_calls, mut concat_calls) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        udf_calls.push(timed(pid, &mut root, &udf));
        concat_calls.push(timed(pid, &mut root, &concat));
    }

    report("server-side loop (stored procedure)", server_side, rounds);
    report("client loop (prepared statements over the socket)", client_side, rounds);
    let (u, c) = (stats(udf_calls), stats(concat_calls));
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(CALLS);
    println!();
    println!("per call, BENCHMARK({CALLS}, …) with 10 values, median of {rounds}:");
    println!(
        "  dbaudit_log {:.3} µs, CONCAT_WS {:.3} µs, UDF work {:.3} µs per record",
        per_call(u.median),
        per_call(c.median),
        per_call(u.median) - per_call(c.median)
    );
}
