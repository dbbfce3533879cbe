//! A proxy at run time: what its frontend and backend halves need, compiled from the model.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use super::backend::Backend;
use super::http::errors::ErrorPages;
use super::http::rules::{Rules, compile_cond};
use super::sample::{CompiledCond, CompiledLogFormat};
use crate::config::diag::Diags;
use crate::model::proxy::{BackendRef, Mode, Options, Proxy, TcpAction, Timeouts};
use crate::model::{Caps, Config};

/// Where `use_backend` sends a request.
#[derive(Debug)]
pub enum BackendChoice {
    Index(usize),
    /// A log-format evaluated per request, then looked up by name.
    Dynamic(CompiledLogFormat),
}

#[derive(Debug)]
pub struct TcpRuleRt {
    pub accept: bool,
    pub cond: Option<CompiledCond>,
    /// `set-log-level`: not a verdict; the severity (0-7, -1 for `silent`) given to the
    /// transaction's log line, and evaluation goes on.
    pub log_level: Option<i8>,
}

/// `tcp-request connection` rules as seen for `expect-proxy layer4`: `Some(accept)` for
/// accept/reject (evaluation ends there), None for an expect-proxy rule.
#[derive(Debug)]
pub struct ExpectProxyRule {
    pub accept: Option<bool>,
    pub cond: Option<CompiledCond>,
}

/// Counters of a proxy (lock-free).
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub sessions: AtomicU64,
    /// Client connections open now (HAProxy's feconn).
    pub current: AtomicU64,
    pub requests: AtomicU64,
    pub denied: AtomicU64,
    pub errors_req: AtomicU64,
    pub errors_resp: AtomicU64,
    pub errors_conn: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    pub responses: [AtomicU64; 6],
    /// The frontend's counters for the stats (runtime/stats).
    pub fe: super::stats::counters::Counters,
}

impl ProxyCounters {
    pub fn status(&self, code: u16) {
        let i = match code {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.responses[i].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct ProxyRt {
    pub idx: usize,
    pub name: String,
    pub mode: Mode,
    pub caps: Caps,
    pub timeouts: Timeouts,
    pub options: Options,
    pub retries: u32,
    pub retry_on: crate::model::RetryOn,
    pub rules: Rules,
    pub errors: ErrorPages,
    pub backend: Option<Arc<Backend>>,
    pub use_backends: Vec<(BackendChoice, Option<CompiledCond>)>,
    pub default_backend: Option<usize>,
    /// `use-server NAME if COND`: server index and condition.
    pub use_servers: Vec<(usize, Option<CompiledCond>)>,
    pub monitor_uri: Option<String>,
    pub monitor_fail: Vec<CompiledCond>,
    pub tcp_connection: Vec<TcpRuleRt>,
    /// Empty unless some `tcp-request connection expect-proxy layer4` rule exists.
    pub expect_proxy: Vec<ExpectProxyRule>,
    /// `tcp-request content accept|reject` rules and `tcp-request inspect-delay`.
    pub tcp_content: Vec<TcpRuleRt>,
    pub inspect_delay: Option<std::time::Duration>,
    /// Frontend `maxconn`.
    pub conn_slots: Option<Arc<Semaphore>>,
    pub counters: ProxyCounters,
    pub disabled: bool,
    pub http_reuse: crate::model::proxy::HttpReuse,
    /// Cookie persistence, persist rules and captures.
    pub persist: super::persist::PersistRt,
    /// Traffic logs (frontends).
    pub log: super::txnlog::LogCfg,
}

/// Builds every proxy; problems the runtime finds go to `d`.
pub fn build_all(cfg: &Config, global_maxconn: u32, d: &mut Diags) -> Vec<Arc<ProxyRt>> {
    let names: HashMap<&str, usize> = cfg
        .proxies
        .iter()
        .enumerate()
        .filter(|(_, p)| p.caps.backend)
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    // fullconn's default: 10% of the summed maxconn of the frontends that can reach it.
    let mut fe_maxconn: HashMap<usize, u64> = HashMap::new();
    for (i, p) in cfg.proxies.iter().enumerate() {
        if !p.caps.frontend {
            continue;
        }
        let m = u64::from(p.maxconn.unwrap_or(global_maxconn));
        let mut targets: Vec<usize> = Vec::new();
        // A `listen` counts for itself unless it names a default backend.
        match p.default_backend.as_deref().and_then(|n| names.get(n)) {
            Some(b) => targets.push(*b),
            None if p.caps.backend => targets.push(i),
            None => {}
        }
        for u in &p.use_backends {
            if let BackendRef::Name(n) = &u.backend
                && let Some(b) = names.get(n.as_str())
            {
                targets.push(*b);
            }
        }
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            *fe_maxconn.entry(t).or_default() += m;
        }
    }
    cfg.proxies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // HAProxy rounds up, and a backend no frontend names gets 1.
            let fullconn = fe_maxconn
                .get(&i)
                .copied()
                .unwrap_or(0)
                .div_ceil(10)
                .clamp(1, u64::from(u32::MAX)) as u32;
            let mut px = build_one(i, p, &names, fullconn, cfg.global.ssl_server_verify, d);
            px.log = super::txnlog::LogCfg::build(p, &cfg.global, d);
            Arc::new(px)
        })
        .collect()
}

fn build_one(
    idx: usize,
    p: &Proxy,
    names: &HashMap<&str, usize>,
    fullconn: u32,
    ssl_server_verify: Option<crate::model::proxy::Verify>,
    d: &mut Diags,
) -> ProxyRt {
    let errors = ErrorPages::build(p);
    // Named ACLs compile once per proxy, however many conditions use them.
    let acls = super::sample::AclSet::new(&p.acls);
    let rules = Rules::build(
        &p.http_request,
        &p.http_response,
        &p.redirects,
        &p.legacy_rules,
        &acls,
        &errors,
        d,
    );
    let backend = p.caps.backend.then(|| {
        let mut b = Backend::build(p, fullconn);
        for s in &p.servers {
            let tls = crate::runtime::tls_client::TlsSettings::from_server(
                s.params.ssl.as_ref(),
                ssl_server_verify,
            );
            if s.params.ssl.as_ref().is_some_and(|t| t.enabled)
                && tls.verify
                && tls.ca_file.is_none()
            {
                d.warn(
                    s.span,
                    format!(
                        "in '{}': server '{}': ssl with verify required (the default) but no \
                         ca-file (HAProxy refuses this); its TLS handshakes fail. Set 'verify \
                         none', a 'ca-file', or 'ssl-server-verify none' in the global section",
                        p.name, s.name
                    ),
                );
            }
        }
        for (i, e) in b.setup_tls(p, ssl_server_verify) {
            if let Some(s) = p.servers.get(i) {
                crate::runtime::tls_bind::say_server_tls(d, &p.name, s, e);
            }
        }
        Arc::new(b)
    });
    let use_backends = p
        .use_backends
        .iter()
        .filter_map(|u| {
            let choice = match &u.backend {
                BackendRef::Name(n) => match names.get(n.as_str()) {
                    Some(i) => BackendChoice::Index(*i),
                    None => {
                        d.error(u.span, format!("unknown backend '{n}'"));
                        return None;
                    }
                },
                BackendRef::Dynamic(f) => match CompiledLogFormat::compile(f) {
                    Ok(f) => BackendChoice::Dynamic(f),
                    Err(e) => {
                        d.error(u.span, format!("cannot prepare backend name: {e}"));
                        return None;
                    }
                },
            };
            Some((choice, compile_cond(&u.cond, &acls, u.span, d)))
        })
        .collect();
    let use_servers = p
        .use_servers
        .iter()
        .filter_map(|u| {
            let i = p.servers.iter().position(|s| s.name == u.server)?;
            Some((i, compile_cond(&u.cond, &acls, u.span, d)))
        })
        .collect();
    let monitor_fail = p
        .monitor_fail
        .iter()
        .filter_map(|c| compile_cond(&Some(c.clone()), &acls, p.span, d))
        .collect();
    let tcp_connection = p
        .tcp_request_connection
        .iter()
        .filter_map(|r| {
            let accept = match &r.action {
                TcpAction::Accept => true,
                TcpAction::Reject => false,
                // Applied when the connection is accepted (see `expect_proxy`).
                TcpAction::ExpectProxy => return None,
                other => {
                    d.warn(
                        r.span,
                        format!(
                            "tcp-request connection {other:?} is not applied by this version's runtime; the rule is skipped"
                        ),
                    );
                    return None;
                }
            };
            Some(TcpRuleRt {
                accept,
                cond: compile_cond(&r.cond, &acls, r.span, d),
                log_level: None,
            })
        })
        .collect();
    let expect_proxy = if p
        .tcp_request_connection
        .iter()
        .any(|r| matches!(r.action, TcpAction::ExpectProxy))
    {
        p.tcp_request_connection
            .iter()
            .filter(|r| {
                matches!(
                    r.action,
                    TcpAction::Accept | TcpAction::Reject | TcpAction::ExpectProxy
                )
            })
            .map(|r| ExpectProxyRule {
                accept: match r.action {
                    TcpAction::ExpectProxy => None,
                    _ => Some(matches!(r.action, TcpAction::Accept)),
                },
                cond: compile_cond(&r.cond, &acls, r.span, d),
            })
            .collect()
    } else {
        Vec::new()
    };
    let tcp_content = p
        .tcp_request_content
        .iter()
        .filter_map(|r| {
            let mut log_level = None;
            let accept = match &r.action {
                TcpAction::Accept => true,
                TcpAction::Reject => false,
                TcpAction::SetLogLevel(l) => {
                    log_level = Some(
                        crate::model::LEVELS
                            .iter()
                            .position(|x| x == l)
                            .map_or(-1, |i| i as i8),
                    );
                    true
                }
                other => {
                    d.warn(
                        r.span,
                        format!(
                            "tcp-request content {other:?} is not applied by this version's runtime; the rule is skipped"
                        ),
                    );
                    return None;
                }
            };
            Some(TcpRuleRt {
                accept,
                cond: compile_cond(&r.cond, &acls, r.span, d),
                log_level,
            })
        })
        .collect();
    let persist = super::persist::PersistRt::build(p, &acls, d);
    unhonoured(p, d);
    ProxyRt {
        idx,
        name: p.name.clone(),
        mode: p.mode,
        caps: p.caps,
        timeouts: p.timeouts,
        options: p.options.clone(),
        retries: p.retries,
        retry_on: p.retry_on.clone(),
        rules,
        errors,
        backend,
        use_backends,
        default_backend: p
            .default_backend
            .as_deref()
            .and_then(|n| names.get(n).copied()),
        use_servers,
        monitor_uri: p.monitor_uri.clone(),
        monitor_fail,
        tcp_connection,
        expect_proxy,
        tcp_content,
        inspect_delay: p.inspect_delay,
        conn_slots: None,
        counters: ProxyCounters::default(),
        disabled: p.disabled,
        http_reuse: p.http_reuse,
        persist,
        log: Default::default(),
    }
}

/// Settings the model carries that this runtime does not apply yet: said once at start, so
/// nothing is ignored quietly.
fn unhonoured(p: &Proxy, d: &mut Diags) {
    let mut say = |what: &str| {
        d.warn(
            p.span,
            format!(
                "in '{}': {what} is not applied by this version's runtime yet",
                p.name
            ),
        );
    };
    if p.cookie.as_ref().is_some_and(|c| c.dynamic) {
        say("dynamic cookies (cookie ... dynamic)");
    }
    // TLS on bind lines is applied (runtime/tls_bind.rs, which warns for its own gaps).
    let srv_ssl = |s: &crate::model::Server| s.params.ssl.clone().filter(|t| t.enabled);
    if p.servers
        .iter()
        .filter_map(srv_ssl)
        .any(|t| t.ciphers.is_some() || t.ciphersuites.is_some())
    {
        say("ciphers/ciphersuites on TLS server lines (rustls' defaults are used)");
    }
    if p.servers
        .iter()
        .filter_map(srv_ssl)
        .any(|t| t.alpn.iter().any(|a| a != "http/1.1"))
    {
        say("ALPN other than http/1.1 to servers (HTTP/1.1 is spoken whatever is agreed)");
    }
    if p.rate_limit_sessions.is_some() {
        say("rate-limit sessions");
    }
    if p.transparent || p.binds.iter().any(|b| b.transparent) {
        say("transparent proxying");
    }
    if !p.monitor_net.is_empty() {
        say("monitor-net");
    }
    let sp = &p.options;
    if p.mode == Mode::Http && (sp.splice_auto || sp.splice_request || sp.splice_response) {
        say("splicing in mode http (data is copied; mode tcp connections are spliced)");
    }
    if p.binds.iter().any(|b| b.defer_accept || b.tfo) {
        say("bind options defer-accept and tfo");
    }
    if p.servers.iter().any(|s| s.params.proto.is_some()) {
        say("server 'proto' (connections to servers are HTTP/1.1)");
    }
    let o = &p.options;
    for (on, what) in [
        (o.http_pretend_keepalive, "option http-pretend-keepalive"),
        (o.checkcache, "option checkcache"),
        (o.prefer_last_server, "option prefer-last-server"),
        (p.max_keep_alive_queue.is_some(), "max-keep-alive-queue"),
    ] {
        if on {
            say(what);
        }
    }
}
