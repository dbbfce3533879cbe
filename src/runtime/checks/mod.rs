//! Active health checks: what one check found ([`Outcome`], with HAProxy's check status
//! codes), the per-kind dialogues (one module each), and — built on them — the scheduler and
//! the shared rise/fall state that take servers out and put them back.
//!
//! A kind's dialogue is an async function over a connected stream that returns an
//! [`Outcome`]; the scheduler owns connecting, timing, and what the outcome does to the
//! server's state.

pub mod status;

pub use status::{CheckStatus, Outcome};
