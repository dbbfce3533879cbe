//! Readiness of a listening socket without handing its accepted connections to the event
//! loop: the listener is watched with tokio's `AsyncFd`, and `accept4` is called directly, so
//! that a new connection is registered only when it must wait (see `stream::Stream::Fresh`).
//!
//! The one `unsafe` here is `AsyncFd::register_with_interest`, whose contract is that the
//! descriptor stays open and the same for the `AsyncFd`'s lifetime. It holds by ownership:
//! the `std::net::TcpListener` moved in owns its descriptor, nothing else can close it, and
//! its `as_raw_fd` always returns that one descriptor. (tokio's safe `AsyncFd::new` does
//! exactly this and is deprecated only because it cannot check it for any `T`.)
#![allow(unsafe_code)]

use std::io;
use std::net::TcpListener;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A listening TCP socket watched for incoming connections.
pub fn watch_listener(l: TcpListener) -> io::Result<AsyncFd<TcpListener>> {
    // SAFETY: see the module documentation; `l` is owned and moved in.
    unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }.map_err(io::Error::from)
}
