//! Accounts as the server names them: `name@host`, as `USER()` reports and OSSEC passes on.

use std::fmt;

use crate::quote::quote_str;

/// A MySQL account: a user name and the host part it was matched or connected with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    /// The user name (may be empty: the anonymous user).
    pub name: String,
    /// The host part.
    pub host: String,
}

/// Why text is not an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountError(String);

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AccountError {}

/// The longest user name MariaDB accepts (MySQL: 32).
const MAX_NAME: usize = 80;
/// The longest host part either server accepts.
const MAX_HOST: usize = 255;

impl Account {
    /// Parses `name@host`, splitting at the last `@` (a host never holds one). Refuses
    /// control characters, quotes and backticks, and over-long parts: such text did not
    /// come from the server.
    pub fn parse(text: &str) -> Result<Account, AccountError> {
        let shown: String = text.chars().take(60).flat_map(char::escape_default).collect();
        let (name, host) =
            text.rsplit_once('@').ok_or_else(|| AccountError(format!("{shown:?} is not an account (name@host)")))?;
        if name.chars().count() > MAX_NAME || host.len() > MAX_HOST || host.is_empty() {
            return Err(AccountError(format!("{shown:?} is not an account: a part is empty or too long")));
        }
        if text.chars().any(|c| c.is_control() || matches!(c, '\'' | '"' | '`' | '\\')) {
            return Err(AccountError(format!("{shown:?} is not an account: it holds quotes or control characters")));
        }
        Ok(Account { name: name.to_owned(), host: host.to_owned() })
    }

    /// The account as SQL writes it in `ALTER USER`, `GRANT`, …: `'name'@'host'`.
    pub fn to_sql(&self) -> String {
        format!("{}@{}", quote_str(&self.name), quote_str(&self.host))
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_last_at_sign() {
        let account = Account::parse("ad@min@localhost").unwrap();
        assert_eq!((account.name.as_str(), account.host.as_str()), ("ad@min", "localhost"));
        assert_eq!(account.to_sql(), "'ad@min'@'localhost'");
    }

    #[test]
    fn hostile_text_is_refused() {
        for text in ["-", "", "root", "x'@localhost", "a@b\nc", "a@", "`x`@y", &"a".repeat(5000)] {
            assert!(Account::parse(text).is_err(), "{text:?}");
        }
    }
}
