//! Log-format rendering: literals, `%[sample]` expressions and `%var` variables with the
//! `Q` (quote), `E` (escape), `X` (hexadecimal) and `M` (dash for missing) flags, and the
//! date formats of HAProxy's logs.

use std::sync::atomic::{AtomicI64, Ordering};

use super::fetch::hostname;
use super::http::uri_path;
use super::{CompileError, CompiledSample, EvalCtx};
use crate::model::expr::{LfNode, LfOptions, LogFormat, LogVar};
use crate::runtime::txnlog::LogFacts;

/// The offset of local time from UTC in seconds, for `%t` and `%Tl` (0 until set).
static LOCAL_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Held by the tests that change or depend on [`LOCAL_OFFSET`].
#[cfg(test)]
pub(crate) static OFFSET_TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Sets the offset of local time from UTC (seconds east of Greenwich) used by the local
/// dates of log-format strings (`%t`, `%Tl`). Without it they are rendered in UTC.
pub fn set_local_utc_offset(seconds: i64) {
    LOCAL_OFFSET.store(seconds, Ordering::Relaxed);
}

/// The request line as HAProxy keeps it for logs (`tune.http.logurilen`, 1024 bytes).
const REQURI_LEN: usize = 1023;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Opts {
    quote: bool,
    hex: bool,
    escape: bool,
    mandatory: bool,
    /// A sample in an HTTP rule's log-format (HAProxy's `LOG_OPT_HTTP`): never quoted,
    /// control characters written `%XX`.
    http: bool,
}

#[derive(Debug, Clone)]
enum Node {
    /// Text as written; in a log line, with its runs of spaces made one.
    Lit(Vec<u8>),
    Sample(Box<CompiledSample>, Opts),
    Var(LogVar, Opts),
}

/// A compiled log-format string.
#[derive(Debug, Clone, Default)]
pub struct CompiledLogFormat {
    nodes: Vec<Node>,
    /// A traffic log line: a space is a separator, written once and only after a field
    /// that wrote something (HAProxy's `LOG_FMT_SEPARATOR`).
    log: bool,
}

fn opts(o: &LfOptions, mandatory_default: bool, http: bool) -> Opts {
    let removed_m = o
        .raw
        .as_deref()
        .is_some_and(|r| r.split(',').any(|f| f.trim() == "-M"));
    Opts {
        quote: o.quote,
        hex: o.hex,
        escape: o.escape,
        mandatory: o.mandatory || (mandatory_default && !removed_m),
        http,
    }
}

impl CompiledLogFormat {
    /// Compiles a log-format string used in a header value or similar: a missing value
    /// renders as nothing unless the `M` flag asks for `-`.
    pub fn compile(lf: &LogFormat) -> Result<Self, CompileError> {
        Self::compile_with(lf, false, false)
    }

    /// Compiles the log-format of an HTTP rule (header values, targets, redirects, return
    /// bodies): as HAProxy renders them, a sample is never quoted (`Q` is ignored) and its
    /// control characters are written `%XX`; `%ci`-style variables keep their flags.
    pub fn compile_http(lf: &LogFormat) -> Result<Self, CompileError> {
        Self::compile_with(lf, false, true)
    }

    /// Compiles a `log-format` line: as HAProxy does for logs, a missing value renders as
    /// `-` unless `-M` is given.
    pub fn compile_log(lf: &LogFormat) -> Result<Self, CompileError> {
        Self::compile_with(lf, true, false)
    }

    fn compile_with(
        lf: &LogFormat,
        mandatory_default: bool,
        http: bool,
    ) -> Result<Self, CompileError> {
        let mut nodes = Vec::with_capacity(lf.0.len());
        for n in &lf.0 {
            nodes.push(match n {
                LfNode::Literal(s) if mandatory_default => Node::Lit(collapse_spaces(s.as_bytes())),
                LfNode::Literal(s) => Node::Lit(s.as_bytes().to_vec()),
                LfNode::Sample { sample, options } => Node::Sample(
                    Box::new(CompiledSample::compile(sample)?),
                    opts(options, mandatory_default, http),
                ),
                LfNode::Var { var, options } => {
                    Node::Var(var.clone(), opts(options, mandatory_default, false))
                }
            });
        }
        Ok(CompiledLogFormat {
            nodes,
            log: mandatory_default,
        })
    }

    /// Renders into bytes, leaving header values and other binary-safe outputs intact.
    pub fn render_bytes(&self, ctx: &EvalCtx, out: &mut Vec<u8>) {
        let mut last_space = true;
        for n in &self.nodes {
            let before = out.len();
            match n {
                // A log line has no two spaces in a row, across nodes too.
                Node::Lit(c) if self.log => {
                    let text = match c.split_first() {
                        Some((b' ', rest)) if last_space => rest,
                        _ => c,
                    };
                    if let Some(&l) = text.last() {
                        out.extend_from_slice(text);
                        last_space = l == b' ';
                    }
                    continue;
                }
                Node::Lit(s) => out.extend_from_slice(s),
                Node::Sample(s, o) => {
                    let v = s.eval_smp(ctx);
                    let text = v.as_ref().map(|v| v.to_str());
                    if o.http {
                        http_sample_node(out, text.as_deref().unwrap_or_default(), o);
                    } else {
                        text_node(out, text.as_deref(), o);
                    }
                }
                Node::Var(v, o) => render_var(out, v, o, ctx),
            }
            if out.len() > before {
                last_space = false;
            }
        }
    }

    /// Renders as text (invalid UTF-8 from the traffic is replaced).
    pub fn render(&self, ctx: &EvalCtx, out: &mut String) {
        let mut buf = Vec::new();
        self.render_bytes(ctx, &mut buf);
        match String::from_utf8(buf) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&String::from_utf8_lossy(e.as_bytes())),
        }
    }

    pub fn render_string(&self, ctx: &EvalCtx) -> String {
        let mut s = String::new();
        self.render(ctx, &mut s);
        s
    }

    /// Whether the format has no node at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Characters `E` escapes with a backslash (RFC 5424 structured data).
fn rfc5424_escaped(c: u8) -> bool {
    matches!(c, b'"' | b'\\' | b']')
}

/// Characters encoded as `#XX` in request fields: controls, non-ASCII, `"` and `#`.
fn url_encoded(c: u8) -> bool {
    !(32..127).contains(&c) || c == b'"' || c == b'#'
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A text field: quoted with `Q`, escaped with `E`, `-` when missing with `M`. Text stops
/// at a NUL byte.
fn text_node(out: &mut Vec<u8>, src: Option<&[u8]>, o: &Opts) {
    if o.quote {
        out.push(b'"');
    }
    match src.filter(|s| !s.is_empty()) {
        Some(s) => {
            let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
            if o.escape {
                for &c in s {
                    if rfc5424_escaped(c) {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            } else {
                out.extend_from_slice(s);
            }
        }
        None if o.mandatory && !o.quote => out.push(b'-'),
        None => {}
    }
    if o.quote {
        out.push(b'"');
    }
}

/// Bytes HAProxy encodes as `%XX` in the samples of HTTP rules: controls except TAB, DEL.
fn http_encoded(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// A sample in an HTTP rule: `%XX` for [`http_encoded`] bytes, and with `E` a backslash
/// before `"`, `\` and `]`; no quotes, nothing for a missing value.
fn http_sample_node(out: &mut Vec<u8>, s: &[u8], o: &Opts) {
    for &c in s {
        if http_encoded(c) {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            if o.escape && rfc5424_escaped(c) {
                out.push(b'\\');
            }
            out.push(c);
        }
    }
}

/// A request field (`%r`, `%HU` ...): quoted with `Q`, unsafe bytes as `#XX`.
fn encoded_node(out: &mut Vec<u8>, s: &[u8], o: &Opts) {
    if o.quote {
        out.push(b'"');
    }
    for &c in s {
        if url_encoded(c) {
            out.extend_from_slice(&[b'#', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            if o.escape && rfc5424_escaped(c) {
                out.push(b'\\');
            }
            out.push(c);
        }
    }
    if o.quote {
        out.push(b'"');
    }
}

/// `s` with each run of spaces made one space.
fn collapse_spaces(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c != b' ' || out.last() != Some(&b' ') {
            out.push(c);
        }
    }
    out
}

fn number(out: &mut Vec<u8>, v: i64) {
    // Most numbers of a log line are one digit (timers, counters, retries).
    if let Ok(d @ 0..=9) = u8::try_from(v) {
        out.push(b'0' + d);
        return;
    }
    // Written in place: a log line has a dozen numbers.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

fn hex_number(out: &mut Vec<u8>, v: u64, width: usize) {
    out.extend_from_slice(format!("{v:0width$X}").as_bytes());
}

fn ip_node(out: &mut Vec<u8>, addr: Option<std::net::SocketAddr>, o: &Opts) {
    match addr {
        Some(a) if o.hex => match a.ip() {
            std::net::IpAddr::V4(ip) => {
                for b in ip.octets() {
                    hex_number(out, b as u64, 2);
                }
            }
            std::net::IpAddr::V6(ip) => {
                for b in ip.octets() {
                    hex_number(out, b as u64, 2);
                }
            }
        },
        Some(a) => match a.ip() {
            // The common case written in place.
            std::net::IpAddr::V4(ip) if !o.quote => {
                for (i, b) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    number(out, i64::from(b));
                }
            }
            ip => text_node(out, Some(ip.to_string().as_bytes()), o),
        },
        None => text_node(out, None, o),
    }
}

fn port_node(out: &mut Vec<u8>, addr: Option<std::net::SocketAddr>, o: &Opts) {
    match addr {
        Some(a) if o.hex => hex_number(out, a.port() as u64, 4),
        Some(a) => number(out, a.port() as i64),
        None => text_node(out, None, o),
    }
}

fn render_var(out: &mut Vec<u8>, var: &LogVar, o: &Opts, ctx: &EvalCtx) {
    let info = ctx.info;
    let secs = (info.accept_ms / 1000) as i64;
    let ms = info.accept_ms % 1000;
    let req = ctx.req;
    let badreq = b"<BADREQ>".as_slice();
    match var {
        LogVar::Global => {}
        LogVar::ClientIp => ip_node(out, ctx.conn.src, o),
        LogVar::ClientPort => port_node(out, ctx.conn.src, o),
        LogVar::FrontendIp => ip_node(out, ctx.conn.dst, o),
        LogVar::FrontendPort => port_node(out, ctx.conn.dst, o),
        LogVar::Frontend => text_node(out, Some(info.frontend.as_bytes()), o),
        LogVar::Backend => {
            let b = info.backend.as_deref().unwrap_or(&info.frontend);
            text_node(out, Some(b.as_bytes()), o)
        }
        LogVar::Server => {
            let s = info.server.as_deref().unwrap_or("<NOSRV>");
            text_node(out, Some(s.as_bytes()), o)
        }
        LogVar::FrontendXprt => {
            if o.quote {
                out.push(b'"');
            }
            out.extend_from_slice(info.frontend.as_bytes());
            if ctx.conn.ssl {
                out.push(b'~');
            }
            if o.quote {
                out.push(b'"');
            }
        }
        LogVar::Status => {
            let st = info
                .status
                .or_else(|| ctx.res.map(|r| r.status))
                .map_or(-1, i64::from);
            number(out, st)
        }
        LogVar::Pid if o.hex => hex_number(out, info.pid as u64, 4),
        LogVar::Pid => number(out, info.pid as i64),
        LogVar::RequestCounter if o.hex => hex_number(out, info.request_counter, 4),
        LogVar::RequestCounter => number(out, info.request_counter as i64),
        LogVar::Hostname => text_node(out, Some(hostname().as_bytes()), o),
        LogVar::UniqueId => text_node(
            out,
            info.log
                .as_deref()
                .and_then(|f| f.unique_id.as_deref())
                .map(str::as_bytes),
            o,
        ),
        LogVar::Timestamp if o.hex => hex_number(out, secs as u64, 4),
        LogVar::Timestamp => number(out, secs),
        LogVar::AcceptMs if o.hex => hex_number(out, ms, 2),
        LogVar::AcceptMs => out.extend_from_slice(format!("{ms:03}").as_bytes()),
        LogVar::Date => {
            let local = secs.saturating_add(LOCAL_OFFSET.load(Ordering::Relaxed));
            out.extend_from_slice(format!("{}.{ms:03}", log_date(local)).as_bytes())
        }
        LogVar::DateGmt => out.extend_from_slice(format!("{} +0000", log_date(secs)).as_bytes()),
        LogVar::DateLocal => {
            let off = LOCAL_OFFSET.load(Ordering::Relaxed);
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            let date = log_date(secs.saturating_add(off));
            out.extend_from_slice(
                format!("{date} {sign}{:02}{:02}", a / 3600, a % 3600 / 60).as_bytes(),
            )
        }
        LogVar::SslCipher => text_node(
            out,
            ctx.conn
                .ssl_cipher
                .as_deref()
                .filter(|_| ctx.conn.ssl)
                .map(str::as_bytes),
            o,
        ),
        LogVar::SslVersion => text_node(
            out,
            ctx.conn
                .ssl_version
                .as_deref()
                .filter(|_| ctx.conn.ssl)
                .map(str::as_bytes),
            o,
        ),
        LogVar::Request => match req {
            Some(r) => {
                // The three parts written in place, cut at REQURI_LEN bytes (on a
                // character boundary).
                let parts: [&[u8]; 5] = [
                    r.method.as_bytes(),
                    b" ",
                    r.uri.as_bytes(),
                    b" ",
                    r.version.as_str().as_bytes(),
                ];
                let byte_at = |mut i: usize| {
                    for p in &parts {
                        if i < p.len() {
                            return p[i];
                        }
                        i -= p.len();
                    }
                    0
                };
                let total: usize = parts.iter().map(|p| p.len()).sum();
                let mut end = total.min(REQURI_LEN);
                while end > 0 && end < total && (byte_at(end) & 0xC0) == 0x80 {
                    end -= 1;
                }
                if o.quote {
                    out.push(b'"');
                }
                let unquoted = Opts { quote: false, ..*o };
                for p in parts {
                    let n = p.len().min(end);
                    encoded_node(out, &p[..n], &unquoted);
                    end -= n;
                }
                if o.quote {
                    out.push(b'"');
                }
            }
            None => encoded_node(out, badreq, o),
        },
        LogVar::HttpMethod => encoded_node(out, req.map_or(badreq, |r| r.method.as_bytes()), o),
        LogVar::HttpUri => encoded_node(out, req.map_or(badreq, |r| r.uri.as_bytes()), o),
        LogVar::HttpPath => encoded_node(
            out,
            req.map_or(badreq, |r| {
                r.uri.split('?').next().unwrap_or_default().as_bytes()
            }),
            o,
        ),
        LogVar::HttpPathOnly => encoded_node(
            out,
            req.map_or(badreq, |r| {
                uri_path(&r.uri)
                    .map(|p| p.split('?').next().unwrap_or_default())
                    .unwrap_or_default()
                    .as_bytes()
            }),
            o,
        ),
        LogVar::HttpQuery => encoded_node(
            out,
            req.map_or(badreq, |r| {
                r.uri.find('?').map_or(&b""[..], |i| &r.uri.as_bytes()[i..])
            }),
            o,
        ),
        LogVar::HttpVersion => encoded_node(
            out,
            req.map_or(badreq, |r| r.version.as_str().as_bytes()),
            o,
        ),
        _ => match info.log.as_deref() {
            Some(f) => render_log_var(out, var, o, ctx, f),
            // Outside a traffic log (header values ...): not known.
            None => out.push(b'-'),
        },
    }
}

/// A number, `X` in hexadecimal.
fn num_node(out: &mut Vec<u8>, v: i64, o: &Opts) {
    if o.hex {
        hex_number(out, v as u64, 8)
    } else {
        number(out, v)
    }
}

/// Captured header values: `{a|b}` (`list`: space separated, `-` for a missing one).
fn captures_node(out: &mut Vec<u8>, v: &[Option<String>], list: bool, f: &LogFacts, o: &Opts) {
    if v.is_empty() || !f.has_request {
        return;
    }
    let text = if list {
        crate::runtime::persist::Captures {
            req_headers: v.to_vec(),
            ..Default::default()
        }
        .hrl()
    } else {
        crate::runtime::persist::Captures {
            req_headers: v.to_vec(),
            ..Default::default()
        }
        .hr()
    };
    if o.quote {
        out.push(b'"');
    }
    out.extend_from_slice(text.as_bytes());
    if o.quote {
        out.push(b'"');
    }
}

/// The variables only a finished transaction knows: timers, byte counts, flags, counters
/// and captures.
fn render_log_var(out: &mut Vec<u8>, var: &LogVar, o: &Opts, ctx: &EvalCtx, f: &LogFacts) {
    let info = ctx.info;
    let caps = &info.captures;
    match var {
        LogVar::DateRequest => {
            let secs = (f.req_ms / 1000) as i64;
            let local = secs.saturating_add(LOCAL_OFFSET.load(Ordering::Relaxed));
            push_log_date(out, local);
            let ms = f.req_ms % 1000;
            out.extend_from_slice(&[
                b'.',
                b'0' + (ms / 100) as u8,
                b'0' + (ms / 10 % 10) as u8,
                b'0' + (ms % 10) as u8,
            ]);
        }
        LogVar::DateRequestGmt => {
            let secs = (f.req_ms / 1000) as i64;
            out.extend_from_slice(format!("{} +0000", log_date(secs)).as_bytes())
        }
        LogVar::DateRequestLocal => {
            let secs = (f.req_ms / 1000) as i64;
            let off = LOCAL_OFFSET.load(Ordering::Relaxed);
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            let date = log_date(secs.saturating_add(off));
            out.extend_from_slice(
                format!("{date} {sign}{:02}{:02}", a / 3600, a % 3600 / 60).as_bytes(),
            )
        }
        LogVar::TimeHandshake => num_node(out, f.th, o),
        LogVar::TimeIdle => num_node(out, f.ti, o),
        LogVar::TimeRequest => num_node(out, f.treq, o),
        LogVar::TimeQ => num_node(out, f.tq(), o),
        LogVar::TimeWait => num_node(out, f.tw, o),
        LogVar::TimeConnect => num_node(out, f.tc, o),
        LogVar::TimeResponse => num_node(out, f.tr, o),
        LogVar::TimeData => num_node(out, f.td(), o),
        // `option logasap`: the line is sent before the end, the totals so far marked `+`.
        LogVar::TimeActive => {
            if f.asap {
                out.push(b'+');
            }
            num_node(out, f.ta, o)
        }
        LogVar::TimeTotal => {
            if f.asap {
                out.push(b'+');
            }
            num_node(out, f.tt, o)
        }
        LogVar::TimeUser => num_node(out, f.tt - f.ti, o),
        LogVar::BytesRead => {
            if f.asap {
                out.push(b'+');
            }
            num_node(out, f.bytes_out as i64, o)
        }
        LogVar::BytesUploaded => num_node(out, f.bytes_in as i64, o),
        LogVar::CapturedReqCookie => {
            text_node(out, caps.req_cookie.as_deref().map(str::as_bytes), o)
        }
        LogVar::CapturedResCookie => {
            text_node(out, caps.res_cookie.as_deref().map(str::as_bytes), o)
        }
        // Never quoted, as in HAProxy.
        LogVar::TermState => out.extend_from_slice(&f.flags[..2]),
        LogVar::TermStateCookie => out.extend_from_slice(&f.flags[..]),
        LogVar::ActConn => num_node(out, f.actconn as i64, o),
        LogVar::FeConn => num_node(out, f.feconn as i64, o),
        LogVar::BeConn => num_node(out, f.beconn as i64, o),
        LogVar::SrvConn => num_node(out, f.srvconn as i64, o),
        LogVar::Retries => {
            if f.redispatched {
                out.push(b'+');
            }
            num_node(out, i64::from(f.retries), o)
        }
        LogVar::ServerQueue => num_node(out, f.srv_queue as i64, o),
        LogVar::BackendQueue => num_node(out, f.be_queue as i64, o),
        LogVar::LogCounter => num_node(out, f.log_counter as i64, o),
        LogVar::HeadersReq => captures_node(out, &caps.req_headers, false, f, o),
        LogVar::HeadersReqList => captures_node(out, &caps.req_headers, true, f, o),
        LogVar::HeadersRes => captures_node(out, &caps.res_headers, false, f, o),
        LogVar::HeadersResList => captures_node(out, &caps.res_headers, true, f, o),
        LogVar::ServerIp => ip_node(out, f.srv_addr, o),
        LogVar::ServerPort => port_node(out, f.srv_addr, o),
        LogVar::BackendIp => ip_node(out, f.be_src, o),
        LogVar::BackendPort => port_node(out, f.be_src, o),
        _ => text_node(out, None, o),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// The civil date of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Year, month (1-12), day, hour, minute, second and weekday (0 = Thursday) of a time.
fn split_time(secs: i64) -> (i64, u32, u32, i64, i64, i64, usize) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        days.rem_euclid(7) as usize,
    )
}

/// Now as `%tr` prints a date: local `dd/Mon/yyyy:HH:MM:SS.mmm`.
pub fn local_date_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(now.as_secs()).unwrap_or(0);
    let local = secs.saturating_add(LOCAL_OFFSET.load(Ordering::Relaxed));
    format!("{}.{:03}", log_date(local), now.subsec_millis())
}

/// `dd/Mon/yyyy:HH:MM:SS`, the date of HAProxy's logs.
fn log_date(secs: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split_time(secs);
    let mon = MONTHS.get(m as usize - 1).copied().unwrap_or("???");
    format!("{d:02}/{mon}/{y:04}:{hh:02}:{mm:02}:{ss:02}")
}

thread_local! {
    /// The last second [`push_log_date`] wrote, per thread: log lines come many a second.
    static LAST_DATE: std::cell::RefCell<(i64, String)> =
        const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// Appends [`log_date`] of `secs`, formatted once per second and thread.
fn push_log_date(out: &mut Vec<u8>, secs: i64) {
    LAST_DATE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, log_date(secs));
        }
        out.extend_from_slice(c.1.as_bytes());
    })
}

/// An HTTP date (RFC 7231 IMF-fixdate), as `http_date` writes it.
pub(crate) fn http_date(secs: i64) -> String {
    let (y, m, d, hh, mm, ss, wd) = split_time(secs);
    let mon = MONTHS.get(m as usize - 1).copied().unwrap_or("???");
    let day = DAYS.get(wd).copied().unwrap_or("???");
    format!("{day}, {d:02} {mon} {y:04} {hh:02}:{mm:02}:{ss:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(log_date(0), "01/Jan/1970:00:00:00");
        assert_eq!(log_date(1_795_586_274), "25/Nov/2026:05:57:54");
        assert_eq!(log_date(951_782_400), "29/Feb/2000:00:00:00");
        assert_eq!(log_date(-1), "31/Dec/1969:23:59:59");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(http_date(0x007f_ffff_ffff_ffff).ends_with(" GMT"));
    }

    #[test]
    fn fields() {
        let o = Opts::default();
        let q = Opts { quote: true, ..o };
        let m = Opts {
            mandatory: true,
            ..o
        };
        let e = Opts { escape: true, ..o };
        let cases: Vec<(Option<&[u8]>, Opts, &str)> = vec![
            (Some(b"abc"), o, "abc"),
            (None, o, ""),
            (None, m, "-"),
            (Some(b""), m, "-"),
            (None, q, "\"\""),
            (
                None,
                Opts {
                    mandatory: true,
                    ..q
                },
                "\"\"",
            ),
            (Some(b"a\"b"), q, "\"a\"b\""),
            (Some(b"q\"b\\]"), e, "q\\\"b\\\\\\]"),
            (Some(b"ab\0cd"), o, "ab"),
        ];
        for (src, opts, want) in cases {
            let mut out = Vec::new();
            text_node(&mut out, src, &opts);
            assert_eq!(String::from_utf8_lossy(&out), want, "{src:?} {opts:?}");
        }
        let mut out = Vec::new();
        encoded_node(&mut out, b"/a b\"#\x01\xff", &q);
        assert_eq!(String::from_utf8_lossy(&out), "\"/a b#22#23#01#FF\"");
    }
}
