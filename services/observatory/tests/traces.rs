//! Traces as an operations team reads them: the built `observatory` binary, with
//! `log_filter = "warn"`, exports over OTLP to a collector inside this test. One REST call made
//! with a `traceparent` gives the gateway's HTTP span, named after its route, as the parent of
//! the service's RPC span, both in the caller's trace, with the semantic conventions' names and
//! attributes.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener as StdListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, status::StatusCode},
};
use tonic::{Request, Response, Status};

/// The spans received, whatever their resource.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().map_err(|_| Status::internal("poisoned"))?;
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The observatory under test; stopped with SIGTERM when dropped.
struct Observatory(Child);

impl Drop for Observatory {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|attribute: &&KeyValue| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A plain HTTP/1.1 GET, as a browser or curl would send it.
fn http_get(address: SocketAddr, path: &str, traceparent: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the gateway");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\ntraceparent: {traceparent}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rest_call_is_one_trace_from_the_gateway_route_to_the_rpc_even_with_warn_logs() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let otlp = listener.local_addr().expect("address");
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let data = tempfile::tempdir().expect("data dir");
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
    let child = Command::new(env!("CARGO_BIN_EXE_observatory"))
        .arg("serve")
        .arg(format!("--grpc-addr=127.0.0.1:{}", free_port()))
        .arg(format!("--http-addr={http}"))
        .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()))
        .arg(format!("--data-dir={}", data.path().display()))
        .env("OBSERVATORY_LOG_FILTER", "warn")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        // Export each batch at once rather than every five seconds.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start observatory");
    let _observatory = Observatory(child);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let started = Instant::now();
    let answer = loop {
        if TcpStream::connect(http).is_ok() {
            let answer = http_get(http, "/v1/initiatives/great-green-wall", &traceparent);
            if answer.starts_with("HTTP/1.1 200") {
                break answer;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateway never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(answer.contains("Great Green Wall"), "{answer}");

    let ours = |span: &Span| hex(&span.trace_id) == trace_id;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (http_span, rpc_span) = loop {
        let spans: Vec<Span> = collector
            .spans
            .lock()
            .expect("spans")
            .iter()
            .filter(|span| ours(span))
            .cloned()
            .collect();
        let http_span = spans
            .iter()
            .find(|span| span.name == "GET /v1/initiatives/{initiative}")
            .cloned();
        let rpc_span = spans
            .iter()
            .find(|span| span.name == "sse.initiatives.v1.InitiativeService/GetInitiative")
            .cloned();
        if let (Some(http_span), Some(rpc_span)) = (http_span, rpc_span) {
            break (http_span, rpc_span);
        }
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
        assert!(
            Instant::now() < deadline,
            "spans of our trace received so far: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(
        hex(&http_span.parent_span_id),
        caller_span,
        "the gateway continues the caller's trace"
    );
    assert_eq!(
        text(&http_span, "http.route").as_deref(),
        Some("/v1/initiatives/{initiative}")
    );
    assert_eq!(text(&http_span, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(text(&http_span, "http.request.method").as_deref(), Some("GET"));

    assert_eq!(
        rpc_span.parent_span_id, http_span.span_id,
        "the service's RPC span is a child of the gateway's HTTP span"
    );
    assert_eq!(text(&rpc_span, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        text(&rpc_span, "rpc.service").as_deref(),
        Some("sse.initiatives.v1.InitiativeService")
    );
    assert_eq!(text(&rpc_span, "rpc.method").as_deref(), Some("GetInitiative"));
    assert_eq!(text(&rpc_span, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_ne!(
        rpc_span.status.as_ref().map(|status| status.code),
        Some(StatusCode::Error as i32)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
