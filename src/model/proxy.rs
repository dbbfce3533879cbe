//! Proxies (`frontend`, `backend`, `listen`, and `defaults` as their template): modes,
//! listeners, timeouts, options, balancing, persistence, rules and error pages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::LogTarget;
use super::expr::{AclCriterion, Condition, LogFormat, Sample};
use super::server::{Server, ServerParams};
use super::types::{BindAddr, ServerAddr};
use crate::config::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
    /// 1.x `mode health`: accepted by old configs, answers "OK" and closes.
    Health,
}

/// Which halves a proxy has: a `listen` is both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub frontend: bool,
    pub backend: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Proxy {
    pub name: String,
    /// The section header line.
    pub span: Span,
    pub caps: Caps,
    /// Forced `id`, else assigned in declaration order.
    pub id: Option<u32>,
    pub mode: Mode,
    pub disabled: bool,
    pub description: Option<String>,
    pub binds: Vec<Bind>,
    pub maxconn: Option<u32>,
    pub fullconn: Option<u32>,
    pub backlog: Option<u32>,
    pub retries: u32,
    /// `retry-on`: which failures an HTTP request is retried on (within `retries`).
    pub retry_on: RetryOn,
    pub timeouts: Timeouts,
    pub options: Options,
    pub balance: Balance,
    pub hash_type: HashType,
    pub cookie: Option<CookieCfg>,
    pub servers: Vec<Server>,
    pub default_server: ServerParams,
    /// 1.x `dispatch ADDR`: the single server of a proxy without servers.
    pub dispatch: Option<ServerAddr>,
    pub acls: Vec<AclDef>,
    pub use_backends: Vec<UseBackend>,
    pub default_backend: Option<String>,
    pub use_servers: Vec<UseServer>,
    pub force_persist: Vec<Condition>,
    pub ignore_persist: Vec<Condition>,
    pub http_request: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    pub tcp_request_connection: Vec<TcpRule>,
    pub tcp_request_content: Vec<TcpRule>,
    pub inspect_delay: Option<Duration>,
    /// `redirect` statements (evaluated after `http-request` rules, as in HAProxy).
    pub redirects: Vec<RedirectRule>,
    /// 1.x `req*`/`rsp*` regex rules, kept with their 1.x meaning.
    pub legacy_rules: Vec<LegacyRule>,
    pub errorfiles: BTreeMap<u16, ErrorPage>,
    /// `errorfiles NAME [CODE...]` naming an `http-errors` section declared further down,
    /// resolved once every section is read.
    pub errorfiles_refs: Vec<ErrorfilesRef>,
    pub captures: Vec<Capture>,
    pub logs: Vec<LogTarget>,
    pub log_format: Option<LogFormat>,
    /// `log-format-sd`: RFC 5424 structured data of the traffic logs.
    pub log_format_sd: Option<LogFormat>,
    /// `error-log-format`: the line of a connection that failed before any transaction.
    pub error_log_format: Option<LogFormat>,
    pub log_tag: Option<String>,
    pub stats: Option<StatsCfg>,
    pub monitor_uri: Option<String>,
    pub monitor_fail: Vec<Condition>,
    pub http_check: HttpCheckCfg,
    pub tcp_checks: Vec<TcpCheckStep>,
    pub http_reuse: HttpReuse,
    pub rate_limit_sessions: Option<u32>,
    pub unique_id_format: Option<LogFormat>,
    pub unique_id_header: Option<String>,
    pub max_keep_alive_queue: Option<i64>,
    /// 1.x `monitor-net`: connections from these networks get a health answer.
    pub monitor_net: Vec<ipnet::IpNet>,
    /// 1.x `transparent` / `option transparent`.
    pub transparent: bool,
}

/// `retry-on` events. `Default` is HAProxy's: connection failures only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// The connection failed and the request could not be sent.
    pub conn_failure: bool,
    /// The server closed (or reset) after the request was sent, before any response byte.
    pub empty_response: bool,
    /// The server sent something that is not a complete, valid response head.
    pub junk_response: bool,
    /// `timeout server` struck while waiting for the response head.
    pub response_timeout: bool,
    /// Accepted for compatibility; rproxy sends no TLS early data, so it never applies.
    pub zero_rtt_rejected: bool,
    /// Response status codes whose response is dropped and the request retried.
    pub statuses: Vec<u16>,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            conn_failure: true,
            ..RetryOn::none()
        }
    }
}

impl RetryOn {
    /// `retry-on none`: never retry.
    pub fn none() -> Self {
        RetryOn {
            conn_failure: false,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            zero_rtt_rejected: false,
            statuses: Vec::new(),
        }
    }
    /// The status codes `retry-on` accepts.
    pub const STATUSES: &'static [u16] = &[401, 403, 404, 408, 425, 500, 501, 502, 503, 504];

    /// Whether any event other than a connection failure is retried: those need the
    /// request kept for a replay.
    pub fn after_send(&self) -> bool {
        self.empty_response
            || self.junk_response
            || self.response_timeout
            || !self.statuses.is_empty()
    }
}

/// One `bind` line's listener (a line with several addresses gives one per address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub addr: BindAddr,
    pub name: Option<String>,
    pub id: Option<u32>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    pub accept_proxy: bool,
    pub v4v6: bool,
    pub v6only: bool,
    pub transparent: bool,
    pub defer_accept: bool,
    pub tfo: bool,
    pub interface: Option<String>,
    /// Unix socket ownership and mode.
    pub unix_mode: Option<u32>,
    pub unix_uid: Option<u32>,
    pub unix_gid: Option<u32>,
    pub ssl: Option<BindSsl>,
    pub span: Span,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindSsl {
    pub crts: Vec<PathBuf>,
    pub crt_lists: Vec<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// `crl-file`: the CRLs client certificates are checked against.
    pub crl_file: Option<PathBuf>,
    pub verify: Option<Verify>,
    pub alpn: Vec<String>,
    pub strict_sni: bool,
    pub min_ver: Option<TlsVersion>,
    pub max_ver: Option<TlsVersion>,
    pub ciphers: Option<String>,
    pub ciphersuites: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s {
            "SSLv3" => TlsVersion::Ssl3,
            "TLSv1.0" => TlsVersion::Tls10,
            "TLSv1.1" => TlsVersion::Tls11,
            "TLSv1.2" => TlsVersion::Tls12,
            "TLSv1.3" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    None,
    Optional,
    Required,
}

/// Every `timeout` a proxy can carry; `None` = not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub connect: Option<Duration>,
    pub http_request: Option<Duration>,
    pub http_keep_alive: Option<Duration>,
    pub queue: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub check: Option<Duration>,
    pub tarpit: Option<Duration>,
}

/// HTTP connection handling (`option http-keep-alive|http-server-close|httpclose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnMode {
    #[default]
    KeepAlive,
    ServerClose,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogStyle {
    /// Neither `option httplog` nor `option tcplog`.
    #[default]
    Default,
    Tcp,
    Http,
    HttpClf,
    /// `option httpslog`.
    Https,
}

/// `option` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub log_style: LogStyle,
    /// `option logasap`: the line is sent when the response head is forwarded.
    pub logasap: bool,
    pub dontlognull: bool,
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: errors are logged at `err` rather than `info`.
    pub log_separate_errors: bool,
    pub log_health_checks: bool,
    pub http_conn_mode: HttpConnMode,
    pub http_pretend_keepalive: bool,
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<OriginalTo>,
    /// `option redispatch [interval]`.
    pub redispatch: Option<i32>,
    pub persist: bool,
    pub allbackups: bool,
    pub prefer_last_server: bool,
    pub check: CheckKind,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    pub abortonclose: bool,
    pub checkcache: bool,
    pub splice_auto: bool,
    pub splice_request: bool,
    pub splice_response: bool,
    pub http_buffer_request: bool,
    /// `option socket-stats`: one stats row per listener.
    pub socket_stats: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    pub except: Option<ipnet::IpNet>,
    pub header: String,
    pub if_none: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalTo {
    pub except: Option<ipnet::IpNet>,
    pub header: String,
}

/// Which active check a backend's servers run (`option httpchk`, `smtpchk` ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CheckKind {
    /// A plain TCP connect.
    #[default]
    Tcp,
    Http(HttpChk),
    Smtp {
        helo: String,
        domain: String,
    },
    Mysql {
        user: Option<String>,
        post41: bool,
    },
    Pgsql {
        user: String,
    },
    Redis,
    Ldap,
    SslHello,
    /// `option tcp-check`: the `tcp-check` steps.
    TcpCheck,
}

/// `option httpchk [METHOD] [URI] [VERSION]`, with 1.x `\r\nHeader: value` tails split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpChk {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    /// What follows the tail's empty line (`\r\n\r\nbody`), sent as the body.
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpCheckCfg {
    pub send: Option<HttpCheckSend>,
    pub expects: Vec<HttpCheckExpect>,
    pub disable_on_404: bool,
    pub send_state: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpCheckSend {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheckExpect {
    pub negate: bool,
    pub matcher: ExpectMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectMatch {
    Status(Vec<(u16, u16)>),
    RStatus(String),
    String(String),
    RString(String),
    Binary(Vec<u8>),
    RBinary(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckStep {
    Connect {
        port: Option<u16>,
        ssl: bool,
        send_proxy: bool,
        /// `default`: the server's check settings apply (`check-ssl` ...).
        default: bool,
    },
    Send(Vec<u8>),
    Expect {
        negate: bool,
        matcher: ExpectMatch,
    },
    Comment(String),
}

/// `balance` algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    Uri {
        whole: bool,
        len: Option<u32>,
        depth: Option<u32>,
    },
    UrlParam {
        param: String,
        check_post: Option<u32>,
    },
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    Random {
        draws: u32,
    },
    RdpCookie {
        name: String,
    },
}

impl Balance {
    pub fn name(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::LeastConn => "leastconn",
            Balance::First => "first",
            Balance::Source => "source",
            Balance::Uri { .. } => "uri",
            Balance::UrlParam { .. } => "url_param",
            Balance::Hdr { .. } => "hdr",
            Balance::Random { .. } => "random",
            Balance::RdpCookie { .. } => "rdp-cookie",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    #[default]
    MapBased,
    Consistent,
}

/// `cookie NAME [rewrite|insert|prefix] ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieCfg {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    pub domains: Vec<String>,
    pub maxidle: Option<Duration>,
    pub maxlife: Option<Duration>,
    pub dynamic: bool,
    pub attrs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// Neither insert, prefix nor rewrite: the server sets it; rproxy only reads it.
    Passive,
    Rewrite,
    Insert,
    Prefix,
}

/// `acl NAME ...`; several lines of one name are OR-ed.
#[derive(Debug, Clone)]
pub struct AclDef {
    pub name: String,
    pub criteria: Vec<AclCriterion>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct UseBackend {
    pub backend: BackendRef,
    pub cond: Option<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum BackendRef {
    Name(String),
    /// A log-format name evaluated per request (`use_backend %[req.hdr(host)]`).
    Dynamic(LogFormat),
}

#[derive(Debug, Clone)]
pub struct UseServer {
    pub server: String,
    pub cond: Option<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct HttpRule {
    pub action: HttpAction,
    pub cond: Option<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum HttpAction {
    Allow,
    Deny {
        status: Option<u16>,
        /// The answer given with `return`'s options (content-type, body, hdr), instead of
        /// the error page for the status.
        reply: Option<ReturnSpec>,
    },
    Tarpit {
        status: Option<u16>,
        reply: Option<ReturnSpec>,
    },
    Auth {
        realm: Option<String>,
    },
    Redirect(Redirect),
    Return(ReturnSpec),
    SetHeader {
        name: String,
        value: LogFormat,
    },
    AddHeader {
        name: String,
        value: LogFormat,
    },
    DelHeader {
        name: String,
    },
    ReplaceHeader {
        name: String,
        regex: String,
        replace: LogFormat,
    },
    ReplaceValue {
        name: String,
        regex: String,
        replace: LogFormat,
    },
    ReplaceUri {
        regex: String,
        replace: LogFormat,
    },
    ReplacePath {
        regex: String,
        replace: LogFormat,
    },
    SetPath(LogFormat),
    SetPathq(LogFormat),
    SetQuery(LogFormat),
    SetUri(LogFormat),
    SetMethod(LogFormat),
    SetStatus {
        status: u16,
        reason: Option<String>,
    },
    SetVar {
        name: String,
        expr: Sample,
    },
    UnsetVar {
        name: String,
    },
    UseService(String),
    SetLogLevel(String),
    Capture {
        sample: Sample,
        len: Option<u32>,
        id: Option<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct ReturnSpec {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: ReturnBody,
    pub headers: Vec<(String, LogFormat)>,
}

#[derive(Debug, Clone)]
pub enum ReturnBody {
    None,
    /// `default-errorfiles`: the proxy's error page for the status.
    DefaultError,
    Errorfile(PathBuf, Vec<u8>),
    File(PathBuf, Vec<u8>),
    String(String),
    LfString(LogFormat),
    LfFile(PathBuf, LogFormat),
}

#[derive(Debug, Clone)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub code: u16,
    pub drop_query: bool,
    pub append_slash: bool,
    pub set_cookie: Option<String>,
    pub clear_cookie: Option<String>,
}

#[derive(Debug, Clone)]
pub enum RedirectKind {
    Location(LogFormat),
    Prefix(LogFormat),
    Scheme(LogFormat),
}

#[derive(Debug, Clone)]
pub struct RedirectRule {
    pub redirect: Redirect,
    pub cond: Option<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct TcpRule {
    pub action: TcpAction,
    pub cond: Option<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TcpAction {
    Accept,
    Reject,
    ExpectProxy,
    SetVar {
        name: String,
        expr: Sample,
    },
    UseService(String),
    /// `set-log-level <level>|silent` (`tcp-request content`).
    SetLogLevel(String),
}

/// A 1.x `reqXXX`/`rspXXX` rule: a regex over whole header lines (or the request line).
#[derive(Debug, Clone)]
pub struct LegacyRule {
    pub response: bool,
    pub cond: Option<Condition>,
    pub ignore_case: bool,
    pub regex: String,
    pub action: LegacyAction,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyAction {
    /// `reqadd`/`rspadd`: append this header line (the regex is unused).
    Add(String),
    Delete,
    Replace(String),
    Allow,
    Deny,
    Pass,
    Tarpit,
    SetBackend(String),
}

/// `errorfiles NAME [CODE...]`.
#[derive(Debug, Clone)]
pub struct ErrorfilesRef {
    pub section: String,
    pub codes: Vec<u16>,
    pub span: Span,
}

/// Where an error response comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPage {
    /// `errorfile CODE FILE`: the raw HTTP response in the file.
    File { path: PathBuf, content: Vec<u8> },
    /// `errorloc`/`errorloc302`/`errorloc303`: a redirect to this location.
    Location { url: String, code: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    Cookie { name: String, len: u32 },
    RequestHeader { name: String, len: u32 },
    ResponseHeader { name: String, len: u32 },
}

/// Stats page settings of a proxy.
#[derive(Debug, Clone, Default)]
pub struct StatsCfg {
    pub enabled: bool,
    pub uri: Option<String>,
    pub realm: Option<String>,
    pub auths: Vec<(String, String)>,
    pub refresh: Option<Duration>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-modules`: the page adds the extra modules' columns (ssl, h2, h1).
    pub show_modules: bool,
    pub show_node: Option<String>,
    pub show_desc: Option<String>,
    pub scopes: Vec<String>,
    pub admin: Vec<Condition>,
    pub http_request: Vec<HttpRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}
