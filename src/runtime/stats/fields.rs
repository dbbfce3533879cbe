//! The stats fields of HAProxy 2.6, in CSV order (without the `-` column that separates
//! the proxy fields from the stats-module ones), with the tags and value types its JSON
//! export gives each (observed on HAProxy 2.6.12).

/// (name, origin, nature, scope, JSON value type).
pub const FIELDS: &[(&str, &str, &str, &str, &str)] = &[
    ("pxname", "Key", "Name", "Service", "str"),
    ("svname", "Key", "Name", "Service", "str"),
    ("qcur", "Metric", "Gauge", "Process", "u32"),
    ("qmax", "Metric", "Max", "Process", "u32"),
    ("scur", "Metric", "Gauge", "Process", "u32"),
    ("smax", "Metric", "Max", "Process", "u32"),
    ("slim", "Config", "Limit", "Process", "u32"),
    ("stot", "Metric", "Counter", "Process", "u64"),
    ("bin", "Metric", "Counter", "Process", "u64"),
    ("bout", "Metric", "Counter", "Process", "u64"),
    ("dreq", "Metric", "Counter", "Process", "u64"),
    ("dresp", "Metric", "Counter", "Process", "u64"),
    ("ereq", "Metric", "Counter", "Process", "u64"),
    ("econ", "Metric", "Counter", "Process", "u64"),
    ("eresp", "Metric", "Counter", "Process", "u64"),
    ("wretr", "Metric", "Counter", "Process", "u64"),
    ("wredis", "Metric", "Counter", "Process", "u64"),
    ("status", "Status", "Gauge", "Process", "str"),
    ("weight", "Metric", "Avg", "Process", "u32"),
    ("act", "Status", "Gauge", "Process", "u32"),
    ("bck", "Status", "Gauge", "Process", "u32"),
    ("chkfail", "Metric", "Counter", "Process", "u64"),
    ("chkdown", "Metric", "Counter", "Process", "u64"),
    ("lastchg", "Metric", "Age", "Process", "u32"),
    ("downtime", "Metric", "Counter", "Process", "u32"),
    ("qlimit", "Config", "Limit", "Process", "u32"),
    ("pid", "Key", "Gauge", "Process", "u32"),
    ("iid", "Key", "Gauge", "Service", "u32"),
    ("sid", "Key", "Gauge", "Service", "u32"),
    ("throttle", "Metric", "Avg", "Process", "u32"),
    ("lbtot", "Metric", "Counter", "Process", "u64"),
    ("tracked", "Config", "Name", "Service", "str"),
    ("type", "Config", "Gauge", "Service", "u32"),
    ("rate", "Metric", "Rate", "Process", "u32"),
    ("rate_lim", "Config", "Limit", "Process", "u32"),
    ("rate_max", "Metric", "Max", "Process", "u32"),
    ("check_status", "Metric", "Output", "Process", "str"),
    ("check_code", "Metric", "Output", "Process", "u32"),
    ("check_duration", "Metric", "Duration", "Process", "u64"),
    ("hrsp_1xx", "Metric", "Counter", "Process", "u64"),
    ("hrsp_2xx", "Metric", "Counter", "Process", "u64"),
    ("hrsp_3xx", "Metric", "Counter", "Process", "u64"),
    ("hrsp_4xx", "Metric", "Counter", "Process", "u64"),
    ("hrsp_5xx", "Metric", "Counter", "Process", "u64"),
    ("hrsp_other", "Metric", "Counter", "Process", "u64"),
    ("hanafail", "Metric", "Counter", "Process", "u64"),
    ("req_rate", "Metric", "Rate", "Process", "u32"),
    ("req_rate_max", "Metric", "Max", "Process", "u32"),
    ("req_tot", "Metric", "Counter", "Process", "u64"),
    ("cli_abrt", "Metric", "Counter", "Process", "u64"),
    ("srv_abrt", "Metric", "Counter", "Process", "u64"),
    ("comp_in", "Metric", "Counter", "Process", "u64"),
    ("comp_out", "Metric", "Counter", "Process", "u64"),
    ("comp_byp", "Metric", "Counter", "Process", "u64"),
    ("comp_rsp", "Metric", "Counter", "Process", "u64"),
    ("lastsess", "Metric", "Age", "Process", "s32"),
    ("last_chk", "Metric", "Output", "Process", "str"),
    ("last_agt", "Metric", "Output", "Process", "str"),
    ("qtime", "Metric", "Avg", "Process", "u32"),
    ("ctime", "Metric", "Avg", "Process", "u32"),
    ("rtime", "Metric", "Avg", "Process", "u32"),
    ("ttime", "Metric", "Avg", "Process", "u32"),
    ("agent_status", "Metric", "Output", "Process", "str"),
    ("agent_code", "Metric", "Output", "Process", "u32"),
    ("agent_duration", "Metric", "Duration", "Process", "u64"),
    ("check_desc", "Metric", "Output", "Process", "str"),
    ("agent_desc", "Metric", "Output", "Process", "str"),
    ("check_rise", "Config", "Gauge", "Service", "u32"),
    ("check_fall", "Config", "Gauge", "Service", "u32"),
    ("check_health", "Config", "Gauge", "Service", "u32"),
    ("agent_rise", "Config", "Gauge", "Service", "u32"),
    ("agent_fall", "Config", "Gauge", "Service", "u32"),
    ("agent_health", "Config", "Gauge", "Service", "u32"),
    ("addr", "Config", "Gauge", "Service", "str"),
    ("cookie", "Config", "Name", "Service", "str"),
    ("mode", "Config", "Gauge", "Service", "str"),
    ("algo", "Config", "Gauge", "Service", "str"),
    ("conn_rate", "Metric", "Rate", "Process", "u32"),
    ("conn_rate_max", "Metric", "Max", "Process", "u32"),
    ("conn_tot", "Metric", "Counter", "Process", "u64"),
    ("intercepted", "Metric", "Counter", "Process", "u64"),
    ("dcon", "Metric", "Counter", "Process", "u64"),
    ("dses", "Metric", "Counter", "Process", "u64"),
    ("wrew", "Metric", "Counter", "Process", "u64"),
    ("connect", "Metric", "Counter", "Process", "u64"),
    ("reuse", "Metric", "Counter", "Process", "u64"),
    ("cache_lookups", "Metric", "Counter", "Process", "u64"),
    ("cache_hits", "Metric", "Counter", "Process", "u64"),
    ("srv_icur", "Metric", "Gauge", "Process", "u32"),
    ("src_ilim", "Metric", "Gauge", "Process", "u32"),
    ("qtime_max", "Metric", "Max", "Process", "u32"),
    ("ctime_max", "Metric", "Max", "Process", "u32"),
    ("rtime_max", "Metric", "Max", "Process", "u32"),
    ("ttime_max", "Metric", "Max", "Process", "u32"),
    ("eint", "Metric", "Counter", "Process", "u64"),
    ("idle_conn_cur", "Metric", "Gauge", "Process", "u32"),
    ("safe_conn_cur", "Metric", "Gauge", "Process", "u32"),
    ("used_conn_cur", "Metric", "Gauge", "Process", "u32"),
    ("need_conn_est", "Metric", "Gauge", "Process", "u32"),
    ("uweight", "Metric", "Avg", "Process", "u32"),
    ("agg_server_status", "Metric", "Gauge", "Process", "u32"),
    (
        "agg_server_check_status",
        "Metric",
        "Gauge",
        "Process",
        "u32",
    ),
    ("agg_check_status", "Metric", "Gauge", "Process", "u32"),
    ("ssl_sess", "Metric", "Counter", "Process", "u64"),
    ("ssl_reused_sess", "Metric", "Counter", "Process", "u64"),
    (
        "ssl_failed_handshake",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    ("h2_headers_rcvd", "Metric", "Counter", "Process", "u64"),
    ("h2_data_rcvd", "Metric", "Counter", "Process", "u64"),
    ("h2_settings_rcvd", "Metric", "Counter", "Process", "u64"),
    ("h2_rst_stream_rcvd", "Metric", "Counter", "Process", "u64"),
    ("h2_goaway_rcvd", "Metric", "Counter", "Process", "u64"),
    (
        "h2_detected_conn_protocol_errors",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    (
        "h2_detected_strm_protocol_errors",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    ("h2_rst_stream_resp", "Metric", "Counter", "Process", "u64"),
    ("h2_goaway_resp", "Metric", "Counter", "Process", "u64"),
    ("h2_open_connections", "Metric", "Gauge", "Process", "u64"),
    (
        "h2_backend_open_streams",
        "Metric",
        "Gauge",
        "Process",
        "u64",
    ),
    (
        "h2_total_connections",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    (
        "h2_backend_total_streams",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    ("h1_open_connections", "Metric", "Gauge", "Process", "u64"),
    ("h1_open_streams", "Metric", "Gauge", "Process", "u64"),
    (
        "h1_total_connections",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
    ("h1_total_streams", "Metric", "Counter", "Process", "u64"),
    ("h1_bytes_in", "Metric", "Counter", "Process", "u64"),
    ("h1_bytes_out", "Metric", "Counter", "Process", "u64"),
    ("h1_spliced_bytes_in", "Metric", "Counter", "Process", "u64"),
    (
        "h1_spliced_bytes_out",
        "Metric",
        "Counter",
        "Process",
        "u64",
    ),
];

/// Fields before the `-` separator column.
pub const PROXY_FIELDS: usize = 103;

/// Position of a field by name.
pub fn pos(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.0 == name)
}

/// The JSON tags of a field for one kind of object (backends tag a few differently).
pub fn tags(i: usize, obj: super::ObjType) -> (&'static str, &'static str, &'static str) {
    let (name, origin, nature, scope, _) = FIELDS[i];
    if obj == super::ObjType::Backend {
        match name {
            "rate" | "rate_max" => return (origin, "Gauge", scope),
            "act" | "bck" => return ("Metric", nature, scope),
            _ => {}
        }
    }
    (origin, nature, scope)
}

/// The CSV header line (with its trailing comma and newline).
pub fn csv_header() -> String {
    let mut s = String::from("# ");
    for (i, f) in FIELDS.iter().enumerate() {
        if i == PROXY_FIELDS {
            s.push_str("-,");
        }
        s.push_str(f.0);
        s.push(',');
    }
    s.push('\n');
    s
}
