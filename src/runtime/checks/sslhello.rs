//! The `option ssl-hello-chk` check, as HAProxy 2.6 runs it: one SSLv3 ClientHello; a
//! reply starting with a handshake (0x16) or alert (0x15) record passes at layer 6.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{Expect, Msg, Script, ScriptBuilder};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(script().bufsize(bufsize))
}

/// The 126-byte ClientHello record for Unix time `now`.
pub fn client_hello_at(now: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(126);
    // Record: handshake, SSL 3.0, 121 bytes; ClientHello of 117 bytes, SSL 3.0.
    v.extend_from_slice(&[0x16, 0x03, 0x00, 0x00, 0x79]);
    v.extend_from_slice(&[0x01, 0x00, 0x00, 0x75, 0x03, 0x00]);
    v.extend_from_slice(&now.to_be_bytes());
    v.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    // No session id; 39 cipher suites.
    v.extend_from_slice(&[0x00, 0x00, 0x4e]);
    for c in (0x0001u16..=0x001b).chain(0x002f..=0x003a) {
        v.extend_from_slice(&c.to_be_bytes());
    }
    // One compression method: null.
    v.extend_from_slice(&[0x01, 0x00]);
    v
}

fn client_hello() -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    client_hello_at(now)
}

/// The rules: (implicit connect), ClientHello, a handshake or alert record.
pub fn script() -> Script {
    ScriptBuilder::new(false)
        .send_built(client_hello)
        .expect(
            Expect::rbinary("^1[56]")
                .min_recv(5)
                .statuses(CheckStatus::L6Ok, CheckStatus::L6Rsp, CheckStatus::L6Tout)
                // A failure says nothing more than "Layer6 invalid response".
                .on_error(Msg::Text("")),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_126_bytes_as_captured() {
        let h = client_hello_at(0x6b10dfb3);
        assert_eq!(h.len(), 126);
        let captured = "16030000790100007503006b10dfb3484150524f585953534c43484b0a484150524f585953534c43484b0a00004e000100020003000400050006000700080009000a000b000c000d000e000f0010001100120013001400150016001700180019001a001b002f0030003100320033003400350036003700380039003a0100";
        assert_eq!(
            super::super::tcpcheck::engine::hex_upper(&h),
            captured.to_uppercase()
        );
    }
}
