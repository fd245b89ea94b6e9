//! Wazuh's side of the conversation: stdin read on a thread so every wait has a deadline,
//! and the `check_keys` handshake of stateful responses.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// The longest line taken from execd (an alert with a long `full_log` is a few KB).
const MAX_LINE: u64 = 1 << 20;

/// Lines from stdin, read by a thread of their own.
pub(crate) struct Stdin {
    lines: Receiver<Result<String, String>>,
}

impl Stdin {
    /// Starts reading stdin. Only called when there are no arguments: with arguments
    /// (ossec-execd) stdin is never touched.
    pub(crate) fn spawn() -> Stdin {
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut line = Vec::new();
                let line = match (&mut stdin).take(MAX_LINE).read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) if !line.ends_with(b"\n") && line.len() as u64 == MAX_LINE => {
                        Err(format!("a line on stdin is longer than {MAX_LINE} bytes"))
                    }
                    Ok(_) => String::from_utf8(line)
                        .map(|l| l.trim_end_matches(['\n', '\r']).to_owned())
                        .map_err(|_| "stdin is not UTF-8".to_owned()),
                    Err(e) => Err(format!("cannot read stdin: {e}")),
                };
                let last = line.is_err();
                if sender.send(line).is_err() || last {
                    break;
                }
            }
        });
        Stdin { lines }
    }

    /// The next line, waiting `timeout` at most.
    pub(crate) fn next_line(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("nothing on stdin within {} s (run by hand? see --help)", timeout.as_secs_f64()))
            }
            Err(RecvTimeoutError::Disconnected) => Err("stdin ended before a message".to_owned()),
        }
    }
}

/// Prints `check_keys` with `key` and reads execd's answer: `Ok(true)` for `continue`,
/// `Ok(false)` for `abort`.
pub(crate) fn check_keys(program: &str, key: &str, stdin: &mut Stdin, timeout: Duration) -> Result<bool, String> {
    let message = json!({
        "version": 1,
        "origin": {"name": program, "module": "active-response"},
        "command": "check_keys",
        "parameters": {"keys": [key]},
    });
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{message}").and_then(|()| stdout.flush()).map_err(|e| format!("cannot write check_keys: {e}"))?;
    drop(stdout);
    let answer = stdin.next_line(timeout).map_err(|e| format!("no answer to check_keys: {e}"))?;
    let answer: Value =
        serde_json::from_str(&answer).map_err(|e| format!("the answer to check_keys is not JSON: {e}"))?;
    match answer.get("command").and_then(Value::as_str) {
        Some("continue") => Ok(true),
        Some("abort") => Ok(false),
        other => Err(format!("the answer to check_keys is {other:?}, neither continue nor abort")),
    }
}
