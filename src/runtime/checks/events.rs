//! The words of HAProxy 2.6's health events: the per-check line of `option
//! log-health-checks`, a server going DOWN or UP, and a backend left without a server.
//! Only text building lives here (golden-tested); [`super::scheduler`] decides when each is
//! said and where it goes.

use std::fmt::Write;

use super::health::{Health, Step};
use super::status::Outcome;

/// Which server an event is about.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub backend: &'a str,
    pub server: &'a str,
    pub backup: bool,
}

/// The servers left after a change, and the traffic the changed server had.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Usable active servers (HAProxy's `srv_act`).
    pub active: usize,
    /// Usable backup servers (`srv_bck`).
    pub backup: usize,
    /// Requests being served by the server.
    pub sessions: u32,
    /// Requests moved to or from the server's queue.
    pub requeued: u32,
    /// Requests still waiting.
    pub queued: u32,
}

/// `, reason: ..., code: N, info: "...", check duration: Nms` (duration left out for
/// passive health, which has none).
fn reason(out: &mut String, o: &Outcome, duration: bool) {
    let _ = write!(out, ", reason: {}", o.status.reason());
    if let Some(c) = o.code {
        let _ = write!(out, ", code: {c}");
    }
    if let Some(i) = &o.info {
        let _ = write!(out, ", info: \"{i}\"");
    }
    if duration {
        let _ = write!(out, ", check duration: {}ms", o.duration.as_millis());
    }
}

/// `Health check for [backup ]server B/S succeeded|failed, reason: ..., status: x/y UP.`
pub fn check_line(who: Who, o: &Outcome, duration: bool, step: &Step) -> String {
    let mut s = format!(
        "Health check for {}server {}/{} {}",
        if who.backup { "backup " } else { "" },
        who.backend,
        who.server,
        if o.status.passed() {
            "succeeded"
        } else {
            "failed"
        }
    );
    reason(&mut s, o, duration);
    let _ = write!(
        s,
        ", status: {}/{} {}.",
        step.x,
        step.y,
        match step.health {
            Health::Up => "UP",
            Health::Down => "DOWN",
        }
    );
    s
}

/// `[Backup ]Server B/S is DOWN|UP[, reason: ...]. N active and M backup servers
/// left|online.[ Running on backup.] ...`; the reason is given when no per-check line
/// said it already (`option log-health-checks` off).
pub fn change_line(who: Who, to: Health, why: Option<(&Outcome, bool)>, c: &Counts) -> String {
    let mut s = format!(
        "{}erver {}/{} is {}",
        if who.backup { "Backup S" } else { "S" },
        who.backend,
        who.server,
        match to {
            Health::Up => "UP",
            Health::Down => "DOWN",
        }
    );
    if let Some((o, d)) = why {
        reason(&mut s, o, d);
    }
    let _ = write!(
        s,
        ". {} active and {} backup servers {}.",
        c.active,
        c.backup,
        match to {
            Health::Up => "online",
            Health::Down => "left",
        }
    );
    if c.active == 0 && c.backup > 0 {
        s.push_str(" Running on backup.");
    }
    match to {
        Health::Down => {
            let _ = write!(
                s,
                " {} sessions active, {} requeued, {} remaining in queue.",
                c.sessions, c.requeued, c.queued
            );
        }
        Health::Up => {
            let _ = write!(
                s,
                " {} sessions requeued, {} total in queue.",
                c.requeued, c.queued
            );
        }
    }
    s
}

/// `backend 'B' has no server available!` on standard error; the syslog copy has no
/// quotes (as HAProxy writes them).
pub fn no_server(backend: &str, quoted: bool) -> String {
    if quoted {
        format!("backend '{backend}' has no server available!")
    } else {
        format!("backend {backend} has no server available!")
    }
}

/// The `info` of a passive-health verdict.
pub fn hana_info(errors: u32, last: &str) -> String {
    format!("Detected {errors} consecutive errors, last one was: {last}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::checks::status::CheckStatus;

    const APP1: Who = Who {
        backend: "app",
        server: "app1",
        backup: false,
    };
    const BK: Who = Who {
        backend: "app",
        server: "bk",
        backup: true,
    };

    fn refused() -> Outcome {
        Outcome::new(CheckStatus::L4Con).with_info("Connection refused")
    }
    fn step(x: u32, y: u32, health: Health) -> Step {
        Step {
            moved: true,
            changed: None,
            health,
            x,
            y,
        }
    }

    // Every expected text below was printed by HAProxy 2.6.12 for the same situation.
    #[test]
    fn check_lines() {
        let ok = Outcome::new(CheckStatus::L4Ok);
        assert_eq!(
            check_line(APP1, &ok, true, &step(3, 3, Health::Up)),
            "Health check for server app/app1 succeeded, reason: Layer4 check passed, \
             check duration: 0ms, status: 3/3 UP."
        );
        assert_eq!(
            check_line(BK, &refused(), true, &step(2, 3, Health::Up)),
            "Health check for backup server app/bk failed, reason: Layer4 connection \
             problem, info: \"Connection refused\", check duration: 0ms, status: 2/3 UP."
        );
        let mut sts = Outcome::new(CheckStatus::L7Sts)
            .with_code(500)
            .with_info("Internal Server Error");
        sts.duration = Duration::from_micros(1900);
        assert_eq!(
            check_line(APP1, &sts, true, &step(0, 2, Health::Down)),
            "Health check for server app/app1 failed, reason: Layer7 wrong status, \
             code: 500, info: \"Internal Server Error\", check duration: 1ms, status: 0/2 DOWN."
        );
        let hana =
            Outcome::new(CheckStatus::Hana).with_info(hana_info(2, "L4 unsuccessful connection"));
        assert_eq!(
            check_line(APP1, &hana, false, &step(0, 2, Health::Down)),
            "Health check for server app/app1 failed, reason: Health analyze, info: \
             \"Detected 2 consecutive errors, last one was: L4 unsuccessful connection\", \
             status: 0/2 DOWN."
        );
    }

    #[test]
    fn down_and_up_lines() {
        let c = Counts {
            active: 1,
            backup: 1,
            ..Counts::default()
        };
        assert_eq!(
            change_line(APP1, Health::Down, None, &c),
            "Server app/app1 is DOWN. 1 active and 1 backup servers left. 0 sessions \
             active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            change_line(APP1, Health::Down, Some((&refused(), true)), &c),
            "Server app/app1 is DOWN, reason: Layer4 connection problem, info: \
             \"Connection refused\", check duration: 0ms. 1 active and 1 backup servers \
             left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let on_backup = Counts {
            active: 0,
            backup: 1,
            ..Counts::default()
        };
        assert_eq!(
            change_line(APP1, Health::Down, None, &on_backup),
            "Server app/app1 is DOWN. 0 active and 1 backup servers left. Running on \
             backup. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            change_line(BK, Health::Down, None, &Counts::default()),
            "Backup Server app/bk is DOWN. 0 active and 0 backup servers left. 0 sessions \
             active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            change_line(BK, Health::Up, None, &on_backup),
            "Backup Server app/bk is UP. 0 active and 1 backup servers online. Running on \
             backup. 0 sessions requeued, 0 total in queue."
        );
        let ok = Outcome::new(CheckStatus::L4Ok);
        assert_eq!(
            change_line(
                APP1,
                Health::Up,
                Some((&ok, true)),
                &Counts {
                    active: 1,
                    ..Counts::default()
                }
            ),
            "Server app/app1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 \
             active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        let hana =
            Outcome::new(CheckStatus::Hana).with_info(hana_info(1, "L4 unsuccessful connection"));
        assert_eq!(
            change_line(
                APP1,
                Health::Down,
                Some((&hana, false)),
                &Counts {
                    sessions: 1,
                    ..Counts::default()
                }
            ),
            "Server app/app1 is DOWN, reason: Health analyze, info: \"Detected 1 \
             consecutive errors, last one was: L4 unsuccessful connection\". 0 active and \
             0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn no_server_lines() {
        assert_eq!(
            no_server("app", true),
            "backend 'app' has no server available!"
        );
        assert_eq!(
            no_server("app", false),
            "backend app has no server available!"
        );
    }
}
