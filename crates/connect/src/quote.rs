//! SQL quoting for statements that cannot take parameters (DDL, `ALTER USER`, `KILL`).

/// `name` as an identifier: in backticks, with backticks doubled. Any text is a valid
/// identifier this way, spaces, quotes and unicode included.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `text` as a string literal: quotes doubled, backslashes and NUL escaped. This reads
/// back as `text` unless `NO_BACKSLASH_ESCAPES` is in the session's `sql_mode`, which
/// [`crate::connect`] clears; either way a quote can never end the literal early.
/// (Account names and `IDENTIFIED BY` take literals only, so no expression form is used.)
pub fn quote_str(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticks_are_doubled_in_identifiers() {
        assert_eq!(quote_ident("we`ird tab le"), "`we``ird tab le`");
    }

    #[test]
    fn quotes_are_doubled_and_backslashes_escaped() {
        assert_eq!(quote_str("o'brien"), "'o''brien'");
        assert_eq!(quote_str("a\\'b\0"), "'a\\\\''b\\0'");
    }
}
