//! Redis's `tls-*` settings as one rustls `ServerConfig`: built at start-up
//! when `tls-port` is set, shared by every core, and replaced as a whole
//! when CONFIG SET changes a setting (connections made before keep theirs).
//! The connections' side is `net::tls` (docs/security.md).

use super::TlsSettings;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, RwLock};

/// The configuration new TLS connections get (`None`: TLS not set up).
static CURRENT: RwLock<Option<Arc<ServerConfig>>> = RwLock::new(None);

/// The configuration for a connection accepted now.
pub fn current() -> Option<Arc<ServerConfig>> {
    CURRENT.read().ok().and_then(|c| c.clone())
}

/// Builds the configuration `settings` describe and makes it the one new
/// connections get. On error nothing changes.
pub fn install(settings: &TlsSettings) -> Result<(), String> {
    let config = server_config(settings)?;
    if let Ok(mut current) = CURRENT.write() {
        *current = Some(config);
    }
    Ok(())
}

/// Redis's error when the `tls-*` settings given cannot be used.
pub const UPDATE_FAILED: &str = "Unable to update TLS configuration. Check server logs.";

/// The TLS 1.3 and TLS 1.2 suites rustls offers, by OpenSSL's names (the
/// ones `tls-ciphersuites` and `tls-ciphers` take).
const SUITE_NAMES: &[(&str, &str)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The rustls configuration of `settings`; the error says what is wrong
/// (Redis logs it and answers `UPDATE_FAILED`).
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    if s.cert_file.is_empty() || s.key_file.is_empty() {
        return Err("tls-cert-file and tls-key-file must both be set".into());
    }
    let certs = CertificateDer::pem_file_iter(&s.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read tls-cert-file {}: {e}", s.cert_file))?;
    if certs.is_empty() {
        return Err(format!("no certificate in tls-cert-file {}", s.cert_file));
    }
    let key = PrivateKeyDer::from_pem_file(&s.key_file)
        .map_err(|e| format!("cannot read tls-key-file {}: {e}", s.key_file))?;
    let provider = Arc::new(provider(s)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocols(&s.protocols)?)
        .map_err(|e| format!("TLS protocols: {e}"))?;
    let builder = match s.auth_clients.as_str() {
        "no" => builder.with_no_client_auth(),
        optional => {
            let roots = Arc::new(roots(s)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match optional {
                "optional" => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file and tls-key-file: {e}"))?;
    Ok(Arc::new(config))
}

/// The CA certificates clients' certificates are checked against.
fn roots(s: &TlsSettings) -> Result<RootCertStore, String> {
    let mut files = Vec::new();
    if !s.ca_cert_file.is_empty() {
        files.push(std::path::PathBuf::from(&s.ca_cert_file));
    }
    if !s.ca_cert_dir.is_empty() {
        let dir = std::fs::read_dir(&s.ca_cert_dir)
            .map_err(|e| format!("cannot read tls-ca-cert-dir {}: {e}", s.ca_cert_dir))?;
        files.extend(
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    if files.is_empty() {
        // Redis's words.
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let mut roots = RootCertStore::empty();
    for file in &files {
        let certs = CertificateDer::pem_file_iter(file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read CA certificates {}: {e}", file.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate in {}: {e}", file.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate in tls-ca-cert-file or tls-ca-cert-dir".into());
    }
    Ok(roots)
}

/// `tls-protocols`: the versions named (rustls has TLS 1.2 and 1.3 only;
/// TLSv1 and TLSv1.1, which Redis may allow, are refused).
fn protocols(names: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    if names.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    names
        .split_whitespace()
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "tlsv1.3" => Ok(&rustls::version::TLS13),
            "tlsv1.2" => Ok(&rustls::version::TLS12),
            _ => Err(format!(
                "tls-protocols: {name} is not supported (TLSv1.2, TLSv1.3)"
            )),
        })
        .collect()
}

/// ring's provider, with its suites narrowed to `tls-ciphersuites` (TLS
/// 1.3) and `tls-ciphers` (TLS 1.2) when they are given.
fn provider(s: &TlsSettings) -> Result<CryptoProvider, String> {
    // Deprecated since rustls 0.23.48 for lacking post-quantum key exchange,
    // which only the aws-lc-rs provider has; that one needs cmake and a C
    // toolchain's build at install time, ring builds from the registry
    // alone. Redis 7.0 with OpenSSL 3.0 offers no post-quantum exchange
    // either.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let wanted = |list: &str, setting: &str| -> Result<Option<Vec<&'static str>>, String> {
        if list.trim().is_empty() {
            return Ok(None);
        }
        let names = list
            .split([':', ' ', ','])
            .filter(|n| !n.is_empty())
            .map(|n| {
                SUITE_NAMES
                    .iter()
                    .find(|(openssl, _)| openssl.eq_ignore_ascii_case(n))
                    .map(|(_, rustls)| *rustls)
                    .ok_or_else(|| format!("{setting}: unknown or unsupported suite {n}"))
            });
        names.collect::<Result<Vec<_>, _>>().map(Some)
    };
    let tls13 = wanted(&s.ciphersuites, "tls-ciphersuites")?;
    let tls12 = wanted(&s.ciphers, "tls-ciphers")?;
    provider.cipher_suites.retain(|suite| {
        let name = format!("{:?}", suite.suite());
        let allowed = match suite.version() == &rustls::version::TLS13 {
            true => &tls13,
            false => &tls12,
        };
        allowed
            .as_ref()
            .is_none_or(|names| names.contains(&name.as_str()))
    });
    if provider.cipher_suites.is_empty() {
        return Err("no cipher suite left by tls-ciphersuites and tls-ciphers".into());
    }
    Ok(provider)
}
