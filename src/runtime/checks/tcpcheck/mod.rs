//! The `option tcp-check` script (`tcp-check connect|send|send-binary|expect|comment`),
//! and in [`engine`] the rule interpreter every non-HTTP check kind runs on.

pub mod engine;

use std::sync::Arc;

use regex::bytes::Regex;

use self::engine::{Expect, Matcher, Script, ScriptBuilder};
use super::probe::{CheckCtx, Probe, ProbeFuture};
use crate::model::Proxy;
use crate::model::proxy::{ExpectMatch, TcpCheckStep};

/// Builds this kind's probe for the backend `p` (`bufsize`: `tune.bufsize`).
pub fn probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    Arc::new(user_script(&p.tcp_checks).bufsize(bufsize))
}

/// The user's steps as HAProxy runs them. Without any step the check is a plain connect
/// (`Layer4 check passed`, no info), as in 2.6.
pub fn user_script(steps: &[TcpCheckStep]) -> Script {
    let mut b = ScriptBuilder::new(true);
    for s in steps {
        b = match s {
            // `default` takes the check's own TLS setting; otherwise `ssl` decides.
            TcpCheckStep::Connect {
                port,
                send_proxy,
                ssl,
                default,
            } => b.connect_tls(*port, *send_proxy, (!*default || *ssl).then_some(*ssl)),
            TcpCheckStep::Send(bytes) => b.send(bytes.clone()),
            TcpCheckStep::Comment(c) => b.comment(c.clone()),
            TcpCheckStep::Expect { negate, matcher } => {
                let m = match matcher {
                    ExpectMatch::String(t) => Matcher::String(t.clone().into_bytes()),
                    ExpectMatch::Binary(v) => Matcher::Binary(v.clone()),
                    ExpectMatch::RString(re) => Matcher::RString(Regex::new(re).ok()),
                    ExpectMatch::RBinary(re) => Matcher::RBinary(Regex::new(re).ok()),
                    // HTTP-only matches cannot be written under tcp-check.
                    ExpectMatch::Status(_) | ExpectMatch::RStatus(_) => Matcher::String(Vec::new()),
                };
                let mut e = Expect::new(m);
                e.negate = *negate;
                b.expect(e)
            }
        };
    }
    b.build()
}

impl Probe for Script {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a> {
        Box::pin(self.run(ctx))
    }
}
