//! The connected server: which flavour it is, and whether the UDF is loaded in it.

use dbaudit_connect::{connect, ClientOptions, Settings};
use dbaudit_triggers::Flavour;
use mysql::prelude::Queryable;
use mysql::Conn;

use crate::error::Failure;

/// A connection with what dbaudit needs to know about the server.
pub(crate) struct Server {
    /// The connection.
    pub conn: Conn,
    /// Which server it is.
    pub flavour: Flavour,
    /// Where it is, for messages.
    pub target: String,
    /// Where dbaudit-respond keeps the accounts it locked: `[dbaudit] state_dir` of the
    /// option file the connection came from (the response reads the same file).
    pub response_state: std::path::PathBuf,
}

impl Server {
    /// Connects as the option file and flags say.
    pub(crate) fn connect(defaults_file: Option<&std::path::Path>, flags: &ClientOptions) -> Result<Server, Failure> {
        let settings = Settings::load(defaults_file, flags)?;
        let mut conn = connect(&settings)?;
        let target = settings.target();
        let version: String = conn
            .query_first("SELECT @@version")
            .map_err(|e| Failure::new(format!("cannot query {target}: {e}")))?
            .unwrap_or_default();
        let response_state =
            settings.get("dbaudit", "state_dir").unwrap_or(dbaudit_lockstate::DEFAULT_STATE_DIR).into();
        Ok(Server { conn, flavour: Flavour::of_version(&version), target, response_state })
    }

    /// Wraps an open connection (the tests' own), finding the flavour.
    pub(crate) fn from_conn(mut conn: Conn) -> Result<Server, Failure> {
        let version: String = conn
            .query_first("SELECT @@version")
            .map_err(|e| Failure::new(format!("cannot query the server: {e}")))?
            .unwrap_or_default();
        Ok(Server {
            conn,
            flavour: Flavour::of_version(&version),
            target: "the server".into(),
            response_state: dbaudit_lockstate::DEFAULT_STATE_DIR.into(),
        })
    }

    /// What `dbaudit_version()` says, or None when the function does not exist.
    pub(crate) fn udf_version(&mut self) -> Result<Option<String>, Failure> {
        match self.conn.query_first::<Option<String>, _>("SELECT dbaudit_version()") {
            Ok(version) => Ok(version.flatten()),
            // ER_SP_DOES_NOT_EXIST: "FUNCTION dbaudit_version does not exist".
            Err(mysql::Error::MySqlError(e)) if e.code == 1305 => Ok(None),
            Err(e) => Err(Failure::new(format!("cannot ask {} for dbaudit_version(): {e}", self.target))),
        }
    }

    /// What `dbaudit_health()` says (one JSON object), or None when the function does not
    /// exist (a build before it, or an install that did not create it).
    pub(crate) fn udf_health(&mut self) -> Result<Option<String>, Failure> {
        match self.conn.query_first::<Option<String>, _>("SELECT dbaudit_health()") {
            Ok(health) => Ok(health.flatten()),
            Err(mysql::Error::MySqlError(e)) if e.code == 1305 => Ok(None),
            Err(e) => Err(Failure::new(format!("cannot ask {} for dbaudit_health(): {e}", self.target))),
        }
    }

    /// Fails unless `dbaudit_log` exists: a trigger calling a missing function would
    /// make every write to its table fail.
    pub(crate) fn require_udf(&mut self) -> Result<(), Failure> {
        let loaded = match self.conn.query_first::<u64, _>("SELECT COUNT(*) FROM mysql.func WHERE name = 'dbaudit_log'")
        {
            Ok(count) => count.unwrap_or(0) > 0,
            // No SELECT on mysql.func: the version function stands in for the set.
            Err(_) => self.udf_version()?.is_some(),
        };
        if loaded {
            Ok(())
        } else {
            Err(Failure::new(format!(
                "the dbaudit UDF is not loaded on {} (no function dbaudit_log): run `dbaudit install`",
                self.target
            )))
        }
    }
}
