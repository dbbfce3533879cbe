//! OCSP stapling: the few parts of an OCSP response (RFC 6960) that HAProxy 2.6 looks at
//! before it staples one (status, the single response's CertID, its certificate status and
//! validity dates), the CertID of a loaded certificate (SHA-1 of the issuer's name and key,
//! the serial: what HAProxy keys responses by), and the text `show ssl ocsp-response <id>`
//! prints, as OpenSSL's `OCSP_RESPONSE_print` does. Read with the DER walker of
//! `tls_bind` (no X.509 crate in the tree).

use std::fmt::Write as _;

use super::{der, tbs_fields, tlv};

/// `AlgorithmIdentifier { sha1, NULL }`, as OpenSSL writes it in the CertIDs it makes.
const SHA1_ALG: &[u8] = &[
    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
];
const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// HAProxy's (and OpenSSL's) tolerance on the response's dates.
const SKEW_SECS: i64 = 300;

/// One DER element: (tag, contents, the whole element, rest).
type Elem<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn elem(d: &[u8]) -> Option<Elem<'_>> {
    let (tag, v, rest) = tlv(d)?;
    Some((tag, v, &d[..d.len() - rest.len()], rest))
}

/// What a CertID needs of a certificate: its serial (INTEGER contents), its issuer and
/// subject names (whole DER elements), its public key (BIT STRING without the
/// unused-bits byte).
struct CertParts<'a> {
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    key: &'a [u8],
}

fn cert_parts(cert: &[u8]) -> Option<CertParts<'_>> {
    let fields = tbs_fields(cert)?;
    let f = |i: usize, tag: u8| fields.get(i).filter(|f| f.0 == tag).copied();
    let serial = f(0, 0x02)?.1;
    let issuer = f(2, 0x30)?.2;
    let subject = f(4, 0x30)?.2;
    let (0x30, spki, _) = tlv(f(5, 0x30)?.2)? else {
        return None;
    };
    let (_, _, rest) = tlv(spki)?;
    let (0x03, bits, _) = tlv(rest)? else {
        return None;
    };
    Some(CertParts {
        serial,
        issuer,
        subject,
        key: bits.get(1..)?,
    })
}

/// Whether `issuer` names the issuer of `leaf` (its subject is the leaf's issuer name).
pub fn issued_by(leaf: &[u8], issuer: &[u8]) -> bool {
    match (cert_parts(leaf), cert_parts(issuer)) {
        (Some(l), Some(i)) => l.issuer == i.subject,
        _ => false,
    }
}

/// The CertID (DER) of `leaf` issued by `issuer`, SHA-1 based as HAProxy computes it.
pub fn cert_id(leaf: &[u8], issuer: &[u8]) -> Option<Vec<u8>> {
    let l = cert_parts(leaf)?;
    let i = cert_parts(issuer)?;
    let sha1 = crate::runtime::sample::conv::sha1;
    let mut body = SHA1_ALG.to_vec();
    body.extend(der(0x04, &sha1(i.subject)));
    body.extend(der(0x04, &sha1(i.key)));
    body.extend(der(0x02, l.serial));
    Some(der(0x30, &body))
}

/// A certificate's status in a single response.
#[derive(Debug, Clone, PartialEq)]
enum Status<'a> {
    Good,
    /// Revocation time, reason code.
    Revoked(&'a [u8], Option<u8>),
    Unknown,
}

/// One `SingleResponse`.
#[derive(Debug)]
struct Single<'a> {
    /// The whole CertID element (what HAProxy keys a response by).
    id: &'a [u8],
    hash_oid: &'a [u8],
    name_hash: &'a [u8],
    key_hash: &'a [u8],
    serial: &'a [u8],
    status: Status<'a>,
    this_update: &'a [u8],
    next_update: Option<&'a [u8]>,
}

/// The `ResponderID`.
#[derive(Debug)]
enum Responder<'a> {
    /// A Name (its RDN sequence contents).
    Name(&'a [u8]),
    Key(&'a [u8]),
}

/// An OCSP response, as far as it is read.
#[derive(Debug)]
struct Response<'a> {
    status: u8,
    basic: Option<Basic<'a>>,
}

#[derive(Debug)]
struct Basic<'a> {
    version: u8,
    responder: Responder<'a>,
    produced: &'a [u8],
    singles: Vec<Single<'a>>,
    /// The response's extensions (contents of the SEQUENCE).
    exts: Option<&'a [u8]>,
    sig_alg: &'a [u8],
    sig: &'a [u8],
    /// Whether it carries certificates (printed by OpenSSL in full; not here).
    has_certs: bool,
}

fn parse(d: &[u8]) -> Option<Response<'_>> {
    let (0x30, r, _) = tlv(d)? else {
        return None;
    };
    let (0x0a, st, rest) = tlv(r)? else {
        return None;
    };
    let status = *st.first()?;
    let basic = match tlv(rest) {
        Some((0xa0, rb, _)) => {
            let (0x30, rb, _) = tlv(rb)? else {
                return None;
            };
            let (0x06, oid, rest) = tlv(rb)? else {
                return None;
            };
            let (0x04, b, _) = tlv(rest)? else {
                return None;
            };
            if oid == BASIC_OID {
                Some(parse_basic(b)?)
            } else {
                None
            }
        }
        _ => None,
    };
    Some(Response { status, basic })
}

fn parse_basic(b: &[u8]) -> Option<Basic<'_>> {
    let (0x30, b, _) = tlv(b)? else {
        return None;
    };
    let (0x30, mut data, rest) = tlv(b)? else {
        return None;
    };
    let (0x30, alg, rest) = tlv(rest)? else {
        return None;
    };
    let (0x06, sig_alg, _) = tlv(alg)? else {
        return None;
    };
    let (0x03, sig, rest) = tlv(rest)? else {
        return None;
    };
    let has_certs = matches!(tlv(rest), Some((0xa0, _, _)));
    let mut version = 0;
    if let Some((0xa0, v, rest)) = tlv(data) {
        let (0x02, v, _) = tlv(v)? else {
            return None;
        };
        version = *v.last()?;
        data = rest;
    }
    let (rtag, rid, rest) = tlv(data)?;
    let responder = match rtag {
        0xa1 => {
            let (0x30, name, _) = tlv(rid)? else {
                return None;
            };
            Responder::Name(name)
        }
        0xa2 => {
            let (0x04, k, _) = tlv(rid)? else {
                return None;
            };
            Responder::Key(k)
        }
        _ => return None,
    };
    let (0x18, produced, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, mut resps, rest) = tlv(rest)? else {
        return None;
    };
    let exts = match tlv(rest) {
        Some((0xa1, e, _)) => match tlv(e)? {
            (0x30, e, _) => Some(e),
            _ => return None,
        },
        _ => None,
    };
    let mut singles = Vec::new();
    while let Some((_, s, rest)) = tlv(resps) {
        resps = rest;
        singles.push(parse_single(s)?);
    }
    Some(Basic {
        version,
        responder,
        produced,
        singles,
        exts,
        sig_alg,
        sig: sig.get(1..)?,
        has_certs,
    })
}

fn parse_single(s: &[u8]) -> Option<Single<'_>> {
    let (0x30, idc, id, rest) = elem(s)? else {
        return None;
    };
    let (0x30, alg, r) = tlv(idc)? else {
        return None;
    };
    let (0x06, hash_oid, _) = tlv(alg)? else {
        return None;
    };
    let (0x04, name_hash, r) = tlv(r)? else {
        return None;
    };
    let (0x04, key_hash, r) = tlv(r)? else {
        return None;
    };
    let (0x02, serial, _) = tlv(r)? else {
        return None;
    };
    let (stag, sv, rest) = tlv(rest)?;
    let status = match stag {
        0x80 => Status::Good,
        0xa1 => {
            let (0x18, t, r) = tlv(sv)? else {
                return None;
            };
            let reason = match tlv(r) {
                Some((0xa0, e, _)) => tlv(e).and_then(|(_, v, _)| v.first().copied()),
                _ => None,
            };
            Status::Revoked(t, reason)
        }
        0x82 => Status::Unknown,
        _ => return None,
    };
    let (0x18, this_update, rest) = tlv(rest)? else {
        return None;
    };
    let next_update = match tlv(rest) {
        Some((0xa0, n, _)) => match tlv(n)? {
            (0x18, n, _) => Some(n),
            _ => return None,
        },
        _ => None,
    };
    Some(Single {
        id,
        hash_oid,
        name_hash,
        key_hash,
        serial,
        status,
        this_update,
        next_update,
    })
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the epoch of a GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn epoch(t: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(t).ok()?;
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, se) = (n(8..10)?, n(10..12)?, n(12..14)?);
    // Days from civil (proleptic Gregorian).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se)
}

/// Why a response is not stapled, in HAProxy 2.6's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("Unable to parse OCSP response")]
    Parse,
    #[error("OCSP response status not successful")]
    Status,
    #[error("Failed to get basic response from OCSP Response")]
    Basic,
    #[error("OCSP response ignored because contains multiple single responses ({0})")]
    Multiple(usize),
    #[error("Failed to get OCSP single response")]
    NoSingle,
    #[error("OCSP single response: certificate status is unknown")]
    Unknown,
    #[error("OCSP single response: missing nextupdate")]
    NoNext,
    #[error("OCSP single response: no longer valid")]
    Expired,
    #[error("OCSP single response: Certificate ID does not match certificate and issuer")]
    Mismatch,
    #[error("OCSP single response: Certificate ID does not match any certificate or issuer")]
    NoCert,
}

/// A response HAProxy accepts: the CertID (DER) of its single response, and when it
/// stops being stapled (its nextUpdate less the skew HAProxy allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub id: Vec<u8>,
    pub expire: i64,
}

/// Checks a response as HAProxy does before it takes it. `want`: the CertID it must have
/// (at load time).
pub fn check(der: &[u8], want: Option<&[u8]>, now: i64) -> Result<Checked, OcspError> {
    let r = parse(der).ok_or(OcspError::Parse)?;
    if r.status != 0 {
        return Err(OcspError::Status);
    }
    let b = r.basic.ok_or(OcspError::Basic)?;
    if b.singles.len() > 1 {
        return Err(OcspError::Multiple(b.singles.len()));
    }
    let s = b.singles.first().ok_or(OcspError::NoSingle)?;
    if s.status == Status::Unknown {
        return Err(OcspError::Unknown);
    }
    let next = s.next_update.ok_or(OcspError::NoNext)?;
    let this = epoch(s.this_update).ok_or(OcspError::Expired)?;
    let next = epoch(next).ok_or(OcspError::Expired)?;
    if this > now + SKEW_SECS || next < now - SKEW_SECS {
        return Err(OcspError::Expired);
    }
    if let Some(w) = want
        && w != s.id
    {
        return Err(OcspError::Mismatch);
    }
    Ok(Checked {
        id: s.id.to_vec(),
        expire: next - SKEW_SECS,
    })
}

/// Lowercase hex, as HAProxy prints CertID keys.
pub fn hex_lower(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02X}");
        s
    })
}

/// An INTEGER's magnitude (no sign byte), as OpenSSL prints serials.
fn magnitude(mut i: &[u8]) -> &[u8] {
    while i.len() > 1 && i[0] == 0 {
        i = &i[1..];
    }
    i
}

/// `show ssl ocsp-response`'s block for one CertID key.
pub fn describe_id(id: &[u8], out: &mut String) {
    let _ = writeln!(out, "Certificate ID key : {}", hex_lower(id));
    let parts = (|| {
        let (_, c, _) = tlv(id)?;
        let (_, _, r) = tlv(c)?;
        let (_, nh, r) = tlv(r)?;
        let (_, kh, r) = tlv(r)?;
        let (_, serial, _) = tlv(r)?;
        Some((nh, kh, serial))
    })();
    if let Some((nh, kh, serial)) = parts {
        let _ = write!(
            out,
            " Certificate ID:\n   Issuer Name Hash: {}\n   Issuer Key Hash: {}\n   Serial Number: {}\n",
            hex_upper(nh),
            hex_upper(kh),
            hex_upper(magnitude(serial))
        );
    }
}

/// A GeneralizedTime as OpenSSL prints it (`Dec  3 11:34:02 2026 GMT`).
fn gtime(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(t);
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<usize>().ok());
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14)) {
        (Some(y), Some(m), Some(d), Some(h), Some(mi), Some(se)) if (1..=12).contains(&m) => {
            let gmt = if s.ends_with('Z') { " GMT" } else { "" };
            format!("{} {d:2} {h:02}:{mi:02}:{se:02} {y}{gmt}", MONTHS[m - 1])
        }
        _ => "Bad time value".to_owned(),
    }
}

/// OpenSSL's name of a signature algorithm.
fn sig_name(oid: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
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
        (&[0x2b, 0x65, 0x70], "ED25519"),
    ];
    known
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| crate::runtime::cli::ssl::oid_text(oid))
}

/// OpenSSL's CRL reason names.
fn reason_name(r: u8) -> &'static str {
    match r {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "(UNKNOWN)",
    }
}

/// The text of a response as `show ssl ocsp-response <id>` prints it (OpenSSL's
/// `OCSP_RESPONSE_print`). The certificates a response may carry are not printed (OpenSSL
/// prints each in full); `None` when the response cannot be read.
pub fn print(der: &[u8]) -> Option<String> {
    let r = parse(der)?;
    let mut o = String::new();
    let st = match r.status {
        0 => "successful",
        1 => "malformedrequest",
        2 => "internalerror",
        3 => "trylater",
        5 => "sigrequired",
        6 => "unauthorized",
        _ => "(UNKNOWN)",
    };
    let _ = write!(
        o,
        "OCSP Response Data:\n    OCSP Response Status: {st} (0x{:x})\n",
        r.status
    );
    let Some(b) = r.basic else {
        return Some(o);
    };
    o.push_str("    Response Type: Basic OCSP Response\n");
    let _ = writeln!(o, "    Version: {} (0x{:x})", b.version + 1, b.version);
    o.push_str("    Responder Id: ");
    match b.responder {
        Responder::Name(n) => o.push_str(&crate::runtime::cli::ssl::dn_oneline(n)),
        Responder::Key(k) => o.push_str(&hex_upper(k)),
    }
    let _ = writeln!(o, "\n    Produced At: {}", gtime(b.produced));
    o.push_str("    Responses:\n");
    for s in &b.singles {
        let alg = if s.hash_oid == SHA1_OID {
            "sha1".to_owned()
        } else if s.hash_oid == [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01] {
            "sha256".to_owned()
        } else {
            crate::runtime::cli::ssl::oid_text(s.hash_oid)
        };
        let _ = write!(
            o,
            "    Certificate ID:\n      Hash Algorithm: {alg}\n      Issuer Name Hash: {}\n      \
             Issuer Key Hash: {}\n      Serial Number: {}\n",
            hex_upper(s.name_hash),
            hex_upper(s.key_hash),
            hex_upper(magnitude(s.serial))
        );
        match &s.status {
            Status::Good => o.push_str("    Cert Status: good\n"),
            Status::Unknown => o.push_str("    Cert Status: unknown\n"),
            Status::Revoked(t, reason) => {
                let _ = write!(
                    o,
                    "    Cert Status: revoked\n    Revocation Time: {}\n",
                    gtime(t)
                );
                if let Some(r) = reason {
                    let _ = writeln!(o, "    Revocation Reason: {} (0x{r:x})", reason_name(*r));
                }
            }
        }
        let _ = writeln!(o, "    This Update: {}", gtime(s.this_update));
        if let Some(n) = s.next_update {
            let _ = writeln!(o, "    Next Update: {}", gtime(n));
        }
        o.push_str(" \n");
    }
    if let Some(mut exts) = b.exts {
        o.push_str("    Response Extensions:\n");
        while let Some((_, e, rest)) = tlv(exts) {
            exts = rest;
            let Some((0x06, oid, mut r)) = tlv(e) else {
                continue;
            };
            let mut critical = false;
            if let Some((0x01, c, r2)) = tlv(r) {
                critical = c.first().is_some_and(|b| *b != 0);
                r = r2;
            }
            let Some((0x04, v, _)) = tlv(r) else {
                continue;
            };
            let name = if oid == NONCE_OID {
                "OCSP Nonce".to_owned()
            } else {
                crate::runtime::cli::ssl::oid_text(oid)
            };
            let crit = if critical { " critical" } else { "" };
            let _ = write!(o, "        {name}:{crit} \n            {}\n", hex_upper(v));
        }
    }
    let _ = write!(
        o,
        "    Signature Algorithm: {}\n    Signature Value:",
        sig_name(b.sig_alg)
    );
    for (i, byte) in b.sig.iter().enumerate() {
        if i % 18 == 0 {
            o.push_str("\n        ");
        }
        let _ = write!(o, "{byte:02x}");
        if i + 1 < b.sig.len() {
            o.push(':');
        }
    }
    o.push('\n');
    if b.has_certs {
        // OpenSSL prints each certificate in full (X509_print and PEM); not done here.
        o.push_str("Certificate: (not printed by this proxy)\n");
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_of_generalized_times() {
        assert_eq!(epoch(b"19700101000000Z"), Some(0));
        assert_eq!(epoch(b"20261203113402Z"), Some(1_796_297_642));
        assert_eq!(epoch(b"2026"), None);
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        for g in [
            &[][..],
            &[0x30, 0x03, 0x0a, 0x01, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x05, 0x0a, 0x01, 0x00, 0xa0, 0x00],
        ] {
            assert!(check(g, None, 0).is_err());
            let _ = print(g);
        }
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x01], None, 0),
            Err(OcspError::Status)
        );
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x00], None, 0),
            Err(OcspError::Basic)
        );
        assert_eq!(cert_id(&[0x30, 0x00], &[0x30, 0x00]), None);
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
