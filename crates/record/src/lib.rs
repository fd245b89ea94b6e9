//! The dbaudit audit record: the one-line JSON format the UDF writes, the call
//! [`protocol`] by which triggers hand it a row, the keyed hash chain that makes the log
//! tamper-evident, the verifier that checks it, and the normalised line that carries a
//! verified record to OSSEC.
//!
//! Every other dbaudit crate builds on this one. It knows nothing of databases or of files
//! being followed; it turns events into bytes, bytes back into records, judges a sequence
//! of lines against the chain, and frames records the way OSSEC's pre-decoder reads them.

mod chain;
pub mod hex;
pub mod json;
pub mod names;
pub mod normalised;
pub mod protocol;
mod record;
mod tail;
mod time;
mod verify;
mod view;

pub use chain::{Chain, ChainPoint, EncodedEvent, Epoch, Key, KeyError, Mac};
pub use json::{RawStr, RawValue};
pub use record::{
    encode_body, parse, seal, Claimed, ClaimedRef, Column, ColumnRef, ColumnSpec, Drift, DriftRef, Event, EventRef,
    Lost, LostRef, Op, ParseError, Record, Row, RowRef, RowShape, Value, MAC_MARKER, MAC_SUFFIX_LEN,
};
pub use tail::{last_record, last_record_of};
pub use time::{Timestamp, TIMESTAMP_LEN};
pub use verify::{Sealed, Tamper, TamperKind, Verdict, Verifier};
pub use view::{parse_view, ClaimedView, Columns, DriftView, EventView, Names, RecordView, RowView};

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut buf = [0; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}
