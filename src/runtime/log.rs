//! A proxy's `log` targets as a sender of syslog messages, framed as HAProxy 2.6 frames
//! them: `rfc3164` (`<PRI>Mmm dd HH:MM:SS [HOST ]TAG[PID]: msg`), `rfc5424`, `short`,
//! `raw`, `iso`, `timed`, `priority` and `local`; each target's facility, level range,
//! `len` (the message is cut to `len` bytes, the newline kept) and `sample` honoured, in
//! local time as HAProxy writes it. UDP and unix datagram targets, standard output and
//! error; rings and file descriptors are not served. Server events (checks) and traffic
//! logs (`runtime::txnlog`) both go through it.
//!
//! Sending takes no lock and allocates nothing: a datagram socket per target
//! (non-blocking: a full socket buffer drops the message, counted in
//! [`dropped_messages`], rather than stall a session, as HAProxy drops it too), the
//! message framed into a buffer the thread reuses, an atomic counter for `sample`.
//! (A sender thread batching with `sendmmsg` was measured and dropped: with the proxy
//! on one CPU its wake-ups cost more than the system calls it saved.)

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{LogDest, LogFormatKind, LogTarget};

/// Syslog severities.
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
    /// Shared with the thread's batch of messages not yet sent (see [`flush_thread`]).
    Udp(std::sync::Arc<UdpSocket>),
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
    /// `sample RANGES:SIZE`: the 1-based positions sent within each group of SIZE.
    sample: Option<(Vec<(u32, u32)>, u32)>,
    counter: AtomicU32,
}

/// Where one proxy's messages go.
#[derive(Debug, Default)]
pub struct LogSink {
    targets: Vec<Target>,
    tag: String,
    /// `log-send-hostname`: written in rfc3164 and rfc5424 headers.
    hostname: Option<String>,
}

/// Seconds east of UTC of local time, for the syslog headers (0 until [`init_local_time`]).
static LOCAL_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Reads the local time zone (`TZ`, else `/etc/localtime`) once, for syslog headers and
/// the local dates of log-format strings (`%t`, `%tr`, `%Tl`...).
pub fn init_local_time() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let off = tz_offset(now).unwrap_or(0);
        LOCAL_OFFSET.store(off, Ordering::Relaxed);
        crate::runtime::sample::set_local_utc_offset(off);
    });
}

/// The offset of the local zone at `now`, from its TZif file.
fn tz_offset(now: i64) -> Option<i64> {
    let path = match std::env::var("TZ") {
        Ok(tz) if !tz.is_empty() => {
            let name = tz.strip_prefix(':').unwrap_or(&tz);
            if name == "UTC" || name == "GMT" {
                return Some(0);
            }
            if name.starts_with('/') {
                PathBuf::from(name)
            } else {
                PathBuf::from("/usr/share/zoneinfo").join(name)
            }
        }
        _ => PathBuf::from("/etc/localtime"),
    };
    parse_tzif(&std::fs::read(path).ok()?, now)
}

/// The UTC offset a TZif file (RFC 8536) gives at `now`: the type of the last transition
/// before it (64-bit data when the file has it).
fn parse_tzif(b: &[u8], now: i64) -> Option<i64> {
    fn be32(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    fn counts(b: &[u8], at: usize) -> Option<[usize; 6]> {
        if b.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = be32(b, at + 20 + 4 * i)? as usize;
        }
        Some(c)
    }
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let c = counts(b, 0)?;
    let v1_len = c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    let (base, c, tsize) = if b.get(4).is_some_and(|v| *v >= b'2') {
        let at = 44 + v1_len;
        (at, counts(b, at)?, 8)
    } else {
        (0, c, 4)
    };
    let times = base + 44;
    let idx = times + c[3] * tsize;
    let types = idx + c[3];
    let mut ty = 0usize;
    for i in 0..c[3] {
        let t = if tsize == 8 {
            i64::from_be_bytes(b.get(times + 8 * i..times + 8 * i + 8)?.try_into().ok()?)
        } else {
            i64::from(be32(b, times + 4 * i)? as i32)
        };
        if t > now {
            break;
        }
        ty = *b.get(idx + i)? as usize;
    }
    if ty >= c[4] {
        return None;
    }
    Some(i64::from(be32(b, types + 6 * ty)? as i32))
}

impl LogSink {
    /// The sink for a proxy's resolved `log` lines (`log global` already copied in);
    /// targets this sender cannot serve are left out.
    pub fn new(targets: &[LogTarget], tag: Option<&str>) -> LogSink {
        init_local_time();
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
                        // A full socket buffer drops the message rather than stall.
                        s.set_nonblocking(true).ok()?;
                        // Connected: the route is looked up once, not per message.
                        s.connect(a).ok()?;
                        Out::Udp(std::sync::Arc::new(s))
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
                    sample: t.sample.clone(),
                    counter: AtomicU32::new(0),
                })
            })
            .collect();
        LogSink {
            targets,
            tag: tag.unwrap_or("haproxy").to_string(),
            hostname: None,
        }
    }

    /// `log-send-hostname`.
    pub fn with_hostname(mut self, host: Option<&str>) -> LogSink {
        self.hostname = host.map(str::to_string);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Whether some target takes messages of severity `sev` (to skip formatting).
    pub fn wants(&self, sev: Severity) -> bool {
        let s = sev as u8;
        self.targets.iter().any(|t| s <= t.max && s >= t.min)
    }

    /// Sends `msg` at `sev` to every target whose level range admits it.
    pub fn send(&self, sev: Severity, msg: &str) {
        self.send_sd(sev, msg.as_bytes(), None);
    }

    /// Sends `msg` with RFC 5424 structured data `sd` (used by rfc5424 targets only).
    pub fn send_sd(&self, sev: Severity, msg: &[u8], sd: Option<&[u8]>) {
        if self.targets.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let pid = own_pid();
        FRAME_BUF.with(|b| {
            let mut line = b.borrow_mut();
            for t in &self.targets {
                let s = sev as u8;
                if s > t.max || s < t.min {
                    continue;
                }
                if let Some((ranges, size)) = &t.sample {
                    let n = t.counter.fetch_add(1, Ordering::Relaxed) % (*size).max(1) + 1;
                    if !ranges.iter().any(|(a, b)| (*a..=*b).contains(&n)) {
                        continue;
                    }
                }
                line.clear();
                let h = Header {
                    facility: t.facility,
                    sev,
                    now_us: now,
                    offset: LOCAL_OFFSET.load(Ordering::Relaxed),
                    tag: &self.tag,
                    host: self.hostname.as_deref(),
                    pid,
                };
                frame(&mut line, t.format, &h, msg, sd);
                // Cut to `len` bytes; the newline stays.
                line.truncate(t.max_len);
                line.push(b'\n');
                let sent = match &t.out {
                    Out::Udp(s) if BATCHING.get() => {
                        batch_push(s, &line, now);
                        Ok(())
                    }
                    Out::Udp(s) => s.send(&line).map(|_| ()),
                    Out::Unix(s, p) => s.send_to(&line, p).map(|_| ()),
                    Out::Stdout => std::io::stdout().write_all(&line),
                    Out::Stderr => std::io::stderr().write_all(&line),
                };
                if sent.is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// The process id, read once (a `getpid` system call per message otherwise). The first
/// message is sent after `daemon` has forked, when the id no longer changes.
fn own_pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

thread_local! {
    /// The framing buffer of the sessions of a thread, reused from one message to the next.
    static FRAME_BUF: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(1024));
}

// UDP messages are sent in batches by the event loop's threads: a loaded loop queues them
// and sends up to BATCH_MAX at once with one `sendmmsg`, and a loop about to wait for events
// sends what it holds first (`flush_thread`, the runtime's park hook). One system call
// per message costs a loaded proxy more than the kernel's work on each datagram. A line so
// waits until its loop next waits, or until a later line finds it BATCH_AGE_US old.

/// Messages a thread holds before sending them.
const BATCH_MAX: usize = 32;
/// How old (µs) the oldest held message may be when a later one sends them all.
const BATCH_AGE_US: i64 = 2_000;

/// A thread's messages not sent yet: their bytes end to end, and per message its socket
/// and its end in `data`.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    msgs: Vec<(std::sync::Arc<UdpSocket>, usize)>,
    /// When the oldest was queued (µs since the epoch).
    since_us: i64,
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.send_all();
    }
}

impl Batch {
    fn send_all(&mut self) {
        let mut start = 0;
        let mut rest = &self.msgs[..];
        while let Some((sock, _)) = rest.first() {
            // A run of messages to the same socket goes in one call.
            let run = rest
                .iter()
                .position(|(s, _)| !std::sync::Arc::ptr_eq(s, sock))
                .unwrap_or(rest.len());
            let (now, later) = rest.split_at(run);
            send_run(sock, &self.data, start, now);
            start = now.last().map_or(start, |m| m.1);
            rest = later;
        }
        self.msgs.clear();
        self.data.clear();
    }
}

/// Sends the messages of `run` on `sock`: each ends where its entry says in `data`, the
/// first starting at `start`. A message the socket refuses (a full buffer) is dropped and
/// counted, as a single send's.
fn send_run(
    sock: &UdpSocket,
    data: &[u8],
    start: usize,
    run: &[(std::sync::Arc<UdpSocket>, usize)],
) {
    use std::os::fd::AsRawFd;
    let mut slices: Vec<[std::io::IoSlice<'_>; 1]> = Vec::with_capacity(run.len());
    let mut from = start;
    for &(_, e) in run {
        slices.push([std::io::IoSlice::new(data.get(from..e).unwrap_or_default())]);
        from = e;
    }
    let mut done = 0;
    while done < slices.len() {
        let rest = &slices[done..];
        let mut hdrs = nix::sys::socket::MultiHeaders::<()>::preallocate(rest.len(), None);
        let addrs = vec![None; rest.len()];
        match nix::sys::socket::sendmmsg(
            sock.as_raw_fd(),
            &mut hdrs,
            rest,
            &addrs,
            [],
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(r) => {
                let n = r.count();
                if n == 0 {
                    DROPPED.fetch_add(rest.len() as u64, Ordering::Relaxed);
                    return;
                }
                done += n;
            }
            Err(nix::errno::Errno::EINTR) => {}
            // The first message was refused (full buffer, no listener ...): it is dropped,
            // and the others tried again.
            Err(_) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                done += 1;
            }
        }
    }
}

thread_local! {
    static BATCH: std::cell::RefCell<Batch> = std::cell::RefCell::new(Batch::default());
    /// Set on an event loop's thread at its first park: only there is a flush sure to come.
    static BATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn batch_push(sock: &std::sync::Arc<UdpSocket>, line: &[u8], now_us: i64) {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        if b.msgs.is_empty() {
            b.since_us = now_us;
        }
        b.data.extend_from_slice(line);
        let end = b.data.len();
        b.msgs.push((sock.clone(), end));
        if b.msgs.len() >= BATCH_MAX || now_us - b.since_us > BATCH_AGE_US {
            b.send_all();
        }
    });
}

/// Sends the messages this thread holds, and from now on lets it hold them: the event
/// loop calls this each time it is about to wait (tokio's `on_thread_park`).
pub fn flush_thread() {
    BATCHING.set(true);
    send_held();
}

/// Sends what this thread holds and stops holding messages (end of the event loop).
pub fn flush_and_stop() {
    BATCHING.set(false);
    send_held();
}

fn send_held() {
    let _ = BATCH.try_with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            b.send_all();
        }
    });
}

/// Messages a full socket buffer dropped.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Messages dropped because a target's socket buffer was full (or the send failed).
pub fn dropped_messages() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// What a syslog header says besides the message.
struct Header<'a> {
    facility: u8,
    sev: Severity,
    /// Microseconds since the epoch.
    now_us: i64,
    /// Seconds east of UTC.
    offset: i64,
    tag: &'a str,
    host: Option<&'a str>,
    pid: u32,
}

/// One message as the target's format frames it, without the final newline.
fn frame(out: &mut Vec<u8>, format: LogFormatKind, h: &Header, msg: &[u8], sd: Option<&[u8]>) {
    let pri = u32::from(h.facility) * 8 + h.sev as u32;
    let secs = h.now_us.div_euclid(1_000_000);
    let local = secs + h.offset;
    match format {
        LogFormatKind::Raw => {}
        LogFormatKind::Short => {
            let _ = write!(out, "<{}>", h.sev as u8);
        }
        LogFormatKind::Priority => {
            let _ = write!(out, "<{pri}>");
        }
        LogFormatKind::Iso => {
            iso_time(out, h);
            out.push(b' ');
        }
        LogFormatKind::Timed => {
            let _ = write!(out, "<{}>", h.sev as u8);
            iso_time(out, h);
            out.push(b' ');
        }
        LogFormatKind::Rfc5424 => {
            let _ = write!(out, "<{pri}>1 ");
            iso_time(out, h);
            let _ = write!(out, " {} {} {} - ", h.host.unwrap_or("-"), h.tag, h.pid);
            match sd.filter(|s| !s.is_empty()) {
                Some(sd) => out.extend_from_slice(sd),
                None => out.push(b'-'),
            }
            out.push(b' ');
        }
        // The usual format, written without the formatting machinery (one per request).
        LogFormatKind::Rfc3164 | LogFormatKind::Local => {
            out.push(b'<');
            push_decimal(out, u64::from(pri));
            out.push(b'>');
            push_syslog_time(out, local);
            out.push(b' ');
            if format == LogFormatKind::Rfc3164
                && let Some(host) = h.host
            {
                out.extend_from_slice(host.as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(h.tag.as_bytes());
            out.push(b'[');
            push_decimal(out, u64::from(h.pid));
            out.extend_from_slice(b"]: ");
        }
    }
    out.extend_from_slice(msg);
}

/// Appends `v` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuu+HH:MM` in local time.
fn iso_time(out: &mut Vec<u8>, h: &Header) {
    let secs = h.now_us.div_euclid(1_000_000);
    let us = h.now_us.rem_euclid(1_000_000);
    let (y, m, d, hh, mm, ss) = civil(secs + h.offset);
    let sign = if h.offset < 0 { '-' } else { '+' };
    let a = h.offset.unsigned_abs();
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}{sign}{:02}:{:02}",
        a / 3600,
        a % 3600 / 60
    );
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Year, month, day, hour, minute, second of a time (proleptic Gregorian).
fn civil(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

thread_local! {
    /// The last second [`push_syslog_time`] wrote, per thread.
    static LAST_TIME: std::cell::RefCell<(i64, String)> =
        const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// Appends [`syslog_time`] of `secs`, formatted once per second and thread.
fn push_syslog_time(out: &mut Vec<u8>, secs: i64) {
    LAST_TIME.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, syslog_time(secs));
        }
        out.extend_from_slice(c.1.as_bytes());
    })
}

/// `Mmm dd HH:MM:SS` (day padded with a space).
fn syslog_time(secs: i64) -> String {
    let (_, m, d, hh, mm, ss) = civil(secs);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m as usize).clamp(1, 12) - 1],
        d,
        hh,
        mm,
        ss
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_target(to: SocketAddr) -> LogTarget {
        LogTarget {
            dest: LogDest::Udp(to),
            max_len: None,
            format: LogFormatKind::Raw,
            sample: None,
            facility: 16,
            level: None,
            min_level: None,
            span: Default::default(),
        }
    }

    /// On a thread that batches, messages leave in groups of BATCH_MAX and at the flush,
    /// all of them and in order; without a reader (ICMP refusals) they are counted as
    /// dropped, and nothing loops.
    #[test]
    fn batched_messages_arrive_in_order_and_refusals_are_counted() {
        std::thread::spawn(|| {
            let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .expect("timeout");
            let sink = LogSink::new(&[udp_target(rx.local_addr().expect("addr"))], None);
            flush_thread(); // as the event loop's first park: batching from now on
            let n = BATCH_MAX * 2 + 5;
            for i in 0..n {
                sink.send(Severity::Info, &format!("m{i}"));
            }
            // The two full batches went out; the last five wait for the flush (or went with
            // the age limit, on a slow machine).
            let mut got = Vec::new();
            let mut b = [0u8; 256];
            rx.set_nonblocking(true).expect("nonblocking");
            while let Ok(k) = rx.recv(&mut b) {
                got.push(String::from_utf8_lossy(&b[..k]).into_owned());
            }
            assert!(
                got.len() >= BATCH_MAX * 2,
                "{} sent before the flush",
                got.len()
            );
            flush_and_stop();
            rx.set_nonblocking(false).expect("blocking");
            while got.len() < n {
                let k = rx.recv(&mut b).expect("a flushed message");
                got.push(String::from_utf8_lossy(&b[..k]).into_owned());
            }
            let want: Vec<String> = (0..n).map(|i| format!("m{i}\n")).collect();
            assert_eq!(got, want);

            // Nobody listens: the kernel refuses messages once it knows; each is counted.
            let gone = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let to = gone.local_addr().expect("addr");
            drop(gone);
            let sink = LogSink::new(&[udp_target(to)], None);
            let before = dropped_messages();
            for round in 0..3 {
                flush_thread();
                for i in 0..BATCH_MAX {
                    sink.send(Severity::Info, &format!("r{round}-{i}"));
                }
                flush_and_stop();
            }
            assert!(dropped_messages() > before, "refused messages are counted");
        })
        .join()
        .expect("test thread");
    }

    fn framed(format: LogFormatKind, host: Option<&str>, sd: Option<&[u8]>) -> String {
        // 2026-12-03 05:58:13.504002 UTC, as haproxy 2.6.12 framed it.
        let h = Header {
            facility: 17,
            sev: Severity::Info,
            now_us: 1_796_277_493_504_002,
            offset: 0,
            tag: "haproxy",
            host,
            pid: 23957,
        };
        let mut out = Vec::new();
        frame(&mut out, format, &h, b"msg", sd);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framings_as_haproxy() {
        assert_eq!(syslog_time(1_796_267_631), "Dec  3 03:13:51");
        assert_eq!(syslog_time(0), "Jan  1 00:00:00");
        assert_eq!(syslog_time(951_782_400), "Feb 29 00:00:00");
        assert_eq!(
            framed(LogFormatKind::Rfc3164, None, None),
            "<142>Dec  3 05:58:13 haproxy[23957]: msg"
        );
        assert_eq!(
            framed(LogFormatKind::Rfc3164, Some("h1"), None),
            "<142>Dec  3 05:58:13 h1 haproxy[23957]: msg"
        );
        assert_eq!(
            framed(LogFormatKind::Local, Some("h1"), None),
            "<142>Dec  3 05:58:13 haproxy[23957]: msg"
        );
        assert_eq!(
            framed(LogFormatKind::Rfc5424, None, None),
            "<142>1 2026-12-03T05:58:13.504002+00:00 - haproxy 23957 - - msg"
        );
        assert_eq!(
            framed(LogFormatKind::Rfc5424, Some("h1"), Some(b"[a b=\"1\"]")),
            "<142>1 2026-12-03T05:58:13.504002+00:00 h1 haproxy 23957 - [a b=\"1\"] msg"
        );
        assert_eq!(framed(LogFormatKind::Short, None, None), "<6>msg");
        assert_eq!(framed(LogFormatKind::Raw, None, None), "msg");
        assert_eq!(framed(LogFormatKind::Priority, None, None), "<142>msg");
        assert_eq!(
            framed(LogFormatKind::Iso, None, None),
            "2026-12-03T05:58:13.504002+00:00 msg"
        );
        assert_eq!(
            framed(LogFormatKind::Timed, None, None),
            "<6>2026-12-03T05:58:13.504002+00:00 msg"
        );
        let mut out = Vec::new();
        let h = Header {
            facility: 16,
            sev: Severity::Info,
            now_us: 1_796_277_493_000_000,
            offset: -(3 * 3600 + 1800),
            tag: "t",
            host: None,
            pid: 1,
        };
        frame(&mut out, LogFormatKind::Iso, &h, b"x", None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-03T02:28:13.000000-03:30 x"
        );
    }

    #[test]
    fn tzif() {
        // The host's UTC zone file, when it has one.
        if let Ok(b) = std::fs::read("/usr/share/zoneinfo/Etc/UTC") {
            assert_eq!(parse_tzif(&b, 1_796_277_493), Some(0));
        }
        if let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Paris") {
            assert_eq!(parse_tzif(&b, 1_796_277_493), Some(3600));
            assert_eq!(parse_tzif(&b, 1_782_000_000), Some(7200));
        }
        assert_eq!(parse_tzif(b"junk", 0), None);
        assert_eq!(parse_tzif(b"", 0), None);
    }

    fn target(addr: SocketAddr) -> LogTarget {
        LogTarget {
            dest: LogDest::Udp(addr),
            max_len: None,
            format: LogFormatKind::Raw,
            sample: None,
            facility: 16,
            level: None,
            min_level: None,
            span: Default::default(),
        }
    }

    fn recv(l: &UdpSocket) -> String {
        let mut b = [0u8; 2048];
        let n = l.recv(&mut b).unwrap();
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    #[test]
    fn unix_datagram_target() {
        let dir = std::env::temp_dir().join(format!("rproxy-log-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("dev-log");
        let _ = std::fs::remove_file(&path);
        let l = UnixDatagram::bind(&path).unwrap();
        l.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let t = LogTarget {
            dest: LogDest::Unix(path.clone()),
            ..target("127.0.0.1:9".parse().unwrap())
        };
        LogSink::new(&[t], Some("tag")).send(Severity::Info, "over unix");
        let mut b = [0u8; 256];
        let n = l.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"over unix\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn levels_len_and_sample() {
        let l = UdpSocket::bind("127.0.0.1:0").unwrap();
        l.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let a = l.local_addr().unwrap();
        let t = LogTarget {
            format: LogFormatKind::Rfc3164,
            level: Some(1),
            ..target(a)
        };
        let sink = LogSink::new(&[t], None);
        assert!(!sink.wants(Severity::Notice) && sink.wants(Severity::Alert));
        sink.send(Severity::Notice, "dropped");
        sink.send(Severity::Alert, "sent");
        let got = recv(&l);
        assert!(got.starts_with("<129>"), "{got}");
        assert!(got.ends_with("]: sent\n"), "{got}");

        let sink = LogSink::new(
            &[LogTarget {
                max_len: Some(5),
                ..target(a)
            }],
            None,
        );
        sink.send(Severity::Info, "abcdefgh");
        assert_eq!(recv(&l), "abcde\n");

        // `sample 2-3:4`: the 2nd and 3rd of every 4.
        let sink = LogSink::new(
            &[LogTarget {
                sample: Some((vec![(2, 3)], 4)),
                ..target(a)
            }],
            None,
        );
        for i in 1..=8 {
            sink.send(Severity::Info, &i.to_string());
        }
        let got: Vec<String> = (0..4).map(|_| recv(&l)).collect();
        assert_eq!(got, ["2\n", "3\n", "6\n", "7\n"]);
    }
}
