//! Servers and `default-server` parameters.

use std::path::PathBuf;
use std::time::Duration;

use super::proxy::{TlsVersion, Verify};
use super::types::ServerAddr;
use crate::config::source::Span;

/// Settings a `server` line may carry, which `default-server` presets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerParams {
    pub check: bool,
    pub check_port: Option<u16>,
    pub check_addr: Option<std::net::IpAddr>,
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    pub rise: u32,
    pub fall: u32,
    pub weight: u32,
    pub backup: bool,
    pub disabled: bool,
    pub maxconn: Option<u32>,
    pub minconn: Option<u32>,
    pub maxqueue: Option<u32>,
    pub slowstart: Option<Duration>,
    pub send_proxy: Option<ProxyProtocol>,
    pub check_send_proxy: bool,
    pub observe: Option<Observe>,
    pub error_limit: u32,
    pub on_error: OnError,
    pub ssl: Option<ServerSsl>,
    /// `check-ssl` (`Some(true)`) / `no-check-ssl` (`Some(false)`); `None`: checks follow
    /// the server's `ssl` when no `port`/`addr` sends them elsewhere.
    pub check_ssl: Option<bool>,
    pub init_addr: Vec<InitAddr>,
    pub resolvers: Option<String>,
    pub proto: Option<String>,
    /// `agent-check` / `no-agent-check`: run the auxiliary agent check.
    pub agent_check: bool,
    /// `agent-port`: where the agent listens (required by `agent-check`).
    pub agent_port: Option<u16>,
    /// `agent-addr`: the agent's address (else the server's).
    pub agent_addr: Option<std::net::IpAddr>,
    /// `agent-inter`: the agent's interval (HAProxy's default 2 s).
    pub agent_inter: Option<Duration>,
    /// `agent-send`: bytes sent to the agent once connected.
    pub agent_send: Option<String>,
    /// `on-marked-down shutdown-sessions`: sessions on the server end when it goes DOWN.
    pub on_marked_down_shutdown: bool,
    /// `on-marked-up shutdown-backup-sessions`: an active server coming UP ends the
    /// sessions on the backend's backup servers.
    pub on_marked_up_shutdown_backup: bool,
    /// `check-alpn`: the ALPN protocols TLS checks offer (instead of `alpn`).
    pub check_alpn: Option<Vec<String>>,
}

impl Default for ServerParams {
    fn default() -> Self {
        ServerParams {
            check: false,
            check_port: None,
            check_addr: None,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            weight: 1,
            backup: false,
            disabled: false,
            maxconn: None,
            minconn: None,
            maxqueue: None,
            slowstart: None,
            send_proxy: None,
            check_send_proxy: false,
            observe: None,
            error_limit: 10,
            on_error: OnError::FailCheck,
            ssl: None,
            check_ssl: None,
            init_addr: vec![InitAddr::Last, InitAddr::Libc],
            resolvers: None,
            proto: None,
            agent_check: false,
            agent_port: None,
            agent_addr: None,
            agent_inter: None,
            agent_send: None,
            on_marked_down_shutdown: false,
            on_marked_up_shutdown_backup: false,
            check_alpn: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    Layer4,
    Layer7,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    FastInter,
    FailCheck,
    SuddenDeath,
    MarkDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitAddr {
    Last,
    Libc,
    None,
    Ip(std::net::IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSsl {
    /// `ssl`: traffic to the server is TLS. The options below may be set without it
    /// (for `check-ssl`, `tcp-check connect ssl`).
    pub enabled: bool,
    pub verify: Option<Verify>,
    pub ca_file: Option<PathBuf>,
    /// `crl-file`: the CRLs the server's certificate is checked against.
    pub crl_file: Option<PathBuf>,
    pub crt: Option<PathBuf>,
    /// `sni EXPR` kept as the sample expression text's typed form.
    pub sni: Option<super::expr::Sample>,
    pub alpn: Vec<String>,
    pub verifyhost: Option<String>,
    pub min_ver: Option<TlsVersion>,
    pub max_ver: Option<TlsVersion>,
    pub ciphers: Option<String>,
    pub ciphersuites: Option<String>,
    /// `check-sni`: the SNI a TLS health check sends.
    pub check_sni: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub addr: ServerAddr,
    /// Addresses resolved at load time (hostnames), empty for literal IPs.
    pub resolved: Vec<std::net::IpAddr>,
    pub id: Option<u32>,
    pub cookie: Option<String>,
    pub params: ServerParams,
    pub span: Span,
}
