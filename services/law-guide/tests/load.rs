//! A manual measurement, not a test run by default: generates legal texts into the database at
//! `LOAD_DB_URL` (10,000 unless `LOAD_TEXTS` says otherwise), then runs SearchLegalTexts with
//! real queries in several languages over 16 connections on loopback for `LOAD_SECONDS` (10),
//! and prints the latencies. With `LOAD_UNCACHED=1`, each search adds a word found nowhere, so
//! no two searches are the same and each is ranked afresh (no ranking kept from an earlier
//! search). `LOAD_PAGE_SIZE` (10) is the results per page, `LOAD_CONNECTIONS` (16) the
//! connections. Run it on a scratch database, in
//! release:
//!
//! ```text
//! LOAD_DB_URL=postgres://postgres@127.0.0.1:5432/scratch_x \
//!     cargo test --release -p sse-law-guide --test load -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use sse_law_guide::Module;
use sse_platform::{generate::GenerateSpec, module::ServiceModule};
use sse_proto::lawguide::{SearchLegalTextsRequest, law_guide_service_client::LawGuideServiceClient};
use sse_testkit::TestServer;
use tonic::transport::Endpoint;

const QUERIES: &[(&str, &str)] = &[
    ("economía social", "es"),
    ("économie sociale et solidaire", "fr"),
    ("public procurement", "en"),
    ("cooperativas", ""),
    ("\"economia social\"", ""),
    ("registro nacional", "es"),
    ("terzo settore", "it"),
    ("Genossenschaften", "de"),
    ("achats publics", "fr"),
    ("tax relief social enterprises", "en"),
    ("conta satélite", "pt"),
    ("cooperative sociali", ""),
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a manual measurement on a scratch database (LOAD_DB_URL)"]
async fn search_latency_at_16_connections() {
    let url = std::env::var("LOAD_DB_URL").expect("LOAD_DB_URL names a scratch database");
    let texts: u64 = env_or("LOAD_TEXTS", 10_000);
    let seconds: u64 = env_or("LOAD_SECONDS", 10);
    let uncached = std::env::var("LOAD_UNCACHED").is_ok_and(|value| value == "1");
    let page_size: i32 = env_or("LOAD_PAGE_SIZE", 10);
    let connections: usize = env_or("LOAD_CONNECTIONS", 16);
    let db = sse_platform::database::connect(&url).await.expect("connect");
    Module.migrate(&db).await.expect("migrate");
    Module.seed(&db).await.expect("seed");
    let started = Instant::now();
    let spec = GenerateSpec {
        initiatives: 0,
        observations: 0,
        legal_texts: texts,
        seed: 1,
    };
    let created = Module.generate(&db, &spec).await.expect("generate");
    println!(
        "generate: {created} legal texts written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let context = sse_platform::module::ModuleContext {
        db: db.clone(),
        settings: Default::default(),
        local_services: None,
    };
    let server = TestServer::start(Module.register(reads_only_server(), &context).expect("register"))
        .await
        .expect("server");
    let address = format!("http://{}", server.address);
    for (query, language) in QUERIES {
        let channel = Endpoint::from_shared(address.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let response = LawGuideServiceClient::new(channel)
            .search_legal_texts(SearchLegalTextsRequest {
                query: (*query).to_owned(),
                language: (*language).to_owned(),
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner();
        println!("{query:>32} {language:>2}: {} hits", response.total_size);
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..connections {
        let address = address.clone();
        workers.push(tokio::spawn(async move {
            let channel = Endpoint::from_shared(address)
                .expect("url")
                .tcp_nodelay(true)
                .connect()
                .await
                .expect("connect");
            let mut client = LawGuideServiceClient::new(channel);
            let page_size = page_size;
            let mut latencies: Vec<(usize, Duration)> = Vec::new();
            let mut turn = worker;
            while Instant::now() < deadline {
                let which = turn % QUERIES.len();
                let (query, language) = QUERIES[which];
                let query = if uncached {
                    format!("{query} zq{worker}x{turn}")
                } else {
                    query.to_owned()
                };
                let sent = Instant::now();
                client
                    .search_legal_texts(SearchLegalTextsRequest {
                        query,
                        language: language.to_owned(),
                        page_size,
                        ..Default::default()
                    })
                    .await
                    .expect("search");
                latencies.push((which, sent.elapsed()));
                turn += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let mut overall: Vec<Duration> = all.iter().map(|(_, latency)| *latency).collect();
    overall.sort();
    println!(
        "{} searches{} of {page_size} results in {seconds} s at {connections} connections ({:.0}/s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        overall.len(),
        if uncached { " (each ranked afresh)" } else { "" },
        overall.len() as f64 / seconds as f64,
        percentile(&overall, 0.5).as_secs_f64() * 1000.0,
        percentile(&overall, 0.99).as_secs_f64() * 1000.0,
        overall.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    for (which, (query, language)) in QUERIES.iter().enumerate() {
        let mut latencies: Vec<Duration> = all
            .iter()
            .filter(|(index, _)| *index == which)
            .map(|(_, latency)| *latency)
            .collect();
        latencies.sort();
        println!(
            "{query:>32} {language:>2}: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        );
    }
    server.stop().await.expect("stop");
}

/// A server for reads: anonymous, no access store.
fn reads_only_server() -> sse_platform::server::GrpcServer {
    let policy = sse_platform::access::Policy::with_admin_key(None);
    sse_platform::server::GrpcServer::new(
        sse_platform::access::guard::Access::without_store(policy),
        std::time::Duration::from_secs(2),
    )
}
