//! The process-wide state behind `dbaudit_log`: configuration, key, chain and log, set up
//! on the first call (not in init, which runs once per row inside triggers).
//!
//! Many connections call at once. What a record says (the protocol, the token check,
//! escaping, secret masks) each caller builds on its own, with the key and token
//! generations it reads from [`Keys`]; only what orders the records (the sequence number,
//! the chain's mac, the write) takes turns under the [`Writer`] lock. Should the keys have
//! changed in between (a configuration change), the record is built again under the lock,
//! so every record is sealed with the key and generations of the chain it joins.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use dbaudit_record::protocol;
use dbaudit_record::{json, Chain, ChainPoint, EncodedEvent, Epoch, EventRef, Key, LostRef, RowRef, Timestamp};

use crate::call::{self, Arg, Call, Site};
use crate::sink::Sink;
use dbaudit_udfconfig::{Destination, UdfConfig};

/// How long a failed set-up is remembered before it is tried again: a broken
/// configuration must not cost a file read on every row of a busy table.
const RETRY_SETUP: Duration = Duration::from_secs(1);

/// What a call to `dbaudit_log` came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record was written; its sequence number.
    Written(u64),
    /// The token was wrong: a `forged` record was written and the call returns NULL.
    Forged,
    /// The token was right but the arguments break the protocol: nothing was written.
    Refused(String),
    /// The record could not be written (configuration, key, file).
    Failed(String),
}

/// What callers need to build a record before they take their turn: the key and the token
/// generations of the chain being written. Replaced (never changed) when they change.
struct Keys {
    /// Tells these keys from the ones before and after them.
    version: u64,
    key: Key,
    /// The token generations a call may carry (the current one, the next during a rotation).
    generations: Vec<u32>,
    /// Tables whose token was checked lately: their db, table and token. A trigger fires for
    /// every row, so the same few are asked again and again, and a byte comparison is far
    /// cheaper than the keyed hash.
    checked: RwLock<Vec<Checked>>,
    /// Protocol-2 headers whose token was found good, with what they say: a trigger passes
    /// the same header on every row, so it is read once. Filed under [`site_key`], so that
    /// finding one costs the same however many tables are watched.
    sites: RwLock<HashMap<u64, Vec<KnownSite>, BuildHasherDefault<Identity>>>,
}

/// A header whose token was found good, and what it says.
type KnownSite = (Vec<u8>, Arc<Site>);

/// A table whose token was found good: its db, its table and the token.
type Checked = (Vec<u8>, Vec<u8>, [u8; 32]);

/// How many tables' tokens are remembered as checked.
const CHECKED_TABLES: usize = 16;

/// How many headers are remembered (three row triggers a table and, rarely, their drift
/// calls); when there are more, they are all forgotten and read again as they come.
const KNOWN_SITES: usize = 1024;

/// What a header is filed under: a hash of all of it but the token, when the token has the
/// length of a good one (otherwise the header can match none, and all of it is hashed).
/// Nothing secret goes in, so how long finding it takes tells nothing of the token; the
/// header is then compared whole, in constant time. One multiply a word: this runs on every row.
fn site_key(header: &[u8]) -> u64 {
    const TOKEN: usize = 32;
    let start = protocol::HEADER_TAG.len() + 1;
    let token_end = if header.get(start + TOKEN) == Some(&b',') { start + TOKEN } else { start };
    let mut hash = header.len() as u64;
    for part in [&header[..start], &header[token_end..]] {
        let mut words = part.chunks_exact(8);
        for word in &mut words {
            hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word.try_into().expect("eight bytes")))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        for &b in words.remainder() {
            hash = (hash.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    hash
}

/// The hasher of a map whose keys are hashes already.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Keys {
    fn new(version: u64, key: Key, generations: Vec<u32>) -> Keys {
        Keys { version, key, generations, checked: RwLock::new(Vec::new()), sites: RwLock::new(HashMap::default()) }
    }

    /// Whether `token` is the token of `db`.`table` in a generation the UDF accepts.
    fn token_ok(&self, token: &[u8], db: &[u8], table: &[u8]) -> bool {
        // During a rotation a table has two good tokens, so both may be here.
        let known = |(d, t, good): &Checked| d == db && t == table && call::same_secret(token, good);
        if read(&self.checked).iter().any(known) {
            return true;
        }
        let Some(good) = self
            .generations
            .iter()
            .map(|&g| self.key.trigger_token_hex(g, db, table))
            .find(|good| call::same_secret(token, good))
        else {
            return false;
        };
        let mut checked = self.checked.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !checked.iter().any(known) {
            if checked.len() == CHECKED_TABLES {
                checked.remove(0);
            }
            checked.push((db.to_vec(), table.to_vec(), good));
        }
        true
    }

    /// Reads the call and encodes its record, or says why the call breaks the protocol.
    fn encode(&self, args: &[Arg]) -> Encoded {
        let first = args.first().and_then(|a| a.value).unwrap_or_default();
        let event = if protocol::is_header(first) { self.encode_v2(args, first) } else { self.encode_v1(args) };
        Encoded { version: self.version, event }
    }

    fn encode_v1(&self, args: &[Arg]) -> Result<(EncodedEvent, bool), String> {
        let at = |i: usize| args.get(i).and_then(|a| a.value);
        let good = match (at(protocol::TOKEN), at(protocol::DB), at(protocol::TABLE)) {
            (Some(token), Some(db), Some(table)) => self.token_ok(token, db, table),
            _ => false,
        };
        if !good {
            return Ok((EncodedEvent::new(&self.key, &EventRef::Forged(call::claimed(args, None))), true));
        }
        let mut site = None;
        Ok((self.event(call::parse_v1(args, &mut site)?), false))
    }

    fn encode_v2(&self, args: &[Arg], header: &[u8]) -> Result<(EncodedEvent, bool), String> {
        let hash = site_key(header);
        if let Some(site) = self.known_site(hash, header) {
            if let Some(event) = site.encode_known(&self.key, args) {
                return Ok((event, false));
            }
            let event = self.event(call::parse_v2(&site, args)?);
            // The header came with columns named otherwise (its table altered, its triggers
            // made again): the calls to come are read as this one was.
            if let Some(again) = site.learn_again(args) {
                self.replace_site(hash, &site, again);
            }
            return Ok((event, false));
        }
        let read = protocol::read_header(header);
        let Some(fields) = read.as_ref().filter(|h| self.token_ok(&h.token, &h.db, &h.table)) else {
            return Ok((EncodedEvent::new(&self.key, &EventRef::Forged(call::claimed(args, read.as_ref()))), true));
        };
        let site = Arc::new(Site::of_header(fields, args)?);
        let mut sites = self.sites.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if sites.len() >= KNOWN_SITES {
            sites.clear();
        }
        // Two callers may have read the same new header at once: it is kept once.
        let known = sites.entry(hash).or_default();
        if !known.iter().any(|(kept, _)| kept == header) {
            known.push((header.to_vec(), Arc::clone(&site)));
        }
        drop(sites);
        Ok((self.event(call::parse_v2(&site, args)?), false))
    }

    /// Files `again` in place of `site`, if `site` is still there: a caller that replaced it
    /// first wins.
    fn replace_site(&self, hash: u64, site: &Arc<Site>, again: Site) {
        let mut sites = self.sites.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = sites.get_mut(&hash).and_then(|k| k.iter_mut().find(|(_, s)| Arc::ptr_eq(s, site))) {
            kept.1 = Arc::new(again);
        }
    }

    /// What a header read before says, if its token was good. Headers are compared in
    /// constant time: they hold the token.
    fn known_site(&self, hash: u64, header: &[u8]) -> Option<Arc<Site>> {
        let sites = read(&self.sites);
        let found = sites.get(&hash)?.iter().find(|(known, _)| call::same_secret(header, known));
        found.map(|(_, site)| Arc::clone(site))
    }

    /// The record of a call read.
    fn event(&self, call: Call) -> EncodedEvent {
        let encode = |event: &EventRef| EncodedEvent::new(&self.key, event);
        match call {
            Call::Row(row) => encode(&EventRef::Row(RowRef {
                db: row.db,
                table: row.table,
                op: row.op,
                user: row.user,
                conn: row.conn,
                pk: &row.pk,
                changed: row.changed.as_deref(),
                old: row.old.as_deref(),
                new: row.new.as_deref(),
            })),
            Call::Drift(drift) => encode(&EventRef::Drift(drift)),
        }
    }
}

/// A call's record, built with the keys of `version`: the event and whether it is a
/// forgery, or why the call was refused.
struct Encoded {
    version: u64,
    event: Result<(EncodedEvent, bool), String>,
}

/// The chain being written and where it goes.
struct Ready {
    chain: Chain,
    keys: Arc<Keys>,
    sink: Sink,
    key_file: PathBuf,
    /// The configuration file as it was read, to notice a change (a token rotation).
    config: Option<FileStamp>,
    /// When the configuration file is next looked at.
    config_check_at: Instant,
}

/// What tells one version of a file from another without reading it.
type FileStamp = (u64, u64, i64, i64, u64);

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
}

/// How often the configuration file is looked at for a change.
const CONFIG_CHECK: Duration = Duration::from_secs(1);

/// Records that could not be written since the UDF was loaded: what `dbaudit_health()`
/// shows, and what the next record that can be written reports first (`op:"lost"`).
#[derive(Debug)]
struct Losses {
    /// Every record not written since load.
    total: u64,
    /// Those not yet reported in the log by a `lost` record.
    unreported: u64,
    /// When the first unreported one was refused.
    since: Option<Timestamp>,
    /// The last error, and when.
    last_error: Option<(Timestamp, String)>,
    /// Whether the last call failed.
    failing: bool,
}

/// Everything that must be done in turn: set-up, the chain, the log, the count of losses.
struct Writer {
    ready: Option<Ready>,
    failed: Option<(Instant, String)>,
    line: Vec<u8>,
    losses: Losses,
    called: bool,
    /// The version of the last keys made.
    versions: u64,
}

/// The audit log writer of one mysqld process.
pub struct Auditor {
    config_path: Option<PathBuf>,
    /// The keys of the chain being written, for callers to build records with before their
    /// turn; None when there is no chain (not set up yet, or being set up again).
    keys: RwLock<Option<Arc<Keys>>>,
    writer: Mutex<Writer>,
}

impl Default for Auditor {
    fn default() -> Self {
        Auditor::new()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Auditor {
    /// An auditor that reads `DBAUDIT_UDF_CONFIG` or the default configuration on first use.
    pub const fn new() -> Auditor {
        Auditor {
            config_path: None,
            keys: RwLock::new(None),
            writer: Mutex::new(Writer {
                ready: None,
                failed: None,
                line: Vec::new(),
                losses: Losses { total: 0, unreported: 0, since: None, last_error: None, failing: false },
                called: false,
                versions: 0,
            }),
        }
    }

    /// An auditor reading the given configuration file.
    pub fn with_config(path: PathBuf) -> Auditor {
        Auditor { config_path: Some(path), ..Auditor::new() }
    }

    /// Handles one call: checks the token and the protocol, writes one record. A call whose
    /// record cannot be written is counted as lost, and the next record written is preceded
    /// by one that says how many were lost, so the gap is in the chain for all to see.
    pub fn log(&self, args: &[Arg]) -> Outcome {
        let encoded = read(&self.keys).as_ref().map(|keys| keys.encode(args));
        let mut writer = self.lock_writer();
        writer.called = true;
        let outcome = self.write(&mut writer, args, encoded);
        match &outcome {
            Outcome::Refused(message) | Outcome::Failed(message) => {
                let now = Timestamp::now();
                let losses = &mut writer.losses;
                losses.total += 1;
                losses.unreported += 1;
                losses.since.get_or_insert(now);
                losses.last_error = Some((now, message.clone()));
                losses.failing = true;
            }
            Outcome::Written(_) | Outcome::Forged => writer.losses.failing = false,
        }
        outcome
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the keys callers build records with those of `ready` (or none).
    fn publish(&self, keys: Option<Arc<Keys>>) {
        *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
    }

    /// The writer's turn: set up if need be, then number, seal and write the record that
    /// `encoded` holds, or build it now if it was built with other keys (or not at all).
    fn write(&self, writer: &mut Writer, args: &[Arg], encoded: Option<Encoded>) -> Outcome {
        // One clock read for both the configuration's and the log's checks.
        let clock = Instant::now();
        self.follow_config(writer, clock);
        if let Err(message) = self.set_up(writer) {
            return Outcome::Failed(message);
        }
        let Some(ready) = writer.ready.as_mut() else {
            return Outcome::Failed("not set up".into());
        };
        let encoded = match encoded {
            Some(encoded) if encoded.version == ready.keys.version => encoded,
            _ => ready.keys.encode(args),
        };
        let (event, forged) = match encoded.event {
            Ok(event) => event,
            Err(message) => return Outcome::Refused(message),
        };
        let now = Timestamp::now();
        let losses = &mut writer.losses;
        if losses.unreported > 0 {
            let (at, error) = losses.last_error.as_ref().map_or((now, ""), |(at, e)| (*at, e.as_str()));
            let since = losses.since.unwrap_or(at);
            let lost = EventRef::Lost(LostRef { count: losses.unreported, since, error: error.as_bytes() });
            if let Err(message) =
                append(ready, &mut writer.line, clock, |chain, line| (chain.append_next(line, now, &lost), 0))
            {
                return Outcome::Failed(message);
            }
            losses.unreported = 0;
            losses.since = None;
        }
        let sealed =
            append(ready, &mut writer.line, clock, |chain, line| chain.append_encoded_after_prev(line, now, &event));
        match sealed {
            Err(message) => Outcome::Failed(message),
            Ok(_) if forged => Outcome::Forged,
            Ok(seq) => Outcome::Written(seq),
        }
    }

    /// What `dbaudit_health()` returns: one JSON object on the state of this process's
    /// audit stream. `state` is `idle` before the first call, `failing` while records are
    /// being lost, `ok` otherwise; `lost` counts every record not written since load.
    pub fn health(&self) -> Vec<u8> {
        let mut writer = self.lock_writer();
        // A caller waiting for a token rotation to be taken up gets the configuration as it is.
        self.follow_config(&mut writer, Instant::now());
        let state = match (writer.called, writer.losses.failing) {
            (false, _) => "idle",
            (true, true) => "failing",
            (true, false) => "ok",
        };
        let mut out = format!("{{\"version\":\"{}\",\"state\":\"{state}\",\"epoch\":", crate::VERSION).into_bytes();
        match writer.ready.as_ref().and_then(|r| r.chain.tip()) {
            Some(tip) => out.extend_from_slice(format!("\"{}\",\"seq\":{}", tip.epoch, tip.seq).as_bytes()),
            None => out.extend_from_slice(b"null,\"seq\":null"),
        }
        let generations =
            writer.ready.as_ref().map(|r| r.keys.generations.iter().map(u32::to_string).collect::<Vec<_>>());
        match generations {
            Some(g) => out.extend_from_slice(format!(",\"token_generations\":[{}]", g.join(",")).as_bytes()),
            None => out.extend_from_slice(b",\"token_generations\":null"),
        }
        let losses = &writer.losses;
        out.extend_from_slice(
            format!(",\"lost\":{},\"unreported\":{},\"last_error\":", losses.total, losses.unreported).as_bytes(),
        );
        match &losses.last_error {
            Some((at, message)) => {
                json::write_str(&mut out, message);
                out.extend_from_slice(b",\"last_error_at\":\"");
                at.write(&mut out);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null,\"last_error_at\":null"),
        }
        out.push(b'}');
        out
    }

    fn config_path(&self) -> PathBuf {
        self.config_path.clone().unwrap_or_else(UdfConfig::path)
    }

    /// Takes up a changed configuration, at most once a second: new token generations at
    /// once (`dbaudit watch --rotate-token` waits for that), anything else by setting up
    /// again, which starts a new epoch naming the last one.
    fn follow_config(&self, writer: &mut Writer, clock: Instant) {
        let Some(ready) = writer.ready.as_mut() else { return };
        if clock < ready.config_check_at {
            return;
        }
        ready.config_check_at = clock + CONFIG_CHECK;
        let path = self.config_path();
        let now = stamp(&path);
        if now == ready.config {
            return;
        }
        match UdfConfig::read(&path) {
            Ok(config) if ready.sink.destination() == config.destination && ready.key_file == config.key_file => {
                writer.versions += 1;
                ready.keys = Arc::new(Keys::new(
                    writer.versions,
                    ready.keys.key.clone(),
                    config.accepted_generations().collect(),
                ));
                ready.config = now;
                self.publish(Some(Arc::clone(&ready.keys)));
            }
            _ => {
                writer.ready = None;
                self.publish(None);
            }
        }
    }

    fn set_up(&self, writer: &mut Writer) -> Result<(), String> {
        if writer.ready.is_some() {
            return Ok(());
        }
        if let Some((at, message)) = &writer.failed {
            if at.elapsed() < RETRY_SETUP {
                return Err(message.clone());
            }
        }
        match self.open(writer) {
            Ok(ready) => {
                self.publish(Some(Arc::clone(&ready.keys)));
                writer.ready = Some(ready);
                writer.failed = None;
                Ok(())
            }
            Err(message) => {
                writer.failed = Some((Instant::now(), message.clone()));
                Err(message)
            }
        }
    }

    fn open(&self, writer: &mut Writer) -> Result<Ready, String> {
        let path = self.config_path();
        let config_stamp = stamp(&path);
        let config = UdfConfig::read(&path)?;
        for warning in config.warnings() {
            crate::report::error(&warning);
        }
        let key = Key::read_file(&config.key_file).map_err(|e| e.to_string())?;
        let sink = Sink::open(&config.destination).map_err(|e| match &config.destination {
            Destination::File(log) => format!(
                "cannot open the audit log {}: {e}; check log = in [dbaudit-udf] of {}",
                log.display(),
                path.display()
            ),
            Destination::Stderr => format!("cannot use stderr: {e}"),
        })?;
        let epoch = Epoch::generate().map_err(|e| format!("cannot read /dev/urandom for a new epoch: {e}"))?;
        writer.versions += 1;
        let keys = Keys::new(writer.versions, key.clone(), config.accepted_generations().collect());
        let prev = sink.last_record();
        let mut ready = Ready {
            chain: Chain::new(key, epoch),
            keys: Arc::new(keys),
            sink,
            key_file: config.key_file.clone(),
            config: config_stamp,
            config_check_at: Instant::now() + CONFIG_CHECK,
        };
        let start = EventRef::Start { prev };
        append(&mut ready, &mut writer.line, Instant::now(), |chain, line| {
            (chain.append_next(line, Timestamp::now(), &start), 0)
        })?;
        Ok(ready)
    }
}

/// Seals the chain's next record into `line` with `seal`, which says where in `line` the
/// record begins, writes it (`clock` being now), and moves the chain on; returns its seq.
/// On error the chain stays where it was, so the next record takes the seq.
fn append(
    ready: &mut Ready,
    line: &mut Vec<u8>,
    clock: Instant,
    seal: impl FnOnce(&Chain, &mut Vec<u8>) -> (ChainPoint, usize),
) -> Result<u64, String> {
    line.clear();
    let (point, at) = seal(&ready.chain, line);
    ready.sink.write_line(&line[at..], clock).map_err(|e| format!("cannot write the audit log: {e}"))?;
    ready.chain.advance(point);
    Ok(point.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::LEARN_AGAIN_AFTER;
    use dbaudit_record::protocol::Side;
    use dbaudit_record::{Event, Op, Verifier};

    struct Fixture {
        dir: tempfile::TempDir,
        key: Key,
    }

    impl Fixture {
        fn new(name: &str) -> Fixture {
            let dir = tempfile::Builder::new().prefix(&format!("dbaudit-udf-auditor-{name}-")).tempdir().unwrap();
            let key = Key::from_bytes([9; 32]);
            std::fs::write(dir.path().join("key"), key.to_hex() + "\n").unwrap();
            let config = format!("[dbaudit-udf]\nlog = {0}/audit.log\nkey_file = {0}/key\n", dir.path().display());
            std::fs::write(dir.path().join("dbaudit.cnf"), config).unwrap();
            Fixture { dir, key }
        }

        fn auditor(&self) -> Auditor {
            Auditor::with_config(self.dir.path().join("dbaudit.cnf"))
        }

        fn lines(&self) -> Vec<Vec<u8>> {
            let text = std::fs::read(self.dir.path().join("audit.log")).unwrap();
            text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
        }
    }

    fn insert_args<'a>(token: &'a str, values: &'a [(&'a str, Option<&'a [u8]>)]) -> Vec<Arg<'a>> {
        let mut args: Vec<Arg> = [token, "acme", "users", "insert", "app@localhost", "5", "id", "password"]
            .into_iter()
            .map(|v| Arg::new(Some(v.as_bytes()), b"arg"))
            .collect();
        args.extend(values.iter().map(|(name, value)| Arg::new(*value, name.as_bytes())));
        args
    }

    #[test]
    fn first_call_writes_a_start_record_then_the_row() {
        let fx = Fixture::new("start");
        let token = fx.key.trigger_token(0, b"acme", b"users");
        let values = [("new.id", Some(&b"7"[..])), ("new.password", Some(&b"hunter2"[..]))];
        assert_eq!(fx.auditor().log(&insert_args(&token, &values)), Outcome::Written(1));
        let lines = fx.lines();
        assert_eq!(lines.len(), 2);
        let mut verifier = Verifier::new(fx.key.clone());
        for line in &lines {
            assert_eq!(verifier.check(line).unwrap().tamper, None);
        }
        assert!(!String::from_utf8_lossy(&lines[1]).contains("hunter2"));
    }

    #[test]
    fn a_header_is_filed_without_its_token() {
        let none: [&str; 0] = [];
        let header = |token: &str, table: &str| {
            protocol::header(token, "acme", table, dbaudit_record::Op::Insert, &["id"], &none)
        };
        let good = header(&"a".repeat(32), "users");
        assert_eq!(site_key(good.as_bytes()), site_key(header(&"b".repeat(32), "users").as_bytes()));
        assert_ne!(site_key(good.as_bytes()), site_key(header(&"a".repeat(32), "userz").as_bytes()));
        assert_ne!(site_key(good.as_bytes()), site_key(header(&"a".repeat(31), "users").as_bytes()));
        assert_ne!(site_key(b"dbaudit/2,tokenonly"), site_key(b"dbaudit/2,othertoke"));
    }

    /// More tables than headers are kept: every call is still read with its own header,
    /// and a header whose token is one character off is a forgery, never the good one's.
    #[test]
    fn headers_of_many_tables_each_name_their_own() {
        let fx = Fixture::new("headers");
        let auditor = fx.auditor();
        let tables: Vec<String> = (0..KNOWN_SITES + 100).map(|i| format!("t{i}")).collect();
        let none: [&str; 0] = [];
        for round in 0..2 {
            for table in &tables {
                let token = fx.key.trigger_token(0, b"acme", table.as_bytes());
                let header = protocol::header(&token, "acme", table, dbaudit_record::Op::Insert, &["id"], &none);
                let args = [
                    Arg::new(Some(header.as_bytes()), b"h"),
                    Arg::new(Some(b"app@localhost"), b"u"),
                    Arg::new(Some(b"5"), b"c"),
                    Arg::new(Some(table.as_bytes()), b"new.id"),
                ];
                assert!(matches!(auditor.log(&args), Outcome::Written(_)), "{table}, round {round}");
                let mut wrong = header.clone().into_bytes();
                let at = protocol::HEADER_TAG.len() + 1;
                wrong[at] = if wrong[at] == b'0' { b'1' } else { b'0' };
                let forged = [Arg::new(Some(&wrong), b"h"), args[1], args[2], args[3]];
                assert_eq!(auditor.log(&forged), Outcome::Forged, "{table}");
            }
        }
        let lines = fx.lines();
        let mut verifier = Verifier::new(fx.key.clone());
        let events: Vec<Event> = lines.iter().map(|l| verifier.check(l).unwrap().record.event).collect();
        assert_eq!(events.len(), 1 + 4 * tables.len());
        for (i, pair) in events[1..].chunks(2).enumerate() {
            let table = &tables[i % tables.len()];
            let Event::Row(row) = &pair[0] else { panic!("{:?}", pair[0]) };
            assert_eq!(row.table, dbaudit_record::Value::Text(table.clone()));
            assert_eq!(row.new.as_ref().unwrap()[0].value, dbaudit_record::Value::Text(table.clone()));
            assert!(matches!(&pair[1], Event::Forged(c) if c.table == dbaudit_record::Value::Text(table.clone())));
        }
    }

    /// The line `keys` makes of `args`, sealed at a fixed place and time (or the refusal).
    fn line_of(keys: &Keys, args: &[Arg]) -> Result<Vec<u8>, String> {
        let (event, forged) = keys.encode(args).event?;
        assert!(!forged);
        let chain = Chain::new(keys.key.clone(), Epoch(7));
        let mut line = Vec::new();
        chain.append_encoded(&mut line, Timestamp(1), &event);
        Ok(line)
    }

    /// Whether `keys` would make `args`' record from what it kept of an earlier call.
    fn known(keys: &Keys, args: &[Arg]) -> bool {
        let header = args[0].value.unwrap();
        keys.known_site(site_key(header), header).is_some_and(|site| site.encode_known(&keys.key, args).is_some())
    }

    fn header_call<'a>(header: &'a str, user: Option<&'a [u8]>, conn: Option<&'a [u8]>) -> Vec<Arg<'a>> {
        vec![Arg::new(Some(header.as_bytes()), b"h"), Arg::new(user, b"USER()"), Arg::new(conn, b"CONNECTION_ID()")]
    }

    /// A call named as the first one a header came with is made from what was kept of that
    /// call; one named otherwise at any place (reordered, renamed, a column more or less, a
    /// secret column renamed) is read afresh. Either way the record is byte for byte the one
    /// a UDF that never saw the first call makes.
    #[test]
    fn calls_named_as_the_first_make_the_records_a_fresh_reading_makes() {
        let key = Key::from_bytes([5; 32]);
        let keys = |version| Keys::new(version, key.clone(), vec![0]);
        let token = key.trigger_token(0, b"ac\"me", b"us\\ers");
        let long = "é".repeat(700);
        let bad = [b'a', 0xff, b'"', 0xc3];
        let values: Vec<Option<&[u8]>> = vec![
            Some(b"7"),
            Some(b"x\"y\\z"),
            Some(b"hunter2"),
            None,
            Some(b""),
            Some("a\u{2028}b\u{2029}c\nd\te\x01\x7f".as_bytes()),
            Some(&bad),
            Some(long.as_bytes()),
            Some("ünï".as_bytes()),
            Some(b"0123456789abcdef0123"),
            Some(b"0123456789abcdef0123456789abcd"),
            Some(b"0123456789abcdef0123456789abcde"),
            Some(b"a\\b"),
        ];
        // Names and values of every length the record's writer takes apart: short and long,
        // plain and escaped, a name longer than 32 bytes written, more columns than fit its
        // buffer at once.
        let mut columns: Vec<String> =
            ["id", "lo\"gin", "password", "note", "e", "text", "blob", "long", "ünï", "Password"]
                .map(str::to_owned)
                .to_vec();
        columns.push("a_column_whose_name_is_longer_than_thirty_two_bytes".into());
        columns.extend((0..12).map(|i| format!("c{}", "x".repeat(i * 3))));
        let none: [&str; 0] = [];
        let ops = [
            (Op::Update, vec!["id"], vec!["password"]),
            (Op::Insert, vec!["password", "id"], vec!["password"]),
            (Op::Delete, vec!["missing", "ID"], vec!["PASSWORD", "blob"]),
            (Op::Update, vec![], none.to_vec()),
        ];
        for (op, pk, secrets) in ops {
            let header = protocol::header(&token, "ac\"me", "us\\ers", op, &pk, &secrets);
            let sides: Vec<&str> = Side::of(op).iter().map(|s| s.prefix()).collect();
            // Each side's columns named `names`, the values taken from `shift` on (the new side
            // from one further, so that an update changes some).
            let call = |names: &[String], shift: usize| -> Vec<(String, Option<&[u8]>)> {
                let mut call = Vec::new();
                for (s, side) in sides.iter().enumerate() {
                    for (i, name) in names.iter().enumerate() {
                        call.push((format!("{side}{name}"), values[(i + shift + s * (i % 2)) % values.len()]));
                    }
                }
                call
            };
            let first = call(&columns, 0);
            let mut variants = vec![first.clone(), call(&columns, 3)];
            let mut reordered = columns.clone();
            reordered.swap(0, 2);
            variants.push(call(&reordered, 1));
            let mut renamed = columns.clone();
            renamed[1] = "login".into();
            variants.push(call(&renamed, 2));
            let mut secret_renamed = columns.clone();
            secret_renamed[2] = "passwd".into();
            variants.push(call(&secret_renamed, 0));
            let mut secret_case = columns.clone();
            secret_case[2] = "PassWord".into();
            variants.push(call(&secret_case, 0));
            variants.push(call(&columns[..9], 0));
            let mut more = columns.clone();
            more.push("extra".into());
            variants.push(call(&more, 4));
            let mut upper = first.clone();
            upper[0].0 = upper[0].0.to_uppercase();
            variants.push(upper);
            let mut one_fewer = first.clone();
            one_fewer.pop();
            variants.push(one_fewer);
            let mut wrong_side = first.clone();
            wrong_side[0].0 = format!("mid.{}", columns[0]);
            variants.push(wrong_side);

            fn args_of<'a>(header: &'a str, names: &'a [(String, Option<&'a [u8]>)]) -> Vec<Arg<'a>> {
                let mut args = header_call(header, Some(b"app@localhost"), Some(b"17"));
                args.extend(names.iter().map(|(n, v)| Arg::new(*v, n.as_bytes())));
                args
            }
            for (i, variant) in variants.iter().enumerate() {
                let seen = keys(1);
                line_of(&seen, &args_of(&header, &first)).unwrap();
                let args = args_of(&header, variant);
                let fresh = line_of(&keys(2), &args);
                assert_eq!(known(&seen, &args), i < 2, "{op} variant {i}");
                // Read afresh, then (learnt again, when it could be read) from what was kept.
                for round in 0..2 {
                    let again = line_of(&seen, &args);
                    assert_eq!(
                        again.as_ref().map(|l| String::from_utf8_lossy(l).into_owned()),
                        fresh.as_ref().map(|l| String::from_utf8_lossy(l).into_owned()),
                        "{op} variant {i}, round {round}"
                    );
                    assert_eq!(again, fresh, "{op} variant {i}");
                    assert_eq!(known(&seen, &args), fresh.is_ok(), "{op} variant {i}, round {round}");
                }
                for (user, conn) in [
                    (None, Some(&b"17"[..])),
                    (Some(&b"u"[..]), None),
                    (Some(b"u"), Some(b"x1")),
                    (Some(b"u\xff"), Some(b"+18")),
                ] {
                    let mut args = args.clone();
                    (args[1].value, args[2].value) = (user, conn);
                    assert_eq!(line_of(&seen, &args), line_of(&keys(3), &args), "{op} variant {i}, {user:?} {conn:?}");
                }
            }
        }
    }

    /// A header passed with two column lists in turn (old and new bodies of a trigger made
    /// again, for a moment) is learnt again at once, then at most once every
    /// [`LEARN_AGAIN_AFTER`]; the
    /// calls that differ from the last learnt are read afresh, every record the same bytes
    /// throughout. A table altered later, however often, is taken up again.
    #[test]
    fn a_header_passed_with_two_column_lists_is_learnt_again_once_in_a_while() {
        let key = Key::from_bytes([6; 32]);
        let none: [&str; 0] = [];
        let header =
            protocol::header(&key.trigger_token(0, b"acme", b"users"), "acme", "users", Op::Insert, &["id"], &none);
        let call = |names: [&'static str; 2]| {
            let mut args = header_call(&header, Some(b"app@localhost"), Some(b"17"));
            args.extend(names.iter().map(|n| Arg::new(Some(b"v"), n.as_bytes())));
            args
        };
        let (one, two) = (call(["new.id", "new.a"]), call(["new.id", "new.b"]));
        let seen = Keys::new(1, key.clone(), vec![0]);
        let fresh = |args: &[Arg]| line_of(&Keys::new(2, key.clone(), vec![0]), args);
        let turns = |seen: &Keys| {
            let mut learnt = 0;
            for turn in 0..20 {
                let args = if turn % 2 == 0 { &one } else { &two };
                let was_known = known(seen, args);
                assert_eq!(line_of(seen, args), fresh(args), "turn {turn}");
                learnt += usize::from(!was_known && known(seen, args) && turn > 0);
            }
            learnt
        };
        // The first call learns `one`, the first `two` learns `two` at once; then, within
        // the interval, `one` is read afresh every time.
        assert_eq!(turns(&seen), 1);
        assert!(known(&seen, &two) && !known(&seen, &one));
        std::thread::sleep(LEARN_AGAIN_AFTER + Duration::from_millis(20));
        assert_eq!(line_of(&seen, &one), fresh(&one));
        assert!(known(&seen, &one), "learnt again once the interval is over");
        assert_eq!(line_of(&seen, &two), fresh(&two));
        assert!(!known(&seen, &two), "and kept for the interval");
    }

    #[test]
    fn writers_on_many_threads_make_one_contiguous_chain() {
        const THREADS: usize = 4;
        const CALLS: usize = 500;
        let fx = Fixture::new("threads");
        let token = fx.key.trigger_token(0, b"acme", b"users");
        let auditor = fx.auditor();
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let (auditor, token) = (&auditor, &token);
                scope.spawn(move || {
                    for call in 0..CALLS {
                        let id = format!("{thread}-{call}");
                        let values = [("new.id", Some(id.as_bytes()))];
                        assert!(matches!(auditor.log(&insert_args(token, &values)), Outcome::Written(_)));
                    }
                });
            }
        });
        let lines = fx.lines();
        assert_eq!(lines.len(), 1 + THREADS * CALLS, "a start record and one record per call");
        let mut verifier = Verifier::new(fx.key.clone());
        for line in &lines {
            assert_eq!(verifier.check(line).unwrap().tamper, None, "{}", String::from_utf8_lossy(line));
        }
        let mut ids: Vec<_> = lines[1..]
            .iter()
            .map(|line| match dbaudit_record::parse(line).unwrap().event {
                Event::Row(row) => row.pk[0].value.clone(),
                other => panic!("expected a row, got {other:?}"),
            })
            .collect();
        ids.sort_by(|a, b| a.as_bytes().cmp(&b.as_bytes()));
        ids.dedup();
        assert_eq!(ids.len(), THREADS * CALLS, "every call's row exactly once");
    }

    #[test]
    fn forged_call_is_recorded_and_refused() {
        let fx = Fixture::new("forged");
        let values = [("new.id", Some(&b"7"[..]))];
        assert_eq!(fx.auditor().log(&insert_args("0".repeat(32).as_str(), &values)), Outcome::Forged);
        let record = dbaudit_record::parse(&fx.lines()[1]).unwrap();
        assert!(matches!(record.event, Event::Forged(_)));
    }

    #[test]
    fn a_new_auditor_names_the_previous_epochs_last_record() {
        let fx = Fixture::new("epochs");
        let token = fx.key.trigger_token(0, b"acme", b"users");
        let values = [("new.id", Some(&b"1"[..]))];
        let first = fx.auditor();
        first.log(&insert_args(&token, &values));
        let last = dbaudit_record::parse(fx.lines().last().unwrap()).unwrap().point();
        fx.auditor().log(&insert_args(&token, &values));
        let start = dbaudit_record::parse(&fx.lines()[2]).unwrap();
        assert_eq!(start.event, Event::Start { prev: Some(last) });
        let mut verifier = Verifier::new(fx.key.clone());
        assert!(fx.lines().iter().all(|l| verifier.check(l).unwrap().tamper.is_none()));
    }

    #[test]
    fn records_lost_while_the_log_cannot_be_written_are_counted_in_the_chain() {
        let fx = Fixture::new("lost");
        let config =
            format!("[dbaudit-udf]\nlog = {0}/missing/audit.log\nkey_file = {0}/key\n", fx.dir.path().display());
        std::fs::write(fx.dir.path().join("dbaudit.cnf"), config).unwrap();
        let token = fx.key.trigger_token(0, b"acme", b"users");
        let values = [("new.id", Some(&b"1"[..]))];
        let auditor = fx.auditor();
        assert!(String::from_utf8(auditor.health()).unwrap().contains("\"state\":\"idle\""));
        for _ in 0..3 {
            assert!(matches!(auditor.log(&insert_args(&token, &values)), Outcome::Failed(_)));
        }
        let health = String::from_utf8(auditor.health()).unwrap();
        assert!(health.contains("\"state\":\"failing\"") && health.contains("\"lost\":3,\"unreported\":3"), "{health}");
        assert!(health.contains("cannot open the audit log"), "{health}");

        std::fs::create_dir(fx.dir.path().join("missing")).unwrap();
        std::thread::sleep(RETRY_SETUP + Duration::from_millis(50));
        assert_eq!(auditor.log(&insert_args(&token, &values)), Outcome::Written(2));
        let text = std::fs::read(fx.dir.path().join("missing/audit.log")).unwrap();
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let records: Vec<_> = lines.iter().map(|l| dbaudit_record::parse(l).unwrap()).collect();
        let Event::Lost(lost) = &records[1].event else { panic!("expected a lost record, got {:?}", records[1]) };
        assert_eq!(lost.count, 3);
        assert!(matches!(records[2].event, Event::Row(_)));
        let mut verifier = Verifier::new(fx.key.clone());
        assert!(lines.iter().all(|l| verifier.check(l).unwrap().tamper.is_none()));
        let health = String::from_utf8(auditor.health()).unwrap();
        assert!(health.contains("\"state\":\"ok\"") && health.contains("\"lost\":3,\"unreported\":0"), "{health}");
    }

    #[test]
    fn a_token_is_good_for_its_own_table_only() {
        let fx = Fixture::new("per-table");
        let values = [("new.id", Some(&b"1"[..]))];
        let auditor = fx.auditor();
        let users = fx.key.trigger_token(0, b"acme", b"users");
        let orders = fx.key.trigger_token(0, b"acme", b"orders");
        assert_eq!(auditor.log(&insert_args(&users, &values)), Outcome::Written(1));
        assert_eq!(auditor.log(&insert_args(&orders, &values)), Outcome::Forged);
    }

    #[test]
    fn a_rotation_is_taken_up_without_a_restart_and_retires_the_old_tokens() {
        let fx = Fixture::new("rotation");
        let values = [("new.id", Some(&b"1"[..]))];
        let (old, new) = (fx.key.trigger_token(0, b"acme", b"users"), fx.key.trigger_token(1, b"acme", b"users"));
        let auditor = fx.auditor();
        assert_eq!(auditor.log(&insert_args(&old, &values)), Outcome::Written(1));
        assert_eq!(auditor.log(&insert_args(&new, &values)), Outcome::Forged);
        let config = |extra: &str| {
            let text =
                format!("[dbaudit-udf]\nlog = {0}/audit.log\nkey_file = {0}/key\n{extra}", fx.dir.path().display());
            std::fs::write(fx.dir.path().join("dbaudit.cnf"), text).unwrap();
            std::thread::sleep(CONFIG_CHECK + Duration::from_millis(50));
        };
        config("token_generation_next = 1\n");
        assert_eq!(auditor.log(&insert_args(&old, &values)), Outcome::Written(3));
        assert_eq!(auditor.log(&insert_args(&new, &values)), Outcome::Written(4));
        config("token_generation = 1\n");
        assert_eq!(auditor.log(&insert_args(&old, &values)), Outcome::Forged);
        assert_eq!(auditor.log(&insert_args(&new, &values)), Outcome::Written(6));
        let mut verifier = Verifier::new(fx.key.clone());
        assert!(fx.lines().iter().all(|l| verifier.check(l).unwrap().tamper.is_none()), "one epoch, no gap");
    }

    #[test]
    fn a_record_built_with_keys_that_changed_before_its_turn_is_built_again() {
        let fx = Fixture::new("stale");
        let values = [("new.id", Some(&b"1"[..]))];
        let (old, new) = (fx.key.trigger_token(0, b"acme", b"users"), fx.key.trigger_token(1, b"acme", b"users"));
        let auditor = fx.auditor();
        assert_eq!(auditor.log(&insert_args(&old, &values)), Outcome::Written(1));
        let args = insert_args(&new, &values);
        let stale = read(&auditor.keys).as_ref().expect("set up").encode(&args);
        assert!(matches!(stale.event, Ok((_, true))), "generation 1 is not accepted yet");
        let config = format!(
            "[dbaudit-udf]\nlog = {0}/audit.log\nkey_file = {0}/key\ntoken_generation_next = 1\n",
            fx.dir.path().display()
        );
        std::fs::write(fx.dir.path().join("dbaudit.cnf"), config).unwrap();
        std::thread::sleep(CONFIG_CHECK + Duration::from_millis(50));
        let outcome = auditor.write(&mut auditor.lock_writer(), &args, Some(stale));
        assert_eq!(outcome, Outcome::Written(2), "checked again with the generations now accepted");
    }

    #[test]
    fn missing_key_fails_with_the_file_named_and_writes_nothing() {
        let fx = Fixture::new("nokey");
        std::fs::remove_file(fx.dir.path().join("key")).unwrap();
        let Outcome::Failed(message) = fx.auditor().log(&insert_args("x", &[])) else { panic!("expected a failure") };
        assert!(message.contains(&fx.dir.path().join("key").display().to_string()), "{message}");
        assert!(!fx.dir.path().join("audit.log").exists());
    }
}
