//! The bytes of an `option httpchk` / `http-check send` request, as HAProxy 2.6's
//! HTTP/1 output writes them (observed on the wire): header names lowercased,
//! `content-length`/`transfer-encoding` from the configuration dropped, a
//! `content-length` added for a body (or `0` for methods that carry one), and the
//! `connection` header normalised the way HAProxy's H1 multiplexer does it.

use crate::model::proxy::{HttpCheckCfg, HttpChk};

/// Everything a check request is built from, merged from `option httpchk` and
/// `http-check send` (the latter overriding the request line parts it sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    pub uri: String,
    pub version: String,
    /// `http-check send hdr`, else the 1.x `option httpchk` version-string tail.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RequestSpec {
    pub fn from_model(chk: &HttpChk, cfg: &HttpCheckCfg) -> RequestSpec {
        let mut spec = RequestSpec {
            method: chk.method.clone(),
            uri: chk.uri.clone(),
            version: chk.version.clone(),
            headers: chk.headers.clone(),
            body: chk.body.clone().map(String::into_bytes).unwrap_or_default(),
        };
        if let Some(send) = &cfg.send {
            if let Some(m) = &send.method {
                spec.method = m.clone();
            }
            if let Some(u) = &send.uri {
                spec.uri = u.clone();
            }
            if let Some(v) = &send.version {
                spec.version = v.clone();
            }
            // `http-check send hdr` replaces the headers of the 1.x version-string tail
            // (observed: the tail's `host` is gone once one `hdr` is given).
            if !send.headers.is_empty() {
                spec.headers = send.headers.clone();
            }
            if let Some(b) = &send.body {
                spec.body = b.clone().into_bytes();
            }
        }
        spec
    }

    /// The request bytes; `state` is the `x-haproxy-server-state` value when
    /// `http-check send-state` is on and the server's state is known.
    pub fn encode(&self, state: Option<&str>) -> Vec<u8> {
        let ver11 = is_ver11(&self.version);
        let version = if ver11 { "HTTP/1.1" } else { &self.version };
        let mut out = format!("{} {} {}\r\n", self.method, self.uri, version);

        // HAProxy's check adds `Connection: close` unless one is configured; the H1 output
        // then drops the close/keep-alive tokens and re-adds what the version needs.
        let conn_values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.as_str())
            .collect();
        let has_token = |t: &str| {
            conn_values
                .iter()
                .flat_map(|v| v.split(','))
                .any(|x| x.trim().eq_ignore_ascii_case(t))
        };
        let want_close = conn_values.is_empty() || has_token("close");
        let upgrade = has_token("upgrade");

        for (name, value) in &self.headers {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                // The length is HAProxy's to state, from the body.
                "content-length" | "transfer-encoding" => {}
                "connection" => {
                    let kept: Vec<&str> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| {
                            !t.is_empty()
                                && !t.eq_ignore_ascii_case("close")
                                && !t.eq_ignore_ascii_case("keep-alive")
                        })
                        .collect();
                    if !kept.is_empty() {
                        out.push_str(&format!("connection: {}\r\n", kept.join(", ")));
                    }
                }
                _ => out.push_str(&format!("{name}: {value}\r\n")),
            }
        }
        if let Some(s) = state {
            out.push_str(&format!("x-haproxy-server-state: {s}\r\n"));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("content-length: {}\r\n", self.body.len()));
        } else if !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "DELETE") {
            // Methods that normally carry a body get an explicit empty one.
            out.push_str("content-length: 0\r\n");
        }
        if !upgrade {
            if want_close && ver11 {
                out.push_str("connection: close\r\n");
            } else if !want_close && !ver11 {
                out.push_str("connection: keep-alive\r\n");
            }
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// HAProxy's test for "HTTP/1.1 or above": an 8-character version whose major digit
/// is above 1, or 1 with a minor of at least 1. Such versions go out as `HTTP/1.1`;
/// any other text goes out as written.
fn is_ver11(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 8 && (b[5] > b'1' || (b[5] == b'1' && b[7] >= b'1'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        method: &str,
        uri: &str,
        version: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            uri: uri.into(),
            version: version.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn enc(s: &RequestSpec) -> String {
        String::from_utf8(s.encode(None)).unwrap()
    }

    #[test]
    fn plain_forms() {
        assert_eq!(
            enc(&spec("OPTIONS", "/", "HTTP/1.0", &[], "")),
            "OPTIONS / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            enc(&spec("HEAD", "/ping", "HTTP/1.0", &[], "")),
            "HEAD /ping HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            enc(&spec("GET", "/p", "HTTP/1.1", &[("host", "www")], "")),
            "GET /p HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn versions() {
        let v = |ver: &str| enc(&spec("OPTIONS", "/", ver, &[], ""));
        assert_eq!(
            v("http/1.1"),
            "OPTIONS / HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            v("HTTP/2.0"),
            "OPTIONS / HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(v("HTTP/3"), "OPTIONS / HTTP/3\r\n\r\n");
        assert_eq!(v("FOO"), "OPTIONS / FOO\r\n\r\n");
        assert_eq!(v("http/1.0"), "OPTIONS / http/1.0\r\n\r\n");
    }

    #[test]
    fn bodies_and_lengths() {
        assert_eq!(
            enc(&spec(
                "POST",
                "/h",
                "HTTP/1.0",
                &[("content-length", "99")],
                "hello"
            )),
            "POST /h HTTP/1.0\r\ncontent-length: 5\r\n\r\nhello"
        );
        assert_eq!(
            enc(&spec(
                "POST",
                "/",
                "HTTP/1.1",
                &[("x-a", "a"), ("x-b", "b")],
                "hi"
            )),
            "POST / HTTP/1.1\r\nx-a: a\r\nx-b: b\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"
        );
        for m in ["POST", "PUT", "PATCH", "TRACE", "FOO", "head"] {
            assert!(
                enc(&spec(m, "/", "HTTP/1.1", &[], "")).contains("content-length: 0\r\n"),
                "{m}"
            );
        }
        for m in ["GET", "HEAD", "OPTIONS", "DELETE"] {
            assert!(
                !enc(&spec(m, "/", "HTTP/1.1", &[], "")).contains("content-length"),
                "{m}"
            );
        }
    }

    #[test]
    fn connection_header() {
        let c = |ver: &str, v: &str| {
            enc(&spec(
                "OPTIONS",
                "/",
                ver,
                &[("X-A", "a"), ("Connection", v), ("X-B", "b")],
                "",
            ))
        };
        assert_eq!(
            c("HTTP/1.1", "Close"),
            "OPTIONS / HTTP/1.1\r\nx-a: a\r\nx-b: b\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.1", "keep-alive"),
            "OPTIONS / HTTP/1.1\r\nx-a: a\r\nx-b: b\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.0", "close"),
            "OPTIONS / HTTP/1.0\r\nx-a: a\r\nx-b: b\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.0", "Keep-Alive"),
            "OPTIONS / HTTP/1.0\r\nx-a: a\r\nx-b: b\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.1", "keep-alive, Upgrade"),
            "OPTIONS / HTTP/1.1\r\nx-a: a\r\nconnection: Upgrade\r\nx-b: b\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.0", "foo, bar"),
            "OPTIONS / HTTP/1.0\r\nx-a: a\r\nconnection: foo, bar\r\nx-b: b\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            c("HTTP/1.1", "foo"),
            "OPTIONS / HTTP/1.1\r\nx-a: a\r\nconnection: foo\r\nx-b: b\r\n\r\n"
        );
    }

    #[test]
    fn send_state_goes_before_the_length() {
        let s = spec("OPTIONS", "/", "HTTP/1.1", &[("X-A", "a")], "zz");
        assert_eq!(
            String::from_utf8(s.encode(Some("UP 1/3; name=be/s1"))).unwrap(),
            "OPTIONS / HTTP/1.1\r\nx-a: a\r\nx-haproxy-server-state: UP 1/3; name=be/s1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nzz"
        );
    }
}
