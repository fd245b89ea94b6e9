//! The column lists of protocol 1 (`pk_cols`, `secret_cols`; see [`crate::protocol`]): names
//! joined by commas, with `\,` and `\\` standing for a comma and a backslash inside a name,
//! since a column may be called `a,b`. Triggers made by earlier builds pass them; the UDF
//! and `dbaudit` still read them. Protocol 2's header encodes names without backslashes.

use std::borrow::Cow;

/// Joins column names into one list.
pub fn join<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|n| n.as_ref().replace('\\', "\\\\").replace(',', "\\,")).collect::<Vec<_>>().join(",")
}

/// Splits a list back into names; empty names are dropped. A name without escapes is
/// borrowed from the list: the UDF splits two lists on every row.
pub fn split(list: &[u8]) -> Vec<Cow<'_, [u8]>> {
    let mut names = Vec::with_capacity(list.iter().filter(|&&b| b == b',').count() + 1);
    let mut start = 0;
    let mut i = 0;
    let mut escaped = false;
    while i <= list.len() {
        match list.get(i) {
            Some(b'\\') => {
                escaped = true;
                // A lone trailing backslash stands for itself, as the UDF always read it.
                i = (i + 2).min(list.len());
                continue;
            }
            Some(b',') | None => {
                let raw = &list[start..i.min(list.len())];
                if !raw.is_empty() {
                    names.push(if escaped { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) });
                }
                start = i + 1;
                escaped = false;
            }
            Some(_) => {}
        }
        i += 1;
    }
    names
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        name.push(if b == b'\\' { bytes.next().copied().unwrap_or(b'\\') } else { b });
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_unescaped_commas() {
        let names: Vec<Vec<u8>> = split(br"a,b\,c,,d\\").into_iter().map(Cow::into_owned).collect();
        assert_eq!(names, vec![b"a".to_vec(), b"b,c".to_vec(), b"d\\".to_vec()]);
        assert!(split(b"").is_empty());
        assert_eq!(split(br"trailing\"), vec![Cow::Owned::<[u8]>(b"trailing\\".to_vec())]);
    }

    #[test]
    fn join_and_split_are_inverse() {
        let names = ["a,b", "c\\", "d", "é,\\,"];
        let split: Vec<Vec<u8>> = split(join(&names).as_bytes()).into_iter().map(Cow::into_owned).collect();
        assert_eq!(split, names.iter().map(|n| n.as_bytes().to_vec()).collect::<Vec<_>>());
    }
}
