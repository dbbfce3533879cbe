//! The protocol check kinds (`smtpchk`, `mysql-check`, `pgsql-check`, `redis-check`,
//! `ldap-check`, `ssl-hello-chk`, `tcp-check` scripts), probed directly against scripted
//! servers: what goes on the wire, and the verdict written as HAProxy 2.6's health log
//! line writes it (every expected text below was observed with haproxy 2.6.12). The
//! side-by-side tests at the end run haproxy itself against the same servers.

mod checks_util;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use checks_util::{
    ScriptServer, Step, check, haproxy_verdict, haproxy_verdicts, render, run_probe, send,
};

const SMTPCHK: &str = "  option smtpchk";

fn ok_smtp() -> Vec<Step> {
    vec![
        send(b"220 mx ESMTP ready\r\n"),
        Step::Line,
        send(b"250 mx hello\r\n"),
        Step::Line,
        send(b"221 2.0.0 Bye\r\n"),
    ]
}

#[test]
fn smtp_passes_with_the_quit_reply_and_sends_helo_localhost() {
    let (o, got) = check(SMTPCHK, ok_smtp());
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 221, info: "2.0.0 Bye""#
    );
    assert_eq!(got, b"HELO localhost\r\nQUIT\r\n");
}

#[test]
fn smtp_ehlo_domain_and_multiline_reply() {
    let (o, got) = check(
        "  option smtpchk EHLO example.org",
        vec![
            send(b"220 mx\r\n"),
            Step::Line,
            send(b"250-mx hi\r\n250-SIZE 100\r\n250 HELP\r\n"),
            Step::Line,
            send(b"221 bye\r\n"),
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 221, info: "bye""#
    );
    assert_eq!(got, b"EHLO example.org\r\nQUIT\r\n");
    // Any other verb falls back to HELO localhost (the parser's doing).
    let (_, got) = check("  option smtpchk FOO bar", ok_smtp());
    assert_eq!(got, b"HELO localhost\r\nQUIT\r\n");
}

#[test]
fn smtp_banner_wrong_code_is_l7sts_with_code_and_text() {
    let (o, got) = check(SMTPCHK, vec![send(b"554 5.7.1 No service here\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 554, info: "5.7.1 No service here""#
    );
    assert_eq!(got, b"");
}

#[test]
fn smtp_garbage_and_multiline_banner_are_invalid_responses() {
    let (o, _) = check(SMTPCHK, vec![send(b"hello there\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "hello there""#
    );
    let (o, _) = check(SMTPCHK, vec![send(b"220-mx first\r\n220 mx ESMTP\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "220-mx first""#
    );
    // Too short for a reply, then closed.
    let (o, _) = check(SMTPCHK, vec![send(b"22"), Step::Close]);
    assert_eq!(render(&o), r#"reason: Layer7 invalid response, info: "22""#);
}

#[test]
fn smtp_helo_refused() {
    // A refusal followed by a close is final ...
    let (o, _) = check(
        SMTPCHK,
        vec![
            send(b"220 mx\r\n"),
            Step::Line,
            send(b"550 go away\r\n"),
            Step::Close,
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 550, info: "go away""#
    );
    // ... but while the server keeps the connection open, 2.6 waits for a 2xx line.
    let (o, _) = check(
        SMTPCHK,
        vec![send(b"220 mx\r\n"), Step::Line, send(b"550 go away\r\n")],
    );
    assert_eq!(render(&o), "reason: Layer7 timeout");
}

#[test]
fn smtp_quit_refused_and_escaped_text() {
    let (o, _) = check(
        SMTPCHK,
        vec![
            send(b"220 mx\r\n"),
            Step::Line,
            send(b"250 ok\r\n"),
            Step::Line,
            send(b"500 what\r\n"),
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 500, info: "what""#
    );
    let (o, _) = check(
        SMTPCHK,
        vec![send(b"554 <a> \"q\" \\ \x01 \xc3\xa9 end\r\n")],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 554, info: "<3C>a<3E> <22>q<22> \ <01> <C3><A9> end""#
    );
}

#[test]
fn smtp_closed_silent_refused() {
    let (o, _) = check(SMTPCHK, vec![Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 2""#
    );
    let (o, _) = check(SMTPCHK, vec![]);
    assert_eq!(render(&o), "reason: Layer7 timeout");
    let port = common::refused_port();
    let o = run_probe(
        &checks_util::probe_for(SMTPCHK),
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(300),
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer4 connection problem, info: "Connection refused""#
    );
}

// ---- mysql-check ------------------------------------------------------------------------

fn my_pkt(seq: u8, body: &[u8]) -> Vec<u8> {
    let l = (body.len() as u32).to_le_bytes();
    let mut v = vec![l[0], l[1], l[2], seq];
    v.extend_from_slice(body);
    v
}

const VERSION: &str = "5.5.5-10.11.6-MariaDB-0+deb12u1";

fn handshake() -> Vec<u8> {
    let mut b = vec![10];
    b.extend_from_slice(VERSION.as_bytes());
    b.push(0);
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(b"abcdefgh\0");
    b.extend_from_slice(&[0xfe, 0xf7, 33, 2, 0, 0xbf, 0x81, 21]);
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    my_pkt(0, &b)
}

fn my_err(seq: u8, code: u16, text: &[u8]) -> Vec<u8> {
    let mut b = vec![0xff];
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(text);
    my_pkt(seq, &b)
}

fn my_ok() -> Vec<u8> {
    my_pkt(2, &[0, 0, 0, 2, 0, 0, 0])
}

const POST41_HAPROXY: &str = "290000010082000000800001210000000000000000000000000000000000000000000000686170726f787900000100000001";
const PRE41_HAPROXY: &str = "0e0000010080000001686170726f787900000100000001";

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

#[test]
fn mysql_without_user_reads_the_handshake_and_sends_nothing() {
    let (o, got) = check("  option mysql-check", vec![send(&handshake())]);
    assert_eq!(
        render(&o),
        format!(r#"reason: Layer7 check passed, code: 0, info: "{VERSION}""#)
    );
    assert_eq!(got, b"");
    let (o, _) = check(
        "  option mysql-check",
        vec![send(&my_err(
            0,
            1130,
            b"Host '127.0.0.1' is not allowed to connect",
        ))],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 1130, info: "Host '127.0.0.1' is not allowed to connect""#
    );
}

#[test]
fn mysql_without_user_garbage_closed() {
    let (o, _) = check("  option mysql-check", vec![send(b"hello world\r\n")]);
    assert_eq!(render(&o), "reason: Layer7 timeout");
    let (o, _) = check("  option mysql-check", vec![Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 2""#
    );
}

#[test]
fn mysql_with_user_post41_and_pre41_bytes() {
    let login_len = POST41_HAPROXY.len() / 2;
    let ok = vec![send(&handshake()), Step::Bytes(login_len), send(&my_ok())];
    let (o, got) = check("  option mysql-check user haproxy", ok.clone());
    assert_eq!(
        render(&o),
        format!(r#"reason: Layer7 check passed, code: 0, info: "{VERSION}""#)
    );
    assert_eq!(hex(&got), POST41_HAPROXY);
    let (_, got) = check("  option mysql-check user haproxy post-41", ok);
    assert_eq!(hex(&got), POST41_HAPROXY);
    let pre = vec![
        send(&handshake()),
        Step::Bytes(PRE41_HAPROXY.len() / 2),
        send(&my_ok()),
    ];
    let (o, got) = check("  option mysql-check user haproxy pre-41", pre);
    assert!(o.status.passed(), "{o:?}");
    assert_eq!(hex(&got), PRE41_HAPROXY);
}

#[test]
fn mysql_with_user_denied_is_l7sts_with_error_number_and_text() {
    let (o, _) = check(
        "  option mysql-check user haproxy",
        vec![
            send(&handshake()),
            Step::Bytes(POST41_HAPROXY.len() / 2),
            send(&my_err(
                2,
                1045,
                b"#28000Access denied for user 'x'@'localhost'",
            )),
        ],
    );
    assert_eq!(
        render(&o),
        r##"reason: Layer7 wrong status, code: 1045, info: "#28000Access denied for user 'x'@'localhost'""##
    );
    // Handshake, then the server hangs up: truncated, an invalid response without info.
    let (o, _) = check(
        "  option mysql-check user haproxy",
        vec![
            send(&handshake()),
            Step::Bytes(POST41_HAPROXY.len() / 2),
            Step::Close,
        ],
    );
    assert_eq!(render(&o), "reason: Layer7 invalid response");
}

// ---- pgsql-check ------------------------------------------------------------------------

const PG: &str = "  option pgsql-check user haproxy";

#[test]
fn pgsql_startup_bytes_and_auth_requests() {
    for reply in [
        &b"R\0\0\0\x08\0\0\0\0"[..],
        b"R\0\0\0\x0c\0\0\0\x05\xaa\xbb\xcc\xdd",
        b"R\0\0\0\x17\0\0\0\x0aSCRA\0",
    ] {
        let (o, got) = check(PG, vec![Step::Bytes(22), send(reply)]);
        assert_eq!(
            render(&o),
            r#"reason: Layer7 check passed, code: 0, info: "PostgreSQL server is ok""#
        );
        assert_eq!(hex(&got), "00000016000300007573657200686170726f78790000");
    }
}

#[test]
fn pgsql_error_and_unknown_replies() {
    let mut e = b"E\0\0\0\x2fSFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0".to_vec();
    e[4] = (e.len() - 1) as u8;
    let (o, _) = check(PG, vec![Step::Bytes(22), send(&e)]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "FATAL""#
    );
    let (o, _) = check(PG, vec![Step::Bytes(22), send(b"E\0\0\0\x04")]);
    assert_eq!(render(&o), "reason: Layer7 invalid response");
    let (o, _) = check(PG, vec![Step::Bytes(22), send(b"R\0\0\0\x08\0\0\0\x01")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "PostgreSQL unknown error""#
    );
    let (o, _) = check(
        PG,
        vec![Step::Bytes(22), send(b"HTTP/1.0 400 Bad Request\r\n")],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "PostgreSQL unknown error""#
    );
}

#[test]
fn pgsql_short_closed_silent() {
    let (o, _) = check(PG, vec![Step::Bytes(22), send(b"HELLO\n")]);
    assert_eq!(render(&o), "reason: Layer7 timeout");
    let (o, _) = check(PG, vec![Step::Bytes(22), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 3""#
    );
    let (o, _) = check(PG, vec![Step::Bytes(22), send(b"R\0"), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "PostgreSQL unknown error""#
    );
}

// ---- redis-check ------------------------------------------------------------------------

const REDIS: &str = "  option redis-check";

#[test]
fn redis_pong_and_errors() {
    let (o, got) = check(REDIS, vec![Step::Bytes(14), send(b"+PONG\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "Redis server is ok""#
    );
    assert_eq!(got, b"*1\r\n$4\r\nPING\r\n");
    let (o, _) = check(
        REDIS,
        vec![
            Step::Bytes(14),
            send(b"-NOAUTH Authentication required.\r\n"),
            Step::Close,
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "-NOAUTH Authentication required.""#
    );
    // Without the close, 2.6 keeps waiting for +PONG.
    let (o, _) = check(
        REDIS,
        vec![
            Step::Bytes(14),
            send(b"-NOAUTH Authentication required.\r\n"),
        ],
    );
    assert_eq!(render(&o), "reason: Layer7 timeout");
    let (o, _) = check(REDIS, vec![Step::Bytes(14), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "TCPCHK got an empty response at step 2""#
    );
    let (o, _) = check(REDIS, vec![Step::Bytes(14), send(b"+PON"), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 0, info: "+PON""#
    );
}

// ---- ldap-check -------------------------------------------------------------------------

const LDAP: &str = "  option ldap-check";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ldap_bind_results() {
    let (o, got) = check(
        LDAP,
        vec![
            Step::Bytes(14),
            send(&unhex("300c02010161070a010004000400")),
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "Success""#
    );
    assert_eq!(hex(&got), "300c020101600702010304008000");
    let (o, _) = check(
        LDAP,
        vec![
            Step::Bytes(14),
            send(&unhex("30840000000c02010161070a010004000400")),
        ],
    );
    assert!(o.status.passed(), "{o:?}");
    let (o, _) = check(
        LDAP,
        vec![
            Step::Bytes(14),
            send(&unhex("300c02010161070a013104000400")),
        ],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 wrong status, code: 49, info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9""#
    );
}

#[test]
fn ldap_not_ldap_short_closed() {
    for bad in [
        "300c02010261070a010004000400",
        "300c02010165070a010004000400",
    ] {
        let (o, _) = check(LDAP, vec![Step::Bytes(14), send(&unhex(bad))]);
        assert_eq!(
            render(&o),
            r#"reason: Layer7 invalid response, info: "Not LDAPv3 protocol""#
        );
    }
    let (o, _) = check(
        LDAP,
        vec![Step::Bytes(14), send(b"HTTP/1.0 400 Bad\r\n\r\n")],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "Not LDAPv3 protocol""#
    );
    let (o, _) = check(LDAP, vec![Step::Bytes(14), send(&unhex("300c0201"))]);
    assert_eq!(render(&o), "reason: Layer7 timeout");
    let (o, _) = check(
        LDAP,
        vec![Step::Bytes(14), send(&unhex("300c0201")), Step::Close],
    );
    assert_eq!(render(&o), "reason: Layer7 invalid response");
    let (o, _) = check(LDAP, vec![Step::Bytes(14), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 2""#
    );
}

// ---- ssl-hello-chk ----------------------------------------------------------------------

const SSL: &str = "  option ssl-hello-chk";

#[test]
fn ssl_hello_record_and_verdicts() {
    let (o, got) = check(SSL, vec![Step::Bytes(126), send(&unhex("1603000002"))]);
    assert_eq!(render(&o), "reason: Layer6 check passed");
    assert_eq!(got.len(), 126);
    // All but the 4 clock bytes are fixed.
    let want = unhex(
        "1603000079010000750300000000004841505\
         24f585953534c43484b0a484150524f585953534c43484b0a00004e000100020003000400050006000700080009000a000b000c000d000e000f0010001100120013001400150016001700180019001a001b002f0030003100320033003400350036003700380039003a0100"
            .replace(' ', "")
            .as_str(),
    );
    assert_eq!((&got[..11], &got[15..]), (&want[..11], &want[15..]));
    let (o, _) = check(SSL, vec![Step::Bytes(126), send(&unhex("150300000202"))]);
    assert_eq!(render(&o), "reason: Layer6 check passed");
    let (o, _) = check(
        SSL,
        vec![Step::Bytes(126), send(&unhex("1603")), Step::Close],
    );
    assert_eq!(render(&o), "reason: Layer6 check passed");
}

#[test]
fn ssl_hello_failures() {
    let (o, _) = check(SSL, vec![Step::Bytes(126), send(b"HELLO ")]);
    assert_eq!(render(&o), "reason: Layer6 invalid response");
    let (o, _) = check(SSL, vec![Step::Bytes(126), send(&unhex("1603"))]);
    assert_eq!(render(&o), "reason: Layer6 timeout");
    let (o, _) = check(SSL, vec![Step::Bytes(126)]);
    assert_eq!(render(&o), "reason: Layer6 timeout");
    let (o, _) = check(SSL, vec![Step::Bytes(126), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer6 invalid response, info: "TCPCHK got an empty response at step 2""#
    );
}

// ---- tcp-check --------------------------------------------------------------------------

const TC_PING: &str =
    "  option tcp-check\n  tcp-check send PING\\r\\n\n  tcp-check expect string +PONG";

#[test]
fn tcp_check_script_passes_and_sends_its_bytes() {
    let (o, got) = check(TC_PING, vec![Step::Line, send(b"+PONG\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "(tcp-check)""#
    );
    assert_eq!(got, b"PING\r\n");
}

#[test]
fn tcp_check_mismatch_timeout_close() {
    let (o, _) = check(TC_PING, vec![Step::Line, send(b"-ERR x\r\n"), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK did not match content '+PONG' at step 2""#
    );
    let (o, _) = check(TC_PING, vec![Step::Line, send(b"-ERR x\r\n")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 timeout, info: " at step 2 of tcp-check (expect string '+PONG')""#
    );
    let (o, _) = check(TC_PING, vec![Step::Line, Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 2""#
    );
}

const TC_LONG: &str = "  option tcp-check
  tcp-check connect
  tcp-check send PING\\r\\n
  tcp-check expect string PONG
  tcp-check send-binary 0102ff
  tcp-check expect binary abcd
  tcp-check send x
  tcp-check expect rstring ^\\\\+OK
  tcp-check send y
  tcp-check expect rbinary ^AB
  tcp-check comment hello
  tcp-check send z
  tcp-check expect string done";

/// The first `n` moves of a server that passes every step of [`TC_LONG`] (10: all).
fn tc_long_steps(n: usize) -> Vec<Step> {
    let mut v = vec![
        Step::Line,
        send(b"+PONG\r\n"),
        Step::Bytes(3),
        send(&unhex("abcd")),
        Step::Bytes(1),
        send(b"+OK\r\n"),
        Step::Bytes(1),
        send(&unhex("abcd")),
        Step::Bytes(1),
        send(b"done"),
    ];
    v.truncate(n);
    v
}

#[test]
fn tcp_check_all_match_kinds_in_sequence() {
    let (o, got) = check(TC_LONG, tc_long_steps(10));
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "(tcp-check)""#
    );
    assert_eq!(got, b"PING\r\n\x01\x02\xffxyz");
}

#[test]
fn tcp_check_failure_texts_per_match_kind() {
    let upto = |n: usize, last: Step| -> Vec<Step> {
        let mut v = tc_long_steps(n);
        v.push(Step::Bytes(if n == 2 { 3 } else { 1 }));
        v.push(send(b"\0\0"));
        v.push(last);
        v
    };
    let cases = [
        (
            2,
            r#"reason: Layer7 invalid response, info: "TCPCHK did not match content (binary) at step 5""#,
            r#"reason: Layer7 timeout, info: " at step 5 of tcp-check (expect binary '<AB><CD>')""#,
        ),
        (
            4,
            r#"reason: Layer7 invalid response, info: "TCPCHK did not match content (regex) at step 7""#,
            r#"reason: Layer7 timeout, info: " at step 7 of tcp-check (expect regex)""#,
        ),
        (
            6,
            r#"reason: Layer7 invalid response, info: "TCPCHK did not match content (binary regex) at step 9""#,
            r#"reason: Layer7 timeout, info: " at step 9 of tcp-check (expect binary regex)""#,
        ),
        (
            8,
            r#"reason: Layer7 invalid response, info: "TCPCHK did not match content 'done' at step 12""#,
            r#"reason: Layer7 timeout, info: " at step 12 of tcp-check (expect string 'done')""#,
        ),
    ];
    for (n, closed, timeout) in cases {
        let (o, _) = check(TC_LONG, upto(n, Step::Close));
        assert_eq!(render(&o), closed, "after {n} steps, closed");
        let mut hang = upto(n, Step::Close);
        hang.pop();
        let (o, _) = check(TC_LONG, hang);
        assert_eq!(render(&o), timeout, "after {n} steps, silent");
    }
}

#[test]
fn tcp_check_negation_comments_connect_port() {
    let neg = "  option tcp-check\n  tcp-check send x\n  tcp-check expect ! string ERR";
    let (o, _) = check(neg, vec![Step::Bytes(1), send(b"fine"), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "(tcp-check)""#
    );
    // 2.6 waits on a negated string until the peer closes.
    let (o, _) = check(neg, vec![Step::Bytes(1), send(b"fine")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 timeout, info: " at step 2 of tcp-check (expect string 'ERR')""#
    );
    let (o, _) = check(neg, vec![Step::Bytes(1), send(b"-ERR")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK matched unwanted content 'ERR' at step 2""#
    );

    let refused = common::refused_port();
    let commented = format!(
        "  option tcp-check\n  tcp-check comment c0\n  tcp-check connect\n  tcp-check comment first\n  tcp-check expect string hi\n  tcp-check comment second\n  tcp-check send x\n  tcp-check expect string ok\n  tcp-check comment third\n  tcp-check connect port {refused}\n  tcp-check send x"
    );
    let (o, _) = check(&commented, vec![send(b"xx"), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK did not match content 'hi' at step 4 comment: first""#
    );
    let (o, _) = check(&commented, vec![send(b"xx")]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 timeout, info: " at step 4 of tcp-check (expect string 'hi') comment: 'first'""#
    );
    let (o, _) = check(
        &commented,
        vec![send(b"hi"), Step::Bytes(1), send(b"no"), Step::Close],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK did not match content 'ok' at step 7""#
    );
    let (o, _) = check(&commented, vec![send(b"hi"), Step::Bytes(1), send(b"ok")]);
    assert_eq!(
        render(&o),
        format!(
            r#"reason: Layer4 connection problem, info: "Connection refused at step 9 of tcp-check (connect port {refused}) comment: 'third'""#
        )
    );
    let cc = "  option tcp-check\n  tcp-check comment cc\n  tcp-check send x\n  tcp-check expect string a";
    let (o, _) = check(cc, vec![Step::Bytes(1), Step::Close]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 invalid response, info: "TCPCHK got an empty response at step 3""#
    );
}

#[test]
fn tcp_check_degenerate_scripts() {
    let (o, _) = check("  option tcp-check", vec![]);
    assert_eq!(render(&o), "reason: Layer4 check passed");
    let (o, _) = check("  option tcp-check\n  tcp-check send hi", vec![]);
    assert_eq!(
        render(&o),
        r#"reason: Layer7 check passed, code: 0, info: "(tcp-check)""#
    );
    let (o, _) = check("  option tcp-check\n  tcp-check connect", vec![]);
    assert_eq!(
        render(&o),
        r#"reason: Layer4 check passed, info: "(tcp-check)""#
    );
    let port = common::refused_port();
    let o = run_probe(
        &checks_util::probe_for("  option tcp-check\n  tcp-check send x"),
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(300),
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer4 connection problem, info: "Connection refused at initial connection step of tcp-check""#
    );
    // A binary pattern is shown up to its first NUL, escaped.
    let (o, _) = check(
        "  option tcp-check\n  tcp-check expect binary 41420a00",
        vec![send(b"zz")],
    );
    assert_eq!(
        render(&o),
        r#"reason: Layer7 timeout, info: " at step 1 of tcp-check (expect binary 'AB<0A>')""#
    );
}

#[test]
fn scripted_server_records_per_connection() {
    let s = ScriptServer::start(vec![send(b"x")]);
    let _ = std::net::TcpStream::connect(s.addr()).map(|mut c| {
        use std::io::Write;
        let _ = c.write_all(b"abc");
    });
    assert_eq!(s.first_received(3), b"abc");
    assert!(haproxy_verdict("x").is_none());
}

// ---- side by side with haproxy ----------------------------------------------------------

/// One check scenario: the backend's check lines and the server's script.
struct Case {
    name: &'static str,
    lines: String,
    steps: Vec<Step>,
    /// Compare the bytes the check sent (all but these byte positions).
    skip: Option<std::ops::Range<usize>>,
}

fn case(name: &'static str, lines: &str, steps: Vec<Step>) -> Case {
    Case {
        name,
        lines: lines.to_string(),
        steps,
        skip: None,
    }
}

/// `second`: the server a `tcp-check connect port` case connects to second.
fn sbs_cases(second: &ScriptServer) -> Vec<Case> {
    let second_port = second.port();
    let refused = common::refused_port();
    let two_ports = |port: u16| {
        format!(
            "  option tcp-check\n  tcp-check connect\n  tcp-check send a\n  tcp-check expect string A\n  tcp-check connect port {port}\n  tcp-check send b\n  tcp-check expect string B"
        )
    };
    let post41 = POST41_HAPROXY.len() / 2;
    let pg_err = {
        let mut e = b"E\0\0\0\x2fSFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0".to_vec();
        e[4] = (e.len() - 1) as u8;
        e
    };
    vec![
        case("smtp ok", SMTPCHK, ok_smtp()),
        case(
            "smtp ehlo",
            "  option smtpchk EHLO example.org",
            vec![
                send(b"220 mx\r\n"),
                Step::Line,
                send(b"250-mx hi\r\n250 HELP\r\n"),
                Step::Line,
                send(b"221 bye\r\n"),
            ],
        ),
        case(
            "smtp 554",
            SMTPCHK,
            vec![send(b"554 5.7.1 <No> service\r\n")],
        ),
        case(
            "smtp helo 550",
            SMTPCHK,
            vec![
                send(b"220 mx\r\n"),
                Step::Line,
                send(b"550 go away\r\n"),
                Step::Close,
            ],
        ),
        case("smtp garbage", SMTPCHK, vec![send(b"hello there\r\n")]),
        case("smtp silent", SMTPCHK, vec![]),
        case("mysql", "  option mysql-check", vec![send(&handshake())]),
        case(
            "mysql user",
            "  option mysql-check user haproxy_check",
            vec![send(&handshake()), Step::Bytes(post41 + 6), send(&my_ok())],
        ),
        case(
            "mysql user denied",
            "  option mysql-check user x post-41",
            vec![
                send(&handshake()),
                Step::Bytes(post41 - 6),
                send(&my_err(
                    2,
                    1045,
                    b"#28000Access denied for user 'x'@'127.0.0.1'",
                )),
            ],
        ),
        case(
            "mysql pre-41",
            "  option mysql-check user haproxy pre-41",
            vec![
                send(&handshake()),
                Step::Bytes(PRE41_HAPROXY.len() / 2),
                send(&my_ok()),
            ],
        ),
        case(
            "pgsql",
            PG,
            vec![Step::Bytes(22), send(b"R\0\0\0\x08\0\0\0\0")],
        ),
        case("pgsql error", PG, vec![Step::Bytes(22), send(&pg_err)]),
        case("redis", REDIS, vec![Step::Bytes(14), send(b"+PONG\r\n")]),
        case(
            "redis noauth",
            REDIS,
            vec![
                Step::Bytes(14),
                send(b"-NOAUTH Authentication required.\r\n"),
                Step::Close,
            ],
        ),
        case(
            "ldap",
            LDAP,
            vec![
                Step::Bytes(14),
                send(&unhex("300c02010161070a010004000400")),
            ],
        ),
        case(
            "ldap 49",
            LDAP,
            vec![
                Step::Bytes(14),
                send(&unhex("300c02010161070a013104000400")),
            ],
        ),
        Case {
            skip: Some(11..15),
            ..case(
                "ssl hello",
                SSL,
                vec![Step::Bytes(126), send(&unhex("1603000002"))],
            )
        },
        Case {
            skip: Some(11..15),
            ..case("ssl garbage", SSL, vec![Step::Bytes(126), send(b"HELLO ")])
        },
        case("tcp-check", TC_LONG, tc_long_steps(10)),
        case(
            "tcp-check regex fails",
            TC_LONG,
            [tc_long_steps(5), vec![send(b"-NO\r\n"), Step::Close]].concat(),
        ),
        case(
            "tcp-check mismatch",
            TC_PING,
            vec![Step::Line, send(b"-ERR x\r\n"), Step::Close],
        ),
        case("tcp-check silent", TC_PING, vec![Step::Line]),
        case(
            "smtp multi-line banner",
            SMTPCHK,
            vec![send(b"220-mx\r\n220 mx\r\n")],
        ),
        case(
            "smtp short then closed",
            SMTPCHK,
            vec![send(b"22"), Step::Close],
        ),
        case("smtp closed", SMTPCHK, vec![Step::Close]),
        case(
            "mysql handshake error",
            "  option mysql-check",
            vec![send(&my_err(0, 1130, b"Host '127.0.0.1' is not allowed"))],
        ),
        case(
            "mysql truncated",
            "  option mysql-check user haproxy",
            vec![send(&handshake()), Step::Bytes(post41 - 1), Step::Close],
        ),
        case("pgsql closed", PG, vec![Step::Bytes(22), Step::Close]),
        case("pgsql short", PG, vec![Step::Bytes(22), send(b"HELLO\n")]),
        case(
            "pgsql unknown auth",
            PG,
            vec![Step::Bytes(22), send(b"R\0\0\0\x08\0\0\0\x01")],
        ),
        case(
            "redis short then closed",
            REDIS,
            vec![Step::Bytes(14), send(b"+PON"), Step::Close],
        ),
        case(
            "ldap not ldap",
            LDAP,
            vec![
                Step::Bytes(14),
                send(&unhex("300c02010261070a010004000400")),
            ],
        ),
        case(
            "ldap short then closed",
            LDAP,
            vec![Step::Bytes(14), send(&unhex("300c0201")), Step::Close],
        ),
        Case {
            skip: Some(11..15),
            ..case(
                "ssl short then closed",
                SSL,
                vec![Step::Bytes(126), send(&unhex("1603")), Step::Close],
            )
        },
        case("tcp-check empty", "  option tcp-check", vec![]),
        case(
            "tcp-check connect only",
            "  option tcp-check\n  tcp-check connect",
            vec![],
        ),
        case(
            "tcp-check negated",
            "  option tcp-check\n  tcp-check send x\n  tcp-check expect ! string ERR",
            vec![Step::Bytes(1), send(b"-ERR")],
        ),
        case(
            "tcp-check comment",
            "  option tcp-check\n  tcp-check connect\n  tcp-check comment first\n  tcp-check expect string hi",
            vec![send(b"xx")],
        ),
        Case {
            lines: two_ports(second_port),
            ..case(
                "tcp-check connect port",
                "",
                vec![Step::Bytes(1), send(b"A")],
            )
        },
        Case {
            lines: two_ports(refused),
            ..case(
                "tcp-check connect port refused",
                "",
                vec![Step::Bytes(1), send(b"A")],
            )
        },
        case(
            "tcp-check binary timeout",
            "  option tcp-check\n  tcp-check expect binary 41420a00",
            vec![send(b"zz")],
        ),
    ]
}

#[test]
fn side_by_side_bytes_and_verdicts_with_haproxy() {
    if !common::require_haproxy() {
        return;
    }
    let second = ScriptServer::start(vec![Step::Bytes(1), send(b"B")]);
    let cases = sbs_cases(&second);
    let servers: Vec<ScriptServer> = cases
        .iter()
        .map(|c| ScriptServer::start(c.steps.clone()))
        .collect();
    let backends: Vec<(&str, SocketAddr)> = cases
        .iter()
        .zip(&servers)
        .map(|(c, s)| (c.lines.as_str(), s.addr()))
        .collect();
    // haproxy keeps running until the end, as the servers' records are read below.
    let (_h, theirs) = haproxy_verdicts(&backends, "1s");
    // Our probes, all at once (most of their time is waiting).
    let ours: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = cases
            .iter()
            .map(|c| sc.spawn(|| check(&c.lines, c.steps.clone())))
            .collect();
        hs.into_iter().map(|h| h.join().expect("probe")).collect()
    });
    let mut diffs = Vec::new();
    for (i, (c, (o, mine_bytes))) in cases.iter().zip(ours).enumerate() {
        let hv = theirs[i].clone();
        if render(&o) != hv {
            diffs.push(format!(
                "{}: verdict\n  haproxy: {hv}\n  rproxy:  {}",
                c.name,
                render(&o)
            ));
        }
        let mut their_bytes = servers[i].first_received(mine_bytes.len());
        let mut mine_bytes = mine_bytes;
        if let Some(r) = &c.skip {
            for b in [&mut their_bytes, &mut mine_bytes] {
                if b.len() >= r.end {
                    b.splice(r.clone(), std::iter::empty());
                }
            }
        }
        if their_bytes != mine_bytes {
            diffs.push(format!(
                "{}: bytes\n  haproxy: {:?}\n  rproxy:  {:?}",
                c.name,
                String::from_utf8_lossy(&their_bytes),
                String::from_utf8_lossy(&mine_bytes)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "differences with haproxy:\n{}",
        diffs.join("\n")
    );
}
