//! `balance ALGO [args]` and `hash-type`.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, unknown};
use crate::model::{Balance, HashType};

pub const KEYWORDS: &[ProxyKw] = &[
    ProxyKw {
        name: "balance",
        where_: "d-lb",
        status: Status::Supported,
        handler: balance,
    },
    ProxyKw {
        name: "hash-type",
        where_: "d-lb",
        status: Status::Supported,
        handler: hash_type,
    },
];

pub const ALGORITHMS: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "uri",
    "url_param",
    "hdr",
    "random",
    "rdp-cookie",
];

fn balance(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "an algorithm")?;
    let t = w.text.as_str();
    let usage = |a: &str| format!("usage: balance {a}");
    d.proxy.balance = match t {
        "roundrobin" | "static-rr" | "leastconn" | "first" | "source" => {
            s.max_args(ctx, 1, t)?;
            match t {
                "roundrobin" => Balance::RoundRobin,
                "static-rr" => Balance::StaticRr,
                "leastconn" => Balance::LeastConn,
                "first" => Balance::First,
                _ => Balance::Source,
            }
        }
        "uri" => {
            let (mut whole, mut len, mut depth) = (false, None, None);
            let mut i = 2;
            while let Some(a) = s.arg(i) {
                match a.text.as_str() {
                    "whole" => whole = true,
                    "len" => {
                        len = Some(s.uint(ctx, i + 1, "a length")?);
                        i += 1;
                    }
                    "depth" => {
                        depth = Some(s.uint(ctx, i + 1, "a depth")?);
                        i += 1;
                    }
                    "path-only" => ctx.warn(
                        a.span,
                        "'path-only' is not applied yet: the whole request target is hashed",
                    ),
                    o => {
                        return Err(ctx.err_hint(
                            a.span,
                            format!("unexpected '{o}' after 'balance uri'"),
                            usage("uri [len <n>] [depth <n>] [whole] [path-only]"),
                        ));
                    }
                }
                i += 1;
            }
            Balance::Uri { whole, len, depth }
        }
        "url_param" => {
            let param = s.need(ctx, 2, "a parameter name")?.text.clone();
            let check_post = match s.arg_str(3) {
                Some("check_post") => Some(match s.arg(4) {
                    Some(_) => s.uint(ctx, 4, "a length")?,
                    None => 48,
                }),
                Some(o) => {
                    return Err(ctx.err_hint(
                        s.span_of(3),
                        format!("unexpected '{o}'"),
                        usage("url_param <param> [check_post]"),
                    ));
                }
                None => None,
            };
            Balance::UrlParam { param, check_post }
        }
        "random" => {
            let draws = match s.arg(2) {
                Some(_) => s.uint(ctx, 2, "a number of draws")?,
                None => 2,
            };
            Balance::Random { draws }
        }
        // HAProxy's own spelling of the draws: `random(3)`.
        _ if t.starts_with("random(") && t.ends_with(')') => {
            match t[7..t.len() - 1].parse::<u32>() {
                Ok(draws) if draws > 0 => Balance::Random { draws },
                _ => {
                    return Err(ctx.err_hint(
                        w.span,
                        format!("invalid number of draws in '{t}'"),
                        usage("random[(<draws>)]"),
                    ));
                }
            }
        }
        _ if t.starts_with("hdr(") && t.ends_with(')') && t.len() > 5 => {
            let use_domain_only = match s.arg_str(2) {
                Some("use_domain_only") => true,
                Some(o) => {
                    return Err(ctx.err_hint(
                        s.span_of(2),
                        format!("unexpected '{o}'"),
                        usage("hdr(<name>) [use_domain_only]"),
                    ));
                }
                None => false,
            };
            Balance::Hdr {
                name: t[4..t.len() - 1].to_string(),
                use_domain_only,
            }
        }
        _ if t == "rdp-cookie" || (t.starts_with("rdp-cookie(") && t.ends_with(')')) => {
            let name = t
                .strip_prefix("rdp-cookie(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or("mstshash");
            Balance::RdpCookie {
                name: name.to_string(),
            }
        }
        _ => {
            let hint_name = if t.starts_with("hdr") {
                "hdr(<name>)"
            } else {
                t
            };
            return Err(unknown(
                ctx,
                w.span,
                "balance algorithm",
                hint_name,
                "balance",
                ALGORITHMS.to_vec(),
            ));
        }
    };
    d.mark("balance", s.line.span);
    Ok(())
}

fn hash_type(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "map-based or consistent")?;
    d.proxy.hash_type = match w.text.as_str() {
        "map-based" => HashType::MapBased,
        "consistent" => HashType::Consistent,
        o => {
            return Err(ctx.err_hint(
                w.span,
                format!("unknown hash-type '{o}'"),
                "usage: hash-type map-based|consistent [<function> [<modifier>]]",
            ));
        }
    };
    if let Some(f) = s.arg(2) {
        if !matches!(f.text.as_str(), "sdbm" | "djb2" | "wt6" | "crc32") {
            return Err(ctx.err_hint(
                f.span,
                format!("unknown hash function '{}'", f.text),
                "functions: sdbm djb2 wt6 crc32",
            ));
        }
        // rproxy hashes with sdbm, plus the avalanche step for `consistent`, which is what
        // HAProxy does without a function; anything else would pick other servers.
        if f.text != "sdbm" || d.proxy.hash_type == HashType::Consistent || s.arg(3).is_some() {
            ctx.warn(
                f.span,
                format!(
                    "hash function '{}' is not applied yet: rproxy hashes as HAProxy does without a function (sdbm{})",
                    f.text,
                    if d.proxy.hash_type == HashType::Consistent { " with avalanche" } else { "" }
                ),
            );
        }
    }
    Ok(())
}
