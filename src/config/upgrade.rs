//! `rproxy --upgrade`: rewrites a 1.x configuration in modern syntax, keeping comments and
//! layout, so that HAProxy 2.6 accepts it.
