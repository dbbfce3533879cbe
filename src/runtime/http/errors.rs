//! Error responses a proxy generates itself: the built-in pages (`errors/`), `errorfile`
//! overrides and `errorloc` redirects, sent the way HAProxy 2.6 sends them.
//!
//! HAProxy has two paths, and rproxy copies both:
//! - errors its HTTP/1 layer detects before a request exists (a malformed or oversized
//!   request: 400, 413, 422; a client too slow to send its head: 408) get the built-in page
//!   written as it is, whatever `errorfile` says (only an empty errorfile silences them), and
//!   the connection closes;
//! - every other answer (403 deny, 503 no server, 502 bad response, 504 server timeout ...)
//!   is a message like a server's response: the backend's page if it has one for the
//!   status, else the frontend's, else the built-in one; header names lower-cased, the
//!   page's own `Connection` header replaced, and the client connection kept alive when the
//!   client, the page (it needs a length) and the request (its body fully read) allow it.
//!
//! An errorfile is checked at load as HAProxy checks it ([`parse_page`]): a complete head,
//! a status that is not 1xx (101 aside), a body matching its `Content-Length`, no chunking.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::codec::{self, Limits};
use super::head::Version;
use crate::model::ErrorPage;
use crate::model::errors::default_error_page;
use crate::model::proxy::Proxy;

/// The statuses HAProxy generates and lets `errorfile` replace.
pub const CODES: [u16; 19] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// An error page once loaded, as HAProxy holds it (its HTX message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The status line's version as written (`HTTP/1.0`, `HTTP/1.1`).
    version: String,
    /// Whether that version is 1.1 or later.
    v11: bool,
    status: u16,
    reason: String,
    /// Header fields, names lower-cased, without `Connection`.
    headers: Vec<(String, Vec<u8>)>,
    /// The page's own `Connection` header asks to close.
    conn_close: bool,
    /// The body's end is known (a length, or a status without body): keep-alive possible.
    delimited: bool,
    body: Vec<u8>,
    /// The file's bytes, for HAProxy's HTTP/1 layer which writes them unchanged.
    raw: Vec<u8>,
}

/// What a proxy answers with for a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An empty errorfile: close without a word.
    Empty,
    Page(Page),
}

/// Parses an errorfile's content with HAProxy's checks; `Ok(Reply::Empty)` for an empty
/// file. The error text is HAProxy's.
pub fn parse_page(raw: &[u8]) -> Result<Reply, String> {
    if raw.is_empty() {
        return Ok(Reply::Empty);
    }
    // Loose limits: a file is only bounded by tune.bufsize (checked at load).
    let lim = Limits {
        max_head: usize::MAX / 4,
        max_headers: 101,
        bufsize: raw.len() + 128,
    };
    let (mut head, n) = match codec::parse_response(raw, &lim) {
        Ok(Some(x)) => x,
        Ok(None) => return Err("unable to parse headers (incomplete head)".into()),
        Err(e) => return Err(format!("unable to parse headers ({e})")),
    };
    let status = head.status;
    if status < 200 && status != 101 {
        return Err(format!(
            "invalid http status code for an error message ({status})"
        ));
    }
    let version = String::from_utf8_lossy(version_of(raw)).into_owned();
    let body = raw[n..].to_vec();
    let te = head.headers.contains("transfer-encoding");
    if te && head.headers.has_token("transfer-encoding", "chunked") {
        return Err("chunk-encoded payload not supported".into());
    }
    if te {
        head.headers.remove("content-length");
    }
    let bodyless = status == 204 || status == 304;
    let cl = if bodyless {
        Some(0)
    } else {
        match head.headers.get("content-length") {
            Some(v) => Some(
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or("invalid content-length")?,
            ),
            None => None,
        }
    };
    match cl {
        Some(0) if !body.is_empty() => return Err("message payload not expected".into()),
        Some(len) if len != body.len() => {
            return Err(format!(
                "payload size does not match the announced content-length ({} != {len})",
                body.len()
            ));
        }
        _ => {}
    }
    let conn_close = head.headers.has_token("connection", "close");
    let headers = head
        .headers
        .iter()
        .filter(|h| h.name != "connection")
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    Ok(Reply::Page(Page {
        version,
        v11: head.version == Version::H11,
        status,
        reason: head.reason,
        headers,
        conn_close,
        delimited: cl.is_some(),
        body,
        raw: raw.to_vec(),
    }))
}

/// The version word of a status line (after any empty lines).
fn version_of(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(0);
    let rest = &raw[start..];
    let end = rest
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .unwrap_or(rest.len());
    &rest[..end]
}

impl Reply {
    /// The answer as HAProxy's message layer sends it to a client whose request had
    /// `req_version`; `want_close` when the connection must end anyway (client's wish,
    /// unread request body, `option httpclose`). Returns (bytes, whether to close).
    pub fn render(&self, req_version: Version, want_close: bool) -> (Vec<u8>, bool) {
        let p = match self {
            Reply::Empty => return (Vec::new(), true),
            Reply::Page(p) => p,
        };
        let close = want_close || p.conn_close || !p.delimited;
        let mut out = Vec::with_capacity(p.body.len() + 256);
        out.extend_from_slice(p.version.as_bytes());
        out.extend_from_slice(format!(" {} ", p.status).as_bytes());
        out.extend_from_slice(p.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &p.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        // HAProxy's rule: say keep-alive when either side is HTTP/1.0, close when the
        // message is HTTP/1.1 (where keep-alive is the default).
        if close {
            if p.v11 {
                out.extend_from_slice(b"connection: close\r\n");
            }
        } else if !p.v11 || req_version != Version::H11 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        (out, close)
    }

    /// The bytes HAProxy's HTTP/1 layer writes for an error it detects itself: the page
    /// exactly as written (nothing for an empty one).
    pub fn raw(&self) -> &[u8] {
        match self {
            Reply::Empty => &[],
            Reply::Page(p) => &p.raw,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Reply::Empty)
    }

    /// The status the answer carries (0 for an empty one).
    pub fn status(&self) -> u16 {
        match self {
            Reply::Empty => 0,
            Reply::Page(p) => p.status,
        }
    }
}

/// The built-in pages: `errors/*.http` where rproxy has one, else a short page with
/// HAProxy's status line and headers.
pub fn default_reply(status: u16) -> &'static Reply {
    static DEFAULTS: OnceLock<HashMap<u16, Reply>> = OnceLock::new();
    static FALLBACK: OnceLock<Reply> = OnceLock::new();
    let map = DEFAULTS.get_or_init(|| {
        CODES
            .iter()
            .map(|&c| {
                let raw = match default_error_page(c) {
                    Some(b) => b.to_vec(),
                    None => generic(c),
                };
                // Built-in pages are checked by a unit test; a broken one degrades to
                // the generic page rather than failing here.
                let reply = parse_page(&raw)
                    .or_else(|_| parse_page(&generic(c)))
                    .unwrap_or(Reply::Empty);
                (c, reply)
            })
            .collect()
    });
    match map.get(&status) {
        Some(r) => r,
        // HAProxy maps a status it has no page for to its 500 page.
        None => map
            .get(&500)
            .unwrap_or_else(|| FALLBACK.get_or_init(|| Reply::Empty)),
    }
}

/// HAProxy's reason phrases for the statuses it generates.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        303 => "See Other",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Unauthorized",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => super::head::reason(status),
    }
}

/// A page for a status without a file in `errors/`, laid out as HAProxy's built-in ones.
fn generic(code: u16) -> Vec<u8> {
    let reason = reason(code);
    let body = format!("<html><body><h1>{code} {reason}</h1>\n</body></html>\n");
    let conn = if matches!(code, 400 | 408) {
        "Connection: close\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-length: {}\r\nCache-Control: no-cache\r\n{conn}Content-Type: text/html\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `errorloc*`: a redirect to the page's location, as HAProxy builds it.
fn location(url: &str, code: u16) -> Reply {
    let raw = format!(
        "HTTP/1.1 {code} {}\r\nCache-Control: no-cache\r\nContent-length: 0\r\nLocation: {url}\r\n\r\n",
        reason(code)
    );
    parse_page(raw.as_bytes()).unwrap_or(Reply::Empty)
}

/// The pages a proxy configures (errorfile, errorloc, http-errors), by status.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    configured: HashMap<u16, Reply>,
}

impl ErrorPages {
    pub fn build(p: &Proxy) -> Self {
        let configured = p
            .errorfiles
            .iter()
            .map(|(code, page)| {
                let reply = match page {
                    // Checked at load; a page that no longer parses is served empty.
                    ErrorPage::File { content, .. } => parse_page(content).unwrap_or(Reply::Empty),
                    ErrorPage::Location { url, code: c } => location(url, *c),
                };
                (*code, reply)
            })
            .collect();
        ErrorPages { configured }
    }

    /// The page this proxy configures for `status`, if any.
    pub fn configured(&self, status: u16) -> Option<&Reply> {
        self.configured.get(&status)
    }

    /// The reply for `status`: this proxy's page, else the built-in one.
    pub fn reply(&self, status: u16) -> &Reply {
        self.configured(status)
            .unwrap_or_else(|| default_reply(status))
    }

    /// HAProxy's choice for an answer of a transaction: the backend's page, else the
    /// frontend's, else the built-in one.
    pub fn select<'a>(be: Option<&'a ErrorPages>, fe: &'a ErrorPages, status: u16) -> &'a Reply {
        be.and_then(|b| b.configured(status))
            .or_else(|| fe.configured(status))
            .unwrap_or_else(|| default_reply(status))
    }

    /// The response for `status` as a complete message on a kept-alive HTTP/1.1 connection.
    pub fn get(&self, status: u16) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Owned(self.reply(status).render(Version::H11, false).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn built_in_pages_load_and_match_haproxy_heads() {
        for code in CODES {
            let r = default_reply(code);
            assert_eq!(r.status(), code, "{code}");
            let Reply::Page(p) = r else {
                panic!("{code} empty")
            };
            assert_eq!(p.reason, reason(code));
            // Every default is checked like an errorfile (length matches the body).
            assert!(p.delimited, "{code} has no length");
        }
        let (b, close) = default_reply(503).render(Version::H11, false);
        assert!(!close);
        let t = text(&b);
        assert!(
            t.starts_with("HTTP/1.1 503 Service Unavailable\r\ncontent-length: ")
                && t.contains("\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n"),
            "{t}"
        );
        let raw = text(default_reply(400).raw());
        assert!(
            raw.starts_with("HTTP/1.1 400 Bad request\r\nContent-length: "),
            "{raw}"
        );
        assert!(raw.contains(
            "\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n"
        ));
        // Through the message layer a 400 closes (its page says so).
        let (b, close) = default_reply(400).render(Version::H11, false);
        assert!(close);
        assert!(text(&b).contains("content-type: text/html\r\nconnection: close\r\n\r\n"));
        // Unknown statuses get the 500 page, as in HAProxy.
        assert_eq!(default_reply(418).status(), 500);
    }

    #[test]
    fn errorfile_checks() {
        assert_eq!(parse_page(b""), Ok(Reply::Empty));
        for (raw, err) in [
            (&b"garbage\r\n\r\n"[..], "unable to parse headers"),
            (
                b"HTTP/1.1 503 X\r\nContent-Length: 3\r\n",
                "unable to parse",
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", "invalid http status"),
            (
                b"HTTP/1.1 503 X\r\nContent-Length: 3\r\n\r\nabcdef",
                "(6 != 3)",
            ),
            (
                b"HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\nbody",
                "not expected",
            ),
            (b"HTTP/1.1 204 X\r\n\r\nbody", "not expected"),
            (
                b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "chunk-encoded",
            ),
        ] {
            let e = parse_page(raw).unwrap_err();
            assert!(e.contains(err), "{e}");
        }
        assert!(parse_page(b"HTTP/1.1 101 Sw\r\n\r\n").is_ok());
    }

    #[test]
    fn render_connection_rules() {
        let page = |raw: &str| parse_page(raw.as_bytes()).unwrap();
        // No length: close-delimited, `connection: close` for an HTTP/1.1 page.
        let (b, close) = page("HTTP/1.1 503 Busy\r\nX-Custom: Yes\r\n\r\nno length\n")
            .render(Version::H11, false);
        assert!(close);
        assert_eq!(
            text(&b),
            "HTTP/1.1 503 Busy\r\nx-custom: Yes\r\nconnection: close\r\n\r\nno length\n"
        );
        // An HTTP/1.0 page with a length keeps the connection and says so.
        let (b, close) =
            page("HTTP/1.0 503 Busy\r\nContent-Length: 3\r\n\r\nabc").render(Version::H11, false);
        assert!(!close);
        assert_eq!(
            text(&b),
            "HTTP/1.0 503 Busy\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\nabc"
        );
        // The page's own Connection header: dropped, but `close` is honoured.
        let (b, close) =
            page("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc")
                .render(Version::H11, false);
        assert!(close);
        assert_eq!(
            text(&b),
            "HTTP/1.1 503 Busy\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc"
        );
        // An HTTP/1.0 client asking for keep-alive is told keep-alive.
        let (b, close) =
            page("HTTP/1.1 503 \r\ncontent-length: 0\r\n\r\n").render(Version::H10, false);
        assert!(!close);
        assert_eq!(
            text(&b),
            "HTTP/1.1 503 \r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(Reply::Empty.render(Version::H11, false), (Vec::new(), true));
    }

    #[test]
    fn errorloc() {
        let (b, close) = location("http://x/", 302).render(Version::H11, false);
        assert!(!close);
        assert_eq!(
            text(&b),
            "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://x/\r\n\r\n"
        );
    }

    #[test]
    fn selection_order() {
        let mut fe = Proxy::default();
        fe.errorfiles.insert(
            503,
            ErrorPage::Location {
                url: "/fe".into(),
                code: 302,
            },
        );
        let mut be = Proxy::default();
        be.errorfiles.insert(
            502,
            ErrorPage::Location {
                url: "/be".into(),
                code: 303,
            },
        );
        let (fe, be) = (ErrorPages::build(&fe), ErrorPages::build(&be));
        assert_eq!(ErrorPages::select(Some(&be), &fe, 503).status(), 302);
        assert_eq!(ErrorPages::select(Some(&be), &fe, 502).status(), 303);
        assert_eq!(ErrorPages::select(Some(&be), &fe, 504).status(), 504);
        assert!(fe.get(503).starts_with(b"HTTP/1.1 302 Found\r\n"));
    }
}
