//! Listening sockets inherited from the parent (`fd@N`), as socket activation passes them.
//!
//! This is the one place that needs `unsafe`: turning a descriptor number into an owned
//! socket. It is sound only if nothing else in the process owns descriptor N; rproxy opens no
//! file before binding, and the number is checked to be an open listening socket first.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{getsockopt, sockopt};

/// Takes ownership of inherited descriptor `n` if it is a listening stream socket.
pub fn take_listening_fd(n: u32) -> Result<OwnedFd, String> {
    let raw = RawFd::try_from(n).map_err(|_| format!("fd@{n}: descriptor number too large"))?;
    // fcntl(F_GETFD) fails with EBADF on a closed descriptor without touching it.
    nix::fcntl::fcntl(
        unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) },
        nix::fcntl::FcntlArg::F_GETFD,
    )
    .map_err(|e| format!("fd@{n}: not an open descriptor ({e})"))?;
    // SAFETY: the descriptor is open (checked above) and not owned by anything else in this
    // process: inherited descriptors are only claimed here, once per `fd@` bind.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    match getsockopt(&fd, sockopt::AcceptConn) {
        Ok(true) => Ok(fd),
        Ok(false) => {
            // Give it back untouched: not ours to close.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
            Err(format!("fd@{n}: the socket is not listening"))
        }
        Err(e) => {
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
            Err(format!("fd@{n}: not a socket ({e})"))
        }
    }
}
