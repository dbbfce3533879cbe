//! `set server <b>/<s> health stopping`: HAProxy's NOLB ("stopping") state. The server
//! stays up for the traffic that sticks to it (persistence, connections in progress) but
//! takes no new load-balanced traffic ([`ServerState::usable`] leaves it out); the stats
//! show `NOLB`, `show servers state` op_state 3, and the backend counts it as not
//! serving. A server with checks leaves the state at its next passing check (as in
//! HAProxy, see `Checker::force_stopping`); `health up|down` leave it too.
//!
//! [`ServerState::usable`]: crate::runtime::backend::ServerState::usable

use std::sync::atomic::Ordering;

use super::servers::Found;
use crate::runtime::checks::events::{self, Counts, Who};
use crate::runtime::checks::health::Health;
use crate::runtime::process;

/// Puts the server in NOLB; a server in maintenance stays there, as in HAProxy (which
/// still moves an unchecked server's health counter to its top).
pub fn set_stopping(f: &Found) {
    if f.state.admin() == crate::runtime::backend::Admin::Maint {
        if let (None, Some(m)) = (f.state.checker.get(), f.meta) {
            m.health_nocheck
                .store(m.rise + m.fall - 1, Ordering::Relaxed);
        }
        return;
    }
    if let Some(c) = f.state.checker.get() {
        c.force_stopping();
        return;
    }
    let was_up = f.state.up.load(Ordering::Acquire);
    let was_nolb = f.state.nolb.swap(true, Ordering::AcqRel);
    f.state.up.store(true, Ordering::Release);
    if let Some(m) = f.meta {
        m.health_nocheck
            .store(m.rise + m.fall - 1, Ordering::Relaxed);
    }
    if was_up && was_nolb {
        return;
    }
    if let Some(m) = f.meta {
        m.touch();
    }
    crate::runtime::stats::counters::backend_health(f.backend);
    let mut c = Counts {
        sessions: f.state.cur(),
        queued: f.state.queued(),
        ..Counts::default()
    };
    for s in f.backend.servers.iter().filter(|s| s.usable()) {
        if s.backup {
            c.backup += 1;
        } else {
            c.active += 1;
        }
    }
    let who = Who {
        backend: &f.backend.name,
        server: &f.state.name,
        backup: f.state.backup,
    };
    let line = events::change_line(who, Health::Up, None, &c).replacen(
        " is UP",
        " is stopping, changed from CLI",
        1,
    );
    process::warning(&line);
    if c.active == 0 && c.backup == 0 {
        process::alert(&events::no_server(&f.backend.name, true));
    }
}
