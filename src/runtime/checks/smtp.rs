//! The `option smtpchk`: banner, HELO/EHLO, QUIT check.

use std::sync::Arc;

use super::probe::{CheckCtx, Probe, ProbeFuture};
use super::{CheckStatus, Outcome};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p`.
pub fn probe(p: &Proxy) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(Todo)
}

// Placeholder until the dialogue lands.
#[derive(Debug)]
struct Todo;

impl Probe for Todo {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a> {
        Box::pin(async move {
            let _ = ctx;
            Outcome::new(CheckStatus::SockErr).with_info("check kind not implemented")
        })
    }
}
