//! Connecting to MySQL/MariaDB the way its own tools do — an option file's `[client]`
//! group, overridden by flags, with timeouts — plus the SQL quoting and account parsing
//! that `dbaudit` and `dbaudit-respond` both need.
//!
//! It knows nothing of triggers, records or OSSEC; it is the ground floor those programs
//! stand on so that neither carries its own copy of connection or quoting code.

mod account;
mod quote;
mod settings;

pub use account::{Account, AccountError};
pub use quote::{quote_ident, quote_str};
pub use settings::{
    connect, ClientOptions, ConnectError, ConnectErrorKind, Settings, DEFAULT_DEFAULTS_FILE, DEFAULT_SOCKET,
};
