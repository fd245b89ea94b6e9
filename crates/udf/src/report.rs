//! One-line messages to the server's error log (mysqld's stderr).
//!
//! A fail-open trigger on a busy table could call a broken UDF thousands of times a
//! second, so the same trouble is reported at most once a second, with a count of the
//! repeats it stood for.

use std::io::Write;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

struct Last {
    message: String,
    at: Option<Instant>,
    suppressed: u64,
}

static LAST: Mutex<Last> = Mutex::new(Last { message: String::new(), at: None, suppressed: 0 });

/// Writes `dbaudit_udf: <message>` as one line, unless the same message went out less
/// than a second ago.
pub(crate) fn error(message: &str) {
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let recent = last.at.is_some_and(|at| at.elapsed() < Duration::from_secs(1));
    if recent && last.message == message {
        last.suppressed += 1;
        return;
    }
    let repeats = std::mem::take(&mut last.suppressed);
    let line = if repeats > 0 {
        format!("dbaudit_udf: {message} (and {repeats} earlier repeats)\n")
    } else {
        format!("dbaudit_udf: {message}\n")
    };
    last.message = message.to_owned();
    last.at = Some(Instant::now());
    write_stderr(line.as_bytes());
}

/// Writes bytes to stderr with one `write(2)` when the kernel allows, never buffered.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// Replaces the default panic hook (several lines) with one line, once per process.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let line = format!("dbaudit_udf: panic{at}: {}; the call returned NULL\n", what.replace('\n', " "));
            write_stderr(line.as_bytes());
        }));
    });
}
