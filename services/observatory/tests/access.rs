//! Partner access as an outsider and as a partner meet it: every service of the observatory in
//! one gRPC server (as `observatory serve` runs them) over a fresh SQLite and PostgreSQL
//! database, called over loopback without a key, with a wrong one, with keys of each scope, and
//! as the admin managing keys and reading the audit trail. Then the services apart, on
//! databases of their own, sharing one access store.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sse_gateway::rest::call::BytesCodec;
use sse_platform::{
    access::{self, Policy, Scope, audit, guard::Access},
    config::Settings,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
};
use sse_proto::{
    access::{
        ApiKey, AuditEvent, CreateApiKeyRequest, GetApiKeyRequest, ListAuditEventsRequest, RevokeApiKeyRequest,
        access_service_client::AccessServiceClient,
    },
    indicators::{
        CreateIndicatorRequest, Indicator, indicator::Aggregation, indicator_service_client::IndicatorServiceClient,
    },
    initiatives::{
        CreateInitiativeRequest, DeleteInitiativeRequest, GetInitiativeRequest, Initiative,
        initiative_service_client::InitiativeServiceClient,
    },
    types::SourceCitation,
};
use sse_testkit::{ADMIN_KEY, Backend, TestDatabase, TestServer, error_reason, on_both_databases};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

/// Every service over one database, as the all-in-one process serves them.
struct App {
    server: TestServer,
    _database: TestDatabase,
}

impl App {
    async fn start(backend: Backend) -> App {
        App::start_with(backend, |policy| policy).await
    }

    async fn start_with(backend: Backend, adjust: impl FnOnce(Policy) -> Policy) -> App {
        let database = TestDatabase::new(backend).await.expect("database");
        let policy = adjust(Policy::with_admin_key(Some(ADMIN_KEY.to_owned().into())));
        let access = sse_testkit::access_with(&database, policy);
        let server = serve_modules(
            sse_testkit::grpc_server_guarded_by(&database, access),
            &database,
            &[
                &sse_initiatives::Module,
                &sse_indicators::Module,
                &sse_law_guide::Module,
            ],
        )
        .await;
        App {
            server,
            _database: database,
        }
    }

    fn channel(&self) -> Channel {
        self.server.channel.clone()
    }
}

async fn serve_modules(mut server: GrpcServer, database: &TestDatabase, modules: &[&dyn ServiceModule]) -> TestServer {
    let context = ModuleContext {
        db: database.connection.clone(),
        settings: Settings::default(),
        local_services: None,
    };
    for module in modules {
        module.migrate(&database.connection).await.expect("migrate");
        module.seed(&database.connection).await.expect("seed");
        server = module.register(server, &context).expect("register");
    }
    TestServer::start(server).await.expect("server")
}

/// `message` with `authorization: Bearer key` when a key is given.
fn with_key<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {key}").parse().expect("ascii"));
    }
    request
}

async fn create_key(channel: &Channel, display_name: &str, scopes: &[Scope]) -> (ApiKey, String) {
    let response = AccessServiceClient::new(channel.clone())
        .create_api_key(with_key(
            CreateApiKeyRequest {
                api_key: Some(ApiKey {
                    display_name: display_name.to_owned(),
                    scopes: scopes.iter().map(|scope| scope.as_str().to_owned()).collect(),
                    ..Default::default()
                }),
            },
            Some(ADMIN_KEY),
        ))
        .await
        .expect("create key")
        .into_inner();
    (response.api_key.expect("key"), response.key)
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

async fn create_initiative(
    channel: &Channel,
    key: Option<&str>,
    id: &str,
    request_id: &str,
) -> Result<Initiative, Status> {
    let response = InitiativeServiceClient::new(channel.clone())
        .create_initiative(with_key(
            CreateInitiativeRequest {
                initiative: Some(initiative("Coopérative de test")),
                initiative_id: id.to_owned(),
                request_id: request_id.to_owned(),
            },
            key,
        ))
        .await?;
    Ok(response.into_inner().initiative.expect("initiative"))
}

async fn audit_events(channel: &Channel, filter: &str) -> Vec<AuditEvent> {
    AccessServiceClient::new(channel.clone())
        .list_audit_events(with_key(
            ListAuditEventsRequest {
                filter: filter.to_owned(),
                page_size: 1000,
                ..Default::default()
            },
            Some(ADMIN_KEY),
        ))
        .await
        .expect("audit events")
        .into_inner()
        .audit_events
}

/// Calls `path` with an empty message, as a client that knows only the method's name.
async fn call_raw(channel: &Channel, path: &str, key: Option<&str>) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::try_from(path).expect("path");
    match grpc.unary(with_key(Bytes::new(), key), path, BytesCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

const MUTATING_METHODS: usize = 16;

async fn no_mutating_rpc_accepts_a_call_without_a_valid_key(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let mutating: Vec<&str> = access::METHODS
        .iter()
        .filter(|(path, rule)| rule.effect == access::Effect::Writes && !path.starts_with("/sse.access."))
        .map(|(path, _)| *path)
        .collect();
    assert_eq!(mutating.len(), MUTATING_METHODS, "{mutating:?}");
    for path in &mutating {
        let anonymous = call_raw(&channel, path, None).await;
        assert_eq!(anonymous.code(), Code::Unauthenticated, "{path}: {anonymous:?}");
        assert_eq!(error_reason(&anonymous), "API_KEY_REQUIRED", "{path}");
        let wrong = call_raw(&channel, path, Some("sse_not-a-key-anyone-was-given")).await;
        assert_eq!(wrong.code(), Code::Unauthenticated, "{path}: {wrong:?}");
        assert_eq!(error_reason(&wrong), "API_KEY_INVALID", "{path}");
    }
    // The seeded Great Green Wall is still there: the anonymous delete changed nothing.
    let mut initiatives = InitiativeServiceClient::new(channel.clone());
    let kept = initiatives
        .get_initiative(GetInitiativeRequest {
            name: "initiatives/great-green-wall".to_owned(),
        })
        .await
        .expect("reads stay public")
        .into_inner()
        .initiative
        .expect("initiative");
    assert!(kept.delete_time.is_none());
    // Every refusal is in the audit trail, anonymous, with its code.
    let refused = audit_events(&channel, "caller = \"anonymous\"").await;
    assert_eq!(refused.len(), 2 * MUTATING_METHODS);
    assert!(refused.iter().all(|event| event.code == "UNAUTHENTICATED"));
    app.server.stop().await.expect("stop");
}

async fn a_key_writes_what_its_scopes_allow_and_nothing_else(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let (key, secret) = create_key(&channel, "Partner X", &[Scope::InitiativesWrite]).await;
    assert!(
        secret.starts_with("sse_") && secret.len() >= 4 + 22,
        "at least 128 bits: {secret}"
    );
    assert!(secret.starts_with(&key.key_prefix));
    assert!(key.name.starts_with("apiKeys/"));

    let created = create_initiative(&channel, Some(&secret), "partner-x-coop", "req-1")
        .await
        .expect("the scope allows it");
    assert_eq!(created.name, "initiatives/partner-x-coop");

    let denied = IndicatorServiceClient::new(channel.clone())
        .create_indicator(with_key(
            CreateIndicatorRequest {
                validate_only: false,
                indicator: Some(Indicator {
                    display_name: "Jobs".to_owned(),
                    unit: "jobs".to_owned(),
                    aggregation: Aggregation::Sum as i32,
                    ..Default::default()
                }),
                indicator_id: "jobs-x".to_owned(),
                request_id: String::new(),
            },
            Some(&secret),
        ))
        .await
        .expect_err("no indicators.write");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(error_reason(&denied), "SCOPE_MISSING");
    assert!(denied.message().contains("indicators.write"), "{}", denied.message());

    // Key management is for admins.
    let listing = AccessServiceClient::new(channel.clone())
        .list_audit_events(with_key(ListAuditEventsRequest::default(), Some(&secret)))
        .await
        .expect_err("not an admin");
    assert_eq!(listing.code(), Code::PermissionDenied);
    app.server.stop().await.expect("stop");
}

async fn revoked_and_expired_keys_are_refused(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let (key, secret) = create_key(&channel, "Partner Y", &[Scope::InitiativesWrite]).await;
    create_initiative(&channel, Some(&secret), "before-revoke", "")
        .await
        .expect("valid key");
    let revoked = AccessServiceClient::new(channel.clone())
        .revoke_api_key(with_key(
            RevokeApiKeyRequest { name: key.name.clone() },
            Some(ADMIN_KEY),
        ))
        .await
        .expect("revoke")
        .into_inner()
        .api_key
        .expect("key");
    assert!(revoked.revoke_time.is_some());
    let refused = create_initiative(&channel, Some(&secret), "after-revoke", "")
        .await
        .expect_err("revoked");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(error_reason(&refused), "API_KEY_REVOKED");

    // A key that expires in a second works, then does not.
    let soon = sse_platform::time::timestamp(sse_platform::time::now_micros() + 1_000_000);
    let expiring = AccessServiceClient::new(channel.clone())
        .create_api_key(with_key(
            CreateApiKeyRequest {
                api_key: Some(ApiKey {
                    display_name: "Short-lived".to_owned(),
                    scopes: vec!["initiatives.write".to_owned()],
                    expire_time: Some(soon),
                    ..Default::default()
                }),
            },
            Some(ADMIN_KEY),
        ))
        .await
        .expect("create")
        .into_inner();
    create_initiative(&channel, Some(&expiring.key), "before-expiry", "")
        .await
        .expect("not expired yet");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = create_initiative(&channel, Some(&expiring.key), "after-expiry", "")
        .await
        .expect_err("expired");
    assert_eq!(error_reason(&expired), "API_KEY_EXPIRED");

    // Bad requests to key management name the field.
    let bad = AccessServiceClient::new(channel.clone())
        .create_api_key(with_key(
            CreateApiKeyRequest {
                api_key: Some(ApiKey {
                    display_name: String::new(),
                    scopes: vec!["everything".to_owned()],
                    ..Default::default()
                }),
            },
            Some(ADMIN_KEY),
        ))
        .await
        .expect_err("invalid");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        sse_testkit::violated_fields(&bad),
        ["api_key.display_name", "api_key.scopes[0]"]
    );
    let missing = AccessServiceClient::new(channel.clone())
        .get_api_key(with_key(
            GetApiKeyRequest {
                name: "apiKeys/00000000-0000-4000-8000-000000000000".to_owned(),
            },
            Some(ADMIN_KEY),
        ))
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    app.server.stop().await.expect("stop");
}

async fn every_write_is_audited_with_its_caller_resource_and_outcome(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let (key, secret) = create_key(&channel, "Partner Z", &[Scope::InitiativesWrite]).await;
    create_initiative(&channel, Some(&secret), "audited-coop", "req-audited")
        .await
        .expect("created");
    // The same request again: answered from the record, and audited as such.
    create_initiative(&channel, Some(&secret), "audited-coop", "req-audited")
        .await
        .expect("replayed");
    // A write that fails: the id is taken.
    let taken = create_initiative(&channel, Some(&secret), "audited-coop", "")
        .await
        .expect_err("taken");
    assert_eq!(taken.code(), Code::AlreadyExists);
    // A refused one: anonymous.
    let refused = InitiativeServiceClient::new(channel.clone())
        .delete_initiative(DeleteInitiativeRequest {
            name: "initiatives/audited-coop".to_owned(),
            etag: String::new(),
        })
        .await
        .expect_err("anonymous");
    assert_eq!(refused.code(), Code::Unauthenticated);

    let events = audit_events(&channel, "").await;
    let summary: Vec<(&str, &str, &str, &str, &str)> = events
        .iter()
        .map(|event| {
            (
                event.caller.as_str(),
                event.method.rsplit('/').next().unwrap_or_default(),
                event.resource.as_str(),
                event.request_id.as_str(),
                event.code.as_str(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        summary,
        [
            (
                "anonymous",
                "DeleteInitiative",
                "initiatives/audited-coop",
                "",
                "UNAUTHENTICATED"
            ),
            (key.name.as_str(), "CreateInitiative", "", "", "ALREADY_EXISTS"),
            (
                key.name.as_str(),
                "CreateInitiative",
                "initiatives/audited-coop",
                "req-audited",
                "OK"
            ),
            (
                key.name.as_str(),
                "CreateInitiative",
                "initiatives/audited-coop",
                "req-audited",
                "OK"
            ),
            ("admin", "CreateApiKey", key.name.as_str(), "", "OK"),
        ]
    );
    assert!(
        events
            .iter()
            .all(|event| event.event_time.is_some() && event.name.starts_with("auditEvents/"))
    );
    assert_eq!(events[1].service, "initiatives");

    // Filters by caller, method and time.
    let by_key = audit_events(&channel, &format!("caller = \"{}\"", key.name)).await;
    assert_eq!(by_key.len(), 3);
    let deletes = audit_events(
        &channel,
        "method = \"sse.initiatives.v1.InitiativeService/DeleteInitiative\"",
    )
    .await;
    assert_eq!(deletes.len(), 1);
    let future = audit_events(&channel, "event_time > \"2999-01-01T00:00:00Z\"").await;
    assert!(future.is_empty());
    app.server.stop().await.expect("stop");
}

async fn a_caller_over_its_rate_limit_is_told_when_to_retry(backend: Backend) {
    let app = App::start_with(backend, |mut policy| {
        policy.rate_limit_per_second = 1;
        policy.rate_limit_burst = 3;
        policy
    })
    .await;
    let channel = app.channel();
    let mut initiatives = InitiativeServiceClient::new(channel.clone());
    let get = || GetInitiativeRequest {
        name: "initiatives/great-green-wall".to_owned(),
    };
    for _ in 0..3 {
        initiatives.get_initiative(get()).await.expect("within the burst");
    }
    let limited = initiatives.get_initiative(get()).await.expect_err("over the burst");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert_eq!(error_reason(&limited), "RATE_LIMITED");
    let retry = limited
        .get_error_details()
        .retry_info()
        .and_then(|retry| retry.retry_delay)
        .expect("RetryInfo");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(1), "{retry:?}");
    // The admin has a bucket of its own.
    initiatives
        .get_initiative(with_key(get(), Some(ADMIN_KEY)))
        .await
        .expect("another caller's bucket");
    // Health stays open to probes whatever the limits.
    for _ in 0..10 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .expect("health is never limited");
    }
    app.server.stop().await.expect("stop");
}

async fn reads_need_the_read_scope_when_the_deployment_says_so(backend: Backend) {
    let app = App::start_with(backend, |mut policy| {
        policy.require_key_for_reads = true;
        policy
    })
    .await;
    let channel = app.channel();
    let (_, reader) = create_key(&channel, "Reader", &[Scope::Read]).await;
    let (_, writer) = create_key(&channel, "Writer", &[Scope::InitiativesWrite]).await;
    let get = |key: Option<&str>| {
        with_key(
            GetInitiativeRequest {
                name: "initiatives/great-green-wall".to_owned(),
            },
            key,
        )
    };
    let mut initiatives = InitiativeServiceClient::new(channel.clone());
    let anonymous = initiatives.get_initiative(get(None)).await.expect_err("anonymous");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    initiatives
        .get_initiative(get(Some(&reader)))
        .await
        .expect("read scope");
    let denied = initiatives
        .get_initiative(get(Some(&writer)))
        .await
        .expect_err("write only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    app.server.stop().await.expect("stop");
}

/// A change refused inside its transaction (a stale etag) leaves one event, with its code, and
/// no accepted one.
async fn a_change_refused_in_its_transaction_is_audited_once_with_its_code(backend: Backend) {
    let app = App::start(backend).await;
    let channel = app.channel();
    let (_, secret) = create_key(&channel, "Partner W", &[Scope::InitiativesWrite]).await;
    let mut initiatives = InitiativeServiceClient::new(channel.clone());
    // A stale etag fails inside the update's transaction.
    let stale = initiatives
        .delete_initiative(with_key(
            DeleteInitiativeRequest {
                name: "initiatives/great-green-wall".to_owned(),
                etag: "\"stale\"".to_owned(),
            },
            Some(&secret),
        ))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    let events = audit_events(&channel, "method:\"DeleteInitiative\"").await;
    let codes: Vec<&str> = events.iter().map(|event| event.code.as_str()).collect();
    assert_eq!(codes, ["ABORTED"]);
    app.server.stop().await.expect("stop");
}

on_both_databases!(
    no_mutating_rpc_accepts_a_call_without_a_valid_key,
    a_key_writes_what_its_scopes_allow_and_nothing_else,
    revoked_and_expired_keys_are_refused,
    every_write_is_audited_with_its_caller_resource_and_outcome,
    a_caller_over_its_rate_limit_is_told_when_to_retry,
    reads_need_the_read_scope_when_the_deployment_says_so,
    a_change_refused_in_its_transaction_is_audited_once_with_its_code,
    services_on_separate_databases_share_keys_and_the_audit_trail,
);

/// The `services` topology: the initiatives and the law guide in processes of their own, each on
/// its own database, both reading keys from one access store. A key created through one is
/// honoured by the other within 5 seconds, revoked likewise, and the events written beside
/// each service's writes reach the access store.
async fn services_on_separate_databases_share_keys_and_the_audit_trail(backend: Backend) {
    let access_store = TestDatabase::new(backend).await.expect("access store");
    let initiatives_db = TestDatabase::new(backend).await.expect("initiatives database");
    let law_guide_db = TestDatabase::new(backend).await.expect("law guide database");
    let policy = || Policy::with_admin_key(Some(ADMIN_KEY.to_owned().into()));
    let guarded = |local: &TestDatabase| {
        let access = Access::new(policy(), access_store.connection.clone(), local.connection.clone());
        let service = access::service::grpc_service(access_store.connection.clone(), access.clone());
        GrpcServer::new(access, Duration::from_secs(2)).add_service(service)
    };
    let initiatives = serve_modules(guarded(&initiatives_db), &initiatives_db, &[&sse_initiatives::Module]).await;
    let law_guide = serve_modules(guarded(&law_guide_db), &law_guide_db, &[&sse_law_guide::Module]).await;

    // The key is made through the law guide's process; the initiatives' process honours it.
    let (key, secret) = create_key(&law_guide.channel, "Partner Apart", &[Scope::InitiativesWrite]).await;
    let started = Instant::now();
    let accepted = loop {
        match create_initiative(&initiatives.channel, Some(&secret), "apart-coop", "req-apart").await {
            Ok(created) => break created,
            Err(status) if started.elapsed() < Duration::from_secs(5) => {
                assert_eq!(status.code(), Code::Unauthenticated);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("the key was not honoured within 5 s: {status:?}"),
        }
    };
    assert_eq!(accepted.name, "initiatives/apart-coop");

    // Revoked through the law guide, refused by the initiatives within 5 s.
    AccessServiceClient::new(law_guide.channel.clone())
        .revoke_api_key(with_key(
            RevokeApiKeyRequest { name: key.name.clone() },
            Some(ADMIN_KEY),
        ))
        .await
        .expect("revoke");
    let started = Instant::now();
    for attempt in 0.. {
        let id = format!("after-revoke-{attempt}");
        match create_initiative(&initiatives.channel, Some(&secret), &id, "").await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the revocation did not hold within 5 s: {other:?}"),
        }
    }

    // The initiatives' events were written in its own database, then relayed to the store.
    let relayed = audit::relay_once(&initiatives_db.connection, &access_store.connection)
        .await
        .expect("relay");
    assert!(relayed >= 2, "{relayed}");
    let events = audit_events(&law_guide.channel, "service = \"initiatives\"").await;
    let outcomes: Vec<(&str, &str)> = events
        .iter()
        .map(|event| (event.code.as_str(), event.resource.as_str()))
        .collect();
    assert!(outcomes.contains(&("OK", "initiatives/apart-coop")), "{outcomes:?}");
    assert!(outcomes.contains(&("UNAUTHENTICATED", "")), "{outcomes:?}");
    let again = audit::relay_once(&initiatives_db.connection, &access_store.connection)
        .await
        .expect("relay");
    assert_eq!(again, 0, "moved events are not moved twice");

    initiatives.stop().await.expect("stop");
    law_guide.stop().await.expect("stop");
}
