//! The rise/fall state every check kind (and passive health, `observe`) feeds: HAProxy
//! 2.6's health counter, which runs from 0 to `rise + fall - 1`; the server counts as up
//! while it is at least `rise`.
//!
//! A server starts up one failure away from going down (counter = `rise`), as HAProxy
//! starts it: its first failed check takes it down, its first passed one makes it fully
//! up. A failure while up steps the counter down, and below `rise` it drops to 0 (down);
//! a pass while down steps it up, and at `rise` it jumps to the top (up).

use std::sync::Mutex;

/// Up or down as far as health goes (administrative states are elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

/// What one result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Whether the counter moved (HAProxy logs a check result only then, with
    /// `option log-health-checks`).
    pub moved: bool,
    /// `Some` when the server changed state.
    pub changed: Option<Health>,
    /// The state after the result.
    pub health: Health,
    /// `x/y` as the log lines show it: while up, failures left before going down out of
    /// `fall`; while down, passes so far out of `rise`.
    pub x: u32,
    pub y: u32,
}

/// One server's rise/fall counter.
#[derive(Debug)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    /// 0 ..= rise + fall - 1.
    counter: Mutex<u32>,
}

impl RiseFall {
    pub fn new(rise: u32, fall: u32) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        RiseFall {
            rise,
            fall,
            counter: Mutex::new(rise),
        }
    }

    /// Starts down (`disabled` servers coming back, or a caller's choice): the counter at 0.
    pub fn new_down(rise: u32, fall: u32) -> Self {
        let r = RiseFall::new(rise, fall);
        if let Ok(mut c) = r.counter.lock() {
            *c = 0;
        }
        r
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    fn with<T>(&self, f: impl FnOnce(&mut u32) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update; the counter is a
        // plain number and still meaningful.
        let mut g = match self.counter.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    fn state_of(&self, c: u32) -> Health {
        if c >= self.rise {
            Health::Up
        } else {
            Health::Down
        }
    }

    fn step(&self, before: u32, after: u32) -> Step {
        let (b, a) = (self.state_of(before), self.state_of(after));
        let (x, y) = match a {
            Health::Up => (after - self.rise + 1, self.fall),
            Health::Down => (after, self.rise),
        };
        Step {
            moved: before != after,
            changed: (a != b).then_some(a),
            health: a,
            x,
            y,
        }
    }

    /// The raw counter (0 ..= rise + fall - 1), the stats' `check_health`.
    pub fn counter(&self) -> u32 {
        self.with(|c| *c)
    }

    pub fn health(&self) -> Health {
        self.with(|c| self.state_of(*c))
    }

    /// The current `x/y` and state, as a log line or the stats page shows them.
    pub fn now(&self) -> Step {
        self.with(|c| {
            let v = *c;
            let mut s = self.step(v, v);
            s.moved = false;
            s
        })
    }

    /// A passed check.
    pub fn passed(&self) -> Step {
        self.with(|c| {
            let before = *c;
            if *c < self.top() {
                *c += 1;
                if *c >= self.rise {
                    *c = self.top();
                }
            }
            self.step(before, *c)
        })
    }

    /// A failed check (or a passive `fail-check`).
    pub fn failed(&self) -> Step {
        self.with(|c| {
            let before = *c;
            if *c > 0 {
                *c -= 1;
                if *c < self.rise {
                    *c = 0;
                }
            }
            self.step(before, *c)
        })
    }

    /// Passive `on-error sudden-death`: one failure short of down, then a failed check.
    pub fn sudden_death(&self) -> Step {
        self.with(|c| {
            if *c > self.rise {
                *c = self.rise + 1;
            }
        });
        self.failed()
    }

    /// Passive `on-error mark-down` (or an operator): down at once.
    pub fn mark_down(&self) -> Step {
        self.with(|c| {
            let before = *c;
            *c = 0;
            self.step(before, 0)
        })
    }

    /// Fully up at once (an operator's `set server ... health up`).
    pub fn mark_up(&self) -> Step {
        self.with(|c| {
            let before = *c;
            *c = self.top();
            self.step(before, *c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xy(s: Step) -> (u32, u32, Health) {
        (s.x, s.y, s.health)
    }

    #[test]
    fn starts_up_one_failure_from_down() {
        let r = RiseFall::new(2, 3);
        assert_eq!(xy(r.now()), (1, 3, Health::Up));
        let s = r.failed();
        assert_eq!(s.changed, Some(Health::Down));
        assert_eq!(xy(s), (0, 2, Health::Down));
    }

    #[test]
    fn first_pass_is_fully_up() {
        let r = RiseFall::new(2, 3);
        let s = r.passed();
        assert!(s.moved && s.changed.is_none());
        assert_eq!(xy(s), (3, 3, Health::Up));
        assert!(!r.passed().moved);
    }

    #[test]
    fn fall_then_rise() {
        let r = RiseFall::new(2, 3);
        r.passed();
        assert_eq!(xy(r.failed()), (2, 3, Health::Up));
        assert_eq!(xy(r.failed()), (1, 3, Health::Up));
        let s = r.failed();
        assert_eq!(
            (s.changed, xy(s)),
            (Some(Health::Down), (0, 2, Health::Down))
        );
        assert!(!r.failed().moved);
        assert_eq!(xy(r.passed()), (1, 2, Health::Down));
        let s = r.passed();
        assert_eq!((s.changed, xy(s)), (Some(Health::Up), (3, 3, Health::Up)));
    }

    #[test]
    fn rise_one_fall_one() {
        let r = RiseFall::new(1, 1);
        assert_eq!(r.failed().changed, Some(Health::Down));
        assert_eq!(r.passed().changed, Some(Health::Up));
    }

    #[test]
    fn passive_actions() {
        let r = RiseFall::new(2, 5);
        r.passed();
        let s = r.sudden_death();
        assert_eq!(xy(s), (1, 5, Health::Up));
        assert_eq!(r.failed().changed, Some(Health::Down));
        r.mark_up();
        assert_eq!(r.mark_down().changed, Some(Health::Down));
    }
}
