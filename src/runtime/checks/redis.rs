//! The `option redis-check` check, as HAProxy 2.6 runs it: `PING` as a RESP array, and
//! `+PONG` anywhere in the reply passes ("Redis server is ok"); anything else is a wrong
//! status with the reply's first line as info.

use std::sync::Arc;

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{Expect, Msg, Script, ScriptBuilder, cut_crlf};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(script().bufsize(bufsize))
}

fn line(b: &[u8]) -> Vec<u8> {
    cut_crlf(b).to_vec()
}

/// The rules: (implicit connect), PING, expect +PONG.
pub fn script() -> Script {
    ScriptBuilder::new(false)
        .send(b"*1\r\n$4\r\nPING\r\n".to_vec())
        .expect(
            Expect::string(b"+PONG")
                .err_status(CheckStatus::L7Sts)
                .on_error(Msg::Fetch(line))
                .on_success(Msg::Text("Redis server is ok")),
        )
        .build()
}
