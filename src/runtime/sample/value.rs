//! Internal sample values (borrowed from the request where possible) and HAProxy's casts
//! between sample types.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Value;
use crate::model::expr::SmpType;

/// A sample while it is being evaluated: text and binary data borrow from the message or
/// the compiled expression when they can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Smp<'a> {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Cow<'a, [u8]>),
    Bin(Cow<'a, [u8]>),
}

impl<'a> Smp<'a> {
    pub fn text(s: &'a str) -> Self {
        Smp::Str(Cow::Borrowed(s.as_bytes()))
    }

    pub fn bytes(b: &'a [u8]) -> Self {
        Smp::Str(Cow::Borrowed(b))
    }

    pub fn owned(s: String) -> Self {
        Smp::Str(Cow::Owned(s.into_bytes()))
    }

    /// A view of a public value (variables).
    pub fn from_value(v: &'a Value) -> Self {
        match v {
            Value::Bool(b) => Smp::Bool(*b),
            Value::Int(i) => Smp::Int(*i),
            Value::Ip(ip) => Smp::Ip(*ip),
            Value::Str(s) => Smp::text(s),
            Value::Bin(b) => Smp::Bin(Cow::Borrowed(b)),
        }
    }

    /// The public form of this value.
    pub fn into_value(self) -> Value {
        match self {
            Smp::Bool(b) => Value::Bool(b),
            Smp::Int(i) => Value::Int(i),
            Smp::Ip(ip) => Value::Ip(ip),
            Smp::Str(s) => Value::Str(match s {
                Cow::Owned(v) => String::from_utf8(v)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                Cow::Borrowed(b) => String::from_utf8_lossy(b).into_owned(),
            }),
            Smp::Bin(b) => Value::Bin(b.into_owned()),
        }
    }

    /// Cast to an integer: booleans are 0/1, strings give their leading number (an empty
    /// string fails), IPv4 addresses their 32-bit value; IPv6 and binary fail.
    pub fn to_int(&self) -> Option<i64> {
        match self {
            Smp::Bool(b) => Some(*b as i64),
            Smp::Int(i) => Some(*i),
            Smp::Ip(IpAddr::V4(a)) => Some(a.to_bits() as i64),
            Smp::Ip(IpAddr::V6(_)) | Smp::Bin(_) => None,
            Smp::Str(s) if s.is_empty() => None,
            Smp::Str(s) => Some(read_int64(s)),
        }
    }

    /// Cast to an address: an integer is an IPv4 address, a string an IPv4 address that
    /// may be followed by anything else (`10.0.0.1:80`), or a whole IPv6 address.
    pub fn to_ip(&self) -> Option<IpAddr> {
        match self {
            Smp::Ip(ip) => Some(*ip),
            Smp::Int(i) => Some(IpAddr::V4(Ipv4Addr::from_bits(*i as u32))),
            Smp::Str(s) => str2addr(s),
            Smp::Bool(_) | Smp::Bin(_) => None,
        }
    }

    /// Cast to text; binary data stops at its first NUL byte, as in HAProxy.
    pub fn to_str(&self) -> Cow<'_, [u8]> {
        match self {
            Smp::Bool(b) => Cow::Borrowed(if *b { b"1" } else { b"0" }),
            Smp::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Smp::Ip(ip) => Cow::Owned(ip.to_string().into_bytes()),
            Smp::Str(s) => Cow::Borrowed(s),
            Smp::Bin(b) => Cow::Borrowed(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]),
        }
    }

    /// As [`Smp::to_str`], consuming the value.
    pub fn into_str(self) -> Cow<'a, [u8]> {
        match self {
            Smp::Str(s) => s,
            Smp::Bin(Cow::Borrowed(b)) => {
                Cow::Borrowed(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())])
            }
            other => Cow::Owned(other.to_str().into_owned()),
        }
    }

    /// Cast to binary: text as is, integers and booleans as 8 big-endian bytes, addresses
    /// as their 4 or 16 bytes.
    pub fn to_bin(&self) -> Cow<'_, [u8]> {
        match self {
            Smp::Bool(b) => Cow::Owned((*b as i64).to_be_bytes().to_vec()),
            Smp::Int(i) => Cow::Owned(i.to_be_bytes().to_vec()),
            Smp::Ip(IpAddr::V4(a)) => Cow::Owned(a.octets().to_vec()),
            Smp::Ip(IpAddr::V6(a)) => Cow::Owned(a.octets().to_vec()),
            Smp::Str(s) | Smp::Bin(s) => Cow::Borrowed(s),
        }
    }

    /// Casts to the input type of a converter or match method; `None` when HAProxy has no
    /// such cast or it fails.
    pub fn cast(self, ty: SmpType) -> Option<Smp<'a>> {
        Some(match ty {
            SmpType::Any => self,
            SmpType::Bool => match self {
                Smp::Bool(b) => Smp::Bool(b),
                other => Smp::Bool(other.to_int()? != 0),
            },
            SmpType::Sint => match self {
                Smp::Int(i) => Smp::Int(i),
                Smp::Ip(IpAddr::V4(_)) | Smp::Bool(_) | Smp::Str(_) => Smp::Int(self.to_int()?),
                _ => return None,
            },
            SmpType::Addr => match self {
                Smp::Bool(_) | Smp::Bin(_) => return None,
                other => Smp::Ip(other.to_ip()?),
            },
            SmpType::Ipv4 => match self {
                Smp::Ip(IpAddr::V4(a)) => Smp::Ip(IpAddr::V4(a)),
                Smp::Ip(IpAddr::V6(a)) => Smp::Ip(IpAddr::V4(a.to_ipv4_mapped()?)),
                Smp::Int(i) => Smp::Ip(IpAddr::V4(Ipv4Addr::from_bits(i as u32))),
                Smp::Str(s) => Smp::Ip(IpAddr::V4(std::str::from_utf8(&s).ok()?.parse().ok()?)),
                _ => return None,
            },
            SmpType::Ipv6 => match self {
                Smp::Ip(IpAddr::V4(a)) => Smp::Ip(IpAddr::V6(a.to_ipv6_mapped())),
                Smp::Ip(IpAddr::V6(a)) => Smp::Ip(IpAddr::V6(a)),
                Smp::Int(i) => Smp::Ip(IpAddr::V6(Ipv4Addr::from_bits(i as u32).to_ipv6_mapped())),
                Smp::Str(s) => Smp::Ip(IpAddr::V6(std::str::from_utf8(&s).ok()?.parse().ok()?)),
                _ => return None,
            },
            SmpType::Str => Smp::Str(self.into_str()),
            SmpType::Meth => match self {
                Smp::Str(s) | Smp::Bin(s) => Smp::Str(s),
                _ => return None,
            },
            SmpType::Bin => match self {
                Smp::Bin(b) | Smp::Str(b) => Smp::Bin(b),
                other => Smp::Bin(Cow::Owned(other.to_bin().into_owned())),
            },
        })
    }
}

/// HAProxy's string to address cast: a dotted quad read up to the first byte that is
/// neither a digit nor a dot (so `10.0.0.1:80` is 10.0.0.1), else a whole IPv6 address.
pub(crate) fn str2addr(s: &[u8]) -> Option<IpAddr> {
    let mut octets = [0u16; 4];
    let mut n = 0usize;
    let mut in_digits = false;
    let mut ok = true;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                if !in_digits {
                    n += 1;
                    if n > 4 {
                        ok = false;
                        break;
                    }
                    in_digits = true;
                }
                octets[n - 1] = octets[n - 1] * 10 + u16::from(c - b'0');
                if octets[n - 1] > 255 {
                    ok = false;
                    break;
                }
            }
            b'.' if in_digits && n < 4 => in_digits = false,
            b'.' => {
                ok = false;
                break;
            }
            _ => break,
        }
    }
    if ok && n == 4 && in_digits {
        let [a, b, c, d] = octets.map(|o| o as u8);
        return Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    }
    std::str::from_utf8(s)
        .ok()?
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// A whole IPv4 or IPv6 address.
pub(crate) fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(s).ok()?;
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// HAProxy's `read_int64`: optional sign, then digits up to the first non-digit; saturates.
pub(crate) fn read_int64(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            break;
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .unwrap_or(u64::MAX);
        if v == u64::MAX {
            break;
        }
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            i64::MIN
        } else {
            (v as i64).wrapping_neg()
        }
    } else {
        i64::try_from(v).unwrap_or(i64::MAX)
    }
}

/// HAProxy's `strl2ic`: a leading 32-bit integer (wrapping), 0 when there is none.
pub(crate) fn strl2ic(s: &[u8]) -> i64 {
    let mut i: i32 = 0;
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    for &c in digits {
        if !c.is_ascii_digit() {
            break;
        }
        let d = (c - b'0') as i32;
        i = if neg {
            i.wrapping_mul(10).wrapping_sub(d)
        } else {
            i.wrapping_mul(10).wrapping_add(d)
        };
    }
    i as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_parsing() {
        let cases: &[(&str, i64)] = &[
            ("12", 12),
            ("12abc", 12),
            ("-7", -7),
            ("+7", 7),
            ("abc", 0),
            ("99999999999999999999", i64::MAX),
            ("-99999999999999999999", i64::MIN),
            ("-9223372036854775808", i64::MIN),
        ];
        for (s, want) in cases {
            assert_eq!(read_int64(s.as_bytes()), *want, "{s}");
        }
        assert_eq!(strl2ic(b"12abc"), 12);
        assert_eq!(strl2ic(b"-12"), -12);
        assert_eq!(strl2ic(b"x"), 0);
        assert_eq!(strl2ic(b"4294967297"), 1);
    }

    #[test]
    fn string_to_address_as_haproxy() {
        let ip = |t: &str| str2addr(t.as_bytes()).map(|a| a.to_string());
        assert_eq!(ip("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(ip("10.0.0.1:80").as_deref(), Some("10.0.0.1"));
        assert_eq!(ip("010.0.0.1 x").as_deref(), Some("10.0.0.1"));
        assert_eq!(ip("::1").as_deref(), Some("::1"));
        for bad in [
            "10.0.0",
            "10.0.0.1.",
            "10.0.0.1.5",
            "256.0.0.1",
            "1..2.3",
            ".1.2.3",
            "x",
            "",
        ] {
            assert_eq!(ip(bad), None, "{bad}");
        }
    }

    #[test]
    fn casts() {
        let s = |t: &'static str| Smp::text(t);
        assert_eq!(s("42x").to_int(), Some(42));
        assert_eq!(s("").to_int(), None);
        assert_eq!(Smp::Bool(true).to_int(), Some(1));
        assert_eq!(
            Smp::Ip("1.0.0.2".parse().expect("ip")).to_int(),
            Some(0x0100_0002)
        );
        assert_eq!(Smp::Ip("::1".parse().expect("ip")).to_int(), None);
        assert_eq!(s("10.0.0.1").to_ip(), Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(s("::1").to_ip(), Some("::1".parse().expect("ip")));
        // HAProxy's cast reads the dotted quad and stops at the colon.
        assert_eq!(
            s("10.0.0.1:80").to_ip(),
            Some("10.0.0.1".parse().expect("ip"))
        );
        assert_eq!(Smp::Int(1).to_ip(), Some("0.0.0.1".parse().expect("ip")));
        assert_eq!(&*Smp::Int(-5).to_str(), b"-5");
        assert_eq!(&*Smp::Bool(false).to_str(), b"0");
        assert_eq!(&*Smp::Bin(Cow::Borrowed(b"ab\0cd")).to_str(), b"ab");
        assert_eq!(&*Smp::Int(1).to_bin(), &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            Smp::Ip("::ffff:1.2.3.4".parse().expect("ip")).cast(SmpType::Ipv4),
            Some(Smp::Ip("1.2.3.4".parse().expect("ip")))
        );
        assert_eq!(Smp::Bin(Cow::Borrowed(b"x")).cast(SmpType::Sint), None);
        assert_eq!(Smp::Bool(true).cast(SmpType::Addr), None);
        assert_eq!(
            Smp::Ip("1.2.3.4".parse().expect("ip")).cast(SmpType::Ipv6),
            Some(Smp::Ip("::ffff:1.2.3.4".parse().expect("ip")))
        );
        assert_eq!(s("7").cast(SmpType::Bool), Some(Smp::Bool(true)));
        assert_eq!(Smp::owned("é".into()).into_value(), Value::Str("é".into()));
        assert_eq!(
            Smp::Bin(Cow::Borrowed(b"\xff")).into_value(),
            Value::Bin(vec![0xff])
        );
    }
}
