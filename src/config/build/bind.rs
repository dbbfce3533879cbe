//! `bind ADDR[,ADDR...] [options]`: listeners, with their SSL and socket options.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, parse_u32, report_unmodelled, unknown};
use crate::config::lexer::Word;
use crate::config::pending;
use crate::config::value;
use crate::model::{Bind, BindSsl, TlsVersion, Verify};

pub const KEYWORDS: &[ProxyKw] = &[ProxyKw {
    name: "bind",
    where_: "-fl-",
    status: Status::Supported,
    handler: bind,
}];

/// Bind options rproxy models, and how many arguments each takes.
pub const OPTIONS: &[(&str, usize)] = &[
    ("ssl", 0),
    ("crt", 1),
    ("crt-list", 1),
    ("ca-file", 1),
    ("crl-file", 1),
    ("verify", 1),
    ("alpn", 1),
    ("strict-sni", 0),
    ("ssl-min-ver", 1),
    ("ssl-max-ver", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("no-sslv3", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("no-tlsv12", 0),
    ("no-tlsv13", 0),
    ("force-tlsv12", 0),
    ("force-tlsv13", 0),
    ("accept-proxy", 0),
    ("name", 1),
    ("id", 1),
    ("maxconn", 1),
    ("backlog", 1),
    ("v4v6", 0),
    ("v6only", 0),
    ("mode", 1),
    ("user", 1),
    ("group", 1),
    ("uid", 1),
    ("gid", 1),
    ("transparent", 0),
    ("defer-accept", 0),
    ("tfo", 0),
    ("interface", 1),
];

fn bind(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let addr = s.need(
        ctx,
        1,
        "an address, as in 'bind 127.0.0.1:80' or 'bind :443 ssl crt site.pem'",
    )?;
    bind_addresses(ctx, d, addr, s.args_from(2));
    Ok(())
}

pub fn verify(ctx: &mut Ctx, w: &Word) -> R<Verify> {
    match w.text.as_str() {
        "none" => Ok(Verify::None),
        "optional" => Ok(Verify::Optional),
        "required" => Ok(Verify::Required),
        o => Err(ctx.err_hint(
            w.span,
            format!("unknown verify mode '{o}'"),
            "modes: none optional required",
        )),
    }
}

/// Adds one listener per address of `addr` with the options in `opts`.
pub fn bind_addresses(ctx: &mut Ctx, d: &mut ProxyDraft, addr: &Word, opts: &[Word]) {
    let addrs = match value::parse_bind_addresses(&addr.text) {
        Ok(a) => a,
        Err(e) => {
            ctx.value_err(addr, "bind address", e);
            return;
        }
    };
    let span = addr
        .span
        .to(opts.last().map(|w| w.span).unwrap_or(addr.span));
    let mut tmpl = Bind {
        addr: match addrs.first() {
            Some(a) => a.clone(),
            None => return,
        },
        name: None,
        id: None,
        maxconn: None,
        backlog: None,
        accept_proxy: false,
        v4v6: false,
        v6only: false,
        transparent: false,
        defer_accept: false,
        tfo: false,
        interface: None,
        unix_mode: None,
        unix_uid: None,
        unix_gid: None,
        ssl: None,
        span,
    };
    let mut ssl_on = false;
    let mut ssl = BindSsl::default();
    let mut i = 0;
    while let Some(w) = opts.get(i) {
        let name = w.text.as_str();
        let Some(&(_, nargs)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            if let Some(u) = pending::find(pending::BIND, name) {
                // Not applied yet, but its file must load as HAProxy loads it (under
                // `ca-base` when relative).
                if matches!(name, "crl-file" | "ca-verify-file")
                    && let Some(f) = opts.get(i + 1)
                    && super::readable_based(ctx, f, name, super::Base::Ca).is_err()
                {
                    return;
                }
                report_unmodelled(ctx, pending::BIND, name, "bind option", w.span);
                if u.unsupported.is_some() {
                    return;
                }
                // The tables do not record arities of pending options: a following word
                // that is not itself an option is taken as its argument.
                if opts.get(i + 1).is_some_and(|n| !is_bind_option(&n.text)) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            let mut cands: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
            cands.extend(pending::BIND.iter().map(|u| u.keyword));
            unknown(ctx, w.span, "bind option", name, "bind", cands);
            return;
        };
        let arg = if nargs == 1 {
            match opts.get(i + 1) {
                Some(a) => Some(a),
                None => {
                    ctx.err_hint(
                        w.span,
                        format!("bind option '{name}' expects an argument"),
                        format!("usage: bind <address> {name} <value>"),
                    );
                    return;
                }
            }
        } else {
            None
        };
        let r: R = (|| {
            let a = || arg.ok_or(super::Reported);
            match name {
                "ssl" => ssl_on = true,
                "crt" => ssl.crts.push(super::readable_based(
                    ctx,
                    a()?,
                    "certificate",
                    super::Base::Crt,
                )?),
                "crt-list" => ssl.crt_lists.push(super::readable(ctx, a()?, "crt-list")?),
                "ca-file" => {
                    ssl.ca_file = Some(super::readable_based(
                        ctx,
                        a()?,
                        "ca-file",
                        super::Base::Ca,
                    )?)
                }
                "crl-file" => ssl.crl_file = Some(crl_file(ctx, a()?)?),
                "verify" => ssl.verify = Some(verify(ctx, a()?)?),
                "alpn" => ssl.alpn = a()?.text.split(',').map(String::from).collect(),
                "strict-sni" => ssl.strict_sni = true,
                "ssl-min-ver" => ssl.min_ver = Some(super::tls_version(ctx, a()?)?),
                "ssl-max-ver" => ssl.max_ver = Some(super::tls_version(ctx, a()?)?),
                "ciphers" => ssl.ciphers = Some(a()?.text.clone()),
                "ciphersuites" => ssl.ciphersuites = Some(a()?.text.clone()),
                "no-sslv3" | "no-tlsv10" => ssl.min_ver = ssl.min_ver.max(Some(TlsVersion::Tls11)),
                "no-tlsv11" => ssl.min_ver = ssl.min_ver.max(Some(TlsVersion::Tls12)),
                "no-tlsv12" => ssl.min_ver = ssl.min_ver.max(Some(TlsVersion::Tls13)),
                "no-tlsv13" => ssl.max_ver = Some(TlsVersion::Tls12),
                "force-tlsv12" => {
                    (ssl.min_ver, ssl.max_ver) = (Some(TlsVersion::Tls12), Some(TlsVersion::Tls12))
                }
                "force-tlsv13" => {
                    (ssl.min_ver, ssl.max_ver) = (Some(TlsVersion::Tls13), Some(TlsVersion::Tls13))
                }
                "accept-proxy" => tmpl.accept_proxy = true,
                "name" => tmpl.name = Some(a()?.text.clone()),
                "id" => tmpl.id = Some(parse_u32(ctx, a()?, "a listener id")?),
                "maxconn" => tmpl.maxconn = Some(parse_u32(ctx, a()?, "a number of connections")?),
                "backlog" => tmpl.backlog = Some(parse_u32(ctx, a()?, "a backlog length")?),
                "v4v6" => tmpl.v4v6 = true,
                "v6only" => tmpl.v6only = true,
                "transparent" => tmpl.transparent = true,
                "defer-accept" => tmpl.defer_accept = true,
                "tfo" => tmpl.tfo = true,
                "interface" => tmpl.interface = Some(a()?.text.clone()),
                "mode" => {
                    let m = a()?;
                    tmpl.unix_mode = Some(u32::from_str_radix(&m.text, 8).map_err(|_| {
                        ctx.err(m.span, format!("invalid octal mode '{}'", m.text))
                    })?);
                }
                "uid" => tmpl.unix_uid = Some(parse_u32(ctx, a()?, "a user id")?),
                "gid" => tmpl.unix_gid = Some(parse_u32(ctx, a()?, "a group id")?),
                "user" => {
                    let u = a()?;
                    match nix::unistd::User::from_name(&u.text) {
                        Ok(Some(user)) => tmpl.unix_uid = Some(user.uid.as_raw()),
                        _ if !ctx.opts.check_users => {}
                        _ => {
                            return Err(
                                ctx.err(u.span, format!("cannot find user id for '{}'", u.text))
                            );
                        }
                    }
                }
                "group" => {
                    let g = a()?;
                    match nix::unistd::Group::from_name(&g.text) {
                        Ok(Some(gr)) => tmpl.unix_gid = Some(gr.gid.as_raw()),
                        _ if !ctx.opts.check_users => {}
                        _ => {
                            return Err(
                                ctx.err(g.span, format!("cannot find group id for '{}'", g.text))
                            );
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })();
        if r.is_err() {
            return;
        }
        i += 1 + nargs;
    }
    if ssl_on {
        if ssl.crts.is_empty() && ssl.crt_lists.is_empty() {
            ctx.err_hint(
                addr.span,
                "'ssl' on a bind line needs a certificate",
                "add 'crt /path/to/cert.pem' (certificate chain and key in one PEM file)",
            );
            return;
        }
        tmpl.ssl = Some(ssl);
    } else if ssl != BindSsl::default() {
        ctx.warn_hint(
            addr.span,
            "SSL settings on a bind line without 'ssl' have no effect",
            "add 'ssl' to terminate TLS on this listener",
        );
    }
    for a in addrs {
        d.proxy.binds.push(Bind {
            addr: a,
            ..tmpl.clone()
        });
    }
}

fn is_bind_option(s: &str) -> bool {
    OPTIONS.iter().any(|(n, _)| *n == s) || pending::find(pending::BIND, s).is_some()
}

/// A `crl-file` (under `ca-base` when relative): readable, and holding PEM CRLs (or
/// certificates, which HAProxy's store takes too) when files are checked.
pub(super) fn crl_file(ctx: &mut Ctx, w: &Word) -> R<std::path::PathBuf> {
    let p = super::readable_based(ctx, w, "crl-file", super::Base::Ca)?;
    if ctx.opts.check_files
        && let Err(e) = crate::runtime::tls_store::load_file(&p)
    {
        return Err(ctx.err_hint(
            w.span,
            format!("unable to load crl-file '{}': {e}", p.display()),
            "a crl-file holds PEM certificate revocation lists ('-----BEGIN X509 CRL-----')",
        ));
    }
    Ok(p)
}
