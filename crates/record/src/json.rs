//! The JSON subset the record uses: escaping on the way out, a strict reader on the way in.
//!
//! Records are only ever written by [`crate::encode`], so the reader accepts exactly the
//! canonical form (no insignificant white space, keys in the documented order) and rejects
//! anything else; the mac is what proves a line genuine, strictness only keeps parsing cheap.

use crate::hex;

/// What each byte needs inside a JSON string: 0 nothing, 1 an escape, 2 a check that a
/// multi-byte UTF-8 sequence starts here (and whether it is U+2028 or U+2029).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = if b < 0x20 || b == 0x7f || b == b'"' as usize || b == b'\\' as usize {
            1
        } else if b >= 0x80 {
            2
        } else {
            0
        };
        b += 1;
    }
    table
};

/// A word's bytes all 0x01, and all 0x80: the constants of the tests below, which look at
/// eight bytes at a time in one u64 (SWAR).
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `x`; the lowest is exact, bits above it may be borrows.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// One bit (the high bit of its byte) for each of eight bytes that is not printable ASCII
/// or is `"` or `\\` (SWAR: below 0x20, at or above 0x7F, a quote or a backslash). The lowest
/// bit set is exact; bits above it may be false alarms (borrows), which only cost a slow step.
fn special_bytes(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    let w = u64::from_le_bytes(word);
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    below_space
        | (w & HIGHS)
        | zero_bytes(w ^ (ONES * 0x7f))
        | zero_bytes(w ^ (ONES * u64::from(b'"')))
        | zero_bytes(w ^ (ONES * u64::from(b'\\')))
}

/// The position of the first `"` in `bytes` from `from` on, eight bytes at a time (SWAR:
/// the lowest flag set is exact).
fn quote_at(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(bytes) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let quotes = zero_bytes(u64::from_le_bytes(word) ^ (ONES * u64::from(b'"')));
        if quotes != 0 {
            return Some(at + quotes.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b'"').map(|i| at + i)
}

/// Whether eight bytes are all printable ASCII other than `"` and `\\`.
fn plain_word(bytes: &[u8]) -> bool {
    special_bytes(bytes) == 0
}

/// Which characters a JSON string escapes beyond RFC 8259's quote, backslash and C0 controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escaping {
    /// The raw record's: DEL, U+2028 and U+2029 too, so a record is one line of printable text.
    Record,
    /// The normalised line's: the record's, plus the C1 controls U+0080–U+009F, which some
    /// readers take for line breaks (U+0085, NEL) or terminal commands.
    Line,
}

/// Appends `s` as a JSON string: RFC 8259 escaping, plus U+2028/U+2029 and DEL, so that
/// whatever the value holds, the record stays one line of printable text.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // A &str is valid UTF-8, so escaping cannot fail.
    let _ = write_utf8(out, s.as_bytes());
}

/// Appends a value: `null`, a JSON string when the bytes are UTF-8, else `{"hex":"…"}`.
#[inline(always)]
pub fn write_value(out: &mut Vec<u8>, value: Option<&[u8]>) {
    let Some(bytes) = value else {
        out.extend_from_slice(b"null");
        return;
    };
    // The usual case inline, where the caller writes many values; the rest out of line.
    if !write_short_plain(out, bytes) {
        write_value_escaped(out, bytes);
    }
}

/// [`write_value`] of bytes that are not short plain ASCII.
#[inline(never)]
fn write_value_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    if !write_utf8_escaped(out, bytes) {
        out.truncate(start);
        out.extend_from_slice(b"{\"hex\":\"");
        hex::encode_into(out, bytes);
        out.extend_from_slice(b"\"}");
    }
}

/// Escapes `bytes` into a JSON string, checking UTF-8 on the way (one pass, not two);
/// false, with `out` partly written, when they are not UTF-8.
#[inline(always)]
pub(crate) fn write_utf8(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    write_short_plain(out, bytes) || write_utf8_escaped(out, bytes)
}

/// [`write_utf8`] of bytes that may need escapes, a byte at a time where they do.
#[inline(never)]
fn write_utf8_escaped(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let escaping = Escaping::Record;
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Most text is plain ASCII: check it eight bytes at a time, the short tail padded
        // with spaces, so a typical short value costs a few word tests and one copy.
        let plain = match bytes.get(i..i + 8) {
            Some(word) => plain_word(word),
            None => {
                let mut padded = [b' '; 8];
                padded[..bytes.len() - i].copy_from_slice(&bytes[i..]);
                plain_word(&padded)
            }
        };
        if plain {
            i = (i + 8).min(bytes.len());
            continue;
        }
        let b = bytes[i];
        match ESCAPE[usize::from(b)] {
            0 => {
                i += 1;
                continue;
            }
            2 => {
                let len = match b {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => return false,
                };
                let Some(seq) = bytes.get(i..i + len) else { return false };
                if std::str::from_utf8(seq).is_err() {
                    return false;
                }
                if let Some(code) = line_break(seq, escaping) {
                    out.extend_from_slice(&bytes[run..i]);
                    write_u_escape(out, code);
                    run = i + len;
                }
                i += len;
                continue;
            }
            _ => {}
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => write_u_escape(out, u32::from(b)),
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
    true
}

/// Appends `bytes` as a JSON string when they are at most 30 bytes of printable ASCII other
/// than `"` and `\\` (most names and values are); false, with nothing written, otherwise.
/// No copy of a variable length (each a call to `memcpy`): the string is made in a buffer
/// ([`short_plain`]) that is appended whole before `out` is cut back to the string's end.
#[inline(always)]
fn write_short_plain(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let mut quoted = [0; 32];
    let Some(len) = short_plain(bytes, &mut quoted) else { return false };
    let start = out.len();
    out.extend_from_slice(&quoted);
    out.truncate(start + len);
    true
}

/// Writes `bytes` as a JSON string, quotes included, at the start of `quoted`, and says how
/// long it is, when they are at most 30 bytes of printable ASCII other than `"` and `\\`;
/// None otherwise (with `quoted` written or not). Loads that may overlap cover the bytes,
/// are tested as words, and are stored at fixed sizes.
#[inline(always)]
pub(crate) fn short_plain(bytes: &[u8], quoted: &mut [u8; 32]) -> Option<usize> {
    // `plain_word`, inline (this runs for every name and value), and whether any byte is
    // special rather than which: a carry or a borrow out of a special byte may flag its
    // neighbour, which changes nothing.
    let plain = |word: u64| {
        // Below a space; DEL and above (DEL + 1 sets the high bit); a quote; a backslash.
        let special = word.wrapping_sub(ONES * 0x20) & !word
            | (word.wrapping_add(ONES) | word)
            | zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        special & HIGHS == 0
    };
    let eight = |at: usize| -> [u8; 8] { bytes[at..at + 8].try_into().expect("eight bytes") };
    let n = bytes.len();
    if n > 14 {
        if n > 30 {
            return None;
        }
        // Four words from where they start: the first, the second (or as far as it fits),
        // the one before the last (or the first again), the last.
        let at = [0, 8.min(n - 8), n.saturating_sub(16), n - 8];
        let words = [eight(at[0]), eight(at[1]), eight(at[2]), eight(at[3])];
        if !words.iter().all(|w| plain(u64::from_le_bytes(*w))) {
            return None;
        }
        quoted[0] = b'"';
        for (at, word) in at.iter().zip(&words) {
            quoted[1 + at..9 + at].copy_from_slice(word);
        }
        quoted[n + 1] = b'"';
        return Some(n + 2);
    }
    quoted[0] = b'"';
    if n >= 8 {
        let (first, last) = (eight(0), eight(n - 8));
        if !(plain(u64::from_le_bytes(first)) && plain(u64::from_le_bytes(last))) {
            return None;
        }
        quoted[1..9].copy_from_slice(&first);
        quoted[n - 7..n + 1].copy_from_slice(&last);
    } else if n >= 4 {
        let (first, last): ([u8; 4], [u8; 4]) =
            (bytes[..4].try_into().expect("four bytes"), bytes[n - 4..].try_into().expect("four bytes"));
        if !plain(u64::from(u32::from_le_bytes(first)) | u64::from(u32::from_le_bytes(last)) << 32) {
            return None;
        }
        quoted[1..5].copy_from_slice(&first);
        quoted[n - 3..n + 1].copy_from_slice(&last);
    } else if n > 0 {
        let (first, middle, last) = (bytes[0], bytes[n / 2], bytes[n - 1]);
        if !plain(u64::from_le_bytes([first, middle, last, b' ', b' ', b' ', b' ', b' '])) {
            return None;
        }
        quoted[1] = first;
        quoted[1 + n / 2] = middle;
        quoted[n] = last;
    }
    quoted[n + 1] = b'"';
    Some(n + 2)
}

/// The code point of a multi-byte character that `escaping` wants escaped although it is
/// valid text: U+2028 and U+2029 (line breaks to JavaScript and some log tools), and with
/// [`Escaping::Line`] the C1 controls.
fn line_break(seq: &[u8], escaping: Escaping) -> Option<u32> {
    match seq {
        [0xe2, 0x80, c @ (0xa8 | 0xa9)] => Some(0x2000 | u32::from(c - 0x80)),
        [0xc2, c @ 0x80..=0x9f] if escaping == Escaping::Line => Some(u32::from(*c)),
        _ => None,
    }
}

fn write_u_escape(out: &mut Vec<u8>, code: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(hex::DIGITS[((code >> shift) & 0xf) as usize]);
    }
}

/// Appends JSON text that a [`Reader`] accepted (a value, an object of values), escaping what
/// `escaping` wants escaped and the text left raw: DEL, U+2028, U+2029 (and the C1 controls).
/// Such characters can only stand inside strings, so each is replaced by its `\uXXXX` form;
/// text that holds none (what the UDF writes, as a rule) is copied as it is.
pub fn write_text(out: &mut Vec<u8>, text: &[u8], escaping: Escaping) {
    // One vectorised pass finds the usual case: ASCII without DEL, nothing to escape.
    if text.iter().fold(0, |high, &b| high.max(b)) < 0x7f {
        out.extend_from_slice(text);
        return;
    }
    let mut run = 0;
    let mut i = 0;
    while i < text.len() {
        if text.get(i..i + 8).is_some_and(ascii_word) {
            i += 8;
            continue;
        }
        let b = text[i];
        let len = match b {
            0x7f => {
                out.extend_from_slice(&text[run..i]);
                write_u_escape(out, 0x7f);
                i += 1;
                run = i;
                continue;
            }
            0xc2 => 2,
            0xe2 => 3,
            _ => {
                i += 1;
                continue;
            }
        };
        let code = text.get(i..i + len).and_then(|seq| line_break(seq, escaping));
        if let Some(code) = code {
            out.extend_from_slice(&text[run..i]);
            write_u_escape(out, code);
            run = i + len;
        }
        i += 1;
    }
    out.extend_from_slice(&text[run..]);
}

/// Whether eight bytes are all ASCII other than DEL.
fn ascii_word(bytes: &[u8]) -> bool {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    let w = u64::from_le_bytes(word);
    let del = zero_bytes(w ^ (ONES * 0x7f));
    (w & HIGHS) | del == 0
}

/// Why a line is not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset in the line where reading stopped.
    pub at: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

impl std::error::Error for SyntaxError {}

/// Whether `line` is *plain* (see [`Reader::line`]): no backslash, only printable ASCII, no DEL.
pub(crate) fn is_plain(line: &[u8]) -> bool {
    // Three minimums and maximums, which vectorise: a backslash XOR itself is the only 0.
    let (low, high, backslash) = line
        .iter()
        .fold((u8::MAX, 0, u8::MAX), |(low, high, backslash), &b| (low.min(b), high.max(b), backslash.min(b ^ b'\\')));
    low >= 0x20 && high < 0x7f && backslash != 0
}

/// A cursor over one line, reading the canonical form only.
#[derive(Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// No byte is a backslash, below a space or beyond ASCII: a string ends at its first quote.
    plain: bool,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0, plain: false }
    }

    /// [`Reader::new`] for a whole line, looked over first: when it is *plain* — no backslash,
    /// only printable ASCII, no DEL (what the UDF writes, as a rule) — each string in it is
    /// read by finding its closing quote alone, and its text needs no escaping in a normalised
    /// line either. One vectorised pass over the line costs less than checking each string
    /// byte by byte.
    pub fn line(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0, plain: is_plain(bytes) }
    }

    /// [`Reader::line`] for a line already looked over: `plain` is what [`is_plain`] said of it.
    pub(crate) fn looked_over(bytes: &'a [u8], plain: bool) -> Self {
        Reader { bytes, pos: 0, plain }
    }

    /// A reader of `part`, a piece of a line that [`Reader::line`] found `plain` or not.
    pub(crate) fn part(part: &'a [u8], plain: bool) -> Self {
        Reader { bytes: part, pos: 0, plain }
    }

    /// Whether the line is plain (see [`Reader::line`]).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Reads an object whose values are all strings (`{"name":"value",…}`, a row as a rule)
    /// in a plain line, one quote after the other; false, having read nothing, for any other
    /// object or line, which [`Reader::raw_string`] and [`Reader::raw_value`] read then.
    pub fn plain_strings_object(&mut self) -> bool {
        let b = self.bytes;
        if !self.plain || b.get(self.pos) != Some(&b'{') {
            return false;
        }
        let mut at = self.pos + 1;
        if b.get(at) == Some(&b'}') {
            self.pos = at + 1;
            return true;
        }
        loop {
            if b.get(at) != Some(&b'"') {
                return false;
            }
            let Some(name_end) = quote_at(b, at + 1) else { return false };
            if b.get(name_end + 1..name_end + 3) != Some(b":\"") {
                return false;
            }
            let Some(value_end) = quote_at(b, name_end + 3) else { return false };
            at = value_end + 2;
            match b.get(value_end + 1) {
                Some(b',') => {}
                Some(b'}') => {
                    self.pos = at;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// The position reached, in bytes.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// An error at the current position.
    pub fn error(&self, expected: &'static str) -> SyntaxError {
        SyntaxError { at: self.pos, expected }
    }

    /// Consumes `lit` or fails.
    // Always inlined, so that comparing a literal is a few loads, not a call to memcmp.
    #[inline(always)]
    pub fn expect(&mut self, lit: &'static str) -> Result<(), SyntaxError> {
        if self.eat(lit) {
            Ok(())
        } else {
            Err(self.error(lit))
        }
    }

    /// Consumes `lit` when it comes next.
    #[inline(always)]
    pub fn eat(&mut self, lit: &str) -> bool {
        let found = self.bytes[self.pos..].starts_with(lit.as_bytes());
        if found {
            self.pos += lit.len();
        }
        found
    }

    /// The bytes read since position `start`.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start.min(self.pos)..self.pos]
    }

    /// Consumes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], SyntaxError> {
        let bytes = self.bytes.get(self.pos..self.pos + n).ok_or_else(|| self.error("more bytes"))?;
        self.pos += n;
        Ok(bytes)
    }

    /// The next byte, not consumed.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Reads an unsigned decimal integer without leading zeros.
    pub fn u64(&mut self) -> Result<u64, SyntaxError> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| self.error("a number that fits 64 bits"))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            self.pos = start;
            return Err(self.error("a number"));
        }
        Ok(n)
    }

    /// Reads a JSON string and returns its text, unescaped.
    pub fn string(&mut self) -> Result<String, SyntaxError> {
        Ok(self.raw_string()?.unescaped())
    }

    /// Reads a JSON string, checked (escapes, UTF-8) but left as it stands in the line.
    #[inline]
    pub fn raw_string(&mut self) -> Result<RawStr<'a>, SyntaxError> {
        match self.plain_string() {
            Some(plain) => Ok(plain),
            None => self.any_string(),
        }
    }

    /// The string that comes next in a plain line (see [`Reader::line`]): up to its first
    /// quote. None, having read nothing, when no string comes next or the line is not plain.
    #[inline]
    fn plain_string(&mut self) -> Option<RawStr<'a>> {
        if !self.plain || self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let end = quote_at(self.bytes, start)?;
        self.pos = end + 1;
        Some(RawStr { raw: &self.bytes[start..end], escaped: false })
    }

    /// [`Reader::raw_string`] a byte at a time: escapes, control characters, UTF-8.
    #[inline(never)]
    fn any_string(&mut self) -> Result<RawStr<'a>, SyntaxError> {
        self.expect("\"")?;
        let start = self.pos;
        let (mut escaped, mut wide) = (false, false);
        loop {
            // Most text is plain ASCII: skip it eight bytes at a time, up to the first byte
            // that needs a look.
            while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
                let special = special_bytes(word);
                if special != 0 {
                    self.pos += special.trailing_zeros() as usize / 8;
                    break;
                }
                self.pos += 8;
            }
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape()?;
                    escaped = true;
                }
                Some(b) if b >= 0x20 => {
                    wide |= b >= 0x80;
                    self.pos += 1;
                }
                _ => return Err(self.error("a closing quote")),
            }
        }
        let raw = &self.bytes[start..self.pos];
        self.pos += 1;
        // Escapes are ASCII and decode to whole characters, so the raw text is UTF-8 exactly
        // when the unescaped text is.
        if wide && std::str::from_utf8(raw).is_err() {
            return Err(self.error("UTF-8 text"));
        }
        Ok(RawStr { raw, escaped })
    }

    /// Reads the escape after a backslash and returns the character it stands for.
    fn escape(&mut self) -> Result<char, SyntaxError> {
        let c = self.peek().ok_or_else(|| self.error("an escape"))?;
        self.pos += 1;
        let simple = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let mut code = u32::from(self.hex4()?);
                if (0xd800..0xdc00).contains(&code) {
                    self.expect("\\u")?;
                    let low = u32::from(self.hex4()?);
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(self.error("a low surrogate"));
                    }
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                }
                return char::from_u32(code).ok_or_else(|| self.error("a Unicode scalar value"));
            }
            _ => return Err(self.error("a JSON escape")),
        };
        Ok(simple)
    }

    fn hex4(&mut self) -> Result<u16, SyntaxError> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or_else(|| self.error("4 hex digits"))?;
        let mut n = 0u16;
        for &d in digits {
            let v = hex::digit_value(d).ok_or_else(|| self.error("4 hex digits"))?;
            n = n << 4 | u16::from(v);
        }
        self.pos += 4;
        Ok(n)
    }

    /// Reads `null`, a string, or `{"hex":"…"}` (lowercase hex, even length), left as it stands.
    #[inline]
    pub fn raw_value(&mut self) -> Result<RawValue<'a>, SyntaxError> {
        if let Some(plain) = self.plain_string() {
            return Ok(RawValue::Text(plain));
        }
        if self.eat("null") {
            return Ok(RawValue::Null);
        }
        if self.eat("{\"hex\":") {
            let text = self.raw_string()?;
            let digits = text.raw;
            if text.escaped || !hex::is_lower(digits) {
                return Err(self.error("lowercase hex"));
            }
            self.expect("}")?;
            return Ok(RawValue::Hex(digits));
        }
        Ok(RawValue::Text(self.raw_string()?))
    }
}

/// A JSON string as it stands in the line: the bytes between the quotes, still escaped,
/// already checked to be well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// The bytes between the quotes.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether it holds escapes: when not, [`RawStr::raw`] is the text itself.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The text, unescaped; borrowed when there was nothing to undo.
    #[inline]
    pub fn text(&self) -> std::borrow::Cow<'a, [u8]> {
        if !self.escaped {
            return std::borrow::Cow::Borrowed(self.raw);
        }
        let mut out = Vec::with_capacity(self.raw.len());
        let mut r = Reader::new(self.raw);
        while let Some(b) = r.peek() {
            r.pos += 1;
            if b != b'\\' {
                out.push(b);
                continue;
            }
            // Checked when read: an escape here always decodes.
            let ch = r.escape().unwrap_or(char::REPLACEMENT_CHARACTER);
            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
        }
        std::borrow::Cow::Owned(out)
    }

    /// The text, unescaped, as a `String`.
    pub fn unescaped(&self) -> String {
        // Checked to be UTF-8 when read.
        String::from_utf8_lossy(&self.text()).into_owned()
    }
}

/// A column value as it stands in the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawValue<'a> {
    /// `null`.
    Null,
    /// A string.
    Text(RawStr<'a>),
    /// The lowercase hex digits of `{"hex":"…"}`.
    Hex(&'a [u8]),
}

impl<'a> RawValue<'a> {
    /// The value's bytes (unescaped, or decoded from hex); None for null.
    #[inline]
    pub fn bytes(&self) -> Option<std::borrow::Cow<'a, [u8]>> {
        match self {
            RawValue::Null => None,
            RawValue::Text(text) => Some(text.text()),
            RawValue::Hex(digits) => Some(std::borrow::Cow::Owned(hex::decode_lower(digits).unwrap_or_default())),
        }
    }

    /// The owned value.
    pub fn to_value(&self) -> crate::Value {
        match self {
            RawValue::Null => crate::Value::Null,
            RawValue::Text(text) => crate::Value::Text(text.unescaped()),
            RawValue::Hex(digits) => crate::Value::Bytes(hex::decode_lower(digits).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn line_breaks_of_every_kind_are_escaped() {
        assert_eq!(escaped("a\nb\rc\u{2028}d\u{2029}e"), r#""a\nb\rc\u2028d\u2029e""#);
    }

    #[test]
    fn control_characters_and_del_become_unicode_escapes() {
        assert_eq!(escaped("\0\u{1}\u{7f}\t"), r#""\u0000\u0001\u007f\t""#);
    }

    #[test]
    fn quotes_and_backslashes_cannot_close_the_string() {
        assert_eq!(escaped(r#"","x":"\"#), r#""\",\"x\":\"\\""#);
    }

    #[test]
    fn every_byte_at_every_offset_of_a_word_is_escaped_like_the_slow_path() {
        for special in ["\"", "\\", "\n", "\u{1}", "\u{7f}", "\u{2028}", "é"] {
            for at in 0..16 {
                let text = format!("{}{special}{}", "a".repeat(at), "b".repeat(16 - at));
                let mut expected = String::from("\"");
                expected.push_str(&"a".repeat(at));
                expected.push_str(&escaped(special)[1..escaped(special).len() - 1]);
                expected.push_str(&"b".repeat(16 - at));
                expected.push('"');
                assert_eq!(escaped(&text), expected, "{special:?} at {at}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_written_as_hex() {
        let mut out = Vec::new();
        write_value(&mut out, Some(&[0xff, 0x00, 0x41]));
        assert_eq!(out, br#"{"hex":"ff0041"}"#);
    }

    #[test]
    fn reader_undoes_every_escape_including_surrogate_pairs() {
        let mut r = Reader::new(br#""a\"\\\/\n\r\t\b\f\u00e9\ud83d\ude00""#);
        assert_eq!(r.string().unwrap(), "a\"\\/\n\r\t\u{8}\u{c}é😀");
        assert!(r.at_end());
    }

    #[test]
    fn text_copied_to_the_line_gets_its_raw_line_breaks_and_c1_controls_escaped() {
        let mut out = Vec::new();
        let text = "{\"a\":\"x\u{85}y\u{2028}z\u{7f}é €\",\"b\":null}";
        write_text(&mut out, text.as_bytes(), Escaping::Line);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":"x\u0085y\u2028z\u007fé €","b":null}"#);
        let mut out = Vec::new();
        write_text(&mut out, "\u{85}".as_bytes(), Escaping::Record);
        assert_eq!(out, "\u{85}".as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn a_line_looked_over_first_reads_every_string_as_byte_by_byte(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"\"".to_vec()),
                    proptest::strategy::Just(b"\\".to_vec()),
                    proptest::strategy::Just(b"null".to_vec()),
                    proptest::strategy::Just(b"{\"hex\":".to_vec()),
                    proptest::strategy::Just("é\u{85}".as_bytes().to_vec()),
                    proptest::collection::vec(0x20u8..0x7f, 0..20),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4),
                ],
                0..12,
            )
        ) {
            // A string first, then whatever follows: more strings, values, junk.
            let line = [&b"\""[..], &parts.concat()].concat();
            let (mut looked_over, mut byte_wise) = (Reader::line(&line), Reader::new(&line));
            loop {
                let (a, b) = (looked_over.raw_value(), byte_wise.raw_value());
                proptest::prop_assert_eq!(&a, &b);
                proptest::prop_assert_eq!(looked_over.pos(), byte_wise.pos());
                if a.is_err() || !looked_over.eat(",") || !byte_wise.eat(",") {
                    break;
                }
            }
        }
    }

    /// What [`write_value`] must write, character by character as the record's rules say.
    fn reference_value(bytes: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return format!("{{\"hex\":\"{}\"}}", hex::encode(bytes)).into_bytes();
        };
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\0'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out.into_bytes()
    }

    #[test]
    fn short_values_of_every_length_are_written_as_the_rules_say() {
        for len in 0..=40 {
            for special in [None, Some(b'"'), Some(b'\\'), Some(b'\n'), Some(0x7f), Some(0x1f), Some(0x80), Some(0xe9)]
            {
                for at in 0..len.max(1) {
                    let mut bytes = vec![b'a'; len];
                    for (i, b) in bytes.iter_mut().enumerate() {
                        *b = b'!' + ((i * 7) % 90) as u8;
                    }
                    if let (Some(special), true) = (special, len > 0) {
                        bytes[at] = special;
                    }
                    let mut out = b"xy".to_vec();
                    write_value(&mut out, Some(&bytes));
                    assert_eq!(out[2..], reference_value(&bytes), "{bytes:?}");
                    assert_eq!(&out[..2], b"xy");
                }
            }
        }
    }

    #[test]
    fn every_byte_at_every_place_of_a_short_value_is_written_as_the_rules_say() {
        for len in 1..=32 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![b'~'; len];
                    bytes[at] = byte;
                    let mut out = Vec::new();
                    write_value(&mut out, Some(&bytes));
                    assert_eq!(out, reference_value(&bytes), "{bytes:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn values_are_written_as_the_rules_say(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(0x20u8..0x7f, 0..24),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
                    proptest::strategy::Strategy::prop_map(
                        proptest::prelude::any::<String>(), String::into_bytes),
                    proptest::strategy::Just("\u{2028}\u{2029}\u{85}é€😀".as_bytes().to_vec()),
                ],
                0..5,
            )
        ) {
            let bytes = parts.concat();
            let mut out = Vec::new();
            write_value(&mut out, Some(&bytes));
            proptest::prop_assert_eq!(out, reference_value(&bytes));
        }
    }

    /// An object of values read a value at a time: where it ends, or None.
    fn object_end(r: &mut Reader) -> Option<usize> {
        r.expect("{").ok()?;
        if !r.eat("}") {
            loop {
                r.raw_string().ok()?;
                r.expect(":").ok()?;
                r.raw_value().ok()?;
                if r.eat("}") {
                    break;
                }
                r.expect(",").ok()?;
            }
        }
        Some(r.pos())
    }

    proptest::proptest! {
        #[test]
        fn an_object_of_strings_read_at_once_ends_where_one_read_value_by_value_ends(
            columns in proptest::collection::vec(
                (
                    proptest::collection::vec(0x20u8..0x7f, 0..6),
                    proptest::prop_oneof![
                        proptest::strategy::Strategy::prop_map(
                            proptest::collection::vec(0x20u8..0x7f, 0..20),
                            |v| [&b"\""[..], &v, b"\""].concat(),
                        ),
                        proptest::strategy::Just(b"null".to_vec()),
                        proptest::strategy::Just(b"{\"hex\":\"0a\"}".to_vec()),
                    ],
                ),
                0..5,
            ),
            damage in proptest::option::of((0usize..200, proptest::prelude::any::<u8>())),
        ) {
            let fields: Vec<Vec<u8>> =
                columns.iter().map(|(name, value)| [&b"\""[..], name, b"\":", value].concat()).collect();
            let mut line = [&b"{"[..], &fields.join(&b","[..]), b"},"].concat();
            if let Some((at, byte)) = damage {
                let at = at % line.len();
                line[at] = byte;
            }
            let mut at_once = Reader::line(&line);
            if at_once.plain_strings_object() {
                proptest::prop_assert_eq!(object_end(&mut Reader::new(&line)), Some(at_once.pos()));
            } else {
                proptest::prop_assert_eq!(at_once.pos(), 0);
            }
        }
    }

    #[test]
    fn numbers_with_leading_zeros_or_overflow_are_refused() {
        assert!(Reader::new(b"01").u64().is_err());
        assert!(Reader::new(b"").u64().is_err());
        assert!(Reader::new(b"x1").u64().is_err());
        assert!(Reader::new(b"00").u64().is_err());
        assert!(Reader::new(b"99999999999999999999").u64().is_err());
        assert!(Reader::new(b"012345678901234567890").u64().is_err());
        for (text, n, end) in [
            (&b"0,"[..], 0, 1),
            (b"7}", 7, 1),
            (b"4242", 4242, 4),
            (b"1234567890123456789,", 1_234_567_890_123_456_789, 19),
            (b"12345678901234567890", 12_345_678_901_234_567_890, 20),
        ] {
            let mut r = Reader::new(text);
            assert_eq!(r.u64(), Ok(n));
            assert_eq!(r.pos(), end);
        }
        assert!(Reader::new(b"18446744073709551616").u64().is_err());
        assert_eq!(Reader::new(b"18446744073709551615").u64(), Ok(u64::MAX));
    }
}
