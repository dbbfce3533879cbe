//! Shared test harness: locating `shared/`, skipping (or failing under
//! `RPROXY_REQUIRE_EXTERNAL=1`) when an external program is missing, and running the real
//! `rproxy` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` beside the crate (also where CI puts it beside the clone).
pub fn shared_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

/// Returns false (after printing `SKIP: why`) when a prerequisite is missing; panics
/// instead when `RPROXY_REQUIRE_EXTERNAL=1`, as CI sets it.
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("RPROXY_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") {
        panic!("required external prerequisite missing: {why}");
    }
    println!("SKIP: {why}");
    false
}

pub fn have_program(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn have_user(name: &str) -> bool {
    Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `rproxy ARGS` in `cwd`.
pub fn rproxy(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rproxy"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("rproxy runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A throwaway self-signed certificate and key in one PEM file, as HAProxy's `crt` wants.
pub fn make_pem(dir: &Path, name: &str) -> Option<PathBuf> {
    if !have_program("openssl") {
        return None;
    }
    let key = dir.join("k.pem");
    let crt = dir.join("c.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=example.com",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let mut pem = std::fs::read(&crt).ok()?;
    pem.extend(std::fs::read(&key).ok()?);
    let out = dir.join(name);
    std::fs::write(&out, pem).ok()?;
    Some(out)
}

/// A self-signed EC P-256 certificate (`/CN=x`, two days) and its key, made with openssl in
/// `dir` as `c` and `k` and joined (certificate first) in `dir/c.pem`, which is returned;
/// None when openssl fails.
pub fn make_ec_pem(dir: &Path) -> Option<PathBuf> {
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=x", "-keyout"])
        .arg(dir.join("k"))
        .arg("-out")
        .arg(dir.join("c"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let both = [
        std::fs::read(dir.join("c")).ok()?,
        std::fs::read(dir.join("k")).ok()?,
    ]
    .concat();
    let pem = dir.join("c.pem");
    std::fs::write(&pem, both).ok()?;
    Some(pem)
}

// ---------------------------------------------------------------------------------------
// Runtime-test harness: ports, mock backends, raw clients, proxy processes, side by side.
// Everything is re-exported here so that `use common::*;` brings it in.

pub mod client;
pub mod lognorm;
pub mod mock;
pub mod payload;
pub mod ports;
pub mod proxy;
pub mod queue;
pub mod sbs;
pub mod stats_cli;
pub mod syslog;
pub mod tunnel;
pub mod wire;

#[allow(unused_imports)]
pub use client::{
    Conn, Response, TIMEOUT, build_request, header_if, http_get, http_request, parse_response,
    parse_responses, send_raw, send_raw_timeout, try_http_get,
};
#[allow(unused_imports)]
pub use mock::{Behaviour, Echo, MockBuilder, MockServer, Received, TcpMock};
/// For `Proxy::send_signal`.
#[allow(unused_imports)]
pub use nix::sys::signal::Signal;
#[allow(unused_imports)]
pub use ports::{free_port, free_ports, local, local6, port_is_free, refused_port};
#[allow(unused_imports)]
pub use proxy::{
    Engine, Proxy, accepts, bind_addrs, eventually, listening, wait_listening, wait_listening_addrs,
};
#[allow(unused_imports)]
pub use sbs::{
    SBS_HOST, Side, assert_same, assert_same_echo, fill, render_ports, require_haproxy,
    side_by_side, side_by_side_engines,
};
