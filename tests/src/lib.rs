//! The harness for dbaudit's end-to-end tests: each test gets a real, private `mariadbd`
//! (Debian's `mariadb-server`) in a temporary directory, on its own socket, with the UDF
//! built from this workspace loaded into it.
//!
//! ```no_run
//! use dbaudit_tests::MariaDb;
//! use mysql::prelude::Queryable;
//!
//! let server = MariaDb::start();
//! let version: Option<String> = server.root().query_first("SELECT dbaudit_version()").unwrap();
//! ```
//!
//! It does not fake anything: no mock server, no mock UDF. What it cannot find or build it
//! reports in one line and panics.
//!
//! [`ossec_regex`] stands in for OSSEC itself, which no package registry carries: a model of
//! its regex dialect, pre-decoder, decoders and rules that the tests of `ossec/` run lines through.

pub mod bench;
pub mod ossec_regex;
mod server;
mod setup;
mod temp_dir;

pub use dbaudit_connect::{quote_ident as sql_quote_ident, quote_str as sql_quote_str};
pub use server::{copy_tree, MariaDb, Options};
pub use setup::{dbaudit_binary, udf_library};
pub use temp_dir::TempDir;
