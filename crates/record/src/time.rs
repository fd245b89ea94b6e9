//! Record timestamps: microseconds since the Unix epoch, written `2026-11-26T08:31:24.123456Z`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A moment, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

/// The length of the written form.
pub const TIMESTAMP_LEN: usize = 27;

impl Timestamp {
    /// The current time (1970 if the clock is before it).
    pub fn now() -> Timestamp {
        let micros = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        Timestamp(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// Calendar fields: (year, month, day, hour, minute, second, microsecond), UTC.
    pub fn fields(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let secs = self.0 / 1_000_000;
        let micros = (self.0 % 1_000_000) as u32;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, micros)
    }

    /// Appends the record form, `YYYY-MM-DDThh:mm:ss.ffffffZ`.
    pub fn write(self, out: &mut Vec<u8>) {
        let (y, mo, d, h, mi, s, us) = self.fields();
        let mut buf = [0u8; TIMESTAMP_LEN];
        put_digits(&mut buf[0..4], y as u64);
        buf[4] = b'-';
        put_digits(&mut buf[5..7], mo.into());
        buf[7] = b'-';
        put_digits(&mut buf[8..10], d.into());
        buf[10] = b'T';
        put_digits(&mut buf[11..13], h.into());
        buf[13] = b':';
        put_digits(&mut buf[14..16], mi.into());
        buf[16] = b':';
        put_digits(&mut buf[17..19], s.into());
        buf[19] = b'.';
        put_digits(&mut buf[20..26], us.into());
        buf[26] = b'Z';
        out.extend_from_slice(&buf);
    }

    /// Parses the record form; years 1970–9999 only.
    pub fn parse(text: &[u8]) -> Option<Timestamp> {
        let text: &[u8; TIMESTAMP_LEN] = text.try_into().ok()?;
        // Eight bytes at a time (one record in every line is read so): each byte XORed with
        // the shape's, so a digit becomes its value (0–9 exactly when it was a digit) and a
        // separator in its place becomes 0.
        let word = |at: usize| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&text[at..at + 8]);
            u64::from_le_bytes(bytes) ^ u64::from_le_bytes(SHAPE[at..at + 8].try_into().unwrap_or_default())
        };
        let (a, b, c) = (word(0), word(8), word(16));
        let tail = [text[24] ^ b'0', text[25] ^ b'0', text[26] ^ b'Z'];
        if above_nine(a) | above_nine(b) | above_nine(c) != 0
            || (a & SEPARATORS[0]) | (b & SEPARATORS[1]) | (c & SEPARATORS[2]) != 0
            || tail[0] > 9
            || tail[1] > 9
            || tail[2] != 0
        {
            return None;
        }
        let mut digits = [0; 24];
        for (part, x) in digits.chunks_exact_mut(8).zip([a, b, c]) {
            part.copy_from_slice(&x.to_le_bytes());
        }
        let num = |r: std::ops::Range<usize>| digits[r].iter().fold(0u64, |n, &d| n * 10 + u64::from(d));
        let (y, mo, d) = (num(0..4) as i64, num(5..7) as u32, num(8..10) as u32);
        let (h, mi, s) = (num(11..13), num(14..16), num(17..19));
        let us = num(20..24) * 100 + u64::from(tail[0]) * 10 + u64::from(tail[1]);
        if y < 1970 || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let days = days_from_civil(y, mo, d) as u64;
        Some(Timestamp(((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + us))
    }
}

/// The second a timestamp's text named last: the text up to its `.` and the second in
/// microseconds. Records come many to a second, and the calendar need not be read again.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LastSecond(Option<([u8; SECOND_LEN], u64)>);

/// The length of the written form up to its `.`.
const SECOND_LEN: usize = 19;

impl Timestamp {
    /// [`Timestamp::parse`], with the fraction alone read when the text up to it is the one
    /// `last` holds (which it then holds for the next); the same result either way.
    pub(crate) fn parse_after(text: &[u8], last: &mut LastSecond) -> Option<Timestamp> {
        let text: &[u8; TIMESTAMP_LEN] = text.try_into().ok()?;
        let (second, fraction) = text.split_at(SECOND_LEN);
        if let (Some((seen, base)), Some(fraction)) = (&last.0, fraction.first_chunk::<8>()) {
            if second == seen {
                // `.ffffffZ`: each byte XORed with the shape's is 0 for `.` and `Z`, a digit's value.
                let x = u64::from_le_bytes(*fraction) ^ u64::from_le_bytes(*b".000000Z");
                if above_nine(x) != 0 || x & 0xff00_0000_0000_00ff != 0 {
                    return None;
                }
                let micros = x.to_le_bytes()[1..7].iter().fold(0, |n, &d| n * 10 + u64::from(d));
                return Some(Timestamp(base + micros));
            }
        }
        let ts = Timestamp::parse(text)?;
        let mut seen = [0; SECOND_LEN];
        seen.copy_from_slice(second);
        last.0 = Some((seen, ts.0 - ts.0 % 1_000_000));
        Some(ts)
    }
}

/// The high bit of each byte of `x` above 9: one with its high bit set, or that sets it when
/// 0x76 is added to its low seven bits. A digit XORed with `0` is its value.
#[inline(always)]
fn above_nine(x: u64) -> u64 {
    (x | ((x & 0x7f7f_7f7f_7f7f_7f7f) + 0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080
}

/// The written form, a digit standing for `0`.
const SHAPE: &[u8; TIMESTAMP_LEN] = b"0000-00-00T00:00:00.000000Z";

/// The separators' bytes in each of the first three eight-byte words of the written form.
const SEPARATORS: [u64; 3] = {
    let mut masks = [0; 3];
    let mut i = 0;
    while i < 24 {
        if SHAPE[i] != b'0' {
            masks[i / 8] |= 0xff << (8 * (i % 8));
        }
        i += 1;
    }
    masks
};

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(TIMESTAMP_LEN);
        self.write(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

fn put_digits(buf: &mut [u8], mut n: u64) {
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms, days relative to 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moment_is_written_as_documented() {
        // 2026-11-26T08:31:24.123456Z
        let t = Timestamp(1_795_681_884_123_456);
        assert_eq!(t.to_string(), "2026-11-26T08:31:24.123456Z");
        assert_eq!(Timestamp::parse(b"2026-11-26T08:31:24.123456Z"), Some(t));
    }

    #[test]
    fn leap_days_round_trip_and_impossible_dates_are_refused() {
        let t = Timestamp::parse(b"2024-02-29T23:59:59.999999Z").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.999999Z");
        assert_eq!(Timestamp::parse(b"2023-02-29T00:00:00.000000Z"), None);
        assert_eq!(Timestamp::parse(b"2023-13-01T00:00:00.000000Z"), None);
    }

    #[test]
    fn every_byte_out_of_shape_at_every_place_is_refused() {
        let good = *b"2024-02-29T23:59:59.999999Z";
        for at in 0..TIMESTAMP_LEN {
            for byte in 0..=255u8 {
                let mut text = good;
                text[at] = byte;
                let in_shape = if SHAPE[at] == b'0' { byte.is_ascii_digit() } else { byte == SHAPE[at] };
                if !in_shape {
                    assert_eq!(Timestamp::parse(&text), None, "{:?}", String::from_utf8_lossy(&text));
                }
            }
        }
        assert_eq!(Timestamp::parse(&good[..26]), None);
        assert_eq!(Timestamp::parse(b"2024-02-29T23:59:59.999999Z0"), None);
    }

    #[test]
    fn a_second_seen_before_reads_every_byte_as_a_whole_parse_does() {
        let good = *b"2024-02-29T23:59:59.999999Z";
        let mut last = LastSecond::default();
        assert_eq!(Timestamp::parse_after(&good, &mut last), Timestamp::parse(&good));
        for at in 0..TIMESTAMP_LEN {
            for byte in 0..=255u8 {
                let mut text = good;
                text[at] = byte;
                assert_eq!(Timestamp::parse_after(&text, &mut last), Timestamp::parse(&text), "{text:?}");
                // And the second read last is the good one's again.
                assert_eq!(Timestamp::parse_after(&good, &mut last), Timestamp::parse(&good));
            }
        }
        assert_eq!(Timestamp::parse_after(&good[..26], &mut last), None);
        assert_eq!(Timestamp::parse_after(b"2024-02-29T23:59:59.999999Z0", &mut last), None);
    }

    proptest::proptest! {
        #[test]
        fn timestamps_read_in_turn_are_read_as_each_alone(
            moments in proptest::collection::vec((0u64..3, 0u64..1_000_000, 0u64..253_402_300_799), 1..20),
        ) {
            let mut last = LastSecond::default();
            for (step, micros, seconds) in moments {
                // Mostly the same second again, now and then another.
                let second = if step == 0 { seconds } else { 1_795_681_884 + step };
                let text = Timestamp(second * 1_000_000 + micros).to_string();
                let parsed = Timestamp::parse_after(text.as_bytes(), &mut last);
                proptest::prop_assert_eq!(parsed, Timestamp::parse(text.as_bytes()));
                proptest::prop_assert_eq!(parsed, Some(Timestamp(second * 1_000_000 + micros)));
            }
        }
    }

    #[test]
    fn every_day_for_sixty_years_round_trips() {
        for day in 0..(60 * 366) {
            let t = Timestamp(day * 86_400_000_000 + 3_723_000_001);
            assert_eq!(Timestamp::parse(t.to_string().as_bytes()), Some(t), "day {day}");
        }
    }
}
