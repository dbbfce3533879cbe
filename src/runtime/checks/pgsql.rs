//! The `option pgsql-check user <name>` check, as HAProxy 2.6 runs it: a protocol 3.0
//! startup message for the user; an `E` (error) reply is an invalid response with the
//! error's first field as info, and an authentication request (`R`) of the usual kinds
//! passes ("PostgreSQL server is ok").

use std::sync::Arc;

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{Expect, Msg, Script, ScriptBuilder, payload};
use crate::model::Proxy;
use crate::model::proxy::CheckKind;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    let user = match &p.options.check {
        CheckKind::Pgsql { user } => user.as_str(),
        _ => "",
    };
    Arc::new(script(user).bufsize(bufsize))
}

/// The StartupMessage: length, version 3.0, `user\0<name>\0`, and the final `\0`.
pub fn startup(user: &str) -> Vec<u8> {
    let len = 4 + 4 + 5 + user.len() + 1 + 1;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    v.extend_from_slice(&[0, 3, 0, 0]);
    v.extend_from_slice(b"user\0");
    v.extend_from_slice(user.as_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

/// An ErrorResponse's first field value (after `E`, the length and the field type).
fn error_field(b: &[u8]) -> Vec<u8> {
    payload(b, 6).to_vec()
}

/// The rules: connect, startup message, no error, an authentication request.
pub fn script(user: &str) -> Script {
    ScriptBuilder::new(false)
        .connect(None, false)
        .send(startup(user))
        .expect(
            Expect::rstring("^E")
                .negate()
                .min_recv(5)
                .on_error(Msg::Fetch(error_field)),
        )
        .expect(
            Expect::rbinary("^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)")
                .min_recv(9)
                .err_status(CheckStatus::L7Sts)
                .on_success(Msg::Text("PostgreSQL server is ok"))
                .on_error(Msg::Text("PostgreSQL unknown error")),
        )
        .build()
}
