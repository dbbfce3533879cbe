//! rproxy's default error responses (`errors/*.http`), compiled into the binary. A proxy's
//! `errorfile` overrides them; the files are also usable directly with `errorfile`.

/// The built-in raw HTTP response for a status rproxy generates itself.
pub fn default_error_page(status: u16) -> Option<&'static [u8]> {
    Some(match status {
        400 => include_bytes!("../../errors/400.http"),
        403 => include_bytes!("../../errors/403.http"),
        408 => include_bytes!("../../errors/408.http"),
        500 => include_bytes!("../../errors/500.http"),
        502 => include_bytes!("../../errors/502.http"),
        503 => include_bytes!("../../errors/503.http"),
        504 => include_bytes!("../../errors/504.http"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_http_responses_with_their_status() {
        for code in [400, 403, 408, 500, 502, 503, 504] {
            let page = default_error_page(code).expect("page");
            let head = String::from_utf8_lossy(&page[..page.len().min(16)]).into_owned();
            assert!(head.starts_with(&format!("HTTP/1.1 {code} ")), "{head}");
            assert!(
                page.windows(4).any(|w| w == b"\r\n\r\n"),
                "headers end with CRLF CRLF"
            );
        }
        assert!(default_error_page(404).is_none());
    }
}
