//! Samples, ACLs and log-format strings evaluated per request or connection.
//!
//! Everything is compiled once at start-up (regexes, map files, pattern sets, resolved host
//! names) so that evaluating per request only reads the message: no regex compilation, and
//! no allocation where a value can borrow from the message.
//!
//! - [`fetch`]: sample fetches; [`http`]: the HTTP parsing they share;
//! - [`conv`]: converters; [`map`]: map files;
//! - [`pattern`]: ACL match methods and pattern sets; [`acl`]: ACLs and conditions;
//! - [`logformat`]: log-format rendering; [`value`]: internal values and casts.
//!
//! The header and cookie fetches without a direction (`hdr`, `cookie`) read the response
//! when the context has one, else the request, as HAProxy follows the rule's direction.

mod acl;
pub(crate) mod conv;
mod fetch;
mod http;
pub mod logformat;
mod map;
mod pattern;
mod value;

#[cfg(test)]
mod tests;

pub use acl::{AclSet, CompiledCond};
#[cfg(test)]
pub(crate) use logformat::OFFSET_TEST_LOCK;
pub use logformat::{CompiledLogFormat, set_local_utc_offset};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::model::expr::Sample;
use crate::runtime::http::head::{RequestHead, ResponseHead};
use value::Smp;

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
    /// The protocol ALPN agreed on (`ssl_fc_alpn`).
    pub alpn: Option<String>,
    /// Whether the client presented a certificate (`ssl_c_used`); one that failed
    /// verification never gets this far.
    pub client_cert: bool,
    /// The client's bytes buffered by `tcp-request content` inspection (`req.len`,
    /// `req.payload`, `req.ssl_sni`...); None outside inspection.
    pub payload: Option<Vec<u8>>,
    /// Set by a payload fetch that needed more bytes than were buffered: the rule waits.
    pub payload_short: ShortFlag,
    /// In an HTTP frontend's `tcp-request content` rules: what `req.len` returns there,
    /// the request's size in HAProxy's internal (HTX) form (see `inspect::http_content`).
    pub http_req_len: Option<usize>,
}

/// A flag a fetch can raise through a shared reference (see [`ConnInfo::payload_short`]).
#[derive(Debug, Default)]
pub struct ShortFlag(std::sync::atomic::AtomicBool);

impl ShortFlag {
    pub fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Whether it was raised since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Clone for ShortFlag {
    fn clone(&self) -> Self {
        ShortFlag(std::sync::atomic::AtomicBool::new(
            self.0.load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
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
    /// The request body as far as it was waited for (`option http-buffer-request`), for
    /// `req.body`.
    pub req_body: Option<Vec<u8>>,
    /// The frontend's `capture` values.
    pub captures: crate::runtime::persist::Captures,
    /// What the request's persistence cookie said (see `runtime::persist`).
    pub cookie: crate::runtime::persist::CookieTxn,
    /// Timers, byte counts and flags of a finished transaction, for traffic logs.
    pub log: Option<Box<crate::runtime::txnlog::LogFacts>>,
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

/// A sample expression ready to evaluate: a fetch and its converters.
#[derive(Debug, Clone)]
pub struct CompiledSample {
    fetch: fetch::Fetch,
    convs: Vec<conv::Conv>,
}

impl CompiledSample {
    pub fn compile(s: &Sample) -> Result<Self, CompileError> {
        Ok(CompiledSample {
            fetch: fetch::Fetch::compile(&s.fetch)?,
            convs: s
                .converters
                .iter()
                .map(conv::Conv::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The value of the expression, `None` when the fetch or a converter fails.
    pub fn eval(&self, ctx: &EvalCtx) -> Option<Value> {
        self.eval_smp(ctx).map(Smp::into_value)
    }

    /// The value as text (as HAProxy casts it to `str`), `None` when it fails.
    pub fn eval_string(&self, ctx: &EvalCtx) -> Option<String> {
        self.eval_smp(ctx)
            .map(|v| String::from_utf8_lossy(&v.to_str()).into_owned())
    }

    pub(crate) fn eval_smp<'s>(&'s self, ctx: &EvalCtx<'s>) -> Option<Smp<'s>> {
        let mut out = None;
        self.each(ctx, false, &mut |v| {
            out = Some(v);
            false
        });
        out
    }

    /// Calls `f` with each value (every occurrence when `iterate`), converted; stops when
    /// `f` returns false or a converter fails, as HAProxy does.
    pub(crate) fn each<'s>(
        &'s self,
        ctx: &EvalCtx<'s>,
        iterate: bool,
        f: &mut dyn FnMut(Smp<'s>) -> bool,
    ) {
        self.fetch.run(ctx, iterate, &mut |mut v| {
            for c in &self.convs {
                match c.apply(v, ctx) {
                    Some(n) => v = n,
                    None => return false,
                }
            }
            f(v)
        });
    }
}
