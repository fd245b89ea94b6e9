//! The database part: the UDF library in `@@plugin_dir` and its SQL functions, the key,
//! the UDF's configuration, and the option file dbaudit and dbaudit-respond connect with.

use std::fs;
use std::path::{Path, PathBuf};

use dbaudit_connect::{connect, quote_ident, ClientOptions, Settings, DEFAULT_SOCKET};
use dbaudit_record::Key;
use dbaudit_triggers::watched_tables;
use dbaudit_udfconfig::{UdfConfig, DEFAULT_PATH};
use mysql::prelude::Queryable;

use super::layout::{id_of, Ownership};
use super::manifest;
use super::plan::{Action, Mode, Plan};
use super::Target;
use crate::error::Failure;
use crate::server::Server;

/// The library's file name, in `--from` and in `@@plugin_dir`.
const LIBRARY: &str = "libdbaudit_udf.so";
/// The SQL functions `install` creates and their return types.
const FUNCTIONS: [(&str, &str); 3] =
    [("dbaudit_log", "INTEGER"), ("dbaudit_version", "STRING"), ("dbaudit_health", "STRING")];

/// Plans the database part of an install; returns the connection the plan runs on.
pub(super) fn plan_install(target: &Target<'_>, plan: &mut Plan) -> Result<Server, Failure> {
    let args = target.args;
    let library_path = super::from_dir(args)?.join(LIBRARY);
    let library = fs::read(&library_path).map_err(|e| {
        Failure::new(format!(
            "cannot read {}: {e}; build it with `cargo build --release` or name its directory with --from",
            library_path.display()
        ))
    })?;
    if !args.log.is_absolute() {
        return Err(Failure::new(format!("--log {}: give an absolute path (mysqld writes it)", args.log.display())));
    }
    for file in [&target.key_file, &args.udf_config] {
        require_parent(file)?;
    }
    let key_exists = target.key_file.exists();
    if key_exists {
        Key::read_file(&target.key_file)
            .map_err(|e| Failure::new(format!("{e}; it is never overwritten: fix or move it")))?;
    }
    let udf_config_exists = args.udf_config.exists();
    let udf_config =
        if udf_config_exists { Some(UdfConfig::read(&args.udf_config).map_err(Failure::new)?) } else { None };
    let cnf = target.layout.path("etc/dbaudit.cnf");

    let (settings, mut server) = open(target)?;
    let plugin_dir = plugin_dir(&mut server)?;
    let loaded = loaded_functions(&mut server)?;
    let installed = plugin_dir.join(LIBRARY);
    let same_library = fs::read(&installed).is_ok_and(|old| old == library);

    // The key and the configuration first: the functions may be called as soon as they exist.
    if key_exists {
        plan.note(format!("kept the existing key {} (never overwritten)", target.key_file.display()));
    } else {
        let key = Key::generate().map_err(|e| Failure::new(format!("cannot get random bytes for a key: {e}")))?;
        let (mode, owner) = if id_of("/etc/group", "mysql").is_some() {
            (0o640, Ownership::of("root", "mysql"))
        } else {
            plan.note(format!(
                "no group mysql: the key stays root-only (0600); let mysqld read it: chgrp <mysqld's group> {0}; chmod 0640 {0}",
                target.key_file.display()
            ));
            (0o600, Ownership::of("root", "root"))
        };
        plan.actions.push(Action::Write {
            path: target.key_file.clone(),
            contents: format!("{}\n", key.to_hex()).into_bytes(),
            mode: Mode::CreateOnly(mode, owner),
            what: "the key the records are chained with".into(),
        });
    }
    match &udf_config {
        Some(config) => {
            for warning in config.warnings() {
                plan.warn(warning);
            }
            let text = udf_config_text(target);
            if fs::read(&args.udf_config).is_ok_and(|old| old == text.as_bytes()) {
                // As install writes it: listed in the manifest, so uninstall removes it.
                let owner = Ownership::of("root", "root");
                plan.install_file(
                    args.udf_config.clone(),
                    text.into_bytes(),
                    Mode::Set(0o644, owner),
                    "the UDF's configuration",
                );
            } else {
                plan.note(format!("kept the existing UDF configuration {}", args.udf_config.display()));
            }
            if config.key_file != target.key_file {
                plan.note(format!(
                    "{} names key_file = {}, not {}: the UDF seals with that one",
                    args.udf_config.display(),
                    config.key_file.display(),
                    target.key_file.display()
                ));
            }
        }
        None => plan.install_file(
            args.udf_config.clone(),
            udf_config_text(target).into_bytes(),
            Mode::Set(0o644, Ownership::of("root", "root")),
            "the UDF's configuration",
        ),
    }
    if args.udf_config != Path::new(DEFAULT_PATH) {
        plan.note(format!(
            "mysqld reads {DEFAULT_PATH} unless its environment has DBAUDIT_UDF_CONFIG={}",
            args.udf_config.display()
        ));
    }
    // The log the UDF will write: the kept configuration's, else the one it is given.
    let log = match &udf_config {
        Some(config) => config.log_file().map(Path::to_path_buf),
        None => Some(args.log.clone()),
    };
    if let Some(dir) = log.as_deref().and_then(Path::parent) {
        plan_log_dir(dir, plan)?;
    }

    let all_loaded = FUNCTIONS.iter().all(|(name, _)| loaded.iter().any(|l| l == name));
    if same_library {
        // Not written again, yet install's own: listed in the manifest.
        plan.installed.push((installed.clone(), blake3::hash(&library)));
    }
    if same_library && all_loaded {
        plan.note(format!("{} is this build and its functions exist: up to date", installed.display()));
    } else {
        if !same_library {
            for name in &loaded {
                plan.actions.push(Action::Sql(format!("DROP FUNCTION IF EXISTS {}", quote_ident(name))));
            }
            plan.install_file(installed, library, Mode::Set(0o644, Ownership::of("root", "root")), "the UDF library");
        }
        for (name, returns) in FUNCTIONS {
            if !same_library || !loaded.iter().any(|l| l == name) {
                plan.actions.push(Action::Sql(format!("CREATE FUNCTION {name} RETURNS {returns} SONAME '{LIBRARY}'")));
            }
        }
    }
    plan.actions.push(Action::CheckUdf);

    let cnf_text = client_cnf_text(target, &settings);
    let what = "how dbaudit and dbaudit-respond connect";
    if fs::read(&cnf).is_ok_and(|old| old == cnf_text.as_bytes()) {
        // As install writes it: listed in the manifest, so uninstall removes it.
        plan.install_file(cnf, cnf_text.into_bytes(), Mode::Set(0o600, Ownership::of("root", "root")), what);
    } else if cnf.exists() {
        plan.note(format!("kept the existing {} (never overwritten)", cnf.display()));
    } else {
        plan.install_file(cnf, cnf_text.into_bytes(), Mode::Set(0o600, Ownership::of("root", "root")), what);
    }
    let watch = if target.layout.is_standard() && target.connection.key_file.is_none() {
        "dbaudit".to_owned()
    } else {
        let dir = target.layout.dir.display();
        format!("{dir}/bin/dbaudit --defaults-file {dir}/etc/dbaudit.cnf --key-file {}", target.key_file.display())
    };
    plan.note(format!("next: {watch} watch db.table --secret password  (a secret column is recorded masked)"));
    plan.note(format!(
        "triggers run as their definer, the account that runs watch ({}): keep that account; if it is dropped, every write to a watched table fails",
        settings.user()
    ));
    Ok(server)
}

/// Plans the database part of an uninstall; refuses while tables are watched.
pub(super) fn plan_uninstall(target: &Target<'_>, plan: &mut Plan) -> Result<Server, Failure> {
    let args = target.args;
    let (_, mut server) = open(target)?;
    let watched = watched_tables(&mut server.conn)?;
    if !watched.is_empty() {
        let names = watched.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
        return Err(Failure::new(format!(
            "tables are still watched on {}: {names}; their triggers would fail every write without the UDF: run `dbaudit unwatch {names}` first (nothing was changed)",
            server.target
        )));
    }
    let plugin_dir = plugin_dir(&mut server)?;
    for name in loaded_functions(&mut server)? {
        plan.actions.push(Action::Sql(format!("DROP FUNCTION IF EXISTS {}", quote_ident(&name))));
    }
    let manifest = target.manifest.as_ref();
    manifest::plan_removal(plan, manifest, plugin_dir.join(LIBRARY), "the UDF library");
    if manifest.is_some() {
        manifest::plan_removal(plan, manifest, args.udf_config.clone(), "the UDF's configuration");
    } else if fs::read_to_string(&args.udf_config).is_ok_and(|text| text == udf_config_text(target)) {
        plan.remove(args.udf_config.clone(), "the UDF's configuration, as install wrote it");
    } else {
        plan.keep(args.udf_config.clone(), "the UDF's configuration: not as install writes it");
    }
    if target.key_file.exists() {
        plan.note(format!(
            "kept the key {}: the logs that stay need it for `dbaudit verify`; delete it when they go",
            target.key_file.display()
        ));
    }
    manifest::plan_removal(plan, manifest, target.layout.path("etc/dbaudit.cnf"), "connection settings");
    Ok(server)
}

/// Plans the creation of the UDF log's directory when it is missing: mysqld cannot create
/// it (Debian 12 has no /var/log/mysql until something makes it), and every record would
/// be dropped. Owned by mysql, so that mysqld can write; logs stay after uninstall, and
/// so does their directory.
fn plan_log_dir(dir: &Path, plan: &mut Plan) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Failure::new(format!(
            "{} is not a directory, yet the UDF's log goes into it: move it or name another log with --log \
             (nothing was changed)",
            dir.display()
        )));
    }
    // Debian's own /var/log/mysql belongs to the adm group, which may read logs.
    let group = if id_of("/etc/group", "adm").is_some() { "adm" } else { "mysql" };
    plan.actions.push(Action::CreateDir {
        path: dir.to_owned(),
        mode: 0o750,
        owner: Ownership::of("mysql", group),
        what: "the UDF's log directory: mysqld cannot create it".into(),
    });
    Ok(())
}

/// Connects as the flags say, reading `--defaults-file`, else the installation's own
/// etc/dbaudit.cnf when it exists.
fn open(target: &Target<'_>) -> Result<(Settings, Server), Failure> {
    let connection = target.connection;
    let own = target.layout.path("etc/dbaudit.cnf");
    let defaults = connection.defaults_file.clone().or_else(|| own.exists().then_some(own));
    let flags = ClientOptions {
        socket: connection.socket.clone(),
        host: connection.host.clone(),
        port: connection.port,
        user: connection.user.clone(),
        password: connection.password.clone(),
        timeout: None,
    };
    let settings = Settings::load(defaults.as_deref(), &flags)?;
    let conn = connect(&settings)?;
    let mut server = Server::from_conn(conn)?;
    server.target = settings.target();
    Ok((settings, server))
}

fn plugin_dir(server: &mut Server) -> Result<PathBuf, Failure> {
    let dir: Option<String> = server
        .conn
        .query_first("SELECT @@plugin_dir")
        .map_err(|e| Failure::new(format!("cannot read @@plugin_dir on {}: {e}", server.target)))?;
    let dir = PathBuf::from(dir.unwrap_or_default());
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Failure::new(format!(
            "the server's plugin_dir {} is not a directory here: run install on the database host",
            dir.display()
        )))
    }
}

fn loaded_functions(server: &mut Server) -> Result<Vec<String>, Failure> {
    server
        .conn
        .query("SELECT name FROM mysql.func WHERE name IN ('dbaudit_log', 'dbaudit_version', 'dbaudit_health') ORDER BY name")
        .map_err(|e| {
            Failure::new(format!(
                "cannot read mysql.func on {}: {e}; install needs an account with INSERT and DELETE on mysql (root)",
                server.target
            ))
        })
}

fn require_parent(file: &Path) -> Result<(), Failure> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(Failure::new(format!(
            "{}: the directory {} does not exist; create it or name another file (nothing was changed)",
            file.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

fn udf_config_text(target: &Target<'_>) -> String {
    format!(
        "# dbaudit's UDF (libdbaudit_udf.so) reads this inside mysqld. Written by `dbaudit install`.\n\
         # log: where records go (a file, or stderr: the server's error log). key_file: the chain's key.\n\
         [dbaudit-udf]\nlog = {}\nkey_file = {}\n",
        target.args.log.display(),
        target.key_file.display()
    )
}

fn client_cnf_text(target: &Target<'_>, settings: &Settings) -> String {
    let client = &settings.client;
    let mut text = String::from(
        "# How dbaudit and dbaudit-respond connect to the database. Written by `dbaudit install`;\n\
         # never overwritten by it. Keep it 0600: it may hold a password.\n[client]\n",
    );
    match &client.host {
        Some(host) if host != "localhost" => {
            text.push_str(&format!("host = {host}\n"));
            if let Some(port) = client.port {
                text.push_str(&format!("port = {port}\n"));
            }
        }
        _ => {
            let socket = client.socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
            text.push_str(&format!("socket = {}\n", socket.display()));
        }
    }
    text.push_str(&format!("user = {}\n", settings.user()));
    if let Some(password) = &client.password {
        text.push_str(&format!("password = {password}\n"));
    }
    text.push_str(
        "\n[dbaudit]\n\
         # What dbaudit-respond does on rules 100025 and 100030:\n\
         #   record: log the alert, the row's current state and the account's sessions (default)\n\
         #   lock:   also ALTER USER ... ACCOUNT LOCK the account and KILL its connections;\n\
         #           ossec-execd's delete (after the timeout) unlocks it\n\
         # action = record\n\
         # Never locked, besides root, mariadb.sys, mysql.* and the [client] user:\n\
         # protected = app@localhost, backup\n",
    );
    if !target.layout.is_standard() {
        let dir = target.layout.dir.display();
        text.push_str(&format!("state_dir = {dir}/var/dbaudit\nlog = {dir}/logs/active-responses.log\n"));
    }
    text
}
