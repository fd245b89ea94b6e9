//! Finding the last record at the end of a raw log: the UDF names it in each epoch's start
//! record, and `dbaudit status` shows it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::record::{parse, Record};

/// How far back from the end the search goes before it gives up.
const TAIL_LIMIT: u64 = 16 << 20;

/// The last whole record in the log at `path`, reading backwards from the end in growing
/// windows (64 KiB up to 16 MiB). A half-written last line is not a record, and neither is
/// a first line cut by the window; lines that are not records are passed over.
pub fn last_record(path: &Path) -> io::Result<Option<Record>> {
    last_record_of(&File::open(path)?)
}

/// [`last_record`] of a file already open: the one that was checked, whatever its name holds now.
pub fn last_record_of(mut file: &File) -> io::Result<Option<Record>> {
    let len = file.metadata()?.len();
    let mut window: u64 = 64 << 10;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0; (len - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        let complete = match buf.iter().rposition(|&b| b == b'\n') {
            Some(end) => &buf[..end],
            None => &[][..],
        };
        let mut lines = complete.split(|&b| b == b'\n').rev().peekable();
        while let Some(line) = lines.next() {
            let whole = start == 0 || lines.peek().is_some();
            if !whole {
                break;
            }
            if let Ok(record) = parse(line) {
                return Ok(Some(record));
            }
        }
        if start == 0 || window >= TAIL_LIMIT {
            return Ok(None);
        }
        window *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Chain, Epoch, EventRef, Key, Timestamp};

    #[test]
    fn a_torn_last_line_and_junk_are_passed_over() {
        let mut chain = Chain::new(Key::from_bytes([4; 32]), Epoch(1));
        let mut log = Vec::new();
        let start = chain.append_next(&mut log, Timestamp(1), &EventRef::Start { prev: None });
        chain.advance(start);
        log.extend_from_slice(b"not a record\n{\"v\":1,\"epo");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &log).unwrap();
        let found = last_record(file.path()).unwrap().map(|r| r.point());
        assert_eq!(found, Some(start));
    }
}
