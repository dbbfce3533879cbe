//! Active health checks: what one check found ([`Outcome`], with HAProxy's check status
//! codes), the per-kind dialogues (one module each, all behind the [`Probe`] trait), the
//! shared rise/fall state ([`health`]), and the scheduler that runs them and takes servers
//! out and puts them back.

pub mod agent;
pub mod events;
pub mod health;
pub mod probe;
pub mod scheduler;
pub mod status;

pub mod http;
pub mod ldap;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod smtp;
pub mod sslhello;
pub mod tcp;
pub mod tcpcheck;
pub mod tls;

use std::sync::Arc;

pub use health::{Health, RiseFall, Step};
pub use probe::{CheckConn, CheckCtx, IoFail, Probe, ProbeFuture, ServerView};
pub use status::{CheckStatus, Outcome};

use crate::model::Proxy;
use crate::model::proxy::CheckKind;

/// The probe the backend's servers run, from its `option ...check` / `http-check` /
/// `tcp-check` settings; `bufsize` is `tune.bufsize` (how much of an answer HAProxy reads).
pub fn build_probe(p: &Proxy, bufsize: usize) -> Arc<dyn Probe> {
    match &p.options.check {
        CheckKind::Tcp => tcp::probe(p),
        CheckKind::Http(_) => Arc::new(http::HttpProbe::new(p, bufsize)),
        CheckKind::Smtp { .. } => smtp::probe(p, bufsize),
        CheckKind::Mysql { .. } => mysql::probe(p, bufsize),
        CheckKind::Pgsql { .. } => pgsql::probe(p, bufsize),
        CheckKind::Redis => redis::probe(p, bufsize),
        CheckKind::Ldap => ldap::probe(p, bufsize),
        CheckKind::SslHello => sslhello::probe(p, bufsize),
        CheckKind::TcpCheck => tcpcheck::probe(p, bufsize),
    }
}
