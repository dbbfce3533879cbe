//! Request hash keys, as HAProxy 2.6 computes them before looking a server up
//! (`get_server_sh`, `get_server_uh`, `get_server_ph`, `get_server_hh` in `backend.c`).
//!
//! * `source`: the client address's 32-bit words (network order) XORed together, not hashed
//!   further; a client on a UNIX socket has no key (HAProxy fails the request there).
//! * `uri`: the request target as received (an absolute-form target keeps its scheme and
//!   authority, as in HAProxy 2.6), up to the `?` unless `whole`, cut at `len` characters
//!   and before the `depth`+1-th `/`, hashed with sdbm. The model has no `path-only`.
//! * `url_param(name)`: the value of the first `name=` parameter of the query string, hashed
//!   with sdbm; an absent parameter gives no key. For a POST, HAProxy 2.6 waits for the body
//!   (with or without `check_post`) and, when the query string lacks the parameter, looks
//!   for it in the body ([`url_param_body_key`]); the session does the waiting (bodies with a
//!   Content-Length that fits the buffer).
//! * `hdr(name)`: the first comma-separated value of the first `name` header (commas in
//!   quoted strings do not separate), hashed with sdbm; with `use_domain_only`, only the label before the last dot ("example" in
//!   "www.example.com"); an absent or empty header gives no key.
//! * `rdp-cookie`: no key (rproxy does not parse RDP).
//!
//! sdbm is HAProxy's default hash function. The consistent-hashing lookup applies HAProxy's
//! full avalanche ([`full_hash`]) to the key itself, as `hash-type consistent` without a
//! function does, so keys are returned here before that step.

use std::net::SocketAddr;

use crate::model::proxy::Balance;
use crate::runtime::http::head::{RequestHead, trim};
use crate::runtime::sample::ConnInfo;

/// The key of a request; see the module documentation.
pub fn hash_key(balance: &Balance, req: Option<&RequestHead>, conn: &ConnInfo) -> Option<u32> {
    match balance {
        Balance::Source => conn.src.map(|a| source_key(&a)),
        Balance::Uri { whole, len, depth } => {
            Some(uri_key(req?.uri.as_bytes(), *whole, *len, *depth))
        }
        Balance::UrlParam { param, .. } => url_param_key(req?.uri.as_bytes(), param.as_bytes()),
        Balance::Hdr {
            name,
            use_domain_only,
        } => hdr_key(req?, name, *use_domain_only),
        Balance::RoundRobin
        | Balance::StaticRr
        | Balance::LeastConn
        | Balance::First
        | Balance::Random { .. }
        | Balance::RdpCookie { .. } => None,
    }
}

/// The sdbm hash, HAProxy's default hash function (`hash_sdbm`).
pub fn sdbm(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// Bob Jenkins' 32-bit full avalanche integer hash, followed by a multiplication by a large
/// prime, as HAProxy's `full_hash` (used for consistent-hash ring positions and keys).
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// `balance source`: the address's 32-bit words XORed.
pub fn source_key(addr: &SocketAddr) -> u32 {
    match addr {
        SocketAddr::V4(a) => u32::from(*a.ip()),
        SocketAddr::V6(a) => a
            .ip()
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// `balance uri [whole] [len N] [depth N]` over the request target `uri`.
pub fn uri_key(uri: &[u8], whole: bool, len: Option<u32>, depth: Option<u32>) -> u32 {
    let mut n = uri.len();
    if let Some(l) = len.filter(|&l| l > 0) {
        n = n.min(usize::try_from(l).unwrap_or(usize::MAX));
    }
    // HAProxy stops before the slash that starts the (depth+1)-th level.
    let stop_at = depth.filter(|&d| d > 0).map(|d| u64::from(d) + 1);
    let mut slashes = 0u64;
    let mut end = 0;
    while end < n {
        match uri[end] {
            b'/' => {
                slashes += 1;
                if Some(slashes) == stop_at {
                    break;
                }
            }
            b'?' if !whole => break,
            _ => {}
        }
        end += 1;
    }
    sdbm(&uri[..end])
}

/// `balance url_param NAME`: the value of the first `NAME=` in the query string of `uri`.
pub fn url_param_key(uri: &[u8], name: &[u8]) -> Option<u32> {
    let q = uri.iter().position(|&b| b == b'?')?;
    let mut params = &uri[q + 1..];
    // HAProxy walks `&`-separated parameters; the name must be followed by `=`.
    while params.len() > name.len() {
        if params[name.len()] == b'=' && params.starts_with(name) {
            let value = &params[name.len() + 1..];
            let end = value.iter().position(|&b| b == b'&').unwrap_or(value.len());
            return Some(sdbm(&value[..end]));
        }
        let amp = params.iter().position(|&b| b == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// `balance url_param NAME` for a POST whose query string lacks the parameter: HAProxy 2.6
/// (with or without `check_post`) waits for the body and looks for `NAME=` in it, as in a
/// query string. Like HAProxy, only the first byte of the value is checked: a blank ends the
/// value there (empty), another byte that is not a token character means the body is not
/// form data (no key).
pub fn url_param_body_key(body: &[u8], name: &[u8]) -> Option<u32> {
    let mut params = body;
    while params.len() > name.len() {
        if params[name.len()] == b'=' && params.starts_with(name) {
            let value = &params[name.len() + 1..];
            let end = match value.first() {
                Some(&c) if c != b'&' && !is_tchar(c) => {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
                        0
                    } else {
                        return None;
                    }
                }
                _ => value.iter().position(|&b| b == b'&').unwrap_or(value.len()),
            };
            return Some(sdbm(&value[..end]));
        }
        let amp = params.iter().position(|&b| b == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// An RFC 7230 token character.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// `balance hdr(NAME) [use_domain_only]`.
pub fn hdr_key(req: &RequestHead, name: &str, use_domain_only: bool) -> Option<u32> {
    let value = first_value(req.headers.get(name)?);
    if value.is_empty() {
        return None;
    }
    Some(if use_domain_only {
        sdbm(domain_part(value))
    } else {
        sdbm(value)
    })
}

/// The first comma-separated element of a header line, trimmed; commas inside a quoted
/// string do not separate (HAProxy's `http_find_hdr_value_end`).
fn first_value(line: &[u8]) -> &[u8] {
    let (mut quoted, mut escaped) = (false, false);
    let mut end = line.len();
    for (i, &c) in line.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match c {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            end = i;
            break;
        }
    }
    trim(&line[..end])
}

/// The part of a host name `use_domain_only` hashes: the label before the last dot, or the
/// whole name when it has no dot.
pub fn domain_part(v: &[u8]) -> &[u8] {
    // Scan backwards: the first dot met (from the end) ends the domain, the next one starts
    // it. Like HAProxy, the first byte is never taken for the ending dot.
    let mut end = v.len();
    let mut in_domain = false;
    let mut i = v.len();
    while i > 0 {
        if in_domain {
            if v[i - 1] == b'.' {
                break;
            }
        } else if i < v.len() && v[i] == b'.' {
            end = i;
            in_domain = true;
        }
        i -= 1;
    }
    &v[i..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::http::head::{Headers, Version};

    #[test]
    fn url_param_in_a_post_body() {
        let k = |b: &str| url_param_body_key(b.as_bytes(), b"uid");
        assert_eq!(k("uid=42"), Some(sdbm(b"42")));
        assert_eq!(k("a=1&uid=x7&b=2"), Some(sdbm(b"x7")));
        assert_eq!(k("uidx=1&uid=%41"), Some(sdbm(b"%41")));
        // Only the first byte of the value is checked, as HAProxy does.
        assert_eq!(k("uid=a/b"), Some(sdbm(b"a/b")));
        assert_eq!(k("uid= x"), Some(sdbm(b"")));
        assert_eq!(k("uid=&b"), Some(sdbm(b"")));
        assert_eq!(k("uid=/x"), None);
        assert_eq!(k("uid"), None);
        assert_eq!(k("xuid=1"), None);
        assert_eq!(k(""), None);
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut h = Headers::default();
        for (n, v) in headers {
            h.add(n, v.as_bytes());
        }
        RequestHead {
            method: "GET".into(),
            uri: uri.into(),
            version: Version::H11,
            headers: h,
        }
    }

    #[test]
    fn sdbm_values() {
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        // 97 * 65599 + 98
        assert_eq!(sdbm(b"ab"), 97 * 65599 + 98);
    }

    #[test]
    fn full_hash_is_a_bijection_sample() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            assert!(seen.insert(full_hash(i)));
        }
    }

    #[test]
    fn uri_whole_len_depth() {
        let u = b"/a/b/c?x=1";
        assert_eq!(uri_key(u, false, None, None), sdbm(b"/a/b/c"));
        assert_eq!(uri_key(u, true, None, None), sdbm(b"/a/b/c?x=1"));
        assert_eq!(uri_key(u, true, Some(3), None), sdbm(b"/a/"));
        assert_eq!(uri_key(u, false, None, Some(1)), sdbm(b"/a"));
        assert_eq!(uri_key(u, false, None, Some(2)), sdbm(b"/a/b"));
        assert_eq!(uri_key(u, false, None, Some(9)), sdbm(b"/a/b/c"));
        assert_eq!(uri_key(b"", false, None, None), 0);
    }

    #[test]
    fn url_param_lookup() {
        let k = |u: &str| url_param_key(u.as_bytes(), b"id");
        assert_eq!(k("/q?id=1"), Some(sdbm(b"1")));
        assert_eq!(k("/q?a=1&id=9&id=3"), Some(sdbm(b"9")));
        assert_eq!(k("/q?xid=5"), None);
        assert_eq!(k("/q?id"), None);
        assert_eq!(k("/q?id="), Some(0));
        assert_eq!(k("/q"), None);
        assert_eq!(k("/q?a=1&"), None);
        assert_eq!(k("/q?ida=1&id=abc"), Some(sdbm(b"abc")));
    }

    #[test]
    fn header_first_value() {
        assert_eq!(first_value(b" a , b"), b"a");
        assert_eq!(first_value(b"\"x,y\", z"), b"\"x,y\"");
        assert_eq!(first_value(b"\"x\\\",y\",z"), b"\"x\\\",y\"");
        assert_eq!(first_value(b", z"), b"");
        assert_eq!(first_value(b"plain"), b"plain");
    }

    #[test]
    fn domain_only() {
        assert_eq!(domain_part(b"www.example.com"), b"example");
        assert_eq!(domain_part(b"example.com"), b"example");
        assert_eq!(domain_part(b"a.b.example.org"), b"example");
        assert_eq!(domain_part(b"localhost"), b"localhost");
        assert_eq!(domain_part(b"x.y.z.w"), b"z");
        assert_eq!(domain_part(b".com"), b".com");
        assert_eq!(domain_part(b"com."), b"com");
        assert_eq!(domain_part(b""), b"");
    }

    #[test]
    fn keys_by_balance() {
        let conn = ConnInfo {
            src: Some("10.1.2.3:5555".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(hash_key(&Balance::Source, None, &conn), Some(0x0a01_0203));
        let v6 = ConnInfo {
            src: Some("[2001:db8::1]:80".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(hash_key(&Balance::Source, None, &v6), Some(0x2001_0db8 ^ 1));
        assert_eq!(hash_key(&Balance::Source, None, &ConnInfo::default()), None);

        let r = req(
            "/p?id=7",
            &[("X-Key", "k1, k2"), ("Host", "www.example.com")],
        );
        let uri = Balance::Uri {
            whole: false,
            len: None,
            depth: None,
        };
        assert_eq!(hash_key(&uri, Some(&r), &conn), Some(sdbm(b"/p")));
        assert_eq!(hash_key(&uri, None, &conn), None);
        let up = Balance::UrlParam {
            param: "id".into(),
            check_post: None,
        };
        assert_eq!(hash_key(&up, Some(&r), &conn), Some(sdbm(b"7")));
        let hh = |name: &str, d: bool| Balance::Hdr {
            name: name.into(),
            use_domain_only: d,
        };
        assert_eq!(
            hash_key(&hh("x-key", false), Some(&r), &conn),
            Some(sdbm(b"k1"))
        );
        assert_eq!(
            hash_key(&hh("host", true), Some(&r), &conn),
            Some(sdbm(b"example"))
        );
        assert_eq!(hash_key(&hh("missing", false), Some(&r), &conn), None);
        let empty = req("/", &[("X-Key", "")]);
        assert_eq!(hash_key(&hh("x-key", false), Some(&empty), &conn), None);
        for b in [
            Balance::RoundRobin,
            Balance::StaticRr,
            Balance::LeastConn,
            Balance::First,
            Balance::Random { draws: 2 },
            Balance::RdpCookie {
                name: "mstshash".into(),
            },
        ] {
            assert_eq!(hash_key(&b, Some(&r), &conn), None);
        }
    }
}
