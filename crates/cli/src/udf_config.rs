//! Where the loaded UDF writes and which key it seals with: its configuration file,
//! read here as the UDF reads it (crates/udf/src/config.rs), with crates/optfile.

use std::path::{Path, PathBuf};

use dbaudit_optfile::OptionFile;

use crate::error::Failure;

/// The UDF's configuration file unless `DBAUDIT_UDF_CONFIG` names another.
pub const DEFAULT_UDF_CONFIG: &str = "/etc/mysql/dbaudit.cnf";
/// The key file when neither `--key-file` nor the UDF configuration names one.
pub const DEFAULT_KEY_FILE: &str = "/etc/mysql/dbaudit.key";
const DEFAULT_LOG: &str = "/var/log/mysql/dbaudit.log";
const GROUP: &str = "dbaudit-udf";

/// The UDF's settings that the CLI needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdfConfig {
    /// The file read (it may not exist: then the defaults hold).
    pub path: PathBuf,
    /// `log`: a file path, or `stderr`.
    pub log: String,
    /// `key_file`.
    pub key_file: PathBuf,
}

impl UdfConfig {
    /// The UDF configuration's path: `DBAUDIT_UDF_CONFIG`, else the default.
    pub fn path() -> PathBuf {
        std::env::var_os("DBAUDIT_UDF_CONFIG").map_or_else(|| PathBuf::from(DEFAULT_UDF_CONFIG), PathBuf::from)
    }

    /// Reads it; a missing file means the UDF's defaults.
    pub fn read(path: &Path) -> Result<UdfConfig, Failure> {
        let file = match OptionFile::read(path) {
            Ok(file) => file,
            Err(_) if !path.exists() => OptionFile::default(),
            Err(e) => return Err(Failure::new(format!("the UDF configuration: {e}"))),
        };
        Ok(UdfConfig {
            path: path.to_owned(),
            log: file.get(GROUP, "log").unwrap_or(DEFAULT_LOG).to_owned(),
            key_file: PathBuf::from(file.get(GROUP, "key_file").unwrap_or(DEFAULT_KEY_FILE)),
        })
    }

    /// The log file, or None when records go to the server's error log.
    pub fn log_file(&self) -> Option<&Path> {
        (self.log != "stderr").then(|| Path::new(&self.log))
    }
}

/// The key file to use: `--key-file`, else the one the UDF is configured with, else the default.
pub fn key_file(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    UdfConfig::read(&UdfConfig::path()).map_or_else(|_| PathBuf::from(DEFAULT_KEY_FILE), |c| c.key_file)
}

/// Reads the key; the error names the file and the fix.
pub fn read_key(flag: Option<&Path>) -> Result<dbaudit_record::Key, Failure> {
    let path = key_file(flag);
    dbaudit_record::Key::read_file(&path)
        .map_err(|e| Failure::new(format!("{e}; name the key with --key-file, or run `dbaudit install` to make one")))
}
