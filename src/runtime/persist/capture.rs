//! `capture cookie`, `capture request header` and `capture response header`: the values a
//! frontend records per transaction for its logs (`%CC`, `%CS`, `%hr`, `%hs`, `%hrl`,
//! `%hsl`). As observed with haproxy 2.6.12:
//! * a header capture keeps the last line of that header, cut to `len` bytes, taken
//!   before any rule runs (the request's when it arrives, the response's as received);
//! * `capture cookie NAME` keeps the first request cookie, and the first response
//!   `Set-Cookie`, whose name starts with NAME, as `name=value` cut to `len`, taken before
//!   persistence rewrites them;
//! * the logs print header captures in declaration order as `{a|b}` (`%hr`, empty values
//!   left empty) or space-separated with `-` for missing ones (`%hrl`), with `"`, `#`, `{`,
//!   `|`, `}` and control bytes written `#XX`.

use crate::model::proxy::Capture;
use crate::runtime::http::head::{Headers, trim};

/// A frontend's capture declarations.
#[derive(Debug, Clone, Default)]
pub struct CaptureCfg {
    /// `capture cookie NAME len N`.
    pub cookie: Option<(String, usize)>,
    pub request: Vec<(String, usize)>,
    pub response: Vec<(String, usize)>,
}

impl CaptureCfg {
    pub fn build(captures: &[Capture]) -> CaptureCfg {
        let mut c = CaptureCfg::default();
        for cap in captures {
            match cap {
                Capture::Cookie { name, len } => c.cookie = Some((name.clone(), *len as usize)),
                Capture::RequestHeader { name, len } => {
                    c.request.push((name.clone(), *len as usize))
                }
                Capture::ResponseHeader { name, len } => {
                    c.response.push((name.clone(), *len as usize))
                }
            }
        }
        c
    }

    pub fn is_empty(&self) -> bool {
        self.cookie.is_none() && self.request.is_empty() && self.response.is_empty()
    }

    /// Records the request header captures of `h`.
    pub fn request_headers(&self, h: &Headers, into: &mut Captures) {
        into.req_headers = take_headers(&self.request, h);
    }

    /// Records the response header captures of `h`.
    pub fn response_headers(&self, h: &Headers, into: &mut Captures) {
        into.res_headers = take_headers(&self.response, h);
    }

    /// Records the first request cookie whose name starts with the captured name.
    pub fn request_cookie(&self, h: &Headers, into: &mut Captures) {
        let Some((name, len)) = &self.cookie else {
            return;
        };
        if into.req_cookie.is_some() {
            return;
        }
        for v in h.get_all("cookie") {
            for pair in v.split(|b| *b == b';').map(trim) {
                if pair.starts_with(name.as_bytes()) && pair.contains(&b'=') {
                    into.req_cookie = Some(cut(pair, *len));
                    return;
                }
            }
        }
    }

    /// Records the first `Set-Cookie` whose cookie name starts with the captured name.
    pub fn response_cookie(&self, h: &Headers, into: &mut Captures) {
        let Some((name, len)) = &self.cookie else {
            return;
        };
        for v in h.get_all("set-cookie") {
            let pair = trim(v.split(|b| *b == b';').next().unwrap_or_default());
            if pair.starts_with(name.as_bytes()) && pair.contains(&b'=') {
                into.res_cookie = Some(cut(pair, *len));
                return;
            }
        }
    }
}

fn take_headers(cfg: &[(String, usize)], h: &Headers) -> Vec<Option<String>> {
    cfg.iter()
        .map(|(name, len)| h.get_all(name).last().map(|v| cut(v, *len)))
        .collect()
}

fn cut(v: &[u8], len: usize) -> String {
    String::from_utf8_lossy(&v[..v.len().min(len)]).into_owned()
}

/// The values captured in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// `%CC`
    pub req_cookie: Option<String>,
    /// `%CS`
    pub res_cookie: Option<String>,
    /// One per `capture request header`, in declaration order.
    pub req_headers: Vec<Option<String>>,
    /// One per `capture response header`, in declaration order.
    pub res_headers: Vec<Option<String>>,
}

impl Captures {
    /// `%hr`: `{a|b}`, or "" without request header captures.
    pub fn hr(&self) -> String {
        braces(&self.req_headers)
    }
    /// `%hs`
    pub fn hs(&self) -> String {
        braces(&self.res_headers)
    }
    /// `%hrl`: the values separated by spaces, `-` for a missing one.
    pub fn hrl(&self) -> String {
        spaced(&self.req_headers)
    }
    /// `%hsl`
    pub fn hsl(&self) -> String {
        spaced(&self.res_headers)
    }
    /// `%CC`: the captured cookie, `-` when none.
    pub fn cc(&self) -> String {
        self.req_cookie.clone().unwrap_or_else(|| "-".into())
    }
    /// `%CS`
    pub fn cs(&self) -> String {
        self.res_cookie.clone().unwrap_or_else(|| "-".into())
    }
}

/// HAProxy's escaping of captured header values in logs.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if !(0x20..0x7f).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
            out.push_str(&format!("#{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn braces(v: &[Option<String>]) -> String {
    if v.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = v
        .iter()
        .map(|x| x.as_deref().map(escape).unwrap_or_default())
        .collect();
    format!("{{{}}}", inner.join("|"))
}

fn spaced(v: &[Option<String>]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|x| x.as_deref().map(escape).unwrap_or_else(|| "-".into()))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Headers {
        let mut h = Headers::default();
        for (n, v) in list {
            h.add(n, v.as_bytes().to_vec());
        }
        h
    }

    fn cfg() -> CaptureCfg {
        CaptureCfg::build(&[
            Capture::Cookie {
                name: "JS".into(),
                len: 10,
            },
            Capture::RequestHeader {
                name: "Host".into(),
                len: 5,
            },
            Capture::RequestHeader {
                name: "X-A".into(),
                len: 20,
            },
            Capture::ResponseHeader {
                name: "X-Server".into(),
                len: 20,
            },
            Capture::ResponseHeader {
                name: "Set-Cookie".into(),
                len: 40,
            },
        ])
    }

    /// The cases observed with haproxy 2.6.12's log-format
    /// `CC=[%CC] CS=[%CS] hr=[%hr] hs=[%hs] hrl=[%hrl] hsl=[%hsl]`.
    #[test]
    fn captures_as_haproxy_logs_them() {
        let c = cfg();
        let mut got = Captures::default();
        let req = headers(&[
            ("host", "127.0.0.1:18095"),
            ("cookie", "JSESSION=abcdefghijklmnop; JS=c2~o"),
            ("x-a", "one"),
            ("x-a", "two|{}\""),
        ]);
        c.request_headers(&req, &mut got);
        c.request_cookie(&req, &mut got);
        let res = headers(&[
            ("set-cookie", "JSX=1"),
            ("set-cookie", "JS=zzzzzzzzzzzzz; path=/"),
            ("x-server", "s2"),
        ]);
        c.response_headers(&res, &mut got);
        c.response_cookie(&res, &mut got);
        assert_eq!(got.cc(), "JSESSION=a");
        assert_eq!(got.cs(), "JSX=1");
        assert_eq!(got.hr(), "{127.0|two#7C#7B#7D#22}");
        assert_eq!(got.hs(), "{s2|JS=zzzzzzzzzzzzz; path=/}");
        assert_eq!(got.hrl(), "127.0 two#7C#7B#7D#22");
        assert_eq!(got.hsl(), "s2 JS=zzzzzzzzzzzzz; path=/");

        // Nothing to capture.
        let mut none = Captures::default();
        let req = headers(&[("host", "127.0.0.1:18095")]);
        c.request_headers(&req, &mut none);
        c.request_cookie(&req, &mut none);
        let res = headers(&[("x-server", "s1"), ("set-cookie", "a=1, JS=abc")]);
        c.response_headers(&res, &mut none);
        c.response_cookie(&res, &mut none);
        assert_eq!(none.cc(), "-");
        assert_eq!(none.cs(), "-");
        assert_eq!(none.hr(), "{127.0|}");
        assert_eq!(none.hrl(), "127.0 -");
        assert_eq!(none.hs(), "{s1|a=1, JS=abc}");

        // Full value kept when shorter than len; first cookie of several lines.
        let mut one = Captures::default();
        let req = headers(&[("cookie", "a=1"), ("cookie", "JS=c1; JS=c2")]);
        c.request_cookie(&req, &mut one);
        assert_eq!(one.cc(), "JS=c1");
    }
}
