//! The response's configuration: the option file's `[client]` for the connection and
//! `[dbaudit]` for what to do. execd passes no flags, so the file is all there is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dbaudit_connect::{ClientOptions, Settings, DEFAULT_DEFAULTS_FILE};

/// The environment variable naming the option file.
pub const CONFIG_ENV: &str = "DBAUDIT_CONFIG";
/// Where the log goes when `[dbaudit] log` is not set.
pub const DEFAULT_LOG: &str = dbaudit_paths::RESPONSE_LOG;
pub use dbaudit_lockstate::DEFAULT_STATE_DIR;
/// Accounts never locked, whatever the configuration says.
const ALWAYS_PROTECTED: [&str; 5] = ["root", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"];

/// What to do on `add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the forensic record only.
    Record,
    /// Lock the account and kill its sessions, then write the record.
    Lock,
}

impl Action {
    /// The name in the configuration and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Record => "record",
            Action::Lock => "lock",
        }
    }
}

/// An account the configuration protects: `name@host` (that account only) or `name` (every host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protected {
    name: String,
    host: Option<String>,
}

impl Protected {
    /// Whether this entry covers the account `name`@`host`.
    pub fn covers(&self, name: &str, host: &str) -> bool {
        self.name == name && self.host.as_ref().is_none_or(|h| h.eq_ignore_ascii_case(host))
    }
}

/// The configuration in force.
#[derive(Debug)]
pub struct Config {
    /// The connection settings and the file they came from.
    pub settings: Settings,
    /// What `add` does.
    pub action: Action,
    /// Accounts never locked: the built-in ones, the `[client]` user, and `protected`.
    pub protected: Vec<Protected>,
    /// Where the lock state lives.
    pub state_dir: PathBuf,
    /// The log file.
    pub log: PathBuf,
    /// Connect, read and write timeout.
    pub timeout: Duration,
}

/// The option file to read: `$DBAUDIT_CONFIG`; else `etc/dbaudit.cnf` of the OSSEC tree this
/// program is installed in (`<dir>/active-response/bin/dbaudit-respond`), since ossec-execd
/// passes no environment and OSSEC need not live in /var/ossec; else the default.
pub(crate) fn config_path() -> PathBuf {
    if let Some(path) = std::env::var_os(CONFIG_ENV) {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("etc").join("dbaudit.cnf")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DEFAULTS_FILE))
}

/// Where the log goes when the configuration cannot be used: its `log` if that much is
/// known, else the default.
fn fallback_log(settings: Option<&Settings>) -> PathBuf {
    settings.and_then(|s| s.get("dbaudit", "log")).map_or_else(|| PathBuf::from(DEFAULT_LOG), PathBuf::from)
}

impl Config {
    /// Reads `path`. A missing file is an error: without `[client]` there is no account to
    /// act with. The error comes with the log to write it to.
    pub fn load(path: &Path) -> Result<Config, (String, PathBuf)> {
        let mut settings = Settings::load(Some(path), &ClientOptions::default()).map_err(|e| {
            (format!("{e}; set {CONFIG_ENV} or write {} (see --help)", path.display()), fallback_log(None))
        })?;
        let fail = |settings: &Settings, message: String| {
            (format!("{}: {message}", path.display()), fallback_log(Some(settings)))
        };

        let action = match settings.get("dbaudit", "action").unwrap_or("record") {
            "record" => Action::Record,
            "lock" => Action::Lock,
            other => return Err(fail(&settings, format!("[dbaudit] action = {other}: use record or lock"))),
        };
        let timeout = match settings.get("dbaudit", "timeout") {
            None => settings.timeout(),
            Some(text) => match text.parse::<f64>() {
                Ok(secs) if secs > 0.0 && secs <= 300.0 => Duration::from_secs_f64(secs),
                _ => {
                    return Err(fail(&settings, format!("[dbaudit] timeout = {text}: give seconds, 0 < timeout ≤ 300")))
                }
            },
        };
        settings.client.timeout = Some(timeout);

        let mut protected: Vec<Protected> =
            ALWAYS_PROTECTED.iter().map(|name| Protected { name: (*name).into(), host: None }).collect();
        protected.push(Protected { name: settings.user().to_owned(), host: None });
        for item in settings.get("dbaudit", "protected").unwrap_or("").split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let entry = match item.rsplit_once('@') {
                Some((name, host)) if !host.is_empty() => Protected { name: name.into(), host: Some(host.into()) },
                Some(_) => return Err(fail(&settings, format!("[dbaudit] protected: \"{item}\" has an empty host"))),
                None => Protected { name: item.into(), host: None },
            };
            protected.push(entry);
        }

        let state_dir = settings.get("dbaudit", "state_dir").unwrap_or(DEFAULT_STATE_DIR).into();
        let log = fallback_log(Some(&settings));
        Ok(Config { settings, action, protected, state_dir, log, timeout })
    }

    /// Why `name`@`host` must not be locked, if it must not.
    pub fn protection(&self, name: &str, host: &str) -> Option<&'static str> {
        if ALWAYS_PROTECTED.contains(&name) {
            Some("a built-in administrative account")
        } else if name == self.settings.user() {
            Some("the account dbaudit-respond connects as ([client] user)")
        } else if self.protected.iter().any(|p| p.covers(name, host)) {
            Some("listed in [dbaudit] protected")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbaudit.cnf");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map_err(|(e, _)| e)
    }

    #[test]
    fn defaults_record_and_protect_root_and_the_client_user() {
        let config = load("[client]\nuser = responder\n").unwrap();
        assert_eq!(config.action, Action::Record);
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.log, PathBuf::from(DEFAULT_LOG));
        assert!(config.protection("root", "%").is_some());
        assert!(config.protection("responder", "localhost").is_some());
        assert!(config.protection("app", "localhost").is_none());
    }

    #[test]
    fn protected_entries_name_an_account_or_every_host() {
        let config =
            load("[client]\nuser=r\n[dbaudit]\naction = lock\nprotected = app@localhost, backup\ntimeout = 0.5\n")
                .unwrap();
        assert_eq!(config.action, Action::Lock);
        assert_eq!(config.timeout, Duration::from_millis(500));
        assert!(config.protection("app", "LOCALHOST").is_some());
        assert!(config.protection("app", "%").is_none());
        assert!(config.protection("backup", "10.0.0.1").is_some());
    }

    #[test]
    fn bad_settings_name_the_setting() {
        assert!(load("[dbaudit]\naction = drop\n").unwrap_err().contains("action = drop"));
        assert!(load("[dbaudit]\ntimeout = never\n").unwrap_err().contains("timeout = never"));
    }
}
