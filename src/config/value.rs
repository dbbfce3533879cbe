//! Typed scalar values of the configuration language: times, sizes, integers, addresses,
//! port ranges and networks.
