//! What the benchmarks under `tests/benches/` share: the server's CPU clock, the CONCAT_WS
//! baseline triggers, and their knobs from the environment.

use std::time::Duration;

/// `mariadbd`'s CPU time so far, all threads: utime + stime of /proc/PID/stat, in clock
/// ticks of 10 ms. The benchmarks time the server rather than the wall clock: on a shared
/// machine the wall clock measures the neighbours too.
pub fn server_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat of mariadbd");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// AFTER INSERT, UPDATE and DELETE triggers on `db`.`table` that only CONCAT_WS the same
/// columns dbaudit's triggers pass (the new row, both rows, the old row): the cheapest
/// trigger that still reads every value, which dbaudit's cost is measured against.
pub fn concat_ws_triggers(db: &str, table: &str, columns: &[&str]) -> Vec<String> {
    let list = |side: &str| columns.iter().map(|c| format!("{side}.`{c}`")).collect::<Vec<_>>().join(", ");
    [("ai", "INSERT", list("NEW")), ("au", "UPDATE", format!("{}, {}", list("OLD"), list("NEW"))), ("ad", "DELETE", list("OLD"))]
        .into_iter()
        .map(|(suffix, event, args)| {
            format!(
                "CREATE TRIGGER `{db}`.`{table}_{suffix}` AFTER {event} ON `{db}`.`{table}` FOR EACH ROW SET @concat = CONCAT_WS(',', {args})"
            )
        })
        .collect()
}

/// The number in the environment variable `name` (e.g. `DBAUDIT_BENCH_ROUNDS`), else
/// `default`: a quick run is a smaller number away. Panics with one line on a non-number.
pub fn knob(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={value:?}: expected a positive whole number")),
        Err(_) => default,
    }
}
