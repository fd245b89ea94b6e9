//! dbaudit-respond run as ossec-execd and wazuh-execd run it, against a real MariaDB.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbaudit_tests::{MariaDb, TempDir};
use mysql::prelude::Queryable;
use serde_json::{json, Value};

const RESPONDER: &str = "responder";
const RESPONDER_PASSWORD: &str = "resp-pw";

/// A server with the responder's account, an `acme.users` table, and a configuration.
struct Kit {
    server: MariaDb,
    dir: TempDir,
}

/// One run: its exit status, its log line, what it printed.
#[derive(Debug)]
struct Run {
    code: i32,
    line: Value,
    stdout: String,
}

impl Kit {
    /// `settings` are extra `[dbaudit]` lines.
    fn new(settings: &[&str]) -> Kit {
        let server = MariaDb::start();
        server.create_user(
            RESPONDER,
            RESPONDER_PASSWORD,
            &["CREATE USER, PROCESS, CONNECTION ADMIN ON *.*", "SELECT ON mysql.*", "SELECT ON acme.*"],
        );
        server.fresh_database("acme");
        let mut root = server.root();
        root.query_drop("CREATE TABLE acme.users (id INT PRIMARY KEY, login TEXT, password TEXT)").unwrap();
        root.query_drop("INSERT INTO acme.users VALUES (7, 'xavier', 'hunter2')").unwrap();
        let kit = Kit { server, dir: TempDir::new("dbaudit-respond") };
        kit.configure(settings);
        kit
    }

    fn configure(&self, settings: &[&str]) {
        let config = format!(
            "[client]\nsocket = {}\nuser = {RESPONDER}\npassword = {RESPONDER_PASSWORD}\n\
             [dbaudit]\nstate_dir = {}\nlog = {}\ntimeout = 2\n{}\n",
            self.server.socket().display(),
            self.dir.path().join("state").display(),
            self.log().display(),
            settings.join("\n")
        );
        std::fs::write(self.config(), config).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("dbaudit.cnf")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("active-responses.log")
    }

    /// Creates `name@host` with `password` (and nothing else).
    fn account(&self, name: &str, host: &str, password: &str) {
        let sql = format!("CREATE USER '{name}'@'{host}' IDENTIFIED BY '{password}'");
        self.server.root().query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn locked(&self, name: &str, host: &str) -> bool {
        let create: String =
            self.server.root().query_first(format!("SHOW CREATE USER '{name}'@'{host}'")).unwrap().unwrap();
        create.contains("ACCOUNT LOCK")
    }

    /// Runs the binary as ossec-execd does: argv, no stdin.
    fn ossec(&self, args: &[&str]) -> Run {
        let child = respond(&self.config()).args(args).stdin(Stdio::null()).spawn().unwrap();
        self.finish(child, String::new())
    }

    /// Runs the binary as wazuh-execd does: no arguments, `message` on stdin; if it asks
    /// `check_keys`, answers `answer` (and checks the keys are `keys`).
    fn wazuh(&self, message: &Value, answer: &str, keys: &[&str]) -> Run {
        let mut child = respond(&self.config()).stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{message}").unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        if message["command"] == "add" && !keys.is_empty() {
            stdout.read_line(&mut printed).unwrap();
            let question: Value = serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
            assert_eq!(question["command"], "check_keys", "{question}");
            assert_eq!(question["origin"]["module"], "active-response");
            assert_eq!(question["parameters"]["keys"], json!(keys));
            let mut reply = question.clone();
            reply["command"] = json!(answer);
            writeln!(stdin, "{reply}").unwrap();
        }
        drop(stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        printed.push_str(&rest);
        self.finish(child, printed)
    }

    /// Runs `dbaudit-respond release-all <extra>` as a person would: exit code, stdout, stderr.
    fn release_all(&self, extra: &[&str]) -> (i32, String, String) {
        let output = respond(&self.config()).arg("release-all").args(extra).stderr(Stdio::piped()).output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
    }

    fn finish(&self, mut child: Child, stdout: String) -> Run {
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let line = log.lines().last().map_or(Value::Null, |l| serde_json::from_str(l).unwrap());
        Run { code: status.code().unwrap_or(-1), line, stdout }
    }
}

fn respond(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbaudit-respond"));
    command.env("DBAUDIT_CONFIG", config).stdout(Stdio::piped()).stderr(Stdio::inherit());
    command
}

fn argv<'a>(command: &'a str, user: &'a str) -> Vec<&'a str> {
    vec![command, user, "localhost", "1795681579.1", "100025", "/var/ossec/logs/dbaudit.log", "-"]
}

fn wazuh_message(command: &str, full_log: &str) -> Value {
    json!({
        "version": 1, "origin": {"name": "node01", "module": "wazuh-execd"}, "command": command,
        "parameters": {"extra_args": [], "program": "active-response/bin/dbaudit-respond",
            "alert": {"id": "1700000000.42", "rule": {"id": "100025", "level": 7},
                      "location": "/var/ossec/logs/dbaudit.log", "full_log": full_log}}
    })
}

fn audit_line(user: &str) -> String {
    format!(
        "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=update table=acme.users user={user} host=localhost \
         conn=17 seq=42 pk=id:7 changed=password data={{\"old\":{{\"password\":\"secret:5be0aa11\"}}}}"
    )
}

#[test]
fn add_locks_the_account_and_kills_its_sessions_and_delete_unlocks_it() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    let mut open = kit.server.connect_as("app", "app-pw").unwrap();

    let run = kit.ossec(&argv("add", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert_eq!(run.line["outcome"], "done");
    assert_eq!(run.line["account"], "'app'@'localhost'");
    assert!(kit.locked("app", "localhost"));
    assert!(kit.server.connect_as("app", "app-pw").is_err(), "a locked account logs in");
    assert!(open.query_drop("SELECT 1").is_err(), "its session survived");
    assert_eq!(run.line["row_unavailable"].as_str().map(|s| s.contains("ossec-execd")), Some(true));
    assert!(run.stdout.is_empty(), "printed {:?} to execd", run.stdout);

    let run = kit.ossec(&argv("delete", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(!kit.locked("app", "localhost"));
    kit.server.connect_as("app", "app-pw").expect("the account logs in again after delete");
}

#[test]
fn a_remote_agents_location_in_two_arguments_is_understood() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    let args = ["add", "app@localhost", "localhost", "1.2", "100025", "(db1)", "10.0.0.5->/var/log/x.log", "-"];
    let run = kit.ossec(&args);
    assert_eq!(run.code, 0, "{}", run.line);
    assert_eq!(run.line["location"], "(db1) 10.0.0.5->/var/log/x.log");
    assert!(kit.locked("app", "localhost"));
}

#[test]
fn delete_leaves_an_account_it_did_not_lock_locked() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    kit.server.root().query_drop("ALTER USER 'app'@'localhost' ACCOUNT LOCK").unwrap();

    let run = kit.ossec(&argv("delete", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(kit.locked("app", "localhost"));

    // An add finds it already locked: it kills the sessions but does not take the lock over.
    let run = kit.ossec(&argv("add", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    let run = kit.ossec(&argv("delete", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(kit.locked("app", "localhost"), "delete unlocked an account the administrator locked");
}

#[test]
fn only_the_account_the_session_matched_is_locked_never_a_broader_one() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    kit.account("app", "%", "app-pw");
    kit.account("web", "%", "web-pw");
    kit.account("", "localhost", "anon-pw");

    let run = kit.ossec(&argv("add", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(kit.locked("app", "localhost"));
    assert!(!kit.locked("app", "%"), "the broader app@% was locked");

    // web@% and ''@localhost both match a session web@localhost: MySQL and MariaDB disagree.
    let run = kit.ossec(&argv("add", "web@localhost"));
    assert_eq!(run.code, 2, "{}", run.line);
    assert!(!kit.locked("web", "%"));

    let run = kit.ossec(&argv("add", "ghost@localhost"));
    assert_eq!(run.code, 2, "{}", run.line);
    assert_eq!(run.line["outcome"], "declined");
}

#[test]
fn protected_accounts_are_never_locked() {
    let kit = Kit::new(&["action = lock", "protected = app@localhost, ops"]);
    kit.account("app", "localhost", "app-pw");
    kit.account("ops", "%", "ops-pw");
    for user in ["root@localhost", "app@localhost", "ops@10.1.2.3", "responder@localhost"] {
        let run = kit.ossec(&argv("add", user));
        assert_eq!(run.code, 2, "{user}: {}", run.line);
        assert_eq!(run.line["outcome"], "declined", "{user}");
        assert!(run.line["reason"].as_str().unwrap().contains("protected"), "{}", run.line);
    }
    assert!(!kit.locked("root", "localhost"));
    assert!(!kit.locked("app", "localhost"));
    assert!(!kit.locked("ops", "%"));
    assert!(!kit.locked(RESPONDER, "localhost"));
}

#[test]
fn hostile_fields_are_refused_and_change_nothing() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    let users_before: Vec<(String, String)> = kit.server.root().query("SELECT User, Host FROM mysql.user").unwrap();
    let long = format!("{}@localhost", "a".repeat(5000));
    let hostile = [
        "-",
        "",
        &long,
        "app@localhost\nroot@localhost",
        "app'@'localhost",
        "app@localhost' ACCOUNT LOCK; DROP USER 'app'@'localhost'; --",
        "`app`@localhost",
        "app\"@localhost",
        "app@local\\host",
        "app",
    ];
    for user in hostile {
        let run = kit.ossec(&argv("add", user));
        assert_eq!(run.code, 1, "{user:?}: {}", run.line);
        assert_eq!(run.line["outcome"], "refused", "{user:?}");
    }
    for args in [
        vec!["add"],
        vec!["lock", "app@localhost", "-", "1.2", "100025", "/l", "-"],
        vec!["add", "app@localhost", "-", "1.2; DROP TABLE acme.users", "100025", "/l", "-"],
        vec!["add", "app@localhost", "-", "1.2", "100025 OR 1=1", "/l", "-"],
        vec!["add", "app@localhost", "-", "1.2", "100025", "/l\n", "-"],
    ] {
        let run = kit.ossec(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.line);
    }
    let forged = wazuh_message(
        "add",
        "2026-11-26T08:31:24.123456+00:00 h dbaudit: op=forged claimed_user=app@localhost claimed_table=acme.users",
    );
    assert_eq!(kit.wazuh(&forged, "continue", &[]).code, 1);
    let mut smuggled = wazuh_message("add", &audit_line("app@localhost"));
    smuggled["parameters"]["alert"]["full_log"] = json!(format!("{} user=root@localhost", audit_line("app@localhost")));
    assert_eq!(kit.wazuh(&smuggled, "continue", &[]).code, 1, "two user= fields are not one account");
    for junk in [json!("not an object"), json!({"version": 1, "command": "add"})] {
        assert_eq!(kit.wazuh(&junk, "continue", &[]).code, 1);
    }

    assert!(!kit.locked("app", "localhost"));
    let users_after: Vec<(String, String)> = kit.server.root().query("SELECT User, Host FROM mysql.user").unwrap();
    assert_eq!(users_before, users_after);
    let rows: Option<u64> = kit.server.root().query_first("SELECT COUNT(*) FROM acme.users").unwrap();
    assert_eq!(rows, Some(1));
    let log = std::fs::read_to_string(kit.log()).unwrap();
    assert_eq!(log.lines().count(), hostile.len() + 5 + 4, "one line per invocation:\n{log}");
    for line in log.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["outcome"], "refused", "{line}");
    }
}

#[test]
fn wazuh_add_asks_check_keys_honours_abort_and_delete_unlocks() {
    let kit = Kit::new(&["action = lock"]);
    kit.account("app", "localhost", "app-pw");
    let add = wazuh_message("add", &audit_line("app@localhost"));

    let run = kit.wazuh(&add, "abort", &["app@localhost"]);
    assert_eq!(run.code, 0, "{}", run.line);
    assert_eq!(run.line["outcome"], "aborted");
    assert!(!kit.locked("app", "localhost"), "abort was not honoured");

    let run = kit.wazuh(&add, "continue", &["app@localhost"]);
    assert_eq!(run.code, 0, "{}", run.line);
    assert_eq!(run.line["protocol"], "wazuh");
    assert_eq!(run.line["seq"], 42);
    assert!(kit.locked("app", "localhost"));

    let run = kit.wazuh(&wazuh_message("delete", &audit_line("app@localhost")), "", &[]);
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(run.stdout.is_empty(), "delete printed {:?}", run.stdout);
    assert!(!kit.locked("app", "localhost"));
}

#[test]
fn the_record_holds_the_rows_current_state_with_secrets_masked() {
    let kit = Kit::new(&[]);
    kit.account("app", "localhost", "app-pw");
    let _session = kit.server.connect_as("app", "app-pw").unwrap();
    let run = kit.wazuh(&wazuh_message("add", &audit_line("app@localhost")), "", &[]);
    assert_eq!(run.code, 0, "{}", run.line);
    assert!(run.stdout.is_empty(), "record printed {:?}: it keeps no state, so no check_keys", run.stdout);
    assert_eq!(run.line["action"], "record");
    assert_eq!(run.line["table"], "acme.users");
    assert_eq!(run.line["row"]["id"], 7);
    assert_eq!(run.line["row"]["login"], "xavier");
    assert_eq!(run.line["row"]["password"], json!({"masked": "secret column"}));
    assert!(!run.line.to_string().contains("hunter2"));
    let sessions = run.line["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{}", run.line);
    assert_eq!(sessions[0]["same_account"], true);
    assert!(!kit.locked("app", "localhost"), "record locked");
}

#[test]
fn a_server_that_never_answers_ends_the_run_within_the_timeout() {
    let dir = TempDir::new("dbaudit-respond-hang");
    let socket = dir.path().join("mysqld.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let log = dir.path().join("active-responses.log");
    let config = dir.path().join("dbaudit.cnf");
    std::fs::write(
        &config,
        format!(
            "[client]\nsocket = {}\nuser = r\n[dbaudit]\naction = lock\ntimeout = 1\nlog = {}\nstate_dir = {}\n",
            socket.display(),
            log.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    for socket_state in ["listening, silent", "absent"] {
        if socket_state == "absent" {
            std::fs::remove_file(&socket).unwrap();
        }
        let started = Instant::now();
        let status = respond(&config).args(argv("add", "app@localhost")).stdin(Stdio::null()).status().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(status.code(), Some(4), "{socket_state}");
        // timeout + 1 s is the promise; the extra second is for a loaded machine's scheduler
        // (CI builds in parallel). A hang would take execd's whole wait, not a second more.
        assert!(elapsed < Duration::from_secs(3), "{socket_state}: took {elapsed:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(line["outcome"], "server-error", "{line}");
    }
}

#[test]
fn with_arguments_stdin_is_never_read() {
    let dir = TempDir::new("dbaudit-respond-stdin");
    let config = dir.path().join("dbaudit.cnf");
    std::fs::write(
        &config,
        format!("[client]\nsocket = /nonexistent.sock\n[dbaudit]\nlog = {}\n", dir.path().join("ar.log").display()),
    )
    .unwrap();
    let started = Instant::now();
    // stdin is a pipe that stays open and empty: reading it would hang.
    let mut child = respond(&config).args(argv("add", "app@localhost")).stdin(Stdio::piped()).spawn().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    assert!(started.elapsed() < Duration::from_secs(5), "it waited on stdin");
}

#[test]
fn help_names_the_exit_codes_and_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_dbaudit-respond")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in
        ["Exit status", "action = record | lock", "protected", "state_dir", "timeout", "DBAUDIT_CONFIG", "release-all"]
    {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn installed_in_an_ossec_tree_it_reads_that_trees_config_without_being_told() {
    // ossec-execd passes no environment: the program must find <tree>/etc/dbaudit.cnf itself.
    let tree = TempDir::new("dbaudit-respond-tree");
    let bin = tree.path().join("active-response").join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(tree.path().join("etc")).unwrap();
    let program = bin.join("dbaudit-respond");
    std::fs::copy(env!("CARGO_BIN_EXE_dbaudit-respond"), &program).unwrap();
    let log = tree.path().join("active-responses.log");
    std::fs::write(
        tree.path().join("etc").join("dbaudit.cnf"),
        format!("[client]\nsocket = /nonexistent/mysqld.sock\n[dbaudit]\nlog = {}\ntimeout = 1\n", log.display()),
    )
    .unwrap();
    let status = Command::new(&program)
        .args(argv("add", "app@localhost"))
        .env_remove("DBAUDIT_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(4), "the tree's config names a dead socket: a server error");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(line["outcome"], "server-error", "{line}");
}

#[test]
fn release_all_unlocks_every_account_it_locked_and_nothing_else() {
    let kit = Kit::new(&["action = lock"]);
    for name in ["app", "web", "ops", "gone"] {
        kit.account(name, "localhost", "pw");
    }
    kit.server.root().query_drop("ALTER USER 'ops'@'localhost' ACCOUNT LOCK").unwrap();
    // Two alerts hold app: one delete alone would leave it locked; release-all does not wait.
    for user in ["app@localhost", "app@localhost", "web@localhost", "gone@localhost"] {
        let run = kit.ossec(&argv("add", user));
        assert_eq!(run.code, 0, "{}", run.line);
    }
    kit.server.root().query_drop("DROP USER 'gone'@'localhost'").unwrap();

    let (code, stdout, _) = kit.release_all(&["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "would unlock 'app'@'localhost'\nwould unlock 'web'@'localhost'\nwould unlock 'gone'@'localhost'\n"
    );
    assert!(kit.locked("app", "localhost") && kit.locked("web", "localhost"), "--dry-run unlocked");

    // The server unreachable: nothing unlocked, every account named, the state kept.
    let config = std::fs::read_to_string(kit.config()).unwrap();
    let dead = config.replace(&kit.server.socket().display().to_string(), "/nonexistent/mysqld.sock");
    std::fs::write(kit.config(), &dead).unwrap();
    let (code, stdout, stderr) = kit.release_all(&[]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "still locked 'app'@'localhost'\nstill locked 'web'@'localhost'\nstill locked 'gone'@'localhost'\n"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("dbaudit-respond: ") && stderr.contains("/nonexistent/mysqld.sock"), "{stderr}");
    std::fs::write(kit.config(), &config).unwrap();

    let (code, stdout, stderr) = kit.release_all(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "unlocked 'app'@'localhost'\nunlocked 'web'@'localhost'\nforgot 'gone'@'localhost'\n");
    assert!(!kit.locked("app", "localhost") && !kit.locked("web", "localhost"));
    kit.server.connect_as("app", "pw").expect("app logs in again");
    assert!(kit.locked("ops", "localhost"), "release-all unlocked an account the administrator locked");
    let line = std::fs::read_to_string(kit.log()).unwrap();
    let line: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!((line["command"].as_str(), line["outcome"].as_str()), (Some("release-all"), Some("done")), "{line}");

    // Nothing is held any more: the pending deletes undo nothing, a second release has nothing.
    let run = kit.ossec(&argv("delete", "app@localhost"));
    assert_eq!(run.code, 0, "{}", run.line);
    assert_eq!(kit.release_all(&[]).1, "nothing to release: dbaudit-respond holds no lock\n");
    assert_eq!(kit.release_all(&["--now"]).0, 1);
}

#[test]
fn release_all_where_nothing_was_ever_locked_creates_no_state() {
    let kit = Kit::new(&[]);
    let (code, stdout, _) = kit.release_all(&["--dry-run"]);
    assert_eq!((code, stdout.as_str()), (0, "nothing to release: dbaudit-respond holds no lock\n"));
    assert!(!kit.dir.path().join("state").exists(), "a dry run created the state directory");
}
