//! The HTTP/1 pipeline.

pub mod head;
