//! What every test server is made from, found or built once per test process: the MariaDB
//! programs, a template data directory, and the UDF library.

use std::collections::hash_map::DefaultHasher;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::{env, fs, process};

const NOT_INSTALLED: &str =
    "mariadbd not found: run `apt-get install -y mariadb-server` (the tests need a real MariaDB)";

/// InnoDB sizes given both to `mariadb-install-db` and to every server: the template's redo
/// log then already has the size the servers want (no resize at start-up), and each copy is
/// 34 MB instead of the default 114 MB.
pub(crate) const INNODB_SIZES: [&str; 2] = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"];

/// The installed MariaDB server and a data directory to copy for each test server.
pub(crate) struct MariaDbSetup {
    /// The server program.
    pub(crate) mariadbd: PathBuf,
    /// util-linux's `setpriv`, if installed: it ties each server's life to the test process.
    pub(crate) setpriv: Option<PathBuf>,
    /// A data directory fresh from `mariadb-install-db`; never started, only copied.
    pub(crate) template: PathBuf,
}

impl MariaDbSetup {
    /// The setup, prepared on first use; panics with one line when MariaDB is not installed.
    pub(crate) fn get() -> &'static MariaDbSetup {
        static SETUP: OnceLock<MariaDbSetup> = OnceLock::new();
        SETUP.get_or_init(MariaDbSetup::prepare)
    }

    fn prepare() -> MariaDbSetup {
        let mariadbd =
            find_program(&["mariadbd"], &["/usr/sbin", "/usr/libexec"]).unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let install_db = find_program(&["mariadb-install-db", "mysql_install_db"], &["/usr/bin"])
            .unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let setpriv = find_program(&["setpriv"], &["/usr/bin"]);
        let template = template(&mariadbd, &install_db);
        MariaDbSetup { mariadbd, setpriv, template }
    }
}

/// The first of `names` found on `PATH`, then in `extra_dirs`.
fn find_program(names: &[&str], extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = env::split_paths(&path).chain(extra_dirs.iter().map(PathBuf::from)).collect();
    names.iter().flat_map(|name| dirs.iter().map(move |dir| dir.join(name))).find(|candidate| candidate.is_file())
}

/// The template data directory, made by `mariadb-install-db` once and kept under
/// `target/test-mariadb/`: its name carries the server version and the install arguments,
/// so another MariaDB or other arguments get a template of their own.
fn template(mariadbd: &Path, install_db: &Path) -> PathBuf {
    let version = Command::new(mariadbd)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} --version: {e}", mariadbd.display()));
    let version = String::from_utf8_lossy(&version.stdout);
    let install_args = install_args();
    let mut hasher = DefaultHasher::new();
    (version.trim(), &install_args).hash(&mut hasher);
    let release: String = version
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || ".+-_".contains(c) { c } else { '_' })
        .collect();

    let cache = workspace_root().join("target").join("test-mariadb");
    let template = cache.join(format!("template-{release}-{:016x}", hasher.finish()));
    if template.is_dir() {
        return template;
    }
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("cannot create {}: {e}", cache.display()));
    // Built beside its final name and renamed into place, so a template that exists is
    // complete even when several test processes race to make it.
    let building = cache.join(format!("building-{}", process::id()));
    let _ = fs::remove_dir_all(&building);
    let mut datadir = OsString::from("--datadir=");
    datadir.push(&building);
    let output = Command::new(install_db)
        .args(&install_args)
        .arg(datadir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", install_db.display()));
    if !output.status.success() {
        panic!(
            "{} failed ({}):\n{}{}",
            install_db.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if fs::rename(&building, &template).is_err() {
        // Another process won the race; its template is as good as ours.
        let _ = fs::remove_dir_all(&building);
        assert!(template.is_dir(), "cannot move {} to {}", building.display(), template.display());
    }
    template
}

fn install_args() -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"].map(String::from).into();
    if running_as_root() {
        args.push("--user=root".into());
    }
    args.extend(INNODB_SIZES.map(String::from));
    args
}

/// Whether this process runs as root (mariadbd then needs `--user=root`).
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user; this spares a dependency on libc.
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The built `libdbaudit_udf.so`, with the `test-panic` feature; built on first use, in a
/// target directory of its own so it never waits on (or invalidates) the outer build.
pub fn udf_library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| build(&["-p", "dbaudit-udf", "--features", "test-panic"], "libdbaudit_udf.so"))
}

/// The `dbaudit` command, built as the UDF is (optimised for benchmarks), for benchmarks
/// that check their log with `dbaudit verify`. (Tests of the command are in crates/cli.)
pub fn dbaudit_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build(&["-p", "dbaudit-cli", "--bin", "dbaudit"], "dbaudit"))
}

/// Builds with `cargo build <what>` into target/test-udf and returns the path of `artifact`.
fn build(what: &[&str], artifact: &str) -> PathBuf {
    let workspace = workspace_root();
    let target_dir = workspace.join("target").join("test-udf");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Benchmarks (built optimised) measure an optimised build; tests use a debug one.
    let release = !cfg!(debug_assertions);
    let output = Command::new(&cargo)
        .current_dir(&workspace)
        .arg("build")
        .args(what)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(release.then_some("--release"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
    if !output.status.success() {
        panic!(
            "building failed ({}): `cargo build {}`\n{}",
            output.status,
            what.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    target_dir.join(if release { "release" } else { "debug" }).join(artifact)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests package sits inside the workspace").to_path_buf()
}
