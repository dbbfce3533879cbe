//! The default check: a plain TCP connect (`L4OK`), with the PROXY header first when
//! `check-send-proxy` asks for one.

use std::sync::Arc;

use super::probe::{CheckCtx, Probe, ProbeFuture};
use super::{CheckStatus, Outcome};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p`.
pub fn probe(p: &Proxy) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(Connect)
}

/// Connects, and passes once connected (the connection is closed at once).
#[derive(Debug)]
pub struct Connect;

impl Probe for Connect {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a> {
        Box::pin(async move {
            match ctx.connect(None).await {
                Ok(_conn) => Outcome::new(CheckStatus::L4Ok),
                Err(o) => o,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn connect_passes_refused_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ctx = CheckCtx::new(l.local_addr().unwrap(), Duration::from_secs(1), None);
        assert_eq!(Connect.check(&ctx).await.status, CheckStatus::L4Ok);
        let addr = l.local_addr().unwrap();
        drop(l);
        let ctx = CheckCtx::new(addr, Duration::from_secs(1), None);
        assert_eq!(Connect.check(&ctx).await.status, CheckStatus::L4Con);
    }
}
