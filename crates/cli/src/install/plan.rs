//! A plan: every change `install` or `uninstall` makes, decided (and checked) before the
//! first one is made, printed as it is carried out — or only printed, for `--dry-run`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mysql::prelude::Queryable;

use super::layout::{running_as_root, Ownership};
use super::{locks, running};
use crate::error::Failure;
use crate::server::Server;

/// How a file is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Created or replaced with this mode and ownership.
    Set(u32, Ownership),
    /// Edited in place: it keeps its mode and owner.
    Keep,
    /// A new file with the mode and owner of another (a backup).
    Like(PathBuf),
    /// Created, never replaced (the key): exclusive creation with this mode and ownership.
    CreateOnly(u32, Ownership),
}

/// One change.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// Write `contents` to `path` (tmp file, then rename; the key by exclusive creation).
    Write {
        /// The file.
        path: PathBuf,
        /// Its new contents.
        contents: Vec<u8>,
        /// How.
        mode: Mode,
        /// What it is, for the plan.
        what: String,
    },
    /// Delete a file.
    Remove {
        /// The file.
        path: PathBuf,
        /// What it is, for the plan.
        what: String,
    },
    /// Leave a file that uninstall would otherwise remove; no change.
    Keep {
        /// The file.
        path: PathBuf,
        /// Why it stays, for the plan.
        why: String,
    },
    /// Create a directory (and any missing parent) with this mode and ownership.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// Its owner.
        owner: Ownership,
        /// What it is, for the plan.
        what: String,
    },
    /// Run a program (no shell); a non-zero exit stops the plan.
    Run {
        /// The program and its arguments.
        command: Vec<String>,
        /// Why, for the plan.
        what: String,
    },
    /// Have the installed dbaudit-respond unlock every account it locked (`release-all`).
    ReleaseLocks {
        /// The installed program.
        program: PathBuf,
        /// The accounts it said it holds when the plan was made.
        accounts: Vec<String>,
        /// Go on, naming them, when it cannot unlock them.
        force: bool,
    },
    /// Stop a dbaudit-normalise process that no service manager runs (`--force`).
    Stop {
        /// Its process id.
        pid: u32,
        /// The program it runs.
        program: PathBuf,
    },
    /// Run a statement on the server.
    Sql(String),
    /// Ask the server for `dbaudit_version()` and show it.
    CheckUdf,
    /// Something to know; no change.
    Note(String),
    /// Something that is probably wrong and that the plan does not fix; no change.
    Warning(String),
}

/// Everything to do, in order.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The changes.
    pub(crate) actions: Vec<Action>,
    /// The files [`Plan::install_file`] was given and the hash of their contents: the
    /// manifest's new entries.
    pub(crate) installed: Vec<(PathBuf, blake3::Hash)>,
}

impl Plan {
    /// Adds a write of `contents` to `path`, or a note when the file already holds them.
    pub(crate) fn write(&mut self, path: PathBuf, contents: Vec<u8>, mode: Mode, what: impl Into<String>) {
        if fs::read(&path).is_ok_and(|old| old == contents) {
            self.note(format!("unchanged {} ({})", path.display(), what.into()));
        } else {
            self.actions.push(Action::Write { path, contents, mode, what: what.into() });
        }
    }

    /// [`Plan::write`] of a file that is dbaudit's alone (uninstall removes it), recorded for
    /// the manifest whether it is written or already holds `contents`.
    pub(crate) fn install_file(&mut self, path: PathBuf, contents: Vec<u8>, mode: Mode, what: impl Into<String>) {
        self.installed.push((path.clone(), blake3::hash(&contents)));
        self.write(path, contents, mode, what);
    }

    /// Adds the removal of `path` if it exists.
    pub(crate) fn remove(&mut self, path: PathBuf, what: impl Into<String>) {
        if fs::symlink_metadata(&path).is_ok() {
            self.actions.push(Action::Remove { path, what: what.into() });
        }
    }

    /// Adds that `path`, if it exists, is kept, and why.
    pub(crate) fn keep(&mut self, path: PathBuf, why: impl Into<String>) {
        if fs::symlink_metadata(&path).is_ok() {
            self.actions.push(Action::Keep { path, why: why.into() });
        }
    }

    /// Whether a removal of `path` is planned, or its keeping.
    pub(crate) fn decides(&self, path: &Path) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Remove { path: p, .. } | Action::Keep { path: p, .. } if p == path))
    }

    /// Adds a note.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.actions.push(Action::Note(text.into()));
    }

    /// Adds a warning.
    pub(crate) fn warn(&mut self, text: impl Into<String>) {
        self.actions.push(Action::Warning(text.into()));
    }

    /// Whether anything would change.
    pub(crate) fn changes_anything(&self) -> bool {
        self.actions
            .iter()
            .any(|a| !matches!(a, Action::Note(_) | Action::Warning(_) | Action::Keep { .. } | Action::CheckUdf))
    }

    /// Prints every action as it would be done.
    pub(crate) fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        for action in &self.actions {
            if let Some(line) = describe(action) {
                writeln!(out, "  {line}")?;
            }
        }
        Ok(())
    }

    /// Carries the plan out, printing each action once done, and below it what it reported.
    pub(crate) fn apply(self, out: &mut dyn Write, mut server: Option<&mut Server>) -> Result<(), Failure> {
        for action in self.actions {
            let mut line = describe(&action);
            let mut results = Vec::new();
            match &action {
                Action::Write { path, contents, mode, .. } => write_file(path, contents, mode)
                    .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?,
                Action::Remove { path, .. } => {
                    fs::remove_file(path).map_err(|e| Failure::new(format!("cannot remove {}: {e}", path.display())))?
                }
                Action::CreateDir { path, mode, owner, .. } => create_dir(path, *mode, owner)
                    .map_err(|e| Failure::new(format!("cannot create the directory {}: {e}", path.display())))?,
                Action::Run { command, .. } => run(command)?,
                Action::ReleaseLocks { program, accounts, force } => {
                    results = locks::release(program, accounts, *force)?;
                }
                Action::Stop { pid, program } => results.push(running::stop(*pid, program)?),
                Action::Sql(statement) => {
                    let server = server.as_deref_mut().expect("SQL actions are planned with a connection");
                    server.conn.query_drop(statement).map_err(|e| {
                        Failure::new(format!("{statement}: {e} (on {}); nothing after it was done", server.target))
                    })?
                }
                Action::CheckUdf => {
                    let server = server.as_deref_mut().expect("planned with a connection");
                    let version = server.udf_version()?.ok_or_else(|| {
                        Failure::new(format!(
                            "dbaudit_version() does not exist on {} after CREATE FUNCTION",
                            server.target
                        ))
                    })?;
                    line = Some(format!("loaded  dbaudit_version() = {version}"));
                }
                Action::Note(_) | Action::Warning(_) | Action::Keep { .. } => {}
            }
            if let Some(line) = line {
                writeln!(out, "  {line}").map_err(super::output)?;
            }
            for result in results {
                writeln!(out, "          {result}").map_err(super::output)?;
            }
        }
        Ok(())
    }
}

fn describe(action: &Action) -> Option<String> {
    Some(match action {
        Action::Write { path, mode, what, .. } => {
            let exists = path.exists();
            let verb = match (mode, exists) {
                (Mode::Keep, _) => "edit   ",
                (Mode::Like(_), _) => "backup ",
                (_, true) => "replace",
                (_, false) => "create ",
            };
            let how = match mode {
                Mode::Set(m, owner) | Mode::CreateOnly(m, owner) => format!(", {m:04o} {}", owner.describe()),
                Mode::Keep | Mode::Like(_) => String::new(),
            };
            format!("{verb} {} ({what}{how})", path.display())
        }
        Action::Remove { path, what } => format!("remove  {} ({what})", path.display()),
        Action::Keep { path, why } => format!("keep    {} ({why})", path.display()),
        Action::CreateDir { path, mode, owner, what } => {
            format!("mkdir   {} ({what}, {mode:04o} {})", path.display(), owner.describe())
        }
        Action::Run { command, what } => format!("run     {} ({what})", command.join(" ")),
        Action::ReleaseLocks { program, accounts, .. } => format!(
            "release {} release-all (unlocks what it locked: {})",
            program.display(),
            if accounts.is_empty() { "nothing now".to_owned() } else { accounts.join(", ") }
        ),
        Action::Stop { pid, program } => format!(
            "stop    pid {pid}, {} (--force: SIGTERM, SIGKILL after {} s)",
            program.display(),
            running::GRACE.as_secs()
        ),
        Action::Sql(statement) => format!("sql     {statement}"),
        Action::CheckUdf => "check   SELECT dbaudit_version()".to_owned(),
        Action::Note(text) => format!("note    {text}"),
        Action::Warning(text) => format!("warning {text}"),
    })
}

fn create_dir(path: &Path, mode: u32, owner: &Ownership) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::DirBuilder::new().mode(mode).create(path)?;
    if let Ok((uid, gid)) = owner.ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    // The umask may have taken bits away.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn run(command: &[String]) -> Result<(), Failure> {
    let shown = command.join(" ");
    let output = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::new(format!("cannot run {shown}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Failure::new(format!(
        "{shown} failed ({}): {}; nothing after it was done",
        output.status,
        stderr.lines().next().unwrap_or("no message")
    )))
}

fn write_file(path: &Path, contents: &[u8], mode: &Mode) -> io::Result<()> {
    use std::os::unix::fs::chown;
    if let Mode::CreateOnly(bits, owner) = mode {
        // Never over an existing file, even one that appeared since the plan was made.
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        if let Ok((uid, gid)) = owner.ids {
            chown(path, Some(uid), Some(gid))?;
        }
        return fs::set_permissions(path, fs::Permissions::from_mode(*bits));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.dbaudit-new"));
    let _ = fs::remove_file(&tmp);
    let (bits, ids) = match mode {
        Mode::Set(bits, owner) | Mode::CreateOnly(bits, owner) => (*bits, owner.ids.clone().ok()),
        Mode::Keep | Mode::Like(_) => {
            let like = if let Mode::Like(other) = mode { other.as_path() } else { path };
            let meta = fs::metadata(like)?;
            (meta.mode() & 0o7777, running_as_root().then_some((meta.uid(), meta.gid())))
        }
    };
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        if let Some((uid, gid)) = ids {
            chown(&tmp, Some(uid), Some(gid))?;
        }
        fs::set_permissions(&tmp, fs::Permissions::from_mode(bits))?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
