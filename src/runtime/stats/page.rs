//! The stats page of a proxy with `stats enable`: which requests it answers (the `stats
//! uri` prefix), access (`stats http-request`, `stats auth` with HAProxy's 401, `stats
//! admin`), the exports chosen by the URI's `;csv`, `;json`, `;up`, `;norefresh`,
//! `;scope=` and `;st=` parts, and the admin form's POST, answered with a 303 as HAProxy
//! does.

use std::sync::atomic::Ordering;

use crate::config::diag::Diags;
use crate::model::proxy::{HttpAction, Proxy, StatsCfg};
use crate::runtime::Runtime;
use crate::runtime::backend::Admin;
use crate::runtime::http::head::RequestHead;
use crate::runtime::http::rules::compile_cond;
use crate::runtime::proxy::ProxyRt;
use crate::runtime::sample::{AclSet, CompiledCond, EvalCtx};

/// HAProxy's realm when `stats realm` is not set.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";
/// HAProxy's default `stats uri`.
pub const DEFAULT_URI: &str = "/haproxy?stats";

#[derive(Debug)]
enum Access {
    Allow,
    Deny,
    Auth(Option<String>),
}

/// A stats page's settings, compiled.
#[derive(Debug)]
pub struct PageCfg {
    pub uri: String,
    pub realm: String,
    auths: Vec<String>,
    pub refresh: Option<u64>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-modules`.
    pub show_modules: bool,
    /// `show-node`: the name to show (the global node name when given none).
    pub show_node: Option<String>,
    pub show_desc: Option<String>,
    /// `stats scope` names (`.` already replaced by the proxy's own).
    pub scopes: Vec<String>,
    admin: Vec<CompiledCond>,
    rules: Vec<(Access, Option<CompiledCond>)>,
}

impl PageCfg {
    pub fn build(p: &Proxy, s: &StatsCfg, d: &mut Diags) -> PageCfg {
        let acls = AclSet::new(&p.acls);
        let admin = s
            .admin
            .iter()
            .filter_map(|c| compile_cond(&Some(c.clone()), &acls, p.span, d))
            .collect();
        let rules = s
            .http_request
            .iter()
            .map(|r| {
                let a = match &r.action {
                    HttpAction::Allow => Access::Allow,
                    HttpAction::Auth { realm, .. } => Access::Auth(realm.clone()),
                    _ => Access::Deny,
                };
                (a, compile_cond(&r.cond, &acls, r.span, d))
            })
            .collect();
        PageCfg {
            uri: s.uri.clone().unwrap_or_else(|| DEFAULT_URI.to_string()),
            realm: s.realm.clone().unwrap_or_else(|| DEFAULT_REALM.to_string()),
            auths: s.auths.iter().map(|(u, p)| format!("{u}:{p}")).collect(),
            refresh: s.refresh.map(|r| r.as_secs()),
            hide_version: s.hide_version,
            show_legends: s.show_legends,
            show_modules: s.show_modules,
            show_node: s.show_node.clone(),
            show_desc: s.show_desc.clone(),
            scopes: s
                .scopes
                .iter()
                .map(|n| if n == "." { p.name.clone() } else { n.clone() })
                .collect(),
            admin,
            rules,
        }
    }

    /// Whether a request is for this page (its target starts with the `stats uri`).
    pub fn matches(&self, req: &RequestHead) -> bool {
        req.uri.starts_with(&self.uri) || req.path_and_query().starts_with(&self.uri)
    }
}

/// The page a proxy serves, if any.
pub fn config_for<'a>(rt: &'a Runtime, px: &ProxyRt) -> Option<&'a PageCfg> {
    rt.stats.proxies.get(px.idx)?.page.as_ref()
}

/// What the URI after the prefix asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub csv: bool,
    pub json: bool,
    pub up: bool,
    pub norefresh: bool,
    pub scope: Option<String>,
    pub st: Option<String>,
}

impl Flags {
    pub fn parse(rest: &str) -> Flags {
        let mut f = Flags::default();
        for part in rest.split(';').skip(1) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            // HAProxy looks for these words anywhere after the prefix; what follows a `?`
            // or `/` in a part is not part of the word.
            let k = k.split(['?', '/', '&']).next().unwrap_or("");
            match k {
                "csv" => f.csv = true,
                "json" => f.json = true,
                "up" => f.up = true,
                "norefresh" => f.norefresh = true,
                "scope" => {
                    let v: String = v
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "-_.:".contains(*c))
                        .collect();
                    f.scope = Some(v);
                }
                "st" => f.st = Some(v.chars().take_while(|c| c.is_ascii_uppercase()).collect()),
                _ => {}
            }
        }
        f
    }
}

/// The credentials of a Basic `Authorization` header: standard base64, padded, with
/// nothing around it, else `None` (HAProxy then answers 401, as for a wrong password).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    crate::runtime::sample::conv::base64_decode(s.as_bytes(), false)
}

/// Compares without stopping at the first difference, so that timing does not tell how
/// much of a password was right.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(1);
    }
    diff == 0
}

/// Whether the request carries one of the configured `user:password`.
fn authorized(cfg: &PageCfg, req: &RequestHead) -> bool {
    let Some(h) = req.headers.get("authorization") else {
        return false;
    };
    let h = String::from_utf8_lossy(h);
    let mut it = h.trim().splitn(2, ' ');
    let (Some(scheme), Some(cred)) = (it.next(), it.next()) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(given) = b64_decode(cred.trim()) else {
        return false;
    };
    let mut ok = false;
    for a in &cfg.auths {
        ok |= ct_eq(a.as_bytes(), &given);
    }
    ok
}

/// HAProxy's 401 for the stats page (its words and headers).
pub fn unauthorized(realm: &str) -> Vec<u8> {
    let body = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
    let realm = realm.replace('"', "\\\"");
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"{realm}\"\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn forbidden() -> Vec<u8> {
    let body = "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A 200 with a chunked body, as HAProxy sends its stats.
fn ok(ctype: &str, refresh: Option<u64>, body: &str) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: {ctype}\r\n");
    if let Some(r) = refresh {
        out.push_str(&format!("refresh: {r}\r\n"));
    }
    out.push_str("transfer-encoding: chunked\r\n\r\n");
    if !body.is_empty() {
        out.push_str(&format!("{:x}\r\n{body}\r\n", body.len()));
    }
    out.push_str("0\r\n\r\n");
    out.into_bytes()
}

fn see_other(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: {location}\r\n\r\n"
    )
    .into_bytes()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to a request for the page (`matches` was true): the whole response.
pub fn respond(
    rt: &Runtime,
    px: &ProxyRt,
    cfg: &PageCfg,
    req: &RequestHead,
    body: Option<&[u8]>,
    ctx: &EvalCtx,
) -> Vec<u8> {
    // `stats http-request` rules first: allow skips the authentication.
    let mut allowed = false;
    for (a, c) in &cfg.rules {
        if c.as_ref().is_none_or(|c| c.eval(ctx)) {
            match a {
                Access::Allow => allowed = true,
                Access::Deny => return forbidden(),
                Access::Auth(realm) => {
                    if !authorized(cfg, req) {
                        return unauthorized(realm.as_deref().unwrap_or(&cfg.realm));
                    }
                    allowed = true;
                }
            }
            break;
        }
    }
    if !allowed && !cfg.auths.is_empty() && !authorized(cfg, req) {
        return unauthorized(&cfg.realm);
    }
    let admin = cfg.admin.iter().any(|c| c.eval(ctx));
    let target = if req.uri.starts_with(&cfg.uri) {
        req.uri.as_str()
    } else {
        req.path_and_query()
    };
    let rest = &target[cfg.uri.len().min(target.len())..];
    let flags = Flags::parse(rest);
    if req.method == "POST" {
        let st = if admin {
            apply_admin(rt, body.unwrap_or_default())
        } else {
            "DENY"
        };
        // HAProxy keeps `;up` and `;norefresh` on the way back.
        let mut loc = format!("{};st={st}", cfg.uri);
        if flags.up {
            loc.push_str(";up");
        }
        if flags.norefresh {
            loc.push_str(";norefresh");
        }
        return see_other(&loc);
    }
    let refresh = cfg.refresh.filter(|_| !flags.norefresh);
    let scope = super::Scope {
        names: cfg.scopes.clone(),
        filter: flags.scope.clone(),
    };
    let mut rows = super::collect(rt);
    if !cfg.show_legends {
        super::hide_legends(&mut rows);
    }
    if flags.up {
        hide_down(&mut rows, rt);
    }
    if flags.csv {
        return ok("text/plain", refresh, &super::csv::render(&rows, &scope));
    }
    if flags.json {
        let mut j = super::json::render(&rows, &scope);
        j.push('\n');
        return ok("application/json", refresh, &j);
    }
    let page = super::html::render(&super::html::PageView {
        rt,
        px,
        cfg,
        rows: &rows,
        scope: &scope,
        flags: &flags,
        admin,
        refresh,
    });
    ok("text/html", refresh, &page)
}

/// A request the page is about to answer: intercepted by the frontend.
pub fn intercepted(fe: &ProxyRt) {
    fe.counters.fe.intercepted.fetch_add(1, Ordering::Relaxed);
}

/// Counts a request the page answered: denied when refused,
/// and, as HAProxy counts its stats applet, a session of the page's backend.
pub fn account(fe: &ProxyRt, px: &ProxyRt, req: &RequestHead, resp: &[u8]) {
    if resp.starts_with(b"HTTP/1.1 403") {
        fe.counters.fe.denied_req.fetch_add(1, Ordering::Relaxed);
        super::listener::with(|l| {
            l.denied_req.fetch_add(1, Ordering::Relaxed);
        });
    }
    if let Some(b) = &px.backend {
        let mut head = Vec::new();
        req.write_to(&mut head);
        b.stat.add_bytes(head.len() as u64, resp.len() as u64);
        b.stat.cli_abrt.fetch_add(1, Ordering::Relaxed);
        b.stat
            .last_sess
            .store(super::counters::now_ms() + 1, Ordering::Relaxed);
    }
}

/// `;up`: servers neither up nor draining are left out, and each backend's status says how
/// many of its servers are up, as HAProxy shows it then.
fn hide_down(rows: &mut Vec<super::StatRow>, rt: &Runtime) {
    rows.retain(|r| {
        if r.obj != super::ObjType::Server {
            return true;
        }
        let s = r.get("status").text();
        s.starts_with("UP") || s == "DRAIN" || s == "no check"
    });
    for r in rows.iter_mut().filter(|r| r.obj == super::ObjType::Backend) {
        let Some(be) = rt.proxies.get(r.proxy).and_then(|p| p.backend.as_ref()) else {
            continue;
        };
        let total = be.servers.len();
        let up = be
            .servers
            .iter()
            .filter(|s| s.admin() != Admin::Maint && s.up.load(Ordering::Relaxed))
            .count();
        let st = format!("{} ({up}/{total})", r.get("status").text());
        r.set("status", super::Value::Str(st));
    }
}

/// Applies an admin form (`s=SRV&...&action=ACTION&b=BACKEND`); returns HAProxy's result
/// code for `;st=`.
pub fn apply_admin(rt: &Runtime, body: &[u8]) -> &'static str {
    let body = String::from_utf8_lossy(body);
    let mut servers = Vec::new();
    let mut action = None;
    let mut backend = None;
    for kv in body.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = url_decode(v);
        match k {
            "s" => servers.push(v),
            "action" => action = Some(v),
            "b" => backend = Some(v),
            _ => {}
        }
    }
    let Some(backend) = backend else {
        return "ERRP";
    };
    let px = match backend.strip_prefix('#') {
        Some(id) => id.parse::<u32>().ok().and_then(|id| {
            rt.stats
                .proxies
                .iter()
                .position(|p| p.iid == id)
                .and_then(|i| rt.proxies.get(i))
        }),
        None => rt.proxies.iter().find(|p| p.name == backend),
    };
    let Some(be) = px.and_then(|p| p.backend.as_ref()) else {
        return "ERRP";
    };
    // HAProxy: nothing ticked, or no action chosen, is "nothing done".
    let Some(action) = action.filter(|a| !a.is_empty()) else {
        return "NONE";
    };
    if servers.is_empty() {
        return "NONE";
    }
    let mut done = 0;
    let mut failed = 0;
    for name in &servers {
        let Some(i) = be.servers.iter().position(|s| &s.name == name) else {
            failed += 1;
            continue;
        };
        let s = &be.servers[i];
        let applied = match action.as_str() {
            "ready" => set_admin(be, i, Admin::Ready),
            "drain" => set_admin(be, i, Admin::Drain),
            "maint" => set_admin(be, i, Admin::Maint),
            // Checks on and off: only servers that have them.
            "dhlth" | "ehlth" => match s.checker.get() {
                Some(c) => {
                    c.enabled.store(action == "ehlth", Ordering::Relaxed);
                    true
                }
                None => false,
            },
            // Forced operational states, with or without checks (the checks then move
            // the server on from there).
            "hrunn" | "hnolb" | "hdown" => {
                let up = action != "hdown";
                if let Some(c) = s.checker.get() {
                    if up {
                        c.rf.mark_up();
                    } else {
                        c.rf.mark_down();
                    }
                }
                s.up.store(up, Ordering::Relaxed);
                s.nolb.store(action == "hnolb", Ordering::Relaxed);
                true
            }
            "dagent" | "eagent" | "arunn" | "adown" => {
                crate::runtime::checks::agent::page_action(s, action.as_str())
            }
            "shutdown" => {
                s.kill.send_modify(|g| *g = g.wrapping_add(1));
                true
            }
            _ => return "ERRP",
        };
        if applied {
            s.counters.changed();
            super::counters::backend_health(be);
            done += 1;
        } else {
            failed += 1;
        }
    }
    match (done, failed) {
        (0, _)
            if servers
                .iter()
                .all(|n| !be.servers.iter().any(|s| &s.name == n)) =>
        {
            "ERRP"
        }
        (0, _) => "NONE",
        (_, 0) => "DONE",
        _ => "PART",
    }
}

/// Sets server `i`'s administrative state; leaving maintenance lets queued requests in.
fn set_admin(be: &std::sync::Arc<crate::runtime::backend::Backend>, i: usize, a: Admin) -> bool {
    let Some(s) = be.servers.get(i) else {
        return false;
    };
    let before = s.admin();
    s.admin.store(a as u8, Ordering::Release);
    super::counters::admin_changed(s, before, a);
    if before == Admin::Maint && a != Admin::Maint {
        be.dequeue(i);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let f = Flags::parse(";csv;norefresh;scope=app");
        assert!(f.csv && f.norefresh && !f.up);
        assert_eq!(f.scope.as_deref(), Some("app"));
        assert_eq!(Flags::parse(";st=DONE;up").st.as_deref(), Some("DONE"));
    }

    #[test]
    fn base64_and_compare() {
        assert_eq!(b64_decode("YWRtaW46c2VjcmV0").unwrap(), b"admin:secret");
        assert!(ct_eq(b"a:b", b"a:b"));
        assert!(!ct_eq(b"a:b", b"a:c"));
        assert!(!ct_eq(b"a:b", b"a:bc"));
    }

    /// Malformed credentials, as HAProxy 2.6.12 treats them on its stats page (observed:
    /// each of these gets a 401 for `stats auth admin:secre`): no panic, no access.
    #[test]
    fn malformed_base64_is_refused() {
        let cfg = PageCfg {
            uri: "/st".into(),
            realm: String::new(),
            auths: vec!["admin:secre".to_string()],
            refresh: None,
            hide_version: false,
            show_legends: false,
            show_modules: false,
            show_node: None,
            show_desc: None,
            scopes: Vec::new(),
            admin: Vec::new(),
            rules: Vec::new(),
        };
        let req = |v: &[u8]| {
            let mut r = RequestHead {
                method: "GET".into(),
                uri: "/st".into(),
                version: crate::runtime::http::head::Version::H11,
                headers: Default::default(),
            };
            r.headers.add("Authorization", v.to_vec());
            r
        };
        assert_eq!(b64_decode("YWRtaW46c2VjcmU=").unwrap(), b"admin:secre");
        for v in ["Basic YWRtaW46c2VjcmU=", "basic  YWRtaW46c2VjcmU= "] {
            assert!(authorized(&cfg, &req(v.as_bytes())), "{v}");
        }
        for v in [
            "Basic YWRtaW46c2VjcmU",
            "Basic YWRtaW46c2VjcmU=xx",
            "Basic YWRtaW46c2VjcmU=====",
            "Basic YWRtaW46c2VjcmU==",
            "Basic =YWRtaW46c2VjcmU",
            "Basic YWRt aW46c2VjcmU=",
            "Basic YWRtaW46c2Vj%mU=",
            "Basic !!!!",
            "Basic ====",
            "Basic =",
            "Basic",
            "Basic ",
            "Bearer YWRtaW46c2VjcmU=",
            "Basic \u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert!(!authorized(&cfg, &req(v.as_bytes())), "{v}");
        }
        // Bytes that are not UTF-8 at all.
        assert!(!authorized(&cfg, &req(b"Basic \xff\xfe\x80YQ==")));
        for v in [
            "",
            "=",
            "==",
            "===",
            "A",
            "AB=",
            "A===",
            "\u{0}\u{0}\u{0}\u{0}",
        ] {
            let _ = b64_decode(v);
        }
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("%23a+b"), "#a b");
        assert_eq!(url_decode("%2"), "%2");
    }
}
