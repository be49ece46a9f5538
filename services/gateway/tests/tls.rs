//! The gateway in front of services that serve mutual TLS: with `https://` URLs, the CA and a
//! client certificate it reaches them; without the certificate the service refuses it, and the
//! gateway answers 503 rather than data.

use std::time::Duration;

use axum::body::Body;
use sse_platform::{
    config::Settings,
    module::{ModuleContext, ServiceModule},
    shutdown::Shutdown,
    tls::ServerTls,
};
use sse_testkit::{
    Backend, TestDatabase,
    tls::{CertificateFiles, TestCa},
};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The gateway's routes, with its service URLs at `port` over https and `identity` presented.
/// (The gateway keeps no data; `database` only fills the context.)
fn gateway(database: &TestDatabase, port: u16, ca: &TestCa, identity: Option<&CertificateFiles>) -> axum::Router {
    let url = format!("https://127.0.0.1:{port}");
    let settings = Settings {
        initiatives_url: url.clone(),
        indicators_url: url.clone(),
        law_guide_url: url,
        tls_ca_file: Some(ca.cert_file()),
        tls_client_cert_file: identity.map(|files| files.cert.clone()),
        tls_client_key_file: identity.map(|files| files.key.clone()),
        ..Settings::default()
    };
    let context = ModuleContext {
        db: database.connection.clone(),
        settings,
        local_services: None,
    };
    sse_gateway::Module
        .http_routes(&context)
        .expect("gateway routes")
        .expect("the gateway serves HTTP")
}

async fn get(router: &axum::Router, path: &str) -> (u16, String) {
    let request = http::Request::get(path).body(Body::empty()).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(20), router.clone().oneshot(request))
        .await
        .expect("an answer in time")
        .expect("infallible");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 22).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_gateway_reaches_services_that_require_client_certificates() {
    let ca = TestCa::new("observatory").expect("CA");
    let server_files = ca.server("initiatives").expect("server certificate");
    let gateway_files = ca.client("gateway").expect("client certificate");

    let database = TestDatabase::new(Backend::Sqlite).await.expect("database");
    let module = sse_initiatives::Module;
    module.migrate(&database.connection).await.expect("migrate");
    let seeded = module.seed(&database.connection).await.expect("seed");
    assert!(seeded > 0);
    let server_tls = ServerTls::from_settings(&Settings {
        tls_cert_file: Some(server_files.cert.clone()),
        tls_key_file: Some(server_files.key.clone()),
        tls_client_ca_file: Some(ca.cert_file()),
        ..Settings::default()
    })
    .expect("valid settings")
    .expect("TLS on");
    let server = sse_testkit::grpc_server_with(&module, &database)
        .expect("server")
        .with_tls(Some(server_tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (trigger, shutdown) = Shutdown::new();
    let serving = tokio::spawn(server.serve(listener, shutdown));

    let (status, body) = get(
        &gateway(&database, port, &ca, Some(&gateway_files)),
        "/v1/initiatives?page_size=2",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let initiatives = json["initiatives"].as_array().expect("a list of initiatives");
    assert_eq!(initiatives.len(), 2, "{body}");

    // Without a client certificate the service refuses the connection: no data, a 503.
    let (status, body) = get(&gateway(&database, port, &ca, None), "/v1/initiatives?page_size=2").await;
    assert_eq!(status, 503, "{body}");

    trigger.trigger();
    serving.await.expect("task").expect("server stops cleanly");
}
