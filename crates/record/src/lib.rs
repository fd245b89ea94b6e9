//! The dbaudit audit record: the one-line JSON format the UDF writes, the keyed hash chain
//! that makes the log tamper-evident, and the verifier that checks it.
//!
//! Every other dbaudit crate builds on this one. It knows nothing of databases, files being
//! followed or OSSEC; it turns events into bytes, bytes back into records, and judges a
//! sequence of lines against the chain.

mod chain;
pub mod hex;
pub mod json;
pub mod names;
mod record;
mod time;
mod verify;

pub use chain::{Chain, ChainPoint, Epoch, Key, KeyError, Mac};
pub use record::{
    encode_body, parse, seal, Claimed, ClaimedRef, Column, ColumnRef, Event, EventRef, Op, ParseError, Record, Row,
    RowRef, Value, MAC_MARKER, MAC_SUFFIX_LEN,
};
pub use time::{Timestamp, TIMESTAMP_LEN};
pub use verify::{Tamper, TamperKind, Verdict, Verifier};

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut buf = [0; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}
