//! Lowercase hexadecimal, the only hex the record format uses.

/// The sixteen lowercase digits.
pub const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex of `bytes`.
pub fn encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    // Through a buffer on the stack: one copy per 32 digits, not a push per digit.
    for chunk in bytes.chunks(16) {
        let mut digits = [0; 32];
        let digits = &mut digits[..2 * chunk.len()];
        encode_to_slice(chunk, digits);
        out.extend_from_slice(digits);
    }
}

/// Writes the lowercase hex of `bytes` into `out`, which holds exactly twice as many bytes.
pub fn encode_to_slice(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// The lowercase hex of `bytes`, as a string.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    encode_into(&mut out, bytes);
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// The value of one hex digit, either case.
pub fn digit_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// Decodes lowercase hex of even length; anything else is refused, so that every
/// value has exactly one spelling in a record.
pub fn decode_lower(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2).map(|pair| Some(lower_value(pair[0])? << 4 | lower_value(pair[1])?)).collect()
}

/// Decodes exactly `N` bytes of lowercase hex.
pub fn decode_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    // Without a branch per digit: a digit that is not one sets high bits in `bad`.
    let mut bad = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        let (high, low) = (LOWER[usize::from(text[2 * i])], LOWER[usize::from(text[2 * i + 1])]);
        bad |= high | low;
        *byte = high << 4 | low;
    }
    (bad < 16).then_some(out)
}

/// Whether `text` is lowercase hex of even length, as [`decode_lower`] accepts it.
pub fn is_lower(text: &[u8]) -> bool {
    text.len().is_multiple_of(2) && text.iter().all(|&d| lower_value(d).is_some())
}

/// Each byte's value as a lowercase hex digit; 0xff for any other byte.
const LOWER: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut d = 0;
    while d < 16 {
        table[DIGITS[d] as usize] = d as u8;
        d += 1;
    }
    table
};

#[inline]
fn lower_value(d: u8) -> Option<u8> {
    let v = LOWER[usize::from(d)];
    (v != 0xff).then_some(v)
}
