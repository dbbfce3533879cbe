//! Backends at run time: server state (shared, lock-free), selection, queueing, connection
//! pools.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Administrative state of a server (`disabled`, `set server ... state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// One server's run-time state, shared by every thread.
#[derive(Debug)]
pub struct ServerState {
    pub name: String,
    pub id: u32,
    pub backup: bool,
    /// Configured `maxconn` (0 = no limit); the effective limit may be lower (`minconn`).
    pub maxconn: u32,
    pub minconn: u32,
    /// Current weight, as `set weight` would change it.
    pub weight: AtomicU32,
    /// Requests being served now.
    pub cur: AtomicU32,
    /// Health: set by checks; all servers start up.
    pub up: AtomicBool,
    pub admin: AtomicU8,
    pub total: AtomicU64,
}

impl ServerState {
    pub fn new(name: &str, id: u32, weight: u32, backup: bool, disabled: bool) -> Self {
        ServerState {
            name: name.to_string(),
            id,
            backup,
            maxconn: 0,
            minconn: 0,
            weight: AtomicU32::new(weight),
            cur: AtomicU32::new(0),
            up: AtomicBool::new(true),
            admin: AtomicU8::new(if disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            total: AtomicU64::new(0),
        }
    }
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }
    pub fn cur(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }
    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }
    /// Whether new traffic may be balanced onto it (up, ready, weight > 0).
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.admin() == Admin::Ready && self.weight() > 0
    }
}
