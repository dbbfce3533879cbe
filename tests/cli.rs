//! The command line, run as a user would: HAProxy's flags, exit codes and phrases.

mod common;
use common::*;
use std::path::Path;

const OK_CFG: &str = "global\n  maxconn 100\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\nfrontend f\n  bind 127.0.0.1:18080\n  default_backend b\nbackend b\n  server s1 127.0.0.1:18081\n";

#[test]
fn version_and_usage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = rproxy(&["-v"], tmp.path());
    assert!(out.status.success());
    let v = stdout(&out);
    assert!(v.starts_with("HAProxy version 2.6.12-rproxy-"), "{v}");
    assert!(v.contains(&format!("rproxy {}", env!("CARGO_PKG_VERSION"))));
    let vv = stdout(&rproxy(&["-vv"], tmp.path()));
    assert!(
        vv.contains("Feature list") && vv.contains("+OPENSSL"),
        "{vv}"
    );
    let out = rproxy(&[], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Usage : rproxy"));
    let out = rproxy(&["--bogus"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown option '--bogus'") && stderr(&out).contains("Usage"));
}

#[test]
fn check_condition_exit_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        rproxy(&["-cc", "version_atleast(2.6)"], tmp.path())
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        rproxy(&["-cc", "version_before(2.6)"], tmp.path())
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        rproxy(
            &["-cc", "feature(OPENSSL) && !defined(RPROXY_SURELY_UNSET)"],
            tmp.path()
        )
        .status
        .code(),
        Some(0)
    );
    let out = rproxy(&["-cc", "bogus("], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("failed to evaluate condition"));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

#[test]
fn check_mode_phrases_and_exit_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ok = write(tmp.path(), "ok.cfg", OK_CFG);
    let out = rproxy(&["-c", "-f", &ok], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Configuration file is valid\n");

    // Warnings: still valid, "Warnings were found." first, as HAProxy prints; -dW fails.
    let warn = write(
        tmp.path(),
        "warn.cfg",
        "frontend f\n  bind 127.0.0.1:18080\n",
    );
    let out = rproxy(&["-c", "-f", &warn], tmp.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "Warnings were found.\nConfiguration file is valid\n"
    );
    assert!(stderr(&out).contains("missing timeouts"));
    assert_eq!(
        rproxy(&["-c", "-dW", "-f", &warn], tmp.path())
            .status
            .code(),
        Some(1)
    );
    // -q: nothing printed when valid.
    let out = rproxy(&["-c", "-q", "-f", &warn], tmp.path());
    assert_eq!(
        (
            out.status.code(),
            stdout(&out).as_str(),
            stderr(&out).as_str()
        ),
        (Some(0), "", "")
    );

    // Errors: exit 1, all errors of the file reported, each with file:line:col and a caret.
    let bad = write(
        tmp.path(),
        "bad.cfg",
        "global\n  maxconn x\nbackend b\n  balance nope\n  mode htp\n",
    );
    let out = rproxy(&["-c", "-f", &bad], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for at in ["bad.cfg:2:11", "bad.cfg:4:11", "bad.cfg:5:8"] {
        assert!(err.contains(at), "missing {at} in:\n{err}");
    }
    assert!(err.contains('^') && err.contains("did you mean 'http'?"));
    assert!(!err.contains("\u{1b}["), "no colour when not on a terminal");

    // A missing file.
    let out = rproxy(&["-c", "-f", "/nonexistent/haproxy.cfg"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("could not open configuration file '/nonexistent/haproxy.cfg'"));
}

#[test]
fn directories_load_their_cfg_files_in_lexical_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("conf.d");
    std::fs::create_dir(&d).expect("mkdir");
    // 20-b.cfg uses the backend that 10-a.cfg declares... the other way round would fail.
    write(
        &d,
        "10-a.cfg",
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend b\n  server s 127.0.0.1:18081\n",
    );
    write(
        &d,
        "20-b.cfg",
        "frontend f\n  bind 127.0.0.1:18080\n  default_backend b\n",
    );
    write(&d, "notes.txt", "this is not a config\n");
    let out = rproxy(&["-c", "-f", "conf.d"], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // -C changes directory before loading.
    let out = rproxy(
        &[
            "-C",
            tmp.path().to_str().expect("utf-8"),
            "-c",
            "-f",
            "conf.d",
        ],
        Path::new("/"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn runtime_flags_are_accepted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ok = write(tmp.path(), "ok.cfg", OK_CFG);
    let out = rproxy(
        &[
            "-c",
            "-db",
            "-V",
            "-W",
            "-p",
            "/tmp/x.pid",
            "-sf",
            "1",
            "2",
            "-N",
            "100",
            "-n",
            "1000",
            "-L",
            "peer1",
            "-f",
            &ok,
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Without -c the proxy runs; a listener that cannot bind stops it with HAProxy's alert.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let cfg = write(
        tmp.path(),
        "busy.cfg",
        &format!(
            "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  http-request return status 200\n"
        ),
    );
    let out = rproxy(&["-q", "-f", &cfg], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot bind socket"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn upgrade_prints_modern_syntax() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = write(
        tmp.path(),
        "old.cfg",
        "defaults\n\tcontimeout 5000\n\tredispatch\nlisten app 127.0.0.1:18080\n\tserver s 127.0.0.1:18081\n",
    );
    let out = rproxy(&["--upgrade", "-f", &old], tmp.path());
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "defaults\n\ttimeout connect 5000\n\toption redispatch\nlisten app\n\tbind 127.0.0.1:18080\n\tserver s 127.0.0.1:18081\n"
    );
    assert!(stderr(&out).contains("old.cfg:2:2"), "{}", stderr(&out));
}
