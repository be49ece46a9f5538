//! A database outage under traffic: every service of the observatory served over a PostgreSQL
//! cluster this test creates on a free port and owns, with a short pool acquire timeout. The
//! cluster is stopped while clients call, then started again. Calls must fail fast with
//! UNAVAILABLE (`DATABASE_UNAVAILABLE`, with a `RetryInfo`), the gateway must answer 503 with
//! `Retry-After`, health must turn NOT_SERVING within seconds and SERVING again once the database
//! is back, and calls must succeed again without a restart.
//!
//! Needs the PostgreSQL server binaries and `pg_createcluster` (postgresql-common), run as root
//! or as a user who may create clusters.

use std::{
    net::TcpListener as StdListener,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sse_platform::{
    access::{self, Policy, guard::Access},
    config::Settings,
    database::{self, PoolSettings},
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::Shutdown,
};
use sse_proto::{
    initiatives::{ListInitiativesRequest, initiative_service_client::InitiativeServiceClient},
    lawguide::{ListLegalTextsRequest, law_guide_service_client::LawGuideServiceClient},
};
use sse_testkit::{ADMIN_KEY, TestServer, error_reason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_types::StatusExt;

/// The pool's acquire timeout in this test: calls must fail within it and a second.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Clients calling at once, each pausing this long between calls.
const CLIENTS: usize = 4;
const PAUSE: Duration = Duration::from_millis(25);

/// A PostgreSQL cluster of this test's own, dropped (stopped first) when the test ends, even when
/// it fails.
struct Cluster {
    version: String,
    name: String,
    port: u16,
}

impl Cluster {
    fn create() -> Cluster {
        let version = server_version();
        let port = free_port();
        let name = format!("observatory_outage_{}_{port}", std::process::id());
        let cluster = Cluster { version, name, port };
        run(Command::new("pg_createcluster").args([
            cluster.version.as_str(),
            cluster.name.as_str(),
            "-p",
            &port.to_string(),
            "--",
            "--auth=trust",
        ]));
        cluster.start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        self.control("start", &[]);
    }

    /// Stops the server the way an operator or a failing node does: every session is ended.
    fn stop(&self) {
        self.control("stop", &["-m", "fast"]);
    }

    fn control(&self, action: &str, options: &[&str]) {
        run(Command::new("pg_ctlcluster")
            .args([
                "--skip-systemctl-redirect",
                self.version.as_str(),
                self.name.as_str(),
                action,
            ])
            .args(options));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let dropped = Command::new("pg_dropcluster")
            .args(["--stop", self.version.as_str(), self.name.as_str()])
            .output();
        if !matches!(&dropped, Ok(output) if output.status.success()) {
            eprintln!(
                "could not drop the test cluster {} {}: {dropped:?}",
                self.version, self.name
            );
        }
    }
}

/// The newest PostgreSQL server installed (`/usr/lib/postgresql/{version}`), 15 if none is found.
fn server_version() -> String {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .map_or_else(|| "15".to_owned(), |version| version.to_string())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One call made by the traffic: when it started, how long it took, and its outcome.
#[derive(Debug, Clone)]
struct Call {
    started: Instant,
    took: Duration,
    outcome: Result<(), (Code, String, bool)>,
}

impl Call {
    fn ended(&self) -> Instant {
        self.started + self.took
    }
}

/// Reads from the initiatives and law-guide services, `CLIENTS` at once, until `stop`.
fn traffic(
    channel: &Channel,
    stop: &Arc<AtomicBool>,
    calls: &Arc<Mutex<Vec<Call>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|client| {
            let mut initiatives = InitiativeServiceClient::new(channel.clone());
            let mut law_guide = LawGuideServiceClient::new(channel.clone());
            let (stop, calls) = (stop.clone(), calls.clone());
            tokio::spawn(async move {
                let mut turn = client;
                while !stop.load(Ordering::Relaxed) {
                    turn += 1;
                    let started = Instant::now();
                    let result = if turn % 2 == 0 {
                        initiatives
                            .list_initiatives(ListInitiativesRequest {
                                page_size: 5,
                                ..Default::default()
                            })
                            .await
                            .map(|_| ())
                    } else {
                        law_guide
                            .list_legal_texts(ListLegalTextsRequest {
                                page_size: 5,
                                ..Default::default()
                            })
                            .await
                            .map(|_| ())
                    };
                    let took = started.elapsed();
                    let outcome = result.map_err(|status| {
                        let retry_info = status.get_error_details().retry_info().is_some();
                        (status.code(), error_reason(&status), retry_info)
                    });
                    calls.lock().expect("calls").push(Call { started, took, outcome });
                    tokio::time::sleep(PAUSE).await;
                }
            })
        })
        .collect()
}

async fn health(channel: &Channel, service: &str) -> Option<ServingStatus> {
    let response = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}

/// Waits until the server as a whole and each of `services` report `wanted`; how long it took.
async fn wait_for_health(channel: &Channel, services: &[&str], wanted: ServingStatus, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = health(channel, "").await == Some(wanted);
        for service in services {
            all &= health(channel, service).await == Some(wanted);
        }
        if all {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "health not {wanted:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET path` over HTTP/1.1 on `address`: the status code, the `Retry-After` value and the body.
async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, Option<String>, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: observatory\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let retry_after = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    });
    (status, retry_after, body.to_owned())
}

async fn blocking(work: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(work).await.expect("blocking work");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_fails_fast_as_unavailable_and_recovers_without_a_restart() {
    let cluster = Arc::new(tokio::task::spawn_blocking(Cluster::create).await.expect("cluster"));
    let pool = PoolSettings {
        acquire_timeout: ACQUIRE_TIMEOUT,
        ..PoolSettings::default()
    };
    let db = database::connect_with(&cluster.url(), pool).await.expect("connect");
    database::migrate::<access::schema::Migrator>(&db)
        .await
        .expect("migrate access");
    let modules: [&dyn ServiceModule; 4] = [
        &sse_initiatives::Module,
        &sse_indicators::Module,
        &sse_law_guide::Module,
        &sse_gateway::Module,
    ];
    let mut policy = Policy::with_admin_key(Some(ADMIN_KEY.to_owned().into()));
    policy.rate_limit_per_second = 100_000;
    policy.rate_limit_burst = 100_000;
    let access = Access::new(policy, db.clone(), db.clone());
    let mut server = GrpcServer::new(access.clone(), Duration::from_secs(2))
        .with_database(db.clone())
        .add_service(access::service::grpc_service(db.clone(), access));
    let mut context = ModuleContext {
        db: db.clone(),
        settings: Settings::default(),
        local_services: None,
    };
    for module in modules {
        module.migrate(&db).await.expect("migrate");
        module.seed(&db).await.expect("seed");
        server = module.register(server, &context).expect("register");
    }
    context.local_services = Some(server.in_process());
    let router = sse_gateway::router(&context).expect("gateway");
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("http port");
    let http_address = http_listener.local_addr().expect("http address");
    let (http_trigger, http_shutdown) = Shutdown::new();
    let http = tokio::spawn(sse_platform::http::serve(
        http_listener,
        router,
        http_shutdown,
        Duration::from_secs(1),
        None,
    ));
    let server = TestServer::start(server).await.expect("server");
    let channel = server.channel.clone();
    let services = [
        "sse.initiatives.v1.InitiativeService",
        "sse.lawguide.v1.LawGuideService",
        "sse.indicators.v1.IndicatorService",
        "sse.access.v1.AccessService",
    ];
    wait_for_health(&channel, &services, ServingStatus::Serving, Duration::from_secs(5)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let clients = traffic(&channel, &stop, &calls);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stopping = Instant::now();
    blocking({
        let cluster = cluster.clone();
        move || cluster.stop()
    })
    .await;
    let stopped = Instant::now();
    eprintln!("database stopped in {:?}", stopped - stopping);
    let not_serving_after =
        wait_for_health(&channel, &services, ServingStatus::NotServing, Duration::from_secs(8)).await;
    eprintln!("health NOT_SERVING {not_serving_after:?} after the database stopped");
    // Liveness does not follow the database: an outage must not get pods restarted.
    assert_eq!(
        health(&channel, sse_platform::server::LIVENESS).await,
        Some(ServingStatus::Serving)
    );

    let (status, retry_after, body) = http_get(http_address, "/v1/initiatives?pageSize=5").await;
    eprintln!("REST during the outage: {status}, Retry-After {retry_after:?}, {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains("DATABASE_UNAVAILABLE"), "{body}");
    // Some more seconds of outage, so that calls meet an empty pool and a refusing server.
    tokio::time::sleep(Duration::from_secs(3)).await;

    blocking({
        let cluster = cluster.clone();
        move || cluster.start()
    })
    .await;
    let started = Instant::now();
    eprintln!("database down for {:?}", started - stopped);
    let serving_after = wait_for_health(&channel, &services, ServingStatus::Serving, Duration::from_secs(8)).await;
    eprintln!("health SERVING {serving_after:?} after the database started");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
    let (status, _, body) = http_get(http_address, "/v1/initiatives?pageSize=5").await;
    assert_eq!(status, 200, "{body}");

    let calls = calls.lock().expect("calls").clone();
    let before: Vec<&Call> = calls.iter().filter(|call| call.ended() < stopping).collect();
    assert!(
        !before.is_empty() && before.iter().all(|call| call.outcome.is_ok()),
        "{before:?}"
    );
    let failed: Vec<&Call> = calls.iter().filter(|call| call.outcome.is_err()).collect();
    assert!(!failed.is_empty(), "no call failed while the database was down");
    for call in &failed {
        let (code, reason, retry_info) = call.outcome.clone().err().unwrap_or((Code::Ok, String::new(), false));
        assert_eq!(code, Code::Unavailable, "{call:?}");
        assert_eq!(reason, "DATABASE_UNAVAILABLE", "{call:?}");
        assert!(retry_info, "{call:?}");
    }
    let mut fail_times: Vec<Duration> = failed.iter().map(|call| call.took).collect();
    fail_times.sort();
    let slowest = fail_times.last().copied().unwrap_or_default();
    let median = fail_times[fail_times.len() / 2];
    eprintln!(
        "{} calls failed during the outage, median {median:?}, slowest {slowest:?} (acquire timeout {ACQUIRE_TIMEOUT:?})",
        failed.len()
    );
    assert!(slowest < ACQUIRE_TIMEOUT + Duration::from_secs(1), "{slowest:?}");
    let during = calls
        .iter()
        .filter(|call| call.started > stopped && call.ended() < started)
        .count();
    assert!(during > 0);
    // The first success once the database is back, and nothing but successes soon after.
    let first_success = calls
        .iter()
        .filter(|call| call.outcome.is_ok() && call.ended() > started)
        .map(Call::ended)
        .min()
        .expect("a call succeeded after the database came back");
    eprintln!("first success {:?} after the database started", first_success - started);
    assert!(first_success - started < Duration::from_secs(1));
    let settled = started + Duration::from_secs(1);
    let late_failures: Vec<&Call> = calls
        .iter()
        .filter(|call| call.started > settled && call.outcome.is_err())
        .collect();
    assert!(late_failures.is_empty(), "{late_failures:?}");

    server.stop().await.expect("stop");
    http_trigger.trigger();
    http.await.expect("http task").expect("http server");
    db.close().await.expect("close");
}
