//! Samples, ACLs and log-format strings evaluated per request or connection.
//!
//! STUB: the API the HTTP pipeline codes against; the real engine replaces this file.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::model::expr::{Condition, LogFormat, Sample};
use crate::model::proxy::AclDef;
use crate::runtime::http::head::{RequestHead, ResponseHead};

/// A sample value, typed as HAProxy types them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(String),
    Bin(Vec<u8>),
}

impl Value {
    /// The value as text (as HAProxy casts to `str`).
    pub fn to_text(&self) -> String {
        match self {
            Value::Bool(b) => (*b as i32).to_string(),
            Value::Int(i) => i.to_string(),
            Value::Ip(ip) => ip.to_string(),
            Value::Str(s) => s.clone(),
            Value::Bin(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }
}

/// What is known about the client connection.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// None for UNIX sockets.
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// Whether the client side is TLS (`ssl_fc`).
    pub ssl: bool,
    pub sni: Option<String>,
    pub ssl_version: Option<String>,
    pub ssl_cipher: Option<String>,
}

/// Variables (`set-var(txn.x)`); keys are full names with their scope (`txn.x`).
#[derive(Debug, Clone, Default)]
pub struct Vars(pub HashMap<String, Value>);

impl Vars {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    pub fn set(&mut self, name: &str, v: Value) {
        self.0.insert(name.to_string(), v);
    }
    pub fn unset(&mut self, name: &str) {
        self.0.remove(name);
    }
}

/// Per-transaction facts the log-format variables read (`%f`, `%b`, `%s`, `%ST` ...).
#[derive(Debug, Clone, Default)]
pub struct TxnInfo {
    pub frontend: String,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub status: Option<u16>,
    pub pid: u32,
    /// Milliseconds since the epoch at accept.
    pub accept_ms: u64,
    pub request_counter: u64,
}

/// Everything an evaluation can read.
pub struct EvalCtx<'a> {
    pub conn: &'a ConnInfo,
    pub req: Option<&'a RequestHead>,
    pub res: Option<&'a ResponseHead>,
    pub vars: &'a Vars,
    pub info: &'a TxnInfo,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// A condition ready to evaluate; named ACLs resolved against the proxy's `acl` lines.
#[derive(Debug, Clone)]
pub struct CompiledCond {
    _cond: Condition,
}

impl CompiledCond {
    pub fn compile(cond: &Condition, _acls: &[AclDef]) -> Result<Self, CompileError> {
        Ok(CompiledCond {
            _cond: cond.clone(),
        })
    }
    pub fn eval(&self, _ctx: &EvalCtx) -> bool {
        false
    }
}

#[derive(Debug, Clone)]
pub struct CompiledSample {
    _s: Sample,
}

impl CompiledSample {
    pub fn compile(s: &Sample) -> Result<Self, CompileError> {
        Ok(CompiledSample { _s: s.clone() })
    }
    pub fn eval(&self, _ctx: &EvalCtx) -> Option<Value> {
        None
    }
}

#[derive(Debug, Clone)]
pub struct CompiledLogFormat {
    _lf: LogFormat,
}

impl CompiledLogFormat {
    pub fn compile(lf: &LogFormat) -> Result<Self, CompileError> {
        Ok(CompiledLogFormat { _lf: lf.clone() })
    }
    pub fn render(&self, _ctx: &EvalCtx, _out: &mut String) {}
    pub fn render_string(&self, ctx: &EvalCtx) -> String {
        let mut s = String::new();
        self.render(ctx, &mut s);
        s
    }
}
