//! `dbaudit-normalise`: reads the raw audit log the UDF writes, checks every record against
//! the keyed chain, and writes one syslog-framed line per event for ossec-logcollector —
//! exactly once, whatever rotation, truncation or `kill -9` happens in between.
//!
//! The data flows through the modules in order: [`input`] finds and reads whole lines across
//! rotation, the verifier of `dbaudit_record` judges them, its `normalised` frame turns them
//! into normalised lines, [`output`] writes them, [`checkpoint`] remembers where that left off.
//! In `follow`, the re-check (`recheck`) verifies again, beside all that, what was delivered of
//! the current file, so that an edit made after delivery is reported too.
//! It does not parse OSSEC rules or act on events: that is ossec-analysisd's and
//! dbaudit-respond's job.

mod ahead;
pub mod checkpoint;
pub mod input;
mod normaliser;
pub mod output;
mod recheck;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dbaudit_record::Key;

use crate::checkpoint::{StateError, StateFile};
pub use crate::normaliser::{InputFormat, RunError, Settings};

const EXIT_CODES: &str = "\
Exit codes:
  0  done: `once` processed everything there was (`follow` runs until killed)
  1  reading the input, writing the output or storing the checkpoint failed
  2  wrong usage: an unknown option or a missing value
  3  setup: the key file is missing or not a key, the state file is not a checkpoint,
     or (`once`, first run) the input file does not exist
  4  another dbaudit-normalise holds the state file (STATE.lock)

Each event becomes one line:
  2026-11-26T08:31:24.123456+00:00 HOST dbaudit: op=update table=acme.users user=admin@localhost
  host=localhost conn=17 epoch=… seq=42 pk=id:7 changed=password data={\"old\":{…},\"new\":{…}}
op is insert, update, delete, drift (row_op=, no values), start, forged (claimed_user=, never
user=), tamper (kind=gap|mac|order, then found=recheck when `follow --recheck` found it in
records already delivered) or error, whose kind is one of
  unparsable  lines that are not records, or longer than 64 MiB (count=, file=, offset=)
  unanchored  a first record whose predecessor was never read, so it cannot be checked
  replay      the output past the checkpoint is not what this run makes of the input: the
              output or the input changed since; lines after it may repeat
  lost        records the UDF could not write (count=), or a file gone before it was finished
Values are percent-encoded outside [A-Za-z0-9._@:-]; lines stay under 5,800 bytes, and
`cut=data` (or `cut=pk,data`, …) names what was shortened.";

/// Command line of `dbaudit-normalise`.
#[derive(Debug, Parser)]
#[command(
    name = "dbaudit-normalise",
    version,
    about = "Verify the dbaudit raw log and feed it to ossec-logcollector, exactly once",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Follow the raw log as a daemon, through rotation, until killed.
    Follow {
        #[command(flatten)]
        options: Options,
        /// Verify again the part of the current raw log already delivered, once caught up
        /// after starting and then every SECONDS, so that a record edited, deleted or moved
        /// afterwards raises op=tamper found=recheck; 0: never. A round reads the file once,
        /// beside delivery.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        recheck: u64,
    },
    /// Process what is new since the checkpoint, then exit (cron, or OSSEC's `command` log format).
    Once(Options),
}

#[derive(Debug, Args)]
struct Options {
    /// The raw log the UDF writes (`log =` in /etc/mysql/dbaudit.cnf).
    #[arg(long, value_name = "RAW", default_value = dbaudit_paths::RAW_LOG)]
    input: PathBuf,
    /// `json`: the UDF's own log; `stderr`: the MySQL error log, keeping only dbaudit records.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    input_format: Format,
    /// The chain's key, 64 hex characters (written by `dbaudit install`).
    #[arg(long, value_name = "K", default_value = dbaudit_paths::KEY_FILE)]
    key_file: PathBuf,
    /// The checkpoint; STATE.lock beside it keeps a second instance out.
    #[arg(long, value_name = "STATE", default_value = dbaudit_paths::NORMALISE_STATE)]
    state: PathBuf,
    /// A file for ossec-logcollector (`<log_format>syslog</log_format>`), `-` for standard
    /// output, or `syslog` for the local syslog (facility authpriv).
    #[arg(long, value_name = "OUT|-|syslog", default_value = dbaudit_paths::NORMALISED_LOG)]
    output: PathBuf,
    /// The host name on each line (default: the kernel's host name). OSSEC's pre-decoder takes
    /// only A-Z a-z 0-9 and ( ) - . / @ _ in a host name; every other character becomes `_`
    /// (`fe80::1` is written `fe80__1`), or the line would not decode as dbaudit's.
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// How long `follow` sleeps when there is nothing new, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    poll_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Json,
    Stderr,
}

/// Why the program stopped, and the exit code that says so.
#[derive(Debug)]
pub struct Error {
    code: u8,
    message: String,
}

impl Error {
    /// The process exit code documented in `--help`.
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Runs the command line `args` (program name first) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dbaudit-normalise: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    let (follow, options, recheck) = match cli.mode {
        Mode::Follow { options, recheck } => (true, options, (recheck > 0).then(|| Duration::from_secs(recheck))),
        Mode::Once(options) => (false, options, None),
    };
    let setup = |message: String| Error { code: 3, message };
    let key = Key::read_file(&options.key_file).map_err(|e| setup(e.to_string()))?;
    let state = StateFile::lock(&options.state).map_err(|e| match e {
        StateError::Locked(lock) => Error {
            code: 4,
            message: format!(
                "another dbaudit-normalise is using the state file {} (it holds {}); stop it or give this one its own --state",
                options.state.display(),
                lock.display()
            ),
        },
        StateError::Io(path, e) => Error { code: 1, message: format!("cannot lock {}: {e}", path.display()) },
        StateError::Corrupt(path) => setup(format!("{} is not a checkpoint", path.display())),
    })?;
    let checkpoint = state.load().map_err(|e| match e {
        StateError::Corrupt(path) => setup(format!(
            "the state file {} is not a dbaudit-normalise checkpoint; move it away to start over from the beginning of the input",
            path.display()
        )),
        StateError::Io(path, e) => Error { code: 1, message: format!("cannot read the state file {}: {e}", path.display()) },
        StateError::Locked(path) => Error { code: 4, message: format!("{} is locked", path.display()) },
    })?;
    let settings = Settings {
        input: options.input,
        format: match options.input_format {
            Format::Json => InputFormat::Json,
            Format::Stderr => InputFormat::Stderr,
        },
        key,
        output: options.output,
        host: options.host.unwrap_or_else(hostname),
        follow,
        poll: Duration::from_millis(options.poll_ms.max(1)),
        recheck,
    };
    normaliser::run(&settings, &state, checkpoint).map_err(|e| match e {
        RunError::NoInput(path) => setup(format!(
            "the input {} does not exist; the UDF creates it with its first record: check `log =` in /etc/mysql/dbaudit.cnf and --input",
            path.display()
        )),
        RunError::Io(what, e) => Error { code: 1, message: format!("{what}: {e}") },
    })
}

/// The kernel's host name, as syslog would give it.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
