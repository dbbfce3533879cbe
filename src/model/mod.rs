//! The validated, defaults-resolved configuration model: what the runtime is built from.
//! It holds typed values only (no configuration words); spans are kept so that runtime
//! messages can still point at the line a setting came from.

pub mod errors;
pub mod expr;
pub mod proxy;
pub mod server;
pub mod types;

pub use proxy::*;
pub use server::*;

use crate::config::source::Span;
use std::path::PathBuf;
use std::time::Duration;

/// A whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: Global,
    /// Frontends, backends and listens, in declaration order.
    pub proxies: Vec<Proxy>,
    pub userlists: Vec<Userlist>,
    /// `http-errors` sections.
    pub http_errors: Vec<HttpErrors>,
}

/// An `http-errors NAME` section: error pages that proxies import with `errorfiles`.
#[derive(Debug, Clone, Default)]
pub struct HttpErrors {
    pub name: String,
    pub pages: std::collections::BTreeMap<u16, ErrorPage>,
    pub span: Span,
}

impl Config {
    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|p| p.name == name && p.caps.backend)
    }
}

/// The `global` section.
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub logs: Vec<LogTarget>,
    pub log_tag: Option<String>,
    pub log_send_hostname: Option<String>,
    pub maxconn: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chroot: Option<PathBuf>,
    pub daemon: bool,
    pub master_worker: bool,
    pub pidfile: Option<PathBuf>,
    pub nbthread: Option<u32>,
    /// `nosplice`: never use kernel splicing, whatever the proxies' options say.
    pub nosplice: bool,
    pub stats_sockets: Vec<StatsSocket>,
    pub stats_timeout: Option<Duration>,
    pub stats_maxconn: Option<u32>,
    pub tune_bufsize: Option<u64>,
    pub tune_maxrewrite: Option<u64>,
    /// `tune.pipesize`: the kernel pipe size for splicing (None: the system's default).
    pub tune_pipesize: Option<u64>,
    pub tune_http_maxhdr: Option<u32>,
    /// `tune.h2.*`: the HTTP/2 settings announced to clients.
    pub tune_h2: TuneH2,
    /// `h2-workaround-bogus-websocket-clients`: no RFC 8441 WebSocket announced to
    /// HTTP/2 clients.
    pub h2_no_websocket: bool,
    pub ssl_default_bind: SslDefaults,
    pub ssl_default_server: SslDefaults,
    /// `ssl-server-verify`: the servers' `verify` when a server line says none
    /// (`None`: HAProxy's default, required).
    pub ssl_server_verify: Option<crate::model::proxy::Verify>,
    pub hard_stop_after: Option<Duration>,
    /// Percentage of random spread applied to check intervals.
    pub spread_checks: Option<u32>,
    pub debug: bool,
    pub quiet: bool,
    pub zero_warning: bool,
    pub node: Option<String>,
    pub description: Option<String>,
    pub ca_base: Option<PathBuf>,
    pub crt_base: Option<PathBuf>,
    /// `setenv`/`presetenv`/`resetenv`/`unsetenv`, in order, applied at start.
    pub env_ops: Vec<EnvOp>,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate`: the most connections, sessions and TLS
    /// sessions accepted per second by the whole process (None or 0: no limit).
    pub maxconnrate: Option<u32>,
    pub maxsessrate: Option<u32>,
    pub maxsslrate: Option<u32>,
}

/// `tune.h2.*` as written (`None`: HAProxy's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TuneH2 {
    /// `tune.h2.header-table-size`, 4096 to 65536.
    pub header_table_size: Option<u32>,
    /// `tune.h2.initial-window-size`, 0 to 2^31-1.
    pub initial_window_size: Option<u32>,
    /// `tune.h2.max-concurrent-streams`, 0 (no limit) to 2^31-1.
    pub max_concurrent_streams: Option<u32>,
    /// `tune.h2.max-frame-size`, 16384 to 16777215.
    pub max_frame_size: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOp {
    Set(String, String),
    Preset(String, String),
    Reset(Vec<String>),
    Unset(Vec<String>),
}

/// `ssl-default-{bind,server}-{ciphers,ciphersuites,options}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslDefaults {
    pub ciphers: Option<String>,
    pub ciphersuites: Option<String>,
    pub options: Vec<String>,
}

/// `stats socket ADDR [options]` in `global`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub addr: types::BindAddr,
    pub mode: Option<u32>,
    pub level: CliLevel,
    pub expose_fd_listeners: bool,
    /// `severity-output`: how messages of the runtime API are prefixed.
    pub severity_output: CliSeverity,
    pub span: Span,
}

/// `severity-output none|number|string` of a stats socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CliSeverity {
    #[default]
    None,
    /// `[3]: message`
    Number,
    /// `[err]: message`
    String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CliLevel {
    User,
    Operator,
    #[default]
    Admin,
}

/// A `log` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub dest: LogDest,
    pub max_len: Option<u32>,
    pub format: LogFormatKind,
    /// `sample RANGES:SIZE`: which messages (1-based, within each group of SIZE) are sent.
    pub sample: Option<(Vec<(u32, u32)>, u32)>,
    pub facility: u8,
    pub level: Option<u8>,
    pub min_level: Option<u8>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    Udp(std::net::SocketAddr),
    Unix(PathBuf),
    Stdout,
    Stderr,
    Fd(u32),
    Ring(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormatKind {
    #[default]
    Rfc3164,
    Rfc5424,
    Short,
    Raw,
    Iso,
    Local,
    Timed,
    Priority,
}

/// Syslog facilities, in their numeric order.
pub const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog severities, in their numeric order.
pub const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// A `userlist` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Userlist {
    pub name: String,
    pub groups: Vec<(String, Vec<String>)>,
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: Password,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `password HASH`: a crypt(3) hash.
    Hashed(String),
    /// `insecure-password TEXT`.
    Plain(String),
}
