//! `dbaudit history` on a big raw log (default 2,500,000 records, about 1.5 GB), beside
//! `wc -l` and `dbaudit verify` on the same file in the same run (page cache warm for all),
//! with wall and CPU time and peak RSS from `/usr/bin/time`.
//!
//! `cargo bench -p dbaudit-cli --bench history [-- N]`. Not a test: it asserts only that
//! history found the row's events, and prints a table. The log is deleted afterwards, unless
//! `DBAUDIT_BENCH_KEEP=1` (then it stays in target/tmp/history-bench, for callgrind).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use dbaudit_record::{Chain, ColumnRef, Epoch, EventRef, Key, Op, RowRef, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_dbaudit");

/// Every how many records row 7 of acme.users is updated.
const ROW_EVERY: u64 = 100_000;

fn main() {
    let n: u64 = std::env::args().skip(1).find_map(|a| a.replace('_', "").parse().ok()).unwrap_or(2_500_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-bench");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let key = Key::from_bytes([42; 32]);
    let key_file = dir.join("key");
    fs::write(&key_file, format!("{}\n", key.to_hex())).unwrap();
    let raw = dir.join("dbaudit.log");
    let started = Instant::now();
    let bytes = generate(&raw, &key, n);
    eprintln!("wrote {n} records, {:.2} GB, in {:.1} s", bytes as f64 / 1e9, started.elapsed().as_secs_f64());

    let dbaudit = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command.arg("--key-file").arg(&key_file).args(args).arg(&raw);
        command.env("DBAUDIT_UDF_CONFIG", dir.join("none.cnf"));
        command
    };
    // Once to warm the page cache, so that the first tool timed is not charged for the disk.
    timed(Command::new("cat").arg(&raw));
    let runs: Vec<(&str, Timing)> = vec![
        ("wc -l FILE", timed(Command::new("wc").arg("-l").arg(&raw))),
        ("dbaudit verify FILE", timed(&mut dbaudit(&["verify"]))),
        ("dbaudit history acme.users --pk id=7 FILE", timed(&mut dbaudit(&["history", "acme.users", "--pk", "id=7"]))),
        (
            "dbaudit history acme.users --pk id=7 --json FILE",
            timed(&mut dbaudit(&["history", "acme.users", "--pk", "id=7", "--json"])),
        ),
        (
            "dbaudit history shop.orders --pk id=12345 FILE (half the records are the table's)",
            timed(&mut dbaudit(&["history", "shop.orders", "--pk", "id=12345"])),
        ),
    ];
    let events = (n - 1) / ROW_EVERY;
    assert!(runs[2].1.stdout.contains(&format!(": {events} verified events")), "{}", runs[2].1.stdout);
    assert_eq!(runs[3].1.stdout.lines().count() as u64, events);
    let (wc, verify) = (runs[0].1.secs, runs[1].1.secs);
    println!("{n} records, {:.0} MB; row id=7 changed {events} times", bytes as f64 / 1e6);
    println!();
    println!("| tool | wall s | CPU s | MB/s (wall) | peak RSS MB | wall / wc -l | wall / verify |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in &runs {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1}× | {:.2}× |",
            t.secs,
            t.cpu,
            bytes as f64 / 1e6 / t.secs,
            t.rss_kb as f64 / 1024.0,
            t.secs / wc,
            t.secs / verify
        );
    }
    if std::env::var_os("DBAUDIT_BENCH_KEEP").is_none() {
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// Writes a start record and `n - 1` row records, about 600 bytes a line on average:
/// alternately an insert of 8 short columns into `shop.orders` and an update of a user's
/// name, email, password (secret, so masked) and note in `acme.users`, row 7 every
/// [`ROW_EVERY`] records. Returns the file's size.
fn generate(path: &Path, key: &Key, n: u64) -> u64 {
    let mut chain = Chain::new(key.clone(), Epoch(0x9f2c_41d0_7b3e_5a18));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut line = Vec::with_capacity(2048);
    let mut ts = 1_795_681_884_000_000;
    let point = chain.append_next(&mut line, Timestamp(ts), &EventRef::Start { prev: None });
    chain.advance(point);
    out.write_all(&line).unwrap();
    for i in 1..n {
        line.clear();
        ts += 37;
        let point = if i % 2 == 1 {
            order_inserted(&chain, &mut line, Timestamp(ts), i)
        } else {
            let user = if i % ROW_EVERY == 0 { 7 } else { 1000 + i % 50_000 };
            user_updated(&chain, &mut line, Timestamp(ts), i, user)
        };
        chain.advance(point);
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
    fs::metadata(path).unwrap().len()
}

fn order_inserted(chain: &Chain, line: &mut Vec<u8>, ts: Timestamp, i: u64) -> dbaudit_record::ChainPoint {
    let (id, customer) = (i.to_string(), (i * 7919 % 100_000).to_string());
    let values: [(&[u8], &[u8]); 8] = [
        (b"id", id.as_bytes()),
        (b"customer", customer.as_bytes()),
        (b"sku", b"A-1042"),
        (b"qty", b"3"),
        (b"price", b"19.99"),
        (b"status", b"paid"),
        (b"card", b"4111"),
        (b"note", b""),
    ];
    let new: Vec<ColumnRef> =
        values.iter().map(|(name, value)| ColumnRef { name, value: Some(value), secret: *name == b"card" }).collect();
    let row = RowRef {
        db: b"shop",
        table: b"orders",
        op: Op::Insert,
        user: b"app@10.0.0.7",
        conn: 4242,
        pk: &new[..1],
        changed: None,
        old: None,
        new: Some(&new),
    };
    chain.append_next(line, ts, &EventRef::Row(row))
}

fn user_updated(chain: &Chain, line: &mut Vec<u8>, ts: Timestamp, i: u64, user: u64) -> dbaudit_record::ChainPoint {
    let note = "a free-text note of the kind support staff leave on an account, long enough to matter; ".repeat(2);
    let side = |n: u64| -> Vec<(&'static [u8], Vec<u8>)> {
        vec![
            (b"id", user.to_string().into_bytes()),
            (b"name", format!("user {n}").into_bytes()),
            (b"email", format!("user{n}@example.com").into_bytes()),
            (b"password", format!("hunter{n}").into_bytes()),
            (b"note", format!("{note}{n}").into_bytes()),
        ]
    };
    let (before, after) = (side(i), side(i + 1));
    let (old, new) = (password_secret(&before), password_secret(&after));
    let changed: [&[u8]; 4] = [b"name", b"email", b"password", b"note"];
    let row = RowRef {
        db: b"acme",
        table: b"users",
        op: Op::Update,
        user: b"admin@10.0.0.9",
        conn: 77,
        pk: &new[..1],
        changed: Some(&changed),
        old: Some(&old),
        new: Some(&new),
    };
    chain.append_next(line, ts, &EventRef::Row(row))
}

fn password_secret<'a>(values: &'a [(&'static [u8], Vec<u8>)]) -> Vec<ColumnRef<'a>> {
    values.iter().map(|(name, value)| ColumnRef { name, value: Some(value), secret: *name == b"password" }).collect()
}

/// What one run cost, and what it printed.
struct Timing {
    secs: f64,
    /// User + system seconds: the machine may be shared.
    cpu: f64,
    rss_kb: u64,
    stdout: String,
}

/// Runs `command` under `/usr/bin/time`.
fn timed(command: &mut Command) -> Timing {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.args(["-f", "%U %S %M"]).arg(command.get_program()).args(command.get_args());
    wrapped.envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let start = Instant::now();
    let output = wrapped.stdin(Stdio::null()).output().expect("/usr/bin/time (package `time`)");
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?} failed: {stderr}", command.get_args().collect::<Vec<_>>());
    let fields: Vec<f64> =
        stderr.lines().last().unwrap_or_default().split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match fields[..] {
        [user, system, rss] => Timing { secs, cpu: user + system, rss_kb: rss as u64, stdout },
        _ => panic!("unexpected /usr/bin/time output: {stderr}"),
    }
}
