//! Load-balancing algorithms: one trait, one module per algorithm.
//!
//! STUB: the API the backend codes against; the real algorithms replace this file.

use std::sync::Arc;

use crate::model::proxy::{Balance, HashType};
use crate::runtime::backend::ServerState;
use crate::runtime::http::head::RequestHead;
use crate::runtime::sample::ConnInfo;

/// What a pick sees.
pub struct PickCtx<'a> {
    /// Every server of the backend, in declaration order.
    pub servers: &'a [Arc<ServerState>],
    /// Indexes into `servers` of the servers usable now, all of one tier (actives, or backups
    /// when no active is usable), ascending.
    pub eligible: &'a [usize],
    /// The request's hash key for hash-based algorithms; `None` falls back to round robin.
    pub key: Option<u32>,
}

/// A balancing algorithm; implementations keep their own state behind interior mutability.
pub trait Algorithm: Send + Sync {
    fn pick(&self, ctx: &PickCtx) -> Option<usize>;
}

/// The algorithm for a backend's `balance` and `hash-type`.
pub fn build(_balance: &Balance, _hash: HashType, _nservers: usize) -> Box<dyn Algorithm> {
    Box::new(First)
}

/// The hash key of a request for hash-based algorithms (`source`, `uri`, `url_param`, `hdr`);
/// `None` for the others or when the request lacks the key.
pub fn hash_key(_balance: &Balance, _req: Option<&RequestHead>, _conn: &ConnInfo) -> Option<u32> {
    None
}

struct First;
impl Algorithm for First {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        ctx.eligible.first().copied()
    }
}
