//! The indicators API as a partner drives it: real gRPC over loopback, a real initiatives
//! service beside it (stopped in one test), on SQLite and on PostgreSQL.

use sse_indicators::Module;
use sse_platform::{config::Settings, module::ServiceModule};
use sse_proto::indicators::{
    AggregateObservationsRequest, BatchCreateObservationsRequest, CreateIndicatorRequest, CreateObservationRequest,
    DeleteObservationRequest, ExportFormat, ExportObservationsRequest, GetDataStructureRequest, GetProgressRequest,
    Indicator, ListObservationsRequest, ListSdgGoalsRequest, ListSdgIndicatorsRequest, ListSdgTargetsRequest,
    Observation, UpdateIndicatorRequest, UpdateObservationRequest,
    indicator::{Aggregation, Category},
    indicator_service_client::IndicatorServiceClient,
    observation::Status as FigureStatus,
};
use sse_proto::initiatives::{
    BatchCreateInitiativesRequest, CreateInitiativeRequest, Initiative, initiative::LegalForm,
    initiative_service_client::InitiativeServiceClient,
};
use sse_proto::types::{PartialDate, SourceCitation};
use sse_testkit::{Backend, TestDatabase, TestServer, on_both_databases, violated_fields};
use tokio_stream::StreamExt;
use tonic::{Code, Request, Status, service::interceptor::InterceptedService, transport::Channel};

type Client = IndicatorServiceClient<InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>>;

struct App {
    client: Client,
    server: TestServer,
    initiatives: Option<TestServer>,
    _databases: (TestDatabase, TestDatabase),
}

impl App {
    /// The indicators service, with an initiatives service holding the four seeded initiatives.
    async fn start(backend: Backend, seeded: bool) -> App {
        let initiatives_database = TestDatabase::new(backend).await.expect("database");
        let initiatives_module = sse_initiatives::Module;
        initiatives_module
            .migrate(&initiatives_database.connection)
            .await
            .expect("migrate");
        initiatives_module
            .seed(&initiatives_database.connection)
            .await
            .expect("seed");
        let initiatives = TestServer::start(
            sse_testkit::grpc_server_with(&initiatives_module, &initiatives_database).expect("register"),
        )
        .await
        .expect("initiatives server");

        let database = TestDatabase::new(backend).await.expect("database");
        Module.migrate(&database.connection).await.expect("migrate");
        if seeded {
            Module.seed(&database.connection).await.expect("seed");
        }
        let settings = Settings {
            initiatives_url: format!("http://{}", initiatives.address),
            ..Settings::default()
        };
        let server =
            TestServer::start(sse_testkit::grpc_server_with_settings(&Module, &database, settings).expect("register"))
                .await
                .expect("server");
        let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
        let client = IndicatorServiceClient::with_interceptor(server.channel.clone(), intercept);
        App {
            client,
            server,
            initiatives: Some(initiatives),
            _databases: (database, initiatives_database),
        }
    }

    async fn create_indicator(&mut self, code: &str, aggregation: Aggregation) -> Indicator {
        let request = CreateIndicatorRequest {
            validate_only: false,
            indicator_id: code.to_owned(),
            indicator: Some(Indicator {
                display_name: format!("Indicator {code}"),
                unit: "{jobs}".to_owned(),
                category: Category::Employment.into(),
                aggregation: aggregation.into(),
                sdg_indicators: vec!["8.5.2".to_owned()],
                ..Default::default()
            }),
            request_id: String::new(),
        };
        self.client
            .create_indicator(request)
            .await
            .expect("create indicator")
            .into_inner()
            .indicator
            .expect("indicator")
    }

    async fn create(&mut self, indicator: &str, observation: Observation) -> Result<Observation, Status> {
        let request = CreateObservationRequest {
            parent: format!("indicators/{indicator}"),
            observation: Some(observation),
            ..Default::default()
        };
        Ok(self
            .client
            .create_observation(request)
            .await?
            .into_inner()
            .observation
            .expect("observation"))
    }

    async fn count(&mut self, parent: &str) -> i32 {
        let request = ListObservationsRequest {
            parent: parent.to_owned(),
            ..Default::default()
        };
        self.client
            .list_observations(request)
            .await
            .expect("list")
            .into_inner()
            .total_size
    }

    async fn stop(mut self) {
        self.server.stop().await.expect("server stops");
        if let Some(initiatives) = self.initiatives.take() {
            initiatives.stop().await.expect("initiatives server stops");
        }
    }
}

fn figure(initiative: &str, area: &str, period: &str, status: FigureStatus, value: f64, source: &str) -> Observation {
    Observation {
        initiative: if initiative.is_empty() {
            String::new()
        } else {
            format!("initiatives/{initiative}")
        },
        ref_area: area.to_owned(),
        time_period: period.to_owned(),
        value,
        status: status.into(),
        source: Some(SourceCitation {
            title: source.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn dated(mut observation: Observation, year: i32) -> Observation {
    if let Some(source) = observation.source.as_mut() {
        source.date = Some(PartialDate { year, month: 0, day: 0 });
    }
    observation
}

/// Figures with known totals: three cooperative ones, two public-programme ones (one of which
/// two sources disagree on), and a target.
async fn create_known_figures(app: &mut App) {
    app.create_indicator("jobs", Aggregation::Sum).await;
    let figures = [
        figure(
            "la-guilde",
            "CA-QC",
            "2020",
            FigureStatus::Reported,
            10.0,
            "Guilde report",
        ),
        figure(
            "la-guilde",
            "CA-QC",
            "2021",
            FigureStatus::Reported,
            20.0,
            "Guilde report",
        ),
        figure(
            "mondragon",
            "ES-PV",
            "2020",
            FigureStatus::Reported,
            100.0,
            "Mondragon report",
        ),
        figure("tzcld", "FR", "2020", FigureStatus::Reported, 5.0, "TZCLD report"),
        figure("tzcld", "FR", "2020", FigureStatus::Target, 50.0, "TZCLD plan"),
        dated(
            figure(
                "great-green-wall",
                "",
                "2020",
                FigureStatus::Reported,
                1000.0,
                "Newer source",
            ),
            2021,
        ),
        dated(
            figure(
                "great-green-wall",
                "",
                "2020",
                FigureStatus::Reported,
                900.0,
                "Older source",
            ),
            2020,
        ),
    ];
    let requests = figures
        .into_iter()
        .map(|observation| CreateObservationRequest {
            observation: Some(observation),
            ..Default::default()
        })
        .collect();
    app.client
        .batch_create_observations(BatchCreateObservationsRequest {
            validate_only: false,
            parent: "indicators/jobs".to_owned(),
            requests,
            request_id: String::new(),
        })
        .await
        .expect("batch");
}

on_both_databases!(
    indicators_are_created_validated_and_updated_with_etags,
    an_observation_of_an_unknown_initiative_is_a_failed_precondition,
    with_the_initiatives_service_down_writes_are_unavailable_and_nothing_is_written,
    a_batch_that_fails_half_way_writes_nothing,
    a_retried_batch_writes_once,
    aggregation_by_area_and_year_keeps_targets_apart,
    aggregation_by_legal_form_uses_the_initiatives_service,
    conflicting_sources_keep_the_most_recent_and_count_the_others,
    observations_are_listed_filtered_updated_and_deleted,
    progress_of_the_great_green_wall_compares_reported_with_target,
    sdg_reference_lists_come_in_three_languages,
    exports_are_sdmx_csv_and_json_with_a_published_structure,
    a_batch_naming_a_hundred_initiatives_with_long_ids_is_checked_in_bulk,
    a_batch_checked_in_several_calls_names_the_unknown_initiative_of_a_later_one,
);

async fn indicators_are_created_validated_and_updated_with_etags(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let created = app.create_indicator("green-jobs", Aggregation::Sum).await;
    assert_eq!(created.name, "indicators/green-jobs");
    let invalid = CreateIndicatorRequest {
        validate_only: false,
        indicator_id: "Bad Code".to_owned(),
        indicator: Some(Indicator {
            display_name: String::new(),
            unit: "two words".to_owned(),
            sdg_indicators: vec!["8.5.99".to_owned()],
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let status = app.client.create_indicator(invalid).await.expect_err("invalid");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "indicator.display_name",
            "indicator.sdg_indicators[0]",
            "indicator.unit",
            "indicator_id"
        ]
    );
    let rename = |etag: &str, display_name: &str| UpdateIndicatorRequest {
        indicator: Some(Indicator {
            name: created.name.clone(),
            display_name: display_name.to_owned(),
            etag: etag.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(pbjson_types::FieldMask {
            paths: vec!["display_name".to_owned()],
        }),
    };
    let updated = app
        .client
        .update_indicator(rename(&created.etag, "Green jobs"))
        .await
        .expect("update");
    assert_eq!(updated.into_inner().indicator.expect("indicator").unit, "{jobs}");
    let stale = app
        .client
        .update_indicator(rename(&created.etag, "Stale"))
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    app.stop().await;
}

async fn an_observation_of_an_unknown_initiative_is_a_failed_precondition(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    let status = app
        .create(
            "jobs",
            figure("no-such-initiative", "FR", "2020", FigureStatus::Reported, 1.0, "x"),
        )
        .await
        .expect_err("unknown initiative");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("initiatives/no-such-initiative"),
        "{}",
        status.message()
    );
    assert_eq!(app.count("indicators/jobs").await, 0);
    let missing_source = Observation {
        source: None,
        ..figure("", "FR", "2020", FigureStatus::Reported, 1.0, "x")
    };
    let status = app.create("jobs", missing_source).await.expect_err("no source");
    assert_eq!(violated_fields(&status), ["observation.source"]);
    let bad_period = figure("", "FR", "2020-Q5", FigureStatus::Reported, 1.0, "x");
    let status = app.create("jobs", bad_period).await.expect_err("bad period");
    assert_eq!(violated_fields(&status), ["observation.time_period"]);
    let unknown_indicator = app
        .create("nope", figure("", "FR", "2020", FigureStatus::Reported, 1.0, "x"))
        .await;
    assert_eq!(unknown_indicator.expect_err("unknown indicator").code(), Code::NotFound);
    app.stop().await;
}

async fn with_the_initiatives_service_down_writes_are_unavailable_and_nothing_is_written(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    app.create(
        "jobs",
        figure("tzcld", "FR", "2020", FigureStatus::Reported, 1.0, "before"),
    )
    .await
    .expect("while the initiatives service is up");
    if let Some(initiatives) = app.initiatives.take() {
        initiatives.stop().await.expect("stop the initiatives service");
    }
    let status = app
        .create(
            "jobs",
            figure("tzcld", "FR", "2021", FigureStatus::Reported, 2.0, "after"),
        )
        .await
        .expect_err("initiatives down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(app.count("indicators/jobs").await, 1, "nothing written");
    app.create(
        "jobs",
        figure("", "FR", "2021", FigureStatus::Reported, 2.0, "no initiative"),
    )
    .await
    .expect("a figure about no initiative needs no initiatives service");
    app.stop().await;
}

/// Two ids of the batch are taken: the first of them in the batch's order is named, whatever
/// order the database finds them in, and nothing is written.
async fn a_batch_that_fails_half_way_writes_nothing(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    for taken in ["taken-a", "taken-b"] {
        app.client
            .create_observation(CreateObservationRequest {
                parent: "indicators/jobs".to_owned(),
                observation: Some(figure("", "FR", "2019", FigureStatus::Reported, 1.0, "x")),
                observation_id: taken.to_owned(),
                request_id: String::new(),
            })
            .await
            .expect("first");
    }
    let mut requests: Vec<CreateObservationRequest> = (0..500)
        .map(|index| CreateObservationRequest {
            observation: Some(figure("", "FR", "2020", FigureStatus::Reported, f64::from(index), "x")),
            observation_id: format!("figure-{index}"),
            ..Default::default()
        })
        .collect();
    requests[250].observation_id = "taken-b".to_owned();
    requests.push(CreateObservationRequest {
        observation: Some(figure("", "FR", "2020", FigureStatus::Reported, 1.0, "x")),
        observation_id: "taken-a".to_owned(),
        ..Default::default()
    });
    let status = app
        .client
        .batch_create_observations(BatchCreateObservationsRequest {
            validate_only: false,
            parent: "indicators/jobs".to_owned(),
            requests,
            request_id: String::new(),
        })
        .await
        .expect_err("two items clash");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains("indicators/jobs/observations/taken-b"),
        "{}",
        status.message()
    );
    assert_eq!(app.count("indicators/jobs").await, 2, "a failed batch writes nothing");
    let too_many = BatchCreateObservationsRequest {
        validate_only: false,
        parent: "indicators/jobs".to_owned(),
        requests: vec![CreateObservationRequest::default(); 10_001],
        request_id: String::new(),
    };
    let status = app
        .client
        .batch_create_observations(too_many)
        .await
        .expect_err("too many");
    assert_eq!(violated_fields(&status), ["requests"]);
    app.stop().await;
}

async fn a_retried_batch_writes_once(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    let batch = BatchCreateObservationsRequest {
        validate_only: false,
        parent: "indicators/-".to_owned(),
        requests: (0..3)
            .map(|index| CreateObservationRequest {
                parent: "indicators/jobs".to_owned(),
                observation: Some(figure(
                    "tzcld",
                    "FR",
                    "2020",
                    FigureStatus::Reported,
                    f64::from(index),
                    "x",
                )),
                ..Default::default()
            })
            .collect(),
        request_id: "retry-me".to_owned(),
    };
    let first = app
        .client
        .batch_create_observations(batch.clone())
        .await
        .expect("first")
        .into_inner();
    let second = app
        .client
        .batch_create_observations(batch)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(app.count("indicators/-").await, 3);
    app.stop().await;
}

async fn aggregate(app: &mut App, group_by: &[&str], filter: &str) -> Vec<(Vec<String>, f64, i32, i32)> {
    let request = AggregateObservationsRequest {
        indicator: "indicators/jobs".to_owned(),
        filter: filter.to_owned(),
        group_by: group_by.iter().map(|field| (*field).to_owned()).collect(),
    };
    let response = app
        .client
        .aggregate_observations(request)
        .await
        .expect("aggregate")
        .into_inner();
    response
        .rows
        .into_iter()
        .map(|row| {
            let group = row.group.into_iter().map(|value| value.value).collect();
            (group, row.value, row.count, row.set_aside_count)
        })
        .collect()
}

fn row(group: &[&str], value: f64, count: i32, set_aside: i32) -> (Vec<String>, f64, i32, i32) {
    (
        group.iter().map(|value| (*value).to_owned()).collect(),
        value,
        count,
        set_aside,
    )
}

async fn aggregation_by_area_and_year_keeps_targets_apart(backend: Backend) {
    let mut app = App::start(backend, false).await;
    create_known_figures(&mut app).await;
    assert_eq!(
        aggregate(&mut app, &["ref_area", "year"], "").await,
        [
            row(&["", "2020", "REPORTED"], 1000.0, 1, 1),
            row(&["CA-QC", "2020", "REPORTED"], 10.0, 1, 0),
            row(&["CA-QC", "2021", "REPORTED"], 20.0, 1, 0),
            row(&["ES-PV", "2020", "REPORTED"], 100.0, 1, 0),
            row(&["FR", "2020", "REPORTED"], 5.0, 1, 0),
            row(&["FR", "2020", "TARGET"], 50.0, 1, 0),
        ]
    );
    assert_eq!(
        aggregate(&mut app, &["year"], "year = 2020").await,
        [
            row(&["2020", "REPORTED"], 1115.0, 4, 1),
            row(&["2020", "TARGET"], 50.0, 1, 0)
        ]
    );
    let bad = AggregateObservationsRequest {
        indicator: "indicators/jobs".to_owned(),
        filter: String::new(),
        group_by: vec!["colour".to_owned()],
    };
    let status = app.client.aggregate_observations(bad).await.expect_err("unknown group");
    assert_eq!(violated_fields(&status), ["group_by[0]"]);
    app.stop().await;
}

async fn aggregation_by_legal_form_uses_the_initiatives_service(backend: Backend) {
    let mut app = App::start(backend, false).await;
    create_known_figures(&mut app).await;
    assert_eq!(
        aggregate(&mut app, &["legal_form"], "").await,
        [
            row(&["COOPERATIVE", "REPORTED"], 130.0, 3, 0),
            row(&["PUBLIC_PROGRAMME", "REPORTED"], 1005.0, 2, 1),
            row(&["PUBLIC_PROGRAMME", "TARGET"], 50.0, 1, 0),
        ]
    );
    let by_goal = aggregate(&mut app, &["sdg_goal", "status"], "status = REPORTED").await;
    assert!(by_goal.contains(&row(&["8", "REPORTED"], 1135.0, 5, 1)), "{by_goal:?}");
    assert!(by_goal.contains(&row(&["15", "REPORTED"], 1000.0, 1, 1)), "{by_goal:?}");
    app.stop().await;
}

async fn conflicting_sources_keep_the_most_recent_and_count_the_others(backend: Backend) {
    let mut app = App::start(backend, false).await;
    create_known_figures(&mut app).await;
    let request = AggregateObservationsRequest {
        indicator: "indicators/jobs".to_owned(),
        filter: "initiative = \"initiatives/great-green-wall\"".to_owned(),
        group_by: vec![],
    };
    let response = app
        .client
        .aggregate_observations(request)
        .await
        .expect("aggregate")
        .into_inner();
    assert_eq!(response.set_aside_count, 1);
    assert_eq!(response.rows.len(), 1);
    assert_eq!(
        response.rows[0].value, 1000.0,
        "the more recently published source wins"
    );
    assert_eq!(response.aggregation(), Aggregation::Sum);
    let listed = app
        .client
        .list_observations(ListObservationsRequest {
            parent: "indicators/jobs".to_owned(),
            filter: "initiative = \"initiatives/great-green-wall\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 2, "both figures are kept, each with its source");
    app.stop().await;
}

async fn observations_are_listed_filtered_updated_and_deleted(backend: Backend) {
    let mut app = App::start(backend, false).await;
    create_known_figures(&mut app).await;
    let list = |filter: &str, order_by: &str, page_size: i32, page_token: String| ListObservationsRequest {
        parent: "indicators/jobs".to_owned(),
        filter: filter.to_owned(),
        order_by: order_by.to_owned(),
        page_size,
        page_token,
        ..Default::default()
    };
    let page = app
        .client
        .list_observations(list("status = TARGET", "", 0, String::new()))
        .await
        .expect("list");
    assert_eq!(page.into_inner().total_size, 1);
    let page = app
        .client
        .list_observations(list("period_end >= 2021 AND value > 1", "", 0, String::new()))
        .await;
    assert_eq!(page.expect("list").into_inner().total_size, 1);
    let page = app
        .client
        .list_observations(list("source:\"report\"", "", 0, String::new()))
        .await;
    assert_eq!(page.expect("list").into_inner().total_size, 4);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_observations(list("", "value desc", 3, token))
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.observations.into_iter().map(|observation| observation.value));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [1000.0, 900.0, 100.0, 50.0, 20.0, 10.0, 5.0]);

    let first = app
        .client
        .list_observations(list("value = 5", "", 0, String::new()))
        .await
        .expect("list")
        .into_inner()
        .observations
        .remove(0);
    let update = UpdateObservationRequest {
        observation: Some(Observation {
            name: first.name.clone(),
            value: 6.0,
            time_period: "2020-Q4".to_owned(),
            etag: first.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(pbjson_types::FieldMask {
            paths: vec!["value".to_owned(), "time_period".to_owned()],
        }),
    };
    let updated = app
        .client
        .update_observation(update)
        .await
        .expect("update")
        .into_inner()
        .observation
        .expect("obs");
    assert_eq!((updated.value, updated.time_period.as_str()), (6.0, "2020-Q4"));
    assert_eq!(updated.source, first.source, "fields outside the mask are kept");
    let deleted = app
        .client
        .delete_observation(DeleteObservationRequest {
            name: first.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    assert!(deleted.into_inner().observation.expect("obs").delete_time.is_some());
    assert_eq!(app.count("indicators/jobs").await, 6);
    let status = app
        .client
        .list_observations(list("colour = 1", "", 0, String::new()))
        .await
        .expect_err("bad filter");
    assert_eq!(violated_fields(&status), ["filter"]);
    app.stop().await;
}

async fn progress_of_the_great_green_wall_compares_reported_with_target(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let progress = app
        .client
        .get_progress(GetProgressRequest {
            initiative: "initiatives/great-green-wall".to_owned(),
        })
        .await
        .expect("progress")
        .into_inner()
        .progress;
    let land = progress
        .iter()
        .find(|entry| entry.indicator == "indicators/land-restored")
        .expect("land restored");
    assert_eq!(
        land.latest_target.as_ref().map(|target| target.value),
        Some(100_000_000.0)
    );
    let reported = land.latest_reported.as_ref().expect("reported");
    assert_eq!(
        reported.value, 20_000_000.0,
        "the dated ThisDay report is the more recent source"
    );
    assert_eq!(land.ratio, Some(0.2));
    assert_eq!(land.set_aside_count, 1);
    let to_work = progress
        .iter()
        .find(|entry| entry.indicator == "indicators/land-to-work")
        .expect("land to work");
    assert_eq!(
        to_work.latest_target.as_ref().map(|target| target.value),
        Some(50_000_000.0)
    );
    assert_eq!(to_work.ratio, None);
    app.stop().await;
}

async fn sdg_reference_lists_come_in_three_languages(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let goals = app
        .client
        .list_sdg_goals(ListSdgGoalsRequest {
            language: "fr".to_owned(),
        })
        .await;
    let goals = goals.expect("goals").into_inner().goals;
    assert_eq!(goals.len(), 17);
    assert!(goals[7].title.starts_with("Promouvoir"), "{}", goals[7].title);
    let targets = app
        .client
        .list_sdg_targets(ListSdgTargetsRequest::default())
        .await
        .expect("targets");
    assert_eq!(targets.into_inner().targets.len(), 169);
    let of_goal_8 = ListSdgTargetsRequest {
        language: "es".to_owned(),
        goal: "8".to_owned(),
    };
    let targets = app
        .client
        .list_sdg_targets(of_goal_8)
        .await
        .expect("targets")
        .into_inner()
        .targets;
    assert_eq!(targets.first().map(|target| target.code.as_str()), Some("8.1"));
    let indicators = ListSdgIndicatorsRequest {
        language: String::new(),
        parent: "8.5".to_owned(),
    };
    let indicators = app
        .client
        .list_sdg_indicators(indicators)
        .await
        .expect("indicators")
        .into_inner()
        .indicators;
    let codes: Vec<&str> = indicators.iter().map(|indicator| indicator.code.as_str()).collect();
    assert_eq!(codes, ["8.5.1", "8.5.2"]);
    let status = app
        .client
        .list_sdg_goals(ListSdgGoalsRequest {
            language: "de".to_owned(),
        })
        .await;
    assert_eq!(violated_fields(&status.expect_err("unknown language")), ["language"]);
    app.stop().await;
}

async fn export(app: &mut App, filter: &str, format: ExportFormat) -> (String, String) {
    let request = ExportObservationsRequest {
        filter: filter.to_owned(),
        format: format.into(),
    };
    let mut stream = app
        .client
        .export_observations(request)
        .await
        .expect("export")
        .into_inner();
    let mut content_type = String::new();
    let mut bytes = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message.expect("chunk");
        if content_type.is_empty() {
            content_type = message.content_type;
        }
        bytes.extend(message.data);
    }
    (content_type, String::from_utf8(bytes).expect("utf-8"))
}

async fn exports_are_sdmx_csv_and_json_with_a_published_structure(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let (content_type, csv) = export(
        &mut app,
        "indicator = \"indicators/land-restored\"",
        ExportFormat::SdmxCsv,
    )
    .await;
    assert_eq!(content_type, "application/vnd.sdmx.data+csv;version=2.0.0");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "STRUCTURE,STRUCTURE_ID,ACTION,INDICATOR,REF_AREA,INITIATIVE,OBS_STATUS,SOURCE_ID,TIME_PERIOD,OBS_VALUE,\
         UNIT_MEASURE,SOURCE_TITLE,SOURCE_URL,SOURCE_PUBLISHER,SOURCE_DATE,COMMENT"
    );
    assert_eq!(lines.len(), 4, "the target and both reported figures: {csv}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains(",T,") && line.contains(",2030,100000000,ha,"))
    );
    assert_eq!(lines.iter().filter(|line| line.contains("2007-01-01/P14Y")).count(), 2);
    assert!(csv.ends_with('\n') && !csv.ends_with("\n\n"));

    let (content_type, json) = export(&mut app, "", ExportFormat::SdmxJson).await;
    assert_eq!(content_type, "application/vnd.sdmx.data+json;version=2.0.0");
    let message: serde_json::Value = serde_json::from_str(&json).expect("json");
    let observations = message["data"]["dataSets"][0]["observations"]
        .as_object()
        .expect("observations");
    assert_eq!(observations.len(), 19, "every seeded figure");

    let structure = app
        .client
        .get_data_structure(GetDataStructureRequest {})
        .await
        .expect("structure")
        .into_inner();
    assert_eq!(structure.content_type, "application/vnd.sdmx.structure+xml;version=2.1");
    let xml = String::from_utf8(structure.data).expect("utf-8");
    assert!(xml.contains("<str:DataStructure id=\"DSD_SSE_OBS\""));
    assert!(!xml.contains("{prepared}"));
    app.stop().await;
}

/// Creates cooperatives (SDG 8) numbered `numbers` (at most 1,000) with 40-character ids in the
/// initiatives service.
async fn create_long_named_initiatives(app: &App, numbers: std::ops::Range<usize>) -> Vec<String> {
    let initiatives = app.initiatives.as_ref().expect("initiatives service");
    let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
    let mut client = InitiativeServiceClient::with_interceptor(initiatives.channel.clone(), intercept);
    let ids: Vec<String> = numbers
        .map(|index| format!("a-long-initiative-identifier-number-{index:04}"))
        .collect();
    let requests = ids
        .iter()
        .map(|id| CreateInitiativeRequest {
            initiative_id: id.clone(),
            initiative: Some(Initiative {
                display_name: format!("Cooperative {id}"),
                legal_form: LegalForm::Cooperative.into(),
                countries: vec!["FR".to_owned()],
                sdg_goals: vec![8],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .collect();
    client
        .batch_create_initiatives(BatchCreateInitiativesRequest {
            validate_only: false,
            requests,
            request_id: String::new(),
        })
        .await
        .expect("create initiatives");
    ids.iter().map(|id| format!("initiatives/{id}")).collect()
}

/// A batch of one figure (`value`, FR, 2020) about each of `names`, under `indicators/jobs`.
fn figures_about(names: &[String], value: f64) -> BatchCreateObservationsRequest {
    BatchCreateObservationsRequest {
        validate_only: false,
        parent: "indicators/jobs".to_owned(),
        requests: names
            .iter()
            .map(|name| CreateObservationRequest {
                observation: Some(Observation {
                    initiative: name.clone(),
                    ..figure("", "FR", "2020", FigureStatus::Reported, value, "x")
                }),
                ..Default::default()
            })
            .collect(),
        request_id: String::new(),
    }
}

/// `batch` over `names` (all known, their figures already written) with the one at `index`
/// replaced by `unknown`: refused with FAILED_PRECONDITION naming that request and that
/// initiative, and nothing of it written.
async fn refuses_the_unknown_initiative(
    app: &mut App,
    batch: impl Fn(&[String]) -> BatchCreateObservationsRequest,
    names: &[String],
    index: usize,
    unknown: &str,
) {
    let mut with_unknown = names.to_vec();
    with_unknown[index] = unknown.to_owned();
    let status = app
        .client
        .batch_create_observations(batch(&with_unknown))
        .await
        .expect_err("one unknown initiative");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let field = format!("requests[{index}].observation.initiative");
    assert!(status.message().contains(&field), "{}", status.message());
    assert!(status.message().contains(unknown), "{}", status.message());
    assert_eq!(
        app.count("indicators/jobs").await,
        i32::try_from(names.len()).expect("a batch's size"),
        "a refused batch writes nothing"
    );
}

async fn a_batch_naming_a_hundred_initiatives_with_long_ids_is_checked_in_bulk(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    let names = create_long_named_initiatives(&app, 0..100).await;
    assert_eq!(names[0].len(), "initiatives/".len() + 40);
    let batch = |names: &[String]| figures_about(names, 2.0);
    let created = app
        .client
        .batch_create_observations(batch(&names))
        .await
        .expect("a hundred long-named initiatives")
        .into_inner();
    assert_eq!(created.observations.len(), 100);

    refuses_the_unknown_initiative(
        &mut app,
        batch,
        &names,
        57,
        "initiatives/a-long-initiative-identifier-that-is-unknown",
    )
    .await;

    let by_form = aggregate(&mut app, &["legal_form"], "").await;
    assert_eq!(by_form, [row(&["COOPERATIVE", "REPORTED"], 200.0, 100, 0)]);
    // The initiatives are checked before anything is written: an unknown one is the answer
    // when an id is taken too.
    let mut one = figures_about(&names[..1], 1.0);
    one.requests[0].observation_id = "taken".to_owned();
    app.client
        .batch_create_observations(one)
        .await
        .expect("one more figure");
    let mut both = batch(&names);
    both.requests[57].observation.as_mut().expect("a figure").initiative =
        "initiatives/a-long-initiative-identifier-that-is-unknown".to_owned();
    both.requests[80].observation_id = "taken".to_owned();
    let status = app
        .client
        .batch_create_observations(both)
        .await
        .expect_err("an unknown initiative and a taken id");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        app.count("indicators/jobs").await,
        101,
        "a refused batch writes nothing"
    );
    app.stop().await;
}

/// 2,500 initiatives are three BatchGetInitiatives calls of at most 1,000, two in flight at once:
/// the batch passes when all exist, and an unknown one that only the last call asks about is
/// still named, with the request that names it.
async fn a_batch_checked_in_several_calls_names_the_unknown_initiative_of_a_later_one(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    let mut names = Vec::new();
    for first in [0, 1000, 2000] {
        names.extend(create_long_named_initiatives(&app, first..(first + 1000).min(2500)).await);
    }
    let batch = |names: &[String]| figures_about(names, 1.0);
    let created = app
        .client
        .batch_create_observations(batch(&names))
        .await
        .expect("2,500 known initiatives")
        .into_inner();
    assert_eq!(created.observations.len(), 2500);

    // Sorted after every other name, so only the third call asks about it.
    refuses_the_unknown_initiative(
        &mut app,
        batch,
        &names,
        1234,
        "initiatives/a-long-initiative-identifier-number-9999-unknown",
    )
    .await;
    app.stop().await;
}

/// Throughput of BatchCreateObservations, run by hand:
/// `cargo test -p sse-indicators --test api batch_create_throughput -- --ignored --nocapture`.
/// Ten batches of 5,000 figures, each with its own request_id, naming 100 initiatives.
async fn batch_create_throughput(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create_indicator("jobs", Aggregation::Sum).await;
    let names = create_long_named_initiatives(&app, 0..100).await;
    let started = std::time::Instant::now();
    let batches = 10;
    for batch in 0..batches {
        let requests = (0..5_000)
            .map(|index| CreateObservationRequest {
                observation: Some(Observation {
                    initiative: names[index % names.len()].clone(),
                    ..figure("", "FR", "2020", FigureStatus::Reported, f64::from(index as u32), "x")
                }),
                request_id: format!("item-{batch}-{index}"),
                ..Default::default()
            })
            .collect();
        app.client
            .batch_create_observations(BatchCreateObservationsRequest {
                validate_only: false,
                parent: "indicators/jobs".to_owned(),
                requests,
                request_id: format!("batch-{batch}"),
            })
            .await
            .expect("batch");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{backend:?}: {} rows in {seconds:.2} s: {:.0} rows/s",
        batches * 5_000,
        f64::from(batches * 5_000) / seconds
    );
    assert_eq!(app.count("indicators/jobs").await, batches * 5_000);
    app.stop().await;
}

#[tokio::test]
#[ignore = "throughput measurement"]
async fn batch_create_throughput_on_postgres() {
    batch_create_throughput(Backend::Postgres).await;
}

#[tokio::test]
#[ignore = "throughput measurement"]
async fn batch_create_throughput_on_sqlite() {
    batch_create_throughput(Backend::Sqlite).await;
}
