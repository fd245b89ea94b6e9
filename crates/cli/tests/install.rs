//! `dbaudit install` and `uninstall`, the real binary, into copies of OSSEC 2.9, OSSEC 3.x
//! and Wazuh 4 trees (tests/fixtures/), and into a real MariaDB without the UDF loaded.
//! Where uninstall meets the other programs at work (an account dbaudit-respond locked, a
//! dbaudit-normalise running), those are the real programs, built for the test.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dbaudit_tests::{copy_tree, MariaDb, Options, TempDir};
use mysql::prelude::Queryable;

const FIXTURES: [&str; 3] = ["ossec-2.9", "ossec-3.x", "wazuh-4"];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Insists on `code`, showing the output when it differs.
    fn expect(self, command: &str, extra: &[&str], code: i32) -> Run {
        assert_eq!(self.code, code, "dbaudit {command} {extra:?}\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
}

/// A copy of a fixture installation, and a `--from` directory beside it.
struct Tree {
    dir: TempDir,
}

impl Tree {
    fn copy_of(fixture: &str) -> Tree {
        let dir = TempDir::new("dbaudit-install");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture);
        copy_tree(&source, &dir.path().join("ossec")).unwrap();
        // The programs are only copied: stand-ins do, except for dbaudit itself.
        let from = dir.path().join("from");
        fs::create_dir(&from).unwrap();
        fs::copy(env!("CARGO_BIN_EXE_dbaudit"), from.join("dbaudit")).unwrap();
        for name in ["dbaudit-normalise", "dbaudit-respond"] {
            fs::write(from.join(name), format!("#!/bin/sh\n# stand-in for {name}\n")).unwrap();
        }
        Tree { dir }
    }

    /// A copy of OSSEC 2.9 with the real dbaudit-respond and dbaudit-normalise to install.
    fn with_real_programs() -> Tree {
        let tree = Tree::copy_of("ossec-2.9");
        for name in ["dbaudit-normalise", "dbaudit-respond"] {
            fs::copy(built_programs().join(name), tree.from().join(name)).unwrap();
        }
        tree
    }

    fn ossec(&self) -> PathBuf {
        self.dir.path().join("ossec")
    }

    fn from(&self) -> PathBuf {
        self.dir.path().join("from")
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.ossec().join(relative)
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.file(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// `dbaudit <command> --ossec-dir … --from … --no-database <extra>`.
    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .arg(command)
            .arg("--ossec-dir")
            .arg(self.ossec())
            .arg("--from")
            .arg(self.from())
            .arg("--no-database")
            .args(extra)
            .output()
            .unwrap();
        Run::of(output)
    }

    fn expect(&self, command: &str, extra: &[&str], code: i32) -> Run {
        self.run(command, extra).expect(command, extra, code)
    }

    /// Every file under the installation: path, bytes, mode.
    fn snapshot(&self) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
        let mut files = BTreeMap::new();
        walk(&self.ossec(), &self.ossec(), &mut files);
        files
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        if path.is_dir() {
            files.insert(path.strip_prefix(root).unwrap().to_owned(), (Vec::new(), mode));
            walk(root, &path, files);
        } else {
            files.insert(path.strip_prefix(root).unwrap().to_owned(), (fs::read(&path).unwrap(), mode));
        }
    }
}

/// Parses `text` as XML, several top-level elements allowed.
fn assert_well_formed(what: &str, text: &str) {
    let wrapped = format!("<dbaudit-test-root>{text}</dbaudit-test-root>");
    if let Err(e) = roxmltree::Document::parse(&wrapped) {
        panic!("{what} is not well-formed XML: {e}\n{text}");
    }
}

/// The text of every dbaudit block in `text`.
fn blocks(text: &str) -> Vec<&str> {
    text.split("<!-- dbaudit begin -->")
        .skip(1)
        .map(|rest| rest.split("<!-- dbaudit end -->").next().unwrap())
        .collect()
}

/// dbaudit-respond and dbaudit-normalise, built once in a target directory of their own (the
/// one `cargo test` holds stays locked while tests run); binaries of other packages.
fn built_programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap();
        let target = workspace.join("target").join("test-programs");
        let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(workspace)
            .args(["build", "-p", "dbaudit-respond", "-p", "dbaudit-normalise", "--target-dir"])
            .arg(&target)
            .output()
            .unwrap();
        assert!(output.status.success(), "building the programs failed:\n{}", String::from_utf8_lossy(&output.stderr));
        target.join("debug")
    })
}

fn changed_files(
    before: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    after: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = before.keys().chain(after.keys()).cloned().collect();
    paths.sort();
    paths.dedup();
    paths.into_iter().filter(|p| before.get(p) != after.get(p)).collect()
}

#[test]
fn install_twice_is_byte_identical_and_uninstall_restores_every_byte() {
    for fixture in FIXTURES {
        let tree = Tree::copy_of(fixture);
        let original = tree.snapshot();
        tree.expect("install", &[], 0);
        let installed = tree.snapshot();
        tree.expect("install", &[], 0);
        assert_eq!(changed_files(&installed, &tree.snapshot()), Vec::<PathBuf>::new(), "{fixture}: second install");
        tree.expect("uninstall", &[], 0);
        assert_eq!(changed_files(&original, &tree.snapshot()), Vec::<PathBuf>::new(), "{fixture}: after uninstall");
    }
}

#[test]
fn installed_files_and_blocks_are_well_formed_and_where_each_version_reads_them() {
    for fixture in FIXTURES {
        let tree = Tree::copy_of(fixture);
        tree.expect("install", &[], 0);
        let conf = tree.read("etc/ossec.conf");
        let conf_blocks = blocks(&conf);
        for block in &conf_blocks {
            assert_well_formed(&format!("{fixture}: a block of ossec.conf"), block);
        }
        assert!(conf.contains(&format!("<location>{}/logs/dbaudit.log</location>", tree.ossec().display())));
        assert!(conf.contains("<rules_id>100025,100030</rules_id>"), "{fixture}");
        match fixture {
            "wazuh-4" => {
                // etc/rules and etc/decoders are read as directories: nothing to include.
                assert_eq!(conf_blocks.len(), 1, "{fixture}");
                assert_well_formed("etc/rules/dbaudit_rules.xml", &tree.read("etc/rules/dbaudit_rules.xml"));
                assert_well_formed(
                    "etc/decoders/dbaudit_decoders.xml",
                    &tree.read("etc/decoders/dbaudit_decoders.xml"),
                );
            }
            "ossec-3.x" => {
                // It names its decoders, so ours are named too, next to the rules' include.
                let rules = conf_blocks.iter().find(|b| b.contains("<include>")).expect("a block in <rules>");
                assert!(rules.contains("<decoder>etc/dbaudit_decoders.xml</decoder>"), "{rules}");
                assert_well_formed("etc/dbaudit_decoders.xml", &tree.read("etc/dbaudit_decoders.xml"));
                assert!(!tree.file("etc/local_decoder.xml").exists());
                // Before local_rules.xml, whose children of 100025 need it loaded.
                assert!(conf.find("dbaudit_rules.xml").unwrap() < conf.find("local_rules.xml").unwrap());
            }
            _ => {
                // No decoder named: analysisd reads local_decoder.xml, and ours go there.
                let local = tree.read("etc/local_decoder.xml");
                assert!(local.starts_with("<!-- Local decoders, added by the administrator. -->"));
                assert_well_formed("etc/local_decoder.xml", &local);
                assert!(blocks(&local)[0].contains("<decoder name=\"dbaudit\">"));
                assert!(!conf.contains("<decoder>"));
                assert!(conf.find("dbaudit_rules.xml").unwrap() < conf.find("local_rules.xml").unwrap());
                assert_well_formed("rules/dbaudit_rules.xml", &tree.read("rules/dbaudit_rules.xml"));
            }
        }
        if fixture != "ossec-2.9" {
            // 2.9's stock comments hold "--", which OSSEC accepts and XML does not.
            assert_well_formed(&format!("{fixture}: ossec.conf"), &conf);
        }
        let mode = fs::metadata(tree.file("active-response/bin/dbaudit-respond")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o750);
    }
}

#[test]
fn dry_run_changes_nothing() {
    for fixture in FIXTURES {
        let tree = Tree::copy_of(fixture);
        let before = tree.snapshot();
        let run = tree.expect("install", &["--dry-run"], 0);
        assert!(run.stdout.contains("dry run") && run.stdout.contains("etc/ossec.conf"), "{}", run.stdout);
        assert_eq!(changed_files(&before, &tree.snapshot()), Vec::<PathBuf>::new(), "{fixture}");
        tree.expect("install", &[], 0);
        let installed = tree.snapshot();
        let run = tree.expect("uninstall", &["--dry-run"], 0);
        assert!(run.stdout.contains("remove "), "{}", run.stdout);
        assert_eq!(changed_files(&installed, &tree.snapshot()), Vec::<PathBuf>::new(), "{fixture}");
    }
}

#[test]
fn the_system_files_include_the_timer_that_heals_watched_tables() {
    let tree = Tree::copy_of("ossec-3.x");
    let run = tree.expect("install", &["--dry-run", "--system-files"], 0);
    for path in ["/etc/systemd/system/dbaudit-watch.service", "/etc/systemd/system/dbaudit-watch.timer"] {
        assert!(run.stdout.contains(path), "{path}\n{}", run.stdout);
    }
    let heals = run.stdout.contains("systemctl enable --now dbaudit-watch.timer")
        || run.stdout.contains("dbaudit watch --all` every minute (cron)");
    assert!(heals, "the timer is enabled, or the plan says what to run instead:\n{}", run.stdout);
}

#[test]
fn malformed_ossec_conf_is_refused_with_its_line_and_nothing_is_written() {
    type Spoil = fn(&str) -> String;
    let cases: [(&str, Spoil, usize); 3] = [
        ("an unclosed <rules>", |c| c.replacen("  </rules>\n", "", 1), 0),
        ("not XML", |_| "[client]\nuser = root\n".to_owned(), 1),
        ("an unclosed comment", |c| c.replacen("<!-- Active Response Config -->", "<!-- Active Response Config", 1), 0),
    ];
    for (what, spoil, line) in cases {
        let tree = Tree::copy_of("ossec-2.9");
        let spoilt = spoil(&tree.read("etc/ossec.conf"));
        fs::write(tree.file("etc/ossec.conf"), &spoilt).unwrap();
        let before = tree.snapshot();
        let run = tree.expect("install", &[], 2);
        let conf = tree.file("etc/ossec.conf").display().to_string();
        assert!(run.stderr.starts_with(&format!("dbaudit: {conf}:")), "{what}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{what}: {}", run.stderr);
        if line > 0 {
            assert!(run.stderr.contains(&format!("{conf}:{line}:")), "{what}: {}", run.stderr);
        }
        assert_eq!(changed_files(&before, &tree.snapshot()), Vec::<PathBuf>::new(), "{what}");
    }
}

#[test]
fn manager_gets_rules_and_response_agent_gets_programs_and_log_files() {
    for fixture in FIXTURES {
        let tree = Tree::copy_of(fixture);
        let rules = if fixture == "wazuh-4" { "etc/rules/dbaudit_rules.xml" } else { "rules/dbaudit_rules.xml" };
        tree.expect("install", &["--role", "manager"], 0);
        assert!(tree.file(rules).exists(), "{fixture}");
        assert!(!tree.file("bin/dbaudit").exists() && !tree.file("active-response/bin/dbaudit-respond").exists());
        let conf = tree.read("etc/ossec.conf");
        assert!(conf.contains("<active-response>") && !conf.contains("dbaudit.log</location>"), "{fixture}");
        tree.expect("uninstall", &["--role", "manager"], 0);

        tree.expect("install", &["--role", "agent"], 0);
        assert!(!tree.file(rules).exists(), "{fixture}");
        assert!(tree.file("bin/dbaudit").exists() && tree.file("bin/dbaudit-normalise").exists());
        assert!(tree.file("active-response/bin/dbaudit-respond").exists());
        let conf = tree.read("etc/ossec.conf");
        assert!(conf.contains("dbaudit.log</location>") && conf.contains("<alias>dbaudit fingerprint</alias>"));
        assert!(!conf.contains("dbaudit_rules.xml") && !conf.contains("<rules_id>100025"), "{fixture}");
    }
}

#[test]
fn database_part_creates_the_functions_key_and_configs_replaces_and_drops_them() {
    let server = MariaDb::start_with(Options { load_udf: false, ..Options::default() });
    let tree = Tree::copy_of("ossec-2.9");
    let from = tree.dir.path().join("from");
    fs::copy(dbaudit_tests::udf_library(), from.join("libdbaudit_udf.so")).unwrap();
    let (key, udf_config, log) =
        (tree.dir.path().join("dbaudit.key"), tree.dir.path().join("udf.cnf"), tree.dir.path().join("dbaudit.log"));
    let run = |command: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .arg(command)
            .args(["--role", "local", "--user", "root", "--ossec-dir"])
            .arg(tree.ossec())
            .arg("--socket")
            .arg(server.socket())
            .arg("--key-file")
            .arg(&key)
            .arg("--udf-config")
            .arg(&udf_config)
            .arg("--log")
            .arg(&log)
            .arg("--from")
            .arg(&from)
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "dbaudit {command}\nstdout: {stdout}\nstderr: {stderr}");
        stdout.into_owned()
    };
    let version = || server.root().query_first::<Option<String>, _>("SELECT dbaudit_version()").map(Option::flatten);

    let first = run("install");
    assert!(version().unwrap().is_some(), "{first}");
    assert!(first.contains("next: ") && first.contains("watch db.table --secret password"), "{first}");
    let key_text = fs::read_to_string(&key).unwrap();
    assert_eq!(key_text.trim().len(), 64);
    assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o640);
    let config = fs::read_to_string(&udf_config).unwrap();
    assert!(
        config.contains(&format!("key_file = {}", key.display()))
            && config.contains(&format!("log = {}", log.display()))
    );
    let cnf = tree.file("etc/dbaudit.cnf");
    assert_eq!(fs::metadata(&cnf).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&cnf).unwrap().contains(&format!("socket = {}", server.socket().display())));

    // The same build again: nothing to replace.
    let again = run("install");
    assert!(again.contains("up to date") && !again.contains("DROP FUNCTION"), "{again}");

    // A newer build (different bytes, same code): dropped, replaced, created; the key stays.
    let mut newer = fs::read(from.join("libdbaudit_udf.so")).unwrap();
    newer.push(0);
    fs::write(from.join("libdbaudit_udf.so"), &newer).unwrap();
    let replaced = run("install");
    assert!(
        replaced.contains("DROP FUNCTION IF EXISTS `dbaudit_log`") && replaced.contains("CREATE FUNCTION dbaudit_log")
    );
    assert!(version().unwrap().is_some());
    assert_eq!(fs::read(server.dir().join("plugin/libdbaudit_udf.so")).unwrap(), newer);
    assert_eq!(fs::read_to_string(&key).unwrap(), key_text);

    let uninstalled = run("uninstall");
    assert!(version().is_err(), "{uninstalled}");
    assert!(!server.dir().join("plugin/libdbaudit_udf.so").exists() && !cnf.exists() && !udf_config.exists());
    assert!(key.exists(), "the key stays: the logs need it");
}

#[test]
fn uninstall_refuses_while_tables_are_watched() {
    let server = MariaDb::start();
    server.fresh_database("acme");
    server.root().query_drop("CREATE TABLE acme.users (id INT PRIMARY KEY, login TEXT)").unwrap();
    let tree = Tree::copy_of("ossec-2.9");
    let common = |command: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dbaudit"));
        c.args(["--defaults-file", "/dev/null", "--user", "root", "--socket"])
            .arg(server.socket())
            .arg("--watch-list")
            .arg(server.dir().join("dbaudit-watch.json"))
            .arg("--key-file")
            .arg(server.dir().join("dbaudit.key"))
            .arg(command);
        c
    };
    let watched =
        common("watch").arg("acme.users").env("DBAUDIT_UDF_CONFIG", server.dir().join("dbaudit.cnf")).output().unwrap();
    assert!(watched.status.success(), "{}", String::from_utf8_lossy(&watched.stderr));
    let output = common("uninstall").arg("--ossec-dir").arg(tree.ossec()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("dbaudit unwatch acme.users"), "{stderr}");
    let loaded: Option<Option<String>> = server.root().query_first("SELECT dbaudit_version()").unwrap();
    assert!(loaded.flatten().is_some());
}

#[test]
fn an_ossec_conf_without_rules_gets_a_rules_section_of_its_own_inside_the_block() {
    let tree = Tree::copy_of("ossec-2.9");
    let minimal = "<ossec_config>\n  <global>\n    <logall>no</logall>\n  </global>\n</ossec_config>\n";
    fs::write(tree.file("etc/ossec.conf"), minimal).unwrap();
    let before = tree.snapshot();
    tree.expect("install", &[], 0);
    let conf = tree.read("etc/ossec.conf");
    assert_eq!(blocks(&conf).len(), 1, "{conf}");
    assert!(blocks(&conf)[0].contains("<rules>\n    <include>dbaudit_rules.xml</include>\n  </rules>"), "{conf}");
    assert_well_formed("ossec.conf", &conf);
    tree.expect("uninstall", &[], 0);
    assert_eq!(changed_files(&before, &tree.snapshot()), Vec::<PathBuf>::new());
}

/// A database host: a real MariaDB without the UDF, and an OSSEC tree with the real programs,
/// installed into with the database part (key, UDF configuration and log beside the tree).
struct Host {
    server: MariaDb,
    tree: Tree,
    udf_config: PathBuf,
}

impl Host {
    fn new() -> Host {
        let server = MariaDb::start_with(Options { load_udf: false, ..Options::default() });
        let tree = Tree::with_real_programs();
        fs::copy(dbaudit_tests::udf_library(), tree.from().join("libdbaudit_udf.so")).unwrap();
        let udf_config = tree.dir.path().join("udf.cnf");
        Host { server, tree, udf_config }
    }

    /// Install writes the UDF configuration where this server's UDF reads it (the harness's
    /// path), instead of its own: the records then go where install says.
    fn udf_reads_what_install_writes(mut self) -> Host {
        self.udf_config = self.server.dir().join("dbaudit.cnf");
        fs::remove_file(&self.udf_config).unwrap();
        self
    }

    fn file(&self, name: &str) -> PathBuf {
        self.tree.dir.path().join(name)
    }

    /// `dbaudit <command>` with the database part, as root over the server's socket.
    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .arg(command)
            .args(["--user", "root", "--ossec-dir"])
            .arg(self.tree.ossec())
            .arg("--socket")
            .arg(self.server.socket())
            .arg("--key-file")
            .arg(self.file("dbaudit.key"))
            .arg("--udf-config")
            .arg(&self.udf_config)
            .arg("--log")
            .arg(self.file("mysql/dbaudit.log"))
            .arg("--from")
            .arg(self.tree.from())
            .args(extra)
            .output()
            .unwrap();
        Run::of(output)
    }

    fn expect(&self, command: &str, extra: &[&str], code: i32) -> Run {
        self.run(command, extra).expect(command, extra, code)
    }

    /// `dbaudit <args>` as root over the server's socket, with install's key; must succeed.
    fn dbaudit(&self, args: &[&str]) {
        let output = Command::new(env!("CARGO_BIN_EXE_dbaudit"))
            .args(["--defaults-file", "/dev/null", "--user", "root", "--socket"])
            .arg(self.server.socket())
            .arg("--watch-list")
            .arg(self.server.dir().join("dbaudit-watch.json"))
            .arg("--key-file")
            .arg(self.file("dbaudit.key"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "dbaudit {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Installs, and sets `action = lock` in etc/dbaudit.cnf as an administrator would.
    fn install_in_lock_mode(&self) {
        self.expect("install", &[], 0);
        let cnf = self.tree.file("etc/dbaudit.cnf");
        let text = fs::read_to_string(&cnf).unwrap();
        assert!(text.trim_end().ends_with(&format!("log = {}/logs/active-responses.log", self.tree.ossec().display())));
        fs::write(&cnf, format!("{text}action = lock\n")).unwrap();
    }

    /// Runs the installed dbaudit-respond as ossec-execd does on rule 100025: argv, no
    /// environment, nothing on stdin.
    fn execd_add(&self, user: &str) {
        let status = Command::new(self.tree.file("active-response/bin/dbaudit-respond"))
            .args(["add", user, "-", "1795681579.1", "100025", "/var/ossec/logs/dbaudit.log", "-"])
            .env_clear()
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "dbaudit-respond add {user}");
    }

    /// Whether `name`@localhost is locked, as the server says.
    fn locked(&self, name: &str) -> bool {
        let create: String =
            self.server.root().query_first(format!("SHOW CREATE USER '{name}'@'localhost'")).unwrap().unwrap();
        create.contains("ACCOUNT LOCK")
    }
}

#[test]
fn uninstall_unlocks_what_dbaudit_respond_locked_and_keeps_the_edited_cnf() {
    let host = Host::new();
    host.install_in_lock_mode();
    host.server.create_user("app", "app-pw", &[]);
    host.server.create_user("ops", "ops-pw", &[]);
    host.server.root().query_drop("ALTER USER 'ops'@'localhost' ACCOUNT LOCK").unwrap();
    host.execd_add("app@localhost");
    assert!(host.locked("app"), "dbaudit-respond did not lock app");

    let planned = host.expect("uninstall", &["--dry-run"], 0);
    assert!(planned.stdout.contains("release-all (unlocks what it locked: 'app'@'localhost')"), "{}", planned.stdout);
    assert!(host.locked("app"), "a dry run unlocked");

    let done = host.expect("uninstall", &[], 0);
    assert!(!host.locked("app"), "still locked after uninstall:\n{}", done.stdout);
    host.server.connect_as("app", "app-pw").expect("app logs in after uninstall");
    assert!(host.locked("ops"), "uninstall unlocked an account dbaudit-respond did not lock");
    // The unlock comes before anything is removed: dbaudit-respond needs its program and cnf.
    let at = |needle: &str| done.stdout.find(needle).unwrap_or_else(|| panic!("{needle:?} not in\n{}", done.stdout));
    assert!(at("unlocked 'app'@'localhost'") < at("remove  "), "{}", done.stdout);

    // The edited cnf stays, said so on one line; what install wrote unchanged goes.
    let cnf = host.tree.file("etc/dbaudit.cnf");
    assert!(fs::read_to_string(&cnf).unwrap().ends_with("action = lock\n"));
    let kept: Vec<&str> = done.stdout.lines().filter(|l| l.contains("keep ")).collect();
    assert_eq!(kept.len(), 1, "{}", done.stdout);
    assert!(kept[0].contains(&cnf.display().to_string()) && kept[0].contains("changed since install"), "{}", kept[0]);
    for gone in ["bin/dbaudit", "bin/dbaudit-normalise", "active-response/bin/dbaudit-respond", "etc/dbaudit.manifest"]
    {
        assert!(!host.tree.file(gone).exists(), "{gone} is left");
    }
    assert!(!host.file("udf.cnf").exists() && !host.server.dir().join("plugin/libdbaudit_udf.so").exists());
}

#[test]
fn uninstall_refuses_naming_the_accounts_while_the_server_is_down_and_force_goes_on() {
    let mut host = Host::new();
    host.install_in_lock_mode();
    host.server.create_user("app", "app-pw", &[]);
    host.execd_add("app@localhost");
    host.server.kill9();

    // dbaudit-respond logs each run, the refused ones too: that is its audit trail, not a change.
    let snapshot = || {
        let mut files = host.tree.snapshot();
        files.remove(Path::new("logs/active-responses.log"));
        files
    };
    let before = snapshot();
    for extra in [&[][..], &["--no-database"][..]] {
        let run = host.expect("uninstall", extra, 2);
        assert_eq!(run.stderr.lines().count(), 1, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains("'app'@'localhost'"), "{extra:?} does not name the account: {}", run.stderr);
        assert_eq!(changed_files(&before, &snapshot()), Vec::<PathBuf>::new(), "{extra:?}");
    }
    let run = host.expect("uninstall", &["--no-database"], 2);
    assert!(run.stderr.contains("--force") && run.stderr.contains("ALTER USER 'app'@'localhost' ACCOUNT UNLOCK"));

    let forced = host.expect("uninstall", &["--no-database", "--force"], 0);
    assert!(forced.stdout.contains("warning: left locked: 'app'@'localhost'"), "{}", forced.stdout);
    assert!(!host.tree.file("active-response/bin/dbaudit-respond").exists());
    // The database part was not asked for: its files stay, and the manifest still knows them.
    let library = host.server.dir().join("plugin/libdbaudit_udf.so");
    assert!(library.exists() && host.udf_config.exists(), "{}", forced.stdout);
    let manifest = host.tree.read("etc/dbaudit.manifest");
    assert!(manifest.contains(&library.display().to_string()) && !manifest.contains("bin/dbaudit"), "{manifest}");
    host.server.start_again();
    assert!(host.locked("app"), "--force said the account stays locked");
}

/// A process the test started, killed when the test ends however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn uninstall_stops_a_running_normaliser_only_with_force_and_names_it_otherwise() {
    let tree = Tree::with_real_programs();
    tree.expect("install", &[], 0);
    let key = tree.dir.path().join("normalise.key");
    fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let mut normaliser = Running(
        Command::new(tree.file("bin/dbaudit-normalise"))
            .arg("follow")
            .arg("--input")
            .arg(tree.dir.path().join("dbaudit.log"))
            .arg("--key-file")
            .arg(&key)
            .arg("--state")
            .arg(tree.dir.path().join("normalise.state"))
            .arg("--output")
            .arg(tree.dir.path().join("normalised.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = normaliser.0.id();

    let before = tree.snapshot();
    let run = tree.expect("uninstall", &[], 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("pid {pid} ")) && run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(changed_files(&before, &tree.snapshot()), Vec::<PathBuf>::new());
    assert!(normaliser.0.try_wait().unwrap().is_none(), "a refused uninstall stopped the normaliser");

    let run = tree.expect("uninstall", &["--force"], 0);
    assert!(run.stdout.contains(&format!("stopped pid {pid} (SIGTERM)")), "{}", run.stdout);
    let deadline = Instant::now() + Duration::from_secs(5);
    while normaliser.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!tree.file("bin/dbaudit-normalise").exists());
}

#[test]
fn install_makes_the_log_directory_mysqld_cannot_and_uninstall_keeps_it_and_the_log() {
    let host = Host::new().udf_reads_what_install_writes();
    let dir = host.file("mysql");
    let planned = host.expect("install", &["--dry-run"], 0);
    assert!(planned.stdout.contains(&format!("mkdir   {} (", dir.display())), "{}", planned.stdout);
    assert!(!dir.exists(), "a dry run made the directory");

    host.expect("install", &[], 0);
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
    let mysql_uid = fs::read_to_string("/etc/passwd").unwrap().lines().find_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        (fields[0] == "mysql").then(|| fields[2].parse::<u32>().unwrap())
    });
    let root = fs::metadata("/proc/self").unwrap().uid() == 0;
    if let (Some(uid), true) = (mysql_uid, root) {
        assert_eq!(meta.uid(), uid, "the directory is not mysql's");
    }

    // The UDF writes its records there.
    host.server.fresh_database("acme");
    host.server.root().query_drop("CREATE TABLE acme.users (id INT PRIMARY KEY)").unwrap();
    host.dbaudit(&["watch", "acme.users"]);
    host.server.root().query_drop("INSERT INTO acme.users VALUES (1)").unwrap();
    let log = fs::read_to_string(dir.join("dbaudit.log")).unwrap();
    assert!(log.contains("\"op\":\"insert\""), "{log}");
    host.dbaudit(&["unwatch", "acme.users"]);

    let done = host.expect("uninstall", &[], 0);
    assert_eq!(fs::read_to_string(dir.join("dbaudit.log")).unwrap(), log, "{}", done.stdout);
    assert!(!host.udf_config.exists(), "the UDF configuration install wrote stays");
}

#[test]
fn install_warns_of_keys_the_udf_does_not_read() {
    let host = Host::new();
    let udf_config = &host.udf_config;
    fs::write(udf_config, "[dbaudit-udf]\nlogfile = /var/log/elsewhere.log\n").unwrap();
    let run = host.expect("install", &["--dry-run"], 0);
    let warning = run.stdout.lines().find(|l| l.trim_start().starts_with("warning ")).unwrap_or_default();
    assert!(
        warning.contains(&format!("{}:2: [dbaudit-udf] logfile ", udf_config.display()))
            && warning.contains("log and key_file"),
        "{}",
        run.stdout
    );
}

#[test]
fn reinstall_updates_the_manifest_and_without_one_uninstall_removes_as_before() {
    let tree = Tree::copy_of("ossec-3.x");
    tree.expect("install", &[], 0);
    let manifest = tree.read("etc/dbaudit.manifest");
    let program = tree.file("bin/dbaudit-normalise");
    assert!(manifest.contains(&format!("{}  {}\n", blake3::hash(&fs::read(&program).unwrap()), program.display())));

    // A newer build replaces the program: the manifest follows, and uninstall takes it out.
    fs::write(tree.from().join("dbaudit-normalise"), "#!/bin/sh\n# a newer stand-in\n").unwrap();
    tree.expect("install", &[], 0);
    assert_ne!(tree.read("etc/dbaudit.manifest"), manifest);
    let run = tree.expect("uninstall", &[], 0);
    assert!(!program.exists() && !run.stdout.contains("keep "), "{}", run.stdout);

    // An edited file of an installation without a manifest goes, as before manifests.
    tree.expect("install", &[], 0);
    fs::remove_file(tree.file("etc/dbaudit.manifest")).unwrap();
    fs::write(tree.file("rules/dbaudit_rules.xml"), "<group name=\"edited\"></group>\n").unwrap();
    tree.expect("uninstall", &[], 0);
    assert!(!tree.file("rules/dbaudit_rules.xml").exists());

    // With a manifest, an edited rules file stays, named on one line.
    tree.expect("install", &[], 0);
    fs::write(tree.file("rules/dbaudit_rules.xml"), "<group name=\"edited\"></group>\n").unwrap();
    let run = tree.expect("uninstall", &[], 0);
    let kept: Vec<&str> = run.stdout.lines().filter(|l| l.contains("keep ")).collect();
    assert_eq!(kept.len(), 1, "{}", run.stdout);
    assert!(kept[0].contains("rules/dbaudit_rules.xml") && kept[0].contains("changed since install"));
    assert!(tree.file("rules/dbaudit_rules.xml").exists());
}
