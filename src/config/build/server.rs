//! `server NAME ADDR [options]`, `default-server [options]` and the 1.x `dispatch ADDR`.

use super::{
    Ctx, ProxyDraft, ProxyKw, R, Reported, Status, Stmt, parse_u32, report_unmodelled, unknown,
};
use crate::config::lexer::Word;
use crate::config::pending;
use crate::config::value;
use crate::model::types::{Host, ServerAddr};
use crate::model::{
    InitAddr, Observe, OnError, ProxyProtocol, Server, ServerParams, ServerSsl, TlsVersion,
};

pub const KEYWORDS: &[ProxyKw] = &[
    ProxyKw {
        name: "server",
        where_: "--lb",
        status: Status::Supported,
        handler: server,
    },
    ProxyKw {
        name: "default-server",
        where_: "d-lb",
        status: Status::Supported,
        handler: default_server,
    },
    ProxyKw {
        name: "dispatch",
        where_: "--lb",
        status: Status::Supported,
        handler: dispatch,
    },
];

/// Server options rproxy models, and how many arguments each takes.
pub const OPTIONS: &[(&str, usize)] = &[
    ("check", 0),
    ("no-check", 0),
    ("port", 1),
    ("addr", 1),
    ("inter", 1),
    ("fastinter", 1),
    ("downinter", 1),
    ("rise", 1),
    ("fall", 1),
    ("weight", 1),
    ("cookie", 1),
    ("backup", 0),
    ("no-backup", 0),
    ("disabled", 0),
    ("enabled", 0),
    ("maxconn", 1),
    ("minconn", 1),
    ("maxqueue", 1),
    ("slowstart", 1),
    ("ssl", 0),
    ("no-ssl", 0),
    ("verify", 1),
    ("verifyhost", 1),
    ("no-verifyhost", 0),
    ("sni", 1),
    ("check-sni", 1),
    ("ca-file", 1),
    ("crl-file", 1),
    ("crt", 1),
    ("alpn", 1),
    ("ssl-min-ver", 1),
    ("ssl-max-ver", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("no-sslv3", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("send-proxy", 0),
    ("send-proxy-v2", 0),
    ("no-send-proxy", 0),
    ("check-send-proxy", 0),
    ("check-ssl", 0),
    ("no-check-ssl", 0),
    ("observe", 1),
    ("error-limit", 1),
    ("on-error", 1),
    ("init-addr", 1),
    ("resolvers", 1),
    ("id", 1),
    ("proto", 1),
    ("agent-check", 0),
    ("no-agent-check", 0),
    ("agent-port", 1),
    ("agent-addr", 1),
    ("agent-inter", 1),
    ("agent-send", 1),
    ("on-marked-down", 1),
    ("on-marked-up", 1),
    ("check-alpn", 1),
];

const USAGE: &str =
    "server <name> <address>[:<port>] [options: check inter 2s rise 2 fall 3 weight 10 backup ...]";

fn server(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let name = s.need(ctx, 1, "<name> <address>[:<port>] [options]")?;
    let addr_w = s.need(ctx, 2, "an address after the server name")?;
    let addr = value::parse_server_address(&addr_w.text)
        .map_err(|e| ctx.value_err(addr_w, "server address", e))?;
    let mut params = d.proxy.default_server.clone();
    let mut srv = Server {
        name: name.text.clone(),
        addr,
        resolved: Vec::new(),
        id: None,
        cookie: None,
        params: ServerParams::default(),
        span: s.line.span,
    };
    apply_options(ctx, &mut params, Some(&mut srv), s.args_from(3))?;
    srv.params = params;
    if srv.params.agent_check && srv.params.agent_port.is_none() {
        return Err(ctx.err_hint(
            s.line.span,
            format!("server '{}' has 'agent-check' but no agent port", srv.name),
            "add 'agent-port <port>' (HAProxy refuses this too)",
        ));
    }
    if let Host::Name(h) = &srv.addr.host
        && ctx.opts.resolve_hosts
    {
        match value::resolve_host(h) {
            Ok(ips) if !ips.is_empty() => srv.resolved = ips,
            _ if srv.params.init_addr.contains(&InitAddr::None)
                || ctx.opts.ignore_resolve_failures => {}
            _ => {
                return Err(ctx.err_hint(
                    addr_w.span,
                    format!("could not resolve address '{h}' of server '{}'", srv.name),
                    "use an IP address, fix the name, or add 'init-addr last,libc,none' to start without it",
                ));
            }
        }
    }
    let _ = USAGE;
    d.proxy.servers.push(srv);
    Ok(())
}

fn default_server(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let mut params = d.proxy.default_server.clone();
    apply_options(ctx, &mut params, None, s.args_from(1))?;
    d.proxy.default_server = params;
    Ok(())
}

fn dispatch(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "an address")?;
    s.max_args(ctx, 1, "<address>:<port>")?;
    let a: ServerAddr = value::parse_server_address(&w.text)
        .map_err(|e| ctx.value_err(w, "dispatch address", e))?;
    d.proxy.dispatch = Some(a);
    Ok(())
}

fn time(ctx: &mut Ctx, w: &Word) -> R<std::time::Duration> {
    let t = value::parse_time(&w.text).map_err(|e| ctx.value_err(w, "time", e))?;
    if t.is_zero() {
        return Err(ctx.err(w.span, "this interval must be greater than zero"));
    }
    Ok(t)
}

fn positive(ctx: &mut Ctx, w: &Word, what: &str) -> R<u32> {
    let v = parse_u32(ctx, w, what)?;
    if v == 0 {
        return Err(ctx.err(w.span, format!("expected {what} of at least 1, got 0")));
    }
    Ok(v)
}

/// Applies server options to `p` (and the per-server fields of `srv` when on a `server`).
fn apply_options(
    ctx: &mut Ctx,
    p: &mut ServerParams,
    mut srv: Option<&mut Server>,
    opts: &[Word],
) -> R {
    let mut i = 0;
    while let Some(w) = opts.get(i) {
        let name = w.text.as_str();
        let Some(&(_, nargs)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            if let Some(u) = pending::find(pending::SERVER, name) {
                // Not applied yet, but its file must load as HAProxy loads it (under
                // `ca-base` when relative).
                if matches!(name, "crl-file" | "ca-verify-file")
                    && let Some(f) = opts.get(i + 1)
                    && super::readable_based(ctx, f, name, super::Base::Ca).is_err()
                {
                    return Err(Reported);
                }
                report_unmodelled(ctx, pending::SERVER, name, "server option", w.span);
                if u.unsupported.is_some() {
                    return Err(Reported);
                }
                // Arities of pending options are not recorded: see the same rule on `bind`.
                if opts.get(i + 1).is_some_and(|n| !is_server_option(&n.text)) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            let mut cands: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
            cands.extend(pending::SERVER.iter().map(|u| u.keyword));
            return Err(unknown(ctx, w.span, "server option", name, "server", cands));
        };
        let a = if nargs == 1 {
            Some(opts.get(i + 1).ok_or_else(|| {
                ctx.err_hint(
                    w.span,
                    format!("server option '{name}' expects an argument"),
                    format!("usage: server <name> <address> {name} <value>"),
                )
            })?)
        } else {
            None
        };
        let arg = || a.ok_or(Reported);
        match name {
            "check" => p.check = true,
            "no-check" => p.check = false,
            "port" => {
                let v = parse_u32(ctx, arg()?, "a port")?;
                p.check_port =
                    Some(u16::try_from(v).map_err(|_| ctx.err(w.span, "a port is at most 65535"))?);
            }
            "addr" => {
                let v = arg()?;
                p.check_addr = Some(v.text.parse().map_err(|_| {
                    ctx.err_hint(
                        v.span,
                        format!("invalid check address '{}'", v.text),
                        "an IPv4 or IPv6 address",
                    )
                })?);
            }
            "inter" => p.inter = time(ctx, arg()?)?,
            "fastinter" => p.fastinter = Some(time(ctx, arg()?)?),
            "downinter" => p.downinter = Some(time(ctx, arg()?)?),
            "rise" => p.rise = positive(ctx, arg()?, "a rise count")?,
            "fall" => p.fall = positive(ctx, arg()?, "a fall count")?,
            "weight" => {
                let v = parse_u32(ctx, arg()?, "a weight")?;
                if v > 256 {
                    return Err(ctx.err_hint(
                        a.map(|w| w.span).unwrap_or(w.span),
                        format!("weight {v} is out of range"),
                        "a weight is between 0 and 256",
                    ));
                }
                p.weight = v;
            }
            "cookie" => match srv.as_deref_mut() {
                Some(s) => s.cookie = Some(arg()?.text.clone()),
                None => ctx.warn(
                    w.span,
                    "'cookie' is per server; it has no effect on 'default-server'",
                ),
            },
            "id" => match srv.as_deref_mut() {
                Some(s) => s.id = Some(positive(ctx, arg()?, "a server id")?),
                None => {
                    return Err(ctx.err(
                        w.span,
                        "'id' is per server and cannot be set on 'default-server'",
                    ));
                }
            },
            "backup" => p.backup = true,
            "no-backup" => p.backup = false,
            "disabled" => p.disabled = true,
            "enabled" => p.disabled = false,
            "maxconn" => p.maxconn = Some(parse_u32(ctx, arg()?, "a number of connections")?),
            "minconn" => p.minconn = Some(parse_u32(ctx, arg()?, "a number of connections")?),
            "maxqueue" => p.maxqueue = Some(parse_u32(ctx, arg()?, "a queue length")?),
            "slowstart" => {
                p.slowstart = Some(
                    value::parse_time(&arg()?.text)
                        .map_err(|e| ctx.value_err(w, "slowstart", e))?,
                )
            }
            "ssl" => ssl(p).enabled = true,
            "no-ssl" => {
                if let Some(s) = &mut p.ssl {
                    s.enabled = false;
                }
            }
            "verify" => ssl(p).verify = Some(super::bind::verify(ctx, arg()?)?),
            "verifyhost" => ssl(p).verifyhost = Some(arg()?.text.clone()),
            "no-verifyhost" => ssl(p).verifyhost = None,
            "sni" | "check-sni" => {
                let v = arg()?;
                if name == "sni" {
                    let sample = crate::config::sample::parse_sample(&v.text)
                        .map_err(|e| ctx.value_err(v, "sni expression", e))?;
                    ssl(p).sni = Some(sample);
                } else {
                    ssl(p).check_sni = Some(v.text.clone());
                }
            }
            "ca-file" => {
                ssl(p).ca_file = Some(super::readable_based(
                    ctx,
                    arg()?,
                    "ca-file",
                    super::Base::Ca,
                )?)
            }
            "crl-file" => ssl(p).crl_file = Some(super::bind::crl_file(ctx, arg()?)?),
            "crt" => {
                ssl(p).crt = Some(super::readable_based(
                    ctx,
                    arg()?,
                    "certificate",
                    super::Base::Crt,
                )?)
            }
            "alpn" => ssl(p).alpn = arg()?.text.split(',').map(String::from).collect(),
            "ssl-min-ver" => ssl(p).min_ver = Some(super::tls_version(ctx, arg()?)?),
            "ssl-max-ver" => ssl(p).max_ver = Some(super::tls_version(ctx, arg()?)?),
            "ciphers" => ssl(p).ciphers = Some(arg()?.text.clone()),
            "ciphersuites" => ssl(p).ciphersuites = Some(arg()?.text.clone()),
            "no-sslv3" | "no-tlsv10" => {
                ssl(p).min_ver = ssl(p).min_ver.max(Some(TlsVersion::Tls11))
            }
            "no-tlsv11" => ssl(p).min_ver = ssl(p).min_ver.max(Some(TlsVersion::Tls12)),
            "send-proxy" => p.send_proxy = Some(ProxyProtocol::V1),
            "send-proxy-v2" => p.send_proxy = Some(ProxyProtocol::V2),
            "no-send-proxy" => p.send_proxy = None,
            "check-send-proxy" => p.check_send_proxy = true,
            "check-ssl" => p.check_ssl = Some(true),
            "no-check-ssl" => p.check_ssl = Some(false),
            "observe" => {
                let v = arg()?;
                p.observe = Some(match v.text.as_str() {
                    "layer4" => Observe::Layer4,
                    "layer7" => Observe::Layer7,
                    o => {
                        return Err(ctx.err_hint(
                            v.span,
                            format!("unknown observe mode '{o}'"),
                            "modes: layer4 layer7",
                        ));
                    }
                });
            }
            "error-limit" => p.error_limit = positive(ctx, arg()?, "an error count")?,
            "on-error" => {
                let v = arg()?;
                p.on_error = match v.text.as_str() {
                    "fastinter" => OnError::FastInter,
                    "fail-check" => OnError::FailCheck,
                    "sudden-death" => OnError::SuddenDeath,
                    "mark-down" => OnError::MarkDown,
                    o => {
                        return Err(ctx.err_hint(
                            v.span,
                            format!("unknown on-error mode '{o}'"),
                            "modes: fastinter fail-check sudden-death mark-down",
                        ));
                    }
                };
            }
            "init-addr" => {
                let v = arg()?;
                let mut methods = Vec::new();
                for m in v.text.split(',') {
                    methods.push(match m {
                        "last" => InitAddr::Last,
                        "libc" => InitAddr::Libc,
                        "none" => InitAddr::None,
                        ip => InitAddr::Ip(ip.parse().map_err(|_| {
                            ctx.err_hint(
                                v.span,
                                format!("unknown init-addr method '{ip}'"),
                                "methods: last libc none <ip>, comma-separated",
                            )
                        })?),
                    });
                }
                p.init_addr = methods;
            }
            "resolvers" => p.resolvers = Some(arg()?.text.clone()),
            "proto" => p.proto = Some(arg()?.text.clone()),
            "agent-check" => p.agent_check = true,
            "no-agent-check" => p.agent_check = false,
            "agent-port" => {
                let v = parse_u32(ctx, arg()?, "a port")?;
                p.agent_port =
                    Some(u16::try_from(v).map_err(|_| ctx.err(w.span, "a port is at most 65535"))?);
            }
            "agent-addr" => {
                let v = arg()?;
                p.agent_addr = Some(v.text.parse().map_err(|_| {
                    ctx.err_hint(
                        v.span,
                        format!("invalid agent address '{}'", v.text),
                        "an IPv4 or IPv6 address (rproxy does not resolve names here)",
                    )
                })?);
            }
            "agent-inter" => p.agent_inter = Some(time(ctx, arg()?)?),
            "agent-send" => p.agent_send = Some(arg()?.text.clone()),
            "on-marked-down" => {
                let v = arg()?;
                if v.text != "shutdown-sessions" {
                    return Err(ctx.err_hint(
                        v.span,
                        format!("unknown on-marked-down action '{}'", v.text),
                        "the only action is shutdown-sessions",
                    ));
                }
                p.on_marked_down_shutdown = true;
            }
            "on-marked-up" => {
                let v = arg()?;
                if v.text != "shutdown-backup-sessions" {
                    return Err(ctx.err_hint(
                        v.span,
                        format!("unknown on-marked-up action '{}'", v.text),
                        "the only action is shutdown-backup-sessions",
                    ));
                }
                p.on_marked_up_shutdown_backup = true;
            }
            "check-alpn" => p.check_alpn = Some(arg()?.text.split(',').map(String::from).collect()),
            _ => {}
        }
        i += 1 + nargs;
    }
    if let Some(f) = p.fastinter
        && !p.check
        && f.is_zero()
    {
        ctx.warn(
            opts.first().map(|w| w.span).unwrap_or_default(),
            "fastinter without check has no effect",
        );
    }
    Ok(())
}

fn ssl(p: &mut ServerParams) -> &mut ServerSsl {
    p.ssl.get_or_insert_with(ServerSsl::default)
}

fn is_server_option(s: &str) -> bool {
    OPTIONS.iter().any(|(n, _)| *n == s) || pending::find(pending::SERVER, s).is_some()
}
