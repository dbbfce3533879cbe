//! Whether a response may be stored by a shared cache, as HAProxy 2.6 judges it for
//! `cookie ... nocache`: only then is `Cache-control: private` added after an inserted
//! cookie. Observed with haproxy 2.6.12:
//! * the request must be a GET or HEAD, and the status one of the heuristically cacheable
//!   ones (200 203 204 206 300 301 404 405 410 414 501); request headers do not matter;
//! * the response needs freshness information (`Expires`, `max-age=`, `s-maxage=`) or a
//!   validator (`Last-Modified`, `ETag`);
//! * `Cache-Control` values are read in order: `public` makes it cacheable again,
//!   `private`, `no-cache`, `no-store`, `max-age=0` and `s-maxage=0` make it uncacheable;
//!   `Pragma: no-cache` makes it uncacheable; `Vary` changes nothing.

use crate::runtime::http::head::{ResponseHead, trim};

/// Whether `res`, the answer to a `method` request, is cacheable.
pub fn cacheable(method: &str, res: &ResponseHead) -> bool {
    if !matches!(method, "GET" | "HEAD") {
        return false;
    }
    if !matches!(
        res.status,
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    ) {
        return false;
    }
    let mut cacheable = true;
    let mut fresh_or_validated = false;
    for h in res.headers.iter() {
        match h.name.as_str() {
            "pragma" if trim(&h.value).eq_ignore_ascii_case(b"no-cache") => cacheable = false,
            "expires" | "last-modified" | "etag" => fresh_or_validated = true,
            "cache-control" => {
                for v in h.value.split(|b| *b == b',').map(trim) {
                    let lower = v.to_ascii_lowercase();
                    match lower.as_slice() {
                        b"public" => cacheable = true,
                        b"private" | b"no-cache" | b"no-store" | b"max-age=0" | b"s-maxage=0" => {
                            cacheable = false
                        }
                        _ if lower.starts_with(b"max-age=") || lower.starts_with(b"s-maxage=") => {
                            fresh_or_validated = true
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    cacheable && fresh_or_validated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::http::head::{Headers, Version};

    fn res(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        let mut h = Headers::default();
        for (n, v) in headers {
            h.add(n, v.as_bytes().to_vec());
        }
        ResponseHead {
            version: Version::H11,
            status,
            reason: String::new(),
            headers: h,
        }
    }

    #[test]
    fn cacheability_table_as_observed_with_haproxy() {
        let ma = ("cache-control", "max-age=10");
        type Row<'a> = (&'a str, u16, &'a [(&'a str, &'a str)], bool);
        let table: &[Row] = &[
            ("GET", 200, &[], false),
            ("GET", 200, &[("cache-control", "public")], false),
            ("GET", 200, &[ma], true),
            ("GET", 200, &[("expires", "0")], true),
            ("GET", 200, &[("last-modified", "x")], true),
            ("GET", 200, &[("etag", "\"x\"")], true),
            ("HEAD", 200, &[ma], true),
            ("POST", 200, &[ma], false),
            ("PUT", 200, &[ma], false),
            ("GET", 203, &[ma], true),
            ("GET", 204, &[ma], true),
            ("GET", 206, &[ma], true),
            ("GET", 300, &[ma], true),
            ("GET", 301, &[ma], true),
            ("GET", 302, &[ma], false),
            ("GET", 307, &[ma], false),
            ("GET", 404, &[ma], true),
            ("GET", 405, &[ma], true),
            ("GET", 410, &[ma], true),
            ("GET", 414, &[ma], true),
            ("GET", 500, &[ma], false),
            ("GET", 501, &[ma], true),
            ("GET", 200, &[ma, ("cache-control", "no-store")], false),
            ("GET", 200, &[ma, ("cache-control", "s-maxage=0")], false),
            ("GET", 200, &[ma, ("cache-control", "max-age=0")], false),
            ("GET", 200, &[ma, ("cache-control", "private")], false),
            ("GET", 200, &[ma, ("cache-control", "no-cache")], false),
            (
                "GET",
                200,
                &[ma, ("cache-control", "no-cache=\"set-cookie\"")],
                true,
            ),
            (
                "GET",
                200,
                &[ma, ("cache-control", "max-age=0, public")],
                true,
            ),
            ("GET", 200, &[ma, ("pragma", "no-cache")], false),
            ("GET", 200, &[ma, ("vary", "*")], true),
            ("GET", 200, &[("cache-control", "s-maxage=5")], true),
        ];
        for (method, status, headers, want) in table {
            assert_eq!(
                cacheable(method, &res(*status, headers)),
                *want,
                "{method} {status} {headers:?}"
            );
        }
    }
}
