//! Typed scalar values of the configuration language: times, sizes, integers, addresses,
//! port ranges and networks.
//!
//! Every parser takes the text of one word and reports problems as a [`ValueError`] whose
//! `at` is a byte offset into that text, so callers can point a caret at the exact spot.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nom::IResult;
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{digit1, one_of};
use nom::combinator::{opt, value};

use crate::model::types::{BindAddr, BindKind, Family, Host, PortRange, PortSpec, ServerAddr};

/// A problem with a value, shared by every parser of the `config` module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
    pub hint: Option<String>,
    /// byte offset inside the word text where the problem starts
    pub at: usize,
}

impl ValueError {
    pub fn new(at: usize, message: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
            hint: None,
            at,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Moves the position right by `by`, for errors found in a slice of a larger text.
    pub fn shifted(mut self, by: usize) -> Self {
        self.at += by;
        self
    }
}

/// Units of a time value, also used as the unit of a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Us,
    Ms,
    S,
    M,
    H,
    D,
}

impl TimeUnit {
    fn nanos(self) -> u128 {
        match self {
            TimeUnit::Us => 1_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::S => 1_000_000_000,
            TimeUnit::M => 60_000_000_000,
            TimeUnit::H => 3_600_000_000_000,
            TimeUnit::D => 86_400_000_000_000,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Us => "us",
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
            TimeUnit::M => "m",
            TimeUnit::H => "h",
            TimeUnit::D => "d",
        }
    }
}

fn time_hint(unit: TimeUnit) -> String {
    format!(
        "a time is a number with an optional unit: us, ms, s, m, h, d (default {})",
        unit.suffix()
    )
}

/// A time whose bare numbers are milliseconds (`timeout client 30s`).
pub fn parse_time(s: &str) -> Result<Duration, ValueError> {
    parse_time_default_unit(s, TimeUnit::Ms)
}

/// A time whose bare numbers are in `unit`. Text after a valid unit (`10sec`) is an error.
pub fn parse_time_default_unit(s: &str, unit: TimeUnit) -> Result<Duration, ValueError> {
    match parse_time_lenient(s, unit)? {
        (_, Some(trailing)) => Err(trailing),
        (d, None) => Ok(d),
    }
}

/// As HAProxy 2.6 does: text after a valid unit is ignored, and returned as a warning.
///
/// The result is rounded up to a whole number of `unit` (HAProxy stores times in the
/// keyword's unit) and must stay below 2^31 of that unit.
pub fn parse_time_lenient(
    s: &str,
    unit: TimeUnit,
) -> Result<(Duration, Option<ValueError>), ValueError> {
    let hint = || time_hint(unit);
    let parsed: IResult<&str, &str> = digit1(s);
    let Ok((rest, digits)) = parsed else {
        let msg = match s.chars().next() {
            None => "missing time value".to_string(),
            Some('-') => format!("negative time '{s}' is not allowed"),
            Some(_) => format!("'{s}' is not a valid time"),
        };
        return Err(ValueError::new(0, msg).with_hint(hint()));
    };
    let too_large = || {
        let max = Duration::from_nanos_u128(((1u128 << 31) - 1) * unit.nanos());
        ValueError::new(0, format!("time '{s}' is too large")).with_hint(format!(
            "the largest accepted time is 2147483647{} ({max:?})",
            unit.suffix()
        ))
    };
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    let units: IResult<&str, Option<TimeUnit>> = opt(alt((
        value(TimeUnit::Us, tag("us")),
        value(TimeUnit::Ms, tag("ms")),
        value(TimeUnit::S, tag("s")),
        value(TimeUnit::M, tag("m")),
        value(TimeUnit::H, tag("h")),
        value(TimeUnit::D, tag("d")),
    )))(rest);
    let (after, given) = units.unwrap_or((rest, None));
    let warning = match (given, after.is_empty()) {
        (_, true) => None,
        (None, false) => {
            return Err(ValueError::new(
                digits.len(),
                format!("unknown time unit '{rest}' in '{s}'"),
            )
            .with_hint(hint()));
        }
        (Some(_), false) => Some(
            ValueError::new(
                s.len() - after.len(),
                format!("unexpected characters '{after}' after the time '{s}'"),
            )
            .with_hint(hint()),
        ),
    };
    let nanos = u128::from(number) * given.unwrap_or(unit).nanos();
    let in_unit = nanos.div_ceil(unit.nanos());
    if in_unit >= 1 << 31 {
        return Err(too_large());
    }
    Ok((Duration::from_nanos_u128(in_unit * unit.nanos()), warning))
}

/// A size in bytes with an optional `k`, `m` or `g` suffix (powers of 1024), at most
/// 4294967295 as in HAProxy.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let hint = "a size is a number of bytes with an optional suffix k, m or g (1k = 1024)";
    let parsed: IResult<&str, (&str, Option<char>)> =
        nom::sequence::pair(digit1, opt(one_of("kKmMgG")))(s);
    let Ok((rest, (digits, suffix))) = parsed else {
        let msg = if s.is_empty() {
            "missing size".to_string()
        } else {
            format!("'{s}' is not a valid size")
        };
        return Err(ValueError::new(0, msg).with_hint(hint));
    };
    if !rest.is_empty() {
        return Err(ValueError::new(
            s.len() - rest.len(),
            format!("unexpected characters '{rest}' in size '{s}'"),
        )
        .with_hint(hint));
    }
    let shift = match suffix {
        Some('k' | 'K') => 10,
        Some('m' | 'M') => 20,
        Some('g' | 'G') => 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_shl(shift).filter(|r| r >> shift == v))
        .filter(|&v| v <= u64::from(u32::MAX))
        .ok_or_else(|| {
            ValueError::new(0, format!("size '{s}' is too large"))
                .with_hint("sizes are limited to 4294967295 bytes (4g - 1)")
        })
}

/// An unsigned decimal integer within `min..=max`.
pub fn parse_uint(s: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        let msg = if s.is_empty() {
            "missing number".to_string()
        } else {
            format!("'{s}' is not a valid number")
        };
        return Err(ValueError::new(0, msg)
            .with_hint(format!("expected an integer between {min} and {max}")));
    }
    match s.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ValueError::new(0, format!("{s} is out of range"))
            .with_hint(format!("expected an integer between {min} and {max}"))),
    }
}

/// A signed decimal integer within `min..=max`.
pub fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, ValueError> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let msg = if s.is_empty() {
            "missing number".to_string()
        } else {
            format!("'{s}' is not a valid number")
        };
        return Err(ValueError::new(0, msg)
            .with_hint(format!("expected an integer between {min} and {max}")));
    }
    match s.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ValueError::new(0, format!("{s} is out of range"))
            .with_hint(format!("expected an integer between {min} and {max}"))),
    }
}

/// A TCP port, 1 to 65535.
pub fn parse_port(s: &str) -> Result<u16, ValueError> {
    parse_uint(s, 1, 65535)
        .map(|p| p as u16)
        .map_err(|e| ValueError {
            message: format!("invalid port '{s}'"),
            ..e
        })
}

/// `on` or `off`.
pub fn parse_bool_on_off(s: &str) -> Result<bool, ValueError> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ValueError::new(
            0,
            format!("expected 'on' or 'off', not '{s}'"),
        )),
    }
}

/// An address or network: `10.0.0.1` (a /32), `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `::1`
/// (a /128), `2001:db8::/32`.
pub fn parse_network(s: &str) -> Result<IpNet, ValueError> {
    let hint = "expected an IPv4 or IPv6 address, optionally followed by /prefix-length \
                (or /dotted-mask for IPv4), as in 10.0.0.0/8 or 2001:db8::/32";
    let (addr, mask) = match s.rfind('/') {
        Some(i) => (&s[..i], Some((&s[i + 1..], i + 1))),
        None => (s, None),
    };
    let bad_mask = |m: &str, at: usize| {
        ValueError::new(at, format!("invalid mask '{m}' in '{s}'")).with_hint(hint)
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let len = match mask {
            None => 32,
            Some((m, at)) if m.contains('.') => {
                let bits = m
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad_mask(m, at))?
                    .to_bits();
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(ValueError::new(at, format!("mask '{m}' is not contiguous"))
                        .with_hint(
                            "only masks made of leading one bits are supported, as in 255.255.0.0",
                        ));
                }
                bits.leading_ones() as u8
            }
            Some((m, at)) => parse_uint(m, 0, 32).map_err(|_| bad_mask(m, at))? as u8,
        };
        return Ipv4Net::new(v4, len)
            .map(IpNet::V4)
            .map_err(|_| bad_mask(s, 0));
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let len = match mask {
            None => 128,
            Some((m, at)) => parse_uint(m, 0, 128).map_err(|_| bad_mask(m, at))? as u8,
        };
        return Ipv6Net::new(v6, len)
            .map(IpNet::V6)
            .map_err(|_| bad_mask(s, 0));
    }
    Err(ValueError::new(0, format!("'{addr}' is not a valid IPv4 or IPv6 address")).with_hint(hint))
}

/// Resolves a host name to its addresses, in resolver order, without duplicates.
pub fn resolve_host(name: &str) -> Result<Vec<IpAddr>, String> {
    let addrs = (name, 0)
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve '{name}': {e}"))?;
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !out.contains(&a.ip()) {
            out.push(a.ip());
        }
    }
    if out.is_empty() {
        return Err(format!("could not resolve '{name}': no address"));
    }
    Ok(out)
}

const BIND_HINT: &str = "expected [ipv4@|ipv6@]host:port (host may be empty or '*', IPv6 in brackets, \
                         port may be a range like 8000-8010), a /unix/path, abns@name or fd@N";
const SERVER_HINT: &str = "expected [ipv4@|ipv6@]host[:port] (IPv6 in brackets; the port may be \
                           +N or -N to shift the client's port), a /unix/path or abns@name";

/// What an address prefix designates.
#[derive(Clone, Copy)]
enum Prefix {
    Inet(Family),
    Unix,
    Abstract,
    Fd,
    SockPair,
    Datagram,
}

const PREFIXES: &[(&str, Prefix)] = &[
    ("ipv4@", Prefix::Inet(Family::V4)),
    ("ipv6@", Prefix::Inet(Family::V6)),
    ("ip@", Prefix::Inet(Family::Any)),
    ("tcp@", Prefix::Inet(Family::Any)),
    ("tcp4@", Prefix::Inet(Family::V4)),
    ("tcp6@", Prefix::Inet(Family::V6)),
    ("unix@", Prefix::Unix),
    ("uxst@", Prefix::Unix),
    ("abns@", Prefix::Abstract),
    ("fd@", Prefix::Fd),
    ("sockpair@", Prefix::SockPair),
    ("udp@", Prefix::Datagram),
    ("udp4@", Prefix::Datagram),
    ("udp6@", Prefix::Datagram),
    ("uxdg@", Prefix::Datagram),
    ("quic4@", Prefix::Datagram),
    ("quic6@", Prefix::Datagram),
];

/// An address split into its parts, before the bind/server specific rules.
enum Target<'a> {
    /// Host and port texts with their offsets; the port is `None` without a separator.
    /// Callers check the port first, as HAProxy does, then parse the host.
    Inet {
        family: Family,
        host: (&'a str, usize),
        port: Option<(&'a str, usize)>,
    },
    Unix(PathBuf),
    Abstract(String),
    Fd(u32),
    SockPair(u32),
}

enum ParsedHost {
    Any,
    Ip(IpAddr),
    Name(String),
}

/// Longest path HAProxy accepts: `sun_path` minus room for its `.PID.tmp` suffix.
const MAX_UNIX_PATH: usize = 97;
const MAX_ABNS_NAME: usize = 107;

fn split_address<'a>(s: &'a str, hint: &str) -> Result<Target<'a>, ValueError> {
    if s.is_empty() {
        return Err(ValueError::new(0, "empty address").with_hint(hint));
    }
    let mut at = 0;
    let mut rest = s;
    if let Some(r) = rest.strip_prefix("stream+") {
        (rest, at) = (r, 7);
    } else if rest.starts_with("dgram+") {
        return Err(datagram_error(s));
    }
    let mut prefix = if rest.starts_with('/') {
        Prefix::Unix
    } else {
        Prefix::Inet(Family::Any)
    };
    if let Some(&(p, kind)) = PREFIXES.iter().find(|(p, _)| rest.starts_with(p)) {
        prefix = kind;
        rest = &rest[p.len()..];
        at += p.len();
    } else if let Some(i) = rest.find('@') {
        let name = &rest[..i];
        let mut err = ValueError::new(at, format!("unknown address prefix '{name}@'"));
        err.hint = Some(
            match super::diag::did_you_mean(&format!("{name}@"), PREFIXES.iter().map(|(p, _)| *p)) {
                Some(p) => format!("did you mean '{p}'?"),
                None => {
                    "known prefixes are ipv4@, ipv6@, unix@, abns@, fd@ and sockpair@".to_string()
                }
            },
        );
        return Err(err);
    }
    let fd = |what: &str| {
        rest.parse::<u32>().map_err(|_| {
            ValueError::new(
                at,
                format!("{what} '{rest}' is not a valid file descriptor number"),
            )
            .with_hint("expected a non-negative integer, as in fd@3")
        })
    };
    match prefix {
        Prefix::Datagram => Err(datagram_error(s)),
        Prefix::Fd => fd("fd@").map(Target::Fd),
        Prefix::SockPair => fd("sockpair@").map(Target::SockPair),
        Prefix::Unix | Prefix::Abstract => {
            let (max, what) = match prefix {
                Prefix::Unix => (MAX_UNIX_PATH, "socket path"),
                _ => (MAX_ABNS_NAME, "abstract socket name"),
            };
            if rest.is_empty() {
                return Err(ValueError::new(at, format!("missing {what} in '{s}'")).with_hint(hint));
            }
            if rest.len() > max {
                return Err(ValueError::new(
                    at,
                    format!("{what} '{rest}' is too long (max {max} characters)"),
                ));
            }
            Ok(match prefix {
                Prefix::Unix => Target::Unix(PathBuf::from(rest)),
                _ => Target::Abstract(rest.to_string()),
            })
        }
        Prefix::Inet(family) => {
            // The port separator is the last ':' unless a ']' comes after it, so unbracketed
            // IPv6 addresses lose their last group to the port, exactly as in HAProxy.
            let sep = rest
                .char_indices()
                .skip(1)
                .filter(|&(_, c)| c == ':' || c == ']')
                .last()
                .or_else(|| rest.starts_with(':').then_some((0, ':')));
            let (host, port) = match sep {
                Some((i, ':')) => (&rest[..i], Some((&rest[i + 1..], at + i + 1))),
                _ => (rest, None),
            };
            Ok(Target::Inet {
                family,
                host: (host, at),
                port,
            })
        }
    }
}

fn datagram_error(s: &str) -> ValueError {
    ValueError::new(0, format!("datagram address '{s}' is not supported here"))
        .with_hint("only stream (TCP or UNIX stream) addresses are accepted")
}

/// The host part of an internet address at offset `at`; `whole` is the full address.
fn parse_host(
    (host, at): (&str, usize),
    family: Family,
    whole: &str,
) -> Result<ParsedHost, ValueError> {
    parse_host_text(host, family, whole).map_err(|e| e.shifted(at))
}

fn parse_host_text(host: &str, family: Family, whole: &str) -> Result<ParsedHost, ValueError> {
    let wrong_family = |ip: &IpAddr| {
        ValueError::new(
            0,
            format!(
                "'{ip}' does not match the address family forced by '{}'",
                family.prefix()
            ),
        )
    };
    let ip = if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner
            .strip_suffix(']')
            .and_then(|i| i.parse::<Ipv6Addr>().ok())
            .ok_or_else(|| {
                ValueError::new(0, format!("invalid IPv6 address '{host}' in '{whole}'"))
                    .with_hint("write IPv6 addresses in brackets, as in [2001:db8::1]:80")
            })?;
        Some(IpAddr::V6(v6))
    } else if host.is_empty() || host == "*" {
        return Ok(ParsedHost::Any);
    } else {
        host.parse::<IpAddr>().ok()
    };
    if let Some(ip) = ip {
        return match (family, ip) {
            (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_)) => Err(wrong_family(&ip)),
            _ => Ok(ParsedHost::Ip(ip)),
        };
    }
    if valid_hostname(host) {
        return Ok(ParsedHost::Name(host.to_string()));
    }
    let err = ValueError::new(0, format!("invalid address '{host}' in '{whole}'"));
    // An unbracketed IPv6 address lost its last group to the port: say how to write it.
    Err(if host.contains(':') {
        err.with_hint("an IPv6 address must be written in brackets, as in [::1] or [::1]:80")
    } else {
        err
    })
}

/// Host names as HAProxy's resolver accepts them: letters, digits, '-', '_' and dots, labels
/// of at most 63 characters, 255 in total.
fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.split('.').all(|l| {
            l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A decimal port number (strictly digits) within `min..=65535`.
fn port_number(p: &str, at: usize, min: u64) -> Result<u16, ValueError> {
    parse_uint(p, min, 65535).map(|v| v as u16).map_err(|_| {
        ValueError::new(at, format!("invalid port '{p}'"))
            .with_hint(format!("a port is a number from {min} to 65535"))
    })
}

/// A comma-separated list of listening addresses, as on `bind` lines and on the address
/// argument of 1.x-style `listen NAME ADDR` / `frontend NAME ADDR`.
pub fn parse_bind_addresses(s: &str) -> Result<Vec<BindAddr>, ValueError> {
    let mut out = Vec::new();
    let mut off = 0;
    let parts: Vec<&str> = s.split(',').collect();
    for (i, part) in parts.iter().enumerate() {
        // A trailing comma is tolerated, as in HAProxy.
        if part.is_empty() && i + 1 == parts.len() && i > 0 {
            break;
        }
        out.push(parse_bind_one(part).map_err(|e| e.shifted(off))?);
        off += part.len() + 1;
    }
    Ok(out)
}

fn parse_bind_one(s: &str) -> Result<BindAddr, ValueError> {
    let (family, kind) = match split_address(s, BIND_HINT)? {
        Target::Inet { family, host, port } => {
            let missing = || {
                ValueError::new(s.len(), format!("missing port number in '{s}'"))
                    .with_hint(BIND_HINT)
            };
            let (p, at) = port.filter(|(p, _)| !p.is_empty()).ok_or_else(missing)?;
            if p.starts_with(['+', '-']) {
                return Err(ValueError::new(
                    at,
                    format!("port offset '{p}' is not allowed on a bind address"),
                )
                .with_hint(
                    "offsets only make sense on server addresses; write a port or a range",
                ));
            }
            let ports = match p.split_once('-') {
                Some((a, b)) => {
                    let first = port_number(a, at, 1)?;
                    let last = port_number(b, at + a.len() + 1, 1)?;
                    if first > last {
                        return Err(ValueError::new(at, format!("invalid port range '{p}'"))
                            .with_hint(
                                "the first port of a range must not be above the last one",
                            ));
                    }
                    PortRange { first, last }
                }
                None => PortRange::single(port_number(p, at, 1)?),
            };
            let (ip, host) = match parse_host(host, family, s)? {
                ParsedHost::Any => (None, None),
                ParsedHost::Ip(ip) => (Some(ip), None),
                ParsedHost::Name(n) => (None, Some(n)),
            };
            (family, BindKind::Inet { ip, host, ports })
        }
        Target::Unix(p) => (Family::Any, BindKind::Unix(p)),
        Target::Abstract(n) => (Family::Any, BindKind::Abstract(n)),
        Target::Fd(n) => (Family::Any, BindKind::Fd(n)),
        Target::SockPair(n) => (Family::Any, BindKind::SockPair(n)),
    };
    Ok(BindAddr { family, kind })
}

/// A server address: `host[:port]` where the port may be absent, a number, or `+N`/`-N`.
pub fn parse_server_address(s: &str) -> Result<ServerAddr, ValueError> {
    let (family, host, port) = match split_address(s, SERVER_HINT)? {
        Target::Inet { family, host, port } => {
            let port = match port {
                None | Some(("", _)) => PortSpec::None,
                Some((p, at)) => server_port(p, at)?,
            };
            let host = match parse_host(host, family, s)? {
                ParsedHost::Any => Host::Any,
                ParsedHost::Ip(ip) => Host::Ip(ip),
                ParsedHost::Name(n) => Host::Name(n),
            };
            (family, host, port)
        }
        Target::Unix(p) => (Family::Any, Host::Unix(p), PortSpec::None),
        Target::Abstract(n) => (Family::Any, Host::Abstract(n), PortSpec::None),
        Target::SockPair(n) => (Family::Any, Host::SockPair(n), PortSpec::None),
        Target::Fd(_) => {
            return Err(ValueError::new(
                0,
                format!("a file descriptor is not acceptable here in '{s}'"),
            )
            .with_hint("fd@ addresses are only valid on bind lines"));
        }
    };
    Ok(ServerAddr { family, host, port })
}

fn server_port(p: &str, at: usize) -> Result<PortSpec, ValueError> {
    if let Some(sign) = p.strip_prefix(['+', '-']).map(|_| &p[..1]) {
        let n = port_number(&p[1..], at + 1, 0)?;
        return Ok(PortSpec::Offset(if sign == "-" {
            -i32::from(n)
        } else {
            i32::from(n)
        }));
    }
    if p.contains('-') && p.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(ValueError::new(
            at,
            format!("port range '{p}' is not allowed in a server address"),
        )
        .with_hint(SERVER_HINT));
    }
    if !p.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(
            ValueError::new(at, format!("invalid character in port number '{p}'"))
                .with_hint(SERVER_HINT),
        );
    }
    // Port 0 means the same as no port: the client's destination port is used.
    Ok(match port_number(p, at, 0)? {
        0 => PortSpec::None,
        n => PortSpec::Fixed(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn times() {
        let ok = [
            ("0", ms(0)),
            ("30", ms(30)),
            ("30ms", ms(30)),
            ("5s", ms(5000)),
            ("2m", ms(120_000)),
            ("1h", ms(3_600_000)),
            ("1d", ms(86_400_000)),
            ("1500us", ms(2)),
            ("1us", ms(1)),
            ("2147483647", ms(2_147_483_647)),
        ];
        for (s, want) in ok {
            assert_eq!(parse_time(s), Ok(want), "{s}");
        }
        let fail = [
            ("", 0),
            ("-1", 0),
            ("abc", 0),
            ("10x", 2),
            ("10sec", 3),
            ("2147483648", 0),
            ("25d", 0),
            ("1.5s", 1),
        ];
        for (s, at) in fail {
            let e = parse_time(s).expect_err(s);
            assert_eq!(e.at, at, "{s}: {e}");
            assert!(e.hint.is_some(), "{s}");
        }
        assert_eq!(
            parse_time_default_unit("10", TimeUnit::S),
            Ok(Duration::from_secs(10))
        );
        assert_eq!(
            parse_time_default_unit("1500ms", TimeUnit::S),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            parse_time_default_unit("24855d", TimeUnit::S),
            Ok(Duration::from_secs(24855 * 86400))
        );
        let (d, w) = parse_time_lenient("10sec", TimeUnit::Ms).expect("lenient");
        assert_eq!(d, ms(10_000));
        assert_eq!(w.map(|w| w.at), Some(3));
    }

    #[test]
    fn sizes() {
        for (s, want) in [
            ("0", 0),
            ("16384", 16384),
            ("16k", 16384),
            ("1M", 1 << 20),
            ("3g", 3 << 30),
            ("4294967295", 4294967295),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for (s, at) in [
            ("", 0),
            ("k", 0),
            ("1kb", 2),
            ("4g", 0),
            ("4294967296", 0),
            ("-1", 0),
            ("1t", 1),
        ] {
            assert_eq!(parse_size(s).map_err(|e| e.at), Err(at), "{s}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_uint("42", 0, 100), Ok(42));
        assert!(parse_uint("101", 0, 100).is_err());
        assert!(parse_uint("+1", 0, 100).is_err());
        assert!(parse_uint("", 0, 100).is_err());
        assert_eq!(parse_int("-5", -10, 10), Ok(-5));
        assert_eq!(parse_int("+5", -10, 10), Ok(5));
        assert!(parse_int("-", -10, 10).is_err());
        assert!(parse_int("11", -10, 10).is_err());
        assert_eq!(parse_port("443"), Ok(443));
        for p in ["0", "65536", "x"] {
            assert!(parse_port(p).is_err(), "{p}");
        }
        assert_eq!(parse_bool_on_off("on"), Ok(true));
        assert_eq!(parse_bool_on_off("off"), Ok(false));
        assert!(parse_bool_on_off("yes").is_err());
    }

    #[test]
    fn networks() {
        let ok = [
            ("10.0.0.1", "10.0.0.1/32"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("192.168.0.0/255.255.0.0", "192.168.0.0/16"),
            ("10.1.2.3/0.0.0.0", "10.1.2.3/0"),
            ("::1", "::1/128"),
            ("2001:db8::/32", "2001:db8::/32"),
        ];
        for (s, want) in ok {
            assert_eq!(
                parse_network(s).map(|n| n.to_string()),
                Ok(want.to_string()),
                "{s}"
            );
        }
        let fail = [
            ("10/8", 0),
            ("10.0.0.0/33", 9),
            ("10.0.0.0/255.0.255.0", 9),
            ("::1/129", 4),
            ("host", 0),
            ("1.2.3.4/", 8),
            ("[::1]", 0),
        ];
        for (s, at) in fail {
            assert_eq!(parse_network(s).map_err(|e| e.at), Err(at), "{s}");
        }
    }

    #[test]
    fn bind_addresses() {
        let ok = [
            ("1.2.3.4:80", "1.2.3.4:80"),
            ("*:80", "*:80"),
            (":80", "*:80"),
            ("0.0.0.0:80", "0.0.0.0:80"),
            ("[::1]:80", "[::1]:80"),
            ("::1:80", "[::1]:80"),
            ("[::]:443", "[::]:443"),
            (":8000-8010", "*:8000-8010"),
            ("ipv4@:80", "ipv4@*:80"),
            ("ipv6@:80", "ipv6@*:80"),
            ("tcp6@[::1]:80", "ipv6@[::1]:80"),
            ("localhost:8080", "localhost:8080"),
            ("unix@/run/h.sock", "/run/h.sock"),
            ("/run/h.sock", "/run/h.sock"),
            ("unix@rel.sock", "unix@rel.sock"),
            ("abns@name", "abns@name"),
            ("fd@3", "fd@3"),
            ("sockpair@5", "sockpair@5"),
            ("stream+ipv4@1.2.3.4:80", "ipv4@1.2.3.4:80"),
            ("1.2.3.4:80,:81", "1.2.3.4:80,*:81"),
            ("1.2.3.4:80,", "1.2.3.4:80"),
        ];
        for (s, want) in ok {
            let got = parse_bind_addresses(s).map(|v| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            assert_eq!(got, Ok(want.to_string()), "{s}");
        }
        let fail = [
            ("", 0),
            ("1.2.3.4", 7),
            ("1.2.3.4:", 8),
            ("::1", 0),
            ("::", 2),
            ("1.2.3.4:0", 8),
            ("1.2.3.4:65536", 8),
            ("1.2.3.4:80x", 8),
            ("1.2.3.4:+5", 8),
            (":90-80", 1),
            (":80-x", 4),
            ("ipv4@[::1]:80", 5),
            ("ipv6@1.2.3.4:80", 5),
            ("udp@:80", 0),
            ("quic4@:443", 0),
            ("ipv7@:80", 0),
            ("fd@x", 3),
            ("unix@", 5),
            ("bad host:80", 0),
            ("[::1:80", 0),
            (":80,,:81", 4),
            (":80,1.2.3.4", 11),
        ];
        for (s, at) in fail {
            let e = parse_bind_addresses(s).expect_err(s);
            assert_eq!(e.at, at, "{s}: {e}");
        }
        let e = parse_bind_addresses("ipv7@:80").expect_err("prefix");
        assert_eq!(e.hint.as_deref(), Some("did you mean 'ipv4@'?"));
        assert!(
            parse_bind_addresses("::1")
                .expect_err("v6")
                .hint
                .is_some_and(|h| h.contains("brackets"))
        );
    }

    #[test]
    fn bind_structure() {
        let v = parse_bind_addresses("ipv6@[::1]:8000-8010").expect("parses");
        assert_eq!(
            v,
            [BindAddr {
                family: Family::V6,
                kind: BindKind::Inet {
                    ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                    host: None,
                    ports: PortRange {
                        first: 8000,
                        last: 8010
                    }
                }
            }]
        );
    }

    #[test]
    fn server_addresses() {
        let ok = [
            ("10.0.0.1:80", "10.0.0.1:80"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.1:0", "10.0.0.1"),
            ("10.0.0.1:+10", "10.0.0.1:+10"),
            ("10.0.0.1:-10", "10.0.0.1:-10"),
            ("[::1]", "[::1]"),
            ("[::1]:81", "[::1]:81"),
            ("::1:80", "[::1]:80"),
            ("web.local:8080", "web.local:8080"),
            ("web", "web"),
            ("*", "*"),
            ("*:80", "*:80"),
            (":80", "*:80"),
            ("ipv4@localhost:80", "ipv4@localhost:80"),
            ("ip@1.2.3.4", "1.2.3.4"),
            ("unix@/tmp/s", "/tmp/s"),
            ("/tmp/s", "/tmp/s"),
            ("abns@s", "abns@s"),
            ("sockpair@3", "sockpair@3"),
        ];
        for (s, want) in ok {
            assert_eq!(
                parse_server_address(s).map(|a| a.to_string()),
                Ok(want.to_string()),
                "{s}"
            );
        }
        let fail = [
            ("", 0),
            ("::1", 0),
            ("10.0.0.1:80-90", 9),
            ("10.0.0.1:x", 9),
            ("10.0.0.1:+x", 10),
            ("10.0.0.1:+70000", 10),
            ("fd@3", 0),
            ("udp@1.2.3.4:53", 0),
            ("a b", 0),
        ];
        for (s, at) in fail {
            let e = parse_server_address(s).expect_err(s);
            assert_eq!(e.at, at, "{s}: {e}");
        }
        assert_eq!(
            parse_server_address("10.0.0.1:-3").map(|a| a.port),
            Ok(PortSpec::Offset(-3))
        );
    }

    #[test]
    fn resolving() {
        let v = resolve_host("127.0.0.1").expect("literal resolves");
        assert_eq!(v, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(resolve_host("nonexistent.invalid").is_err());
    }

    proptest::proptest! {
        #[test]
        fn addresses_never_panic_and_round_trip(s in "[0-9a-z:.*@\\[\\]+/,_-]{0,24}") {
            if let Ok(v) = parse_bind_addresses(&s) {
                let text = v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                proptest::prop_assert_eq!(parse_bind_addresses(&text), Ok(v));
            }
            if let Ok(a) = parse_server_address(&s) {
                proptest::prop_assert_eq!(parse_server_address(&a.to_string()), Ok(a));
            }
            let _ = parse_network(&s);
        }

        #[test]
        fn scalars_never_panic(s in "\\PC{0,12}") {
            let _ = parse_time(&s);
            let _ = parse_size(&s);
            let _ = parse_int(&s, -5, 5);
            let _ = parse_bind_addresses(&s);
            let _ = parse_server_address(&s);
        }
    }
}
