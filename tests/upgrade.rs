//! `rproxy --upgrade`: exact rewrites of each 1.x construct, byte-identical output for modern
//! configurations, and `haproxy -c` (2.6) on the upgraded seed configurations.

use std::path::{Path, PathBuf};
use std::process::Command;

use rproxy::config::diag::Severity;
use rproxy::config::source::{SourceFile, SourceMap};
use rproxy::config::upgrade::{Upgraded, upgrade};

fn up(text: &str) -> Upgraded {
    let mut map = SourceMap::default();
    let id = map.add(SourceFile::new("t.cfg", "t.cfg", text.to_string()));
    upgrade(&map, id)
}

/// Upgrades `input` and checks the text, and that there is one note per rewritten line.
fn check(input: &str, expected: &str, notes: usize) {
    let u = up(input);
    assert_eq!(u.text, expected, "input:\n{input}");
    assert_eq!(u.notes.len(), notes, "notes: {:#?}", u.notes);
    assert!(
        u.notes
            .iter()
            .all(|n| n.severity == Severity::Warning && n.span.is_some())
    );
}

fn unchanged(input: &str) {
    check(input, input, 0);
}

// ----- one rewrite at a time ------------------------------------------------------------------

#[test]
fn old_timeouts() {
    check(
        "defaults\n\tcontimeout\t5000\n\tclitimeout 50000 # client\n\tsrvtimeout  50s\n",
        "defaults\n\ttimeout connect\t5000\n\ttimeout client 50000 # client\n\ttimeout server  50s\n",
        3,
    );
    check(
        "backend b\n    srvtimeout 20000\n",
        "backend b\n    timeout server 20000\n",
        1,
    );
}

#[test]
fn note_points_at_the_original_statement() {
    let u = up("defaults\n\tcontimeout\t5000 # c\n");
    let n = &u.notes[0];
    assert_eq!(
        n.message,
        "'contimeout' is HAProxy 1.x syntax; rewritten as 'timeout connect'"
    );
    let s = n.span.expect("span");
    assert_eq!((s.line, s.col, s.start, s.end), (2, 2, 10, 25));
}

#[test]
fn bare_redispatch_and_transparent() {
    check(
        "defaults\n\tredispatch\n",
        "defaults\n\toption redispatch\n",
        1,
    );
    check(
        "listen s\n        transparent   # t\n",
        "listen s\n        option transparent   # t\n",
        1,
    );
    // Already modern, or not the bare keyword.
    unchanged("defaults\n\toption redispatch\n\toption transparent\n");
}

#[test]
fn listen_address_moves_to_bind() {
    check(
        "listen\tappli1 0.0.0.0:10001\n\tbalance roundrobin\n",
        "listen\tappli1\n\tbind 0.0.0.0:10001\n\tbalance roundrobin\n",
        1,
    );
    // Indent of the section's first statement, skipping comments; trailing comment kept.
    check(
        "frontend  main 127.0.0.1:20000 # web\n#    acl x path /\n\n    default_backend app\n",
        "frontend  main # web\n    bind 127.0.0.1:20000\n#    acl x path /\n\n    default_backend app\n",
        1,
    );
    // Several addresses; no statement at all: a tab.
    check(
        "listen a :80,:81\nlisten b *:8000\n",
        "listen a\n\tbind :80,:81\nlisten b\n\tbind *:8000\n",
        2,
    );
    // Last line without a line ending; CRLF kept.
    check("listen a :80", "listen a\n\tbind :80", 1);
    check(
        "listen a :80\r\n  mode http\r\n",
        "listen a\r\n  bind :80\r\n  mode http\r\n",
        1,
    );
    // 2.x forms are left alone.
    unchanged("defaults base\nlisten a from base\n\tbind :80\nfrontend f\n\tbind :81\n");
}

#[test]
fn block_becomes_http_request_deny() {
    check(
        "frontend f\n\tblock if { src 127.0.0.2 } || bad\n\tblock unless ok\n",
        "frontend f\n\thttp-request deny if { src 127.0.0.2 } || bad\n\thttp-request deny unless ok\n",
        2,
    );
}

#[test]
fn removed_options() {
    check(
        "defaults\n\toption forceclose\n\tno option forceclose\n\toption independant-streams\n",
        "defaults\n\toption httpclose\n\tno option httpclose\n\toption independent-streams\n",
        3,
    );
    check(
        "defaults\n\toption http-tunnel # x\n",
        "defaults\n\t# rproxy --upgrade: no 2.6 equivalent: option http-tunnel # x\n",
        1,
    );
}

#[test]
fn nbproc_and_grace() {
    check("global\n\tnbproc 4\n", "global\n\tnbthread 4\n", 1);
    // `grace` is still a global keyword in 2.6; only the proxy one is gone.
    unchanged("global\n\tgrace 1000\n");
    check(
        "defaults\n\tgrace 1000\n",
        "defaults\n\t# rproxy --upgrade: no 2.6 equivalent: grace 1000\n",
        1,
    );
}

#[test]
fn monitor_net() {
    // TCP: 1.x accepted and closed the connection without logging, as this does.
    check(
        "listen l\n\tbind :80\n\tmonitor-net 127.0.0.2/32\n",
        "listen l\n\tbind :80\n\ttcp-request connection reject if { src 127.0.0.2/32 }\n",
        1,
    );
    // HTTP (mode from the defaults): the 2.6 answer waits for a request and is logged.
    check(
        "defaults\n\tmode http\nfrontend f\n\tmonitor-net 127.0.0.2\n",
        "defaults\n\tmode http\nfrontend f\n\t# rproxy --upgrade: approximation of 'monitor-net 127.0.0.2'\n\thttp-request return status 200 if { src 127.0.0.2 }\n",
        1,
    );
    // The section's own mode wins over the defaults'.
    check(
        "defaults\n\tmode http\nfrontend f\n\tmonitor-net 127.0.0.2\n\tmode tcp\n",
        "defaults\n\tmode http\nfrontend f\n\ttcp-request connection reject if { src 127.0.0.2 }\n\tmode tcp\n",
        1,
    );
    check(
        "defaults\n\tmonitor-net 127.0.0.2\n",
        "defaults\n\t# rproxy --upgrade: no 2.6 equivalent: monitor-net 127.0.0.2\n",
        1,
    );
}

#[test]
fn reqadd_and_rspadd() {
    check(
        "frontend f\n\treqadd X-Proto:\\ SSL if is-ssl\n\trspadd X-Frame-Options:\\ DENY\n",
        "frontend f\n\thttp-request add-header X-Proto SSL if is-ssl\n\thttp-response add-header X-Frame-Options DENY\n",
        2,
    );
    // Spaces in the value stay escaped, '%' is literal in 1.x, an empty value is an empty
    // sample (2.6 refuses an empty argument).
    check(
        "frontend f\n\treqadd X-A:\\ a\\ b\n\treqadd X-P:\\ 100%\n\treqadd X-E:\n",
        "frontend f\n\thttp-request add-header X-A a\\ b\n\thttp-request add-header X-P 100%%\n\thttp-request add-header X-E %[str()]\n",
        3,
    );
}

#[test]
fn header_deletion() {
    check(
        "backend b\n\treqidel ^X-Forwarded-For:.*\n\trspdel ^Server:\n\trspidel ^X-Powered\n",
        "backend b\n\thttp-request del-header X-Forwarded-For\n\thttp-response del-header Server\n\thttp-response del-header X-Powered -m beg\n",
        3,
    );
    // A value regex: del-header removes every occurrence once one matches, hence the comment.
    check(
        "listen l\n\trspidel ^Set-cookie:\\ IP=\t# hide it\n",
        "listen l\n\t# rproxy --upgrade: approximation of 'rspidel ^Set-cookie:\\ IP='\n\thttp-response del-header Set-cookie if { res.fhdr(Set-cookie) -m reg -i ^IP= }\t# hide it\n",
        1,
    );
    check(
        "listen l\n\treqdel ^X-Debug:\\ *on if local\n",
        "listen l\n\t# rproxy --upgrade: approximation of 'reqdel ^X-Debug:\\ *on if local'\n\thttp-request del-header X-Debug if { req.fhdr(X-Debug) -m reg ^on } local\n",
        1,
    );
    // Not a header name: commented out.
    check(
        "listen l\n\treqidel ^X-(A|B):\n\trspdel Server\n\treqdel ^X-A:|^X-B:\n",
        "listen l\n\t# rproxy --upgrade: no 2.6 equivalent: reqidel ^X-(A|B):\n\t# rproxy --upgrade: no 2.6 equivalent: rspdel Server\n\t# rproxy --upgrade: no 2.6 equivalent: reqdel ^X-A:|^X-B:\n",
        3,
    );
}

#[test]
fn header_replacement() {
    check(
        "listen l\n\treqirep ^Host:\\ www\\.old\\.test(.*) Host:\\ www.new.test\\1\n\trsprep ^Location:\\ http://(.*) Location:\\ https://\\1\n",
        "listen l\n\thttp-request replace-header Host (?i)^www\\.old\\.test(.*) www.new.test\\1\n\thttp-response replace-header Location ^http://(.*) https://\\1\n",
        2,
    );
    // Renaming a header has no one-line equivalent.
    check(
        "listen l\n\treqrep ^X-Old:(.*) X-New:\\1\n",
        "listen l\n\t# rproxy --upgrade: no 2.6 equivalent: reqrep ^X-Old:(.*) X-New:\\1\n",
        1,
    );
}

#[test]
fn request_line_replacement() {
    check(
        "frontend f\n\treqrep ^([^\\ ]*)\\ /static/(.*) \\1\\ /\\2\n",
        "frontend f\n\thttp-request replace-uri ^/static/(.*) /\\1\n",
        1,
    );
    check(
        "frontend f\n\treqrep ^GET\\ /old/(.*) GET\\ /new/\\1 unless local\n",
        "frontend f\n\thttp-request replace-uri ^/old/(.*) /new/\\1 if { method GET } !local\n",
        1,
    );
    // The version captured last and given back last.
    check(
        "frontend f\n\treqirep ^([^\\ ]*)\\ /A/([^\\ ]*)\\ (.*) \\1\\ /B/\\2\\ \\3\n",
        "frontend f\n\thttp-request replace-uri (?i)^/A/([^\\ ]*) /B/\\1\n",
        1,
    );
    // Changing the method cannot be done by replace-uri.
    check(
        "frontend f\n\treqrep ^GET\\ (.*) POST\\ \\1\n",
        "frontend f\n\t# rproxy --upgrade: no 2.6 equivalent: reqrep ^GET\\ (.*) POST\\ \\1\n",
        1,
    );
}

#[test]
fn verdicts() {
    check(
        "frontend f\n\treqideny ^User-Agent:\\ .*evil\n\treqtarpit ^(POST|PUT)\\ /admin\n\treqdeny ^[^\\ ]*\\ /private\n\treqideny ^GET\\ /x\n",
        "frontend f\n\thttp-request deny if { req.fhdr(User-Agent) -m reg -i ^.*evil }\n\thttp-request tarpit if { method POST PUT } { url -m reg ^/admin }\n\thttp-request deny if { url -m reg ^/private }\n\thttp-request deny if { method -i GET } { url -m reg -i ^/x }\n",
        4,
    );
    check(
        "backend b\n\trspdeny ^X-Secret: unless { status 200 } || { status 204 }\n\trspideny ^Server:\\ foo if a || b c\n",
        "backend b\n\thttp-response deny if { res.fhdr(X-Secret) -m found } !{ status 200 } !{ status 204 }\n\thttp-response deny if { res.fhdr(Server) -m reg -i ^foo } a || { res.fhdr(Server) -m reg -i ^foo } b c\n",
        2,
    );
    // `unless a b` is `!a || !b`.
    check(
        "frontend f\n\treqdeny ^X-A: unless a b\n",
        "frontend f\n\thttp-request deny if { req.fhdr(X-A) -m found } !a || { req.fhdr(X-A) -m found } !b\n",
        1,
    );
}

#[test]
fn allow_pass_and_setbe() {
    check(
        "frontend f\n\treqallow ^Host:\\ internal if local\n\treqisetbe ^Host:\\ api\\. api\n",
        "frontend f\n\thttp-request allow if { req.fhdr(Host) -m reg ^internal } local\n\tuse_backend api if { req.fhdr(Host) -m reg -i ^api\\. }\n",
        2,
    );
    // 2.6 'allow' also skips the header rewrites that follow, 1.x did not.
    check(
        "frontend f\n\treqallow ^X-A:\n\treqadd X-B:\\ c\n",
        "frontend f\n\t# rproxy --upgrade: approximation of 'reqallow ^X-A:'\n\thttp-request allow if { req.fhdr(X-A) -m found }\n\thttp-request add-header X-B c\n",
        2,
    );
    // A rewrite in another section is not affected.
    check(
        "frontend f\n\treqallow ^X-A:\nbackend b\n\treqadd X-B:\\ c\n",
        "frontend f\n\thttp-request allow if { req.fhdr(X-A) -m found }\nbackend b\n\thttp-request add-header X-B c\n",
        2,
    );
    // 1.x never acted on a 'reqpass' match.
    check(
        "frontend f\n\treqipass ^Host:\\ www\n",
        "frontend f\n\t# rproxy --upgrade: no 2.6 equivalent: reqipass ^Host:\\ www\n",
        1,
    );
    // use_backend is not allowed in a backend.
    check(
        "backend b\n\treqsetbe ^Host:\\ x other\n",
        "backend b\n\t# rproxy --upgrade: no 2.6 equivalent: reqsetbe ^Host:\\ x other\n",
        1,
    );
}

#[test]
fn layout_is_kept() {
    // BOM, CRLF, tabs, comments, variables (never expanded), .if blocks.
    check(
        "\u{feff}# top\r\ndefaults\r\n.if defined(X)\r\n \t contimeout \"${T}\"\t# c\r\n.endif\r\n",
        "\u{feff}# top\r\ndefaults\r\n.if defined(X)\r\n \t timeout connect \"${T}\"\t# c\r\n.endif\r\n",
        1,
    );
    let u = up("\u{feff}defaults\n contimeout 1\n");
    let s = u.notes[0].span.expect("span");
    assert_eq!((s.line, s.col, s.start), (2, 2, 13));
    // A line the lexer rejects is copied as it is.
    unchanged("defaults\n\tcontimeout 'unterminated\n");
    unchanged("");
}

#[test]
fn modern_config_is_byte_identical() {
    unchanged(
        "global\n\tgrace 1s\n\tnbthread 2\n\ndefaults web\n    mode http\n    timeout connect 5s\n\
         \ttimeout client \"${CT-30s}\"\n    option redispatch\n    option httpclose\n\n\
         frontend f from web\n    bind 127.0.0.1:20000 # x\n    http-request deny if { path_beg /admin } !{ src 127.0.0.1 }\n\
         \thttp-request del-header X-Forwarded-For\n    http-response del-header Server\n    use_backend b if { hdr(host) -i b }\n\
         .if version_atleast(2.6)\n  default_backend b\n.endif\n\nbackend b\n    server s 127.0.0.1:30000 check\n",
    );
}

#[test]
fn large_input_is_linear() {
    let mut text = String::from("frontend f 127.0.0.1:20000\n");
    for i in 0..50_000 {
        text.push_str(&format!("\treqallow ^X-{i}:\n\tcontimeout {i}\n"));
    }
    text.push_str("\treqadd X-Last:\\ 1\n");
    let t = std::time::Instant::now();
    let u = up(&text);
    assert_eq!(u.notes.len(), 100_002);
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    assert_eq!(u.text.matches("approximation of 'reqallow").count(), 50_000);
}

// ----- the seed configurations ----------------------------------------------------------------

/// `shared/` is the sibling of the crate directory (in the workspace and in CI's clone).
fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

fn seed_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("seed directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string()
}

/// The test-only fixes of the seed files that are broken for other reasons than 1.x syntax.
fn seed_text(path: &Path) -> String {
    let mut text = std::fs::read_to_string(path).expect("seed file");
    let name = file_name(path);
    if name == "07-cookie-prefix.cfg" {
        // A typo in the document, not 1.x syntax.
        text = text.replacen("lobal", "global", 1);
    }
    if name == "12b-redirect-scheme-https.cfg" {
        // A fragment naming a backend it does not define; the frontend is in HTTP mode, so
        // the backend must be too or 2.6 refuses the pair.
        text.push_str("\nbackend nodes\n    mode http\n    server web01 127.0.0.1:30001\n");
    }
    text
}

fn upgrade_file(name: &str, text: &str) -> Upgraded {
    let mut map = SourceMap::default();
    let id = map.add(SourceFile::new(name, name, text.to_string()));
    upgrade(&map, id)
}

#[test]
fn seeds_without_legacy_syntax_are_byte_identical() {
    let Some(shared) = shared() else {
        println!("SKIP: shared/ not found");
        return;
    };
    for kind in ["original", "loopback"] {
        for name in [
            "12-ssl-offload.cfg",
            "12b-redirect-scheme-https.cfg",
            "13-ssl-passthrough.cfg",
            "14-smtp.cfg",
        ] {
            let path = shared.join("seed-configs").join(kind).join(name);
            let text = std::fs::read_to_string(&path).expect("seed file");
            let u = upgrade_file(name, &text);
            assert_eq!(u.text, text, "{kind}/{name}");
            assert!(u.notes.is_empty(), "{kind}/{name}: {:?}", u.notes);
        }
    }
}

/// Whether a 1.x line is one the upgrade must rewrite (judged independently of the upgrade).
fn is_legacy(line: &str) -> bool {
    let body = line.split('#').next().unwrap_or("");
    let words: Vec<&str> = body.split_whitespace().collect();
    match words.as_slice() {
        ["contimeout" | "clitimeout" | "srvtimeout", _]
        | ["redispatch" | "transparent"]
        | ["rspidel" | "rspdel" | "reqidel" | "reqdel", ..] => true,
        ["listen" | "frontend", _, addr] => addr.contains(':'),
        _ => false,
    }
}

/// Every legacy line changed, every other line kept as it was and in order (inserted lines
/// only appear in place of legacy lines).
fn assert_only_legacy_lines_change(name: &str, input: &str, output: &str) {
    let inp: Vec<&str> = input.split('\n').collect();
    let out: Vec<&str> = output.split('\n').collect();
    let mut j = 0;
    let mut i = 0;
    while i < inp.len() {
        if !is_legacy(inp[i]) {
            assert_eq!(out.get(j), Some(&inp[i]), "{name}:{}: kept line", i + 1);
            i += 1;
            j += 1;
            continue;
        }
        // The rewritten lines run up to the next kept line.
        let next_kept = inp[i..].iter().position(|l| !is_legacy(l)).map(|k| i + k);
        let start = j;
        while j < out.len() && next_kept.is_none_or(|k| out[j] != inp[k]) {
            j += 1;
        }
        let legacy = next_kept.unwrap_or(inp.len());
        assert!(
            j - start >= legacy - i,
            "{name}:{}: legacy lines rewritten",
            i + 1
        );
        for l in &inp[i..legacy] {
            assert!(
                !out[start..j].contains(l),
                "{name}: legacy line kept: {l:?}"
            );
        }
        i = legacy;
    }
    assert_eq!(j, out.len(), "{name}: trailing output");
}

#[test]
fn original_seeds_change_exactly_on_legacy_lines() {
    let Some(shared) = shared() else {
        println!("SKIP: shared/ not found");
        return;
    };
    let files = seed_files(&shared.join("seed-configs/original"));
    assert!(files.len() >= 15);
    for path in files {
        let name = file_name(&path);
        let text = std::fs::read_to_string(&path).expect("seed file");
        let u = upgrade_file(&name, &text);
        let legacy = text.lines().filter(|l| is_legacy(l)).count();
        assert_eq!(
            u.notes.len(),
            legacy,
            "{name}: one note per legacy line: {:#?}",
            u.notes
        );
        assert_only_legacy_lines_change(&name, &text, &u.text);
    }
}

#[test]
fn loopback_seed_01_exact() {
    let Some(shared) = shared() else {
        println!("SKIP: shared/ not found");
        return;
    };
    let text = std::fs::read_to_string(shared.join("seed-configs/loopback/01-default-1.x.cfg"))
        .expect("seed file");
    // Each legacy line of the file and what it becomes; everything else is unchanged.
    let rspidel =
        "\trspidel ^Set-cookie:\\ IP=\t# do not let this cookie tell our internal IP address";
    let mut replacements: Vec<(&str, String)> = vec![
        ("\tcontimeout\t5000", "\ttimeout connect\t5000".into()),
        ("\tclitimeout\t50000", "\ttimeout client\t50000".into()),
        ("\tsrvtimeout\t50000", "\ttimeout server\t50000".into()),
        ("\tsrvtimeout\t20000", "\ttimeout server\t20000".into()),
        (
            rspidel,
            "\t# rproxy --upgrade: approximation of 'rspidel ^Set-cookie:\\ IP='\n\
             \thttp-response del-header Set-cookie if { res.fhdr(Set-cookie) -m reg -i ^IP= }\
             \t# do not let this cookie tell our internal IP address"
                .into(),
        ),
    ];
    let listens = [
        ("appli1-rewrite", 20000),
        ("appli2-insert", 20001),
        ("appli3-relais", 20002),
        ("appli4-backup", 20003),
        ("ssl-relay", 20004),
        ("appli5-backup", 20005),
    ];
    let headers: Vec<String> = listens
        .iter()
        .map(|(n, p)| format!("listen\t{n} 127.0.0.1:{p}"))
        .collect();
    for ((n, p), h) in listens.iter().zip(&headers) {
        replacements.push((h, format!("listen\t{n}\n\tbind 127.0.0.1:{p}")));
    }
    let expected: Vec<String> = text
        .split('\n')
        .map(|l| {
            replacements
                .iter()
                .find(|(old, _)| *old == l)
                .map_or_else(|| l.to_string(), |(_, new)| new.clone())
        })
        .collect();
    let u = upgrade_file("01-default-1.x.cfg", &text);
    assert_eq!(u.text, expected.join("\n"));
    // contimeout, clitimeout, 2 srvtimeout, 2 rspidel, 6 listen.
    assert_eq!(u.notes.len(), 12);
}

// ----- haproxy -c ----------------------------------------------------------------------------

fn require_external() -> bool {
    std::env::var("RPROXY_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A temporary directory holding a fresh self-signed `example.com.pem`, or `None` (after
/// printing why) when haproxy or openssl is missing.
fn haproxy_dir() -> Option<tempfile::TempDir> {
    let missing = if !runs("haproxy", "-v") {
        Some("haproxy is not installed")
    } else if !runs("openssl", "version") {
        Some("openssl is not installed")
    } else {
        None
    };
    if let Some(why) = missing {
        assert!(!require_external(), "RPROXY_REQUIRE_EXTERNAL=1 but {why}");
        println!("SKIP: {why}");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k", "-out", "c",
        ])
        .args(["-days", "1", "-subj", "/CN=example.com"])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(
        st.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut pem = std::fs::read(dir.path().join("c")).expect("cert");
    pem.extend(std::fs::read(dir.path().join("k")).expect("key"));
    std::fs::write(dir.path().join("example.com.pem"), pem).expect("pem");
    Some(dir)
}

/// `haproxy -c -f NAME` in `dir` on `text`: Ok, or the output explaining the refusal.
fn haproxy_check(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).expect("write upgraded config");
    let out = Command::new("haproxy")
        .args(["-c", "-f", name])
        .current_dir(dir)
        .output()
        .expect("haproxy runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn upgraded_loopback_seeds_pass_haproxy_check() {
    let Some(shared) = shared() else {
        println!("SKIP: shared/ not found");
        return;
    };
    let Some(dir) = haproxy_dir() else {
        return;
    };
    let files = seed_files(&shared.join("seed-configs/loopback"));
    assert!(files.len() >= 15);
    let mut failures = Vec::new();
    for path in files {
        let name = file_name(&path);
        let u = upgrade_file(&name, &seed_text(&path));
        match haproxy_check(dir.path(), &name, &u.text) {
            Ok(()) => println!(
                "haproxy -c {name}: valid ({} rewritten lines)",
                u.notes.len()
            ),
            Err(e) => {
                println!("haproxy -c {name}: REFUSED");
                failures.push(format!("{name}:\n{e}\n--- upgraded text:\n{}", u.text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upgraded_original_seeds_pass_haproxy_check() {
    let Some(shared) = shared() else {
        println!("SKIP: shared/ not found");
        return;
    };
    let Some(dir) = haproxy_dir() else {
        return;
    };
    let mut failures = Vec::new();
    for path in seed_files(&shared.join("seed-configs/original")) {
        let name = file_name(&path);
        // They name /etc/ssl/example.com/example.com.pem, which does not exist here.
        if name.starts_with("12") {
            continue;
        }
        let u = upgrade_file(&name, &seed_text(&path));
        // Only checked, never started: -c sends nothing to the addresses they name.
        if let Err(e) = haproxy_check(dir.path(), &name, &u.text) {
            failures.push(format!("{name}:\n{e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rewrite_passes_haproxy_check() {
    let Some(dir) = haproxy_dir() else {
        return;
    };
    let text = include_str!("fixtures/upgrade/legacy-all.cfg");
    let u = upgrade_file("legacy-all.cfg", text);
    assert_eq!(u.notes.len(), 40);
    assert!(
        haproxy_check(dir.path(), "original.cfg", text).is_err(),
        "1.x syntax is refused"
    );
    if let Err(e) = haproxy_check(dir.path(), "legacy-all.cfg", &u.text) {
        panic!("{e}\n--- upgraded text:\n{}", u.text);
    }
}

// ----- properties ----------------------------------------------------------------------------

mod props {
    use super::up;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "listen",
        "frontend",
        "backend",
        "defaults",
        "global",
        "contimeout",
        "srvtimeout",
        "redispatch",
        "transparent",
        "block",
        "if",
        "unless",
        "||",
        "{",
        "}",
        "!{",
        "option",
        "forceclose",
        "http-tunnel",
        "monitor-net",
        "nbproc",
        "grace",
        "reqadd",
        "reqidel",
        "rspdel",
        "reqrep",
        "reqirep",
        "reqdeny",
        "reqallow",
        "reqpass",
        "reqsetbe",
        "rspdeny",
        "rsprep",
        "mode",
        "http",
        "tcp",
        "^Host:\\ a",
        "^X-A:",
        "^([^\\ ]*)\\ /a/(.*)",
        "\\1\\ /\\2",
        "^GET\\ /x",
        "X-A:\\ b",
        "127.0.0.1:20000",
        ":80,:81",
        "#",
        "# c",
        "'q w'",
        "\"${V}\"",
        "\\",
        "é",
        "\t",
        "%",
        ".if",
        ".endif",
        "from",
    ];

    fn config() -> impl Strategy<Value = String> {
        let line = (
            prop::sample::select(vec!["", "\t", "    ", " \t"]),
            prop::collection::vec(prop::sample::select(WORDS.to_vec()), 0..6),
            prop::sample::select(vec!["\n", "\r\n"]),
        )
            .prop_map(|(indent, words, eol)| format!("{indent}{}{eol}", words.join(" ")));
        prop::collection::vec(line, 0..20).prop_map(|l| l.concat())
    }

    proptest! {
        #[test]
        fn upgrade_is_total_and_idempotent(text in config()) {
            let once = up(&text);
            let twice = up(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert!(twice.notes.is_empty(), "{:?}", twice.notes);
            // Only rewritten lines change: the line count grows by inserted lines only.
            prop_assert!(once.text.lines().count() >= text.lines().count());
        }
    }
}
