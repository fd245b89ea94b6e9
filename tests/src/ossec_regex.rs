//! A test-only model of the parts of OSSEC that read dbaudit's lines, since OSSEC itself is in
//! no package registry: its regex dialect (`os_regex`, translated to the `regex` crate the way
//! OSSEC 3.1+ translates it to PCRE2), its literal matcher (`OS_Match`), the syslog pre-decoder
//! for ISO-8601 lines, decoder selection and rule evaluation — just enough to run the files in
//! `ossec/` over real normalised lines and tell which rule fires at which level.
//!
//! Written from docs/ARCHITECTURE.md ("Facts the design rests on") and ossec-hids' `os_regex/os_converter.c`,
//! `analysisd/cleanevent.c`, `decoders/decoder.c`, `decode-xml.c`, `rules.c` and `rules_list.c`.
//! It is not OSSEC: what it does not model (offsets, `if_group`, lists, most context options)
//! it refuses with an error, so a rule file that starts using more fails the tests loudly
//! instead of being half-checked.

use std::collections::HashMap;
use std::fmt;

use regex::Regex;

/// A pattern outside OSSEC's dialect, or a decoder or rule this model cannot judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialectError {
    /// The pattern or item at fault.
    pub what: String,
    /// Why it is refused.
    pub reason: String,
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.what, self.reason)
    }
}

impl std::error::Error for DialectError {}

fn refuse(what: &str, reason: impl Into<String>) -> DialectError {
    DialectError { what: what.to_owned(), reason: reason.into() }
}

/// One element of an `os_regex` alternative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// The letter after the backslash: `w W d D s S p t .`.
    Class(char),
    /// A class followed by `+` or `*`.
    Repeat(char, char),
    Open,
    Close,
}

/// Whether OSSEC's class `\<letter>` takes character `c`.
fn class_takes(letter: char, c: char) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '@' | '_');
    match letter {
        'w' => word(c),
        'W' => !word(c),
        'd' => c.is_ascii_digit(),
        'D' => !c.is_ascii_digit(),
        's' => c == ' ',
        'S' => c != ' ',
        'p' => "()*+,.:;<=>?[]!\"'#%&$|{}-".contains(c),
        't' => c == '\t',
        _ => true, // `\.`: any character
    }
}

/// The `regex` crate's spelling of OSSEC's class, as os_converter.c spells it for PCRE2.
fn class_regex(letter: char) -> &'static str {
    match letter {
        'w' => "[A-Za-z0-9@_\\-]",
        'W' => "[^A-Za-z0-9@_\\-]",
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => "[ ]",
        'S' => "[^ ]",
        'p' => "[()*+,.:;<=>?\\[\\]!\"'#%&$|{}\\-]",
        't' => "\\t",
        _ => "(?s:.)",
    }
}

/// One `|`-separated alternative: OSSEC tries them in order and takes the first that matches.
#[derive(Clone, Debug)]
struct Alternative {
    tokens: Vec<Token>,
    regex: Regex,
}

/// An `os_regex` pattern, as in `<regex>` and `<prematch>`: compiled for the `regex` crate.
#[derive(Clone, Debug)]
pub struct OsRegex {
    source: String,
    alternatives: Vec<Alternative>,
}

impl OsRegex {
    /// Compiles `pattern`, refusing what OSSEC would read differently from what it looks like:
    /// `[`, `]`, `{`, `}`, `?`, a `+`/`*` after a plain character (all literal text to OSSEC),
    /// `^`/`$` inside, nested groups, `|` inside a group, unknown escapes.
    pub fn new(pattern: &str) -> Result<OsRegex, DialectError> {
        if pattern.is_empty() {
            return Err(refuse(pattern, "empty pattern"));
        }
        let alternatives = split_alternatives(pattern)
            .into_iter()
            .map(|text| compile_alternative(pattern, text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OsRegex { source: pattern.to_owned(), alternatives })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.alternatives.iter().any(|a| a.regex.is_match(text))
    }

    /// The groups of the first alternative that matches, in order; `None` if none matches.
    pub fn captures(&self, text: &str) -> Option<Vec<String>> {
        self.alternatives.iter().find_map(|a| {
            a.regex
                .captures(text)
                .map(|caps| caps.iter().skip(1).map(|m| m.map_or(String::new(), |m| m.as_str().to_owned())).collect())
        })
    }

    /// Quantifiers whose stopping point could differ between OSSEC's engines: OSSEC 2.9's and
    /// Wazuh's own matcher stop a lazy `\S+` at the first character the rest of the pattern can
    /// start with, PCRE2 backtracks. They agree when every quantified class is followed by the
    /// end of the pattern or by a literal character the class cannot take.
    pub fn ambiguous_quantifiers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for alternative in &self.alternatives {
            let tokens = &alternative.tokens;
            for (i, token) in tokens.iter().enumerate() {
                let Token::Repeat(letter, quantifier) = *token else { continue };
                let next = tokens[i + 1..].iter().find(|t| !matches!(t, Token::Open | Token::Close));
                let clear = match next {
                    None => true,
                    Some(Token::Literal(c)) => !class_takes(letter, *c),
                    Some(_) => false,
                };
                if !clear {
                    found.push(format!("\\{letter}{quantifier} followed by {next:?} in {:?}", self.source));
                }
            }
        }
        found
    }
}

fn split_alternatives(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in pattern.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => escaped = false,
        }
    }
    parts.push(&pattern[start..]);
    parts
}

fn compile_alternative(pattern: &str, text: &str) -> Result<Alternative, DialectError> {
    let (begin, mut body) = match text.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let end = body.ends_with('$') && !body.ends_with("\\$");
    if end {
        body = &body[..body.len() - 1];
    }
    let mut tokens = Vec::new();
    let mut chars = body.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        let token = match c {
            '\\' => match chars.next() {
                Some(letter @ ('w' | 'W' | 'd' | 'D' | 's' | 'S' | 'p' | 't' | '.')) => match chars.peek() {
                    Some(&q @ ('+' | '*')) => {
                        chars.next();
                        Token::Repeat(letter, q)
                    }
                    _ => Token::Class(letter),
                },
                Some(lit @ ('$' | '(' | ')' | '{' | '}' | '[' | ']' | '\\' | '|' | '<')) => Token::Literal(lit),
                other => return Err(refuse(pattern, format!("unknown escape \\{}", other.unwrap_or(' ')))),
            },
            '(' if depth == 0 => {
                depth = 1;
                Token::Open
            }
            '(' => return Err(refuse(pattern, "nested groups: OSSEC has one level")),
            ')' if depth == 1 => {
                depth = 0;
                Token::Close
            }
            ')' => return Err(refuse(pattern, "unbalanced )")),
            '[' | ']' | '{' | '}' | '?' | '+' | '*' => {
                return Err(refuse(pattern, format!("{c:?} is literal text to OSSEC, not regex syntax")))
            }
            '^' | '$' => return Err(refuse(pattern, format!("{c:?} inside a pattern (anchors go at the ends)"))),
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    if depth != 0 {
        return Err(refuse(pattern, "unclosed group, or | inside a group (it splits the whole pattern)"));
    }
    let last_repeat = tokens.iter().rposition(|t| matches!(t, Token::Repeat(..)));
    let mut translated = String::from("(?i)");
    if begin {
        translated.push('^');
    }
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            Token::Literal(c) => translated.push_str(&regex::escape(&c.to_string())),
            Token::Class(letter) => translated.push_str(class_regex(letter)),
            Token::Repeat(letter, q) => {
                translated.push_str(class_regex(letter));
                translated.push(q);
                if Some(i) != last_repeat {
                    translated.push('?');
                }
            }
            Token::Open => translated.push('('),
            Token::Close => translated.push(')'),
        }
    }
    if end {
        translated.push('$');
    }
    let regex = Regex::new(&translated).map_err(|e| refuse(pattern, format!("translation {translated:?}: {e}")))?;
    Ok(Alternative { tokens, regex })
}

/// An `OS_Match` pattern, as in `<match>`, `<program_name>`, `<user>`: literal text,
/// case-insensitive, `|` between alternatives, `^` and `$` at their ends.
#[derive(Clone, Debug)]
pub struct OsMatch {
    source: String,
    alternatives: Vec<Regex>,
}

impl OsMatch {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<OsMatch, DialectError> {
        let mut alternatives = Vec::new();
        for text in pattern.split('|') {
            let (begin, body) = match text.strip_prefix('^') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let (body, end) = match body.strip_suffix('$') {
                Some(rest) => (rest, true),
                None => (body, false),
            };
            if body.is_empty() && !(begin && end) {
                return Err(refuse(pattern, "empty alternative"));
            }
            let translated =
                format!("(?i){}{}{}", if begin { "^" } else { "" }, regex::escape(body), if end { "$" } else { "" });
            alternatives.push(Regex::new(&translated).map_err(|e| refuse(pattern, e.to_string()))?);
        }
        Ok(OsMatch { source: pattern.to_owned(), alternatives })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether any alternative occurs in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.alternatives.iter().any(|r| r.is_match(text))
    }
}

/// One event as analysisd holds it: the line, what the pre-decoder found, what the decoder set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The whole line.
    pub full_log: String,
    /// The text decoders and rules read: after the syslog header, when there is one.
    pub log: String,
    /// The host named in the header.
    pub hostname: Option<String>,
    /// The program named in the header.
    pub program_name: Option<String>,
    /// The decoder that took the event (a child reports its parent's name, as OSSEC does).
    pub decoder: Option<String>,
    /// Decoded fields by OSSEC's names (`user`, `srcip`, `action`, `extra_data`, `status`, …).
    pub fields: HashMap<&'static str, String>,
}

/// Characters OSSEC accepts in a host or program name (`hostname_map` in os_regex_maps.h).
fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'(' | b')' | b'-' | b'.' | b'/' | b'@' | b'_')
}

impl Event {
    /// Pre-decodes `line` as `OS_CleanMSG` does for `Mmm dd hh:mm:ss` and ISO-8601
    /// (`YYYY-MM-DDThh:mm:ss[.frac]±hh:mm`) syslog headers; any other line is kept whole.
    pub fn from_line(line: &str) -> Event {
        let mut event = Event { full_log: line.to_owned(), log: line.to_owned(), ..Event::default() };
        let b = line.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let loglen = b.len() + 1;
        let skip = if loglen > 17 && at(3) == b' ' && at(6) == b' ' && at(9) == b':' && at(12) == b':' && at(15) == b' '
        {
            Some(16)
        } else if loglen > 33 && at(4) == b'-' && at(7) == b'-' && at(10) == b'T' && at(13) == b':' && at(16) == b':' {
            if at(22) == b':' && at(25) == b' ' {
                Some(26)
            } else if at(19) == b'.' || at(19) == b',' {
                (24..=29).find(|&i| at(i) == b':').map(|i| i + 3)
            } else {
                None
            }
        } else {
            None
        };
        let Some(mut pos) = skip else { return event };
        if at(pos) == b' ' {
            pos += 1;
        }
        let host_start = pos;
        while name_char(at(pos)) {
            pos += 1;
        }
        event.log = line[host_start..].to_owned();
        if at(pos) == b':' && at(pos + 1) == b' ' {
            event.program_name = Some(line[host_start..pos].to_owned());
            event.log = line[pos + 2..].to_owned();
            return event;
        }
        if at(pos) != b' ' {
            return event;
        }
        event.hostname = Some(line[host_start..pos].to_owned());
        pos += 1;
        let prog_start = pos;
        event.log = line[prog_start..].to_owned();
        while name_char(at(pos)) {
            pos += 1;
        }
        let prog_end = pos;
        if at(pos) == b':' && at(pos + 1) == b' ' {
            pos += 2;
        } else if at(pos) == b'[' && at(pos + 1).is_ascii_digit() {
            pos += 1;
            while at(pos).is_ascii_digit() {
                pos += 1;
            }
            if at(pos) == b']' && at(pos + 1) == b':' && at(pos + 2) == b' ' {
                pos += 3;
            } else if at(pos) == b']' && at(pos + 1) == b' ' {
                pos += 2;
            } else {
                return event;
            }
        } else {
            return event;
        }
        event.program_name = Some(line[prog_start..prog_end].to_owned());
        event.log = line[pos..].to_owned();
        event
    }

    /// A decoded field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// The field an `<order>` name fills, among those every OSSEC since 2.9 knows; `None` for a
/// name OSSEC 2.9 refuses ("Wrong field … in the order").
pub fn order_field(name: &str) -> Option<&'static str> {
    Some(match name.trim() {
        "user" | "dstuser" => "user",
        "srcuser" => "srcuser",
        "srcip" => "srcip",
        "dstip" => "dstip",
        "srcport" => "srcport",
        "dstport" => "dstport",
        "protocol" => "protocol",
        "action" => "action",
        "id" => "id",
        "url" => "url",
        "data" | "extra_data" => "extra_data",
        "status" => "status",
        "system_name" => "system_name",
        _ => return None,
    })
}

/// One `<decoder>`.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// `name=`.
    pub name: String,
    /// `<parent>`.
    pub parent: Option<String>,
    /// `<program_name>`.
    pub program_name: Option<OsMatch>,
    /// `<prematch>`.
    pub prematch: Option<OsRegex>,
    /// `<regex>`.
    pub regex: Option<OsRegex>,
    /// `<order>`, as field names.
    pub order: Vec<&'static str>,
}

impl Decoder {
    /// A decoder from its elements' text, checked as `ReadDecodeXML` checks it.
    pub fn new(
        name: &str,
        parent: Option<&str>,
        program_name: Option<&str>,
        prematch: Option<&str>,
        regex: Option<&str>,
        order: Option<&str>,
    ) -> Result<Decoder, DialectError> {
        if prematch.is_none() && parent.is_none() && program_name.is_none() {
            return Err(refuse(name, "a decoder needs a prematch, a parent or a program_name"));
        }
        if regex.is_some() != order.is_some() {
            return Err(refuse(name, "regex and order go together"));
        }
        let order = match order {
            Some(text) => text
                .split(',')
                .map(|n| order_field(n).ok_or_else(|| refuse(name, format!("OSSEC 2.9 knows no field {:?}", n.trim()))))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let decoder = Decoder {
            name: name.to_owned(),
            parent: parent.map(str::to_owned),
            program_name: program_name.map(OsMatch::new).transpose()?,
            prematch: prematch.map(OsRegex::new).transpose()?,
            regex: regex.map(OsRegex::new).transpose()?,
            order,
        };
        if decoder.order.len() > 8 {
            return Err(refuse(name, "more than 8 fields in order"));
        }
        Ok(decoder)
    }
}

/// One `<rule>`, with the options this model evaluates.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// `id=`.
    pub id: u32,
    /// `level=`.
    pub level: u8,
    /// `<if_sid>`.
    pub if_sid: Vec<u32>,
    /// `<if_matched_sid>`.
    pub if_matched_sid: Option<u32>,
    /// `frequency=`.
    pub frequency: u32,
    /// `timeframe=`, in seconds.
    pub timeframe: u64,
    /// `<same_user />`.
    pub same_user: bool,
    /// `<check_diff />`.
    pub check_diff: bool,
    /// `<decoded_as>`.
    pub decoded_as: Option<String>,
    /// `<program_name>`.
    pub program_name: Option<OsMatch>,
    /// `<match>`.
    pub matches: Option<OsMatch>,
    /// `<regex>`.
    pub regex: Option<OsRegex>,
    /// `<user>`.
    pub user: Option<OsMatch>,
    /// `<action>`: an exact, whole-string compare.
    pub action: Option<String>,
}

impl Rule {
    /// Where OSSEC puts the rule among its siblings: higher levels first, level 0 before all.
    fn priority(&self) -> u32 {
        if self.level == 0 {
            9900
        } else {
            u32::from(self.level) * 100
        }
    }

    fn parents(&self) -> Vec<u32> {
        match (self.if_sid.is_empty(), self.if_matched_sid) {
            (true, Some(sid)) => vec![sid],
            _ => self.if_sid.clone(),
        }
    }
}

/// The rule an event ended on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The rule id.
    pub rule: u32,
    /// Its level (0: no alert is written).
    pub level: u8,
    /// The decoded event.
    pub event: Event,
}

#[derive(Clone, Debug)]
struct Past {
    at: u64,
    rule: u32,
    user: Option<String>,
    matched: u8,
}

/// Decoders and rules loaded together, with the memory that frequency and check_diff rules need.
#[derive(Clone, Debug)]
pub struct Analysisd {
    decoders: Vec<Decoder>,
    rules: Vec<Rule>,
    top: Vec<usize>,
    children: HashMap<u32, Vec<usize>>,
    history: Vec<Past>,
    last_output: HashMap<u32, String>,
}

impl Analysisd {
    /// Loads decoders and rules (rules in load order), refusing what OSSEC would refuse at
    /// start-up: an unknown parent decoder, decoded_as naming no decoder, an if_sid or
    /// if_matched_sid naming no rule loaded before, a duplicate id.
    pub fn new(decoders: Vec<Decoder>, rules: Vec<Rule>) -> Result<Analysisd, DialectError> {
        for decoder in &decoders {
            if let Some(parent) = &decoder.parent {
                if !decoders.iter().any(|d| &d.name == parent && d.parent.is_none()) {
                    return Err(refuse(&decoder.name, format!("parent decoder {parent:?} not loaded")));
                }
            }
        }
        let mut top = Vec::new();
        let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let what = rule.id.to_string();
            if rules[..i].iter().any(|r| r.id == rule.id) {
                return Err(refuse(&what, "duplicate rule id"));
            }
            if let Some(name) = &rule.decoded_as {
                if !decoders.iter().any(|d| &d.name == name) {
                    return Err(refuse(&what, format!("decoded_as names no decoder: {name:?}")));
                }
            }
            if rule.frequency > 0 && rule.if_matched_sid.is_none() {
                return Err(refuse(&what, "frequency without if_matched_sid is not modelled"));
            }
            let parents = rule.parents();
            if parents.is_empty() {
                top.push(i);
            }
            for parent in parents {
                if !rules[..i].iter().any(|r| r.id == parent) {
                    return Err(refuse(&what, format!("Signature ID '{parent}' not found. Invalid 'if_sid'")));
                }
                children.entry(parent).or_default().push(i);
            }
        }
        let by_priority = |list: &mut Vec<usize>| list.sort_by_key(|&i| std::cmp::Reverse(rules[i].priority()));
        by_priority(&mut top);
        children.values_mut().for_each(by_priority);
        Ok(Analysisd { decoders, rules, top, children, history: Vec::new(), last_output: HashMap::new() })
    }

    /// Pre-decodes and decodes `line` without evaluating rules.
    pub fn decode(&self, line: &str) -> Event {
        let mut event = Event::from_line(line);
        self.run_decoders(&mut event);
        event
    }

    /// Runs `line`, received at second `now`, through decoders and rules: the rule it ends on.
    pub fn analyse(&mut self, line: &str, now: u64) -> Option<Alert> {
        let event = self.decode(line);
        let mut fired = None;
        for &i in &self.top.clone() {
            if let Some(found) = self.check(i, &event, now) {
                fired = Some(found);
                break;
            }
        }
        let rule = &self.rules[fired?];
        self.history.push(Past { at: now, rule: rule.id, user: event.field("user").map(str::to_owned), matched: 0 });
        Some(Alert { rule: rule.id, level: rule.level, event })
    }

    fn run_decoders(&self, event: &mut Event) {
        for parent in self.decoders.iter().filter(|d| d.parent.is_none()) {
            match (&event.program_name, &parent.program_name) {
                (Some(name), Some(wanted)) if wanted.is_match(name) => {}
                (None, None) | (Some(_), None) => {}
                _ => continue,
            }
            if let Some(prematch) = &parent.prematch {
                if !prematch.is_match(&event.log) {
                    continue;
                }
            }
            event.decoder = Some(parent.name.clone());
            let chosen = self
                .decoders
                .iter()
                .filter(|d| d.parent.as_deref() == Some(&parent.name))
                .find(|child| child.prematch.as_ref().is_none_or(|p| p.is_match(&event.log)));
            let decoder = match (chosen, self.decoders.iter().any(|d| d.parent.as_deref() == Some(&parent.name))) {
                (Some(child), _) => child,
                (None, false) => parent,
                (None, true) => return,
            };
            if let Some(regex) = &decoder.regex {
                let Some(values) = regex.captures(&event.log) else { return };
                for (field, value) in decoder.order.iter().zip(values) {
                    event.fields.insert(field, value);
                }
            }
            return;
        }
    }

    fn check(&mut self, i: usize, event: &Event, now: u64) -> Option<usize> {
        let rule = &self.rules[i];
        let field_matches = |pattern: &Option<OsMatch>, value: Option<&str>| match pattern {
            None => true,
            Some(p) => value.is_some_and(|v| p.is_match(v)),
        };
        if rule.decoded_as.is_some() && rule.decoded_as != event.decoder {
            return None;
        }
        if !field_matches(&rule.program_name, event.program_name.as_deref())
            || !field_matches(&rule.matches, Some(&event.log))
            || !field_matches(&rule.user, event.field("user"))
            || rule.regex.as_ref().is_some_and(|r| !r.is_match(&event.log))
            || rule.action.as_ref().is_some_and(|a| event.field("action") != Some(a))
        {
            return None;
        }
        let (id, context, check_diff) = (rule.id, rule.if_matched_sid.is_some(), rule.check_diff);
        if context && !self.search_last_sids(i, event, now) {
            return None;
        }
        if check_diff {
            // doDiff: the first output is only stored; later ones alert when they differ.
            let previous = self.last_output.insert(id, event.log.clone());
            if previous.is_none_or(|p| p == event.log) {
                return None;
            }
        }
        for child in self.children.get(&id).cloned().unwrap_or_default() {
            if let Some(found) = self.check(child, event, now) {
                return Some(found);
            }
        }
        Some(i)
    }

    // Search_LastSids: frequency + 1 earlier events that ended on the sid, within the timeframe,
    // none already counted for a firing of this rule.
    fn search_last_sids(&mut self, i: usize, event: &Event, now: u64) -> bool {
        let rule = &self.rules[i];
        let (sid, level, frequency, timeframe) = (rule.if_matched_sid, rule.level, rule.frequency, rule.timeframe);
        let same_user = rule.same_user;
        let user = event.field("user");
        let mut count = 0;
        for past in self.history.iter_mut().rev().filter(|p| Some(p.rule) == sid) {
            if now.saturating_sub(past.at) > timeframe || past.matched >= level {
                return false;
            }
            if same_user && (past.user.is_none() || past.user.as_deref() != user) {
                continue;
            }
            if count < frequency {
                count += 1;
                continue;
            }
            past.matched = level;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_ossecs_not_perls() {
        let word = OsRegex::new("^\\w+$").unwrap();
        assert!(word.is_match("app-1@host_a"));
        assert!(!word.is_match("a.b"));
        let space = OsRegex::new("^a\\sb$").unwrap();
        assert!(space.is_match("a b") && !space.is_match("a\tb"));
        assert!(OsRegex::new("^a\\.c$").unwrap().is_match("a\nc"));
        assert!(!OsRegex::new("^a.c$").unwrap().is_match("abc"), "a bare dot is a literal dot");
        assert!(OsRegex::new("^\\p+$").unwrap().is_match("%'\"(){}"));
    }

    #[test]
    fn quantifiers_are_lazy_except_the_last() {
        let re = OsRegex::new("^(\\S+)=(\\S+)").unwrap();
        assert_eq!(re.captures("a=b=c d").unwrap(), ["a", "b=c"]);
        let re = OsRegex::new("^(\\.*)x(\\.*)x").unwrap();
        assert_eq!(re.captures("1x2x3x").unwrap(), ["1", "2x3"]);
    }

    #[test]
    fn matching_ignores_case_and_alternatives_split_the_whole_pattern() {
        let re = OsRegex::new("^op=insert |^op=update ").unwrap();
        assert!(re.is_match("OP=Update x"));
        assert!(!re.is_match("xop=update "));
        let m = OsMatch::new("^op=forged |tamper$").unwrap();
        assert!(m.is_match("op=FORGED x") && m.is_match("x tamper") && !m.is_match("tamper x"));
        assert!(OsMatch::new("a.b").unwrap().is_match("xa.by") && !OsMatch::new("a.b").unwrap().is_match("axb"));
    }

    #[test]
    fn what_ossec_reads_as_text_is_refused() {
        for pattern in ["[a-z]+", "a?", "a+", "x{2}", "((a))", "(a|b)", "a^b", "\\q"] {
            assert!(OsRegex::new(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn ambiguity_is_found_where_engines_could_differ() {
        assert!(OsRegex::new("^user=(\\S+) host=").unwrap().ambiguous_quantifiers().is_empty());
        assert_eq!(OsRegex::new("^\\.*claimed=").unwrap().ambiguous_quantifiers().len(), 1);
        assert_eq!(OsRegex::new("^\\w+-").unwrap().ambiguous_quantifiers().len(), 1);
    }

    #[test]
    fn iso_header_sets_host_and_program() {
        let e = Event::from_line("2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=start x");
        assert_eq!(
            (e.hostname.as_deref(), e.program_name.as_deref(), e.log.as_str()),
            (Some("dbhost"), Some("dbaudit"), "op=start x")
        );
        let e = Event::from_line("2026-11-26T08:31:24+01:00 h sshd[42]: hello");
        assert_eq!((e.program_name.as_deref(), e.log.as_str()), (Some("sshd"), "hello"));
        let seed = Event::from_line("2011-01-08 00:31:24 mysqld: op=update x");
        assert_eq!((seed.program_name, seed.log.as_str()), (None, "2011-01-08 00:31:24 mysqld: op=update x"));
    }
}
