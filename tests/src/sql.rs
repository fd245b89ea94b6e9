//! Quoting names and strings into SQL text, for statements that take no parameters
//! (`CREATE USER`, `CREATE DATABASE`, `GRANT`).

/// `s` as an SQL string literal: `'` doubled, `\` and NUL escaped, as MariaDB reads them
/// in the test servers' `sql_mode` (the default, without `NO_BACKSLASH_ESCAPES`).
pub fn sql_quote_str(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\0' => quoted.push_str("\\0"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// `s` as an SQL identifier: in backticks, with backticks doubled.
pub fn sql_quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}
