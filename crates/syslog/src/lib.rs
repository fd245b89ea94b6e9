//! Messages to the local syslog daemon, framed as glibc's syslog(3) frames them:
//! `<PRI>Mmm dd hh:mm:ss ident[pid]: message`, one datagram each on the `/dev/log` socket,
//! facility authpriv, the time in the machine's local time zone (`TZ`, else `/etc/localtime`).
//!
//! Both of dbaudit's programs that talk to syslog (`dbaudit-normalise --output syslog` and
//! `dbaudit-respond`) go through this crate, so that a syslog daemon, and OSSEC reading what it
//! writes, sees one format. The facility is always authpriv: the messages can carry row values
//! and account names, and auth logs are readable by fewer people and read by OSSEC by default.
//!
//! It is not a logger (no levels to filter, no `log` facade) and does not fall back to a
//! stream socket or the console as syslog(3) can: a caller decides what a failed send means.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use jiff::ZonedDateTime;

/// The local syslog daemon's socket.
pub const SOCKET: &str = "/dev/log";

/// `LOG_AUTHPRIV`'s facility number (`LOG_AUTHPRIV >> 3` in `<syslog.h>`).
const AUTHPRIV: u8 = 10;

/// How urgent a message is, as `<syslog.h>` numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `LOG_ERR`.
    Error = 3,
    /// `LOG_WARNING`.
    Warning = 4,
    /// `LOG_NOTICE`.
    Notice = 5,
    /// `LOG_INFO`.
    Info = 6,
}

/// A socket connected to the syslog daemon, and the name messages go under.
#[derive(Debug)]
pub struct Syslog {
    socket: UnixDatagram,
    ident: String,
}

impl Syslog {
    /// Connects to [`SOCKET`]; messages go under `ident[pid]`.
    pub fn open(ident: &str) -> io::Result<Syslog> {
        Syslog::open_at(Path::new(SOCKET), ident)
    }

    /// Connects to the datagram socket at `path` instead of [`SOCKET`].
    pub fn open_at(path: &Path, ident: &str) -> io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog { socket, ident: ident.to_owned() })
    }

    /// Sends `text` as one message, stamped with the local time now.
    pub fn send(&self, severity: Severity, text: &[u8]) -> io::Result<()> {
        let datagram = message(severity, &self.ident, std::process::id(), &ZonedDateTime::now(), text);
        self.socket.send(&datagram).map(|_| ())
    }
}

/// The datagram syslog(3) would send for `text` at `at`: `<PRI>Mmm dd hh:mm:ss ident[pid]: text`,
/// the day padded with a space (strftime's `%e`) and the month in English, as in the C locale.
fn message(severity: Severity, ident: &str, pid: u32, at: &ZonedDateTime, text: &[u8]) -> Vec<u8> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS[usize::try_from(at.month() - 1).unwrap_or(0) % 12];
    let mut datagram = format!(
        "<{}>{month} {:>2} {:02}:{:02}:{:02} {ident}[{pid}]: ",
        AUTHPRIV * 8 + severity as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
    .into_bytes();
    datagram.extend_from_slice(text);
    datagram
}

#[cfg(test)]
mod tests {
    use jiff::tz::{self, TimeZone};
    use jiff::Timestamp;

    use super::*;

    /// 2026-11-26T08:31:24Z.
    const INSTANT: i64 = 1_795_681_884;

    fn at(seconds: i64, zone: TimeZone) -> ZonedDateTime {
        Timestamp::from_second(seconds).unwrap().to_zoned_datetime(zone)
    }

    #[test]
    fn header_is_the_instant_in_the_given_zone() {
        let utc = message(Severity::Info, "dbaudit", 42, &at(INSTANT, TimeZone::UTC), b"op=update");
        assert_eq!(utc, b"<86>Nov 26 08:31:24 dbaudit[42]: op=update");
        let east = message(Severity::Warning, "dbaudit", 42, &at(INSTANT, TimeZone::fixed(tz::offset(3))), b"x");
        assert_eq!(east, b"<84>Nov 26 11:31:24 dbaudit[42]: x");
        let west = message(Severity::Error, "dbaudit-respond", 7, &at(INSTANT, TimeZone::fixed(tz::offset(-9))), b"{}");
        assert_eq!(west, b"<83>Nov 25 23:31:24 dbaudit-respond[7]: {}");
    }

    #[test]
    fn a_single_digit_day_is_padded_with_a_space() {
        // 2027-01-05T00:00:09Z.
        let message = message(Severity::Notice, "dbaudit", 1, &at(1_799_107_209, TimeZone::UTC), b"");
        assert_eq!(message, b"<85>Jan  5 00:00:09 dbaudit[1]: ");
    }
}
