//! Error responses a proxy generates itself: the built-in pages (`errors/`), `errorfile`
//! overrides and `errorloc` redirects, ready to write.

use std::collections::HashMap;

use crate::model::ErrorPage;
use crate::model::errors::default_error_page;
use crate::model::proxy::Proxy;

/// The statuses HAProxy generates and lets `errorfile` replace.
pub const CODES: [u16; 14] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 425, 429, 500, 501, 502,
];
const MORE_CODES: [u16; 2] = [503, 504];

/// Pages by status, each a complete HTTP/1.1 response.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    pages: HashMap<u16, Vec<u8>>,
    /// 400 and 408 as the HTTP/1 layer sends them (None: silenced), see [`Self::head_page`].
    head: HashMap<u16, Option<Vec<u8>>>,
}

impl ErrorPages {
    pub fn build(p: &Proxy) -> Self {
        let mut pages = HashMap::new();
        for code in CODES.iter().chain(MORE_CODES.iter()) {
            // 400 and 408 come from HAProxy's HTTP/1 layer, which sends the file as it is;
            // the others go through its message layer, which lower-cases header names and
            // drops `connection`.
            let raw_file = matches!(code, 400 | 408);
            let raw = match p.errorfiles.get(code) {
                Some(ErrorPage::File { content, .. }) => normalise(content, !raw_file),
                Some(ErrorPage::Location { url, code: c }) => location(url, *c),
                None => match default_error_page(*code) {
                    Some(b) => normalise(b, !raw_file),
                    None => generic(*code),
                },
            };
            pages.insert(*code, raw);
        }
        let head = [400, 408]
            .into_iter()
            .map(|c| (c, head_error(c, p.errorfiles.get(&c))))
            .collect();
        ErrorPages { pages, head }
    }

    /// The page HAProxy 2.6's HTTP/1 layer sends for a request head it could not read
    /// (400, 408): the built-in page as written, whatever `errorfile` says, except that an
    /// empty errorfile silences it (None: close without a word).
    pub fn head_page(&self, status: u16) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self.head.get(&status) {
            Some(Some(p)) => Some(std::borrow::Cow::Borrowed(p)),
            Some(None) => None,
            None => Some(self.get(status)),
        }
    }

    /// The response for `status` (a generic page if none is configured).
    pub fn get(&self, status: u16) -> std::borrow::Cow<'_, [u8]> {
        match self.pages.get(&status) {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(generic(status)),
        }
    }
}

/// See [`ErrorPages::head_page`].
fn head_error(status: u16, configured: Option<&ErrorPage>) -> Option<Vec<u8>> {
    if let Some(ErrorPage::File { content, .. }) = configured
        && content.is_empty()
    {
        return None;
    }
    Some(match default_error_page(status) {
        Some(b) => normalise(b, false),
        None => generic(status),
    })
}

/// Adds a `content-length` when a page has neither length nor chunking, so a client on a
/// kept-alive connection knows where it ends; line endings are made CRLF.
fn normalise(raw: &[u8], message_layer: bool) -> Vec<u8> {
    let (head, body) = split_head(raw);
    let head_text = String::from_utf8_lossy(head);
    let mut lines: Vec<String> = head_text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if message_layer {
        let status = lines.first().cloned().unwrap_or_default();
        let mut rest: Vec<String> = lines
            .iter()
            .skip(1)
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                let n = n.trim().to_ascii_lowercase();
                (n != "connection").then(|| format!("{n}: {}", v.trim()))
            })
            .collect();
        rest.insert(0, status);
        lines = rest;
    }
    let has_len = lines.iter().skip(1).any(|l| {
        let n = l.split(':').next().unwrap_or("").trim();
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if !has_len && !lines.is_empty() {
        lines.insert(1, format!("content-length: {}", body.len()));
    }
    let mut out = Vec::with_capacity(raw.len() + 32);
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return (&raw[..i], &raw[i + 4..]);
    }
    if let Some(i) = raw.windows(2).position(|w| w == b"\n\n") {
        return (&raw[..i], &raw[i + 2..]);
    }
    (raw, &[])
}

/// `errorloc*`: a redirect to the page's location, as HAProxy builds it.
fn location(url: &str, code: u16) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {}\r\ncontent-length: 0\r\nlocation: {url}\r\ncache-control: no-cache\r\n\r\n",
        super::head::reason(code)
    )
    .into_bytes()
}

fn generic(code: u16) -> Vec<u8> {
    let reason = super::head::reason(code);
    let body = format!("<html><body><h1>{code} {reason}</h1>\n</body></html>\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_get_a_length() {
        let pages = ErrorPages::build(&Proxy::default());
        let p = pages.get(503);
        let text = String::from_utf8_lossy(&p);
        assert!(text.starts_with("HTTP/1.1 503 "));
        let (head, body) = split_head(&p);
        let head = String::from_utf8_lossy(head);
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(pages.get(404).starts_with(b"HTTP/1.1 404 "));
    }

    #[test]
    fn head_errors_ignore_errorfile_unless_empty() {
        let file = |c: &[u8]| ErrorPage::File {
            path: "/x".into(),
            content: c.to_vec(),
        };
        let built_in = head_error(408, None).unwrap();
        assert!(built_in.starts_with(b"HTTP/1.1 408 "));
        let mut p = Proxy::default();
        p.errorfiles
            .insert(408, file(b"HTTP/1.1 408 Mine\r\ncontent-length: 0\r\n\r\n"));
        p.errorfiles.insert(400, file(b""));
        let pages = ErrorPages::build(&p);
        assert_eq!(pages.head_page(408).as_deref(), Some(&built_in[..]));
        assert!(pages.get(408).starts_with(b"HTTP/1.1 408 Mine"));
        assert_eq!(pages.head_page(400), None);
    }

    #[test]
    fn errorloc() {
        let mut p = Proxy::default();
        p.errorfiles.insert(
            503,
            ErrorPage::Location {
                url: "http://x/".into(),
                code: 302,
            },
        );
        let pages = ErrorPages::build(&p);
        assert!(pages.get(503).starts_with(b"HTTP/1.1 302 Found\r\n"));
    }
}
