//! `DB.TABLE` as the administrator types it: each part bare or backtick-quoted as in SQL
//! (`` `shop-db`.`weird``tab le` ``).

use std::fmt;

use dbaudit_connect::quote_ident;

use crate::error::{Error, ErrorKind};

/// A table named by its database and its own name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// The database (schema).
    pub db: String,
    /// The table.
    pub table: String,
}

impl TableName {
    /// A table name from its two parts, as the server spells them.
    pub fn new(db: &str, table: &str) -> TableName {
        TableName { db: db.to_owned(), table: table.to_owned() }
    }

    /// Parses `DB.TABLE`; either part may be backtick-quoted, with a doubled backtick
    /// standing for one.
    pub fn parse(text: &str) -> Result<TableName, Error> {
        let fail = |why: &str| {
            Error::new(ErrorKind::Name, format!("{text:?} is not DB.TABLE ({why}); quote odd names as `db`.`table`"))
        };
        let (db, rest) = part(text).map_err(&fail)?;
        let rest = rest.strip_prefix('.').ok_or_else(|| fail("no dot between database and table"))?;
        let (table, rest) = part(rest).map_err(&fail)?;
        if !rest.is_empty() {
            return Err(fail("text after the table name"));
        }
        Ok(TableName { db, table })
    }

    /// The name as SQL writes it: `` `db`.`table` ``.
    pub fn to_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.db), quote_ident(&self.table))
    }
}

/// One part: a quoted identifier, or bare text up to the next dot.
fn part(text: &str) -> Result<(String, &str), &'static str> {
    let parsed = if let Some(quoted) = text.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = quoted.char_indices();
        loop {
            match chars.next() {
                None => return Err("unclosed backtick"),
                Some((i, '`')) => {
                    if quoted[i + 1..].starts_with('`') {
                        name.push('`');
                        chars.next();
                    } else {
                        break (name, &quoted[i + 1..]);
                    }
                }
                Some((_, c)) => name.push(c),
            }
        }
    } else {
        let end = text.find('.').unwrap_or(text.len());
        let name = &text[..end];
        if name.contains('`') {
            return Err("a backtick inside a bare name");
        }
        (name.to_owned(), &text[end..])
    };
    if parsed.0.is_empty() {
        return Err("an empty name");
    }
    Ok(parsed)
}

impl fmt::Display for TableName {
    /// Bare `db.table` when that reads back the same, else the quoted form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = |s: &str| s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if bare(&self.db) && bare(&self.table) {
            write!(f, "{}.{}", self.db, self.table)
        } else {
            f.write_str(&self.to_sql())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_parts() {
        assert_eq!(TableName::parse("acme.users").unwrap(), TableName::new("acme", "users"));
        assert_eq!(TableName::parse("`shop-db`.`weird``tab le`").unwrap(), TableName::new("shop-db", "weird`tab le"));
        assert_eq!(TableName::parse("`a.b`.c").unwrap(), TableName::new("a.b", "c"));
        assert_eq!(TableName::parse("bücher.`ü ber`").unwrap(), TableName::new("bücher", "ü ber"));
    }

    #[test]
    fn malformed_names_are_refused() {
        for text in ["users", "a.b.c", ".t", "d.", "`d.t", "d`x.t", "`d`x.t", ""] {
            assert_eq!(TableName::parse(text).map_err(|e| e.kind()), Err(ErrorKind::Name), "{text:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for name in [TableName::new("acme", "users"), TableName::new("shop-db", "weird`tab le")] {
            assert_eq!(TableName::parse(&name.to_string()).unwrap(), name);
        }
    }
}
