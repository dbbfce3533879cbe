//! Samples, ACLs, conditions and log-format strings in typed form.
