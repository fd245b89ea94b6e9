//! Where dbaudit's files are when nothing says otherwise: the one list that the UDF, the
//! normaliser, the response, `dbaudit` and its installer all read, so that a default changed
//! here changes everywhere. The MariaDB side follows Debian's layout (`/etc/mysql`,
//! `/var/log/mysql`, `/run/mysqld`); the OSSEC side follows the standard `/var/ossec` tree.
//!
//! It holds paths only: which flag or setting overrides each is the owning crate's business.

/// The OSSEC (or Wazuh) directory.
pub const OSSEC_DIR: &str = "/var/ossec";

/// The UDF's configuration file (`[dbaudit-udf]`), which mysqld reads.
pub const UDF_CONFIG: &str = "/etc/mysql/dbaudit.cnf";

/// The key: 64 hex characters, readable by root and mysqld only.
pub const KEY_FILE: &str = "/etc/mysql/dbaudit.key";

/// The raw audit log the UDF appends to.
pub const RAW_LOG: &str = "/var/log/mysql/dbaudit.log";

/// The MariaDB/MySQL server's Unix socket.
pub const SERVER_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// The connection and the response's settings (`[client]`, `[dbaudit]`), under the OSSEC directory.
pub const DBAUDIT_CNF: &str = "/var/ossec/etc/dbaudit.cnf";

/// The watch list, beside [`DBAUDIT_CNF`].
pub const WATCH_LIST: &str = "/var/ossec/etc/dbaudit-watch.json";

/// The normalised lines ossec-logcollector reads.
pub const NORMALISED_LOG: &str = "/var/ossec/logs/dbaudit.log";

/// The response's log (OSSEC's own active-responses log).
pub const RESPONSE_LOG: &str = "/var/ossec/logs/active-responses.log";

/// The accounts the response holds locked.
pub const RESPONSE_STATE_DIR: &str = "/var/ossec/var/dbaudit";

/// The normaliser's checkpoint.
pub const NORMALISE_STATE: &str = "/var/lib/dbaudit/normalise.state";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ossec_side_is_under_the_ossec_directory() {
        for path in [DBAUDIT_CNF, WATCH_LIST, NORMALISED_LOG, RESPONSE_LOG, RESPONSE_STATE_DIR] {
            assert!(path.starts_with(&format!("{OSSEC_DIR}/")), "{path}");
        }
        assert_eq!(std::path::Path::new(WATCH_LIST).parent(), std::path::Path::new(DBAUDIT_CNF).parent());
    }
}
