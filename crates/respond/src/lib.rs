//! `dbaudit-respond`: the OSSEC/Wazuh active response bound to dbaudit's rule 100025 (a row
//! changed in an audited table). It records forensics — the alert, the account's open
//! sessions, the row's current state — and, when configured to, locks the account the
//! session authenticated as and kills its connections; on `delete` it unlocks only what it
//! locked itself.
//!
//! It trusts nothing it is given: every field is checked, SQL values go as parameters or
//! through `dbaudit_connect`'s quoting, nothing reaches a shell. It runs in bounded time
//! (the configured timeout plus under a second) and never reads stdin when it has arguments.
//! It is not a daemon and keeps no state beyond the list of accounts it locked.
//!
//! Decisions a reader should know:
//! - The alert names `USER()` (`name@client-host`); the account to lock is the `mysql.user`
//!   entry MariaDB matched (see [`resolve()`]). No match, an anonymous match, or an anonymous
//!   entry more specific than the named one (where MySQL and MariaDB disagree) is declined.
//!   Only sessions whose host resolves to the same entry are killed.
//! - OSSEC's argv carries no table or primary key, so in OSSEC mode the record says the row
//!   is unavailable and points at the alert id; Wazuh's `full_log` carries both.
//! - Only `lock` with Wazuh answers `check_keys` (key: the session's `USER()`); `record`
//!   keeps no state, prints nothing, and so gets no `delete` and no deduplication.
//! - `delete` is driven by the state file alone: it unlocks an account only when the last
//!   pending `add` that locked it is undone; an account found locked already is left to its owner.
//! - `release-all` (see [`release`]) unlocks everything the state file holds at once, pending
//!   `add`s or not: `dbaudit uninstall` runs it, since execd's `delete` cannot run a program
//!   that is gone.

mod alert;
mod config;
mod release;
mod report;
mod resolve;
mod server;
mod wazuh;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use dbaudit_connect::{Account, ConnectErrorKind};
use serde_json::{json, Value};

pub use alert::{Alert, Command, Protocol, Refusal};
pub use config::{Action, Config, CONFIG_ENV, DEFAULT_LOG, DEFAULT_STATE_DIR};
pub use report::Outcome;
pub use resolve::{host_matches, host_rank, resolve, Resolution};

use crate::resolve::Resolution as R;
use crate::server::{sessions_of, Server, MAX_SESSIONS};
use dbaudit_lockstate::{Entry, LockState};

/// `--help`.
pub const HELP: &str = "\
dbaudit-respond — dbaudit's active response for OSSEC and Wazuh (rule 100025: a row changed)

Run by ossec-execd:  dbaudit-respond add|delete user srcip alertid ruleid location filename
Run by wazuh-execd:  dbaudit-respond            (one JSON message on stdin; check_keys handshake)
Run by hand:         dbaudit-respond --help
                     dbaudit-respond release-all [--dry-run]

Configuration: the MySQL option file named by $DBAUDIT_CONFIG, else etc/dbaudit.cnf of the
OSSEC tree this program is installed in, else /var/ossec/etc/dbaudit.cnf.
  [client]   user, password, socket, host, port    the account it acts with; it needs
             SELECT on mysql.user, CREATE USER, PROCESS and CONNECTION ADMIN (or SUPER),
             and SELECT on the audited tables for the row's current state
  [dbaudit]  action = record | lock      record (default): log the alert, the account's open
                                         sessions and the row's current state;
                                         lock: also ALTER USER … ACCOUNT LOCK the account the
                                         session authenticated as and KILL its connections
             protected = name@host, name  never locked (root, mariadb.sys, mysql.* and the
                                         [client] user always are); a bare name covers every host
             state_dir = /var/ossec/var/dbaudit   the accounts it locked (locked.json)
             log = /var/ossec/logs/active-responses.log   one JSON line per invocation
                                         (also sent to syslog, facility authpriv)
             timeout = 5                 seconds for connecting and for each statement; the
                                         whole run ends within timeout + 1 s

delete unlocks an account only if this program locked it (and no other pending add holds it).

release-all unlocks every account this program holds locked (state_dir says which; nothing
else), whatever alerts are still pending: `dbaudit uninstall` runs it before removing the
program, whose pending deletes could then never run. It prints one line per account:
  unlocked <account>       done
  forgot <account>         the account no longer exists; dropped from the state
  still locked <account>   not unlocked (exit 4; the reason goes to stderr and the log)
  would unlock <account>   with --dry-run, which changes nothing and does not connect
or `nothing to release` when it holds no lock.

Exit status:
  0  done (recorded, locked, unlocked, nothing to undo, every lock released), or Wazuh
     answered abort
  1  refused: a field is missing or malformed, or the Wazuh message/handshake is not usable,
     or release-all was given an argument other than --dry-run; nothing was done
  2  declined: the account is protected, or cannot be resolved to exactly one account
  3  the configuration cannot be read or holds a bad setting
  4  the server is unreachable, refused a statement, or did not answer in time
  5  the state under state_dir cannot be used, or the log cannot be written
";

/// Whether a line has been emitted: by the run or by the watchdog, never both.
static EMITTED: AtomicBool = AtomicBool::new(false);

/// The program: `args` without the program name; returns the exit status.
pub fn run(program: &str, args: Vec<OsString>) -> i32 {
    let started = Instant::now();
    if args.len() == 1 && (args[0] == "--help" || args[0] == "-h") {
        print!("{HELP}");
        return 0;
    }
    // Run by a person (or dbaudit uninstall), not by execd: it also says why on stderr.
    let release = args.first().is_some_and(|a| a == release::RELEASE_ALL);
    let report = Arc::new(Mutex::new(report::Report::new(started)));
    let config = match Config::load(&config::config_path()) {
        Ok(config) => config,
        Err((message, log)) => {
            if release {
                eprintln!("dbaudit-respond: {message}");
            }
            lock(&report).finish(Outcome::ConfigError, Some(message));
            return emit(&report, &log);
        }
    };
    let responder = Responder { config, report, started };
    let outcome = if release { responder.release_all(&args[1..]) } else { responder.respond(program, args) };
    let mut report = lock(&responder.report);
    if let Err((outcome, reason)) = outcome {
        if release {
            eprintln!("dbaudit-respond: {reason}");
        }
        report.finish(outcome, Some(reason));
    }
    drop(report);
    emit(&responder.report, &responder.config.log)
}

fn lock(report: &Mutex<report::Report>) -> MutexGuard<'_, report::Report> {
    report.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Emits the report once and returns the exit status; if the watchdog got there first,
/// waits for it to end the process.
fn emit(report: &Mutex<report::Report>, log: &Path) -> i32 {
    if EMITTED.swap(true, Ordering::SeqCst) {
        loop {
            thread::park();
        }
    }
    let mut report = lock(report);
    match report.emit(log) {
        Ok(()) => report.outcome.exit_code(),
        Err(e) => {
            eprintln!("dbaudit-respond: cannot write {}: {e}; set [dbaudit] log", log.display());
            if report.outcome == Outcome::Done {
                Outcome::StateError.exit_code()
            } else {
                report.outcome.exit_code()
            }
        }
    }
}

type Step<T> = Result<T, (Outcome, String)>;

struct Responder {
    config: Config,
    report: Arc<Mutex<report::Report>>,
    started: Instant,
}

impl Responder {
    fn note(&self, key: &str, value: impl Into<Value>) {
        lock(&self.report).set(key, value);
    }

    fn mark(&self, what: &str) {
        lock(&self.report).mark(what);
    }

    fn respond(&self, program: &str, args: Vec<OsString>) -> Step<()> {
        self.note("action", self.config.action.as_str());
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.into_string().map_err(|_| (Outcome::Refused, "an argument is not UTF-8 text".to_owned())))
            .collect::<Result<_, _>>()?;
        let mut stdin = None;
        let alert = if args.is_empty() {
            self.note("protocol", Protocol::Wazuh.as_str());
            let lines = stdin.insert(wazuh::Stdin::spawn());
            let line = lines.next_line(self.config.timeout).map_err(|e| (Outcome::Refused, e))?;
            alert::from_json(&line)
        } else {
            self.note("protocol", Protocol::Ossec.as_str());
            alert::from_argv(&args)
        }
        .map_err(|Refusal(reason)| (Outcome::Refused, reason))?;
        self.describe(&alert);

        let session = match alert.user.as_deref() {
            None => return Err((Outcome::Refused, "the alert names no account (user is absent)".into())),
            Some(user) => Account::parse(user).map_err(|e| (Outcome::Refused, format!("user: {e}")))?,
        };
        if let Some(op) = alert.op.as_deref() {
            if !matches!(op, "insert" | "update" | "delete") {
                return Err((Outcome::Refused, format!("op={} is not a row change by the account", alert::shown(op))));
            }
        }
        match alert.command {
            Command::Delete => self.undo(&session),
            Command::Add => {
                if let Some(why) = self.config.protection(&session.name, &session.host) {
                    return Err((Outcome::Declined, format!("{session} is protected: {why}")));
                }
                if self.config.action == Action::Lock && alert.protocol == Protocol::Wazuh {
                    let lines = stdin.as_mut().expect("Wazuh mode reads stdin");
                    if !wazuh::check_keys(program, &session.to_string(), lines, self.config.timeout)
                        .map_err(|e| (Outcome::Refused, e))?
                    {
                        self.note("done", json!(["nothing: wazuh-execd answered abort (already active)"]));
                        return Err((Outcome::Aborted, "wazuh-execd answered abort".into()));
                    }
                }
                self.act(&alert, &session)
            }
        }
    }

    fn describe(&self, alert: &Alert) {
        let mut report = lock(&self.report);
        report.set("command", alert.command.as_str());
        for (key, value) in [
            ("user", &alert.user),
            ("srcip", &alert.srcip),
            ("alert_id", &alert.alert_id),
            ("rule_id", &alert.rule_id),
            ("location", &alert.location),
            ("filename", &alert.filename),
            ("op", &alert.op),
        ] {
            if let Some(value) = value {
                report.set(key, value.as_str());
            }
        }
        if let Some((db, table)) = &alert.table {
            report.set("table", format!("{db}.{table}"));
        }
        if let Some(pk) = &alert.pk {
            let pk: serde_json::Map<String, serde_json::Value> =
                pk.iter().map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into())).collect();
            report.set("pk", pk);
        }
        if let Some(seq) = alert.seq {
            report.set("seq", seq);
        }
    }

    fn connect(&self) -> Step<Server> {
        watchdog::arm(Arc::clone(&self.report), self.config.log.clone(), self.config.timeout);
        let server = Server::connect(&self.config.settings).map_err(|e| match e.kind() {
            ConnectErrorKind::Config => (Outcome::ConfigError, e.to_string()),
            _ => (Outcome::ServerError, e.to_string()),
        })?;
        self.mark("connected");
        Ok(server)
    }

    /// `add`: resolve, lock (if configured) and kill, then record.
    fn act(&self, alert: &Alert, session: &Account) -> Step<()> {
        let mut server = self.connect()?;
        let sql = |e: mysql::Error| (Outcome::ServerError, e.to_string());
        let (resolution, candidates) = server.resolve(session).map_err(sql)?;
        let account = match resolution {
            R::Account(account) => account,
            R::NoMatch => {
                return Err((
                    Outcome::Declined,
                    format!("no account named {:?} matches host {:?}: anonymous or gone", session.name, session.host),
                ))
            }
            R::Ambiguous(account) => {
                return Err((
                    Outcome::Declined,
                    format!("{session} may have authenticated as {account} or as an anonymous account"),
                ))
            }
        };
        self.note("account", account.to_sql());
        if let Some(why) = self.config.protection(&account.name, &account.host) {
            return Err((Outcome::Declined, format!("{} is protected: {why}", account.to_sql())));
        }

        let sessions = server.sessions(&session.name).map_err(sql)?;
        let own: Vec<u64> = sessions_of(&account, &candidates, &sessions).iter().map(|s| s.id).collect();
        let mut done: Vec<Value> = Vec::new();
        if self.config.action == Action::Lock {
            done.push(self.lock_account(&mut server, &account, session)?.into());
            self.mark("locked");
            let mut killed = Vec::new();
            for id in &own {
                if server.kill(*id).map_err(sql)? {
                    killed.push(*id);
                }
            }
            self.mark("killed");
            done.push(json!({"killed": killed}));
        } else {
            done.push("recorded".into());
        }
        let listed: Vec<Value> = sessions
            .iter()
            .map(|s| {
                let mut detail = s.detail.clone();
                detail["same_account"] = json!(own.contains(&s.id));
                detail
            })
            .collect();
        self.note("sessions", Value::Array(listed.into_iter().take(MAX_SESSIONS).collect()));
        self.note("done", Value::Array(done));
        self.forensics(&mut server, alert);
        Ok(())
    }

    /// Locks `account` unless someone else already did; remembers it in the state first,
    /// so that a run cut short by the watchdog still leaves the `delete` able to undo it.
    fn lock_account(&self, server: &mut Server, account: &Account, session: &Account) -> Step<String> {
        let deadline = self.started + self.config.timeout;
        let mut state = LockState::open(&self.config.state_dir, deadline)
            .map_err(|e| (Outcome::StateError, format!("{}: {e}", self.config.state_dir.display())))?;
        let sql = |e: mysql::Error| (Outcome::ServerError, e.to_string());
        if !state.holds(account) && server.is_locked(account).map_err(sql)? {
            return Ok(format!("{} was already locked, not by dbaudit-respond: left to its owner", account.to_sql()));
        }
        let entry = Entry { session: session.to_string(), account: account.clone(), since: lock_time() };
        state
            .add(entry.clone())
            .map_err(|e| (Outcome::StateError, format!("{}: {e}", self.config.state_dir.display())))?;
        if let Err(e) = server.set_locked(account, true) {
            let _ = state.remove(&entry);
            return Err(sql(e));
        }
        Ok(format!("locked {}", account.to_sql()))
    }

    /// `delete`: unlock what the matching `add` locked, if it did and nothing else holds it.
    fn undo(&self, session: &Account) -> Step<()> {
        let deadline = self.started + self.config.timeout;
        let state_error =
            |e: std::io::Error| (Outcome::StateError, format!("{}: {e}", self.config.state_dir.display()));
        let mut state = LockState::open(&self.config.state_dir, deadline).map_err(state_error)?;
        let Some(entry) = state.remove_session(&session.to_string()).map_err(state_error)? else {
            self.note("done", json!([format!("nothing to undo: dbaudit-respond did not lock {session}")]));
            return Ok(());
        };
        self.note("account", entry.account.to_sql());
        if state.holds(&entry.account) {
            self.note(
                "done",
                json!([format!("left {} locked: another alert's lock is pending", entry.account.to_sql())]),
            );
            return Ok(());
        }
        let mut server = self.connect()?;
        if let Err(e) = server.set_locked(&entry.account, false) {
            let _ = state.add(entry);
            return Err((Outcome::ServerError, e.to_string()));
        }
        self.mark("unlocked");
        self.note("done", json!([format!("unlocked {}", entry.account.to_sql())]));
        Ok(())
    }

    /// The row's current state, when the alert says which row; otherwise why not.
    fn forensics(&self, server: &mut Server, alert: &Alert) {
        match (&alert.table, &alert.pk) {
            (Some((db, table)), Some(pk)) => match server.row(db, table, pk, &alert.secret_columns) {
                Ok(row) => self.note("row", row),
                Err(why) => self.note("row_unavailable", why),
            },
            _ if alert.protocol == Protocol::Ossec => self.note(
                "row_unavailable",
                "ossec-execd passes no table or primary key; the alert's log line has them (see alert_id)",
            ),
            _ => self.note("row_unavailable", "the alert's full_log names no table= and pk="),
        }
        self.mark("recorded");
    }
}

fn lock_time() -> String {
    let mut out = Vec::new();
    dbaudit_record::Timestamp::now().write(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

mod watchdog {
    //! Ends the run when the server phase outlasts its time: a statement's read timeout
    //! bounds one round trip, not a run of several.

    use super::*;

    /// Slack after the timeout for writing the line and exiting.
    const SLACK: Duration = Duration::from_millis(800);

    /// Starts the watchdog (once) for `timeout` + slack from now.
    pub(crate) fn arm(report: Arc<Mutex<report::Report>>, log: PathBuf, timeout: Duration) {
        static ARMED: AtomicBool = AtomicBool::new(false);
        if ARMED.swap(true, Ordering::SeqCst) {
            return;
        }
        let deadline = Instant::now() + timeout + SLACK;
        thread::spawn(move || {
            thread::sleep(deadline.saturating_duration_since(Instant::now()));
            if EMITTED.swap(true, Ordering::SeqCst) {
                return;
            }
            let mut report = lock(&report);
            report.finish(
                Outcome::ServerError,
                Some(format!("the server did not answer within the timeout ({} s)", timeout.as_secs_f64())),
            );
            let _ = report.emit(&log);
            let _ = std::io::stdout().flush();
            std::process::exit(Outcome::ServerError.exit_code());
        });
    }
}
