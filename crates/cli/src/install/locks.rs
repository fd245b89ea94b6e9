//! The accounts the installed dbaudit-respond holds locked, released before uninstall takes
//! the program away: once it is gone, the `delete` execd has pending can never run, and
//! the accounts would stay locked for good.
//!
//! The lock state is dbaudit-respond's own: it is asked, never read. It runs as execd runs
//! it (no environment, so it reads its own tree's etc/dbaudit.cnf), first with
//! `release-all --dry-run` to plan, then with `release-all`, whose lines (`unlocked
//! <account>`, `forgot <account>`, `still locked <account>`, `would unlock <account>`) are
//! documented in its --help.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::plan::{Action, Plan};
use super::Target;
use crate::error::Failure;

/// Where install puts dbaudit-respond under the OSSEC directory.
const PROGRAM: &str = "active-response/bin/dbaudit-respond";

/// Plans the release of every lock dbaudit-respond holds; returns the accounts it holds.
pub(super) fn plan(target: &Target<'_>, plan: &mut Plan, force: bool) -> Result<Vec<String>, Failure> {
    let program = target.layout.path(PROGRAM);
    if !program.exists() {
        return Ok(Vec::new());
    }
    if !target.layout.path("etc/dbaudit.cnf").exists() {
        // Without it, the program would read /var/ossec's configuration: another tree's locks.
        plan.note(format!(
            "{}: no etc/dbaudit.cnf in this tree, so it has no configuration here and holds no lock",
            program.display()
        ));
        return Ok(Vec::new());
    }
    let output = match ask(&program, &["release-all", "--dry-run"]) {
        Ok(output) => output,
        Err(e) => return refuse(plan, force, format!("cannot run {} release-all --dry-run: {e}", program.display())),
    };
    match output.status.code() {
        Some(0) => {}
        Some(1) => {
            return refuse(
                plan,
                force,
                format!(
                    "{} does not know release-all (an older build): it cannot be asked which accounts it locked; \
                 run `dbaudit install` with the same options first to update it",
                    program.display()
                ),
            )
        }
        _ => {
            return refuse(
                plan,
                force,
                format!("{} cannot tell which accounts it locked: {}", program.display(), failure(&output)),
            )
        }
    }
    let accounts = accounts(&output, "would unlock ");
    if accounts.is_empty() {
        plan.note(format!("{} holds no lock", program.display()));
    } else {
        plan.actions.push(Action::ReleaseLocks { program, accounts: accounts.clone(), force });
    }
    Ok(accounts)
}

/// A reason the accounts cannot be known: the refusal, or with `force` a warning and none.
fn refuse(plan: &mut Plan, force: bool, why: String) -> Result<Vec<String>, Failure> {
    if force {
        plan.warn(format!("{why}; --force: uninstalling anyway, any account it locked stays locked"));
        Ok(Vec::new())
    } else {
        Err(Failure::new(format!(
            "{why}; fix that and run uninstall again, or give --force to uninstall anyway (an account it \
             locked would stay locked); nothing was changed"
        )))
    }
}

/// Runs `release-all`; returns its lines for the report. When an account is left locked
/// it fails, naming them, unless `force`: then the lines end with a warning naming them.
pub(super) fn release(program: &Path, planned: &[String], force: bool) -> Result<Vec<String>, Failure> {
    let output = ask(program, &["release-all"])
        .map_err(|e| Failure::new(format!("cannot run {} release-all: {e}; nothing was changed", program.display())))?;
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    if output.status.success() {
        return Ok(lines);
    }
    let released = [accounts(&output, "unlocked "), accounts(&output, "forgot ")].concat();
    let mut still = accounts(&output, "still locked ");
    if still.is_empty() {
        // It ended before saying (its watchdog, a signal): what it did not unlock is still locked.
        still = planned.iter().filter(|a| !released.contains(a)).cloned().collect();
    }
    let why = failure(&output);
    if still.is_empty() {
        lines.push(format!("warning: every lock is released, yet {}: {why}", program.display()));
        return Ok(lines);
    }
    let by_hand = still.iter().map(|a| format!("ALTER USER {a} ACCOUNT UNLOCK")).collect::<Vec<_>>().join("; ");
    let still = still.join(", ");
    if force {
        lines.push(format!(
            "warning: left locked: {still} ({why}); --force: uninstalling anyway; unlock by hand: {by_hand}"
        ));
        return Ok(lines);
    }
    let done = if released.is_empty() { String::new() } else { format!("it did unlock {}; ", released.join(", ")) };
    Err(Failure::new(format!(
        "dbaudit-respond could not unlock {still}, which it locked ({why}): start the server (or fix [client] in \
         etc/dbaudit.cnf) and run uninstall again, or give --force to uninstall anyway and unlock by hand \
         ({by_hand}); {done}nothing else was changed"
    )))
}

/// Runs the program as execd does: no environment, nothing on stdin.
fn ask(program: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(program).args(args).env_clear().stdin(Stdio::null()).output()
}

/// The accounts of the lines of stdout that start with `prefix`.
fn accounts(output: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| l.strip_prefix(prefix)).map(str::to_owned).collect()
}

/// Why a run failed: its own message, else what its exit status means.
fn failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(line) = stderr.lines().find(|l| !l.trim().is_empty()) {
        return line.strip_prefix("dbaudit-respond: ").unwrap_or(line).to_owned();
    }
    match output.status.code() {
        Some(3) => "its configuration cannot be read".to_owned(),
        Some(4) => "the server is unreachable or did not answer in time".to_owned(),
        Some(5) => "its state or log cannot be used".to_owned(),
        _ => format!("it ended with {}", output.status),
    }
}
