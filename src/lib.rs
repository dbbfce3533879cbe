//! rproxy: a HAProxy-compatible reverse proxy and load balancer.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod model;
pub mod runtime;
