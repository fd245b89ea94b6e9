//! The UDF's own work per call, outside mysqld: `Auditor::log` for a 10-column update
//! (parse the protocol, build, mask, seal, one `write(2)`), against the floor of writing a
//! line of the same length with one `write(2)` to an `O_APPEND` file.
//!
//! `cargo bench -p dbaudit-udf --bench log_call` prints a table; nothing is asserted.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use dbaudit_record::Key;
use dbaudit_udf::{Arg, Auditor, Outcome};

const ROUNDS: usize = 5;

/// Calls per round: 200,000, or `DBAUDIT_BENCH_CALLS` (small, for callgrind).
fn calls() -> u32 {
    std::env::var("DBAUDIT_BENCH_CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn per_call(mut one: impl FnMut()) -> Duration {
    let calls = calls();
    median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..calls {
                    one();
                }
                start.elapsed() / calls
            })
            .collect(),
    )
}

fn main() {
    let dir = std::env::temp_dir().join(format!("dbaudit-udf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::from_bytes([1; 32]);
    std::fs::write(dir.join("key"), key.to_hex()).unwrap();
    let config = format!("[dbaudit-udf]\nlog = {0}/audit.log\nkey_file = {0}/key\n", dir.display());
    std::fs::write(dir.join("dbaudit.cnf"), config).unwrap();
    let token = key.trigger_token(0, b"acme", b"users");

    let columns = ["id", "login", "password", "email", "first_name", "last_name", "role", "created", "updated", "note"];
    let old = ["7", "xavier", "zZDDIZ0NOlPzw", "x@example.com", "Xavier", "M", "admin", "2026-11-26", "08:31:24", "n"];
    let new = ["7", "xavier", "RjdqndSkxdjeX", "x@example.com", "Xavier", "M", "admin", "2026-11-26", "09:00:00", "n"];
    let names: Vec<String> =
        ["old", "new"].iter().flat_map(|side| columns.iter().map(move |c| format!("{side}.{c}"))).collect();
    let fixed = [token.as_str(), "acme", "users", "update", "admin@localhost", "17", "id", "password"];
    let mut args: Vec<Arg> = fixed.iter().map(|v| Arg::new(Some(v.as_bytes()), b"")).collect();
    args.extend(old.iter().chain(&new).zip(&names).map(|(v, n)| Arg::new(Some(v.as_bytes()), n.as_bytes())));

    let auditor = Auditor::with_config(dir.join("dbaudit.cnf"));
    assert!(matches!(auditor.log(&args), Outcome::Written(1)));
    let written = std::fs::read(dir.join("audit.log")).unwrap();
    let line_len = written.split(|&b| b == b'\n').nth(1).unwrap().len() + 1;

    let mut floor_file = OpenOptions::new().append(true).create(true).open(dir.join("floor.log")).unwrap();
    let line = vec![b'x'; line_len];
    let floor = per_call(|| floor_file.write_all(&line).unwrap());
    let udf = per_call(|| {
        std::hint::black_box(auditor.log(std::hint::black_box(&args)));
    });

    println!("dbaudit_log: update, 10 columns old + new, one secret; {line_len}-byte records");
    println!("{:<46} {:>9} {:>8}", "what (median of 5 rounds)", "µs/call", "× floor");
    for (what, d) in
        [("write(2) of a line that long (the floor)", floor), ("Auditor::log (protocol, build, seal, write)", udf)]
    {
        let ratio = d.as_nanos() as f64 / floor.as_nanos() as f64;
        println!("{:<46} {:>9.3} {:>8.2}", what, d.as_nanos() as f64 / 1000.0, ratio);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
