//! Typed scalar values of the configuration language: times, sizes, integers, addresses,
//! port ranges and networks.
// STUB: replaced by the values branch.
use crate::model::types::{BindAddr, ServerAddr};
use std::time::Duration;
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
    pub hint: Option<String>,
    pub at: usize,
}
fn stub<T>() -> Result<T, ValueError> {
    Err(ValueError {
        message: "stub".into(),
        hint: None,
        at: 0,
    })
}
pub fn parse_time(_s: &str) -> Result<Duration, ValueError> {
    stub()
}
pub fn parse_time_default_unit(_s: &str, _unit: &str) -> Result<Duration, ValueError> {
    stub()
}
pub fn parse_size(_s: &str) -> Result<u64, ValueError> {
    stub()
}
pub fn parse_bind_addresses(_s: &str) -> Result<Vec<BindAddr>, ValueError> {
    stub()
}
pub fn parse_server_address(_s: &str) -> Result<ServerAddr, ValueError> {
    stub()
}
pub fn parse_network(_s: &str) -> Result<ipnet::IpNet, ValueError> {
    stub()
}
pub fn resolve_host(_s: &str) -> Result<Vec<std::net::IpAddr>, String> {
    Err("stub".into())
}
