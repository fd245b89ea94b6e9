//! `libdbaudit_udf.so`: the SQL functions that dbaudit's triggers call inside mysqld.
//!
//! `dbaudit_log(token, db, tbl, op, user, conn, pk_cols, secret_cols, old./new. values…)`
//! appends one sealed record per changed row to the audit log; `dbaudit_version()` names
//! the build; `dbaudit_health()` tells how the stream fares (records lost, the last error). The unsafe C ABI lives in [`abi`] alone; everything else is safe Rust that
//! unit tests drive without a server. Nothing here may panic across the ABI or block
//! mysqld for long: every entry point is wrapped in `catch_unwind`, and problems become a
//! NULL result and one line in the server's error log.
//!
//! This crate does not create functions or triggers (that is `dbaudit install`/`watch`), and
//! reads nothing but its configuration, its key and the tail of its own log.

#[allow(unsafe_code)]
mod abi;
mod auditor;
mod call;
mod report;
mod sink;

pub use auditor::{Auditor, Outcome};
pub use call::Arg;

/// The build, as `dbaudit_version()` reports it.
pub const VERSION: &str = concat!("dbaudit_udf ", env!("CARGO_PKG_VERSION"));
