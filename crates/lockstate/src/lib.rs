//! What `dbaudit-respond` has locked, so that its `delete` unlocks only that: `locked.json`
//! under `state_dir`, one entry per `add` that locked (or re-locked) an account, read and
//! rewritten under an exclusive `File::lock` on `state_dir/lock`, replaced by tmp → fsync →
//! rename. `dbaudit-respond` writes it; `dbaudit fingerprint` reads it, so that a lock the
//! response put on an account is not taken for a change to the audit setup.
//!
//! It holds no database code: which account to lock, and the locking, are the response's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use dbaudit_connect::Account;
use serde_json::{json, Value};

/// Where the state lives when `[dbaudit] state_dir` of the response's configuration is not set.
pub const DEFAULT_STATE_DIR: &str = dbaudit_paths::RESPONSE_STATE_DIR;

/// The accounts held locked in `dir`, each once, without changing anything there; empty when
/// nothing was ever locked. Waits for the lock until `deadline` at most.
pub fn held_accounts(dir: &Path, deadline: Instant) -> io::Result<Vec<Account>> {
    Ok(LockState::open_if_any(dir, deadline)?.map(|state| state.accounts()).unwrap_or_default())
}

/// One `add` that locked an account and has not had its `delete` yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The session's account as the alert named it (`USER()`): what `delete` will name.
    pub session: String,
    /// The account locked.
    pub account: Account,
    /// When, in the record's timestamp form.
    pub since: String,
}

/// The state, held under its lock until dropped.
pub struct LockState {
    path: PathBuf,
    entries: Vec<Entry>,
    _lock: File,
}

impl LockState {
    /// Takes the lock (waiting until `deadline` at most) and reads the entries.
    pub fn open(dir: &Path, deadline: Instant) -> io::Result<LockState> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(dir.join("lock"))?;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "another dbaudit-respond holds the state lock"))
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let path = dir.join("locked.json");
        let entries = match fs::read(&path) {
            Ok(bytes) => parse(&bytes).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{} is not dbaudit-respond's state", path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(LockState { path, entries, _lock: lock })
    }

    /// [`LockState::open`], or None when `dir` holds no state: nothing was ever locked there
    /// (a look that must change nothing, such as `release-all --dry-run`, creates no directory).
    pub fn open_if_any(dir: &Path, deadline: Instant) -> io::Result<Option<LockState>> {
        if dir.join("lock").exists() {
            LockState::open(dir, deadline).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The accounts this program holds locked, each once, oldest lock first.
    pub fn accounts(&self) -> Vec<Account> {
        let mut accounts: Vec<Account> = Vec::new();
        for entry in &self.entries {
            if !accounts.contains(&entry.account) {
                accounts.push(entry.account.clone());
            }
        }
        accounts
    }

    /// Removes every entry for `account`, whatever session locked it, and writes the state.
    pub fn forget(&mut self, account: &Account) -> io::Result<()> {
        self.entries.retain(|e| &e.account != account);
        self.save()
    }

    /// Whether this program holds a lock on `account`.
    pub fn holds(&self, account: &Account) -> bool {
        self.entries.iter().any(|e| &e.account == account)
    }

    /// Adds an entry and writes the state.
    pub fn add(&mut self, entry: Entry) -> io::Result<()> {
        self.entries.push(entry);
        self.save()
    }

    /// Removes the oldest entry for `session` (if any) and writes the state; returns it.
    pub fn remove_session(&mut self, session: &str) -> io::Result<Option<Entry>> {
        let Some(at) = self.entries.iter().position(|e| e.session == session) else { return Ok(None) };
        let entry = self.entries.remove(at);
        self.save()?;
        Ok(Some(entry))
    }

    /// Removes the most recent entry equal to `entry` and writes the state (undoing [`LockState::add`]).
    pub fn remove(&mut self, entry: &Entry) -> io::Result<()> {
        if let Some(at) = self.entries.iter().rposition(|e| e == entry) {
            self.entries.remove(at);
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> io::Result<()> {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"session": e.session, "name": e.account.name, "host": e.account.host, "since": e.since}))
            .collect();
        let mut text = serde_json::to_vec(&json!({"version": 1, "locked": entries})).map_err(io::Error::other)?;
        text.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Option<Vec<Entry>> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if value.get("version")?.as_u64()? != 1 {
        return None;
    }
    value
        .get("locked")?
        .as_array()?
        .iter()
        .map(|e| {
            let text = |key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
            Some(Entry {
                session: text("session")?,
                account: Account { name: text("name")?, host: text("host")? },
                since: text("since")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(session: &str, name: &str, host: &str) -> Entry {
        Entry { session: session.into(), account: Account { name: name.into(), host: host.into() }, since: "t".into() }
    }

    #[test]
    fn entries_survive_a_reopen_and_go_one_delete_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let deadline = Instant::now() + Duration::from_secs(1);
        {
            let mut state = LockState::open(&dir, deadline).unwrap();
            state.add(entry("app@localhost", "app", "localhost")).unwrap();
            state.add(entry("app@localhost", "app", "localhost")).unwrap();
        }
        let mut state = LockState::open(&dir, deadline).unwrap();
        assert!(state.holds(&Account { name: "app".into(), host: "localhost".into() }));
        assert!(state.remove_session("app@localhost").unwrap().is_some());
        assert!(state.holds(&Account { name: "app".into(), host: "localhost".into() }));
        assert!(state.remove_session("app@localhost").unwrap().is_some());
        assert!(!state.holds(&Account { name: "app".into(), host: "localhost".into() }));
        assert!(state.remove_session("app@localhost").unwrap().is_none());
    }

    #[test]
    fn a_held_lock_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let held = LockState::open(&dir, Instant::now()).unwrap();
        let started = Instant::now();
        let second = LockState::open(&dir, Instant::now() + Duration::from_millis(100));
        assert_eq!(second.err().map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(held);
    }
}
