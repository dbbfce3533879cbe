//! The OCSP commands of the runtime API, as HAProxy 2.6 answers them: `show ssl
//! ocsp-response [<id>]` (the CertIDs of the responses stapled, or one response in
//! OpenSSL's words) and `set ssl ocsp-response <base64>` (or a base64 payload), which
//! replaces the response of the certificate its CertID names: new handshakes staple it.
//! As in HAProxy 2.6, only certificates loaded with a response (`FILE.ocsp`) take one.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Ctx, Store, files, spare};
use crate::runtime::tls_bind::{Ckch, ocsp};

/// The certificates stapling a response, by CertID (in HAProxy's key order).
fn stapled(ctx: &Ctx) -> BTreeMap<Vec<u8>, Vec<Arc<Ckch>>> {
    let mut out: BTreeMap<Vec<u8>, Vec<Arc<Ckch>>> = BTreeMap::new();
    for s in files(ctx).into_values() {
        let c = match s {
            Store::Used(c) | Store::Spare(Some(c)) => c,
            Store::Spare(None) => continue,
        };
        if c.ck.ocsp.is_some()
            && let Some(id) = c.cert_id()
        {
            out.entry(id).or_default().push(c);
        }
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// `show ssl ocsp-response [<id>]`.
pub fn show(ctx: &Ctx, args: &[&str], out: &mut String) {
    let all = stapled(ctx);
    let Some(id) = args.first() else {
        out.push_str("# Certificate IDs\n");
        for id in all.keys() {
            ocsp::describe_id(id, out);
        }
        out.push('\n');
        return;
    };
    let resp = unhex(id)
        .and_then(|k| all.get(&k).cloned())
        .and_then(|c| c.first().and_then(|c| c.ck.ocsp.clone()));
    match resp.and_then(|r| ocsp::print(&r)) {
        Some(text) => {
            out.push_str(&text);
            out.push('\n');
        }
        None => out.push_str("Certificate ID does not match any certificate.\n\n"),
    }
}

/// `set ssl ocsp-response <base64>` (or `<<` and the base64 as payload).
pub fn set(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let payload = ctx.payload.take();
    let b64: String = match (&payload, args.first()) {
        (Some(p), _) => p.split_whitespace().collect(),
        (None, Some(a)) => (*a).to_owned(),
        (None, None) => {
            out.push_str("'set ssl ocsp-response' expects response in base64 encoding.\n\n");
            return;
        }
    };
    let Some(der) = crate::runtime::sample::conv::base64_decode(b64.as_bytes(), false) else {
        out.push_str("'set ssl ocsp-response' received invalid base64 encoded response.\n\n");
        return;
    };
    let checked = match ocsp::check(&der, None, ocsp::now()) {
        Ok(c) => c,
        Err(e) => {
            out.push_str(&format!("{e}.\n\n"));
            return;
        }
    };
    let Some(certs) = stapled(ctx).remove(&checked.id) else {
        out.push_str(&format!("{}.\n\n", ocsp::OcspError::NoCert));
        return;
    };
    for c in certs {
        let new = Arc::new(c.with_ocsp(der.clone(), checked.expire));
        for b in ctx.rt.bind_tls.values() {
            b.replace_cert(&new);
        }
        if let Some(s) = spare().get_mut(&c.path) {
            *s = Some(new);
        }
    }
    out.push_str("OCSP Response updated!\n\n");
}
