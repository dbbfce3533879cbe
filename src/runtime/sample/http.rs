//! HTTP parsing the fetches share, as HAProxy does it: the path of a request target,
//! comma-separated header values, cookies and URL parameters.

use crate::runtime::http::head::{Header, Headers};

/// Linear white space as HAProxy trims it around header values.
fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_spht(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn trim_lws(mut v: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = v
        && is_lws(*c)
    {
        v = rest;
    }
    while let [rest @ .., c] = v
        && is_lws(*c)
    {
        v = rest;
    }
    v
}

/// The path (with its query string) of a request target: the target itself in origin
/// form, what follows the authority in absolute form; `None` for `*`, an empty target,
/// authority form, or an absolute form without a path.
pub(crate) fn uri_path(uri: &str) -> Option<&str> {
    let b = uri.as_bytes();
    match b.first()? {
        b'*' => None,
        b'/' => Some(uri),
        c if c.is_ascii_alphabetic() => {
            let scheme = b[1..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
                .map_or(b.len(), |i| i + 1);
            let rest = uri.get(scheme..)?.strip_prefix("://")?;
            rest.find('/').map(|i| &rest[i..])
        }
        _ => None,
    }
}

/// The path without its query string (`path`).
pub(crate) fn path_only(uri: &str) -> Option<&str> {
    uri_path(uri).map(|p| p.split('?').next().unwrap_or(p))
}

/// Where a header value element ends: at the first comma outside a quoted string.
fn value_end(s: &[u8]) -> usize {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &c) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            return i;
        }
    }
    s.len()
}

/// The values of the headers called `name` (every header when `name` is empty), split at
/// commas outside quotes unless `full`, each trimmed.
pub(crate) struct HdrValues<'a> {
    headers: std::slice::Iter<'a, Header>,
    name: &'a str,
    full: bool,
    /// The rest of the current line after an element, when another element follows.
    rest: Option<&'a [u8]>,
}

impl<'a> HdrValues<'a> {
    pub fn new(headers: &'a Headers, name: &'a str, full: bool) -> Self {
        HdrValues {
            headers: headers.0.iter(),
            name,
            full,
            rest: None,
        }
    }
}

impl<'a> Iterator for HdrValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(line) = self.rest.take() {
                let end = value_end(line);
                if end < line.len() {
                    self.rest = Some(&line[end + 1..]);
                }
                return Some(trim_lws(&line[..end]));
            }
            let h = self.headers.next()?;
            if !self.name.is_empty() && !h.name.eq_ignore_ascii_case(self.name) {
                continue;
            }
            if self.full {
                return Some(trim_lws(&h.value));
            }
            self.rest = Some(&h.value);
        }
    }
}

/// How many header values HAProxy remembers for negative occurrences.
const MAX_HDR_HISTORY: i64 = 10;

/// Occurrence `occ` of the values: 1 (or 0) is the first, -1 the last, down to -10.
pub(crate) fn nth_value<'a>(
    headers: &'a Headers,
    name: &'a str,
    full: bool,
    occ: i64,
) -> Option<&'a [u8]> {
    if occ >= 0 {
        let skip = usize::try_from(occ.max(1) - 1).ok()?;
        return HdrValues::new(headers, name, full).nth(skip);
    }
    if occ < -MAX_HDR_HISTORY {
        return None;
    }
    let count = HdrValues::new(headers, name, full).count() as i64;
    let idx = usize::try_from(count + occ).ok()?;
    HdrValues::new(headers, name, full).nth(idx)
}

/// Where a cookie value ends: at `,` or `;` outside a quoted string.
fn cookie_value_end(s: &[u8], from: usize) -> usize {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &c) in s.iter().enumerate().skip(from) {
        if escaped {
            escaped = false;
        } else if quoted {
            if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return i;
        }
    }
    s.len()
}

/// The next cookie called `name` (any cookie when empty) in header value `hdr` from
/// `pos`: its value and where to continue. `list` is true for `Cookie` headers (several
/// cookies per line); a `Set-Cookie` line only names a cookie in its first attribute.
/// Attributes starting with `$` and cookies without `=` are skipped.
pub(crate) fn next_cookie<'a>(
    hdr: &'a [u8],
    mut pos: usize,
    name: &[u8],
    list: bool,
) -> Option<(&'a [u8], usize)> {
    let end = hdr.len();
    while pos + name.len() + 1 < end {
        let mut att_beg = pos;
        while att_beg < end && is_spht(hdr[att_beg]) {
            att_beg += 1;
        }
        let (mut equal, mut att_end) = (att_beg, att_beg);
        while equal < end {
            let c = hdr[equal];
            if c == b'=' || c == b';' || (list && c == b',') {
                break;
            }
            equal += 1;
            if !is_spht(c) {
                att_end = equal;
            }
        }
        let (val_beg, val_end, next) = if equal < end && hdr[equal] == b'=' {
            let mut vb = equal + 1;
            while vb < end && is_spht(hdr[vb]) {
                vb += 1;
            }
            let next = cookie_value_end(hdr, vb);
            let mut ve = next;
            while ve > vb && is_spht(hdr[ve - 1]) {
                ve -= 1;
            }
            (vb, ve, next)
        } else {
            (equal, equal, equal)
        };
        pos = next + 1;
        if hdr.get(att_beg) == Some(&b'$') || equal == next {
            continue;
        }
        if name.is_empty() || hdr.get(att_beg..att_end) == Some(name) {
            return Some((&hdr[val_beg..val_end], pos));
        }
        if !list {
            return None;
        }
    }
    None
}

/// Every cookie called `name` (any when empty) in the `Cookie` (`list`) or `Set-Cookie`
/// headers, in order.
pub(crate) fn cookies<'a>(
    headers: &'a Headers,
    name: &'a [u8],
    list: bool,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    let hdr = if list { "cookie" } else { "set-cookie" };
    HdrValues::new(headers, hdr, false).flat_map(move |line| {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let (v, next) = next_cookie(line, pos, name, list)?;
            pos = next;
            Some(v)
        })
    })
}

fn is_param_delim(c: u8, delim: u8) -> bool {
    c == b'&' || c == b';' || c == delim
}

/// The parameter list of a URI: what follows the first `delim` (`?` by default).
pub(crate) fn param_list(uri: &[u8], delim: u8) -> Option<&[u8]> {
    uri.iter().position(|&c| c == delim).map(|i| &uri[i + 1..])
}

/// The next value of parameter `name` (of any parameter when empty) in `q` from `pos`:
/// the value and where to continue.
pub(crate) fn next_param<'a>(
    q: &'a [u8],
    mut pos: usize,
    name: &[u8],
    delim: u8,
) -> Option<(&'a [u8], usize)> {
    let last = q.len();
    let start = if name.is_empty() {
        pos + q.get(pos..)?.iter().position(|&c| c == b'=')? + 1
    } else {
        loop {
            if pos >= last {
                return None;
            }
            let equal = pos + name.len();
            if equal >= last {
                return None;
            }
            if q[equal] == b'=' {
                if &q[pos..equal] == name {
                    break equal + 1;
                }
                pos = equal + 1;
            }
            while pos < last && !is_param_delim(q[pos], delim) {
                pos += 1;
            }
            if pos >= last {
                return None;
            }
            pos += 1;
        }
    };
    let end = q
        .get(start..)?
        .iter()
        .position(|&c| is_param_delim(c, delim))
        .map_or(last, |i| start + i);
    Some((&q[start..end], end))
}

/// Every value of parameter `name` in the URI.
pub(crate) fn params<'a>(
    uri: &'a [u8],
    name: &'a [u8],
    delim: u8,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    let q = param_list(uri, delim);
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (v, next) = next_param(q?, pos, name, delim)?;
        pos = next;
        Some(v)
    })
}

#[cfg(test)]
pub(crate) fn headers(list: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (n, v) in list {
        h.add(n, v.as_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).expect("utf8")
    }

    #[test]
    fn paths() {
        let cases = [
            ("/a/b?x=1", Some("/a/b?x=1"), Some("/a/b")),
            ("http://h:80/p?q", Some("/p?q"), Some("/p")),
            ("HTTPS://user@h/p", Some("/p"), Some("/p")),
            ("http://h", None, None),
            ("http://h?x", None, None),
            ("*", None, None),
            ("", None, None),
            ("example.com:443", None, None),
            ("1http://h/p", None, None),
            ("/?x", Some("/?x"), Some("/")),
        ];
        for (uri, want, path) in cases {
            assert_eq!(uri_path(uri), want, "{uri}");
            assert_eq!(path_only(uri), path, "{uri}");
        }
    }

    #[test]
    fn header_values() {
        let h = headers(&[
            ("x-a", r#" a1, "b,2" , c3"#),
            ("Other", "z"),
            ("X-A", "d4"),
            ("x-e", ""),
            ("x-t", "a,"),
            ("x-q", r#""a\",b", c"#),
        ]);
        let all = |n: &'static str, full| -> Vec<String> {
            HdrValues::new(&h, n, full)
                .map(|v| s(v).to_string())
                .collect()
        };
        assert_eq!(all("x-a", false), ["a1", "\"b,2\"", "c3", "d4"]);
        assert_eq!(all("X-A", true), [r#"a1, "b,2" , c3"#, "d4"]);
        assert_eq!(all("x-e", false), [""]);
        assert_eq!(all("x-t", false), ["a", ""]);
        assert_eq!(all("x-q", false), [r#""a\",b""#, "c"]);
        assert_eq!(all("none", false), Vec::<String>::new());
        assert_eq!(all("", true).len(), 6);
        let nth = |occ| nth_value(&h, "x-a", false, occ).map(|v| s(v).to_string());
        assert_eq!(nth(0).as_deref(), Some("a1"));
        assert_eq!(nth(1).as_deref(), Some("a1"));
        assert_eq!(nth(3).as_deref(), Some("c3"));
        assert_eq!(nth(5), None);
        assert_eq!(nth(-1).as_deref(), Some("d4"));
        assert_eq!(nth(-4).as_deref(), Some("a1"));
        assert_eq!(nth(-5), None);
        assert_eq!(nth(-11), None);
        assert_eq!(nth(i64::MIN), None);
        assert_eq!(nth(i64::MAX), None);
    }

    #[test]
    fn cookie_parsing() {
        let h = headers(&[
            ("cookie", "a=1; b = 2 ;$Path=/; c; d=\"x;y\", a=3"),
            ("cookie", "a=4"),
            ("set-cookie", "s=1; Path=/; a=9"),
            ("set-cookie", "t=2"),
        ]);
        let req = |n: &'static str| -> Vec<String> {
            cookies(&h, n.as_bytes(), true)
                .map(|v| s(v).to_string())
                .collect()
        };
        assert_eq!(req("a"), ["1", "3", "4"]);
        assert_eq!(req("b"), ["2"]);
        assert_eq!(req("d"), ["\"x;y\""]);
        assert_eq!(req("c"), Vec::<String>::new());
        assert_eq!(req("Path"), Vec::<String>::new());
        assert_eq!(req(""), ["1", "2", "\"x;y\"", "3", "4"]);
        let res = |n: &'static str| -> Vec<String> {
            cookies(&h, n.as_bytes(), false)
                .map(|v| s(v).to_string())
                .collect()
        };
        assert_eq!(res("s"), ["1"]);
        assert_eq!(res("a"), Vec::<String>::new());
        // Without a name every attribute of a Set-Cookie line counts, as in HAProxy.
        assert_eq!(res(""), ["1", "/", "9", "2"]);
        // A value at the very end of a line must leave room for the name and '='.
        assert_eq!(next_cookie(b"a=", 0, b"a", true), None);
        assert_eq!(
            next_cookie(b"a=; b=1", 0, b"a", true).map(|v| v.0),
            Some(&b""[..])
        );
    }

    #[test]
    fn url_params() {
        let all = |uri: &'static str, n: &'static str, d: u8| -> Vec<String> {
            params(uri.as_bytes(), n.as_bytes(), d)
                .map(|v| s(v).to_string())
                .collect()
        };
        assert_eq!(all("/p?a=1&b=2;a=3", "a", b'?'), ["1", "3"]);
        assert_eq!(all("/p?a=1&b=2", "b", b'?'), ["2"]);
        assert_eq!(all("/p?ab=1&b=2", "b", b'?'), ["2"]);
        assert_eq!(all("/p?a&a=2", "a", b'?'), ["2"]);
        assert_eq!(all("/p?x&y=1&z=2", "", b'?'), ["1", "2"]);
        assert_eq!(all("/p?a=", "a", b'?'), [""]);
        assert_eq!(all("/p", "a", b'?'), Vec::<String>::new());
        assert_eq!(all("/p;a=1", "a", b';'), ["1"]);
        assert_eq!(all("/p?a=1|b=2", "b", b'|'), ["2"]);
        assert_eq!(all("/p?a", "a", b'?'), Vec::<String>::new());
    }
}
