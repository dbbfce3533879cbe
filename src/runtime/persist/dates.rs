//! The dates HAProxy appends to an inserted cookie's value with `maxidle`/`maxlife`
//! (`SRV|LAST|FIRST`): seconds divided by 4, as 30 bits in five base64 digits, most
//! significant first.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The five characters for `secs` (the date HAProxy writes: rounded up to 4 s).
pub fn encode(secs: u64) -> String {
    let v = ((secs + 3) >> 2) as u32 & 0x3fff_ffff;
    (0..5)
        .map(|i| ALPHABET[((v >> (6 * (4 - i))) & 63) as usize] as char)
        .collect()
}

/// The date in `s` (its first five characters), in seconds; None when they are not five
/// base64 digits.
pub fn decode(s: &[u8]) -> Option<u64> {
    let digits = s.get(..5)?;
    let mut v: u64 = 0;
    for &c in digits {
        let d = ALPHABET.iter().position(|&a| a == c)? as u64;
        v = (v << 6) | d;
    }
    Some(v << 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_to_four_seconds() {
        // Observed with haproxy 2.6: 1796267486 (rounded up to ...488) is "axDd4".
        assert_eq!(encode(1_796_267_486), "axDd4");
        assert_eq!(decode(b"axDd4"), Some(1_796_267_488));
        for t in [0u64, 1, 4, 1_700_000_001, 1_796_267_486] {
            let d = decode(encode(t).as_bytes()).unwrap_or(0);
            assert!(d >= t && d < t + 4, "{t} -> {d}");
        }
        assert_eq!(decode(b"zz"), None);
        assert_eq!(decode(b"ab~de"), None);
    }
}
