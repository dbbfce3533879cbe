//! `tcp-request inspect-delay` and `tcp-request content accept|reject`: the client's first
//! bytes are buffered and the rules re-evaluated as they arrive, until one decides, the
//! delay expires, the buffer is full or the client closes. Also the TLS ClientHello reading
//! behind `req.ssl_sni` and `req.ssl_hello_type`.

use tokio::io::AsyncReadExt;

use super::proxy::ProxyRt;
use super::sample::{ConnInfo, EvalCtx, TxnInfo, Vars};
use super::stream::Stream;

/// The most bytes buffered for inspection (HAProxy's default buffer size).
const INSPECT_MAX: usize = 16384;

/// The handshake type of a TLS record at the start of `b` (1 is a ClientHello). `Err(true)`
/// when more bytes are needed, `Err(false)` when it is not TLS.
pub fn hello_type(b: &[u8]) -> Result<u8, bool> {
    match b.first() {
        None => Err(true),
        // As HAProxy, the whole record must be there (so that `req.ssl_sni` can be read
        // once a rule on the hello type has matched).
        Some(0x16) => {
            let rec_len = b
                .get(3..5)
                .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])));
            match rec_len {
                Some(n) if b.len() >= 5 + n => b.get(5).copied().ok_or(false),
                _ => Err(true),
            }
        }
        Some(_) => Err(false),
    }
}

/// The server name a TLS ClientHello at the start of `b` asks for. `Err(true)` when more
/// bytes are needed, `Err(false)` when there is none (not TLS, no SNI extension, malformed).
pub fn client_hello_sni(b: &[u8]) -> Result<&str, bool> {
    if b.len() < 5 {
        return if b.first().is_none_or(|&t| t == 0x16) {
            Err(true)
        } else {
            Err(false)
        };
    }
    if b[0] != 0x16 || b[1] < 3 {
        return Err(false);
    }
    let rec_len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    let Some(rec) = b.get(5..5 + rec_len) else {
        return Err(true);
    };
    sni_in_record(rec).ok_or(false)
}

/// A cursor over a ClientHello; every step fails cleanly past the end.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (h, t) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<usize> {
        Some(usize::from(self.take(1)?[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        let b = self.take(2)?;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
}

fn sni_in_record(rec: &[u8]) -> Option<&str> {
    let mut c = Cur(rec);
    if c.u8()? != 1 {
        return None;
    }
    let h = c.take(3)?;
    let hs_len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
    let mut c = Cur(c.take(hs_len)?);
    c.take(2 + 32)?;
    let n = c.u8()?;
    c.take(n)?;
    let n = c.u16()?;
    c.take(n)?;
    let n = c.u8()?;
    c.take(n)?;
    let n = c.u16()?;
    let mut ext = Cur(c.take(n)?);
    while let (Some(ty), Some(len)) = (ext.u16(), ext.u16()) {
        let data = ext.take(len)?;
        if ty != 0 {
            continue;
        }
        let mut l = Cur(data);
        let n = l.u16()?;
        let mut names = Cur(l.take(n)?);
        while let Some(kind) = names.u8() {
            let n = names.u16()?;
            let name = names.take(n)?;
            if kind == 0 {
                return std::str::from_utf8(name).ok();
            }
        }
        return None;
    }
    None
}

/// Runs the frontend's `tcp-request content` rules over the client's first bytes, which
/// are left in `conn.payload` (to be forwarded first). Returns whether the connection is
/// accepted.
pub async fn content(
    fe: &ProxyRt,
    cli: &mut Stream,
    conn: &mut ConnInfo,
    vars: &mut Vars,
    info: &TxnInfo,
) -> bool {
    let mut buf = conn.payload.take().unwrap_or_default();
    let deadline = fe
        .inspect_delay
        .filter(|d| !d.is_zero())
        .map(|d| tokio::time::Instant::now() + d);
    let mut closed = false;
    let mut chunk = vec![0u8; 4096];
    loop {
        let last = closed
            || buf.len() >= INSPECT_MAX
            || deadline.is_none_or(|d| tokio::time::Instant::now() >= d);
        conn.payload = Some(buf);
        let mut level = None;
        let verdict = decide(fe, conn, vars, info, last, &mut level);
        buf = conn.payload.take().unwrap_or_default();
        if let Some(v) = verdict {
            conn.payload = Some(buf);
            set_level(vars, level);
            if !v {
                crate::runtime::stats::counters::content_denied(fe);
            }
            return v;
        }
        // Some rule needs more bytes: wait for them, or for the delay to expire.
        let room = (INSPECT_MAX - buf.len()).min(chunk.len());
        let read = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, cli.read(&mut chunk[..room]))
                    .await
                    .ok(),
                None => Some(cli.read(&mut chunk[..room]).await),
            }
        };
        match read.await {
            Some(Ok(0)) | Some(Err(_)) => closed = true,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            None => {}
        }
    }
}

/// `tcp-request content` rules of an HTTP frontend, per request: HAProxy runs them on the
/// parsed request (each HTTP/1 request is a stream of its own), so they are evaluated once,
/// with the request head, and nothing waits. There `req.len` is the request's size in
/// HAProxy's internal form (see [`htx_len`]) plus the body bytes already received
/// (`body_received`), and `req.payload`/`req.ssl_*` fail, as in HAProxy 2.6. Returns
/// whether it goes on.
pub fn http_content(
    fe: &ProxyRt,
    conn: &mut ConnInfo,
    req: &super::http::head::RequestHead,
    body_received: usize,
    vars: &mut Vars,
    info: &TxnInfo,
) -> bool {
    conn.http_req_len = Some(htx_len(req) + body_received);
    let ctx = EvalCtx {
        conn,
        req: Some(req),
        res: None,
        vars,
        info,
    };
    let mut go_on = true;
    let mut level = None;
    for r in &fe.tcp_content {
        if r.cond.as_ref().is_none_or(|c| c.eval(&ctx)) {
            if r.log_level.is_some() {
                level = r.log_level;
                continue;
            }
            if !r.accept {
                crate::runtime::stats::counters::content_denied(fe);
            }
            go_on = r.accept;
            break;
        }
    }
    conn.http_req_len = None;
    set_level(vars, level);
    go_on
}

/// Leaves a `set-log-level` for the transaction's log (see `TxnLog::take_level`).
fn set_level(vars: &mut Vars, level: Option<i8>) {
    if let Some(l) = level {
        vars.set(
            crate::runtime::txnlog::LOG_LEVEL_VAR,
            crate::runtime::sample::Value::Int(i64::from(l)),
        );
    }
}

/// The size of a request head as HAProxy 2.6 stores it (HTX): a 20-byte start-line
/// record with the method, target and version, each header's name and value, and one
/// byte marking the end of the headers. Measured on haproxy 2.6.12: `GET / HTTP/1.0`
/// alone is 33, with `Host: a` 38.
pub fn htx_len(req: &super::http::head::RequestHead) -> usize {
    let sl = 20 + req.method.len() + req.uri.len() + req.version.as_str().len();
    let hdrs: usize = req
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    sl + hdrs + 1
}

/// One pass over the rules: `Some(accept)` when one decides (or none matches and no more
/// data can help), None when a rule waits for more bytes. `level`: the last
/// `set-log-level` the pass went through.
fn decide(
    fe: &ProxyRt,
    conn: &ConnInfo,
    vars: &Vars,
    info: &TxnInfo,
    last: bool,
    level: &mut Option<i8>,
) -> Option<bool> {
    let ctx = EvalCtx {
        conn,
        req: None,
        res: None,
        vars,
        info,
    };
    for r in &fe.tcp_content {
        let hit = match &r.cond {
            None => true,
            // The last pass is final: a fetch short of bytes simply fails.
            Some(c) if last => c.eval(&ctx),
            // A rule whose outcome may still change with more data waits for it
            // (HAProxy's "missing data"), negated or not: `!{ req.ssl_hello_type 1 }`
            // waits for the whole record as `{ req.ssl_hello_type 1 }` does.
            Some(c) => c.eval_partial(&ctx)?,
        };
        if hit && r.log_level.is_some() {
            *level = r.log_level;
        } else if hit {
            return Some(r.accept);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello record naming `name`.
    pub fn client_hello(name: &str) -> Vec<u8> {
        let mut sni = Vec::new();
        let n = name.as_bytes();
        sni.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
        sni.extend_from_slice(n);
        let mut ext = vec![0, 0];
        ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sni);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn sni_and_hello_type() {
        let h = client_hello("a.example.com");
        assert_eq!(client_hello_sni(&h), Ok("a.example.com"));
        assert_eq!(hello_type(&h), Ok(1));
        for cut in 0..h.len() {
            assert_eq!(client_hello_sni(&h[..cut]), Err(true), "{cut}");
        }
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), Err(false));
        assert_eq!(hello_type(b"GET /"), Err(false));
        assert_eq!(hello_type(&[0x16, 3, 1]), Err(true));
        assert_eq!(hello_type(&h[..h.len() - 1]), Err(true));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = client_hello_sni(&b);
            let mut t = vec![0x16, 3, 1, 0, b.len() as u8];
            t.extend_from_slice(&b);
            let _ = client_hello_sni(&t);
            let _ = hello_type(&b);
        }
    }
}
