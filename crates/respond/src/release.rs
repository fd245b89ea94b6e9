//! `dbaudit-respond release-all`: unlock every account this program holds locked, whatever
//! alerts are still pending. `dbaudit uninstall` runs it before it removes the program: the
//! `delete`s execd has pending could never run afterwards, and the accounts would stay
//! locked for good. The state file says which accounts; nothing else is unlocked.
//!
//! Its stdout is one line per account (`unlocked`, `forgot`, `still locked`, `would unlock`,
//! then the account as SQL writes it), which `dbaudit uninstall` reads and shows.

use std::ffi::OsString;

use serde_json::json;

use crate::report::Outcome;
use crate::{Responder, Step};
use dbaudit_lockstate::LockState;

/// The subcommand's name.
pub(crate) const RELEASE_ALL: &str = "release-all";
/// ER_CANNOT_USER: `ALTER USER` on an account that does not exist (MariaDB and MySQL).
const NO_SUCH_ACCOUNT: u16 = 1396;

impl Responder {
    /// `release-all [--dry-run]`: `args` are those after `release-all`.
    pub(crate) fn release_all(&self, args: &[OsString]) -> Step<()> {
        self.note("command", RELEASE_ALL);
        let dry_run = match args {
            [] => false,
            [flag] if flag == "--dry-run" => true,
            _ => return Err((Outcome::Refused, format!("{RELEASE_ALL} takes no argument but --dry-run"))),
        };
        if dry_run {
            self.note("dry_run", true);
        }
        let deadline = self.started + self.config.timeout;
        let state_error =
            |e: std::io::Error| (Outcome::StateError, format!("{}: {e}", self.config.state_dir.display()));
        let mut state = LockState::open_if_any(&self.config.state_dir, deadline).map_err(state_error)?;
        let accounts = state.as_ref().map(LockState::accounts).unwrap_or_default();
        self.note("accounts", accounts.iter().map(|a| a.to_sql()).collect::<Vec<_>>());
        if accounts.is_empty() {
            println!("nothing to release: dbaudit-respond holds no lock");
            self.note("done", json!(["nothing to release"]));
            return Ok(());
        }
        if dry_run {
            for account in &accounts {
                println!("would unlock {}", account.to_sql());
            }
            self.note("done", json!(["nothing: --dry-run"]));
            return Ok(());
        }
        let state = state.as_mut().expect("accounts came from a state");
        let mut server = self.connect().inspect_err(|_| {
            for account in &accounts {
                println!("still locked {}", account.to_sql());
            }
        })?;
        let (mut done, mut failure) = (Vec::new(), None);
        for account in &accounts {
            let line = match server.set_locked(account, false) {
                Ok(()) => format!("unlocked {}", account.to_sql()),
                Err(mysql::Error::MySqlError(e)) if e.code == NO_SUCH_ACCOUNT => format!("forgot {}", account.to_sql()),
                Err(e) => {
                    println!("still locked {}", account.to_sql());
                    failure.get_or_insert_with(|| format!("ALTER USER {} ACCOUNT UNLOCK: {e}", account.to_sql()));
                    continue;
                }
            };
            state.forget(account).map_err(state_error)?;
            println!("{line}");
            done.push(line);
        }
        self.mark("released");
        self.note("done", json!(done));
        failure.map_or(Ok(()), |reason| Err((Outcome::ServerError, reason)))
    }
}
