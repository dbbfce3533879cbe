//! The validated, defaults-resolved configuration model: what the runtime is built from.

pub mod expr;
pub mod types;
