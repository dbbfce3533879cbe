//! The process-wide accept rate limits, as HAProxy 2.6 applies them: `maxconnrate`,
//! `maxsessrate`, `maxsslrate` in `global`, changed at run time by the stats socket's
//! `set rate-limit connections|sessions|ssl-sessions global N`, shown by `show info`
//! (`ConnRateLimit`, `SessRateLimit`, `SslRateLimit`).
//!
//! This module owns the limits, the per-second counters they are checked against, the
//! wait an accept loop makes before accepting ([`RateLimits::admit`]: the socket is not
//! read, so new connections wait in the kernel's backlog rather than being refused, as in
//! HAProxy) and the stats socket command. `set rate-limit http-compression` is answered
//! and shown (`CompressBpsRateLim`) as HAProxy does, but rproxy compresses nothing, so a
//! warning says it has no effect.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::model::Global;
use crate::runtime::stats::counters::FreqCtr;

/// The limits (0: none) and the rates they apply to. Connections and sessions are counted
/// together at accept: without `tcp-request connection` rules in the way every accepted
/// connection is a session, and HAProxy counts both in its accept loop too.
#[derive(Debug, Default)]
pub struct RateLimits {
    conn: AtomicU32,
    sess: AtomicU32,
    ssl: AtomicU32,
    /// `set rate-limit http-compression`, in bytes per second (kept for `show info`).
    comp_bps: AtomicU32,
    conn_rate: FreqCtr,
    sess_rate: FreqCtr,
    ssl_rate: FreqCtr,
    /// The highest TLS session rate seen (`MaxSslRate`).
    ssl_max: AtomicU32,
}

/// Which limit a `set rate-limit` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Conn,
    Sess,
    Ssl,
    Comp,
}

/// The longest single wait between two looks at the rates: a changed limit (`set
/// rate-limit`) is seen within this time.
const MAX_STEP: Duration = Duration::from_millis(100);

impl RateLimits {
    pub fn new(g: &Global) -> RateLimits {
        let r = RateLimits::default();
        r.conn.store(g.maxconnrate.unwrap_or(0), Ordering::Relaxed);
        r.sess.store(g.maxsessrate.unwrap_or(0), Ordering::Relaxed);
        r.ssl.store(g.maxsslrate.unwrap_or(0), Ordering::Relaxed);
        r
    }

    /// `ConnRateLimit`, `SessRateLimit`, `SslRateLimit`, `CompressBpsRateLim`.
    pub fn limits(&self) -> (u32, u32, u32, u32) {
        (
            self.conn.load(Ordering::Relaxed),
            self.sess.load(Ordering::Relaxed),
            self.ssl.load(Ordering::Relaxed),
            self.comp_bps.load(Ordering::Relaxed),
        )
    }

    /// `SslRate` and `MaxSslRate`: TLS sessions accepted per second, now and at most.
    pub fn ssl_rates(&self) -> (u32, u32) {
        (self.ssl_rate.read(), self.ssl_max.load(Ordering::Relaxed))
    }

    /// `clear counters`: the maximum goes back to 0, as HAProxy's global maxima do.
    pub fn clear_max(&self) {
        self.ssl_max.store(0, Ordering::Relaxed);
    }

    /// Whether one more connection may be accepted now (`ssl`: on a `bind ... ssl`).
    fn room(&self, ssl: bool) -> bool {
        let ok = |limit: &AtomicU32, rate: &FreqCtr| match limit.load(Ordering::Relaxed) {
            0 => true,
            l => rate.read() < l,
        };
        ok(&self.conn, &self.conn_rate)
            && ok(&self.sess, &self.sess_rate)
            && (!ssl || ok(&self.ssl, &self.ssl_rate))
    }

    /// The smallest limit in force for this listener (0: none).
    fn tightest(&self, ssl: bool) -> u32 {
        [
            self.conn.load(Ordering::Relaxed),
            self.sess.load(Ordering::Relaxed),
            if ssl {
                self.ssl.load(Ordering::Relaxed)
            } else {
                0
            },
        ]
        .into_iter()
        .filter(|l| *l > 0)
        .min()
        .unwrap_or(0)
    }

    /// Waits until the rates allow one more connection on this listener. Nothing is read
    /// from the socket meanwhile: clients wait in the backlog, as with HAProxy.
    pub async fn admit(&self, ssl: bool) {
        while !self.room(ssl) {
            // About the time one event takes at the limit's pace, re-checked often enough
            // to follow a limit raised or removed by `set rate-limit`.
            let l = self.tightest(ssl).max(1);
            let step = Duration::from_millis(u64::from(1000 / l).max(1)).min(MAX_STEP);
            tokio::time::sleep(step).await;
        }
    }

    /// A connection was accepted on a listener (`ssl`: a `bind ... ssl` one).
    pub fn on_accept(&self, ssl: bool) {
        self.conn_rate.inc();
        self.sess_rate.inc();
        if ssl {
            let r = self.ssl_rate.inc();
            self.ssl_max.fetch_max(r, Ordering::Relaxed);
        }
    }

    fn set(&self, which: Which, v: u32) {
        match which {
            Which::Conn => self.conn.store(v, Ordering::Relaxed),
            Which::Sess => self.sess.store(v, Ordering::Relaxed),
            Which::Ssl => self.ssl.store(v, Ordering::Relaxed),
            // HAProxy takes kB/s and keeps bytes/s in 32 bits (a product that wraps).
            Which::Comp => self.comp_bps.store(v.wrapping_mul(1024), Ordering::Relaxed),
        }
    }
}

/// The integer C's `atoi` reads: leading blanks and a sign, the digits that follow (none:
/// 0), saturated to the 64-bit range as glibc's `strtol` does, then cut to an `int`.
pub fn c_atoi(s: &str) -> i32 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    let mut over = false;
    for b in rest.bytes().take_while(u8::is_ascii_digit) {
        match n
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
        {
            Some(v) => n = v,
            None => {
                over = true;
                break;
            }
        }
    }
    let v = match (over, neg) {
        (true, false) => i64::MAX,
        (true, true) => i64::MIN,
        (false, true) => -n,
        (false, false) => n,
    };
    // The truncation to `int` is the point: HAProxy stores what C's conversion gives.
    v as i32
}

const USAGE: &str = "'set rate-limit' only supports :\n   - 'connections global' to set the per-process maximum connection rate\n   - 'sessions global' to set the per-process maximum session rate\n   - 'ssl-sessions global' to set the per-process maximum SSL session rate\n   - 'http-compression global' to set the per-process maximum compression speed in kB/s\n\n";

/// `set rate-limit connections|sessions|ssl-sessions|http-compression global N`, with
/// HAProxy's answers: N as C's `atoi` reads it (so `abc` is 0, no limit), negative values
/// refused.
pub fn set_rate_limit(ctx: &mut super::Ctx, args: &[&str], out: &mut String) {
    let which = match args {
        ["connections", "global", ..] => Which::Conn,
        ["sessions", "global", ..] => Which::Sess,
        ["ssl-sessions", "global", ..] => Which::Ssl,
        ["http-compression", "global", ..] => Which::Comp,
        _ => return out.push_str(USAGE),
    };
    let Some(v) = args.get(2) else {
        out.push_str("Expects an integer value.\n\n");
        return;
    };
    let v = c_atoi(v);
    let Ok(v) = u32::try_from(v) else {
        out.push_str("Value out of range.\n\n");
        return;
    };
    ctx.rt.cli.rate.set(which, v);
    if which == Which::Comp {
        crate::runtime::process::warning(
            "set rate-limit http-compression: recorded, but rproxy does not compress \
             responses, so the limit has no effect.",
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_as_c_does() {
        assert_eq!(c_atoi("5"), 5);
        assert_eq!(c_atoi("5abc"), 5);
        assert_eq!(c_atoi("abc"), 0);
        assert_eq!(c_atoi(""), 0);
        assert_eq!(c_atoi("-1"), -1);
        assert_eq!(c_atoi("+7"), 7);
        assert_eq!(c_atoi("2147483648"), i32::MIN);
        assert_eq!(c_atoi("4294967297"), 1);
        assert_eq!(c_atoi("99999999999999999999"), -1);
    }

    #[test]
    fn compression_limit_wraps_like_haproxy() {
        let r = RateLimits::default();
        r.set(Which::Comp, 100);
        assert_eq!(r.limits().3, 102_400);
        r.set(Which::Comp, 5_000_000);
        assert_eq!(r.limits().3, 825_032_704);
    }

    #[test]
    fn room_follows_the_limits() {
        let g = Global {
            maxconnrate: Some(2),
            ..Global::default()
        };
        let r = RateLimits::new(&g);
        assert!(r.room(false));
        // Three events are at least 2 per second even across a second's boundary.
        for _ in 0..3 {
            r.on_accept(false);
        }
        assert!(!r.room(false));
        // An SSL limit does not hold back plain listeners.
        r.set(Which::Conn, 0);
        r.set(Which::Ssl, 1);
        r.on_accept(true);
        r.on_accept(true);
        assert!(r.room(false));
        assert!(!r.room(true));
    }
}
