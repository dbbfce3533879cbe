//! HTTP rules, side by side with haproxy 2.6: `http-request` header, target, variable and
//! answering actions, `http-response` header actions and deny, the `redirect` statement,
//! the 1.x `req*`/`rsp*` rules (compared with their 2.6 equivalents under haproxy, which
//! refuses the 1.x keywords), log-format values in rules, `option forwardfor` /
//! `option originalto`, and the X-Forwarded-* headers of the seed's SSL example.
//!
//! Observations compared for each family: status, `location`, the headers the server sees
//! (names, values, order) and the request line, the headers the client sees, the bodies of
//! `return` and redirects exactly; for deny and auth pages the head (rproxy's pages in
//! `errors/` have their own wording, so their bodies and lengths are left out).
//!
//! Facts pinned (HAProxy 2.6.12):
//! - header names reach the server lower-cased, in rule order; `set-header` removes every
//!   line of the name and appends one; frontend rules run before the backend's.
//! - `replace-header`/`replace-uri`/`replace-path` (and 1.x `reqrep`/`rsprep`): the
//!   regex may match anywhere and the whole value becomes the expansion (`\1`, `\xHH`);
//!   `replace-value` does that per comma-separated value, dropping the blanks around a
//!   replaced one (`a ,  xbcx  , bd,b` → `a ,<c>,<d>,b`).
//! - in rule log-formats a sample is never quoted (`%{+Q}[..]` is not, `%{+Q}ci` is) and
//!   control characters it carries are written `%XX` (`url_dec` cannot inject CR LF).
//! - `allow` stops the `http-request` list; backend `http-response` rules run before the
//!   frontend's; `http-response deny` answers 502.
//! - `deny deny_status N` sends the error page; `deny` with any `return` option
//!   (`status`, `content-type`, `string`, `hdr` ...) sends what `return` would (`hdr`
//!   lines first, then `content-length`, `content-type`; none for 204); reason phrases
//!   are HAProxy's table (`302 Moved Temporarily`, `413 Request Entity Too Large`).
//! - generated answers keep the connection (400 and 408 excepted); a redirect closes it
//!   when the request had a body.
//! - a redirect answers `content-length: 0`, `location`, `cache-control: no-cache` for
//!   302/303/307 and cookies as `NAME=VALUE; path=/;` (clear: `Max-Age=0;`); `prefix` and
//!   `scheme` keep the query and `append-slash` then adds `/` after it; the `redirect`
//!   statement's target is a plain string, `http-request redirect`'s a log-format.
//! - `auth` answers 401 with `www-authenticate: Basic realm="REALM"`, the proxy's name
//!   without a realm.
//! - `option forwardfor` appends `x-forwarded-for: CLIENT` after every rule-added header
//!   (`except`, `header`, `if-none` as documented); `option originalto` likewise.

mod common;
use common::*;

use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// `{{NAME}}` → mock address for each mock (its name upper-cased); DEFAULTS prepended.
fn with_mocks(template: &str, mocks: &[&MockServer]) -> String {
    let vars: Vec<(String, String)> = mocks
        .iter()
        .map(|m| (m.name().to_ascii_uppercase(), m.addr_str()))
        .collect();
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fill(&format!("{DEFAULTS}{template}"), &refs)
}

/// What the client saw, minus what legitimately differs between two runs (the mock's
/// connection counter, lengths of bodies that contain ports).
fn client_headers(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("x-conn-id") && !n.eq_ignore_ascii_case("content-length")
        })
        .cloned()
        .collect()
}

/// A locally generated page without its body and length: status line and headers.
fn shape(r: &Response) -> String {
    let mut out = format!("{} {} {}\r\n", r.version, r.status, r.reason);
    for (n, v) in &r.headers {
        let v = if n.eq_ignore_ascii_case("content-length") {
            "*"
        } else {
            v
        };
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out
}

/// The whole answer (head as received and body).
fn raw(r: &Response) -> String {
    format!("{}{}", r.raw_head, r.body_text())
}

/// What the server saw: request line and headers (names as received, in order), with the
/// engine's ports replaced by `{Pi}` so that both runs compare.
fn seen(side: &Side, r: &Response) -> (String, Vec<(String, String)>, String) {
    let e = r.echo();
    let norm = |s: &str| {
        let mut s = s.to_string();
        for (i, p) in side.ports.iter().enumerate() {
            s = s.replace(&p.to_string(), &format!("{{P{i}}}"));
        }
        s
    };
    (
        norm(&e.request_line),
        e.headers
            .iter()
            .map(|(n, v)| (n.clone(), norm(v)))
            .collect(),
        String::from_utf8_lossy(&e.body).into_owned(),
    )
}

fn h(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

#[test]
fn request_header_rules() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request set-header X-Set set-%[req.hdr(host)]-%[method]\n\
         http-request add-header X-Add first\n\
         http-request add-header X-Add second\n\
         http-request del-header X-Remove\n\
         http-request replace-header X-Rep ^(.*)-old$ \\1-new\n\
         http-request replace-value X-Val ^b(.*)$ B\\1\n\
         http-request replace-value X-Val2 b(.) <\\1>\n\
         http-request replace-header X-Part b(.) B\\1\\x41\n\
         http-request set-header X-MiXeD Case\n\
         http-request set-header X-Cond yes if { path_beg /cond }\n\
         http-request add-header X-Quoted \"a b, c\"\n\
         default_backend be\n\
         backend be\n  http-request set-header X-Be backend-rule\n  http-request del-header X-Fe-Only\n\
         server s {{A}}\n",
        &[&a],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let r1 = side
            .request(
                "GET",
                "/x",
                &[
                    ("X-Remove", "1"),
                    ("X-Rep", "thing-old"),
                    ("X-Rep", "other"),
                    ("X-Val", "a, bc, bd"),
                    ("X-Set", "orig"),
                    ("X-Add", "zero"),
                    ("x-remove", "2"),
                    ("X-Fe-Only", "1"),
                    ("X-Val2", "a ,  xbcx  , bd,b"),
                    ("X-Part", "abcd"),
                ],
                b"",
            )
            .unwrap();
        let r2 = side
            .request("POST", "/cond/y", &[("X-Rep", "new-thing")], b"data")
            .unwrap();
        [seen(side, &r1), seen(side, &r2)]
    });
    let want: Vec<(String, String)> = vec![
        h("host", SBS_HOST),
        h("x-rep", "thing-new"),
        h("x-rep", "other"),
        h("x-val", "a,Bc,Bd"),
        h("x-add", "zero"),
        h("x-val2", "a ,<c>,<d>,b"),
        h("x-part", "BcA"),
        h("x-set", "set-sbs.test-GET"),
        h("x-add", "first"),
        h("x-add", "second"),
        h("x-mixed", "Case"),
        h("x-quoted", "a b, c"),
        h("x-be", "backend-rule"),
    ];
    assert_eq!(hap[0].0, "GET /x HTTP/1.1");
    assert_eq!(hap[0].1, want);
    assert_eq!(hap, rp);
}

#[test]
fn request_target_rules() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request set-path /new%[path] if { path_beg /p/ }\n\
         http-request set-query q=%[query]&added=1 if { path_beg /q/ }\n\
         http-request set-uri /u?x=1 if { path_beg /u/ }\n\
         http-request set-method POST if { path_beg /m/ }\n\
         http-request replace-path /rp/(.*) /replaced/\\1 if { path_beg /rp/ }\n\
         http-request replace-uri ^/ru/(.*) /ruu/\\1 if { path_beg /ru/ }\n\
         http-request set-pathq /pq?z=1 if { path_beg /pq/ }\n\
         http-request set-header X-Path %[path] if { path_beg /p/ }\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let targets = [
        "/p/a?k=v",
        "/q/a?k=v",
        "/q/a",
        "/u/a?b",
        "/m/a",
        "/rp/a/b?x",
        "/ru/a?x",
        "/pq/a?y",
        "http://sbs.test/p/a?k=v",
        "/other?x",
    ];
    let (hap, rp) = side_by_side(&cfg, |side| {
        targets
            .iter()
            .map(|t| {
                let r = side.get(t);
                let s = seen(side, &r);
                (s.0, s.1)
            })
            .collect::<Vec<_>>()
    });
    let lines: Vec<&str> = hap.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /new/p/a?k=v HTTP/1.1",
            "GET /q/a?q=k=v&added=1 HTTP/1.1",
            "GET /q/a?q=&added=1 HTTP/1.1",
            "GET /u?x=1 HTTP/1.1",
            "POST /m/a HTTP/1.1",
            "GET /replaced/a/b?x HTTP/1.1",
            "GET /ruu/a?x HTTP/1.1",
            "GET /pq?z=1 HTTP/1.1",
            "GET http://sbs.test/new/p/a?k=v HTTP/1.1",
            "GET /other?x HTTP/1.1",
        ]
    );
    assert_eq!(hap, rp);
}

#[test]
fn deny_allow_return_auth() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request allow if { path_beg /allowed }\n\
         http-request deny if { path_beg /allowed/but }\n\
         http-request deny if { path_beg /deny }\n\
         http-request deny deny_status 429 if { path_beg /slow }\n\
         http-request deny deny_status 400 if { path_beg /bad }\n\
         http-request return status 200 content-type text/plain string \"hello world\" if { path /ret }\n\
         http-request return status 404 content-type \"text/html; charset=utf-8\" lf-string \"<p>%[path] not here</p>\" hdr X-A %[method] hdr X-B b if { path_beg /lf }\n\
         http-request return status 204 if { path /empty }\n\
         http-request return if { path /bare }\n\
         http-request auth realm \"My\\ Realm\" if { path_beg /auth } !{ req.hdr(authorization) -m found }\n\
         http-request auth if { path_beg /noname }\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let paths = [
        "/allowed/but/x",
        "/deny",
        "/slow",
        "/bad",
        "/ret",
        "/lf/x",
        "/empty",
        "/bare",
        "/auth",
        "/noname",
    ];
    let (hap, rp) = side_by_side(&cfg, |side| {
        let answers: Vec<Response> = paths.iter().map(|p| side.get(p)).collect();
        let authed = side
            .request("GET", "/auth", &[("Authorization", "Basic dTpw")], b"")
            .unwrap();
        // Keep-alive after each local answer, a body read past.
        let mut c = side.conn(0);
        let mut ka = Vec::new();
        for p in ["/deny", "/ret", "/auth", "/lf/y"] {
            let r = c.request("POST", p, &[], b"request body").unwrap();
            ka.push((r.status, r.header("connection").map(str::to_string)));
        }
        ka.push((c.get("/x").unwrap().status, None));
        (answers, authed.server().map(str::to_string), ka)
    });
    let statuses: Vec<u16> = hap.0.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 403, 429, 400, 200, 404, 204, 200, 401, 401]);
    assert_eq!(hap.0[0].server(), Some("a"));
    assert_eq!(hap.0[4].body_text(), "hello world");
    assert_eq!(hap.0[5].body_text(), "<p>/lf/x not here</p>");
    assert_eq!(
        hap.0[8].header("www-authenticate"),
        Some("Basic realm=\"My Realm\"")
    );
    for (i, (x, y)) in hap.0.iter().zip(&rp.0).enumerate() {
        let p = paths[i];
        if x.server().is_some() {
            assert_same(x, y, &["content-type"]);
        } else if x.status == 400 {
            // rproxy's 400 page has its own reason phrase ("Bad Request").
            assert_eq!(
                (x.status, client_headers(x)),
                (y.status, client_headers(y)),
                "{p}"
            );
        } else if x.status == 200 || x.status == 404 || x.status == 204 {
            assert_eq!(raw(x), raw(y), "{p}");
        } else {
            assert_eq!(shape(x), shape(y), "{p}");
        }
    }
    assert_eq!(hap.1.as_deref(), Some("a"));
    assert_eq!((&hap.1, &hap.2), (&rp.1, &rp.2));
}

#[test]
fn set_var_and_var() {
    if !require_haproxy() {
        return;
    }
    let (a, gold) = (MockServer::start("a"), MockServer::start("gold"));
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request set-var(txn.tier) str(gold) if { req.hdr(x-tier) -m str gold }\n\
         http-request set-var(txn.tier) str(basic) unless { var(txn.tier) -m found }\n\
         http-request set-var(req.n) int(41)\n\
         http-request set-var(txn.len) req.hdr(host),length\n\
         http-request set-var(sess.first) path if { path_beg /first }\n\
         http-request set-header X-Tier %[var(txn.tier)]\n\
         http-request set-header X-N %[var(req.n),add(1)]\n\
         http-request set-header X-Len %[var(txn.len)]\n\
         http-request set-header X-Missing <%[var(txn.nope)]>\n\
         http-request set-header X-Upper %[var(txn.tier),upper]\n\
         http-response set-header X-Tier-Resp %[var(txn.tier)]\n\
         use_backend be_gold if { var(txn.tier) -m str gold }\n\
         default_backend be\n\
         backend be\n  server s {{A}}\nbackend be_gold\n  server s {{GOLD}}\n",
        &[&a, &gold],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let g = side
            .request("GET", "/", &[("X-Tier", "gold")], b"")
            .unwrap();
        let b = side.get("/");
        [&g, &b].map(|r| {
            (
                r.server().map(str::to_string),
                r.header("x-tier-resp").map(str::to_string),
                seen(side, r).1,
            )
        })
    });
    assert_eq!(hap[0].0.as_deref(), Some("gold"));
    assert_eq!(hap[1].0.as_deref(), Some("a"));
    assert_eq!(hap[0].1.as_deref(), Some("gold"));
    assert_eq!(
        hap[1].2,
        [
            h("host", SBS_HOST),
            h("x-tier", "basic"),
            h("x-n", "42"),
            h("x-len", "8"),
            h("x-missing", "<>"),
            h("x-upper", "BASIC"),
        ]
    );
    assert_eq!(hap, rp);
}

#[test]
fn response_rules() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::builder("a")
        .mock("hdr=X-Drop:1,hdr=X-Rep:thing-old,hdr=X-Keep:k,hdr=Set-Cookie:a=1")
        .start();
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-response set-header X-Fe fe\n\
         http-response add-header X-Added fe\n\
         http-response del-header X-Drop\n\
         http-response replace-header X-Rep ^(.*)-old$ \\1-new\n\
         http-response deny if { res.hdr(x-bad) -m found }\n\
         http-response set-header X-Status %[status]\n\
         http-response add-header X-Req-Path %[var(txn.path)] if { var(txn.path) -m beg /p }\n\
         http-response set-header Set-Cookie b=2 if { var(txn.path) -m beg /cookie }\n\
         http-request set-var(txn.path) path\n\
         default_backend be\n\
         backend be\n  http-response set-header X-Be be\n  http-response add-header X-Added be\n\
         http-response deny deny_status 503 if { res.hdr(x-bad-be) -m found }\n\
         server s {{A}}\n",
        &[&a],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let plain = side.get("/p/x");
        let cookie = side.get("/cookie");
        let st = side
            .request("GET", "/", &[("x-mock", "status=404")], b"")
            .unwrap();
        let denied = side
            .request("GET", "/", &[("x-mock", "hdr=X-Bad:1")], b"")
            .unwrap();
        let denied_be = side
            .request("GET", "/", &[("x-mock", "hdr=X-Bad-Be:1")], b"")
            .unwrap();
        // The client connection goes on after a response-side deny.
        let mut c = side.conn(0);
        let d = c
            .request("GET", "/", &[("x-mock", "hdr=X-Bad:1")], b"")
            .unwrap();
        let next = c.get("/p/next").unwrap();
        (
            [&plain, &cookie, &st].map(|r| (r.status, client_headers(r))),
            [&denied, &denied_be, &d].map(shape),
            next.server().map(str::to_string),
        )
    });
    let names: Vec<&str> = hap.0[0].1.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "x-server",
            "x-rep",
            "x-keep",
            "set-cookie",
            "content-type",
            "x-be",
            "x-added",
            "x-fe",
            "x-added",
            "x-status",
            "x-req-path",
            "connection"
        ]
    );
    assert!(hap.1[0].starts_with("HTTP/1.1 502 "), "{}", hap.1[0]);
    assert!(hap.1[1].starts_with("HTTP/1.1 503 "), "{}", hap.1[1]);
    assert_eq!(hap.2.as_deref(), Some("a"));
    let cookies: Vec<&str> = hap.0[1]
        .1
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["b=2"]);
    assert_eq!(hap, rp);
}

#[test]
fn redirects() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request redirect location /login code 303 if { path /hr-loc }\n\
         http-request redirect prefix https://secure.example.com drop-query if { path_beg /hr-pre }\n\
         http-request redirect scheme https if { path_beg /hr-scheme }\n\
         http-request redirect location http://%[req.hdr(host)]/lf%[path]?from=%[method] if { path_beg /lf }\n\
         redirect scheme https if !{ ssl_fc } { path_beg /legacy-scheme }\n\
         redirect scheme https code 301 if { hdr(host) -m beg secure }\n\
         redirect location /moved code 301 if { path /l301 }\n\
         redirect location /moved code 302 if { path /l302 }\n\
         redirect location /moved code 303 if { path /l303 }\n\
         redirect location /moved code 307 if { path /l307 }\n\
         redirect location /moved code 308 if { path /l308 }\n\
         redirect location /moved drop-query if { path /ldq }\n\
         redirect prefix /new drop-query if { path_beg /pdq }\n\
         redirect prefix /new append-slash if { path_beg /pas }\n\
         redirect prefix /new code 307 if { path_beg /pkeep }\n\
         redirect prefix / if { path_beg /proot }\n\
         redirect location /x set-cookie SEEN=1 if { path /sc }\n\
         redirect location /x clear-cookie SEEN if { path /cc }\n\
         redirect location /x set-cookie SEEN if { path /scnv }\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let targets = [
        "/hr-loc?a=1",
        "/hr-pre/x?a=1",
        "/hr-scheme/x?a=1",
        "/lf/x?a=1",
        "/legacy-scheme/x?a=1",
        "/l301?a=1",
        "/l302?a=1",
        "/l303",
        "/l307",
        "/l308",
        "/ldq?a=1",
        "/pdq/x?a=1",
        "/pas/x?a=1",
        "/pas/x/",
        "/pkeep/x?a=1",
        "/proot/x?a=1",
        "/sc",
        "/cc",
        "/scnv",
    ];
    let (hap, rp) = side_by_side(&cfg, |side| {
        let mut out: Vec<String> = targets.iter().map(|t| raw(&side.get(t))).collect();
        let sec = side
            .request("GET", "/s?q", &[("Host", "secure.example.com")], b"")
            .unwrap();
        out.push(raw(&sec));
        // Keep-alive: a redirect keeps the connection; with a request body it closes.
        let mut c = side.conn(0);
        let r1 = c.get("/l302").unwrap();
        let r2 = c.get("/x").unwrap();
        let r3 = c.request("POST", "/l302", &[], b"body").unwrap();
        let closed = c.wait_closed();
        out.push(format!(
            "{} {:?} {} {:?} {closed}",
            r1.status,
            r2.server(),
            r3.status,
            r3.header("connection")
        ));
        out
    });
    assert_eq!(
        hap[0],
        "HTTP/1.1 303 See Other\r\ncontent-length: 0\r\nlocation: /login\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    );
    assert!(
        hap[4].contains("location: https://sbs.test/legacy-scheme/x?a=1\r\n"),
        "{}",
        hap[4]
    );
    let mut diffs = Vec::new();
    for (i, (x, y)) in hap.iter().zip(&rp).enumerate() {
        if x != y {
            diffs.push(format!(
                "{}:\nhaproxy: {x:?}\nrproxy:  {y:?}",
                targets.get(i).unwrap_or(&"(extra)")
            ));
        }
    }
    assert!(diffs.is_empty(), "\n{}", diffs.join("\n"));
}

/// Runs `hap_cfg` under haproxy and `rp_cfg` under rproxy (one after the other), each on
/// fresh ports for `{{Pi}}`, calling `exchange` for each.
fn run_pair<T>(hap_cfg: &str, rp_cfg: &str, mut exchange: impl FnMut(&Side) -> T) -> (T, T) {
    let mut run = |engine: Engine, template: &str| {
        let n = common::sbs::port_placeholders(template);
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let config = render_ports(template, &ports);
        let proxy = Proxy::start_engine(engine, &config);
        let side = Side {
            engine,
            proxy,
            ports,
            config,
        };
        exchange(&side)
    };
    let a = run(Engine::Haproxy, hap_cfg);
    let b = run(Engine::Rproxy, rp_cfg);
    (a, b)
}

#[test]
fn legacy_req_rsp_rules_mean_what_they_meant_in_1x() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::builder("a")
        .mock("hdr=X-Drop:1,hdr=X-Rep:thing-old,hdr=X-Keep:k")
        .start();
    let b = MockServer::start("b");
    let legacy = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         reqadd X-Added:\\ yes\n\
         reqdel ^X-Remove:\n\
         reqidel ^x-secret:.*\n\
         reqrep ^X-Low:\\ (.*) X-Low:\\ repl-\\1\n\
         reqrep ^GET\\ /old/(.*) GET\\ /new/\\1\n\
         reqdeny ^X-Evil:\n\
         reqsetbe ^GET\\ /be2 be2\n\
         reqallow ^X-Allowed:\n\
         reqdeny ^X-Allowed:\n\
         rspadd X-Rsp:\\ added\n\
         rspdeny ^X-Bad:\n\
         rspidel ^x-drop:\n\
         rsprep ^X-Rep:\\ (.*)-old X-Rep:\\ \\1-new\n\
         default_backend be\nbackend be\n  server s {{A}}\nbackend be2\n  server s {{B}}\n",
        &[&a, &b],
    );
    let modern = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request add-header X-Added yes\n\
         http-request del-header X-Remove\n\
         http-request del-header X-Secret\n\
         http-request replace-header X-Low (.*) repl-\\1\n\
         http-request replace-path /old/(.*) /new/\\1 if METH_GET\n\
         http-request deny if { req.hdr(x-evil) -m found }\n\
         http-request allow if { req.hdr(x-allowed) -m found }\n\
         http-request deny if { req.hdr(x-allowed) -m found }\n\
         use_backend be2 if METH_GET { path_beg /be2 }\n\
         http-response add-header X-Rsp added\n\
         http-response deny if { res.hdr(x-bad) -m found }\n\
         http-response del-header X-Drop\n\
         http-response replace-header X-Rep (.*)-old \\1-new\n\
         default_backend be\nbackend be\n  server s {{A}}\nbackend be2\n  server s {{B}}\n",
        &[&a, &b],
    );
    let (hap, rp) = run_pair(&modern, &legacy, |side| {
        let r = side
            .request(
                "GET",
                "/old/x?q=1",
                &[
                    ("X-Remove", "1"),
                    ("X-Secret", "s"),
                    ("X-Low", "v"),
                    ("X-Other", "o"),
                ],
                b"",
            )
            .unwrap();
        let denied = side.request("GET", "/", &[("X-Evil", "1")], b"").unwrap();
        let be2 = side.get("/be2/x");
        let allowed = side
            .request("GET", "/", &[("X-Allowed", "1")], b"")
            .unwrap();
        let bad = side
            .request("GET", "/", &[("x-mock", "hdr=X-Bad:1")], b"")
            .unwrap();
        (
            (seen(side, &r), client_headers(&r), shape(&denied)),
            (
                be2.server().map(str::to_string),
                allowed.status,
                shape(&bad),
            ),
        )
    });
    assert_eq!(hap.0.0.0, "GET /new/x?q=1 HTTP/1.1");
    assert_eq!(hap.1.0.as_deref(), Some("b"));
    assert_eq!(hap.1.1, 200);
    assert!(hap.1.2.starts_with("HTTP/1.1 502 "), "{}", hap.1.2);
    assert_eq!(
        hap.0.0.1,
        [
            h("host", SBS_HOST),
            h("x-low", "repl-v"),
            h("x-other", "o"),
            h("x-added", "yes"),
        ]
    );
    assert_eq!(hap, rp);
}

#[test]
fn log_format_values_per_request() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request set-header X-Dst-Port %[dst_port]\n\
         http-request set-header X-Src %[src]\n\
         http-request set-header X-Dst %[dst]\n\
         http-request set-header X-Host %[req.hdr(host)]\n\
         http-request set-header X-Ci %ci\n\
         http-request set-header X-Fi %fi\n\
         http-request set-header X-Fp %fp\n\
         http-request set-header X-F %f\n\
         http-request set-header X-B %b\n\
         http-request set-header X-Mixed \"%ci via %[dst]:%[dst_port] host=%[req.hdr(host),lower] m=%HM u=%HU\"\n\
         http-request set-header X-Quoted %{+Q}[req.hdr(host)]\n\
         http-request set-header X-Quoted-Var %{+Q}ci\n\
         default_backend be\n\
         backend be\n  http-request set-header X-Be-B %b\n  server s {{A}}\n",
        &[&a],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        // Per request: the Host changes the values on one connection.
        let mut c = side.conn(0);
        let r1 = c
            .request("GET", "/a?x", &[("Host", "One.Example")], b"")
            .unwrap();
        let r2 = c
            .request("POST", "/b", &[("Host", "two.example")], b"z")
            .unwrap();
        let cp = c.local_addr().port().to_string();
        [seen(side, &r1), seen(side, &r2)].map(|mut s| {
            for (_, v) in s.1.iter_mut() {
                *v = v.replace(&cp, "{CP}");
            }
            s
        })
    });
    let want1 = vec![
        h("host", "One.Example"),
        h("x-dst-port", "{P0}"),
        h("x-src", "127.0.0.1"),
        h("x-dst", "127.0.0.1"),
        h("x-host", "One.Example"),
        h("x-ci", "127.0.0.1"),
        h("x-fi", "127.0.0.1"),
        h("x-fp", "{P0}"),
        h("x-f", "fe"),
        h("x-b", "fe"),
        h(
            "x-mixed",
            "127.0.0.1 via 127.0.0.1:{P0} host=one.example m=GET u=/a?x",
        ),
        // `+Q` is not applied to samples in HTTP rules (it is to `%ci`-style variables).
        h("x-quoted", "One.Example"),
        h("x-quoted-var", "\"127.0.0.1\""),
        h("x-be-b", "be"),
    ];
    assert_eq!(hap[0].1, want1);
    assert!(hap[1].1.contains(&h("x-host", "two.example")));
    assert_eq!(hap, rp);
}

#[test]
fn forwardfor_and_originalto() {
    if !require_haproxy() {
        return;
    }
    let (a, b) = (MockServer::start("a"), MockServer::start("b"));
    let cfg = with_mocks(
        "frontend f0\n  bind 127.0.0.1:{{P0}}\n  option forwardfor\n  http-request set-header X-Rule 1\n  default_backend be\n\
         frontend f1\n  bind 127.0.0.1:{{P1}}\n  option forwardfor except 127.0.0.0/8\n  default_backend be\n\
         frontend f2\n  bind 127.0.0.1:{{P2}}\n  option forwardfor except 10.0.0.0/8 header X-Client\n  default_backend be\n\
         frontend f3\n  bind 127.0.0.1:{{P3}}\n  option forwardfor if-none\n  default_backend be\n\
         frontend f4\n  bind 127.0.0.1:{{P4}}\n  option originalto\n  default_backend be\n\
         frontend f5\n  bind 127.0.0.1:{{P5}}\n  option originalto header X-Orig except 10.0.0.0/8\n  option forwardfor\n  default_backend be\n\
         frontend f6\n  bind 127.0.0.1:{{P6}}\n  option forwardfor header X-Fe-Ff\n  default_backend be_ff\n\
         frontend f7\n  bind 127.0.0.1:{{P7}}\n  default_backend be_ff\n\
         backend be\n  server s {{A}}\n\
         backend be_ff\n  option forwardfor header X-Real-IP\n  http-request set-header X-Be-Rule 1\n  server s {{B}}\n",
        &[&a, &b],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let mut out = Vec::new();
        for i in 0..8 {
            for existing in [None, Some("192.0.2.1")] {
                let hdrs: Vec<(&str, &str)> = existing
                    .map(|v| vec![("X-Forwarded-For", v), ("X-Client", v)])
                    .unwrap_or_default();
                let r = side.request_to(i, "GET", "/", &hdrs, b"").unwrap();
                out.push(seen(side, &r).1);
            }
        }
        out
    });
    assert_eq!(
        hap[0],
        [
            h("host", SBS_HOST),
            h("x-rule", "1"),
            h("x-forwarded-for", "127.0.0.1"),
        ]
    );
    assert_eq!(hap, rp);
}

/// The seed's SSL offload example, plain-HTTP half: round robin over three servers,
/// `option forwardfor`, `X-Forwarded-Port` from `%[dst_port]`, `X-Forwarded-Proto` only
/// under TLS (so absent here).
#[test]
fn x_forwarded_headers_as_in_the_seed_ssl_example() {
    if !require_haproxy() {
        return;
    }
    let ms: Vec<MockServer> = ["web01", "web02", "web03"]
        .iter()
        .map(|n| MockServer::start(n))
        .collect();
    let refs: Vec<&MockServer> = ms.iter().collect();
    let cfg = with_mocks(
        "frontend localhost\n    bind 127.0.0.1:{{P0}}\n    mode http\n    default_backend nodes\n\n\
         backend nodes\n    mode http\n    balance roundrobin\n    option forwardfor\n\
         server web01 {{WEB01}}\n    server web02 {{WEB02}}\n    server web03 {{WEB03}}\n\
         http-request set-header X-Forwarded-Port %[dst_port]\n\
         http-request add-header X-Forwarded-Proto https if { ssl_fc }\n",
        &refs,
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        (0..4)
            .map(|i| {
                let r = side.get(&format!("/{i}"));
                (r.server().map(str::to_string), seen(side, &r).1)
            })
            .collect::<Vec<_>>()
    });
    let servers: Vec<Option<&str>> = hap.iter().map(|x| x.0.as_deref()).collect();
    assert_eq!(
        servers,
        [Some("web01"), Some("web02"), Some("web03"), Some("web01")]
    );
    assert_eq!(
        hap[0].1,
        [
            h("host", SBS_HOST),
            h("x-forwarded-port", "{P0}"),
            h("x-forwarded-for", "127.0.0.1"),
        ]
    );
    assert_eq!(hap, rp);
}

#[test]
fn tarpit_then_answers() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n  timeout tarpit 200ms\n\
         http-request tarpit if { path /tarpit }\n\
         http-request tarpit deny_status 403 if { path /tarpit403 }\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        c.set_timeout(Duration::from_secs(5));
        let r1 = c.get("/tarpit").unwrap();
        let r2 = side.get("/tarpit403");
        (shape(&r1), shape(&r2), a.requests())
    });
    assert!(hap.0.starts_with("HTTP/1.1 500 "), "{}", hap.0);
    assert_eq!(hap, rp);
}

/// `deny` given `return`'s options answers with them; `return`, `deny` replies and
/// `set-status` take HAProxy's reason phrases.
#[test]
fn deny_with_a_reply_and_reason_phrases() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request deny status 451 content-type text/plain string blocked hdr X-Why %[path] if { path /legal }\n\
         http-request deny deny_status 403 hdr X-Why rule if { path /hdr }\n\
         http-request deny status 429 if { path /status-only }\n\
         http-request return status 302 hdr Location /else if { path /r302 }\n\
         http-request return status 413 content-type text/plain string big if { path /r413 }\n\
         http-request return status 502 content-type text/plain lf-string \"%[method] no\" if { path /r502 }\n\
         http-request return status 299 if { path /r299 }\n\
         http-response set-status 418 if { status 404 }\n\
         http-response set-status 503 reason \"Not Now\" if { status 500 }\n\
         http-response deny status 500 content-type text/plain string nope if { status 501 }\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let (hap, rp) = side_by_side(&cfg, |side| {
        let mut out: Vec<String> = ["/legal", "/hdr", "/r302", "/r413", "/r502", "/r299"]
            .iter()
            .map(|p| raw(&side.get(p)))
            .collect();
        out.push(shape(&side.get("/status-only")));
        for st in ["404", "500"] {
            let r = side
                .request("GET", "/", &[("x-mock", &format!("status={st}"))], b"")
                .unwrap();
            out.push(format!("{} {} {:?}", r.status, r.reason, r.server()));
        }
        let r = side
            .request("GET", "/", &[("x-mock", "status=501")], b"")
            .unwrap();
        out.push(raw(&r));
        out
    });
    assert_eq!(
        hap[0],
        "HTTP/1.1 451 Unavailable For Legal Reasons\r\nx-why: /legal\r\ncontent-length: 7\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nblocked"
    );
    assert!(
        hap[1].starts_with("HTTP/1.1 403 Forbidden\r\nx-why: rule\r\ncontent-length: 0\r\n"),
        "{}",
        hap[1]
    );
    assert_eq!(hap[7], "418 I'm a teapot Some(\"a\")");
    assert_eq!(hap[8], "503 Not Now Some(\"a\")");
    let diffs: Vec<String> = hap
        .iter()
        .zip(&rp)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("haproxy: {x:?}\nrproxy:  {y:?}"))
        .collect();
    assert!(diffs.is_empty(), "\n{}", diffs.join("\n"));
}

/// Values built from the request cannot smuggle header lines: control characters that a
/// converter decodes are written `%XX` in header values, redirect locations and bodies.
#[test]
fn control_characters_from_samples_are_encoded() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         http-request redirect location /to?%[query,url_dec] if { path /redir }\n\
         http-request return status 200 content-type text/plain lf-string \"q=%[query,url_dec]\" if { path /ret }\n\
         http-request set-header X-Dec %[query,url_dec]\n\
         http-request set-header X-Esc %{+E}[query,url_dec]\n\
         default_backend be\nbackend be\n  server s {{A}}\n",
        &[&a],
    );
    let q = "a%0d%0aInjected:%20yes%00x%09y%7f%22%5d";
    let (hap, rp) = side_by_side(&cfg, |side| {
        let fwd = side.get(&format!("/x?{q}"));
        let e = fwd.echo();
        (
            e.header("x-dec").map(str::to_string),
            e.header("x-esc").map(str::to_string),
            e.header("injected").is_some(),
            raw(&side.get(&format!("/redir?{q}"))),
            raw(&side.get(&format!("/ret?{q}"))),
        )
    });
    assert_eq!(hap.0.as_deref(), Some("a%0D%0AInjected: yes%00x\ty%7F\"]"));
    assert!(!hap.2);
    assert_eq!(hap, rp);
}
