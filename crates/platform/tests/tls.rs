//! TLS and mutual TLS on the gRPC and HTTP listeners, over real sockets with certificates made
//! for each test: a client without a certificate, or with one from another CA, is refused; one
//! signed by the configured CA gets through; settings that cannot work fail at start, naming
//! the setting.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::ConnectInfo, routing::get};
use sse_platform::{
    access::{Policy, guard::Access},
    calls,
    config::Settings,
    server::GrpcServer,
    shutdown::{Shutdown, ShutdownTrigger},
    tls::{self, ClientTls, ServerTls},
};
use sse_testkit::tls::{CertificateFiles, TestCa};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    },
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// The certificates of one test: the CA the server trusts for clients (which also signed the
/// server's certificate), a client it signed, and a client signed by a CA the server does not
/// know.
struct Pki {
    ca: TestCa,
    server: CertificateFiles,
    client: CertificateFiles,
    _stranger_ca: TestCa,
    stranger: CertificateFiles,
}

impl Pki {
    fn new() -> Pki {
        let ca = TestCa::new("observatory").expect("CA");
        let server = ca.server("server").expect("server certificate");
        let client = ca.client("gateway").expect("client certificate");
        let stranger_ca = TestCa::new("stranger").expect("another CA");
        let stranger = stranger_ca.client("intruder").expect("a client of the other CA");
        Pki {
            ca,
            server,
            client,
            _stranger_ca: stranger_ca,
            stranger,
        }
    }

    /// Server settings: this certificate, client certificates required.
    fn server_settings(&self) -> Settings {
        Settings {
            tls_cert_file: Some(self.server.cert.clone()),
            tls_key_file: Some(self.server.key.clone()),
            tls_client_ca_file: Some(self.ca.cert_file()),
            ..Settings::default()
        }
    }

    fn server_tls(&self) -> ServerTls {
        ServerTls::from_settings(&self.server_settings())
            .expect("valid settings")
            .expect("TLS on")
    }

    /// Client settings trusting the CA, presenting `identity` if any.
    fn client_tls(&self, identity: Option<&CertificateFiles>) -> ClientTls {
        ClientTls::from_settings(&Settings {
            tls_ca_file: Some(self.ca.cert_file()),
            tls_client_cert_file: identity.map(|files| files.cert.clone()),
            tls_client_key_file: identity.map(|files| files.key.clone()),
            ..Settings::default()
        })
        .expect("valid client settings")
    }
}

struct Running {
    port: u16,
    trigger: ShutdownTrigger,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.trigger.trigger();
        self.handle.await.expect("task").expect("server stops cleanly");
    }
}

async fn start_grpc(tls: ServerTls) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (trigger, shutdown) = Shutdown::new();
    let access = Access::without_store(Policy::with_admin_key(None));
    let server = GrpcServer::new(access, Duration::from_millis(200)).with_tls(Some(tls));
    let handle = tokio::spawn(server.serve(listener, shutdown));
    Running { port, trigger, handle }
}

async fn start_http(tls: ServerTls) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (trigger, shutdown) = Shutdown::new();
    // The handler names the peer, as the gateway's rate-limit plumbing needs it over TLS too.
    let router = axum::Router::new().route(
        "/hello",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("hello over TLS, {}", peer.ip()) }),
    );
    let handle = tokio::spawn(async move {
        sse_platform::http::serve(listener, router, shutdown, Duration::from_millis(200), Some(&tls)).await
    });
    Running { port, trigger, handle }
}

fn channel(port: u16, tls: &ClientTls) -> Channel {
    calls::lazy_channel(&format!("https://localhost:{port}"), tls).expect("channel")
}

async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }),
    )
    .await
    .map_err(|_| tonic::Status::deadline_exceeded("no answer"))??;
    Ok(response.into_inner().status)
}

#[tokio::test]
async fn grpc_refuses_clients_without_a_certificate_of_the_configured_ca() {
    let pki = Pki::new();
    let server = start_grpc(pki.server_tls()).await;

    let anonymous = health(channel(server.port, &pki.client_tls(None))).await;
    assert!(anonymous.is_err(), "a client without a certificate got {anonymous:?}");

    let stranger = health(channel(server.port, &pki.client_tls(Some(&pki.stranger)))).await;
    assert!(stranger.is_err(), "a client of another CA got {stranger:?}");

    let plain =
        calls::lazy_channel(&format!("http://localhost:{}", server.port), &ClientTls::default()).expect("channel");
    assert!(health(plain).await.is_err(), "a plain-text client got through");

    // The refusals stopped nobody else: a client with a good certificate gets through.
    let status = health(channel(server.port, &pki.client_tls(Some(&pki.client))))
        .await
        .expect("a client of the CA is served");
    assert_eq!(status, ServingStatus::Serving as i32);
    server.stop().await;
}

#[tokio::test]
async fn grpc_serves_a_client_with_a_certificate_of_the_configured_ca() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let pki = Pki::new();
    let server = start_grpc(pki.server_tls()).await;
    let channel = channel(server.port, &pki.client_tls(Some(&pki.client)));

    let status = health(channel.clone()).await.expect("health");
    assert_eq!(status, ServingStatus::Serving as i32);

    // A streaming call on the same connection.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("a response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    assert!(
        list.service
            .iter()
            .any(|service| service.name == "grpc.health.v1.Health")
    );
    server.stop().await;
}

#[tokio::test]
async fn grpc_without_a_client_ca_serves_tls_to_anyone() {
    let pki = Pki::new();
    let settings = Settings {
        tls_client_ca_file: None,
        ..pki.server_settings()
    };
    let tls = ServerTls::from_settings(&settings).expect("valid").expect("TLS on");
    assert!(!tls.requires_client_certificates());
    let server = start_grpc(tls).await;
    let status = health(channel(server.port, &pki.client_tls(None)))
        .await
        .expect("served without a client certificate");
    assert_eq!(status, ServingStatus::Serving as i32);
    server.stop().await;
}

#[tokio::test]
async fn the_guard_sees_the_peer_address_of_a_tls_client() {
    use sse_proto::access::{ListApiKeysRequest, access_service_client::AccessServiceClient};
    // No trusted proxy, one call a second: a caller without a key is limited by its own address,
    // whatever `x-forwarded-for` it sends. Over TLS too: a guard that could not see the address
    // there would take the call for one made in process and believe the header, giving each call
    // a bucket of its own.
    let mut policy = Policy::with_admin_key(None);
    policy.trusted_proxies = Vec::new();
    policy.rate_limit_per_second = 1;
    policy.rate_limit_burst = 1;
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (trigger, shutdown) = Shutdown::new();
    let server =
        GrpcServer::new(Access::without_store(policy), Duration::from_millis(200)).with_tls(Some(pki.server_tls()));
    let handle = tokio::spawn(server.serve(listener, shutdown));
    let mut client = AccessServiceClient::new(channel(port, &pki.client_tls(Some(&pki.client))));
    let mut codes = Vec::new();
    for claimed in ["198.51.100.1", "198.51.100.2"] {
        let mut request = tonic::Request::new(ListApiKeysRequest::default());
        request
            .metadata_mut()
            .insert("x-forwarded-for", claimed.parse().expect("metadata"));
        codes.push(client.list_api_keys(request).await.expect_err("no key").code());
    }
    assert_eq!(codes, [tonic::Code::Unauthenticated, tonic::Code::ResourceExhausted]);
    Running { port, trigger, handle }.stop().await;
}

/// Sends `GET /hello` over TLS with `identity` (if any); the response's text, or why there is
/// none.
async fn get_hello(pki: &Pki, port: u16, identity: Option<&CertificateFiles>) -> Result<String, String> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(pki.ca.cert_file()).expect("CA file") {
        roots.add(certificate.expect("CA")).expect("a usable CA");
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some(files) => {
            let chain = CertificateDer::pem_file_iter(&files.cert)
                .expect("certificate file")
                .collect::<Result<Vec<_>, _>>()
                .expect("certificates");
            let key = PrivateKeyDer::from_pem_file(&files.key).expect("key");
            builder.with_client_auth_cert(chain, key).expect("client identity")
        }
        None => builder.with_no_client_auth(),
    };
    let connector = TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|error| error.to_string())?;
        let server_name = ServerName::try_from("localhost").map_err(|error| error.to_string())?;
        let mut stream = connector
            .connect(server_name, tcp)
            .await
            .map_err(|error| format!("handshake: {error}"))?;
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|error| format!("write: {error}"))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .map_err(|error| format!("read: {error}"))?;
        Ok(response)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer".to_owned())?
}

#[tokio::test]
async fn http_refuses_clients_without_a_certificate_of_the_configured_ca_and_serves_the_others() {
    let pki = Pki::new();
    let server = start_http(pki.server_tls()).await;

    // A client that connects and never says anything holds no one up.
    let silent = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");

    let anonymous = get_hello(&pki, server.port, None).await;
    assert!(
        !anonymous
            .as_deref()
            .is_ok_and(|response| response.starts_with("HTTP/1.1 200")),
        "a client without a certificate got {anonymous:?}"
    );
    let stranger = get_hello(&pki, server.port, Some(&pki.stranger)).await;
    assert!(
        !stranger
            .as_deref()
            .is_ok_and(|response| response.starts_with("HTTP/1.1 200")),
        "a client of another CA got {stranger:?}"
    );

    let response = get_hello(&pki, server.port, Some(&pki.client))
        .await
        .expect("a client of the CA is served");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("hello over TLS, 127.0.0.1"), "{response}");

    drop(silent);
    server.stop().await;
}

fn setting_error(settings: &Settings) -> tls::TlsSettingError {
    match tls::check(settings) {
        Ok(_) => panic!("the settings were accepted"),
        Err(error) => error,
    }
}

#[test]
fn settings_that_cannot_work_fail_naming_the_setting() {
    let pki = Pki::new();
    let server = pki.server_settings();

    let key_only = Settings {
        tls_cert_file: None,
        tls_client_ca_file: None,
        ..server.clone()
    };
    assert_eq!(setting_error(&key_only).setting, "tls_cert_file");

    let cert_only = Settings {
        tls_key_file: None,
        ..server.clone()
    };
    assert_eq!(setting_error(&cert_only).setting, "tls_key_file");

    let client_ca_only = Settings {
        tls_client_ca_file: Some(pki.ca.cert_file()),
        ..Settings::default()
    };
    let error = setting_error(&client_ca_only);
    assert_eq!(error.setting, "tls_client_ca_file");
    assert!(error.to_string().contains("tls_cert_file"), "{error}");

    let missing = pki.ca.folder().join("nowhere.crt");
    let unreadable = Settings {
        tls_cert_file: Some(missing.clone()),
        ..server.clone()
    };
    let error = setting_error(&unreadable);
    assert_eq!(error.setting, "tls_cert_file");
    assert!(error.to_string().contains(&missing.display().to_string()), "{error}");

    let wrong_key = Settings {
        tls_key_file: Some(pki.client.key.clone()),
        ..server.clone()
    };
    assert_eq!(setting_error(&wrong_key).setting, "tls_key_file");

    let not_a_certificate = Settings {
        tls_client_ca_file: Some(pki.server.key.clone()),
        ..server.clone()
    };
    assert_eq!(setting_error(&not_a_certificate).setting, "tls_client_ca_file");

    let client_cert_only = Settings {
        tls_client_cert_file: Some(pki.client.cert.clone()),
        ..Settings::default()
    };
    assert_eq!(setting_error(&client_cert_only).setting, "tls_client_key_file");

    let client_key_only = Settings {
        tls_client_key_file: Some(pki.client.key.clone()),
        ..Settings::default()
    };
    assert_eq!(setting_error(&client_key_only).setting, "tls_client_cert_file");

    let unreadable_ca = Settings {
        tls_ca_file: Some(missing),
        ..Settings::default()
    };
    assert_eq!(setting_error(&unreadable_ca).setting, "tls_ca_file");

    let empty_means_off = Settings {
        tls_cert_file: Some("".into()),
        tls_key_file: Some("".into()),
        ..Settings::default()
    };
    assert!(tls::check(&empty_means_off).expect("valid").is_none());
    assert!(tls::check(&server).expect("valid").is_some());
}
