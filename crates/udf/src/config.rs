//! The UDF's configuration: `/etc/mysql/dbaudit.cnf`, group `[dbaudit-udf]`.

use std::path::{Path, PathBuf};

use dbaudit_optfile::OptionFile;

/// Where the configuration is read from unless `DBAUDIT_UDF_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/mysql/dbaudit.cnf";
const GROUP: &str = "dbaudit-udf";

/// Where records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Appended to this file, reopened when it is rotated.
    File(PathBuf),
    /// The server's error log (mysqld's stderr), as the seed article did.
    Stderr,
}

/// What the UDF needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where records go (`log`).
    pub destination: Destination,
    /// The key file (`key_file`).
    pub key_file: PathBuf,
}

impl Config {
    /// The configuration file's path: `DBAUDIT_UDF_CONFIG`, else the default.
    pub fn path() -> PathBuf {
        std::env::var_os("DBAUDIT_UDF_CONFIG").map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
    }

    /// Reads the configuration. A missing file means the defaults; a malformed one is an
    /// error that names the file and line.
    pub fn read(path: &Path) -> Result<Config, String> {
        let file = match OptionFile::read(path) {
            Ok(file) => file,
            Err(e) if e.kind() == dbaudit_optfile::ErrorKind::Io && !path.exists() => OptionFile::default(),
            Err(e) => return Err(e.to_string()),
        };
        let log = file.get(GROUP, "log").unwrap_or("/var/log/mysql/dbaudit.log");
        let destination = match log {
            "stderr" => Destination::Stderr,
            "" => return Err(format!("{}: [{GROUP}] log is empty; set a path or stderr", path.display())),
            path if Path::new(path).is_absolute() => Destination::File(PathBuf::from(path)),
            other => {
                return Err(format!(
                    "{}: [{GROUP}] log = {other} is not an absolute path; give a full path",
                    path.display()
                ))
            }
        };
        let key_file = PathBuf::from(file.get(GROUP, "key_file").unwrap_or("/etc/mysql/dbaudit.key"));
        Ok(Config { destination, key_file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_means_the_documented_defaults() {
        let config = Config::read(Path::new("/nonexistent/dbaudit.cnf")).unwrap();
        assert_eq!(config.destination, Destination::File("/var/log/mysql/dbaudit.log".into()));
        assert_eq!(config.key_file, PathBuf::from("/etc/mysql/dbaudit.key"));
    }

    #[test]
    fn relative_log_path_is_refused_with_the_file_named() {
        let dir = std::env::temp_dir().join(format!("dbaudit-udf-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.cnf");
        std::fs::write(&path, "[dbaudit-udf]\nlog = audit.log\n").unwrap();
        let err = Config::read(&path).unwrap_err();
        assert!(err.contains("bad.cnf") && err.contains("absolute"), "{err}");
        std::fs::write(&path, "[dbaudit-udf]\nlog = stderr\nkey-file = /k\n").unwrap();
        let config = Config::read(&path).unwrap();
        assert_eq!(config.destination, Destination::Stderr);
        assert_eq!(config.key_file, PathBuf::from("/k"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
