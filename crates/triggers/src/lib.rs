//! dbaudit's audit triggers: what the server says about a table, the three AFTER triggers
//! that send its row changes to `dbaudit_log` (the one generator in the codebase), and
//! putting them on the server or taking them off, changing only what differs.
//!
//! `dbaudit watch`, `unwatch`, `status` and `fingerprint` build on it, and the end-to-end
//! tests use it to watch their tables. It does not connect (callers hand it a connection),
//! keep the watch list, read the UDF's configuration or the key's file: those are the
//! `dbaudit` command's. The call it generates follows [`dbaudit_record::protocol`].

mod error;
mod generator;
mod schema;
mod table;
mod watch;

pub use error::{Error, ErrorKind};
pub use generator::{
    call_protocol, options_of, sql_event, written_for, Tokens, Trigger, TriggerSet, WatchOptions, DRIFT_MESSAGE,
    FAIL_CLOSED_MESSAGE,
};
pub use schema::{
    our_triggers, table_exists, triggers_in, triggers_on, watched_tables, ColumnInfo, ExistingTrigger, IndexPart,
    RowKey, TableSchema,
};
pub use table::TableName;
pub use watch::{apply, print_plan, unwatch_table, watch_table, Flavour, WatchPlan, WatchRequest};
