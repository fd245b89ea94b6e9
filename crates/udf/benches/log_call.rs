//! The UDF's own work per call, outside mysqld: `Auditor::log` for a 10-column update
//! (parse the protocol, build, mask, seal, one `write(2)`), against the floor of writing a
//! line of the same length with one `write(2)` to an `O_APPEND` file.
//!
//! Then the same calls from 1, 2 and 4 threads at once, against the same calls made to take
//! turns whole (one mutex around `Auditor::log`, as every call did before records were built
//! outside the writer's lock): the aggregate calls per second, and the ratio of the two.
//! With N cores, up to N threads should gain; beyond that the ratio shows what contention
//! costs.
//!
//! `cargo bench -p dbaudit-udf --bench log_call` prints two tables; nothing is asserted.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dbaudit_record::{protocol, Key, Op};
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
    // What a generated trigger passes: protocol 2's header, then user and conn.
    let header = protocol::header(&token, "acme", "users", Op::Update, &["id"], &["password"]);
    let fixed = [header.as_str(), "admin@localhost", "17"];
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

    let serialised = Mutex::new(());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!("the same call from several threads at once ({cores} cores), median of {ROUNDS} rounds;");
    println!("CPU is the process's user + system time per call: what contention costs beyond the work");
    println!(
        "{:<8} {:>16} {:>16} {:>7} {:>18} {:>18}",
        "threads", "calls/s, turns", "calls/s, built", "ratio", "CPU µs/call, turns", "CPU µs/call, built"
    );
    for threads in [1, 2, 4] {
        let whole = calls_per_second(threads, || {
            let _turn = serialised.lock().unwrap();
            std::hint::black_box(auditor.log(std::hint::black_box(&args)));
        });
        let built = calls_per_second(threads, || {
            std::hint::black_box(auditor.log(std::hint::black_box(&args)));
        });
        println!(
            "{threads:<8} {:>16.0} {:>16.0} {:>7.2} {:>18.2} {:>18.2}",
            whole.calls_per_second,
            built.calls_per_second,
            built.calls_per_second / whole.calls_per_second,
            whole.cpu_per_call_us,
            built.cpu_per_call_us
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How fast calls went, all threads together: medians over the rounds.
struct Throughput {
    calls_per_second: f64,
    /// User + system CPU time of the whole process per call, in µs.
    cpu_per_call_us: f64,
}

/// `threads` threads each making `calls() / threads` calls of `one`.
fn calls_per_second(threads: u32, one: impl Fn() + Sync) -> Throughput {
    let each = calls() / threads;
    let (mut rates, mut cpu): (Vec<f64>, Vec<f64>) = (0..ROUNDS)
        .map(|_| {
            let (start, cpu_start) = (Instant::now(), process_cpu());
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| (0..each).for_each(|_| one()));
                }
            });
            let calls = f64::from(each * threads);
            (calls / start.elapsed().as_secs_f64(), (process_cpu() - cpu_start).as_secs_f64() * 1e6 / calls)
        })
        .unzip();
    let median = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    Throughput { calls_per_second: median(&mut rates), cpu_per_call_us: median(&mut cpu) }
}

/// This process's CPU time so far (utime + stime of /proc/self/stat, in ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}
