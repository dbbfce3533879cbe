//! HTTP/1 message heads: parsing with HAProxy's limits, header lists, serialisation.
//!
//! Header names are kept lower-cased, as HAProxy 2.x forwards them; values are raw bytes so
//! that nothing a peer sends is altered on the way through.

use std::fmt::Write as _;

/// The HTTP version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    H10,
    H11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::H10 => "HTTP/1.0",
            Version::H11 => "HTTP/1.1",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-cased.
    pub name: String,
    pub value: Vec<u8>,
}

/// An ordered header list; lookups ignore case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }
    /// The first value of `name` as text (lossy).
    pub fn get_str(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }
    /// Every value of `name`, in order (whole lines, not split at commas).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// Appends a header line.
    pub fn add(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.0.push(Header {
            name: name.to_ascii_lowercase(),
            value: value.into(),
        });
    }
    /// Removes every `name` line, then appends one.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.remove(name);
        self.add(name, value);
    }
    /// Removes every `name` line; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
        before - self.0.len()
    }
    /// Whether a comma-separated header such as `Connection` lists `token` (ignoring case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|b| *b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// Trims HTTP whitespace (SP, HTAB) from both ends.
pub fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as received (origin-form, absolute-form, `*` or authority-form).
    pub uri: String,
    pub version: Version,
    pub headers: Headers,
}

impl RequestHead {
    /// The path part of the target: for absolute-form, what follows the authority; without
    /// the query string.
    pub fn path(&self) -> &str {
        let p = self.path_and_query();
        match p.find('?') {
            Some(i) => &p[..i],
            None => p,
        }
    }
    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        let p = self.path_and_query();
        p.find('?').map(|i| &p[i + 1..])
    }
    /// The target without scheme and authority (HAProxy's `pathq`).
    pub fn path_and_query(&self) -> &str {
        let u = self.uri.as_str();
        if let Some(rest) = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .or_else(|| {
                // Other schemes (`ws://` ...) in absolute form.
                let i = u.find("://")?;
                u[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    .then(|| &u[i + 3..])
            })
        {
            match rest.find(['/', '?']) {
                Some(i) => &rest[i..],
                None => "",
            }
        } else {
            u
        }
    }
    /// `Host` header, else the authority of an absolute-form target.
    pub fn host(&self) -> Option<String> {
        if let Some(h) = self.headers.get_str("host") {
            return Some(h.into_owned());
        }
        let rest = self.uri.split_once("://")?.1;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
    /// Serialises the head for a server (header names as stored).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers(&self.headers, out);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub version: Version,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

impl ResponseHead {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.version.as_str().as_bytes());
        let mut line = String::with_capacity(8 + self.reason.len());
        let _ = write!(line, " {} {}\r\n", self.status, self.reason);
        out.extend_from_slice(line.as_bytes());
        write_headers(&self.headers, out);
    }
}

fn write_headers(h: &Headers, out: &mut Vec<u8>) {
    for h in h.iter() {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase HAProxy uses for a status it generates.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Other",
    }
}
