//! Where the normaliser stands: which file it reads, how far, the chain's tip, and how long
//! the output was when that was true. Written tmp → fsync → rename, after the output is
//! flushed, and guarded by a lock on a file beside it so one state has one reader.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dbaudit_record::{ChainPoint, Epoch, Mac};

use crate::input::FileId;

/// Everything needed to go on exactly where the last run stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The input file being read, once one was.
    pub input: Option<FileId>,
    /// Byte offset in it after the last whole line handled.
    pub offset: u64,
    /// The last record the verifier accepted.
    pub tip: Option<ChainPoint>,
    /// The last record accepted before the input file's first line: what its first record
    /// chains to, and where a re-check of the file starts.
    pub entry: Option<ChainPoint>,
    /// The records of the input file an `op=tamper` line already named (at most
    /// [`REPORTED_KEPT`]), so that a re-check after a restart does not name them again.
    pub reported: Vec<(Epoch, u64)>,
    /// The output file's device and inode and its length once the lines up to `offset` were in it.
    pub output: Option<(u64, u64, u64)>,
    /// Until a record is accepted (no tip): the files beside the input when the normaliser
    /// began, never its to read (see [`crate::input::find`]).
    pub older: Option<Vec<FileId>>,
}

/// How many reported records a checkpoint keeps: a file altered in more places than this
/// was reported as altered already; after a restart the rest are named once more.
pub const REPORTED_KEPT: usize = 64;

const HEADER: &str = "# dbaudit-normalise checkpoint: where the audit log was read up to. Do not edit.";

impl Checkpoint {
    /// The text stored in the state file.
    pub fn to_text(&self) -> String {
        let input = self.input.as_ref().map_or("none".to_owned(), file_id_text);
        let point =
            |p: &Option<ChainPoint>| p.map_or("none".to_owned(), |p| format!("{}:{}:{}", p.epoch, p.seq, p.mac));
        let (tip, entry) = (point(&self.tip), point(&self.entry));
        let output = match self.output {
            Some((dev, ino, len)) => format!("{dev}:{ino}:{len}"),
            None => "none".to_owned(),
        };
        let mut text = format!(
            "{HEADER}\nversion=1\ninput={input}\noffset={}\ntip={tip}\noutput={output}\nentry={entry}\n",
            self.offset
        );
        if !self.reported.is_empty() {
            let records: Vec<String> = self.reported.iter().map(|(epoch, seq)| format!("{epoch}:{seq}")).collect();
            text.push_str(&format!("reported={}\n", records.join(",")));
        }
        if let Some(older) = &self.older {
            let ids: Vec<String> = older.iter().map(file_id_text).collect();
            text.push_str(&format!("older={}\n", ids.join(",")));
        }
        text
    }

    /// Reads the stored text back; None when it is not a checkpoint of this version.
    pub fn from_text(text: &str) -> Option<Checkpoint> {
        let mut cp = Checkpoint::default();
        let mut version = false;
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=')?;
            let parts: Vec<&str> = value.split(':').collect();
            match (key, value) {
                ("version", "1") => version = true,
                ("offset", v) => cp.offset = v.parse().ok()?,
                ("older", v) => {
                    cp.older = Some(v.split(',').filter(|id| !id.is_empty()).map(file_id).collect::<Option<_>>()?)
                }
                (_, "none") => {}
                ("input", v) => cp.input = Some(file_id(v)?),
                ("tip", v) => cp.tip = Some(chain_point(v)?),
                ("entry", v) => cp.entry = Some(chain_point(v)?),
                ("reported", v) => {
                    cp.reported = v
                        .split(',')
                        .map(|record| {
                            let (epoch, seq) = record.split_once(':')?;
                            Some((Epoch::from_hex(epoch.as_bytes())?, seq.parse().ok()?))
                        })
                        .collect::<Option<_>>()?
                }
                ("output", _) if parts.len() == 3 => {
                    cp.output = Some((parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?))
                }
                _ => return None,
            }
        }
        version.then_some(cp)
    }
}

fn chain_point(text: &str) -> Option<ChainPoint> {
    let mut parts = text.split(':');
    let point = ChainPoint {
        epoch: Epoch::from_hex(parts.next()?.as_bytes())?,
        seq: parts.next()?.parse().ok()?,
        mac: Mac::from_hex(parts.next()?.as_bytes())?,
    };
    parts.next().is_none().then_some(point)
}

/// `dev:ino:head_len:head` as the state file holds a file's identity.
fn file_id_text(id: &FileId) -> String {
    format!("{}:{}:{}:{}", id.dev, id.ino, id.head_len, dbaudit_record::hex::encode(&id.head))
}

fn file_id(text: &str) -> Option<FileId> {
    let mut parts = text.split(':');
    let id = FileId {
        dev: parts.next()?.parse().ok()?,
        ino: parts.next()?.parse().ok()?,
        head_len: parts.next()?.parse().ok()?,
        head: dbaudit_record::hex::decode_array(parts.next()?.as_bytes())?,
    };
    parts.next().is_none().then_some(id)
}

/// The state file, held exclusively for as long as this value lives.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    tmp: PathBuf,
    // The lock is on a file of its own: the state file is replaced by rename, and a lock on
    // a replaced inode would let a second instance lock the new one.
    _lock: File,
}

/// Why the state file could not be used.
#[derive(Debug)]
pub enum StateError {
    /// Another process holds the lock.
    Locked(PathBuf),
    /// The file holds something that is not a checkpoint.
    Corrupt(PathBuf),
    /// It could not be read, written or locked.
    Io(PathBuf, io::Error),
}

impl StateFile {
    /// Locks `path` (through `path.lock`) without waiting.
    pub fn lock(path: &Path) -> Result<StateFile, StateError> {
        let lock_path = sibling(path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StateError::Io(lock_path.clone(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::Locked(lock_path)),
            Err(TryLockError::Error(e)) => return Err(StateError::Io(lock_path, e)),
        }
        Ok(StateFile { path: path.to_owned(), tmp: sibling(path, ".tmp"), _lock: lock })
    }

    /// The stored checkpoint; the default (start of the input) when there is none yet.
    pub fn load(&self) -> Result<Checkpoint, StateError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Checkpoint::from_text(&text).ok_or_else(|| StateError::Corrupt(self.path.clone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(StateError::Io(self.path.clone(), e)),
        }
    }

    /// Whether a checkpoint was ever stored.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Replaces the stored checkpoint atomically and durably.
    pub fn store(&self, cp: &Checkpoint) -> io::Result<()> {
        let mut tmp = File::create(&self.tmp)?;
        tmp.write_all(cp.to_text().as_bytes())?;
        tmp.sync_all()?;
        drop(tmp);
        fs::rename(&self.tmp, &self.path)?;
        // The rename itself is made durable by syncing the directory.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_text_round_trips() {
        let cp = Checkpoint {
            input: Some(FileId { dev: 2049, ino: 77, head_len: 250, head: [9; 16] }),
            offset: 123_456,
            tip: Some(ChainPoint { epoch: Epoch(0x9f2c41d07b3e5a18), seq: 42, mac: Mac([0xab; 16]) }),
            output: Some((2049, 78, 9999)),
            older: None,
            entry: Some(ChainPoint { epoch: Epoch(7), seq: 0, mac: Mac([0xcd; 16]) }),
            reported: vec![(Epoch(0x9f2c41d07b3e5a18), 40), (Epoch(7), 3)],
        };
        assert_eq!(Checkpoint::from_text(&cp.to_text()), Some(cp.clone()));
        let two =
            vec![FileId { dev: 2049, ino: 5, head_len: 0, head: [0; 16] }, FileId { head_len: 9, ..cp.input.unwrap() }];
        for older in [vec![], two] {
            let cp = Checkpoint { tip: None, older: Some(older), ..cp.clone() };
            assert_eq!(Checkpoint::from_text(&cp.to_text()), Some(cp));
        }
        assert_eq!(Checkpoint::from_text(&Checkpoint::default().to_text()), Some(Checkpoint::default()));
        assert_eq!(Checkpoint::from_text("offset=1\n"), None);
    }
}
