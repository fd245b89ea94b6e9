//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::install::layout::{FlavorArg, Role};

const EXIT_STATUS: &str = "\
Exit status:
  0  done; for status and verify: nothing wrong found
  1  status: a trigger is missing or altered, a table of the watch list is gone or renamed,
     the UDF is not loaded or losing records, or the key is unreadable;
     watch --all: a table could not be brought back in line;
     verify: records are missing, edited, inserted, moved, or forged (dbaudit_log called
     with a wrong token); history: the same, anywhere in the input (the row's story may
     lack events; those after a finding are listed apart as unverified)
  2  nothing checked or changed: bad usage, option file, key file, connection, missing
     table, a log that cannot be read, or logs that hold no record at all (empty, NUL
     bytes, no whole line); uninstall refused: accounts dbaudit-respond cannot unlock, a
     dbaudit-normalise running outside systemd (see uninstall --help)

Connection settings come from the [client] group of --defaults-file (default
/var/ossec/etc/dbaudit.cnf when it exists); flags override them. The key defaults to the
UDF's own key_file (from $DBAUDIT_UDF_CONFIG or /etc/mysql/dbaudit.cnf, [dbaudit-udf]),
else /etc/mysql/dbaudit.key.";

/// dbaudit: audit row changes in MySQL/MariaDB tables for OSSEC and Wazuh.
#[derive(Debug, Parser)]
#[command(name = "dbaudit", version, after_help = EXIT_STATUS)]
pub(crate) struct Cli {
    /// How to reach the server and where the key is.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand, spelt as MySQL's own tools spell them.
#[derive(Debug, Args)]
pub(crate) struct ConnectionArgs {
    /// Option file to read ([client] for the connection).
    #[arg(long, global = true, value_name = "FILE")]
    pub defaults_file: Option<PathBuf>,
    /// Unix socket of the server.
    #[arg(short = 'S', long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Host of the server (TCP; -h is --help here).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// TCP port.
    #[arg(short = 'P', long, global = true)]
    pub port: Option<u16>,
    /// Account name.
    #[arg(short = 'u', long, global = true)]
    pub user: Option<String>,
    /// Password (prefer the option file: a flag shows in the process list).
    #[arg(short = 'p', long, global = true)]
    pub password: Option<String>,
    /// Key file from which the trigger token is derived (64 hex characters); install
    /// creates it if absent (default /etc/mysql/dbaudit.key).
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// The watch list: the tables watch keeps watched (default dbaudit-watch.json beside
    /// --defaults-file, else /var/ossec/etc/dbaudit-watch.json).
    #[arg(long, global = true, value_name = "FILE")]
    pub watch_list: Option<PathBuf>,
}

/// The subcommands. (`demo` is to come: issue 6.)
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Install the kit into an OSSEC/Wazuh directory and the database server (idempotent).
    Install(InstallArgs),
    /// Take out everything install added (logs and the key stay).
    Uninstall(UninstallArgs),
    /// Create or update the audit triggers of tables (idempotent).
    Watch(WatchArgs),
    /// Drop the audit triggers of tables; other triggers are left alone.
    Unwatch(UnwatchArgs),
    /// Show watched tables, their triggers, the loaded UDF and the log.
    Status(StatusArgs),
    /// Print what an attacker would change, for OSSEC full_command + check_diff.
    Fingerprint,
    /// Check raw audit logs against the keyed chain.
    Verify(VerifyArgs),
    /// One row's story from the verified log: who changed it, when, from what to what.
    History(HistoryArgs),
}

/// `dbaudit install` and `dbaudit uninstall`.
#[derive(Debug, Args)]
#[command(after_help = "\
The connection (global flags, --defaults-file; default root over /run/mysqld/mysqld.sock, or
the installation's etc/dbaudit.cnf when it exists) is used for the database part only.
Everything is checked before anything changes: a malformed ossec.conf changes nothing.
ossec.conf gets marked blocks (<!-- dbaudit begin --> ... <!-- dbaudit end -->), a backup
(etc/ossec.conf.dbaudit-backup) on first change, and loses them again on uninstall.
Every file written whole is listed with its BLAKE3 in etc/dbaudit.manifest, for uninstall.
The directory of the UDF's log is created when missing (mysqld cannot): 0750, owner mysql.
Ownership (root:ossec, root:wazuh, root:mysql) is set only as root and when the group exists.")]
pub(crate) struct InstallArgs {
    /// The OSSEC or Wazuh directory (usually /var/ossec).
    #[arg(long, value_name = "DIR")]
    pub ossec_dir: PathBuf,
    /// OSSEC (2.x-4.x) or Wazuh (4.x) layout; auto tells from the directory.
    #[arg(long, value_enum, default_value_t = FlavorArg::Auto)]
    pub flavor: FlavorArg,
    /// local: everything; agent: programs, log files, the database part; manager: rules,
    /// decoders and the active-response configuration.
    #[arg(long, value_enum, default_value_t = Role::Local)]
    pub role: Role,
    /// Leave the database alone (no UDF, key, UDF configuration or etc/dbaudit.cnf).
    #[arg(long)]
    pub no_database: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the built programs and libdbaudit_udf.so are (default: this program's directory).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// The UDF's configuration file, written if absent.
    #[arg(long, value_name = "FILE", default_value = dbaudit_udfconfig::DEFAULT_PATH)]
    pub udf_config: PathBuf,
    /// The raw log the UDF writes, named in a new UDF configuration.
    #[arg(long, value_name = "FILE", default_value = dbaudit_udfconfig::DEFAULT_LOG)]
    pub log: PathBuf,
    /// Also install the systemd unit and the logrotate file into /etc (done anyway for /var/ossec).
    #[arg(long)]
    pub system_files: bool,
}

/// `dbaudit uninstall`: the options install was given, and `--force`.
#[derive(Debug, Args)]
#[command(after_help = "\
Before anything is removed:
- dbaudit-respond (active-response/bin/) unlocks every account it locked, as it would have on
  OSSEC's delete, which cannot run once it is gone (`dbaudit-respond release-all`). When it
  cannot (the server is down), uninstall stops and names the accounts.
- A running dbaudit-normalise is stopped: with systemctl when systemd runs it as
  dbaudit-normalise.service; any other process running the installed program is named and
  uninstall stops, unless --force.
Files install wrote are listed with their BLAKE3 in etc/dbaudit.manifest; a file changed
since (etc/dbaudit.cnf, edited to set action = lock) is kept, and said so. Logs, the key, the
log's directory and ossec.conf's backup when it differs from the restored ossec.conf stay.
Everything is checked before anything changes; refusals exit 2 and change nothing.")]
pub(crate) struct UninstallArgs {
    /// Where and what install installed: give the options install was given.
    #[command(flatten)]
    pub install: InstallArgs,
    /// Uninstall even when dbaudit-respond cannot unlock what it locked (the accounts are
    /// named and stay locked), and stop a dbaudit-normalise that systemd does not run.
    #[arg(long)]
    pub force: bool,
}

/// `dbaudit watch`.
#[derive(Debug, Args)]
#[command(after_help = "\
DB and TABLE may each be backtick-quoted as in SQL: `shop-db`.`weird``tab le`.
A table already watched keeps its secret columns and its fail-open/fail-closed mode unless
told otherwise. Watched tables are kept in the watch list (--watch-list), which status and
fingerprint compare the server with. After ALTER TABLE, RENAME TABLE or DROP and CREATE of a
watched table, `dbaudit watch --all` brings every table's triggers back in line (a timer runs
it every minute when installed): it follows a renamed table, and refuses a table whose secret
column is gone until it is named again (--secret NEW) or released (--release-secret OLD).
Exit status of --all: 0 all in line, 1 some table could not be healed (each said on a line).")]
pub(crate) struct WatchArgs {
    /// Tables to watch, as DB.TABLE.
    #[arg(required_unless_present_any = ["all", "rotate_token"], conflicts_with_all = ["all", "rotate_token"], value_name = "DB.TABLE")]
    pub tables: Vec<String>,
    /// Every table of the watch list (or, with no list yet, every table carrying dbaudit triggers).
    #[arg(long)]
    pub all: bool,
    /// Give every watched table's triggers new tokens, then make the UDF refuse the old ones
    /// (as op=forged): after a token may have been read (see the README's threat model).
    #[arg(long, conflicts_with_all = ["all", "print"])]
    pub rotate_token: bool,
    /// Create the triggers with binary logging on, so that replicas get them. By default their
    /// statements stay out of the binary and general logs, where the token would be readable.
    #[arg(long)]
    pub replicate: bool,
    /// A column recorded as a keyed mask, never in clear (repeatable; must exist in a named table).
    #[arg(long = "secret", value_name = "COLUMN")]
    pub secrets: Vec<String>,
    /// A secret column to record in clear from now on, or one that is gone (repeatable).
    #[arg(long = "release-secret", value_name = "COLUMN")]
    pub release: Vec<String>,
    /// Refuse the statement when its audit record cannot be written.
    #[arg(long, conflicts_with = "fail_open")]
    pub fail_closed: bool,
    /// Let the statement through when its audit record cannot be written (the default).
    #[arg(long)]
    pub fail_open: bool,
    /// Print the SQL (a script for the mysql client) and change nothing.
    #[arg(long)]
    pub print: bool,
}

/// `dbaudit unwatch`.
#[derive(Debug, Args)]
pub(crate) struct UnwatchArgs {
    /// Tables to stop watching, as DB.TABLE.
    #[arg(required = true, value_name = "DB.TABLE")]
    pub tables: Vec<String>,
}

/// `dbaudit status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `dbaudit verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Give rotated files first, oldest first: dbaudit verify dbaudit.log.2 dbaudit.log.1 dbaudit.log
(gzip-compressed ones are read as they stand).
A log that begins mid-epoch (its start is in a file not given) gets a warning, not a finding.
Forged records (dbaudit_log called directly, with a wrong token) are findings: exit 1.
Logs that hold no record at all are not clean: nothing was verified, exit 2.")]
pub(crate) struct VerifyArgs {
    /// Raw logs written by the UDF, in order.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// `dbaudit history`.
#[derive(Debug, Args)]
#[command(after_help = concat!("\
Example: dbaudit history acme.users --pk id=7 --since 2026-12-01 /var/log/mysql

Every record is checked against the chain; events are facts only while the chain vouches
for them. From a finding (records missing, a bad mac, a record moved, a line that is not a
record) on, nothing is a fact until a start record that verifies (the next mysqld's epoch)
anchors the chain again: the row's events in between are listed apart as UNVERIFIED
(\"verified\":false in JSON). So are forged calls claiming the table, and the first record of
an epoch whose start is in a file not read. Secret columns show their keyed mask.
An update that changes the key is shown, and the row followed under its new key. Drift
records of the table (a change made while its trigger did not match it: the row is unknown)
are shown too, as drift:OP: the row may be the one.
Times are UTC. Without LOG, the UDF's log ([dbaudit-udf] log) is read. History reads no
server: the connection flags are not used, but --user, as --account, names the account
whose changes to show.
", "\n", crate::logs::logs_order_rule!(), "\n
Exit status: 0 no finding in the input; 1 findings (the row's story may lack events);
2 bad usage, no such table in the log, --pk naming other columns than the table's key, a
key that matches no record's mac, or a log that cannot be read."))]
pub(crate) struct HistoryArgs {
    /// The table, as DB.TABLE (either part may be backtick-quoted: `shop db`.`us``ers`).
    #[arg(value_name = "DB.TABLE")]
    pub table: String,
    /// The row's primary key: COL=VALUE, a composite key's columns joined by commas
    /// (shop=3,id=7). Inside a value write \, for a comma and \\ for a backslash
    /// (quote the argument for the shell).
    #[arg(long, value_name = "COL=VALUE[,...]")]
    pub pk: String,
    /// Only changes by this account: name@host as USER() gives it, or a name for any host
    /// (--user says the same).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Only changes at or after this time: 2026-12-01, 2026-12-01 05:20:00 (UTC), or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only changes before this time (the same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only these kinds of change (repeatable, or comma-separated).
    #[arg(long = "op", value_enum, value_delimiter = ',', value_name = "OP")]
    pub ops: Vec<OpArg>,
    /// One JSON object per event, a line each, instead of a table.
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write a self-contained HTML page (timeline and per-column diff) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Raw logs, rotated ones (gzip too), or directories holding them; default the UDF's log.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// A kind of row change, as `--op` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OpArg {
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
}

impl OpArg {
    /// The record's op.
    pub(crate) fn op(self) -> dbaudit_record::Op {
        match self {
            OpArg::Insert => dbaudit_record::Op::Insert,
            OpArg::Update => dbaudit_record::Op::Update,
            OpArg::Delete => dbaudit_record::Op::Delete,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
