//! Which account a session authenticated as, worked out the way MariaDB (≥ 10.4) matches a
//! login: among the entries of `mysql.user` with the session's user name, those whose host
//! pattern matches the client host, the most specific first. The audit line only knows
//! `USER()` (`name@client-host`); the account is `CURRENT_USER()` of that session, which
//! only the server knew. Anything short of one clear answer is refused, never widened.

use dbaudit_connect::Account;

/// The answer for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The session authenticated as this account.
    Account(Account),
    /// No entry with that name matches the host: the anonymous account or none at all.
    NoMatch,
    /// An anonymous entry matches more specifically than the best named one: MySQL would
    /// pick the anonymous one, MariaDB the named one. Locking either may be wrong.
    Ambiguous(Account),
}

/// Resolves the session `session` (as `USER()` shows it) among `accounts` (every row of
/// `mysql.user` with the session's name, and the anonymous ones).
pub fn resolve(session: &Account, accounts: &[Account]) -> Resolution {
    let best = |name: &str| {
        accounts
            .iter()
            .filter(|a| a.name == name && !a.host.is_empty() && host_matches(&a.host, &session.host))
            .max_by(|a, b| host_rank(&a.host).cmp(&host_rank(&b.host)).then_with(|| a.host.cmp(&b.host)))
    };
    let named = best(&session.name);
    let anonymous = if session.name.is_empty() { None } else { best("") };
    match (named, anonymous) {
        (Some(named), Some(anon)) if host_rank(&anon.host) > host_rank(&named.host) => {
            Resolution::Ambiguous(named.clone())
        }
        (Some(named), _) => Resolution::Account(named.clone()),
        (None, _) => Resolution::NoMatch,
    }
}

/// How specific a host pattern is, as the server sorts them (sql_acl.cc `get_sort`): a
/// pattern without wildcards beats any with one, a wildcard further right beats one further
/// left, and `%` alone comes last.
pub fn host_rank(pattern: &str) -> u8 {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 2,
            b'%' | b'_' => {
                let position = i + 1;
                if position == 1 && bytes[i] == b'%' && bytes.len() == 1 {
                    return 1;
                }
                return u8::try_from((position + 1).min(127)).unwrap_or(127);
            }
            _ => i += 1,
        }
    }
    if bytes.is_empty() {
        0
    } else {
        128
    }
}

/// Whether a `mysql.user` host pattern matches a client host: `%` and `_` wildcards with `\`
/// escapes, case-insensitive; or `a.b.c.d/m.m.m.m` against an IPv4 address.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if let Some((ip, mask)) = pattern.split_once('/') {
        return match (parse_ipv4(ip), parse_ipv4(mask), parse_ipv4(host)) {
            (Some(ip), Some(mask), Some(host)) => host & mask == ip,
            _ => false,
        };
    }
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let host: Vec<char> = host.chars().flat_map(char::to_lowercase).collect();
    wild_match(&pattern, &host)
}

fn wild_match(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| wild_match(rest, &text[skip..])),
        Some(('_', rest)) => !text.is_empty() && wild_match(rest, &text[1..]),
        Some(('\\', rest)) if !rest.is_empty() => text.first() == Some(&rest[0]) && wild_match(&rest[1..], &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && wild_match(rest, &text[1..]),
    }
}

fn parse_ipv4(text: &str) -> Option<u32> {
    text.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

/// The client host of a processlist `HOST`: `host:port` for TCP, `localhost` for a socket.
pub(crate) fn processlist_host(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(text: &str) -> Account {
        let (name, host) = text.rsplit_once('@').unwrap();
        Account { name: name.into(), host: host.into() }
    }

    fn accounts(list: &[&str]) -> Vec<Account> {
        list.iter().map(|a| account(a)).collect()
    }

    #[test]
    fn the_exact_host_wins_over_patterns() {
        let all = accounts(&["app@%", "app@localhost", "app@10.0.%"]);
        assert_eq!(resolve(&account("app@localhost"), &all), Resolution::Account(account("app@localhost")));
        assert_eq!(resolve(&account("app@10.0.0.7"), &all), Resolution::Account(account("app@10.0.%")));
        assert_eq!(resolve(&account("app@db.example"), &all), Resolution::Account(account("app@%")));
    }

    #[test]
    fn an_unmatched_or_anonymous_session_resolves_to_nothing() {
        let all = accounts(&["app@10.0.%", "@localhost"]);
        assert_eq!(resolve(&account("app@localhost"), &all), Resolution::NoMatch);
        assert_eq!(resolve(&account("nobody@localhost"), &all), Resolution::NoMatch);
    }

    #[test]
    fn an_anonymous_entry_more_specific_than_the_named_one_is_ambiguous() {
        let all = accounts(&["app@%", "@localhost"]);
        assert!(matches!(resolve(&account("app@localhost"), &all), Resolution::Ambiguous(_)));
        let all = accounts(&["app@localhost", "@localhost"]);
        assert_eq!(resolve(&account("app@localhost"), &all), Resolution::Account(account("app@localhost")));
        let all = accounts(&["app@localhost", "@%"]);
        assert_eq!(resolve(&account("app@localhost"), &all), Resolution::Account(account("app@localhost")));
    }

    #[test]
    fn patterns_match_like_the_server() {
        assert!(host_matches("%", "anything"));
        assert!(host_matches("10.0.0._", "10.0.0.7"));
        assert!(!host_matches("10.0.0._", "10.0.0.17"));
        assert!(host_matches("LocalHost", "localhost"));
        assert!(host_matches("%.example.com", "db.EXAMPLE.com"));
        assert!(!host_matches("a\\%b", "axb"));
        assert!(host_matches("a\\%b", "a%b"));
        assert!(host_matches("10.0.0.0/255.255.255.0", "10.0.0.99"));
        assert!(!host_matches("10.0.0.0/255.255.255.0", "10.0.1.99"));
    }

    #[test]
    fn ranks_order_patterns_from_specific_to_broad() {
        assert!(host_rank("localhost") > host_rank("10.0.0.%"));
        assert!(host_rank("10.0.0.%") > host_rank("10.%"));
        assert!(host_rank("10.%") > host_rank("%"));
        assert_eq!(host_rank("%"), 1);
    }

    #[test]
    fn processlist_hosts_lose_their_port() {
        assert_eq!(processlist_host("localhost"), "localhost");
        assert_eq!(processlist_host("10.0.0.7:51234"), "10.0.0.7");
        assert_eq!(processlist_host("::1:51234"), "::1");
    }
}
