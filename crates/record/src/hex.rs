//! Lowercase hexadecimal, the only hex the record format uses.

/// The sixteen lowercase digits.
pub const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex of `bytes`.
pub fn encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
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
    text.chunks_exact(2)
        .map(|pair| {
            let lower = |d: u8| matches!(d, b'0'..=b'9' | b'a'..=b'f');
            if !lower(pair[0]) || !lower(pair[1]) {
                return None;
            }
            Some(digit_value(pair[0])? << 4 | digit_value(pair[1])?)
        })
        .collect()
}

/// Decodes exactly `N` bytes of lowercase hex.
pub fn decode_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    decode_lower(text)?.try_into().ok()
}
