//! Throughput of `dbaudit-normalise once` on a realistic raw log, beside `cat` and `wc -l`
//! on the same file (page cache warm for all three), with peak RSS from `/usr/bin/time`; then
//! the cost of one `follow --recheck` round over all of it (the round's own time, from the
//! trace; the follower's CPU time and peak RSS once the round is over).
//!
//! `cargo bench -p dbaudit-normalise --bench throughput [-- N …]` (default: 1,000,000 and
//! 5,000,000 records). Not a test: it asserts nothing, it prints a table. With
//! `DBAUDIT_BENCH_KEEP=1` the raw logs stay in target/tmp/normalise-bench for `perf record`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbaudit_record::{Chain, ColumnRef, Epoch, EventRef, Key, Op, RowRef, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_dbaudit-normalise");

fn main() {
    let counts: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.replace('_', "").parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1_000_000, 5_000_000] } else { counts };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("normalise-bench");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let key = Key::from_bytes([42; 32]);
    fs::write(dir.join("key"), format!("{}\n", key.to_hex())).unwrap();

    println!("| records | tool | wall s | CPU s | records/s (wall) | MB/s (wall) | peak RSS MB |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for &n in &counts {
        let raw = dir.join(format!("raw-{n}.log"));
        let bytes = generate(&raw, &key, n);
        let mb = bytes as f64 / 1e6;
        let row = |tool: &str, (secs, cpu, rss_kb): (f64, f64, u64)| {
            println!(
                "| {n} | {tool} | {secs:.3} | {cpu:.3} | {:.0} | {:.0} | {:.1} |",
                n as f64 / secs,
                mb / secs,
                rss_kb as f64 / 1024.0
            );
            secs
        };
        row("cat FILE > /dev/null", timed(Command::new("cat").arg(&raw)));
        let wc = row("wc -l FILE", timed(Command::new("wc").arg("-l").arg(&raw)));
        let state = dir.join("state");
        let out = dir.join("out.log");
        for path in [&state, &out] {
            let _ = fs::remove_file(path);
        }
        let mut once = Command::new(BIN);
        once.arg("once")
            .arg("--input")
            .arg(&raw)
            .arg("--key-file")
            .arg(dir.join("key"))
            .arg("--state")
            .arg(&state)
            .arg("--output")
            .arg(&out)
            .args(["--host", "dbhost"]);
        let ours = row("dbaudit-normalise once (verify + frame + write)", timed(&mut once));
        println!("| {n} | ratio to wc -l (wall) | {:.1}× | | | | |", ours / wc);
        let round = recheck_round(&once, &raw, bytes);
        row("dbaudit-normalise follow: one --recheck round (read + verify, on its own thread)", round);
        let lines = count_lines(&out);
        assert_eq!(lines, n, "the output should hold one line per record");
        if std::env::var_os("DBAUDIT_BENCH_KEEP").is_none() {
            fs::remove_file(&raw).unwrap();
        }
        fs::remove_file(&out).unwrap();
    }
    if std::env::var_os("DBAUDIT_BENCH_KEEP").is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Writes `n` records (a start, then inserts of 8 short columns into `shop.orders`, about
/// 390 bytes a line: the envelope of epoch, time, names, pk and mac alone is about 260); one
/// in sixteen has a note that needs escaping. Returns the file's size.
fn generate(path: &PathBuf, key: &Key, n: u64) -> u64 {
    let mut chain = Chain::new(key.clone(), Epoch(0x9f2c_41d0_7b3e_5a18));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut line = Vec::with_capacity(512);
    let mut ts = 1_795_681_884_000_000;
    let point = chain.append_next(&mut line, Timestamp(ts), &EventRef::Start { prev: None });
    chain.advance(point);
    out.write_all(&line).unwrap();
    for i in 1..n {
        line.clear();
        ts += 37;
        let id = i.to_string();
        let customer = (i * 7919 % 100_000).to_string();
        let note: &[u8] = if i % 16 == 0 { b"gift \"wrap\"\n" } else { b"" };
        let values: [(&[u8], &[u8]); 8] = [
            (b"id", id.as_bytes()),
            (b"customer", customer.as_bytes()),
            (b"sku", b"A-1042"),
            (b"qty", b"3"),
            (b"price", b"19.99"),
            (b"status", b"paid"),
            (b"card", b"4111"),
            (b"note", note),
        ];
        let new: Vec<ColumnRef> = values
            .iter()
            .map(|(name, value)| ColumnRef { name, value: Some(value), secret: *name == b"card" })
            .collect();
        let event = EventRef::Row(RowRef {
            db: b"shop",
            table: b"orders",
            op: Op::Insert,
            user: b"app@10.0.0.7",
            conn: 4242,
            pk: &new[..1],
            changed: None,
            old: None,
            new: Some(&new),
        });
        let point = chain.append_next(&mut line, Timestamp(ts), &event);
        chain.advance(point);
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
    fs::metadata(path).unwrap().len()
}

/// Wall-clock seconds, CPU seconds (user + system) and peak RSS (KiB) of `command`, its
/// stdout discarded. CPU time is shown because the machine may be shared.
fn timed(command: &mut Command) -> (f64, f64, u64) {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.args(["-f", "%U %S %M"]).arg(command.get_program()).args(command.get_args());
    let start = Instant::now();
    let output = wrapped.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("/usr/bin/time (package `time`)");
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?} failed: {stderr}", command.get_program());
    let fields: Vec<f64> =
        stderr.lines().last().unwrap_or_default().split_whitespace().filter_map(|f| f.parse().ok()).collect();
    match fields[..] {
        [user, system, rss] => (secs, user + system, rss as u64),
        _ => panic!("unexpected /usr/bin/time output: {stderr}"),
    }
}

/// One round of `follow --recheck 1` over the whole of `raw`, which `once` (the command
/// given) has just delivered: the follower starts at its end, so its first round reads and
/// verifies every record. The round's own seconds, from the trace; the follower's CPU seconds
/// and peak RSS (KiB) once it is over, a second of idle polling included.
fn recheck_round(once: &Command, raw: &Path, bytes: u64) -> (f64, f64, u64) {
    let mut follow = Command::new(BIN);
    follow.arg("follow").args(once.get_args().skip(1)).args(["--poll-ms", "50", "--recheck", "1"]);
    let trace_path = raw.with_extension("trace");
    let mut child =
        follow.env("DBAUDIT_NORMALISE_TRACE", "1").stderr(File::create(&trace_path).unwrap()).spawn().unwrap();
    let whole = format!(" to {bytes}: ");
    let deadline = Instant::now() + Duration::from_secs(600);
    let line = loop {
        let trace = fs::read_to_string(&trace_path).unwrap_or_default();
        if let Some(line) = trace.lines().find(|l| l.contains("trace: recheck: ") && l.contains(&whole)) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no re-check round over the whole log: {trace}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (cpu, rss) = usage(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_file(&trace_path);
    let ms: f64 = line
        .split(" records in ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("unexpected trace line: {line}"));
    (ms / 1e3, cpu, rss)
}

/// CPU seconds (user + system) so far and peak RSS (KiB) of the running process `pid`.
fn usage(pid: u32) -> (f64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name (in parentheses, perhaps with spaces): state, then 13 more fields
    // up to utime and stime.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let hz = Command::new("getconf").arg("CLK_TCK").output().unwrap().stdout;
    let hz: f64 = String::from_utf8(hz).unwrap().trim().parse().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    (ticks / hz, rss.unwrap())
}

fn count_lines(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
