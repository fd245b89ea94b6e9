//! The key the loaded UDF seals with, found as the UDF finds it: its configuration file is
//! read by crates/udfconfig, shared with the UDF itself.

use std::path::{Path, PathBuf};

use dbaudit_triggers::Tokens;
pub(crate) use dbaudit_udfconfig::{UdfConfig, DEFAULT_KEY_FILE};

use crate::error::Failure;

/// The key file to use: `--key-file`, else the one the UDF is configured with, else the default.
pub(crate) fn key_file(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    UdfConfig::read(&UdfConfig::path()).map_or_else(|_| PathBuf::from(DEFAULT_KEY_FILE), |c| c.key_file)
}

/// Reads the key; the error names the file and the fix.
pub(crate) fn read_key(flag: Option<&Path>) -> Result<dbaudit_record::Key, Failure> {
    let path = key_file(flag);
    dbaudit_record::Key::read_file(&path)
        .map_err(|e| Failure::new(format!("{e}; name the key with --key-file, or run `dbaudit install` to make one")))
}

/// The tokens new triggers get: from the key (as [`read_key`] finds it) and the token
/// generation of the UDF's configuration (the next one while a rotation is under way).
pub(crate) fn tokens(flag: Option<&Path>) -> Result<Tokens, Failure> {
    let key = read_key(flag)?;
    let path = UdfConfig::path();
    let config = UdfConfig::read(&path).map_err(|e| Failure::new(format!("the UDF configuration: {e}")))?;
    Ok(Tokens::new(key, config.generation_to_write()))
}

/// Sets the token generations the UDF accepts in its configuration file at `path`: the
/// `token_generation` and `token_generation_next` lines of `[dbaudit-udf]` are replaced and
/// everything else is kept. The file is replaced whole (temporary file, rename), keeping its
/// mode and owner, so the UDF never reads half of it.
pub(crate) fn set_token_generations(path: &Path, current: u32, next: Option<u32>) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let fail = |what: &str, e: std::io::Error| {
        Failure::new(format!("cannot {what} the UDF configuration {}: {e}", path.display()))
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail("read", e)),
    };
    let ours = |line: &str| {
        let key = line.split('=').next().unwrap_or("").trim().to_lowercase().replace('-', "_");
        key == "token_generation" || key == "token_generation_next"
    };
    let mut settings = format!("token_generation = {current}\n");
    if let Some(next) = next {
        settings.push_str(&format!("token_generation_next = {next}\n"));
    }
    let mut out = String::new();
    let mut group = String::new();
    let mut placed = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            group = name.trim().to_lowercase();
            out.push_str(line);
            out.push('\n');
            if group == dbaudit_udfconfig::GROUP && !placed {
                out.push_str(&settings);
                placed = true;
            }
            continue;
        }
        if group == dbaudit_udfconfig::GROUP && ours(trimmed) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !placed {
        out.push_str(&format!("[{}]\n{settings}", dbaudit_udfconfig::GROUP));
    }
    let tmp = path.with_extension("cnf.dbaudit-tmp");
    std::fs::write(&tmp, out).map_err(|e| fail("write", e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let keep = std::fs::set_permissions(&tmp, meta.permissions())
            .and_then(|()| std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid())));
        keep.map_err(|e| fail("keep the mode and owner of", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| fail("replace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_generations_are_set_in_their_group_and_nothing_else_changes() {
        let dir = std::env::temp_dir().join(format!("dbaudit-cli-udfconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dbaudit.cnf");
        let text = "# kept\n[client]\ntoken_generation = 9\n[dbaudit-udf]\nlog = /x.log\ntoken-generation = 1\n";
        std::fs::write(&path, text).unwrap();
        set_token_generations(&path, 1, Some(2)).unwrap();
        let config = UdfConfig::read(&path).unwrap();
        assert_eq!((config.token_generation, config.token_generation_next), (1, Some(2)));
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        set_token_generations(&path, 2, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# kept\n[client]\ntoken_generation = 9\n[dbaudit-udf]\ntoken_generation = 2\nlog = /x.log\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
