//! Reading a check's HTTP/1 response the way HAProxy 2.6's check does: the status line
//! and headers must fit in the check buffer (`tune.bufsize`), and the body is what the
//! buffer has room for after the parsed headers (HAProxy keeps the message in its
//! internal HTX form, which costs 8 bytes per block plus a fixed overhead).

/// Fixed part of the buffer HAProxy's internal message form uses (observed: with
/// `tune.bufsize` 16384, a `200 OK` answer with one `content-length` header lets
/// 16243 body bytes be matched).
const HTX_OVERHEAD: usize = 101;
/// Per-block cost in that form (each header is a block).
const HTX_BLOCK: usize = 8;

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (1xx, 204, 304, an answer to HEAD).
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed status line and header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub code: u32,
    /// The reason phrase, as sent (may be empty).
    pub reason: String,
    pub body: BodyKind,
    /// Bytes of `buf` the head took (with any leading empty lines).
    pub len: usize,
    /// What the head costs in HAProxy's buffer, to bound the body.
    pub cost: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    Incomplete,
    Invalid,
    Done(Head),
}

/// Parses the head at the start of `buf`; `head_req` tells that the request was HEAD.
pub fn parse_head(buf: &[u8], head_req: bool) -> Parse {
    // Empty lines before the status line are skipped, as HAProxy's parser does.
    let mut start = 0;
    while start < buf.len() && (buf[start] == b'\r' || buf[start] == b'\n') {
        start += 1;
    }
    let rest = &buf[start..];
    // Like HAProxy, a line is judged once it is complete.
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        return Parse::Incomplete;
    };
    let Some((version_len, code, code_len, reason)) = status_line(strip_cr(&rest[..nl])) else {
        return Parse::Invalid;
    };
    let mut cost = HTX_OVERHEAD + version_len + code_len + reason.len();
    let mut pos = nl + 1;
    let mut clen: Option<usize> = None;
    let mut chunked = false;
    let mut seen_header = false;
    loop {
        let Some(n) = rest[pos..].iter().position(|&b| b == b'\n') else {
            return Parse::Incomplete;
        };
        let line = strip_cr(&rest[pos..pos + n]);
        pos += n + 1;
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // An obsolete folded continuation: part of the previous header's value.
            if !seen_header {
                return Parse::Invalid;
            }
            cost += trim(line).len() + 1;
            continue;
        }
        seen_header = true;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Parse::Invalid;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Parse::Invalid;
        }
        let value = trim(&line[colon + 1..]);
        cost += name.len() + value.len() + HTX_BLOCK;
        if name.eq_ignore_ascii_case(b"content-length") {
            for part in value.split(|&b| b == b',') {
                let part = trim(part);
                let Some(v) = parse_digits(part) else {
                    return Parse::Invalid;
                };
                match clen {
                    Some(c) if c != v => return Parse::Invalid,
                    _ => clen = Some(v),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .split(|&b| b == b',')
                .next_back()
                .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
        }
    }
    let body = if head_req || code < 200 || code == 204 || code == 304 {
        BodyKind::None
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(n) = clen {
        BodyKind::Length(n)
    } else {
        BodyKind::UntilClose
    };
    Parse::Done(Head {
        code,
        reason: String::from_utf8_lossy(&reason).into_owned(),
        body,
        len: start + pos,
        cost,
    })
}

/// The body bytes received so far (at most `room`), and whether they are all there is
/// to see: the message ended, the room is full, or the peer closed.
#[derive(Debug, PartialEq, Eq)]
pub struct Body {
    pub data: Vec<u8>,
    pub complete: bool,
}

/// The body after `head` in `buf`; `None` for a malformed chunked encoding.
pub fn body(head: &Head, buf: &[u8], eof: bool, room: usize) -> Option<Body> {
    let raw = buf.get(head.len..).unwrap_or_default();
    let (mut data, mut complete) = match head.body {
        BodyKind::None => (Vec::new(), true),
        BodyKind::Length(n) => (raw[..raw.len().min(n)].to_vec(), raw.len() >= n),
        BodyKind::UntilClose => (raw.to_vec(), false),
        BodyKind::Chunked => dechunk(raw)?,
    };
    if data.len() >= room {
        data.truncate(room);
        complete = true;
    }
    Some(Body {
        data,
        complete: complete || eof,
    })
}

/// Room for the body in a buffer of `bufsize` once `head` is in it.
pub fn body_room(head: &Head, bufsize: usize) -> usize {
    bufsize.saturating_sub(head.cost)
}

fn dechunk(mut raw: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = raw.iter().position(|&b| b == b'\n') else {
            return Some((out, false));
        };
        let line = strip_cr(&raw[..nl]);
        let size_txt = line
            .split(|&b| b == b';')
            .next()
            .map(trim)
            .unwrap_or_default();
        let size = std::str::from_utf8(size_txt)
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(|s| usize::from_str_radix(s, 16).ok())?;
        raw = &raw[nl + 1..];
        if size == 0 {
            // Trailers are not needed to judge the body.
            return Some((out, true));
        }
        if raw.len() < size {
            out.extend_from_slice(raw);
            return Some((out, false));
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        match raw {
            [b'\r', b'\n', r @ ..] | [b'\n', r @ ..] => raw = r,
            [] | [b'\r'] => return Some((out, false)),
            _ => return None,
        }
    }
}

/// `HTTP/d.d SP digits [SP reason]` → (version length, code, code length, reason).
fn status_line(line: &[u8]) -> Option<(usize, u32, usize, Vec<u8>)> {
    let v = line.get(..8)?;
    if !(v.starts_with(b"HTTP/") && v[5].is_ascii_digit() && v[6] == b'.' && v[7].is_ascii_digit())
    {
        return None;
    }
    let rest = line.get(8..)?;
    let rest = rest.strip_prefix(b" ")?;
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    let reason = rest.get(end + 1..).unwrap_or_default().to_vec();
    Some((8, code, digits.len(), reason))
}

fn parse_digits(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(s, |i| i + 1);
    &b[s..e.max(s)]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(b: &[u8]) -> Head {
        match parse_head(b, false) {
            Parse::Done(h) => h,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn status_lines() {
        let h = done(b"HTTP/1.0 500 Multi word  reason\r\n\r\n");
        assert_eq!((h.code, h.reason.as_str()), (500, "Multi word  reason"));
        assert_eq!(done(b"HTTP/1.1 200\r\n\r\n").reason, "");
        assert_eq!(done(b"\r\nHTTP/1.0 2000 OK\n\n").code, 2000);
        assert_eq!(done(b"HTTP/1.0 099 OK\r\n\r\n").code, 99);
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/2 200 OK\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"HTTP/1.0 abc OK\r\n\r\n",
            b"  HTTP/1.0 500 X\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
            b"garbage\r\n",
            b"HTTP/1.1 200 OK\r\n b: x\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad, false), Parse::Invalid, "{bad:?}");
        }
        assert_eq!(parse_head(b"HTTP/1.0 200 OK\r\n", false), Parse::Incomplete);
        assert_eq!(parse_head(b"ICY", false), Parse::Incomplete);
        assert_eq!(done(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n").code, 200);
    }

    #[test]
    fn bodies() {
        let buf =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nfo\r\n1\r\no\r\n0\r\n\r\n";
        let h = done(buf);
        let b = body(&h, buf, false, 1000).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"foo"[..], true));
        let buf = b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nhello";
        let b = body(&done(buf), buf, false, 1000).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"hello"[..], false));
        let buf = b"HTTP/1.0 200 OK\r\n\r\nhello";
        assert!(!body(&done(buf), buf, false, 1000).unwrap().complete);
        assert!(body(&done(buf), buf, true, 1000).unwrap().complete);
        let b = body(&done(buf), buf, false, 3).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"hel"[..], true));
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(body(&done(buf), buf, false, 1000).is_none());
    }

    #[test]
    fn room_matches_haproxy() {
        // Observed: 16243 body bytes are matched after this head, 15230 with a 1000-byte
        // extra header.
        let h = done(b"HTTP/1.0 200 OK\r\nContent-Length: 16243\r\n\r\n");
        assert_eq!(body_room(&h, 16384), 16243);
        let pad = format!(
            "HTTP/1.0 200 OK\r\nX-Pad: {}\r\nContent-Length: 15230\r\n\r\n",
            "p".repeat(1000)
        );
        assert_eq!(body_room(&done(pad.as_bytes()), 16384), 15230);
    }
}
