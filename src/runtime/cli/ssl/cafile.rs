//! The CA file and CRL file commands of the runtime API, as HAProxy 2.6.12 answers them:
//! `show|new|set|commit|abort|del ssl ca-file` and the same for `crl-file`. This module
//! owns the one transaction of each kind HAProxy allows at a time; the files themselves
//! live in [`crate::runtime::tls_store`]. A commit stores the new content there and
//! rebuilds the bind configurations verifying against it
//! ([`crate::runtime::tls_bind::BindTls::reload_verify`]); servers' verifiers rebuild at
//! their next handshake. Established connections keep what they verified with.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateRevocationListDer;

use super::{Cert, dn, hex, oid_text, time};
use crate::model::CliLevel;
use crate::runtime::cli::{Ctx, DENIED};
use crate::runtime::tls_bind::{der, tbs_fields, tlv};
use crate::runtime::tls_store::{self as store, Content, Kind};

/// A new content being prepared for one file.
#[derive(Debug)]
struct Txn {
    path: String,
    content: Arc<Content>,
}

static TXN_CA: Mutex<Option<Txn>> = Mutex::new(None);
static TXN_CRL: Mutex<Option<Txn>> = Mutex::new(None);

fn txn(kind: Kind) -> std::sync::MutexGuard<'static, Option<Txn>> {
    match kind {
        Kind::Ca => &TXN_CA,
        Kind::Crl => &TXN_CRL,
    }
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// `VERB ssl ca-file|crl-file ARGS...`.
pub fn run(ctx: &mut Ctx, verb: &str, file: &str, args: &[&str], out: &mut String) {
    let kind = if file == "ca-file" {
        Kind::Ca
    } else {
        Kind::Crl
    };
    match verb {
        "show" => show(ctx, kind, args, out),
        "new" => new(ctx, kind, args, out),
        "set" => set(ctx, kind, args, out),
        "commit" => commit(ctx, kind, args, out),
        "abort" => abort(ctx, kind, args, out),
        _ => del(ctx, kind, args, out),
    }
}

/// HAProxy's words for each kind.
struct Words {
    cmd: &'static str,
    /// "CA file" / "CRL file".
    file: &'static str,
    /// "CA" / "CRL" (in "transaction created for CA ...").
    short: &'static str,
    /// What `set` expects as a payload.
    payload: &'static str,
}

fn words(kind: Kind) -> Words {
    match kind {
        Kind::Ca => Words {
            cmd: "ca-file",
            file: "CA file",
            short: "CA",
            payload: "CAs",
        },
        Kind::Crl => Words {
            cmd: "crl-file",
            file: "CRL file",
            short: "CRL",
            payload: "CRLs",
        },
    }
}

/// The CA tree holds HAProxy's `@system-ca` too, read when a command first needs it.
fn loaded(kind: Kind) {
    if kind == Kind::Ca {
        store::system_ca();
    }
}

/// How many certificates of the binds (and servers with a client certificate) verify
/// against the file: HAProxy's instances linked to it, "Used" when any.
fn users(ctx: &Ctx, kind: Kind, path: &str) -> usize {
    ctx.rt
        .bind_tls
        .values()
        .map(|b| b.count_verify(kind, path))
        .sum::<usize>()
        + store::server_users(kind, path)
}

/// `show ssl ca-file [<file>[:<index>]]` and `show ssl crl-file ...`.
pub fn show(ctx: &Ctx, kind: Kind, args: &[&str], out: &mut String) {
    // HAProxy's odd answer below the operator level, as for `show ssl cert`.
    if !ctx.allowed(CliLevel::Operator) {
        out.push_str("Can't allocate memory!\n\n");
        return;
    }
    let w = words(kind);
    loaded(kind);
    let Some(arg) = args.first() else {
        if let Some(t) = &*txn(kind) {
            out.push_str("# transaction\n*");
            list_line(kind, &t.path, Some(&t.content), out);
        }
        out.push_str("# filename\n");
        for (p, c) in store::list(kind) {
            list_line(kind, &p, c.as_ref(), out);
        }
        out.push('\n');
        return;
    };
    let (name, index) = match arg.rsplit_once(':') {
        Some((n, i)) => match i.parse::<usize>() {
            Ok(i) if i > 0 => (n, Some(i)),
            _ => {
                let _ = writeln!(out, "wrong {} index after colons in '{arg}'!", w.short);
                return;
            }
        },
        None => (*arg, None),
    };
    let (content, status) = match name.strip_prefix('*') {
        Some(p) => match &*txn(kind) {
            Some(t) if t.path == p => (Some(t.content.clone()), "Unused"),
            _ => return not_found(&w, out),
        },
        None => match store::get(kind, name) {
            None => return not_found(&w, out),
            Some(c) => {
                let s = if users(ctx, kind, name) > 0 {
                    "Used"
                } else {
                    "Unused"
                };
                (c, s)
            }
        },
    };
    match kind {
        Kind::Ca => {
            // HAProxy prints nothing of a file without the certificate asked for.
            let certs = content.as_ref().map(|c| &c.certs[..]).unwrap_or_default();
            let chosen: Vec<(usize, &[u8])> = store_order(certs)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| index.is_none_or(|x| x == i + 1))
                .map(|(i, c)| (i + 1, c))
                .collect();
            // HAProxy hands each certificate to its output buffer in turn; one that does
            // not fit waits for the buffer to be sent, and the handler starts again with
            // the file's name and status.
            let header = format!("Filename: {name}\nStatus: {status}\n");
            let mut room = 0;
            for (i, der) in chosen {
                let mut block = format!(" \nCertificate #{i}:\n");
                cert_detail(der, &mut block);
                if block.len() > room {
                    out.push_str(&header);
                    room = CLI_BUFFER.saturating_sub(header.len());
                }
                room = room.saturating_sub(block.len());
                out.push_str(&block);
            }
        }
        Kind::Crl => {
            let Some(c) = content else {
                let _ = write!(out, "Filename: {name}\nStatus: Empty\n\n");
                return;
            };
            let _ = write!(out, "Filename: {name}\nStatus: {status}\n");
            for (i, crl) in c.crls.iter().enumerate() {
                if index.is_some_and(|x| x != i + 1) {
                    continue;
                }
                let _ = write!(out, " \nCertificate Revocation List #{}:\n", i + 1);
                crl_detail(crl, out);
            }
        }
    }
    out.push('\n');
}

/// HAProxy's buffer size (`tune.bufsize`), which cuts a long `show ssl ca-file`.
const CLI_BUFFER: usize = 16384;

fn not_found(w: &Words, out: &mut String) {
    let _ = write!(out, "Can't display the {} : Not found!\n\n", w.file);
}

/// A line of the list: the path, and for a CA file how many certificates it holds.
fn list_line(kind: Kind, path: &str, c: Option<&Arc<Content>>, out: &mut String) {
    match kind {
        Kind::Ca => {
            let n = c.map_or(0, |c| c.certs.len());
            let _ = writeln!(out, "{path} - {n} certificate(s)");
        }
        Kind::Crl => {
            let _ = writeln!(out, "{path}");
        }
    }
}

/// The certificates in the order OpenSSL's store lists them: each addition looks for a
/// duplicate, which sorts what the store held by subject, then appends; so all but the
/// last one end up sorted by their canonical subject.
fn store_order<'a>(certs: &'a [rustls::pki_types::CertificateDer<'static>]) -> Vec<&'a [u8]> {
    let mut v: Vec<&[u8]> = certs.iter().map(|c| c.as_ref()).collect();
    if v.len() > 2 {
        let last = v.len() - 1;
        v[..last].sort_by_cached_key(|c| {
            let k = subject(c).map(canon).unwrap_or_default();
            (k.len(), k)
        });
    }
    v
}

/// The contents of a certificate's subject name.
fn subject(der: &[u8]) -> Option<&[u8]> {
    // Serial, signature, issuer, validity, subject.
    tbs_fields(der)?.get(4).filter(|f| f.0 == 0x30).map(|f| f.1)
}

/// OpenSSL's canonical encoding of a name (what it compares subjects by): each text
/// value as lowercased UTF-8 with its spaces trimmed and collapsed.
fn canon(mut name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((_, mut set, rest)) = tlv(name) {
        name = rest;
        let mut entries = Vec::new();
        while let Some((_, atv, r2)) = tlv(set) {
            set = r2;
            let Some((0x06, oid, val)) = tlv(atv) else {
                continue;
            };
            let Some((tag, v, _)) = tlv(val) else {
                continue;
            };
            let mut seq = der(0x06, oid);
            match text_value(tag, v) {
                Some(t) => seq.extend(der(0x0c, canon_text(&t).as_bytes())),
                None => seq.extend(der(tag, v)),
            }
            entries.extend(der(0x30, &seq));
        }
        out.extend(der(0x31, &entries));
    }
    out
}

/// The text of a string value of the kinds OpenSSL canonicalises.
fn text_value(tag: u8, v: &[u8]) -> Option<String> {
    Some(match tag {
        0x0c | 0x13 | 0x16 | 0x1a => String::from_utf8_lossy(v).into_owned(),
        // T61String, taken as Latin-1 as OpenSSL does.
        0x14 => v.iter().map(|b| char::from(*b)).collect(),
        0x1e => char::decode_utf16(
            v.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])),
        )
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect(),
        0x1c => v
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b)).unwrap_or('\u{fffd}')
            })
            .collect(),
        _ => return None,
    })
}

fn canon_text(t: &str) -> String {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let mut out = String::new();
    let mut gap = false;
    for c in t.trim_matches(space).chars() {
        if space(c) {
            gap = true;
            continue;
        }
        if gap {
            out.push(' ');
            gap = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// One certificate of a CA file, as `show ssl cert` describes a leaf.
fn cert_detail(der: &[u8], out: &mut String) {
    let Some(c) = Cert::parse(der) else {
        return;
    };
    let _ = writeln!(out, "Serial: {}", hex(c.serial));
    let _ = writeln!(out, "notBefore: {}", c.not_before);
    let _ = writeln!(out, "notAfter: {}", c.not_after);
    let _ = writeln!(out, "Subject Alternative Name: {}", c.san);
    out.push_str("Algorithm: ");
    if let Some(a) = &c.algo {
        let _ = writeln!(out, "{a}");
        let fp = crate::runtime::sample::conv::sha1(der);
        let _ = writeln!(out, "SHA1 FingerPrint: {}", hex(&fp));
        let _ = writeln!(out, "Subject: {}", c.subject);
        let _ = writeln!(out, "Issuer: {}", c.issuer);
    }
}

/// OpenSSL's long names of signature algorithms, by DER OID.
const SIG_ALGS: &[(&[u8], &str)] = &[
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        "sha1WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        "sha256WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        "sha384WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        "sha512WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
        "rsassaPss",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        "ecdsa-with-SHA1",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        "ecdsa-with-SHA256",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
        "ecdsa-with-SHA384",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
        "ecdsa-with-SHA512",
    ),
    (&[0x2b, 0x65, 0x70], "ED25519"),
    (&[0x2b, 0x65, 0x71], "ED448"),
];

/// One CRL, in HAProxy's fields (OpenSSL's `crl -text` ones, fewer).
fn crl_detail(crl: &CertificateRevocationListDer<'_>, out: &mut String) {
    if let Some(text) = crl_text(crl.as_ref()) {
        out.push_str(&text);
    }
}

fn crl_text(der: &[u8]) -> Option<String> {
    let (0x30, list, _) = tlv(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(list)? else {
        return None;
    };
    let mut out = String::new();
    let mut version = 1;
    if let Some((0x02, v, rest)) = tlv(tbs) {
        version = v.last().map_or(0, |b| u32::from(*b)) + 1;
        tbs = rest;
    }
    let _ = writeln!(out, "Version {version}");
    let (0x30, alg, rest) = tlv(tbs)? else {
        return None;
    };
    tbs = rest;
    let (0x06, oid, _) = tlv(alg)? else {
        return None;
    };
    let name = SIG_ALGS
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or_else(|| oid_text(oid), |(_, n)| (*n).to_owned());
    let _ = writeln!(out, "Signature Algorithm: {name}");
    let (0x30, issuer, rest) = tlv(tbs)? else {
        return None;
    };
    tbs = rest;
    let _ = writeln!(out, "Issuer: {}", dn(issuer)?);
    let (tag, v, rest) = tlv(tbs)?;
    tbs = rest;
    let _ = writeln!(out, "Last Update: {}", time(tag, v)?);
    let next = match tlv(tbs) {
        Some((tag @ (0x17 | 0x18), v, rest)) => {
            tbs = rest;
            time(tag, v)?
        }
        _ => "NONE".to_owned(),
    };
    let _ = writeln!(out, "Next Update: {next}");
    let mut revoked = match tlv(tbs) {
        Some((0x30, r, _)) => r,
        _ => &[][..],
    };
    if revoked.is_empty() {
        out.push_str("No Revoked Certificates.\n");
        return Some(out);
    }
    out.push_str("Revoked Certificates:\n");
    while let Some((_, entry, rest)) = tlv(revoked) {
        revoked = rest;
        let (0x02, mut serial, rest) = tlv(entry)? else {
            return None;
        };
        while serial.len() > 1 && serial[0] == 0 {
            serial = &serial[1..];
        }
        let (tag, v, _) = tlv(rest)?;
        let _ = write!(
            out,
            "    Serial Number: {}\n        Revocation Date: {}\n",
            hex(serial),
            time(tag, v)?
        );
    }
    Some(out)
}

/// `new ssl ca-file <file>` / `new ssl crl-file <file>`: an empty file, to be given a
/// content with `set` and `commit`.
pub fn new(ctx: &Ctx, kind: Kind, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let w = words(kind);
    loaded(kind);
    let Some(path) = args.first() else {
        let _ = write!(out, "'new ssl {}' expects a filename\n\n", w.cmd);
        return;
    };
    if store::get(kind, path).is_some() {
        let _ = write!(out, "{} '{path}' already exists!\n\n", w.file);
        return;
    }
    let empty = match kind {
        // A new CA file is an empty store, a new CRL file none yet ("Empty").
        Kind::Ca => Some(Arc::new(Content::default())),
        Kind::Crl => None,
    };
    store::put(kind, path, empty);
    let _ = write!(out, "New {} created '{path}'!\n\n", w.file);
}

/// `set ssl ca-file <file>` / `set ssl crl-file <file>` with a PEM payload: starts (or
/// replaces) the transaction of `<file>`.
pub fn set(ctx: &mut Ctx, kind: Kind, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let w = words(kind);
    loaded(kind);
    let (Some(path), Some(payload)) = (args.first(), ctx.payload.take()) else {
        let _ = write!(
            out,
            "'set ssl {} expects a filename and {} as a payload\n\n",
            w.cmd, w.payload
        );
        return;
    };
    let mut t = txn(kind);
    if let Some(cur) = &*t
        && cur.path != *path
    {
        let _ = write!(
            out,
            "The ongoing transaction is about '{}' but you are trying to set '{path}'\n\
             Can't update {path}!\n\n",
            cur.path
        );
        return;
    }
    if store::get(kind, path).is_none() {
        let _ = write!(
            out,
            "Can't replace a {} which is not referenced by the configuration!\n\
             Can't update {path}!\n\n",
            w.file
        );
        return;
    }
    let Ok(content) = store::parse(payload.as_bytes()) else {
        let _ = write!(out, "Invalid payload\nCan't update {path}!\n\n");
        return;
    };
    let verb = if t.is_some() { "updated" } else { "created" };
    *t = Some(Txn {
        path: path.to_string(),
        content: Arc::new(content),
    });
    let _ = write!(out, "transaction {verb} for {} {path}!\n\n", w.short);
}

/// `commit ssl ca-file <file>` / `commit ssl crl-file <file>`: the transaction's content
/// becomes the file's, and every bind verifying against it is rebuilt (one dot each).
pub fn commit(ctx: &Ctx, kind: Kind, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        // HAProxy 2.6 names ca-file here for both kinds.
        out.push_str("'commit ssl ca-file expects a filename\n\n");
        return;
    };
    let mut t = txn(kind);
    let Some(cur) = &*t else {
        let _ = write!(out, "No ongoing transaction! !\nCan't commit {path}!\n\n");
        return;
    };
    if cur.path != *path {
        let _ = write!(
            out,
            "The ongoing transaction is about '{}' but you are trying to set '{path}'\n\
             Can't commit {path}!\n\n",
            cur.path
        );
        return;
    }
    store::put(kind, path, Some(cur.content.clone()));
    let mut n = 0;
    for b in ctx.rt.bind_tls.values() {
        n += b.reload_verify(kind, path);
    }
    n += store::server_users(kind, path);
    *t = None;
    let _ = write!(out, "Committing {path}{}\nSuccess!\n\n", ".".repeat(n));
}

/// `abort ssl ca-file <file>` / `abort ssl crl-file <file>`: drops the transaction.
pub fn abort(ctx: &Ctx, kind: Kind, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        let _ = write!(
            out,
            "'abort ssl {}' expects a filename\n\n",
            words(kind).cmd
        );
        return;
    };
    let mut t = txn(kind);
    super::abort_txn(&mut t, |cur| &cur.path, path, out);
}

/// `del ssl ca-file <file>` / `del ssl crl-file <file>`: forgets a file nothing uses.
pub fn del(ctx: &Ctx, kind: Kind, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let w = words(kind);
    loaded(kind);
    let Some(path) = args.first() else {
        let _ = write!(out, "'del ssl {}' expects a {} name\n\n", w.cmd, w.file);
        return;
    };
    if txn(kind).as_ref().is_some_and(|t| t.path == *path) {
        let _ = write!(
            out,
            "Can't remove the {0}: ongoing transaction for the {0} '{path}'\n\n",
            w.file
        );
        return;
    }
    if store::get(kind, path).is_none() {
        let _ = write!(
            out,
            "Can't remove the {0}: {0} '{path}' doesn't exist!\n\n\n",
            w.file
        );
        return;
    }
    if users(ctx, kind, path) > 0 {
        let _ = write!(
            out,
            "Can't remove the {0}: {0} '{path}' in use, can't be deleted!\n\n\n",
            w.file
        );
        return;
    }
    store::remove(kind, path);
    let _ = write!(out, "{} '{path}' deleted!\n\n", w.file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_trimmed_collapsed_and_lowercased() {
        assert_eq!(canon_text("  Foo \t Bar  Baz "), "foo bar baz");
        assert_eq!(canon_text("ÉTÉ X"), "ÉtÉ x");
        assert_eq!(der(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
    }

    #[test]
    fn crl_parser_survives_garbage() {
        for g in [
            &[][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x30, 0x01, 0x00],
            &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01],
        ] {
            assert_eq!(crl_text(g), None);
        }
    }
}
