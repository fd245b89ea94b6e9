//! The call protocol of `dbaudit_log`: what a generated trigger passes and what the UDF
//! reads, defined once so that the trigger generator and the UDF cannot drift apart.
//!
//! Protocol 2, which `dbaudit watch` generates, passes what never changes in one constant
//! argument, the [`header`]: `header, user, conn`, then one argument per column value, named
//! by its alias: `old.<column>` or `new.<column>` ([`Side`]). mysqld prepares every argument
//! of a UDF call again for each row, so one constant costs a row less than six.
//!
//! Protocol 1, the calls of triggers made by earlier builds, which the UDF still reads:
//! `token, db, tbl, op, user, conn, pk_cols, secret_cols`, then the values. Its column lists
//! are [`crate::names`] lists.
//!
//! A trigger whose own call failed (a column it names was dropped or renamed) calls from its
//! error handler `drift_header, user, conn, error` (protocol 1: `token, db, tbl, 'drift',
//! user, conn, row_op, error`, exactly the [`FIXED_ARGS`]): the row change it fired on and
//! the server's error.

use std::borrow::Cow;

use crate::Op;

/// How many arguments come before the column values.
pub const FIXED_ARGS: usize = 8;

/// Position of the table's trigger token.
pub const TOKEN: usize = 0;
/// Position of the database's name, as the server spells it.
pub const DB: usize = 1;
/// Position of the table's name, as the server spells it.
pub const TABLE: usize = 2;
/// Position of the op: a row [`Op`], or [`DRIFT_OP`].
pub const OP: usize = 3;
/// Position of `USER()`: the account the session authenticated as.
pub const USER: usize = 4;
/// Position of `CONNECTION_ID()`.
pub const CONN: usize = 5;
/// Position, in a row call, of the key columns.
pub const PK_COLS: usize = 6;
/// Position, in a row call, of the secret columns.
pub const SECRET_COLS: usize = 7;
/// Position, in a drift call, of the row op the trigger fired on.
pub const ROW_OP: usize = 6;
/// Position, in a drift call, of the server's error, `errno: message`.
pub const ERROR: usize = 7;

/// The op of a drift call.
pub const DRIFT_OP: &str = "drift";

/// The first field of a protocol-2 header.
pub const HEADER_TAG: &str = "dbaudit/2";
/// How many arguments of a protocol-2 call come before the column values.
pub const HEADER_ARGS: usize = 3;
/// Position, in a protocol-2 call, of the header.
pub const HEADER: usize = 0;
/// Position, in a protocol-2 call, of `USER()`.
pub const HEADER_USER: usize = 1;
/// Position, in a protocol-2 call, of `CONNECTION_ID()`.
pub const HEADER_CONN: usize = 2;
/// Position, in a protocol-2 drift call (which has exactly four arguments), of the server's error.
pub const HEADER_ERROR: usize = 3;

/// The constant part of a protocol-2 call, read from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The table's trigger token.
    pub token: Cow<'a, [u8]>,
    /// The database's name, as the server spells it.
    pub db: Cow<'a, [u8]>,
    /// The table's name, as the server spells it.
    pub table: Cow<'a, [u8]>,
    /// A row [`Op`], or [`DRIFT_OP`].
    pub op: Cow<'a, [u8]>,
    /// A row call's key columns, a [`list`]; a drift call's row op.
    pub pk_cols: Cow<'a, [u8]>,
    /// A row call's secret columns, a [`list`]; empty in a drift call.
    pub secret_cols: Cow<'a, [u8]>,
}

/// The header of a row call: `dbaudit/2,token,db,tbl,op,pk_cols,secret_cols`, each field
/// [`encode`]d; the column lists are lists of encoded names, encoded once more as a field.
pub fn header<S: AsRef<str>>(token: &str, db: &str, table: &str, op: Op, pk_cols: &[S], secret_cols: &[S]) -> String {
    let list = |names: &[S]| names.iter().map(|n| encode(n.as_ref())).collect::<Vec<_>>().join(",");
    fields(&[HEADER_TAG, token, db, table, op.as_str(), &list(pk_cols), &list(secret_cols)])
}

/// The header of a drift call: `dbaudit/2,token,db,tbl,drift,row_op`.
pub fn drift_header(token: &str, db: &str, table: &str, row_op: Op) -> String {
    fields(&[HEADER_TAG, token, db, table, DRIFT_OP, row_op.as_str()])
}

fn fields(fields: &[&str]) -> String {
    fields.iter().map(|f| encode(f)).collect::<Vec<_>>().join(",")
}

/// A header field or a listed name: `%`, `,` and `\` as `%25`, `%2C` and `%5C`. Not the
/// backslash escapes of [`crate::names`]: information_schema shows a trigger's string literals
/// with their backslash escapes undone, so a body with a backslash in a literal would never
/// read back as the body generated.
pub fn encode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', ',', '\\']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            '\\' => out.push_str("%5C"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The text of an [`encode`]d field; any other `%` stands for itself.
pub fn decode(field: &[u8]) -> Cow<'_, [u8]> {
    if !field.contains(&b'%') {
        return Cow::Borrowed(field);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let escaped = match field.get(i..i + 3) {
            Some([b'%', b'2', b'5']) => Some(b'%'),
            Some([b'%', b'2', b'C' | b'c']) => Some(b','),
            Some([b'%', b'5', b'C' | b'c']) => Some(b'\\'),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// The names of a header's column list; empty names are dropped.
pub fn list(list: &[u8]) -> Vec<Cow<'_, [u8]>> {
    list.split(|&b| b == b',').filter(|n| !n.is_empty()).map(decode).collect()
}

/// Whether a call's first argument is a protocol-2 header.
pub fn is_header(first: &[u8]) -> bool {
    first.len() > HEADER_TAG.len() && first.starts_with(HEADER_TAG.as_bytes()) && first[HEADER_TAG.len()] == b','
}

/// Reads a header; None when it is not one (see [`header`] and [`drift_header`]).
pub fn read_header(bytes: &[u8]) -> Option<Header<'_>> {
    if !is_header(bytes) {
        return None;
    }
    let mut fields = bytes.split(|&b| b == b',').skip(1).map(decode);
    let mut next = || fields.next();
    let (token, db, table, op, pk_cols) = (next()?, next()?, next()?, next()?, next()?);
    let secret_cols = next().unwrap_or_default();
    if next().is_some() || (is_drift(&op) && !secret_cols.is_empty()) {
        return None;
    }
    Some(Header { token, db, table, op, pk_cols, secret_cols })
}

/// Whether `op` is [`DRIFT_OP`], ASCII case-insensitively as every op is read.
pub fn is_drift(op: &[u8]) -> bool {
    op.eq_ignore_ascii_case(DRIFT_OP.as_bytes())
}

/// Which image of the row a value argument carries, told by its alias's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `old.<column>`: the row before the change.
    Old,
    /// `new.<column>`: the row after the change.
    New,
}

impl Side {
    /// The sides a row call of `op` carries, in the order its values come.
    pub fn of(op: Op) -> &'static [Side] {
        match (op.has_old(), op.has_new()) {
            (true, true) => &[Side::Old, Side::New],
            (true, false) => &[Side::Old],
            _ => &[Side::New],
        }
    }

    /// The prefix of its aliases: `old.` or `new.`.
    pub fn prefix(self) -> &'static str {
        match self {
            Side::Old => "old.",
            Side::New => "new.",
        }
    }

    /// The side an alias names and the column after its prefix (ASCII case-insensitive:
    /// triggers are typed by people); None for an alias with neither prefix.
    pub fn split_alias(alias: &[u8]) -> Option<(Side, &[u8])> {
        let (prefix, column) = alias.split_at_checked(4)?;
        // `| 0x20` lowers an ASCII capital and maps nothing else onto these letters. This
        // runs for every value of every row, so it is one comparison rather than a loop.
        let side = match [prefix[0] | 0x20, prefix[1] | 0x20, prefix[2] | 0x20, prefix[3]] {
            [b'o', b'l', b'd', b'.'] => Side::Old,
            [b'n', b'e', b'w', b'.'] => Side::New,
            _ => return None,
        };
        Some((side, column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_split_on_either_prefix_in_any_case() {
        assert_eq!(Side::split_alias(b"old.id"), Some((Side::Old, &b"id"[..])));
        assert_eq!(Side::split_alias(b"NEW.a.b"), Some((Side::New, &b"a.b"[..])));
        assert_eq!(Side::split_alias(b"new."), Some((Side::New, &b""[..])));
        assert_eq!(Side::split_alias(b"oLd.x"), Some((Side::Old, &b"x"[..])));
        for side in [Side::Old, Side::New] {
            let alias = format!("{}x", side.prefix().to_uppercase());
            assert_eq!(Side::split_alias(alias.as_bytes()), Some((side, &b"x"[..])), "{alias}");
        }
        for alias in [&b"id"[..], b"old", b"ol", b"", b"older.id", b"old,id", b"\x0fld.id", b"Nev.id", b"new:id"] {
            assert_eq!(Side::split_alias(alias), None, "{:?}", String::from_utf8_lossy(alias));
        }
    }

    #[test]
    fn each_op_carries_the_sides_it_has() {
        assert_eq!(Side::of(Op::Insert), [Side::New]);
        assert_eq!(Side::of(Op::Update), [Side::Old, Side::New]);
        assert_eq!(Side::of(Op::Delete), [Side::Old]);
        assert!(is_drift(b"Drift") && !is_drift(b"drifts"));
    }

    #[test]
    fn headers_read_back_whatever_the_names_hold() {
        let text = header("tok", "a,b", "t\\u%", Op::Update, &["id", "x,y%2C"], &["Pass\\word"]);
        assert!(!text.contains('\\'), "{text}");
        let read = read_header(text.as_bytes()).unwrap();
        assert_eq!(
            (&*read.token, &*read.db, &*read.table, &*read.op),
            (&b"tok"[..], &b"a,b"[..], &b"t\\u%"[..], &b"update"[..])
        );
        assert_eq!(list(&read.pk_cols), [&b"id"[..], b"x,y%2C"]);
        assert_eq!(list(&read.secret_cols), [&b"Pass\\word"[..]]);
        let none: [&str; 0] = [];
        let bare = header("tok", "d", "t", Op::Insert, &none, &none);
        assert_eq!(bare, "dbaudit/2,tok,d,t,insert,,");
        assert!(read_header(bare.as_bytes()).is_some_and(|h| list(&h.pk_cols).is_empty() && h.secret_cols.is_empty()));

        let drift = drift_header("tok", "d", "t", Op::Delete);
        let drift = read_header(drift.as_bytes()).unwrap();
        assert!(is_drift(&drift.op) && &*drift.pk_cols == b"delete" && drift.secret_cols.is_empty());

        for not in [
            "",
            "dbaudit/2",
            "dbaudit/2,",
            "dbaudit/2,a,b,c",
            "dbaudit/3,t,d,t,insert,,",
            "t,d,t,insert,,",
            "dbaudit/2,t,d,t,insert,,,extra",
            "dbaudit/2,t,d,t,drift,insert,secret",
        ] {
            assert_eq!(read_header(not.as_bytes()), None, "{not}");
        }
    }

    #[test]
    fn fields_decode_to_what_was_encoded_and_other_percents_stand() {
        for text in ["", "plain", "%", "%25", "a,b\\c%2C", ",,,", "ünï cødé", "%zz%2"] {
            assert_eq!(&*decode(encode(text).as_bytes()), text.as_bytes(), "{text}");
        }
        assert_eq!(&*decode(b"50%off%2c%5c"), b"50%off,\\");
    }
}
