//! A dbaudit-normalise still running when uninstall takes its program away. It is found in
//! /proc by the program it runs (bin/dbaudit-normalise of the tree, also once that file is
//! replaced or deleted), whatever started it. When systemd runs it as
//! dbaudit-normalise.service, the unit is stopped (and disabled, when uninstall removes the
//! unit file); any other such process is named, and stopped only with --force: it may be an
//! administrator's own run, and uninstall does not kill what it did not start unasked.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::plan::{Action, Plan};
use super::{Target, UNIT_PATH};
use crate::error::Failure;

/// The unit install puts in /etc/systemd/system.
const UNIT: &str = "dbaudit-normalise.service";
/// How long a process has to end after SIGTERM before it gets SIGKILL (both are safe for
/// the normaliser: its checkpoint is written after its output).
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// A process running the normaliser.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Process {
    /// Its id.
    pid: u32,
    /// Whether it is in the cgroup of dbaudit-normalise.service.
    in_unit: bool,
}

/// Every process whose program is `program` (this one's excepted).
fn processes_running(program: &Path) -> Vec<Process> {
    let wanted = fs::canonicalize(program).unwrap_or_else(|_| program.to_owned());
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut found: Vec<Process> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id() && runs(pid, &wanted))
        .map(|pid| {
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            Process { pid, in_unit: cgroup.lines().any(|l| l.ends_with(&format!("/{UNIT}"))) }
        })
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// Whether process `pid` runs `program` (a canonical path). The kernel adds " (deleted)"
/// to the link once the file is gone or replaced, as a reinstall does.
fn runs(pid: u32, program: &Path) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else { return false };
    let bytes = exe.as_os_str().as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    Path::new(OsStr::from_bytes(bytes)) == program
}

/// Whether systemd is the service manager here (sd_booted(3)'s test).
pub(super) fn systemd_runs() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Plans stopping every running normaliser of the installation, before anything is
/// removed; refuses, naming them, when some run outside systemd and `force` is not given.
pub(super) fn plan(target: &Target<'_>, plan: &mut Plan, force: bool) -> Result<(), Failure> {
    let program = target.layout.path("bin/dbaudit-normalise");
    let processes = processes_running(&program);
    let systemd = systemd_runs();
    if systemd && super::system_files_apply(target) && Path::new(UNIT_PATH).exists() {
        plan.actions.push(Action::Run {
            command: ["systemctl", "disable", "--now", UNIT].map(String::from).to_vec(),
            what: "its unit file goes".into(),
        });
    } else if systemd && processes.iter().any(|p| p.in_unit) {
        plan.actions.push(Action::Run {
            command: ["systemctl", "stop", UNIT].map(String::from).to_vec(),
            what: format!("it runs {}", program.display()),
        });
    }
    let loose: Vec<u32> = processes.iter().filter(|p| !(systemd && p.in_unit)).map(|p| p.pid).collect();
    if loose.is_empty() {
        return Ok(());
    }
    if force {
        plan.actions.extend(loose.into_iter().map(|pid| Action::Stop { pid, program: program.clone() }));
        return Ok(());
    }
    let pids = loose.iter().map(u32::to_string).collect::<Vec<_>>();
    Err(Failure::new(format!(
        "dbaudit-normalise is running as pid {} ({}), not as {UNIT}: stop it (kill {}) and run uninstall again, \
         or give --force to have uninstall stop it; nothing was changed",
        pids.join(", "),
        program.display(),
        pids.join(" ")
    )))
}

/// Stops process `pid` if it still runs `program`: SIGTERM, then SIGKILL after [`GRACE`].
pub(super) fn stop(pid: u32, program: &Path) -> Result<String, Failure> {
    let program: PathBuf = fs::canonicalize(program).unwrap_or_else(|_| program.to_owned());
    for (signal, wait) in [("TERM", GRACE), ("KILL", Duration::from_secs(2))] {
        // Checked before each signal: the pid may have ended and been reused meanwhile.
        if !runs(pid, &program) {
            return Ok(format!("pid {pid} has ended"));
        }
        let sent =
            Command::new("kill").args([format!("-{signal}"), pid.to_string()]).stderr(Stdio::null()).status().map_err(
                |e| Failure::new(format!("cannot run kill -{signal} {pid}: {e}; nothing after it was done")),
            )?;
        let deadline = Instant::now() + wait;
        while sent.success() && runs(pid, &program) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if !runs(pid, &program) {
            return Ok(format!("stopped pid {pid} (SIG{signal})"));
        }
    }
    Err(Failure::new(format!(
        "pid {pid} ({}) still runs after SIGTERM and SIGKILL; nothing after it was done",
        program.display()
    )))
}
