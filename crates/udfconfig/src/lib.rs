//! The UDF's configuration: `/etc/mysql/dbaudit.cnf` (or `DBAUDIT_UDF_CONFIG`), group
//! `[dbaudit-udf]`, keys `log` and `key_file`. The UDF reads it inside mysqld; `dbaudit`
//! reads the same file to find the log and the key the UDF uses, so both read it here.
//!
//! Any other key in the group is kept as an [`UnknownKey`] for the caller to report: a
//! misspelt `logfile = …` would otherwise leave records going to the default log unnoticed.
//! It is not an error, so that a newer file still works with an older UDF.
//!
//! It only reads; `dbaudit install` writes the file.

use std::fmt;
use std::path::{Path, PathBuf};

use dbaudit_optfile::OptionFile;

/// Where the configuration is read from unless `DBAUDIT_UDF_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = dbaudit_paths::UDF_CONFIG;
/// The log when the configuration names none.
pub const DEFAULT_LOG: &str = dbaudit_paths::RAW_LOG;
/// The key file when the configuration names none.
pub const DEFAULT_KEY_FILE: &str = dbaudit_paths::KEY_FILE;
/// The option-file group the UDF reads.
pub const GROUP: &str = "dbaudit-udf";
/// The keys of [`GROUP`] the UDF reads.
pub const KEYS: [&str; 4] = ["log", "key_file", "token_generation", "token_generation_next"];

/// Where records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Appended to this file, reopened when it is rotated.
    File(PathBuf),
    /// The server's error log (mysqld's stderr), as the seed article did.
    Stderr,
}

/// The UDF's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdfConfig {
    /// The file read (it may not exist: then the defaults hold).
    pub path: PathBuf,
    /// Where records go (`log`).
    pub destination: Destination,
    /// The key file (`key_file`).
    pub key_file: PathBuf,
    /// The generation of trigger tokens the UDF accepts (`token_generation`, default 0).
    pub token_generation: u32,
    /// A second generation it accepts while `dbaudit watch --rotate-token` replaces every
    /// trigger's token (`token_generation_next`).
    pub token_generation_next: Option<u32>,
    /// Keys of `[dbaudit-udf]` that are not [`KEYS`], in file order: ignored, to be reported.
    pub unknown_keys: Vec<UnknownKey>,
}

/// A key of `[dbaudit-udf]` the UDF does not read, and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as the option file reads it: lowercased, `-` written as `_`.
    pub key: String,
    /// The file it is in (the configuration or a file it includes).
    pub path: PathBuf,
    /// Its 1-based line in `path`.
    pub line: usize,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{GROUP}] {} is not a setting of the UDF, which ignores it (it reads {}); fix the spelling or remove it",
            self.path.display(),
            self.line,
            self.key,
            KEYS.join(" and ")
        )
    }
}

impl UdfConfig {
    /// The configuration file's path: `DBAUDIT_UDF_CONFIG`, else the default.
    pub fn path() -> PathBuf {
        std::env::var_os("DBAUDIT_UDF_CONFIG").map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
    }

    /// Reads the configuration. A missing file means the defaults; a malformed one is an
    /// error that names the file, the line and the fix.
    pub fn read(path: &Path) -> Result<UdfConfig, String> {
        let file = match OptionFile::read(path) {
            Ok(file) => file,
            Err(e) if e.kind() == dbaudit_optfile::ErrorKind::Io && !path.exists() => OptionFile::default(),
            Err(e) => return Err(e.to_string()),
        };
        let destination = match file.get(GROUP, "log").unwrap_or(DEFAULT_LOG) {
            "stderr" => Destination::Stderr,
            "" => return Err(format!("{}: [{GROUP}] log is empty; set a path or stderr", path.display())),
            log if Path::new(log).is_absolute() => Destination::File(PathBuf::from(log)),
            other => {
                return Err(format!(
                    "{}: [{GROUP}] log = {other} is not an absolute path; give a full path",
                    path.display()
                ))
            }
        };
        let key_file = PathBuf::from(file.get(GROUP, "key_file").unwrap_or(DEFAULT_KEY_FILE));
        let generation = |key: &str| -> Result<Option<u32>, String> {
            file.get(GROUP, key)
                .map(|text| {
                    text.parse::<u32>().map_err(|_| {
                        format!(
                            "{}: [{GROUP}] {key} = {text} is not a whole number; dbaudit watch sets it",
                            path.display()
                        )
                    })
                })
                .transpose()
        };
        let token_generation = generation("token_generation")?.unwrap_or(0);
        let token_generation_next = generation("token_generation_next")?;
        let unknown_keys = file
            .entries(GROUP)
            .filter(|entry| !KEYS.contains(&entry.key.as_str()))
            .map(|entry| UnknownKey { key: entry.key.clone(), path: entry.path.clone(), line: entry.line })
            .collect();
        Ok(UdfConfig {
            path: path.to_owned(),
            destination,
            key_file,
            token_generation,
            token_generation_next,
            unknown_keys,
        })
    }

    /// The token generations a call may carry: the current one, and the next during a rotation.
    pub fn accepted_generations(&self) -> impl Iterator<Item = u32> {
        std::iter::once(self.token_generation).chain(self.token_generation_next)
    }

    /// The generation new triggers get: the next one while a rotation is under way.
    pub fn generation_to_write(&self) -> u32 {
        self.token_generation_next.unwrap_or(self.token_generation)
    }

    /// One line per unknown key, naming the file, the line and the fix.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown_keys.iter().map(ToString::to_string).collect()
    }

    /// The log file, or None when records go to the server's error log.
    pub fn log_file(&self) -> Option<&Path> {
        match &self.destination {
            Destination::File(path) => Some(path),
            Destination::Stderr => None,
        }
    }

    /// The `log` setting as written: a path or `stderr`.
    pub fn log_setting(&self) -> String {
        self.log_file().map_or_else(|| "stderr".to_owned(), |p| p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_means_the_documented_defaults() {
        let config = UdfConfig::read(Path::new("/nonexistent/dbaudit.cnf")).unwrap();
        assert_eq!(config.destination, Destination::File(DEFAULT_LOG.into()));
        assert_eq!(config.key_file, PathBuf::from(DEFAULT_KEY_FILE));
    }

    #[test]
    fn relative_log_path_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.cnf");
        std::fs::write(&path, "[dbaudit-udf]\nlog = audit.log\n").unwrap();
        let err = UdfConfig::read(&path).unwrap_err();
        assert!(err.contains("bad.cnf") && err.contains("absolute"), "{err}");
        std::fs::write(&path, "[dbaudit-udf]\nlog = stderr\nkey-file = /k\n").unwrap();
        let config = UdfConfig::read(&path).unwrap();
        assert_eq!(config.destination, Destination::Stderr);
        assert_eq!(config.key_file, PathBuf::from("/k"));
        assert!(config.warnings().is_empty(), "key-file is key_file: {:?}", config.warnings());
    }

    #[test]
    fn unknown_keys_are_reported_with_file_and_line_and_known_ones_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbaudit.cnf");
        let text = "[mysqld]\nlogfile = elsewhere\n[dbaudit-udf]\n# a typo:\nlogfile = /var/log/x.log\n\
                    key_file = /k\nLog-Level = 3\n";
        std::fs::write(&path, text).unwrap();
        let config = UdfConfig::read(&path).unwrap();
        assert_eq!(config.destination, Destination::File(DEFAULT_LOG.into()), "the typo must not be taken as log");
        assert_eq!(config.key_file, PathBuf::from("/k"));
        let found: Vec<(&str, usize)> = config.unknown_keys.iter().map(|k| (k.key.as_str(), k.line)).collect();
        assert_eq!(found, [("logfile", 5), ("log_level", 7)], "only [dbaudit-udf] is the UDF's");
        let warnings = config.warnings();
        assert!(
            warnings[0].starts_with(&format!("{}:5: [dbaudit-udf] logfile ", path.display()))
                && warnings[0].contains("log and key_file"),
            "{}",
            warnings[0]
        );
    }
}
