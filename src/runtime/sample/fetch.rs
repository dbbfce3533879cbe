//! Sample fetches: compiling a fetch keyword with its arguments, and producing its values
//! from the connection, the request, the response, the variables and the transaction.
//!
//! A fetch produces one value when a sample is evaluated on its own, and every value when
//! an ACL iterates (all header values, all cookies, all URL parameters of that name), as
//! HAProxy does.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::http::{HdrValues, cookies, nth_value, params, path_only, uri_path};
use super::value::{Smp, parse_ip, strl2ic};
use super::{CompileError, EvalCtx};
use crate::model::expr::{Arg, Fetch as FetchDef};
use crate::runtime::http::head::{Headers, Version};

/// Which message a header or cookie fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chan {
    Req,
    Res,
    /// `hdr` and `cookie`: the response once there is one, else the request (HAProxy
    /// follows the direction of the rule being evaluated).
    Auto,
}

/// What a header fetch makes of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HdrOut {
    Str,
    /// `hdr_val`: the leading integer.
    Int,
    /// `hdr_ip`: an IPv4 address (optionally with a port) or an IPv6 address.
    Ip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    S,
    Ms,
    Us,
}

/// A compiled fetch.
#[derive(Debug, Clone)]
pub(crate) enum Fetch {
    Const(Smp<'static>),
    Env(String),
    Var {
        name: String,
        default: Option<String>,
    },
    Src,
    SrcPort,
    Dst,
    DstPort,
    SslFc,
    /// `fc_err`, `ssl_fc_err`, `ssl_c_err`, `ssl_c_ca_err`: a connection that carries a
    /// transaction had no error (0); the TLS ones have no value on a plain connection.
    FcErr,
    SslErr,
    /// `ssl_fc_is_resumed`: resumption is not tracked, 0.
    SslFcIsResumed,
    SslFcHasSni,
    SslFcSni,
    SslFcProtocol,
    SslFcCipher,
    SslFcAlpn,
    SslCUsed,
    SslCVerify,
    FeName,
    BeName,
    SrvName,
    ProtoHttp,
    Path,
    PathQ,
    Url,
    Base {
        with_query: bool,
    },
    Base32,
    Query,
    Method,
    ReqVer,
    /// `capture.req.ver`: `HTTP/1.1`.
    ReqVerFull,
    ResVer,
    /// `capture.res.ver`.
    ResVerFull,
    Status,
    Hdr {
        chan: Chan,
        /// `None` without argument: HAProxy then fetches nothing.
        name: Option<String>,
        occ: i64,
        full: bool,
        out: HdrOut,
    },
    HdrCnt {
        chan: Chan,
        name: String,
        full: bool,
    },
    HdrNames {
        chan: Chan,
        delim: u8,
    },
    Cook {
        chan: Chan,
        name: String,
        int: bool,
    },
    CookCnt {
        chan: Chan,
        name: String,
    },
    UrlParam {
        name: String,
        delim: u8,
        int: bool,
    },
    Date {
        offset: i64,
        unit: TimeUnit,
    },
    Rand {
        range: Option<i64>,
    },
    /// `req.body`: what `option http-buffer-request` waited for, else empty.
    ReqBody,
    /// `capture.req.hdr(N)` / `capture.res.hdr(N)`: the frontend's Nth header capture.
    CapturedHdr {
        res: bool,
        idx: usize,
    },
    /// `req.len`, `req.payload(off,len)`, `req.ssl_hello_type`, `req.ssl_sni`: over the
    /// bytes buffered by `tcp-request content` inspection.
    ReqLen,
    ReqPayload {
        off: usize,
        len: usize,
    },
    ReqSslHelloType,
    ReqSslSni,
}

fn not_implemented(what: &str, name: &str) -> CompileError {
    CompileError(format!(
        "{what} '{name}' is not implemented by the runtime yet"
    ))
}

fn str_arg(args: &[Arg], i: usize) -> Option<&str> {
    match args.get(i) {
        Some(Arg::Str(s)) => Some(s),
        _ => None,
    }
}

fn int_arg(args: &[Arg], i: usize) -> Option<i64> {
    match args.get(i) {
        Some(Arg::Int(v)) => Some(*v),
        _ => None,
    }
}

/// The machine's host name, read once.
pub(crate) fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default()
    })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn chan_of(name: &str) -> Chan {
    if name.starts_with("res.") || name.starts_with('s') {
        Chan::Res
    } else {
        Chan::Req
    }
}

impl Fetch {
    pub fn compile(f: &FetchDef) -> Result<Fetch, CompileError> {
        let name = f.name.as_str();
        let args = &f.args;
        let s0 = || str_arg(args, 0).unwrap_or("").to_string();
        let bad = |m: String| CompileError(format!("sample fetch '{name}': {m}"));
        Ok(match name {
            "always_true" | "wait_end" => Fetch::Const(Smp::Bool(true)),
            "always_false" => Fetch::Const(Smp::Bool(false)),
            "int" => Fetch::Const(Smp::Int(int_arg(args, 0).unwrap_or(0))),
            "str" | "meth" => Fetch::Const(Smp::owned(s0())),
            "bool" => {
                let v = s0();
                let is = |w: &str| v.eq_ignore_ascii_case(w);
                Fetch::Const(Smp::Bool(if is("true") || is("1") {
                    true
                } else if is("false") || is("0") {
                    false
                } else {
                    return Err(bad(format!("'{v}' is not a boolean (true, false, 1 or 0)")));
                }))
            }
            "bin" => Fetch::Const(Smp::Bin(Cow::Owned(
                parse_hex(&s0()).ok_or_else(|| bad("expects hexadecimal digits".into()))?,
            ))),
            "ipv4" | "ipv6" => match args.first() {
                Some(Arg::Ip(ip)) => Fetch::Const(Smp::Ip(*ip)),
                _ => return Err(bad("missing address".into())),
            },
            "hostname" => Fetch::Const(Smp::text(hostname())),
            "env" => Fetch::Env(s0()),
            "var" => Fetch::Var {
                name: s0(),
                default: str_arg(args, 1).map(str::to_string),
            },
            "capture.req.hdr" | "capture.res.hdr" => Fetch::CapturedHdr {
                res: name == "capture.res.hdr",
                idx: int_arg(args, 0).unwrap_or(0).max(0) as usize,
            },
            "src" => Fetch::Src,
            "src_port" => Fetch::SrcPort,
            "dst" => Fetch::Dst,
            "dst_port" => Fetch::DstPort,
            "ssl_fc" => Fetch::SslFc,
            "fc_err" => Fetch::FcErr,
            "ssl_fc_err" | "ssl_c_err" | "ssl_c_ca_err" => Fetch::SslErr,
            "ssl_fc_is_resumed" => Fetch::SslFcIsResumed,
            "ssl_fc_has_sni" => Fetch::SslFcHasSni,
            "ssl_fc_sni" => Fetch::SslFcSni,
            "ssl_fc_protocol" => Fetch::SslFcProtocol,
            "ssl_fc_cipher" => Fetch::SslFcCipher,
            "ssl_fc_alpn" => Fetch::SslFcAlpn,
            "ssl_c_used" => Fetch::SslCUsed,
            "ssl_c_verify" => Fetch::SslCVerify,
            "fe_name" => Fetch::FeName,
            "be_name" => Fetch::BeName,
            "srv_name" => Fetch::SrvName,
            "req.proto_http" | "req_proto_http" => Fetch::ProtoHttp,
            "path" => Fetch::Path,
            "pathq" => Fetch::PathQ,
            "url" | "capture.req.uri" => Fetch::Url,
            "base" => Fetch::Base { with_query: false },
            "baseq" => Fetch::Base { with_query: true },
            "base32" => Fetch::Base32,
            "query" => Fetch::Query,
            "method" | "capture.req.method" => Fetch::Method,
            "req.ver" | "req_ver" => Fetch::ReqVer,
            "capture.req.ver" => Fetch::ReqVerFull,
            "res.ver" | "resp_ver" => Fetch::ResVer,
            "capture.res.ver" => Fetch::ResVerFull,
            "status" => Fetch::Status,
            "hdr" | "req.hdr" | "shdr" | "res.hdr" | "req.fhdr" | "res.fhdr" | "hdr_val"
            | "req.hdr_val" | "shdr_val" | "res.hdr_val" | "hdr_ip" | "req.hdr_ip" | "shdr_ip"
            | "res.hdr_ip" => Fetch::Hdr {
                chan: if name == "hdr" {
                    Chan::Auto
                } else {
                    chan_of(name)
                },
                name: str_arg(args, 0).map(str::to_string),
                occ: int_arg(args, 1).unwrap_or(0),
                full: name.ends_with("fhdr"),
                out: if name.ends_with("_val") {
                    HdrOut::Int
                } else if name.ends_with("_ip") {
                    HdrOut::Ip
                } else {
                    HdrOut::Str
                },
            },
            "hdr_cnt" | "req.hdr_cnt" | "shdr_cnt" | "res.hdr_cnt" | "req.fhdr_cnt"
            | "res.fhdr_cnt" => Fetch::HdrCnt {
                chan: chan_of(name),
                name: s0(),
                full: name.ends_with("fhdr_cnt"),
            },
            "req.hdr_names" | "res.hdr_names" => Fetch::HdrNames {
                chan: chan_of(name),
                delim: match str_arg(args, 0) {
                    // HAProxy uses the first character, a NUL for an empty argument.
                    Some(d) => d.bytes().next().unwrap_or(0),
                    None => b',',
                },
            },
            "cook" | "req.cook" | "scook" | "res.cook" | "cookie" | "cook_val" | "req.cook_val"
            | "scook_val" | "res.cook_val" => Fetch::Cook {
                chan: if name == "cookie" {
                    Chan::Auto
                } else {
                    chan_of(name)
                },
                name: s0(),
                int: name.ends_with("_val"),
            },
            "cook_cnt" | "req.cook_cnt" | "scook_cnt" | "res.cook_cnt" => Fetch::CookCnt {
                chan: chan_of(name),
                name: s0(),
            },
            "url_param" | "urlp" | "urlp_val" => Fetch::UrlParam {
                name: s0(),
                delim: str_arg(args, 1)
                    .and_then(|d| d.bytes().next())
                    .unwrap_or(b'?'),
                int: name == "urlp_val",
            },
            "date" => Fetch::Date {
                offset: int_arg(args, 0).unwrap_or(0),
                unit: match str_arg(args, 1) {
                    Some("ms") => TimeUnit::Ms,
                    Some("us") => TimeUnit::Us,
                    _ => TimeUnit::S,
                },
            },
            "rand" => Fetch::Rand {
                range: int_arg(args, 0),
            },
            "req.body" => Fetch::ReqBody,
            "req.len" | "req_len" => Fetch::ReqLen,
            "req.payload" => Fetch::ReqPayload {
                off: usize::try_from(int_arg(args, 0).unwrap_or(0))
                    .map_err(|_| bad("negative offset".into()))?,
                len: usize::try_from(int_arg(args, 1).unwrap_or(0))
                    .map_err(|_| bad("negative length".into()))?,
            },
            "req.ssl_hello_type" | "req_ssl_hello_type" => Fetch::ReqSslHelloType,
            "req.ssl_sni" | "req_ssl_sni" => Fetch::ReqSslSni,
            _ => return Err(not_implemented("sample fetch", name)),
        })
    }

    /// Produces the fetch's values: every occurrence when `iterate` (ACLs), else the one
    /// HAProxy picks for a single value. `emit` returns false to stop.
    pub fn run<'s>(
        &'s self,
        ctx: &EvalCtx<'s>,
        iterate: bool,
        emit: &mut dyn FnMut(Smp<'s>) -> bool,
    ) {
        match self {
            Fetch::Hdr {
                chan,
                name,
                occ,
                full,
                out,
            } => {
                let (Some(h), Some(name)) = (headers(ctx, *chan), name.as_deref()) else {
                    return;
                };
                let convert = |v: &'s [u8]| -> Option<Smp<'s>> {
                    match out {
                        HdrOut::Str => Some(Smp::bytes(v)),
                        HdrOut::Int => Some(Smp::Int(strl2ic(v))),
                        HdrOut::Ip => hdr_ip(v).map(Smp::Ip),
                    }
                };
                if iterate && *occ == 0 {
                    for v in HdrValues::new(h, name, *full) {
                        if let Some(s) = convert(v)
                            && !emit(s)
                        {
                            return;
                        }
                    }
                } else {
                    let occ = if *occ == 0 { -1 } else { *occ };
                    if let Some(s) = nth_value(h, name, *full, occ).and_then(convert) {
                        emit(s);
                    }
                }
            }
            Fetch::Cook { chan, name, int } => {
                let chan = resolve(ctx, *chan);
                let Some(h) = headers(ctx, chan) else {
                    return;
                };
                let convert = |v: &'s [u8]| {
                    if *int {
                        Smp::Int(strl2ic(v))
                    } else {
                        Smp::bytes(v)
                    }
                };
                let mut all = cookies(h, name.as_bytes(), chan == Chan::Req);
                if iterate {
                    for v in all {
                        if !emit(convert(v)) {
                            return;
                        }
                    }
                } else {
                    // The first cookie when no name is given, else the last of that name.
                    let v = if name.is_empty() {
                        all.next()
                    } else {
                        all.last()
                    };
                    if let Some(v) = v {
                        emit(convert(v));
                    }
                }
            }
            Fetch::UrlParam { name, delim, int } => {
                let Some(req) = ctx.req else {
                    return;
                };
                let convert = |v: &'s [u8]| {
                    if *int {
                        Smp::Int(strl2ic(v))
                    } else {
                        Smp::bytes(v)
                    }
                };
                let mut all = params(req.uri.as_bytes(), name.as_bytes(), *delim);
                if iterate {
                    for v in all {
                        if !emit(convert(v)) {
                            return;
                        }
                    }
                } else if let Some(v) = all.next() {
                    emit(convert(v));
                }
            }
            other => {
                if let Some(v) = other.one(ctx) {
                    emit(v);
                }
            }
        }
    }

    /// The value of a single-valued fetch.
    fn one<'s>(&'s self, ctx: &EvalCtx<'s>) -> Option<Smp<'s>> {
        let req = || ctx.req;
        let res = || ctx.res;
        Some(match self {
            Fetch::Const(v) => match v {
                Smp::Str(s) => Smp::Str(Cow::Borrowed(s)),
                Smp::Bin(b) => Smp::Bin(Cow::Borrowed(b)),
                other => other.clone(),
            },
            Fetch::Env(name) => {
                let v = std::env::var_os(name)?;
                Smp::Str(Cow::Owned(v.into_encoded_bytes()))
            }
            Fetch::Var { name, default } => match ctx.vars.get(name) {
                Some(v) => Smp::from_value(v),
                None => Smp::text(default.as_deref()?),
            },
            Fetch::Src => Smp::Ip(ctx.conn.src?.ip()),
            Fetch::SrcPort => Smp::Int(ctx.conn.src?.port() as i64),
            Fetch::Dst => Smp::Ip(ctx.conn.dst?.ip()),
            Fetch::DstPort => Smp::Int(ctx.conn.dst?.port() as i64),
            Fetch::SslFc => Smp::Bool(ctx.conn.ssl),
            Fetch::FcErr => Smp::Int(0),
            Fetch::SslErr if ctx.conn.ssl => Smp::Int(0),
            Fetch::SslErr => return None,
            Fetch::SslFcIsResumed => Smp::Bool(false),
            Fetch::SslFcHasSni => Smp::Bool(ctx.conn.ssl && ctx.conn.sni.is_some()),
            Fetch::SslFcSni => Smp::text(ctx.conn.sni.as_deref().filter(|_| ctx.conn.ssl)?),
            Fetch::SslFcProtocol => {
                Smp::text(ctx.conn.ssl_version.as_deref().filter(|_| ctx.conn.ssl)?)
            }
            Fetch::SslFcCipher => {
                Smp::text(ctx.conn.ssl_cipher.as_deref().filter(|_| ctx.conn.ssl)?)
            }
            Fetch::SslFcAlpn => Smp::text(ctx.conn.alpn.as_deref().filter(|_| ctx.conn.ssl)?),
            Fetch::SslCUsed => Smp::Bool(ctx.conn.ssl && ctx.conn.client_cert),
            // A certificate that fails verification aborts the handshake (no
            // `crt-ignore-err` here): a connection that got this far has none to report.
            Fetch::SslCVerify => Smp::Int(0),
            Fetch::FeName => Smp::text(&ctx.info.frontend),
            Fetch::BeName => Smp::text(ctx.info.backend.as_deref()?),
            Fetch::CapturedHdr { res, idx } => {
                let c = &ctx.info.captures;
                let v = if *res { &c.res_headers } else { &c.req_headers };
                Smp::text(v.get(*idx)?.as_deref()?)
            }
            Fetch::SrvName => Smp::text(ctx.info.server.as_deref()?),
            Fetch::ProtoHttp => {
                req()?;
                Smp::Bool(true)
            }
            Fetch::Path => Smp::text(path_only(&req()?.uri)?),
            Fetch::PathQ => Smp::text(uri_path(&req()?.uri)?),
            Fetch::Url => Smp::text(&req()?.uri),
            Fetch::Base { with_query } => base(req()?, *with_query)?,
            Fetch::Base32 => Smp::Int(base32(req()?) as i64),
            Fetch::Query => {
                let uri = &req()?.uri;
                Smp::text(&uri[uri.find('?')? + 1..])
            }
            Fetch::Method => Smp::text(&req()?.method),
            Fetch::ReqVer => Smp::text(short_version(req()?.version)),
            Fetch::ReqVerFull => Smp::text(req()?.version.as_str()),
            Fetch::ResVer => Smp::text(short_version(res()?.version)),
            Fetch::ResVerFull => Smp::text(res()?.version.as_str()),
            Fetch::Status => Smp::Int(res()?.status as i64),
            Fetch::HdrCnt { chan, name, full } => {
                Smp::Int(HdrValues::new(headers(ctx, *chan)?, name, *full).count() as i64)
            }
            Fetch::HdrNames { chan, delim } => {
                let h = headers(ctx, *chan)?;
                let mut out = Vec::new();
                for (i, hd) in h.iter().enumerate() {
                    if i > 0 {
                        out.push(*delim);
                    }
                    out.extend_from_slice(hd.name.as_bytes());
                }
                Smp::Str(Cow::Owned(out))
            }
            Fetch::CookCnt { chan, name } => {
                let chan = resolve(ctx, *chan);
                let h = headers(ctx, chan)?;
                Smp::Int(cookies(h, name.as_bytes(), chan == Chan::Req).count() as i64)
            }
            Fetch::Date { offset, unit } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let base = match unit {
                    TimeUnit::S => now.as_secs() as i64,
                    TimeUnit::Ms => now.as_millis() as i64,
                    TimeUnit::Us => now.as_micros() as i64,
                };
                Smp::Int(base.saturating_add(*offset))
            }
            Fetch::Rand { range } => {
                let r = random_u32() as i64;
                Smp::Int(match range {
                    Some(n) => ((r as i128 * *n as i128) >> 32) as i64,
                    None => r,
                })
            }
            Fetch::ReqLen => {
                let n = match (&ctx.conn.payload, ctx.conn.http_req_len) {
                    (Some(p), _) => {
                        // The length may still grow: a rule it fails waits (HAProxy's
                        // MAY_CHANGE).
                        ctx.conn.payload_short.raise();
                        p.len()
                    }
                    // An HTTP request: parsed already, its size is final.
                    (None, Some(n)) => n,
                    (None, None) => return None,
                };
                Smp::Int(n as i64)
            }
            Fetch::ReqPayload { off, len } => {
                let b = ctx.conn.payload.as_deref()?;
                // Length 0: everything from the offset on (as HAProxy).
                let end = if *len == 0 {
                    b.len().max(*off)
                } else {
                    off + len
                };
                match b.get(*off..end) {
                    Some(v) => Smp::Bin(Cow::Borrowed(v)),
                    None => {
                        ctx.conn.payload_short.raise();
                        return None;
                    }
                }
            }
            Fetch::ReqSslHelloType => {
                match crate::runtime::inspect::hello_type(ctx.conn.payload.as_deref()?) {
                    Ok(t) => Smp::Int(i64::from(t)),
                    Err(short) => {
                        if short {
                            ctx.conn.payload_short.raise();
                        }
                        return None;
                    }
                }
            }
            Fetch::ReqSslSni => {
                match crate::runtime::inspect::client_hello_sni(ctx.conn.payload.as_deref()?) {
                    Ok(n) => Smp::text(n),
                    Err(short) => {
                        if short {
                            ctx.conn.payload_short.raise();
                        }
                        return None;
                    }
                }
            }
            Fetch::ReqBody => {
                req()?;
                Smp::Bin(Cow::Borrowed(
                    ctx.info.req_body.as_deref().unwrap_or_default(),
                ))
            }
            Fetch::Hdr { .. } | Fetch::Cook { .. } | Fetch::UrlParam { .. } => {
                let mut first = None;
                self.run(ctx, false, &mut |v| {
                    first = Some(v);
                    false
                });
                first?
            }
        })
    }
}

fn resolve(ctx: &EvalCtx, chan: Chan) -> Chan {
    match chan {
        Chan::Auto if ctx.res.is_some() => Chan::Res,
        Chan::Auto => Chan::Req,
        other => other,
    }
}

fn headers<'s>(ctx: &EvalCtx<'s>, chan: Chan) -> Option<&'s Headers> {
    match resolve(ctx, chan) {
        Chan::Res => ctx.res.map(|r| &r.headers),
        _ => ctx.req.map(|r| &r.headers),
    }
}

fn short_version(v: Version) -> &'static str {
    match v {
        Version::H10 => "1.0",
        Version::H11 => "1.1",
    }
}

/// An address in a header: IPv4, IPv4 with `:port`, or IPv6.
fn hdr_ip(v: &[u8]) -> Option<IpAddr> {
    if let Some(ip @ IpAddr::V4(_)) = parse_ip(v) {
        return Some(ip);
    }
    if let Some(i) = v.iter().position(|&c| c == b':')
        && let Some(ip @ IpAddr::V4(_)) = parse_ip(&v[..i])
    {
        let port = &v[i + 1..];
        if port.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(port)
                .ok()
                .is_some_and(|p| p.is_empty() || p.parse::<u16>().is_ok())
        {
            return Some(ip);
        }
    }
    match parse_ip(v) {
        Some(ip @ IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

/// `base`: the first Host value followed by the path, or the path alone without a Host.
fn base<'s>(req: &'s crate::runtime::http::head::RequestHead, with_query: bool) -> Option<Smp<'s>> {
    let path = |uri: &'s str| {
        if with_query {
            uri_path(uri)
        } else {
            path_only(uri)
        }
    };
    let host = HdrValues::new(&req.headers, "host", false)
        .next()
        .filter(|h| !h.is_empty());
    let Some(host) = host else {
        return path(&req.uri).map(Smp::text);
    };
    let mut out = host.to_vec();
    if let Some(p) = path(&req.uri).filter(|p| p.starts_with('/')) {
        out.extend_from_slice(p.as_bytes());
    }
    Some(Smp::Str(Cow::Owned(out)))
}

/// `base32`: the sdbm-style hash of the Host value and the path, then avalanched.
fn base32(req: &crate::runtime::http::head::RequestHead) -> u32 {
    let mut hash: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for &c in bytes {
            hash = (c as u32)
                .wrapping_add(hash << 6)
                .wrapping_add(hash << 16)
                .wrapping_sub(hash);
        }
    };
    if let Some(h) = HdrValues::new(&req.headers, "host", false).next() {
        add(h);
    }
    if let Some(p) = path_only(&req.uri).filter(|p| p.starts_with('/')) {
        add(p.as_bytes());
    }
    super::conv::full_hash(hash)
}

/// A fast non-cryptographic random number (`rand`).
fn random_u32() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            (t.as_nanos() as u64) ^ (std::process::id() as u64) << 32 | 1
        });
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    })
}
