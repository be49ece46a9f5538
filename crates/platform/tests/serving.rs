//! What every service gets from `GrpcServer`, proved over real gRPC: health reporting, both
//! reflection versions, and a shutdown that reports NOT_SERVING, then drains within the grace.

use std::time::{Duration, Instant};

use sse_platform::{server::GrpcServer, shutdown::Shutdown};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

async fn start(
    grace: Duration,
) -> (
    Channel,
    sse_platform::shutdown::ShutdownTrigger,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (trigger, shutdown) = Shutdown::new();
    let access = sse_platform::access::guard::Access::without_store(sse_platform::access::Policy::with_admin_key(None));
    let server = GrpcServer::new(access, grace);
    let handle = tokio::spawn(server.serve(listener, shutdown));
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    (channel, trigger, handle)
}

#[tokio::test]
async fn health_reports_serving_then_not_serving_on_shutdown_and_the_server_drains_within_the_grace() {
    let grace = Duration::from_millis(500);
    let (channel, trigger, handle) = start(grace).await;
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("check")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let unknown = health
        .check(HealthCheckRequest {
            service: "sse.nothing.v1.Nothing".to_owned(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // A Watch stream is a call that never ends by itself: it sees NOT_SERVING, and the server
    // still stops once the grace period is over.
    let mut watch = health
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.next().await.expect("first status").expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopping = Instant::now();
    trigger.trigger();
    let next = watch.next().await.expect("status after shutdown").expect("status");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    tokio::time::timeout(grace + Duration::from_secs(5), handle)
        .await
        .expect("the server stops after the grace period")
        .expect("task")
        .expect("serve returns Ok");
    assert!(stopping.elapsed() < grace + Duration::from_secs(5));
}

#[tokio::test]
async fn reflection_answers_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let (channel, trigger, handle) = start(Duration::from_secs(1)).await;

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1")
        .into_inner();
    let response = responses.next().await.expect("a response").expect("ok");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) = response.message_response
    else {
        panic!("unexpected v1 response");
    };
    assert!(
        list.service
            .iter()
            .any(|service| service.name == "grpc.health.v1.Health")
    );

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "sse.initiatives.v1.InitiativeService".to_owned(),
            ),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha")
        .into_inner();
    let response = responses.next().await.expect("a response").expect("ok");
    assert!(matches!(
        response.message_response,
        Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
    ));

    trigger.trigger();
    handle.await.expect("task").expect("serve returns Ok");
}
