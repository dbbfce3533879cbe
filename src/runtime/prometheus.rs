//! `http-request use-service prometheus-exporter`: HAProxy 2.6's Prometheus exporter
//! output (text format 0.0.4) over this runtime's counters: the same metric names, types,
//! labels (`proxy`, `server`, `state`, `code`) and order, process metrics first, then
//! frontends, backends and servers, each metric with its `# HELP` and `# TYPE` lines and
//! one sample per object. Descriptions are this project's words.
//!
//! Values come from the statistics rows ([`crate::runtime::stats::collect`]), the same
//! fields `show stat` prints, mapped to metrics as HAProxy's exporter maps them: an empty
//! field is NaN, times in milliseconds become seconds. Status gauges and the backends'
//! aggregates are computed here from the servers' state. Fields the rows do not carry
//! (compression, cache) read 0.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::model::proxy::Mode;
use crate::runtime::Runtime;
use crate::runtime::backend::{Admin, ServerState};
use crate::runtime::cli::info;
use crate::runtime::proxy::ProxyRt;
use crate::runtime::stats::{self, StatRow, Value};

/// A sample's value.
enum V {
    I(i64),
    F(f64),
    Nan,
    /// One sample per label value of `key`.
    Set(&'static str, Vec<(&'static str, i64)>),
    /// No sample for this object (HAProxy leaves the metric out).
    Skip,
}

const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];
const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Process metrics: (name, type, `show info` field, description).
const PROCESS: &[(&str, &str, &str, &str)] = &[
    ("nbthread", "gauge", "Nbthread", "Threads started"),
    ("nbproc", "gauge", "Nbproc", "Worker processes (always 1)"),
    (
        "relative_process_id",
        "gauge",
        "Process_num",
        "Worker process number (1)",
    ),
    (
        "uptime_seconds",
        "gauge",
        "Uptime_sec",
        "Seconds since the process started",
    ),
    (
        "pool_failures_total",
        "counter",
        "PoolFailed",
        "Failed pool allocations",
    ),
    ("max_fds", "gauge", "Ulimit-n", "Limit on file descriptors"),
    ("max_sockets", "gauge", "Maxsock", "Limit on sockets"),
    (
        "max_connections",
        "gauge",
        "Maxconn",
        "Limit on connections (maxconn)",
    ),
    (
        "hard_max_connections",
        "gauge",
        "Hard_maxconn",
        "Hard limit on connections",
    ),
    (
        "current_connections",
        "gauge",
        "CurrConns",
        "Connections now",
    ),
    (
        "connections_total",
        "counter",
        "CumConns",
        "Connections since start",
    ),
    (
        "requests_total",
        "counter",
        "CumReq",
        "Requests since start",
    ),
    (
        "max_ssl_connections",
        "gauge",
        "MaxSslConns",
        "Limit on SSL endpoints, 0: none",
    ),
    (
        "current_ssl_connections",
        "gauge",
        "CurrSslConns",
        "SSL endpoints now",
    ),
    (
        "ssl_connections_total",
        "counter",
        "CumSslConns",
        "SSL endpoints since start",
    ),
    (
        "max_pipes",
        "gauge",
        "Maxpipes",
        "Limit on pipes for splicing, 0: none",
    ),
    ("pipes_used_total", "counter", "PipesUsed", "Pipes in use"),
    (
        "pipes_free_total",
        "counter",
        "PipesFree",
        "Pipes allocated and free",
    ),
    (
        "current_connection_rate",
        "gauge",
        "ConnRate",
        "Connections over the last second",
    ),
    (
        "limit_connection_rate",
        "gauge",
        "ConnRateLimit",
        "Limit on the connection rate",
    ),
    (
        "max_connection_rate",
        "gauge",
        "MaxConnRate",
        "Highest connection rate",
    ),
    (
        "current_session_rate",
        "gauge",
        "SessRate",
        "Sessions over the last second",
    ),
    (
        "limit_session_rate",
        "gauge",
        "SessRateLimit",
        "Limit on the session rate",
    ),
    (
        "max_session_rate",
        "gauge",
        "MaxSessRate",
        "Highest session rate",
    ),
    (
        "current_ssl_rate",
        "gauge",
        "SslRate",
        "SSL connections over the last second",
    ),
    (
        "limit_ssl_rate",
        "gauge",
        "SslRateLimit",
        "Limit on the SSL connection rate",
    ),
    (
        "max_ssl_rate",
        "gauge",
        "MaxSslRate",
        "Highest SSL connection rate",
    ),
    (
        "current_frontend_ssl_key_rate",
        "gauge",
        "SslFrontendKeyRate",
        "Frontend SSL keys over the last second",
    ),
    (
        "max_frontend_ssl_key_rate",
        "gauge",
        "SslFrontendMaxKeyRate",
        "Highest frontend SSL key rate",
    ),
    (
        "frontend_ssl_reuse",
        "gauge",
        "SslFrontendSessionReuse_pct",
        "Percent of frontend SSL sessions reused",
    ),
    (
        "current_backend_ssl_key_rate",
        "gauge",
        "SslBackendKeyRate",
        "Backend SSL keys over the last second",
    ),
    (
        "max_backend_ssl_key_rate",
        "gauge",
        "SslBackendMaxKeyRate",
        "Highest backend SSL key rate",
    ),
    (
        "ssl_cache_lookups_total",
        "counter",
        "SslCacheLookups",
        "SSL session cache lookups",
    ),
    (
        "ssl_cache_misses_total",
        "counter",
        "SslCacheMisses",
        "SSL session cache misses",
    ),
    (
        "http_comp_bytes_in_total",
        "counter",
        "CompressBpsIn",
        "Bytes into the HTTP compressor",
    ),
    (
        "http_comp_bytes_out_total",
        "counter",
        "CompressBpsOut",
        "Bytes out of the HTTP compressor",
    ),
    (
        "limit_http_comp",
        "gauge",
        "CompressBpsRateLim",
        "Limit on compressed output",
    ),
    (
        "current_zlib_memory",
        "gauge",
        "",
        "Memory used by compression",
    ),
    (
        "max_zlib_memory",
        "gauge",
        "",
        "Limit on memory used by compression",
    ),
    ("current_tasks", "gauge", "Tasks", "Tasks now"),
    (
        "current_run_queue",
        "gauge",
        "Run_queue",
        "Tasks ready to run",
    ),
    (
        "idle_time_percent",
        "gauge",
        "Idle_pct",
        "Percent of the last second spent idle",
    ),
    (
        "stopping",
        "gauge",
        "Stopping",
        "1 while the process is stopping",
    ),
    (
        "jobs",
        "gauge",
        "Jobs",
        "Active jobs (connections, listeners)",
    ),
    (
        "unstoppable_jobs",
        "gauge",
        "Unstoppable Jobs",
        "Jobs that a stop does not end",
    ),
    ("listeners", "gauge", "Listeners", "Listening sockets"),
    (
        "active_peers",
        "gauge",
        "ActivePeers",
        "Active peer connections",
    ),
    (
        "connected_peers",
        "gauge",
        "ConnectedPeers",
        "Connected peers",
    ),
    (
        "dropped_logs_total",
        "counter",
        "DroppedLogs",
        "Logs dropped",
    ),
    (
        "busy_polling_enabled",
        "gauge",
        "BusyPolling",
        "1 when busy polling is on",
    ),
    (
        "failed_resolutions",
        "counter",
        "FailedResolutions",
        "Failed DNS resolutions",
    ),
    ("bytes_out_total", "counter", "TotalBytesOut", "Bytes sent"),
    (
        "spliced_bytes_out_total",
        "counter",
        "TotalSplicdedBytesOut",
        "Bytes sent through pipes",
    ),
    (
        "bytes_out_rate",
        "gauge",
        "BytesOutRate",
        "Bytes sent over the last second",
    ),
    (
        "recv_logs_total",
        "counter",
        "CumRecvLogs",
        "Log messages received",
    ),
    ("build_info", "gauge", "Build info", "Build information"),
    (
        "max_memory_bytes",
        "gauge",
        "Memmax_bytes",
        "Limit on memory, 0: none",
    ),
    (
        "pool_allocated_bytes",
        "gauge",
        "PoolAlloc_bytes",
        "Memory allocated in pools",
    ),
    (
        "pool_used_bytes",
        "gauge",
        "PoolUsed_bytes",
        "Memory used in pools",
    ),
    (
        "start_time_seconds",
        "gauge",
        "Start_time_sec",
        "Start time (seconds since the epoch)",
    ),
];

/// Proxy and server metrics, in HAProxy's order: (name, type, description).
#[rustfmt::skip]
const FRONTEND: &[(&str, &str, &str)] = &[
    ("current_sessions", "gauge", "Sessions now"),
    ("max_sessions", "gauge", "Highest number of sessions"),
    ("limit_sessions", "gauge", "Limit on sessions (maxconn, or a backend's fullconn)"),
    ("sessions_total", "counter", "Sessions since start"),
    ("bytes_in_total", "counter", "Request bytes"),
    ("bytes_out_total", "counter", "Response bytes"),
    ("requests_denied_total", "counter", "Requests denied"),
    ("responses_denied_total", "counter", "Responses denied"),
    ("request_errors_total", "counter", "Invalid requests"),
    ("status", "gauge", "Status, one sample per state"),
    ("limit_session_rate", "gauge", "Limit on the session rate"),
    ("max_session_rate", "gauge", "Highest session rate"),
    ("http_responses_total", "counter", "HTTP responses by status class"),
    ("http_requests_rate_max", "gauge", "Highest HTTP request rate"),
    ("http_requests_total", "counter", "HTTP requests"),
    ("http_comp_bytes_in_total", "counter", "Bytes into the HTTP compressor"),
    ("http_comp_bytes_out_total", "counter", "Bytes out of the HTTP compressor"),
    ("http_comp_bytes_bypassed_total", "counter", "Bytes that bypassed the HTTP compressor"),
    ("http_comp_responses_total", "counter", "HTTP responses compressed"),
    ("connections_rate_max", "gauge", "Highest connection rate"),
    ("connections_total", "counter", "Connections accepted"),
    ("intercepted_requests_total", "counter", "HTTP requests answered by the proxy itself"),
    ("denied_connections_total", "counter", "Connections denied by tcp-request connection rules"),
    ("denied_sessions_total", "counter", "Sessions denied by tcp-request session rules"),
    ("failed_header_rewriting_total", "counter", "Failed HTTP header rewrites"),
    ("http_cache_lookups_total", "counter", "HTTP cache lookups"),
    ("http_cache_hits_total", "counter", "HTTP cache hits"),
    ("internal_errors_total", "counter", "Internal errors"),
];

/// Listener metrics (frontends with `option socket-stats`), in HAProxy's order.
#[rustfmt::skip]
const LISTENER: &[(&str, &str, &str)] = &[
    ("current_sessions", "gauge", "Sessions now"),
    ("max_sessions", "gauge", "Highest number of sessions"),
    ("limit_sessions", "gauge", "Limit on sessions (the bind's maxconn)"),
    ("sessions_total", "counter", "Sessions since start"),
    ("bytes_in_total", "counter", "Request bytes"),
    ("bytes_out_total", "counter", "Response bytes"),
    ("requests_denied_total", "counter", "Requests denied"),
    ("responses_denied_total", "counter", "Responses denied"),
    ("request_errors_total", "counter", "Invalid requests"),
    ("status", "gauge", "Status, one sample per state"),
    ("denied_connections_total", "counter", "Connections denied by tcp-request connection rules"),
    ("denied_sessions_total", "counter", "Sessions denied by tcp-request session rules"),
    ("failed_header_rewriting_total", "counter", "Failed HTTP header rewrites"),
    ("internal_errors_total", "counter", "Internal errors"),
];

#[rustfmt::skip]
const BACKEND: &[(&str, &str, &str)] = &[
    ("current_queue", "gauge", "Requests queued now"),
    ("max_queue", "gauge", "Highest number of queued requests"),
    ("current_sessions", "gauge", "Sessions now"),
    ("max_sessions", "gauge", "Highest number of sessions"),
    ("limit_sessions", "gauge", "Limit on sessions (maxconn, or a backend's fullconn)"),
    ("sessions_total", "counter", "Sessions since start"),
    ("bytes_in_total", "counter", "Request bytes"),
    ("bytes_out_total", "counter", "Response bytes"),
    ("requests_denied_total", "counter", "Requests denied"),
    ("responses_denied_total", "counter", "Responses denied"),
    ("connection_errors_total", "counter", "Failed connections to servers"),
    ("response_errors_total", "counter", "Invalid responses"),
    ("retry_warnings_total", "counter", "Connection retries"),
    ("redispatch_warnings_total", "counter", "Redispatches"),
    ("status", "gauge", "Status, one sample per state"),
    ("weight", "gauge", "Effective weight (a backend: of its active servers)"),
    ("active_servers", "gauge", "Active servers up with a non-zero weight"),
    ("backup_servers", "gauge", "Backup servers up with a non-zero weight"),
    ("check_up_down_total", "counter", "Transitions from UP to DOWN"),
    ("check_last_change_seconds", "gauge", "Seconds since the last change of state"),
    ("downtime_seconds_total", "counter", "Seconds spent DOWN"),
    ("loadbalanced_total", "counter", "Requests routed by load balancing"),
    ("max_session_rate", "gauge", "Highest session rate"),
    ("http_responses_total", "counter", "HTTP responses by status class"),
    ("http_requests_total", "counter", "HTTP requests"),
    ("client_aborts_total", "counter", "Transfers aborted by the client"),
    ("server_aborts_total", "counter", "Transfers aborted by the server"),
    ("http_comp_bytes_in_total", "counter", "Bytes into the HTTP compressor"),
    ("http_comp_bytes_out_total", "counter", "Bytes out of the HTTP compressor"),
    ("http_comp_bytes_bypassed_total", "counter", "Bytes that bypassed the HTTP compressor"),
    ("http_comp_responses_total", "counter", "HTTP responses compressed"),
    ("last_session_seconds", "gauge", "Seconds since the last session, -1: none"),
    ("queue_time_average_seconds", "gauge", "Average queue time"),
    ("connect_time_average_seconds", "gauge", "Average connect time"),
    ("response_time_average_seconds", "gauge", "Average response time"),
    ("total_time_average_seconds", "gauge", "Average total time"),
    ("failed_header_rewriting_total", "counter", "Failed HTTP header rewrites"),
    ("connection_attempts_total", "counter", "Connection attempts to servers"),
    ("connection_reuses_total", "counter", "Server connections reused"),
    ("http_cache_lookups_total", "counter", "HTTP cache lookups"),
    ("http_cache_hits_total", "counter", "HTTP cache hits"),
    ("max_queue_time_seconds", "gauge", "Longest queue time"),
    ("max_connect_time_seconds", "gauge", "Longest connect time"),
    ("max_response_time_seconds", "gauge", "Longest response time"),
    ("max_total_time_seconds", "gauge", "Longest total time"),
    ("internal_errors_total", "counter", "Internal errors"),
    ("uweight", "gauge", "User weight (a backend: of its active servers)"),
    ("agg_server_status", "gauge", "Servers per state"),
    ("agg_server_check_status", "gauge", "Servers per state"),
    ("agg_check_status", "gauge", "Servers per last check result"),
];

#[rustfmt::skip]
const SERVER: &[(&str, &str, &str)] = &[
    ("current_queue", "gauge", "Requests queued now"),
    ("max_queue", "gauge", "Highest number of queued requests"),
    ("current_sessions", "gauge", "Sessions now"),
    ("max_sessions", "gauge", "Highest number of sessions"),
    ("limit_sessions", "gauge", "Limit on sessions (maxconn)"),
    ("sessions_total", "counter", "Sessions since start"),
    ("bytes_in_total", "counter", "Request bytes"),
    ("bytes_out_total", "counter", "Response bytes"),
    ("responses_denied_total", "counter", "Responses denied"),
    ("connection_errors_total", "counter", "Failed connections"),
    ("response_errors_total", "counter", "Invalid responses"),
    ("retry_warnings_total", "counter", "Connection retries"),
    ("redispatch_warnings_total", "counter", "Redispatches"),
    ("status", "gauge", "Status, one sample per state"),
    ("weight", "gauge", "Effective weight"),
    ("check_failures_total", "counter", "Failed health checks"),
    ("check_up_down_total", "counter", "Transitions from UP to DOWN"),
    ("check_last_change_seconds", "gauge", "Seconds since the last change of state"),
    ("downtime_seconds_total", "counter", "Seconds spent DOWN"),
    ("queue_limit", "gauge", "Limit on queued requests (maxqueue)"),
    ("current_throttle", "gauge", "Slowstart throttle in percent"),
    ("loadbalanced_total", "counter", "Requests routed by load balancing"),
    ("max_session_rate", "gauge", "Highest session rate"),
    ("check_status", "gauge", "Last health check result, one sample per result"),
    ("check_code", "gauge", "Layer 5-7 code of the last health check"),
    ("check_duration_seconds", "gauge", "Duration of the last health check"),
    ("http_responses_total", "counter", "HTTP responses by status class"),
    ("client_aborts_total", "counter", "Transfers aborted by the client"),
    ("server_aborts_total", "counter", "Transfers aborted by the server"),
    ("last_session_seconds", "gauge", "Seconds since the last session, -1: none"),
    ("queue_time_average_seconds", "gauge", "Average queue time"),
    ("connect_time_average_seconds", "gauge", "Average connect time"),
    ("response_time_average_seconds", "gauge", "Average response time"),
    ("total_time_average_seconds", "gauge", "Average total time"),
    ("failed_header_rewriting_total", "counter", "Failed HTTP header rewrites"),
    ("connection_attempts_total", "counter", "Connection attempts"),
    ("connection_reuses_total", "counter", "Connections reused"),
    ("idle_connections_current", "gauge", "Idle connections available for reuse"),
    ("idle_connections_limit", "gauge", "Limit on idle connections"),
    ("max_queue_time_seconds", "gauge", "Longest queue time"),
    ("max_connect_time_seconds", "gauge", "Longest connect time"),
    ("max_response_time_seconds", "gauge", "Longest response time"),
    ("max_total_time_seconds", "gauge", "Longest total time"),
    ("internal_errors_total", "counter", "Internal errors"),
    ("unsafe_idle_connections_current", "gauge", "Idle connections that served one request"),
    ("safe_idle_connections_current", "gauge", "Idle connections that served several requests"),
    ("used_connections_current", "gauge", "Connections in use"),
    ("need_connections_current", "gauge", "Connections estimated to be needed"),
    ("uweight", "gauge", "User weight"),
];

/// The stats field a metric shows (HAProxy's exporter mapping); `None` for the metrics
/// computed here.
fn field_of(metric: &str) -> Option<&'static str> {
    Some(match metric {
        "current_queue" => "qcur",
        "max_queue" => "qmax",
        "current_sessions" => "scur",
        "max_sessions" => "smax",
        "limit_sessions" => "slim",
        "sessions_total" => "stot",
        "bytes_in_total" => "bin",
        "bytes_out_total" => "bout",
        "requests_denied_total" => "dreq",
        "responses_denied_total" => "dresp",
        "request_errors_total" => "ereq",
        "connection_errors_total" => "econ",
        "response_errors_total" => "eresp",
        "retry_warnings_total" => "wretr",
        "redispatch_warnings_total" => "wredis",
        "weight" => "weight",
        "active_servers" => "act",
        "backup_servers" => "bck",
        "check_failures_total" => "chkfail",
        "check_up_down_total" => "chkdown",
        "check_last_change_seconds" => "lastchg",
        "downtime_seconds_total" => "downtime",
        "queue_limit" => "qlimit",
        "current_throttle" => "throttle",
        "loadbalanced_total" => "lbtot",
        "limit_session_rate" => "rate_lim",
        "max_session_rate" => "rate_max",
        "check_code" => "check_code",
        "check_duration_seconds" => "check_duration",
        "http_requests_rate_max" => "req_rate_max",
        "http_requests_total" => "req_tot",
        "client_aborts_total" => "cli_abrt",
        "server_aborts_total" => "srv_abrt",
        "http_comp_bytes_in_total" => "comp_in",
        "http_comp_bytes_out_total" => "comp_out",
        "http_comp_bytes_bypassed_total" => "comp_byp",
        "http_comp_responses_total" => "comp_rsp",
        "last_session_seconds" => "lastsess",
        "queue_time_average_seconds" => "qtime",
        "connect_time_average_seconds" => "ctime",
        "response_time_average_seconds" => "rtime",
        "total_time_average_seconds" => "ttime",
        "connections_rate_max" => "conn_rate_max",
        "connections_total" => "conn_tot",
        "intercepted_requests_total" => "intercepted",
        "denied_connections_total" => "dcon",
        "denied_sessions_total" => "dses",
        "failed_header_rewriting_total" => "wrew",
        "connection_attempts_total" => "connect",
        "connection_reuses_total" => "reuse",
        "http_cache_lookups_total" => "cache_lookups",
        "http_cache_hits_total" => "cache_hits",
        "idle_connections_current" => "srv_icur",
        "idle_connections_limit" => "src_ilim",
        "max_queue_time_seconds" => "qtime_max",
        "max_connect_time_seconds" => "ctime_max",
        "max_response_time_seconds" => "rtime_max",
        "max_total_time_seconds" => "ttime_max",
        "internal_errors_total" => "eint",
        "unsafe_idle_connections_current" => "idle_conn_cur",
        "safe_idle_connections_current" => "safe_conn_cur",
        "used_connections_current" => "used_conn_cur",
        "need_connections_current" => "need_conn_est",
        "uweight" => "uweight",
        _ => return None,
    })
}

/// A metric's value from the object's stats row, if the metric is one of its fields.
fn from_row(metric: &str, row: Option<&StatRow>) -> Option<V> {
    let field = field_of(metric)?;
    let row = row?;
    let ms = metric.ends_with("time_average_seconds")
        || metric.ends_with("_time_seconds")
        || metric == "check_duration_seconds";
    Some(match row.get(field) {
        // A check without a layer 5-7 code reads 0 in HAProxy's exporter.
        Value::Empty if field == "check_code" => V::I(0),
        Value::Empty => V::Nan,
        Value::S32(n) => V::I(i64::from(*n)),
        v if ms => V::F(v.num() as f64 / 1000.0),
        v => V::I(v.num() as i64),
    })
}

fn ld(a: &std::sync::atomic::AtomicU64) -> i64 {
    a.load(Ordering::Relaxed) as i64
}

fn codes(px: &ProxyRt) -> V {
    V::Set(
        "code",
        CODES
            .iter()
            .zip(&px.counters.responses)
            .map(|(c, n)| (*c, ld(n)))
            .collect(),
    )
}

/// HAProxy's status word of a server (`UP`, `DOWN`, `MAINT`, `DRAIN`, `NOLB`).
fn server_state(s: &ServerState) -> &'static str {
    match s.admin() {
        Admin::Maint => "MAINT",
        Admin::Drain => "DRAIN",
        Admin::Ready if !s.up.load(Ordering::Relaxed) => "DOWN",
        Admin::Ready if s.weight() == 0 || s.nolb.load(Ordering::Relaxed) => "NOLB",
        Admin::Ready => "UP",
    }
}

fn one_of(key: &'static str, all: &[&'static str], hit: &str) -> V {
    V::Set(
        key,
        all.iter().map(|s| (*s, i64::from(*s == hit))).collect(),
    )
}

fn secs_since(t: SystemTime) -> i64 {
    SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn frontend_value(name: &str, px: &ProxyRt, limit: u32, row: Option<&StatRow>) -> V {
    let c = &px.counters;
    let http = px.mode == Mode::Http;
    if (name.starts_with("http_") || name == "intercepted_requests_total") && !http {
        return V::Skip;
    }
    if name != "http_responses_total"
        && let Some(v) = from_row(name, row)
    {
        return v;
    }
    match name {
        "current_sessions" => V::I(ld(&c.current)),
        "limit_sessions" => V::I(i64::from(limit)),
        "sessions_total" | "connections_total" => V::I(ld(&c.sessions)),
        "requests_denied_total" => V::I(ld(&c.denied)),
        "request_errors_total" => V::I(ld(&c.errors_req)),
        "status" => one_of(
            "state",
            &["DOWN", "UP"],
            if px.disabled { "DOWN" } else { "UP" },
        ),
        n if (n.starts_with("http_") || n == "intercepted_requests_total") && !http => V::Skip,
        "http_responses_total" => codes(px),
        "http_requests_total" => V::I(ld(&c.requests)),
        _ => V::I(0),
    }
}

fn backend_value(name: &str, px: &ProxyRt, rt: &Runtime, row: Option<&StatRow>) -> V {
    let Some(be) = &px.backend else {
        return V::Skip;
    };
    if name.starts_with("http_") && px.mode != Mode::Http {
        return V::Skip;
    }
    if !matches!(name, "http_responses_total" | "status")
        && let Some(v) = from_row(name, row)
    {
        return v;
    }
    let c = &px.counters;
    let usable = |backup: bool| {
        be.servers
            .iter()
            .filter(|s| s.backup == backup && s.usable())
            .collect::<Vec<_>>()
    };
    let tier = {
        let a = usable(false);
        if a.is_empty() { usable(true) } else { a }
    };
    match name {
        "current_queue" => V::I(i64::from(be.queued())),
        "current_sessions" => V::I(i64::from(be.cur.load(Ordering::Relaxed))),
        "limit_sessions" => V::I(i64::from(be.fullconn())),
        "sessions_total" | "loadbalanced_total" => V::I(ld(&be.total)),
        "requests_denied_total" => V::I(ld(&c.denied)),
        "connection_errors_total" => V::I(ld(&c.errors_conn)),
        "response_errors_total" => V::I(ld(&c.errors_resp)),
        "retry_warnings_total" => V::I(ld(&c.retries)),
        "redispatch_warnings_total" => V::I(ld(&c.redispatches)),
        "status" => one_of(
            "state",
            &["DOWN", "UP"],
            if be.has_usable() { "UP" } else { "DOWN" },
        ),
        "weight" | "uweight" => V::I(tier.iter().map(|s| i64::from(s.weight())).sum()),
        "active_servers" => V::I(usable(false).len() as i64),
        "backup_servers" => V::I(usable(true).len() as i64),
        "check_last_change_seconds" => V::I(secs_since(rt.cli.started)),
        "last_session_seconds" => V::I(-1),
        n if n.ends_with("time_average_seconds")
            || n.starts_with("max_") && n.ends_with("time_seconds") =>
        {
            V::F(0.0)
        }
        n if n.starts_with("http_") && px.mode != Mode::Http => V::Skip,
        "http_responses_total" => codes(px),
        "http_requests_total" => V::I(ld(&c.requests)),
        "agg_server_status" | "agg_server_check_status" => {
            let mut n = [0i64; 5];
            for s in &be.servers {
                if let Some(i) = SERVER_STATES.iter().position(|x| *x == server_state(s)) {
                    n[i] += 1;
                }
            }
            V::Set("state", SERVER_STATES.iter().copied().zip(n).collect())
        }
        "agg_check_status" => {
            let mut n = [0i64; 16];
            for s in &be.servers {
                if let Some(st) = s
                    .checker
                    .get()
                    .and_then(|c| c.snapshot().last.map(|o| o.status))
                    && let Some(i) = CHECK_STATES.iter().position(|x| *x == st.code())
                {
                    n[i] += 1;
                }
            }
            V::Set("state", CHECK_STATES.iter().copied().zip(n).collect())
        }
        _ => V::I(0),
    }
}

fn server_value(
    name: &str,
    px: &ProxyRt,
    s: &ServerState,
    rt: &Runtime,
    si: usize,
    row: Option<&StatRow>,
) -> V {
    let rec = s.checker.get().map(|c| c.snapshot());
    if matches!(name, "check_code" | "check_duration_seconds") && rec.is_none() {
        return V::Skip;
    }
    if name == "http_responses_total" {
        if px.mode != Mode::Http {
            return V::Skip;
        }
        return V::Set(
            "code",
            [
                "hrsp_1xx",
                "hrsp_2xx",
                "hrsp_3xx",
                "hrsp_4xx",
                "hrsp_5xx",
                "hrsp_other",
            ]
            .iter()
            .zip(CODES)
            .map(|(f, c)| (c, row.map_or(0, |r| r.get(f).num() as i64)))
            .collect(),
        );
    }
    if name != "status"
        && let Some(v) = from_row(name, row)
    {
        return v;
    }
    let meta = rt
        .cli
        .meta
        .proxies
        .get(px.idx)
        .and_then(|p| p.servers.get(si));
    match name {
        "current_queue" => V::I(i64::from(s.queued())),
        "current_sessions" => V::I(i64::from(s.cur())),
        "limit_sessions" => match s.maxconn_now() {
            0 => V::Nan,
            m => V::I(i64::from(m)),
        },
        "sessions_total" | "loadbalanced_total" => V::I(s.total.load(Ordering::Relaxed) as i64),
        "status" => one_of("state", &SERVER_STATES, server_state(s)),
        "weight" | "uweight" => V::I(i64::from(s.weight())),
        "check_failures_total" => rec.as_ref().map_or(V::Nan, |r| V::I(r.failed as i64)),
        "check_up_down_total" => rec.as_ref().map_or(V::Nan, |r| V::I(r.downs as i64)),
        "downtime_seconds_total" => rec
            .as_ref()
            .map_or(V::Nan, |r| V::I(r.downtime_now().as_secs() as i64)),
        "check_last_change_seconds" => {
            let mut t = meta.map(|m| m.changed()).unwrap_or(rt.cli.started);
            if let Some(r) = &rec
                && r.last_change > t
            {
                t = r.last_change;
            }
            V::I(secs_since(t))
        }
        "queue_limit" => match s.maxqueue {
            0 => V::Nan,
            q => V::I(i64::from(q)),
        },
        "current_throttle" => match s.ramp.load(Ordering::Relaxed) {
            r if r >= 1000 => V::Nan,
            r => V::I(i64::from(r / 10)),
        },
        "check_status" => match &rec {
            None => V::Skip,
            Some(r) => one_of(
                "state",
                &CHECK_STATES,
                r.last.as_ref().map(|o| o.status.code()).unwrap_or(""),
            ),
        },
        "check_code" => match &rec {
            None => V::Skip,
            Some(r) => V::I(
                r.last
                    .as_ref()
                    .and_then(|o| o.code)
                    .map(i64::from)
                    .unwrap_or(0),
            ),
        },
        "check_duration_seconds" => match &rec {
            None => V::Skip,
            Some(r) => V::F(
                r.last
                    .as_ref()
                    .map(|o| o.duration.as_secs_f64())
                    .unwrap_or(0.0),
            ),
        },
        "http_responses_total" if px.mode == Mode::Http => {
            V::Set("code", CODES.iter().map(|c| (*c, 0)).collect())
        }
        "http_responses_total" => V::Skip,
        "last_session_seconds" => V::I(-1),
        "idle_connections_limit" => V::Nan,
        n if n.ends_with("time_average_seconds")
            || n.starts_with("max_") && n.ends_with("time_seconds") =>
        {
            V::F(0.0)
        }
        _ => V::I(0),
    }
}

fn sample(out: &mut String, metric: &str, labels: &str, v: &V) {
    let lb = |extra: Option<(&str, &str)>| -> String {
        let mut l = labels.to_string();
        if let Some((k, v)) = extra {
            if !l.is_empty() {
                l.push(',');
            }
            let _ = write!(l, "{k}=\"{v}\"");
        }
        if l.is_empty() {
            String::new()
        } else {
            format!("{{{l}}}")
        }
    };
    match v {
        V::I(n) => {
            let _ = writeln!(out, "{metric}{} {n}", lb(None));
        }
        V::F(f) => {
            let _ = writeln!(out, "{metric}{} {f:.6}", lb(None));
        }
        V::Nan => {
            let _ = writeln!(out, "{metric}{} NaN", lb(None));
        }
        V::Set(key, vals) => {
            for (lv, n) in vals {
                let _ = writeln!(out, "{metric}{} {n}", lb(Some((key, lv))));
            }
        }
        V::Skip => {}
    }
}

/// Writes one metric's samples for every object: HAProxy lists `code`-labelled samples
/// class by class (all objects' `1xx`, then `2xx` ...), other label sets object by object.
fn samples(out: &mut String, metric: &str, rows: &[(String, V)]) {
    let by_code = rows.iter().any(|(_, v)| matches!(v, V::Set("code", _)));
    if !by_code {
        for (labels, v) in rows {
            sample(out, metric, labels, v);
        }
        return;
    }
    for (i, code) in CODES.iter().enumerate() {
        for (labels, v) in rows {
            if let V::Set(key, vals) = v
                && let Some((_, n)) = vals.get(i)
            {
                sample(out, metric, labels, &V::Set(key, vec![(code, *n)]));
            }
        }
    }
}

/// Escapes a label value as the text format requires.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(rt: &Runtime) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let fields = info::fields(rt);
    let stat_rows = stats::collect(rt);
    let row_of = |obj: stats::ObjType, proxy: usize, server: Option<usize>| {
        stat_rows
            .iter()
            .find(|r| r.obj == obj && r.proxy == proxy && r.server == server)
    };
    for (name, ty, field, help) in PROCESS {
        let metric = format!("haproxy_process_{name}");
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {ty}");
        if *name == "build_info" {
            let _ = writeln!(out, "{metric}{{version=\"{}\"}} 1", esc(&info::version()));
            continue;
        }
        let v = match fields.iter().find(|f| f.name == *field).map(|f| &f.val) {
            Some(info::Val::U32(n) | info::Val::U64(n)) => V::I(*n as i64),
            Some(info::Val::Str(s)) => s.parse().map(V::I).unwrap_or(V::I(0)),
            None => V::Nan,
        };
        sample(&mut out, &metric, "", &v);
    }
    let frontends: Vec<_> = rt.proxies.iter().filter(|p| p.caps.frontend).collect();
    for (name, ty, help) in FRONTEND {
        let metric = format!("haproxy_frontend_{name}");
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {ty}");
        let rows: Vec<(String, V)> = frontends
            .iter()
            .map(|px| {
                let limit = rt
                    .cli
                    .meta
                    .proxies
                    .get(px.idx)
                    .map_or(rt.maxconn, |m| m.maxconn);
                let row = row_of(stats::ObjType::Frontend, px.idx, None);
                (
                    format!("proxy=\"{}\"", esc(&px.name)),
                    frontend_value(name, px, limit, row),
                )
            })
            .collect();
        samples(&mut out, &metric, &rows);
    }
    let listeners: Vec<&StatRow> = stat_rows
        .iter()
        .filter(|r| r.obj == stats::ObjType::Listener)
        .collect();
    for (name, ty, help) in LISTENER.iter().filter(|_| !listeners.is_empty()) {
        let metric = format!("haproxy_listener_{name}");
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {ty}");
        let rows: Vec<(String, V)> = listeners
            .iter()
            .map(|r| {
                let labels = format!(
                    "proxy=\"{}\",listener=\"{}\"",
                    esc(&r.pxname()),
                    esc(&r.svname())
                );
                let v = match *name {
                    "status" => one_of(
                        "state",
                        &["WAITING", "OPEN", "FULL"],
                        &r.get("status").text(),
                    ),
                    n => from_row(n, Some(r)).unwrap_or(V::I(0)),
                };
                (labels, v)
            })
            .collect();
        samples(&mut out, &metric, &rows);
    }
    let backends: Vec<_> = rt.proxies.iter().filter(|p| p.backend.is_some()).collect();
    for (name, ty, help) in BACKEND {
        let metric = format!("haproxy_backend_{name}");
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {ty}");
        let rows: Vec<(String, V)> = backends
            .iter()
            .map(|px| {
                let row = row_of(stats::ObjType::Backend, px.idx, None);
                (
                    format!("proxy=\"{}\"", esc(&px.name)),
                    backend_value(name, px, rt, row),
                )
            })
            .collect();
        samples(&mut out, &metric, &rows);
    }
    for (name, ty, help) in SERVER {
        let metric = format!("haproxy_server_{name}");
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {ty}");
        let mut rows: Vec<(String, V)> = Vec::new();
        for px in &backends {
            let Some(be) = &px.backend else { continue };
            for (si, s) in be.servers.iter().enumerate() {
                let labels = format!("proxy=\"{}\",server=\"{}\"", esc(&px.name), esc(&s.name));
                let row = row_of(stats::ObjType::Server, px.idx, Some(si));
                rows.push((labels, server_value(name, px, s, rt, si, row)));
            }
        }
        samples(&mut out, &metric, &rows);
    }
    out
}

/// The HTTP response the service sends.
pub fn response(rt: &Runtime) -> Vec<u8> {
    let body = render(rt);
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_render_like_haproxy() {
        let mut o = String::new();
        sample(&mut o, "m", "proxy=\"a\"", &V::I(3));
        sample(&mut o, "m", "proxy=\"a\"", &V::Nan);
        sample(&mut o, "m", "", &V::F(0.0));
        sample(
            &mut o,
            "m",
            "proxy=\"a\"",
            &one_of("state", &["DOWN", "UP"], "UP"),
        );
        assert_eq!(
            o,
            "m{proxy=\"a\"} 3\nm{proxy=\"a\"} NaN\nm 0.000000\nm{proxy=\"a\",state=\"DOWN\"} 0\nm{proxy=\"a\",state=\"UP\"} 1\n"
        );
    }
}
