//! Filling a backend's queues in a known order, for side-by-side tests of queued requests:
//! each request is sent once the previous one is seen served or waiting (the stats CSV's
//! `qcur`), so that both engines queue them alike.

use std::net::SocketAddr;
use std::time::Duration;

use super::client::{Conn, try_http_get};
use super::mock::MockServer;
use super::proxy::eventually;

/// The most requests waiting in any queue of backend `be` (its row or its servers'), from
/// the stats CSV at `/stats;csv` on `stats`.
pub fn waiting(stats: SocketAddr, be: &str) -> usize {
    let Ok(r) = try_http_get(stats, "/stats;csv") else {
        return 0;
    };
    r.body_text()
        .lines()
        .filter(|l| l.starts_with(&format!("{be},")))
        .filter_map(|l| l.split(',').nth(2)?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Sends `paths` (with `headers`) to `addr` one at a time from threads, each once the
/// previous one is served by `mock` (the first) or waiting in `be`'s queues; returns their
/// statuses in order (0 for no answer).
pub fn queue_up(
    addr: SocketAddr,
    stats: SocketAddr,
    mock: &MockServer,
    be: &str,
    paths: &[&str],
    headers: &[(&str, &str)],
) -> Vec<u16> {
    let base = mock.requests();
    std::thread::scope(|sc| {
        let mut handles = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let mut hd = vec![("Host", "q"), ("Connection", "close")];
            hd.extend_from_slice(headers);
            handles.push(sc.spawn(move || {
                Conn::try_open(addr)
                    .and_then(|mut c| {
                        c.set_timeout(Duration::from_secs(8));
                        c.request("GET", p, &hd, b"")
                    })
                    .map(|r| r.status)
                    .unwrap_or(0)
            }));
            let ok = if i == 0 {
                eventually(Duration::from_secs(3), || mock.requests() > base)
            } else {
                eventually(Duration::from_secs(3), || waiting(stats, be) >= i)
            };
            assert!(ok, "request {i} ({p:?}) never got served or queued");
        }
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    })
}
