//! Bidirectional forwarding with inactivity timeouts: TCP mode and upgraded HTTP connections
//! (WebSocket), with HAProxy's half-close handling (`timeout client-fin`/`server-fin`), and
//! kernel splicing (`option splice-auto|splice-request|splice-response`, `nosplice`) between
//! plain TCP sockets.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::stream::Stream;

/// Timeouts of a tunnel: inactivity on each side, and after a side has closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelTimeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
}

/// How a tunnel ended, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both sides closed.
    Closed,
    ClientTimeout,
    ServerTimeout,
    ClientError,
    ServerError,
}

/// Bytes moved each way.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelStats {
    pub to_server: u64,
    pub to_client: u64,
}

/// Forwards both ways until both sides are closed or a timeout expires. `cli_pending` and
/// `srv_pending` are bytes already read from each side and not yet forwarded.
pub async fn run(
    cli: &mut Stream,
    cli_pending: &[u8],
    srv: &mut Stream,
    srv_pending: &[u8],
    t: TunnelTimeouts,
) -> (TunnelEnd, TunnelStats) {
    run_with(
        cli,
        cli_pending,
        srv,
        srv_pending,
        t,
        SplicePolicy::default(),
    )
    .await
}

/// When each direction of a tunnel goes through a kernel pipe (splice(2)) rather than a
/// buffer: after that many bytes have moved that way (`None`: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SplicePolicy {
    pub request: Option<u64>,
    pub response: Option<u64>,
}

/// `option splice-auto` splices a direction once it has moved this much: a pipe costs two
/// descriptors and a syscall per chunk more than a copy, which pays only on bulk transfers.
pub const SPLICE_AUTO_AFTER: u64 = 64 * 1024;

/// `nosplice` in `global`: set at start from the configuration.
static NOSPLICE: AtomicBool = AtomicBool::new(false);

/// `tune.pipesize`: pipes are resized to this many bytes (0: the system's default).
static PIPESIZE: AtomicUsize = AtomicUsize::new(0);

/// Applies the `tune.pipesize` global setting.
pub fn set_pipesize(bytes: u64) {
    PIPESIZE.store(
        usize::try_from(bytes).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
}

/// What one splice into an empty pipe asks for: the pipe's capacity.
fn pipe_chunk() -> usize {
    match PIPESIZE.load(Ordering::Relaxed) {
        0 => PIPE_CHUNK,
        n => n,
    }
}

/// Applies the `nosplice` global setting.
pub fn set_nosplice(on: bool) {
    NOSPLICE.store(on, Ordering::Relaxed);
}

impl SplicePolicy {
    /// The policy of a connection from the frontend's and the backend's options: as in
    /// HAProxy, an option set on either side applies, `splice-request`/`splice-response`
    /// splice that direction from the first byte, `splice-auto` both once they carry bulk
    /// data, and nothing is spliced by default or with `nosplice`.
    pub fn of(fe: &crate::model::proxy::Options, be: &crate::model::proxy::Options) -> Self {
        if NOSPLICE.load(Ordering::Relaxed) {
            return Self::default();
        }
        let auto = (fe.splice_auto || be.splice_auto).then_some(SPLICE_AUTO_AFTER);
        let always = |on: bool| if on { Some(0) } else { auto };
        SplicePolicy {
            request: always(fe.splice_request || be.splice_request),
            response: always(fe.splice_response || be.splice_response),
        }
    }
    fn any(&self) -> bool {
        self.request.is_some() || self.response.is_some()
    }
}

/// [`run`], splicing as `splice` says where both sides are plain TCP sockets.
pub async fn run_with(
    cli: &mut Stream,
    cli_pending: &[u8],
    srv: &mut Stream,
    srv_pending: &[u8],
    t: TunnelTimeouts,
    splice: SplicePolicy,
) -> (TunnelEnd, TunnelStats) {
    let mut st = TunnelStats::default();
    if !cli_pending.is_empty() {
        if srv.write_all(cli_pending).await.is_err() {
            return (TunnelEnd::ServerError, st);
        }
        st.to_server += cli_pending.len() as u64;
    }
    if !srv_pending.is_empty() {
        if cli.write_all(srv_pending).await.is_err() {
            return (TunnelEnd::ClientError, st);
        }
        st.to_client += srv_pending.len() as u64;
    }
    if splice.any() && cli.registered_tcp().is_some() && srv.registered_tcp().is_some() {
        return run_splice(cli, srv, t, st, splice).await;
    }
    if cli.is_plain() && srv.is_plain() {
        return run_plain(cli, srv, t, st).await;
    }
    let (mut cr, mut cw) = tokio::io::split(cli);
    let (mut sr, mut sw) = tokio::io::split(srv);
    let mut cbuf = vec![0u8; 16384];
    let mut sbuf = vec![0u8; 16384];
    let mut cli_open = true;
    let mut srv_open = true;
    // The inactivity timeout is the smaller of the two sides' while both are open (HAProxy
    // arms both timers). Once a side has closed, the wait is on the other one, after its
    // write side was shut: `timeout server-fin` when the client closed first, `timeout
    // client-fin` when the server did (HAProxy's res->rto / req->rto switch).
    loop {
        if !cli_open && !srv_open {
            return (TunnelEnd::Closed, st);
        }
        let idle = idle_timeout(&t, cli_open, srv_open);
        let step = async {
            tokio::select! {
                r = cr.read(&mut cbuf), if cli_open => Side::Client(r),
                r = sr.read(&mut sbuf), if srv_open => Side::Server(r),
            }
        };
        let ev = match idle {
            Some(d) => match tokio::time::timeout(d, step).await {
                Ok(ev) => ev,
                Err(_) => return (timeout_end(&t, cli_open, srv_open), st),
            },
            None => step.await,
        };
        match ev {
            Side::Client(Ok(0)) => {
                cli_open = false;
                let _ = sw.shutdown().await;
            }
            Side::Client(Ok(n)) => {
                if sw.write_all(&cbuf[..n]).await.is_err() {
                    return (TunnelEnd::ServerError, st);
                }
                st.to_server += n as u64;
            }
            Side::Client(Err(_)) => return (TunnelEnd::ClientError, st),
            Side::Server(Ok(0)) => {
                srv_open = false;
                let _ = cw.shutdown().await;
            }
            Side::Server(Ok(n)) => {
                if cw.write_all(&sbuf[..n]).await.is_err() {
                    return (TunnelEnd::ClientError, st);
                }
                st.to_client += n as u64;
            }
            Side::Server(Err(_)) => return (TunnelEnd::ServerError, st),
        }
    }
}

/// [`run`] between two plain sockets: it waits for readiness without a buffer and moves
/// what has arrived through the thread's scratch buffer, so an idle tunnel holds no buffer
/// (HAProxy also releases its buffers when they are empty); only a write that cannot
/// finish at once keeps one.
async fn run_plain(
    cli: &mut Stream,
    srv: &mut Stream,
    t: TunnelTimeouts,
    mut st: TunnelStats,
) -> (TunnelEnd, TunnelStats) {
    let mut cli_open = true;
    let mut srv_open = true;
    // The side read last: the other one is polled first next time (it is where the answer
    // is awaited, and two sides always ready so take turns).
    let mut last_from_cli = false;
    // Per side (client, server): its waker is registered and no wake-up has taken it yet.
    let mut waits = [false, false];
    // One timer for the whole tunnel, re-armed only when it fires early: activity just
    // moves `last`, so a busy tunnel does not add and remove a timer entry per event.
    let mut last = tokio::time::Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let mut idle = idle_timeout(&t, cli_open, srv_open);
    let mut timer = Box::pin(tokio::time::sleep_until(last + idle.unwrap_or(far)));
    // Whether the timer was polled since it was last set: once it has this task's waker it
    // wakes the task when it fires, and checking `is_elapsed` is enough until a reset.
    let mut timer_polled = false;
    loop {
        if !cli_open && !srv_open {
            return (TunnelEnd::Closed, st);
        }
        // Polled by hand rather than through `select!` over `readable()`: no waiter is
        // linked into (and unlinked from) each socket per event.
        let ev = std::future::poll_fn(|cx| {
            let order = if last_from_cli {
                [false, true]
            } else {
                [true, false]
            };
            for from_cli in order {
                let (open, s, waiting) = if from_cli {
                    (cli_open, &mut *cli, &mut waits[0])
                } else {
                    (srv_open, &mut *srv, &mut waits[1])
                };
                if !open {
                    continue;
                }
                // A side still waiting since the last wait only needs a look (no lock, no
                // new waker): this saves a registration per event on the side not read.
                if *waiting {
                    match s.read_ready_now() {
                        Some(true) => return Poll::Ready(Some((from_cli, Ok(())))),
                        Some(false) => continue,
                        None => {}
                    }
                }
                match s.poll_read_ready(cx) {
                    Poll::Ready(r) => return Poll::Ready(Some((from_cli, r))),
                    Poll::Pending => *waiting = true,
                }
            }
            if idle.is_some() {
                if !timer_polled {
                    if timer.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    timer_polled = true;
                } else if timer.is_elapsed() {
                    return Poll::Ready(None);
                }
            }
            Poll::Pending
        })
        .await;
        let Some((from_cli, ready)) = ev else {
            let deadline = last + idle.unwrap_or(far);
            if tokio::time::Instant::now() >= deadline {
                return (timeout_end(&t, cli_open, srv_open), st);
            }
            timer.as_mut().reset(deadline);
            timer_polled = false;
            continue;
        };
        last_from_cli = from_cli;
        // The wake-up that made this side ready took its waker: it must register again.
        waits[usize::from(!from_cli)] = false;
        let before = idle;
        last = tokio::time::Instant::now();
        let (src, dst) = if from_cli {
            (&mut *cli, &mut *srv)
        } else {
            (&mut *srv, &mut *cli)
        };
        if ready.is_err() {
            return (err_end(from_cli), st);
        }
        // Read into the thread's scratch buffer and write it on at once: most events end
        // there, with no buffer taken from the pool. What the destination cannot take now
        // leaves with the scratch buffer itself (the thread gets another one).
        let moved = SCRATCH.with(|sc| {
            let mut sc = sc.borrow_mut();
            if sc.len() != TUNNEL_BUF {
                *sc = pool_take();
            }
            match src.try_read_drain(&mut sc) {
                Ok(0) => Moved::Closed,
                Ok(n) => match dst.try_write(&sc[..n]) {
                    Ok(k) if k == n => Moved::Done(n),
                    Ok(k) => Moved::Partial(std::mem::replace(&mut *sc, pool_take()), k, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        Moved::Partial(std::mem::replace(&mut *sc, pool_take()), 0, n)
                    }
                    Err(_) => Moved::DstErr,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Moved::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Moved::Nothing,
                Err(_) => Moved::SrcErr,
            }
        });
        // A fresh (unregistered) socket was read speculatively: once a read finds it
        // drained, it joins the event loop, to be woken when more comes.
        if src.is_fresh()
            && matches!(moved, Moved::Nothing | Moved::Done(_) | Moved::Partial(..))
            && src.register().is_err()
        {
            return (err_end(from_cli), st);
        }
        let n = match moved {
            Moved::Closed => {
                let other_open = if from_cli {
                    cli_open = false;
                    srv_open
                } else {
                    srv_open = false;
                    cli_open
                };
                // Both sides have closed: the sockets are closed next, which sends the FIN
                // a shutdown would (HAProxy does not shut a side it is about to close).
                if other_open {
                    let _ = dst.shutdown().await;
                }
                0
            }
            Moved::Done(n) => n,
            Moved::Partial(rest, k, n) => {
                let r = dst.write_all(&rest[k..n]).await;
                pool_give(rest);
                if r.is_err() {
                    return (err_end(!from_cli), st);
                }
                n
            }
            Moved::Nothing => 0,
            Moved::DstErr => return (err_end(!from_cli), st),
            Moved::SrcErr => return (err_end(from_cli), st),
        };
        if from_cli {
            st.to_server += n as u64;
        } else {
            st.to_client += n as u64;
        }
        let now_idle = if n == 0 {
            idle_timeout(&t, cli_open, srv_open)
        } else {
            before
        };
        if now_idle != before {
            // A side closed: the other side's (fin) timeout counts from now, and may be
            // shorter than what the timer waits for.
            idle = now_idle;
            timer.as_mut().reset(last + now_idle.unwrap_or(far));
            timer_polled = false;
        }
    }
}

/// One direction of [`run_splice`]: what has been read from its source and not yet written
/// to its destination sits in a pipe (spliced) or a pooled buffer (copied), never both.
struct Dir {
    /// The source has not sent its FIN yet.
    open: bool,
    /// Splice once `moved` reaches this (see [`SplicePolicy`]).
    after: Option<u64>,
    moved: u64,
    pipe: Option<Pipe>,
    buf: Vec<u8>,
    off: usize,
    /// Bytes read and not yet written, in `pipe` or at `buf[off..]`.
    pend: usize,
}

/// What [`Dir::pump`] stopped on.
enum Pump {
    /// Nothing more to do until a socket is ready.
    Blocked,
    /// The source sent its FIN (nothing is pending): shut the destination's write side.
    Eof,
    SrcErr,
    DstErr,
}

/// Rounds of read-then-write per wake-up, so that one busy tunnel lets others run.
const PUMP_ROUNDS: usize = 8;
/// What one splice into a pipe asks for: a pipe's default capacity.
const PIPE_CHUNK: usize = 64 * 1024;

fn splice_flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

impl Dir {
    fn new(after: Option<u64>) -> Self {
        Dir {
            open: true,
            after,
            moved: 0,
            pipe: None,
            buf: Vec::new(),
            off: 0,
            pend: 0,
        }
    }

    /// Moves what `src` has to `dst` until one of them would block; `count` grows by what
    /// was written.
    fn pump(&mut self, src: &TcpStream, dst: &TcpStream, count: &mut u64) -> Pump {
        for _ in 0..PUMP_ROUNDS {
            if self.pend == 0 {
                if !self.open {
                    return Pump::Blocked;
                }
                if self.pipe.is_none() && self.after.is_some_and(|a| self.moved >= a) {
                    // No pipe to be had (descriptors exhausted): copy meanwhile.
                    self.pipe = pipe_take();
                }
                let r = match &self.pipe {
                    // The pipe is empty: EAGAIN can only be the socket's.
                    Some(p) => src.try_io(Interest::READABLE, || {
                        splice(src, None, &p.w, None, pipe_chunk(), splice_flags())
                            .map_err(io::Error::from)
                    }),
                    None => {
                        if self.buf.is_empty() {
                            self.buf = pool_take();
                        }
                        src.try_read(&mut self.buf)
                    }
                };
                match r {
                    Ok(0) => {
                        self.open = false;
                        self.release();
                        return Pump::Eof;
                    }
                    Ok(n) => {
                        self.pend = n;
                        self.off = 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Drained: an idle tunnel holds neither pipe nor buffer.
                        self.release();
                        return Pump::Blocked;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Pump::SrcErr,
                }
            }
            let r = match &self.pipe {
                Some(p) => dst.try_io(Interest::WRITABLE, || {
                    splice(&p.r, None, dst, None, self.pend, splice_flags())
                        .map_err(io::Error::from)
                }),
                None => dst.try_write(&self.buf[self.off..self.off + self.pend]),
            };
            match r {
                Ok(n) => {
                    let n = n.min(self.pend);
                    self.pend -= n;
                    self.off += n;
                    self.moved += n as u64;
                    *count += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pump::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Pump::DstErr,
            }
        }
        Pump::Blocked
    }

    /// Gives the pipe and the buffer back to the thread's pools (both are empty).
    fn release(&mut self) {
        if let Some(p) = self.pipe.take() {
            pipe_give(p);
        }
        if !self.buf.is_empty() {
            pool_give(std::mem::take(&mut self.buf));
        }
    }
}

/// [`run`] between two registered TCP sockets, each direction spliced or copied as `policy`
/// says. Unlike [`run_plain`], writes do not block the loop: each direction waits for its
/// own readiness (source readable when nothing is pending, destination writable when
/// something is), all under the same inactivity timeout.
async fn run_splice(
    cli: &mut Stream,
    srv: &mut Stream,
    t: TunnelTimeouts,
    mut st: TunnelStats,
    policy: SplicePolicy,
) -> (TunnelEnd, TunnelStats) {
    let mut up = Dir::new(policy.request);
    let mut down = Dir::new(policy.response);
    let end = loop {
        let (Some(c), Some(s)) = (cli.as_tcp(), srv.as_tcp()) else {
            // Cannot happen: both were registered before the call.
            break TunnelEnd::ClientError;
        };
        let up_r = up.pump(c, s, &mut st.to_server);
        let down_r = down.pump(s, c, &mut st.to_client);
        match up_r {
            Pump::SrcErr => break TunnelEnd::ClientError,
            Pump::DstErr => break TunnelEnd::ServerError,
            Pump::Eof => {
                let _ = srv.shutdown().await;
            }
            Pump::Blocked => {}
        }
        match down_r {
            Pump::SrcErr => break TunnelEnd::ServerError,
            Pump::DstErr => break TunnelEnd::ClientError,
            Pump::Eof => {
                let _ = cli.shutdown().await;
            }
            Pump::Blocked => {}
        }
        if !up.open && !down.open && up.pend == 0 && down.pend == 0 {
            break TunnelEnd::Closed;
        }
        let (Some(c), Some(s)) = (cli.as_tcp(), srv.as_tcp()) else {
            break TunnelEnd::ClientError;
        };
        let idle = idle_timeout(&t, up.open, down.open);
        let step = async {
            tokio::select! {
                r = c.readable(), if up.open && up.pend == 0 => r.map_err(|_| true),
                r = s.writable(), if up.pend > 0 => r.map_err(|_| false),
                r = s.readable(), if down.open && down.pend == 0 => r.map_err(|_| false),
                r = c.writable(), if down.pend > 0 => r.map_err(|_| true),
            }
        };
        let ready = match idle {
            Some(d) => match tokio::time::timeout(d, step).await {
                Ok(r) => r,
                Err(_) => break timeout_end(&t, up.open, down.open),
            },
            None => step.await,
        };
        if let Err(client) = ready {
            break err_end(client);
        }
    };
    // Empty ones go back to the pools; a pipe still holding bytes is closed.
    for d in [&mut up, &mut down] {
        if d.pend == 0 {
            d.release();
        }
    }
    (end, st)
}

/// A pipe for splicing: read end, write end.
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

/// Pipes kept per thread: a tunnel holds one only while bytes are in flight.
const PIPE_POOL_MAX: usize = 64;

thread_local! {
    static PIPES: std::cell::RefCell<Vec<Pipe>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn pipe_take() -> Option<Pipe> {
    PIPES.with(|p| p.borrow_mut().pop()).or_else(|| {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).ok()?;
        let size = PIPESIZE.load(Ordering::Relaxed);
        if size > 0 {
            // As in HAProxy, a size the kernel refuses (above fs.pipe-max-size for an
            // unprivileged process) leaves the pipe at its default size.
            let size = i32::try_from(size).unwrap_or(i32::MAX);
            let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size));
        }
        Some(Pipe { r, w })
    })
}

fn pipe_give(pipe: Pipe) {
    PIPES.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < PIPE_POOL_MAX {
            p.push(pipe);
        }
    });
}

/// What one event of [`run_plain`] moved.
enum Moved {
    /// The source sent its FIN.
    Closed,
    /// This many bytes, all written.
    Done(usize),
    /// `n` bytes read, of which the destination took `k`: the buffer holds the rest.
    Partial(Vec<u8>, usize, usize),
    /// Nothing (a spurious wake-up).
    Nothing,
    SrcErr,
    DstErr,
}

thread_local! {
    /// [`run_plain`]'s read buffer: one per thread, as the tunnels of a thread take turns.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

const TUNNEL_BUF: usize = 16384;
/// Buffers kept per thread for tunnels: a tunnel holds one only while moving bytes, so a
/// few serve every tunnel of the thread, and none is zeroed again.
const POOL_MAX: usize = 64;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn pool_take() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; TUNNEL_BUF])
}

fn pool_give(b: Vec<u8>) {
    if b.len() == TUNNEL_BUF {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(b);
            }
        });
    }
}

/// Which side's timeout ended the tunnel: the side still awaited, or with both open the
/// shorter one.
fn timeout_end(t: &TunnelTimeouts, cli_open: bool, srv_open: bool) -> TunnelEnd {
    if cli_open && !srv_open {
        TunnelEnd::ClientTimeout
    } else if srv_open && !cli_open {
        TunnelEnd::ServerTimeout
    } else if t.client <= t.server {
        TunnelEnd::ClientTimeout
    } else {
        TunnelEnd::ServerTimeout
    }
}

/// The end of a tunnel whose client side (or server side) failed.
fn err_end(client: bool) -> TunnelEnd {
    if client {
        TunnelEnd::ClientError
    } else {
        TunnelEnd::ServerError
    }
}

enum Side {
    Client(std::io::Result<usize>),
    Server(std::io::Result<usize>),
}

/// The inactivity timeout while the client and server sides are open or not (see [`run`]).
fn idle_timeout(t: &TunnelTimeouts, cli_open: bool, srv_open: bool) -> Option<Duration> {
    match (cli_open, srv_open) {
        (true, true) => min_opt(t.client, t.server),
        (false, true) => t.server_fin.or(t.server).or(t.client),
        (true, false) => t.client_fin.or(t.client).or(t.server),
        (false, false) => None,
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways at once, with a client that reads slowly so that writes to it block and
    /// a read's bytes must wait in a buffer of their own: every byte arrives, in order, and
    /// the half-closes end the tunnel as `Closed`.
    #[test]
    fn plain_tunnel_moves_everything_under_backpressure() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let pair = || async {
                let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let a = TcpStream::connect(l.local_addr().expect("addr"))
                    .await
                    .expect("connect");
                let (b, _) = l.accept().await.expect("accept");
                (a, b)
            };
            // user <-> (cli ... tunnel ... srv) <-> origin
            let (user, cli) = pair().await;
            let (srv, origin) = pair().await;
            let pattern = |len: usize, seed: u8| -> Vec<u8> {
                (0..len)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                    .collect()
            };
            let up = pattern(3 << 20, 7);
            let down = pattern(5 << 20, 11);
            let tunnel = tokio::spawn(async move {
                let mut c = Stream::Tcp(cli);
                let mut s = Stream::Tcp(srv);
                let t = TunnelTimeouts {
                    client: Some(Duration::from_secs(20)),
                    server: Some(Duration::from_secs(20)),
                    ..Default::default()
                };
                run_plain(&mut c, &mut s, t, TunnelStats::default()).await
            });
            let (mut ur, mut uw) = user.into_split();
            let (mut or, mut ow) = origin.into_split();
            let (up2, down2) = (up.clone(), down.clone());
            let w1 = tokio::spawn(async move {
                uw.write_all(&up2).await.expect("user write");
                uw.shutdown().await.expect("user fin");
            });
            let w2 = tokio::spawn(async move {
                ow.write_all(&down2).await.expect("origin write");
                ow.shutdown().await.expect("origin fin");
            });
            let r1 = tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = vec![0u8; 4096];
                loop {
                    let n = ur.read(&mut b).await.expect("user read");
                    if n == 0 {
                        break got;
                    }
                    got.extend_from_slice(&b[..n]);
                    // A slow reader: the tunnel's writes to the client fill its window.
                    if got.len() % (256 << 10) < 4096 {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            });
            let mut got_up = Vec::new();
            or.read_to_end(&mut got_up).await.expect("origin read");
            let got_down = r1.await.expect("reader");
            w1.await.expect("w1");
            w2.await.expect("w2");
            let (end, st) = tunnel.await.expect("tunnel");
            assert_eq!(end, TunnelEnd::Closed);
            assert_eq!(st.to_server, up.len() as u64);
            assert_eq!(st.to_client, down.len() as u64);
            assert!(got_up == up, "client to server bytes differ");
            assert!(got_down == down, "server to client bytes differ");
        });
    }

    /// A client socket not registered yet (as accepted) is read speculatively: with nothing
    /// there at first, the tunnel registers it and is woken when the bytes come, without
    /// spinning; an exchange then a close from each side ends it as `Closed`.
    #[test]
    fn fresh_client_socket_is_registered_when_drained() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let mut user = tokio::net::TcpStream::connect(l.local_addr().expect("addr"))
                .await
                .expect("connect");
            let (cli, _) = l.accept().expect("accept");
            cli.set_nonblocking(true).expect("nonblocking");
            let tl = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let srv = tokio::net::TcpStream::connect(tl.local_addr().expect("addr"))
                .await
                .expect("connect");
            let (mut origin, _) = tl.accept().await.expect("accept");
            let tunnel = tokio::spawn(async move {
                let mut c = Stream::Fresh(Some(cli));
                let mut s = Stream::Tcp(srv);
                run_plain(
                    &mut c,
                    &mut s,
                    TunnelTimeouts::default(),
                    TunnelStats::default(),
                )
                .await
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            user.write_all(b"ping").await.expect("write");
            let mut b = [0u8; 4];
            origin.read_exact(&mut b).await.expect("origin read");
            assert_eq!(&b, b"ping");
            origin.write_all(b"pong").await.expect("write");
            origin.shutdown().await.expect("fin");
            let mut got = Vec::new();
            user.read_to_end(&mut got).await.expect("user read");
            assert_eq!(got, b"pong");
            user.shutdown().await.expect("fin");
            let (end, st) = tunnel.await.expect("tunnel");
            assert_eq!(end, TunnelEnd::Closed);
            assert_eq!((st.to_server, st.to_client), (4, 4));
        });
    }

    #[test]
    fn fin_timeouts_apply_to_the_side_still_awaited() {
        let ms = Duration::from_millis;
        let t = TunnelTimeouts {
            client: Some(ms(4000)),
            server: Some(ms(3000)),
            client_fin: Some(ms(100)),
            server_fin: Some(ms(200)),
        };
        assert_eq!(idle_timeout(&t, true, true), Some(ms(3000)));
        // The client closed: rproxy waits for the server, within server-fin.
        assert_eq!(idle_timeout(&t, false, true), Some(ms(200)));
        // The server closed: rproxy waits for the client, within client-fin.
        assert_eq!(idle_timeout(&t, true, false), Some(ms(100)));
        let plain = TunnelTimeouts {
            client_fin: None,
            server_fin: None,
            ..t
        };
        assert_eq!(idle_timeout(&plain, false, true), Some(ms(3000)));
        assert_eq!(idle_timeout(&plain, true, false), Some(ms(4000)));
    }

    #[test]
    fn splice_policy_follows_haproxy_options() {
        use crate::model::proxy::Options;
        let none = Options::default();
        assert_eq!(SplicePolicy::of(&none, &none), SplicePolicy::default());
        let auto = Options {
            splice_auto: true,
            ..Options::default()
        };
        let req = Options {
            splice_request: true,
            ..Options::default()
        };
        let p = SplicePolicy::of(&auto, &req);
        assert_eq!(p.request, Some(0));
        assert_eq!(p.response, Some(SPLICE_AUTO_AFTER));
        let p = SplicePolicy::of(&none, &req);
        assert_eq!((p.request, p.response), (Some(0), None));
    }
}
