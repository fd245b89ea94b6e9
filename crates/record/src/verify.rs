//! Checking a sequence of raw lines against the chain, one line at a time, so the same
//! code serves `dbaudit verify` over whole files and the normaliser over a live tail.

use std::fmt;

use crate::chain::{ChainPoint, Epoch, Key, Mac};
use crate::json::is_plain;
use crate::record::{ParseError, Record, MAC_MARKER, MAC_SUFFIX_LEN};
use crate::view::{parse_looked_over, EventView, ReadBefore, RecordView};

/// How the log was altered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TamperKind {
    /// Records are missing before this one.
    Gap,
    /// The record's bytes are not what was sealed: edited, or inserted by someone without the key.
    Mac,
    /// The record comes after one it should precede: moved or repeated.
    Order,
}

impl TamperKind {
    /// The name on the normalised line (`kind=gap|mac|order`).
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::Gap => "gap",
            TamperKind::Mac => "mac",
            TamperKind::Order => "order",
        }
    }
}

/// One alteration found at one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tamper {
    /// What is wrong.
    pub kind: TamperKind,
    /// The record at which it was found.
    pub epoch: Epoch,
    /// Its sequence number.
    pub seq: u64,
    /// The last record accepted before it, if any.
    pub last: Option<ChainPoint>,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let here = format!("epoch {} seq {}", self.epoch, self.seq);
        let last =
            self.last.map_or("the start of the input".to_owned(), |l| format!("epoch {} seq {}", l.epoch, l.seq));
        match self.kind {
            TamperKind::Gap => write!(f, "records missing between {last} and {here}"),
            TamperKind::Mac => write!(f, "{here} does not carry a valid mac: edited or inserted"),
            TamperKind::Order => write!(f, "{here} comes after {last}: moved or repeated"),
        }
    }
}

/// What checking one line found: the record read (owned, or a [`RecordView`] of the line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict<R = Record> {
    /// The record read.
    pub record: R,
    /// How the chain was broken at this record, if it was.
    pub tamper: Option<Tamper>,
    /// False when the record could not be checked: the input began mid-epoch, so its
    /// predecessor (in an earlier file) is unknown.
    pub anchored: bool,
}

/// Checks lines in order against the chain.
#[derive(Clone, Debug)]
pub struct Verifier {
    key: Key,
    tip: Option<ChainPoint>,
    seen_epochs: Vec<Epoch>,
    /// What the lines read before held that the next one holds too, as a rule.
    before: ReadBefore,
}

impl Verifier {
    /// A verifier at the start of the input.
    pub fn new(key: Key) -> Verifier {
        Verifier { key, tip: None, seen_epochs: Vec::new(), before: ReadBefore::default() }
    }

    /// A verifier that continues after `tip` (from a checkpoint).
    pub fn resume(key: Key, tip: Option<ChainPoint>) -> Verifier {
        let seen_epochs = tip.map(|t| t.epoch).into_iter().collect();
        Verifier { key, tip, seen_epochs, before: ReadBefore::default() }
    }

    /// The last record accepted.
    pub fn tip(&self) -> Option<ChainPoint> {
        self.tip
    }

    /// Reads and checks one line (without its newline). A line that is not a record is an
    /// error and leaves the verifier where it was.
    pub fn check(&mut self, line: &[u8]) -> Result<Verdict, ParseError> {
        let Verdict { record, tamper, anchored } = self.check_view(line)?;
        Ok(Verdict { record: record.to_record(), tamper, anchored })
    }

    /// [`Verifier::check`], giving the record as a view of `line`: one parse, no copies.
    pub fn check_view<'a>(&mut self, line: &'a [u8]) -> Result<Verdict<RecordView<'a>>, ParseError> {
        self.check_view_sealed(line, None)
    }

    /// [`Verifier::check_view`], given the mac of `line` that [`Sealed::ahead`] computed (on
    /// another thread, say) from these very bytes. The mac is used only if it chains to the very
    /// mac the verifier chains to; else the mac is computed here: the verdict is the same either
    /// way. Its look over the line (whether strings can be read quote to quote) is taken as is.
    #[inline]
    pub fn check_view_sealed<'a>(
        &mut self,
        line: &'a [u8],
        ahead: Option<Sealed>,
    ) -> Result<Verdict<RecordView<'a>>, ParseError> {
        // The thread that sealed the line looked it over too.
        let plain = ahead.map_or_else(|| is_plain(line), |sealed| sealed.plain);
        let record = parse_looked_over(line, plain, &mut self.before)?;
        let mac = |key: &Key, prev: &Mac, body: &[u8]| match ahead {
            Some(sealed) if sealed.prev == *prev => sealed.mac,
            _ => key.mac(prev, body),
        };
        let body = record.body;
        let here = record.point();
        let mut anchored = true;
        let kind = match (&record.event, self.tip) {
            (EventView::Start { prev }, tip) => {
                let sealed = mac(&self.key, &prev.map_or(Mac::ZERO, |p| p.mac), body) == record.mac;
                match (tip, prev) {
                    _ if !sealed => Some(TamperKind::Mac),
                    // An epoch starts once: a second start is a replayed line.
                    _ if self.seen_epochs.contains(&record.epoch) => Some(TamperKind::Order),
                    (Some(tip), Some(prev)) if *prev == tip => None,
                    (Some(tip), Some(prev)) if prev.epoch == tip.epoch && prev.seq < tip.seq => Some(TamperKind::Order),
                    (Some(tip), Some(prev)) if prev.epoch == tip.epoch && prev.seq == tip.seq => Some(TamperKind::Mac),
                    (Some(_), Some(_)) => Some(TamperKind::Gap),
                    // The earlier log was not given, or the UDF found none (rotated, stderr).
                    (_, None) | (None, _) => None,
                }
            }
            (_, None) => {
                anchored = false;
                None
            }
            (_, Some(tip)) if record.epoch != tip.epoch => {
                if self.seen_epochs.contains(&record.epoch) {
                    Some(TamperKind::Order)
                } else {
                    Some(TamperKind::Gap)
                }
            }
            (_, Some(tip)) if record.seq == tip.seq + 1 => {
                (mac(&self.key, &tip.mac, body) != record.mac).then_some(TamperKind::Mac)
            }
            (_, Some(tip)) if record.seq > tip.seq + 1 => Some(TamperKind::Gap),
            (_, Some(_)) => Some(TamperKind::Order),
        };
        let tamper = kind.map(|kind| Tamper { kind, epoch: record.epoch, seq: record.seq, last: self.tip });
        // A record from the past does not move the tip back, so one moved line is one finding.
        if kind != Some(TamperKind::Order) {
            self.tip = Some(here);
            if !self.seen_epochs.contains(&here.epoch) {
                self.seen_epochs.push(here.epoch);
            }
        }
        Ok(Verdict { record, tamper, anchored })
    }
}

/// A line's mac computed ahead of the verifier: the mac its body has when chained to `prev`.
///
/// The mac is the one cost of verifying that cannot be cut (BLAKE3 over the whole line), and it
/// needs only the line and the mac before it. Records come one after the other, so each line's
/// predecessor is, as a rule, the line before it in the file: a second thread can compute the
/// macs a few lines ahead while the verifier reads and judges. A guess that was wrong (junk
/// between records, a start record, a tampered line) is only not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The mac it was chained to.
    pub prev: Mac,
    /// The mac of the line's body chained to `prev`.
    pub mac: Mac,
    /// Whether the line is plain (`json::Reader::line`): looked over on the same thread.
    plain: bool,
}

impl Sealed {
    /// The mac `line` has when chained to `prev`; None when `line` does not end like a record
    /// (`,"mac":"<32 hex>"}`), so it has no body to seal.
    pub fn ahead(key: &Key, prev: &Mac, line: &[u8]) -> Option<Sealed> {
        let body = body_of(line)?;
        Some(Sealed { prev: *prev, mac: key.mac(prev, body), plain: is_plain(line) })
    }

    /// The mac a record line claims for itself (what the next record is chained to, if this
    /// one is accepted); None when it does not end like a record.
    pub fn claimed(line: &[u8]) -> Option<Mac> {
        body_of(line)?;
        Mac::from_hex(&line[line.len() - 34..line.len() - 2])
    }
}

/// The bytes a record line's mac covers, if it ends as every record does.
fn body_of(line: &[u8]) -> Option<&[u8]> {
    let at = line.len().checked_sub(MAC_SUFFIX_LEN)?;
    (line[at..].starts_with(MAC_MARKER) && line.ends_with(b"\"}")).then(|| &line[..at])
}
