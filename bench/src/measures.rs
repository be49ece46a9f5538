//! Every measure of the performance issue, in an order that keeps them apart: the fresh start
//! first, then reads, then the aggregations and the export (each with the server's memory
//! peak), and the writes last so that they change nothing the reads see.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use sse_platform::{
    calls::MAX_MESSAGE_BYTES,
    generate::{Random, initiative_id, initiative_profile},
};
use sse_proto::{
    indicators::{
        AggregateObservationsRequest, BatchCreateObservationsRequest, CreateObservationRequest,
        ExportObservationsRequest, ListIndicatorsRequest, ListObservationsRequest, Observation,
        indicator_service_client::IndicatorServiceClient, observation,
    },
    initiatives::{
        BatchCreateInitiativesRequest, CreateInitiativeRequest, GetInitiativeRequest, Initiative,
        ListInitiativesRequest, initiative, initiative_service_client::InitiativeServiceClient,
    },
    lawguide::{ListLegalTextsRequest, SearchLegalTextsRequest, law_guide_service_client::LawGuideServiceClient},
    types::{PartialDate, SourceCitation},
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    Phase, RunArgs,
    load::{self, Stats, millis},
    process::{self, Memory, SpawnedServer, mebibytes},
    report::{self, Row},
};

const MIB: u64 = 1024 * 1024;
const LIST_P99_GOAL: Duration = Duration::from_millis(20);
const SEARCH_P99_GOAL: Duration = Duration::from_millis(25);
const ROWS_PER_SECOND_GOAL: f64 = 20_000.0;
const AGGREGATE_RATIO_GOAL: f64 = 1.5;
const RSS_GOAL: u64 = 100 * MIB;
const IDLE_RSS_GOAL: u64 = 30 * MIB;
const FIRST_CHUNK_GOAL: Duration = Duration::from_secs(1);
const START_GOAL: Duration = Duration::from_secs(1);

/// The four ListInitiatives measures: (label, filter, order_by).
const LIST_QUERIES: [(&str, &str, &str); 4] = [
    ("no filter", "", ""),
    (
        "countries:\"SN\" AND sdg_goals:8",
        "countries:\"SN\" AND sdg_goals:8",
        "",
    ),
    (
        "display_name:\"cooperative 4242\"",
        "display_name:\"cooperative 4242\"",
        "",
    ),
    ("order_by display_name desc", "", "display_name desc"),
];

/// Free-text queries of the search measure, in the languages the guide stems.
const SEARCH_QUERIES: &[&str] = &[
    "cooperative",
    "social and solidarity economy",
    "mutual insurance",
    "association registration",
    "économie sociale et solidaire",
    "coopératives agricoles",
    "cooperativas de trabajo",
    "economia solidária",
    "impresa sociale",
    "tax exemption for social enterprises",
    "public procurement",
    "foundation governance",
];

/// Runs the harness against the server `args` names and prints (and optionally appends) the
/// table.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut bench = Bench::connect(args).await?;
    if bench.args.runs(Phase::Startup) {
        bench.startup().await;
    }
    if bench.args.runs(Phase::Reads) {
        bench.reads().await;
    }
    if bench.args.runs(Phase::Aggregations) {
        bench.aggregations().await;
    }
    if bench.args.runs(Phase::Export) {
        bench.export().await;
    }
    if bench.args.runs(Phase::Writes) {
        bench.batch_initiatives().await;
        bench.batch_observations().await;
    }
    let table = report::table(&bench.title(), &bench.rows);
    println!("\n{table}");
    if let Some(path) = &bench.args.table_out {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(file, "{table}")?;
    }
    Ok(())
}

struct Bench {
    args: RunArgs,
    /// One Channel (one HTTP/2 connection) per concurrent worker.
    channels: Vec<Channel>,
    db: Option<DatabaseConnection>,
    rows: Vec<Row>,
    /// The server's memory before any load: the baseline of the memory rows.
    idle: Option<Memory>,
    initiatives_present: Result<(), String>,
    observations: Result<Observations, String>,
    /// A tag that keeps the ids written by this run apart from other runs'.
    tag: String,
}

/// Where the generated observations are.
#[derive(Debug, Clone)]
struct Observations {
    total: i64,
    /// The indicator with the most observations, aggregated.
    largest: (String, i64),
    /// The indicator with the fewest, written to by the batch create.
    smallest: String,
}

fn status_text(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

fn log(line: impl AsRef<str>) {
    eprintln!("[sse-bench] {}", line.as_ref());
}

impl Bench {
    async fn connect(args: RunArgs) -> anyhow::Result<Bench> {
        log(format!("waiting for {} to be SERVING", args.grpc_url));
        process::wait_until_serving(&args.grpc_url, Duration::from_secs(120)).await?;
        let mut channels = Vec::with_capacity(args.connections);
        for _ in 0..args.connections.max(1) {
            let channel = Endpoint::from_shared(args.grpc_url.clone())?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(5))
                .connect()
                .await
                .with_context(|| format!("cannot connect to {}", args.grpc_url))?;
            channels.push(channel);
        }
        let db = match sse_platform::database::connect(&args.database_url).await {
            Ok(db) => Some(db),
            Err(error) => {
                log(format!("no database baselines: {error:#}"));
                None
            }
        };
        let idle = args.server_pid.and_then(|pid| process::memory(pid).ok());
        if let Some(memory) = idle {
            log(format!(
                "server before load: VmRSS {}, VmHWM {}",
                mebibytes(memory.resident),
                mebibytes(memory.peak)
            ));
        }
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        let mut bench = Bench {
            args,
            channels,
            db,
            rows: Vec::new(),
            idle,
            initiatives_present: Ok(()),
            observations: Err(String::new()),
            tag: format!("{tag:x}"),
        };
        bench.initiatives_present = bench.check_initiatives().await;
        bench.observations = bench.find_observations().await;
        Ok(bench)
    }

    fn title(&self) -> String {
        format!(
            "{}: {} initiatives, {} observations, {} legal texts; {} connections, {} s per measure",
            self.args.label,
            self.args.initiatives,
            self.args.observations,
            self.args.legal_texts,
            self.args.connections,
            self.args.duration
        )
    }

    fn initiatives_client(&self) -> InitiativeServiceClient<Channel> {
        InitiativeServiceClient::new(self.channels[0].clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// A request that gives up after `--call-timeout` (the server sees it as grpc-timeout), with
    /// the admin key when there is one (writes need a key).
    fn with_deadline<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(Duration::from_secs(self.args.call_timeout.max(1)));
        if let Some(value) = self
            .args
            .admin_key
            .as_ref()
            .and_then(|key| format!("Bearer {key}").parse().ok())
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    fn indicators_client(&self) -> IndicatorServiceClient<Channel> {
        IndicatorServiceClient::new(self.channels[0].clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Whether the generated initiatives are there: the first and the last by index.
    async fn check_initiatives(&self) -> Result<(), String> {
        if self.args.initiatives == 0 {
            return Err("--initiatives is 0".to_owned());
        }
        let mut client = self.initiatives_client();
        for index in [0, self.args.initiatives - 1] {
            let name = format!("initiatives/{}", initiative_id(index));
            if let Err(status) = client.get_initiative(GetInitiativeRequest { name: name.clone() }).await {
                return Err(format!(
                    "no generated initiatives on this database ({})",
                    status.message()
                ));
            }
        }
        Ok(())
    }

    /// Counts live observations per indicator: on the database when the harness can reach it
    /// (a List's total_size above 10,000 may be an estimate), else through ListObservations.
    async fn observation_counts(&self) -> Result<Vec<(String, i64)>, String> {
        if let Some(db) = &self.db {
            let sql = "SELECT indicator, COUNT(*) FROM observations WHERE delete_time IS NULL GROUP BY indicator";
            let rows = db
                .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .map_err(|error| format!("cannot count observations: {error}"))?;
            let mut counts: HashMap<String, i64> = HashMap::new();
            for row in rows {
                let indicator: String = row.try_get_by_index(0).map_err(|error| format!("{error}"))?;
                let count: i64 = row.try_get_by_index(1).map_err(|error| format!("{error}"))?;
                counts.insert(indicator, count);
            }
            // Indicators without observations count too: they are where the batch writes.
            for indicator in self.indicator_names().await? {
                counts.entry(indicator).or_insert(0);
            }
            return Ok(counts.into_iter().collect());
        }
        let client = self.indicators_client();
        let mut counts = Vec::new();
        for indicator in self.indicator_names().await? {
            let total = client
                .clone()
                .list_observations(ListObservationsRequest {
                    parent: indicator.clone(),
                    page_size: 1,
                    ..Default::default()
                })
                .await
                .map_err(status_text)?
                .get_ref()
                .total_size;
            counts.push((indicator, i64::from(total)));
        }
        Ok(counts)
    }

    async fn indicator_names(&self) -> Result<Vec<String>, String> {
        let indicators = self
            .indicators_client()
            .list_indicators(ListIndicatorsRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await
            .map_err(status_text)?
            .into_inner()
            .indicators;
        Ok(indicators.into_iter().map(|indicator| indicator.name).collect())
    }

    /// Where the observations are, and whether the generated ones are there.
    async fn find_observations(&self) -> Result<Observations, String> {
        let mut counts = self.observation_counts().await?;
        counts.sort_by_key(|(name, observations)| (*observations, name.clone()));
        let total: i64 = counts.iter().map(|(_, count)| count).sum();
        let (Some(smallest), Some(largest)) = (counts.first().cloned(), counts.last().cloned()) else {
            return Err("no indicators on this database".to_owned());
        };
        log(format!(
            "{total} observations; the most under {} ({}), the fewest under {} ({})",
            largest.0, largest.1, smallest.0, smallest.1
        ));
        if self.args.observations == 0 {
            return Err("not asked for (--observations 0)".to_owned());
        }
        if (total as u64) < self.args.observations {
            return Err(format!(
                "no generated observations on this database ({total} found, {} expected)",
                self.args.observations
            ));
        }
        Ok(Observations {
            total,
            largest,
            smallest: smallest.0,
        })
    }

    /// Logs what the server holds resident after a measure, so that a phase that leaves memory
    /// behind (the later peaks start from it) shows which one it is.
    fn log_resident(&self, after: &str) {
        if let Some(memory) = self.args.server_pid.and_then(|pid| process::memory(pid).ok()) {
            log(format!("server after {after}: VmRSS {}", mebibytes(memory.resident)));
        }
    }

    fn rss_baseline(&self) -> String {
        self.idle.map_or("idle RSS unknown".to_owned(), |idle| {
            format!("idle {}", mebibytes(idle.resident))
        })
    }

    fn rss_ratio(&self, bytes: u64) -> f64 {
        self.idle.map_or(bytes as f64 / RSS_GOAL as f64, |idle| {
            bytes as f64 / idle.resident.max(1) as f64
        })
    }

    /// Start to SERVING and idle memory of a fresh `observatory serve` on the same database.
    async fn startup(&mut self) {
        const START: &str = "start to SERVING (fresh `observatory serve`, Health/Check polled)";
        const IDLE: &str = "idle RSS (fresh server, 1 s after SERVING)";
        let Some(binary) = self.args.observatory_bin.clone() else {
            self.rows
                .push(Row::not_measured(START, "≤ 1 s", "no --observatory-bin"));
            self.rows
                .push(Row::not_measured(IDLE, "≤ 30 MiB", "no --observatory-bin"));
            return;
        };
        let outcome = async {
            let server = SpawnedServer::start(&binary, &self.args.database_url, &self.args.startup_log)?;
            let started = process::wait_until_serving(&server.grpc_url, Duration::from_secs(60)).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let memory = process::memory(server.pid())?;
            if let Err(error) = server.stop(Duration::from_secs(15)) {
                log(format!("{error:#}"));
            }
            anyhow::Ok((started, memory))
        }
        .await;
        match outcome {
            Ok((started, memory)) => {
                log(format!(
                    "fresh server: SERVING after {}, idle VmRSS {}",
                    millis(started),
                    mebibytes(memory.resident)
                ));
                self.rows.push(Row::measured(
                    START,
                    millis(started),
                    "goal 1 s",
                    started.as_secs_f64() / START_GOAL.as_secs_f64(),
                    "≤ 1 s",
                    started <= START_GOAL,
                ));
                self.rows.push(Row::measured(
                    IDLE,
                    mebibytes(memory.resident),
                    "goal 30 MiB",
                    memory.resident as f64 / IDLE_RSS_GOAL as f64,
                    "≤ 30 MiB",
                    memory.resident <= IDLE_RSS_GOAL,
                ));
            }
            Err(error) => {
                let why = format!("the fresh server failed: {error:#}");
                self.rows.push(Row::not_measured(START, "≤ 1 s", why.clone()));
                self.rows.push(Row::not_measured(IDLE, "≤ 30 MiB", why));
            }
        }
    }

    async fn reads(&mut self) {
        let spec = self.args.load_spec();
        let connections = self.channels.len();

        let workers: Vec<_> = self
            .channels
            .iter()
            .map(|channel| {
                let client = HealthClient::new(channel.clone());
                move || {
                    let mut client = client.clone();
                    async move {
                        client
                            .check(HealthCheckRequest { service: String::new() })
                            .await
                            .map(drop)
                            .map_err(status_text)
                    }
                }
            })
            .collect();
        let health = load::run(spec, workers).await;
        log(format!("Health/Check, {connections} connections: {}", health.summary()));
        self.log_resident("Health/Check");

        let get_name = "GetInitiative req/s ÷ Health/Check req/s";
        let rest_name = "REST GET /v1/initiatives/{id} req/s ÷ gRPC GetInitiative req/s";
        if let Err(why) = self.initiatives_present.clone() {
            self.rows.push(Row::not_measured(get_name, "≥ 0.50×", why.clone()));
            self.rows.push(Row::not_measured(rest_name, "≥ 0.70×", why.clone()));
            for (label, _, _) in LIST_QUERIES {
                self.rows
                    .push(Row::not_measured(list_measure(label), "p99 ≤ 20 ms", why.clone()));
            }
        } else {
            let initiatives = self.args.initiatives;
            let workers: Vec<_> = self
                .channels
                .iter()
                .enumerate()
                .map(|(index, channel)| {
                    let client = InitiativeServiceClient::new(channel.clone());
                    let mut random = Random::new(self.args.seed.wrapping_add(index as u64), "bench-get");
                    move || {
                        let mut client = client.clone();
                        let name = format!("initiatives/{}", initiative_id(random.below(initiatives)));
                        async move {
                            client
                                .get_initiative(GetInitiativeRequest { name })
                                .await
                                .map(drop)
                                .map_err(status_text)
                        }
                    }
                })
                .collect();
            let get = load::run(spec, workers).await;
            log(format!("GetInitiative, {connections} connections: {}", get.summary()));
            self.log_resident("GetInitiative");
            self.rows
                .push(throughput_row(get_name, &get, "Health/Check", &health, 0.5));

            let rest = self.rest_get(spec, initiatives).await;
            log(format!("REST GET, {connections} connections: {}", rest.summary()));
            self.log_resident("REST GET");
            self.rows
                .push(throughput_row(rest_name, &rest, "gRPC GetInitiative", &get, 0.7));

            for (label, filter, order_by) in LIST_QUERIES {
                let stats = self.list(spec, filter, order_by).await;
                log(format!("ListInitiatives {label}: {}", stats.summary()));
                self.log_resident(&format!("ListInitiatives {label}"));
                self.rows
                    .push(latency_row(list_measure(label), &stats, &health, LIST_P99_GOAL));
            }
        }

        let search_name = "SearchLegalTexts p99 (16 connections)".replace("16", &connections.to_string());
        match self.check_legal_texts().await {
            Err(why) => self.rows.push(Row::not_measured(search_name, "p99 ≤ 25 ms", why)),
            Ok(()) => {
                let page_size = self.args.search_page_size;
                let workers: Vec<_> = self
                    .channels
                    .iter()
                    .enumerate()
                    .map(|(index, channel)| {
                        let client =
                            LawGuideServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
                        let mut random = Random::new(self.args.seed.wrapping_add(index as u64), "bench-search");
                        move || {
                            let mut client = client.clone();
                            let query = (*random.pick(SEARCH_QUERIES)).to_owned();
                            async move {
                                client
                                    .search_legal_texts(SearchLegalTextsRequest {
                                        query,
                                        page_size,
                                        ..Default::default()
                                    })
                                    .await
                                    .map(drop)
                                    .map_err(status_text)
                            }
                        }
                    })
                    .collect();
                let stats = load::run(spec, workers).await;
                log(format!("SearchLegalTexts: {}", stats.summary()));
                self.log_resident("SearchLegalTexts");
                self.rows
                    .push(latency_row(search_name, &stats, &health, SEARCH_P99_GOAL));
            }
        }
    }

    async fn rest_get(&self, spec: load::LoadSpec, initiatives: u64) -> Stats {
        let base = self.args.http_url.trim_end_matches('/').to_owned();
        let workers: Vec<_> = (0..self.channels.len())
            .map(|index| {
                // One client, hence one keep-alive connection, per worker.
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client: HttpClient<HttpConnector, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(1)
                    .build(connector);
                let mut random = Random::new(self.args.seed.wrapping_add(index as u64), "bench-rest");
                let base = base.clone();
                move || {
                    let client = client.clone();
                    let uri = format!("{base}/v1/initiatives/{}", initiative_id(random.below(initiatives)));
                    async move {
                        let uri: http::Uri = uri.parse().map_err(|error| format!("{error}"))?;
                        let response = client.get(uri).await.map_err(|error| format!("{error}"))?;
                        let status = response.status();
                        response
                            .into_body()
                            .collect()
                            .await
                            .map_err(|error| format!("{error}"))?;
                        if status.is_success() {
                            Ok(())
                        } else {
                            Err(format!("HTTP {status}"))
                        }
                    }
                }
            })
            .collect();
        load::run(spec, workers).await
    }

    async fn list(&self, spec: load::LoadSpec, filter: &str, order_by: &str) -> Stats {
        let page_size = self.args.list_page_size;
        let request = ListInitiativesRequest {
            page_size,
            filter: filter.to_owned(),
            order_by: order_by.to_owned(),
            ..Default::default()
        };
        match self.initiatives_client().list_initiatives(request.clone()).await {
            Ok(response) => log(format!(
                "ListInitiatives filter {filter:?} order_by {order_by:?}: {} match, {} on the first page",
                response.get_ref().total_size,
                response.get_ref().initiatives.len()
            )),
            Err(status) => log(format!("ListInitiatives filter {filter:?}: {}", status_text(status))),
        }
        let workers: Vec<_> = self
            .channels
            .iter()
            .map(|channel| {
                let client = InitiativeServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
                let request = request.clone();
                move || {
                    let mut client = client.clone();
                    let request = request.clone();
                    async move { client.list_initiatives(request).await.map(drop).map_err(status_text) }
                }
            })
            .collect();
        load::run(spec, workers).await
    }

    /// Whether the generated legal texts are there (counted on the database when it can be:
    /// a List's total_size above 10,000 may be an estimate).
    async fn check_legal_texts(&self) -> Result<(), String> {
        let counted = match &self.db {
            Some(db) => {
                let sql = "SELECT COUNT(*) FROM legal_texts";
                let row = db
                    .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await
                    .map_err(|error| format!("cannot count legal texts: {error}"))?;
                row.map(|row| row.try_get_by_index::<i64>(0))
                    .transpose()
                    .map_err(|error| format!("{error}"))?
                    .unwrap_or_default()
            }
            None => {
                let mut client = LawGuideServiceClient::new(self.channels[0].clone());
                let response = client
                    .list_legal_texts(ListLegalTextsRequest {
                        page_size: 1,
                        ..Default::default()
                    })
                    .await
                    .map_err(status_text)?;
                i64::from(response.get_ref().total_size)
            }
        };
        log(format!("{counted} legal texts"));
        if self.args.legal_texts == 0 {
            return Err("not asked for (--legal-texts 0)".to_owned());
        }
        if (counted as u64) < self.args.legal_texts {
            return Err(format!(
                "no generated legal texts on this database ({counted} found, {} expected)",
                self.args.legal_texts
            ));
        }
        Ok(())
    }

    /// AggregateObservations by each group against the same GROUP BY run on the database, and
    /// the server's memory peak over the three.
    async fn aggregations(&mut self) {
        const GROUPS: [&str; 3] = ["ref_area", "year", "legal_form"];
        let rss_name = "server RSS peak over the aggregations";
        let observations = match (&self.observations, &self.db) {
            (Err(why), _) => Err(why.clone()),
            (_, None) => Err("cannot connect to the database for the baseline".to_owned()),
            (Ok(observations), Some(_)) => Ok(observations.clone()),
        };
        let observations = match observations {
            Ok(observations) => observations,
            Err(why) => {
                for group in GROUPS {
                    self.rows.push(Row::not_measured(
                        aggregate_measure(group, "", 0),
                        "≤ 1.5× the SQL",
                        why.clone(),
                    ));
                }
                self.rows.push(Row::not_measured(rss_name, "≤ 100 MiB", why));
                return;
            }
        };
        let (indicator, count) = observations.largest.clone();
        let peak_reset = self.args.server_pid.is_some_and(process::reset_peak);
        // What the earlier phases left resident: the peak below starts from it.
        if let Some(memory) = self.args.server_pid.and_then(|pid| process::memory(pid).ok()) {
            log(format!(
                "server entering the aggregations: VmRSS {}",
                mebibytes(memory.resident)
            ));
        }
        for group in GROUPS {
            let row = self.aggregation(&indicator, count, group).await;
            self.rows.push(row.unwrap_or_else(|error| {
                Row::not_measured(
                    aggregate_measure(group, &indicator, count),
                    "≤ 1.5× the SQL",
                    format!("{error:#}"),
                )
            }));
        }
        self.rows.push(self.memory_row(rss_name, peak_reset));
    }

    async fn aggregation(&self, indicator: &str, count: i64, group: &str) -> anyhow::Result<Row> {
        let db = self.db.as_ref().context("no database")?;
        let mut client = self.indicators_client();
        let request = AggregateObservationsRequest {
            indicator: indicator.to_owned(),
            group_by: vec![group.to_owned()],
            ..Default::default()
        };
        let sql = aggregate_sql(indicator, group, true);
        let statement = Statement::from_string(db.get_database_backend(), sql.clone());
        let plain = Statement::from_string(db.get_database_backend(), aggregate_sql(indicator, group, false));
        // One untimed run of each, so that both read a warm cache.
        let rows = client
            .aggregate_observations(self.with_deadline(request.clone()))
            .await
            .map_err(|status| anyhow::anyhow!(status_text(status)))?
            .into_inner()
            .rows
            .len();
        let sql_rows = db
            .query_all_raw(statement.clone())
            .await
            .with_context(|| format!("the baseline SQL failed: {sql}"))?
            .len();
        let runs = self.args.aggregate_runs.max(1);
        let mut rpc_times = Vec::with_capacity(runs);
        let mut sql_times = Vec::with_capacity(runs);
        let mut plain_times = Vec::with_capacity(runs);
        db.query_all_raw(plain.clone())
            .await
            .context("the plain GROUP BY failed")?;
        for _ in 0..runs {
            let started = Instant::now();
            client
                .aggregate_observations(self.with_deadline(request.clone()))
                .await
                .map_err(|status| anyhow::anyhow!(status_text(status)))?;
            rpc_times.push(started.elapsed());
            let started = Instant::now();
            db.query_all_raw(statement.clone()).await?;
            sql_times.push(started.elapsed());
            let started = Instant::now();
            db.query_all_raw(plain.clone()).await?;
            plain_times.push(started.elapsed());
        }
        let plain_time = median(&mut plain_times);
        let rpc = median(&mut rpc_times);
        let sql_time = median(&mut sql_times);
        log(format!(
            "AggregateObservations {indicator} by {group}: {rows} rows, median {} over {runs} runs; \
             SQL with the source rule: {sql_rows} rows, median {}; plain GROUP BY: median {}",
            millis(rpc),
            millis(sql_time),
            millis(plain_time)
        ));
        let ratio = rpc.as_secs_f64() / sql_time.as_secs_f64().max(1e-9);
        Ok(Row::measured(
            aggregate_measure(group, indicator, count),
            format!("{} (median of {runs})", millis(rpc)),
            format!("same SQL {} (plain GROUP BY {})", millis(sql_time), millis(plain_time)),
            ratio,
            "≤ 1.5× the SQL",
            ratio <= AGGREGATE_RATIO_GOAL,
        ))
    }

    fn memory_row(&self, name: &str, peak_reset: bool) -> Row {
        let Some(pid) = self.args.server_pid else {
            return Row::not_measured(name, "≤ 100 MiB", "no --server-pid");
        };
        match process::memory(pid) {
            Ok(memory) => {
                let peak_note = if peak_reset { "" } else { " (VmHWM since start)" };
                log(format!(
                    "{name}: VmRSS {}, VmHWM {}{peak_note}",
                    mebibytes(memory.resident),
                    mebibytes(memory.peak)
                ));
                Row::measured(
                    name,
                    format!(
                        "peak {}{peak_note}, now {}",
                        mebibytes(memory.peak),
                        mebibytes(memory.resident)
                    ),
                    self.rss_baseline(),
                    self.rss_ratio(memory.peak),
                    "≤ 100 MiB",
                    memory.peak <= RSS_GOAL,
                )
            }
            Err(error) => Row::not_measured(name, "≤ 100 MiB", format!("{error:#}")),
        }
    }

    /// ExportObservations of every observation: time to the first chunk, the whole stream, and
    /// the server's memory peak meanwhile.
    async fn export(&mut self) {
        let first_name = "ExportObservations (all): time to first chunk";
        let rss_name = "server RSS peak during the export";
        let observations = match &self.observations {
            Ok(observations) => observations.total,
            Err(why) => {
                self.rows.push(Row::not_measured(first_name, "≤ 1 s", why.clone()));
                self.rows.push(Row::not_measured(rss_name, "≤ 100 MiB", why.clone()));
                return;
            }
        };
        let peak_reset = self.args.server_pid.is_some_and(process::reset_peak);
        let mut client = self.indicators_client();
        let limit = Duration::from_secs(self.args.export_timeout);
        let started = Instant::now();
        let outcome = async {
            let mut stream = client
                .export_observations(ExportObservationsRequest::default())
                .await
                .map_err(|status| anyhow::anyhow!(status_text(status)))?
                .into_inner();
            let mut first_chunk = None;
            let mut bytes = 0usize;
            let mut lines = 0usize;
            let mut complete = true;
            loop {
                let remaining = limit.saturating_sub(started.elapsed());
                let message = match tokio::time::timeout(remaining, stream.message()).await {
                    Ok(message) => message.map_err(|status| anyhow::anyhow!(status_text(status)))?,
                    Err(_) => {
                        complete = false;
                        break;
                    }
                };
                let Some(message) = message else { break };
                if first_chunk.is_none() && !message.data.is_empty() {
                    first_chunk = Some(started.elapsed());
                }
                bytes += message.data.len();
                lines += message.data.iter().filter(|byte| **byte == b'\n').count();
            }
            anyhow::Ok((first_chunk, started.elapsed(), bytes, lines, complete))
        }
        .await;
        match outcome {
            Ok((Some(first), whole, bytes, lines, complete)) => {
                log(format!(
                    "ExportObservations: first chunk after {}, {} in {:.1} s ({lines} lines for {observations} observations){}",
                    millis(first),
                    mebibytes(bytes as u64),
                    whole.as_secs_f64(),
                    if complete {
                        ""
                    } else {
                        ", stopped reading at --export-timeout"
                    }
                ));
                let value = format!(
                    "{} (whole: {} in {:.1} s{})",
                    millis(first),
                    mebibytes(bytes as u64),
                    whole.as_secs_f64(),
                    if complete { "" } else { ", cut at --export-timeout" }
                );
                self.rows.push(Row::measured(
                    first_name,
                    value,
                    "goal 1 s",
                    first.as_secs_f64() / FIRST_CHUNK_GOAL.as_secs_f64(),
                    "≤ 1 s",
                    first <= FIRST_CHUNK_GOAL,
                ));
            }
            Ok((None, ..)) => self
                .rows
                .push(Row::not_measured(first_name, "≤ 1 s", "the export sent no data")),
            Err(error) => self.rows.push(Row::not_measured(
                first_name,
                "≤ 1 s",
                format!("the export failed: {error:#}"),
            )),
        }
        self.rows.push(self.memory_row(rss_name, peak_reset));
    }

    /// BatchCreateInitiatives calls one after the other, against the same rows inserted
    /// directly into a temporary table of the database.
    async fn batch_initiatives(&mut self) {
        let name = format!("BatchCreateInitiatives, {} a call: rows/s", self.args.batch_initiatives);
        let per_call = self.args.batch_initiatives.max(1);
        let mut client = self.initiatives_client();
        let mut written = 0usize;
        let mut spent = Duration::ZERO;
        let mut failure = None;
        let mut sizes = Vec::new();
        // Call 0 warms up and is not timed, like the warm-up window of the other measures: the
        // rate is that of a bulk load under way, not of its first call.
        for call in 0..=self.args.batch_calls.max(1) {
            let requests: Vec<CreateInitiativeRequest> = (0..per_call)
                .map(|index| {
                    let initiative = self.bench_initiative(call, index);
                    sizes.push(prost::Message::encoded_len(&initiative));
                    CreateInitiativeRequest {
                        initiative_id: format!("bench-{}-{call:03}-{index:05}", self.tag),
                        initiative: Some(initiative),
                        request_id: String::new(),
                    }
                })
                .collect();
            let started = Instant::now();
            match client
                .batch_create_initiatives(self.with_deadline(BatchCreateInitiativesRequest {
                    validate_only: false,
                    requests,
                    request_id: String::new(),
                }))
                .await
            {
                Ok(response) if call > 0 => {
                    spent += started.elapsed();
                    written += response.get_ref().initiatives.len();
                }
                Ok(_) => {}
                Err(status) => {
                    failure = Some(status_text(status));
                    break;
                }
            }
        }
        if let Some(why) = failure {
            self.rows.push(Row::not_measured(
                name,
                "≥ 20k rows/s",
                format!("BatchCreateInitiatives failed: {why}"),
            ));
            return;
        }
        let rate = written as f64 / spent.as_secs_f64().max(1e-9);
        log(format!(
            "BatchCreateInitiatives: {written} rows in {:.2} s: {rate:.0} rows/s",
            spent.as_secs_f64()
        ));
        let average_size = sizes.iter().sum::<usize>() / sizes.len().max(1);
        let baseline = self.insert_baseline(written, average_size).await;
        self.rows.push(rows_row(name, rate, baseline));
    }

    fn bench_initiative(&self, call: usize, index: usize) -> Initiative {
        let profile = initiative_profile(self.args.seed ^ 0xBE4C, (call * 100_000 + index) as u64);
        let legal_form = initiative::LegalForm::from_str_name(&format!("LEGAL_FORM_{}", profile.legal_form))
            .unwrap_or(initiative::LegalForm::Cooperative);
        Initiative {
            display_name: format!("Benchmark cooperative {call} {index}"),
            description: "A cooperative written by the benchmark harness: its members share the work, the \
                          decisions and the surplus, and it reports the jobs it creates each year."
                .to_owned(),
            legal_form: legal_form as i32,
            countries: profile.countries.iter().map(|country| (*country).to_owned()).collect(),
            sdg_goals: profile.sdg_goals,
            status: initiative::Status::Active as i32,
            start_date: Some(PartialDate {
                year: 2000 + (index % 24) as i32,
                month: 1 + (index % 12) as i32,
                day: 0,
            }),
            website: format!("https://example.org/bench/{call}/{index}"),
            ..Default::default()
        }
    }

    /// BatchCreateObservations calls one after the other, to the indicator with the fewest
    /// observations, about generated initiatives.
    async fn batch_observations(&mut self) {
        let name = format!(
            "BatchCreateObservations, {} a call: rows/s",
            self.args.batch_observations
        );
        let parent = match (&self.initiatives_present, &self.observations) {
            (Err(why), _) => {
                self.rows.push(Row::not_measured(name, "≥ 20k rows/s", why.clone()));
                return;
            }
            (Ok(()), Ok(observations)) => observations.smallest.clone(),
            (Ok(()), Err(_)) => match self.any_indicator().await {
                Some(indicator) => indicator,
                None => {
                    self.rows
                        .push(Row::not_measured(name, "≥ 20k rows/s", "no indicator to write to"));
                    return;
                }
            },
        };
        let per_call = self.args.batch_observations.max(1);
        let mut client = self.indicators_client();
        let mut random = Random::new(self.args.seed, "bench-observations");
        let mut written = 0usize;
        let mut spent = Duration::ZERO;
        let mut sizes = Vec::new();
        // Call 0 warms up and is not timed, like the warm-up window of the other measures: the
        // rate is that of a bulk load under way, not of its first call.
        for call in 0..=self.args.batch_calls.max(1) {
            let requests: Vec<CreateObservationRequest> = (0..per_call)
                .map(|index| {
                    let initiative_index = random.below(self.args.initiatives);
                    let profile = initiative_profile(self.args.seed, initiative_index);
                    let observation = Observation {
                        initiative: format!("initiatives/{}", profile.id),
                        ref_area: profile.countries[0].to_owned(),
                        time_period: (2000 + random.below(25)).to_string(),
                        value: (random.unit() * 1000.0).round(),
                        status: observation::Status::Reported as i32,
                        source: Some(SourceCitation {
                            title: "Benchmark annual report".to_owned(),
                            publisher: "sse-bench".to_owned(),
                            url: "https://example.org/bench/report".to_owned(),
                            date: Some(PartialDate {
                                year: 2024,
                                month: 1 + (index % 12) as i32,
                                day: 0,
                            }),
                        }),
                        ..Default::default()
                    };
                    sizes.push(prost::Message::encoded_len(&observation));
                    CreateObservationRequest {
                        parent: String::new(),
                        observation: Some(observation),
                        observation_id: format!("bench-{}-{call:03}-{index:05}", self.tag),
                        request_id: String::new(),
                    }
                })
                .collect();
            let started = Instant::now();
            match client
                .batch_create_observations(self.with_deadline(BatchCreateObservationsRequest {
                    validate_only: false,
                    parent: parent.clone(),
                    requests,
                    request_id: String::new(),
                }))
                .await
            {
                Ok(response) if call > 0 => {
                    spent += started.elapsed();
                    written += response.get_ref().observations.len();
                }
                Ok(_) => {}
                Err(status) => {
                    self.rows.push(Row::not_measured(
                        name,
                        "≥ 20k rows/s",
                        format!("BatchCreateObservations failed: {}", status_text(status)),
                    ));
                    return;
                }
            }
        }
        let rate = written as f64 / spent.as_secs_f64().max(1e-9);
        log(format!(
            "BatchCreateObservations to {parent}: {written} rows in {:.2} s: {rate:.0} rows/s",
            spent.as_secs_f64()
        ));
        let average_size = sizes.iter().sum::<usize>() / sizes.len().max(1);
        let baseline = self.insert_baseline(written, average_size).await;
        self.rows.push(rows_row(name, rate, baseline));
    }

    async fn any_indicator(&self) -> Option<String> {
        let mut client = self.indicators_client();
        let response = client
            .list_indicators(ListIndicatorsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .ok()?;
        response
            .into_inner()
            .indicators
            .into_iter()
            .next()
            .map(|indicator| indicator.name)
    }

    /// The physical write limit: `rows` rows of about `size` bytes (a key and a text, as the
    /// services store a resource) inserted into a temporary table in one transaction, 500 rows
    /// a statement. Returns rows/s, or why it could not be measured.
    async fn insert_baseline(&self, rows: usize, size: usize) -> Result<f64, String> {
        let db = self.db.as_ref().ok_or("no database connection")?;
        let outcome = async {
            // Temporary tables outlive the transaction on their pooled connection: a name of
            // its own for each baseline.
            let table = format!("sse_bench_insert_{rows}_{size}_{}", self.tag);
            let transaction = db.begin().await?;
            let backend = transaction.get_database_backend();
            transaction
                .execute_raw(Statement::from_string(
                    backend,
                    format!("CREATE TEMPORARY TABLE {table} (id TEXT PRIMARY KEY, resource TEXT NOT NULL)"),
                ))
                .await?;
            let payload = "x".repeat(size.max(1));
            let started = Instant::now();
            for chunk_start in (0..rows).step_by(500) {
                let values: Vec<String> = (chunk_start..rows.min(chunk_start + 500))
                    .map(|row| format!("('bench-{row:07}', '{payload}')"))
                    .collect();
                let sql = format!("INSERT INTO {table} (id, resource) VALUES {}", values.join(", "));
                transaction.execute_raw(Statement::from_string(backend, sql)).await?;
            }
            transaction.commit().await?;
            let spent = started.elapsed();
            anyhow::Ok(spent)
        }
        .await;
        match outcome {
            Ok(spent) => {
                let rate = rows as f64 / spent.as_secs_f64().max(1e-9);
                log(format!(
                    "direct INSERT of {rows} rows of {size} bytes: {:.2} s: {rate:.0} rows/s",
                    spent.as_secs_f64()
                ));
                Ok(rate)
            }
            Err(error) => Err(format!("{error:#}")),
        }
    }
}

fn list_measure(label: &str) -> String {
    format!("ListInitiatives page 50, {label}: p99")
}

fn aggregate_measure(group: &str, indicator: &str, count: i64) -> String {
    if count > 0 {
        format!("AggregateObservations by {group} ({count} observations of {indicator})")
    } else {
        format!("AggregateObservations by {group}")
    }
}

/// The SQL that computes what the service answers, run directly on the database: the source
/// rule as a window (one figure per initiative, place, period and status: the latest source,
/// then the lowest figure, then the first name), then a GROUP BY of the figures kept, with
/// `status` always added as the service does. `legal_form` lives in the initiatives table of
/// the same database (the embedded observatory keeps every service in one), so its baseline
/// joins the kept figures to it. With `source_rule` false, the plain GROUP BY of every live
/// figure: the floor of what the data layer can do, printed for reference.
fn aggregate_sql(indicator: &str, group: &str, source_rule: bool) -> String {
    let indicator = indicator.replace('\'', "''");
    let figures = if source_rule {
        format!(
            "(SELECT initiative, ref_area, year, status, value FROM (\
             SELECT initiative, ref_area, year, status, value, ROW_NUMBER() OVER (\
             PARTITION BY initiative, ref_area, time_period, status \
             ORDER BY source_date DESC, value ASC, name ASC) AS preference \
             FROM observations WHERE indicator = '{indicator}' AND delete_time IS NULL) ranked \
             WHERE preference = 1)"
        )
    } else {
        format!(
            "(SELECT initiative, ref_area, year, status, value FROM observations \
             WHERE indicator = '{indicator}' AND delete_time IS NULL)"
        )
    };
    match group {
        "legal_form" => format!(
            "SELECT COALESCE(i.legal_form, '') AS legal_form, o.status, SUM(o.value), COUNT(*) \
             FROM {figures} o LEFT JOIN initiatives i ON i.id = SUBSTR(o.initiative, 13) \
             GROUP BY COALESCE(i.legal_form, ''), o.status ORDER BY 1, 2"
        ),
        column => format!(
            "SELECT o.{column}, o.status, SUM(o.value), COUNT(*) FROM {figures} o \
             GROUP BY o.{column}, o.status ORDER BY 1, 2"
        ),
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn with_errors(value: String, stats: &Stats) -> String {
    if stats.errors == 0 {
        value
    } else {
        format!(
            "{value} ({} errors: {})",
            stats.errors,
            stats.first_error.as_deref().unwrap_or("?")
        )
    }
}

/// A row whose figure is a share of another throughput of the same run.
fn throughput_row(name: &str, stats: &Stats, baseline_name: &str, baseline: &Stats, goal: f64) -> Row {
    let ratio = stats.rate() / baseline.rate().max(1e-9);
    Row::measured(
        name,
        with_errors(
            format!(
                "{:.0} req/s (p50 {}, p99 {}{})",
                stats.rate(),
                millis(stats.p50),
                millis(stats.p99),
                server_cpu(stats)
            ),
            stats,
        ),
        format!("{baseline_name} {:.0} req/s{}", baseline.rate(), server_cpu(baseline)),
        ratio,
        format!("≥ {goal:.2}×"),
        ratio >= goal && stats.errors == 0 && stats.calls > 0,
    )
}

/// `; server CPU 44 µs a call` when the server's CPU time was read, else nothing.
fn server_cpu(stats: &Stats) -> String {
    stats
        .server_cpu_per_call()
        .map_or(String::new(), |micros| format!("; server CPU {micros:.0} µs a call"))
}

/// A row whose p99 has an absolute goal; the ratio is to Health/Check's p99 in the same run.
fn latency_row(name: String, stats: &Stats, health: &Stats, goal: Duration) -> Row {
    let ratio = stats.p99.as_secs_f64() / health.p99.as_secs_f64().max(1e-9);
    Row::measured(
        name,
        with_errors(
            format!(
                "p99 {} (p50 {}, {:.0} req/s)",
                millis(stats.p99),
                millis(stats.p50),
                stats.rate()
            ),
            stats,
        ),
        format!("Health/Check p99 {}", millis(health.p99)),
        ratio,
        format!("p99 ≤ {} ms", goal.as_millis()),
        stats.p99 <= goal && stats.errors == 0 && stats.calls > 0,
    )
}

/// A write-throughput row: the goal is absolute; the ratio is to the direct INSERT's rate.
fn rows_row(name: String, rate: f64, baseline: Result<f64, String>) -> Row {
    let (baseline_text, ratio) = match baseline {
        Ok(direct) => (format!("direct INSERT {direct:.0} rows/s"), rate / direct.max(1e-9)),
        Err(why) => (format!("goal (no direct INSERT: {why})"), rate / ROWS_PER_SECOND_GOAL),
    };
    Row::measured(
        name,
        format!("{rate:.0} rows/s"),
        baseline_text,
        ratio,
        "≥ 20k rows/s",
        rate >= ROWS_PER_SECOND_GOAL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_sql_groups_like_the_service_and_escapes_the_indicator() {
        let by_area = aggregate_sql("indicators/green-jobs", "ref_area", true);
        assert!(by_area.contains("GROUP BY o.ref_area, o.status"));
        assert!(by_area.contains("indicator = 'indicators/green-jobs'"));
        assert!(by_area.contains("WHERE preference = 1"));
        assert!(!aggregate_sql("indicators/green-jobs", "year", false).contains("preference"));
        let by_form = aggregate_sql("indicators/it's", "legal_form", true);
        assert!(by_form.contains("LEFT JOIN initiatives"));
        assert!(by_form.contains("'indicators/it''s'"));
    }

    #[test]
    fn the_median_is_the_middle_time() {
        let mut times = [3, 1, 2].map(Duration::from_millis);
        assert_eq!(median(&mut times), Duration::from_millis(2));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
