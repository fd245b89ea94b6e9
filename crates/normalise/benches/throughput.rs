//! Throughput of `dbaudit-normalise once` on a sysbench-like raw log, beside the floors on
//! the same file — `cat`, `wc -l`, and the macs alone (keyed BLAKE3 over every line, one
//! thread, in this process) — and beside an older build of the normaliser when one is given;
//! peak RSS from `/usr/bin/time`. Then the cost of one `follow --recheck` round over all of
//! it (the round's own time, from the trace; the follower's CPU time and peak RSS once the
//! round is over), and instructions per record under callgrind, which a shared machine does
//! not disturb.
//!
//! `cargo bench -p dbaudit-normalise --bench throughput [-- N …]` (default: 1,000,000 and
//! 5,000,000 records). Each `once` runs 3 times, taking turns with the baseline's; the
//! fastest run of each is shown. Not a test: it
//! prints tables, and asserts only that the output has one line per record and, when there is
//! a baseline, that it is byte for byte the baseline's.
//!
//! - `DBAUDIT_BENCH_BASELINE=PATH`: an older `dbaudit-normalise` to compare with, e.g. built by
//!   `git worktree add /tmp/base 2d8e947 && cargo build --release --manifest-path
//!   /tmp/base/Cargo.toml -p dbaudit-normalise` (then `/tmp/base/target/release/dbaudit-normalise`).
//! - `DBAUDIT_BENCH_CALLGRIND=N`: records for the callgrind counts (default 100,000; 0: none).
//! - `DBAUDIT_BENCH_DIR=DIR`: where the files go (default target/tmp/normalise-bench; a tmpfs
//!   keeps the disk's fsync latency out of the figures).
//! - `DBAUDIT_BENCH_KEEP=1`: the raw logs stay there, for `perf record`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbaudit_record::{Chain, ColumnRef, Epoch, EventRef, Key, Mac, Op, RowRef, Sealed, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_dbaudit-normalise");

/// Runs of each `once`; the fastest is shown.
const RUNS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, raw, key] = &args[..] {
        if flag == "--macs-only" {
            macs_only(Path::new(raw), &Key::from_hex(&fs::read_to_string(key).unwrap()).unwrap());
            return;
        }
    }
    let counts: Vec<u64> = args.iter().filter_map(|a| a.replace('_', "").parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1_000_000, 5_000_000] } else { counts };
    let baseline = std::env::var_os("DBAUDIT_BENCH_BASELINE").map(PathBuf::from);
    let dir = std::env::var_os("DBAUDIT_BENCH_DIR")
        .map_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned(), PathBuf::from)
        .join("normalise-bench");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let key = Key::from_bytes([42; 32]);
    let key_file = dir.join("key");
    fs::write(&key_file, format!("{}\n", key.to_hex())).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{cores} cores; load average {}", load.split(' ').take(3).collect::<Vec<_>>().join(" "));
    println!();
    println!("| records | tool | wall s | CPU s | records/s (wall) | MB/s (wall) | peak RSS MB |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for &n in &counts {
        let raw = dir.join(format!("raw-{n}.log"));
        let bytes = generate(&raw, &key, n);
        let mb = bytes as f64 / 1e6;
        let row = |tool: &str, (secs, cpu, rss_kb): (f64, f64, u64)| {
            let rss = if rss_kb == 0 { "–".to_owned() } else { format!("{:.1}", rss_kb as f64 / 1024.0) };
            println!("| {n} | {tool} | {secs:.3} | {cpu:.3} | {:.0} | {:.0} | {rss} |", n as f64 / secs, mb / secs);
            (secs, cpu)
        };
        row("cat FILE > /dev/null", timed(Command::new("cat").arg(&raw)));
        let (wc, _) = row("wc -l FILE (the floor)", timed(Command::new("wc").arg("-l").arg(&raw)));
        let started = Instant::now();
        macs_only(&raw, &key);
        let secs = started.elapsed().as_secs_f64();
        row("the macs alone: keyed BLAKE3 over every line, one thread", (secs, secs, 0));
        // The baseline and this build take turns, run for run, so that what the machine's
        // neighbours do falls on both alike.
        let mut builds = vec![(Path::new(BIN), "after")];
        builds.extend(baseline.as_deref().map(|bin| (bin, "before")));
        let mut best = best_once(&builds, &dir, &raw, &key_file).into_iter();
        let (timing, out) = best.next().expect("this build ran");
        let before = best.next().map(|(timing, out)| (row("dbaudit-normalise once, before (baseline)", timing), out));
        let (after, after_cpu) = row("dbaudit-normalise once, after (verify + frame + write)", timing);
        println!("| {n} | ratio: once after / wc -l (wall) | {:.1}× | | | | |", after / wc);
        if let Some(((before, before_cpu), before_out)) = &before {
            println!(
                "| {n} | speed-up: before / after, wall (CPU) | {:.2}× ({:.2}×) | | | | |",
                before / after,
                before_cpu / after_cpu
            );
            assert!(fs::read(before_out).unwrap() == fs::read(&out).unwrap(), "the output differs from the baseline's");
            println!("| {n} | output identical to the baseline's | yes | | | | |");
            fs::remove_file(before_out).unwrap();
        }
        let once = once_command(Path::new(BIN), &raw, &key_file, &dir.join("state-after"), &out);
        let round = recheck_round(&once, &raw, bytes);
        row("dbaudit-normalise follow: one --recheck round (read + verify, on its own thread)", round);
        let lines = count_lines(&out);
        assert_eq!(lines, n, "the output should hold one line per record");
        if std::env::var_os("DBAUDIT_BENCH_KEEP").is_none() {
            fs::remove_file(&raw).unwrap();
        }
        fs::remove_file(&out).unwrap();
    }
    let records: u64 =
        std::env::var("DBAUDIT_BENCH_CALLGRIND").ok().and_then(|n| n.replace('_', "").parse().ok()).unwrap_or(100_000);
    if records > 0 {
        instructions(&dir, &key, &key_file, records, baseline.as_deref());
    }
    if std::env::var_os("DBAUDIT_BENCH_KEEP").is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
}

/// `dbaudit-normalise once` of `bin` over `raw`, from a fresh state into `out`.
fn once_command(bin: &Path, raw: &Path, key_file: &Path, state: &Path, out: &Path) -> Command {
    let mut once = Command::new(bin);
    once.arg("once")
        .arg("--input")
        .arg(raw)
        .arg("--key-file")
        .arg(key_file)
        .arg("--state")
        .arg(state)
        .arg("--output")
        .arg(out)
        .args(["--host", "dbhost"]);
    once
}

/// For each of `builds` (a binary and a name), the fastest of [`RUNS`] runs of `once` (wall
/// and CPU seconds, peak RSS) and its output; the builds take turns, one run each a round.
fn best_once(builds: &[(&Path, &str)], dir: &Path, raw: &Path, key_file: &Path) -> Vec<((f64, f64, u64), PathBuf)> {
    let mut best: Vec<Option<(f64, f64, u64)>> = vec![None; builds.len()];
    let paths = |name: &str| (dir.join(format!("state-{name}")), dir.join(format!("out-{name}.log")));
    for _ in 0..RUNS {
        for ((bin, name), best) in builds.iter().zip(&mut best) {
            let (state, out) = paths(name);
            for path in [&state, &out] {
                let _ = fs::remove_file(path);
            }
            let run = timed(&mut once_command(bin, raw, key_file, &state, &out));
            if best.is_none_or(|b| run.0 < b.0) {
                *best = Some(run);
            }
        }
    }
    builds.iter().zip(best).map(|((_, name), best)| (best.expect("RUNS > 0"), paths(name).1)).collect()
}

/// What the helper thread does, alone: each line's mac chained to the mac the line before
/// claims, reading the lines as the normaliser does.
fn macs_only(raw: &Path, key: &Key) {
    let mut input = BufReader::with_capacity(1 << 20, File::open(raw).unwrap());
    let (mut line, mut prev, mut sealed) = (Vec::with_capacity(1024), Mac::ZERO, 0u64);
    while input.read_until(b'\n', &mut line).unwrap() > 0 {
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        sealed += u64::from(Sealed::ahead(key, &prev, text).is_some());
        prev = Sealed::claimed(text).unwrap_or(prev);
        line.clear();
    }
    std::hint::black_box(sealed);
}

/// Instructions per record under callgrind over `records` records: the macs alone (this
/// bench, `--macs-only`), the baseline and this build, by thread.
fn instructions(dir: &Path, key: &Key, key_file: &Path, records: u64, baseline: Option<&Path>) {
    println!();
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("valgrind is not installed: no instruction counts.");
        return;
    }
    let raw = dir.join("raw-callgrind.log");
    generate(&raw, key, records);
    println!("| {records} records under callgrind | instructions/record | main thread | other threads |");
    println!("|---|---:|---:|---:|");
    let me = std::env::current_exe().unwrap();
    let mut macs = Command::new(me);
    macs.arg("--macs-only").arg(&raw).arg(key_file);
    let mut runs = vec![("the macs alone (keyed BLAKE3, one thread)", macs, false)];
    if let Some(bin) = baseline {
        let before = once_command(bin, &raw, key_file, &dir.join("cg-state-before"), &dir.join("cg-before.log"));
        runs.push(("dbaudit-normalise once, before", before, false));
    }
    let after = |name: &str| once_command(Path::new(BIN), &raw, key_file, &dir.join(name), &dir.join("cg-after.log"));
    // Under callgrind threads take turns, so how the macs fall between them says little; on
    // one core there is no helper, and the count is the work itself.
    runs.push(("dbaudit-normalise once, after, one core (taskset -c 0)", after("cg-state-one"), true));
    runs.push(("dbaudit-normalise once, after", after("cg-state-after"), false));
    for (name, command, one_core) in runs {
        let _ = fs::remove_file(dir.join("cg-after.log"));
        let threads = callgrind(dir, &command, one_core);
        let per = |ir: u64| ir as f64 / records as f64;
        let (main, rest) = (threads[0], threads[1..].iter().sum::<u64>());
        println!("| {name} | {:.0} | {:.0} | {:.0} |", per(main + rest), per(main), per(rest));
    }
    let _ = fs::remove_file(&raw);
}

/// The instructions each thread of `command` ran under callgrind (on CPU 0 alone, with
/// `one_core`), the main thread first.
fn callgrind(dir: &Path, command: &Command, one_core: bool) -> Vec<u64> {
    let out = dir.join("callgrind.out");
    let mut valgrind = Command::new(if one_core { "taskset" } else { "valgrind" });
    if one_core {
        valgrind.args(["-c", "0", "valgrind"]);
    }
    let status = valgrind
        .args(["--tool=callgrind", "--separate-threads=yes"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(command.get_program())
        .args(command.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "callgrind of {:?} failed", command.get_program());
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with("callgrind.out"))
        .collect();
    files.sort();
    let threads = files
        .iter()
        .map(|file| {
            let text = fs::read_to_string(file).unwrap();
            let _ = fs::remove_file(file);
            let total = text.lines().find_map(|l| l.strip_prefix("summary: ").or_else(|| l.strip_prefix("totals: ")));
            total.and_then(|t| t.trim().parse().ok()).unwrap_or(0)
        })
        .collect::<Vec<u64>>();
    threads.into_iter().filter(|&ir| ir > 0).collect()
}

/// Writes `n` records as sysbench's `oltp_write_only` makes them through watched tables
/// `sbtest.sbtest1`..`sbtest4` (`id`, `k`, `c` of 119 characters, `pad` of 59, as sysbench
/// fills them): each transaction an update of `k`, an update of `c`, a delete and an insert,
/// about 600 bytes a record on average. Returns the file's size.
fn generate(path: &PathBuf, key: &Key, n: u64) -> u64 {
    let mut chain = Chain::new(key.clone(), Epoch(0x9f2c_41d0_7b3e_5a18));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut line = Vec::with_capacity(1024);
    let mut ts = 1_795_681_884_000_000;
    let point = chain.append_next(&mut line, Timestamp(ts), &EventRef::Start { prev: None });
    chain.advance(point);
    out.write_all(&line).unwrap();
    let mut random = Sysbench(0x2545_f491_4f6c_dd1d);
    for i in 1..n {
        line.clear();
        ts += 37;
        let table = [&b"sbtest1"[..], b"sbtest2", b"sbtest3", b"sbtest4"][(i / 4 % 4) as usize];
        let id = random.below(1_000_000).to_string();
        let (k, k2) = (random.below(1_000_000).to_string(), random.below(1_000_000).to_string());
        let (c, c2, pad) = (random.digits(10), random.digits(10), random.digits(5));
        let row = sbtest_row(&id, &k, &c, &pad);
        let (old, new) = match i % 4 {
            1 => (Some(row.clone()), Some(sbtest_row(&id, &k2, &c, &pad))),
            2 => (Some(row.clone()), Some(sbtest_row(&id, &k, &c2, &pad))),
            3 => (Some(row), None),
            _ => (None, Some(row)),
        };
        let op = match (&old, &new) {
            (Some(_), Some(_)) => Op::Update,
            (Some(_), None) => Op::Delete,
            _ => Op::Insert,
        };
        let changed: Vec<&[u8]> = match i % 4 {
            1 => vec![b"k"],
            _ => vec![b"c"],
        };
        let pk = old.as_ref().or(new.as_ref()).unwrap();
        let event = EventRef::Row(RowRef {
            db: b"sbtest",
            table,
            op,
            user: b"sbtest@localhost",
            conn: 4242 + i % 16,
            pk: &pk[..1],
            changed: (op == Op::Update).then_some(&changed[..]),
            old: old.as_deref(),
            new: new.as_deref(),
        });
        let point = chain.append_next(&mut line, Timestamp(ts), &event);
        chain.advance(point);
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
    fs::metadata(path).unwrap().len()
}

/// One row of an sbtest table.
fn sbtest_row<'a>(id: &'a str, k: &'a str, c: &'a [u8], pad: &'a [u8]) -> Vec<ColumnRef<'a>> {
    [(&b"id"[..], id.as_bytes()), (b"k", k.as_bytes()), (b"c", c), (b"pad", pad)]
        .into_iter()
        .map(|(name, value)| ColumnRef { name, value: Some(value), secret: false })
        .collect()
}

/// sysbench's random values: a xorshift generator, and its `c`/`pad` strings, groups of
/// eleven digits joined by dashes.
struct Sysbench(u64);

impl Sysbench {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn digits(&mut self, groups: usize) -> Vec<u8> {
        let mut text = Vec::with_capacity(groups * 12);
        for g in 0..groups {
            if g > 0 {
                text.push(b'-');
            }
            for _ in 0..11 {
                text.push(b'0' + self.below(10) as u8);
            }
        }
        text
    }
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
