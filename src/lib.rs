//! rproxy: a HAProxy-compatible reverse proxy and load balancer.
// `deny`, not `forbid`: `runtime::inherit` and `runtime::readiness` alone may use unsafe (and say why).
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod model;
pub mod runtime;
