//! The raw record: what the UDF writes, one JSON object per line, keys in a fixed order.
//!
//! Writing goes through borrowed views ([`Event`] of [`RowRef`]/[`ClaimedRef`]) so the UDF
//! builds a line straight from mysqld's argument buffers; reading gives owned [`Record`]s.

use std::fmt;

use crate::chain::{ChainPoint, EncodedEvent, Epoch, Key, Mac};
use crate::hex;
use crate::json::{self, SyntaxError};
use crate::time::Timestamp;

/// The text that ends every record's body; the mac follows it.
pub const MAC_MARKER: &[u8] = b",\"mac\":\"";

/// Bytes after the body: the marker, 32 hex characters and `"}`.
pub const MAC_SUFFIX_LEN: usize = MAC_MARKER.len() + 32 + 2;

/// What happened to the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A row was inserted: only `new` values.
    Insert,
    /// A row was updated: `old`, `new` and `changed`.
    Update,
    /// A row was deleted: only `old` values.
    Delete,
}

impl Op {
    /// All three, in the order a table's triggers are generated.
    pub const ALL: [Op; 3] = [Op::Insert, Op::Update, Op::Delete];

    /// The name used in the record and on the normalised line.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// Parses `insert`, `update` or `delete` (ASCII case-insensitive: triggers are typed by people).
    pub fn parse(text: &[u8]) -> Option<Op> {
        Op::ALL.into_iter().find(|op| text.eq_ignore_ascii_case(op.as_str().as_bytes()))
    }

    /// Whether the record carries the row as it was before.
    pub fn has_old(self) -> bool {
        self != Op::Insert
    }

    /// Whether the record carries the row as it is after.
    pub fn has_new(self) -> bool {
        self != Op::Delete
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A column value as read back from a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Bytes that were valid UTF-8.
    Text(String),
    /// Bytes that were not valid UTF-8 (written as `{"hex":…}`).
    Bytes(Vec<u8>),
}

impl Value {
    /// The value that `bytes` are written as: text when they are UTF-8.
    pub fn from_bytes(bytes: Option<&[u8]>) -> Value {
        match bytes {
            None => Value::Null,
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => Value::Text(s.to_owned()),
                Err(_) => Value::Bytes(b.to_vec()),
            },
        }
    }

    /// The value's bytes; None for NULL.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.as_bytes()),
            Value::Bytes(b) => Some(b),
        }
    }
}

/// One named value, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column's name (from the `old.`/`new.` alias).
    pub name: String,
    /// Its value, or the secret mask.
    pub value: Value,
}

/// A row change, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The database, as the trigger named it.
    pub db: Value,
    /// The table, as the trigger named it.
    pub table: Value,
    /// What happened.
    pub op: Op,
    /// The account that ran the statement (`USER()`).
    pub user: Value,
    /// The connection id.
    pub conn: u64,
    /// Primary-key columns and their values.
    pub pk: Vec<Column>,
    /// For `update`, the columns whose bytes differ.
    pub changed: Option<Vec<String>>,
    /// The row before (update, delete).
    pub old: Option<Vec<Column>>,
    /// The row after (insert, update).
    pub new: Option<Vec<Column>>,
}

/// What a forged call claimed; none of it is trustworthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The `db` argument as typed.
    pub db: Value,
    /// The `tbl` argument as typed.
    pub table: Value,
    /// The `op` argument as typed.
    pub op: Value,
    /// The `user` argument as typed — not the caller.
    pub user: Value,
    /// The `conn` argument as typed.
    pub conn: Value,
}

/// What a record says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An epoch began; `prev` is the previous epoch's last record, when one was found.
    Start {
        /// The last record found before this epoch.
        prev: Option<ChainPoint>,
    },
    /// A watched row changed.
    Row(Row),
    /// `dbaudit_log` was called with a wrong token.
    Forged(Claimed),
    /// A watched row changed but its trigger no longer matches the table (a column it names
    /// was dropped or renamed): who and what kind of change are known, the values are not.
    Drift(Drift),
    /// Records that could not be written before this one (no log directory, disk full).
    Lost(Lost),
}

/// A row change whose trigger failed against the table's current schema, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// The database, as the trigger named it.
    pub db: Value,
    /// The table, as the trigger named it.
    pub table: Value,
    /// The row change the trigger fired on.
    pub row_op: Op,
    /// The account that ran the statement (`USER()`).
    pub user: Value,
    /// The connection id.
    pub conn: u64,
    /// The server's error, as the trigger's handler caught it.
    pub error: Value,
}

/// A count of records that could not be written, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// How many records were not written.
    pub count: u64,
    /// When the first of them was refused.
    pub since: Timestamp,
    /// The last error that refused one.
    pub error: Value,
}

/// One line of the raw log, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The mysqld process's stream this record belongs to.
    pub epoch: Epoch,
    /// Position in the epoch, from 0 (the start record).
    pub seq: u64,
    /// When the UDF wrote it.
    pub ts: Timestamp,
    /// What happened.
    pub event: Event,
    /// The record's mac, as written.
    pub mac: Mac,
}

impl Record {
    /// This record's place in the chain.
    pub fn point(&self) -> ChainPoint {
        ChainPoint { epoch: self.epoch, seq: self.seq, mac: self.mac }
    }
}

/// A column to write: its name, its bytes (None for NULL) and whether it is secret.
#[derive(Clone, Copy, Debug)]
pub struct ColumnRef<'a> {
    /// The column's name.
    pub name: &'a [u8],
    /// Its bytes; None for NULL.
    pub value: Option<&'a [u8]>,
    /// Secret columns are written as their mask, never in clear.
    pub secret: bool,
}

/// A row change to write.
#[derive(Clone, Copy, Debug)]
pub struct RowRef<'a> {
    /// The database name.
    pub db: &'a [u8],
    /// The table name.
    pub table: &'a [u8],
    /// What happened.
    pub op: Op,
    /// `USER()` of the statement.
    pub user: &'a [u8],
    /// `CONNECTION_ID()`.
    pub conn: u64,
    /// Primary-key columns, in key order.
    pub pk: &'a [ColumnRef<'a>],
    /// For update: names of the columns whose bytes differ.
    pub changed: Option<&'a [&'a [u8]]>,
    /// The row before (update, delete).
    pub old: Option<&'a [ColumnRef<'a>]>,
    /// The row after (insert, update).
    pub new: Option<&'a [ColumnRef<'a>]>,
}

/// A forged call's arguments, to write.
#[derive(Clone, Copy, Debug)]
pub struct ClaimedRef<'a> {
    /// `db` as typed.
    pub db: Option<&'a [u8]>,
    /// `tbl` as typed.
    pub table: Option<&'a [u8]>,
    /// `op` as typed.
    pub op: Option<&'a [u8]>,
    /// `user` as typed.
    pub user: Option<&'a [u8]>,
    /// `conn` as typed.
    pub conn: Option<&'a [u8]>,
}

/// What to write.
#[derive(Clone, Copy, Debug)]
pub enum EventRef<'a> {
    /// The start of an epoch.
    Start {
        /// The previous epoch's last record, when found.
        prev: Option<ChainPoint>,
    },
    /// A row change.
    Row(RowRef<'a>),
    /// A call with a wrong token.
    Forged(ClaimedRef<'a>),
    /// A row change whose trigger no longer matches its table.
    Drift(DriftRef<'a>),
    /// Records that could not be written before this one.
    Lost(LostRef<'a>),
}

/// A row change whose trigger failed against the table's current schema, to write.
#[derive(Clone, Copy, Debug)]
pub struct DriftRef<'a> {
    /// The database name.
    pub db: &'a [u8],
    /// The table name.
    pub table: &'a [u8],
    /// The row change the trigger fired on.
    pub row_op: Op,
    /// `USER()` of the statement.
    pub user: &'a [u8],
    /// `CONNECTION_ID()`.
    pub conn: u64,
    /// The server's error message.
    pub error: &'a [u8],
}

/// A count of records that could not be written, to write.
#[derive(Clone, Copy, Debug)]
pub struct LostRef<'a> {
    /// How many.
    pub count: u64,
    /// When the first of them was refused.
    pub since: Timestamp,
    /// The last error that refused one.
    pub error: &'a [u8],
}

/// Appends the record's body: everything before `,"mac":"`.
pub fn encode_body(out: &mut Vec<u8>, key: &Key, epoch: Epoch, seq: u64, ts: Timestamp, event: &EventRef) {
    encode_header(out, epoch, seq, ts);
    encode_event(out, key, event);
}

/// Appends the part of a body that places the record: `{"v":1,"epoch":…,"seq":…,"ts":…`.
pub(crate) fn encode_header(out: &mut Vec<u8>, epoch: Epoch, seq: u64, ts: Timestamp) {
    encode_header_after(out, &header_start(epoch), seq, ts);
}

/// What every header of `epoch`'s records begins with: `{"v":1,"epoch":"…","seq":`.
pub(crate) fn header_start(epoch: Epoch) -> [u8; HEADER_START_LEN] {
    let mut start = *b"{\"v\":1,\"epoch\":\"0123456789abcdef\",\"seq\":";
    hex::encode_to_slice(&epoch.0.to_be_bytes(), &mut start[16..32]);
    start
}

/// The length of [`header_start`].
pub(crate) const HEADER_START_LEN: usize = 40;

/// [`encode_header`] with the epoch's [`header_start`] made beforehand.
pub(crate) fn encode_header_after(out: &mut Vec<u8>, start: &[u8; HEADER_START_LEN], seq: u64, ts: Timestamp) {
    out.extend_from_slice(start);
    write_u64(out, seq);
    out.extend_from_slice(b",\"ts\":\"");
    ts.write(out);
    out.push(b'"');
}

/// Appends the part of a body that says what happened: everything after the header. It
/// depends on the key (secret masks) but not on the record's place in the chain, so it can
/// be built before that place is known (see [`crate::EncodedEvent`]).
pub(crate) fn encode_event(out: &mut Vec<u8>, key: &Key, event: &EventRef) {
    match event {
        EventRef::Start { prev } => {
            out.extend_from_slice(b",\"op\":\"start\",\"prev\":");
            match prev {
                None => out.extend_from_slice(b"null"),
                Some(p) => {
                    out.extend_from_slice(b"{\"epoch\":\"");
                    out.extend_from_slice(p.epoch.to_string().as_bytes());
                    out.extend_from_slice(b"\",\"seq\":");
                    write_u64(out, p.seq);
                    out.extend_from_slice(b",\"mac\":\"");
                    out.extend_from_slice(&p.mac.to_hex());
                    out.extend_from_slice(b"\"}");
                }
            }
        }
        EventRef::Row(row) => {
            let (shape, values) = RowShape::of_row(row);
            shape.write(out, key, row.user, row.conn, |i| values[i]);
        }
        EventRef::Forged(c) => {
            out.extend_from_slice(b",\"op\":\"forged\",\"claimed\":{\"db\":");
            json::write_value(out, c.db);
            out.extend_from_slice(b",\"table\":");
            json::write_value(out, c.table);
            out.extend_from_slice(b",\"op\":");
            json::write_value(out, c.op);
            out.extend_from_slice(b",\"user\":");
            json::write_value(out, c.user);
            out.extend_from_slice(b",\"conn\":");
            json::write_value(out, c.conn);
            out.push(b'}');
        }
        EventRef::Drift(d) => {
            out.extend_from_slice(b",\"op\":\"drift\",\"db\":");
            json::write_value(out, Some(d.db));
            out.extend_from_slice(b",\"table\":");
            json::write_value(out, Some(d.table));
            out.extend_from_slice(b",\"row_op\":\"");
            out.extend_from_slice(d.row_op.as_str().as_bytes());
            out.extend_from_slice(b"\",\"user\":");
            json::write_value(out, Some(d.user));
            out.extend_from_slice(b",\"conn\":");
            write_u64(out, d.conn);
            out.extend_from_slice(b",\"error\":");
            json::write_value(out, Some(d.error));
        }
        EventRef::Lost(l) => {
            out.extend_from_slice(b",\"op\":\"lost\",\"count\":");
            write_u64(out, l.count);
            out.extend_from_slice(b",\"since\":\"");
            l.since.write(out);
            out.extend_from_slice(b"\",\"error\":");
            json::write_value(out, Some(l.error));
        }
    }
}

/// Appends `,"mac":"…"}` and a newline, making `out[body_start..]` a whole record line.
pub fn seal(out: &mut Vec<u8>, body_start: usize, key: &Key, prev: &Mac) -> Mac {
    let mac = key.mac(prev, &out[body_start..]);
    write_seal(out, &mac);
    mac
}

/// Appends `,"mac":"…"}` and a newline.
pub(crate) fn write_seal(out: &mut Vec<u8>, mac: &Mac) {
    let mut suffix = *b",\"mac\":\"0123456789abcdef0123456789abcdef\"}\n";
    suffix[MAC_MARKER.len()..MAC_MARKER.len() + 32].copy_from_slice(&mac.to_hex());
    out.extend_from_slice(&suffix);
}

/// Appends `n` in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    // Two digits a division, from a table of the hundred pairs.
    const PAIRS: [[u8; 2]; 100] = {
        let mut pairs = [[0; 2]; 100];
        let mut i = 0;
        while i < 100 {
            pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
            i += 1;
        }
        pairs
    };
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    while n >= 100 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[(n % 100) as usize]);
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[n as usize]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

// Names come from SQL identifiers, which are UTF-8; anything else is shown, not trusted.
fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    let start = out.len();
    if !json::write_utf8(out, name) {
        out.truncate(start);
        json::write_str(out, &String::from_utf8_lossy(name));
    }
}

/// One column of a row record's side, as [`RowShape::new`] takes it: the value it shows (an
/// index the caller gives meaning to: the place of the value among its call's values), its
/// name, and whether it is secret.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec<'a> {
    /// Which value, in the caller's numbering.
    pub value: usize,
    /// The column's name.
    pub name: &'a [u8],
    /// Secret columns are written as their mask.
    pub secret: bool,
}

/// Bytes appended to many records: kept padded to a multiple of 16 bytes, so that they are
/// appended 16 at a time (stores of a fixed size, where bytes of a length known only at run
/// time take a call to `memcpy`) and `out` is then cut back to their end.
#[derive(Clone, Debug)]
struct Padded {
    bytes: Vec<u8>,
    len: usize,
}

impl Padded {
    /// A buffer for bytes of about `len` that [`Padded::new`] pads without growing it.
    fn room(len: usize) -> Vec<u8> {
        Vec::with_capacity(len.next_multiple_of(16))
    }

    fn new(mut bytes: Vec<u8>) -> Padded {
        let len = bytes.len();
        bytes.resize(len.next_multiple_of(16), 0);
        Padded { bytes, len }
    }

    #[inline(always)]
    fn append_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        for chunk in self.bytes.chunks_exact(16) {
            out.extend_from_slice(<&[u8; 16]>::try_from(chunk).expect("sixteen bytes"));
        }
        out.truncate(start + self.len);
    }
}

/// A column of a [`RowShape`]: its value's index, its name as written (with the comma that
/// precedes it and the colon that follows), and for a secret column what its mask is keyed
/// with before the value ([`Key::secret_mask_prefix`]).
#[derive(Clone, Debug)]
struct Slot {
    value: usize,
    json: Padded,
    mask: Option<Vec<u8>>,
}

impl Slot {
    /// The slots of one side's (or the key's) columns, of the table `db`.`table`.
    fn side<'a>(db: &[u8], table: &[u8], columns: impl Iterator<Item = ColumnSpec<'a>>) -> Vec<Slot> {
        columns
            .enumerate()
            .map(|(i, c)| {
                let mut json = Padded::room(c.name.len() + 4);
                if i > 0 {
                    json.push(b',');
                }
                write_name(&mut json, c.name);
                json.push(b':');
                let mask = c.secret.then(|| Key::secret_mask_prefix(db, table, c.name));
                Slot { value: c.value, json: Padded::new(json), mask }
            })
            .collect()
    }
}

/// A column of an update's `changed` list: the new and the old value compared, and the name
/// as written.
#[derive(Clone, Debug)]
struct ChangedSlot {
    new: usize,
    old: usize,
    json: Padded,
}

impl ChangedSlot {
    /// The slots of (new, old, name) triples.
    fn list<'a>(pairs: impl Iterator<Item = (usize, usize, &'a [u8])>) -> Vec<ChangedSlot> {
        pairs
            .map(|(new, old, name)| {
                let mut json = Padded::room(name.len() + 2);
                write_name(&mut json, name);
                ChangedSlot { new, old, json: Padded::new(json) }
            })
            .collect()
    }
}

/// Everything a row record of one trigger says alike on every row: the table, the op, which
/// columns each side and the key show, which are secret, which pairs `changed` compares, and
/// all of it already written as JSON. A trigger passes the same columns on every row, so its
/// UDF works this out once and then only writes each row's user, conn and values
/// ([`RowShape::encode`]). Every row record is written by a shape: [`EncodedEvent::new`] makes
/// one for its [`EventRef::Row`] ([`RowShape::of_row`]).
#[derive(Clone, Debug)]
pub struct RowShape {
    /// `,"db":…,"table":…,"op":"…","user":`.
    head: Padded,
    pk: Vec<Slot>,
    /// Update only: the new columns that have an old one to compare with.
    changed: Option<Vec<ChangedSlot>>,
    old: Option<Vec<Slot>>,
    new: Option<Vec<Slot>>,
    /// The bytes every record of this shape holds whatever its values.
    fixed_len: usize,
}

/// The length of a secret's mask as written, quotes included.
const MASK_LEN: usize = 2 + 7 + 16;

impl RowShape {
    /// The shape of a row record: `pk` the key columns (copies of the keyed side's), `changed`
    /// the pairs of (new, old) value indices an update compares with the new column's name,
    /// `old` and `new` the sides the op carries.
    pub fn new(
        db: &[u8],
        table: &[u8],
        op: Op,
        pk: &[ColumnSpec],
        changed: &[(usize, usize, &[u8])],
        old: Option<&[ColumnSpec]>,
        new: Option<&[ColumnSpec]>,
    ) -> RowShape {
        let changed = (old.is_some() && new.is_some()).then(|| ChangedSlot::list(changed.iter().copied()));
        let slots = |side: &[ColumnSpec]| Slot::side(db, table, side.iter().copied());
        RowShape::build(db, table, op, slots(pk), changed, old.map(slots), new.map(slots))
    }

    /// The shape of `row`, with its values: those of its key, then of its old side, then of
    /// its new side, in the numbering the shape gives them. Its `changed` list is written as
    /// given, whatever the values: each name as a pair that always differs (NULL against no
    /// bytes, two values put after the row's).
    pub(crate) fn of_row<'v>(row: &RowRef<'v>) -> (RowShape, Vec<Option<&'v [u8]>>) {
        let (pk, old) = (row.pk.len(), row.old.map_or(0, <[_]>::len));
        fn specs<'a>(columns: &'a [ColumnRef<'a>], first: usize) -> impl Iterator<Item = ColumnSpec<'a>> {
            let specs = columns.iter().enumerate();
            specs.map(move |(i, c)| ColumnSpec { value: first + i, name: c.name, secret: c.secret })
        }
        let null = pk + old + row.new.map_or(0, <[_]>::len);
        let empty = null + 1;
        let changed = row.changed.map(|names| ChangedSlot::list(names.iter().map(|&name| (empty, null, name))));
        let shape = RowShape::build(
            row.db,
            row.table,
            row.op,
            Slot::side(row.db, row.table, specs(row.pk, 0)),
            changed,
            row.old.map(|side| Slot::side(row.db, row.table, specs(side, pk))),
            row.new.map(|side| Slot::side(row.db, row.table, specs(side, pk + old))),
        );
        let sides = [Some(row.pk), row.old, row.new];
        let mut values = Vec::with_capacity(empty + 1);
        values.extend(sides.into_iter().flatten().flatten().map(|c| c.value));
        values.extend([None, Some(&[][..])]);
        (shape, values)
    }

    /// The shape of a row record of `db`.`table`, its columns' slots made beforehand.
    fn build(
        db: &[u8],
        table: &[u8],
        op: Op,
        pk: Vec<Slot>,
        changed: Option<Vec<ChangedSlot>>,
        old: Option<Vec<Slot>>,
        new: Option<Vec<Slot>>,
    ) -> RowShape {
        let mut head = Vec::new();
        head.extend_from_slice(b",\"db\":");
        json::write_value(&mut head, Some(db));
        head.extend_from_slice(b",\"table\":");
        json::write_value(&mut head, Some(table));
        head.extend_from_slice(b",\"op\":\"");
        head.extend_from_slice(op.as_str().as_bytes());
        head.extend_from_slice(b"\",\"user\":");
        // `null`, or the braces, the names and what a value takes beyond its bytes (quotes or
        // `null`; a mask whatever the value); a little more for `conn` and the keys' names.
        let side = |s: Option<&[Slot]>| {
            s.map_or(4, |s| {
                2 + s.iter().map(|c| c.json.len + if c.mask.is_some() { MASK_LEN } else { 4 }).sum::<usize>()
            })
        };
        let changed_len = changed.as_ref().map_or(4, |c| 2 + c.iter().map(|c| c.json.len + 1).sum::<usize>());
        let fixed_len = head.len() + 64 + side(Some(&pk)) + changed_len + side(old.as_deref()) + side(new.as_deref());
        RowShape { head: Padded::new(head), pk, changed, old, new, fixed_len }
    }

    /// The record of one row: its `user`, its `conn`, and `value(i)` for each value index
    /// the shape names (None for NULL), with `key`'s secret masks. `values_len` is the
    /// length of all the values together, which sizes the buffer (a hint: the bytes do not
    /// depend on it).
    pub fn encode<'v>(
        &self,
        key: &Key,
        user: &[u8],
        conn: u64,
        values_len: usize,
        value: impl Fn(usize) -> Option<&'v [u8]>,
    ) -> EncodedEvent {
        // Room for the values, escapes aside (the key's again), and for what is appended 16
        // bytes at a time before it is cut back.
        let pk_len: usize = self.pk.iter().map(|c| value(c.value).map_or(0, <[u8]>::len)).sum();
        let mut out = Vec::with_capacity(self.fixed_len + user.len() + values_len + pk_len + 32);
        self.write(&mut out, key, user, conn, value);
        EncodedEvent::of_body(out)
    }

    /// Appends what [`RowShape::encode`] makes.
    #[inline(always)]
    fn write<'v>(
        &self,
        out: &mut Vec<u8>,
        key: &Key,
        user: &[u8],
        conn: u64,
        value: impl Fn(usize) -> Option<&'v [u8]>,
    ) {
        self.head.append_to(out);
        json::write_value(out, Some(user));
        out.extend_from_slice(b",\"conn\":");
        write_u64(out, conn);
        out.extend_from_slice(b",\"pk\":");
        write_side(out, key, Some(&self.pk), &value);
        out.extend_from_slice(b",\"changed\":");
        match &self.changed {
            None => out.extend_from_slice(b"null"),
            Some(changed) => {
                out.push(b'[');
                let mut first = true;
                for c in changed.iter().filter(|c| !same_value(value(c.old), value(c.new))) {
                    if !first {
                        out.push(b',');
                    }
                    c.json.append_to(out);
                    first = false;
                }
                out.push(b']');
            }
        }
        out.extend_from_slice(b",\"old\":");
        write_side(out, key, self.old.as_deref(), &value);
        out.extend_from_slice(b",\"new\":");
        write_side(out, key, self.new.as_deref(), &value);
    }
}

/// Whether two values are the same bytes (or both NULL); short ones compared a word or two
/// at a time, not with a call to `memcmp`: an update compares every column.
#[inline(always)]
fn same_value(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    let (Some(a), Some(b)) = (a, b) else { return a.is_none() && b.is_none() };
    if a.len() != b.len() {
        return false;
    }
    let eight = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    let four = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("four bytes"));
    match a.len() {
        // Two loads that may overlap cover every byte.
        n @ 8..=16 => eight(a, 0) == eight(b, 0) && eight(a, n - 8) == eight(b, n - 8),
        n @ 4..=7 => four(a, 0) == four(b, 0) && four(a, n - 4) == four(b, n - 4),
        _ => a == b,
    }
}

fn write_side<'v>(out: &mut Vec<u8>, key: &Key, side: Option<&[Slot]>, value: &impl Fn(usize) -> Option<&'v [u8]>) {
    let Some(side) = side else {
        out.extend_from_slice(b"null");
        return;
    };
    // Columns are gathered here with stores of a fixed size (a name padded to 16 or 32 bytes,
    // a value made by `short_plain` or a mask) and appended to `out` a few at a time: each
    // append to a Vec costs a check of its room and a store of its length.
    const ROOM: usize = 256;
    let mut buf = [0u8; ROOM + 1];
    buf[0] = b'{';
    let mut at = 1;
    for c in side {
        // The most one column adds here: a name of 32 bytes, a value of 32.
        if at > ROOM - 64 {
            out.extend_from_slice(&buf[..at]);
            at = 0;
        }
        let name = &c.json;
        match name.bytes.len() {
            16 => {
                buf[at..at + 16].copy_from_slice(&name.bytes[..16]);
                at += name.len;
            }
            32 => {
                buf[at..at + 32].copy_from_slice(&name.bytes[..32]);
                at += name.len;
            }
            _ => {
                out.extend_from_slice(&buf[..at]);
                name.append_to(out);
                at = 0;
            }
        }
        match (&c.mask, value(c.value)) {
            (Some(prefix), Some(v)) => {
                buf[at..at + MASK_LEN].copy_from_slice(&key.secret_mask_after(prefix, v));
                at += MASK_LEN;
            }
            (_, None) => {
                buf[at..at + 4].copy_from_slice(b"null");
                at += 4;
            }
            (None, Some(v)) => match json::short_plain(v, (&mut buf[at..at + 32]).try_into().expect("32 bytes")) {
                Some(len) => at += len,
                None => {
                    out.extend_from_slice(&buf[..at]);
                    json::write_value(out, Some(v));
                    at = 0;
                }
            },
        }
    }
    buf[at] = b'}';
    out.extend_from_slice(&buf[..at + 1]);
}

/// Why a line could not be read as a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(SyntaxError);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a dbaudit record: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

impl From<SyntaxError> for ParseError {
    fn from(e: SyntaxError) -> Self {
        ParseError(e)
    }
}

/// Reads one record line (without its newline). Only the canonical form is accepted.
pub fn parse(line: &[u8]) -> Result<Record, ParseError> {
    crate::view::parse_view(line).map(|view| view.to_record())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_same_when_every_byte_is() {
        for len in 0..40usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert!(same_value(Some(&a), Some(&a.clone())));
            assert!(!same_value(Some(&a), None) && !same_value(None, Some(&a)));
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_value(Some(&a), Some(&b)), "{len} {at}");
            }
            assert!(!same_value(Some(&a), Some(&a[..len.saturating_sub(1)])) || len == 0);
        }
        assert!(same_value(None, None));
    }

    /// A shape makes the bytes the reference writer makes of the same row, whatever its
    /// columns: many short plain ones in a row (more than the side's buffer holds at once),
    /// names longer than 32 bytes, values that need escapes, NULLs, secrets, a missing key.
    #[test]
    fn a_shape_writes_what_the_event_writes() {
        let key = Key::from_bytes([8; 32]);
        let names: Vec<String> = (0..40)
            .map(|i| match i % 7 {
                0 => format!("n{i}_{}", "long".repeat(9)),
                1 => format!("q\"{i}"),
                _ => format!("c{i}{}", "x".repeat(i % 5 * 4)),
            })
            .collect();
        let plain: Vec<Vec<u8>> = (0..40).map(|i| "v".repeat(i % 31).into_bytes()).collect();
        let mixed: Vec<Option<Vec<u8>>> = (0..40)
            .map(|i| match i % 6 {
                0 => None,
                1 => Some(b"tab\there".to_vec()),
                2 => Some(vec![0xff, b'a']),
                3 => Some("é".repeat(i).into_bytes()),
                _ => Some("w".repeat(i).into_bytes()),
            })
            .collect();
        for values in [plain.into_iter().map(Some).collect::<Vec<_>>(), mixed] {
            for count in [0, 1, 7, 16, 40] {
                for op in Op::ALL {
                    let secret = |i: usize| i % 9 == 4;
                    let side_specs = |offset: usize| -> Vec<ColumnSpec> {
                        (0..count)
                            .map(|i| ColumnSpec { value: offset + i, name: names[i].as_bytes(), secret: secret(i) })
                            .collect()
                    };
                    let (old, new) = (op.has_old().then(|| side_specs(0)), op.has_new().then(|| side_specs(count)));
                    let value = |i: usize| values[i % values.len()].as_deref();
                    let keyed = if op.has_new() { new.as_deref() } else { old.as_deref() }.unwrap_or_default();
                    let pk: Vec<ColumnSpec> = keyed.iter().take(2).copied().collect();
                    let changed: Vec<(usize, usize, &[u8])> =
                        (0..count).filter(|_| op == Op::Update).map(|i| (count + i, i, names[i].as_bytes())).collect();
                    let shape = RowShape::new(b"db", b"t\"b", op, &pk, &changed, old.as_deref(), new.as_deref());
                    fn refs<'a>(
                        specs: &[ColumnSpec<'a>],
                        value: impl Fn(usize) -> Option<&'a [u8]>,
                    ) -> Vec<ColumnRef<'a>> {
                        specs
                            .iter()
                            .map(|c| ColumnRef { name: c.name, value: value(c.value), secret: c.secret })
                            .collect()
                    }
                    let (old_refs, new_refs, pk_refs) = (
                        old.as_deref().map(|o| refs(o, value)),
                        new.as_deref().map(|n| refs(n, value)),
                        refs(&pk, value),
                    );
                    let changed_names: Vec<&[u8]> =
                        changed.iter().filter(|(n, o, _)| value(*n) != value(*o)).map(|c| c.2).collect();
                    let row = RowRef {
                        db: b"db",
                        table: b"t\"b",
                        op,
                        user: b"u@h",
                        conn: 5,
                        pk: &pk_refs,
                        changed: (op == Op::Update).then_some(&changed_names[..]),
                        old: old_refs.as_deref(),
                        new: new_refs.as_deref(),
                    };
                    let made = shape.encode(&key, b"u@h", 5, 0, value);
                    let expected = reference_row(&key, &row);
                    assert_eq!(
                        String::from_utf8_lossy(made.bytes()),
                        String::from_utf8_lossy(&expected),
                        "{op} {count}"
                    );
                    assert_eq!(made.bytes(), expected);
                }
            }
        }
    }

    /// A row record's body as a plain reading of the format writes it, one piece after the
    /// other, names lossily as text and masks with [`Key::write_secret_mask`]: what the
    /// writer of row records is checked against.
    fn reference_row(key: &Key, row: &RowRef) -> Vec<u8> {
        fn name(out: &mut Vec<u8>, name: &[u8]) {
            json::write_str(out, &String::from_utf8_lossy(name));
        }
        fn side(out: &mut Vec<u8>, key: &Key, row: &RowRef, columns: Option<&[ColumnRef]>) {
            let Some(columns) = columns else { return out.extend_from_slice(b"null") };
            out.push(b'{');
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                name(out, c.name);
                out.push(b':');
                match (c.secret, c.value) {
                    (true, Some(value)) => {
                        out.push(b'"');
                        key.write_secret_mask(out, row.db, row.table, c.name, value);
                        out.push(b'"');
                    }
                    (_, value) => json::write_value(out, value),
                }
            }
            out.push(b'}');
        }
        let mut out = b",\"db\":".to_vec();
        json::write_value(&mut out, Some(row.db));
        out.extend_from_slice(b",\"table\":");
        json::write_value(&mut out, Some(row.table));
        out.extend_from_slice(format!(",\"op\":\"{}\",\"user\":", row.op).as_bytes());
        json::write_value(&mut out, Some(row.user));
        out.extend_from_slice(format!(",\"conn\":{},\"pk\":", row.conn).as_bytes());
        side(&mut out, key, row, Some(row.pk));
        out.extend_from_slice(b",\"changed\":");
        match row.changed {
            None => out.extend_from_slice(b"null"),
            Some(names) => {
                out.push(b'[');
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    name(&mut out, n);
                }
                out.push(b']');
            }
        }
        out.extend_from_slice(b",\"old\":");
        side(&mut out, key, row, row.old);
        out.extend_from_slice(b",\"new\":");
        side(&mut out, key, row, row.new);
        out
    }

    /// Row events as a caller may put them together, not only as a trigger's call makes them:
    /// a `changed` list that does not follow the values (or in a record that is no update),
    /// key columns on neither side, a side missing, names and values that need escapes or are
    /// not UTF-8, NULLs, secrets, long values. Each is written as the reference writes it.
    #[test]
    fn any_row_event_is_written_as_the_reference_writes_it() {
        let key = Key::from_bytes([3; 32]);
        let long = "é".repeat(500);
        let bad_name = [b'p', 0xff, b'w'];
        let values: [Option<&[u8]>; 9] = [
            Some(b"7"),
            None,
            Some(b""),
            Some(b"q\"u\\o"),
            Some("a\u{2028}b\u{2029}\n\t\x01\x7f".as_bytes()),
            Some(&[b'a', 0xff, 0xc3]),
            Some(long.as_bytes()),
            Some(b"0123456789abcdef0123456789abcdef0"),
            Some("ünï".as_bytes()),
        ];
        let names: [&[u8]; 6] = [b"id", b"pa\"ss", "ünï".as_bytes(), &bad_name, b"", b"a\\b\x01"];
        let columns = |shift: usize, count: usize| -> Vec<ColumnRef> {
            (0..count)
                .map(|i| ColumnRef {
                    name: names[i % names.len()],
                    value: values[(i + shift) % values.len()],
                    secret: i % 3 == 1,
                })
                .collect()
        };
        let lists: [Option<&[&[u8]]>; 4] = [None, Some(&[]), Some(&[b"id", b"nowhere"]), Some(&[&bad_name, b"q\"\n"])];
        let (old, new, stray) = (columns(0, 9), columns(4, 9), columns(2, 3));
        let sides: [Option<&[ColumnRef]>; 4] = [None, Some(&[]), Some(&old), Some(&new)];
        for op in Op::ALL {
            for changed in lists {
                for (o, n) in [(2, 3), (0, 3), (2, 0), (1, 1), (3, 2)] {
                    for pk in [&old[..1], &[], &stray, &new[3..]] {
                        let row = RowRef {
                            db: b"ac\"me",
                            table: &bad_name,
                            op,
                            user: "u\u{2028}@h".as_bytes(),
                            conn: u64::MAX,
                            pk,
                            changed,
                            old: sides[o],
                            new: sides[n],
                        };
                        let made = EncodedEvent::new(&key, &EventRef::Row(row));
                        assert_eq!(
                            String::from_utf8_lossy(made.bytes()),
                            String::from_utf8_lossy(&reference_row(&key, &row)),
                            "{op} {changed:?} {o} {n}"
                        );
                        assert_eq!(made.bytes(), reference_row(&key, &row));
                    }
                }
            }
        }
    }

    /// One row record's body, byte for byte as it has always been written.
    #[test]
    fn a_row_event_is_written_as_it_always_was() {
        let key = Key::from_bytes([5; 32]);
        let old = [
            ColumnRef { name: b"id", value: Some(b"7"), secret: false },
            ColumnRef { name: b"Pass\"word", value: Some(b"hunter2"), secret: true },
            ColumnRef { name: b"note", value: None, secret: false },
        ];
        let new = [
            ColumnRef { name: b"id", value: Some(b"7"), secret: false },
            ColumnRef { name: b"Pass\"word", value: Some(b"hunter3"), secret: true },
            ColumnRef { name: &[b'n', 0xff], value: Some(b"a\tb\xff"), secret: false },
        ];
        let row = RowRef {
            db: b"acme",
            table: b"users",
            op: Op::Update,
            user: b"app@localhost",
            conn: 17,
            pk: &new[..1],
            changed: Some(&[b"Pass\"word", b"id"]),
            old: Some(&old),
            new: Some(&new),
        };
        let made = EncodedEvent::new(&key, &EventRef::Row(row));
        let golden = concat!(
            r#","db":"acme","table":"users","op":"update","user":"app@localhost","conn":17,"pk":{"id":"7"},"#,
            r#""changed":["Pass\"word","id"],"#,
            r#""old":{"id":"7","Pass\"word":"secret:bae7150f5b3d1320","note":null},"#,
            r#""new":{"id":"7","Pass\"word":"secret:7b1634475f814a5e","#,
            "\"n\u{fffd}\":",
            r#"{"hex":"610962ff"}}"#
        );
        assert_eq!(String::from_utf8_lossy(made.bytes()), golden);
        assert_eq!(made.bytes(), golden.as_bytes());
        assert_eq!(made.bytes(), reference_row(&key, &row));
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        let mut numbers = vec![0, u64::MAX, u64::MAX - 1];
        let mut power = 1u64;
        while let Some(next) = power.checked_mul(10) {
            numbers.extend([power - 1, power, power + 1, next / 2]);
            power = next;
        }
        for n in numbers {
            let mut out = b"x".to_vec();
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
