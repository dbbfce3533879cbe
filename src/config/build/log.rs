//! `log` targets (global and proxy), `log-format`, `log-tag`: where and how traffic logs go.

use super::{Ctx, R, Stmt};
use crate::config::lexer::Word;
use crate::model::{FACILITIES, LEVELS, LogDest, LogFormatKind, LogTarget};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

const USAGE: &str =
    "<address> [len <n>] [format <fmt>] [sample <ranges>:<size>] <facility> [<level> [<minlevel>]]";

fn level(ctx: &mut Ctx, w: &Word) -> R<u8> {
    match LEVELS.iter().position(|l| *l == w.text) {
        Some(i) => Ok(i as u8),
        None => Err(ctx.err_hint(
            w.span,
            format!("unknown log level '{}'", w.text),
            format!("levels: {}", LEVELS.join(" ")),
        )),
    }
}

/// Parses a log destination: `stdout`, `stderr`, a unix path, `fd@N`, `ring@NAME`, or an
/// IPv4/IPv6 address (optionally prefixed, with an optional port, default 514).
pub fn parse_dest(ctx: &mut Ctx, w: &Word) -> R<LogDest> {
    let t = w.text.as_str();
    let bad = |ctx: &mut Ctx, why: &str| {
        ctx.err_hint(
            w.span,
            format!("invalid log address '{t}': {why}"),
            "use an IP[:port] (UDP syslog, port 514 by default), a unix socket path, stdout or stderr",
        )
    };
    match t {
        "stdout" => return Ok(LogDest::Stdout),
        "stderr" => return Ok(LogDest::Stderr),
        _ => {}
    }
    if let Some(rest) = t.strip_prefix("fd@") {
        return match rest {
            "1" => Ok(LogDest::Stdout),
            "2" => Ok(LogDest::Stderr),
            n => n
                .parse()
                .map(LogDest::Fd)
                .map_err(|_| bad(ctx, "'fd@' expects a number")),
        };
    }
    if let Some(rest) = t.strip_prefix("ring@") {
        return Ok(LogDest::Ring(rest.to_string()));
    }
    if let Some(rest) = t.strip_prefix("unix@") {
        return Ok(LogDest::Unix(PathBuf::from(rest)));
    }
    if t.starts_with('/') {
        return Ok(LogDest::Unix(PathBuf::from(t)));
    }
    let body = ["ipv4@", "ipv6@", "udp@", "udp4@", "udp6@"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    if let Ok(ip) = body.parse::<IpAddr>() {
        return Ok(LogDest::Udp(SocketAddr::new(ip, 514)));
    }
    if let Ok(sa) = body.parse::<SocketAddr>() {
        return Ok(LogDest::Udp(sa));
    }
    // host:port or host
    let (host, port) = match body.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return Err(bad(ctx, "the port is not a number")),
        },
        None => (body, 514),
    };
    if !ctx.opts.resolve_hosts {
        return Ok(LogDest::Udp(SocketAddr::new(
            IpAddr::from([127, 0, 0, 1]),
            port,
        )));
    }
    match crate::config::value::resolve_host(host) {
        Ok(ips) if !ips.is_empty() => Ok(LogDest::Udp(SocketAddr::new(ips[0], port))),
        Ok(_) | Err(_) => Err(bad(ctx, "the host name does not resolve")),
    }
}

/// `log ...` after the keyword. Returns `None` for `log global` (the caller copies the
/// global targets).
pub fn parse_target(ctx: &mut Ctx, stmt: &Stmt) -> R<Option<LogTarget>> {
    let dest_w = stmt.need(ctx, 1, USAGE)?;
    if dest_w.text == "global" {
        stmt.max_args(ctx, 1, "global")?;
        return Ok(None);
    }
    let dest = parse_dest(ctx, dest_w)?;
    let mut t = LogTarget {
        dest,
        max_len: None,
        format: LogFormatKind::Rfc3164,
        sample: None,
        facility: 0,
        level: None,
        min_level: None,
        span: stmt.line.span,
    };
    let mut i = 2;
    loop {
        match stmt.arg_str(i) {
            Some("len") => {
                let n = stmt.uint(ctx, i + 1, "a length")?;
                if !(80..=65535).contains(&n) {
                    return Err(ctx.err(
                        stmt.span_of(i + 1),
                        format!("invalid log length '{n}', must be between 80 and 65535"),
                    ));
                }
                t.max_len = Some(n);
                i += 2;
            }
            Some("format") => {
                let w = stmt.need(ctx, i + 1, "a format")?;
                t.format = match w.text.as_str() {
                    "rfc3164" => LogFormatKind::Rfc3164,
                    "rfc5424" => LogFormatKind::Rfc5424,
                    "short" => LogFormatKind::Short,
                    "raw" => LogFormatKind::Raw,
                    "iso" => LogFormatKind::Iso,
                    "local" => LogFormatKind::Local,
                    "timed" => LogFormatKind::Timed,
                    "priority" => LogFormatKind::Priority,
                    _ => {
                        return Err(ctx.err_hint(
                            w.span,
                            format!("unknown log format '{}'", w.text),
                            "formats: rfc3164 rfc5424 short raw iso local timed priority",
                        ));
                    }
                };
                i += 2;
            }
            Some("sample") => {
                let w = stmt.need(ctx, i + 1, "<ranges>:<size>")?;
                t.sample = Some(parse_sample(ctx, w)?);
                i += 2;
            }
            _ => break,
        }
    }
    let fac_w = stmt.need(ctx, i, "a facility")?;
    t.facility = match FACILITIES.iter().position(|f| *f == fac_w.text) {
        Some(n) => n as u8,
        None => {
            let hint =
                match crate::config::diag::did_you_mean(&fac_w.text, FACILITIES.iter().copied()) {
                    Some(s) => format!("did you mean '{s}'?"),
                    None => format!("facilities: {}", FACILITIES.join(" ")),
                };
            return Err(ctx.err_hint(
                fac_w.span,
                format!("unknown log facility '{}'", fac_w.text),
                hint,
            ));
        }
    };
    if let Some(w) = stmt.arg(i + 1) {
        t.level = Some(level(ctx, w)?);
    }
    if let Some(w) = stmt.arg(i + 2) {
        t.min_level = Some(level(ctx, w)?);
    }
    if let Some(w) = stmt.arg(i + 3) {
        return Err(ctx.err_hint(
            w.span,
            format!("unexpected '{}' after the log levels", w.text),
            format!("usage: log {USAGE}"),
        ));
    }
    Ok(Some(t))
}

fn parse_sample(ctx: &mut Ctx, w: &Word) -> R<(Vec<(u32, u32)>, u32)> {
    let bad = |ctx: &mut Ctx| {
        ctx.err_hint(
            w.span,
            format!("invalid log sample '{}'", w.text),
            "expected <ranges>:<size>, as in '1,3-4:10'",
        )
    };
    let Some((ranges, size)) = w.text.rsplit_once(':') else {
        return Err(bad(ctx));
    };
    let Ok(size) = size.parse::<u32>() else {
        return Err(bad(ctx));
    };
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        match (a.parse::<u32>(), b.parse::<u32>()) {
            (Ok(a), Ok(b)) if a >= 1 && a <= b && b <= size => out.push((a, b)),
            _ => return Err(bad(ctx)),
        }
    }
    Ok((out, size))
}
