//! Concurrent writes as partners' clients make them, on SQLite and PostgreSQL, every service in
//! one server: the same create retried many times at once (a client whose first attempt timed
//! out) never answers ALREADY_EXISTS, only the first result or a retryable ABORTED; and writers of
//! different resources at the same time all succeed, on the embedded database too.

use sse_platform::{config::Settings, module::ModuleContext};
use sse_proto::{
    indicators::{
        CreateIndicatorRequest, CreateObservationRequest, Indicator, Observation,
        indicator::{Aggregation, Category},
        indicator_service_client::IndicatorServiceClient,
        observation::Status as FigureStatus,
    },
    initiatives::{CreateInitiativeRequest, Initiative, initiative_service_client::InitiativeServiceClient},
    lawguide::{
        CreateLegalTextRequest, LegalText,
        law_guide_service_client::LawGuideServiceClient,
        legal_text::{Kind, Level, Status as TextStatus},
    },
    types::SourceCitation,
};
use sse_testkit::{ADMIN_KEY, Backend, TestDatabase, TestServer, error_reason, on_both_databases};
use tonic::{Code, Request, Status, transport::Channel};

/// How many copies of one create are sent at once.
const RACING_RETRIES: usize = 20;
/// How many writers of distinct resources write at once.
const WRITERS: usize = 16;

struct App {
    server: TestServer,
    _database: TestDatabase,
}

impl App {
    async fn start(backend: Backend) -> App {
        let database = TestDatabase::new(backend).await.expect("database");
        let context = ModuleContext {
            db: database.connection.clone(),
            settings: Settings::default(),
            local_services: None,
        };
        let mut server = sse_testkit::grpc_server(&database);
        let modules: [&dyn sse_platform::module::ServiceModule; 3] = [
            &sse_initiatives::Module,
            &sse_indicators::Module,
            &sse_law_guide::Module,
        ];
        for module in modules {
            module.migrate(&database.connection).await.expect("migrate");
            server = module.register(server, &context).expect("register");
        }
        let server = TestServer::start(server).await.expect("server");
        App {
            server,
            _database: database,
        }
    }

    fn channel(&self) -> Channel {
        self.server.channel.clone()
    }
}

fn admin<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN_KEY}").parse().expect("ascii"));
    request
}

fn initiative(display_name: &str) -> Initiative {
    Initiative {
        display_name: display_name.to_owned(),
        sources: vec![SourceCitation {
            title: "A partner's register".to_owned(),
            url: "https://example.org/register".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn legal_text(title: &str) -> LegalText {
    LegalText {
        jurisdiction: "ES".to_owned(),
        level: Level::National.into(),
        kind: Kind::Law.into(),
        number: "Ley 1/2030".to_owned(),
        title: title.to_owned(),
        language: "es".to_owned(),
        status: TextStatus::Draft.into(),
        summary: "A law that regulates worker cooperatives.".to_owned(),
        sources: vec![SourceCitation {
            title: "Boletín".to_owned(),
            url: "https://example.org/boe".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn indicator(code: &str) -> Indicator {
    Indicator {
        display_name: format!("Indicator {code}"),
        unit: "{jobs}".to_owned(),
        category: Category::Employment.into(),
        aggregation: Aggregation::Sum.into(),
        ..Default::default()
    }
}

fn observation() -> Observation {
    Observation {
        ref_area: "FR".to_owned(),
        time_period: "2021".to_owned(),
        value: 42.0,
        status: FigureStatus::Reported.into(),
        source: Some(SourceCitation {
            title: "A partner's survey".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Sends `RACING_RETRIES` copies of one create at once and checks the answers: one result,
/// the same for every copy that succeeded, and for the others only ABORTED/CONCURRENT_WRITE.
/// Returns how many succeeded and how many were aborted.
async fn race<T, F, Fut>(what: &str, call: F) -> (usize, usize)
where
    T: PartialEq + std::fmt::Debug + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>> + Send + 'static,
{
    let calls: Vec<_> = (0..RACING_RETRIES).map(|_| tokio::spawn(call())).collect();
    let mut results = Vec::new();
    for handle in calls {
        results.push(handle.await.expect("call task"));
    }
    let mut first: Option<&T> = None;
    let (mut succeeded, mut aborted) = (0, 0);
    for result in &results {
        match result {
            Ok(created) => {
                succeeded += 1;
                match first {
                    None => first = Some(created),
                    Some(first) => assert_eq!(created, first, "{what}: every retry gets the first result"),
                }
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{what}: {status:?}");
                assert_eq!(error_reason(status), "CONCURRENT_WRITE", "{what}: {status:?}");
                aborted += 1;
            }
        }
    }
    assert!(succeeded > 0, "{what}: no copy succeeded");
    eprintln!("{what}: {succeeded} of {RACING_RETRIES} got the first result, {aborted} ABORTED");
    (succeeded, aborted)
}

async fn racing_retries_of_a_create_never_answer_already_exists(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();

    let client = channel.clone();
    race("CreateInitiative", move || {
        let mut initiatives = InitiativeServiceClient::new(client.clone());
        async move {
            let request = CreateInitiativeRequest {
                initiative: Some(initiative("Coopérative pressée")),
                initiative_id: "coop-pressee".to_owned(),
                request_id: "0b7e1a52-retry".to_owned(),
            };
            let created = initiatives.create_initiative(admin(request)).await?.into_inner();
            Ok(created.initiative)
        }
    })
    .await;
    // The id taken by another request is still a conflict.
    let other = InitiativeServiceClient::new(channel.clone())
        .create_initiative(admin(CreateInitiativeRequest {
            initiative: Some(initiative("Coopérative pressée")),
            initiative_id: "coop-pressee".to_owned(),
            request_id: "another-request".to_owned(),
        }))
        .await
        .expect_err("the id is taken");
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");

    let client = channel.clone();
    race("CreateLegalText", move || {
        let mut law_guide = LawGuideServiceClient::new(client.clone());
        async move {
            let request = CreateLegalTextRequest {
                validate_only: false,
                legal_text: Some(legal_text("Ley de prisas")),
                legal_text_id: "ley-de-prisas".to_owned(),
                request_id: "5d1c-retry".to_owned(),
            };
            Ok(law_guide
                .create_legal_text(admin(request))
                .await?
                .into_inner()
                .legal_text)
        }
    })
    .await;

    let client = channel.clone();
    race("CreateIndicator", move || {
        let mut indicators = IndicatorServiceClient::new(client.clone());
        async move {
            let request = CreateIndicatorRequest {
                validate_only: false,
                indicator: Some(indicator("hurried")),
                indicator_id: "hurried".to_owned(),
                request_id: "9f3a-retry".to_owned(),
            };
            Ok(indicators
                .create_indicator(admin(request))
                .await?
                .into_inner()
                .indicator)
        }
    })
    .await;

    let client = channel.clone();
    race("CreateObservation", move || {
        let mut indicators = IndicatorServiceClient::new(client.clone());
        async move {
            let request = CreateObservationRequest {
                parent: "indicators/hurried".to_owned(),
                observation: Some(observation()),
                observation_id: "fr-2021".to_owned(),
                request_id: "77aa-retry".to_owned(),
            };
            Ok(indicators
                .create_observation(admin(request))
                .await?
                .into_inner()
                .observation)
        }
    })
    .await;

    // And without an id given: the request id alone makes the copies one create.
    let client = channel.clone();
    race("CreateLegalText without an id", move || {
        let mut law_guide = LawGuideServiceClient::new(client.clone());
        async move {
            let request = CreateLegalTextRequest {
                validate_only: false,
                legal_text: Some(legal_text("Ley sin nombre")),
                legal_text_id: String::new(),
                request_id: "c4f0-retry".to_owned(),
            };
            Ok(law_guide
                .create_legal_text(admin(request))
                .await?
                .into_inner()
                .legal_text)
        }
    })
    .await;
    app.server.stop().await.expect("stop");
}

async fn concurrent_writers_of_distinct_resources_all_succeed(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let mut law_guide = LawGuideServiceClient::new(channel.clone());
        calls.spawn(async move {
            let request = CreateLegalTextRequest {
                validate_only: false,
                legal_text: Some(legal_text(&format!("Ley número {writer}"))),
                legal_text_id: format!("ley-{writer}"),
                request_id: String::new(),
            };
            law_guide.create_legal_text(admin(request)).await.map(|_| ())
        });
        let mut initiatives = InitiativeServiceClient::new(channel.clone());
        calls.spawn(async move {
            let request = CreateInitiativeRequest {
                initiative: Some(initiative(&format!("Coopérative {writer}"))),
                initiative_id: String::new(),
                request_id: String::new(),
            };
            initiatives.create_initiative(admin(request)).await.map(|_| ())
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = calls.join_next().await {
        if let Err(status) = joined.expect("call task") {
            failures.push(status);
        }
    }
    eprintln!(
        "{} writers of distinct resources at once: {} failed, {:?} in all",
        2 * WRITERS,
        failures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{failures:?}");
    app.server.stop().await.expect("stop");
}

on_both_databases!(
    racing_retries_of_a_create_never_answer_already_exists,
    concurrent_writers_of_distinct_resources_all_succeed,
);
