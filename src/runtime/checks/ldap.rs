//! The `option ldap-check` check, as HAProxy 2.6 runs it: an anonymous LDAPv3 bind
//! request (message 1); the reply must be a bindResponse to message 1, whose result
//! code 0 passes ("Success") and any other is a wrong status with that code.

use std::sync::Arc;

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{Eval, Expect, Fin, Msg, Script, ScriptBuilder};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(script().bufsize(bufsize))
}

/// BindRequest: SEQUENCE { messageID 1, [APPLICATION 0] { version 3, name "", simple "" } }.
pub const BIND_REQUEST: [u8; 14] = [
    0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
];

const NOT_LDAP: &str = "Not LDAPv3 protocol";

/// The length of a BER long-form length (0 for the short form).
fn long_len(b: u8) -> usize {
    if b & 0x80 != 0 {
        usize::from(b & 0x7f)
    } else {
        0
    }
}

fn bind_response(b: &[u8], last_read: bool, _is_last: bool) -> Eval {
    let short = |last_read: bool| {
        if last_read {
            Eval::End(Fin::new(CheckStatus::L7Rsp, Vec::new()))
        } else {
            Eval::Wait
        }
    };
    let Some(&l1) = b.get(1) else {
        return short(last_read);
    };
    let mut skip = long_len(l1);
    if b.len() < 14 + skip {
        return short(last_read);
    }
    // messageID INTEGER 1, then bindResponse.
    if b[2 + skip..6 + skip] != [0x02, 0x01, 0x01, 0x61] {
        return Eval::End(Fin::new(CheckStatus::L7Rsp, NOT_LDAP));
    }
    skip += long_len(b[6 + skip]);
    if b.len() < 14 + skip {
        return short(last_read);
    }
    // resultCode ENUMERATED.
    if b[7 + skip..9 + skip] != [0x0a, 0x01] {
        return Eval::End(Fin::new(CheckStatus::L7Rsp, NOT_LDAP));
    }
    let code = b[9 + skip];
    if code != 0 {
        return Eval::End(
            Fin::new(
                CheckStatus::L7Sts,
                "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
            )
            .code(u32::from(code)),
        );
    }
    Eval::End(Fin::new(CheckStatus::L7Ok, "Success").code(0))
}

/// The rules: (implicit connect), bind request, an LDAP message, a successful bind.
pub fn script() -> Script {
    ScriptBuilder::new(false)
        .send(BIND_REQUEST.to_vec())
        .expect(
            Expect::rbinary("^30")
                .min_recv(14)
                .on_error(Msg::Text(NOT_LDAP)),
        )
        .expect(Expect::custom(bind_response))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any bytes at all: a verdict or a wait, never a panic.
    #[test]
    fn arbitrary_replies_never_panic() {
        let mut x: u32 = 0x1234_5678;
        for n in 0..3000usize {
            let len = n % 40;
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if n % 3 == 0 && !b.is_empty() {
                b[0] = 0x30;
            }
            if n % 5 == 0 && b.len() > 1 {
                b[1] = 0x84;
            }
            for last in [false, true] {
                let _ = bind_response(&b, last, true);
                let e = bind_response(&b, last, true);
                if last {
                    assert!(!matches!(e, Eval::Wait));
                }
            }
        }
    }
}
