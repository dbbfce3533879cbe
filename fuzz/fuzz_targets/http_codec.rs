//! Fuzzes the HTTP/1 codec: request and response head parsing (with the default limits
//! and with small ones, so that the size and count checks are reached by short inputs),
//! body framing, and the chunked decoder fed at once or in two parts.
//!
//! Invariants checked: nothing panics; a parser never claims more bytes than it was
//! given; a parsed request, written out as rproxy forwards it, parses back; the chunked
//! decoder gives the same body whether its input arrives at once or split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rproxy::runtime::http::codec::{self, BodyKind, ChunkDecoder, Limits};

/// Decodes `input` (split at `cut`) and returns the canonical form of what came out.
fn dechunk(lim: &Limits, input: &[u8], cut: usize) -> Option<(Vec<u8>, bool)> {
    let mut d = ChunkDecoder::new(lim);
    let mut out = Vec::new();
    let cut = cut.min(input.len());
    let first = d.decode(&input[..cut], &mut out).ok()?;
    // The caller keeps what was not consumed and appends the rest.
    let mut rest = input[first..cut].to_vec();
    rest.extend_from_slice(&input[cut..]);
    let second = d.decode(&rest, &mut out).ok()?;
    assert!(first + second <= input.len());
    let mut canon = Vec::new();
    ChunkDecoder::new(lim)
        .decode(&out, &mut canon)
        .expect("re-encoded body decodes");
    Some((canon, d.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let (cut, data) = match data.split_first() {
        Some((c, rest)) => (*c as usize, rest),
        None => (0, data),
    };
    let small = Limits {
        max_head: 512,
        max_headers: 8,
        bufsize: 600,
    };
    for lim in [Limits::default(), small] {
        if let Ok(Some((mut head, n))) = codec::parse_request(data, &lim) {
            assert!(n <= data.len());
            let framing = codec::request_framing(&mut head);
            let mut out = Vec::new();
            head.write_to(&mut out);
            let loose = Limits {
                max_head: usize::MAX / 4,
                max_headers: lim.max_headers,
                bufsize: out.len() + 128,
            };
            assert!(
                matches!(codec::parse_request(&out, &loose), Ok(Some(_))),
                "forwarded head does not parse back: {:?}",
                String::from_utf8_lossy(&out)
            );
            if let Ok(f) = framing
                && f.body == BodyKind::Chunked
            {
                let body = &data[n..];
                let whole = dechunk(&lim, body, body.len());
                let split = dechunk(&lim, body, cut);
                if let (Some(a), Some(b)) = (whole, split) {
                    assert_eq!(a, b, "chunked body decodes differently when split");
                }
            }
        }
        if let Ok(Some((mut head, n))) = codec::parse_response(data, &lim) {
            assert!(n <= data.len());
            let _ = codec::response_body(&mut head, "GET");
            let mut out = Vec::new();
            head.write_to(&mut out);
        }
        let whole = dechunk(&lim, data, data.len());
        let split = dechunk(&lim, data, cut);
        if let (Some(a), Some(b)) = (whole, split) {
            assert_eq!(a, b, "chunked body decodes differently when split");
        }
    }
});
