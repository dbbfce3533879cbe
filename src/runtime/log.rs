//! A proxy's `log` targets as a sender of syslog messages: HAProxy's RFC 3164 framing
//! (`<PRI>Mmm dd HH:MM:SS TAG[PID]: message`, no host name), each target's facility and
//! level range honoured. UDP and unix datagram targets, standard output and error; rings
//! and file descriptors are not served. Only server events use it so far (health-check
//! results, servers going up and down); traffic logs come later.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{LogDest, LogFormatKind, LogTarget};

/// Syslog severities HAProxy uses for server events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Severity {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

#[derive(Debug)]
enum Out {
    Udp(UdpSocket, SocketAddr),
    Unix(UnixDatagram, PathBuf),
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Target {
    out: Out,
    facility: u8,
    /// Highest severity number sent (`log ... local0 notice` sends emerg..notice).
    max: u8,
    /// Lowest severity number sent.
    min: u8,
    format: LogFormatKind,
    max_len: usize,
}

/// Where one proxy's messages go.
#[derive(Debug, Default)]
pub struct LogSink {
    targets: Vec<Target>,
    tag: String,
}

impl LogSink {
    /// The sink for a proxy's resolved `log` lines (`log global` already copied in);
    /// targets this sender cannot serve are left out.
    pub fn new(targets: &[LogTarget], tag: Option<&str>) -> LogSink {
        let targets = targets
            .iter()
            .filter_map(|t| {
                let out = match &t.dest {
                    LogDest::Udp(a) => {
                        let bind: SocketAddr = if a.is_ipv4() {
                            "0.0.0.0:0".parse().ok()?
                        } else {
                            "[::]:0".parse().ok()?
                        };
                        let s = UdpSocket::bind(bind).ok()?;
                        // A full socket buffer drops the message rather than stall a check.
                        s.set_nonblocking(true).ok()?;
                        Out::Udp(s, *a)
                    }
                    LogDest::Unix(p) => {
                        let s = UnixDatagram::unbound().ok()?;
                        s.set_nonblocking(true).ok()?;
                        Out::Unix(s, p.clone())
                    }
                    LogDest::Stdout => Out::Stdout,
                    LogDest::Stderr => Out::Stderr,
                    LogDest::Fd(_) | LogDest::Ring(_) => return None,
                };
                Some(Target {
                    out,
                    facility: t.facility,
                    max: t.level.unwrap_or(7),
                    min: t.min_level.unwrap_or(0),
                    format: t.format,
                    max_len: t.max_len.unwrap_or(1024) as usize,
                })
            })
            .collect();
        LogSink {
            targets,
            tag: tag.unwrap_or("haproxy").to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends `msg` at `sev` to every target whose level range admits it.
    pub fn send(&self, sev: Severity, msg: &str) {
        if self.targets.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let pid = std::process::id();
        for t in &self.targets {
            let s = sev as u8;
            if s > t.max || s < t.min {
                continue;
            }
            let mut line = frame(t.format, t.facility, sev, now, &self.tag, pid, msg);
            if line.len() > t.max_len {
                // Truncated as HAProxy does: the end of line stays.
                let mut cut = t.max_len.saturating_sub(1);
                while cut > 0 && !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('\n');
            }
            let _ = match &t.out {
                Out::Udp(s, a) => s.send_to(line.as_bytes(), a).map(|_| ()),
                Out::Unix(s, p) => s.send_to(line.as_bytes(), p).map(|_| ()),
                Out::Stdout => std::io::stdout().write_all(line.as_bytes()),
                Out::Stderr => std::io::stderr().write_all(line.as_bytes()),
            };
        }
    }
}

/// One message as the target's format frames it, ending with a newline.
fn frame(
    format: LogFormatKind,
    facility: u8,
    sev: Severity,
    now: i64,
    tag: &str,
    pid: u32,
    msg: &str,
) -> String {
    let pri = u32::from(facility) * 8 + sev as u32;
    match format {
        LogFormatKind::Raw => format!("{msg}\n"),
        LogFormatKind::Short => format!("<{}>{msg}\n", sev as u8),
        LogFormatKind::Priority => format!("<{pri}>{msg}\n"),
        // rfc3164 and the formats not served yet.
        _ => format!("<{pri}>{} {tag}[{pid}]: {msg}\n", syslog_time(now)),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd HH:MM:SS` (day padded with a space), in UTC.
fn syslog_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from a day count (proleptic Gregorian).
    let z = days + 719_468;
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1).clamp(0, 11) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3164_framing() {
        // 2026-12-03 03:13:51 UTC
        let t = 1_796_267_631;
        assert_eq!(syslog_time(t), "Dec  3 03:13:51");
        assert_eq!(
            frame(
                LogFormatKind::Rfc3164,
                16,
                Severity::Notice,
                t,
                "haproxy",
                4862,
                "x"
            ),
            "<133>Dec  3 03:13:51 haproxy[4862]: x\n"
        );
        assert_eq!(
            frame(LogFormatKind::Raw, 16, Severity::Emerg, t, "h", 1, "x"),
            "x\n"
        );
        assert_eq!(syslog_time(0), "Jan  1 00:00:00");
        assert_eq!(syslog_time(951_782_400), "Feb 29 00:00:00");
    }

    #[test]
    fn levels_filter() {
        let l = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        l.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let t = LogTarget {
            dest: LogDest::Udp(l.local_addr().unwrap()),
            max_len: None,
            format: LogFormatKind::Rfc3164,
            sample: None,
            facility: 16,
            level: Some(1),
            min_level: None,
            span: Default::default(),
        };
        let sink = LogSink::new(&[t], None);
        sink.send(Severity::Notice, "dropped");
        sink.send(Severity::Alert, "sent");
        let mut b = [0u8; 512];
        let n = l.recv(&mut b).unwrap();
        let got = String::from_utf8_lossy(&b[..n]);
        assert!(got.starts_with("<129>"), "{got}");
        assert!(got.ends_with("]: sent\n"), "{got}");
    }
}
