//! The HTTP/1 pipeline.

pub mod codec;
pub mod errors;
pub mod head;
pub mod rules;
pub mod session;
