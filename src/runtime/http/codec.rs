//! HTTP/1 framing as HAProxy 2.6's H1 parser sees it: head parsing with its limits and
//! character rules, body length rules, and chunked decoding that re-encodes what it forwards.
//!
//! What is accepted and what is refused follows HAProxy 2.6.12 (Debian 12's package, which
//! carries the later security fixes), observed side by side:
//! - request line: method made of token characters; one or more spaces or tabs between the
//!   parts; the target only of the visible ASCII characters except `#`; a version of exactly
//!   `HTTP/d.d` (any digits: `HTTP/2.0` is taken as 1.1); no version at all (HTTP/0.9) is
//!   refused; empty lines before the request line are skipped;
//! - lines end with CRLF or a bare LF; a CR not followed by LF is refused;
//! - header names of token characters only, not empty, no space before the colon; values of
//!   anything but CR and LF (NUL and other controls pass), trimmed; obsolete line folding is
//!   undone (each CR and LF becomes a space);
//! - `Content-Length`: digits only, comma lists of equal values, repeated headers equal;
//!   one cleaned `content-length` header is kept; anything else is refused;
//! - `Transfer-Encoding`: `chunked` at most once and, in a request, last;
//! - `Host`: repeated headers must be equal (one is kept) and must match the authority of an
//!   absolute target (default ports aside);
//! - limits: a head must end within `tune.bufsize` − 64 raw bytes, and once parsed fit in
//!   `tune.bufsize` − `tune.maxrewrite` by HAProxy's accounting (each header costs 8 bytes
//!   plus its name and value); at most `tune.http.maxhdr` − 1 headers.
//!
//! Chunked bodies are decoded and re-encoded (sizes in plain hex, extensions dropped, trailer
//! names lower-cased), so that a peer never sees a chunk-size line it could read differently.

use super::head::{Header, Headers, RequestHead, ResponseHead, Version, trim};

/// Request and response limits (`tune.bufsize`, `tune.maxrewrite`, `tune.http.maxhdr`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `tune.bufsize` − `tune.maxrewrite`: room for a parsed head.
    pub max_head: usize,
    /// `tune.http.maxhdr`: header slots, one of which HAProxy keeps for its end marker.
    pub max_headers: usize,
    /// `tune.bufsize`: the input buffer a raw head or a chunk-size line must fit in.
    pub bufsize: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16384 - 1024,
            max_headers: 101,
            bufsize: 16384,
        }
    }
}

impl Limits {
    /// Raw bytes a head (with any empty lines before it) or a chunk-size line may span:
    /// HAProxy keeps 64 bytes of its input buffer for itself.
    pub fn raw_max(&self) -> usize {
        self.bufsize.saturating_sub(64).max(64)
    }
    /// What a parsed head may weigh by HAProxy's accounting (its HTX structure and the
    /// start line's descriptor take 68 bytes of `max_head`).
    fn htx_max(&self) -> usize {
        self.max_head.saturating_sub(68)
    }
}

/// Why a message head (or a chunked body) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("message head larger than the buffer")]
    TooLarge,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("malformed message: {0}")]
    Invalid(&'static str),
    /// HAProxy answers 413 to an HTTP/1.0 GET, HEAD or DELETE carrying a body.
    #[error("HTTP/1.0 GET/HEAD/DELETE request with a body")]
    PayloadTooLarge,
    /// A transfer coding other than `chunked`: HAProxy answers 422 (502 for a response).
    #[error("unknown transfer-encoding")]
    UnknownEncoding,
}

impl HeadError {
    /// The status HAProxy answers a client with for this error in a request.
    pub fn request_status(&self) -> u16 {
        match self {
            HeadError::PayloadTooLarge => 413,
            HeadError::UnknownEncoding => 422,
            _ => 400,
        }
    }
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
    /// A response without length: the body ends when the server closes.
    UntilClose,
}

/// A request's body framing and whether the connection must close after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub body: BodyKind,
    /// `Transfer-Encoding` with `Content-Length`, or in HTTP/1.0: HAProxy closes after it.
    pub close: bool,
}

// ---------------------------------------------------------------------------------------
// Character classes (RFC 9110 tchar; HAProxy's version characters).

/// RFC 9110 `tchar` by byte value: one lookup per byte of a name or method.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// A token (ASCII by construction) lower-cased into a string, without a UTF-8 pass.
fn lower_token(t: &[u8]) -> String {
    String::from_utf8(t.to_ascii_lowercase()).unwrap_or_default()
}

/// The length of the token run at the start of `b` (None: it reaches the end of `b`).
fn token_run(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| !is_token(*c))
}

fn is_ver(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'/'
}

fn is_sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn inv(why: &'static str) -> HeadError {
    HeadError::Invalid(why)
}

/// Byte `i` of `buf`, or `None` when more input is needed.
macro_rules! need {
    ($buf:expr, $i:expr) => {
        match $buf.get($i) {
            Some(b) => *b,
            None => return Ok(None),
        }
    };
}

/// Skips empty lines (CRLF or LF) before a start line; returns the start line's offset.
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    let mut i = 0;
    loop {
        match need!(buf, i) {
            b'\n' => i += 1,
            b'\r' => {
                if need!(buf, i + 1) != b'\n' {
                    return Err(inv("CR without LF"));
                }
                i += 2;
            }
            _ => return Ok(Some(i)),
        }
    }
}

/// Consumes a line end at `i` (CRLF or LF); returns the offset after it.
fn line_end(buf: &[u8], i: usize) -> Result<Option<usize>, HeadError> {
    match need!(buf, i) {
        b'\n' => Ok(Some(i + 1)),
        b'\r' => {
            if need!(buf, i + 1) != b'\n' {
                return Err(inv("CR without LF"));
            }
            Ok(Some(i + 2))
        }
        _ => Err(inv("expected end of line")),
    }
}

/// `HTTP/d.d` (the prefix checked only for requests, as HAProxy does); Some(is 1.1 or later).
fn version(v: &[u8], request: bool) -> Option<Version> {
    if v.len() != 8
        || v[4] != b'/'
        || !v[5].is_ascii_digit()
        || v[6] != b'.'
        || !v[7].is_ascii_digit()
        || (request && &v[..5] != b"HTTP/")
    {
        return None;
    }
    Some(if v[5] > b'1' || (v[5] == b'1' && v[7] >= b'1') {
        Version::H11
    } else {
        Version::H10
    })
}

// ---------------------------------------------------------------------------------------
// Header fields

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
    Trailers,
}

/// Header fields as parsed, with what the special ones said.
#[derive(Debug, Default)]
struct Fields {
    headers: Vec<Header>,
    /// Index of the (first) Host header.
    host: Option<usize>,
    /// The Content-Length value, once seen.
    cl: Option<u64>,
    /// `chunked` was seen in Transfer-Encoding.
    te_chunked: bool,
}

/// `Content-Length`: comma-separated equal digit runs; returns (value, cleaned text).
fn parse_cl(v: &[u8]) -> Result<(u64, &[u8]), HeadError> {
    let mut out: Option<(u64, &[u8])> = None;
    for part in v.split(|b| *b == b',') {
        let w = trim(part);
        if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
            return Err(inv("invalid content-length"));
        }
        // HAProxy computes in a signed 64-bit integer: larger values are refused.
        let mut n: i64 = 0;
        for d in w {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(d - b'0')))
                .ok_or(inv("content-length overflow"))?;
        }
        let n = n as u64;
        if out.is_some_and(|(m, _)| m != n) {
            return Err(inv("conflicting content-length"));
        }
        out = Some((n, w));
    }
    out.ok_or(inv("empty content-length"))
}

/// Checks a Transfer-Encoding value: `chunked` at most once, and last in a request.
fn check_te(v: &[u8], request: bool, chunked: &mut bool) -> Result<(), HeadError> {
    for word in v.split(|b| *b == b',') {
        let w = trim(word);
        if w.is_empty() {
            continue;
        }
        if w.eq_ignore_ascii_case(b"chunked") {
            if *chunked {
                return Err(inv("chunked applied twice"));
            }
            *chunked = true;
        } else if request && *chunked {
            return Err(inv("transfer coding after chunked"));
        }
    }
    Ok(())
}

/// Parses header lines from `buf[i..]` through the empty line ending them.
fn parse_fields(
    buf: &[u8],
    mut i: usize,
    kind: Kind,
    lim: &Limits,
) -> Result<Option<(Fields, usize)>, HeadError> {
    let mut f = Fields::default();
    loop {
        let b = need!(buf, i);
        if b == b'\r' || b == b'\n' {
            let Some(end) = line_end(buf, i)? else {
                return Ok(None);
            };
            if f.headers.len() >= lim.max_headers {
                return Err(HeadError::TooManyHeaders);
            }
            return Ok(Some((f, end)));
        }
        let ns = i;
        match token_run(&buf[i..]) {
            Some(k) => i += k,
            None => return Ok(None),
        }
        if buf[i] != b':' {
            return Err(inv("invalid character in header name"));
        }
        if i == ns {
            return Err(inv("empty header name"));
        }
        let name = lower_token(&buf[ns..i]);
        i += 1;
        while is_sp(need!(buf, i)) {
            i += 1;
        }
        // The value runs to the end of line; a line starting with a space or tab continues
        // it (obsolete folding), its line end turned into spaces as HAProxy does.
        let mut value = Vec::new();
        loop {
            let vs = i;
            // The line's end, found a word at a time rather than a byte at a time.
            match memchr::memchr2(b'\r', b'\n', &buf[i..]) {
                Some(k) => i += k,
                None => return Ok(None),
            }
            value.extend_from_slice(&buf[vs..i]);
            let Some(next) = line_end(buf, i)? else {
                return Ok(None);
            };
            let eol_len = next - i;
            i = next;
            if is_sp(need!(buf, i)) {
                value.resize(value.len() + eol_len, b' ');
                continue;
            }
            break;
        }
        while value.last().is_some_and(|b| is_sp(*b)) {
            value.pop();
        }
        if value.first().is_some_and(|b| is_sp(*b)) {
            value = trim(&value).to_vec();
        }
        let mut keep = true;
        if kind != Kind::Trailers {
            match name.as_str() {
                "content-length" => {
                    let (n, clean) = parse_cl(&value)?;
                    if f.cl.is_some_and(|m| m != n) {
                        return Err(inv("conflicting content-length"));
                    }
                    if f.cl.is_some() {
                        keep = false;
                    } else {
                        f.cl = Some(n);
                        let clean = clean.to_vec();
                        if f.headers.len() >= lim.max_headers {
                            return Err(HeadError::TooManyHeaders);
                        }
                        f.headers.push(Header { name, value: clean });
                        continue;
                    }
                }
                "transfer-encoding" => check_te(&value, kind == Kind::Request, &mut f.te_chunked)?,
                "host" if kind == Kind::Request => match f.host {
                    Some(h) => {
                        if !f.headers[h].value.eq_ignore_ascii_case(&value) {
                            return Err(inv("conflicting host headers"));
                        }
                        keep = false;
                    }
                    None => f.host = Some(f.headers.len()),
                },
                _ => {}
            }
        }
        if keep {
            if f.headers.len() >= lim.max_headers {
                return Err(HeadError::TooManyHeaders);
            }
            f.headers.push(Header { name, value });
        }
    }
}

/// HAProxy's weight of a parsed head: start line parts plus 8 bytes and name and value
/// per header, plus 17 for the blocks around them.
fn htx_weight(parts: [usize; 3], headers: &[Header]) -> usize {
    parts.iter().sum::<usize>()
        + headers
            .iter()
            .map(|h| 8 + h.name.len() + h.value.len())
            .sum::<usize>()
        + 17
}

/// Applies the raw-size limit to a parse result.
fn raw_limit<T>(
    buf: &[u8],
    lim: &Limits,
    r: Result<Option<(T, usize)>, HeadError>,
) -> Result<Option<(T, usize)>, HeadError> {
    match r? {
        Some((_, n)) if n > lim.raw_max() => Err(HeadError::TooLarge),
        Some(x) => Ok(Some(x)),
        None if buf.len() >= lim.raw_max() => Err(HeadError::TooLarge),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// Parses a request head at the start of `buf`; `Ok(None)` when more bytes are needed.
/// Errors are reported as soon as the bytes seen prove them.
pub fn parse_request(buf: &[u8], lim: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    raw_limit(buf, lim, parse_request_inner(buf, lim))
}

fn parse_request_inner(
    buf: &[u8],
    lim: &Limits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let Some(mut i) = skip_empty_lines(buf)? else {
        return Ok(None);
    };
    // Method
    let ms = i;
    while is_token(need!(buf, i)) {
        i += 1;
    }
    let me = i;
    match buf[i] {
        _ if i == ms => return Err(inv("invalid method")),
        b' ' | b'\t' => {}
        b'\r' | b'\n' => return Err(inv("missing request target and version")),
        _ => return Err(inv("invalid character in method")),
    }
    while is_sp(need!(buf, i)) {
        i += 1;
    }
    // Target
    let us = i;
    loop {
        match need!(buf, i) {
            b'#' => return Err(inv("fragment in request target")),
            0x21..=0x7e => i += 1,
            b' ' | b'\t' => break,
            b'\r' | b'\n' => return Err(inv("missing HTTP version")),
            _ => return Err(inv("invalid character in request target")),
        }
    }
    let ue = i;
    while is_sp(need!(buf, i)) {
        i += 1;
    }
    // Version
    let vs = i;
    while is_ver(need!(buf, i)) {
        i += 1;
    }
    let ve = i;
    if vs == ve && (buf[i] == b'\r' || buf[i] == b'\n') {
        return Err(inv("missing HTTP version"));
    }
    let Some(next) = line_end(buf, i).map_err(|_| inv("invalid HTTP version"))? else {
        return Ok(None);
    };
    let version = version(&buf[vs..ve], true).ok_or(inv("invalid HTTP version"))?;
    if &buf[ms..me] == b"PRI" && &buf[vs..ve] == b"HTTP/2.0" {
        // HAProxy switches to HTTP/2 on this preface; rproxy does not speak it, and must
        // not forward it as an HTTP/1 request.
        return Err(inv("HTTP/2 connection preface"));
    }
    let Some((f, end)) = parse_fields(buf, next, Kind::Request, lim)? else {
        return Ok(None);
    };
    // Token characters only: ASCII.
    let method = String::from_utf8(buf[ms..me].to_vec()).unwrap_or_default();
    let uri = String::from_utf8_lossy(&buf[us..ue]).into_owned();
    if htx_weight([me - ms, ue - us, ve - vs], &f.headers) > lim.htx_max() {
        return Err(HeadError::TooLarge);
    }
    let mut head = RequestHead {
        method,
        uri,
        version,
        headers: Headers(f.headers),
    };
    check_authority(&mut head, f.host)?;
    Ok(Some((head, end)))
}

/// The scheme (with `://`) and authority (without user info) of a request target that
/// has them, as HAProxy's URI parser finds them.
fn scheme_authority(uri: &str) -> (Option<&str>, Option<&str>) {
    if uri.is_empty() || uri.starts_with('/') || uri.starts_with('*') {
        return (None, None);
    }
    let b = uri.as_bytes();
    let mut scheme = None;
    let mut rest = uri;
    if b[0].is_ascii_alphabetic() {
        let n = b
            .iter()
            .skip(1)
            .take_while(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
            .count()
            + 1;
        if uri[n..].starts_with("://") {
            scheme = Some(&uri[..n + 3]);
            rest = &uri[n + 3..];
        }
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let auth = &rest[..end];
    let auth = match auth.rfind('@') {
        Some(at) => &auth[at + 1..],
        None => auth,
    };
    (scheme, Some(auth))
}

/// Splits `host[:port]` (the port: trailing digits after a colon, possibly empty).
fn host_port(h: &str) -> (&str, Option<&str>) {
    let digits = h.bytes().rev().take_while(u8::is_ascii_digit).count();
    let cut = h.len() - digits;
    if cut > 0 && h.as_bytes()[cut - 1] == b':' {
        (&h[..cut - 1], Some(&h[cut..]))
    } else {
        (h, None)
    }
}

fn default_port(scheme: Option<&str>, port: &str) -> bool {
    if port.is_empty() {
        return true;
    }
    match scheme {
        None => port == "443" || port == "80",
        Some(s) => {
            (port == "443" && s.eq_ignore_ascii_case("https://"))
                || (port == "80" && s.eq_ignore_ascii_case("http://"))
        }
    }
}

/// HAProxy's check of the Host header against the request target's authority: equal, or
/// equal but for a default port; for CONNECT the target needs a port and a Host with a
/// default port loses it.
fn check_authority(head: &mut RequestHead, host_idx: Option<usize>) -> Result<(), HeadError> {
    let (scheme, auth) = scheme_authority(&head.uri);
    if auth.is_none() && head.method != "CONNECT" {
        return Ok(());
    }
    let host = host_idx
        .and_then(|i| head.headers.0.get(i))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned());
    if head.method == "CONNECT" {
        let auth = auth.unwrap_or("");
        let (uhost, uport) = host_port(auth);
        let Some(uport) = uport.filter(|p| !p.is_empty()) else {
            return Err(inv("CONNECT target without port"));
        };
        if let (Some(h), Some(i)) = (host, host_idx) {
            let (hhost, hport) = host_port(&h);
            match hport.filter(|p| !p.is_empty()) {
                Some(hport) => {
                    if !hhost.eq_ignore_ascii_case(uhost) || hport != uport {
                        return Err(inv("host does not match CONNECT target"));
                    }
                    if default_port(None, uport) {
                        let norm = hhost.as_bytes().to_vec();
                        head.headers.0[i].value = norm;
                    }
                }
                None => {
                    if !default_port(None, uport) || !hhost.eq_ignore_ascii_case(uhost) {
                        return Err(inv("host does not match CONNECT target"));
                    }
                }
            }
        }
        return Ok(());
    }
    let (Some(auth), Some(host)) = (auth, host) else {
        return Ok(());
    };
    if auth.is_empty() || auth.eq_ignore_ascii_case(&host) {
        return Ok(());
    }
    let Some(scheme) = scheme else {
        return Err(inv("host does not match the request target"));
    };
    let (uhost, uport) = host_port(auth);
    let (hhost, hport) = host_port(&host);
    let ok = match (uport, hport) {
        (None, None) => false,
        (Some(p), _) if !default_port(Some(scheme), p) => false,
        (_, Some(p)) if !default_port(Some(scheme), p) => false,
        _ => uhost.eq_ignore_ascii_case(hhost),
    };
    if ok {
        Ok(())
    } else {
        Err(inv("host does not match the request target"))
    }
}

/// The request body framing, after HAProxy's checks: an invalid or conflicting
/// `Content-Length` is an error; `Transfer-Encoding` wins over `Content-Length` (which is
/// then removed, and the connection closes after the request), and must end with
/// `chunked`; another coding gets 422; HTTP/1.0 GET/HEAD/DELETE with a body gets 413; a
/// WebSocket handshake needs a 24-character key.
pub fn request_framing(head: &mut RequestHead) -> Result<Framing, HeadError> {
    let mut close = false;
    let body = if head.headers.contains("transfer-encoding") {
        let mut chunked = false;
        let mut other = false;
        let mut last_chunked = false;
        for v in head.headers.get_all("transfer-encoding") {
            for w in v.split(|b| *b == b',').map(trim).filter(|w| !w.is_empty()) {
                last_chunked = w.eq_ignore_ascii_case(b"chunked");
                if last_chunked {
                    if chunked {
                        return Err(inv("chunked applied twice"));
                    }
                    chunked = true;
                } else if chunked {
                    return Err(inv("transfer coding after chunked"));
                } else {
                    other = true;
                }
            }
        }
        if !last_chunked {
            return Err(inv("transfer-encoding without final chunked"));
        }
        if head.headers.remove("content-length") > 0 {
            close = true;
        }
        if head.version == Version::H10 {
            close = true;
        }
        if other {
            return Err(HeadError::UnknownEncoding);
        }
        BodyKind::Chunked
    } else {
        match content_length(&head.headers)? {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        }
    };
    if head.version == Version::H10
        && body != BodyKind::None
        && matches!(head.method.as_str(), "GET" | "HEAD" | "DELETE")
    {
        return Err(HeadError::PayloadTooLarge);
    }
    if head.headers.has_token("connection", "upgrade")
        && head.headers.has_token("upgrade", "websocket")
        && !head
            .headers
            .get_all("sec-websocket-key")
            .any(|k| k.len() == 24)
    {
        return Err(inv("websocket handshake without a valid key"));
    }
    Ok(Framing { body, close })
}

/// [`request_framing`]'s body kind alone.
pub fn request_body(head: &mut RequestHead) -> Result<BodyKind, HeadError> {
    request_framing(head).map(|f| f.body)
}

/// All `Content-Length` values must be the same valid number.
fn content_length(h: &Headers) -> Result<Option<u64>, HeadError> {
    let mut found: Option<u64> = None;
    for v in h.get_all("content-length") {
        let (n, _) = parse_cl(v)?;
        if found.is_some_and(|f| f != n) {
            return Err(inv("conflicting content-length"));
        }
        found = Some(n);
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------
// Responses

/// Parses a response head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_response(
    buf: &[u8],
    lim: &Limits,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    raw_limit(buf, lim, parse_response_inner(buf, lim))
}

fn parse_response_inner(
    buf: &[u8],
    lim: &Limits,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let Some(mut i) = skip_empty_lines(buf)? else {
        return Ok(None);
    };
    let vs = i;
    while is_ver(need!(buf, i)) {
        i += 1;
    }
    let ve = i;
    if !is_sp(buf[i]) || vs == ve {
        return Err(inv("invalid status line"));
    }
    let version = version(&buf[vs..ve], false).ok_or(inv("invalid HTTP version"))?;
    while is_sp(need!(buf, i)) {
        i += 1;
    }
    let cs = i;
    while need!(buf, i).is_ascii_digit() {
        i += 1;
    }
    let ce = i;
    if !matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        return Err(inv("invalid status code"));
    }
    // Three digits only (HAProxy 2.6 takes any run of digits; later versions do this).
    if ce - cs != 3 || buf[cs] == b'0' {
        return Err(inv("invalid status code"));
    }
    let status = buf[cs..ce]
        .iter()
        .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    while is_sp(need!(buf, i)) {
        i += 1;
    }
    let rs = i;
    loop {
        let c = need!(buf, i);
        if c == b'\r' || c == b'\n' {
            break;
        }
        i += 1;
    }
    let re = i;
    let Some(next) = line_end(buf, i)? else {
        return Ok(None);
    };
    let Some((f, end)) = parse_fields(buf, next, Kind::Response, lim)? else {
        return Ok(None);
    };
    if htx_weight([ve - vs, ce - cs, re - rs], &f.headers) > lim.htx_max() {
        return Err(HeadError::TooLarge);
    }
    Ok(Some((
        ResponseHead {
            version,
            status,
            reason: String::from_utf8_lossy(&buf[rs..re]).into_owned(),
            headers: Headers(f.headers),
        },
        end,
    )))
}

/// The response body framing for a request of `method`. A transfer coding other than
/// `chunked` is refused (HAProxy answers 502); a 204 loses any length header, as HAProxy
/// sends it.
pub fn response_body(head: &mut ResponseHead, method: &str) -> Result<BodyKind, HeadError> {
    if head.status == 204 {
        head.headers.remove("content-length");
        head.headers.remove("transfer-encoding");
        return Ok(BodyKind::None);
    }
    let te = head.headers.contains("transfer-encoding");
    let mut chunked = false;
    if te {
        for v in head.headers.get_all("transfer-encoding") {
            for w in v.split(|b| *b == b',').map(trim).filter(|w| !w.is_empty()) {
                if !w.eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::UnknownEncoding);
                }
                chunked = true;
            }
        }
    }
    if method == "HEAD" || (100..200).contains(&head.status) || head.status == 304 {
        return Ok(BodyKind::None);
    }
    if te {
        // Transfer-Encoding wins; nothing may be misread as a length.
        head.headers.remove("content-length");
        return Ok(if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        });
    }
    match content_length(&head.headers)? {
        Some(n) => Ok(BodyKind::Length(n)),
        None => Ok(BodyKind::UntilClose),
    }
}

// ---------------------------------------------------------------------------------------
// Chunked bodies

/// Decodes a chunked body and writes it re-encoded as HAProxy does: the data decoded by
/// one call as a single chunk (`<HEX SIZE>\r\n<data>\r\n`, size in upper-case hex), then
/// at the end `0\r\n`, the trailers with lower-case names, and the final empty line. Only
/// whole size lines and trailer blocks are consumed, so callers keep the rest buffered and
/// call again with more input.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    state: ChunkState,
    lim: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl ChunkDecoder {
    pub fn new(lim: &Limits) -> Self {
        ChunkDecoder {
            state: ChunkState::Size,
            lim: *lim,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes what it can of `input` (stopping at the end of the body) and appends the
    /// re-encoded bytes to `out`; returns how many input bytes were consumed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HeadError> {
        let mut data = Vec::new();
        let mut tail = Vec::new();
        let n = self.decode_parts(input, &mut data, &mut tail)?;
        if !data.is_empty() {
            out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&tail);
        Ok(n)
    }

    /// The decoding: chunk data goes to `data`, the last chunk and trailers to `tail`.
    fn decode_parts(
        &mut self,
        input: &[u8],
        data: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) -> Result<usize, HeadError> {
        let mut i = 0;
        loop {
            let rest = &input[i..];
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Size => match chunk_size_line(rest)? {
                    Some((size, n)) => {
                        if n > self.lim.raw_max() {
                            return Err(inv("chunk-size line too long"));
                        }
                        i += n;
                        if size == 0 {
                            tail.extend_from_slice(b"0\r\n");
                            self.state = ChunkState::Trailers;
                        } else {
                            self.state = ChunkState::Data(size);
                        }
                    }
                    None => {
                        if rest.len() >= self.lim.raw_max() {
                            return Err(inv("chunk-size line too long"));
                        }
                        return Ok(i);
                    }
                },
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(i);
                    }
                    let n = (rest.len() as u64).min(left) as usize;
                    data.extend_from_slice(&rest[..n]);
                    i += n;
                    self.state = if left == n as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n as u64)
                    };
                }
                ChunkState::DataEnd => match rest.first() {
                    None => return Ok(i),
                    Some(b'\n') => {
                        i += 1;
                        self.state = ChunkState::Size;
                    }
                    Some(b'\r') => match rest.get(1) {
                        None => return Ok(i),
                        Some(b'\n') => {
                            i += 2;
                            self.state = ChunkState::Size;
                        }
                        Some(_) => return Err(inv("chunk data not followed by CRLF")),
                    },
                    Some(_) => return Err(inv("chunk data not followed by CRLF")),
                },
                ChunkState::Trailers => match parse_fields(rest, 0, Kind::Trailers, &self.lim)? {
                    Some((f, n)) => {
                        if n > self.lim.raw_max()
                            || f.headers
                                .iter()
                                .map(|h| 8 + h.name.len() + h.value.len())
                                .sum::<usize>()
                                + 9
                                > self.lim.max_head.saturating_sub(48)
                        {
                            return Err(inv("trailers too large"));
                        }
                        for h in &f.headers {
                            tail.extend_from_slice(h.name.as_bytes());
                            tail.extend_from_slice(b": ");
                            tail.extend_from_slice(&h.value);
                            tail.extend_from_slice(b"\r\n");
                        }
                        tail.extend_from_slice(b"\r\n");
                        i += n;
                        self.state = ChunkState::Done;
                    }
                    None => {
                        if rest.len() >= self.lim.raw_max() {
                            return Err(inv("trailers too large"));
                        }
                        return Ok(i);
                    }
                },
            }
        }
    }
}

/// A chunk-size line: hex digits (below 2^52, as HAProxy bounds them), optional blanks, an
/// optional extension, CRLF or LF. Returns (size, line length).
fn chunk_size_line(buf: &[u8]) -> Result<Option<(u64, usize)>, HeadError> {
    let mut i = 0;
    let mut size: u64 = 0;
    loop {
        let b = need!(buf, i);
        let Some(d) = (b as char).to_digit(16) else {
            break;
        };
        size = (size << 4) | u64::from(d);
        if size & 0xF0_0000_0000_0000 != 0 {
            return Err(inv("chunk size too large"));
        }
        i += 1;
    }
    if i == 0 {
        return Err(inv("invalid chunk size"));
    }
    while is_sp(need!(buf, i)) {
        i += 1;
    }
    loop {
        match need!(buf, i) {
            b'\r' | b'\n' => {
                return Ok(line_end(buf, i)
                    .map_err(|_| inv("invalid chunk-size line end"))?
                    .map(|end| (size, end)));
            }
            b';' => {
                i += 1;
                while !matches!(need!(buf, i), b'\r' | b'\n') {
                    i += 1;
                }
            }
            _ => return Err(inv("invalid chunk size")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_request(s.as_bytes(), &Limits::default())
    }

    fn head(s: &str) -> RequestHead {
        req(s).unwrap().unwrap().0
    }

    fn status_of(s: &[u8]) -> u16 {
        match parse_request(s, &Limits::default()) {
            Ok(Some((mut h, _))) => match request_framing(&mut h) {
                Ok(_) => 200,
                Err(e) => e.request_status(),
            },
            Ok(None) => 0,
            Err(e) => e.request_status(),
        }
    }

    #[test]
    fn parses_request() {
        let (h, n) = req("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  v \r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(n, 42);
        assert_eq!(h.method, "GET");
        assert_eq!(h.path(), "/a");
        assert_eq!(h.query(), Some("b=1"));
        assert_eq!(h.headers.get("x-a"), Some(&b"v"[..]));
        assert_eq!(h.headers.0[0].name, "host");
    }

    #[test]
    fn partial_and_limits() {
        assert_eq!(req("GET / HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(req(""), Ok(None));
        assert_eq!(req("\r\n"), Ok(None));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(20000));
        assert_eq!(req(&big), Err(HeadError::TooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..101 {
            many.push_str(&format!("h{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(req(&many), Err(HeadError::TooManyHeaders));
        // 100 headers is the most HAProxy takes with tune.http.maxhdr 101.
        let mut ok = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            ok.push_str(&format!("h{i}: v\r\n"));
        }
        ok.push_str("\r\n");
        assert!(req(&ok).unwrap().is_some());
        // HAProxy's accounting: 15241 bytes of value with a Host header is the largest.
        let at = |n: usize| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(n));
        assert!(req(&at(15241)).unwrap().is_some());
        assert_eq!(req(&at(15242)), Err(HeadError::TooLarge));
        // Raw size: blanks trimmed from a value still count in the input buffer.
        let ws = |n: usize| format!("GET / HTTP/1.1\r\nX:{}a\r\n\r\n", " ".repeat(n));
        assert!(req(&ws(16297)).unwrap().is_some());
        assert_eq!(req(&ws(16298)), Err(HeadError::TooLarge));
    }

    #[test]
    fn request_line_rules() {
        for (s, want) in [
            ("GET / HTTP/1.1\r\n\r\n", 200),
            ("GET / HTTP/1.1\n\n", 200),
            ("\r\n\nGET / HTTP/1.1\r\n\r\n", 200),
            ("GET  /\tHTTP/1.1\r\n\r\n", 200),
            ("GET / HTTP/2.0\r\n\r\n", 200),
            ("get / HTTP/1.1\r\n\r\n", 200),
            ("GET /a\"<>{} HTTP/1.1\r\n\r\n", 200),
            ("GE(T / HTTP/1.1\r\n\r\n", 400),
            ("GET /\r\n\r\n", 400),
            ("GET\r\n\r\n", 400),
            ("GET / HTTP/1\r\n\r\n", 400),
            ("GET / http/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1 \r\n\r\n", 400),
            ("GET /a#b HTTP/1.1\r\n\r\n", 400),
            ("GET /\x7f HTTP/1.1\r\n\r\n", 400),
            ("GET /a\x00 HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\rX\n\r\n", 400),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
            (" GET / HTTP/1.1\r\n\r\n", 400),
        ] {
            assert_eq!(status_of(s.as_bytes()), want, "{s:?}");
        }
        assert_eq!(status_of(b"GET /\xe9 HTTP/1.1\r\n\r\n"), 400);
    }

    #[test]
    fn header_rules() {
        for (s, want) in [
            ("X: a\x00b\x01\x7f", 200),
            ("X:", 200),
            ("X: a\r\n b", 200),
            ("Host : x", 400),
            ("X a: b", 400),
            (": v", 400),
            ("Garbage", 400),
            ("X(a): b", 400),
            ("X: a\rb", 400),
            ("Host: a\r\nHost: A", 200),
            ("Host: a\r\nHost: b", 400),
            ("Content-Length: 5, 5", 200),
            ("Content-Length: 5\r\nContent-Length: 6", 400),
            ("Content-Length: 5,", 400),
            ("Content-Length: ", 400),
            ("Content-Length: +5", 400),
            ("Content-Length: 9223372036854775808", 400),
            ("Transfer-Encoding: chunked", 200),
            ("Transfer-Encoding: gzip", 400),
            ("Transfer-Encoding: gzip, chunked", 422),
            ("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", 422),
            ("Transfer-Encoding: chunked, gzip", 400),
            ("Transfer-Encoding: chunked, chunked", 400),
            ("Connection: upgrade\r\nUpgrade: websocket", 400),
            (
                "Connection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                200,
            ),
        ] {
            let r = format!("POST / HTTP/1.1\r\n{s}\r\n\r\n");
            assert_eq!(status_of(r.as_bytes()), want, "{s:?}");
        }
        assert_eq!(
            status_of(b"GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
            413
        );
        assert_eq!(
            status_of(b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
            200
        );
    }

    #[test]
    fn header_normalisation() {
        let h = head("GET / HTTP/1.1\r\nHost: x\r\nhost: X\r\nX: a\r\n\tb \r\n\r\n");
        assert_eq!(h.headers.get_all("host").count(), 1);
        assert_eq!(h.headers.get("x"), Some(&b"a  \tb"[..]));
        let h = head("GET / HTTP/1.1\nX: a\n b\n\n");
        assert_eq!(h.headers.get("x"), Some(&b"a  b"[..]));
        let h = head("POST / HTTP/1.1\r\nContent-Length: 005 , 5\r\nContent-Length: 5\r\n\r\n");
        let cl: Vec<&[u8]> = h.headers.get_all("content-length").collect();
        assert_eq!(cl, [&b"5"[..]]);
    }

    #[test]
    fn authority_rules() {
        for (line, host, want) in [
            ("GET http://a/ HTTP/1.1", "a", 200),
            ("GET http://a/ HTTP/1.1", "b", 400),
            ("GET http://a:80/ HTTP/1.1", "a", 200),
            ("GET http://a/ HTTP/1.1", "a:80", 200),
            ("GET https://a:443/ HTTP/1.1", "a", 200),
            ("GET http://a:443/ HTTP/1.1", "a", 400),
            ("GET http://a:8080/ HTTP/1.1", "a", 400),
            ("GET http://a:/ HTTP/1.1", "a", 200),
            ("GET http://u@a/ HTTP/1.1", "a", 200),
            ("GET ftp://a/ HTTP/1.1", "b", 400),
            ("GET //a/x HTTP/1.1", "b", 200),
            ("GET a/x HTTP/1.1", "b", 400),
            ("CONNECT a:443 HTTP/1.1", "b", 400),
            ("CONNECT a:443 HTTP/1.1", "a", 200),
            ("CONNECT a:443 HTTP/1.1", "a:443", 200),
            ("CONNECT a HTTP/1.1", "a", 400),
        ] {
            let r = format!("{line}\r\nHost: {host}\r\n\r\n");
            assert_eq!(status_of(r.as_bytes()), want, "{line} / {host}");
        }
        let h = head("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
        assert_eq!(h.headers.get("host"), Some(&b"a"[..]));
    }

    #[test]
    fn framing() {
        let mut h =
            head("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            request_framing(&mut h),
            Ok(Framing {
                body: BodyKind::Chunked,
                close: true
            })
        );
        assert!(!h.headers.contains("content-length"));
        let mut h = head("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(request_framing(&mut h).map(|f| f.close), Ok(true));
        let mut h = head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(request_body(&mut h), Ok(BodyKind::None));
    }

    fn res(s: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
        parse_response(s, &Limits::default())
    }

    #[test]
    fn responses() {
        let (h, _) = res(b"HTTP/1.1 200\r\nX: a\x00\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_str()), (200, ""));
        assert!(res(b"XTTP/1.1 200 OK\r\n\r\n").unwrap().is_some());
        assert!(res(b"HTTP/1 200 OK\r\n\r\n").is_err());
        assert!(res(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        assert!(res(b"hello world").is_err());
        assert_eq!(res(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        let (mut h, _) = res(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            response_body(&mut h, "GET"),
            Err(HeadError::UnknownEncoding)
        );
        let (mut h, _) = res(b"HTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(response_body(&mut h, "GET"), Ok(BodyKind::None));
        assert!(!h.headers.contains("content-length"));
    }

    fn dechunk(body: &[u8]) -> Result<(Vec<u8>, usize, bool), HeadError> {
        let mut d = ChunkDecoder::new(&Limits::default());
        let mut out = Vec::new();
        let n = d.decode(body, &mut out)?;
        Ok((out, n, d.is_done()))
    }

    #[test]
    fn chunk_decoder() {
        let body = b"4\r\nWiki\r\n005;x=y\r\npedia\r\n0\r\nT: v\r\n\r\nNEXT";
        let (out, n, done) = dechunk(body).unwrap();
        assert!(done);
        assert_eq!(&body[n..], b"NEXT");
        // Data decoded at once goes out as one chunk, its size in upper-case hex.
        assert_eq!(out, b"9\r\nWikipedia\r\n0\r\nt: v\r\n\r\n");
        let (out, _, _) = dechunk(b"A\r\n0123456789\r\n1\r\n!\r\n0\r\n\r\n").unwrap();
        assert_eq!(out, b"B\r\n0123456789!\r\n0\r\n\r\n");
        // Byte by byte gives the same body: the caller keeps what was not consumed.
        let mut d = ChunkDecoder::new(&Limits::default());
        let mut out2 = Vec::new();
        let mut pending = Vec::new();
        for b in body.iter() {
            if d.is_done() {
                break;
            }
            pending.push(*b);
            let k = d.decode(&pending, &mut out2).unwrap();
            pending.drain(..k);
        }
        assert_eq!(
            out2,
            b"1\r\nW\r\n1\r\ni\r\n1\r\nk\r\n1\r\ni\r\n1\r\np\r\n1\r\ne\r\n1\r\nd\r\n1\r\ni\r\n1\r\na\r\n0\r\nt: v\r\n\r\n"
        );
        assert!(dechunk(b"5\nhello\n0\n\n").unwrap().2);
        assert!(dechunk(b"5 \r\nhello\r\n0\r\n\r\n").unwrap().2);
        for bad in [
            &b"zz\r\n"[..],
            b"2\r\nabc\r\n",
            b"-5\r\n",
            b"\r\n",
            b"5 x\r\n",
            b"ffffffffffffffffff\r\n",
            b"10000000000000\r\n",
            b"0\r\nT v\r\n\r\n",
            b"5\rx",
        ] {
            assert!(dechunk(bad).is_err(), "{bad:?}");
        }
        assert!(dechunk(b"fffffffffffff\r\n").is_ok());
        let long = format!("1;{}\r\n", "x".repeat(16316));
        assert!(dechunk(long.as_bytes()).is_ok());
        let long = format!("1;{}\r\n", "x".repeat(16317));
        assert!(dechunk(long.as_bytes()).is_err());
        let partial = format!("1;{}", "x".repeat(20000));
        assert!(dechunk(partial.as_bytes()).is_err());
    }
}
