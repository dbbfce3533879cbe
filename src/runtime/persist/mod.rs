//! Session persistence in HTTP mode, as HAProxy 2.6 does it: the backend's `cookie`
//! (which server a request's cookie names, what the server sees of it, the `Set-Cookie`
//! the client gets), `force-persist`/`ignore-persist`, `option persist`, and the
//! frontend's `capture` declarations recorded per transaction.
//!
//! The HTTP session calls in at four points: [`PersistRt::capture_request`] when a request
//! arrives, [`PersistRt::on_request`] once the backend is known (before a server is
//! chosen), [`PersistRt::capture_response`] when the response head arrives and
//! [`PersistRt::on_response`] after the response rules.

pub mod cache;
pub mod capture;
pub mod cookie;
pub mod dates;

use crate::config::diag::Diags;
use crate::model::proxy::Proxy;
use crate::runtime::backend::{Admin, Backend, ServerState};
use crate::runtime::http::head::{RequestHead, ResponseHead};
use crate::runtime::http::rules::compile_cond;
use crate::runtime::sample::{AclSet, CompiledCond, EvalCtx, TxnInfo};

pub use capture::{CaptureCfg, Captures};
pub use cookie::{CookieRt, CookieState, CookieTxn, RequestFacts};

/// A proxy's persistence settings at run time.
#[derive(Debug, Default)]
pub struct PersistRt {
    /// The backend's `cookie`.
    pub cookie: Option<CookieRt>,
    /// `force-persist if COND`.
    pub force: Vec<CompiledCond>,
    /// `ignore-persist if COND`.
    pub ignore: Vec<CompiledCond>,
    /// `option persist`.
    pub persist: bool,
    /// The frontend's captures.
    pub captures: CaptureCfg,
}

/// Whether a server counts as running for persistence: up, and not in maintenance
/// (a draining server still takes the requests whose cookie names it).
pub fn running(s: &ServerState) -> bool {
    s.up.load(std::sync::atomic::Ordering::Relaxed) && s.admin() != Admin::Maint
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PersistRt {
    pub fn build(p: &Proxy, acls: &AclSet, d: &mut Diags) -> PersistRt {
        let compile = |conds: &[crate::model::expr::Condition], d: &mut Diags| {
            conds
                .iter()
                .filter_map(|c| compile_cond(&Some(c.clone()), acls, p.span, d))
                .collect()
        };
        PersistRt {
            cookie: p
                .cookie
                .as_ref()
                .map(|c| CookieRt::build(c, p.servers.iter().map(|s| s.cookie.clone()).collect())),
            force: compile(&p.force_persist, d),
            ignore: compile(&p.ignore_persist, d),
            persist: p.options.persist,
            captures: CaptureCfg::build(&p.captures),
        }
    }

    /// The frontend's request header captures, when the request arrives (before rules).
    pub fn capture_request(&self, req: &RequestHead, info: &mut TxnInfo) {
        if !self.captures.request.is_empty() {
            self.captures
                .request_headers(&req.headers, &mut info.captures);
        }
    }

    /// The frontend's response header captures, as the response head arrives.
    pub fn capture_response(&self, res: &ResponseHead, info: &mut TxnInfo) {
        if !self.captures.response.is_empty() {
            self.captures
                .response_headers(&res.headers, &mut info.captures);
        }
    }

    /// Whether a server named by `use-server` or a cookie may take the request: running,
    /// or down with `option persist` or `force-persist` (`force`).
    pub fn may_take(&self, s: &ServerState, force: bool) -> bool {
        running(s) || self.persist || force
    }

    /// `force-persist` / `ignore-persist` for this request: (force, ignore). A request
    /// matching both is forced (HAProxy takes the first rule declared; the model keeps the
    /// two lists apart).
    pub fn rules(&self, ctx: &EvalCtx) -> (bool, bool) {
        if self.force.iter().any(|c| c.eval(ctx)) {
            return (true, false);
        }
        (false, self.ignore.iter().any(|c| c.eval(ctx)))
    }

    /// This backend's reading of the request's cookie once the backend is known (`self` is
    /// the backend, `fe` the frontend, whose `capture cookie` is recorded first): the
    /// server the cookie names goes to `info.cookie.target`, and the request loses what
    /// the server must not see. `named`: the server `use-server` already chose.
    pub fn on_request(
        &self,
        fe: &PersistRt,
        be: &Backend,
        req: &mut RequestHead,
        named: Option<usize>,
        (force, ignore): (bool, bool),
        info: &mut TxnInfo,
    ) {
        fe.captures.request_cookie(&req.headers, &mut info.captures);
        info.cookie.force = force;
        let Some(c) = &self.cookie else {
            return;
        };
        let facts = RequestFacts {
            force,
            ignore,
            persist: self.persist,
            assigned: named.is_some(),
            now: now_secs(),
        };
        info.cookie = c.request(
            &mut req.headers,
            |i| be.servers.get(i).is_some_and(|s| running(s)),
            facts,
        );
        info.cookie.named = named;
        info.cookie.force = force;
    }

    /// The response's cookie for a transaction served by server `served` (after the
    /// response rules); `fe`'s `capture cookie` sees the server's `Set-Cookie` first.
    /// Returns the two cookie letters of the `%tsc` log field (`--` without a cookie).
    pub fn on_response(
        &self,
        fe: &PersistRt,
        served: usize,
        method: &str,
        res: &mut ResponseHead,
        info: &mut TxnInfo,
    ) -> [u8; 2] {
        fe.captures
            .response_cookie(&res.headers, &mut info.captures);
        let Some(c) = &self.cookie else {
            return *b"--";
        };
        // Direct: the server the cookie or `use-server` named; a request redispatched away
        // from it is no longer direct.
        let direct = info.cookie.target == Some(served) || info.cookie.named == Some(served);
        let set = c.response(&info.cookie, served, direct, method, res, now_secs());
        [info.cookie.state.letter(), set]
    }
}

#[cfg(test)]
mod tests;
