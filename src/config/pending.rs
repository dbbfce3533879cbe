//! Keywords recognised but not applied yet (warned) or never supported (rejected), by section.

/// A keyword the parser recognises without modelling it (pending) or rejects (unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmodelled {
    pub keyword: &'static str,
    pub where_: &'static str,
    pub unsupported: Option<&'static str>,
}
pub const GLOBAL: &[Unmodelled] = &[];
pub const PROXY: &[Unmodelled] = &[];
pub const OPTION: &[Unmodelled] = &[];
pub const TIMEOUT: &[Unmodelled] = &[];
pub const STATS: &[Unmodelled] = &[];
pub const BIND: &[Unmodelled] = &[];
pub const SERVER: &[Unmodelled] = &[];
pub const HTTP_REQUEST: &[Unmodelled] = &[];
pub const HTTP_RESPONSE: &[Unmodelled] = &[];
pub const HTTP_AFTER_RESPONSE: &[Unmodelled] = &[];
pub const TCP_REQUEST_CONNECTION: &[Unmodelled] = &[];
pub const TCP_REQUEST_SESSION: &[Unmodelled] = &[];
pub const TCP_REQUEST_CONTENT: &[Unmodelled] = &[];
pub const TCP_RESPONSE_CONTENT: &[Unmodelled] = &[];
pub const HTTP_CHECK: &[Unmodelled] = &[];
pub const TCP_CHECK: &[Unmodelled] = &[];
pub const USERLIST: &[Unmodelled] = &[];
pub const SECTION: &[Unmodelled] = &[];
pub fn find(table: &'static [Unmodelled], kw: &str) -> Option<&'static Unmodelled> {
    table.iter().find(|u| u.keyword == kw)
}
