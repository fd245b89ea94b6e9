//! The call protocol of `dbaudit_log`: what a generated trigger passes and what the UDF
//! reads, defined once so that the trigger generator and the UDF cannot drift apart.
//!
//! A row call is `token, db, tbl, op, user, conn, pk_cols, secret_cols`, then one argument
//! per column value, named by its alias: `old.<column>` or `new.<column>` ([`Side`]). The
//! column lists are [`crate::names`] lists.
//!
//! A trigger whose own call failed (a column it names was dropped or renamed) calls from its
//! error handler `token, db, tbl, 'drift', user, conn, row_op, error`: exactly the
//! [`FIXED_ARGS`], the last two carrying the row change it fired on and the server's error.

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
}
