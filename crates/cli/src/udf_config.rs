//! The key the loaded UDF seals with, found as the UDF finds it: its configuration file is
//! read by crates/udfconfig, shared with the UDF itself.

use std::path::{Path, PathBuf};

pub use dbaudit_udfconfig::{UdfConfig, DEFAULT_KEY_FILE};

use crate::error::Failure;

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
