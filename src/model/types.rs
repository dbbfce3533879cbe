//! Typed values shared by the model: addresses, port ranges, networks.
//!
//! Every type renders back to HAProxy syntax with `Display`, so `--upgrade` and error messages
//! can quote a value the way a user would write it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// Address family forced by a prefix (`ipv4@`, `ipv6@`) or left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    /// The prefix that forces this family, empty for [`Family::Any`].
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Any => "",
            Family::V4 => "ipv4@",
            Family::V6 => "ipv6@",
        }
    }
}

/// An inclusive range of ports; a single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// What a `bind` address designates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindKind {
    /// A TCP listener. `ip: None` with `host: None` is the wildcard (`*`, empty host): any
    /// IPv4 address unless the family says IPv6, as in HAProxy.
    Inet {
        ip: Option<IpAddr>,
        /// A host name, resolved when the model is built.
        host: Option<String>,
        ports: PortRange,
    },
    /// A UNIX stream socket path (`/path` or `unix@path`).
    Unix(PathBuf),
    /// A Linux abstract-namespace socket (`abns@name`).
    Abstract(String),
    /// An inherited listening file descriptor (`fd@N`).
    Fd(u32),
    /// A socket pair whose other end passes connections (`sockpair@N`).
    SockPair(u32),
}

/// One address of a `bind` line (a line may list several, comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindAddr {
    pub family: Family,
    pub kind: BindKind,
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BindKind::Inet { ip, host, ports } => {
                f.write_str(self.family.prefix())?;
                match (ip, host) {
                    (Some(ip), _) => write_ip(f, ip)?,
                    (None, Some(h)) => f.write_str(h)?,
                    (None, None) => f.write_str("*")?,
                }
                write!(f, ":{ports}")
            }
            BindKind::Unix(p) => write_unix(f, p),
            BindKind::Abstract(n) => write!(f, "abns@{n}"),
            BindKind::Fd(n) => write!(f, "fd@{n}"),
            BindKind::SockPair(n) => write!(f, "sockpair@{n}"),
        }
    }
}

/// The host part of a server address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    /// A host name, resolved when the model is built (or at run time by resolvers).
    Name(String),
    Unix(PathBuf),
    Abstract(String),
    SockPair(u32),
    /// `*` or an empty host: connect to the address the client connected to.
    Any,
}

/// The port part of a server address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// No port (or port 0): use the port the client connected to.
    None,
    Fixed(u16),
    /// `+N` / `-N`: the client's destination port shifted by N.
    Offset(i32),
}

/// The address of a `server` line (also `source`, `socks4` and similar).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    pub family: Family,
    pub host: Host,
    pub port: PortSpec,
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Unix(p) => return write_unix(f, p),
            Host::Abstract(n) => return write!(f, "abns@{n}"),
            Host::SockPair(n) => return write!(f, "sockpair@{n}"),
            Host::Ip(ip) => {
                f.write_str(self.family.prefix())?;
                write_ip(f, ip)?;
            }
            Host::Name(n) => write!(f, "{}{n}", self.family.prefix())?,
            Host::Any => write!(f, "{}*", self.family.prefix())?,
        }
        match self.port {
            PortSpec::None => Ok(()),
            PortSpec::Fixed(p) => write!(f, ":{p}"),
            PortSpec::Offset(o) if o < 0 => write!(f, ":{o}"),
            PortSpec::Offset(o) => write!(f, ":+{o}"),
        }
    }
}

/// IPv6 addresses are bracketed so the port separator stays unambiguous.
fn write_ip(f: &mut fmt::Formatter<'_>, ip: &IpAddr) -> fmt::Result {
    match ip {
        IpAddr::V4(v4) => write!(f, "{v4}"),
        IpAddr::V6(v6) => write!(f, "[{v6}]"),
    }
}

/// Absolute paths need no prefix; relative ones would otherwise read as host names.
fn write_unix(f: &mut fmt::Formatter<'_>, p: &std::path::Path) -> fmt::Result {
    if p.is_absolute() {
        write!(f, "{}", p.display())
    } else {
        write!(f, "unix@{}", p.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn display_bind() {
        let cases = [
            (
                Family::Any,
                BindKind::Inet {
                    ip: None,
                    host: None,
                    ports: PortRange::single(80),
                },
                "*:80",
            ),
            (
                Family::V6,
                BindKind::Inet {
                    ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                    host: None,
                    ports: PortRange { first: 1, last: 9 },
                },
                "ipv6@[::1]:1-9",
            ),
            (
                Family::Any,
                BindKind::Inet {
                    ip: None,
                    host: Some("lb".into()),
                    ports: PortRange::single(8),
                },
                "lb:8",
            ),
            (Family::Any, BindKind::Unix("/run/s".into()), "/run/s"),
            (Family::Any, BindKind::Unix("run/s".into()), "unix@run/s"),
            (Family::Any, BindKind::Abstract("x".into()), "abns@x"),
            (Family::Any, BindKind::Fd(3), "fd@3"),
            (Family::Any, BindKind::SockPair(4), "sockpair@4"),
        ];
        for (family, kind, want) in cases {
            assert_eq!(BindAddr { family, kind }.to_string(), want);
        }
    }

    #[test]
    fn display_server() {
        let v4 = Host::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let cases = [
            (Family::Any, v4.clone(), PortSpec::Fixed(80), "10.0.0.1:80"),
            (Family::V4, v4, PortSpec::Offset(-5), "ipv4@10.0.0.1:-5"),
            (
                Family::Any,
                Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                PortSpec::Offset(5),
                "[::1]:+5",
            ),
            (Family::Any, Host::Name("web".into()), PortSpec::None, "web"),
            (Family::Any, Host::Any, PortSpec::Fixed(1), "*:1"),
            (Family::Any, Host::Unix("/s".into()), PortSpec::None, "/s"),
        ];
        for (family, host, port, want) in cases {
            assert_eq!(ServerAddr { family, host, port }.to_string(), want);
        }
    }
}
