//! The indicators API under hostile input, on SQLite and PostgreSQL: control characters in
//! indicators, observations and filters, forged page tokens over every sort type, a huge
//! language. Each is the caller's error (INVALID_ARGUMENT naming the field), never INTERNAL.

use sse_indicators::Module;
use sse_platform::module::ServiceModule;
use sse_proto::indicators::{
    AggregateObservationsRequest, CreateIndicatorRequest, CreateObservationRequest, Indicator, ListIndicatorsRequest,
    ListObservationsRequest, ListSdgGoalsRequest, Observation,
    indicator::{Aggregation, Category},
    indicator_service_client::IndicatorServiceClient,
    observation::Status as FigureStatus,
};
use sse_proto::types::SourceCitation;
use sse_testkit::{
    Backend, TestDatabase, TestServer, assert_invalid, error_reason, forged_page_token, on_both_databases,
};
use tonic::{Request, Status, service::interceptor::InterceptedService, transport::Channel};

type Client = IndicatorServiceClient<InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>>;

/// The indicators service alone: every call here is refused before it would reach the
/// initiatives service.
struct App {
    client: Client,
    server: TestServer,
    _database: TestDatabase,
}

impl App {
    async fn start(backend: Backend) -> App {
        let database = TestDatabase::new(backend).await.expect("database");
        Module.migrate(&database.connection).await.expect("migrate");
        Module.seed(&database.connection).await.expect("seed");
        let server = TestServer::start(sse_testkit::grpc_server_with(&Module, &database).expect("register"))
            .await
            .expect("server");
        let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
        let client = IndicatorServiceClient::with_interceptor(server.channel.clone(), intercept);
        App {
            client,
            server,
            _database: database,
        }
    }

    /// The name of a seeded indicator.
    async fn an_indicator(&mut self) -> String {
        self.client
            .list_indicators(ListIndicatorsRequest::default())
            .await
            .expect("indicators")
            .into_inner()
            .indicators
            .first()
            .map(|indicator| indicator.name.clone())
            .expect("a seeded indicator")
    }

    async fn stop(self) {
        self.server.stop().await.expect("server stops cleanly");
    }
}

on_both_databases!(
    control_characters_in_indicators_and_observations_are_refused_naming_each_field,
    control_characters_in_filters_are_refused,
    forged_page_tokens_are_invalid_page_tokens,
    huge_parameters_get_a_small_invalid_argument,
);

async fn control_characters_in_indicators_and_observations_are_refused_naming_each_field(backend: Backend) {
    let mut app = App::start(backend).await;
    let status = app
        .client
        .create_indicator(CreateIndicatorRequest {
            validate_only: false,
            indicator_id: "jobs-x".to_owned(),
            indicator: Some(Indicator {
                display_name: "Jobs\0".to_owned(),
                description: "\u{1b}[2J".to_owned(),
                methodology: "counted\u{7}".to_owned(),
                unit: "{jobs}".to_owned(),
                unit_label: "jobs\u{0}".to_owned(),
                category: Category::Employment.into(),
                aggregation: Aggregation::Sum.into(),
                ..Default::default()
            }),
            request_id: "\u{0}".to_owned(),
        })
        .await
        .expect_err("control characters in an indicator");
    assert_invalid(
        &status,
        &[
            "indicator.display_name",
            "indicator.description",
            "indicator.methodology",
            "indicator.unit_label",
            "request_id",
        ],
    );

    let parent = app.an_indicator().await;
    let status = app
        .client
        .create_observation(CreateObservationRequest {
            parent,
            observation: Some(Observation {
                ref_area: "FR".to_owned(),
                time_period: "2024".to_owned(),
                value: 1.0,
                status: FigureStatus::Reported.into(),
                note: "a note\0".to_owned(),
                source: Some(SourceCitation {
                    title: "Report\u{1b}".to_owned(),
                    publisher: "\u{7f}".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            observation_id: String::new(),
            request_id: "retry\0".to_owned(),
        })
        .await
        .expect_err("control characters in an observation");
    assert_invalid(
        &status,
        &[
            "observation.note",
            "observation.source.title",
            "observation.source.publisher",
            "request_id",
        ],
    );
    app.stop().await;
}

async fn control_characters_in_filters_are_refused(backend: Backend) {
    let mut app = App::start(backend).await;
    for filter in [
        "\0",
        "ref_area = \"F\0R\"",
        "source.title:\"\u{1b}\"",
        "time_period = \u{7}",
    ] {
        let status = app
            .client
            .list_observations(ListObservationsRequest {
                parent: "indicators/-".to_owned(),
                filter: filter.to_owned(),
                ..Default::default()
            })
            .await
            .expect_err(filter);
        assert_invalid(&status, &["filter"]);
        assert_eq!(error_reason(&status), "INVALID_FILTER");
    }
    let status = app
        .client
        .list_indicators(ListIndicatorsRequest {
            filter: "display_name:\"\0\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("NUL in an indicator filter");
    assert_invalid(&status, &["filter"]);
    let indicator = app.an_indicator().await;
    let status = app
        .client
        .aggregate_observations(AggregateObservationsRequest {
            indicator,
            filter: "ref_area = \"\0\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("NUL in an aggregation filter");
    assert_invalid(&status, &["filter"]);
    app.stop().await;
}

async fn forged_page_tokens_are_invalid_page_tokens(backend: Backend) {
    let mut app = App::start(backend).await;
    for (order_by, forge) in [
        ("value", serde_json::json!("12.5")),
        ("value desc", serde_json::json!([1])),
        ("period_start", serde_json::json!(2024)),
        ("create_time", serde_json::json!(1.25)),
        ("name", serde_json::json!("\u{0}")),
    ] {
        let page = |page_token: String| ListObservationsRequest {
            parent: "indicators/-".to_owned(),
            page_size: 1,
            order_by: order_by.to_owned(),
            page_token,
            ..Default::default()
        };
        let token = app
            .client
            .list_observations(page(String::new()))
            .await
            .expect("first page")
            .into_inner()
            .next_page_token;
        assert!(!token.is_empty(), "{order_by}");
        app.client
            .list_observations(page(token.clone()))
            .await
            .expect("the real token works");
        let forged = forged_page_token(&token, |keys| keys[0] = forge.clone());
        let status = app.client.list_observations(page(forged)).await.expect_err("forged");
        assert_invalid(&status, &["page_token"]);
        assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN", "{order_by}");
    }
    app.stop().await;
}

async fn huge_parameters_get_a_small_invalid_argument(backend: Backend) {
    let mut app = App::start(backend).await;
    let huge = "e".repeat(4 * 1024 * 1024);
    let status = app
        .client
        .list_sdg_goals(ListSdgGoalsRequest { language: huge.clone() })
        .await
        .expect_err("4 MB language");
    assert_invalid(&status, &["language"]);
    let status = app
        .client
        .list_observations(ListObservationsRequest {
            parent: format!("indicators/{huge}"),
            order_by: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("4 MB parent and order_by");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().len() < 1024);
    let indicator = app.an_indicator().await;
    let status = app
        .client
        .aggregate_observations(AggregateObservationsRequest {
            indicator,
            group_by: vec![huge.clone()],
            ..Default::default()
        })
        .await
        .expect_err("4 MB group");
    assert_invalid(&status, &["group_by[0]"]);
    app.stop().await;
}
