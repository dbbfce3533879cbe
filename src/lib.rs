//! rproxy: a HAProxy-compatible reverse proxy and load balancer.
// `deny`, not `forbid`: `runtime::inherit` alone may use unsafe (and says why).
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod model;
pub mod runtime;
