//! HTTP/1 framing: head parsing with HAProxy's limits, body length rules, chunked scanning.
//!
//! Bodies are forwarded as received (chunked stays chunked); the scanner only finds where a
//! message ends and rejects what HAProxy rejects.

use std::mem::MaybeUninit;

use super::head::{Header, Headers, RequestHead, ResponseHead, Version, trim};

/// Request and response limits (`tune.bufsize` − `tune.maxrewrite`, `tune.http.maxhdr`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16384 - 1024,
            max_headers: 101,
        }
    }
}

/// Why a message head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("message head larger than the buffer")]
    TooLarge,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("malformed message head: {0}")]
    Invalid(&'static str),
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

/// Header slots parsed on the stack up to this count (`tune.http.maxhdr` is 101 by default);
/// a larger setting uses the heap.
const STACK_HEADERS: usize = 128;

/// `n` uninitialised header slots: the parser fills them, so nothing is zeroed or allocated
/// per parse (a head is parsed again after each read until it is complete).
fn header_slots<'a, 'b>(
    stack: &'a mut [MaybeUninit<httparse::Header<'b>>; STACK_HEADERS],
    heap: &'a mut Vec<MaybeUninit<httparse::Header<'b>>>,
    n: usize,
) -> &'a mut [MaybeUninit<httparse::Header<'b>>] {
    if n <= STACK_HEADERS {
        &mut stack[..n]
    } else {
        heap.resize_with(n, MaybeUninit::uninit);
        heap
    }
}

/// Parses a request head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_request(buf: &[u8], lim: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, lim.max_headers);
    let mut req = httparse::Request::new(&mut []);
    let n = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > lim.max_head {
                return Err(HeadError::TooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            // The whole head may not even be there yet: HAProxy refuses as soon as the
            // count is exceeded.
            return Err(HeadError::TooManyHeaders);
        }
        Err(httparse::Error::Version) => return Err(HeadError::Invalid("bad HTTP version")),
        Err(httparse::Error::Token) => return Err(HeadError::Invalid("bad token")),
        Err(httparse::Error::HeaderName) => return Err(HeadError::Invalid("bad header name")),
        Err(httparse::Error::HeaderValue) => return Err(HeadError::Invalid("bad header value")),
        Err(httparse::Error::NewLine) => return Err(HeadError::Invalid("bad line ending")),
        Err(_) => return Err(HeadError::Invalid("bad request line")),
    };
    if n > lim.max_head {
        return Err(HeadError::TooLarge);
    }
    let version = match req.version {
        Some(0) => Version::H10,
        Some(1) => Version::H11,
        _ => return Err(HeadError::Invalid("bad HTTP version")),
    };
    let method = req.method.unwrap_or_default().to_string();
    let uri = req.path.unwrap_or_default().to_string();
    if uri.is_empty() {
        return Err(HeadError::Invalid("empty request target"));
    }
    let headers = collect(req.headers)?;
    Ok(Some((
        RequestHead {
            method,
            uri,
            version,
            headers,
        },
        n,
    )))
}

/// Parses a response head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_response(
    buf: &[u8],
    lim: &Limits,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, lim.max_headers);
    let mut res = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, buf, slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > lim.max_head {
                return Err(HeadError::TooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(_) => return Err(HeadError::Invalid("bad response")),
    };
    if n > lim.max_head {
        return Err(HeadError::TooLarge);
    }
    let version = match res.version {
        Some(0) => Version::H10,
        _ => Version::H11,
    };
    let status = res.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(HeadError::Invalid("bad status"));
    }
    let reason = res.reason.unwrap_or_default().to_string();
    let headers = collect(res.headers)?;
    Ok(Some((
        ResponseHead {
            version,
            status,
            reason,
            headers,
        },
        n,
    )))
}

fn collect(raw: &[httparse::Header]) -> Result<Headers, HeadError> {
    let mut v = Vec::with_capacity(raw.len());
    for h in raw {
        if h.name.is_empty() {
            return Err(HeadError::Invalid("empty header name"));
        }
        v.push(Header {
            name: h.name.to_ascii_lowercase(),
            value: trim(h.value).to_vec(),
        });
    }
    Ok(Headers(v))
}

/// The request body framing, after HAProxy's checks: an invalid or conflicting
/// `Content-Length` is an error; `Transfer-Encoding` wins over `Content-Length` (which is then
/// removed so the server cannot disagree), and must end with `chunked`.
pub fn request_body(head: &mut RequestHead) -> Result<BodyKind, HeadError> {
    if head.headers.contains("transfer-encoding") {
        if head.version == Version::H10 {
            return Err(HeadError::Invalid("transfer-encoding in HTTP/1.0"));
        }
        if !chunked_last(&head.headers) {
            return Err(HeadError::Invalid(
                "transfer-encoding without final chunked",
            ));
        }
        head.headers.remove("content-length");
        return Ok(BodyKind::Chunked);
    }
    match content_length(&head.headers)? {
        Some(0) | None => Ok(BodyKind::None),
        Some(n) => Ok(BodyKind::Length(n)),
    }
}

/// The response body framing for a request of `method`.
pub fn response_body(head: &mut ResponseHead, method: &str) -> Result<BodyKind, HeadError> {
    if method == "HEAD"
        || (100..200).contains(&head.status)
        || head.status == 204
        || head.status == 304
    {
        return Ok(BodyKind::None);
    }
    if head.headers.contains("transfer-encoding") {
        if !chunked_last(&head.headers) {
            // Not chunked: delimited by the close, and nothing may be misread as length.
            head.headers.remove("content-length");
            return Ok(BodyKind::UntilClose);
        }
        head.headers.remove("content-length");
        return Ok(BodyKind::Chunked);
    }
    match content_length(&head.headers)? {
        Some(n) => Ok(BodyKind::Length(n)),
        None => Ok(BodyKind::UntilClose),
    }
}

fn chunked_last(h: &Headers) -> bool {
    let mut last: Option<Vec<u8>> = None;
    for v in h.get_all("transfer-encoding") {
        for t in v.split(|b| *b == b',') {
            let t = trim(t);
            if !t.is_empty() {
                last = Some(t.to_vec());
            }
        }
    }
    last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

/// All `Content-Length` values must be the same valid number (a list `5, 5` is accepted).
fn content_length(h: &Headers) -> Result<Option<u64>, HeadError> {
    let mut found: Option<u64> = None;
    for v in h.get_all("content-length") {
        for part in v.split(|b| *b == b',') {
            let part = trim(part);
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::Invalid("invalid content-length"));
            }
            let n = part.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
            match found {
                Some(f) if f != n => return Err(HeadError::Invalid("conflicting content-length")),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// Finds the end of a chunked body in a byte stream, validating chunk-size lines.
#[derive(Debug, Clone)]
pub struct ChunkScanner {
    state: ChunkState,
    size: u64,
    line_len: usize,
    /// Inside a trailer field's name (before its colon).
    in_name: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    /// In a chunk extension, up to the LF.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Chunk-size lines (with extensions) longer than this are refused, as HAProxy bounds them.
const MAX_CHUNK_LINE: usize = 4096;

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner {
            state: ChunkState::Size,
            size: 0,
            line_len: 0,
            in_name: false,
        }
    }
}

impl ChunkScanner {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes as much of `buf` as belongs to the body; returns the count. Stops at the end
    /// of the body (the rest belongs to the next message).
    pub fn scan(&mut self, buf: &[u8]) -> Result<usize, HeadError> {
        self.scan_with(buf, |_| {})
    }

    /// [`Self::scan`], lower-casing trailer field names in place: HAProxy forwards trailers
    /// with lower-case names, as it does header names.
    pub fn scan_mut(&mut self, buf: &mut [u8]) -> Result<usize, HeadError> {
        let mut names = Vec::new();
        let r = self.scan_with(buf, |i| names.push(i));
        for i in names {
            if let Some(b) = buf.get_mut(i) {
                b.make_ascii_lowercase();
            }
        }
        r
    }

    /// The scanner; `on_name` gets the index of every byte of a trailer field name.
    fn scan_with(
        &mut self,
        buf: &[u8],
        mut on_name: impl FnMut(usize),
    ) -> Result<usize, HeadError> {
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Size => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(HeadError::Invalid("chunk size line too long"));
                    }
                    match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                            if self.size > (u64::MAX >> 8) {
                                return Err(HeadError::Invalid("chunk size too large"));
                            }
                            self.size = self.size * 16 + d;
                        }
                        b';' | b' ' | b'\t' if self.line_len > 1 => self.state = ChunkState::Ext,
                        b'\r' if self.line_len > 1 => self.state = ChunkState::SizeLf,
                        _ => return Err(HeadError::Invalid("bad chunk size")),
                    }
                    i += 1;
                }
                ChunkState::Ext => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(HeadError::Invalid("chunk size line too long"));
                    }
                    match b {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\n' => return Err(HeadError::Invalid("bare LF in chunk size")),
                        _ => {}
                    }
                    i += 1;
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(HeadError::Invalid("bad chunk size line end"));
                    }
                    i += 1;
                    self.line_len = 0;
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::Data => {
                    let n = ((buf.len() - i) as u64).min(self.size) as usize;
                    i += n;
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(HeadError::Invalid("chunk data overrun"));
                    }
                    i += 1;
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(HeadError::Invalid("chunk data overrun"));
                    }
                    i += 1;
                    self.state = ChunkState::Size;
                }
                ChunkState::TrailerStart => {
                    match b {
                        b'\r' => self.state = ChunkState::EndLf,
                        _ => {
                            self.line_len = 1;
                            self.state = ChunkState::Trailer;
                            self.in_name = b != b':';
                            if self.in_name {
                                on_name(i);
                            }
                        }
                    }
                    i += 1;
                }
                ChunkState::Trailer => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(HeadError::Invalid("trailer too long"));
                    }
                    if b == b'\r' {
                        self.state = ChunkState::TrailerLf;
                        self.in_name = false;
                    } else if self.in_name {
                        if b == b':' {
                            self.in_name = false;
                        } else {
                            on_name(i);
                        }
                    }
                    i += 1;
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(HeadError::Invalid("bad trailer line end"));
                    }
                    i += 1;
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::EndLf => {
                    if b != b'\n' {
                        return Err(HeadError::Invalid("bad chunked body end"));
                    }
                    i += 1;
                    self.state = ChunkState::Done;
                    return Ok(i);
                }
            }
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_request(s.as_bytes(), &Limits::default())
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
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(20000));
        assert_eq!(req(&big), Err(HeadError::TooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..102 {
            many.push_str(&format!("h{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(req(&many), Err(HeadError::TooManyHeaders));
        assert!(matches!(req("GARBAGE\r\n\r\n"), Err(HeadError::Invalid(_))));
        assert!(matches!(
            req("GET / HTTP/2.5\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
    }

    #[test]
    fn body_rules() {
        let mut h = req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(request_body(&mut h), Ok(BodyKind::Length(5)));
        let mut h = req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert!(request_body(&mut h).is_err());
        let mut h = req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert!(request_body(&mut h).is_err());
        let mut h =
            req("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap()
                .0;
        assert_eq!(request_body(&mut h), Ok(BodyKind::Chunked));
        assert!(!h.headers.contains("content-length"));
        let mut h = req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert!(request_body(&mut h).is_err());
    }

    #[test]
    fn chunk_scanner() {
        let body = b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut s = ChunkScanner::default();
        let n = s.scan(body).unwrap();
        assert!(s.is_done());
        assert_eq!(&body[n..], b"NEXT");
        // Byte by byte gives the same end.
        let mut s = ChunkScanner::default();
        let mut total = 0;
        for b in body.iter() {
            if s.is_done() {
                break;
            }
            total += s.scan(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(total, n);
        assert!(ChunkScanner::default().scan(b"zz\r\n").is_err());
        // Trailer names come out lower-cased, values untouched, even split across reads.
        let mut body = b"1\r\na\r\n0\r\nX-Trailer: Some Value\r\nOther:V\r\n\r\nNEXT: X".to_vec();
        let mut s = ChunkScanner::default();
        let (a, b) = body.split_at_mut(13);
        let n = s.scan_mut(a).unwrap() + s.scan_mut(b).unwrap();
        assert!(s.is_done());
        assert_eq!(
            &body[..n],
            b"1\r\na\r\n0\r\nx-trailer: Some Value\r\nother:V\r\n\r\n"
        );
        assert_eq!(&body[n..], b"NEXT: X");
        assert!(ChunkScanner::default().scan(b"2\r\nabc\r\n").is_err());
        assert!(
            ChunkScanner::default()
                .scan(format!("1;{}", "x".repeat(5000)).as_bytes())
                .is_err()
        );
    }
}
