//! The normalised line: one verified event framed the way OSSEC's pre-decoder reads it,
//! `2026-11-26T08:31:24.123456+00:00 host dbaudit: op=… key=value … data={…}`.
//!
//! The host keeps only the characters OSSEC accepts in a host name ([`HOST_CHARS`]), others
//! becoming `_`. Every value before `data=` is percent-encoded outside `[A-Za-z0-9._@:-]`, so
//! a decoder can match it with `\S+` and no value can carry a space, a newline or a control
//! character.
//! `data=` is JSON with every control character escaped (C0, DEL, C1, U+2028, U+2029): the line
//! is printable text whatever the row held. A line never exceeds [`MAX_LINE`] bytes; what had to
//! be shortened is named in a `cut=` field (`cut=data`, `cut=pk,data`, …) just before `data=`.

use crate::json::RawValue;
use crate::json::{self, Escaping};
use crate::record::write_u64;
use crate::view::{ClaimedView, EventView, RecordView, RowView};
use crate::{hex, Epoch, Tamper, Timestamp};

/// The longest line written, newline included: under OSSEC's 6,144-byte `OS_MAXSTR` with room
/// for the agent's own header (docs/ARCHITECTURE.md, "Facts the design rests on").
pub const MAX_LINE: usize = 5800;

/// The longest percent-encoded value of one field before `data=`; longer ones are cut.
const MAX_FIELD: usize = 512;

/// Bytes that stand for themselves in a field value.
const PLAIN: [bool; 256] = plain_but(0);

/// Bytes that stand for themselves in a field whose parts a `.` separates (`table=`).
const PLAIN_BUT_DOT: [bool; 256] = plain_but(b'.');

/// Bytes that stand for themselves in a field whose parts a `:` separates (`pk=`).
const PLAIN_BUT_COLON: [bool; 256] = plain_but(b':');

/// The bytes that stand for themselves, less `separator`.
const fn plain_but(separator: u8) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = (c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'@' | b':' | b'-')) && c != separator;
        b += 1;
    }
    table
}

/// The characters OSSEC's pre-decoder accepts in a syslog host name (`hostname_map` in
/// os_regex_maps.h); the frame replaces every other one with `_`.
pub const HOST_CHARS: &str = "()-./0123456789@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | '-' | '.' | '/' | '@' | '_')
}

/// Writes normalised lines for one host.
#[derive(Clone, Debug)]
pub struct Frame {
    host: Vec<u8>,
    data: Vec<u8>,
    cut: Vec<&'static str>,
    /// The last `table=` (or `claimed_table=`) written, and the last `user=` and `host=`:
    /// records of one table and one client come in runs, and their encoding need not be
    /// worked out again for each.
    table: Seen,
    actor: Seen,
}

/// Fields as last written and the raw values they were written from.
#[derive(Clone, Debug, Default)]
struct Seen {
    key: &'static str,
    /// Each value's kind (null, text, hex) and bytes as the record holds them.
    from: [(u8, Vec<u8>); 2],
    written: Vec<u8>,
    cut: Vec<&'static str>,
}

impl Seen {
    /// Whether these fields were written last for `key` and `values`.
    fn holds(&self, key: &'static str, values: [&RawValue; 2]) -> bool {
        // The same literal as a rule; another copy of it only misses.
        std::ptr::eq(self.key, key)
            && values.iter().zip(&self.from).all(|(value, (kind, bytes))| {
                let (k, b) = as_written(value);
                k == *kind && same(b, bytes)
            })
    }

    /// Writes the fields again, and what they cut.
    fn repeat(&self, out: &mut Vec<u8>, cut: &mut Vec<&'static str>) {
        out.extend_from_slice(&self.written);
        cut.extend_from_slice(&self.cut);
    }

    fn keep(&mut self, key: &'static str, values: [&RawValue; 2], written: &[u8], cut: &[&'static str]) {
        self.key = key;
        for (value, (kind, bytes)) in values.iter().zip(&mut self.from) {
            let (k, b) = as_written(value);
            *kind = k;
            bytes.clear();
            bytes.extend_from_slice(b);
        }
        self.written.clear();
        self.written.extend_from_slice(written);
        self.cut.clear();
        self.cut.extend_from_slice(cut);
    }
}

/// Whether `a` and `b` hold the same bytes. Names and users are short: two words that
/// overlap cover up to 16 bytes with no call to `memcmp`.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        bytes.get(at..).and_then(<[u8]>::first_chunk).copied().unwrap_or([0; N])
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// A value as the record holds it: its kind and its bytes, still escaped or in hex.
fn as_written<'a>(value: &RawValue<'a>) -> (u8, &'a [u8]) {
    match value {
        RawValue::Null => (0, b""),
        RawValue::Text(text) => (1 + u8::from(text.is_escaped()), text.raw()),
        RawValue::Hex(digits) => (3, digits),
    }
}

impl Frame {
    /// A frame naming `host`, each character outside [`HOST_CHARS`] replaced by `_` (so
    /// `fe80::1` becomes `fe80__1`): OSSEC's pre-decoder ends the host name at any other
    /// character and then finds no program name, and the line would silently not decode.
    pub fn new(host: &str) -> Frame {
        let mut name: Vec<u8> = host.chars().map(|c| if host_char(c) { c as u8 } else { b'_' }).collect();
        if name.is_empty() {
            name.extend_from_slice(b"localhost");
        }
        Frame { host: name, data: Vec::new(), cut: Vec::new(), table: Seen::default(), actor: Seen::default() }
    }

    /// Appends the line for a record that verified: a row change, a start, a forged call, a
    /// change its trigger could not record (`op=drift`), or records the UDF could not write,
    /// which is the pipeline failing and so an `op=error kind=lost` line.
    pub fn record(&mut self, out: &mut Vec<u8>, record: &RecordView) {
        let start = out.len();
        self.begin(out, record.spelled.ts);
        if let EventView::Lost { .. } = record.event {
            field(out, "op", b"error");
            field(out, "kind", b"lost");
        } else {
            // Every op's name is plain (`op_names_need_no_encoding`): copied as it is.
            out.extend_from_slice(b" op=");
            out.extend_from_slice(record.op_name().as_bytes());
        }
        match &record.event {
            EventView::Row(row) => {
                self.table(out, "table", &row.db, &row.table);
                self.row_fields(out, start, record, row);
            }
            EventView::Start { prev } => {
                self.position(out, record);
                match prev {
                    Some(p) => {
                        epoch_field(out, "prev_epoch", p.epoch);
                        number(out, "prev_seq", p.seq);
                    }
                    None => field(out, "prev", b"none"),
                }
            }
            EventView::Forged(claimed) => {
                self.position(out, record);
                self.claimed(out, claimed);
            }
            EventView::Drift(drift) => {
                self.table(out, "table", &drift.db, &drift.table);
                self.actor(out, &drift.user, record.spelled.conn);
                self.position(out, record);
                field(out, "row_op", drift.row_op.as_str().as_bytes());
                self.value_field(out, "error", &drift.error);
            }
            EventView::Lost { count, since, error } => {
                self.position(out, record);
                number(out, "count", *count);
                let mut at = Vec::with_capacity(crate::TIMESTAMP_LEN);
                since.write(&mut at);
                field(out, "since", &at);
                self.value_field(out, "error", error);
            }
        }
        self.finish(out, start);
    }

    /// Appends the line for a record at which the chain is broken. The record's own content
    /// is not trustworthy, so it appears only as `claimed_*` fields, never as `user=`.
    pub fn tamper(&mut self, out: &mut Vec<u8>, tamper: &Tamper, record: &RecordView) {
        self.tamper_found(out, tamper, record, None);
    }

    /// [`Frame::tamper`] for a record altered after it was delivered, found by re-checking the
    /// delivered part of the log: `found=recheck` right after the kind, where a decoder that
    /// reads `op=(\w+) kind=(\w+)` from the start still finds both.
    pub fn recheck_tamper(&mut self, out: &mut Vec<u8>, tamper: &Tamper, record: &RecordView) {
        self.tamper_found(out, tamper, record, Some(b"recheck"));
    }

    fn tamper_found(&mut self, out: &mut Vec<u8>, tamper: &Tamper, record: &RecordView, found: Option<&[u8]>) {
        let start = out.len();
        self.begin(out, record.spelled.ts);
        field(out, "op", b"tamper");
        field(out, "kind", tamper.kind.as_str().as_bytes());
        if let Some(found) = found {
            field(out, "found", found);
        }
        self.position(out, record);
        match tamper.last {
            Some(last) => {
                epoch_field(out, "last_epoch", last.epoch);
                number(out, "last_seq", last.seq);
            }
            None => field(out, "last", b"none"),
        }
        field(out, "claimed_op", record.op_name().as_bytes());
        match &record.event {
            EventView::Row(row) => {
                self.table(out, "claimed_table", &row.db, &row.table);
                self.value_field(out, "claimed_user", &row.user);
            }
            EventView::Drift(drift) => {
                self.table(out, "claimed_table", &drift.db, &drift.table);
                self.value_field(out, "claimed_user", &drift.user);
            }
            EventView::Forged(claimed) => {
                self.table(out, "claimed_table", &claimed.db, &claimed.table);
                self.value_field(out, "claimed_user", &claimed.user);
            }
            EventView::Start { .. } | EventView::Lost { .. } => {}
        }
        self.finish(out, start);
    }

    /// Appends an `op=error` line: the normaliser's own trouble, at time `ts`.
    pub fn error(&mut self, out: &mut Vec<u8>, ts: Timestamp, kind: &str, fields: &[(&'static str, &[u8])]) {
        let start = out.len();
        let mut text = Vec::with_capacity(crate::TIMESTAMP_LEN);
        ts.write(&mut text);
        let mut head = [0; crate::TIMESTAMP_LEN - 1];
        head.copy_from_slice(&text[..crate::TIMESTAMP_LEN - 1]);
        self.begin(out, &head);
        field(out, "op", b"error");
        field(out, "kind", kind.as_bytes());
        for (key, value) in fields {
            self.capped(out, key, |out| encode(out, value, &PLAIN));
        }
        self.finish(out, start);
    }

    /// The line's head: `ts`, the record form's timestamp up to its `Z`, then the host.
    fn begin(&mut self, out: &mut Vec<u8>, ts: &[u8; crate::TIMESTAMP_LEN - 1]) {
        self.data.clear();
        self.cut.clear();
        out.extend_from_slice(ts);
        // The record form ends in `Z`; OSSEC's pre-decoder wants a numeric offset.
        out.extend_from_slice(b"+00:00 ");
        out.extend_from_slice(&self.host);
        out.extend_from_slice(b" dbaudit:");
    }

    /// `epoch=` and `seq=`, copied as the record spells them (see [`crate::view::Spelled`]).
    fn position(&mut self, out: &mut Vec<u8>, record: &RecordView) {
        out.extend_from_slice(b" epoch=");
        out.extend_from_slice(record.spelled.epoch);
        out.extend_from_slice(b" seq=");
        out.extend_from_slice(record.spelled.seq);
    }

    /// `user=`, the client's `host=` taken from it, and `conn=`: who made the change.
    fn actor(&mut self, out: &mut Vec<u8>, user: &RawValue, conn: &[u8]) {
        let values = [user, &RawValue::Null];
        if self.actor.holds("user", values) {
            self.actor.repeat(out, &mut self.cut);
        } else {
            let (start, cut) = (out.len(), self.cut.len());
            self.value_field(out, "user", user);
            if let Some(user) = user.bytes() {
                if let Some(at) = user.iter().rposition(|&b| b == b'@') {
                    self.capped(out, "host", |out| encode(out, &user[at + 1..], &PLAIN));
                }
            }
            self.actor.keep("user", values, &out[start..], &self.cut[cut..]);
        }
        out.extend_from_slice(b" conn=");
        out.extend_from_slice(conn);
    }

    fn row_fields(&mut self, out: &mut Vec<u8>, start: usize, record: &RecordView, row: &RowView) {
        self.actor(out, &row.user, record.spelled.conn);
        self.position(out, record);
        self.capped(out, "pk", |out| {
            for (i, (name, value)) in row.pk.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode(out, &name.text(), &PLAIN_BUT_COLON);
                out.push(b':');
                encode(out, &value.bytes().unwrap_or_default(), &PLAIN_BUT_COLON);
            }
        });
        if let Some(changed) = &row.changed {
            self.capped(out, "changed", |out| {
                for (i, name) in changed.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    encode(out, &name.text(), &PLAIN);
                }
            });
        }
        // The values go as the record holds them, escaped already; what the record may leave
        // raw and the line may not (C1 controls) is escaped on the way. They go straight to
        // the line; only when something was cut, or they make it too long, are they taken
        // back for `finish` to cut and name.
        let data = out.len();
        out.extend_from_slice(b" data={");
        let sides = [("old", &row.old), ("new", &row.new)];
        let mut first = true;
        for (name, side) in sides {
            let Some(columns) = side else { continue };
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            if columns.is_plain() {
                // Nothing in it is a character the line escapes.
                out.extend_from_slice(columns.json());
            } else {
                json::write_text(out, columns.json(), Escaping::Line);
            }
        }
        out.push(b'}');
        if !self.cut.is_empty() || out.len() - start + 1 > MAX_LINE {
            self.data.extend_from_slice(&out[data + " data=".len()..]);
            out.truncate(data);
        }
    }

    fn claimed(&mut self, out: &mut Vec<u8>, claimed: &ClaimedView) {
        self.value_field(out, "claimed_user", &claimed.user);
        self.table(out, "claimed_table", &claimed.db, &claimed.table);
        self.value_field(out, "claimed_op", &claimed.op);
        self.value_field(out, "claimed_conn", &claimed.conn);
    }

    // `db.table`, each part with its own dots encoded so the separator is unambiguous.
    fn table(&mut self, out: &mut Vec<u8>, key: &'static str, db: &RawValue, table: &RawValue) {
        if self.table.holds(key, [db, table]) {
            self.table.repeat(out, &mut self.cut);
            return;
        }
        let (start, cut) = (out.len(), self.cut.len());
        self.capped(out, key, |out| {
            encode(out, &db.bytes().unwrap_or_default(), &PLAIN_BUT_DOT);
            out.push(b'.');
            encode(out, &table.bytes().unwrap_or_default(), &PLAIN_BUT_DOT);
        });
        self.table.keep(key, [db, table], &out[start..], &self.cut[cut..]);
    }

    fn value_field(&mut self, out: &mut Vec<u8>, key: &'static str, value: &RawValue) {
        self.capped(out, key, |out| encode(out, &value.bytes().unwrap_or_default(), &PLAIN));
    }

    /// Appends ` key=` and the value `write` encodes, cut to [`MAX_FIELD`] bytes.
    fn capped(&mut self, out: &mut Vec<u8>, key: &'static str, write: impl FnOnce(&mut Vec<u8>)) {
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        let start = out.len();
        write(out);
        let value = &out[start..];
        if value.len() > MAX_FIELD {
            let mut end = MAX_FIELD;
            // Never split a %XX triple.
            while end > 0 && value[end - 1] == b'%' || end > 1 && value[end - 2] == b'%' {
                end -= 1;
            }
            out.truncate(start + end);
            self.cut.push(key);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, start: usize) {
        if !self.data.is_empty() {
            // Room left for ` data=…` and the newline, after a possible ` cut=…,data`.
            let cut_len: usize = self.cut.iter().map(|c| c.len() + 1).sum::<usize>() + " cut=data".len();
            let used = out.len() - start + " data=".len() + 1;
            if used + self.data.len() > MAX_LINE {
                let room = MAX_LINE.saturating_sub(used + cut_len);
                let end = json_cut(&self.data, room);
                self.data.truncate(end);
                self.cut.push("data");
            }
        }
        if !self.cut.is_empty() {
            out.extend_from_slice(b" cut=");
            for (i, name) in self.cut.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(name.as_bytes());
            }
        }
        if !self.data.is_empty() {
            out.extend_from_slice(b" data=");
            out.extend_from_slice(&self.data);
        }
        out.push(b'\n');
    }
}

fn field(out: &mut Vec<u8>, key: &str, plain: &[u8]) {
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    encode(out, plain, &PLAIN);
}

fn epoch_field(out: &mut Vec<u8>, key: &str, epoch: Epoch) {
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    hex::encode_into(out, &epoch.0.to_be_bytes());
}

fn number(out: &mut Vec<u8>, key: &str, n: u64) {
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    write_u64(out, n);
}

/// Appends `raw` percent-encoded: bytes that are not `plain` ([`PLAIN`], or less a separator
/// of the field it goes into: `.` or `:`; `,` is never plain) become `%XX`.
fn encode(out: &mut Vec<u8>, raw: &[u8], plain: &[bool; 256]) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    // Most values need no encoding at all: one pass to see so, one copy.
    if raw.iter().all(|&b| plain[usize::from(b)]) {
        out.extend_from_slice(raw);
        return;
    }
    out.reserve(raw.len());
    let mut run = 0;
    for (i, &b) in raw.iter().enumerate() {
        if plain[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&raw[run..i]);
        out.extend_from_slice(&[b'%', UPPER[usize::from(b >> 4)], UPPER[usize::from(b & 0xf)]]);
        run = i + 1;
    }
    out.extend_from_slice(&raw[run..]);
}

/// A normalised line read back: the other half of [`Frame`]. The `key=value` fields before
/// `data=` are kept as written and decoded on request exactly as the frame encoded them, so
/// a value can never reach past its field: `pk=` is split at its separators *before* its
/// parts are decoded, and `table=` at its one unencoded dot.
#[derive(Clone, Debug, Default)]
pub struct LineFields<'a> {
    fields: Vec<(&'a str, Option<&'a str>)>,
    data: Option<&'a str>,
}

impl<'a> LineFields<'a> {
    /// Reads the fields after `dbaudit: ` (or from the start) up to ` data=`. A key given
    /// twice counts as absent: a line that says two things about a field says nothing.
    pub fn parse(line: &'a str) -> LineFields<'a> {
        let body = line.split_once(" dbaudit: ").map_or(line, |(_, rest)| rest);
        let (head, data) = match body.find(" data=") {
            Some(at) => (&body[..at], Some(&body[at + " data=".len()..])),
            None => match body.strip_prefix("data=") {
                Some(data) => ("", Some(data)),
                None => (body, None),
            },
        };
        let mut fields: Vec<(&str, Option<&str>)> = Vec::new();
        for word in head.split(' ').filter(|w| !w.is_empty()) {
            let Some((key, value)) = word.split_once('=') else { continue };
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some(existing) => existing.1 = None,
                None => fields.push((key, Some(value))),
            }
        }
        LineFields { fields, data }
    }

    /// A field as written (still percent-encoded); None when absent or given twice.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.fields.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v)
    }

    /// A field decoded to text; None when absent, given twice, malformed or not UTF-8.
    pub fn text(&self, key: &str) -> Option<String> {
        String::from_utf8(decode(self.raw(key)?)?).ok()
    }

    /// `table=` (or another `db.table` field such as `claimed_table=`): database and table.
    pub fn table(&self, key: &str) -> Option<(String, String)> {
        let (db, table) = self.raw(key)?.split_once('.')?;
        let text = |raw: &str| String::from_utf8(decode(raw)?).ok();
        Some((text(db)?, text(table)?))
    }

    /// `pk=`: each key column's name and its value's bytes, in key order.
    pub fn pk(&self) -> Option<Vec<(String, Vec<u8>)>> {
        let raw = self.raw("pk")?;
        if raw.is_empty() {
            return Some(Vec::new());
        }
        raw.split(',')
            .map(|part| {
                let (name, value) = part.split_once(':')?;
                Some((String::from_utf8(decode(name)?).ok()?, decode(value)?))
            })
            .collect()
    }

    /// The `data=` JSON as written (it may have been cut: see `cut=`).
    pub fn data(&self) -> Option<&'a str> {
        self.data
    }
}

/// Undoes the frame's percent-encoding: `%XX` with two hex digits; None for any other `%`.
pub fn decode(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex::digit_value(*bytes.get(i + 1)?)?;
            let low = hex::digit_value(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The longest prefix of JSON text `data`, at most `room` bytes, that splits neither an
/// escape nor a UTF-8 character.
fn json_cut(data: &[u8], room: usize) -> usize {
    let mut i = 0;
    while i < data.len() {
        let len = match data[i] {
            b'\\' if data.get(i + 1) == Some(&b'u') => 6,
            b'\\' => 2,
            0xf0..=0xff => 4,
            0xe0..=0xef => 3,
            0xc0..=0xdf => 2,
            _ => 1,
        };
        if i + len > room {
            break;
        }
        i += len;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_view, Chain, ColumnRef, EventRef, Key, Op, RowRef};

    fn record_line(event: &EventRef) -> Vec<u8> {
        let mut chain = Chain::new(Key::from_bytes([3; 32]), Epoch(0x9f2c41d07b3e5a18));
        let mut out = Vec::new();
        let start = chain.append_next(&mut out, Timestamp(1_795_681_884_123_456), &EventRef::Start { prev: None });
        chain.advance(start);
        out.clear();
        chain.append_next(&mut out, Timestamp(1_795_681_884_123_456), event);
        out.pop();
        out
    }

    fn update(values: &[(&str, &[u8])]) -> Vec<u8> {
        let old: Vec<ColumnRef> = values
            .iter()
            .map(|(n, _)| ColumnRef { name: n.as_bytes(), value: Some(b"x"), secret: *n == "password" })
            .collect();
        let new: Vec<ColumnRef> = values
            .iter()
            .map(|(n, v)| ColumnRef { name: n.as_bytes(), value: Some(v), secret: *n == "password" })
            .collect();
        let changed: Vec<&[u8]> = values.iter().map(|(n, _)| n.as_bytes()).collect();
        record_line(&EventRef::Row(RowRef {
            db: b"acme",
            table: b"users",
            op: Op::Update,
            user: b"admin@localhost",
            conn: 17,
            pk: &new[..1],
            changed: Some(&changed),
            old: Some(&old),
            new: Some(&new),
        }))
    }

    fn line(record: &[u8]) -> String {
        line_for(&Frame::new("dbhost"), record)
    }

    fn line_for(frame: &Frame, record: &[u8]) -> String {
        let mut out = Vec::new();
        frame.clone().record(&mut out, &parse_view(record).unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn update_line_has_the_documented_frame() {
        let text = line(&update(&[("id", b"7"), ("login", b"xavier")]));
        assert_eq!(
            text,
            "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=update table=acme.users user=admin@localhost \
             host=localhost conn=17 epoch=9f2c41d07b3e5a18 seq=1 pk=id:7 changed=id,login \
             data={\"old\":{\"id\":\"x\",\"login\":\"x\"},\"new\":{\"id\":\"7\",\"login\":\"xavier\"}}\n"
        );
    }

    #[test]
    fn values_with_spaces_newlines_and_separators_stay_one_word() {
        let text = line(&update(&[("id", b"a b\nc:d,e%")]));
        assert!(text.contains(" pk=id:a%20b%0Ac%3Ad%2Ce%25 "), "{text}");
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn c1_controls_and_line_separators_are_escaped_in_data() {
        let text = line(&update(&[("id", "1\u{85}2\u{2028}3\u{7f}\r".as_bytes())]));
        assert!(text.contains(r#""id":"1\u00852\u20283\u007f\r""#), "{text}");
        assert!(text.bytes().all(|b| b >= 0x20 && b != 0x7f || b == b'\n'));
    }

    #[test]
    fn long_values_are_cut_below_the_limit_and_the_cut_is_named() {
        let big = "é".repeat(5000);
        let text = line(&update(&[("id", b"7"), ("notes", big.as_bytes())]));
        assert!(text.len() <= MAX_LINE, "{}", text.len());
        assert!(text.contains(" cut=data data={"), "{text}");
        let long_pk = "k".repeat(3000);
        let text = line(&update(&[("id", long_pk.as_bytes()), ("notes", big.as_bytes())]));
        assert!(text.len() <= MAX_LINE);
        assert!(text.contains(" cut=pk,changed,data data=") || text.contains(" cut=pk,data data="), "{text}");
    }

    #[test]
    fn host_keeps_only_what_the_pre_decoder_accepts() {
        let host = |name: &str| {
            let text = line_for(&Frame::new(name), &update(&[("id", b"7")]));
            text.split(' ').nth(1).unwrap().to_owned()
        };
        assert_eq!(host("fe80::1"), "fe80__1");
        assert_eq!(host("db-1.example.com"), "db-1.example.com");
        assert_eq!(host("(agent)/x@y_z"), "(agent)/x@y_z");
        assert_eq!(host("bad host%ä"), "bad_host__");
        assert_eq!(host(""), "localhost");
        assert!(HOST_CHARS.chars().all(host_char));
    }

    #[test]
    fn forged_line_names_the_claimed_user_never_user() {
        let record = record_line(&EventRef::Forged(crate::ClaimedRef {
            db: Some(b"acme"),
            table: Some(b"users"),
            op: Some(b"update"),
            user: Some(b"victim@localhost"),
            conn: Some(b"3"),
        }));
        let text = line(&record);
        assert!(text.contains(" op=forged ") && text.contains(" claimed_user=victim@localhost "), "{text}");
        assert!(!text.contains(" user="), "{text}");
    }

    #[test]
    fn drift_line_names_the_actor_the_row_op_and_the_error() {
        let record = record_line(&EventRef::Drift(crate::DriftRef {
            db: b"acme",
            table: b"users",
            row_op: Op::Update,
            user: b"app@10.0.0.5",
            conn: 42,
            error: b"1054: Unknown column 'b' in 'OLD'",
        }));
        assert_eq!(
            line(&record),
            "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=drift table=acme.users user=app@10.0.0.5 \
             host=10.0.0.5 conn=42 epoch=9f2c41d07b3e5a18 seq=1 row_op=update \
             error=1054:%20Unknown%20column%20%27b%27%20in%20%27OLD%27\n"
        );
    }

    #[test]
    fn lost_records_are_an_error_line_of_kind_lost() {
        let record = record_line(&EventRef::Lost(crate::LostRef {
            count: 12,
            since: Timestamp(1_795_681_800_000_001),
            error: b"cannot open the audit log",
        }));
        assert_eq!(
            line(&record),
            "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=error kind=lost epoch=9f2c41d07b3e5a18 seq=1 \
             count=12 since=2026-11-26T08:30:00.000001Z error=cannot%20open%20the%20audit%20log\n"
        );
    }

    #[test]
    fn fields_read_back_as_the_frame_wrote_them() {
        let text = line(&update(&[("id", b"a,id2:b"), ("x.y", b"%+A\n")]));
        let fields = LineFields::parse(&text);
        assert_eq!(fields.pk(), Some(vec![("id".into(), b"a,id2:b".to_vec())]), "{text}");
        assert_eq!(fields.table("table"), Some(("acme".into(), "users".into())));
        assert_eq!(fields.text("user").as_deref(), Some("admin@localhost"));
        assert_eq!(fields.text("changed").as_deref(), Some("id,x.y"));
        assert!(fields.data().is_some_and(|d| d.starts_with("{\"old\":")));
        assert_eq!(decode("%+A"), None, "a sign is not a hex digit");
        assert_eq!(decode("a%2"), None);
        assert_eq!(LineFields::parse("op=x user=a user=b").raw("user"), None, "twice is never");
    }

    #[test]
    fn a_tamper_found_by_the_recheck_says_so_after_its_kind() {
        let record = update(&[("id", b"7")]);
        let view = parse_view(&record).unwrap();
        let tamper = Tamper { kind: crate::TamperKind::Mac, epoch: view.epoch, seq: view.seq, last: None };
        let (mut first, mut again) = (Vec::new(), Vec::new());
        let mut frame = Frame::new("dbhost");
        frame.tamper(&mut first, &tamper, &view);
        frame.recheck_tamper(&mut again, &tamper, &view);
        let (first, again) = (String::from_utf8(first).unwrap(), String::from_utf8(again).unwrap());
        assert_eq!(
            again,
            "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=tamper kind=mac found=recheck \
             epoch=9f2c41d07b3e5a18 seq=1 last=none claimed_op=update claimed_table=acme.users \
             claimed_user=admin@localhost\n"
        );
        assert_eq!(again.replace(" found=recheck", ""), first);
    }

    #[test]
    fn a_frame_writes_each_line_as_a_new_frame_would_whatever_came_before() {
        let long = "u".repeat(700);
        let row = |db: &[u8], table: &[u8], user: &[u8]| {
            let values = [ColumnRef { name: b"id", value: Some(b"7"), secret: false }];
            record_line(&EventRef::Row(RowRef {
                db,
                table,
                op: Op::Insert,
                user,
                conn: 17,
                pk: &values,
                changed: None,
                old: None,
                new: Some(&values),
            }))
        };
        let records = [
            row(b"acme", b"users", b"admin@localhost"),
            row(b"acme", b"users", b"admin@localhost"),
            row(b"acme", b"orders", b"admin@localhost"),
            row(b"acme.x", b"orders", b"app@10.0.0.5"),
            row(b"acme", b"users", long.as_bytes()),
            row(b"acme", b"users", long.as_bytes()),
            row(b"acme", b"users", b"admin@localhost"),
            row(b"acme", b"users", "\u{e9}@h\"".as_bytes()),
            row(b"acme", b"users", b"no host"),
        ];
        let mut shared = Frame::new("dbhost");
        for record in records.iter().chain(records.iter().rev()) {
            let mut out = Vec::new();
            shared.record(&mut out, &parse_view(record).unwrap());
            assert_eq!(String::from_utf8(out).unwrap(), line(record));
        }
    }

    #[test]
    fn bytes_are_the_same_exactly_when_they_are_equal() {
        for n in 0..40 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()), "{n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!same(&a, &b), "{n} {at}");
            }
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0, "{n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_head_copied_from_the_record_is_the_head_written_from_its_numbers(
            epoch in proptest::prelude::any::<u64>(),
            seq in proptest::prelude::any::<u64>(),
            ts in 0u64..253_402_300_800_000_000,
            conn in proptest::prelude::any::<u64>(),
            user in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
        ) {
            let key = Key::from_bytes([3; 32]);
            let values = [ColumnRef { name: b"id", value: Some(b"7"), secret: false }];
            let event = EventRef::Row(RowRef {
                db: b"acme",
                table: b"users",
                op: Op::Insert,
                user: &user,
                conn,
                pk: &values,
                changed: None,
                old: None,
                new: Some(&values),
            });
            let mut record = Vec::new();
            crate::encode_body(&mut record, &key, Epoch(epoch), seq, Timestamp(ts), &event);
            crate::seal(&mut record, 0, &key, &crate::Mac::ZERO);
            record.pop();
            let view = parse_view(&record).unwrap();
            let (mut line, mut tamper) = (Vec::new(), Vec::new());
            let mut frame = Frame::new("dbhost");
            frame.record(&mut line, &view);
            let found = Tamper { kind: crate::TamperKind::Gap, epoch: view.epoch, seq: view.seq, last: None };
            frame.tamper(&mut tamper, &found, &view);
            let mut time = Vec::new();
            Timestamp(ts).write(&mut time);
            let head = format!("{}+00:00 dbhost dbaudit: ", String::from_utf8_lossy(&time[..time.len() - 1]));
            let (line, tamper) = (String::from_utf8(line).unwrap(), String::from_utf8(tamper).unwrap());
            let position = format!(" epoch={epoch:016x} seq={seq} ");
            proptest::prop_assert!(line.starts_with(&head) && tamper.starts_with(&head), "{line}");
            proptest::prop_assert!(line.contains(&position) && tamper.contains(&position), "{line}");
            proptest::prop_assert!(line.contains(&format!(" conn={conn} ")), "{line}");
        }
    }

    #[test]
    fn op_names_need_no_encoding() {
        let names = Op::ALL.map(Op::as_str);
        for name in names.iter().chain(&["start", "forged", "drift", "lost"]) {
            let mut out = Vec::new();
            encode(&mut out, name.as_bytes(), &PLAIN);
            assert_eq!(out, name.as_bytes());
        }
    }

    #[test]
    fn cut_never_splits_an_escape_or_a_character() {
        assert_eq!(json_cut(br#"ab\u0085c"#, 5), 2);
        assert_eq!(json_cut("aé".as_bytes(), 2), 1);
        assert_eq!(json_cut(br#"a\"b"#, 2), 1);
    }
}
