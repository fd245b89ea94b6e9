//! The column lists a trigger passes to `dbaudit_log` (`pk_cols`, `secret_cols`): names
//! joined by commas, with `\,` and `\\` standing for a comma and a backslash inside a name,
//! since a column may be called `a,b`. Written by `dbaudit watch`, read by the UDF.

/// Joins column names into one list.
pub fn join<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|n| n.as_ref().replace('\\', "\\\\").replace(',', "\\,")).collect::<Vec<_>>().join(",")
}

/// Splits a list back into names; empty names are dropped.
pub fn split(list: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut current = Vec::new();
    let mut bytes = list.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => current.push(bytes.next().copied().unwrap_or(b'\\')),
            b',' => names.push(std::mem::take(&mut current)),
            _ => current.push(b),
        }
    }
    names.push(current);
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_unescaped_commas() {
        assert_eq!(split(br"a,b\,c,,d\\"), vec![b"a".to_vec(), b"b,c".to_vec(), b"d\\".to_vec()]);
    }

    #[test]
    fn join_and_split_are_inverse() {
        let names = ["a,b", "c\\", "d", "é,\\,"];
        let split: Vec<Vec<u8>> = split(join(&names).as_bytes());
        assert_eq!(split, names.iter().map(|n| n.as_bytes().to_vec()).collect::<Vec<_>>());
    }
}
