//! What auditing costs a real MariaDB: 50,000 single-row INSERTs and then UPDATEs in one
//! transaction (a stored procedure, so no client round trip dilutes the cost) on a
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
//! (medians of ROUNDS rounds, min–max spread, ratios). Nothing is asserted.

use std::time::Duration;

use dbaudit_tests::{sql_quote_str, MariaDb};
use dbaudit_triggers::{watch_table, Flavour, TableName, Trigger, WatchRequest};
use mysql::prelude::Queryable;
use mysql::Conn;

const ROWS: u32 = 50_000;
const ROUNDS: usize = 5;
const CALLS: u32 = 200_000;
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

fn concat_triggers(table: &str) -> Vec<String> {
    let list = |side: &str| COLUMNS.iter().map(|c| format!("{side}.`{c}`")).collect::<Vec<_>>().join(", ");
    [("ai", "INSERT", list("NEW")), ("au", "UPDATE", format!("{}, {}", list("OLD"), list("NEW"))), ("ad", "DELETE", list("OLD"))]
        .into_iter()
        .map(|(suffix, event, args)| {
            format!("CREATE TRIGGER bench.{table}_{suffix} AFTER {event} ON bench.{table} FOR EACH ROW SET @concat = CONCAT_WS(',', {args})")
        })
        .collect()
}

fn procedures(table: &str) -> [String; 2] {
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
    ]
}

/// The same statements sent one by one from the client (prepared, one round trip each),
/// as an application does; returns the INSERT and the UPDATE times.
fn client_loop(pid: u32, conn: &mut Conn, table: &str) -> (Duration, Duration) {
    let insert = conn
        .prep(format!(
            "INSERT INTO bench.{table} VALUES (?, ?, 'zZDDIZ0NOlPzw', ?, 'Xavier', 'Mertens', 'admin', 'security', '+32 2 555 0101', 'a note')"
        ))
        .unwrap();
    let update = conn.prep(format!("UPDATE bench.{table} SET password = ? WHERE id = ?")).unwrap();
    let start = server_cpu(pid);
    conn.query_drop("START TRANSACTION").unwrap();
    for i in 0..ROWS {
        conn.exec_drop(&insert, (i, format!("login{i}"), format!("user{i}@example.com"))).unwrap();
    }
    conn.query_drop("COMMIT").unwrap();
    let inserted = server_cpu(pid) - start;
    let start = server_cpu(pid);
    conn.query_drop("START TRANSACTION").unwrap();
    for i in 0..ROWS {
        conn.exec_drop(&update, (format!("RjdqndSkxdjeX{i}"), i)).unwrap();
    }
    conn.query_drop("COMMIT").unwrap();
    (inserted, server_cpu(pid) - start)
}

/// mariadbd's CPU time so far: utime + stime of /proc/PID/stat, in clock ticks of 10 ms.
fn server_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat of mariadbd");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
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
            Setup::ConcatWs => concat_triggers(table).iter().for_each(|sql| root.query_drop(sql).unwrap()),
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
                            &body[body.find("SET @dbaudit_seq = ").expect("the row call")..body.len() - "; END".len()];
                        let bare = Trigger { body: call.to_owned(), ..trigger.clone() };
                        root.query_drop(bare.create_sql(&name, true)).unwrap();
                    }
                }
            }
        }
    }

    let mut inserts: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    let mut updates: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    let mut client_inserts: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    let mut client_updates: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    for _ in 0..ROUNDS {
        for (i, setup) in setups.iter().enumerate() {
            let table = setup.table();
            root.query_drop(format!("TRUNCATE bench.{table}")).unwrap();
            inserts[i].push(timed(pid, &mut root, &format!("CALL bench.fill_{table}({ROWS})")));
            updates[i].push(timed(pid, &mut root, &format!("CALL bench.touch_{table}({ROWS})")));
            root.query_drop(format!("TRUNCATE bench.{table}")).unwrap();
            let (insert, update) = client_loop(pid, &mut root, table);
            client_inserts[i].push(insert);
            client_updates[i].push(update);
        }
    }

    let values: Vec<String> = COLUMNS.iter().enumerate().map(|(i, c)| format!("'value-{i}' AS `new.{c}`")).collect();
    let token = sql_quote_str(&server.token_for("bench", "users"));
    let udf = format!(
        "SELECT BENCHMARK({CALLS}, dbaudit_log({token}, 'bench', 'users', 'insert', 'app@localhost', 1, 'id', 'password', {}))",
        values.join(", ")
    );
    let concat = format!(
        "SELECT BENCHMARK({CALLS}, CONCAT_WS(',', {token}, 'bench', 'users', 'insert', 'app@localhost', 1, 'id', 'password', {}))",
        COLUMNS.iter().enumerate().map(|(i, _)| format!("'value-{i}'")).collect::<Vec<_>>().join(", ")
    );
    let (mut udf_calls, mut concat_calls) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        udf_calls.push(timed(pid, &mut root, &udf));
        concat_calls.push(timed(pid, &mut root, &concat));
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let names = ["(a) no trigger", "(b) CONCAT_WS trigger", "(c) dbaudit trigger", "(d) (c) without drift handler"];
    let report = |title: &str, inserts: Vec<Vec<Duration>>, updates: Vec<Vec<Duration>>| {
        println!(
            "{title}: {ROWS} single-row statements in one transaction, 10 columns; median of {ROUNDS} rounds (min–max)"
        );
        println!("{:<32} {:>22} {:>22}", "configuration", "INSERT CPU ms", "UPDATE CPU ms");
        let ins: Vec<Stats> = inserts.into_iter().map(stats).collect();
        let upd: Vec<Stats> = updates.into_iter().map(stats).collect();
        for i in 0..names.len() {
            let cell = |s: &Stats| format!("{:.0} ({:.0}–{:.0})", ms(s.median), ms(s.min), ms(s.max));
            println!("{:<32} {:>22} {:>22}", names[i], cell(&ins[i]), cell(&upd[i]));
        }
        let ratio = |x: &Stats, y: &Stats| x.median.as_secs_f64() / y.median.as_secs_f64();
        println!("{:<32} {:>22.3} {:>22.3}", "ratio c/a", ratio(&ins[2], &ins[0]), ratio(&upd[2], &upd[0]));
        println!("{:<32} {:>22.3} {:>22.3}", "ratio c/b", ratio(&ins[2], &ins[1]), ratio(&upd[2], &upd[1]));
        println!("{:<32} {:>22.3} {:>22.3}", "ratio b/a", ratio(&ins[1], &ins[0]), ratio(&upd[1], &upd[0]));
        println!(
            "{:<32} {:>22.3} {:>22.3}",
            "ratio c/d (the handler)",
            ratio(&ins[2], &ins[3]),
            ratio(&upd[2], &upd[3])
        );
        let per_row = |x: &Stats, y: &Stats| (x.median.as_secs_f64() - y.median.as_secs_f64()) * 1e6 / f64::from(ROWS);
        println!("{:<32} {:>22.2} {:>22.2}", "µs per row, c − a", per_row(&ins[2], &ins[0]), per_row(&upd[2], &upd[0]));
        println!("{:<32} {:>22.2} {:>22.2}", "µs per row, c − b", per_row(&ins[2], &ins[1]), per_row(&upd[2], &upd[1]));
        println!("{:<32} {:>22.2} {:>22.2}", "µs per row, c − d", per_row(&ins[2], &ins[3]), per_row(&upd[2], &upd[3]));
        println!();
    };
    report("server-side loop (stored procedure)", inserts, updates);
    report("client loop (prepared statements over the socket)", client_inserts, client_updates);
    let (u, c) = (stats(udf_calls), stats(concat_calls));
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(CALLS);
    println!();
    println!("per call, BENCHMARK({CALLS}, …) with 10 values, median of {ROUNDS}:");
    println!(
        "  dbaudit_log {:.3} µs, CONCAT_WS {:.3} µs, UDF work {:.3} µs per record",
        per_call(u.median),
        per_call(c.median),
        per_call(u.median) - per_call(c.median)
    );
}
