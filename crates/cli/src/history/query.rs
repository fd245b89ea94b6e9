//! What `dbaudit history` is asked: the row's key (`--pk`), the account, the time window and
//! the kinds of change, read from the command line with one-line errors.

use dbaudit_record::{Columns, Op, RawStr, Timestamp};

use crate::error::Failure;

/// A row's primary key: column names and values, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RowKey(pub Vec<(String, Vec<u8>)>);

impl RowKey {
    /// Parses `COL=VALUE[,COL=VALUE…]`. A backslash takes the next character as it is, so
    /// `\,` is a comma inside a name or value, `\=` an equals sign inside a name, `\\` a
    /// backslash; the first unescaped `=` of a pair ends the name, so a value may hold `=`.
    pub(crate) fn parse(text: &str) -> Result<RowKey, Failure> {
        let fail = |why: &str| {
            Failure::new(format!(
                "--pk {text:?}: {why}; write COL=VALUE, columns of a composite key joined by commas \
                 (id=7 or shop=3,id=7), with \\, for a comma and \\\\ for a backslash inside a value"
            ))
        };
        let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
        let mut name: Option<String> = None;
        let mut current = String::new();
        let mut chars = text.chars();
        let mut finish = |name: Option<String>, value: String| -> Result<(), Failure> {
            let name = name.ok_or_else(|| fail("a pair has no ="))?;
            if name.is_empty() {
                return Err(fail("a pair has no column name"));
            }
            if pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(fail(&format!("column {name} is named twice")));
            }
            pairs.push((name, value.into_bytes()));
            Ok(())
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.push(chars.next().ok_or_else(|| fail("it ends in a lone backslash"))?),
                '=' if name.is_none() => name = Some(std::mem::take(&mut current)),
                ',' => finish(name.take(), std::mem::take(&mut current))?,
                c => current.push(c),
            }
        }
        finish(name, current)?;
        Ok(RowKey(pairs))
    }

    /// Whether `columns` (a record's pk, or the row's values) hold this key: every column of
    /// it, by name regardless of case as MySQL compares column names, with the same bytes.
    pub(crate) fn is_in(&self, columns: Columns<'_>) -> bool {
        self.0.iter().all(|(name, value)| {
            columns.iter().any(|(n, v)| {
                n.text().eq_ignore_ascii_case(name.as_bytes()) && v.bytes().is_some_and(|b| *b == **value)
            })
        })
    }

    /// Whether a record keyed by `names` is keyed by the same columns as this key.
    pub(crate) fn same_columns<'a>(&self, names: impl Iterator<Item = RawStr<'a>>) -> bool {
        let mut count = 0;
        for n in names {
            count += 1;
            if !self.0.iter().any(|(name, _)| n.text().eq_ignore_ascii_case(name.as_bytes())) {
                return false;
            }
        }
        count == self.0.len()
    }

    /// The key as the command line writes it.
    pub(crate) fn shown(&self) -> String {
        let escape = |s: &str| s.replace('\\', "\\\\").replace(',', "\\,");
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(n, v)| format!("{}={}", escape(n).replace('=', "\\="), escape(&String::from_utf8_lossy(v))))
            .collect();
        pairs.join(",")
    }
}

/// Parses a moment for `--since`/`--until`, in UTC: RFC 3339 (`2026-12-01T05:20:00Z`, any
/// offset), `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T`), or `YYYY-MM-DD` (midnight).
pub(crate) fn parse_moment(flag: &str, text: &str) -> Result<Timestamp, Failure> {
    let fail = || {
        Failure::new(format!(
            "{flag} {text:?}: not a time; write 2026-12-01, 2026-12-01 05:20:00 (both UTC) or RFC 3339 \
             (2026-12-01T05:20:00+01:00)"
        ))
    };
    let trimmed = text.trim();
    let moment = if let Ok(ts) = trimmed.parse::<jiff::Timestamp>() {
        ts
    } else if let Ok(dt) = trimmed.parse::<jiff::civil::DateTime>() {
        jiff::tz::TimeZone::UTC.to_timestamp(dt).map_err(|_| fail())?
    } else if let Ok(date) = trimmed.parse::<jiff::civil::Date>() {
        jiff::tz::TimeZone::UTC.to_timestamp(date.to_datetime(jiff::civil::Time::midnight())).map_err(|_| fail())?
    } else {
        return Err(fail());
    };
    u64::try_from(moment.as_microsecond()).map(Timestamp).map_err(|_| fail())
}

/// The kinds of change asked for; all when none is named.
pub(crate) fn ops_wanted(ops: &[Op]) -> Vec<Op> {
    if ops.is_empty() {
        Op::ALL.to_vec()
    } else {
        ops.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Vec<(String, String)> {
        RowKey::parse(text).unwrap().0.into_iter().map(|(n, v)| (n, String::from_utf8(v).unwrap())).collect()
    }

    fn pair(n: &str, v: &str) -> (String, String) {
        (n.to_owned(), v.to_owned())
    }

    #[test]
    fn a_key_is_pairs_and_a_value_may_hold_equals_and_escaped_commas() {
        assert_eq!(key("id=7"), [pair("id", "7")]);
        assert_eq!(key("shop=3,id=7"), [pair("shop", "3"), pair("id", "7")]);
        assert_eq!(key("note=a=b"), [pair("note", "a=b")]);
        assert_eq!(key(r"code=a\,b\\c"), [pair("code", r"a,b\c")]);
        assert_eq!(key(r"odd\=name=x"), [pair("odd=name", "x")]);
        assert_eq!(key("empty="), [pair("empty", "")]);
    }

    #[test]
    fn a_malformed_key_says_what_is_wrong() {
        for (text, says) in [
            ("7", "no ="),
            ("=7", "no column name"),
            ("id=7,", "no ="),
            ("id=7,ID=8", "named twice"),
            ("id=7\\", "lone backslash"),
            ("", "no ="),
        ] {
            let e = RowKey::parse(text).unwrap_err().to_string();
            assert!(e.contains(says) && e.starts_with("--pk"), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_key_shows_as_it_reads_back() {
        for text in ["id=7", r"code=a\,b\\c,odd\=n=x"] {
            assert_eq!(RowKey::parse(&RowKey::parse(text).unwrap().shown()).unwrap(), RowKey::parse(text).unwrap());
        }
    }

    #[test]
    fn moments_are_utc_unless_they_say_otherwise() {
        let at = |t: &str| parse_moment("--since", t).unwrap().to_string();
        assert_eq!(at("2026-12-01"), "2026-12-01T00:00:00.000000Z");
        assert_eq!(at("2026-12-01 05:20:07"), "2026-12-01T05:20:07.000000Z");
        assert_eq!(at("2026-12-01T05:20:07.25"), "2026-12-01T05:20:07.250000Z");
        assert_eq!(at("2026-12-01T05:20:07+01:00"), "2026-12-01T04:20:07.000000Z");
        assert_eq!(at("2026-12-01T05:20:07Z"), "2026-12-01T05:20:07.000000Z");
        assert!(parse_moment("--until", "yesterday").unwrap_err().to_string().starts_with("--until \"yesterday\""));
    }
}
