//! End-to-end tests of the sample engine: expressions, ACLs, conditions and log-format
//! strings parsed by the configuration parser, evaluated against a fixed transaction.
//! Expected converter outputs were checked against HAProxy 2.6.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::config::acl::{parse_acl_criterion, parse_condition};
use crate::config::lexer::{Word, lex_line};
use crate::config::logformat::{parse_log_format, parse_log_format_merging_spaces};
use crate::config::sample::parse_sample;
use crate::model::proxy::AclDef;
use crate::runtime::http::head::{Headers, RequestHead, ResponseHead, Version};

struct Fixture {
    conn: ConnInfo,
    req: Option<RequestHead>,
    res: Option<ResponseHead>,
    vars: Vars,
    info: TxnInfo,
}

impl Fixture {
    fn ctx(&self) -> EvalCtx<'_> {
        EvalCtx {
            conn: &self.conn,
            req: self.req.as_ref(),
            res: self.res.as_ref(),
            vars: &self.vars,
            info: &self.info,
        }
    }
}

fn headers(list: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (n, v) in list {
        h.add(n, v.as_bytes());
    }
    h
}

fn request(method: &str, uri: &str, hdrs: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.into(),
        uri: uri.into(),
        version: Version::H11,
        headers: headers(hdrs),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

/// A TLS request with a response, variables and transaction facts.
fn fixture() -> Fixture {
    let req = request(
        "GET",
        "/api/v1/users.json?id=42&lang=en&id=7",
        &[
            ("Host", "www.example.com:8080"),
            ("X-Forwarded-For", "10.0.0.1, 192.168.1.5"),
            ("X-Forwarded-For", "172.16.0.9"),
            ("Cookie", "SESSIONID=abc123; lang=fr"),
            ("Cookie", "theme=dark; n=12"),
            ("User-Agent", "Mozilla/5.0 (X11, Linux)"),
            ("Content-Length", "42"),
            ("X-Num", "17 apples"),
            ("X-Real-IP", "2001:db8::7"),
            ("X-Empty", ""),
        ],
    );
    let res = ResponseHead {
        version: Version::H10,
        status: 404,
        reason: "Not Found".into(),
        headers: headers(&[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "SRV=s1; Path=/"),
            ("Set-Cookie", "tok=xyz"),
            ("Server", "nginx"),
            ("X-Count", "3"),
        ]),
    };
    let mut vars = Vars::default();
    vars.set("txn.num", Value::Int(5));
    vars.set("txn.name", Value::Str("bob".into()));
    vars.set("txn.addr", Value::Ip(ip("10.1.2.3")));
    vars.set("txn.numstr", Value::Str("12".into()));
    Fixture {
        conn: ConnInfo {
            src: Some(sa("192.168.1.10:54321")),
            dst: Some(sa("10.0.0.5:443")),
            ssl: true,
            sni: Some("www.example.com".into()),
            ssl_version: Some("TLSv1.3".into()),
            ssl_cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            alpn: Some("http/1.1".into()),
            client_cert: false,
            ..Default::default()
        },
        req: Some(req),
        res: Some(res),
        vars,
        info: TxnInfo {
            frontend: "fe_main".into(),
            backend: Some("be_app".into()),
            server: Some("srv1".into()),
            status: Some(404),
            pid: 1234,
            accept_ms: 1_795_586_274_475,
            request_counter: 7,
            req_body: Some(b"a=1&b=2".to_vec()),
            ..TxnInfo::default()
        },
    }
}

/// The fixture during request processing: no response yet.
fn request_only() -> Fixture {
    Fixture {
        res: None,
        info: TxnInfo {
            backend: None,
            server: None,
            status: None,
            ..fixture().info
        },
        ..fixture()
    }
}

fn sample(text: &str) -> CompiledSample {
    let s = parse_sample(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    CompiledSample::compile(&s).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn eval(f: &Fixture, text: &str) -> Option<Value> {
    sample(text).eval(&f.ctx())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::Str(v.into()))
}

fn i(v: i64) -> Option<Value> {
    Some(Value::Int(v))
}

fn b(v: bool) -> Option<Value> {
    Some(Value::Bool(v))
}

fn a(v: &str) -> Option<Value> {
    Some(Value::Ip(ip(v)))
}

fn words(line: &str) -> Vec<Word> {
    lex_line(line, &HashMap::new()).unwrap_or_else(|e| panic!("{line}: {e:?}"))
}

fn acl_defs(lines: &[&str]) -> Vec<AclDef> {
    lines
        .iter()
        .map(|l| {
            let w = words(l);
            let crit =
                parse_acl_criterion(&w[1..]).unwrap_or_else(|(e, i)| panic!("{l}: {e} @{i}"));
            AclDef {
                name: w[0].text.clone(),
                criteria: vec![crit],
                span: Default::default(),
            }
        })
        .collect()
}

fn cond(text: &str, acls: &[AclDef]) -> CompiledCond {
    let w = words(text);
    let (unless, rest) = match w.first().map(|w| w.text.as_str()) {
        Some("unless") => (true, &w[1..]),
        Some("if") => (false, &w[1..]),
        _ => (false, &w[..]),
    };
    let c = parse_condition(rest, unless).unwrap_or_else(|(e, i)| panic!("{text}: {e} @{i}"));
    CompiledCond::compile(&c, acls).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn check(f: &Fixture, text: &str) -> bool {
    cond(text, &[]).eval(&f.ctx())
}

#[test]
fn fetches() {
    let f = fixture();
    let r = request_only();
    let cases: Vec<(&Fixture, &str, Option<Value>)> = vec![
        // Constants and environment.
        (&f, "always_true", b(true)),
        (&f, "always_false", b(false)),
        (&f, "int(-12)", i(-12)),
        (&f, "str(hello)", s("hello")),
        (&f, "str()", s("")),
        (&f, "bool(true)", b(true)),
        (&f, "bool(0)", b(false)),
        (&f, "bool(TRUE)", b(true)),
        (&f, "ipv4(10.0.0.1)", a("10.0.0.1")),
        (&f, "ipv6(2001:db8::1)", a("2001:db8::1")),
        (&f, "env(RPROXY_SAMPLE_TEST_UNSET)", None),
        (&f, "wait_end", b(true)),
        // The body waited for by option http-buffer-request.
        (&f, "req.body,length", i(7)),
        // Variables.
        (&f, "var(txn.num)", i(5)),
        (&f, "var(txn.name)", s("bob")),
        (&f, "var(txn.addr)", a("10.1.2.3")),
        (&f, "var(txn.none)", None),
        (&f, "var(txn.none,dflt)", s("dflt")),
        // Connection.
        (&f, "src", a("192.168.1.10")),
        (&f, "src_port", i(54321)),
        (&f, "dst", a("10.0.0.5")),
        (&f, "dst_port", i(443)),
        (&f, "ssl_fc", b(true)),
        (&f, "ssl_fc_sni", s("www.example.com")),
        (&f, "ssl_fc_protocol", s("TLSv1.3")),
        (&f, "ssl_fc_cipher", s("TLS_AES_128_GCM_SHA256")),
        (&f, "ssl_fc_has_sni", b(true)),
        (&f, "fe_name", s("fe_main")),
        (&f, "be_name", s("be_app")),
        (&f, "srv_name", s("srv1")),
        (&r, "be_name", None),
        // Request line.
        (&f, "method", s("GET")),
        (&f, "req.ver", s("1.1")),
        (&f, "req_ver", s("1.1")),
        (&f, "capture.req.ver", s("HTTP/1.1")),
        (&f, "capture.req.method", s("GET")),
        (&f, "url", s("/api/v1/users.json?id=42&lang=en&id=7")),
        (
            &f,
            "capture.req.uri",
            s("/api/v1/users.json?id=42&lang=en&id=7"),
        ),
        (&f, "path", s("/api/v1/users.json")),
        (&f, "pathq", s("/api/v1/users.json?id=42&lang=en&id=7")),
        (&f, "query", s("id=42&lang=en&id=7")),
        (&f, "base", s("www.example.com:8080/api/v1/users.json")),
        (
            &f,
            "baseq",
            s("www.example.com:8080/api/v1/users.json?id=42&lang=en&id=7"),
        ),
        (&f, "req.proto_http", b(true)),
        // URL parameters: the first occurrence on its own.
        (&f, "url_param(id)", s("42")),
        (&f, "urlp(lang)", s("en")),
        (&f, "url_param", s("42")),
        (&f, "url_param(nope)", None),
        (&f, "urlp_val(id)", i(42)),
        (&f, "url_param(v1,/)", None),
        // Request headers: the last value on its own, or the occurrence asked for.
        (&r, "hdr(host)", s("www.example.com:8080")),
        (&f, "hdr(host)", None),
        (&f, "req.hdr(x-forwarded-for)", s("172.16.0.9")),
        (&f, "req.hdr(x-forwarded-for,1)", s("10.0.0.1")),
        (&f, "req.hdr(x-forwarded-for,2)", s("192.168.1.5")),
        (&f, "req.hdr(x-forwarded-for,-1)", s("172.16.0.9")),
        (&f, "req.hdr(x-forwarded-for,-3)", s("10.0.0.1")),
        (&f, "req.hdr(x-forwarded-for,4)", None),
        (&f, "req.hdr(user-agent)", s("Linux)")),
        (&f, "req.fhdr(user-agent)", s("Mozilla/5.0 (X11, Linux)")),
        (&f, "req.fhdr(x-forwarded-for)", s("172.16.0.9")),
        (
            &f,
            "req.fhdr(x-forwarded-for,1)",
            s("10.0.0.1, 192.168.1.5"),
        ),
        (&f, "req.hdr(X-EMPTY)", s("")),
        (&f, "req.hdr(missing)", None),
        (&f, "req.hdr", None),
        (&f, "hdr_cnt(x-forwarded-for)", i(3)),
        (&f, "req.hdr_cnt(x-forwarded-for)", i(3)),
        (&f, "req.fhdr_cnt(x-forwarded-for)", i(2)),
        (&f, "req.hdr_cnt(missing)", i(0)),
        (&f, "req.hdr_cnt", i(12)),
        (&f, "hdr_val(content-length)", i(42)),
        (&f, "req.hdr_val(x-num)", i(17)),
        (&f, "req.hdr_val(user-agent)", i(0)),
        (&f, "hdr_ip(x-forwarded-for)", a("172.16.0.9")),
        (&f, "req.hdr_ip(x-forwarded-for,1)", a("10.0.0.1")),
        (&f, "req.hdr_ip(x-real-ip)", a("2001:db8::7")),
        (&f, "req.hdr_ip(host)", None),
        (
            &f,
            "req.hdr_names",
            s(
                "host,x-forwarded-for,x-forwarded-for,cookie,cookie,user-agent,content-length,x-num,x-real-ip,x-empty",
            ),
        ),
        // Cookies: the last of a name, the first without a name.
        (&f, "req.cook(lang)", s("fr")),
        (&f, "cook(SESSIONID)", s("abc123")),
        (&f, "req.cook", s("abc123")),
        (&f, "req.cook(nope)", None),
        (&f, "req.cook_cnt(theme)", i(1)),
        (&f, "req.cook_cnt", i(4)),
        (&f, "cook_cnt(lang)", i(1)),
        (&f, "req.cook_val(n)", i(12)),
        (&f, "cook_val(n)", i(12)),
        // Response.
        (&f, "status", i(404)),
        (&f, "res.ver", s("1.0")),
        (&f, "resp_ver", s("1.0")),
        (&f, "capture.res.ver", s("HTTP/1.0")),
        (&f, "res.hdr(server)", s("nginx")),
        (&f, "shdr(server)", s("nginx")),
        (&f, "res.hdr(content-type)", s("text/html; charset=utf-8")),
        (&f, "res.hdr_cnt(set-cookie)", i(2)),
        (&f, "shdr_cnt(set-cookie)", i(2)),
        (&f, "res.hdr_val(x-count)", i(3)),
        (&f, "res.cook(SRV)", s("s1")),
        (&f, "scook(tok)", s("xyz")),
        (&f, "res.cook(Path)", None),
        (&f, "res.cook_cnt(SRV)", i(1)),
        (&f, "scook_cnt(tok)", i(1)),
        // `hdr` and `cookie` follow the direction: response when there is one.
        (&f, "hdr(server)", s("nginx")),
        (&r, "hdr(server)", None),
        (&r, "hdr(x-num)", s("17 apples")),
        (&f, "cookie(tok)", s("xyz")),
        (&r, "cookie(lang)", s("fr")),
        (&r, "status", None),
        (&r, "res.hdr(server)", None),
        (&r, "res.ver", None),
        // Host name of the machine.
        (&f, "hostname", s(super::fetch::hostname())),
    ];
    for (fx, text, want) in cases {
        assert_eq!(eval(fx, text), want, "{text}");
    }
}

#[test]
fn fetches_without_a_message() {
    let f = Fixture {
        req: None,
        res: None,
        conn: ConnInfo::default(),
        ..fixture()
    };
    for text in [
        "path",
        "url",
        "method",
        "req.hdr(host)",
        "req.hdr_cnt(host)",
        "req.cook(a)",
        "url_param(a)",
        "base",
        "query",
        "req.ver",
        "src",
        "src_port",
        "dst",
        "dst_port",
        "ssl_fc_sni",
        "req.proto_http",
        "res.hdr(x)",
        "status",
    ] {
        assert_eq!(eval(&f, text), None, "{text}");
    }
    assert_eq!(eval(&f, "ssl_fc"), b(false));
}

#[test]
fn paths_of_other_targets() {
    let mk = |uri: &str| Fixture {
        req: Some(request("GET", uri, &[("host", "h")])),
        ..request_only()
    };
    let cases: Vec<(&str, &str, Option<Value>)> = vec![
        ("http://example.com/a/b?q=1", "path", s("/a/b")),
        ("http://example.com/a/b?q=1", "pathq", s("/a/b?q=1")),
        ("http://example.com/a/b?q=1", "base", s("h/a/b")),
        ("http://example.com", "path", None),
        ("http://example.com", "base", s("h")),
        ("*", "path", None),
        ("*", "url", s("*")),
        ("example.com:443", "path", None),
        ("/no-query", "query", None),
        ("/q?", "query", s("")),
    ];
    for (uri, text, want) in cases {
        assert_eq!(eval(&mk(uri), text), want, "{uri} {text}");
    }
    // The base32 value HAProxy gives for Host www.example.com and path /a/b.
    let f = Fixture {
        req: Some(request("GET", "/a/b?x=1", &[("host", "www.example.com")])),
        ..request_only()
    };
    assert_eq!(eval(&f, "base32"), i(1_979_360_161));
    // Without a Host header, base is the path alone.
    let f = Fixture {
        req: Some(request("GET", "/p", &[])),
        ..request_only()
    };
    assert_eq!(eval(&f, "base"), s("/p"));
}

#[test]
fn dynamic_fetches() {
    let f = fixture();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let Some(Value::Int(d)) = eval(&f, "date") else {
        panic!("date")
    };
    assert!((d - now).abs() < 5, "{d} {now}");
    let Some(Value::Int(d)) = eval(&f, "date(3600)") else {
        panic!("date(3600)")
    };
    assert!((d - now - 3600).abs() < 5);
    let Some(Value::Int(d)) = eval(&f, "date(0,ms)") else {
        panic!("date ms")
    };
    assert!((d / 1000 - now).abs() < 5);
    for _ in 0..100 {
        let Some(Value::Int(r)) = eval(&f, "rand(10)") else {
            panic!("rand")
        };
        assert!((0..10).contains(&r), "{r}");
    }
    let Some(Value::Int(r)) = eval(&f, "rand") else {
        panic!("rand")
    };
    assert!((0..=u32::MAX as i64).contains(&r));
    if let Ok(path) = std::env::var("PATH") {
        assert_eq!(eval(&f, "env(PATH)"), s(&path));
    }
}

#[test]
fn converters() {
    let f = fixture();
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("str(aBc),lower", s("abc")),
        ("str(aBc),upper", s("ABC")),
        ("req.hdr(host),lower,upper", s("WWW.EXAMPLE.COM:8080")),
        ("str(hello),length", i(5)),
        ("str(hello),base64", s("aGVsbG8=")),
        ("str(hi),base64", s("aGk=")),
        ("str(aGVsbG8=),b64dec", Some(Value::Bin(b"hello".to_vec()))),
        ("str(aGVsbG8),b64dec", None),
        ("str(hi?>),ub64enc", s("aGk_Pg")),
        ("str(aGk_Pg),ub64dec", Some(Value::Bin(b"hi?>".to_vec()))),
        ("str(hi!),hex", s("686921")),
        ("str(ff),hex2i", i(255)),
        ("str(fz),hex2i", None),
        ("str(a%20b+c),url_dec", s("a b+c")),
        ("str(a%20b+c),url_dec(1)", s("a b c")),
        ("str(/p?a+b),url_dec", s("/p?a b")),
        ("str(a%2),url_dec", None),
        ("str(a b&c),url_enc", s("a%20b%26c")),
        ("str(a..b.c),word(2,.)", s("b")),
        ("str(a..b.c),word(-1,.)", s("c")),
        ("str(a.b.c.d),word(2,.,2)", s("b.c")),
        ("str(a.b),word(5,.)", s("")),
        ("str(a..b.c),field(2,.)", s("")),
        ("str(a..b.c),field(-1,.)", s("c")),
        ("str(a.b.c.d),field(3,.,2)", s("c.d")),
        ("str(a.b),field(9,.)", None),
        ("req.hdr(user-agent,1),field(1,/)", s("Mozilla")),
        ("str(aXbXc),regsub(X,-)", s("a-bXc")),
        ("str(aXbXc),regsub(X,-,g)", s("a-b-c")),
        ("str(aXbxc),regsub(x,_,gi)", s("a_b_c")),
        ("str(abc),regsub(x*,-,g)", s("-a-b-c-")),
        (
            "str(abc-def),regsub(\"([a-z]+)-([a-z]+)\",\"\\\\2+\\\\1\")",
            s("def+abc"),
        ),
        ("path,regsub(^/api/,/,)", s("/v1/users.json")),
        ("str(abcdef),bytes(2,3)", Some(Value::Bin(b"cde".to_vec()))),
        ("str(abcdef),bytes(4)", Some(Value::Bin(b"ef".to_vec()))),
        ("str(abc),bytes(9)", Some(Value::Bin(vec![]))),
        ("str(xxaxx),ltrim(x)", s("axx")),
        ("str(xxaxx),rtrim(x)", s("xxa")),
        ("str(xxxx),rtrim(x)", s("")),
        ("str(a),concat(<,txn.name,>)", s("a<bob>")),
        ("str(a),concat(<,txn.none,>)", s("a<>")),
        ("str(a),concat(-)", s("a-")),
        ("str(a),add_item(;,txn.name,x)", s("a;bobx")),
        ("str(),add_item(;,txn.name)", s("bob")),
        ("str(bob),strcmp(txn.name)", i(0)),
        ("str(abc),strcmp(txn.name)", i(-1)),
        ("str(bobby),strcmp(txn.name)", i(1)),
        ("str(x),strcmp(txn.none)", None),
        (r#"str(a\"b/c),json"#, s(r#"a\"b\/c"#)),
        ("str(abc),djb2", i(193_485_963)),
        ("str(abc),djb2(1)", i(2_235_766_107)),
        ("str(abc),sdbm", i(807_794_786)),
        ("str(abc),sdbm(1)", i(659_243_622)),
        ("str(123456789),crc32", i(3_421_780_262)),
        ("str(123456789),crc32c", i(3_808_858_755)),
        ("str(abc),wt6", i(2_483_038_440)),
        ("str(hello world),wt6(1)", i(2_174_767_729)),
        (
            "str(abc),sha1,hex",
            s("A9993E364706816ABA3E25717850C26C9CD0D89D"),
        ),
        (
            "int(784111777),http_date",
            s("Sun, 06 Nov 1994 08:49:37 GMT"),
        ),
        (
            "int(784111777123),http_date(0,ms)",
            s("Sun, 06 Nov 1994 08:49:37.123 GMT"),
        ),
        (
            "int(784111717),http_date(60)",
            s("Sun, 06 Nov 1994 08:49:37 GMT"),
        ),
        ("int(5),add(txn.num)", i(10)),
        ("int(5),add(3)", i(8)),
        ("int(5),add(txn.none)", None),
        ("int(5),add(txn.numstr)", i(17)),
        ("int(5),sub(7)", i(-2)),
        ("int(9223372036854775807),mul(2)", i(i64::MAX)),
        ("int(-9223372036854775807),sub(9)", i(i64::MIN)),
        ("int(7),mul(-3)", i(-21)),
        ("int(7),div(2)", i(3)),
        ("int(7),div(0)", i(i64::MAX)),
        ("int(-9223372036854775808),div(-1)", i(i64::MAX)),
        ("int(7),mod(3)", i(1)),
        ("int(7),mod(0)", i(0)),
        ("int(6),and(3)", i(2)),
        ("int(6),or(3)", i(7)),
        ("int(6),xor(3)", i(5)),
        ("int(3),neg", i(-3)),
        ("int(-9223372036854775808),neg", i(i64::MAX)),
        ("int(0),cpl", i(-1)),
        ("int(3),odd", b(true)),
        ("int(3),even", b(false)),
        ("int(0),not", b(true)),
        ("int(7),bool", b(true)),
        ("bool(1),iif(y,n)", s("y")),
        ("bool(0),iif(y,n)", s("n")),
        ("str(12),add(1)", i(13)),
        ("str(),add(1)", None),
        ("ipv4(192.168.1.77),ipmask(24)", a("192.168.1.0")),
        ("ipv4(192.168.1.77),ipmask(255.255.0.0)", a("192.168.0.0")),
        ("ipv6(2001:db8::1),ipmask(24,32)", a("2001:db8::")),
        ("ipv6(2001:db8::1),ipmask(24)", None),
        ("ipv6(::ffff:10.1.2.3),ipmask(8)", a("10.0.0.0")),
        ("src,ipmask(16)", a("192.168.0.0")),
        ("str(www.example.com:8080),port_only", i(8080)),
        ("str([::1]:443),port_only", i(443)),
        ("str([::1]),port_only", i(0)),
        ("str(example.com),port_only", i(0)),
        ("str(WWW.Example.com:8080),host_only", s("www.example.com")),
        ("str([::1]:80),host_only", s("[::1]")),
        ("str([::1]),host_only", s("[::1]")),
        ("str(a\r\nb),cut_crlf", s("a")),
        ("int(1),htonl,hex", s("00000001")),
        ("src,lower", s("192.168.1.10")),
        ("int(42),length", i(2)),
        ("ssl_fc,iif(tls,plain)", s("tls")),
    ];
    for (text, want) in cases {
        assert_eq!(eval(&f, text), want, "{text}");
    }
}

#[test]
fn json_modes() {
    let f = Fixture {
        req: Some(request("GET", "/", &[])),
        ..request_only()
    };
    let mut req = request("GET", "/", &[]);
    req.headers
        .add("x-u", b"\xc3\xa9t\xe9\xf0\x9f\x98\x80".to_vec());
    let f = Fixture {
        req: Some(req),
        ..f
    };
    let cases = [
        (
            "req.hdr(x-u),json",
            s("\\u00c3\\u00a9t\\u00e9\\u00f0\\u009f\\u0098\\u0080"),
        ),
        (
            "req.hdr(x-u),json(ascii)",
            s("\\u00c3\\u00a9t\\u00e9\\u00f0\\u009f\\u0098\\u0080"),
        ),
        ("req.hdr(x-u),json(utf8s)", s("\\u00e9t")),
        ("req.hdr(x-u),json(utf8ps)", s("\\u00e9t")),
        ("req.hdr(x-u),json(utf8)", None),
        ("req.hdr(x-u),json(utf8p)", None),
        ("str(tab\there),json", s("tab\\there")),
    ];
    for (text, want) in cases {
        assert_eq!(eval(&f, text), want, "{text}");
    }
}

#[test]
fn map_converters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("write");
        p.display().to_string()
    };
    let hosts = write(
        "hosts.map",
        "# host to backend\nwww.example.com:8080 be_www\napi.example.com be_api\n",
    );
    let paths = write("paths.map", "/api/v1 be_v1\n/api be_api\n/ be_root\n");
    let nets = write(
        "nets.map",
        "192.168.0.0/16 lan\n192.168.1.0/24 office\n10.0.0.0/8 ten\n",
    );
    let ints = write("ints.map", "404 not_found\n500:599 server_error\n");
    let doms = write("doms.map", "example.com ex\n");
    let ends = write("ends.map", ".json json\n.html html\n");
    let subs = write("subs.map", "users u\nv1 v\n");
    let regs = write("regs.map", "^/api/v[0-9]+/ versioned\n");
    let regm = write("regm.map", "^/api/(v[0-9]+)/(.*)$ \\2@\\1\n");
    let dirs = write("dirs.map", "v1 in_v1\n");
    let weights = write("weights.map", "www.example.com:8080 10\n");
    let f = fixture();
    let cases: Vec<(String, Option<Value>)> = vec![
        (format!("req.hdr(host),map({hosts})"), s("be_www")),
        (format!("req.hdr(host),map_str({hosts})"), s("be_www")),
        (format!("str(nope),map_str({hosts})"), None),
        (
            format!("str(nope),map_str({hosts},be_default)"),
            s("be_default"),
        ),
        (format!("path,map_beg({paths})"), s("be_v1")),
        (format!("str(/apix),map_beg({paths})"), s("be_api")),
        (format!("str(/zzz),map_beg({paths})"), s("be_root")),
        (format!("src,map_ip({nets})"), s("office")),
        (format!("ipv4(192.168.9.9),map_ip({nets})"), s("lan")),
        (format!("str(10.9.9.9),map_ip({nets})"), s("ten")),
        (format!("ipv4(11.0.0.1),map_ip({nets},none)"), s("none")),
        (format!("status,map_int({ints})"), s("not_found")),
        (format!("int(503),map_int({ints})"), s("server_error")),
        (format!("str(www.example.com),map_dom({doms})"), s("ex")),
        (format!("path,map_end({ends})"), s("json")),
        (format!("path,map_sub({subs})"), s("u")),
        (format!("path,map_reg({regs})"), s("versioned")),
        (format!("path,map_regm({regm})"), s("users.json@v1")),
        (format!("path,map_dir({dirs})"), s("in_v1")),
        (format!("req.hdr(host),map_str_int({weights})"), i(10)),
        (format!("str(x),map_str_int({weights},-1)"), i(-1)),
        (format!("req.hdr(host),map({hosts}),upper"), s("BE_WWW")),
    ];
    for (text, want) in cases {
        assert_eq!(eval(&f, &text), want, "{text}");
    }
}

#[test]
fn compile_errors() {
    let cases = [
        (
            "sc0_conn_cnt",
            "sample fetch 'sc0_conn_cnt' is not implemented by the runtime yet",
        ),
        ("nbsrv(be)", "sample fetch 'nbsrv' is not implemented"),
        (
            "req_ssl_ver",
            "sample fetch 'req_ssl_ver' is not implemented",
        ),
        ("unique-id", "sample fetch 'unique-id' is not implemented"),
        (
            "str(a),xxh3",
            "converter 'xxh3' is not implemented by the runtime yet",
        ),
        (
            "str(a),set-var(txn.x)",
            "converter 'set-var' is not implemented",
        ),
        (
            "str(a),json_query(x)",
            "converter 'json_query' is not implemented",
        ),
        ("str(a),map(/nonexistent/file.map)", "failed to open"),
        ("bool(maybe)", "is not a boolean"),
    ];
    for (text, msg) in cases {
        let parsed = parse_sample(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let e = CompiledSample::compile(&parsed).expect_err(text);
        assert!(e.0.contains(msg), "{text}: {e}");
    }
    let acls = acl_defs(&["known path_beg /a"]);
    let c = parse_condition(&words("unknown"), false).expect("parses");
    let e = CompiledCond::compile(&c, &acls).expect_err("unknown ACL");
    assert!(e.0.contains("unknown ACL 'unknown'"), "{e}");
    let acls = acl_defs(&["bad req_ssl_ver -m found"]);
    let c = parse_condition(&words("bad"), false).expect("parses");
    let e = CompiledCond::compile(&c, &acls).expect_err("unimplemented in ACL");
    assert!(
        e.0.contains("in ACL 'bad'") && e.0.contains("ssl_ver"),
        "{e}"
    );
    let c = parse_condition(&words("{ req_ssl_ver gt 0 }"), false).expect("parses");
    assert!(CompiledCond::compile(&c, &[]).is_err());
    let lf = parse_log_format("%[sc0_conn_cnt]").expect("parses");
    assert!(CompiledLogFormat::compile(&lf).is_err());
}

#[test]
fn match_methods() {
    let f = fixture();
    let r = request_only();
    let cases: Vec<(&Fixture, &str, bool)> = vec![
        // str, and -i.
        (&f, "{ path /api/v1/users.json }", true),
        (&f, "{ path /API/v1/users.json }", false),
        (&f, "{ path -i /API/v1/users.json }", true),
        (&f, "{ hdr(host) www.example.com:8080 }", true),
        (&f, "{ method GET HEAD }", true),
        // HAProxy compares well-known methods exactly, even with -i.
        (&f, "{ method -i get }", false),
        (&f, "{ method,lower get }", true),
        (&f, "{ method POST }", false),
        (&f, "{ req_ver 1.1 }", true),
        (&f, "{ path -m str /x /api/v1/users.json }", true),
        // beg / end / sub.
        (&f, "{ path_beg /api/ }", true),
        (&f, "{ path_beg /API/ }", false),
        (&f, "{ path_beg -i /API/ }", true),
        (&f, "{ path_end .json .xml }", true),
        (&f, "{ path_end -i .JSON }", true),
        (&f, "{ path_sub users }", true),
        (&f, "{ path_sub -i USERS }", true),
        (&f, "{ req.body -m sub b=2 }", true),
        (&f, "{ req.body -m sub c=3 }", false),
        (&f, "{ path_sub nope }", false),
        (&f, "{ url_beg /api }", true),
        (&f, "{ url_end id=7 }", true),
        (&f, "{ url_sub lang=en }", true),
        (&f, "{ base_beg www.example.com:8080/api }", true),
        (&f, "{ base_sub example }", true),
        (&f, "{ base www.example.com:8080/api/v1/users.json }", true),
        (&f, "{ hdr_beg(host) www. }", true),
        (&f, "{ hdr_end(host) :8080 }", true),
        (&f, "{ hdr_sub(user-agent) X11 }", true),
        (&f, "{ hdr_sub(user-agent) Mozilla/5.0 }", true),
        // dir / dom.
        (&f, "{ path_dir v1 }", true),
        (&f, "{ path_dir /api/v1/ }", true),
        (&f, "{ path_dir v }", false),
        (&f, "{ path_dir users }", false),
        (&f, "{ path_dom users }", true),
        (&f, "{ hdr_dom(host) example.com }", true),
        (&f, "{ hdr_dom(host) www }", true),
        (&f, "{ hdr_dom(host) ample.com }", false),
        (&f, "{ hdr_dom(host) -i EXAMPLE }", true),
        (&f, "{ hdr_dir(host) www.example.com:8080 }", true),
        (&f, "{ url_dom 42 }", false),
        // reg.
        (&f, "{ path_reg ^/api/v[0-9]+/ }", true),
        (&f, "{ path_reg ^/API/ }", false),
        (&f, "{ path_reg -i ^/API/ }", true),
        (
            &f,
            "{ hdr_reg(host) ^www\\.example\\.com(:[0-9]+)?$ }",
            true,
        ),
        (&f, "{ url_reg id=[0-9]{2}& }", true),
        (&f, "{ path -m reg users\\.json$ }", true),
        (&f, "{ path -m regm users }", true),
        // len.
        (&f, "{ path_len 18 }", true),
        (&f, "{ path_len gt 20 }", false),
        (&f, "{ hdr_len(host) 20 }", true),
        (&f, "{ path -m len 10:20 }", true),
        // int.
        (&f, "{ dst_port 443 }", true),
        (&f, "{ dst_port 80 8080 }", false),
        (&f, "{ dst_port 400:500 }", true),
        (&f, "{ src_port gt 1024 }", true),
        (&f, "{ src_port lt 1024 }", false),
        (&f, "{ hdr_val(content-length) ge 42 }", true),
        (&f, "{ hdr_val(content-length) gt 42 }", false),
        (&f, "{ req.hdr_cnt(x-forwarded-for) eq 3 }", true),
        (&f, "{ status 404 }", true),
        (&f, "{ status 500:599 }", false),
        (&f, "{ var(txn.num) -m int 5 }", true),
        (&f, "{ var(txn.numstr) -m int 12 }", true),
        (&f, "{ req.hdr(x-num) -m int 17 }", true),
        (&f, "{ urlp_val(id) 7 }", true),
        // ip.
        (&f, "{ src 192.168.1.0/24 }", true),
        (&f, "{ src 10.0.0.0/8 }", false),
        (&f, "{ src 192.168.1.10 }", true),
        (&f, "{ src ::ffff:192.168.1.10 }", true),
        (&f, "{ dst 10.0.0.0/8 }", true),
        (&f, "{ hdr_ip(x-forwarded-for) 10.0.0.0/8 }", true),
        (&f, "{ hdr_ip(x-forwarded-for) 192.168.1.5 }", true),
        (&f, "{ hdr_ip(x-forwarded-for) 8.8.8.8 }", false),
        (&f, "{ req.hdr_ip(x-real-ip) 2001:db8::/32 }", true),
        (&f, "{ req.hdr(x-forwarded-for) -m ip 172.16.0.0/12 }", true),
        (&f, "{ var(txn.addr) -m ip 10.1.0.0/16 }", true),
        (&f, "{ src,ipmask(24) 192.168.1.0 }", true),
        // bin.
        (&f, "{ req.hdr(x-num) -m bin 313720 }", false),
        (&f, "{ req.hdr(x-num) -m bin 3137206170706c6573 }", true),
        // found / bool.
        (&f, "{ req.hdr(host) -m found }", true),
        (&f, "{ req.hdr(x-empty) -m found }", true),
        (&f, "{ req.hdr(missing) -m found }", false),
        (&f, "{ var(txn.none) -m found }", false),
        (&f, "{ ssl_fc }", true),
        (&r, "{ ssl_fc }", true),
        (&f, "{ var(txn.num) -m bool }", true),
        (&f, "{ int(0) -m bool }", false),
        (&f, "{ always_false }", false),
        // Every value of a multi-valued fetch is tried.
        (&f, "{ hdr(x-forwarded-for) 10.0.0.1 }", true),
        (&f, "{ hdr(x-forwarded-for) 192.168.1.5 }", true),
        (&f, "{ req.fhdr(x-forwarded-for) 192.168.1.5 }", false),
        (
            &f,
            "{ req.fhdr(x-forwarded-for) 10.0.0.1,\\ 192.168.1.5 }",
            true,
        ),
        (&f, "{ hdr(x-forwarded-for,1) 192.168.1.5 }", false),
        (&f, "{ cook(lang) fr }", true),
        (&f, "{ cook(theme) dark }", true),
        (&f, "{ cook_beg(SESSIONID) abc }", true),
        (&f, "{ cook_len(SESSIONID) 6 }", true),
        (&f, "{ req.cook_cnt(lang) 1 }", true),
        (&f, "{ urlp(id) 7 }", true),
        (&f, "{ urlp(id) 42 }", true),
        (&f, "{ urlp_beg(lang) e }", true),
        (&f, "{ url_param(id) -m int gt 40 }", true),
        (&f, "{ scook(SRV) s1 }", true),
        (&f, "{ shdr(server) nginx }", true),
        (&f, "{ shdr_beg(content-type) text/ }", true),
        (&f, "{ res.hdr(set-cookie) -m sub tok= }", true),
        // Converters apply to each value.
        (&f, "{ req.hdr(x-forwarded-for),lower -m beg 172. }", true),
        // A missing sample never matches.
        (&f, "{ req.hdr(missing) x }", false),
        (&f, "{ req.hdr(missing) -m len 0 }", false),
        (&r, "{ status 404 }", false),
        (&f, "{ path_beg }", false),
        // SNI and TLS.
        (&f, "{ ssl_fc_sni www.example.com }", true),
        (&f, "{ ssl_fc_sni_end .example.com }", true),
        (&f, "{ ssl_fc_sni_reg ^www }", true),
        (&f, "{ ssl_fc_protocol TLSv1.3 }", true),
        (&f, "{ req.ver 1.1 }", true),
        (&f, "{ res.ver 1.0 }", true),
    ];
    for (fx, text, want) in cases {
        assert_eq!(check(fx, text), want, "{text}");
    }
}

/// The `cond` helper needs the optional ACL lines to exist before the condition; build the
/// map-converter condition here separately so it can name a real file.
#[test]
fn acl_with_map_converter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("allow.map");
    std::fs::write(&p, "www.example.com:8080 yes\n").expect("write");
    let f = fixture();
    let text = format!("{{ req.hdr(host),map_str({}) yes }}", p.display());
    assert!(check(&f, &text));
    let text = format!("{{ str(nope),map_str({}) -m found }}", p.display());
    assert!(!check(&f, &text));
}

#[test]
fn predefined_acls() {
    let f = fixture();
    let local = Fixture {
        conn: ConnInfo {
            src: Some(sa("127.0.0.1:1000")),
            ..ConnInfo::default()
        },
        ..request_only()
    };
    let local6 = Fixture {
        conn: ConnInfo {
            src: Some(sa("[::1]:1000")),
            ..ConnInfo::default()
        },
        ..request_only()
    };
    let mk = |method: &str, uri: &str, version, hdrs: &[(&str, &str)]| Fixture {
        req: Some(RequestHead {
            version,
            ..request(method, uri, hdrs)
        }),
        ..request_only()
    };
    let post = mk(
        "POST",
        "http://h/x",
        Version::H10,
        &[("content-length", "0")],
    );
    let star = mk("OPTIONS", "*", Version::H11, &[]);
    let none = Fixture {
        req: None,
        res: None,
        ..request_only()
    };
    let head = mk("HEAD", "/", Version::H11, &[]);
    let connect = mk("CONNECT", "h:443", Version::H11, &[]);
    let delete = mk("DELETE", "/", Version::H11, &[]);
    let put = mk("PUT", "/", Version::H11, &[]);
    let trace = mk("TRACE", "/", Version::H11, &[]);
    let cases: Vec<(&Fixture, &str, bool)> = vec![
        (&f, "TRUE", true),
        (&f, "FALSE", false),
        (&f, "HTTP", true),
        (&none, "HTTP", false),
        (&f, "HTTP_1.1", true),
        (&f, "HTTP_1.0", false),
        (&post, "HTTP_1.0", true),
        (&f, "HTTP_2.0", false),
        (&f, "HTTP_CONTENT", true),
        (&post, "HTTP_CONTENT", false),
        (&star, "HTTP_CONTENT", false),
        (&f, "HTTP_URL_ABS", false),
        (&post, "HTTP_URL_ABS", true),
        (&f, "HTTP_URL_SLASH", true),
        (&post, "HTTP_URL_SLASH", false),
        (&star, "HTTP_URL_STAR", true),
        (&f, "HTTP_URL_STAR", false),
        (&f, "LOCALHOST", false),
        (&local, "LOCALHOST", true),
        (&local6, "LOCALHOST", true),
        (&f, "METH_GET", true),
        (&f, "METH_HEAD", false),
        (&post, "METH_POST", true),
        (&post, "METH_GET", false),
        (&star, "METH_OPTIONS", true),
        (&head, "METH_GET", true),
        (&head, "METH_HEAD", true),
        (&connect, "METH_CONNECT", true),
        (&delete, "METH_DELETE", true),
        (&put, "METH_PUT", true),
        (&trace, "METH_TRACE", true),
        (&f, "METH_TRACE", false),
        (&f, "RDP_COOKIE", false),
        (&f, "REQ_CONTENT", true),
        (&none, "REQ_CONTENT", false),
        (&f, "WAIT_END", true),
    ];
    for (fx, name, want) in cases {
        assert_eq!(check(fx, name), want, "{name}");
    }
    // A proxy's own ACL of the same name wins over the predefined one.
    let acls = acl_defs(&["TRUE always_false"]);
    assert!(!cond("TRUE", &acls).eval(&f.ctx()));
}

#[test]
fn conditions() {
    let f = fixture();
    let acls = acl_defs(&[
        "is_api path_beg /api",
        "is_admin path_beg /admin",
        "is_get method GET",
        "is_post method POST",
        "lan src 10.0.0.0/8",
        // Two lines with one name are OR-ed.
        "static path_end .css",
        "static path_end .json",
        "missing req.hdr(x-nope) yes",
    ]);
    let cases = [
        ("is_api", true),
        ("!is_api", false),
        ("is_admin", false),
        ("!is_admin", true),
        ("is_api is_get", true),
        ("is_api is_post", false),
        ("is_api !is_post", true),
        ("is_admin || is_api", true),
        ("is_admin or is_post", false),
        ("is_admin is_get || is_api is_get", true),
        ("is_admin || is_post || lan", false),
        ("is_post || is_api is_get !lan", true),
        ("static", true),
        ("missing", false),
        ("!missing", true),
        ("is_api { method GET }", true),
        ("!{ path_beg /api }", false),
        ("{ path_beg /admin } || !{ ssl_fc }", false),
        ("unless is_api", false),
        ("unless is_admin", true),
        ("unless is_admin || is_api", false),
        ("unless is_api is_post", true),
        ("if is_api", true),
        ("is_api TRUE", true),
        ("is_api FALSE", false),
    ];
    for (text, want) in cases {
        assert_eq!(cond(text, &acls).eval(&f.ctx()), want, "{text}");
    }
    // An empty `if` never matches; an empty `unless` always does.
    let empty_if = CompiledCond::compile(
        &Condition {
            unless: false,
            or_groups: vec![],
        },
        &[],
    )
    .expect("compiles");
    assert!(!empty_if.eval(&f.ctx()));
    let empty_unless = CompiledCond::compile(
        &Condition {
            unless: true,
            or_groups: vec![],
        },
        &[],
    )
    .expect("compiles");
    assert!(empty_unless.eval(&f.ctx()));
    // Named ACLs are shared through an AclSet.
    let set = AclSet::new(&acls);
    let c1 = parse_condition(&words("is_api"), false).expect("parses");
    let c2 = parse_condition(&words("!is_api lan"), false).expect("parses");
    let a = CompiledCond::compile_with(&c1, &set).expect("compiles");
    let b = CompiledCond::compile_with(&c2, &set).expect("compiles");
    assert!(a.eval(&f.ctx()) && !b.eval(&f.ctx()));
}

use crate::model::expr::Condition;

#[test]
fn big_pattern_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hosts.lst");
    let mut file = std::fs::File::create(&path).expect("create");
    for n in 0..10_000 {
        writeln!(file, "Host{n}.Example.com").expect("write");
    }
    drop(file);
    let acls = acl_defs(&[
        &format!("known req.hdr(host) -i -f {}", path.display()),
        &format!("exact req.hdr(host) -f {}", path.display()),
    ]);
    let mk = |host: &str| Fixture {
        req: Some(request("GET", "/", &[("host", host)])),
        ..request_only()
    };
    let known = cond("known", &acls);
    let exact = cond("exact", &acls);
    assert_eq!(acls[0].criteria[0].patterns.len(), 10_000);
    for (host, k, e) in [
        ("host9999.example.com", true, false),
        ("Host9999.Example.com", true, true),
        ("HOST0.EXAMPLE.COM", true, false),
        ("host10000.example.com", false, false),
    ] {
        let f = mk(host);
        assert_eq!(known.eval(&f.ctx()), k, "{host}");
        assert_eq!(exact.eval(&f.ctx()), e, "{host}");
    }
    // The lookup is hashed: 100,000 evaluations against 10,000 patterns stay fast even in
    // a debug build (a linear scan would take a billion comparisons).
    let f = mk("host5000.example.com");
    let start = std::time::Instant::now();
    for _ in 0..100_000 {
        assert!(known.eval(&f.ctx()));
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn big_ip_list() {
    let patterns: Vec<String> = (0..10_000)
        .map(|n| format!("10.{}.{}.0/24", n / 256, n % 256))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nets.lst");
    std::fs::write(&path, patterns.join("\n")).expect("write");
    let acls = acl_defs(&[&format!("blocked src -f {}", path.display())]);
    let c = cond("blocked", &acls);
    let mk = |src: &str| Fixture {
        conn: ConnInfo {
            src: Some(sa(src)),
            ..ConnInfo::default()
        },
        ..request_only()
    };
    assert!(c.eval(&mk("10.39.15.7:1").ctx()));
    assert!(!c.eval(&mk("10.39.16.7:1").ctx()));
    assert!(c.eval(&mk("[::ffff:10.0.0.1]:1").ctx()));
}

fn render(f: &Fixture, text: &str) -> String {
    let lf = parse_log_format(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    CompiledLogFormat::compile(&lf)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .render_string(&f.ctx())
}

fn render_log(f: &Fixture, text: &str) -> String {
    let lf = parse_log_format_merging_spaces(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    CompiledLogFormat::compile_log(&lf)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .render_string(&f.ctx())
}

#[test]
fn log_formats() {
    let f = fixture();
    let mut e = request_only();
    if let Some(r) = e.req.as_mut() {
        r.headers.add("x-e", &b"q\"b\\]"[..]);
        r.uri = "/a b\"#?x=\x01".into();
    }
    let none = Fixture {
        req: None,
        res: None,
        conn: ConnInfo::default(),
        ..request_only()
    };
    let host = super::fetch::hostname();
    let r = request_only();
    let cases: Vec<(&Fixture, &str, String)> = vec![
        (&f, "plain text", "plain text".into()),
        (&f, "100%%", "100%".into()),
        (&f, "%ci:%cp", "192.168.1.10:54321".into()),
        (&f, "%fi:%fp", "10.0.0.5:443".into()),
        (&f, "%{+X}ci:%{+X}cp", "C0A8010A:D431".into()),
        (&f, "%f %b %s", "fe_main be_app srv1".into()),
        (&r, "%b %s", "fe_main <NOSRV>".into()),
        (&f, "%ft", "fe_main~".into()),
        (&f, "%{+Q}ft", "\"fe_main~\"".into()),
        (&f, "%ST", "404".into()),
        (&r, "%ST", "-1".into()),
        (&f, "%pid %{+X}pid", "1234 04D2".into()),
        (&f, "%rt %{+X}rt", "7 0007".into()),
        (&f, "%H", host.to_string()),
        (&f, "%Ts %{+X}Ts", "1795586274 6B0678E2".into()),
        (&f, "%ms %{+X}ms", "475 1DB".into()),
        (&f, "%t", "25/Nov/2026:05:57:54.475".into()),
        (&f, "%T", "25/Nov/2026:05:57:54 +0000".into()),
        (&f, "%Tl", "25/Nov/2026:05:57:54 +0000".into()),
        (
            &f,
            "%r",
            "GET /api/v1/users.json?id=42&lang=en&id=7 HTTP/1.1".into(),
        ),
        (
            &f,
            "%{+Q}r",
            "\"GET /api/v1/users.json?id=42&lang=en&id=7 HTTP/1.1\"".into(),
        ),
        (&f, "%HM", "GET".into()),
        (&f, "%HU", "/api/v1/users.json?id=42&lang=en&id=7".into()),
        (&f, "%HP", "/api/v1/users.json".into()),
        (&f, "%HPO", "/api/v1/users.json".into()),
        (&f, "%HQ", "?id=42&lang=en&id=7".into()),
        (&f, "%HV", "HTTP/1.1".into()),
        (&f, "%{+Q}HM", "\"GET\"".into()),
        (&e, "%HU", "/a b#22#23?x=#01".into()),
        (
            &none,
            "%r %HM %HU %HQ",
            "<BADREQ> <BADREQ> <BADREQ> <BADREQ>".into(),
        ),
        (&none, "%ci:%cp", ":".into()),
        (&f, "%sslv %sslc", "TLSv1.3 TLS_AES_128_GCM_SHA256".into()),
        (&r, "%ID", "".into()),
        (&f, "%[req.hdr(host)]", "www.example.com:8080".into()),
        (&f, "%[src]", "192.168.1.10".into()),
        (&f, "%[dst_port]", "443".into()),
        (&f, "%[ssl_fc]", "1".into()),
        (&f, "%[req.hdr(missing)]", "".into()),
        (&f, "%{+Q}[req.hdr(missing)]", "\"\"".into()),
        (&f, "%{+M}[req.hdr(missing)]", "-".into()),
        (
            &f,
            "%{+Q}[req.hdr(host)]",
            "\"www.example.com:8080\"".into(),
        ),
        (&e, "%{+E}[req.hdr(x-e)]", "q\\\"b\\\\\\]".into()),
        (&e, "%{+Q,+E}[req.hdr(x-e)]", "\"q\\\"b\\\\\\]\"".into()),
        (
            &f,
            "%{+Q}o %[req.hdr(host)] %f",
            " \"www.example.com:8080\" \"fe_main\"".into(),
        ),
        (
            &f,
            "%[path,lower] %[url_param(id)]",
            "/api/v1/users.json 42".into(),
        ),
        (&f, "%[var(txn.num),add(1)]", "6".into()),
        (&f, "%Tt %B %U %ac %ts", "- - - - -".into()),
    ];
    for (fx, text, want) in cases {
        assert_eq!(render(fx, text), want, "{text}");
    }
    // Local dates follow the configured offset; no other test renders them.
    let _lock = super::logformat::OFFSET_TEST_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    set_local_utc_offset(3600 + 1800);
    let t = render(&f, "%t|%Tl|%T");
    set_local_utc_offset(0);
    assert_eq!(
        t,
        "25/Nov/2026:07:27:54.475|25/Nov/2026:07:27:54 +0130|25/Nov/2026:05:57:54 +0000"
    );
}

#[test]
fn log_lines() {
    let f = fixture();
    let none = Fixture {
        req: None,
        res: None,
        conn: ConnInfo::default(),
        ..request_only()
    };
    let cases: Vec<(&Fixture, &str, &str)> = vec![
        (&f, "%[req.hdr(missing)]", "-"),
        (&f, "%[str()]", "-"),
        (&f, "%{+Q}[req.hdr(missing)]", "\"\""),
        (&f, "%{-M}[req.hdr(missing)]", ""),
        (&none, "%ci %cp %ID", "- - -"),
        (&f, "%ci   %f", "192.168.1.10 fe_main"),
        (&f, "%[var(txn.name)]", "bob"),
    ];
    for (fx, text, want) in cases {
        assert_eq!(render_log(fx, text), want, "{text}");
    }
    // Invalid UTF-8 from the traffic survives in bytes, is replaced in text.
    let mut r = request_only();
    if let Some(req) = r.req.as_mut() {
        req.headers.add("x-bin", vec![b'a', 0xff, b'b']);
    }
    let lf = parse_log_format("%[req.hdr(x-bin)]").expect("parses");
    let c = CompiledLogFormat::compile(&lf).expect("compiles");
    let mut out = Vec::new();
    c.render_bytes(&r.ctx(), &mut out);
    assert_eq!(out, b"a\xffb");
    assert_eq!(c.render_string(&r.ctx()), "a\u{fffd}b");
    assert!(!c.is_empty());
}

#[test]
fn public_values() {
    let f = fixture();
    assert_eq!(Value::Int(-3).to_text(), "-3");
    assert_eq!(Value::Bool(true).to_text(), "1");
    assert_eq!(
        sample("src").eval_string(&f.ctx()).as_deref(),
        Some("192.168.1.10")
    );
    assert_eq!(sample("int(7)").eval_string(&f.ctx()).as_deref(), Some("7"));
    assert_eq!(sample("req.hdr(nope)").eval_string(&f.ctx()), None);
    let mut v = Vars::default();
    v.set("txn.a", Value::Int(1));
    v.unset("txn.a");
    assert_eq!(v.get("txn.a"), None);
}

fn assert_send_sync<T: Send + Sync + Clone>() {}

#[test]
fn compiled_types_are_shareable() {
    assert_send_sync::<CompiledSample>();
    assert_send_sync::<CompiledCond>();
    assert_send_sync::<CompiledLogFormat>();
}

proptest::proptest! {
    /// Arbitrary header bytes, targets and cookies never make a fetch, converter or ACL
    /// panic.
    #[test]
    fn never_panics(
        value in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        uri in "[ -~]{0,30}",
    ) {
        let mut req = request("GET", &uri, &[]);
        for name in ["host", "cookie", "x-forwarded-for", "x"] {
            req.headers.add(name, value.clone());
        }
        let f = Fixture { req: Some(req), ..request_only() };
        for text in [
            "req.hdr(x)", "req.hdr(x,-1)", "req.hdr(x,3)", "req.fhdr(x)", "req.hdr_cnt(x)",
            "req.hdr_val(x)", "req.hdr_ip(x)", "req.cook(a)", "req.cook", "req.cook_cnt",
            "url_param(a)", "url_param", "path", "pathq", "base", "base32", "query",
            "req.hdr(x),lower,url_dec,json(utf8s)", "req.hdr(x),word(-2,\\ ),field(2,=)",
            "req.hdr(x),b64dec,hex", "req.hdr(x),ub64dec", "req.hdr(x),hex2i,add(1)",
            "req.hdr(x),port_only", "req.hdr(x),host_only", "req.hdr(x),regsub(a*,-,g)",
            "req.hdr(x),bytes(3,2),wt6", "req.hdr(x),ipmask(8)", "req.hdr(x),json",
        ] {
            let _ = eval(&f, text);
        }
        for c in [
            "{ hdr(x) -m dom a.b }", "{ hdr(x) -m dir / }", "{ hdr_ip(x) 10.0.0.0/8 }",
            "{ hdr(x) -m int 1:5 }", "{ cook(a) -m beg b }", "{ urlp(a) -m end c }",
            "{ hdr(x) -m len 3 }", "{ hdr(x) -m reg -i ^a }",
        ] {
            let _ = check(&f, c);
        }
        let _ = render(&f, "%r %HU %HP %HPO %HQ %{+Q,+E}[req.hdr(x)]");
    }
}

/// HAProxy's three-valued evaluation of a condition on data that may still grow
/// (`None`: missing data, the rule waits).
#[test]
fn partial_evaluation_waits_as_haproxy() {
    let hello = [0x16u8, 3, 1, 0, 4, 1, 0, 0, 0];
    let table: &[(&str, &[u8], Option<bool>)] = &[
        ("if { req.ssl_hello_type 1 }", &[], None),
        ("if !{ req.ssl_hello_type 1 }", &[], None),
        ("if !{ req.ssl_hello_type 1 }", &hello[..4], None),
        ("if !{ req.ssl_hello_type 1 }", &hello, Some(false)),
        (
            "if !{ req.ssl_hello_type 1 }",
            b"GET / HTTP/1.0",
            Some(true),
        ),
        ("unless { req.ssl_hello_type 1 }", &hello[..4], None),
        ("unless { req.ssl_hello_type 1 }", b"GET", Some(true)),
        // A length that matched stays matched; one that did not may still.
        ("if { req.len lt 6 }", b"abc", Some(true)),
        ("if !{ req.len lt 6 }", b"abc", Some(false)),
        ("if !{ req.len lt 6 }", b"abcdefgh", None),
        // OR: a true group decides; AND: a false term decides.
        (
            "if { req.payload(0,4) -m bin 41424344 } || { always_true }",
            b"A",
            Some(true),
        ),
        (
            "if { req.payload(0,4) -m bin 41424344 } { always_false }",
            b"A",
            Some(false),
        ),
        (
            "if { req.payload(0,4) -m bin 41424344 } { always_true }",
            b"A",
            None,
        ),
        (
            "if { always_false } || !{ req.payload(0,1) -m bin 41 }",
            b"A",
            Some(false),
        ),
    ];
    for (text, data, want) in table {
        let f = Fixture {
            conn: ConnInfo {
                payload: Some(data.to_vec()),
                ..Default::default()
            },
            req: None,
            res: None,
            vars: Vars::default(),
            info: TxnInfo::default(),
        };
        let got = cond(text, &[]).eval_partial(&f.ctx());
        assert_eq!(got, *want, "{text} on {data:?}");
    }
}
