//! Traffic logs, as HAProxy 2.6 writes them: what a frontend logs ([`LogCfg`]: `option
//! httplog [clf]`, `option tcplog`, `log-format`, `log-format-sd`, or without any of them
//! the "Connect from" line at accept), the per-transaction record the sessions fill in
//! place ([`TxnLog`]: timestamps, bytes, status, termination state) and the one call that
//! renders and sends the line at the end ([`LogCfg::emit`]).
//!
//! The session code only stamps times and sets the termination cause where it already
//! knows why a transaction ended; everything else (timers, counters, flags, severity,
//! `dontlognull`, `log-separate-errors`, `dontlog-normal`) is worked out here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::config::logformat::parse_log_format_merging_spaces;
use crate::model::proxy::{LogStyle, Mode, Proxy};
use crate::model::{Global, expr::LogFormat};
use crate::runtime::backend::QueuePos;
use crate::runtime::http::head::RequestHead;
use crate::runtime::log::{LogSink, Severity};
use crate::runtime::persist::Captures;
use crate::runtime::proxy::ProxyRt;
use crate::runtime::sample::{CompiledLogFormat, ConnInfo, EvalCtx, TxnInfo, Vars};
use crate::runtime::tunnel::{TunnelEnd, TunnelStats};

/// HAProxy 2.6's `option httplog` format.
pub const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`.
pub const CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option httpslog`: httplog and the TLS facts of the client connection.
pub const HTTPSLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
/// `option tcplog`.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// What the log-format variables read about a finished transaction. Times are in
/// milliseconds, -1 for a step never reached.
#[derive(Debug, Clone, Default)]
pub struct LogFacts {
    /// Wall-clock milliseconds when the request began (after the idle time): `%tr`.
    pub req_ms: u64,
    /// `%Th` `%Ti` `%TR` `%Tw` `%Tc` `%Tr` `%Ta` `%Tt`
    pub th: i64,
    pub ti: i64,
    pub treq: i64,
    pub tw: i64,
    pub tc: i64,
    pub tr: i64,
    pub ta: i64,
    pub tt: i64,
    /// `%U`, `%B`
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Termination state and cookie letters (`%ts` is the first two, `%tsc` all four).
    pub flags: [u8; 4],
    pub actconn: u64,
    pub feconn: u64,
    pub beconn: u64,
    pub srvconn: u64,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u64,
    pub be_queue: u64,
    /// `%si:%sp`: the server connection's peer; `%bi:%bp`: its local address.
    pub srv_addr: Option<SocketAddr>,
    pub be_src: Option<SocketAddr>,
    pub log_counter: u64,
    /// `%ID`.
    pub unique_id: Option<String>,
    /// Sent early (`option logasap`): `%Ta`, `%Tt` and `%B` are marked `+`.
    pub asap: bool,
    /// Whether a request head was parsed (else `%hr` and friends log nothing).
    pub has_request: bool,
}

impl LogFacts {
    /// `%Tq`: handshake, idle and request times, -1 when the request never came.
    pub fn tq(&self) -> i64 {
        if self.treq < 0 {
            -1
        } else {
            self.th + self.ti + self.treq
        }
    }

    /// `%Td`: the data transfer time, -1 without a response.
    pub fn td(&self) -> i64 {
        if self.tr < 0 {
            return -1;
        }
        (self.tt - self.tq().max(0) - self.tw.max(0) - self.tc.max(0) - self.tr).max(0)
    }
}

/// One transaction's record, filled in place by the session as it goes.
#[derive(Debug)]
pub struct TxnLog {
    /// The accept (or, for a later request of a kept-alive connection, the end of the
    /// previous transaction).
    pub start: Instant,
    pub start_ms: u64,
    /// The first byte of the request.
    pub first: Option<Instant>,
    /// The request head parsed.
    pub head: Option<Instant>,
    /// A server assigned (out of the queue).
    pub queued: Option<Instant>,
    pub connected: Option<Instant>,
    /// The response head received.
    pub response: Option<Instant>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub status: Option<u16>,
    /// Termination cause (`C` `S` `P` `R` `I` `D` `L` `K` `c` `s`, `-`): the first one
    /// set wins, as in HAProxy.
    pub cause: u8,
    /// How far the transaction got (`R` `Q` `C` `H` `D` `L` `T`), used with a cause.
    pub stage: u8,
    pub backend: Option<Arc<ProxyRt>>,
    pub server: Option<usize>,
    pub retries: u32,
    pub redispatched: bool,
    /// Positions in the server's and the backend's queues (`%sq`, `%bq`), added up over
    /// the request's waits as HAProxy does.
    pub queue: QueuePos,
    /// The request line as received, for `%r` and `%H*` (headers left out).
    pub request: Option<RequestHead>,
    pub captures: Captures,
    /// The two persistence cookie letters of `%tsc`.
    pub cookie: [u8; 2],
    /// The server connection's local and peer addresses (only when the format logs them).
    pub srv_conn: Option<(Option<SocketAddr>, Option<SocketAddr>)>,
    /// `unique-id-format`'s value, once generated.
    pub unique_id: Option<String>,
    /// `set-log-level`: a severity (0-7), or -1 for `silent`.
    pub level: Option<i8>,
    /// The line was already sent (`option logasap`).
    pub logged: bool,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl TxnLog {
    pub fn new() -> TxnLog {
        TxnLog {
            start: Instant::now(),
            start_ms: wall_ms(),
            first: None,
            head: None,
            queued: None,
            connected: None,
            response: None,
            bytes_in: 0,
            bytes_out: 0,
            status: None,
            cause: b'-',
            stage: b'R',
            backend: None,
            server: None,
            retries: 0,
            redispatched: false,
            queue: QueuePos::default(),
            request: None,
            captures: Captures::default(),
            cookie: *b"--",
            srv_conn: None,
            unique_id: None,
            level: None,
            logged: false,
        }
    }

    /// Records the server connection's addresses (for `%bi %bp %si %sp`).
    pub fn server_stream(&mut self, s: &crate::runtime::stream::Stream) {
        use crate::runtime::stream::Stream;
        let addrs = |t: &tokio::net::TcpStream| (t.local_addr().ok(), t.peer_addr().ok());
        self.srv_conn = Some(match s {
            Stream::Fresh(Some(t)) => (t.local_addr().ok(), t.peer_addr().ok()),
            Stream::Tcp(t) => addrs(t),
            Stream::SrvTls(t, _) => addrs(t.get_ref().0),
            _ => (None, None),
        });
    }

    /// Takes the level an HTTP rule's `set-log-level` left in `vars`.
    pub fn take_level(&mut self, vars: &Vars) {
        if let Some(crate::runtime::sample::Value::Int(l)) = vars.get(LOG_LEVEL_VAR) {
            self.level = Some(*l as i8);
        }
    }

    /// A new record for the next request of the same connection.
    pub fn reset(&mut self) {
        *self = TxnLog::new();
    }

    /// The first byte of the request arrived (kept if already stamped).
    pub fn first_byte(&mut self) {
        self.first.get_or_insert_with(Instant::now);
    }

    /// The request head is parsed: keeps its line for the log.
    /// `keep`: whether the line is needed (the frontend logs): copying it costs two
    /// allocations per request otherwise wasted.
    pub fn request_head(&mut self, req: &RequestHead, keep: bool) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.head = Some(now);
        if !keep {
            return;
        }
        self.request = Some(RequestHead {
            method: req.method.clone(),
            uri: req.uri.clone(),
            version: req.version,
            headers: Default::default(),
        });
    }

    /// A server is assigned: the queue is left (the first time), the connection starts.
    pub fn assigned(&mut self) {
        self.queued.get_or_insert_with(Instant::now);
        self.stage = b'C';
    }

    /// The request left a queue at `pos` (served or timed out); taken out of `pos` so that
    /// a slot kept for a retry is not counted twice.
    pub fn left_queue(&mut self, pos: &mut QueuePos) {
        let pos = std::mem::take(pos);
        self.queue.srv = self.queue.srv.saturating_add(pos.srv);
        self.queue.backend = self.queue.backend.saturating_add(pos.backend);
    }

    /// The server connection is established (or an idle one taken).
    pub fn connected(&mut self) {
        self.connected = Some(Instant::now());
        self.stage = b'H';
    }

    /// The response head arrived with `status`.
    pub fn response(&mut self, status: u16) {
        self.response = Some(Instant::now());
        self.status = Some(status);
        self.stage = b'D';
    }

    /// Records why the transaction ended, unless a cause is already known.
    pub fn fail(&mut self, cause: u8) {
        if self.cause == b'-' {
            self.cause = cause;
        }
    }

    /// [`TxnLog::fail`] at a given stage.
    pub fn fail_at(&mut self, cause: u8, stage: u8) {
        if self.cause == b'-' {
            self.cause = cause;
            self.stage = stage;
        }
    }

    /// A tunnel (TCP mode, upgraded connection) ended: how, and the bytes it moved.
    pub fn tunnel_end(&mut self, end: TunnelEnd, st: TunnelStats) {
        self.bytes_in += st.to_server;
        self.bytes_out += st.to_client;
        match end {
            TunnelEnd::Closed => {}
            TunnelEnd::ClientTimeout => self.fail_at(b'c', b'D'),
            TunnelEnd::ServerTimeout => self.fail_at(b's', b'D'),
            TunnelEnd::ClientError => self.fail_at(b'C', b'D'),
            TunnelEnd::ServerError => self.fail_at(b'S', b'D'),
        }
    }

    fn ms(a: Option<Instant>, b: Option<Instant>) -> i64 {
        match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
            _ => -1,
        }
    }

    /// The rendered facts at `end`.
    fn facts(&self, end: Instant) -> LogFacts {
        // Without a byte of request, the idle time is nil and all is active time.
        let first = self.first.unwrap_or(self.start);
        let ti = first.saturating_duration_since(self.start).as_millis() as i64;
        let flags = [
            self.cause,
            if self.cause == b'-' { b'-' } else { self.stage },
            self.cookie[0],
            self.cookie[1],
        ];
        LogFacts {
            req_ms: self.start_ms + ti as u64,
            th: 0,
            ti,
            treq: Self::ms(self.first, self.head),
            // A wait ended by `timeout queue` still logs its length, as HAProxy does.
            tw: match (self.queued, self.cause, self.stage) {
                (None, b's', b'Q') => Self::ms(self.head, Some(end)),
                _ => Self::ms(self.head, self.queued),
            },
            tc: Self::ms(self.queued, self.connected),
            tr: Self::ms(self.connected, self.response),
            ta: Self::ms(Some(first), Some(end)),
            tt: Self::ms(Some(self.start), Some(end)),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            flags,
            retries: self.retries,
            redispatched: self.redispatched,
            srv_queue: u64::from(self.queue.srv),
            be_queue: u64::from(self.queue.backend),
            has_request: self.request.is_some(),
            srv_addr: self.srv_conn.and_then(|c| c.1),
            be_src: self.srv_conn.and_then(|c| c.0),
            unique_id: self.unique_id.clone(),
            ..LogFacts::default()
        }
    }

    /// Whether HAProxy counts the transaction as an error (`log-separate-errors`,
    /// `dontlog-normal`).
    fn is_error(&self) -> bool {
        self.redispatched
            || !matches!(self.cause, b'-' | b'L')
            || self.status.is_some_and(|s| s >= 500)
    }
}

impl Default for TxnLog {
    fn default() -> Self {
        TxnLog::new()
    }
}

thread_local! {
    /// The line and structured data being rendered, reused from one transaction to the
    /// next.
    static LINE_BUF: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        std::cell::RefCell::new((Vec::with_capacity(512), Vec::new()));
}

/// The severity of a level number (0 emerg .. 7 debug).
fn severity(l: u8) -> Severity {
    match l {
        0 => Severity::Emerg,
        1 => Severity::Alert,
        2 => Severity::Crit,
        3 => Severity::Err,
        4 => Severity::Warning,
        5 => Severity::Notice,
        6 => Severity::Info,
        _ => Severity::Debug,
    }
}

/// What a frontend logs and where.
#[derive(Debug, Default)]
pub struct LogCfg {
    /// None without log targets: nothing is logged, nothing is formatted.
    pub sink: Option<Arc<LogSink>>,
    /// The end-of-transaction format; None: the "Connect from" line at accept.
    pub format: Option<CompiledLogFormat>,
    /// `log-format-sd`.
    pub sd: Option<CompiledLogFormat>,
    pub dontlognull: bool,
    pub separate_errors: bool,
    pub dontlog_normal: bool,
    /// `%lc`.
    counter: AtomicU64,
    /// "HTTP" or "TCP" in the "Connect from" line.
    mode_name: &'static str,
    /// `option logasap`.
    pub asap: bool,
    /// `error-log-format`.
    error_format: Option<CompiledLogFormat>,
    /// `unique-id-format` and `unique-id-header`.
    unique_id: Option<CompiledLogFormat>,
    unique_id_header: Option<String>,
    /// The format logs the server connection's addresses (`%bi %bp %si %sp`): they are
    /// read from the socket, two system calls, only then.
    pub wants_srv_addrs: bool,
}

/// Where an HTTP rule's `set-log-level` leaves its level for the session (a name no
/// configuration can give a variable).
pub const LOG_LEVEL_VAR: &str = " set-log-level";

/// Whether a format uses one of the server connection's addresses.
fn uses_srv_addrs(lf: &LogFormat) -> bool {
    use crate::model::expr::{LfNode, LogVar};
    lf.0.iter().any(|n| {
        matches!(
            n,
            LfNode::Var {
                var: LogVar::BackendIp
                    | LogVar::BackendPort
                    | LogVar::ServerIp
                    | LogVar::ServerPort,
                ..
            }
        )
    })
}

fn compile(text: &str) -> Option<CompiledLogFormat> {
    parse_log_format_merging_spaces(text)
        .ok()
        .and_then(|lf| CompiledLogFormat::compile_log(&lf).ok())
}

impl LogCfg {
    /// The logging of proxy `p` (its `log` lines already resolved against `global`).
    pub fn build(p: &Proxy, global: &Global, d: &mut crate::config::diag::Diags) -> LogCfg {
        // Local dates (`%t`, `%tr` ...) are also used outside logs (header values).
        crate::runtime::log::init_local_time();
        if !p.caps.frontend {
            return LogCfg::default();
        }
        let unique_id =
            p.unique_id_format
                .as_ref()
                .and_then(|lf| match CompiledLogFormat::compile_log(lf) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        d.warn(
                            p.span,
                            format!("in '{}': unique-id-format not used: {e}", p.name),
                        );
                        None
                    }
                });
        let unique_id_header = p.unique_id_header.clone().filter(|_| unique_id.is_some());
        if p.logs.is_empty() {
            return LogCfg {
                unique_id,
                unique_id_header,
                ..LogCfg::default()
            };
        }
        let tag = p.log_tag.as_deref().or(global.log_tag.as_deref());
        let sink = LogSink::new(&p.logs, tag).with_hostname(global.log_send_hostname.as_deref());
        let own = |lf: &Option<LogFormat>, d: &mut crate::config::diag::Diags| {
            lf.as_ref()
                .and_then(|lf| match CompiledLogFormat::compile_log(lf) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        d.warn(p.span, format!("in '{}': log-format not used: {e}", p.name));
                        None
                    }
                })
        };
        let text = match (&p.log_format, p.options.log_style, p.mode) {
            (Some(_), _, _) | (None, LogStyle::Default, _) => None,
            // httplog in a TCP frontend falls back to tcplog, as in HAProxy.
            (None, LogStyle::Tcp, _)
            | (None, LogStyle::Http | LogStyle::HttpClf | LogStyle::Https, Mode::Tcp) => {
                Some(TCPLOG)
            }
            (None, LogStyle::Http, _) => Some(HTTPLOG),
            (None, LogStyle::HttpClf, _) => Some(CLF),
            (None, LogStyle::Https, _) => Some(HTTPSLOG),
        };
        let model = match text {
            Some(t) => parse_log_format_merging_spaces(t).ok(),
            None => p.log_format.clone(),
        };
        let format = match text {
            Some(t) => compile(t),
            None => own(&p.log_format, d),
        };
        let wants_srv_addrs = model.as_ref().is_some_and(uses_srv_addrs);
        LogCfg {
            sink: (!sink.is_empty()).then(|| Arc::new(sink)),
            format,
            sd: own(&p.log_format_sd, d),
            dontlognull: p.options.dontlognull,
            separate_errors: p.options.log_separate_errors,
            dontlog_normal: p.options.dontlog_normal,
            counter: AtomicU64::new(0),
            mode_name: if p.mode == Mode::Http { "HTTP" } else { "TCP" },
            asap: p.options.logasap,
            error_format: own(&p.error_log_format, d),
            unique_id,
            unique_id_header,
            wants_srv_addrs,
        }
    }

    /// Generates the transaction's unique id (`unique-id-format`) unless it has one, and
    /// adds it to the request as `unique-id-header` (HAProxy does both once the
    /// request's rules have run).
    pub fn unique_id(
        &self,
        txn: &mut TxnLog,
        req: &mut RequestHead,
        conn: &ConnInfo,
        info: &TxnInfo,
    ) {
        let Some(f) = &self.unique_id else { return };
        if txn.unique_id.is_none() {
            let vars = Vars::default();
            let ctx = EvalCtx {
                conn,
                req: Some(req),
                res: None,
                vars: &vars,
                info,
            };
            txn.unique_id = Some(f.render_string(&ctx));
        }
        if let (Some(h), Some(id)) = (&self.unique_id_header, &txn.unique_id) {
            req.headers.add(h, id.as_bytes().to_vec());
        }
    }

    /// `option logasap`: sends the line now (the response head is being forwarded),
    /// once per transaction.
    pub fn emit_early(
        &self,
        txn: &mut TxnLog,
        fe: &ProxyRt,
        conn: &ConnInfo,
        actconn: u64,
        pid: u32,
    ) {
        if self.asap && !txn.logged {
            self.render_send(txn, fe, conn, actconn, pid, true);
            txn.logged = true;
        }
    }

    /// Whether transactions are logged at their end (the session then keeps a record).
    pub fn enabled(&self) -> bool {
        self.sink.is_some() && self.format.is_some()
    }

    /// A connection that failed before any transaction (a TLS handshake), logged as
    /// HAProxy's default error format does: `CI:CP [DATE] FE/LISTENER: MESSAGE` (info).
    pub fn conn_error(&self, fe: &str, listener: u32, src: Option<SocketAddr>, msg: &str) {
        let Some(sink) = &self.sink else { return };
        if !sink.wants(Severity::Info) {
            return;
        }
        if let Some(f) = &self.error_format {
            // Only a TLS handshake fails before a transaction.
            let conn = ConnInfo {
                src,
                ssl: true,
                ..ConnInfo::default()
            };
            let now = wall_ms();
            let info = TxnInfo {
                frontend: fe.to_string(),
                accept_ms: now,
                log: Some(Box::new(LogFacts {
                    req_ms: now,
                    treq: -1,
                    tw: -1,
                    tc: -1,
                    tr: -1,
                    flags: *b"CR--",
                    ..LogFacts::default()
                })),
                status: Some(0),
                ..TxnInfo::default()
            };
            let vars = Vars::default();
            let ctx = EvalCtx {
                conn: &conn,
                req: None,
                res: None,
                vars: &vars,
                info: &info,
            };
            let mut line = Vec::new();
            f.render_bytes(&ctx, &mut line);
            sink.send_sd(Severity::Info, &line, None);
            return;
        }
        let (ip, port) = match src {
            Some(a) => (a.ip().to_string(), a.port()),
            None => ("unix".to_string(), 0),
        };
        let date = crate::runtime::sample::logformat::local_date_now();
        sink.send(
            Severity::Info,
            &format!("{ip}:{port} [{date}] {fe}/{listener}: {msg}"),
        );
    }

    /// The "Connect from" line HAProxy sends at accept when no format is set.
    pub fn on_accept(&self, fe: &str, conn: &ConnInfo) {
        let Some(sink) = &self.sink else { return };
        if self.format.is_some() || !sink.wants(Severity::Info) {
            return;
        }
        let (Some(src), Some(dst)) = (conn.src, conn.dst) else {
            return;
        };
        let msg = format!(
            "Connect from {}:{} to {}:{} ({fe}/{})",
            src.ip(),
            src.port(),
            dst.ip(),
            dst.port(),
            self.mode_name
        );
        sink.send(Severity::Info, &msg);
    }

    /// Renders and sends the line of a finished transaction. `actconn`: the process's
    /// connections, `fe`: the frontend.
    pub fn emit(&self, txn: &TxnLog, fe: &ProxyRt, conn: &ConnInfo, actconn: u64, pid: u32) {
        if !txn.logged {
            self.render_send(txn, fe, conn, actconn, pid, false);
        }
    }

    fn render_send(
        &self,
        txn: &TxnLog,
        fe: &ProxyRt,
        conn: &ConnInfo,
        actconn: u64,
        pid: u32,
        asap: bool,
    ) {
        let (Some(sink), Some(format)) = (&self.sink, &self.format) else {
            return;
        };
        // `set-log-level silent`.
        if txn.level == Some(-1) {
            return;
        }
        let error = txn.is_error();
        if self.dontlog_normal && !error {
            return;
        }
        // `option dontlognull`: nothing came from the client.
        if self.dontlognull && txn.bytes_in == 0 && txn.request.is_none() {
            return;
        }
        let sev = match txn.level {
            Some(l) => severity(l as u8),
            None if error && self.separate_errors => Severity::Err,
            None => Severity::Info,
        };
        if !sink.wants(sev) {
            return;
        }
        let mut facts = txn.facts(Instant::now());
        facts.actconn = actconn;
        facts.feconn = fe.counters.current.load(Ordering::Relaxed);
        facts.log_counter = self.counter.fetch_add(1, Ordering::Relaxed);
        facts.asap = asap;
        if facts.unique_id.is_none()
            && txn.request.is_some()
            && let Some(f) = &self.unique_id
        {
            // Not generated during the request (none was parsed): now, as HAProxy does.
            let info = TxnInfo {
                frontend: fe.name.clone(),
                pid,
                accept_ms: txn.start_ms,
                ..TxnInfo::default()
            };
            let vars = Vars::default();
            let ctx = EvalCtx {
                conn,
                req: txn.request.as_ref(),
                res: None,
                vars: &vars,
                info: &info,
            };
            facts.unique_id = Some(f.render_string(&ctx));
        }
        let mut server = None;
        if let Some(be) = txn.backend.as_ref().and_then(|b| b.backend.as_ref()) {
            // HAProxy's `beconn` counts the backend's other streams, waiting ones included.
            facts.beconn = u64::from(be.cur.load(Ordering::Relaxed)) + u64::from(be.queued());
            if let Some(s) = txn.server.and_then(|i| be.servers.get(i)) {
                facts.srvconn = u64::from(s.cur.load(Ordering::Relaxed));
                server = Some(s.name.clone());
            }
        }
        // Every declared capture shows, empty when nothing was taken (`{}`).
        let mut captures = txn.captures.clone();
        let cfg = &fe.persist.captures;
        captures.req_headers.resize(cfg.request.len(), None);
        captures.res_headers.resize(cfg.response.len(), None);
        let info = TxnInfo {
            frontend: fe.name.clone(),
            backend: txn.backend.as_ref().map(|b| b.name.clone()),
            server,
            status: txn.status,
            pid,
            accept_ms: txn.start_ms,
            captures,
            log: Some(Box::new(facts)),
            ..TxnInfo::default()
        };
        let vars = Vars::default();
        let ctx = EvalCtx {
            conn,
            req: txn.request.as_ref(),
            res: None,
            vars: &vars,
            info: &info,
        };
        LINE_BUF.with(|b| {
            let (line, sd) = &mut *b.borrow_mut();
            line.clear();
            format.render_bytes(&ctx, line);
            let sd = self.sd.as_ref().map(|f| {
                sd.clear();
                f.render_bytes(&ctx, sd);
                &sd[..]
            });
            sink.send_sd(sev, line, sd);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::http::head::Version;

    fn ctx_render(format: &str, facts: LogFacts, req: Option<&RequestHead>, status: u16) -> String {
        // Another test changes the local offset for a while.
        let _lock = crate::runtime::sample::OFFSET_TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let f = compile(format).expect("compiles");
        let conn = ConnInfo {
            src: "127.0.0.1:52584".parse().ok(),
            dst: "127.0.0.1:25080".parse().ok(),
            ..ConnInfo::default()
        };
        let mut captures = Captures::default();
        if facts.has_request {
            captures.req_headers = vec![Some("127.0.0.1:25080".into())];
            captures.res_headers = vec![Some("s1".into())];
        }
        let info = TxnInfo {
            frontend: "fe".into(),
            backend: Some("be".into()),
            server: Some("s1".into()),
            status: Some(status),
            pid: 1,
            // 03/Dec/2026:05:57:42.031 UTC
            accept_ms: 1_796_277_462_031,
            captures,
            log: Some(Box::new(facts)),
            ..TxnInfo::default()
        };
        let vars = Vars::default();
        let ctx = EvalCtx {
            conn: &conn,
            req,
            res: None,
            vars: &vars,
            info: &info,
        };
        f.render_string(&ctx)
    }

    fn facts() -> LogFacts {
        LogFacts {
            req_ms: 1_796_277_462_031,
            treq: 0,
            tw: 0,
            tc: 1010,
            tr: 17,
            ta: 1027,
            tt: 1027,
            bytes_out: 82,
            flags: *b"----",
            actconn: 1,
            feconn: 1,
            retries: 1,
            has_request: true,
            ..LogFacts::default()
        }
    }

    fn get(uri: &str) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            uri: uri.into(),
            version: Version::H11,
            headers: Default::default(),
        }
    }

    /// Lines haproxy 2.6.12 wrote for the same facts.
    #[test]
    fn golden_httplog() {
        assert_eq!(
            ctx_render(HTTPLOG, facts(), Some(&get("/ok")), 200),
            "127.0.0.1:52584 [03/Dec/2026:05:57:42.031] fe be/s1 0/0/1010/17/1027 200 82 - - ---- 1/1/0/0/1 0/0 {127.0.0.1:25080} {s1} \"GET /ok HTTP/1.1\""
        );
        // A bad request: no captures at all, timers -1, `<BADREQ>`.
        let bad = LogFacts {
            treq: -1,
            tw: -1,
            tc: -1,
            tr: -1,
            ta: 0,
            tt: 0,
            bytes_out: 0,
            flags: *b"PR--",
            retries: 0,
            has_request: false,
            ..facts()
        };
        let line = ctx_render(HTTPLOG, bad, None, 400);
        assert!(
            line.ends_with(" -1/-1/-1/-1/0 400 0 - - PR-- 1/1/0/0/0 0/0 \"<BADREQ>\""),
            "{line}"
        );
    }

    #[test]
    fn golden_clf_and_tcplog() {
        let f = LogFacts {
            tc: 0,
            tr: 16,
            ta: 16,
            tt: 16,
            retries: 0,
            has_request: false,
            ..facts()
        };
        assert_eq!(
            ctx_render(CLF, f.clone(), Some(&get("/ok?x=1")), 200),
            "127.0.0.1 - - [03/Dec/2026:05:57:42 +0000] \"GET /ok?x=1 HTTP/1.1\" 200 82 \"\" \"\" 52584 031 \"fe\" \"be\" \"s1\" 0 0 0 16 16 ---- 1 1 0 0 0 0 0 \"\" \"\" "
        );
        let t = LogFacts {
            tw: 1,
            tc: 0,
            tt: 343,
            bytes_out: 79,
            ..f
        };
        assert_eq!(
            ctx_render(TCPLOG, t, None, 0),
            "127.0.0.1:52584 [03/Dec/2026:05:57:42.031] fe be/s1 1/0/343 79 -- 1/1/0/0/0 0/0"
        );
    }

    #[test]
    fn derived_timers() {
        let f = LogFacts {
            th: 0,
            ti: 5,
            treq: 2,
            tw: 1,
            tc: 3,
            tr: 10,
            tt: 30,
            ..LogFacts::default()
        };
        assert_eq!(f.tq(), 7);
        assert_eq!(f.td(), 9);
        let none = LogFacts {
            treq: -1,
            tr: -1,
            ..LogFacts::default()
        };
        assert_eq!((none.tq(), none.td()), (-1, -1));
    }

    #[test]
    fn errors_and_flags() {
        let mut t = TxnLog::new();
        assert!(!t.is_error());
        t.fail(b'L');
        t.fail(b'S');
        assert_eq!(t.cause, b'L');
        assert!(!t.is_error());
        let mut t = TxnLog::new();
        t.stage = b'H';
        t.fail(b's');
        assert_eq!(&t.facts(Instant::now()).flags, b"sH--");
        assert!(t.is_error());
        let mut t = TxnLog::new();
        t.status = Some(503);
        assert!(t.is_error());
        assert_eq!(&t.facts(Instant::now()).flags, b"----");
    }
}
