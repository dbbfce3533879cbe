//! The HTML stats page, laid out as HAProxy's: process information, a colour legend,
//! display options, then one table per proxy (frontend row, server rows, backend total),
//! with the admin form when allowed. Inline CSS only; a small inline script refreshes the
//! numbers in place from the `;json` export (beyond HAProxy, which reloads the page).

use std::fmt::Write;

use super::page::{Flags, PageCfg};
use super::{ObjType, Scope, StatRow};
use crate::runtime::Runtime;
use crate::runtime::proxy::ProxyRt;

/// What one page shows.
pub struct PageView<'a> {
    pub rt: &'a Runtime,
    pub px: &'a ProxyRt,
    pub cfg: &'a PageCfg,
    pub rows: &'a [StatRow],
    pub scope: &'a Scope,
    pub flags: &'a Flags,
    /// The admin form is shown.
    pub admin: bool,
    pub refresh: Option<u64>,
}

/// Text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:arial,helvetica,sans-serif;font-size:12px;margin:4px;color:#000;background:#fff}\
h1{font-size:18px;margin:4px 0;color:#fff;background:#20435c;padding:4px}\
h2{font-size:14px;margin:4px 0}h3{font-size:13px;margin:2px 0}\
a{color:#3030a0}.wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;margin-bottom:10px}\
table.tbl{border-collapse:collapse;border:1px solid #999;white-space:nowrap}\
table.tbl td,table.tbl th{border:1px solid #bbb;padding:1px 4px;text-align:right}\
table.tbl td.ac,table.tbl th.pxname{text-align:left}\
th.pxname{background:#b00040;color:#ffff40;font-weight:bold;font-size:13px}\
tr.titre th{background:#20435c;color:#fff}\
tr.frontend td,tr.socket td{background:#e8e8d0}tr.backend td{background:#e8e8d0;font-weight:bold}\
tr.active_up td{background:#c0ffc0}tr.active_going_down td{background:#ffffa0}\
tr.active_going_up td{background:#ffe0a0}tr.active_down td{background:#ff9090}\
tr.active_no_check td{background:#e0e0e0}\
tr.backup_up td{background:#c0d0ff}tr.backup_going_down td{background:#d0e0ff}\
tr.backup_going_up td{background:#ffd0a0}tr.backup_down td{background:#ff9090}\
tr.maintain td{background:#c07820}tr.draining td{background:#20a0ff}\
table.lgd{border-collapse:collapse}table.lgd td{padding:1px 6px;border:1px solid #ccc}\
.info{display:flex;flex-wrap:wrap;gap:12px}.info div{min-width:260px}\
ul.opts{margin:2px 0;padding-left:18px}\
td.nm{position:sticky;left:0;z-index:1;text-align:left}\
tr.frontend td.nm,tr.socket td.nm,tr.backend td.nm{background:#e8e8d0}\
td u{position:relative;text-decoration:underline dotted}td u div.tips{display:none}\
td u:hover div.tips{display:block;position:absolute;z-index:2;right:0;background:#ffffe0;\
border:1px solid #999;padding:2px;font-weight:normal}table.det th{text-align:left;background:none;color:#000}";

/// A module's counters: CSV field name and description.
type Counters = &'static [(&'static str, &'static str)];

/// `stats show-modules`: the extra statistics modules, their counters (CSV fields after
/// the `-` column) with a short description, and whether servers and listeners have them
/// (else only frontends and backends do).
const MODULES: &[(&str, bool, Counters)] = &[
    (
        "ssl",
        true,
        &[
            ("ssl_sess", "SSL sessions established"),
            ("ssl_reused_sess", "SSL sessions resumed"),
            ("ssl_failed_handshake", "SSL handshakes failed"),
        ],
    ),
    (
        "h2",
        false,
        &[
            ("h2_headers_rcvd", "HEADERS frames received"),
            ("h2_data_rcvd", "DATA frames received"),
            ("h2_settings_rcvd", "SETTINGS frames received"),
            ("h2_rst_stream_rcvd", "RST_STREAM frames received"),
            ("h2_goaway_rcvd", "GOAWAY frames received"),
            (
                "h2_detected_conn_protocol_errors",
                "connection protocol errors",
            ),
            ("h2_detected_strm_protocol_errors", "stream protocol errors"),
            ("h2_rst_stream_resp", "RST_STREAM sent on errors"),
            ("h2_goaway_resp", "GOAWAY sent on errors"),
            ("h2_open_connections", "connections open now"),
            ("h2_backend_open_streams", "streams open now"),
            ("h2_total_connections", "connections in all"),
            ("h2_backend_total_streams", "streams in all"),
        ],
    ),
    (
        "h1",
        false,
        &[
            ("h1_open_connections", "connections open now"),
            ("h1_open_streams", "streams open now"),
            ("h1_total_connections", "connections in all"),
            ("h1_total_streams", "streams in all"),
            ("h1_bytes_in", "bytes received"),
            ("h1_bytes_out", "bytes sent"),
            ("h1_spliced_bytes_in", "bytes received by splicing"),
            ("h1_spliced_bytes_out", "bytes sent by splicing"),
        ],
    ),
];

/// A row's extra module cells: each module's name, its counters in a tooltip; an empty
/// cell where the module does not apply to that kind of row.
fn module_cells(o: &mut String, r: &StatRow) {
    let whole = matches!(r.obj, ObjType::Frontend | ObjType::Backend);
    for (name, everywhere, counters) in MODULES {
        if !whole && !everywhere {
            o.push_str("<td></td>");
            continue;
        }
        let _ = write!(
            o,
            "<td data-m=\"{name}\"><u>{name}<div class=tips><table class=det>"
        );
        for (f, desc) in *counters {
            let _ = write!(
                o,
                "<tr><th>{desc}</th><td data-f=\"{f}\">{}</td></tr>",
                r.get(f).num()
            );
        }
        o.push_str("</table></div></u></td>");
    }
}

/// Legend entries: (row class, words).
const LEGEND: &[(&str, &str)] = &[
    ("active_up", "active UP"),
    ("backup_up", "backup UP"),
    ("active_going_down", "active UP, going down"),
    ("backup_going_down", "backup UP, going down"),
    ("active_going_up", "active DOWN, going up"),
    ("backup_going_up", "backup DOWN, going up"),
    ("active_down", "active or backup DOWN"),
    ("active_no_check", "not checked"),
    ("maintain", "active or backup DOWN for maintenance (MAINT)"),
    (
        "draining",
        "active or backup SOFT STOPPED for maintenance (DRAIN)",
    ),
];

/// The row class for a server's status.
pub fn server_class(status: &str, backup: bool) -> &'static str {
    let b = backup;
    if status.starts_with("MAINT") {
        "maintain"
    } else if status.starts_with("DRAIN") {
        "draining"
    } else if status == "no check" {
        "active_no_check"
    } else if status.starts_with("UP ") {
        if b {
            "backup_going_down"
        } else {
            "active_going_down"
        }
    } else if status.starts_with("UP") {
        if b { "backup_up" } else { "active_up" }
    } else if status.starts_with("DOWN ") {
        if b {
            "backup_going_up"
        } else {
            "active_going_up"
        }
    } else {
        "active_down"
    }
}

fn fmt_age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Cells shown per row: (field, class of the cell when not numeric).
const COLS: &[&str] = &[
    "qcur", "qmax", "qlimit", "rate", "rate_max", "rate_lim", "scur", "smax", "slim", "stot",
    "lbtot", "lastsess", "bin", "bout", "dreq", "dresp", "ereq", "econ", "eresp", "wretr",
    "wredis", "status", "last_chk", "weight", "act", "bck", "chkfail", "chkdown", "downtime",
    "throttle",
];

fn cell(r: &StatRow, f: &str) -> String {
    let v = r.get(f);
    let t = match f {
        "lastsess" => match v {
            super::Value::S32(n) if *n >= 0 => fmt_age(*n as u64),
            super::Value::S32(_) => "never".into(),
            _ => String::new(),
        },
        "downtime" if !v.is_empty() => fmt_age(v.num()),
        "act" | "bck" if r.obj == ObjType::Server => {
            if v.num() > 0 {
                "Y".into()
            } else {
                "-".into()
            }
        }
        "status" if r.obj == ObjType::Server => {
            let age = fmt_age(r.get("lastchg").num());
            format!("{age} {}", v.text())
        }
        "last_chk" => {
            let st = r.get("check_status").text();
            if st.is_empty() {
                String::new()
            } else {
                let code = r.get("check_code").text();
                let dur = r.get("check_duration");
                let mut s = st;
                if !code.is_empty() {
                    s.push('/');
                    s.push_str(&code);
                }
                if !dur.is_empty() {
                    let _ = write!(s, " in {}ms", dur.num());
                }
                s
            }
        }
        _ => v.text(),
    };
    let class = if matches!(f, "status" | "last_chk") {
        " class=\"ac\""
    } else {
        ""
    };
    format!("<td data-f=\"{f}\"{class}>{}</td>", esc(&t))
}

fn row_id(r: &StatRow) -> String {
    format!(
        "r-{}-{}-{}",
        r.get("iid").num(),
        r.obj.code(),
        r.get("sid").num()
    )
}

/// The whole page.
pub fn render(v: &PageView) -> String {
    let rt = v.rt;
    let mut o = String::with_capacity(32 * 1024);
    let version = env!("CARGO_PKG_VERSION");
    let node = v.cfg.show_node.as_ref().map(|n| {
        if n.is_empty() {
            rt.stats.node.clone()
        } else {
            n.clone()
        }
    });
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Statistics Report for rproxy{}</title><style>{CSS}</style></head><body>\n",
        node.as_deref()
            .map(|n| format!(" on {}", esc(n)))
            .unwrap_or_default()
    );
    if v.cfg.hide_version {
        o.push_str("<h1>rproxy</h1>\n");
    } else {
        let _ = writeln!(o, "<h1>rproxy version {version}</h1>");
    }
    let _ = writeln!(
        o,
        "<h2>Statistics Report for pid {}{}</h2>",
        rt.pid,
        node.as_deref()
            .map(|n| format!(" on {}", esc(n)))
            .unwrap_or_default()
    );
    if let Some(d) = v.cfg.show_desc.as_ref().filter(|d| !d.is_empty()).or(rt
        .stats
        .description
        .as_ref()
        .filter(|_| v.cfg.show_desc.is_some()))
    {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", esc(d));
    }
    if let Some(st) = &v.flags.st {
        let msg = match st.as_str() {
            "DONE" => "Action processed successfully.",
            "PART" => "Action not processed for all the selected servers.",
            "NONE" => "Nothing has changed.",
            "DENY" => "Action denied.",
            "ERRP" => "Action not processed because of invalid parameters.",
            "EXCD" => "Action not processed: the buffer couldn't store all the data.",
            _ => "Unexpected result.",
        };
        let _ = writeln!(o, "<p class=\"st st-{}\"><b>[X]</b> {msg}</p>", esc(st));
    }
    // Process information, legend, options.
    let up = rt.stats.uptime();
    let _ = write!(
        o,
        "<h3>&gt; General process information</h3><div class=\"info\"><div><p><b>pid = </b>{} (process #1, nbproc = 1)<br><b>uptime = </b>{}d {}h{:02}m{:02}s<br><b>maxconn = </b>{}<br>current conns = <span id=\"curconn\">{}</span></p></div>",
        rt.pid,
        up / 86400,
        up / 3600 % 24,
        up / 60 % 60,
        up % 60,
        rt.maxconn,
        rt.active.load(std::sync::atomic::Ordering::Relaxed),
    );
    if v.cfg.show_legends {
        o.push_str("<div><table class=\"lgd\">");
        for (c, w) in LEGEND {
            let _ = write!(
                o,
                "<tr class=\"{c}\"><td style=\"width:14px\"></td><td style=\"background:#fff\">{w}</td></tr>"
            );
        }
        o.push_str("</table></div>");
    }
    let uri = esc(&v.cfg.uri);
    let keep = |extra: &str| {
        let mut s = v.cfg.uri.clone();
        s.push_str(extra);
        esc(&s)
    };
    o.push_str("<div><b>Display option:</b><ul class=\"opts\">");
    if v.flags.up {
        let _ = write!(o, "<li><a href=\"{uri}\">Show all servers</a></li>");
    } else {
        let _ = write!(
            o,
            "<li><a href=\"{}\">Hide 'DOWN' servers</a></li>",
            keep(";up")
        );
    }
    if v.cfg.refresh.is_some() {
        if v.flags.norefresh {
            let _ = write!(o, "<li><a href=\"{uri}\">Enable refresh</a></li>");
        } else {
            let _ = write!(
                o,
                "<li><a href=\"{}\">Disable refresh</a></li>",
                keep(";norefresh")
            );
        }
    }
    let _ = write!(
        o,
        "<li><a href=\"{uri}\">Refresh now</a></li><li><a href=\"{}\">CSV export</a></li><li><a href=\"{}\">JSON export</a></li></ul></div></div>",
        keep(";csv"),
        keep(";json")
    );

    // One table per proxy, in row order.
    let mut i = 0;
    let rows: Vec<&StatRow> = super::scoped(v.rows, v.scope).collect();
    while i < rows.len() {
        let pidx = rows[i].proxy;
        let mut j = i;
        while j < rows.len() && rows[j].proxy == pidx {
            j += 1;
        }
        proxy_table(&mut o, v, &rows[i..j]);
        i = j;
    }
    let _ = write!(
        o,
        "<script>(function(){{var u=location.protocol+'//'+location.host+{};var t={};if(!t)return;setInterval(function(){{fetch(u,{{credentials:'same-origin',cache:'no-store'}}).then(function(r){{return r.json()}}).then(function(d){{d.forEach(function(row){{var m={{}};var k=null;row.forEach(function(f){{m[f.field.name]=f.value.value;}});var tr=document.getElementById('r-'+m.iid+'-'+m.type+'-'+m.sid);if(!tr)return;tr.querySelectorAll('td[data-f]').forEach(function(td){{var n=td.getAttribute('data-f');if(n in m&&['status','last_chk','lastsess','downtime','act','bck'].indexOf(n)<0)td.textContent=m[n];}});}});document.body.setAttribute('data-updated',String(Date.now()));}}).catch(function(){{}});}},t*1000);}})();</script>",
        super::json::quote(&format!(
            "{};json;norefresh{}",
            v.cfg.uri,
            v.flags
                .scope
                .as_ref()
                .map(|s| format!(";scope={s}"))
                .unwrap_or_default()
        )),
        // In-place refresh every `stats refresh` period (2 s without one); off with
        // `;norefresh`. The page itself is not reloaded: no `refresh` header loop.
        if v.flags.norefresh {
            0
        } else {
            v.cfg.refresh.unwrap_or(2).max(1)
        },
    );
    o.push_str("\n</body></html>\n");
    o
}

fn proxy_table(o: &mut String, v: &PageView, rows: &[&StatRow]) {
    let Some(first) = rows.first() else { return };
    let name = first.pxname();
    let iid = first.get("iid").num();
    let has_servers = rows.iter().any(|r| r.obj == ObjType::Server);
    let admin = v.admin && has_servers;
    let desc =
        v.rt.stats
            .proxies
            .get(first.proxy)
            .and_then(|p| p.description.clone());
    if admin {
        let _ = write!(o, "<form method=\"post\" action=\"{}\">", esc(&v.cfg.uri));
    }
    let _ = write!(
        o,
        "<div class=\"wrap\"><table class=\"tbl\" id=\"px-{}\"><tr class=\"titre\"><th class=\"pxname\" colspan=\"{}\"><a name=\"{0}\"></a>{0}{}</th></tr>",
        esc(&name),
        COLS.len() + 1 + usize::from(admin) + if v.cfg.show_modules { 3 } else { 0 },
        desc.map(|d| format!(" <small>({})</small>", esc(&d)))
            .unwrap_or_default()
    );
    let _ = write!(
        o,
        "<tr class=\"titre\">{}<th></th><th colspan=\"3\">Queue</th><th colspan=\"3\">Session rate</th><th colspan=\"6\">Sessions</th><th colspan=\"2\">Bytes</th><th colspan=\"2\">Denied</th><th colspan=\"3\">Errors</th><th colspan=\"2\">Warnings</th><th colspan=\"9\">Server</th>{}</tr>",
        if admin { "<th></th>" } else { "" },
        if v.cfg.show_modules {
            "<th colspan=\"3\">Extra modules</th>"
        } else {
            ""
        }
    );
    let _ = write!(
        o,
        "<tr class=\"titre\">{}<th></th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>{}</tr>",
        if admin { "<th></th>" } else { "" },
        if v.cfg.show_modules {
            "<th>ssl</th><th>h2</th><th>h1</th>"
        } else {
            ""
        }
    );
    for r in rows {
        let (class, label) = match r.obj {
            ObjType::Frontend => ("frontend".to_string(), "Frontend".to_string()),
            ObjType::Backend => ("backend".to_string(), "Backend".to_string()),
            ObjType::Listener => ("socket".to_string(), r.svname()),
            ObjType::Server => (
                server_class(&r.get("status").text(), r.get("bck").num() > 0).to_string(),
                r.svname(),
            ),
        };
        let _ = write!(o, "<tr class=\"{class}\" id=\"{}\">", row_id(r));
        if admin {
            if r.obj == ObjType::Server {
                let _ = write!(
                    o,
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                    esc(&r.svname())
                );
            } else {
                o.push_str("<td></td>");
            }
        }
        let _ = write!(o, "<td class=\"ac nm\">{}</td>", esc(&label));
        for f in COLS {
            o.push_str(&cell(r, f));
        }
        if v.cfg.show_modules {
            module_cells(o, r);
        }
        o.push_str("</tr>");
    }
    o.push_str("</table></div>");
    if admin {
        let _ = write!(
            o,
            "<div style=\"margin:-6px 0 12px\">Choose the action to perform on the checked servers : <select name=\"action\"><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"dhlth\">Health: disable checks</option><option value=\"ehlth\">Health: enable checks</option><option value=\"hrunn\">Health: force UP</option><option value=\"hnolb\">Health: force NOLB</option><option value=\"hdown\">Health: force DOWN</option><option value=\"dagent\">Agent: disable checks</option><option value=\"eagent\">Agent: enable checks</option><option value=\"arunn\">Agent: force UP</option><option value=\"adown\">Agent: force DOWN</option><option value=\"shutdown\">Kill Sessions</option></select><input type=\"hidden\" name=\"b\" value=\"#{iid}\"> <input type=\"submit\" value=\"Apply\"></div></form>"
        );
    }
    o.push('\n');
}
