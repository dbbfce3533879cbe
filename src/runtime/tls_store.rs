//! The CA files and CRL files of the TLS settings (`ca-file` and `crl-file` on bind,
//! server and crt-list lines): one copy per path, shared by every user, as HAProxy's
//! "CA file tree". The runtime API (`cli/ssl/cafile.rs`) lists and replaces them: a
//! commit stores the new content here, then the binds rebuild their configurations from
//! it and the servers' verifiers notice the new [`generation`] at their next handshake.
//!
//! A file's content is its certificates and its CRLs, whichever kind of file it is:
//! HAProxy keeps both in one OpenSSL store and accepts either in either payload.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// What a CA or CRL file holds.
#[derive(Debug, Default)]
pub struct Content {
    pub certs: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

/// Why a file or payload could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    #[error("no certificate or CRL found")]
    Empty,
    #[error("invalid CRL: {0}")]
    Crl(webpki::Error),
}

/// The certificates and CRLs of PEM text (a duplicate certificate counts once, as an
/// OpenSSL store keeps it once).
pub fn parse(bytes: &[u8]) -> Result<Content, LoadError> {
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        let c = c?;
        if !certs.contains(&c) {
            certs.push(c);
        }
    }
    let crls =
        CertificateRevocationListDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>()?;
    // The verifiers take only what webpki parses (RFC 5280 v2 CRLs with a next update).
    for c in &crls {
        webpki::BorrowedCertRevocationList::from_der(c.as_ref()).map_err(LoadError::Crl)?;
    }
    if certs.is_empty() && crls.is_empty() {
        return Err(LoadError::Empty);
    }
    Ok(Content { certs, crls })
}

/// A file's content, read from disk.
pub fn load_file(p: &Path) -> Result<Content, LoadError> {
    parse(&std::fs::read(p)?)
}

/// Which tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ca,
    Crl,
}

/// Path → content (`None`: made by `new ssl crl-file`/`ca-file`, nothing committed yet).
type Tree = BTreeMap<String, Option<Arc<Content>>>;

static CA: RwLock<Tree> = RwLock::new(BTreeMap::new());
static CRL: RwLock<Tree> = RwLock::new(BTreeMap::new());

/// Bumped by every commit: the servers' verifiers rebuild when it moved.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Server lines with a client certificate (`crt`) using each file: HAProxy links those
/// (and only those) to the file, which shows as "Used" and gets a dot at a commit.
static SERVER_USERS: RwLock<BTreeMap<(bool, String), usize>> = RwLock::new(BTreeMap::new());

fn tree(kind: Kind) -> &'static RwLock<Tree> {
    match kind {
        Kind::Ca => &CA,
        Kind::Crl => &CRL,
    }
}

pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Every file of a tree, in path order.
pub fn list(kind: Kind) -> Vec<(String, Option<Arc<Content>>)> {
    let t = tree(kind).read().unwrap_or_else(|p| p.into_inner());
    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// One file (`Some(None)`: an empty one made by `new`).
pub fn get(kind: Kind, path: &str) -> Option<Option<Arc<Content>>> {
    tree(kind)
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(path)
        .cloned()
}

/// Stores `content` for `path` (a commit, or `new` with `None`); users see it from now on.
pub fn put(kind: Kind, path: &str, content: Option<Arc<Content>>) {
    tree(kind)
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_owned(), content);
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Forgets a file (`del`).
pub fn remove(kind: Kind, path: &str) -> bool {
    tree(kind)
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(path)
        .is_some()
}

/// The content of a configured file: the stored one (it may have been committed since),
/// else read from disk and stored.
pub fn load(kind: Kind, path: &Path) -> Result<Arc<Content>, String> {
    let key = path.display().to_string();
    if let Some(Some(c)) = get(kind, &key) {
        return Ok(c);
    }
    let content = match kind {
        // A CA "file" may be a directory of PEM files, as HAProxy 2.6 takes it.
        Kind::Ca => Content {
            certs: crate::runtime::tls_client::ca_file_certs(path)
                .map_err(|e| format!("unable to load ca-file '{key}': {e}"))?,
            crls: Vec::new(),
        },
        Kind::Crl => {
            load_file(path).map_err(|e| format!("unable to load crl-file '{key}': {e}"))?
        }
    };
    let c = Arc::new(content);
    tree(kind)
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert_with(|| Some(c.clone()));
    Ok(c)
}

/// Stores the content just read of a configured file, unless one is stored already;
/// returns the stored one.
pub fn insert_loaded(kind: Kind, path: &str, content: Content) -> Arc<Content> {
    let mut t = tree(kind).write().unwrap_or_else(|p| p.into_inner());
    match t.get(path) {
        Some(Some(c)) => c.clone(),
        _ => {
            let c = Arc::new(content);
            t.insert(path.to_owned(), Some(c.clone()));
            c
        }
    }
}

/// Notes a server line with a client certificate verifying against these files.
pub fn note_server_user(ca: Option<&Path>, crl: Option<&Path>) {
    let mut u = SERVER_USERS.write().unwrap_or_else(|p| p.into_inner());
    for (is_ca, p) in [(true, ca), (false, crl)] {
        if let Some(p) = p {
            *u.entry((is_ca, p.display().to_string())).or_default() += 1;
        }
    }
}

/// How many server lines HAProxy would count as users of a file.
pub fn server_users(kind: Kind, path: &str) -> usize {
    SERVER_USERS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(kind == Kind::Ca, path.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// Adds HAProxy's `@system-ca` entry (the system's trusted CAs, which its HTTP client
/// loads) from OpenSSL's default directory, each certificate once. Read
/// when the runtime API first asks, not at start (nothing else uses it).
pub fn system_ca() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let dir = std::env::var_os("SSL_CERT_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/usr/lib/ssl/certs".into());
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut certs: Vec<CertificateDer<'static>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // As HAProxy 2.6 reads it: the `.pem` and `.crt` files in name order, the first
        // certificate of each (the order shows in `show ssl ca-file @system-ca`).
        let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "pem" || x == "crt"))
        {
            let Ok(bytes) = std::fs::read(f) else {
                continue;
            };
            if let Some(Ok(c)) = CertificateDer::pem_slice_iter(&bytes).next()
                && seen.insert(c.as_ref().to_vec())
            {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return;
        }
        CA.write()
            .unwrap_or_else(|p| p.into_inner())
            .entry("@system-ca".into())
            .or_insert_with(|| {
                Some(Arc::new(Content {
                    certs,
                    crls: Vec::new(),
                }))
            });
    });
}

/// The CA certificates of a file as a rustls root store.
pub fn roots(ca: &Path) -> Result<rustls::RootCertStore, String> {
    let content = load(Kind::Ca, ca)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in &content.certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("ca-file '{}': {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("ca-file '{}' holds no certificate", ca.display()));
    }
    Ok(roots)
}

/// The CRLs of a `crl-file` (`None` without one).
pub fn crls(
    crl: Option<&Path>,
) -> Result<Option<Vec<CertificateRevocationListDer<'static>>>, String> {
    let Some(p) = crl else {
        return Ok(None);
    };
    Ok(Some(load(Kind::Crl, p)?.crls.clone()))
}

/// The verifier of client certificates of a bind (or crt-list line): its `ca-file`,
/// with its `crl-file`'s CRLs when it has one; `optional`: a client may send none.
pub fn client_verifier(
    ca: &Path,
    crl: Option<&Path>,
    optional: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let roots = roots(ca)?;
    let crls = crls(crl)?;
    let mut b = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    let no_crl = crls.as_ref().is_some_and(Vec::is_empty);
    if let Some(crls) = crls {
        // OpenSSL refuses a certificate whose CRL is past its next update.
        b = b.with_crls(crls).enforce_revocation_expiration();
    }
    if optional {
        b = b.allow_unauthenticated();
    }
    let v = b.build().map_err(|e| match crl {
        Some(c) => format!(
            "ca-file '{}' / crl-file '{}': {e}",
            ca.display(),
            c.display()
        ),
        None => format!("ca-file '{}': {e}", ca.display()),
    })?;
    if no_crl {
        // A crl-file with no CRL in it: OpenSSL finds no CRL for any issuer and refuses
        // every certificate; rustls would not check revocation at all.
        return Ok(Arc::new(NoCrl(v)));
    }
    Ok(v)
}

/// The verifier of a server's certificate: its `ca-file`, with its `crl-file`'s CRLs.
pub fn server_verifier(
    roots: rustls::RootCertStore,
    crl: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, String> {
    let mut b = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    if let Some(crls) = crls(crl)? {
        b = b.with_crls(crls).enforce_revocation_expiration();
    }
    b.build().map_err(|e| e.to_string())
}

/// Refuses every client certificate after the usual checks (see [`client_verifier`]).
#[derive(Debug)]
struct NoCrl(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for NoCrl {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verify_client_cert(end_entity, intermediates, now)?;
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownRevocationStatus,
        ))
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_without_pem_sections_are_refused() {
        assert!(matches!(parse(b"garbage\n"), Err(LoadError::Empty)));
        assert!(matches!(parse(b""), Err(LoadError::Empty)));
        assert!(parse(b"-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n").is_err());
    }
}
