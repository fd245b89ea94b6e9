//! What auditing costs a real MariaDB under sysbench, and a check that it loses nothing.
//!
//! One private mariadbd (`--userstat=1`), three databases, each with sysbench's 4 tables of
//! 100,000 rows: (a) no trigger, (b) triggers that only CONCAT_WS the same columns, (c)
//! dbaudit's triggers as `dbaudit watch` makes them. Workloads oltp_insert,
//! oltp_update_non_index, oltp_delete (sysbench 1.0's deletes only) and oltp_write_only (an
//! index update, a non-index update, a delete and an insert per transaction), with 1 and 4
//! threads, each cell a fixed number of events so that the rows changed are known. Rounds
//! interleave everything — for each round, each workload and thread count, each variant — so
//! the drift of a shared machine hits every variant alike; the table shows medians.
//!
//! The clock is mariadbd's CPU time (user + system, all threads, /proc/PID/stat) from the
//! start of a sysbench run until the server is quiet again, so each run pays for its own
//! purge. Dirty pages are written out between runs (`FLUSH TABLES … FOR EXPORT`), outside
//! the clock: triggers do not change them, and a checkpoint's burst would land in any run. Rows changed come from information_schema
//! TABLE_STATISTICS (ROWS_CHANGED counts inserted, updated and deleted rows alike). Ids are
//! drawn uniformly (`--rand-type=uniform`), with the same seed for every variant of a cell;
//! the rows oltp_delete deletes are put back after it, outside the clock.
//!
//! Then nothing lost: the dbaudit database's row records in the UDF's log, per table, must
//! equal its rows changed since the triggers went in, and `dbaudit verify` must pass the log.
//! Each prints PASS or FAIL; a FAIL makes the benchmark exit with 1. The speed itself is
//! reported, not asserted.
//!
//! `cargo bench -p dbaudit-tests --bench sysbench`; `DBAUDIT_BENCH_ROUNDS` (default 3) and
//! `DBAUDIT_BENCH_EVENTS` (events per cell, default 20,000) set the size. Setting up (three
//! `sysbench prepare`) takes half a minute; each round (24 sysbench runs) two to three
//! minutes on a busy 2-core machine, so the default run takes about 10 minutes. Medians of
//! 5 rounds are steadier. `DBAUDIT_BENCH_ROUNDS=1 DBAUDIT_BENCH_EVENTS=1000` checks that it
//! works in a minute; its figures are too coarse to read (the clock ticks every 10 ms).
//! `DBAUDIT_BENCH_WORKLOADS=oltp_write_only DBAUDIT_BENCH_THREADS=4` spends every round on
//! one cell (names and counts comma separated). The goals are judged on c against b within
//! each round, whose runs are minutes apart at most; the table's medians are per variant.
//! sysbench is installed with `apt-get install -y sysbench` when missing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use dbaudit_record::{parse_view, EventView};
use dbaudit_tests::bench::{concat_ws_triggers, knob, server_cpu};
use dbaudit_tests::{sql_quote_str, MariaDb, Options};
use dbaudit_triggers::{watch_table, Flavour, TableName, WatchRequest};
use mysql::prelude::Queryable;
use mysql::Conn;

const TABLES: u32 = 4;
const TABLE_SIZE: u32 = 100_000;
/// sysbench's table: `id` (the primary key), `k` (indexed), `c`, `pad`.
const COLUMNS: [&str; 4] = ["id", "k", "c", "pad"];
const WORKLOADS: [&str; 4] = ["oltp_insert", "oltp_update_non_index", "oltp_delete", "oltp_write_only"];
const THREADS: [u32; 2] = [1, 4];
/// The goals of issue 12: dbaudit's cost above the CONCAT_WS trigger, per row, and the CPU
/// per transaction of oltp_write_only with 4 threads against the CONCAT_WS trigger's.
const GOAL_EXTRA_US_PER_ROW: f64 = 5.0;
const GOAL_WRITE_ONLY_RATIO: f64 = 1.10;

/// How a database of the benchmark is audited.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    NoTrigger,
    ConcatWs,
    Dbaudit,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::NoTrigger, Variant::ConcatWs, Variant::Dbaudit];

    fn database(self) -> &'static str {
        match self {
            Variant::NoTrigger => "sb_no_trigger",
            Variant::ConcatWs => "sb_concat_ws",
            Variant::Dbaudit => "sb_dbaudit",
        }
    }

    fn install_triggers(self, server: &MariaDb, root: &mut Conn) {
        let db = self.database();
        for n in 1..=TABLES {
            let table = format!("sbtest{n}");
            match self {
                Variant::NoTrigger => {}
                Variant::ConcatWs => {
                    for sql in concat_ws_triggers(db, &table, &COLUMNS) {
                        root.query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                    }
                }
                Variant::Dbaudit => {
                    let name = TableName::new(db, &table);
                    watch_table(root, Flavour::MariaDb, &name, &server.tokens(), &WatchRequest::default())
                        .unwrap_or_else(|e| panic!("watch {db}.{table}: {e}"));
                }
            }
        }
    }
}

/// sysbench against the benchmark's server.
struct Sysbench {
    socket: String,
}

impl Sysbench {
    /// Installs sysbench with apt-get when it is missing; panics with one line if it cannot.
    fn install_if_missing() {
        if !sysbench_runs() {
            println!("sysbench not found: running `apt-get install -y sysbench`");
            let status = Command::new("apt-get")
                .args(["install", "-y", "-o", "DPkg::Lock::Timeout=300", "sysbench"])
                .status()
                .map_err(|e| e.to_string())
                .and_then(|status| if status.success() { Ok(()) } else { Err(status.to_string()) });
            if let Err(e) = status {
                panic!("sysbench is missing and `apt-get install -y sysbench` failed ({e}): install sysbench and run again");
            }
            assert!(sysbench_runs(), "`apt-get install -y sysbench` succeeded but `sysbench --version` still fails");
        }
    }

    fn new(server: &MariaDb) -> Sysbench {
        Sysbench { socket: server.socket().to_str().expect("the harness's socket path is UTF-8").to_owned() }
    }

    fn command(&self, workload: &str, db: &str) -> Command {
        let mut command = Command::new("sysbench");
        command.arg(workload).args([
            "--db-driver=mysql",
            &format!("--mysql-socket={}", self.socket),
            "--mysql-user=root",
            &format!("--mysql-db={db}"),
            &format!("--tables={TABLES}"),
            &format!("--table-size={TABLE_SIZE}"),
        ]);
        command
    }

    /// Creates and fills `db`'s tables.
    fn prepare(&self, db: &str) {
        run(self.command("oltp_insert", db).arg("--threads=2").arg("prepare"));
    }

    /// Runs `events` events of `workload` on `db` with `threads` threads.
    fn run(&self, workload: &str, db: &str, threads: u32, events: u32, seed: u32) {
        run(self.command(workload, db).args([
            format!("--threads={threads}"),
            format!("--events={events}"),
            "--time=0".into(),
            // Uniform ids: sysbench's default draws most of them from 1 % of the rows, so that
            // oltp_delete would soon delete rows already gone, and threads would queue on them.
            "--rand-type=uniform".into(),
            format!("--rand-seed={seed}"),
            "run".into(),
        ]));
    }
}

fn sysbench_runs() -> bool {
    Command::new("sysbench").arg("--version").output().is_ok_and(|output| output.status.success())
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// ROWS_CHANGED per table of `db` since the server started: inserted, updated and deleted rows.
fn rows_changed(root: &mut Conn, db: &str) -> BTreeMap<String, u64> {
    let sql = format!(
        "SELECT TABLE_NAME, ROWS_CHANGED FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = {}",
        sql_quote_str(db)
    );
    root.query::<(String, u64), _>(&sql).unwrap_or_else(|e| panic!("{sql}: {e}")).into_iter().collect()
}

fn total_rows_changed(root: &mut Conn, db: &str) -> u64 {
    rows_changed(root, db).values().sum()
}

/// Writes `db`'s dirty pages to disk now (`FLUSH TABLES … FOR EXPORT`), between measured
/// runs: the triggers do not change how many pages a run dirties, and writing them out here
/// keeps a checkpoint's burst of page writes out of whichever run it would fall in.
fn flush_pages(root: &mut Conn, db: &str) {
    let tables: Vec<String> = (1..=TABLES).map(|n| format!("`{db}`.`sbtest{n}`")).collect();
    for sql in [format!("FLUSH TABLES {} FOR EXPORT", tables.join(", ")), "UNLOCK TABLES".to_owned()] {
        root.query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Puts back the rows of `db`'s tables that oltp_delete took, with ids 1 to 100,000 (the
/// sequence engine's `seq_1_to_N`), so that every run finds the tables full: a delete or an
/// update of a row already gone changes nothing and would dilute the figures per transaction.
fn refill(root: &mut Conn, db: &str) {
    for n in 1..=TABLES {
        let sql = format!(
            "INSERT IGNORE INTO `{db}`.`sbtest{n}` (id, k, c, pad) \
             SELECT seq, seq, REPEAT('7', 119), REPEAT('3', 59) FROM `{db}`.seq_1_to_{TABLE_SIZE}"
        );
        root.query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Waits until mariadbd has used less than a tick of CPU in a quarter of a second (its purge
/// and flushing done), or 10 s have passed.
fn wait_until_quiet(pid: u32) {
    const WINDOW: Duration = Duration::from_millis(250);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = server_cpu(pid);
    while Instant::now() < deadline {
        thread::sleep(WINDOW);
        let now = server_cpu(pid);
        if now - last <= Duration::from_millis(10) {
            return;
        }
        last = now;
    }
}

/// One sysbench run's cost in the server.
#[derive(Clone, Copy)]
struct Sample {
    cpu: Duration,
    rows: u64,
    events: u32,
}

impl Sample {
    fn us_per_event(self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / f64::from(self.events)
    }

    fn us_per_row(self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.rows.max(1) as f64
    }
}

/// A workload and thread count: one row of the table.
#[derive(Clone, Copy)]
struct Cell {
    workload: &'static str,
    threads: u32,
}

/// Every workload with every thread count, or those `DBAUDIT_BENCH_WORKLOADS` (names, comma
/// separated) and `DBAUDIT_BENCH_THREADS` (counts) pick, to spend the rounds on one cell.
fn cells() -> Vec<Cell> {
    let picked =
        |name: &str| std::env::var(name).ok().map(|v| v.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>());
    let workloads: Vec<&'static str> = match picked("DBAUDIT_BENCH_WORKLOADS") {
        None => WORKLOADS.to_vec(),
        Some(names) => names
            .iter()
            .map(|name| {
                WORKLOADS.iter().copied().find(|w| w == name).unwrap_or_else(|| {
                    panic!("DBAUDIT_BENCH_WORKLOADS: {name:?} is not one of {}", WORKLOADS.join(", "))
                })
            })
            .collect(),
    };
    let threads: Vec<u32> = match picked("DBAUDIT_BENCH_THREADS") {
        None => THREADS.to_vec(),
        Some(counts) => counts
            .iter()
            .map(|n| {
                n.parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| panic!("DBAUDIT_BENCH_THREADS: {n:?} is not a positive whole number"))
            })
            .collect(),
    };
    workloads.iter().flat_map(|&workload| threads.iter().map(move |&threads| Cell { workload, threads })).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The medians of one cell, per variant (in [`Variant::ALL`] order).
struct CellResult {
    us_per_event: [f64; 3],
    us_per_row: [f64; 3],
    rows_per_event: f64,
    /// The widest (max − min) / median of CPU per event among the variants: how far to trust it.
    spread: f64,
    /// c − b µs per row and c/b per transaction within each round, where the two runs were
    /// next to each other in time: the median and the range over the rounds. Drift of a
    /// shared machine between rounds cancels out of these, not out of the medians above.
    paired_extra: Range,
    paired_ratio: Range,
}

/// A median with the lowest and highest value it was taken over.
#[derive(Clone, Copy)]
struct Range {
    median: f64,
    lo: f64,
    hi: f64,
}

impl Range {
    fn of(values: Vec<f64>) -> Range {
        let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        Range { median: median(values), lo, hi }
    }
}

impl CellResult {
    fn of(samples: &[Vec<Sample>; 3]) -> CellResult {
        let us_per_event = samples.each_ref().map(|s| median(s.iter().map(|s| s.us_per_event()).collect()));
        let us_per_row = samples.each_ref().map(|s| median(s.iter().map(|s| s.us_per_row()).collect()));
        let rows_per_event = median(samples[0].iter().map(|s| s.rows as f64 / f64::from(s.events)).collect::<Vec<_>>());
        let spread = samples
            .iter()
            .zip(us_per_event)
            .map(|(s, m)| {
                let values: Vec<f64> = s.iter().map(|s| s.us_per_event()).collect();
                let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                (hi - lo) / m
            })
            .fold(0.0, f64::max);
        let rounds = || samples[2].iter().zip(&samples[1]);
        let paired_extra = Range::of(rounds().map(|(c, b)| c.us_per_row() - b.us_per_row()).collect());
        let paired_ratio = Range::of(rounds().map(|(c, b)| c.us_per_event() / b.us_per_event()).collect());
        CellResult { us_per_event, us_per_row, rows_per_event, spread, paired_extra, paired_ratio }
    }

    /// µs per row changed of variant `x` above variant `y`.
    fn extra(&self, x: usize, y: usize) -> f64 {
        self.us_per_row[x] - self.us_per_row[y]
    }

    fn ratio(&self, x: usize, y: usize) -> f64 {
        self.us_per_event[x] / self.us_per_event[y]
    }
}

fn report(results: &[(Cell, CellResult)], rounds: u32, events: u32) {
    println!();
    println!(
        "sysbench 1.0, {TABLES} tables × {TABLE_SIZE} rows, {events} events per cell, median of {rounds} rounds; \
         mariadbd CPU (user + sys). a: no trigger, b: CONCAT_WS trigger, c: dbaudit trigger. \
         µs/row = per row changed (TABLE_STATISTICS)."
    );
    println!();
    println!(
        "| workload | threads | rows/txn | a µs/txn | b µs/txn | c µs/txn | b − a µs/row | c − a µs/row | c − b µs/row | b/a | c/a | c/b | spread |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (cell, r) in results {
        println!(
            "| {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:+.1} | {:+.1} | {:+.1} | {:.2} | {:.2} | {:.2} | {:.0} % |",
            cell.workload,
            cell.threads,
            r.rows_per_event,
            r.us_per_event[0],
            r.us_per_event[1],
            r.us_per_event[2],
            r.extra(1, 0),
            r.extra(2, 0),
            r.extra(2, 1),
            r.ratio(1, 0),
            r.ratio(2, 0),
            r.ratio(2, 1),
            r.spread * 100.0,
        );
    }
    println!();
    println!("spread: the widest (max − min) / median of µs/txn among a, b and c over the rounds.");
    println!("The goals below are judged on c against b within each round (median, and the range over rounds).");
    println!();
    for (operation, workload) in
        [("insert", "oltp_insert"), ("update", "oltp_update_non_index"), ("delete", "oltp_delete")]
    {
        let extras: Vec<String> = results
            .iter()
            .filter(|(cell, _)| cell.workload == workload)
            .map(|(cell, r)| {
                let Range { median, lo, hi } = r.paired_extra;
                let verdict = if median <= GOAL_EXTRA_US_PER_ROW { "met" } else { "not met" };
                format!("{median:+.1} µs ({lo:+.1} to {hi:+.1}) with {} thread(s) ({verdict})", cell.threads)
            })
            .collect();
        if extras.is_empty() {
            continue;
        }
        println!("goal 1, c − b ≤ {GOAL_EXTRA_US_PER_ROW} µs per row, {operation}: {}", extras.join(", "));
    }
    for (cell, r) in results.iter().filter(|(cell, _)| cell.workload == "oltp_write_only" && cell.threads == 4) {
        let Range { median, lo, hi } = r.paired_ratio;
        let verdict = if median <= GOAL_WRITE_ONLY_RATIO { "met" } else { "not met" };
        println!(
            "goal 2, oltp_write_only with {} threads, c/b ≤ {GOAL_WRITE_ONLY_RATIO:.2}: {median:.3} ({lo:.3} to {hi:.3}) ({verdict})",
            cell.threads
        );
    }
}

/// Row records of `db` in the UDF's log, per table; records that say something went wrong
/// (lost, drift, forged) are returned as lines to report.
fn records_in_log(log: &Path, db: &str) -> (BTreeMap<String, u64>, Vec<String>) {
    let file = File::open(log).unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
    let mut reader = BufReader::new(file);
    let (mut per_table, mut trouble) = (BTreeMap::new(), Vec::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display())) == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match parse_view(text) {
            Ok(view) => match view.event {
                EventView::Start { .. } => {}
                EventView::Row(row) => {
                    if row.db.bytes().as_deref() == Some(db.as_bytes()) {
                        let table = String::from_utf8_lossy(&row.table.bytes().unwrap_or_default()).into_owned();
                        *per_table.entry(table).or_insert(0) += 1;
                    }
                }
                EventView::Forged(_) | EventView::Drift(_) | EventView::Lost { .. } => {
                    trouble.push(String::from_utf8_lossy(text).into_owned())
                }
            },
            Err(e) => trouble.push(format!("unreadable record ({e}): {}", String::from_utf8_lossy(text))),
        }
    }
    (per_table, trouble)
}

/// Compares the dbaudit database's records with its rows changed since `before`; true on PASS.
fn check_nothing_lost(server: &MariaDb, root: &mut Conn, before: &BTreeMap<String, u64>) -> bool {
    let db = Variant::Dbaudit.database();
    let after = rows_changed(root, db);
    let (records, trouble) = records_in_log(&server.log_path(), db);
    let mut pass = trouble.is_empty();
    for line in trouble.iter().take(5) {
        println!("  not a row record: {line}");
    }
    for n in 1..=TABLES {
        let table = format!("sbtest{n}");
        let changed = after.get(&table).copied().unwrap_or(0) - before.get(&table).copied().unwrap_or(0);
        let written = records.get(&table).copied().unwrap_or(0);
        println!("  {db}.{table}: {changed} rows changed, {written} row records");
        pass &= changed == written && changed > 0;
    }
    let verdict = if pass { "PASS" } else { "FAIL" };
    println!("{verdict}: one record per row changed in {db} ({} records of trouble)", trouble.len());
    pass
}

/// Runs `dbaudit verify` over the log; true on PASS.
fn check_verify(server: &MariaDb) -> bool {
    let status = std::process::Command::new(dbaudit_tests::dbaudit_binary())
        .args(["verify", "--key-file"])
        .arg(server.dir().join("dbaudit.key"))
        .arg(server.log_path())
        .status()
        .expect("run dbaudit verify");
    let verdict = if status.success() { "PASS" } else { "FAIL" };
    println!("{verdict}: dbaudit verify --key-file dbaudit.key dbaudit.log: {status}");
    status.success()
}

fn main() -> ExitCode {
    Sysbench::install_if_missing();
    let rounds = knob("DBAUDIT_BENCH_ROUNDS", 3);
    let events = knob("DBAUDIT_BENCH_EVENTS", 20_000);
    let server = MariaDb::start_with(Options {
        server_args: [
            "--userstat=1",
            // The three databases stay in memory, and a checkpoint seldom forces pages out
            // in the middle of a run: the benchmark measures CPU, not the disk.
            "--innodb-buffer-pool-size=1G",
            "--innodb-log-file-size=512M",
            "--max-connections=50",
        ]
        .map(String::from)
        .into(),
        ..Options::default()
    });
    let sysbench = Sysbench::new(&server);
    let pid = server.pid();
    let mut root = server.root();
    for variant in Variant::ALL {
        let started = Instant::now();
        server.fresh_database(variant.database());
        sysbench.prepare(variant.database());
        variant.install_triggers(&server, &mut root);
        flush_pages(&mut root, variant.database());
        println!("{}: prepared in {:.0} s", variant.database(), started.elapsed().as_secs_f64());
    }
    let before = rows_changed(&mut root, Variant::Dbaudit.database());

    let cells = cells();
    let mut samples: Vec<[Vec<Sample>; 3]> = cells.iter().map(|_| Default::default()).collect();
    for round in 0..rounds {
        let started = Instant::now();
        for (c, cell) in cells.iter().enumerate() {
            // The same ids for every variant of a cell, other ids in each round.
            let seed = 1 + round * 100 + c as u32;
            for (v, variant) in Variant::ALL.iter().enumerate() {
                let db = variant.database();
                wait_until_quiet(pid);
                let rows_before = total_rows_changed(&mut root, db);
                let cpu_before = server_cpu(pid);
                sysbench.run(cell.workload, db, cell.threads, events, seed);
                wait_until_quiet(pid);
                let cpu = server_cpu(pid) - cpu_before;
                let rows = total_rows_changed(&mut root, db) - rows_before;
                samples[c][v].push(Sample { cpu, rows, events });
                if cell.workload == "oltp_delete" {
                    refill(&mut root, db);
                }
                flush_pages(&mut root, db);
            }
        }
        println!("round {} of {rounds} done in {:.0} s", round + 1, started.elapsed().as_secs_f64());
    }
    let results: Vec<(Cell, CellResult)> =
        cells.iter().zip(&samples).map(|(cell, samples)| (*cell, CellResult::of(samples))).collect();
    report(&results, rounds, events);

    println!();
    let nothing_lost = check_nothing_lost(&server, &mut root, &before);
    let verified = check_verify(&server);
    if nothing_lost && verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
