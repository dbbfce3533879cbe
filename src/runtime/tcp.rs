//! `mode tcp`: a server is chosen per connection and bytes are forwarded both ways.
//! (`mode health`, 1.x: answer "OK" and close.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;

use super::Runtime;
use super::backend::PickError;
use super::balance;
use super::listeners::Accepted;
use super::proxy::ProxyRt;
use super::sample::{ConnInfo, EvalCtx, TxnInfo, Vars};
use super::tunnel::{self, TunnelTimeouts};
use super::txnlog::TxnLog;

pub async fn health(mut acc: Accepted, _guard: super::ConnGuard) {
    let _ = acc.stream.write_all(b"OK\n").await;
    let _ = acc.stream.shutdown().await;
}

pub async fn serve(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    mut acc: Accepted,
    _guard: super::ConnGuard,
) {
    let mut conn = ConnInfo {
        src: acc.src,
        dst: acc.dst,
        ..Default::default()
    };
    crate::runtime::tls_bind::note_conn(&mut conn, &acc.stream);
    let mut log = TxnLog::new();
    let info = TxnInfo {
        frontend: fe.name.clone(),
        pid: rt.pid,
        ..Default::default()
    };
    let mut vars = Vars::default();
    let ctx = EvalCtx {
        conn: &conn,
        req: None,
        res: None,
        vars: &vars,
        info: &info,
    };
    for r in fe.tcp_connection.iter().filter(|_| !acc.conn_rules_done) {
        if r.cond.as_ref().is_none_or(|c| c.eval(&ctx)) {
            if r.accept {
                break;
            }
            crate::runtime::stats::counters::conn_denied(&fe);
            return;
        }
    }
    fe.log.on_accept(&fe.name, &conn);
    if !fe.tcp_content.is_empty()
        && !super::inspect::content(&fe, &mut acc.stream, &mut conn, &mut vars, &info).await
    {
        log.take_level(&vars);
        log.fail(b'P');
        emit(&rt, &fe, &conn, &log);
        return;
    }
    log.take_level(&vars);
    // Fetches over the payload see what inspection buffered (nothing without rules).
    conn.payload.get_or_insert_with(Vec::new);
    let ctx = EvalCtx {
        conn: &conn,
        req: None,
        res: None,
        vars: &vars,
        info: &info,
    };
    let mut be_idx = None;
    for (choice, cond) in &fe.use_backends {
        if cond.as_ref().is_none_or(|c| c.eval(&ctx)) {
            be_idx = match choice {
                super::proxy::BackendChoice::Index(i) => Some(*i),
                super::proxy::BackendChoice::Dynamic(f) => {
                    rt.by_name.get(&f.render_string(&ctx)).copied()
                }
            };
            break;
        }
    }
    let be_idx = be_idx
        .or(fe.default_backend)
        .or(fe.caps.backend.then_some(fe.idx));
    let Some(bpx) = be_idx.and_then(|i| rt.proxies.get(i)).cloned() else {
        return;
    };
    let Some(be) = bpx.backend.clone() else {
        return;
    };
    log.backend = Some(bpx.clone());
    // The connection is ready to go to a server: the queue time starts.
    log.head = Some(std::time::Instant::now());
    let key = balance::hash_key(&be.balance, None, &conn);
    let queue_t = bpx.timeouts.queue.or(bpx.timeouts.connect);
    let mut avoid = None;
    let mut attempts = 0u32;
    // The slot kept for a retry on the same server.
    let mut kept = None;
    // The server a redispatched retry comes from, counted once the next one is known.
    let mut redispatched_from = None;
    let (mut srv, slot) = loop {
        let mut slot = match kept.take() {
            Some(s) => s,
            None => match be.assign(key, avoid, queue_t).await {
                Ok(s) => {
                    if let Some(prev) = redispatched_from.take() {
                        log.redispatched |=
                            super::http::session::count_reassignment(&bpx, &be, prev, Some(s.idx));
                    }
                    s
                }
                Err(e) => {
                    if let Some(prev) = redispatched_from.take() {
                        super::http::session::count_reassignment(&bpx, &be, prev, None);
                    }
                    bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                    be.stat.failed_conns.fetch_add(1, Ordering::Relaxed);
                    match e {
                        PickError::NoServer => log.fail_at(b'S', b'C'),
                        PickError::QueueTimeout(mut q) => {
                            log.left_queue(&mut q);
                            log.fail_at(b's', b'Q')
                        }
                        PickError::QueueFull => log.fail_at(b'S', b'Q'),
                    }
                    emit(&rt, &fe, &conn, &log);
                    return;
                }
            },
        };
        log.server = Some(slot.idx);
        log.left_queue(&mut slot.queue);
        log.assigned();
        let sni = be.server_sni(slot.idx, &ctx);
        match be
            .connect_from(slot.idx, acc.src, acc.dst, bpx.timeouts.connect, sni)
            .await
        {
            Ok(s) => {
                log.connected();
                crate::runtime::stats::counters::connected(&be, slot.idx, false);
                break (s, slot);
            }
            Err(e) => {
                bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                if attempts >= bpx.retries {
                    crate::runtime::stats::counters::conn_failed(&be, slot.idx);
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut;
                    log.fail_at(if timed_out { b's' } else { b'S' }, b'C');
                    drop(slot);
                    emit(&rt, &fe, &conn, &log);
                    return;
                }
                attempts += 1;
                log.retries = attempts;
                let (redispatch, pause) =
                    super::http::session::retry_plan(&bpx, &be, slot.idx, attempts, false, &e);
                crate::runtime::stats::counters::conn_retry(&be, slot.idx, redispatch);
                if redispatch {
                    redispatched_from = Some(slot.idx);
                    avoid = Some(slot.idx);
                    drop(slot);
                } else {
                    bpx.counters.retries.fetch_add(1, Ordering::Relaxed);
                    kept = Some(slot);
                }
                if let Some(p) = pause {
                    tokio::time::sleep(p).await;
                }
            }
        }
    };
    // `timeout tunnel` replaces both sides' inactivity timeouts once the connection is
    // established, in TCP mode as for upgraded HTTP connections.
    let tt = bpx.timeouts.tunnel;
    let t = TunnelTimeouts {
        client: tt.or(fe.timeouts.client),
        server: tt.or(bpx.timeouts.server),
        client_fin: fe.timeouts.client_fin,
        server_fin: bpx.timeouts.server_fin,
    };
    let pending = conn.payload.as_deref().unwrap_or_default();
    let splice = tunnel::SplicePolicy::of(&fe.options, &bpx.options);
    let tunnel = tunnel::run_with(&mut acc.stream, pending, &mut srv, &[], t, splice);
    // `shutdown sessions server` on the stats socket ends the tunnel (listened for only
    // when there is a stats socket).
    let outcome = if rt.cli.serves() {
        let state = be.servers[slot.idx].clone();
        tokio::select! {
            r = tunnel => Some(r),
            _ = state.killed() => None,
        }
    } else {
        Some(tunnel.await)
    };
    match outcome {
        Some((end, st)) => {
            crate::runtime::stats::counters::tunnelled(
                &fe.counters.fe,
                &be,
                slot.idx,
                st.to_server,
                st.to_client,
            );
            log.tunnel_end(end, st);
        }
        None => log.fail_at(b'K', b'D'),
    }
    // Logged once the server connection is given back, as HAProxy counts it.
    drop(srv);
    drop(slot);
    emit(&rt, &fe, &conn, &log);
}

/// Sends the connection's traffic log line, when the frontend logs traffic.
fn emit(rt: &Runtime, fe: &ProxyRt, conn: &ConnInfo, log: &TxnLog) {
    if fe.log.enabled() {
        let active = rt.active.load(Ordering::Relaxed);
        fe.log.emit(log, fe, conn, active, rt.pid);
    }
}
