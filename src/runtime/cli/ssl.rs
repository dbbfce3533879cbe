//! The certificate commands of the runtime API, as HAProxy 2.6 answers them:
//! `show ssl cert [<file>]`, `set ssl cert <file> <<` (PEM payload), `commit ssl cert
//! <file>`, `abort ssl cert <file>`, `new ssl cert <file>` and `del ssl cert <file>`. This
//! module owns the one transaction HAProxy allows at a time (a replacement certificate
//! being prepared), the certificate files made by `new ssl cert`, and the description of a
//! certificate (serial, dates, names, key algorithm, fingerprint, subject, issuer, chain),
//! read from the DER with a few lines of parsing rather than an X.509 crate.
//!
//! A commit replaces the certificate in every bind that loaded the file
//! ([`crate::runtime::tls_bind::BindTls::replace_cert`]): new handshakes get it, the
//! connections already established keep theirs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Ctx, DENIED};

pub mod cafile;
pub mod crtlist;
pub mod ocsp;
use crate::model::CliLevel;
use crate::runtime::tls_bind::{Ckch, tbs_fields, tlv};

/// A replacement certificate being prepared for one file (HAProxy keeps one per process).
#[derive(Debug)]
pub struct Txn {
    path: String,
    chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
}

/// The ongoing transaction. A process-wide one, as HAProxy's: the runtime (hence its
/// stats socket) exists once per process.
static TXN: Mutex<Option<Txn>> = Mutex::new(None);

fn txn() -> std::sync::MutexGuard<'static, Option<Txn>> {
    TXN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Certificate files no bind serves: made by `new ssl cert` (empty until a commit gives
/// them a certificate, then servable through `add ssl crt-list`), or no longer served
/// after `del ssl crt-list`.
static SPARE: Mutex<BTreeMap<String, Option<Arc<Ckch>>>> = Mutex::new(BTreeMap::new());

fn spare() -> std::sync::MutexGuard<'static, BTreeMap<String, Option<Arc<Ckch>>>> {
    SPARE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A certificate file as the commands see it.
#[derive(Debug, Clone)]
enum Store {
    /// Loaded by binds.
    Used(Arc<Ckch>),
    /// Made by `new ssl cert` (`None`: no certificate committed yet).
    Spare(Option<Arc<Ckch>>),
}

impl Store {
    fn chain(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Store::Used(c) | Store::Spare(Some(c)) => Some(&c.ck.cert),
            Store::Spare(None) => None,
        }
    }
}

/// Every certificate file, by path (in HAProxy's order, which is the paths' byte order).
fn files(ctx: &Ctx) -> BTreeMap<String, Store> {
    let mut out = BTreeMap::new();
    for t in ctx.rt.bind_tls.values() {
        for c in t.cert_files() {
            out.entry(c.path.clone()).or_insert(Store::Used(c));
        }
    }
    for (p, c) in spare().iter() {
        out.entry(p.clone())
            .or_insert_with(|| Store::Spare(c.clone()));
    }
    out
}

/// `show ssl cert [<file>|*<file>]` (operator level; HAProxy's odd answer below it).
pub fn show_cert(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Operator) {
        out.push_str("Can't allocate memory!\n\n");
        return;
    }
    let t = txn();
    let Some(name) = args.first() else {
        if let Some(t) = &*t {
            let _ = writeln!(out, "# transaction\n*{}", t.path);
        }
        out.push_str("# filename\n");
        for p in files(ctx).keys() {
            let _ = writeln!(out, "{p}");
        }
        out.push('\n');
        return;
    };
    let found = match name.strip_prefix('*') {
        Some(p) => t
            .as_ref()
            .filter(|t| t.path == p)
            .map(|t| (t.chain.clone(), "Unused", None)),
        None => match files(ctx).get(*name) {
            Some(Store::Spare(None)) => {
                let _ = write!(
                    out,
                    "Filename: {name}\nStatus: Empty\nOCSP Response Key: \n\n"
                );
                return;
            }
            Some(Store::Used(c)) => Some((c.ck.cert.clone(), "Used", ocsp_key(c))),
            Some(Store::Spare(Some(c))) => Some((c.ck.cert.clone(), "Unused", ocsp_key(c))),
            None => None,
        },
    };
    match found {
        Some((chain, status, key)) => describe(name, status, &chain, key.as_deref(), out),
        None => out.push_str(
            "Can't display the certificate: Not found or the certificate is a bundle!\n\n",
        ),
    }
}

/// `set ssl cert <file>` with a PEM payload: the certificate chain and its key, which
/// start (or replace) the transaction of `<file>`; or `set ssl cert <file>.key` with a
/// key alone, for a certificate whose key is kept beside it.
pub fn set_cert(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let (Some(name), Some(payload)) = (args.first(), ctx.payload.take()) else {
        out.push_str("'set ssl cert expects a filename and a certificate as a payload\n\n");
        return;
    };
    let known = files(ctx);
    let key_of = name
        .strip_suffix(".key")
        .filter(|c| !known.contains_key(*name) && known.contains_key(*c));
    let path = key_of.unwrap_or(name);
    let mut t = txn();
    if let Some(cur) = &*t
        && cur.path != path
    {
        // HAProxy 2.6.12 puts the payload into the other file's transaction here; a
        // refusal is safer and says why.
        let _ = write!(
            out,
            "The ongoing transaction is about '{}' but you are trying to set '{path}'\n\
             Can't update {path}!\n\n",
            cur.path
        );
        return;
    }
    let Some(current) = known.get(path) else {
        let _ = write!(
            out,
            "Can't replace a certificate which is not referenced by the configuration!\n\
             Can't update {path}!\n\n"
        );
        return;
    };
    let bytes = payload.as_bytes();
    let new = if key_of.is_some() {
        let Ok(key) = PrivateKeyDer::from_pem_slice(bytes) else {
            let _ = write!(
                out,
                "unable to load private key from file '{name}'.\nCan't load the payload\n\
                 Can't update {path}!\n\n"
            );
            return;
        };
        let chain = match &*t {
            Some(cur) => cur.chain.clone(),
            None => current.chain().unwrap_or_default().to_vec(),
        };
        Txn {
            path: path.to_owned(),
            chain,
            key: Some(key),
        }
    } else {
        let chain: Result<Vec<CertificateDer<'static>>, _> =
            CertificateDer::pem_slice_iter(bytes).collect();
        let chain = match chain {
            Ok(c) if !c.is_empty() && c.iter().all(|c| Cert::parse(c).is_some()) => c,
            _ => {
                let _ = write!(
                    out,
                    "unable to load certificate from file '{path}'.\nCan't load the payload\n\
                     Can't update {path}!\n\n"
                );
                return;
            }
        };
        Txn {
            path: path.to_owned(),
            chain,
            // As HAProxy: the payload is the whole file, a key left out is no key.
            key: PrivateKeyDer::from_pem_slice(bytes).ok(),
        }
    };
    let verb = if t.is_some() { "updated" } else { "created" };
    *t = Some(new);
    let _ = write!(out, "Transaction {verb} for certificate {path}!\n\n");
}

/// `commit ssl cert <file>`: checks the transaction's key against its certificate and
/// serves it on every bind that loaded the file.
pub fn commit_cert(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        out.push_str("'commit ssl cert expects a filename\n\n");
        return;
    };
    let mut t = txn();
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
    let Some(key) = &cur.key else {
        let _ = write!(
            out,
            "The transaction must contain at least a certificate and a private key!\n\
             Can't commit {path}!\n\n"
        );
        return;
    };
    let ckch = match Ckch::new(path, cur.chain.clone(), key.clone_key()) {
        Ok(c) => Arc::new(c),
        Err(rustls::Error::InconsistentKeys(_)) => {
            let _ = write!(
                out,
                "inconsistencies between private key and certificate loaded '{path}'.\n\
                 Can't commit {path}!\n\n"
            );
            return;
        }
        Err(e) => {
            let _ = write!(
                out,
                "unable to use the private key of '{path}': {e}\nCan't commit {path}!\n\n"
            );
            return;
        }
    };
    // One dot per bind instance updated, as HAProxy prints its progress.
    let mut n = 0;
    for b in ctx.rt.bind_tls.values() {
        n += b.replace_cert(&ckch);
    }
    if let Some(s) = spare().get_mut(*path) {
        *s = Some(ckch);
    }
    *t = None;
    let _ = write!(out, "Committing {path}{}\nSuccess!\n\n", ".".repeat(n));
}

/// `abort ssl cert <file>`: drops the transaction.
pub fn abort_cert(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        out.push_str("'abort ssl cert' expects a filename\n\n");
        return;
    };
    let mut t = txn();
    abort_txn(&mut t, |cur| &cur.path, path, out);
}

/// Ends the transaction in `slot` if it is about `path`, with HAProxy's answers (the same
/// for certificates, CA files and CRL files).
pub(super) fn abort_txn<T>(
    slot: &mut Option<T>,
    path_of: impl Fn(&T) -> &str,
    path: &str,
    out: &mut String,
) {
    match slot.as_ref().map(path_of) {
        None => out.push_str("No ongoing transaction!\n\n"),
        Some(cur) if cur != path => {
            let _ = write!(
                out,
                "The ongoing transaction is about '{cur}' but you are trying to abort a \
                 transaction for '{path}'\n\n"
            );
        }
        Some(_) => {
            *slot = None;
            let _ = write!(out, "Transaction aborted for certificate '{path}'!\n\n");
        }
    }
}

/// `new ssl cert <file>`: an empty certificate file, to be given a certificate with
/// `set` and `commit`.
pub fn new_cert(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        out.push_str("'new ssl cert' expects a filename\n\n");
        return;
    };
    if files(ctx).contains_key(*path) {
        let _ = write!(out, "Certificate '{path}' already exists!\n\n");
        return;
    }
    spare().insert(path.to_string(), None);
    let _ = write!(out, "New empty certificate store '{path}'!\n\n");
}

/// `del ssl cert <file>`: forgets a file made by `new ssl cert` (one a bind uses stays).
pub fn del_cert(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let Some(path) = args.first() else {
        out.push_str("'del ssl cert' expects a certificate name\n\n");
        return;
    };
    if txn().as_ref().is_some_and(|t| t.path == *path) {
        let _ = write!(
            out,
            "Can't remove the certificate: ongoing transaction for the certificate '{path}'\n\n"
        );
        return;
    }
    match files(ctx).get(*path) {
        None => {
            let _ = write!(
                out,
                "Can't remove the certificate: certificate '{path}' doesn't exist!\n\n\n"
            );
        }
        Some(Store::Used(_)) => {
            let _ = write!(
                out,
                "Can't remove the certificate: certificate '{path}' in use, can't be deleted!\n\n\n"
            );
        }
        Some(Store::Spare(_)) => {
            spare().remove(*path);
            let _ = write!(out, "Certificate '{path}' deleted!\n\n");
        }
    }
}

/// The detail of one certificate file, in HAProxy's fields and order.
fn describe(
    name: &str,
    status: &str,
    chain: &[CertificateDer<'_>],
    ocsp_key: Option<&str>,
    out: &mut String,
) {
    let _ = writeln!(out, "Filename: {name}\nStatus: {status}");
    if let Some(leaf) = chain.first().and_then(|c| Cert::parse(c)) {
        let _ = writeln!(out, "Serial: {}", hex(leaf.serial));
        let _ = writeln!(out, "notBefore: {}", leaf.not_before);
        let _ = writeln!(out, "notAfter: {}", leaf.not_after);
        let _ = writeln!(out, "Subject Alternative Name: {}", leaf.san);
        out.push_str("Algorithm: ");
        // HAProxy stops describing at a key type it does not name (Ed25519...).
        if let Some(a) = &leaf.algo {
            let _ = writeln!(out, "{a}");
            let fp = crate::runtime::sample::conv::sha1(leaf.der);
            let _ = writeln!(out, "SHA1 FingerPrint: {}", hex(&fp));
            let _ = writeln!(out, "Subject: {}", leaf.subject);
            let _ = writeln!(out, "Issuer: {}", leaf.issuer);
            for c in chain[1..].iter().filter_map(|c| Cert::parse(c)) {
                let _ = writeln!(out, "Chain Subject: {}", c.subject);
                let _ = writeln!(out, "Chain Issuer: {}", c.issuer);
            }
        }
    }
    let _ = write!(out, "OCSP Response Key: {}\n\n", ocsp_key.unwrap_or(""));
}

/// The CertID key of the OCSP response a certificate staples, as HAProxy shows it.
fn ocsp_key(c: &Ckch) -> Option<String> {
    c.ck.ocsp.as_ref()?;
    c.cert_id()
        .map(|id| crate::runtime::tls_bind::ocsp::hex_lower(&id))
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02X}");
        s
    })
}

/// What `show ssl cert` tells of one certificate.
#[derive(Debug, PartialEq)]
struct Cert<'a> {
    der: &'a [u8],
    /// The serial's magnitude (no sign byte), as OpenSSL keeps it.
    serial: &'a [u8],
    not_before: String,
    not_after: String,
    /// OpenSSL's one-line form: `/CN=name/O=org`.
    subject: String,
    issuer: String,
    /// `DNS:a, DNS:b`; other kinds of names leave an empty item, as HAProxy prints them.
    san: String,
    /// `RSA2048`, `EC256`...; `None` for a key type HAProxy does not name.
    algo: Option<String>,
}

impl<'a> Cert<'a> {
    fn parse(der: &'a [u8]) -> Option<Cert<'a>> {
        // Serial, signature, issuer, validity, subject, key.
        let fields = tbs_fields(der)?;
        let f = |i: usize, tag: u8| fields.get(i).filter(|f| f.0 == tag).map(|f| f.1);
        let mut serial = f(0, 0x02)?;
        while serial.len() > 1 && serial[0] == 0 {
            serial = &serial[1..];
        }
        let issuer = dn(f(2, 0x30)?)?;
        let (t1, t2) = {
            let (tag1, v1, rest) = tlv(f(3, 0x30)?)?;
            let (tag2, v2, _) = tlv(rest)?;
            (time(tag1, v1)?, time(tag2, v2)?)
        };
        let subject = dn(f(4, 0x30)?)?;
        let algo = key_algo(f(5, 0x30)?);
        let san = fields
            .iter()
            .find(|(t, _, _)| *t == 0xa3)
            .and_then(|(_, e, _)| san(e))
            .unwrap_or_default();
        Some(Cert {
            der,
            serial,
            not_before: t1,
            not_after: t2,
            subject,
            issuer,
            san,
            algo,
        })
    }
}

/// OpenSSL's short names of the attributes of a distinguished name, by DER OID.
const ATTRS: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "street"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x0c], "title"),
    (&[0x55, 0x04, 0x0d], "description"),
    (&[0x55, 0x04, 0x0f], "businessCategory"),
    (&[0x55, 0x04, 0x11], "postalCode"),
    (&[0x55, 0x04, 0x29], "name"),
    (&[0x55, 0x04, 0x2a], "GN"),
    (&[0x55, 0x04, 0x2b], "initials"),
    (&[0x55, 0x04, 0x2c], "generationQualifier"),
    (&[0x55, 0x04, 0x2e], "dnQualifier"),
    (&[0x55, 0x04, 0x41], "pseudonym"),
    (&[0x55, 0x04, 0x61], "organizationIdentifier"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "emailAddress",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// A distinguished name in OpenSSL's one-line form, the values as their bytes.
fn dn(mut name: &[u8]) -> Option<String> {
    let mut out = String::new();
    while let Some((_, set, rest)) = tlv(name) {
        name = rest;
        let mut set = set;
        while let Some((_, atv, r2)) = tlv(set) {
            set = r2;
            let (0x06, oid, val) = tlv(atv)? else {
                return None;
            };
            let (_, v, _) = tlv(val)?;
            match ATTRS.iter().find(|(o, _)| *o == oid) {
                Some((_, n)) => {
                    let _ = write!(out, "/{n}=");
                }
                None => {
                    let _ = write!(out, "/{}=", oid_text(oid));
                }
            }
            out.push_str(&String::from_utf8_lossy(v));
        }
    }
    Some(out)
}

/// A distinguished name in OpenSSL's `-nameopt oneline` form: `C = FR, CN = name`.
pub(crate) fn dn_oneline(mut name: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((_, set, rest)) = tlv(name) {
        name = rest;
        let mut set = set;
        while let Some((_, atv, r2)) = tlv(set) {
            set = r2;
            let Some((0x06, oid, val)) = tlv(atv) else {
                continue;
            };
            let v = tlv(val).map(|(_, v, _)| String::from_utf8_lossy(v).into_owned());
            let n = ATTRS
                .iter()
                .find(|(o, _)| *o == oid)
                .map_or_else(|| oid_text(oid), |(_, n)| (*n).to_owned());
            parts.push(format!("{n} = {}", v.unwrap_or_default()));
        }
    }
    parts.join(", ")
}

/// An OID in dotted form (`1.2.3.4`).
pub(crate) fn oid_text(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut cur = 0u64;
    for &b in oid {
        cur = (cur << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (cur / 40).min(2);
                parts.push(first);
                parts.push(cur - first * 40);
            } else {
                parts.push(cur);
            }
            cur = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A UTCTime or GeneralizedTime as OpenSSL prints it: `Dec  3 08:51:59 2026 GMT`.
fn time(tag: u8, v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<u32>().ok());
    let (mo, d, h, mi, se) = (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.get(usize::try_from(mo).ok()?.checked_sub(1)?)?;
    let gmt = if rest.ends_with('Z') { " GMT" } else { "" };
    Some(format!("{m} {d:2} {h:02}:{mi:02}:{se:02} {year}{gmt}"))
}

/// The subject alternative names, as HAProxy lists them (DNS names only).
fn san(exts: &[u8]) -> Option<String> {
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let (_, mut exts, _) = tlv(exts)?;
    while let Some((_, ext, rest)) = tlv(exts) {
        exts = rest;
        let Some((0x06, oid, mut r)) = tlv(ext) else {
            continue;
        };
        if oid != SAN {
            continue;
        }
        // Optional `critical` BOOLEAN, then the OCTET STRING.
        while let Some((tag, v, r2)) = tlv(r) {
            r = r2;
            if tag == 0x04 {
                let (_, mut gns, _) = tlv(v)?;
                let mut out = String::new();
                let mut first = true;
                while let Some((gt, g, r3)) = tlv(gns) {
                    gns = r3;
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    if gt == 0x82 {
                        out.push_str("DNS:");
                        out.push_str(&String::from_utf8_lossy(g));
                    }
                }
                return Some(out);
            }
        }
    }
    None
}

/// The key's type and size as OpenSSL names them (`RSA2048`, `EC256`, `DSA2048`).
fn key_algo(spki: &[u8]) -> Option<String> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
    let (0x30, alg, rest) = tlv(spki)? else {
        return None;
    };
    let (0x06, oid, params) = tlv(alg)? else {
        return None;
    };
    let bits = |int: &[u8]| {
        let mut i = int;
        while i.len() > 1 && i[0] == 0 {
            i = &i[1..];
        }
        let top = i.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
        i.len().saturating_sub(1) * 8 + top
    };
    if oid == RSA {
        let (0x03, key, _) = tlv(rest)? else {
            return None;
        };
        let (0x30, seq, _) = tlv(key.get(1..)?)? else {
            return None;
        };
        let (0x02, n, _) = tlv(seq)? else {
            return None;
        };
        Some(format!("RSA{}", bits(n)))
    } else if oid == EC {
        let (0x06, curve, _) = tlv(params)? else {
            return None;
        };
        let size = match curve {
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256,
            [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,
            [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,
            [0x2b, 0x81, 0x04, 0x00, 0x0a] => 256,
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01] => 192,
            [0x2b, 0x81, 0x04, 0x00, 0x21] => 224,
            _ => return None,
        };
        Some(format!("EC{size}"))
    } else if oid == DSA {
        let (0x30, p, _) = tlv(params)? else {
            return None;
        };
        let (0x02, p, _) = tlv(p)? else {
            return None;
        };
        Some(format!("DSA{}", bits(p)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_openssl() {
        assert_eq!(
            time(0x17, b"261203085159Z").as_deref(),
            Some("Dec  3 08:51:59 2026 GMT")
        );
        assert_eq!(
            time(0x18, b"20501231235959Z").as_deref(),
            Some("Dec 31 23:59:59 2050 GMT")
        );
        assert_eq!(time(0x17, b"991301000000Z"), None);
        assert_eq!(time(0x17, b"26"), None);
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]), "2.5.4.3");
    }

    #[test]
    fn parser_survives_garbage() {
        for g in [
            &[][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x30, 0x01, 0x00],
            &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01],
        ] {
            assert_eq!(Cert::parse(g), None);
        }
        assert_eq!(key_algo(&[0x30, 0x00]), None);
        assert_eq!(san(&[0x30, 0x02, 0x30, 0x00]), None);
    }
}
