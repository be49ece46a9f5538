//! TLS and mutual TLS from the `tls_*` settings: the certificate the gRPC and HTTP listeners
//! present and the CA their clients must be signed by, and what this process trusts and presents
//! when it calls another service at an `https://` URL. rustls with the ring provider, the one
//! sqlx already brings (tonic's `tls-ring` is the same), so the graph holds one of each.
//!
//! Files are read and checked when the process starts: a key without its certificate, a client
//! CA without a server certificate, an unreadable file or a key that does not match its
//! certificate stop the process with the name of the setting, rather than failing the first
//! connection.

use std::{
    fmt, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, RootCertStore, ServerConfig,
        crypto::CryptoProvider,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
        sign::{CertifiedKey, SingleCertAndKey},
    },
    server::TlsStream,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::Settings;

/// How long a client has to finish the TLS handshake; one that stays silent is dropped rather
/// than holding a task forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A `tls_*` setting that cannot be used, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {message}")]
pub struct TlsSettingError {
    pub setting: &'static str,
    pub message: String,
}

impl TlsSettingError {
    fn new(setting: &'static str, message: impl Into<String>) -> Self {
        TlsSettingError {
            setting,
            message: message.into(),
        }
    }
}

/// The path a file setting holds, `None` when it is unset or empty (an empty environment
/// variable or ConfigMap value turns the setting off, as for the `*_url` settings).
pub fn configured(setting: &Option<PathBuf>) -> Option<&Path> {
    setting.as_deref().filter(|path| !path.as_os_str().is_empty())
}

/// The crypto provider of every TLS connection the observatory makes or accepts.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's default provider, which tonic's TLS uses. With only ring compiled
/// in rustls would pick it anyway; installing it says so, and a second call is harmless.
fn install_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// The listeners' side: the server certificate and, for mutual TLS, the client CA.
#[derive(Clone)]
pub struct ServerTls {
    identity: Identity,
    client_ca: Option<Certificate>,
    http: Arc<ServerConfig>,
}

impl ServerTls {
    /// The server TLS the settings ask for, `None` when `tls_cert_file` is unset.
    pub fn from_settings(settings: &Settings) -> Result<Option<ServerTls>, TlsSettingError> {
        let cert_file = configured(&settings.tls_cert_file);
        let key_file = configured(&settings.tls_key_file);
        let client_ca_file = configured(&settings.tls_client_ca_file);
        let (cert_file, key_file) = match (cert_file, key_file) {
            (Some(cert_file), Some(key_file)) => (cert_file, key_file),
            (None, None) => {
                return match client_ca_file {
                    Some(_) => Err(TlsSettingError::new(
                        "tls_client_ca_file",
                        "is set but tls_cert_file is not: client certificates are asked for in a TLS \
                         handshake, which needs a server certificate",
                    )),
                    None => Ok(None),
                };
            }
            (Some(_), None) => return Err(TlsSettingError::new("tls_key_file", "is needed with tls_cert_file")),
            (None, Some(_)) => return Err(TlsSettingError::new("tls_cert_file", "is needed with tls_key_file")),
        };
        install_provider();
        let provider = provider();
        let (cert_pem, chain) = read_certificates("tls_cert_file", cert_file)?;
        let (key_pem, key) = read_key("tls_key_file", key_file)?;
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|error| {
            TlsSettingError::new(
                "tls_key_file",
                format!(
                    "{} is not the key of {}: {error}",
                    key_file.display(),
                    cert_file.display()
                ),
            )
        })?;

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsSettingError::new("tls_cert_file", error.to_string()))?;
        let (builder, client_ca) = match client_ca_file {
            None => (builder.with_no_client_auth(), None),
            Some(client_ca_file) => {
                let (ca_pem, roots) = read_roots("tls_client_ca_file", client_ca_file)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|error| TlsSettingError::new("tls_client_ca_file", error.to_string()))?;
                (
                    builder.with_client_cert_verifier(verifier),
                    Some(Certificate::from_pem(ca_pem)),
                )
            }
        };
        let mut http = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        // The gateway's HTTP is HTTP/1.1 (axum is built without HTTP/2).
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(ServerTls {
            identity: Identity::from_pem(cert_pem, key_pem),
            client_ca,
            http: Arc::new(http),
        }))
    }

    /// Whether clients must present a certificate signed by `tls_client_ca_file`.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca.is_some()
    }

    /// The configuration of the gRPC listener.
    pub fn grpc_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(self.identity.clone())
            .timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca {
            Some(client_ca) => config.client_ca_root(client_ca.clone()),
            None => config,
        }
    }

    /// Accepts TLS on `listener`, for `axum::serve`.
    pub fn http_listener(&self, listener: TcpListener) -> TlsListener {
        TlsListener {
            tcp: listener,
            acceptor: TlsAcceptor::from(self.http.clone()),
            handshakes: JoinSet::new(),
        }
    }
}

/// The clients' side: what `https://` service URLs are checked against, and the certificate
/// presented to them.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Certificate>,
    identity: Option<Identity>,
}

impl ClientTls {
    pub fn from_settings(settings: &Settings) -> Result<ClientTls, TlsSettingError> {
        let ca = match configured(&settings.tls_ca_file) {
            Some(ca_file) => Some(Certificate::from_pem(read_roots("tls_ca_file", ca_file)?.0)),
            None => None,
        };
        let cert_file = configured(&settings.tls_client_cert_file);
        let key_file = configured(&settings.tls_client_key_file);
        let identity = match (cert_file, key_file) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(TlsSettingError::new(
                    "tls_client_key_file",
                    "is needed with tls_client_cert_file",
                ));
            }
            (None, Some(_)) => {
                return Err(TlsSettingError::new(
                    "tls_client_cert_file",
                    "is needed with tls_client_key_file",
                ));
            }
            (Some(cert_file), Some(key_file)) => {
                let (cert_pem, chain) = read_certificates("tls_client_cert_file", cert_file)?;
                let (key_pem, key) = read_key("tls_client_key_file", key_file)?;
                CertifiedKey::from_der(chain, key, &provider()).map_err(|error| {
                    TlsSettingError::new(
                        "tls_client_key_file",
                        format!(
                            "{} is not the key of {}: {error}",
                            key_file.display(),
                            cert_file.display()
                        ),
                    )
                })?;
                Some(Identity::from_pem(cert_pem, key_pem))
            }
        };
        install_provider();
        Ok(ClientTls { ca, identity })
    }

    /// The configuration of a channel to an `https://` URL.
    pub fn config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().timeout(HANDSHAKE_TIMEOUT);
        let config = match &self.ca {
            Some(ca) => config.ca_certificate(ca.clone()),
            None => config.with_webpki_roots(),
        };
        match &self.identity {
            Some(identity) => config.identity(identity.clone()),
            None => config,
        }
    }
}

/// Checks every `tls_*` setting; what `serve`, `migrate`… do first, so that a setting that
/// cannot work stops the process before it does anything else.
pub fn check(settings: &Settings) -> Result<Option<ServerTls>, TlsSettingError> {
    ClientTls::from_settings(settings)?;
    ServerTls::from_settings(settings)
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsSettingError> {
    std::fs::read(path)
        .map_err(|error| TlsSettingError::new(setting, format!("cannot read {}: {error}", path.display())))
}

fn read_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), TlsSettingError> {
    let pem = read(setting, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsSettingError::new(setting, format!("{} is not PEM: {error}", path.display())))?;
    if certificates.is_empty() {
        return Err(TlsSettingError::new(
            setting,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok((pem, certificates))
}

fn read_key(setting: &'static str, path: &Path) -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsSettingError> {
    let pem = read(setting, path)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        TlsSettingError::new(setting, format!("{} holds no PEM private key: {error}", path.display()))
    })?;
    Ok((pem, key))
}

fn read_roots(setting: &'static str, path: &Path) -> Result<(Vec<u8>, RootCertStore), TlsSettingError> {
    let (pem, certificates) = read_certificates(setting, path)?;
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|error| {
            TlsSettingError::new(
                setting,
                format!("{} holds an unusable CA certificate: {error}", path.display()),
            )
        })?;
    }
    Ok((pem, roots))
}

/// A TCP listener that hands `axum::serve` only connections whose TLS handshake succeeded.
/// Handshakes run in tasks of their own, each bounded by [`HANDSHAKE_TIMEOUT`], so a slow or
/// silent client delays no one else; a failed one is logged at debug level and dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        // TCP_NODELAY, as on the plain listeners: a response in several writes must not wait
        // for the client's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => Some((stream, peer)),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    None
                }
                Err(_elapsed) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel-safe, as `axum::serve` needs (it drops this future on shutdown): both
    // `TcpListener::accept` and `JoinSet::join_next` are, and a handshake started is kept in the
    // set.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => self.start_handshake(stream, peer),
                    Err(error) => accept_failed(error).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// What `axum::serve` does when accepting fails: a connection reset before it was accepted is
/// nothing; anything else (out of file descriptors…) is logged, then accepting pauses a second
/// rather than spinning.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept an HTTP connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
