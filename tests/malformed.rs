//! Malformed configurations: each is rejected (or warned about) at a precise line and
//! column with a precise message, and never panics. Table-driven: (config, severity,
//! "line:col", message fragment, hint fragment or "").

use rproxy::config::build::BuildOptions;
use rproxy::config::diag::Severity;
use std::collections::HashMap;

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

const CASES: &[(&str, Severity, &str, &str, &str)] = &[
    // Lexer
    (
        "global\n  log \"127.0.0.1 local0\n",
        E,
        "2:7",
        "unmatched quote",
        "close the quote",
    ),
    (
        "global\n  node a\\x4g\n",
        E,
        "2:9",
        "hexadecimal sequence",
        "two hexadecimal digits",
    ),
    (
        "global\n  node \"$1\"\n",
        E,
        "2:10",
        "forbidden first character in environment variable name",
        "'\\$'",
    ),
    (
        "global\n  node \"${FOO\"\n",
        E,
        "2:9",
        "unmatched brace",
        "${NAME}",
    ),
    (
        "global\n  node \"${FOO[x]}\"\n",
        E,
        "2:14",
        "word expansion",
        "[*]",
    ),
    (
        ".if bogus(1)\n.endif\n",
        E,
        "1:5",
        "unparsable conditional expression",
        "predicates",
    ),
    (".endif\n", E, "1:1", "lone '.endif'", ""),
    (".if 1\nglobal\n", E, "1:1", "never closed", ""),
    (
        ".if 1\n.else\n.elif 1\n.endif\n",
        E,
        "3:1",
        "'.elif' after '.else'",
        "",
    ),
    (".alert \"stop here\"\nglobal\n", E, "1:1", "stop here", ""),
    (
        ".warning a b\n",
        E,
        "1:12",
        "unexpected argument 'b'",
        "quotes",
    ),
    // Sections
    (
        "lobal\n  maxconn 10\n",
        E,
        "1:1",
        "unknown keyword 'lobal' out of section",
        "did you mean 'global'?",
    ),
    (
        "frontend\n",
        E,
        "1:1",
        "'frontend' expects a name",
        "usage: frontend <name>",
    ),
    (
        "backend b 127.0.0.1:80\n",
        E,
        "1:11",
        "unexpected '127.0.0.1:80' after the backend name",
        "",
    ),
    (
        "defaults d\nbackend b from nope\n",
        E,
        "2:16",
        "defaults section 'nope' not found",
        "",
    ),
    (
        "peers p\n  peer a 127.0.0.1:1024\n",
        E,
        "1:1",
        "section 'peers' is not supported",
        "",
    ),
    (
        "frontend a/b\n",
        E,
        "1:10",
        "invalid character in frontend name 'a/b'",
        "letters, digits",
    ),
    // Global
    (
        "global\n  lgo 127.0.0.1 local0\n",
        E,
        "2:3",
        "unknown keyword 'lgo' in 'global' section",
        "did you mean 'log'?",
    ),
    (
        "global\n  log 127.0.0.1 local9\n",
        E,
        "2:17",
        "unknown log facility 'local9'",
        "",
    ),
    (
        "global\n  log 127.0.0.1 local0 loud\n",
        E,
        "2:24",
        "unknown log level 'loud'",
        "levels:",
    ),
    (
        "global\n  user nosuchuser_rproxy\n",
        E,
        "2:8",
        "cannot find user id for 'nosuchuser_rproxy'",
        "create this system user",
    ),
    (
        "global\n  group nosuchgroup_rproxy\n",
        E,
        "2:9",
        "cannot find group id for 'nosuchgroup_rproxy'",
        "",
    ),
    (
        "global\n  nbthread 0\n",
        E,
        "2:12",
        "'nbthread' must be at least 1",
        "",
    ),
    (
        "global\n  log global\n",
        E,
        "2:7",
        "'log global' is not allowed in the 'global' section",
        "",
    ),
    (
        "global\n  spread-checks 90\n",
        E,
        "2:17",
        "between 0 and 50",
        "",
    ),
    (
        "global\n  lua-load x.lua\n",
        E,
        "2:3",
        "'lua-load' is not supported by rproxy",
        "",
    ),
    (
        "global\n  maxconn many\n",
        E,
        "2:11",
        "expected a number of connections, got 'many'",
        "",
    ),
    (
        "global\n  tune.bufsize 16q\n",
        E,
        "2:18",
        "invalid size '16q'",
        "",
    ),
    // Proxy keywords
    (
        "defaults\n  bind :80\n",
        E,
        "2:3",
        "'bind' is not allowed in 'defaults' section",
        "",
    ),
    (
        "backend b\n  mode htp\n",
        E,
        "2:8",
        "unknown proxy mode 'htp'",
        "did you mean 'http'?",
    ),
    (
        "backend b\n  balance roundrobn\n",
        E,
        "2:11",
        "unknown balance algorithm 'roundrobn'",
        "did you mean 'roundrobin'?",
    ),
    (
        "backend b\n  hash-type weird\n",
        E,
        "2:13",
        "unknown hash-type 'weird'",
        "",
    ),
    (
        "backend b\n  server s\n",
        E,
        "2:11",
        "'server' expects an address",
        "",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 wieght 10\n",
        E,
        "2:25",
        "unknown server option 'wieght'",
        "did you mean 'weight'?",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 weight 300\n",
        E,
        "2:32",
        "weight 300 is out of range",
        "between 0 and 256",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 rise 0\n",
        E,
        "2:30",
        "expected a rise count of at least 1",
        "",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 inter\n",
        E,
        "2:25",
        "server option 'inter' expects an argument",
        "",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 check inter 2x\n",
        E,
        "2:38",
        "invalid time '2x'",
        "",
    ),
    (
        "backend b\n  server s 127.0.0.1:80\n  server s 127.0.0.1:81\n",
        E,
        "3:3",
        "server 'b/s' already exists",
        "unique",
    ),
    (
        "backend b\n  cookie S insert rewrite\n",
        E,
        "2:19",
        "mutually exclusive",
        "",
    ),
    (
        "backend b\n  cookie S rewrite maxidle 10s\n",
        E,
        "2:3",
        "'maxidle' and 'maxlife' require 'insert'",
        "",
    ),
    (
        "backend b\n  cookie S insert sticky\n",
        E,
        "2:19",
        "unknown cookie option 'sticky'",
        "",
    ),
    (
        "backend b\n  option httpchkk\n",
        E,
        "2:10",
        "unknown option 'httpchkk'",
        "did you mean 'httpchk'?",
    ),
    (
        "backend b\n  no option forwardfor\n",
        E,
        "2:13",
        "'no option forwardfor' is not supported",
        "",
    ),
    (
        "backend b\n  option forwardfor except 10.0.0.0/40\n",
        E,
        "2:37",
        "invalid network '10.0.0.0/40'",
        "",
    ),
    (
        "backend b\n  timeout conect 5s\n",
        E,
        "2:11",
        "unknown timeout 'conect'",
        "did you mean 'connect'?",
    ),
    (
        "backend b\n  timeout connect 5x\n",
        E,
        "2:20",
        "invalid time '5x'",
        "us, ms, s, m, h, d",
    ),
    (
        "backend b\n  retries x\n",
        E,
        "2:11",
        "expected a number, got 'x'",
        "",
    ),
    (
        "frontend f\n  bind 127.0.0.1:80\n  default_backend nope\n",
        E,
        "3:19",
        "unable to find required backend 'nope'",
        "",
    ),
    (
        "frontend f\n  bind 127.0.0.1:80\n  default_backend bk1\nbackend bk2\n",
        E,
        "3:19",
        "unable to find required backend 'bk1'",
        "did you mean 'bk2'?",
    ),
    (
        "frontend f\n  bind 127.0.0.1:443 ssl\n",
        E,
        "2:8",
        "'ssl' on a bind line needs a certificate",
        "crt",
    ),
    (
        "frontend f\n  bind 127.0.0.1:443 ssl crt /nonexistent/site.pem\n",
        E,
        "2:30",
        "unable to load certificate '/nonexistent/site.pem'",
        "",
    ),
    (
        "frontend f\n  bind 127.0.0.1:80 acept-proxy\n",
        E,
        "2:21",
        "unknown bind option 'acept-proxy'",
        "did you mean 'accept-proxy'?",
    ),
    (
        "frontend f\n  bind 127.0.0.1\n",
        E,
        "2:8",
        "invalid bind address '127.0.0.1'",
        "",
    ),
    (
        "listen l\n  errorfile 503 /nonexistent/503.http\n",
        E,
        "2:17",
        "error reading errorfile '/nonexistent/503.http'",
        "",
    ),
    (
        "listen l\n  errorfile 999 x\n",
        E,
        "2:13",
        "status code '999' cannot be customized",
        "",
    ),
    (
        "listen l\n  mode http\n  http-request set-haeder X y\n",
        E,
        "3:16",
        "unknown action 'set-haeder'",
        "did you mean 'set-header'?",
    ),
    (
        "listen l\n  mode http\n  http-request deny if\n",
        E,
        "3:21",
        "missing condition after 'if'",
        "",
    ),
    (
        "listen l\n  mode http\n  http-request deny when x\n",
        E,
        "3:21",
        "unexpected 'when'",
        "'if' or 'unless'",
    ),
    (
        "listen l\n  mode http\n  redirect location /x code 304\n",
        E,
        "3:29",
        "invalid redirect code '304'",
        "301 302 303 307 308",
    ),
    (
        "listen l\n  mode http\n  http-request return status 200 string x\n",
        E,
        "3:16",
        "'return' with a body needs a 'content-type'",
        "",
    ),
    (
        "listen l\n  capture cookie X len\n",
        E,
        "2:23",
        "'capture cookie' expects a length",
        "",
    ),
    (
        "listen l\n  stats auth admin\n",
        E,
        "2:14",
        "invalid stats auth 'admin'",
        "<user>:<password>",
    ),
    (
        "listen l\n  stats bogus\n",
        E,
        "2:9",
        "unknown stats keyword 'bogus'",
        "",
    ),
    (
        "listen l\n  tcp-request connection rejct\n",
        E,
        "2:26",
        "unknown action 'rejct'",
        "did you mean 'reject'?",
    ),
    (
        "listen l\n  acl a/b path /\n",
        E,
        "2:7",
        "invalid character in ACL name 'a/b'",
        "",
    ),
    (
        "listen l\n  reqirep ^(foo bar\n",
        E,
        "2:11",
        "invalid regular expression '^(foo'",
        "",
    ),
    (
        "listen l\n  monitor bogus\n",
        E,
        "2:11",
        "unknown monitor keyword 'bogus'",
        "",
    ),
    (
        "userlist u\n  user a pwd x\n",
        E,
        "2:10",
        "unexpected 'pwd' in 'user'",
        "",
    ),
    (
        "frontend f\n  mode http\n  bind 127.0.0.1:80\n  default_backend b\nbackend b\n  mode tcp\n  server s 127.0.0.1:1\n",
        E,
        "4:19",
        "http frontend 'f' uses tcp backend 'b'",
        "mode http",
    ),
    (
        "listen l\n  mode http\n  http-request deny if is_bad\n",
        E,
        "3:24",
        "unknown ACL 'is_bad'",
        "declare it above",
    ),
    (
        "listen l\n  mode http\n  acl is_api path_beg /api\n  use_backend b if is_apii\n",
        E,
        "4:20",
        "unknown ACL 'is_apii'",
        "did you mean 'is_api'?",
    ),
    (
        "listen l\n  mode tcp\n  acl h hdr(host) -i a.example.com\n",
        W,
        "3:3",
        "uses HTTP fetch",
        "mode http",
    ),
    // Warnings: accepted, but said
    (
        "backend b\n  mode tcp\n  option forwardfor\n",
        W,
        "3:3",
        "'option forwardfor' ignored for backend 'b' as it requires HTTP mode",
        "",
    ),
    (
        "backend b\n  server s 127.0.0.1:80 cookie A\n",
        W,
        "2:3",
        "has no 'cookie' directive",
        "",
    ),
    (
        "frontend f\n  bind 127.0.0.1:80\n  balance roundrobin\n",
        W,
        "3:3",
        "'balance' ignored because frontend 'f' has no backend capability",
        "",
    ),
    (
        "listen l 127.0.0.1:80\n",
        W,
        "1:10",
        "HAProxy 1.x syntax",
        "bind 127.0.0.1:80",
    ),
    (
        "defaults\n  contimeout 5000\n",
        W,
        "2:3",
        "'contimeout' is HAProxy 1.x syntax",
        "timeout connect",
    ),
    (
        "global\n  tune.ssl.cachesize 1000\n",
        W,
        "2:3",
        "accepted but not applied by rproxy yet",
        "",
    ),
];

fn opts() -> BuildOptions {
    BuildOptions {
        resolve_hosts: false,
        ..Default::default()
    }
}

#[test]
fn each_malformed_config_reports_line_column_and_message() {
    let env: HashMap<String, String> = HashMap::new();
    let mut failures = Vec::new();
    for (i, (text, sev, at, msg, hint)) in CASES.iter().enumerate() {
        let loaded = rproxy::config::load_str_with("t.cfg", text, &env, &opts());
        let found = loaded.diags.list.iter().find(|d| {
            d.severity == *sev
                && d.span
                    .is_some_and(|s| format!("{}:{}", s.line, s.col) == *at)
                && d.message.contains(msg)
                && (hint.is_empty() || d.hint.as_deref().is_some_and(|h| h.contains(hint)))
        });
        if found.is_none() {
            let got: Vec<String> = loaded
                .diags
                .list
                .iter()
                .map(|d| d.one_line(&loaded.sources))
                .collect();
            failures.push(format!(
                "case {i}: {text:?}\n  want {sev:?} at {at}: {msg} [{hint}]\n  got: {got:#?}"
            ));
        }
        if *sev == Severity::Error {
            assert!(!loaded.is_valid(), "case {i} must be rejected");
        }
    }
    assert!(CASES.len() >= 40);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_renders_with_a_caret() {
    let env: HashMap<String, String> = HashMap::new();
    for (text, ..) in CASES {
        let loaded = rproxy::config::load_str_with("t.cfg", text, &env, &opts());
        for d in &loaded.diags.list {
            let r = rproxy::config::diag::render(&loaded.sources, d, false);
            if d.span.is_some() {
                assert!(r.contains("--> t.cfg:") && r.contains('^'), "{r}");
            }
        }
    }
}
