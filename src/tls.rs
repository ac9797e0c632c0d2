//! TLS for radgate's HTTP listeners (the guest portal, the API) and for
//! RadSec (with client certificates): a certificate chain and its key from PEM files, TLS
//! 1.2 and 1.3 only (rustls, ring), and a bound on how long a handshake may
//! take so that a slow or silent client cannot hold a connection slot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// A client that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's TLS as configured: the files (what the configuration
/// says, compared by) and the server side loaded from them at start.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub config: Arc<ServerConfig>,
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.cert == other.cert && self.key == other.key
    }
}

impl Eq for Tls {}

impl Tls {
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Which setting a problem belongs to, for the message that names it.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Cert(String),
    Key(String),
    /// The client CA file (RadSec's `client_ca`).
    Ca(String),
}

/// The server side of TLS from `cert` (PEM: the certificate, then any
/// intermediates) and `key` (PEM: PKCS#8, PKCS#1 or SEC1), offering
/// HTTP/1.1 by ALPN. Errors say what is wrong with which file.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Problem> {
    let (chain, private) = read_identity(cert, key)?;
    let mut config = builder()?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(cert, key, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// RadSec's server side (RFC 6614): the certificate and key as for
/// [`server_config`], and client certificates required, verified against
/// the CA certificates in `client_ca` (PEM, one or more). No ALPN.
pub fn radsec_server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<Arc<ServerConfig>, Problem> {
    let (chain, private) = read_identity(cert, key)?;
    let ca_pem = std::fs::read(client_ca)
        .map_err(|e| Problem::Ca(format!("cannot read {}: {e}", client_ca.display())))?;
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&ca_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            Problem::Ca(format!(
                "{} is not PEM certificates: {e}",
                client_ca.display()
            ))
        })?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca).map_err(|e| {
            Problem::Ca(format!(
                "{} holds a certificate that is not a usable CA: {e}",
                client_ca.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Problem::Ca(format!(
            "{} holds no certificate (PEM \"-----BEGIN CERTIFICATE-----\"): the CA that signed the \
             clients' certificates",
            client_ca.display()
        )));
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Problem::Ca(format!("{}: {e}", client_ca.display())))?;
    let config = builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(cert, key, e))?;
    Ok(Arc::new(config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2 only, ring.
fn builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, Problem> {
    ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Problem::Cert(e.to_string()))
}

fn mismatch(cert: &Path, key: &Path, e: rustls::Error) -> Problem {
    Problem::Key(format!(
        "{} does not go with the certificate in {}: {e}",
        key.display(),
        cert.display()
    ))
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The certificate chain and private key from their PEM files.
fn read_identity(cert: &Path, key: &Path) -> Result<Identity, Problem> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let cert_pem = read(cert).map_err(Problem::Cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Problem::Cert(format!("{} is not PEM certificates: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(Problem::Cert(format!(
            "{} holds no certificate (PEM \"-----BEGIN CERTIFICATE-----\")",
            cert.display()
        )));
    }
    let key_pem = read(key).map_err(Problem::Key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Problem::Key(format!(
            "{} holds no private key in PEM (PKCS#8, RSA or EC): {e}",
            key.display()
        ))
    })?;
    Ok((chain, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        assert!(
            matches!(server_config(&cert, &key), Err(Problem::Cert(m)) if m.contains("cannot read"))
        );
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(
            matches!(server_config(&cert, &key), Err(Problem::Cert(m)) if m.contains("holds no certificate"))
        );
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, "junk").unwrap();
        assert!(
            matches!(server_config(&cert, &key), Err(Problem::Key(m)) if m.contains("no private key"))
        );
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        assert!(
            matches!(server_config(&cert, &key), Err(Problem::Key(m)) if m.contains("does not go with"))
        );
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        assert!(server_config(&cert, &key).is_ok());
    }
}
