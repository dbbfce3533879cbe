//! The `option mysql-check [user <name> [post-41|pre-41]]` check, as HAProxy 2.6 runs
//! it. Without a user: wait for the server's initial handshake packet; an error packet
//! there is a wrong status (its error number as code, its text as info), anything else
//! passes with the server version as info, and nothing is sent. With a user: an
//! authentication packet (no password) and COM_QUIT go out at once; then the handshake
//! and an OK packet must follow; an error packet in their place is a wrong status.

use std::sync::Arc;

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{Eval, Expect, Fin, Script, ScriptBuilder};
use crate::model::Proxy;
use crate::model::proxy::CheckKind;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    match &p.options.check {
        CheckKind::Mysql {
            user: Some(u),
            post41,
        } => Arc::new(script(Some(u), *post41).bufsize(bufsize)),
        _ => Arc::new(script(None, true).bufsize(bufsize)),
    }
}

/// The client authentication packet (sequence 1) for `user`, then COM_QUIT (sequence 0).
pub fn login(user: &str, post41: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if post41 {
        // Capabilities (long password, 4.1 protocol, secure connection), max packet
        // size, charset, 23 reserved zero bytes.
        body.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
        body.extend_from_slice(&[0; 23]);
    } else {
        // Capabilities (long password), 3-byte max packet size.
        body.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
    }
    body.extend_from_slice(user.as_bytes());
    // The NUL ending the user, and an empty password.
    body.extend_from_slice(&[0, 0]);
    let len = u32::try_from(body.len()).unwrap_or(0).to_le_bytes();
    let mut v = vec![len[0], len[1], len[2], 1];
    v.extend_from_slice(&body);
    v.extend_from_slice(&[1, 0, 0, 0, 1]);
    v
}

/// Reads the packet at `off`; `None` until it is all there.
fn packet_at(b: &[u8], off: usize) -> Option<(usize, &[u8])> {
    let h = b.get(off..off + 4)?;
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let body = b.get(off + 4..off + 4 + len)?;
    Some((len, body))
}

/// HAProxy's MySQL packet expectation at byte `off` of the response.
fn expect_packet(b: &[u8], off: usize, last_read: bool, is_last: bool) -> Eval {
    let Some((_, body)) = packet_at(b, off) else {
        if !last_read {
            return Eval::Wait;
        }
        // Truncated: an invalid response with nothing to show.
        return Eval::End(Fin::new(CheckStatus::L7Rsp, Vec::new()));
    };
    if body.first() == Some(&0xff) {
        let code = body
            .get(1..3)
            .map(|c| u32::from(c[0]) | u32::from(c[1]) << 8)
            .unwrap_or(0);
        // The text runs to the end of what was received.
        let text = b.get(off + 7..).unwrap_or(&[]).to_vec();
        return Eval::End(Fin::new(CheckStatus::L7Sts, text).code(code));
    }
    if !is_last {
        return Eval::Pass;
    }
    // The version string of the handshake (NUL-terminated, from byte 5).
    Eval::End(Fin::new(
        CheckStatus::L7Ok,
        b.get(5..).unwrap_or(&[]).to_vec(),
    ))
}

fn initial_handshake(b: &[u8], last_read: bool, is_last: bool) -> Eval {
    expect_packet(b, 0, last_read, is_last)
}

fn ok_after_handshake(b: &[u8], last_read: bool, is_last: bool) -> Eval {
    let off = match packet_at(b, 0) {
        Some((len, _)) => 4 + len,
        None => b.len(),
    };
    expect_packet(b, off, last_read, is_last)
}

/// The rules (see the module documentation).
pub fn script(user: Option<&str>, post41: bool) -> Script {
    let b = ScriptBuilder::new(false).connect(None, false);
    match user {
        None => b.expect(Expect::custom(initial_handshake)).build(),
        Some(u) => b
            .send(login(u, post41))
            .expect(Expect::custom(initial_handshake))
            .expect(Expect::custom(ok_after_handshake))
            .build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_packets_as_captured_from_haproxy() {
        let hex = |v: Vec<u8>| v.iter().map(|c| format!("{c:02x}")).collect::<String>();
        assert_eq!(
            hex(login("haproxy", true)),
            "290000010082000000800001210000000000000000000000000000000000000000000000686170726f787900000100000001"
        );
        assert_eq!(
            hex(login("haproxy", false)),
            "0e0000010080000001686170726f787900000100000001"
        );
    }

    /// Any bytes at all: a verdict or a wait, never a panic; no wait once the peer closed.
    #[test]
    fn arbitrary_replies_never_panic() {
        let mut x: u32 = 0x9e37_79b9;
        for n in 0..3000usize {
            let len = n % 48;
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            // Small lengths so that packets are often complete.
            if b.len() > 3 {
                b[1] = 0;
                b[2] = 0;
                b[0] %= 24;
            }
            for last in [false, true] {
                for is_last in [false, true] {
                    for f in [initial_handshake, ok_after_handshake] {
                        let e = f(&b, last, is_last);
                        if last {
                            assert!(!matches!(e, Eval::Wait));
                        }
                    }
                }
            }
        }
    }
}
