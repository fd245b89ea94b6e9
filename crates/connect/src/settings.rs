//! Where and as whom to connect: the option file's `[client]` group, then flags on top,
//! as `mysql --defaults-file=… --user=…` reads them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dbaudit_optfile::OptionFile;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

/// The option file dbaudit's programs read when none is named and it exists.
pub const DEFAULT_DEFAULTS_FILE: &str = dbaudit_paths::DBAUDIT_CNF;

/// The server's socket on Debian and Ubuntu when nothing names one.
pub const DEFAULT_SOCKET: &str = dbaudit_paths::SERVER_SOCKET;

/// How long to wait for the server when nothing says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings; each is unset until a file or a flag sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Unix socket (used unless `host` names a remote host or `port` is set with a host).
    pub socket: Option<PathBuf>,
    /// Host for TCP.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Connect, read and write timeout.
    pub timeout: Option<Duration>,
}

/// The settings in force: the option file (if any) with flags laid over its `[client]`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The merged connection settings.
    pub client: ClientOptions,
    /// The option file read, for the programs' own groups.
    pub file: Option<OptionFile>,
    /// Its path, for messages.
    pub path: Option<PathBuf>,
}

/// Why the server could not be had; the message names what failed and the fix.
#[derive(Debug)]
pub struct ConnectError {
    kind: ConnectErrorKind,
    message: String,
}

/// What kind of trouble a [`ConnectError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// The option file is missing, unreadable or malformed, or a setting is invalid.
    Config,
    /// No server answered.
    Unreachable,
    /// The server refused the account or password.
    AccessDenied,
    /// Anything else the server or driver said.
    Other,
}

impl ConnectError {
    /// What kind of trouble it is.
    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    fn config(message: String) -> ConnectError {
        ConnectError { kind: ConnectErrorKind::Config, message }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

impl Settings {
    /// Reads `defaults_file` — or [`DEFAULT_DEFAULTS_FILE`] when none is named and it
    /// exists — and lays `flags` over its `[client]` group.
    pub fn load(defaults_file: Option<&Path>, flags: &ClientOptions) -> Result<Settings, ConnectError> {
        let path = match defaults_file {
            Some(path) => Some(path.to_owned()),
            None => Some(PathBuf::from(DEFAULT_DEFAULTS_FILE)).filter(|p| p.exists()),
        };
        let file = match &path {
            Some(path) => Some(OptionFile::read(path).map_err(|e| ConnectError::config(e.to_string()))?),
            None => None,
        };
        let mut client = ClientOptions::default();
        if let Some(file) = &file {
            let get = |key: &str| file.get("client", key).map(str::to_owned);
            let where_ = path.as_deref().map(Path::display);
            let number = |key: &str| -> Result<Option<u64>, ConnectError> {
                get(key)
                    .map(|v| {
                        v.parse::<u64>().map_err(|_| {
                            ConnectError::config(format!(
                                "{}: [client] {key} = {v} is not a number",
                                where_.as_ref().map(ToString::to_string).unwrap_or_default()
                            ))
                        })
                    })
                    .transpose()
            };
            client.socket = get("socket").map(PathBuf::from);
            client.host = get("host");
            client.port = number("port")?.map(|p| u16::try_from(p).unwrap_or(u16::MAX));
            client.user = get("user");
            client.password = get("password");
            client.timeout = number("connect_timeout")?.map(Duration::from_secs);
        }
        let over = flags.clone();
        client = ClientOptions {
            socket: over.socket.or(client.socket),
            host: over.host.or(client.host),
            port: over.port.or(client.port),
            user: over.user.or(client.user),
            password: over.password.or(client.password),
            timeout: over.timeout.or(client.timeout),
        };
        Ok(Settings { client, file, path })
    }

    /// A setting of the program's own group (e.g. `[dbaudit]`), last occurrence winning.
    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        self.file.as_ref()?.get(group, key)
    }

    /// The user name that will connect (`root` when none is set, as the client tools do
    /// for root's own sessions).
    pub fn user(&self) -> &str {
        self.client.user.as_deref().unwrap_or("root")
    }

    /// The timeout in force.
    pub fn timeout(&self) -> Duration {
        self.client.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Where the connection goes, for messages: the socket path or host:port.
    pub fn target(&self) -> String {
        match self.tcp_host() {
            Some(host) => format!("{host}:{}", self.client.port.unwrap_or(3306)),
            None => format!("socket {}", self.socket().display()),
        }
    }

    fn tcp_host(&self) -> Option<&str> {
        self.client.host.as_deref().filter(|h| *h != "localhost")
    }

    fn socket(&self) -> PathBuf {
        self.client.socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
    }

    fn where_to_fix(&self) -> String {
        match &self.path {
            Some(path) => format!("[client] of {} or the flags", path.display()),
            None => format!("the flags, or [client] in {DEFAULT_DEFAULTS_FILE}"),
        }
    }
}

/// Connects with `settings`, within its timeout; the error is one line naming what failed
/// and where to fix it.
pub fn connect(settings: &Settings) -> Result<Conn, ConnectError> {
    let timeout = settings.timeout();
    let mut opts = OptsBuilder::new()
        .user(Some(settings.user()))
        .pass(settings.client.password.clone())
        .read_timeout(Some(timeout))
        .write_timeout(Some(timeout))
        .tcp_connect_timeout(Some(timeout))
        .prefer_socket(false);
    opts = match settings.tcp_host() {
        Some(host) => opts.ip_or_hostname(Some(host)).tcp_port(settings.client.port.unwrap_or(3306)),
        None => opts.socket(Some(settings.socket().to_string_lossy().into_owned())),
    };
    let mut conn = Conn::new(opts).map_err(|e| classify(settings, e))?;
    // quote_str's literals mean what they say only without NO_BACKSLASH_ESCAPES; triggers
    // created in this session also keep the session's sql_mode.
    conn.query_drop("SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')").map_err(|e| {
        ConnectError {
            kind: ConnectErrorKind::Other,
            message: format!("cannot set sql_mode on {}: {e}", settings.target()),
        }
    })?;
    Ok(conn)
}

fn classify(settings: &Settings, error: mysql::Error) -> ConnectError {
    let target = settings.target();
    let fix = settings.where_to_fix();
    match &error {
        mysql::Error::MySqlError(e) if matches!(e.code, 1044 | 1045 | 1698 | 4151) => ConnectError {
            kind: ConnectErrorKind::AccessDenied,
            message: format!(
                "access denied for {} at {target}: {}; check user and password in {fix}",
                settings.user(),
                e.message
            ),
        },
        mysql::Error::IoError(e) => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            message: format!("cannot reach the server at {target}: {e}; is it running? set socket/host in {fix}"),
        },
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, _, _)) | None)) => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            message: format!("cannot reach the server at {target}: {error}; is it running? set socket/host in {fix}"),
        },
        // Reading the handshake timed out or broke: something listens there but does not answer.
        mysql::Error::CodecError(_) => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            message: format!(
                "no answer from the server at {target} within {} s ({error}); is it overloaded or hung? the timeout is connect_timeout in {fix}",
                settings.timeout().as_secs()
            ),
        },
        _ => ConnectError { kind: ConnectErrorKind::Other, message: format!("cannot connect to {target}: {error}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbaudit.cnf");
        std::fs::write(&path, "[client]\nuser = dbaudit\npassword = \"p w\"\nsocket = /s\n[dbaudit]\naction = lock\n")
            .unwrap();
        let flags = ClientOptions { user: Some("admin".into()), ..ClientOptions::default() };
        let settings = Settings::load(Some(&path), &flags).unwrap();
        assert_eq!(settings.user(), "admin");
        assert_eq!(settings.client.password.as_deref(), Some("p w"));
        assert_eq!(settings.target(), "socket /s");
        assert_eq!(settings.get("dbaudit", "action"), Some("lock"));
    }

    #[test]
    fn a_dead_socket_is_unreachable_with_the_fix_named() {
        let flags = ClientOptions { socket: Some("/nonexistent/mysqld.sock".into()), ..ClientOptions::default() };
        let settings = Settings::load(Some(Path::new("/dev/null")), &flags).unwrap();
        let err = connect(&settings).unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::Unreachable, "{err}");
        assert!(err.to_string().contains("/nonexistent/mysqld.sock"), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}
