//! `show info [typed|json]`: the process's information fields in HAProxy 2.6's order and
//! positions (plain `Name: value` lines, `typed` `POS.Name.1:TAGS:type:value`, or JSON).
//! Fields HAProxy leaves empty are not printed, as in HAProxy. Traffic figures come from
//! the statistics rows (bytes out, connection and session rates summed over frontends,
//! their maxima the highest of the frontends'); values this runtime does not track (SSL,
//! pipes, pools, compression) are 0. `Maxconn` follows `set maxconn global`.

use std::sync::atomic::Ordering;

use super::Ctx;
use crate::runtime::Runtime;

/// A field's value: a number (with HAProxy's type name) or text.
#[derive(Debug, Clone)]
pub enum Val {
    U32(u64),
    U64(u64),
    Str(String),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::U32(_) => "u32",
            Val::U64(_) => "u64",
            Val::Str(_) => "str",
        }
    }
    fn text(&self) -> String {
        match self {
            Val::U32(v) | Val::U64(v) => v.to_string(),
            Val::Str(s) => s.clone(),
        }
    }
}

/// One `show info` field: position, name, HAProxy's three tag letters, value.
pub struct Field {
    pub pos: u32,
    pub name: &'static str,
    pub tags: &'static str,
    pub val: Val,
}

/// The version string rproxy reports where HAProxy reports its own.
pub fn version() -> String {
    format!(
        "{}-rproxy-{}",
        crate::config::cond::EMULATED_HAPROXY_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// HAProxy 2.6.12's release date (the version rproxy emulates).
const RELEASE_DATE: &str = "2023/03/28";

fn nofile() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(s, _)| s)
        .unwrap_or(1024)
}

/// Process-wide totals the fields and the Prometheus exporter share.
pub struct Totals {
    pub cum_conns: u64,
    pub cum_req: u64,
    pub listeners: u64,
    /// Bytes sent to clients (the frontends' `bout`), and the frontends' connection and
    /// session rates summed.
    pub bytes_out: u64,
    pub conn_rate: u64,
    pub sess_rate: u64,
    /// The highest frontend connection and session rates seen (HAProxy keeps
    /// process-wide maxima; with one frontend they are the same).
    pub conn_rate_max: u64,
    pub sess_rate_max: u64,
}

pub fn totals(rt: &Runtime) -> Totals {
    let mut t = Totals {
        cum_conns: rt.cli.cli_total.load(Ordering::Relaxed),
        cum_req: 0,
        listeners: rt.cli.listeners,
        bytes_out: 0,
        conn_rate: 0,
        sess_rate: 0,
        conn_rate_max: 0,
        sess_rate_max: 0,
    };
    for p in rt.proxies.iter().filter(|p| p.caps.frontend) {
        t.cum_conns += p.counters.sessions.load(Ordering::Relaxed);
        t.cum_req += p.counters.requests.load(Ordering::Relaxed);
    }
    for r in crate::runtime::stats::collect(rt)
        .iter()
        .filter(|r| r.obj == crate::runtime::stats::ObjType::Frontend)
    {
        t.bytes_out += r.get("bout").num();
        t.conn_rate += r.get("conn_rate").num();
        t.sess_rate += r.get("rate").num();
        t.conn_rate_max = t.conn_rate_max.max(r.get("conn_rate_max").num());
        t.sess_rate_max = t.sess_rate_max.max(r.get("rate_max").num());
    }
    t
}

/// Every field, in order.
pub fn fields(rt: &Runtime) -> Vec<Field> {
    use Val::*;
    let up = rt.cli.uptime().as_secs();
    let t = totals(rt);
    let cur = rt.active.load(Ordering::Relaxed);
    let sessions = rt.cli.cli_active.load(Ordering::Relaxed);
    let start = rt
        .cli
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stopping = u64::from(*rt.stopping.borrow());
    let rate = rt.cli.rate.limits();
    let ssl_rates = rt.cli.rate.ssl_rates();
    let f = |pos, name, tags, val| Field {
        pos,
        name,
        tags,
        val,
    };
    let mut v = vec![
        f(0, "Name", "POS", Str("HAProxy".into())),
        f(1, "Version", "POS", Str(version())),
        f(2, "Release_date", "POS", Str(RELEASE_DATE.into())),
        f(3, "Nbthread", "CGS", U32(u64::from(rt.cli.meta.nbthread))),
        f(4, "Nbproc", "CGS", U32(1)),
        f(5, "Process_num", "KGP", U32(1)),
        f(6, "Pid", "SGP", U32(u64::from(rt.pid))),
        f(
            7,
            "Uptime",
            "MDP",
            Str(format!(
                "{}d {}h{:02}m{:02}s",
                up / 86400,
                up / 3600 % 24,
                up / 60 % 60,
                up % 60
            )),
        ),
        f(8, "Uptime_sec", "MDP", U32(up)),
        f(9, "Memmax_MB", "CLP", U32(0)),
        f(10, "PoolAlloc_MB", "MGP", U32(0)),
        f(11, "PoolUsed_MB", "MGP", U32(0)),
        f(12, "PoolFailed", "MCP", U32(0)),
        f(13, "Ulimit-n", "CLP", U32(nofile())),
        f(14, "Maxsock", "CLP", U32(nofile())),
        f(
            15,
            "Maxconn",
            "CLP",
            U32(u64::from(super::admin::global_maxconn(rt))),
        ),
        f(16, "Hard_maxconn", "CLP", U32(u64::from(rt.maxconn))),
        f(17, "CurrConns", "MGP", U32(cur)),
        f(18, "CumConns", "MCP", U32(t.cum_conns)),
        f(19, "CumReq", "MCP", U32(t.cum_req)),
        f(20, "MaxSslConns", "MMP", U32(0)),
        f(21, "CurrSslConns", "MGP", U32(0)),
        f(22, "CumSslConns", "MCP", U32(0)),
        f(23, "Maxpipes", "CLP", U32(0)),
        f(24, "PipesUsed", "MGP", U32(0)),
        f(25, "PipesFree", "MGP", U32(0)),
        f(26, "ConnRate", "MRP", U32(t.conn_rate)),
        f(27, "ConnRateLimit", "CLP", U32(u64::from(rate.0))),
        f(28, "MaxConnRate", "MMP", U32(t.conn_rate_max)),
        f(29, "SessRate", "MRP", U32(t.sess_rate)),
        f(30, "SessRateLimit", "CLP", U32(u64::from(rate.1))),
        f(31, "MaxSessRate", "MRP", U32(t.sess_rate_max)),
        f(32, "SslRate", "MRP", U32(u64::from(ssl_rates.0))),
        f(33, "SslRateLimit", "CLP", U32(u64::from(rate.2))),
        f(34, "MaxSslRate", "MMP", U32(u64::from(ssl_rates.1))),
        f(35, "SslFrontendKeyRate", "MGP", U32(0)),
        f(36, "SslFrontendMaxKeyRate", "MMP", U32(0)),
        f(37, "SslFrontendSessionReuse_pct", "MGP", U32(0)),
        f(38, "SslBackendKeyRate", "MRP", U32(0)),
        f(39, "SslBackendMaxKeyRate", "MMP", U32(0)),
        f(40, "SslCacheLookups", "MCP", U32(0)),
        f(41, "SslCacheMisses", "MCP", U32(0)),
        f(42, "CompressBpsIn", "MRP", U32(0)),
        f(43, "CompressBpsOut", "MRP", U32(0)),
        f(44, "CompressBpsRateLim", "CLP", U32(u64::from(rate.3))),
        f(47, "Tasks", "MGP", U32(cur + sessions + t.listeners)),
        f(48, "Run_queue", "MGP", U32(0)),
        f(49, "Idle_pct", "MaP", U32(100)),
        f(50, "node", "COS", Str(rt.cli.meta.node.clone())),
    ];
    if let Some(d) = &rt.cli.meta.description {
        v.push(f(51, "description", "COS", Str(d.clone())));
    }
    v.extend([
        f(52, "Stopping", "MGP", U32(stopping)),
        f(53, "Jobs", "MGP", U32(cur + sessions + t.listeners)),
        f(54, "Unstoppable Jobs", "MGP", U32(0)),
        f(55, "Listeners", "MGP", U32(t.listeners)),
        f(56, "ActivePeers", "MGP", U32(0)),
        f(57, "ConnectedPeers", "MGP", U32(0)),
        f(58, "DroppedLogs", "MGP", U32(0)),
        f(59, "BusyPolling", "MGP", U32(0)),
        f(60, "FailedResolutions", "MGP", U32(0)),
        f(61, "TotalBytesOut", "MGP", U64(t.bytes_out)),
        f(62, "TotalSplicdedBytesOut", "MGP", U64(0)),
        f(63, "BytesOutRate", "MRP", U64(0)),
        f(64, "DebugCommandsIssued", "MGP", U32(0)),
        f(65, "CumRecvLogs", "MCP", U32(0)),
        f(66, "Build info", "POS", Str(version())),
        f(67, "Memmax_bytes", "CLP", U32(0)),
        f(68, "PoolAlloc_bytes", "MGP", U64(0)),
        f(69, "PoolUsed_bytes", "MGP", U64(0)),
        f(70, "Start_time_sec", "MDP", U32(start)),
        f(71, "Tainted", "SGP", Str("0".into())),
    ]);
    v
}

fn tag_words(tags: &str) -> (&'static str, &'static str, &'static str) {
    let b = tags.as_bytes();
    let origin = match b.first() {
        Some(b'M') => "Metric",
        Some(b'S') => "Status",
        Some(b'K') => "Key",
        Some(b'C') => "Config",
        _ => "Product",
    };
    let nature = match b.get(1) {
        Some(b'a') => "Avg",
        Some(b'A') => "Age",
        Some(b'C') => "Counter",
        Some(b'D') => "Duration",
        Some(b'G') => "Gauge",
        Some(b'L') => "Limit",
        Some(b'M') => "Max",
        Some(b'N') => "Name",
        Some(b'R') => "Rate",
        _ => "Output",
    };
    let scope = match b.get(2) {
        Some(b'P') => "Process",
        _ => "Service",
    };
    (origin, nature, scope)
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub fn show_info(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let fields = fields(ctx.rt);
    if args.contains(&"json") {
        let items: Vec<String> = fields
            .iter()
            .map(|f| {
                let (o, n, s) = tag_words(f.tags);
                let value = match &f.val {
                    Val::Str(t) => json_str(t),
                    v => v.text(),
                };
                format!(
                    "{{\"field\":{{\"pos\":{},\"name\":{}}},\"processNum\":1,\"tags\":{{\"origin\":\"{o}\",\"nature\":\"{n}\",\"scope\":\"{s}\"}},\"value\":{{\"type\":\"{}\",\"value\":{value}}}}}",
                    f.pos,
                    json_str(f.name),
                    f.val.type_name()
                )
            })
            .collect();
        out.push('[');
        out.push_str(&items.join(","));
        out.push_str("]\n\n");
        return;
    }
    let typed = args.contains(&"typed");
    for f in &fields {
        if typed {
            out.push_str(&format!(
                "{}.{}.1:{}:{}:{}\n",
                f.pos,
                f.name,
                f.tags,
                f.val.type_name(),
                f.val.text()
            ));
        } else {
            out.push_str(&format!("{}: {}\n", f.name, f.val.text()));
        }
    }
    out.push('\n');
}
