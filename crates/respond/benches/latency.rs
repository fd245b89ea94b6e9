//! How fast a response takes hold: the median over 50 runs of `dbaudit-respond add` (action
//! `lock`, OSSEC argv, one open session to kill) from invocation to the account locked and
//! to exit, against a private MariaDB; then `delete` (unlock) and the `record` action.
//!
//! `cargo bench -p dbaudit-respond --bench latency`
//!
//! "To locked" is the program's own clock at `ALTER USER` returning (`timings_ms.locked`,
//! from the start of `main`) plus the process start-up the program cannot see, estimated
//! as wall-clock exit minus its own total.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use dbaudit_tests::{MariaDb, TempDir};
use mysql::prelude::Queryable;
use serde_json::Value;

const RUNS: usize = 50;

fn main() {
    let server = MariaDb::start();
    server.create_user("responder", "resp-pw", &["CREATE USER, PROCESS, CONNECTION ADMIN ON *.*", "SELECT ON mysql.*"]);
    server.create_user("app", "app-pw", &[]);
    let dir = TempDir::new("dbaudit-respond-bench");
    let log = dir.path().join("active-responses.log");
    let config = |action: &str| {
        let path = dir.path().join(format!("{action}.cnf"));
        let text = format!(
            "[client]\nsocket = {}\nuser = responder\npassword = resp-pw\n[dbaudit]\naction = {action}\n\
             state_dir = {}\nlog = {}\n",
            server.socket().display(),
            dir.path().join("state").display(),
            log.display()
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (lock, record) = (config("lock"), config("record"));

    let mut rows = Vec::new();
    let (mut locked, mut lock_exit, mut killed, mut unlock_exit, mut record_exit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let _session = server.connect_as("app", "app-pw").unwrap();
        let (exit_ms, line) = run(&lock, "add", &log);
        assert_eq!(line["outcome"], "done", "{line}");
        let timings = &line["timings_ms"];
        let startup = exit_ms - timings["total"].as_f64().unwrap();
        locked.push(startup + timings["locked"].as_f64().unwrap());
        killed.push(startup + timings["killed"].as_f64().unwrap());
        lock_exit.push(exit_ms);
        let (exit_ms, line) = run(&lock, "delete", &log);
        assert_eq!(line["outcome"], "done", "{line}");
        unlock_exit.push(exit_ms);
        let (exit_ms, line) = run(&record, "add", &log);
        assert_eq!(line["outcome"], "done", "{line}");
        record_exit.push(exit_ms);
    }
    let locked_now: String = server.root().query_first("SHOW CREATE USER 'app'@'localhost'").unwrap().unwrap();
    assert!(!locked_now.contains("ACCOUNT LOCK"), "the last delete left the account locked");

    rows.push(("add (lock): invocation → account locked", locked));
    rows.push(("add (lock): invocation → sessions killed", killed));
    rows.push(("add (lock): invocation → exit", lock_exit));
    rows.push(("delete (unlock): invocation → exit", unlock_exit));
    rows.push(("add (record): invocation → exit", record_exit));
    println!("dbaudit-respond latency, {RUNS} runs each, private MariaDB on a Unix socket");
    println!("{:<44} {:>9} {:>9} {:>9} {:>9}", "", "min ms", "median", "p90", "max");
    for (name, mut values) in rows {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        println!("{name:<44} {:>9.2} {:>9.2} {:>9.2} {:>9.2}", at(0.0), at(0.5), at(0.9), at(1.0));
    }
}

/// Runs the binary as ossec-execd does and returns (wall-clock ms to exit, its log line).
fn run(config: &Path, command: &str, log: &Path) -> (f64, Value) {
    let args = [command, "app@localhost", "localhost", "1795681579.1", "100025", "/var/ossec/logs/dbaudit.log", "-"];
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_dbaudit-respond"))
        .args(args)
        .env("DBAUDIT_CONFIG", config)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    let exit_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(status.success(), "{command}: {status}");
    let text = std::fs::read_to_string(log).unwrap();
    (exit_ms, serde_json::from_str(text.lines().last().unwrap()).unwrap())
}
