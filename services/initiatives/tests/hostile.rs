//! The initiatives API under hostile input, on SQLite and PostgreSQL: control characters, forged
//! page tokens, huge parameters and bytes that are not a message. Each is refused as the
//! caller's error (INVALID_ARGUMENT or RESOURCE_EXHAUSTED, small enough for any client), never
//! INTERNAL, and the same on both databases.

use prost::Message;
use sse_initiatives::Module;
use sse_platform::module::ServiceModule;
use sse_proto::access::{ListAuditEventsRequest, access_service_client::AccessServiceClient};
use sse_proto::initiatives::{
    BatchCreateInitiativesRequest, BatchGetInitiativesRequest, CreateInitiativeRequest, GetInitiativeRequest,
    Initiative, ListInitiativesRequest, UpdateInitiativeRequest, initiative::LegalForm,
    initiative_service_client::InitiativeServiceClient,
};
use sse_proto::types::SourceCitation;
use sse_testkit::{
    Backend, TestDatabase, TestServer, assert_invalid, error_reason, forged_page_token, on_both_databases, raw_unary,
};
use tonic::{Code, Request, Status, service::interceptor::InterceptedService, transport::Channel};

type Client = InitiativeServiceClient<InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>>;

struct App {
    client: Client,
    server: TestServer,
    database: TestDatabase,
}

impl App {
    async fn start(backend: Backend) -> App {
        let database = TestDatabase::new(backend).await.expect("test database");
        Module.migrate(&database.connection).await.expect("migrations");
        Module.seed(&database.connection).await.expect("seed");
        let server = TestServer::start(sse_testkit::grpc_server_with(&Module, &database).expect("register"))
            .await
            .expect("server");
        let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
        let client = InitiativeServiceClient::with_interceptor(server.channel.clone(), intercept)
            .max_encoding_message_size(usize::MAX);
        App {
            client,
            server,
            database,
        }
    }

    async fn list(&mut self, request: ListInitiativesRequest) -> Result<(Vec<String>, String), Status> {
        let response = self.client.list_initiatives(request).await?.into_inner();
        let names = response
            .initiatives
            .into_iter()
            .map(|initiative| initiative.name)
            .collect();
        Ok((names, response.next_page_token))
    }

    async fn count(&mut self) -> usize {
        let request = ListInitiativesRequest {
            page_size: 1000,
            show_deleted: true,
            ..Default::default()
        };
        self.list(request).await.expect("list").0.len()
    }

    async fn stop(self) {
        self.server.stop().await.expect("server stops cleanly");
    }
}

fn initiative(display_name: &str) -> Initiative {
    Initiative {
        display_name: display_name.to_owned(),
        legal_form: LegalForm::Cooperative.into(),
        countries: vec!["FR".to_owned()],
        sources: vec![SourceCitation {
            title: "Annual report".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

on_both_databases!(
    control_characters_in_text_fields_are_refused_naming_each_field,
    control_characters_in_filter_values_are_refused,
    forged_page_tokens_with_wrong_typed_keys_are_invalid_page_tokens,
    huge_parameters_get_a_small_invalid_argument,
    bytes_that_are_not_a_message_are_invalid_argument,
    messages_over_the_limit_are_resource_exhausted,
);

async fn control_characters_in_text_fields_are_refused_naming_each_field(backend: Backend) {
    let mut app = App::start(backend).await;
    let before = app.count().await;
    let mut hostile = initiative("nul\0in the name");
    hostile.description = "an escape \u{1b}[31m in red; tabs\tand\nnewlines are fine".to_owned();
    hostile.sources[0].title = "bell\u{7}".to_owned();
    hostile.sources[0].publisher = "carriage\rreturn".to_owned();
    let status = app
        .client
        .create_initiative(CreateInitiativeRequest {
            initiative: Some(hostile),
            initiative_id: String::new(),
            request_id: "id\0".to_owned(),
        })
        .await
        .expect_err("control characters");
    assert_invalid(
        &status,
        &[
            "initiative.display_name",
            "initiative.description",
            "initiative.sources[0].title",
            "initiative.sources[0].publisher",
            "request_id",
        ],
    );

    let batch = app
        .client
        .batch_create_initiatives(BatchCreateInitiativesRequest {
            validate_only: false,
            requests: vec![
                CreateInitiativeRequest {
                    initiative: Some(initiative("fine")),
                    ..Default::default()
                },
                CreateInitiativeRequest {
                    initiative: Some(initiative("\u{0}")),
                    ..Default::default()
                },
            ],
            request_id: String::new(),
        })
        .await
        .expect_err("control character in a batch");
    assert_invalid(&batch, &["requests[1].initiative.display_name"]);

    let created = app
        .client
        .create_initiative(CreateInitiativeRequest {
            initiative: Some(initiative("Plain\tand\nfine")),
            ..Default::default()
        })
        .await
        .expect("tab and newline are text")
        .into_inner()
        .initiative
        .expect("initiative");
    let mut patch = initiative("renamed\u{0}");
    patch.name = created.name.clone();
    let update = app
        .client
        .update_initiative(UpdateInitiativeRequest {
            initiative: Some(patch),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["display_name".to_owned()],
            }),
        })
        .await
        .expect_err("control character in an update");
    assert_invalid(&update, &["initiative.display_name"]);
    assert_eq!(app.count().await, before + 1, "only the plain one was written");

    // The refused write is in the audit trail, with what it sent made fit to keep.
    let mut access = AccessServiceClient::with_interceptor(
        app.server.channel.clone(),
        sse_testkit::with_admin_key as fn(Request<()>) -> Result<Request<()>, Status>,
    );
    let events = access
        .list_audit_events(ListAuditEventsRequest {
            filter: "code = \"INVALID_ARGUMENT\" AND method:\"CreateInitiative\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect("audit events")
        .into_inner()
        .audit_events;
    assert!(
        events.iter().any(|event| event.request_id == "id\u{fffd}"),
        "{events:?}"
    );
    app.stop().await;
}

async fn control_characters_in_filter_values_are_refused(backend: Backend) {
    let mut app = App::start(backend).await;
    for filter in [
        "\0",
        "display_name:\"\0\"",
        "display_name = \"a\0b\"",
        "countries:\"F\u{1b}R\"",
        "description:\"\u{7f}\"",
        "name = \"initiatives/\0\"",
    ] {
        let status = app
            .list(ListInitiativesRequest {
                filter: filter.to_owned(),
                ..Default::default()
            })
            .await
            .expect_err(filter);
        assert_invalid(&status, &["filter"]);
        assert_eq!(error_reason(&status), "INVALID_FILTER");
        assert!(status.message().contains("control character"), "{}", status.message());
    }
    let (tabbed, _) = app
        .list(ListInitiativesRequest {
            filter: "display_name:\"mondragon\"\tOR\ndisplay_name:\"guilde\"".to_owned(),
            ..Default::default()
        })
        .await
        .expect("tab and newline separate terms");
    assert_eq!(tabbed.len(), 2, "{tabbed:?}");
    app.stop().await;
}

async fn forged_page_tokens_with_wrong_typed_keys_are_invalid_page_tokens(backend: Backend) {
    let mut app = App::start(backend).await;
    for (order_by, forge) in [
        ("display_name", serde_json::json!(2.5)),
        ("display_name desc", serde_json::json!(7)),
        ("display_name", serde_json::json!("nul\0")),
        ("create_time", serde_json::json!("2024-01-01")),
        ("create_time desc", serde_json::json!(1.5)),
        ("start_date", serde_json::json!({"year": 2012})),
        ("name", serde_json::json!(true)),
        ("", serde_json::json!(null)),
    ] {
        let page = |page_token: String| ListInitiativesRequest {
            page_size: 1,
            order_by: order_by.to_owned(),
            page_token,
            ..Default::default()
        };
        let (_, token) = app.list(page(String::new())).await.expect("first page");
        assert!(!token.is_empty());
        app.list(page(token.clone())).await.expect("the real token works");
        let forged = forged_page_token(&token, |keys| keys[0] = forge.clone());
        let status = app.list(page(forged)).await.expect_err("forged token");
        assert_invalid(&status, &["page_token"]);
        assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN", "{order_by}: {forge}");
        let short = forged_page_token(&token, |keys| {
            keys.pop();
        });
        let status = app.list(page(short)).await.expect_err("a key missing");
        assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN", "{order_by}");
    }
    app.stop().await;
}

async fn huge_parameters_get_a_small_invalid_argument(backend: Backend) {
    let mut app = App::start(backend).await;
    let huge = "display_name,".repeat(4 * 1024 * 1024 / 13);
    let list = |change: &dyn Fn(&mut ListInitiativesRequest)| {
        let mut request = ListInitiativesRequest::default();
        change(&mut request);
        request
    };
    let status = app
        .list(list(&|request| request.order_by = huge.clone()))
        .await
        .expect_err("4 MB order_by");
    assert_invalid(&status, &["order_by"]);
    let status = app
        .list(list(&|request| {
            request.order_by = format!("{} desc", "x".repeat(10_000))
        }))
        .await
        .expect_err("unknown long field");
    assert_invalid(&status, &["order_by"]);
    let status = app
        .list(list(&|request| request.filter = huge.clone()))
        .await
        .expect_err("4 MB filter");
    assert_invalid(&status, &["filter"]);
    let status = app
        .list(list(&|request| request.filter = format!("{} = 1", "x".repeat(4000))))
        .await
        .expect_err("unknown long field in a filter");
    assert_invalid(&status, &["filter"]);
    let status = app
        .list(list(&|request| request.page_token = "A".repeat(4 * 1024 * 1024)))
        .await
        .expect_err("4 MB page_token");
    assert_invalid(&status, &["page_token"]);
    assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN");

    let status = app
        .client
        .get_initiative(GetInitiativeRequest {
            name: format!("initiatives/{}", "x".repeat(4 * 1024 * 1024)),
        })
        .await
        .expect_err("4 MB name");
    assert_invalid(&status, &["name"]);
    let long_name = format!("initiatives/{}", "Y".repeat(10_000));
    let status = app
        .client
        .batch_get_initiatives(BatchGetInitiativesRequest {
            names: vec![long_name; 1000],
            ..Default::default()
        })
        .await
        .expect_err("1000 bad names");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.details().len() < 4096,
        "{} bytes of details",
        status.details().len()
    );
    let status = app
        .client
        .create_initiative(CreateInitiativeRequest {
            initiative: Some(initiative(&"n".repeat(4 * 1024 * 1024))),
            initiative_id: "I".repeat(4 * 1024 * 1024),
            request_id: "r".repeat(4 * 1024 * 1024),
        })
        .await
        .expect_err("4 MB fields");
    assert_invalid(&status, &["initiative.display_name", "initiative_id", "request_id"]);
    let status = app
        .client
        .update_initiative(UpdateInitiativeRequest {
            initiative: Some(Initiative {
                name: "initiatives/tzcld".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["p".repeat(4 * 1024 * 1024)],
            }),
        })
        .await
        .expect_err("4 MB mask path");
    assert_invalid(&status, &["update_mask.paths[0]"]);
    app.stop().await;
}

/// Bytes that no protobuf encoder writes, each sent to a method that decodes them.
fn undecodable_messages() -> [(&'static str, &'static str, Vec<u8>); 4] {
    [
        (
            "invalid UTF-8 in a string",
            "/sse.initiatives.v1.InitiativeService/GetInitiative",
            vec![0x0a, 0x02, 0xff, 0xfe],
        ),
        (
            "a truncated varint",
            "/sse.initiatives.v1.InitiativeService/ListInitiatives",
            vec![0x08, 0xff],
        ),
        (
            "a wrong wire type",
            "/sse.initiatives.v1.InitiativeService/GetInitiative",
            vec![0x0d, 0, 0, 0, 0],
        ),
        (
            "a length past the end",
            "/sse.initiatives.v1.InitiativeService/CreateInitiative",
            vec![0x0a, 0x40, 0x12],
        ),
    ]
}

async fn bytes_that_are_not_a_message_are_invalid_argument(backend: Backend) {
    let app = App::start(backend).await;
    let in_process = sse_testkit::grpc_server_with(&Module, &app.database)
        .expect("register")
        .in_process();
    for (what, path, body) in undecodable_messages() {
        let status = raw_unary(app.server.channel.clone(), path, body.clone())
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert_eq!(error_reason(&status), "INVALID_MESSAGE", "{what}");
        let status = raw_unary(in_process.clone(), path, body).await.expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "in process, {what}: {status:?}");
    }
    let valid = GetInitiativeRequest {
        name: "initiatives/tzcld".to_owned(),
    }
    .encode_to_vec();
    raw_unary(
        app.server.channel.clone(),
        "/sse.initiatives.v1.InitiativeService/GetInitiative",
        valid,
    )
    .await
    .expect("a valid message still works");
    app.stop().await;
}

async fn messages_over_the_limit_are_resource_exhausted(backend: Backend) {
    let mut app = App::start(backend).await;
    let before = app.count().await;
    let over = sse_platform::calls::MAX_MESSAGE_BYTES + 16;
    let read = ListInitiativesRequest {
        filter: "x".repeat(over),
        ..Default::default()
    }
    .encode_to_vec();
    let write = CreateInitiativeRequest {
        initiative: Some(initiative(&"x".repeat(over))),
        ..Default::default()
    }
    .encode_to_vec();
    for (what, path, body) in [
        ("a read", "/sse.initiatives.v1.InitiativeService/ListInitiatives", read),
        (
            "a write",
            "/sse.initiatives.v1.InitiativeService/CreateInitiative",
            write,
        ),
    ] {
        let status = raw_unary(app.server.channel.clone(), path, body).await.expect_err(what);
        assert_eq!(status.code(), Code::ResourceExhausted, "{what}: {status:?}");
        assert_eq!(error_reason(&status), "MESSAGE_TOO_LARGE", "{what}");
    }
    assert_eq!(app.count().await, before);
    app.stop().await;
}
