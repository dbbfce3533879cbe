//! The seed's configurations get the expected verdict from `rproxy -c`: every original is
//! accepted (1.x syntax with warnings) except `07-cookie-prefix.cfg`, rejected at line 1
//! with a did-you-mean hint; the SSL ones once a certificate exists.

mod common;
use common::*;
use std::path::Path;

fn prerequisites() -> bool {
    // The seeds name 'user haproxy' and HAProxy's errorfiles; Debian's haproxy provides both.
    require(
        have_user("haproxy"),
        "system user 'haproxy' missing (apt-get install haproxy)",
    ) && require(
        Path::new("/etc/haproxy/errors/503.http").exists(),
        "/etc/haproxy/errors missing (apt-get install haproxy)",
    ) && require(shared_dir().is_some(), "../shared not found")
}

fn check_text(dir: &Path, name: &str, text: &str) -> std::process::Output {
    let f = dir.join(name);
    std::fs::write(&f, text).expect("write config");
    rproxy(&["-c", "-f", f.to_str().expect("utf-8 path")], dir)
}

#[test]
fn originals_accepted_with_warnings() {
    if !prerequisites() {
        return;
    }
    let orig = shared_dir().expect("shared").join("seed-configs/original");
    for name in [
        "01-default-1.x.cfg",
        "02-stats.cfg",
        "03-listen-source.cfg",
        "04-frontend-backend.cfg",
        "05-forwardfor.cfg",
        "06-web-application.cfg",
        "08-httpchk-url.cfg",
        "09-squid.cfg",
        "10-mysql-stats.cfg",
        "11-mysql-master-master.cfg",
        "13-ssl-passthrough.cfg",
        "14-smtp.cfg",
    ] {
        let path = orig.join(name);
        let out = rproxy(&["-c", "-f", path.to_str().expect("utf-8")], &orig);
        assert!(
            out.status.success() && stdout(&out).contains("Configuration file is valid"),
            "{name} should be accepted:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("warning"),
            "{name}: expected warnings (1.x syntax or missing timeouts)"
        );
    }
}

#[test]
fn legacy_lines_warn_with_their_modern_form() {
    if !prerequisites() {
        return;
    }
    let orig = shared_dir().expect("shared").join("seed-configs/original");
    let out = rproxy(&["-c", "-f", "01-default-1.x.cfg"], &orig);
    let err = stderr(&out);
    for (line, modern) in [
        ("01-default-1.x.cfg:23:", "timeout connect"),
        ("01-default-1.x.cfg:24:", "timeout client"),
        ("01-default-1.x.cfg:25:", "timeout server"),
        ("01-default-1.x.cfg:27:", "bind 0.0.0.0:10001"),
        ("01-default-1.x.cfg:44:", "http-response del-header"),
    ] {
        let at = err
            .find(line)
            .unwrap_or_else(|| panic!("no diagnostic at {line}:\n{err}"));
        let rest = &err[at..];
        let block = rest.split("\nwarning").next().unwrap_or(rest);
        assert!(
            block.contains(modern),
            "diagnostic at {line} should name '{modern}':\n{block}"
        );
    }
}

#[test]
fn cookie_prefix_rejected_at_line_1_then_accepted_when_fixed() {
    if !prerequisites() {
        return;
    }
    let orig = shared_dir()
        .expect("shared")
        .join("seed-configs/original/07-cookie-prefix.cfg");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(&orig).expect("seed readable");
    let out = check_text(dir.path(), "07.cfg", &text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("07.cfg:1:1"), "{err}");
    assert!(err.contains("did you mean 'global'?"), "{err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "one precise error, not a storm:\n{err}"
    );
    let fixed = text.replacen("lobal", "global", 1);
    let out = check_text(dir.path(), "07-fixed.cfg", &fixed);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn ssl_offload_accepted_given_a_pem() {
    if !prerequisites() || !require(have_program("openssl"), "openssl missing") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = make_pem(dir.path(), "example.com.pem").expect("pem");
    let orig = shared_dir().expect("shared").join("seed-configs/original");
    let pem_s = pem.to_str().expect("utf-8");
    let t12 = std::fs::read_to_string(orig.join("12-ssl-offload.cfg"))
        .expect("seed")
        .replace("/etc/ssl/example.com/example.com.pem", pem_s);
    let out = check_text(dir.path(), "12.cfg", &t12);
    assert!(out.status.success(), "12: {}", stderr(&out));
    // Without the certificate: an error naming it.
    let missing = std::fs::read_to_string(orig.join("12-ssl-offload.cfg")).expect("seed");
    let out = check_text(dir.path(), "12-missing.cfg", &missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("example.com.pem"), "{}", stderr(&out));

    let t12b = std::fs::read_to_string(orig.join("12b-redirect-scheme-https.cfg"))
        .expect("seed")
        .replace("/etc/ssl/example.com/example.com.pem", pem_s);
    let out = check_text(dir.path(), "12b.cfg", &t12b);
    assert_eq!(
        out.status.code(),
        Some(1),
        "12b names backend 'nodes' without defining it"
    );
    assert!(stderr(&out).contains("'nodes'"), "{}", stderr(&out));
    let out = check_text(
        dir.path(),
        "12b-fixed.cfg",
        &format!("{t12b}\nbackend nodes\n    mode http\n    server web01 127.0.0.1:30001\n"),
    );
    assert!(out.status.success(), "12b + backend: {}", stderr(&out));
}

#[test]
fn loopback_copies_accepted_too() {
    if !prerequisites() || !require(have_program("openssl"), "openssl missing") {
        return;
    }
    let lb = shared_dir().expect("shared").join("seed-configs/loopback");
    let dir = tempfile::tempdir().expect("tempdir");
    make_pem(dir.path(), "example.com.pem").expect("pem");
    for entry in std::fs::read_dir(&lb).expect("loopback dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let mut text = std::fs::read_to_string(&path).expect("readable");
        if name.starts_with("07") {
            text = text.replacen("lobal", "global", 1);
        }
        if name.starts_with("12b") {
            text.push_str("\nbackend nodes\n    mode http\n    server web01 127.0.0.1:30001\n");
        }
        let out = check_text(dir.path(), &name, &text);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
}
