//! One line of an option file, classified without touching the filesystem.

/// What a single line says; errors are messages that the caller locates.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    Blank,
    Group(String),
    Option { key: String, value: Option<String> },
    Include(&'a str),
    IncludeDir(&'a str),
}

pub(crate) fn classify(line: &str) -> Result<Line<'_>, String> {
    let line = line.trim();
    match line.chars().next() {
        None | Some('#' | ';') => Ok(Line::Blank),
        Some('[') => group(line),
        Some('!') => directive(line),
        Some(_) => option(line),
    }
}

/// Lowercase with `-` as `_`, because mysqld treats `key-file` and `key_file` alike.
pub(crate) fn normalise_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('-', "_")
}

fn group(line: &str) -> Result<Line<'_>, String> {
    let Some(end) = line.find(']') else {
        return Err(format!("group header {line:?} has no closing \"]\"; add it"));
    };
    let rest = line[end + 1..].trim_start();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return Err(format!("unexpected text {rest:?} after a group header; move it to its own line"));
    }
    let name = line[1..end].trim();
    if name.is_empty() {
        return Err("empty group name \"[]\"; name the group, e.g. [mysqld]".to_string());
    }
    Ok(Line::Group(name.to_ascii_lowercase()))
}

fn directive(line: &str) -> Result<Line<'_>, String> {
    let body = line[1..].trim_start();
    let (word, path) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let path = path.trim();
    match (word, path.is_empty()) {
        ("include" | "includedir", true) => Err(format!("!{word} needs a path; write !{word} /path/to/it")),
        ("include", false) => Ok(Line::Include(path)),
        ("includedir", false) => Ok(Line::IncludeDir(path)),
        _ => Err(format!("unknown directive {:?}; use !include or !includedir", format!("!{word}"))),
    }
}

fn option(line: &str) -> Result<Line<'_>, String> {
    let text = strip_comment(line);
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name.trim(), Some(value.trim())),
        None => (text.trim(), None),
    };
    if name.is_empty() {
        return Err("missing option name before \"=\"; write name = value".to_string());
    }
    if name.contains(char::is_whitespace) {
        return Err(format!("option name {name:?} contains whitespace; put \"=\" between name and value"));
    }
    if name.contains(['"', '\'']) {
        return Err(format!("option name {name:?} contains a quote; only values may be quoted"));
    }
    let value = match value.map(unquote) {
        None => None,
        Some(Ok(value)) => Some(unescape(value)),
        Some(Err(Unquote::Unterminated)) => {
            return Err(format!("unterminated quote in value of {name:?}; close the quote"));
        }
        Some(Err(Unquote::TrailingText)) => {
            return Err(format!(
                "text after the closing quote in value of {name:?}; quote the whole value or start a comment with #"
            ));
        }
    };
    Ok(Line::Option { key: normalise_key(name), value })
}

/// Cuts a trailing `#` comment outside quotes, honouring `\` only inside quotes exactly as
/// mysqld does, so that both read the same value from the same line.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

enum Unquote {
    Unterminated,
    TrailingText,
}

/// Strips enclosing quotes; a quote that is not first is literal, as in mysqld.
fn unquote(value: &str) -> Result<&str, Unquote> {
    let Some(quote @ ('"' | '\'')) = value.chars().next() else {
        return Ok(value);
    };
    let body = &value[1..];
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            if body[i + 1..].is_empty() {
                return Ok(&body[..i]);
            }
            return Err(Unquote::TrailingText);
        }
    }
    Err(Unquote::Unterminated)
}

/// Interprets the escapes mysqld knows; an unknown one stays as written.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(c @ ('\\' | '"' | '\'')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(line: &str) -> Option<String> {
        match classify(line) {
            Ok(Line::Option { value, .. }) => value,
            other => panic!("{line:?} is not an option: {other:?}"),
        }
    }

    fn refusal(line: &str) -> String {
        classify(line).expect_err(line)
    }

    #[test]
    fn key_value_forms_are_all_accepted() {
        for line in ["log = /x", "log=/x", "  log  =  /x  ", "log=/x\r"] {
            assert_eq!(value(line).as_deref(), Some("/x"), "{line:?}");
        }
        assert_eq!(value("skip-networking"), None);
        assert_eq!(value("empty ="), Some(String::new()));
    }

    #[test]
    fn comment_and_blank_lines_say_nothing() {
        for line in ["", "   ", "# note", "; note", "  # indented"] {
            assert_eq!(classify(line), Ok(Line::Blank), "{line:?}");
        }
    }

    #[test]
    fn trailing_hash_starts_a_comment() {
        assert_eq!(value("log = /x # where it goes").as_deref(), Some("/x"));
        assert_eq!(value(r"v = a\#b").as_deref(), Some("a\\"), "mysqld honours no escape outside quotes");
        assert_eq!(classify("flag # = not a value"), Ok(Line::Option { key: "flag".into(), value: None }));
    }

    #[test]
    fn quoted_value_keeps_hash() {
        assert_eq!(value("secret = \"a#b\" # comment").as_deref(), Some("a#b"));
        assert_eq!(value("secret = 'a # b'").as_deref(), Some("a # b"));
    }

    #[test]
    fn escapes_are_interpreted_in_quoted_and_plain_values() {
        assert_eq!(value(r#"v = "a\tb\nc\sd\\e\"f\'g\bh\ri""#), Some("a\tb\nc d\\e\"f'g\u{8}h\ri".into()));
        assert_eq!(value(r"v = a\sb\\c").as_deref(), Some("a b\\c"));
    }

    #[test]
    fn unknown_escape_keeps_backslash() {
        assert_eq!(value(r"dir = C:\data\x").as_deref(), Some(r"C:\data\x"));
        assert_eq!(value(r"v = end\").as_deref(), Some("end\\"));
    }

    #[test]
    fn quote_inside_a_plain_value_is_literal() {
        assert_eq!(value("v = it's").as_deref(), Some("it's"));
    }

    #[test]
    fn keys_are_normalised() {
        assert_eq!(classify("Key-File = k"), Ok(Line::Option { key: "key_file".into(), value: Some("k".into()) }));
    }

    #[test]
    fn group_headers_are_trimmed_and_lowercased() {
        assert_eq!(classify("[ DBAudit ] # ours"), Ok(Line::Group("dbaudit".into())));
    }

    #[test]
    fn malformed_lines_are_refused_with_a_fix() {
        assert_eq!(refusal("log = \"/x"), "unterminated quote in value of \"log\"; close the quote");
        assert!(refusal("log = \"/x\" y").starts_with("text after the closing quote"));
        assert!(refusal("[mysqld").contains("no closing \"]\""));
        assert!(refusal("[]").starts_with("empty group name"));
        assert!(refusal("[a] b").starts_with("unexpected text"));
        assert!(refusal("= 3").starts_with("missing option name"));
        assert!(refusal("log file = x").contains("contains whitespace"));
        assert!(refusal("'log' = x").contains("contains a quote"));
        assert!(refusal("!inculde x").starts_with("unknown directive \"!inculde\""));
        assert!(refusal("!include").starts_with("!include needs a path"));
    }

    #[test]
    fn include_directives_carry_their_path() {
        assert_eq!(classify("!include  my file.cnf "), Ok(Line::Include("my file.cnf")));
        assert_eq!(classify("!includedir\t/etc/mysql/conf.d/"), Ok(Line::IncludeDir("/etc/mysql/conf.d/")));
    }
}
