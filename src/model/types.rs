//! Typed values shared by the model: addresses, port ranges, networks.
// STUB: replaced by the values branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddr(pub String);
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(std::net::IpAddr),
    Name(String),
    Unix(std::path::PathBuf),
    Any,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: Host,
}
impl std::fmt::Display for BindAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
