//! Built-in TLS (rustls, ring): the certificate and key files of
//! `[tls]`, looked at every `tls.reload_secs` and reloaded when either
//! changes, so a renewed certificate is served to new connections without a
//! restart. ALPN offers HTTP/2 and HTTP/1.1. A pair that does not load at
//! start stops the start; a bad pair later is logged and the last good one
//! kept. This module never reads a request.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use berth_core::config::TlsConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate being served; swapped whole on reload.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    for (setting, path) in [("tls.cert_file", cert), ("tls.key_file", key)] {
        if !path.is_file() {
            return Err(format!(
                "{setting} {} does not exist (or is not a file)",
                path.display()
            ));
        }
    }
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls.cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls.cert_file {} holds no certificate",
            cert.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("tls.key_file {}: {e}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("tls.key_file {}: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("tls.cert_file and tls.key_file do not belong together: {e}"))?;
    Ok(certified)
}

fn modified(paths: &[&Path]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Whether the configured certificate and key load and belong together
/// (`berth config check`); Ok when TLS is not configured.
pub fn check(config: &TlsConfig) -> Result<(), String> {
    if let Some(files) = &config.files {
        load(&files.cert_file, &files.key_file)?;
    }
    Ok(())
}

/// The acceptor for `config`, or None when TLS is not configured. Starts
/// the reloading task.
pub fn acceptor(config: &TlsConfig) -> std::io::Result<Option<tokio_rustls::TlsAcceptor>> {
    let Some(files) = &config.files else {
        return Ok(None);
    };
    let (cert, key) = (files.cert_file.clone(), files.key_file.clone());
    let first = load(&cert, &key).map_err(std::io::Error::other)?;
    let resolver = Arc::new(Reloading {
        current: RwLock::new(Arc::new(first)),
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let every = Duration::from_secs(config.reload_secs.max(1));
    tokio::spawn(async move {
        let mut seen = modified(&[&cert, &key]);
        loop {
            tokio::time::sleep(every).await;
            let now = modified(&[&cert, &key]);
            if now == seen {
                continue;
            }
            match load(&cert, &key) {
                Ok(pair) => {
                    if let Ok(mut current) = resolver.current.write() {
                        *current = Arc::new(pair);
                    }
                    seen = now;
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                // Half-written files (a renewal in progress) load on a
                // later look; until then the last good pair is served.
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the last good one")
                }
            }
        }
    });
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
}
