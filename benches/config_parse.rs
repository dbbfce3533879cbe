//! Configuration parse time on a large generated configuration.
//!
//! Builds in memory a ~20,000-line configuration (1,000 backends of 15 servers, one frontend
//! with 1,000 host ACLs and 1,000 `use_backend` rules) and times `rproxy::config::load_str`,
//! the single entry point that the full model builder will also sit behind.
//!
//! Run with `cargo bench --bench config_parse`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BACKENDS: usize = 1_000;
const SERVERS_PER_BACKEND: usize = 15;
const WARMUP_RUNS: usize = 2;
const TIMED_RUNS: usize = 10;

fn generate() -> String {
    let mut s = String::with_capacity(1 << 20);
    s.push_str(
        "global\n    log stdout format raw local0\n    maxconn 50000\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 5s\n    \
         timeout client 30s\n    timeout server 30s\n\n",
    );
    s.push_str("frontend www\n    bind 127.0.0.1:8080\n");
    for n in 0..BACKENDS {
        let _ = writeln!(s, "    acl host_{n} hdr(host) -i h{n}.example.com");
    }
    for n in 0..BACKENDS {
        let _ = writeln!(s, "    use_backend be_{n} if host_{n}");
    }
    s.push_str("    default_backend be_0\n");
    let mut port = 10_000;
    for n in 0..BACKENDS {
        let _ = writeln!(
            s,
            "backend be_{n}\n    balance roundrobin\n    option httpchk GET /health"
        );
        for i in 0..SERVERS_PER_BACKEND {
            let _ = writeln!(
                s,
                "    server s{i} 127.0.0.1:{port} check inter 2s rise 2 fall 3 weight 10"
            );
            port += 1;
        }
    }
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let text = generate();
    let lines = text.lines().count();
    let env: HashMap<String, String> = HashMap::new();

    let loaded = rproxy::config::load_str("bench.cfg", &text, &env);
    let errors: Vec<String> = loaded
        .diags
        .list
        .iter()
        .filter(|d| d.is_error())
        .take(5)
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(
        errors.is_empty(),
        "the generated configuration is rejected: {errors:#?}"
    );

    for _ in 0..WARMUP_RUNS {
        black_box(rproxy::config::load_str(
            "bench.cfg",
            black_box(&text),
            &env,
        ));
    }
    let mut times: Vec<Duration> = (0..TIMED_RUNS)
        .map(|_| {
            let t = Instant::now();
            let loaded = rproxy::config::load_str("bench.cfg", black_box(&text), &env);
            let d = t.elapsed();
            black_box(loaded);
            d
        })
        .collect();
    times.sort();
    let best = times[0];
    let median = (times[(TIMED_RUNS - 1) / 2] + times[TIMED_RUNS / 2]) / 2;
    println!(
        "generated config: {lines} lines, {} bytes, {BACKENDS} backends x {SERVERS_PER_BACKEND} servers",
        text.len()
    );
    println!(
        "parse {lines}-line config: best {:.2} ms, median {:.2} ms ({TIMED_RUNS} runs after {WARMUP_RUNS} warm-up)",
        ms(best),
        ms(median)
    );
}
