//! Reading a record without copying it: [`parse_view`] checks a line as strictly as
//! [`crate::parse`] does and returns slices into it — strings still escaped, column lists as
//! their JSON text — so that the normaliser can verify a record and frame it without
//! allocating, and copy its values into the normalised line as they stand.
//!
//! [`crate::parse`] is this parse followed by [`RecordView::to_record`].

use crate::chain::{ChainPoint, Epoch, Mac};
use crate::json::{is_plain, RawStr, RawValue, Reader, SyntaxError};
use crate::record::{Claimed, Column, Drift, Event, Lost, Op, ParseError, Record, Row, MAC_SUFFIX_LEN};
use crate::time::{LastSecond, Timestamp, TIMESTAMP_LEN};

/// A record line, read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The mysqld process's stream this record belongs to.
    pub epoch: Epoch,
    /// Position in the epoch, from 0 (the start record).
    pub seq: u64,
    /// When the UDF wrote it.
    pub ts: Timestamp,
    /// What happened.
    pub event: EventView<'a>,
    /// The record's mac, as written.
    pub mac: Mac,
    /// The bytes the mac covers: the line before its last `,"mac":"`.
    pub body: &'a [u8],
    /// Its numbers as the line spells them, for the frame to copy.
    pub(crate) spelled: Spelled<'a>,
}

/// A record's numbers as its line spells them. The reader takes one spelling of each (lowercase
/// hex, decimal without leading zeros, the one timestamp form), the very bytes writing the
/// number again would give, so the normalised line copies them instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spelled<'a> {
    /// The epoch's 16 hex digits.
    pub(crate) epoch: &'a [u8; 16],
    /// The seq's digits.
    pub(crate) seq: &'a [u8],
    /// The timestamp up to its `Z`: `2026-11-26T08:31:24.123456`.
    pub(crate) ts: &'a [u8; TIMESTAMP_LEN - 1],
    /// The conn's digits (a row, a drift); empty for other events.
    pub(crate) conn: &'a [u8],
}

/// What a record says happened, read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventView<'a> {
    /// An epoch began; `prev` is the previous epoch's last record, when one was found.
    Start {
        /// The last record found before this epoch.
        prev: Option<ChainPoint>,
    },
    /// A watched row changed.
    Row(RowView<'a>),
    /// `dbaudit_log` was called with a wrong token.
    Forged(ClaimedView<'a>),
    /// A row changed but its trigger no longer matches the table.
    Drift(DriftView<'a>),
    /// Records that could not be written before this one.
    Lost {
        /// How many.
        count: u64,
        /// When the first of them was refused.
        since: Timestamp,
        /// The last error that refused one.
        error: RawValue<'a>,
    },
}

/// A row change whose trigger failed against the table's current schema, read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriftView<'a> {
    /// The database, as the trigger named it.
    pub db: RawValue<'a>,
    /// The table, as the trigger named it.
    pub table: RawValue<'a>,
    /// The row change the trigger fired on.
    pub row_op: Op,
    /// The account that ran the statement (`USER()`).
    pub user: RawValue<'a>,
    /// The connection id.
    pub conn: u64,
    /// The server's error, as the trigger's handler caught it.
    pub error: RawValue<'a>,
}

/// A row change, read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowView<'a> {
    /// The database, as the trigger named it.
    pub db: RawValue<'a>,
    /// The table, as the trigger named it.
    pub table: RawValue<'a>,
    /// What happened.
    pub op: Op,
    /// The account that ran the statement (`USER()`).
    pub user: RawValue<'a>,
    /// The connection id.
    pub conn: u64,
    /// Primary-key columns and their values.
    pub pk: Columns<'a>,
    /// For `update`, the columns whose bytes differ.
    pub changed: Option<Names<'a>>,
    /// The row before (update, delete).
    pub old: Option<Columns<'a>>,
    /// The row after (insert, update).
    pub new: Option<Columns<'a>>,
}

/// What a forged call claimed, read in place; none of it is trustworthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimedView<'a> {
    /// The `db` argument as typed.
    pub db: RawValue<'a>,
    /// The `tbl` argument as typed.
    pub table: RawValue<'a>,
    /// The `op` argument as typed.
    pub op: RawValue<'a>,
    /// The `user` argument as typed — not the caller.
    pub user: RawValue<'a>,
    /// The `conn` argument as typed.
    pub conn: RawValue<'a>,
}

/// A JSON object of columns (`{"name":value,…}`), checked, kept as its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns<'a> {
    json: &'a [u8],
    /// Read from a plain line (see [`Reader::line`]).
    plain: bool,
}

impl<'a> Columns<'a> {
    /// The object's JSON text, braces included.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// Whether it was read from a plain line: printable ASCII, no backslash, no DEL.
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// The columns in order: name and value.
    pub fn iter(&self) -> impl Iterator<Item = (RawStr<'a>, RawValue<'a>)> + 'a {
        let mut r = Reader::part(self.json, self.plain);
        r.expect("{").ok();
        let mut done = r.eat("}");
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            // Checked when the line was read; an error here only ends the list.
            let column = (|| Ok::<_, SyntaxError>((r.raw_string()?, (r.expect(":")?, r.raw_value()?).1)))().ok();
            done = column.is_none() || r.eat("}") || r.expect(",").is_err();
            column
        })
    }

    /// The columns, owned.
    pub fn to_columns(&self) -> Vec<Column> {
        self.iter().map(|(name, value)| Column { name: name.unescaped(), value: value.to_value() }).collect()
    }
}

/// A JSON array of column names (`["a","b"]`), checked, kept as its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Names<'a> {
    json: &'a [u8],
    /// Read from a plain line (see [`Reader::line`]).
    plain: bool,
}

impl<'a> Names<'a> {
    /// The names in order.
    pub fn iter(&self) -> impl Iterator<Item = RawStr<'a>> + 'a {
        let mut r = Reader::part(self.json, self.plain);
        r.expect("[").ok();
        let mut done = r.eat("]");
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let name = r.raw_string().ok();
            done = name.is_none() || r.eat("]") || r.expect(",").is_err();
            name
        })
    }
}

impl RecordView<'_> {
    /// This record's place in the chain.
    pub fn point(&self) -> ChainPoint {
        ChainPoint { epoch: self.epoch, seq: self.seq, mac: self.mac }
    }

    /// The `op` name: a row's op, or `start` / `forged` / `drift` / `lost`.
    pub fn op_name(&self) -> &'static str {
        match &self.event {
            EventView::Start { .. } => "start",
            EventView::Row(row) => row.op.as_str(),
            EventView::Forged(_) => "forged",
            EventView::Drift(_) => "drift",
            EventView::Lost { .. } => "lost",
        }
    }

    /// The owned record.
    pub fn to_record(&self) -> Record {
        let event = match &self.event {
            EventView::Start { prev } => Event::Start { prev: *prev },
            EventView::Row(row) => Event::Row(Row {
                db: row.db.to_value(),
                table: row.table.to_value(),
                op: row.op,
                user: row.user.to_value(),
                conn: row.conn,
                pk: row.pk.to_columns(),
                changed: row.changed.map(|names| names.iter().map(|n| n.unescaped()).collect()),
                old: row.old.map(|c| c.to_columns()),
                new: row.new.map(|c| c.to_columns()),
            }),
            EventView::Forged(c) => Event::Forged(Claimed {
                db: c.db.to_value(),
                table: c.table.to_value(),
                op: c.op.to_value(),
                user: c.user.to_value(),
                conn: c.conn.to_value(),
            }),
            EventView::Drift(d) => Event::Drift(Drift {
                db: d.db.to_value(),
                table: d.table.to_value(),
                row_op: d.row_op,
                user: d.user.to_value(),
                conn: d.conn,
                error: d.error.to_value(),
            }),
            EventView::Lost { count, since, error } => {
                Event::Lost(Lost { count: *count, since: *since, error: error.to_value() })
            }
        };
        Record { epoch: self.epoch, seq: self.seq, ts: self.ts, event, mac: self.mac }
    }
}

/// Reads one record line (without its newline) in place. Only the canonical form is accepted.
pub fn parse_view(line: &[u8]) -> Result<RecordView<'_>, ParseError> {
    parse_looked_over(line, is_plain(line), &mut ReadBefore::default())
}

/// What the lines read before held that the next one holds too, as a rule, and need not be
/// worked out again: the epoch (its digits and value) and the second of the timestamp.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReadBefore {
    epoch: Option<([u8; 16], Epoch)>,
    second: LastSecond,
}

/// [`parse_view`] of a line already looked over: `plain` is what [`is_plain`] said of it.
/// What `before` holds is used where this line holds it too; the result is the same.
pub(crate) fn parse_looked_over<'a>(
    line: &'a [u8],
    plain: bool,
    before: &mut ReadBefore,
) -> Result<RecordView<'a>, ParseError> {
    let mut r = Reader::looked_over(line, plain);
    r.expect("{\"v\":1,\"epoch\":")?;
    let at = r.pos();
    let epoch = match (line.get(at..at + 18), &before.epoch) {
        // The very digits read before, quoted: the same epoch.
        (Some(quoted), Some((digits, epoch)))
            if quoted[0] == b'"' && quoted[17] == b'"' && quoted[1..17] == *digits =>
        {
            r.take(18)?;
            *epoch
        }
        _ => fixed_hex(&mut r, 16, Epoch::from_hex)?,
    };
    // The digits without their quotes (hex holds no escape: fixed_hex refuses one).
    let epoch_digits = line[at + 1..].first_chunk().ok_or(SyntaxError { at, expected: "hex" })?;
    before.epoch = Some((*epoch_digits, epoch));
    r.expect(",\"seq\":")?;
    let at = r.pos();
    let seq = r.u64()?;
    let seq_digits = r.since(at);
    r.expect(",\"ts\":\"")?;
    let at = r.pos();
    let ts = Timestamp::parse_after(r.take(TIMESTAMP_LEN)?, &mut before.second)
        .ok_or(SyntaxError { at, expected: "a timestamp" })?;
    let ts_text = line[at..].first_chunk().ok_or(SyntaxError { at, expected: "a timestamp" })?;
    let mut spelled = Spelled { epoch: epoch_digits, seq: seq_digits, ts: ts_text, conn: b"" };
    r.expect("\"")?;
    // A row, as a rule: tried first.
    let event = if r.eat(",\"db\":") {
        let Place { db, table, op, user, conn, conn_spelled } = place(&mut r, ",\"op\":")?;
        spelled.conn = conn_spelled;
        r.expect(",\"pk\":")?;
        let pk = columns(&mut r)?.ok_or_else(|| r.error("pk columns"))?;
        r.expect(",\"changed\":")?;
        let changed = if r.eat("null") {
            None
        } else {
            let start = r.pos();
            r.expect("[")?;
            if !r.eat("]") {
                loop {
                    r.raw_string()?;
                    if r.eat("]") {
                        break;
                    }
                    r.expect(",")?;
                }
            }
            Some(Names { json: r.since(start), plain: r.is_plain() })
        };
        r.expect(",\"old\":")?;
        let old = columns(&mut r)?;
        r.expect(",\"new\":")?;
        let new = columns(&mut r)?;
        if old.is_some() != op.has_old() || new.is_some() != op.has_new() || changed.is_some() != (op == Op::Update) {
            return Err(r.error("old, new and changed as the op requires").into());
        }
        EventView::Row(RowView { db, table, op, user, conn, pk, changed, old, new })
    } else if r.eat(",\"op\":\"start\",\"prev\":") {
        if seq != 0 {
            return Err(r.error("seq 0 in a start record").into());
        }
        let prev = if r.eat("null") {
            None
        } else {
            r.expect("{\"epoch\":")?;
            let epoch = fixed_hex(&mut r, 16, Epoch::from_hex)?;
            r.expect(",\"seq\":")?;
            let seq = r.u64()?;
            r.expect(",\"mac\":")?;
            let mac = fixed_hex(&mut r, 32, Mac::from_hex)?;
            r.expect("}")?;
            Some(ChainPoint { epoch, seq, mac })
        };
        EventView::Start { prev }
    } else if r.eat(",\"op\":\"forged\",\"claimed\":{\"db\":") {
        let db = r.raw_value()?;
        r.expect(",\"table\":")?;
        let table = r.raw_value()?;
        r.expect(",\"op\":")?;
        let op = r.raw_value()?;
        r.expect(",\"user\":")?;
        let user = r.raw_value()?;
        r.expect(",\"conn\":")?;
        let conn = r.raw_value()?;
        r.expect("}")?;
        EventView::Forged(ClaimedView { db, table, op, user, conn })
    } else if r.eat(",\"op\":\"drift\",\"db\":") {
        let Place { db, table, op: row_op, user, conn, conn_spelled } = place(&mut r, ",\"row_op\":")?;
        spelled.conn = conn_spelled;
        r.expect(",\"error\":")?;
        let error = r.raw_value()?;
        EventView::Drift(DriftView { db, table, row_op, user, conn, error })
    } else if r.eat(",\"op\":\"lost\",\"count\":") {
        let count = r.u64()?;
        r.expect(",\"since\":\"")?;
        let since = timestamp(&mut r)?;
        r.expect("\",\"error\":")?;
        let error = r.raw_value()?;
        EventView::Lost { count, since, error }
    } else {
        return Err(r.error(",\"db\":").into());
    };
    let body_end = r.pos();
    r.expect(",\"mac\":")?;
    let mac = fixed_hex(&mut r, 32, Mac::from_hex)?;
    r.expect("}")?;
    if !r.at_end() {
        return Err(r.error("the end of the line").into());
    }
    debug_assert_eq!(body_end, line.len() - MAC_SUFFIX_LEN);
    Ok(RecordView { epoch, seq, ts, event, mac, body: &line[..body_end], spelled })
}

fn timestamp(r: &mut Reader) -> Result<Timestamp, SyntaxError> {
    let at = r.pos();
    Timestamp::parse(r.take(crate::time::TIMESTAMP_LEN)?).ok_or(SyntaxError { at, expected: "a timestamp" })
}

/// Where a row or a drift happened, as its record says after `"db":`: the db, the table,
/// the op (after `op_key`), the user and the conn, with the conn's digits as written.
struct Place<'a> {
    db: RawValue<'a>,
    table: RawValue<'a>,
    op: Op,
    user: RawValue<'a>,
    conn: u64,
    conn_spelled: &'a [u8],
}

#[inline(always)]
fn place<'a>(r: &mut Reader<'a>, op_key: &'static str) -> Result<Place<'a>, SyntaxError> {
    let db = r.raw_value()?;
    r.expect(",\"table\":")?;
    let table = r.raw_value()?;
    r.expect(op_key)?;
    let op = op(r)?;
    r.expect(",\"user\":")?;
    let user = r.raw_value()?;
    r.expect(",\"conn\":")?;
    let at = r.pos();
    let conn = r.u64()?;
    Ok(Place { db, table, op, user, conn, conn_spelled: r.since(at) })
}

fn op(r: &mut Reader) -> Result<Op, SyntaxError> {
    // As the UDF writes it, as a rule: one literal each.
    for (written, op) in [("\"update\"", Op::Update), ("\"insert\"", Op::Insert), ("\"delete\"", Op::Delete)] {
        if r.eat(written) {
            return Ok(op);
        }
    }
    let at = r.pos();
    let name = r.raw_string()?;
    // As the UDF writes it, as a rule; else in any case, as `Op::parse` takes it.
    let written = Op::ALL.into_iter().find(|op| name.raw() == op.as_str().as_bytes());
    written.or_else(|| Op::parse(&name.text())).ok_or(SyntaxError { at, expected: "insert, update or delete" })
}

fn fixed_hex<T>(r: &mut Reader, digits: usize, parse: impl Fn(&[u8]) -> Option<T>) -> Result<T, SyntaxError> {
    // Hex digits hold no quote: when `digits` of them and a quote follow the opening quote,
    // that is the whole string, and its end need not be looked for.
    let mut ahead = r.clone();
    if ahead.eat("\"") {
        if let Some(value) = ahead.take(digits).ok().filter(|_| ahead.eat("\"")).and_then(&parse) {
            *r = ahead;
            return Ok(value);
        }
    }
    let at = r.pos();
    let text = r.raw_string()?;
    if text.is_escaped() {
        return Err(SyntaxError { at, expected: "fixed-length lowercase hex" });
    }
    parse(text.raw()).ok_or(SyntaxError { at, expected: "fixed-length lowercase hex" })
}

fn columns<'a>(r: &mut Reader<'a>) -> Result<Option<Columns<'a>>, SyntaxError> {
    if r.eat("null") {
        return Ok(None);
    }
    let start = r.pos();
    if r.plain_strings_object() {
        return Ok(Some(Columns { json: r.since(start), plain: true }));
    }
    r.expect("{")?;
    if !r.eat("}") {
        loop {
            r.raw_string()?;
            r.expect(":")?;
            r.raw_value()?;
            if r.eat("}") {
                break;
            }
            r.expect(",")?;
        }
    }
    Ok(Some(Columns { json: r.since(start), plain: r.is_plain() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_body, seal, DriftRef, EventRef, Key, Op};

    fn line(epoch: u64, seq: u64, ts: u64, event: &EventRef) -> Vec<u8> {
        let (mut out, key) = (Vec::new(), Key::from_bytes([5; 32]));
        encode_body(&mut out, &key, Epoch(epoch), seq, Timestamp(ts), event);
        seal(&mut out, 0, &key, &Mac::ZERO);
        while out.last() == Some(&b'\n') {
            out.pop();
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn numbers_are_spelled_as_writing_them_again_would(
            epoch in proptest::prelude::any::<u64>(),
            seq in proptest::prelude::any::<u64>(),
            // 1970 to 9999, the years a record may hold.
            ts in 0u64..253_402_300_800_000_000,
            conn in proptest::prelude::any::<u64>(),
        ) {
            let drift = EventRef::Drift(DriftRef {
                db: b"d",
                table: b"t",
                row_op: Op::Update,
                user: b"u@h",
                conn,
                error: b"e",
            });
            let text = line(epoch, seq, ts, &drift);
            let view = parse_view(&text).unwrap();
            let mut written = Vec::new();
            Timestamp(ts).write(&mut written);
            let spelled = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
            proptest::prop_assert_eq!(spelled(view.spelled.epoch), format!("{epoch:016x}"));
            proptest::prop_assert_eq!(spelled(view.spelled.seq), seq.to_string());
            proptest::prop_assert_eq!(view.spelled.ts, &written[..written.len() - 1]);
            proptest::prop_assert_eq!(spelled(view.spelled.conn), conn.to_string());
        }
    }

    #[test]
    fn every_kind_is_read_whichever_is_tried_first() {
        let row = EventRef::Row(crate::RowRef {
            db: b"d",
            table: b"t",
            op: Op::Update,
            user: b"u@h",
            conn: 3,
            pk: &[],
            changed: Some(&[]),
            old: Some(&[]),
            new: Some(&[]),
        });
        let drift =
            EventRef::Drift(DriftRef { db: b"d", table: b"t", row_op: Op::Delete, user: b"u", conn: 4, error: b"e" });
        let lost = EventRef::Lost(crate::LostRef { count: 2, since: Timestamp(5), error: b"e" });
        let forged = EventRef::Forged(crate::ClaimedRef { db: None, table: None, op: None, user: None, conn: None });
        let kinds = [
            (EventRef::Start { prev: None }, "start"),
            (row, "update"),
            (drift, "drift"),
            (lost, "lost"),
            (forged, "forged"),
        ];
        for (event, name) in kinds {
            let seq = u64::from(name != "start");
            let text = line(1, seq, 1_795_681_884_123_456, &event);
            assert_eq!(parse_view(&text).unwrap().op_name(), name);
            assert_eq!(parse_view(&text).unwrap().to_record(), crate::parse(&text).unwrap());
        }
        // An op in another case is read as `Op::parse` reads it.
        let text = String::from_utf8(line(1, 1, 5, &kinds_row(Op::Insert))).unwrap();
        let other = text.replacen("\"op\":\"insert\"", "\"op\":\"INSERT\"", 1);
        let EventView::Row(row) = parse_view(other.as_bytes()).unwrap().event else { panic!("{other}") };
        assert_eq!(row.op, Op::Insert);
        let unknown = text.replacen(",\"db\":", ",\"xb\":", 1);
        assert!(parse_view(unknown.as_bytes()).is_err());
    }

    fn kinds_row(op: Op) -> EventRef<'static> {
        EventRef::Row(crate::RowRef {
            db: b"d",
            table: b"t",
            op,
            user: b"u@h",
            conn: 3,
            pk: &[],
            changed: None,
            old: None,
            new: Some(&[]),
        })
    }

    proptest::proptest! {
        #[test]
        fn lines_read_in_turn_are_read_as_each_alone(
            lines in proptest::collection::vec(
                (0u64..3, 0u64..3, 0u64..4_000_000, proptest::option::of((0usize..46, proptest::prelude::any::<u8>()))),
                1..24,
            ),
        ) {
            let mut before = ReadBefore::default();
            let start = EventRef::Start { prev: None };
            for (epoch, second, micros, damage) in lines {
                let ts = 1_795_681_884_000_000 + second * 1_000_000 + micros;
                let mut text = line(0x9f2c_41d0_7b3e_5a18 + epoch, 0, ts, &start);
                // Now and then a byte of the epoch or the timestamp changed, quotes included.
                if let Some((at, byte)) = damage {
                    let at = if at < 18 { 15 + at } else { 30 + at };
                    proptest::prop_assert!(at <= 32 || (47..=75).contains(&at));
                    text[at] = byte;
                }
                let alone = parse_view(&text);
                let in_turn = parse_looked_over(&text, is_plain(&text), &mut before);
                proptest::prop_assert_eq!(in_turn, alone);
            }
        }
    }

    #[test]
    fn numbers_spelled_another_way_are_refused() {
        let start = line(0x9f2c_41d0_7b3e_5a18, 0, 1_795_681_884_123_456, &EventRef::Start { prev: None });
        let text = String::from_utf8(start).unwrap();
        assert!(parse_view(text.as_bytes()).is_ok());
        for (from, to) in [
            ("9f2c41d07b3e5a18", "9F2C41D07B3E5A18"),
            ("\"seq\":0", "\"seq\":00"),
            ("24.123456Z", "24.123456+00:00"),
            ("08:31:24", "8:31:24"),
        ] {
            let other = text.replacen(from, to, 1);
            assert_ne!(other, text);
            assert!(parse_view(other.as_bytes()).is_err(), "{other}");
        }
    }
}
