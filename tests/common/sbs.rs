//! Side by side: one configuration template run under haproxy (the reference) and under
//! rproxy, each on its own ports, with the same requests sent to both.
//!
//! Template placeholders `{{P0}}`, `{{P1}}`, ... are replaced by fresh ports, different
//! for each engine; everything else (backend addresses of mock servers, which both runs
//! share) is filled in by the caller beforehand, e.g. with [`fill`]. The engines run one
//! after the other (haproxy first), never at once, so a test can read a mock's
//! `received()` inside its exchange closure and attribute it to one engine.

use std::io;
use std::net::SocketAddr;

use super::client::{Conn, Response};
use super::mock::Echo;
use super::ports::{free_port, local};
use super::proxy::{Engine, Proxy};
use super::{have_program, require};

/// The Host header that [`Side::request`] sends, identical for both engines so that the
/// requests (and mock descriptions of them) can be compared byte for byte.
pub const SBS_HOST: &str = "sbs.test";

/// False (printing SKIP, or panicking under RPROXY_REQUIRE_EXTERNAL=1) without haproxy.
pub fn require_haproxy() -> bool {
    require(have_program("haproxy"), "haproxy not installed")
}

/// Replaces each `{{NAME}}` by its value.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{{{k}}}}}"), v);
    }
    s
}

/// How many port placeholders (`{{P0}}`..`{{Pn}}`, highest n + 1) a template has.
pub fn port_placeholders(template: &str) -> usize {
    let mut n = 0;
    let mut rest = template;
    while let Some(i) = rest.find("{{P") {
        rest = &rest[i + 3..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with("}}") {
            n = n.max(digits.parse::<usize>().unwrap_or(0) + 1);
        }
    }
    n
}

/// Replaces `{{Pi}}` by `ports[i]`.
pub fn render_ports(template: &str, ports: &[u16]) -> String {
    let mut s = template.to_string();
    // Highest index first so that {{P1}} never eats the start of {{P10}}; the braces
    // make that impossible anyway.
    for (i, p) in ports.iter().enumerate().rev() {
        s = s.replace(&format!("{{{{P{i}}}}}"), &p.to_string());
    }
    s
}

/// One engine's run of the template.
pub struct Side {
    pub engine: Engine,
    pub proxy: Proxy,
    /// Substituted for `{{P0}}`, `{{P1}}`, ...
    pub ports: Vec<u16>,
    /// The configuration as run.
    pub config: String,
}

impl Side {
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }
    /// 127.0.0.1:`{{Pi}}`
    pub fn addr(&self, i: usize) -> SocketAddr {
        local(self.ports[i])
    }
    pub fn name(&self) -> &'static str {
        self.engine.name()
    }
    /// A request on a fresh connection to `{{P0}}`, with `Host: sbs.test` (unless given)
    /// and `Connection: close` (unless a Connection header is given).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.request_to(0, method, path, headers, body)
    }
    /// The same on port `{{Pi}}`.
    pub fn request_to(
        &self,
        i: usize,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if !h.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            h.insert(0, ("Host", SBS_HOST));
        }
        if !h.iter().any(|(n, _)| n.eq_ignore_ascii_case("connection")) {
            h.push(("Connection", "close"));
        }
        Conn::try_open(self.addr(i))?.request(method, path, &h, body)
    }
    /// GET `path` on `{{P0}}` (see [`Side::request`]); panics on a transport failure.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
            .unwrap_or_else(|e| panic!("{}: GET {path}: {e}", self.name()))
    }
    /// A keep-alive connection to `{{Pi}}`.
    pub fn conn(&self, i: usize) -> Conn {
        Conn::open(self.addr(i))
    }
}

/// Runs `template` under `a`, calls `exchange`, stops it; then the same under `b`.
/// Returns (a's result, b's result). Panics (with stderr) when an engine does not start.
pub fn side_by_side_engines<T>(
    a: Engine,
    b: Engine,
    template: &str,
    mut exchange: impl FnMut(&Side) -> T,
) -> (T, T) {
    let mut run = |engine: Engine| {
        let n = port_placeholders(template);
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
        // `side` drops here: the proxy stops before the next engine starts.
    };
    let ra = run(a);
    let rb = run(b);
    (ra, rb)
}

/// [`side_by_side_engines`] with haproxy first, rproxy second: (haproxy's, rproxy's).
pub fn side_by_side<T>(template: &str, exchange: impl FnMut(&Side) -> T) -> (T, T) {
    side_by_side_engines(Engine::Haproxy, Engine::Rproxy, template, exchange)
}

/// Asserts that two responses agree on status, `x-server`, every value of each header in
/// `headers`, and the body. Mock descriptions are compared without their `peer` and
/// `conn` lines (ports and connection counts differ between runs); other bodies exactly.
pub fn assert_same(reference: &Response, actual: &Response, headers: &[&str]) {
    assert_eq!(
        reference.status, actual.status,
        "status differs\nreference: {reference:#?}\nactual: {actual:#?}"
    );
    assert_eq!(reference.server(), actual.server(), "x-server differs");
    for h in headers {
        assert_eq!(
            reference.header_all(h),
            actual.header_all(h),
            "header {h} differs\nreference: {:?}\nactual: {:?}",
            reference.headers,
            actual.headers
        );
    }
    match (Echo::parse(&reference.body), Echo::parse(&actual.body)) {
        (Some(a), Some(b)) => assert_same_echo(&a, &b),
        _ => assert_eq!(reference.body_text(), actual.body_text(), "body differs"),
    }
}

/// Asserts that two mock descriptions agree on server, request line, headers (names,
/// case, order, values) and body; `peer` and `conn` are ignored.
pub fn assert_same_echo(reference: &Echo, actual: &Echo) {
    assert_eq!(reference.server, actual.server, "server differs");
    assert_eq!(
        reference.request_line, actual.request_line,
        "request line seen by the server differs"
    );
    assert_eq!(
        reference.headers, actual.headers,
        "headers seen by the server differ"
    );
    assert_eq!(
        reference.body, actual.body,
        "body seen by the server differs"
    );
}
