//! The keyed hash chain: every record's `mac` covers its own bytes and the previous `mac`,
//! so a line cannot be deleted, edited, inserted or moved by anyone who lacks the key.

use std::fmt;
use std::path::Path;

use crate::hex;

/// The installation's secret: 32 bytes, kept as 64 hex characters in the key file.
#[derive(Clone)]
pub struct Key([u8; 32]);

/// Why a key could not be had.
#[derive(Debug)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    /// A key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// A new random key from the operating system.
    pub fn generate() -> std::io::Result<Key> {
        crate::random_bytes().map(Key)
    }

    /// Parses 64 hex characters, allowing one trailing newline.
    pub fn from_hex(text: &str) -> Result<Key, KeyError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        hex::decode_array::<32>(text.to_ascii_lowercase().as_bytes())
            .map(Key)
            .ok_or_else(|| KeyError(format!("expected 64 hex characters, found {} characters", text.len())))
    }

    /// Reads a key file; the error names the file and says how to make a good one.
    pub fn read_file(path: &Path) -> Result<Key, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError(format!("cannot read key file {}: {e}", path.display())))?;
        Key::from_hex(&text).map_err(|e| {
            KeyError(format!("key file {} is not a dbaudit key ({e}); `dbaudit install` writes one", path.display()))
        })
    }

    /// The key as 64 hex characters, as the key file holds it.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The token that proves a `dbaudit_log` call for `db`.`table` comes from that table's
    /// trigger, in token generation `generation`: a token read from one table's trigger forges
    /// nothing for another, and a new generation retires every token of the old one.
    pub fn trigger_token(&self, generation: u32, db: &[u8], table: &[u8]) -> String {
        let token = self.trigger_token_hex(generation, db, table);
        String::from_utf8(token.to_vec()).expect("hex is ASCII")
    }

    /// [`Key::trigger_token`] as 32 hex bytes, without allocating (the UDF checks one per row).
    pub fn trigger_token_hex(&self, generation: u32, db: &[u8], table: &[u8]) -> [u8; 32] {
        let (db_len, table_len) = (length_of(db), length_of(table));
        let parts: [&[u8]; 6] = [b"dbaudit trigger token\0", &generation.to_be_bytes(), &db_len, db, &table_len, table];
        let mut out = [0; 32];
        hex::encode_to_slice(&keyed_hash_of(&self.0, &parts).as_bytes()[..16], &mut out);
        out
    }

    /// Appends the mask that stands for a secret column's value: the same value in the same
    /// column always gives the same mask, so a change is visible while the value is not; the
    /// same value in another column or table gives another, so password reuse does not show.
    pub fn write_secret_mask(&self, out: &mut Vec<u8>, db: &[u8], table: &[u8], column: &[u8], value: &[u8]) {
        let mask = self.secret_mask_after(&Key::secret_mask_prefix(db, table, column), value);
        out.extend_from_slice(&mask[1..mask.len() - 1]);
    }

    /// What a secret column's mask is keyed with before the value: the derivation's parts up
    /// to the value. A UDF writes the same columns on every row, so it makes these once
    /// ([`crate::RowShape`]).
    pub(crate) fn secret_mask_prefix(db: &[u8], table: &[u8], column: &[u8]) -> Vec<u8> {
        // Column names are case-insensitive: `Password` and `password` are one column. (A name
        // over 256 bytes, which no server allows, is taken as it is, as it always was.)
        let column = if column.len() <= 256 { column.to_ascii_lowercase() } else { column.to_vec() };
        let parts: [&[u8]; 7] =
            [b"secret:\0", &length_of(db), db, &length_of(table), table, &length_of(&column), &column];
        parts.concat()
    }

    /// The mask [`Key::write_secret_mask`] writes of `value` in the column whose prefix
    /// ([`Key::secret_mask_prefix`]) is `prefix`, as a JSON string: quotes included.
    pub(crate) fn secret_mask_after(&self, prefix: &[u8], value: &[u8]) -> [u8; 25] {
        let hash = keyed_hash_of(&self.0, &[prefix, value]);
        let mut mask = *b"\"secret:0123456789abcdef\"";
        hex::encode_to_slice(&hash.as_bytes()[..8], &mut mask[8..24]);
        mask
    }

    /// [`Key::mac`] of what it covers, the previous mac's hex and the body, run together.
    pub(crate) fn mac_of_covered(&self, covered: &[u8]) -> Mac {
        Mac::of(&blake3::keyed_hash(&self.0, covered))
    }

    /// The mac of a record whose bytes before `,"mac":"` are `body`, chained to `prev`.
    pub fn mac(&self, prev: &Mac, body: &[u8]) -> Mac {
        Mac::of(&keyed_hash_of(&self.0, &[&prev.to_hex(), body]))
    }
}

/// A part's length as it precedes the part in a derivation, so that no two sequences of
/// parts hash alike.
fn length_of(part: &[u8]) -> [u8; 8] {
    (part.len() as u64).to_be_bytes()
}

/// The keyed BLAKE3 hash of `parts` run together. Inputs that fit a buffer on the stack
/// (a mask's names and value; nearly every record) are hashed in one call, which costs the
/// UDF far less per row than feeding a `Hasher` piece by piece; longer ones go through one.
fn keyed_hash_of(key: &[u8; 32], parts: &[&[u8]]) -> blake3::Hash {
    // A buffer no larger than needed: it is zeroed first, which costs by its size.
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len <= 256 {
        keyed_hash_in::<256>(key, parts, len)
    } else if len <= 1024 {
        keyed_hash_in::<1024>(key, parts, len)
    } else {
        let mut hasher = blake3::Hasher::new_keyed(key);
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize()
    }
}

/// [`keyed_hash_of`] through a buffer of `N` bytes, which `len`, the parts' length, fits.
fn keyed_hash_in<const N: usize>(key: &[u8; 32], parts: &[&[u8]], len: usize) -> blake3::Hash {
    let mut buffer = [0u8; N];
    let mut at = 0;
    for part in parts {
        buffer[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    blake3::keyed_hash(key, &buffer[..len])
}

/// A record's authentication code: 16 bytes, written as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 16]);

impl Mac {
    /// The `prev` of the first record there ever was: 32 zeros.
    pub const ZERO: Mac = Mac([0; 16]);

    /// The mac a hash makes: its first 16 bytes.
    fn of(hash: &blake3::Hash) -> Mac {
        let mut mac = [0; 16];
        mac.copy_from_slice(&hash.as_bytes()[..16]);
        Mac(mac)
    }

    /// The 32 hex characters.
    pub fn to_hex(&self) -> [u8; 32] {
        let mut out = [0; 32];
        hex::encode_to_slice(&self.0, &mut out);
        out
    }

    /// Parses 32 lowercase hex characters.
    pub fn from_hex(text: &[u8]) -> Option<Mac> {
        hex::decode_array(text).map(Mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // to_hex yields ASCII only.
        f.write_str(std::str::from_utf8(&self.to_hex()).unwrap_or_default())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

/// One mysqld process's stream of records: a random 64-bit name, shown as 16 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(pub u64);

impl Epoch {
    /// A new random epoch.
    pub fn generate() -> std::io::Result<Epoch> {
        crate::random_bytes().map(|b| Epoch(u64::from_be_bytes(b)))
    }

    /// Parses 16 lowercase hex characters.
    pub fn from_hex(text: &[u8]) -> Option<Epoch> {
        hex::decode_array(text).map(|b| Epoch(u64::from_be_bytes(b)))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({self})")
    }
}

/// A place in the chain: the record `seq` of `epoch`, whose mac is `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainPoint {
    /// The record's epoch.
    pub epoch: Epoch,
    /// The record's sequence number in its epoch.
    pub seq: u64,
    /// The record's mac.
    pub mac: Mac,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_text_may_end_with_a_newline() {
        let hex = "00".repeat(32);
        assert!(Key::from_hex(&format!("{hex}\n")).is_ok());
        assert!(Key::from_hex(&hex[2..]).is_err());
        assert!(Key::from_hex(&format!("{hex}\n\n")).is_err());
    }

    #[test]
    fn token_and_mask_are_derived_as_documented() {
        let key = Key::from_bytes([7; 32]);
        let token = key.trigger_token(3, b"acme", b"users");
        let mut input = b"dbaudit trigger token\0\0\0\0\x03".to_vec();
        for part in [&b"acme"[..], b"users"] {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part);
        }
        assert_eq!(token, blake3::keyed_hash(&[7; 32], &input).to_hex()[..32]);
        let mut mask = Vec::new();
        key.write_secret_mask(&mut mask, b"acme", b"users", b"PassWord", b"hunter2");
        let mut input = b"secret:\0".to_vec();
        for part in [&b"acme"[..], b"users", b"password"] {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part);
        }
        input.extend_from_slice(b"hunter2");
        let expected = blake3::keyed_hash(&[7; 32], &input);
        assert_eq!(mask, format!("secret:{}", &expected.to_hex()[..16]).into_bytes());
    }

    #[test]
    fn a_mask_made_from_its_prefix_is_the_mask() {
        let key = Key::from_bytes([7; 32]);
        for len in [0, 1, 7, 8, 200, 255, 256, 257, 300] {
            let column: Vec<u8> = (0..len).map(|i| [b'P', b'a', 0xc3, b'Z', b'"'][i % 5]).collect();
            // The documented derivation, the column lowered (as no name over 256 bytes is).
            let lowered = if len <= 256 { column.to_ascii_lowercase() } else { column.clone() };
            for value in [&b""[..], b"hunter2", &[b'v'; 900], &[0xff; 2000]] {
                let mut input = b"secret:\0".to_vec();
                for part in [&b"acme"[..], b"us\"ers", &lowered] {
                    input.extend_from_slice(&(part.len() as u64).to_be_bytes());
                    input.extend_from_slice(part);
                }
                input.extend_from_slice(value);
                let direct = format!("\"secret:{}\"", &blake3::keyed_hash(&[7; 32], &input).to_hex()[..16]);
                let prefix = Key::secret_mask_prefix(b"acme", b"us\"ers", &column);
                let after = key.secret_mask_after(&prefix, value).to_vec();
                assert_eq!(after, direct.into_bytes(), "column of {len}, value of {}", value.len());
            }
        }
        for mac in [Mac([0; 16]), Mac([0xa5; 16]), Mac(std::array::from_fn(|i| i as u8 * 17))] {
            assert_eq!(mac.to_hex().to_vec(), hex::encode(&mac.0).into_bytes());
        }
    }

    #[test]
    fn inputs_too_long_for_the_stack_buffer_hash_as_documented() {
        let key = Key::from_bytes([7; 32]);
        let value = vec![b'v'; 3000];
        let mut mask = Vec::new();
        key.write_secret_mask(&mut mask, b"acme", b"users", b"pw", &value);
        let mut input = b"secret:\0".to_vec();
        for part in [&b"acme"[..], b"users", b"pw"] {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part);
        }
        input.extend_from_slice(&value);
        assert_eq!(mask, format!("secret:{}", &blake3::keyed_hash(&[7; 32], &input).to_hex()[..16]).into_bytes());
        let prev = Mac([0xcd; 16]);
        let mut input = "cd".repeat(16).into_bytes();
        input.extend_from_slice(&value);
        assert_eq!(key.mac(&prev, &value).0, blake3::keyed_hash(&[7; 32], &input).as_bytes()[..16]);
    }

    #[test]
    fn tokens_and_masks_differ_by_table_column_and_generation() {
        let key = Key::from_bytes([7; 32]);
        let token = |g, db: &str, t: &str| key.trigger_token(g, db.as_bytes(), t.as_bytes());
        assert_ne!(token(0, "acme", "users"), token(0, "acme", "orders"));
        assert_ne!(token(0, "acme", "users"), token(1, "acme", "users"));
        assert_ne!(token(0, "ab", "c"), token(0, "a", "bc"), "the parts are length-prefixed");
        let mask = |db: &str, t: &str, c: &str| {
            let mut out = Vec::new();
            key.write_secret_mask(&mut out, db.as_bytes(), t.as_bytes(), c.as_bytes(), b"hunter2");
            out
        };
        assert_ne!(mask("acme", "users", "pw"), mask("acme", "admins", "pw"));
        assert_ne!(mask("acme", "users", "pw"), mask("acme", "users", "old_pw"));
        assert_eq!(mask("acme", "users", "pw"), mask("acme", "users", "PW"));
    }

    #[test]
    fn an_event_encoded_beforehand_makes_the_same_line() {
        let key = Key::from_bytes([3; 32]);
        let mut chain = Chain::new(key.clone(), Epoch(42));
        let column = |name: &'static str, value: &'static str, secret| crate::ColumnRef {
            name: name.as_bytes(),
            value: Some(value.as_bytes()),
            secret,
        };
        let pk = [column("id", "7", false)];
        let new = [column("id", "7", false), column("password", "hunter2", true)];
        let row = crate::EventRef::Row(crate::RowRef {
            db: b"acme",
            table: b"users",
            op: crate::Op::Insert,
            user: b"app@localhost",
            conn: 5,
            pk: &pk,
            changed: None,
            old: None,
            new: Some(&new),
        });
        for event in [crate::EventRef::Start { prev: None }, row] {
            let (mut direct, mut encoded) = (Vec::new(), Vec::new());
            let point = chain.append_next(&mut direct, crate::Timestamp(1), &event);
            let same = chain.append_encoded(&mut encoded, crate::Timestamp(1), &EncodedEvent::new(&key, &event));
            assert_eq!(
                (String::from_utf8(encoded).unwrap(), same),
                (String::from_utf8(direct.clone()).unwrap(), point)
            );
            let mut led = b"earlier".to_vec();
            let (led_point, at) =
                chain.append_encoded_after_prev(&mut led, crate::Timestamp(1), &EncodedEvent::new(&key, &event));
            assert_eq!((&led[at..], led_point, &led[..7]), (&direct[..], point, &b"earlier"[..]));
            chain.advance(point);
        }
    }

    #[test]
    fn mac_covers_prev_as_hex_text_then_body() {
        let key = Key::from_bytes([1; 32]);
        let prev = Mac([0xab; 16]);
        let mut input = "ab".repeat(16).into_bytes();
        input.extend_from_slice(b"{\"v\":1");
        let expected = blake3::keyed_hash(&[1; 32], &input);
        assert_eq!(key.mac(&prev, b"{\"v\":1").0, expected.as_bytes()[..16]);
    }
}

/// The writing end of one epoch's chain: it numbers records and links their macs.
#[derive(Debug)]
pub struct Chain {
    key: Key,
    epoch: Epoch,
    /// What every record's header begins with, the epoch in hex.
    header_start: [u8; crate::record::HEADER_START_LEN],
    tip: Option<ChainPoint>,
}

impl Chain {
    /// A chain for a new epoch; its first record must be a start record.
    pub fn new(key: Key, epoch: Epoch) -> Chain {
        Chain { key, epoch, header_start: crate::record::header_start(epoch), tip: None }
    }

    /// The key records are sealed with.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The epoch being written.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The last record written, once there is one.
    pub fn tip(&self) -> Option<ChainPoint> {
        self.tip
    }

    /// Appends the next record as one line ending in a newline, and returns the place it
    /// takes. The chain does not move until [`Chain::advance`]: a record that could not
    /// be written leaves no gap.
    pub fn append_next(&self, out: &mut Vec<u8>, ts: crate::Timestamp, event: &crate::EventRef) -> ChainPoint {
        self.append(out, ts, start_of(event), |out| crate::record::encode_event(out, &self.key, event))
    }

    /// [`Chain::append_next`] for an event encoded beforehand, with this chain's key: the
    /// part of the work that does not depend on the record's place can then be done by many
    /// threads at once, and only numbering, sealing and writing need to take turns.
    pub fn append_encoded(&self, out: &mut Vec<u8>, ts: crate::Timestamp, event: &EncodedEvent) -> ChainPoint {
        self.append(out, ts, event.start, |out| out.extend_from_slice(&event.bytes))
    }

    /// [`Chain::append_encoded`], the line preceded in `out` by the 32 bytes its mac covers
    /// first (the previous mac, in hex), so that the mac is computed over `out` as it stands
    /// rather than over a copy: the line is `out[at..]`, `at` returned with the place. The
    /// line's bytes are those [`Chain::append_encoded`] appends.
    pub fn append_encoded_after_prev(
        &self,
        out: &mut Vec<u8>,
        ts: crate::Timestamp,
        event: &EncodedEvent,
    ) -> (ChainPoint, usize) {
        let (seq, prev) = self.next(event.start);
        let covered = out.len();
        out.extend_from_slice(&prev.to_hex());
        let at = out.len();
        crate::record::encode_header_after(out, &self.header_start, seq, ts);
        out.extend_from_slice(&event.bytes);
        let mac = self.key.mac_of_covered(&out[covered..]);
        crate::record::write_seal(out, &mac);
        (ChainPoint { epoch: self.epoch, seq, mac }, at)
    }

    /// The seq and the previous mac of the next record, a start record if `start` is Some.
    fn next(&self, start: Option<Option<ChainPoint>>) -> (u64, Mac) {
        match (start, self.tip) {
            (Some(prev), _) => (0, prev.map_or(Mac::ZERO, |p| p.mac)),
            (None, Some(tip)) => (tip.seq + 1, tip.mac),
            // A row before the start record would be unverifiable; chain it to zero anyway.
            (None, None) => (0, Mac::ZERO),
        }
    }

    fn append(
        &self,
        out: &mut Vec<u8>,
        ts: crate::Timestamp,
        start: Option<Option<ChainPoint>>,
        encode_event: impl FnOnce(&mut Vec<u8>),
    ) -> ChainPoint {
        let (seq, prev) = self.next(start);
        let start = out.len();
        crate::record::encode_header_after(out, &self.header_start, seq, ts);
        encode_event(out);
        let mac = crate::record::seal(out, start, &self.key, &prev);
        ChainPoint { epoch: self.epoch, seq, mac }
    }

    /// Records that the line for `point` was written.
    pub fn advance(&mut self, point: ChainPoint) {
        self.tip = Some(point);
    }
}

/// For a start record, the previous epoch's last record it names (if any); None for others.
fn start_of(event: &crate::EventRef) -> Option<Option<ChainPoint>> {
    match event {
        crate::EventRef::Start { prev } => Some(*prev),
        _ => None,
    }
}

/// What happened, encoded as a record's body will hold it, before the record is numbered:
/// see [`Chain::append_encoded`]. Secret masks are made with the key given here, which must
/// be the key of the chain it is appended to.
#[derive(Clone, Debug)]
pub struct EncodedEvent {
    start: Option<Option<ChainPoint>>,
    bytes: Vec<u8>,
}

impl EncodedEvent {
    /// Encodes `event` with `key`.
    pub fn new(key: &Key, event: &crate::EventRef) -> EncodedEvent {
        let mut bytes = Vec::with_capacity(size_hint(event));
        crate::record::encode_event(&mut bytes, key, event);
        EncodedEvent { start: start_of(event), bytes }
    }

    /// The encoded bytes, for tests to compare.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A row event whose body [`crate::RowShape::encode`] wrote.
    pub(crate) fn of_body(bytes: Vec<u8>) -> EncodedEvent {
        EncodedEvent { start: None, bytes }
    }
}

/// Room enough for most encodings of `event` (escapes aside), so that building it takes one
/// allocation: the text it carries plus a little for each name's quotes and punctuation.
fn size_hint(event: &crate::EventRef) -> usize {
    let crate::EventRef::Row(row) = event else { return 256 };
    let columns = |c: &[crate::ColumnRef]| -> usize {
        c.iter().map(|c| c.name.len() + c.value.map_or(4, |v| v.len().max(23)) + 6).sum()
    };
    let changed = row.changed.map_or(0, |names| names.iter().map(|n| n.len() + 3).sum());
    160 + row.db.len()
        + row.table.len()
        + row.user.len()
        + columns(row.pk)
        + changed
        + row.old.map_or(0, columns)
        + row.new.map_or(0, columns)
}
