//! Behaviour over generated figures (which include conflicting sources and repeated SDMX keys),
//! on SQLite and on PostgreSQL: aggregation in the database gives what the in-memory rule gives,
//! a streamed export holds what a whole-document one held, and the generator writes what it says.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, Condition};
use sse_indicators::{
    IndicatorsService, Module, Store,
    aggregate::{self, GroupField},
    entity::observation::Column,
    initiatives::{InitiativeFacts, Initiatives},
    sdmx,
};
use sse_platform::{
    generate::{GenerateSpec, initiative_profile},
    module::ServiceModule,
};
use sse_proto::indicators::{
    AggregateRow, ExportFormat, ExportObservationsRequest, indicator::Aggregation,
    indicator_service_server::IndicatorService,
};
use sse_testkit::{Backend, TestDatabase, on_both_databases};
use tokio_stream::StreamExt;

on_both_databases!(
    aggregation_in_the_database_matches_the_in_memory_rule,
    the_generator_is_deterministic_and_spreads_figures_over_the_initiatives,
    a_streamed_export_holds_every_figure_once_as_a_whole_document_did,
);

const SPEC: GenerateSpec = GenerateSpec {
    initiatives: 30,
    observations: 3_000,
    legal_texts: 0,
    seed: 7,
};

async fn generated(backend: Backend, spec: &GenerateSpec) -> (TestDatabase, Store) {
    let database = TestDatabase::new(backend).await.expect("database");
    Module.migrate(&database.connection).await.expect("migrate");
    Module.seed(&database.connection).await.expect("seed");
    let written = Module.generate(&database.connection, spec).await.expect("generate");
    assert_eq!(written as u64, spec.observations);
    let store = Store::new(database.connection.clone());
    (database, store)
}

fn facts(spec: &GenerateSpec) -> HashMap<String, InitiativeFacts> {
    (0..spec.initiatives)
        .map(|index| {
            let profile = initiative_profile(spec.seed, index);
            (
                format!("initiatives/{}", profile.id),
                InitiativeFacts {
                    legal_form: profile.legal_form,
                    sdg_goals: profile.sdg_goals.into_iter().collect(),
                    deleted: false,
                },
            )
        })
        .collect()
}

async fn in_database(
    store: &Store,
    indicator: &str,
    filter: &str,
    group_by: &[GroupField],
    rule: Aggregation,
    facts: &HashMap<String, InitiativeFacts>,
) -> (Vec<AggregateRow>, i32) {
    let groups: Vec<_> = store
        .aggregate_figures(
            indicator,
            filter,
            &aggregate::sql_group_fields(group_by),
            rule == Aggregation::Last,
        )
        .await
        .expect("aggregate in the database")
        .collect::<Result<_, _>>()
        .await
        .expect("aggregate in the database");
    aggregate::combine(groups, group_by, rule, facts)
}

fn assert_same(actual: &(Vec<AggregateRow>, i32), expected: &(Vec<AggregateRow>, i32), case: &str) {
    assert_eq!(actual.1, expected.1, "set aside, {case}");
    assert_eq!(actual.0.len(), expected.0.len(), "rows, {case}");
    for (got, want) in actual.0.iter().zip(&expected.0) {
        assert_eq!(got.group, want.group, "{case}");
        assert_eq!(
            (got.count, got.set_aside_count),
            (want.count, want.set_aside_count),
            "{case}"
        );
        let tolerance = 1e-9 * want.value.abs().max(1.0);
        assert!(
            (got.value - want.value).abs() <= tolerance,
            "{case}: {got:?} vs {want:?}"
        );
    }
}

async fn aggregation_in_the_database_matches_the_in_memory_rule(backend: Backend) {
    let (_database, store) = generated(backend, &SPEC).await;
    let facts = facts(&SPEC);
    let groupings: &[&[&str]] = &[
        &[],
        &["ref_area"],
        &["year"],
        &["initiative"],
        &["legal_form"],
        &["sdg_goal"],
        &["ref_area", "year"],
        &["legal_form", "year", "status"],
        &["initiative", "sdg_goal"],
    ];
    let mut conflicts = 0;
    for indicator in ["indicators/workers", "indicators/territories"] {
        for filter in ["", "year >= 2015 AND ref_area = \"FR\""] {
            let rows = store
                .matching_observations(filter, Condition::all().add(Column::Indicator.eq(indicator)))
                .await
                .expect("rows");
            assert!(!rows.is_empty(), "{indicator} has generated figures");
            for grouping in groupings {
                let names: Vec<String> = grouping.iter().map(|field| (*field).to_owned()).collect();
                let group_by = aggregate::parse_group_by(&names).expect("groups");
                for rule in [Aggregation::Sum, Aggregation::Mean, Aggregation::Max, Aggregation::Last] {
                    let case = format!("{indicator} {filter:?} {grouping:?} {rule:?}");
                    let expected = aggregate::aggregate(&rows, rule, &group_by, &facts);
                    let actual = in_database(&store, indicator, filter, &group_by, rule, &facts).await;
                    assert_same(&actual, &expected, &case);
                    conflicts += expected.1;
                }
            }
        }
    }
    assert!(conflicts > 0, "the generated figures include conflicting sources");
}

async fn the_generator_is_deterministic_and_spreads_figures_over_the_initiatives(backend: Backend) {
    let spec = GenerateSpec {
        observations: 500,
        ..SPEC
    };
    let (_first_database, first) = generated(backend, &spec).await;
    let (_second_database, second) = generated(backend, &spec).await;
    let read = |store: Store| async move {
        let rows = store.matching_observations("", Condition::all()).await.expect("rows");
        rows.into_iter()
            .map(|row| {
                (
                    row.name,
                    row.initiative,
                    row.ref_area,
                    row.time_period,
                    row.value,
                    row.status,
                )
            })
            .collect::<Vec<_>>()
    };
    let first_rows = read(first).await;
    assert_eq!(first_rows, read(second).await, "the same seed gives the same figures");
    let generated: Vec<_> = first_rows
        .iter()
        .filter(|row| row.0.contains("/observations/generated-"))
        .collect();
    assert_eq!(generated.len(), 500);
    let initiatives: std::collections::BTreeSet<&str> = generated.iter().map(|row| row.1.as_str()).collect();
    assert!(initiatives.len() > 20, "{initiatives:?}");
    assert!(
        initiatives
            .iter()
            .all(|name| name.starts_with("initiatives/generated-"))
    );
    let years: std::collections::BTreeSet<&str> = generated.iter().map(|row| &row.3[..4]).collect();
    assert!(years.first() >= Some(&"2005") && years.last() <= Some(&"2025") && years.len() > 15);
}

/// Scale measurements, run by hand: `SCALE_DATABASE_URL=postgres://…/scratch or sqlite://…?mode=rwc
/// cargo test -p sse-indicators --test aggregation -- --ignored --nocapture`. Generates a million
/// observations into an empty database, then times aggregation by ref_area, year and legal_form.
#[tokio::test]
#[ignore = "scale measurement, needs SCALE_DATABASE_URL"]
async fn scale_generate_and_aggregate_a_million_observations() {
    let Ok(url) = std::env::var("SCALE_DATABASE_URL") else {
        return;
    };
    let db = sse_platform::database::connect(&url).await.expect("connect");
    Module.migrate(&db).await.expect("migrate");
    Module.seed(&db).await.expect("seed");
    let spec = GenerateSpec {
        initiatives: 10_000,
        observations: std::env::var("SCALE_OBSERVATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000),
        legal_texts: 0,
        seed: 1,
    };
    let store = Store::new(db.clone());
    let existing = store
        .matching_observations(
            "name = \"indicators/workers/observations/generated-00000000\"",
            Condition::all(),
        )
        .await
        .expect("probe");
    if existing.is_empty() {
        let started = std::time::Instant::now();
        Module.generate(&db, &spec).await.expect("generate");
        eprintln!("generate: {:.1} s", started.elapsed().as_secs_f64());
    }
    let facts = facts(&spec);
    for grouping in ["ref_area", "year", "legal_form"] {
        let group_by = aggregate::parse_group_by(&[grouping.to_owned()]).expect("groups");
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let (rows, set_aside) =
                in_database(&store, "indicators/workers", "", &group_by, Aggregation::Sum, &facts).await;
            eprintln!(
                "aggregate by {grouping}: {} rows, {set_aside} set aside, {:.3} s",
                rows.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

async fn exported(store: &Store, filter: &str, format: ExportFormat) -> (usize, String) {
    // Exports ask no other service; this client never connects.
    let initiatives = Initiatives::connect_lazy("http://127.0.0.1:9", &Default::default()).expect("client");
    let service = IndicatorsService::new(store.clone(), initiatives);
    let request = tonic::Request::new(ExportObservationsRequest {
        filter: filter.to_owned(),
        format: format.into(),
    });
    let mut stream = service.export_observations(request).await.expect("export").into_inner();
    let mut messages = 0;
    let mut bytes = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message.expect("message");
        assert_eq!(
            message.content_type.is_empty(),
            messages > 0,
            "the first message says the type"
        );
        assert!(message.data.len() <= 64 * 1024);
        bytes.extend(message.data);
        messages += 1;
    }
    (messages, String::from_utf8(bytes).expect("utf-8"))
}

async fn a_streamed_export_holds_every_figure_once_as_a_whole_document_did(backend: Backend) {
    let spec = GenerateSpec {
        initiatives: 5,
        observations: 6_000,
        ..SPEC
    };
    let (_database, store) = generated(backend, &spec).await;
    let rows = store.matching_observations("", Condition::all()).await.expect("rows");
    let indicators = store.indicators_by_code().await.expect("indicators");
    let whole = sdmx::observations(&rows, &indicators).expect("whole document");
    let repeated = whole
        .iter()
        .filter(|observation| observation.key[4].ends_with("-2"))
        .count();
    assert!(repeated > 0, "the generated figures repeat some keys");
    let mut expected: Vec<String> = whole
        .iter()
        .map(|observation| format!("{},{}", observation.key.join(","), observation.value))
        .collect();
    expected.sort();

    let (messages, csv) = exported(&store, "", ExportFormat::SdmxCsv).await;
    assert!(messages > 1, "a large export comes in several messages");
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), rows.len());
    let mut streamed: Vec<String> = lines
        .iter_mut()
        .map(|line| line.split(',').skip(3).take(7).collect::<Vec<_>>().join(","))
        .collect();
    streamed.sort();
    assert_eq!(
        streamed, expected,
        "the same keys and values as a whole-document export"
    );

    let (_, json) = exported(&store, "year >= 2010", ExportFormat::SdmxJson).await;
    let message: serde_json::Value = serde_json::from_str(&json).expect("json");
    let observations = message["data"]["dataSets"][0]["observations"]
        .as_object()
        .expect("observations");
    let matching = rows.iter().filter(|row| row.year >= 2010).count();
    assert_eq!(observations.len(), matching, "every figure, each under its own key");
    let attributes = message["data"]["structures"][0]["attributes"]["observation"]
        .as_array()
        .expect("attributes");
    assert!(
        attributes
            .iter()
            .all(|attribute| { attribute["values"].as_array().is_some_and(|values| !values.is_empty()) })
    );

    let (_, empty) = exported(&store, "year < 1900", ExportFormat::SdmxJson).await;
    let message: serde_json::Value = serde_json::from_str(&empty).expect("an empty export is json too");
    assert_eq!(message["data"]["dataSets"][0]["observations"], serde_json::json!({}));
}

/// Times the RPCs of a running server holding generated data, run by hand:
/// `SCALE_SERVER_URL=http://127.0.0.1:50051 SCALE_ADMIN_KEY=… cargo test -p sse-indicators
/// --test generated scale_time -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "scale measurement, needs SCALE_SERVER_URL"]
async fn scale_time_rpcs_against_a_running_server() {
    use sse_proto::indicators::{
        AggregateObservationsRequest, BatchCreateObservationsRequest, CreateObservationRequest, GetProgressRequest,
        Observation, indicator_service_client::IndicatorServiceClient, observation::Status as FigureStatus,
    };
    use sse_proto::types::SourceCitation;
    use std::time::Instant;
    let Ok(url) = std::env::var("SCALE_SERVER_URL") else {
        return;
    };
    let key = std::env::var("SCALE_ADMIN_KEY").unwrap_or_default();
    let authorization: tonic::metadata::MetadataValue<_> = format!("Bearer {key}").parse().expect("key");
    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = IndicatorServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", authorization.clone());
        Ok(request)
    })
    .max_decoding_message_size(64 << 20)
    .max_encoding_message_size(64 << 20);
    let only_batches = std::env::var("SCALE_ONLY_BATCHES").is_ok();
    let groupings: &[&str] = if only_batches {
        &[]
    } else {
        &["ref_area", "year", "legal_form"]
    };
    for grouping in groupings {
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let response = client
                .aggregate_observations(AggregateObservationsRequest {
                    indicator: "indicators/workers".to_owned(),
                    filter: String::new(),
                    group_by: vec![(*grouping).to_owned()],
                })
                .await
                .expect("aggregate")
                .into_inner();
            times.push(started.elapsed().as_secs_f64());
            assert!(!response.rows.is_empty());
        }
        eprintln!("aggregate by {grouping}: {times:.3?} s");
    }
    let started = Instant::now();
    let progress = client
        .get_progress(GetProgressRequest {
            initiative: "initiatives/generated-0000001".to_owned(),
        })
        .await
        .expect("progress")
        .into_inner();
    eprintln!(
        "progress: {} indicators in {:.3} s",
        progress.progress.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let filter = if only_batches { "year < 1900" } else { "" };
    let mut stream = client
        .export_observations(ExportObservationsRequest {
            filter: filter.to_owned(),
            format: ExportFormat::SdmxCsv.into(),
        })
        .await
        .expect("export")
        .into_inner();
    let mut first = None;
    let mut bytes = 0;
    while let Some(message) = stream.next().await {
        first.get_or_insert_with(|| started.elapsed().as_secs_f64());
        bytes += message.expect("chunk").data.len();
    }
    eprintln!(
        "export csv: first chunk after {:.3} s, {bytes} bytes in {:.1} s",
        first.unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let batches = if std::env::var("SCALE_SKIP_BATCHES").is_ok() {
        0
    } else {
        10
    };
    let started = Instant::now();
    for batch in 0..batches {
        let requests = (0..5_000_u32)
            .map(|index| CreateObservationRequest {
                observation: Some(Observation {
                    initiative: format!("initiatives/generated-{:07}", index % 1_000),
                    ref_area: "FR".to_owned(),
                    time_period: "2024".to_owned(),
                    value: f64::from(index),
                    status: FigureStatus::Reported.into(),
                    source: Some(SourceCitation {
                        title: "bench".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                observation_id: format!("bench-{run}-{batch}-{index}"),
                request_id: format!("bench-{run}-{batch}-{index}"),
                ..Default::default()
            })
            .collect();
        client
            .batch_create_observations(BatchCreateObservationsRequest {
                validate_only: false,
                parent: "indicators/workers".to_owned(),
                requests,
                request_id: format!("bench-{run}-{batch}"),
            })
            .await
            .expect("batch");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "batch create: {} rows in {seconds:.2} s: {:.0} rows/s",
        batches * 5_000,
        f64::from(batches * 5_000) / seconds
    );
}
