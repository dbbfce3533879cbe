//! Keywords recognised but not applied yet (warned) or never supported (rejected), by section.
//!
//! The tables hold the `pending` and `unsupported` rows of `grammar/keywords.tsv`, in the same
//! order; `supported` and `legacy` keywords are handled by the parser modules. Keep the two in
//! step: `tests/catalogue_format.rs` fails when they differ. Keywords of sections rproxy does not
//! implement (peers, resolvers, ...) have no table: the whole section is rejected.

/// A keyword the parser recognises without modelling it (pending) or rejects (unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmodelled {
    /// The keyword as written; a trailing `*` matches any keyword with that prefix (`lua.*`).
    pub keyword: &'static str,
    /// Where it may appear: `defaults`, `frontend`, `listen`, `backend` as `d`, `f`, `l`, `b`
    /// (`-` when not allowed), or `-` for keywords outside proxy sections.
    pub where_: &'static str,
    /// `Some(reason)` when rproxy rejects the keyword; `None` when it is accepted with a warning.
    pub unsupported: Option<&'static str>,
}

impl Unmodelled {
    /// Whether `kw` is this keyword (or matches its `prefix*` pattern).
    pub fn matches(&self, kw: &str) -> bool {
        match self.keyword.strip_suffix('*') {
            Some(prefix) => kw.starts_with(prefix),
            None => self.keyword == kw,
        }
    }
}

const fn pending(keyword: &'static str, where_: &'static str) -> Unmodelled {
    Unmodelled {
        keyword,
        where_,
        unsupported: None,
    }
}

const fn unsupported(
    keyword: &'static str,
    where_: &'static str,
    reason: &'static str,
) -> Unmodelled {
    Unmodelled {
        keyword,
        where_,
        unsupported: Some(reason),
    }
}

// Reasons shared by several unsupported keywords.
const FIFTYONE_DEGREES: &str = "51Degrees device detection is a proprietary add-on";
const DEVICE_ATLAS: &str = "DeviceAtlas device detection is a proprietary add-on";
const WURFL: &str = "WURFL device detection is a proprietary add-on";
const LUA: &str = "Lua scripting is not supported";
const OPENSSL_PROVIDERS: &str = "OpenSSL 3 providers do not exist with rustls";
const NPN: &str = "rustls does not implement NPN (use alpn)";
const SSLV3: &str = "rustls does not implement SSLv3";
const FFDHE: &str = "rustls has no finite-field DHE key exchange";
const OLD_TLS: &str = "rustls implements only TLS 1.2 and 1.3";
const SECTION_NOT_YET: &str = "section not supported by rproxy yet";

/// Unmodelled `global` section keywords (family `global` of the catalogue).
pub const GLOBAL: &[Unmodelled] = &[
    unsupported("51degrees-cache-size", "-", FIFTYONE_DEGREES),
    unsupported("51degrees-data-file", "-", FIFTYONE_DEGREES),
    unsupported("51degrees-property-name-list", "-", FIFTYONE_DEGREES),
    unsupported("51degrees-property-separator", "-", FIFTYONE_DEGREES),
    pending("busy-polling", "-"),
    pending("close-spread-time", "-"),
    pending("cluster-secret", "-"),
    pending("cpu-map", "-"),
    pending("default-path", "-"),
    unsupported("deviceatlas-json-file", "-", DEVICE_ATLAS),
    unsupported("deviceatlas-log-level", "-", DEVICE_ATLAS),
    unsupported("deviceatlas-properties-cookie", "-", DEVICE_ATLAS),
    unsupported("deviceatlas-property-separator", "-", DEVICE_ATLAS),
    unsupported("deviceatlas-separator", "-", DEVICE_ATLAS),
    pending("external-check", "-"),
    pending("fd-hard-limit", "-"),
    pending("grace", "-"),
    pending("h1-accept-payload-with-any-method", "-"),
    pending("h1-case-adjust", "-"),
    pending("h1-case-adjust-file", "-"),
    pending("httpclient.resolvers.id", "-"),
    pending("httpclient.resolvers.prefer", "-"),
    pending("httpclient.ssl.ca-file", "-"),
    pending("httpclient.ssl.verify", "-"),
    pending("issuers-chain-path", "-"),
    pending("localpeer", "-"),
    unsupported("lua-load", "-", LUA),
    unsupported("lua-load-per-thread", "-", LUA),
    unsupported("lua-prepend-path", "-", LUA),
    pending("max-spread-checks", "-"),
    pending("maxcompcpuusage", "-"),
    pending("maxcomprate", "-"),
    pending("maxpipes", "-"),
    pending("maxsslconn", "-"),
    pending("maxzlibmem", "-"),
    pending("mworker-max-reloads", "-"),
    pending("no-memory-trimming", "-"),
    pending("noepoll", "-"),
    pending("noevports", "-"),
    pending("nogetaddrinfo", "-"),
    pending("nokqueue", "-"),
    pending("nopoll", "-"),
    pending("noreuseport", "-"),
    pending("numa-cpu-mapping", "-"),
    pending("pp2-never-send-local", "-"),
    pending("profiling.memory", "-"),
    pending("profiling.tasks", "-"),
    pending("server-state-base", "-"),
    pending("server-state-file", "-"),
    pending("set-dumpable", "-"),
    pending("set-var", "-"),
    pending("set-var-fmt", "-"),
    pending("ssl-default-bind-curves", "-"),
    unsupported("ssl-dh-param-file", "-", FFDHE),
    unsupported(
        "ssl-engine",
        "-",
        "OpenSSL engines do not exist with rustls",
    ),
    pending("ssl-load-extra-del-ext", "-"),
    pending("ssl-load-extra-files", "-"),
    unsupported(
        "ssl-mode-async",
        "-",
        "OpenSSL asynchronous engine mode does not exist with rustls",
    ),
    unsupported("ssl-propquery", "-", OPENSSL_PROVIDERS),
    unsupported("ssl-provider", "-", OPENSSL_PROVIDERS),
    unsupported("ssl-provider-path", "-", OPENSSL_PROVIDERS),
    pending("ssl-skip-self-issued-ca", "-"),
    pending("stats bind-process", "-"),
    pending("strict-limits", "-"),
    pending("thread-group", "-"),
    pending("thread-groups", "-"),
    pending("tune.buffers.limit", "-"),
    pending("tune.buffers.reserve", "-"),
    pending("tune.comp.maxlevel", "-"),
    pending("tune.fail-alloc", "-"),
    pending("tune.fd.edge-triggered", "-"),
    pending("tune.http.cookielen", "-"),
    pending("tune.http.logurilen", "-"),
    pending("tune.idle-pool.shared", "-"),
    pending("tune.idletimer", "-"),
    pending("tune.listener.multi-queue", "-"),
    unsupported("tune.lua.forced-yield", "-", LUA),
    unsupported("tune.lua.maxmem", "-", LUA),
    unsupported("tune.lua.service-timeout", "-", LUA),
    unsupported("tune.lua.session-timeout", "-", LUA),
    unsupported("tune.lua.task-timeout", "-", LUA),
    pending("tune.maxaccept", "-"),
    pending("tune.maxpollevents", "-"),
    pending("tune.pattern.cache-size", "-"),
    pending("tune.pool-high-fd-ratio", "-"),
    pending("tune.pool-low-fd-ratio", "-"),
    pending("tune.quic.frontend.conn-tx-buffers.limit", "-"),
    pending("tune.quic.frontend.max-idle-timeout", "-"),
    pending("tune.quic.frontend.max-streams-bidi", "-"),
    pending("tune.quic.retry-threshold", "-"),
    pending("tune.rcvbuf.client", "-"),
    pending("tune.rcvbuf.server", "-"),
    pending("tune.recv_enough", "-"),
    pending("tune.runqueue-depth", "-"),
    pending("tune.sched.low-latency", "-"),
    pending("tune.sndbuf.client", "-"),
    pending("tune.sndbuf.server", "-"),
    pending("tune.ssl.cachesize", "-"),
    pending("tune.ssl.capture-buffer-size", "-"),
    pending("tune.ssl.capture-cipherlist-size", "-"),
    unsupported("tune.ssl.default-dh-param", "-", FFDHE),
    pending("tune.ssl.force-private-cache", "-"),
    pending("tune.ssl.hard-maxrecord", "-"),
    pending("tune.ssl.keylog", "-"),
    pending("tune.ssl.lifetime", "-"),
    pending("tune.ssl.maxrecord", "-"),
    pending("tune.ssl.ssl-ctx-cache-size", "-"),
    pending("tune.vars.global-max-size", "-"),
    pending("tune.vars.proc-max-size", "-"),
    pending("tune.vars.reqres-max-size", "-"),
    pending("tune.vars.sess-max-size", "-"),
    pending("tune.vars.txn-max-size", "-"),
    pending("tune.zlib.memlevel", "-"),
    pending("tune.zlib.windowsize", "-"),
    pending("ulimit-n", "-"),
    pending("unix-bind", "-"),
    unsupported("wurfl-cache-size", "-", WURFL),
    unsupported("wurfl-data-file", "-", WURFL),
    unsupported("wurfl-engine-mode", "-", WURFL),
    unsupported("wurfl-information-list", "-", WURFL),
    unsupported("wurfl-information-list-separator", "-", WURFL),
    unsupported("wurfl-patch-file", "-", WURFL),
    unsupported("wurfl-useragent-priority", "-", WURFL),
];

/// Unmodelled proxy keywords (`defaults`, `frontend`, `listen`, `backend`), first word only (family `proxy` of the catalogue).
pub const PROXY: &[Unmodelled] = &[
    unsupported(
        "appsession",
        "--lb",
        "removed in 1.6; use `cookie ... insert` or stick tables",
    ),
    pending("bind-process", "dflb"),
    pending("clitcpka-cnt", "dfl-"),
    pending("clitcpka-idle", "dfl-"),
    pending("clitcpka-intvl", "dfl-"),
    pending("compression", "dflb"),
    pending("declare", "-fl-"),
    pending("dynamic-cookie-key", "d-lb"),
    pending("email-alert", "dflb"),
    pending("external-check", "d-lb"),
    pending("filter", "-flb"),
    pending("hash-balance-factor", "d--b"),
    pending("http-after-response", "dflb"),
    pending("http-send-name-header", "--lb"),
    pending("load-server-state-from-file", "d-lb"),
    pending("max-session-srv-conns", "dfl-"),
    pending("persist", "d-lb"),
    pending("server-state-file-name", "d-lb"),
    pending("server-template", "--lb"),
    pending("source", "d-lb"),
    pending("srvtcpka-cnt", "d-lb"),
    pending("srvtcpka-idle", "d-lb"),
    pending("srvtcpka-intvl", "d-lb"),
    pending("stick", "--lb"),
    pending("stick-table", "-flb"),
    pending("tcp-response", "d-lb"),
    pending("use-fcgi-app", "--lb"),
];

/// Unmodelled `option` names (without `no`) (family `option` of the catalogue).
pub const OPTION: &[Unmodelled] = &[
    pending("accept-invalid-http-request", "dfl-"),
    pending("accept-invalid-http-response", "d-lb"),
    pending("contstats", "dfl-"),
    pending("disable-h2-upgrade", "dfl-"),
    pending("external-check", "d-lb"),
    pending("h1-case-adjust-bogus-client", "dfl-"),
    pending("h1-case-adjust-bogus-server", "d-lb"),
    pending("http-ignore-probes", "dfl-"),
    pending("http-no-delay", "dflb"),
    pending("http-restrict-req-hdr-names", "dflb"),
    pending("http-use-proxy-header", "dfl-"),
    unsupported(
        "http_proxy",
        "dflb",
        "rproxy is not a forward proxy; route with use_backend and set-dst/set-uri rules",
    ),
    pending("idle-close-on-response", "dfl-"),
    pending("independent-streams", "dflb"),
    pending("nolinger", "dflb"),
    pending("spop-check", "---b"),
    pending("tcp-smart-accept", "dfl-"),
    pending("tcp-smart-connect", "d-lb"),
];

/// Unmodelled `timeout` names (family `timeout` of the catalogue).
pub const TIMEOUT: &[Unmodelled] = &[];

/// Unmodelled proxy `stats` sub-keywords (family `stats` of the catalogue).
pub const STATS: &[Unmodelled] = &[];

/// Unmodelled `bind` line options (family `bind` of the catalogue).
pub const BIND: &[Unmodelled] = &[
    pending("accept-netscaler-cip", "-"),
    pending("allow-0rtt", "-"),
    pending("ca-ignore-err", "-"),
    pending("ca-sign-file", "-"),
    pending("ca-sign-pass", "-"),
    pending("ca-verify-file", "-"),
    pending("crt-ignore-err", "-"),
    pending("curves", "-"),
    pending("ecdhe", "-"),
    pending("expose-fd", "-"),
    unsupported("force-sslv3", "-", SSLV3),
    unsupported("force-tlsv10", "-", OLD_TLS),
    unsupported("force-tlsv11", "-", OLD_TLS),
    pending("generate-certificates", "-"),
    pending("level", "-"),
    pending("mss", "-"),
    pending("namespace", "-"),
    pending("nice", "-"),
    pending("no-ca-names", "-"),
    pending("no-tls-tickets", "-"),
    unsupported("npn", "-", NPN),
    pending("prefer-client-ciphers", "-"),
    pending("process", "-"),
    pending("proto", "-"),
    pending("quic-force-retry", "-"),
    pending("severity-output", "-"),
    pending("shards", "-"),
    pending("tcp-ut", "-"),
    pending("thread", "-"),
    pending("tls-ticket-keys", "-"),
];

/// Unmodelled `server` / `default-server` options (family `server` of the catalogue).
pub const SERVER: &[Unmodelled] = &[
    pending("allow-0rtt", "-"),
    pending("check-proto", "-"),
    pending("check-via-socks4", "-"),
    unsupported("force-sslv3", "-", SSLV3),
    unsupported("force-tlsv10", "-", OLD_TLS),
    unsupported("force-tlsv11", "-", OLD_TLS),
    pending("force-tlsv12", "-"),
    pending("force-tlsv13", "-"),
    pending("log-proto", "-"),
    pending("max-reuse", "-"),
    pending("namespace", "-"),
    pending("no-check-send-proxy", "-"),
    pending("no-send-proxy-v2", "-"),
    pending("no-send-proxy-v2-ssl", "-"),
    pending("no-send-proxy-v2-ssl-cn", "-"),
    pending("no-ssl-reuse", "-"),
    pending("no-tfo", "-"),
    pending("no-tls-tickets", "-"),
    pending("no-tlsv12", "-"),
    pending("no-tlsv13", "-"),
    pending("non-stick", "-"),
    unsupported("npn", "-", NPN),
    pending("pool-low-conn", "-"),
    pending("pool-max-conn", "-"),
    pending("pool-purge-delay", "-"),
    pending("proxy-v2-options", "-"),
    pending("redir", "-"),
    pending("resolve-net", "-"),
    pending("resolve-opts", "-"),
    pending("resolve-prefer", "-"),
    pending("send-proxy-v2-ssl", "-"),
    pending("send-proxy-v2-ssl-cn", "-"),
    pending("socks4", "-"),
    pending("source", "-"),
    pending("ssl-reuse", "-"),
    pending("stick", "-"),
    pending("tcp-ut", "-"),
    pending("tfo", "-"),
    pending("tls-tickets", "-"),
    pending("track", "-"),
    pending("ws", "-"),
];

/// Unmodelled `http-request` actions (family `http-request` of the catalogue).
pub const HTTP_REQUEST: &[Unmodelled] = &[
    pending("add-acl", "dflb"),
    pending("cache-use", "dflb"),
    pending("del-acl", "dflb"),
    pending("del-map", "dflb"),
    pending("disable-l7-retry", "dflb"),
    pending("do-resolve", "dflb"),
    pending("early-hint", "dflb"),
    unsupported("lua.*", "dflb", LUA),
    pending("normalize-uri", "dflb"),
    pending("reject", "dflb"),
    pending("replace-pathq", "dflb"),
    pending("sc-inc-gpc", "dflb"),
    pending("sc-inc-gpc0", "dflb"),
    pending("sc-inc-gpc1", "dflb"),
    pending("sc-set-gpt", "dflb"),
    pending("sc-set-gpt0", "dflb"),
    pending("send-spoe-group", "dflb"),
    pending("set-dst", "dflb"),
    pending("set-dst-port", "dflb"),
    pending("set-map", "dflb"),
    pending("set-mark", "dflb"),
    pending("set-nice", "dflb"),
    pending("set-priority-class", "dflb"),
    pending("set-priority-offset", "dflb"),
    pending("set-src", "dflb"),
    pending("set-src-port", "dflb"),
    pending("set-timeout", "d-lb"),
    pending("set-tos", "dflb"),
    pending("set-var-fmt", "dflb"),
    pending("silent-drop", "dflb"),
    pending("strict-mode", "dflb"),
    pending("track-sc0", "dflb"),
    pending("track-sc1", "dflb"),
    pending("track-sc2", "dflb"),
    pending("wait-for-body", "dflb"),
    pending("wait-for-handshake", "dflb"),
];

/// Unmodelled `http-response` actions (family `http-response` of the catalogue).
pub const HTTP_RESPONSE: &[Unmodelled] = &[
    pending("add-acl", "dflb"),
    pending("cache-store", "dflb"),
    pending("capture", "dflb"),
    pending("del-acl", "dflb"),
    pending("del-map", "dflb"),
    unsupported("lua.*", "dflb", LUA),
    pending("sc-inc-gpc", "dflb"),
    pending("sc-inc-gpc0", "dflb"),
    pending("sc-inc-gpc1", "dflb"),
    pending("sc-set-gpt", "dflb"),
    pending("sc-set-gpt0", "dflb"),
    pending("send-spoe-group", "dflb"),
    pending("set-map", "dflb"),
    pending("set-mark", "dflb"),
    pending("set-nice", "dflb"),
    pending("set-tos", "dflb"),
    pending("set-var-fmt", "dflb"),
    pending("silent-drop", "dflb"),
    pending("strict-mode", "dflb"),
    pending("track-sc0", "dflb"),
    pending("track-sc1", "dflb"),
    pending("track-sc2", "dflb"),
    pending("wait-for-body", "dflb"),
];

/// Unmodelled `http-after-response` actions (family `http-after-response` of the catalogue).
pub const HTTP_AFTER_RESPONSE: &[Unmodelled] = &[
    pending("add-header", "dflb"),
    pending("allow", "dflb"),
    pending("capture", "dflb"),
    pending("del-header", "dflb"),
    pending("replace-header", "dflb"),
    pending("replace-value", "dflb"),
    pending("set-header", "dflb"),
    pending("set-status", "dflb"),
    pending("set-var", "dflb"),
    pending("set-var-fmt", "dflb"),
    pending("strict-mode", "dflb"),
    pending("unset-var", "dflb"),
];

/// Unmodelled `tcp-request connection` actions (family `tcp-request connection` of the catalogue).
pub const TCP_REQUEST_CONNECTION: &[Unmodelled] = &[
    pending("expect-netscaler-cip", "dfl-"),
    pending("sc-inc-gpc", "dfl-"),
    pending("sc-inc-gpc0", "dfl-"),
    pending("sc-inc-gpc1", "dfl-"),
    pending("sc-set-gpt", "dfl-"),
    pending("sc-set-gpt0", "dfl-"),
    pending("set-dst", "dfl-"),
    pending("set-dst-port", "dfl-"),
    pending("set-mark", "dfl-"),
    pending("set-src", "dfl-"),
    pending("set-src-port", "dfl-"),
    pending("set-tos", "dfl-"),
    pending("set-var-fmt", "dfl-"),
    pending("silent-drop", "dfl-"),
    pending("track-sc0", "dfl-"),
    pending("track-sc1", "dfl-"),
    pending("track-sc2", "dfl-"),
    pending("unset-var", "dfl-"),
];

/// Unmodelled `tcp-request session` actions (family `tcp-request session` of the catalogue).
pub const TCP_REQUEST_SESSION: &[Unmodelled] = &[
    pending("accept", "dfl-"),
    pending("reject", "dfl-"),
    pending("sc-inc-gpc", "dfl-"),
    pending("sc-inc-gpc0", "dfl-"),
    pending("sc-inc-gpc1", "dfl-"),
    pending("sc-set-gpt", "dfl-"),
    pending("sc-set-gpt0", "dfl-"),
    pending("set-dst", "dfl-"),
    pending("set-dst-port", "dfl-"),
    pending("set-mark", "dfl-"),
    pending("set-src", "dfl-"),
    pending("set-src-port", "dfl-"),
    pending("set-tos", "dfl-"),
    pending("set-var", "dfl-"),
    pending("set-var-fmt", "dfl-"),
    pending("silent-drop", "dfl-"),
    pending("track-sc0", "dfl-"),
    pending("track-sc1", "dfl-"),
    pending("track-sc2", "dfl-"),
    pending("unset-var", "dfl-"),
];

/// Unmodelled `tcp-request content` actions (and `tcp-request inspect-delay`) (family `tcp-request content` of the catalogue).
pub const TCP_REQUEST_CONTENT: &[Unmodelled] = &[
    pending("capture", "dflb"),
    pending("do-resolve", "dflb"),
    unsupported("lua.*", "dflb", LUA),
    pending("sc-inc-gpc", "dflb"),
    pending("sc-inc-gpc0", "dflb"),
    pending("sc-inc-gpc1", "dflb"),
    pending("sc-set-gpt", "dflb"),
    pending("sc-set-gpt0", "dflb"),
    pending("send-spoe-group", "dflb"),
    pending("set-dst", "dflb"),
    pending("set-dst-port", "dflb"),
    pending("set-mark", "dflb"),
    pending("set-nice", "dflb"),
    pending("set-priority-class", "dflb"),
    pending("set-priority-offset", "dflb"),
    pending("set-src", "dflb"),
    pending("set-src-port", "dflb"),
    pending("set-tos", "dflb"),
    pending("set-var-fmt", "dflb"),
    pending("silent-drop", "dflb"),
    pending("switch-mode", "dfl-"),
    pending("track-sc0", "dflb"),
    pending("track-sc1", "dflb"),
    pending("track-sc2", "dflb"),
    pending("unset-var", "dflb"),
];

/// Unmodelled `tcp-response content` actions (and `tcp-response inspect-delay`) (family `tcp-response content` of the catalogue).
pub const TCP_RESPONSE_CONTENT: &[Unmodelled] = &[
    pending("accept", "d-lb"),
    pending("close", "d-lb"),
    pending("inspect-delay", "d-lb"),
    unsupported("lua.*", "d-lb", LUA),
    pending("reject", "d-lb"),
    pending("sc-inc-gpc", "d-lb"),
    pending("sc-inc-gpc0", "d-lb"),
    pending("sc-inc-gpc1", "d-lb"),
    pending("sc-set-gpt", "d-lb"),
    pending("sc-set-gpt0", "d-lb"),
    pending("send-spoe-group", "d-lb"),
    pending("set-log-level", "d-lb"),
    pending("set-mark", "d-lb"),
    pending("set-nice", "d-lb"),
    pending("set-tos", "d-lb"),
    pending("set-var", "d-lb"),
    pending("set-var-fmt", "d-lb"),
    pending("silent-drop", "d-lb"),
    pending("unset-var", "d-lb"),
];

/// Unmodelled `http-check` directives (family `http-check` of the catalogue).
pub const HTTP_CHECK: &[Unmodelled] =
    &[pending("set-var-fmt", "d-lb"), pending("unset-var", "d-lb")];

/// Unmodelled `tcp-check` directives (family `tcp-check` of the catalogue).
pub const TCP_CHECK: &[Unmodelled] =
    &[pending("set-var-fmt", "d-lb"), pending("unset-var", "d-lb")];

/// Unmodelled `userlist` section keywords (family `userlist` of the catalogue).
pub const USERLIST: &[Unmodelled] = &[];

/// `http-errors` section keywords: `errorfile` is modelled, nothing is pending.
pub const HTTP_ERRORS: &[Unmodelled] = &[];

/// Unmodelled section keywords (family `section` of the catalogue).
pub const SECTION: &[Unmodelled] = &[
    unsupported("cache", "-", SECTION_NOT_YET),
    unsupported("fcgi-app", "-", SECTION_NOT_YET),
    unsupported("log-forward", "-", SECTION_NOT_YET),
    unsupported("mailers", "-", SECTION_NOT_YET),
    unsupported("peers", "-", SECTION_NOT_YET),
    unsupported("program", "-", SECTION_NOT_YET),
    unsupported("resolvers", "-", SECTION_NOT_YET),
    unsupported("ring", "-", SECTION_NOT_YET),
];

/// Every table with the catalogue family it comes from.
pub const TABLES: &[(&str, &[Unmodelled])] = &[
    ("global", GLOBAL),
    ("proxy", PROXY),
    ("option", OPTION),
    ("timeout", TIMEOUT),
    ("stats", STATS),
    ("bind", BIND),
    ("server", SERVER),
    ("http-request", HTTP_REQUEST),
    ("http-response", HTTP_RESPONSE),
    ("http-after-response", HTTP_AFTER_RESPONSE),
    ("tcp-request connection", TCP_REQUEST_CONNECTION),
    ("tcp-request session", TCP_REQUEST_SESSION),
    ("tcp-request content", TCP_REQUEST_CONTENT),
    ("tcp-response content", TCP_RESPONSE_CONTENT),
    ("http-check", HTTP_CHECK),
    ("tcp-check", TCP_CHECK),
    ("userlist", USERLIST),
    ("http-errors", HTTP_ERRORS),
    ("section", SECTION),
];

/// The table of a catalogue family (`"global"`, `"tcp-request content"`, ...), if it has one.
pub fn table(family: &str) -> Option<&'static [Unmodelled]> {
    TABLES.iter().find(|(f, _)| *f == family).map(|(_, t)| *t)
}

/// Looks a keyword up in one table.
pub fn find(table: &'static [Unmodelled], kw: &str) -> Option<&'static Unmodelled> {
    table.iter().find(|u| u.matches(kw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(
            find(GLOBAL, "busy-polling").map(|u| u.unsupported),
            Some(None)
        );
        assert!(find(GLOBAL, "lua-load").is_some_and(|u| u.unsupported.is_some()));
        assert!(find(HTTP_REQUEST, "lua.my_action").is_some_and(|u| u.unsupported.is_some()));
        assert!(
            find(PROXY, "mode").is_none(),
            "supported keywords are not in the tables"
        );
        assert!(find(SECTION, "peers").is_some_and(|u| u.unsupported.is_some()));
        assert_eq!(
            table("tcp-request content").map(<[_]>::len),
            Some(TCP_REQUEST_CONTENT.len())
        );
        assert!(table("peers").is_none());
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for (family, t) in TABLES {
            for pair in t.windows(2) {
                assert!(
                    pair[0].keyword < pair[1].keyword,
                    "{family}: {} / {}",
                    pair[0].keyword,
                    pair[1].keyword
                );
            }
        }
    }
}
