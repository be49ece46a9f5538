//! The law guide under hostile input, on SQLite and PostgreSQL: control characters in legal
//! texts, filters and searches, forged page tokens, huge parameters. Each is the caller's error
//! (INVALID_ARGUMENT naming the field), never INTERNAL.

use sse_law_guide::Module;
use sse_platform::module::ServiceModule;
use sse_proto::lawguide::{
    CreateLegalTextRequest, LegalText, LegalTextIdentifier, ListLegalTextRevisionsRequest, ListLegalTextsRequest,
    Provision, SearchLegalTextsRequest, Topic,
    law_guide_service_client::LawGuideServiceClient,
    legal_text::{Kind, Level, Status as TextStatus},
    legal_text_identifier::Scheme,
};
use sse_proto::types::{PartialDate, SourceCitation};
use sse_testkit::{
    Backend, TestDatabase, TestServer, assert_invalid, error_reason, forged_page_token, on_both_databases,
};
use tonic::{Request, Status, service::interceptor::InterceptedService, transport::Channel};

type Client = LawGuideServiceClient<InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>>;

struct App {
    client: Client,
    server: TestServer,
    _database: TestDatabase,
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
        let client = LawGuideServiceClient::with_interceptor(server.channel.clone(), intercept);
        App {
            client,
            server,
            _database: database,
        }
    }

    async fn list(&mut self, request: ListLegalTextsRequest) -> Result<(usize, String), Status> {
        let response = self.client.list_legal_texts(request).await?.into_inner();
        Ok((response.legal_texts.len(), response.next_page_token))
    }

    async fn stop(self) {
        self.server.stop().await.expect("server stops cleanly");
    }
}

fn law(title: &str) -> LegalText {
    LegalText {
        jurisdiction: "ES".to_owned(),
        level: Level::National.into(),
        kind: Kind::Law.into(),
        number: "Ley 1/2030".to_owned(),
        title: title.to_owned(),
        language: "es".to_owned(),
        adoption_date: Some(PartialDate {
            year: 2030,
            month: 1,
            day: 15,
        }),
        status: TextStatus::Draft.into(),
        identifiers: vec![LegalTextIdentifier {
            scheme: Scheme::Boe.into(),
            value: "BOE-A-2030-1".to_owned(),
            other_scheme: String::new(),
        }],
        topics: vec![Topic::EntityTypes.into()],
        provisions: vec![Provision {
            number: "art. 1".to_owned(),
            heading: "Objeto".to_owned(),
            text: "Regula las cooperativas.".to_owned(),
            topics: vec![Topic::EntityTypes.into()],
            official_text: false,
        }],
        sources: vec![SourceCitation {
            title: "Boletín".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

on_both_databases!(
    control_characters_in_a_legal_text_are_refused_naming_each_field,
    control_characters_in_filters_and_searches_are_refused,
    forged_page_tokens_are_invalid_page_tokens,
    huge_parameters_get_a_small_invalid_argument,
);

async fn control_characters_in_a_legal_text_are_refused_naming_each_field(backend: Backend) {
    let mut app = App::start(backend).await;
    let mut hostile = law("Ley\0de cooperativas");
    hostile.summary = "escape \u{1b}".to_owned();
    hostile.number = "1\u{7}".to_owned();
    hostile.identifiers[0].value = "BOE\u{0}".to_owned();
    hostile.provisions[0].heading = "\u{8}".to_owned();
    hostile.provisions[0].text = "text\twith\nnewlines and a \u{0}".to_owned();
    let status = app
        .client
        .create_legal_text(CreateLegalTextRequest {
            validate_only: false,
            legal_text: Some(hostile),
            legal_text_id: String::new(),
            request_id: "\u{0}".to_owned(),
        })
        .await
        .expect_err("control characters");
    assert_invalid(
        &status,
        &[
            "legal_text.title",
            "legal_text.summary",
            "legal_text.number",
            "legal_text.identifiers[0].value",
            "legal_text.provisions[0].heading",
            "legal_text.provisions[0].text",
            "request_id",
        ],
    );
    app.client
        .create_legal_text(CreateLegalTextRequest {
            validate_only: false,
            legal_text: Some(law("Ley\tcon\nsaltos")),
            ..Default::default()
        })
        .await
        .expect("tab and newline are text");
    app.stop().await;
}

async fn control_characters_in_filters_and_searches_are_refused(backend: Backend) {
    let mut app = App::start(backend).await;
    for filter in ["\0", "title:\"\0\"", "jurisdiction = \"E\u{1b}S\"", "topics:\"\u{7}\""] {
        let status = app
            .list(ListLegalTextsRequest {
                filter: filter.to_owned(),
                ..Default::default()
            })
            .await
            .expect_err(filter);
        assert_invalid(&status, &["filter"]);
        assert_eq!(error_reason(&status), "INVALID_FILTER");
    }
    let search = |query: &str, filter: &str| SearchLegalTextsRequest {
        query: query.to_owned(),
        filter: filter.to_owned(),
        ..Default::default()
    };
    let status = app
        .client
        .search_legal_texts(search("cooperativa\0", ""))
        .await
        .expect_err("NUL in a query");
    assert_invalid(&status, &["query"]);
    let status = app
        .client
        .search_legal_texts(search("cooperativa", "title:\"\0\""))
        .await
        .expect_err("NUL in a search filter");
    assert_invalid(&status, &["filter"]);
    app.stop().await;
}

async fn forged_page_tokens_are_invalid_page_tokens(backend: Backend) {
    let mut app = App::start(backend).await;
    for (order_by, forge) in [
        ("adoption_date", serde_json::json!(2030)),
        ("jurisdiction desc", serde_json::json!(1.5)),
        ("update_time", serde_json::json!("yesterday")),
        ("name", serde_json::json!("nul\0")),
    ] {
        let page = |page_token: String| ListLegalTextsRequest {
            page_size: 1,
            order_by: order_by.to_owned(),
            page_token,
            ..Default::default()
        };
        let (_, token) = app.list(page(String::new())).await.expect("first page");
        let forged = forged_page_token(&token, |keys| keys[0] = forge.clone());
        let status = app.list(page(forged)).await.expect_err("forged");
        assert_invalid(&status, &["page_token"]);
        assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN", "{order_by}");
    }

    let search = |page_token: String| SearchLegalTextsRequest {
        query: "cooperativa".to_owned(),
        page_size: 1,
        page_token,
        ..Default::default()
    };
    let token = app
        .client
        .search_legal_texts(search(String::new()))
        .await
        .expect("search")
        .into_inner()
        .next_page_token;
    let forged = forged_page_token(&token, |keys| keys[0] = serde_json::json!("1"));
    let status = app
        .client
        .search_legal_texts(search(forged))
        .await
        .expect_err("forged search token");
    assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN");

    let name = "legalTexts/es-ley-5-2011".to_owned();
    let revisions = |page_token: String| ListLegalTextRevisionsRequest {
        parent: name.clone(),
        page_size: 1,
        page_token,
    };
    for summary in ["A second revision.", "A third revision."] {
        app.client
            .update_legal_text(sse_proto::lawguide::UpdateLegalTextRequest {
                legal_text: Some(LegalText {
                    name: name.clone(),
                    summary: summary.to_owned(),
                    ..Default::default()
                }),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["summary".to_owned()],
                }),
            })
            .await
            .expect("a new revision");
    }
    let token = app
        .client
        .list_legal_text_revisions(revisions(String::new()))
        .await
        .expect("revisions")
        .into_inner()
        .next_page_token;
    assert!(!token.is_empty());
    let forged = forged_page_token(&token, |keys| keys[0] = serde_json::json!("2"));
    let status = app
        .client
        .list_legal_text_revisions(revisions(forged))
        .await
        .expect_err("forged revisions token");
    assert_eq!(error_reason(&status), "INVALID_PAGE_TOKEN");
    app.stop().await;
}

async fn huge_parameters_get_a_small_invalid_argument(backend: Backend) {
    let mut app = App::start(backend).await;
    let huge = "x".repeat(4 * 1024 * 1024);
    let status = app
        .list(ListLegalTextsRequest {
            order_by: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("4 MB order_by");
    assert_invalid(&status, &["order_by"]);
    let status = app
        .client
        .search_legal_texts(SearchLegalTextsRequest {
            query: "cooperativa".to_owned(),
            language: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("4 MB language");
    assert_invalid(&status, &["language"]);
    let status = app
        .client
        .search_legal_texts(SearchLegalTextsRequest {
            query: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("4 MB query");
    assert_invalid(&status, &["query"]);
    let status = app
        .client
        .get_legal_text(sse_proto::lawguide::GetLegalTextRequest {
            name: format!("legalTexts/{huge}"),
        })
        .await
        .expect_err("4 MB name");
    assert_invalid(&status, &["name"]);
    let status = app
        .client
        .compare_jurisdictions(sse_proto::lawguide::CompareJurisdictionsRequest {
            jurisdictions: vec![huge.clone(), "\0".to_owned()],
            topics: vec![Topic::EntityTypes.into()],
            ..Default::default()
        })
        .await
        .expect_err("4 MB jurisdiction");
    assert_invalid(&status, &["jurisdictions[0]", "jurisdictions[1]"]);
    app.stop().await;
}
