//! Kernel splicing in `mode tcp` (`option splice-auto|splice-request|splice-response`,
//! `global nosplice`): bytes arrive intact both ways and half-close still works, side by
//! side with HAProxy 2.6.12; and rproxy opens pipes only when an option asks for them.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::proxy::{Engine, Proxy};
use common::sbs::require_haproxy;
use common::tunnel::{echo_server, half_close_server, send_then_fin, tunnel_idle_runs};
use common::{free_port, local};

/// Bytes that differ from one offset to the next (a shifted or dropped chunk shows).
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Sends `data` through `port` to the echo server while reading it back: whether all of
/// it came back unchanged.
fn echo_intact(port: u16, data: &[u8]) -> bool {
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut w = c.try_clone().expect("clone");
    let out = data.to_vec();
    let writer = std::thread::spawn(move || {
        let ok = w.write_all(&out).is_ok();
        let _ = w.shutdown(Shutdown::Write);
        ok
    });
    let mut back = Vec::with_capacity(data.len());
    let _ = c.read_to_end(&mut back);
    writer.join().unwrap_or(false) && back == data
}

const OPTION_SETS: [&str; 4] = [
    "",
    "  option splice-auto\n",
    "  option splice-request\n",
    "  option splice-request\n  option splice-response\n",
];

/// For each option set, a listen section to the echo server and one to the half-close
/// server; returns the config and the (echo, half-close) frontend ports.
fn config(global: &str, echo: u16, hc: u16) -> (String, Vec<(u16, u16)>) {
    let mut c = format!(
        "global\n{global}defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  \
         timeout server 10s\n"
    );
    let mut ports = Vec::new();
    for (i, opts) in OPTION_SETS.iter().enumerate() {
        let (e, h) = (free_port(), free_port());
        c.push_str(&format!(
            "listen e{i}\n  bind 127.0.0.1:{e}\n{opts}  server s 127.0.0.1:{echo}\n\
             listen h{i}\n  bind 127.0.0.1:{h}\n{opts}  server s 127.0.0.1:{hc}\n"
        ));
        ports.push((e, h));
    }
    (c, ports)
}

/// 2 MiB each way through every splice option, and 1 MB then a FIN whose answer must still
/// come back: as through haproxy.
#[test]
fn spliced_tunnels_carry_bytes_and_half_close_as_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (echo, hc) = (echo_server(65536), half_close_server());
    let data = pattern(2 << 20);
    let small = vec![b'x'; 1_000_000];
    let mut results = Vec::new();
    for engine in [Engine::Haproxy, Engine::Rproxy] {
        let (cfg, ports) = config("", echo, hc);
        let _p = Proxy::start_engine(engine, &cfg);
        let got: Vec<(bool, String)> = ports
            .iter()
            .map(|&(e, h)| (echo_intact(e, &data), send_then_fin(h, &small)))
            .collect();
        results.push((engine.name(), got));
    }
    for (i, opts) in OPTION_SETS.iter().enumerate() {
        let hap = &results[0].1[i];
        assert_eq!(
            hap,
            &(true, "got 1000000 bytes\n".to_string()),
            "haproxy with {opts:?}"
        );
        assert_eq!(&results[1].1[i], hap, "rproxy with {opts:?}");
    }
}

/// Pipe descriptors rproxy holds (its per-thread pool keeps them after use).
fn pipes(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .map(|l| l.to_string_lossy().starts_with("pipe:"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

/// Pipes are opened only where an option asks for splicing, with `splice-auto` only once a
/// direction carries bulk data, and never under `nosplice`.
#[test]
fn pipes_only_where_splicing_is_asked_for() {
    let (echo, hc) = (echo_server(65536), half_close_server());
    let big = pattern(1 << 20);
    let (cfg, ports) = config("", echo, hc);
    let p = Proxy::start(&cfg);
    let base = pipes(p.pid());
    // No option: copied.
    assert!(echo_intact(ports[0].0, &big));
    assert_eq!(pipes(p.pid()), base, "no splice option, yet pipes");
    // splice-auto with a few bytes: still copied.
    assert!(echo_intact(ports[1].0, b"hello"));
    assert_eq!(pipes(p.pid()), base, "splice-auto on 5 bytes, yet pipes");
    // splice-auto with 1 MiB each way: a pipe per direction.
    assert!(echo_intact(ports[1].0, &big));
    assert!(pipes(p.pid()) >= base + 2, "splice-auto on 1 MiB: no pipe");
    drop(p);

    let (cfg, ports) = config("  nosplice\n", echo, hc);
    let p = Proxy::start(&cfg);
    let base = pipes(p.pid());
    for &(e, _) in &ports {
        assert!(echo_intact(e, &big));
    }
    assert_eq!(pipes(p.pid()), base, "nosplice, yet pipes");
}

/// `tune.pipesize` resizes the pipes (fewer splice calls per MiB): bytes still arrive intact
/// and half-close still works through every option set, with a size above the default and
/// one below it.
#[test]
fn tune_pipesize_keeps_spliced_bytes_intact() {
    let (echo, hc) = (echo_server(65536), half_close_server());
    let data = pattern(2 << 20);
    for size in ["1048576", "8192"] {
        let (cfg, ports) = config(&format!("  tune.pipesize {size}\n"), echo, hc);
        let p = Proxy::start(&cfg);
        for &(e, h) in &ports {
            assert!(echo_intact(e, &data), "pipesize {size}: echo through {e}");
            assert_eq!(send_then_fin(h, b"abc"), "got 3 bytes\n", "pipesize {size}");
        }
        assert!(pipes(p.pid()) >= 2, "pipesize {size}: no pipe used");
    }
}

/// With both directions spliced, `timeout tunnel` still replaces the client and server
/// timeouts: a long one keeps an idle connection, a short one closes it — as in haproxy.
#[test]
fn timeout_tunnel_applies_to_spliced_connections_as_in_haproxy() {
    if !require_haproxy() {
        return;
    }
    let srv = echo_server(65536);
    let cfg = |fe: u16, client: &str, tunnel: &str| {
        format!(
            "defaults\n  mode tcp\n  option splice-request\n  option splice-response\n  \
             timeout connect 2s\n  timeout client {client}\n  timeout server {client}\n  \
             timeout tunnel {tunnel}\nlisten l\n  bind 127.0.0.1:{fe}\n  server s \
             127.0.0.1:{srv}\n"
        )
    };
    let got = tunnel_idle_runs(cfg);
    assert_eq!((got[0].1, got[0].2), (true, false), "haproxy: {got:?}");
    assert_eq!(
        (got[1].1, got[1].2),
        (got[0].1, got[0].2),
        "rproxy: {got:?}"
    );
}
