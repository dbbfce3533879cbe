//! Typed values shared by the model: addresses, port ranges, networks.
