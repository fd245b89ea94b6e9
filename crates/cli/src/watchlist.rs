//! The watch list: the tables `dbaudit watch` was asked to watch, with their secret columns
//! and mode. It is the desired state that `status` and `fingerprint` hold the server to, and
//! that `watch --all` restores: a table dropped and re-created, or a trigger dropped, is then
//! a finding and healed, not a silence. It lives beside the connection's option file
//! (`/var/ossec/etc/dbaudit-watch.json`), root's, mode 0600: a database account cannot edit it.
//!
//! One JSON document, written whole to a temporary file, synced and renamed into place, so a
//! reader never sees half of it; writers take `File::lock` on a `.lock` file beside it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use dbaudit_triggers::TableName;
use serde_json::{json, Value};

use crate::error::Failure;

/// Where the watch list lives when neither `--watch-list` nor `--defaults-file` says.
pub(crate) const DEFAULT_PATH: &str = dbaudit_paths::WATCH_LIST;

/// The file's name beside an option file given with `--defaults-file`.
const FILE_NAME: &str = "dbaudit-watch.json";

/// The format's version, the first key of the document.
const FORMAT: u64 = 1;

/// One watched table, as the operator asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Watched {
    /// The table.
    pub table: TableName,
    /// Columns recorded as a keyed mask, never in clear.
    pub secrets: Vec<String>,
    /// Whether a write is refused when its record cannot be written.
    pub fail_closed: bool,
}

/// The watch list, as read from its file.
#[derive(Debug)]
pub(crate) struct WatchList {
    path: PathBuf,
    /// The watched tables, sorted.
    pub tables: Vec<Watched>,
    /// Whether the file exists: without it, the server's triggers are all there is to go by.
    pub exists: bool,
    /// Held while the list is being changed.
    _lock: Option<File>,
}

impl WatchList {
    /// The list's path: `explicit`, else `dbaudit-watch.json` beside an option file given as
    /// a regular file, else [`DEFAULT_PATH`].
    pub(crate) fn path_for(explicit: Option<&Path>, defaults_file: Option<&Path>) -> PathBuf {
        if let Some(path) = explicit {
            return path.to_owned();
        }
        match defaults_file {
            Some(file) if file.is_file() => file.with_file_name(FILE_NAME),
            _ => PathBuf::from(DEFAULT_PATH),
        }
    }

    /// Reads the list at `path`; a missing file is an empty list.
    pub(crate) fn read(path: &Path) -> Result<WatchList, Failure> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WatchList { path: path.to_owned(), tables: Vec::new(), exists: false, _lock: None })
            }
            Err(e) => return Err(Failure::new(format!("cannot read the watch list {}: {e}", path.display()))),
        };
        let tables = parse(&text).map_err(|why| {
            Failure::new(format!(
                "the watch list {} is malformed ({why}); restore it from a backup, or remove it and run \
                 `dbaudit watch --all` to rebuild it from the server's triggers",
                path.display()
            ))
        })?;
        Ok(WatchList { path: path.to_owned(), tables, exists: true, _lock: None })
    }

    /// Reads the list for a change, holding its lock until the list is dropped, so that two
    /// `watch` runs (an operator's and a timer's) never lose each other's changes.
    pub(crate) fn lock(path: &Path) -> Result<WatchList, Failure> {
        let lock_path = path.with_extension("json.lock");
        let fail = |e: std::io::Error| {
            Failure::new(format!(
                "cannot lock the watch list {}: {e}; check that its directory exists and is root's, or name \
                 another file with --watch-list",
                lock_path.display()
            ))
        };
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&lock_path).map_err(fail)?;
        lock.lock().map_err(fail)?;
        let mut list = WatchList::read(path)?;
        list._lock = Some(lock);
        Ok(list)
    }

    /// Where the list lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for `table`.
    pub(crate) fn get(&self, table: &TableName) -> Option<&Watched> {
        self.tables.iter().find(|w| w.table == *table)
    }

    /// Adds or replaces the entry for `watched.table`.
    pub(crate) fn set(&mut self, watched: Watched) {
        self.tables.retain(|w| w.table != watched.table);
        self.tables.push(watched);
        self.tables.sort_by(|a, b| a.table.cmp(&b.table));
    }

    /// Removes the entry for `table`; whether there was one.
    pub(crate) fn remove(&mut self, table: &TableName) -> bool {
        let before = self.tables.len();
        self.tables.retain(|w| w.table != *table);
        self.tables.len() != before
    }

    /// Writes the list: temporary file, fsync, rename, fsync of the directory.
    pub(crate) fn save(&mut self) -> Result<(), Failure> {
        let fail = |what: &str, e: std::io::Error| {
            Failure::new(format!("cannot {what} the watch list {}: {e}", self.path.display()))
        };
        let tables: Vec<Value> = self
            .tables
            .iter()
            .map(|w| {
                json!({
                    "db": w.table.db,
                    "table": w.table.table,
                    "secrets": w.secrets,
                    "mode": if w.fail_closed { "fail-closed" } else { "fail-open" },
                })
            })
            .collect();
        let document = json!({ "dbaudit_watch_list": FORMAT, "tables": tables });
        let mut text = serde_json::to_vec_pretty(&document).expect("a JSON value always serialises");
        text.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail("write", e))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| fail("write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| fail("replace", e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail("sync the directory of", e))?;
        }
        self.exists = true;
        Ok(())
    }
}

fn parse(text: &[u8]) -> Result<Vec<Watched>, String> {
    let document: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    match document.get("dbaudit_watch_list").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format {other} is newer than this dbaudit understands")),
        None => return Err("no \"dbaudit_watch_list\" version".into()),
    }
    let tables = document.get("tables").and_then(Value::as_array).ok_or("no \"tables\" list")?;
    let mut list = Vec::with_capacity(tables.len());
    for (i, entry) in tables.iter().enumerate() {
        let text = |key: &str| {
            entry.get(key).and_then(Value::as_str).map(str::to_owned).ok_or(format!("table {}: no \"{key}\"", i + 1))
        };
        let secrets = entry
            .get("secrets")
            .and_then(Value::as_array)
            .ok_or(format!("table {}: no \"secrets\" list", i + 1))?
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or(format!("table {}: a secret that is not a string", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        let fail_closed = match text("mode")?.as_str() {
            "fail-open" => false,
            "fail-closed" => true,
            other => return Err(format!("table {}: mode {other:?} is neither fail-open nor fail-closed", i + 1)),
        };
        list.push(Watched { table: TableName::new(&text("db")?, &text("table")?), secrets, fail_closed });
    }
    list.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dbaudit-watchlist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(FILE_NAME)
    }

    #[test]
    fn entries_survive_a_save_and_odd_names_read_back() {
        let path = temp("roundtrip");
        let mut list = WatchList::lock(&path).unwrap();
        assert!(!list.exists && list.tables.is_empty());
        let odd = Watched {
            table: TableName::new("shop-db", "order `lines\" ü"),
            secrets: vec!["pass word".into()],
            fail_closed: true,
        };
        list.set(Watched { table: TableName::new("acme", "users"), secrets: vec![], fail_closed: false });
        list.set(odd.clone());
        list.save().unwrap();
        drop(list);
        let read = WatchList::read(&path).unwrap();
        assert!(read.exists);
        assert_eq!(read.tables.len(), 2);
        assert_eq!(read.get(&odd.table), Some(&odd));
        let mut list = WatchList::lock(&path).unwrap();
        assert!(list.remove(&odd.table) && !list.remove(&odd.table));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_malformed_list_is_refused_naming_the_file_and_the_fix() {
        let path = temp("malformed");
        for text in ["", "{", "{\"tables\":[]}", "{\"dbaudit_watch_list\":1,\"tables\":[{\"db\":\"a\"}]}"] {
            std::fs::write(&path, text).unwrap();
            let e = WatchList::read(&path).unwrap_err().to_string();
            assert!(e.contains(&path.display().to_string()) && e.contains("watch --all"), "{e}");
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_list_sits_beside_a_given_option_file() {
        let path = temp("beside");
        let cnf = path.with_file_name("dbaudit.cnf");
        std::fs::write(&cnf, "[client]\n").unwrap();
        assert_eq!(WatchList::path_for(None, Some(&cnf)), path);
        assert_eq!(WatchList::path_for(None, Some(Path::new("/dev/null"))), PathBuf::from(DEFAULT_PATH));
        assert_eq!(WatchList::path_for(Some(Path::new("x.json")), Some(&cnf)), PathBuf::from("x.json"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
