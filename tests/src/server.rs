//! One private `mariadbd`: its directory, its process, connections to it.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use dbaudit_record::Key;
use dbaudit_triggers::{TableName, Tokens};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

use crate::setup::{self, MariaDbSetup, INNODB_SIZES};
use crate::TempDir;
use dbaudit_connect::{quote_ident as sql_quote_ident, quote_str as sql_quote_str};

const START_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// The SQL functions of `libdbaudit_udf.so` and their return types: those `dbaudit install`
/// creates, and the one the `test-panic` feature adds.
const UDF_FUNCTIONS: [(&str, &str); 4] = [
    ("dbaudit_log", "INTEGER"),
    ("dbaudit_version", "STRING"),
    ("dbaudit_health", "STRING"),
    ("dbaudit_test_panic", "INTEGER"),
];

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// How a server is set up; `Options::default()` is what most tests want.
#[derive(Clone, Debug)]
pub struct Options {
    /// Build the UDF, put it in the plugin directory and create its SQL functions (default: yes).
    pub load_udf: bool,
    /// The UDF config's `log` value, e.g. `stderr`; `None` means [`MariaDb::log_path`].
    pub log: Option<String>,
    /// The key file's contents; `None` means a fresh random key (64 hex characters, newline).
    pub key_file_contents: Option<Vec<u8>>,
    /// More `mariadbd` options, e.g. `--log-bin`, given at every start.
    pub server_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options { load_udf: true, log: None, key_file_contents: None, server_args: Vec::new() }
    }
}

/// A real `mariadbd` of the test's own, in a [`TempDir`] holding `data/`, `plugin/`,
/// `tmp/`, the socket `mysqld.sock`, `mysqld.pid`, `error.log`, the UDF's config
/// `dbaudit.cnf` (found through `DBAUDIT_UDF_CONFIG`), its key `dbaudit.key` and its log
/// `dbaudit.log`. No networking: tests in parallel share nothing.
///
/// Dropping it stops the server (SIGTERM, SIGKILL after 20 s) and removes the directory.
/// Should the test process die first, the server is killed with it (`setpriv --pdeathsig`).
#[derive(Debug)]
pub struct MariaDb {
    process: Option<Child>,
    key_hex: String,
    dir: TempDir,
    server_args: Vec<String>,
}

impl MariaDb {
    /// Starts a server with the UDF loaded and a fresh key.
    pub fn start() -> MariaDb {
        MariaDb::start_with(Options::default())
    }

    /// Starts a server set up as `options` say.
    pub fn start_with(options: Options) -> MariaDb {
        let setup = MariaDbSetup::get();
        let udf_library = options.load_udf.then(setup::udf_library);
        let dir = TempDir::new("dbaudit-mariadb");
        let file = |name: &str| dir.path().join(name);

        let socket = file("mysqld.sock");
        assert!(
            socket.to_str().is_some_and(|s| s.len() <= MAX_SOCKET_PATH),
            "the socket path {} is not UTF-8 or longer than {MAX_SOCKET_PATH} bytes: set TMPDIR to a short directory",
            socket.display()
        );
        copy_tree(&setup.template, &file("data"))
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", setup.template.display(), file("data").display()));
        for subdir in ["plugin", "tmp"] {
            fs::create_dir(file(subdir)).unwrap_or_else(|e| panic!("cannot create {subdir}/: {e}"));
        }
        if let Some(library) = udf_library {
            fs::copy(library, file("plugin").join("libdbaudit_udf.so"))
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", library.display()));
        }

        let key = options.key_file_contents.unwrap_or_else(|| {
            let key = Key::generate().expect("random bytes for a key");
            format!("{}\n", key.to_hex()).into_bytes()
        });
        write_private(&file("dbaudit.key"), &key).unwrap_or_else(|e| panic!("cannot write dbaudit.key: {e}"));
        let log = options.log.unwrap_or_else(|| file("dbaudit.log").display().to_string());
        let config = format!("[dbaudit-udf]\nlog = {log}\nkey_file = {}\n", file("dbaudit.key").display());
        fs::write(file("dbaudit.cnf"), config).unwrap_or_else(|e| panic!("cannot write dbaudit.cnf: {e}"));

        let key_hex = String::from_utf8_lossy(&key).trim().to_owned();
        let mut server = MariaDb { process: None, key_hex, dir, server_args: options.server_args };
        server.start_again();
        if udf_library.is_some() {
            let mut root = server.root();
            for (name, returns) in UDF_FUNCTIONS {
                let create = format!("CREATE FUNCTION {name} RETURNS {returns} SONAME 'libdbaudit_udf.so'");
                if let Err(e) = root.query_drop(&create) {
                    panic!("{create}: {e}\n{}", server.error_log_tail());
                }
            }
        }
        server
    }

    /// A new connection as `root@localhost` (no password); panics if there is none to have.
    pub fn root(&self) -> Conn {
        Conn::new(self.opts("root", None))
            .unwrap_or_else(|e| panic!("cannot connect as root on {}: {e}", self.socket().display()))
    }

    /// A new connection as `user@localhost` with `password`.
    pub fn connect_as(&self, user: &str, password: &str) -> Result<Conn, mysql::Error> {
        Conn::new(self.opts(user, Some(password)))
    }

    /// Creates the account `name@localhost` identified by `password`, grants it each of
    /// `grants` (`"SELECT, UPDATE ON acme.*"`: the text between `GRANT` and `TO`), and
    /// returns `name@localhost`, which is what `USER()` says in its sessions.
    pub fn create_user(&self, name: &str, password: &str, grants: &[&str]) -> String {
        let account = format!("{}@'localhost'", sql_quote_str(name));
        let mut root = self.root();
        let statements = std::iter::once(format!("CREATE USER {account} IDENTIFIED BY {}", sql_quote_str(password)))
            .chain(grants.iter().map(|grant| format!("GRANT {grant} TO {account}")));
        for statement in statements {
            root.query_drop(&statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        format!("{name}@localhost")
    }

    /// Creates the database `name` and returns its name.
    pub fn fresh_database(&self, name: &str) -> String {
        let create = format!("CREATE DATABASE {}", sql_quote_ident(name));
        self.root().query_drop(&create).unwrap_or_else(|e| panic!("{create}: {e}"));
        name.to_owned()
    }

    /// The tokens `dbaudit watch` gives triggers (generation 0), from the key file's key.
    pub fn tokens(&self) -> Tokens {
        let key = Key::from_hex(&self.key_hex).unwrap_or_else(|e| panic!("tokens(): the key file holds no key ({e})"));
        Tokens::new(key, 0)
    }

    /// The token a trigger on `db`.`table` passes to `dbaudit_log`.
    pub fn token_for(&self, db: &str, table: &str) -> String {
        self.tokens().for_table(&TableName::new(db, table))
    }

    /// The key file's contents without surrounding whitespace: normally 64 hex characters.
    pub fn key_hex(&self) -> &str {
        &self.key_hex
    }

    /// `dbaudit.log` in the server's directory: the UDF's log unless `Options::log` said otherwise.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("dbaudit.log")
    }

    /// The server's error log, which is also where its stderr (`log = stderr`) goes.
    pub fn error_log(&self) -> Vec<u8> {
        let path = self.dir().join("error.log");
        fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("mysqld.sock")
    }

    /// The process id of the running `mariadbd`.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("pid(): the server is not running").id()
    }

    /// Whether the server answers `SELECT 1`.
    pub fn is_alive(&self) -> bool {
        let opts = self.opts("root", None).read_timeout(Some(Duration::from_secs(5)));
        Conn::new(opts).and_then(|mut conn| conn.query_drop("SELECT 1")).is_ok()
    }

    /// Shuts the server down cleanly and starts it again on the same data and config.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "mariadbd did not shut down cleanly ({status}); {}", self.error_log_tail());
        self.start_again();
    }

    /// Kills the server with SIGKILL, as a crash would; [`MariaDb::start_again`] brings it back.
    pub fn kill9(&mut self) {
        let mut process = self.process.take().expect("kill9(): the server is not running");
        let _ = process.kill();
        let _ = process.wait();
    }

    /// Starts the server on its existing data and config, after [`MariaDb::kill9`] or
    /// after it died; waits until it answers.
    pub fn start_again(&mut self) {
        if let Some(process) = &mut self.process {
            if let Ok(None) = process.try_wait() {
                panic!("start_again(): mariadbd (pid {}) is still running", process.id());
            }
        }
        self.process = Some(self.spawn());
        self.wait_until_ready();
    }

    fn spawn(&self) -> Child {
        let setup = MariaDbSetup::get();
        let error_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("error.log"))
            .unwrap_or_else(|e| panic!("cannot open error.log: {e}"));
        let mut command = match &setup.setpriv {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "KILL"]).arg(&setup.mariadbd);
                command
            }
            None => Command::new(&setup.mariadbd),
        };
        let dir = self.dir();
        // --no-defaults must come first: no /etc/mysql file may reach a test server.
        command
            .arg("--no-defaults")
            .arg(flag("--datadir=", &dir.join("data")))
            .arg(flag("--socket=", &self.socket()))
            .arg(flag("--pid-file=", &dir.join("mysqld.pid")))
            .arg(flag("--log-error=", &dir.join("error.log")))
            .arg(flag("--plugin-dir=", &dir.join("plugin")))
            .arg(flag("--tmpdir=", &dir.join("tmp")))
            .arg("--skip-networking")
            .args(setup::running_as_root().then_some("--user=root"))
            .args(INNODB_SIZES)
            .args(&self.server_args)
            .args([
                // As Debian's packaged config has it (the compiled-in default is latin1).
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                // Native AIO contexts are limited system-wide (fs.aio-max-nr); parallel
                // servers could run out of them.
                "--innodb-use-native-aio=0",
                // Written in full at each start; 1M instead of 12M.
                "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
                // Speed over durability against machine crashes: a commit is still written
                // to the OS, so it survives `kill -9` of mariadbd, which is what tests do.
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-innodb-doublewrite",
                // Memory: caches for tables nobody uses here.
                "--aria-pagecache-buffer-size=8M",
                "--key-buffer-size=1M",
                // It asks for 2 files per cached table and instance (8): the default 2000
                // asks for more than the process may have, and says so at each start.
                "--table-open-cache=400",
            ])
            .env("DBAUDIT_UDF_CONFIG", dir.join("dbaudit.cnf"))
            .stdin(Stdio::null())
            .stdout(error_log.try_clone().expect("a second handle on error.log"))
            .stderr(error_log);
        spawn_for_process_lifetime(command).unwrap_or_else(|e| panic!("cannot start {}: {e}", setup.mariadbd.display()))
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let process = self.process.as_mut().expect("a server was just spawned");
            if let Ok(Some(status)) = process.try_wait() {
                panic!("mariadbd exited ({status}) before accepting connections; {}", self.error_log_tail());
            }
            if self.is_alive() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "mariadbd did not accept connections within {} s; {}",
                    START_DEADLINE.as_secs(),
                    self.error_log_tail()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Stops the server with SIGTERM (a clean shutdown), with SIGKILL if it takes longer
    /// than 20 s, and returns how it ended.
    fn stop(&mut self) -> ExitStatus {
        let mut process = self.process.take().expect("the server is not running");
        let _ = Command::new("kill").args(["-TERM", &process.id().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match process.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                _ => {
                    let _ = process.kill();
                    return process.wait().expect("wait for mariadbd");
                }
            }
        }
    }

    fn opts(&self, user: &str, password: Option<&str>) -> OptsBuilder {
        let socket = self.socket().to_str().expect("checked at start").to_owned();
        OptsBuilder::new().socket(Some(socket)).user(Some(user)).pass(password)
    }

    /// The last lines of the error log, for panic messages.
    fn error_log_tail(&self) -> String {
        const LINES: usize = 30;
        let path = self.dir().join("error.log");
        let log = String::from_utf8_lossy(&fs::read(&path).unwrap_or_default()).into_owned();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
        format!("the end of {}:\n{tail}", path.display())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if self.process.is_some() {
            self.stop();
        }
    }
}

/// `--name=` followed by `path`, without a detour through (lossy) UTF-8.
fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(path);
    flag
}

/// Copies the directory tree `from` to `to` (created), files and subdirectories alike.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Writes a new file readable by its owner only, as `dbaudit install` writes the key.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(contents)
}

/// Spawns `command` from one thread that lives as long as the test process.
///
/// `setpriv --pdeathsig KILL` asks the kernel to kill the server when its parent goes; the
/// parent, for the kernel, is the *thread* that spawned it. Test threads end with their test
/// (and a server may outlive one, in a static), so none of them may be that parent. With
/// this thread as the parent, the servers die exactly when the test process does, however
/// it ends: normally, by Ctrl-C, by abort.
fn spawn_for_process_lifetime(command: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("mariadbd-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the mariadbd spawner thread");
        requests
    });
    let (reply, answer) = mpsc::channel();
    spawner.send((command, reply)).expect("the spawner thread runs for the whole process");
    answer.recv().expect("the spawner thread answers")
}
