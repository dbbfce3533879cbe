//! The `option smtpchk` check, as HAProxy 2.6 runs it: the banner must be a single
//! `2xx` line, then `HELO localhost` (or the configured `HELO|EHLO <domain>`) must get a
//! `2xx` reply (multi-line allowed), then `QUIT` must get a `2xx`. The last reply's code
//! and text are the check's `code` and `info`.

use std::sync::Arc;

use super::CheckStatus;
use super::probe::Probe;
use super::tcpcheck::engine::{
    Expect, Msg, Script, ScriptBuilder, cut_crlf, leading_int, ltrim_spaces, payload,
};
use crate::model::Proxy;
use crate::model::proxy::CheckKind;

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`, the most
/// response a check looks at).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    let (verb, domain) = match &p.options.check {
        CheckKind::Smtp { helo, domain } => (helo.as_str(), domain.as_str()),
        _ => ("HELO", "localhost"),
    };
    Arc::new(script(verb, domain).bufsize(bufsize))
}

/// The whole first line (for a reply that is not SMTP at all).
fn line(b: &[u8]) -> Vec<u8> {
    cut_crlf(b).to_vec()
}

/// The reply text after the code.
fn text(b: &[u8]) -> Vec<u8> {
    cut_crlf(ltrim_spaces(payload(b, 4))).to_vec()
}

fn code(b: &[u8]) -> u32 {
    leading_int(&b[..b.len().min(3)])
}

/// "Some SMTP reply": three digits then a space or CR.
fn any_reply() -> Expect {
    Expect::rstring(r"^[0-9]{3}[ \r]")
        .min_recv(4)
        .on_error(Msg::Fetch(line))
}

/// A `2xx` reply (`multi`: `2xx-` continuation lines first are fine).
fn ok_reply(multi: bool, last: bool) -> Expect {
    let e = if multi {
        // No min-recv: a reply that does not match yet may still be incomplete.
        Expect::rstring(r"^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]")
    } else {
        Expect::rstring(r"^2[0-9]{2}[ \r]").min_recv(4)
    };
    let e = e
        .err_status(CheckStatus::L7Sts)
        .on_error(Msg::Fetch(text))
        .status_code(code);
    if last {
        e.on_success(Msg::Fetch(text))
    } else {
        e
    }
}

/// The rules: connect, banner, HELO/EHLO, its reply, QUIT, its reply.
pub fn script(verb: &str, domain: &str) -> Script {
    ScriptBuilder::new(false)
        .connect(None, false)
        .expect(any_reply())
        .expect(ok_reply(false, false))
        .send(format!("{verb} {domain}\r\n").into_bytes())
        .expect(ok_reply(true, false).on_success(Msg::Fetch(text)))
        .send(b"QUIT\r\n".to_vec())
        .expect(any_reply())
        .expect(ok_reply(false, true))
        .build()
}
