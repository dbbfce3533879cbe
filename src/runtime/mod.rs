//! The proxy runtime, built only from the validated model ([`crate::model::Config`]).

pub mod backend;
pub mod balance;
pub mod http;
pub mod inherit;
pub mod listeners;
pub mod sample;
pub mod stream;
