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

/// Each byte's two digits: one load a byte rather than two (macs and masks are written on
/// every row).
const PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    pairs
};

/// Writes the lowercase hex of `bytes` into `out`, which holds exactly twice as many bytes.
pub fn encode_to_slice(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
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
    // Eight digits at a time (every record has 48 to decode); without a branch per digit.
    let words = text.chunks_exact(8);
    let rest = words.remainder();
    let mut bad = 0;
    let mut done = 0;
    for (digits, bytes) in words.zip(out.chunks_exact_mut(4)) {
        let (value, wrong) = decode_word(digits);
        bytes.copy_from_slice(&value.to_le_bytes());
        bad |= wrong;
        done += 4;
    }
    for (byte, pair) in out[done..].iter_mut().zip(rest.chunks_exact(2)) {
        let (high, low) = (LOWER[usize::from(pair[0])], LOWER[usize::from(pair[1])]);
        bad |= u64::from((high | low) >> 4);
        *byte = high << 4 | low;
    }
    (bad == 0).then_some(out)
}

/// The four bytes eight lowercase hex digits stand for, and whether any of them is not one
/// (nonzero). SWAR: each byte is a digit exactly when XOR `0` leaves 0–9, or XOR 0x60 leaves 1–6.
fn decode_word(digits: &[u8]) -> (u32, u64) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut bytes = [0; 8];
    bytes.copy_from_slice(digits);
    let w = u64::from_le_bytes(bytes);
    // High bit set in each byte above `max` (exact: the low seven bits cannot carry out).
    let above = |x: u64, max: u64| (x | ((x & LOW7) + ONES * (0x7f - max))) & HIGHS;
    let zero = |x: u64| !(x | ((x & LOW7) + LOW7)) & HIGHS;
    let (decimal, letter) = (w ^ (ONES * u64::from(b'0')), w ^ (ONES * 0x60));
    let wrong = above(decimal, 9) & (above(letter, 6) | zero(letter));
    // A digit's value is its low four bits, plus 9 for a letter (bit 6 set).
    let nibbles = (w & (ONES * 0x0f)) + ((w >> 6) & ONES) * 9;
    // Pairs of nibbles into bytes, then the bytes (at even places) side by side.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let value = (pairs | (pairs >> 16)) & 0xffff_ffff;
    (value as u32, wrong)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_length_decodes_as_any_length_does_whatever_byte_is_at_whatever_place() {
        let good = b"0123456789abcdef0f1e2d3c4b5a6978";
        assert_eq!(decode_array::<16>(good).map(Vec::from), decode_lower(good));
        for at in 0..good.len() {
            for byte in 0..=255u8 {
                let mut text = *good;
                text[at] = byte;
                assert_eq!(decode_array::<16>(&text).map(Vec::from), decode_lower(&text), "{byte:#x} at {at}");
                assert_eq!(decode_array::<5>(&text[..10]).map(Vec::from), decode_lower(&text[..10]));
            }
        }
        assert_eq!(decode_array::<16>(&good[..30]), None);
    }
}
