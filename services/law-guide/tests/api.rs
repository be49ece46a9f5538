//! The law guide API as a partner drives it: real gRPC over loopback, against a fresh SQLite and
//! a fresh PostgreSQL database per test, most of them on the seeded legal texts.

use sse_law_guide::Module;
use sse_platform::module::ServiceModule;
use sse_proto::lawguide::{
    BatchGetLegalTextsRequest, CompareJurisdictionsRequest, CreateLegalTextRequest, DeleteLegalTextRequest,
    GetLegalTextRequest, LegalText, LegalTextIdentifier, LegalTextRelation, ListLegalTextRevisionsRequest,
    ListLegalTextsRequest, Provision, SearchLegalTextsRequest, SearchResult, Topic, UpdateLegalTextRequest,
    law_guide_service_client::LawGuideServiceClient,
    legal_text::{Kind, Level, Status as TextStatus},
    legal_text_identifier::Scheme,
    legal_text_relation::Type as RelationType,
    legal_text_revision::Change,
    snippet::Section,
};
use sse_proto::types::{PartialDate, SourceCitation};
use sse_testkit::{Backend, TestDatabase, TestServer, error_reason, on_both_databases};
use tonic::{Code, Request, Status, service::interceptor::InterceptedService, transport::Channel};

type Client = LawGuideServiceClient<InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>>;

struct App {
    client: Client,
    server: TestServer,
    database: TestDatabase,
}

impl App {
    async fn start(backend: Backend, seeded: bool) -> App {
        let database = TestDatabase::new(backend).await.expect("test database");
        Module.migrate(&database.connection).await.expect("migrations");
        if seeded {
            Module.seed(&database.connection).await.expect("seed");
        }
        let server = TestServer::start(sse_testkit::grpc_server_with(&Module, &database).expect("register"))
            .await
            .expect("server");
        let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
        let client = LawGuideServiceClient::with_interceptor(server.channel.clone(), intercept);
        App {
            client,
            server,
            database,
        }
    }

    async fn create(&mut self, id: &str, legal_text: LegalText) -> Result<LegalText, Status> {
        let request = CreateLegalTextRequest {
            validate_only: false,
            legal_text: Some(legal_text),
            legal_text_id: id.to_owned(),
            request_id: String::new(),
        };
        Ok(self
            .client
            .create_legal_text(request)
            .await?
            .into_inner()
            .legal_text
            .expect("legal text"))
    }

    async fn get(&mut self, id: &str) -> Result<LegalText, Status> {
        let request = GetLegalTextRequest {
            name: format!("legalTexts/{id}"),
        };
        Ok(self
            .client
            .get_legal_text(request)
            .await?
            .into_inner()
            .legal_text
            .expect("legal text"))
    }

    async fn update(&mut self, patch: LegalText, paths: &[&str]) -> Result<LegalText, Status> {
        let request = UpdateLegalTextRequest {
            legal_text: Some(patch),
            update_mask: Some(pbjson_types::FieldMask {
                paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            }),
        };
        Ok(self
            .client
            .update_legal_text(request)
            .await?
            .into_inner()
            .legal_text
            .expect("legal text"))
    }

    /// The ids of every text matching `filter`, sorted.
    async fn filtered(&mut self, filter: &str) -> Result<Vec<String>, Status> {
        let response = self
            .client
            .list_legal_texts(ListLegalTextsRequest {
                filter: filter.to_owned(),
                page_size: 1000,
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut ids: Vec<String> = response.legal_texts.iter().map(|text| id_of(text).to_owned()).collect();
        ids.sort();
        Ok(ids)
    }

    async fn search(&mut self, request: SearchLegalTextsRequest) -> Result<Vec<SearchResult>, Status> {
        Ok(self.client.search_legal_texts(request).await?.into_inner().results)
    }

    /// The ids of the results of a search for `query`, best first.
    async fn ranked(&mut self, query: &str, language: &str, filter: &str) -> Result<Vec<String>, Status> {
        let results = self
            .search(SearchLegalTextsRequest {
                query: query.to_owned(),
                language: language.to_owned(),
                filter: filter.to_owned(),
                ..Default::default()
            })
            .await?;
        Ok(results.iter().map(|result| result_id(result).to_owned()).collect())
    }

    async fn stop(self) {
        self.server.stop().await.expect("server stops cleanly");
    }
}

fn id_of(text: &LegalText) -> &str {
    text.name.strip_prefix("legalTexts/").unwrap_or(&text.name)
}

fn result_id(result: &SearchResult) -> &str {
    result.legal_text.as_ref().map(id_of).unwrap_or_default()
}

fn date(year: i32, month: i32, day: i32) -> Option<PartialDate> {
    Some(PartialDate { year, month, day })
}

/// A valid legal text, as a partner would send it.
fn law(title: &str) -> LegalText {
    LegalText {
        jurisdiction: "ES".to_owned(),
        level: Level::National.into(),
        kind: Kind::Law.into(),
        number: "Ley 1/2030".to_owned(),
        title: title.to_owned(),
        title_en: "A test law on cooperatives".to_owned(),
        language: "es".to_owned(),
        adoption_date: date(2030, 1, 15),
        status: TextStatus::Draft.into(),
        identifiers: vec![LegalTextIdentifier {
            scheme: Scheme::Boe.into(),
            value: "BOE-A-2030-1".to_owned(),
            other_scheme: String::new(),
        }],
        topics: vec![Topic::EntityTypes.into()],
        summary: "A law that regulates worker cooperatives.".to_owned(),
        provisions: vec![Provision {
            number: "art. 1".to_owned(),
            heading: "Objeto".to_owned(),
            text: "Regula las cooperativas de trabajo asociado.".to_owned(),
            topics: vec![Topic::EntityTypes.into()],
            official_text: false,
        }],
        sources: vec![SourceCitation {
            title: "Boletín".to_owned(),
            url: "https://example.org/boe".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The violated fields, sorted: these tests compare sets.
fn violated_fields(status: &Status) -> Vec<String> {
    let mut fields = sse_testkit::violated_fields(status);
    fields.sort();
    fields
}

on_both_databases!(
    create_then_get_returns_the_stored_text,
    create_with_an_existing_id_is_already_exists_and_a_retry_writes_once,
    create_rejects_each_invalid_field_and_writes_nothing,
    update_keeps_every_previous_state_as_a_revision,
    update_with_a_stale_etag_or_invalid_values_is_refused_and_writes_nothing,
    delete_keeps_the_last_state_as_a_revision,
    revisions_come_newest_first_in_pages,
    batch_get_keeps_order_and_repeats,
    generate_is_deterministic_and_fills_the_search_index,
    the_postings_migration_indexes_the_texts_already_stored,
    batch_get_is_not_found_naming_the_first_missing_text,
    batch_get_rejects_an_empty_or_oversized_or_malformed_batch,
    search_ranks_the_seed_in_five_languages,
    search_folds_accents_case_and_plurals,
    search_snippets_name_the_matching_provision,
    search_with_a_filter_and_pages,
    search_ranks_the_phrase_economia_social_before_its_words_apart,
    search_with_a_quoted_phrase_finds_only_texts_holding_it,
    search_sees_every_write_even_from_another_process,
    search_ranks_a_phrase_before_scattered_words_and_a_title_before_the_body,
    search_rejects_bad_input,
    list_filters_select_the_seeded_texts,
    list_pages_and_orders,
    list_rejects_bad_filters,
    the_matrix_names_texts_and_provisions_by_jurisdiction_and_topic,
    the_matrix_rejects_bad_input,
    the_seed_keeps_facts_relations_and_unverified_details,
    seeding_twice_creates_nothing_new_and_does_not_bring_back_deleted_texts,
);

async fn create_then_get_returns_the_stored_text(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let created = app
        .create("es-ley-1-2030", law("Ley 1/2030 de cooperativas"))
        .await
        .expect("create");
    assert_eq!(created.name, "legalTexts/es-ley-1-2030");
    assert!(created.create_time.is_some() && created.update_time.is_some());
    assert!(!created.etag.is_empty());
    assert_eq!(created.title, "Ley 1/2030 de cooperativas");
    assert_eq!(app.get("es-ley-1-2030").await.expect("get"), created);

    let missing = app.get("nope").await.expect_err("unknown id");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(error_reason(&missing), "NOT_FOUND");
    let malformed = app
        .client
        .get_legal_text(GetLegalTextRequest {
            name: "initiatives/tzcld".to_owned(),
        })
        .await
        .expect_err("not a legal text name");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&malformed), ["name"]);

    let generated = app.create("", law("Ley sin id")).await.expect("server-picked id");
    assert_eq!(
        app.get(id_of(&generated)).await.expect("get by generated id"),
        generated
    );
    app.stop().await;
}

async fn create_with_an_existing_id_is_already_exists_and_a_retry_writes_once(backend: Backend) {
    let mut app = App::start(backend, false).await;
    app.create("es-ley-1-2030", law("Primera")).await.expect("create");
    let again = app
        .create("es-ley-1-2030", law("Segunda"))
        .await
        .expect_err("duplicate");
    assert_eq!(again.code(), Code::AlreadyExists);
    assert_eq!(app.get("es-ley-1-2030").await.expect("get").title, "Primera");

    let request = CreateLegalTextRequest {
        validate_only: false,
        legal_text: Some(law("Con request_id")),
        legal_text_id: String::new(),
        request_id: "7c1e-retry".to_owned(),
    };
    let first = app
        .client
        .create_legal_text(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retried = app.client.create_legal_text(request).await.expect("retry").into_inner();
    assert_eq!(first, retried);
    assert_eq!(app.filtered("").await.expect("list").len(), 2);
    app.stop().await;
}

async fn create_rejects_each_invalid_field_and_writes_nothing(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let mut invalid = law("");
    invalid.jurisdiction = "FR-XX".to_owned();
    invalid.kind = Kind::Unspecified.into();
    invalid.language = "spa".to_owned();
    invalid.adoption_date = date(2030, 2, 30);
    invalid.topics = vec![Topic::Unspecified.into(), 99];
    invalid.identifiers[0].scheme = Scheme::Unspecified.into();
    invalid.provisions.push(Provision {
        number: "art. 1".to_owned(),
        heading: String::new(),
        topics: vec![Topic::Registry.into(), Topic::Registry.into()],
        ..Default::default()
    });
    invalid.relations = vec![
        LegalTextRelation {
            r#type: RelationType::Amends.into(),
            legal_text: "es-ley-5-2011".to_owned(),
        },
        LegalTextRelation {
            r#type: RelationType::Unspecified.into(),
            legal_text: "legalTexts/es-ley-bad".to_owned(),
        },
    ];
    invalid.related_initiatives = vec!["initiatives/tzcld".to_owned(), "tzcld".to_owned()];
    invalid.unverified_fields = vec!["adoption_date.day".to_owned(), "colour".to_owned()];
    invalid.sources[0].url = "not a url".to_owned();
    let status = app.create("Bad_Id", invalid).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&status), "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        [
            "legal_text.adoption_date.day",
            "legal_text.identifiers[0].scheme",
            "legal_text.jurisdiction",
            "legal_text.kind",
            "legal_text.language",
            "legal_text.provisions[1].heading",
            "legal_text.provisions[1].number",
            "legal_text.provisions[1].topics[1]",
            "legal_text.related_initiatives[1]",
            "legal_text.relations[0].legal_text",
            "legal_text.relations[1].type",
            "legal_text.sources[0].url",
            "legal_text.title",
            "legal_text.topics[0]",
            "legal_text.topics[1]",
            "legal_text.unverified_fields[1]",
            "legal_text_id",
        ]
    );

    let mut mismatched = law("Ley regional");
    mismatched.jurisdiction = "ES-PV".to_owned();
    let status = app
        .create("es-pv-ley", mismatched)
        .await
        .expect_err("a region is not national");
    assert_eq!(violated_fields(&status), ["legal_text.level"]);
    let mut self_related = law("Ley");
    self_related.relations = vec![LegalTextRelation {
        r#type: RelationType::Amends.into(),
        legal_text: "legalTexts/es-ley-self".to_owned(),
    }];
    let status = app
        .create("es-ley-self", self_related)
        .await
        .expect_err("self relation");
    assert_eq!(violated_fields(&status), ["legal_text.relations[0].legal_text"]);
    let missing = app
        .client
        .create_legal_text(CreateLegalTextRequest::default())
        .await
        .expect_err("no legal text");
    assert_eq!(violated_fields(&missing), ["legal_text"]);

    assert!(app.filtered("").await.expect("list").is_empty(), "nothing written");
    let searched = app.ranked("cooperativas", "", "").await.expect("search");
    assert!(searched.is_empty(), "nothing indexed");
    app.stop().await;
}

async fn revisions(
    app: &mut App,
    id: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<(String, Change, LegalText)>, String), Status> {
    let response = app
        .client
        .list_legal_text_revisions(ListLegalTextRevisionsRequest {
            parent: format!("legalTexts/{id}"),
            page_size,
            page_token: page_token.to_owned(),
        })
        .await?
        .into_inner();
    let revisions = response
        .revisions
        .iter()
        .map(|revision| {
            assert!(revision.revision_create_time.is_some());
            (
                revision.revision_id.clone(),
                revision.change(),
                revision.legal_text.clone().expect("snapshot"),
            )
        })
        .collect();
    Ok((revisions, response.next_page_token))
}

async fn update_keeps_every_previous_state_as_a_revision(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let created = app
        .create("es-ley-1-2030", law("Ley de cooperativas"))
        .await
        .expect("create");
    let (none, _) = revisions(&mut app, "es-ley-1-2030", 0, "")
        .await
        .expect("no revisions yet");
    assert!(none.is_empty());

    let renamed = app
        .update(
            LegalText {
                name: created.name.clone(),
                title: "Ley de mutualidades".to_owned(),
                summary: "not in the mask, so not written".to_owned(),
                etag: created.etag.clone(),
                ..Default::default()
            },
            &["title"],
        )
        .await
        .expect("update the title");
    assert_eq!(renamed.title, "Ley de mutualidades");
    assert_eq!(renamed.summary, created.summary);
    assert_eq!(renamed.create_time, created.create_time);
    assert_ne!(renamed.etag, created.etag);

    let reclassified = app
        .update(
            LegalText {
                name: created.name.clone(),
                topics: vec![Topic::TaxIncentives.into()],
                provisions: vec![],
                status: TextStatus::InForce.into(),
                ..Default::default()
            },
            &["topics", "provisions", "status"],
        )
        .await
        .expect("update without an etag");
    assert!(reclassified.provisions.is_empty());

    let (kept, next) = revisions(&mut app, "es-ley-1-2030", 0, "").await.expect("revisions");
    assert!(next.is_empty());
    let ids: Vec<&str> = kept.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["2", "1"], "newest first");
    assert!(kept.iter().all(|(_, change, _)| *change == Change::Update));
    assert_eq!(kept[1].2, created, "revision 1 is the text as created, etag included");
    assert_eq!(kept[0].2, renamed, "revision 2 is the text before the second update");

    // The search index and the facets follow the current state only.
    assert_eq!(
        app.ranked("mutualidades", "es", "").await.expect("search"),
        ["es-ley-1-2030"]
    );
    assert!(
        app.ranked("trabajo asociado", "es", "")
            .await
            .expect("search")
            .is_empty(),
        "old provision gone"
    );
    assert_eq!(
        app.filtered("topics:TAX_INCENTIVES").await.expect("filter"),
        ["es-ley-1-2030"]
    );
    assert!(app.filtered("topics:ENTITY_TYPES").await.expect("filter").is_empty());
    assert_eq!(
        app.filtered("status = IN_FORCE").await.expect("filter"),
        ["es-ley-1-2030"]
    );
    app.stop().await;
}

async fn update_with_a_stale_etag_or_invalid_values_is_refused_and_writes_nothing(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let created = app.create("es-ley-1-2030", law("Ley")).await.expect("create");
    let rename = |title: &str, etag: &str| LegalText {
        name: created.name.clone(),
        title: title.to_owned(),
        etag: etag.to_owned(),
        ..Default::default()
    };
    let first = app
        .update(rename("Primera", &created.etag), &["title"])
        .await
        .expect("first writer wins");
    let stale = app
        .update(rename("Segunda", &created.etag), &["title"])
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(error_reason(&stale), "ETAG_MISMATCH");

    let unknown = app
        .update(rename("x", ""), &["colour"])
        .await
        .expect_err("unknown path");
    assert_eq!(violated_fields(&unknown), ["update_mask.paths[0]"]);
    let cleared = app
        .update(rename("", ""), &["title"])
        .await
        .expect_err("title is required");
    assert_eq!(violated_fields(&cleared), ["legal_text.title"]);
    let bad_level = LegalText {
        name: created.name.clone(),
        jurisdiction: "UN".to_owned(),
        ..Default::default()
    };
    let status = app.update(bad_level, &[]).await.expect_err("UN is not national");
    assert_eq!(violated_fields(&status), ["legal_text.level"]);
    let unnamed = app.update(LegalText::default(), &["title"]).await.expect_err("no name");
    assert_eq!(violated_fields(&unnamed), ["legal_text.name"]);
    let missing = app.update(rename("x", "").clone(), &["title"]).await;
    assert!(missing.is_ok());

    let (kept, _) = revisions(&mut app, "es-ley-1-2030", 0, "").await.expect("revisions");
    let ids: Vec<&str> = kept.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["2", "1"], "only the two successful updates made revisions");
    assert_eq!(kept[0].2, first);
    app.stop().await;
}

async fn delete_keeps_the_last_state_as_a_revision(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let text = app.get("pt-lei-30-2013").await.expect("seeded");
    let stale = app
        .client
        .delete_legal_text(DeleteLegalTextRequest {
            name: text.name.clone(),
            etag: "0000000000000000".to_owned(),
        })
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    let revision = app
        .client
        .delete_legal_text(DeleteLegalTextRequest {
            name: text.name.clone(),
            etag: text.etag.clone(),
        })
        .await
        .expect("delete")
        .into_inner()
        .revision
        .expect("revision");
    assert_eq!(revision.revision_id, "1");
    assert_eq!(revision.change(), Change::Delete);
    assert_eq!(revision.legal_text.as_ref(), Some(&text));

    assert_eq!(
        app.get("pt-lei-30-2013").await.expect_err("gone").code(),
        Code::NotFound
    );
    assert!(
        !app.filtered("")
            .await
            .expect("list")
            .contains(&"pt-lei-30-2013".to_owned())
    );
    assert!(
        !app.ranked("conta satélite", "pt", "")
            .await
            .expect("search")
            .contains(&"pt-lei-30-2013".to_owned()),
        "a deleted text is not found"
    );
    let (kept, _) = revisions(&mut app, "pt-lei-30-2013", 0, "")
        .await
        .expect("the history outlives the text");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].2, text);
    let again = app
        .client
        .delete_legal_text(DeleteLegalTextRequest {
            name: text.name.clone(),
            etag: String::new(),
        })
        .await
        .expect_err("already deleted");
    assert_eq!(again.code(), Code::NotFound);
    let never = revisions(&mut app, "never-existed", 0, "")
        .await
        .expect_err("unknown text");
    assert_eq!(never.code(), Code::NotFound);
    let malformed = revisions(&mut app, "Not_An_Id", 0, "").await.expect_err("bad parent");
    assert_eq!(violated_fields(&malformed), ["parent"]);
    app.stop().await;
}

async fn revisions_come_newest_first_in_pages(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let created = app.create("es-ley-1-2030", law("Versión 0")).await.expect("create");
    for version in 1..=5 {
        let patch = LegalText {
            name: created.name.clone(),
            title: format!("Versión {version}"),
            ..Default::default()
        };
        app.update(patch, &["title"]).await.expect("update");
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = revisions(&mut app, "es-ley-1-2030", 2, &token).await.expect("page");
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|(id, _, text)| (id, text.title)));
        if next.is_empty() {
            break;
        }
        token = next;
    }
    let expected: Vec<(String, String)> = (1..=5)
        .rev()
        .map(|revision| (revision.to_string(), format!("Versión {}", revision - 1)))
        .collect();
    assert_eq!(seen, expected);
    app.create("es-ley-2-2030", law("Otra")).await.expect("create");
    let (_, token) = revisions(&mut app, "es-ley-1-2030", 1, "").await.expect("page");
    let other = revisions(&mut app, "es-ley-2-2030", 1, &token)
        .await
        .expect_err("token of another text");
    assert_eq!(violated_fields(&other), ["page_token"]);
    app.stop().await;
}

/// The expected best results of queries in English, French, Spanish, Portuguese and Italian on
/// the seeded texts: each query's top results, best first.
const EXPECTED_RANKINGS: &[(&str, &str, &[&str])] = &[
    // Portuguese spelling, no language given: Portugal's framework law first.
    ("economia social", "", &["pt-lei-30-2013"]),
    // The Spanish spelling finds the Spanish-language social economy laws first. (Their order
    // changed when phrases began to count: Uruguay's and Spain's laws hold "economía social"
    // more often than Mexico's, which was first.)
    (
        "economía social",
        "es",
        &["uy-ley-19848", "es-ley-5-2011", "mx-ley-economia-social-solidaria-2012"],
    ),
    ("economía solidaria", "es", &["co-ley-454-1998"]),
    ("registro nacional", "es", &["mx-ley-economia-social-solidaria-2012"]),
    ("principios orientadores", "es", &["es-ley-5-2011"]),
    ("princípios orientadores", "pt", &["pt-lei-30-2013"]),
    (
        "coopératives",
        "fr",
        &[
            "ca-qc-loi-economie-sociale-2013",
            "be-wal-decret-2008-economie-sociale",
            "fr-loi-2014-856",
        ],
    ),
    ("entreprises à but d'emploi", "fr", &["fr-loi-2016-231"]),
    ("zéro chômeur", "", &["fr-loi-2020-1577", "fr-loi-2016-231"]),
    ("achats publics", "fr", &["fr-loi-2014-856"]),
    ("conta satélite", "pt", &["pt-lei-30-2013"]),
    ("terzo settore", "it", &["it-dlgs-117-2017"]),
    ("cooperative sociali", "it", &["it-dlgs-117-2017"]),
    ("satellite account", "en", &["tn-loi-2020-30", "pt-lei-30-2013"]),
    (
        "public procurement",
        "en",
        &[
            "eu-council-recommendation-2023-11-27",
            "oecd-legal-0472",
            "fr-loi-2014-856",
        ],
    ),
    ("decent work", "en", &["ilo-resolution-decent-work-sse-2022"]),
];

async fn search_ranks_the_seed_in_five_languages(backend: Backend) {
    let mut app = App::start(backend, true).await;
    for (query, language, expected) in EXPECTED_RANKINGS {
        let ranked = app.ranked(query, language, "").await.expect(query);
        assert_eq!(
            &ranked[..expected.len().min(ranked.len())],
            *expected,
            "{query:?} in {language:?}: {ranked:?}"
        );
    }
    // Scores fall as results go.
    let results = app
        .search(SearchLegalTextsRequest {
            query: "economía social".to_owned(),
            ..Default::default()
        })
        .await
        .expect("search");
    assert!(results.windows(2).all(|pair| pair[0].score >= pair[1].score));
    assert!(results.iter().all(|result| result.score > 0.0));
    app.stop().await;
}

async fn search_folds_accents_case_and_plurals(backend: Backend) {
    let mut app = App::start(backend, true).await;
    // Accents: the same texts with or without them, in either direction.
    let with = app.ranked("economía", "", "").await.expect("accented");
    let without = app.ranked("ECONOMIA", "", "").await.expect("unaccented, upper case");
    let mut with_sorted = with.clone();
    with_sorted.sort();
    let mut without_sorted = without.clone();
    without_sorted.sort();
    assert_eq!(with_sorted, without_sorted);
    assert!(with.contains(&"es-ley-5-2011".to_owned()) && with.contains(&"pt-lei-30-2013".to_owned()));
    // Plurals: the singular finds the plural and the other way round, in each language.
    let cases = [
        (
            "coopérative",
            "fr",
            "be-wal-decret-2008-economie-sociale",
            "coopératives",
        ),
        ("fondation", "fr", "be-wal-decret-2008-economie-sociale", "fondations"),
        ("cooperativa", "es", "es-ley-5-2011", "cooperativas"),
        ("fundações", "pt", "pt-lei-30-2013", "fundações"),
        ("misericórdia", "pt", "pt-lei-30-2013", "misericórdias"),
        ("registries", "en", "gr-law-4019-2011", "registry"),
        ("cooperativa sociale", "it", "it-dlgs-117-2017", "cooperative"),
    ];
    for (query, language, expected, highlighted) in cases {
        let results = app
            .search(SearchLegalTextsRequest {
                query: query.to_owned(),
                language: language.to_owned(),
                ..Default::default()
            })
            .await
            .expect(query);
        let found = results
            .iter()
            .find(|result| result_id(result) == expected)
            .unwrap_or_else(|| panic!("{query:?} does not find {expected}"));
        let marked = format!("<em>{highlighted}</em>");
        assert!(
            found
                .snippets
                .iter()
                .any(|snippet| snippet.text.to_lowercase().contains(&marked)),
            "{query:?}: {:?}",
            found.snippets
        );
    }
    app.stop().await;
}

async fn search_snippets_name_the_matching_provision(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let results = app
        .search(SearchLegalTextsRequest {
            query: "cofradías de pescadores".to_owned(),
            language: "es".to_owned(),
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(result_id(&results[0]), "es-ley-5-2011");
    let snippet = &results[0].snippets[0];
    assert_eq!(snippet.section(), Section::Provision);
    assert_eq!(snippet.provision_number, "art. 5");
    assert_eq!(snippet.provision_heading, "Entidades de la economía social");
    assert!(
        snippet.text.contains("<em>cofradías</em> de <em>pescadores</em>"),
        "{}",
        snippet.text
    );

    let results = app
        .search(SearchLegalTextsRequest {
            query: "Koin.S.Ep.".to_owned(),
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(result_id(&results[0]), "gr-law-4019-2011");
    assert!(results[0].snippets.len() <= 3);

    // A match in the title only: the snippet is the title, highlighted and HTML-escaped.
    let results = app
        .search(SearchLegalTextsRequest {
            query: "Paul Singer".to_owned(),
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(result_id(&results[0]), "br-lei-15068-2024");
    assert!(
        results[0]
            .snippets
            .iter()
            .any(|snippet| snippet.section() == Section::Title
                && snippet.text.contains("Lei <em>Paul</em> <em>Singer</em>")),
        "{:?}",
        results[0].snippets
    );
    app.stop().await;
}

async fn search_with_a_filter_and_pages(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let french = app
        .ranked("économie sociale", "fr", "language = \"fr\"")
        .await
        .expect("filtered");
    assert!(!french.is_empty());
    for id in &french {
        assert_eq!(app.get(id).await.expect("get").language, "fr", "{id}");
    }
    assert_eq!(
        app.ranked("economía social", "es", "jurisdiction = \"ES\"")
            .await
            .expect("filtered"),
        ["es-ley-5-2011"]
    );
    assert!(
        app.ranked("economía social", "es", "topics:TAX_INCENTIVES AND level = NATIONAL")
            .await
            .expect("filtered")
            .iter()
            .all(|id| id == "it-dlgs-117-2017")
    );

    let everything = app.ranked("social economy", "", "").await.expect("one page");
    assert!(everything.len() > 10);
    let mut paged = Vec::new();
    let mut token = String::new();
    let mut totals = Vec::new();
    loop {
        let response = app
            .client
            .search_legal_texts(SearchLegalTextsRequest {
                query: "social economy".to_owned(),
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(response.results.len() <= 4);
        totals.push(response.total_size);
        paged.extend(response.results.iter().map(|result| result_id(result).to_owned()));
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
    }
    assert_eq!(paged, everything, "pages walk the ranking in order");
    assert!(
        totals
            .iter()
            .all(|total| usize::try_from(*total).ok() == Some(everything.len())),
        "every page counts every match: {totals:?}"
    );

    let (_, first_token) = {
        let response = app
            .client
            .search_legal_texts(SearchLegalTextsRequest {
                query: "social economy".to_owned(),
                page_size: 2,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        (response.results, response.next_page_token)
    };
    let other_query = app
        .client
        .search_legal_texts(SearchLegalTextsRequest {
            query: "solidarity".to_owned(),
            page_token: first_token,
            ..Default::default()
        })
        .await
        .expect_err("a token of another query");
    assert_eq!(error_reason(&other_query), "INVALID_PAGE_TOKEN");
    assert_eq!(violated_fields(&other_query), ["page_token"]);
    app.stop().await;
}

async fn search_rejects_bad_input(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let cases = [
        ("", "", "", "query"),
        ("x", "spanish", "", "language"),
        (&*"mot ".repeat(200), "", "", "query"),
        ("economia", "", "jurisdiction =", "filter"),
        ("economia", "", "topics:BAKERY", "filter"),
        ("economia", "", "colour = \"red\"", "filter"),
    ];
    for (query, language, filter, field) in cases {
        let status = app.ranked(query, language, filter).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_fields(&status), [field], "{query} {language} {filter}");
    }
    let status = app
        .ranked("economia", "", "topics:BAKERY")
        .await
        .expect_err("unknown topic");
    assert_eq!(error_reason(&status), "INVALID_FILTER");
    assert!(status.message().contains("PUBLIC_PROCUREMENT"), "{}", status.message());
    assert!(app.ranked("de la", "", "").await.expect("only stopwords").is_empty());
    assert!(app.ranked("xylophone", "", "").await.expect("no match").is_empty());
    app.stop().await;
}

async fn list_filters_select_the_seeded_texts(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "jurisdiction = \"FR\"",
            &["fr-loi-2014-856", "fr-loi-2016-231", "fr-loi-2020-1577"],
        ),
        (
            "level = REGIONAL",
            &["be-wal-decret-2008-economie-sociale", "ca-qc-loi-economie-sociale-2013"],
        ),
        (
            "level = LEVEL_SUPRANATIONAL OR jurisdiction = \"ILO\"",
            &[
                "eu-council-recommendation-2023-11-27",
                "ilo-resolution-decent-work-sse-2022",
            ],
        ),
        (
            "kind = FRAMEWORK_LAW",
            &[
                "cm-loi-cadre-2019-004",
                "fr-loi-2014-856",
                "pt-lei-30-2013",
                "sn-loi-2021-28",
            ],
        ),
        ("kind = ORGANIC_LAW", &["ec-ley-organica-eps-2011"]),
        ("status = REPEALED", &["gr-law-4019-2011"]),
        (
            "topics:PUBLIC_PROCUREMENT",
            &[
                "eu-council-recommendation-2023-11-27",
                "fr-loi-2014-856",
                "oecd-legal-0472",
            ],
        ),
        (
            "topics:TOPIC_TAX_INCENTIVES",
            &["eu-council-recommendation-2023-11-27", "it-dlgs-117-2017"],
        ),
        (
            "topics:STATISTICS_OR_SATELLITE_ACCOUNT AND level = NATIONAL",
            &["pt-lei-30-2013", "tn-loi-2020-30"],
        ),
        ("topics:EXPERIMENTATION", &["fr-loi-2016-231", "fr-loi-2020-1577"]),
        ("language = \"pt\"", &["br-lei-15068-2024", "pt-lei-30-2013"]),
        (
            "adoption_date >= 2020 AND level = NATIONAL",
            &[
                "br-lei-15068-2024",
                "fr-loi-2020-1577",
                "sn-loi-2021-28",
                "tn-loi-2020-30",
            ],
        ),
        (
            "entry_into_force_date < 2012",
            &["be-wal-decret-2008-economie-sociale", "es-ley-5-2011"],
        ),
        ("publication_date >= \"2024-12\"", &["br-lei-15068-2024"]),
        (
            "related_initiatives:\"initiatives/tzcld\"",
            &["fr-loi-2016-231", "fr-loi-2020-1577"],
        ),
        ("name = \"legalTexts/es-ley-5-2011\"", &["es-ley-5-2011"]),
        ("title_en:\"third sector\"", &["it-dlgs-117-2017"]),
        ("\"Paul Singer\"", &["br-lei-15068-2024"]),
        ("number:\"4430\"", &["gr-law-4430-2016"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(app.filtered(filter).await.expect(filter), *expected, "{filter}");
    }
    assert_eq!(app.filtered("").await.expect("all").len(), 26);
    app.stop().await;
}

async fn list_pages_and_orders(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let response = app
            .client
            .list_legal_texts(ListLegalTextsRequest {
                page_size: 5,
                page_token: token.clone(),
                order_by: "adoption_date desc".to_owned(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(response.total_size, 26);
        seen.extend(response.legal_texts.iter().map(|text| id_of(text).to_owned()));
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
    }
    assert_eq!(seen.len(), 26);
    assert_eq!(seen.first().map(String::as_str), Some("br-lei-15068-2024"));
    assert_eq!(seen.last().map(String::as_str), Some("co-ley-454-1998"));
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 26);
    let bad_order = app
        .client
        .list_legal_texts(ListLegalTextsRequest {
            order_by: "colour".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("unknown order");
    assert_eq!(violated_fields(&bad_order), ["order_by"]);
    app.stop().await;
}

async fn list_rejects_bad_filters(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let cases = [
        ("jurisdiction:", "position 14"),
        ("level = CITY", "NATIONAL"),
        ("topics:BAKERY", "PUBLIC_PROCUREMENT"),
        ("adoption_date > yesterday", "2010-05"),
        ("colour = \"red\"", "unknown field"),
    ];
    for (filter, expected) in cases {
        let status = app.filtered(filter).await.expect_err(filter);
        sse_testkit::assert_invalid_filter(&status, filter, expected);
    }
    app.stop().await;
}

/// A matrix cell as `legal text id: provision numbers or headings`.
fn cell_texts(cell: &sse_proto::lawguide::TopicCoverage) -> Vec<String> {
    cell.legal_texts
        .iter()
        .map(|text| {
            let provisions: Vec<&str> = text
                .provisions
                .iter()
                .map(|provision| {
                    if provision.number.is_empty() {
                        provision.heading.as_str()
                    } else {
                        provision.number.as_str()
                    }
                })
                .collect();
            format!(
                "{}: {}",
                text.legal_text.trim_start_matches("legalTexts/"),
                provisions.join(", ")
            )
        })
        .collect()
}

async fn the_matrix_names_texts_and_provisions_by_jurisdiction_and_topic(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let topics = vec![
        i32::from(Topic::PublicProcurement),
        i32::from(Topic::TaxIncentives),
        i32::from(Topic::Registry),
    ];
    let matrix = app
        .client
        .compare_jurisdictions(CompareJurisdictionsRequest {
            topics: topics.clone(),
            ..Default::default()
        })
        .await
        .expect("matrix")
        .into_inner();
    assert_eq!(matrix.topics, topics);
    let jurisdictions: Vec<&str> = matrix.rows.iter().map(|row| row.jurisdiction.as_str()).collect();
    assert_eq!(
        jurisdictions,
        [
            "BE-WAL", "BG", "BR", "CA-QC", "CM", "CO", "DJ", "EC", "ES", "EU", "FR", "GR", "ILO", "IT", "LU", "MX",
            "OECD", "PT", "RO", "SN", "TN", "UN", "UY"
        ]
    );
    let row = |code: &str| {
        matrix
            .rows
            .iter()
            .find(|row| row.jurisdiction == code)
            .unwrap_or_else(|| panic!("row {code}"))
    };
    for row in &matrix.rows {
        let cell_topics: Vec<i32> = row.cells.iter().map(|cell| cell.topic).collect();
        assert_eq!(cell_topics, topics, "one cell per topic, in order");
    }
    let france = row("FR");
    assert_eq!(cell_texts(&france.cells[0]), ["fr-loi-2014-856: art. 13"]);
    assert!(france.cells[1].legal_texts.is_empty() && france.cells[2].legal_texts.is_empty());
    assert_eq!(france.cells[0].legal_texts[0].number, "Loi n° 2014-856");
    let italy = row("IT");
    assert_eq!(cell_texts(&italy.cells[1]), ["it-dlgs-117-2017: Regime fiscale"]);
    assert_eq!(cell_texts(&italy.cells[2]), ["it-dlgs-117-2017: art. 45"]);
    assert_eq!(
        cell_texts(&row("ES").cells[2]),
        ["es-ley-5-2011: art. 6"],
        "Spain's catalogue of entities"
    );
    assert_eq!(
        cell_texts(&row("GR").cells[2]),
        ["gr-law-4019-2011: General Social Economy Registry"]
    );
    assert_eq!(
        cell_texts(&row("EU").cells[0]),
        ["eu-council-recommendation-2023-11-27: Access to markets and public procurement"]
    );

    // Rows asked for come in the order asked, even without any text; a filter narrows the texts.
    let chosen = app
        .client
        .compare_jurisdictions(CompareJurisdictionsRequest {
            topics: vec![Topic::Registry.into(), Topic::SseDefinition.into()],
            jurisdictions: vec!["GR".to_owned(), "DE".to_owned(), "PT".to_owned()],
            filter: "status != REPEALED".to_owned(),
        })
        .await
        .expect("matrix")
        .into_inner();
    let jurisdictions: Vec<&str> = chosen.rows.iter().map(|row| row.jurisdiction.as_str()).collect();
    assert_eq!(jurisdictions, ["GR", "DE", "PT"]);
    assert!(
        chosen.rows[0].cells[0].legal_texts.is_empty(),
        "the repealed registry law is filtered out"
    );
    assert_eq!(
        cell_texts(&chosen.rows[0].cells[1]),
        ["gr-law-4430-2016: Social and solidarity economy"]
    );
    assert!(chosen.rows[1].cells.iter().all(|cell| cell.legal_texts.is_empty()));
    assert_eq!(cell_texts(&chosen.rows[2].cells[0]), ["pt-lei-30-2013: art. 6"]);

    // A text classified under a topic as a whole, with no provision under it, covers it too.
    let whole = app
        .client
        .compare_jurisdictions(CompareJurisdictionsRequest {
            topics: vec![Topic::EntityTypes.into()],
            jurisdictions: vec!["ES".to_owned()],
            ..Default::default()
        })
        .await
        .expect("matrix")
        .into_inner();
    assert_eq!(cell_texts(&whole.rows[0].cells[0]), ["es-ley-5-2011: art. 5"]);
    app.stop().await;
}

async fn the_matrix_rejects_bad_input(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let cases = [
        (CompareJurisdictionsRequest::default(), vec!["topics"]),
        (
            CompareJurisdictionsRequest {
                topics: vec![
                    Topic::Unspecified.into(),
                    42,
                    Topic::Registry.into(),
                    Topic::Registry.into(),
                ],
                ..Default::default()
            },
            vec!["topics[0]", "topics[1]", "topics[3]"],
        ),
        (
            CompareJurisdictionsRequest {
                topics: vec![Topic::Registry.into()],
                jurisdictions: vec!["FR".to_owned(), "XX".to_owned(), "FR".to_owned()],
                ..Default::default()
            },
            vec!["jurisdictions[1]", "jurisdictions[2]"],
        ),
        (
            CompareJurisdictionsRequest {
                topics: vec![Topic::Registry.into()],
                filter: "level = CITY".to_owned(),
                ..Default::default()
            },
            vec!["filter"],
        ),
    ];
    for (request, expected) in cases {
        let status = app.client.compare_jurisdictions(request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), expected);
    }
    app.stop().await;
}

async fn the_seed_keeps_facts_relations_and_unverified_details(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let spain = app.get("es-ley-5-2011").await.expect("Spain");
    assert_eq!(spain.jurisdiction, "ES");
    assert_eq!(spain.level(), Level::National);
    assert_eq!(spain.adoption_date, date(2011, 3, 29));
    assert_eq!(spain.publication_date, date(2011, 3, 30));
    assert_eq!(spain.entry_into_force_date, date(2011, 4, 30));
    let schemes: Vec<Scheme> = spain.identifiers.iter().map(LegalTextIdentifier::scheme).collect();
    assert_eq!(schemes, [Scheme::Eli, Scheme::Boe, Scheme::NatlexIsn]);
    assert_eq!(spain.identifiers[1].value, "BOE-A-2011-5708");
    assert!(spain.provisions.iter().all(|provision| !provision.official_text));
    assert_eq!(spain.sources.len(), 2);

    let tzcld_2016 = app.get("fr-loi-2016-231").await.expect("2016");
    assert_eq!(tzcld_2016.related_initiatives, ["initiatives/tzcld"]);
    assert_eq!(
        tzcld_2016.relations,
        [LegalTextRelation {
            r#type: RelationType::AmendedBy.into(),
            legal_text: "legalTexts/fr-loi-2020-1577".to_owned(),
        }]
    );
    let tzcld_2020 = app.get("fr-loi-2020-1577").await.expect("2020");
    assert_eq!(tzcld_2020.relations[0].r#type(), RelationType::Amends);
    assert_eq!(tzcld_2020.relations[0].legal_text, "legalTexts/fr-loi-2016-231");
    let greece_2011 = app.get("gr-law-4019-2011").await.expect("Greece 2011");
    assert_eq!(greece_2011.status(), TextStatus::Repealed);
    assert_eq!(greece_2011.unverified_fields, ["adoption_date.day"]);
    assert_eq!(greece_2011.relations[0].legal_text, "legalTexts/gr-law-4430-2016");
    let bulgaria = app
        .get("bg-act-social-solidarity-economy-enterprises-2018")
        .await
        .expect("Bulgaria");
    assert!(bulgaria.number.is_empty());
    assert_eq!(bulgaria.unverified_fields, ["number"]);
    assert_eq!(bulgaria.adoption_date, date(2018, 0, 0));
    let un = app.get("un-a-res-77-281").await.expect("UN");
    assert_eq!(un.level(), Level::International);
    assert_eq!(un.kind(), Kind::Resolution);
    let wallonia = app.get("be-wal-decret-2008-economie-sociale").await.expect("Wallonia");
    assert_eq!(wallonia.identifiers[0].scheme(), Scheme::Other);
    assert_eq!(wallonia.identifiers[0].other_scheme, "numac");
    app.stop().await;
}

async fn seeding_twice_creates_nothing_new_and_does_not_bring_back_deleted_texts(backend: Backend) {
    let mut app = App::start(backend, true).await;
    assert_eq!(Module.seed(&app.database.connection).await.expect("second seed"), 0);
    app.client
        .delete_legal_text(DeleteLegalTextRequest {
            name: "legalTexts/un-a-res-77-281".to_owned(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    assert_eq!(Module.seed(&app.database.connection).await.expect("third seed"), 0);
    assert_eq!(
        app.get("un-a-res-77-281").await.expect_err("stays deleted").code(),
        Code::NotFound
    );
    app.stop().await;
}

async fn batch_get(app: &mut App, names: &[&str]) -> Result<Vec<String>, Status> {
    let response = app
        .client
        .batch_get_legal_texts(BatchGetLegalTextsRequest {
            names: names.iter().map(|name| (*name).to_owned()).collect(),
        })
        .await?
        .into_inner();
    Ok(response.legal_texts.iter().map(|text| text.name.clone()).collect())
}

async fn batch_get_keeps_order_and_repeats(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let names = [
        "legalTexts/pt-lei-30-2013",
        "legalTexts/es-ley-5-2011",
        "legalTexts/fr-loi-2014-856",
        "legalTexts/es-ley-5-2011",
    ];
    assert_eq!(batch_get(&mut app, &names).await.expect("batch"), names);
    let one = app
        .client
        .batch_get_legal_texts(BatchGetLegalTextsRequest {
            names: vec!["legalTexts/es-ley-5-2011".to_owned()],
        })
        .await
        .expect("one")
        .into_inner();
    assert_eq!(one.legal_texts, [app.get("es-ley-5-2011").await.expect("get")]);
    // A full batch of 1000 names, repeating the seed, in one call.
    let every: Vec<String> = app.filtered("").await.expect("list");
    let thousand: Vec<String> = every
        .iter()
        .cycle()
        .take(1000)
        .map(|id| format!("legalTexts/{id}"))
        .collect();
    let thousand: Vec<&str> = thousand.iter().map(String::as_str).collect();
    assert_eq!(batch_get(&mut app, &thousand).await.expect("1000"), thousand);
    app.stop().await;
}

async fn batch_get_is_not_found_naming_the_first_missing_text(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let status = batch_get(
        &mut app,
        &[
            "legalTexts/es-ley-5-2011",
            "legalTexts/xx-missing-1",
            "legalTexts/xx-missing-2",
        ],
    )
    .await
    .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(error_reason(&status), "NOT_FOUND");
    assert!(
        status.message().contains("legalTexts/xx-missing-1"),
        "{}",
        status.message()
    );
    assert!(!status.message().contains("xx-missing-2"), "{}", status.message());
    // A deleted text is missing too.
    let deleted = app.get("es-ley-5-2011").await.expect("get");
    app.client
        .delete_legal_text(DeleteLegalTextRequest {
            name: deleted.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    let status = batch_get(&mut app, &["legalTexts/pt-lei-30-2013", "legalTexts/es-ley-5-2011"])
        .await
        .expect_err("deleted");
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("legalTexts/es-ley-5-2011"),
        "{}",
        status.message()
    );
    app.stop().await;
}

async fn batch_get_rejects_an_empty_or_oversized_or_malformed_batch(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let empty = batch_get(&mut app, &[]).await.expect_err("empty");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&empty), ["names"]);
    let names: Vec<String> = (0..1001).map(|index| format!("legalTexts/es-ley-{index}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let oversized = batch_get(&mut app, &names).await.expect_err("1001 names");
    assert_eq!(oversized.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&oversized), ["names"]);
    let malformed = batch_get(
        &mut app,
        &["legalTexts/es-ley-5-2011", "initiatives/tzcld", "legalTexts/BAD"],
    )
    .await
    .expect_err("malformed");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&malformed), ["names[1]", "names[2]"]);
    app.stop().await;
}

async fn search_ranks_the_phrase_economia_social_before_its_words_apart(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let ranked = app.ranked("economia social", "", "").await.expect("search");
    let position = |id: &str| ranked.iter().position(|ranked| ranked == id);
    let spain = position("es-ley-5-2011").expect("Spain's law is found");
    // Spain's *Ley de Economía Social* holds the phrase in its title and throughout; Brazil's
    // Paul Singer law has `economia` (as written) but not the phrase. Portugal's and Romania's
    // laws spell `economia` as asked and hold the phrase too.
    assert!(spain < 4, "{ranked:?}");
    assert!(
        position("br-lei-15068-2024").is_some_and(|brazil| brazil > spain),
        "{ranked:?}"
    );
    app.stop().await;
}

async fn search_with_a_quoted_phrase_finds_only_texts_holding_it(backend: Backend) {
    let mut app = App::start(backend, true).await;
    let loose = app.ranked("economia social", "", "").await.expect("words");
    let quoted = app.ranked("\"economia social\"", "", "").await.expect("phrase");
    assert!(
        !quoted.is_empty() && quoted.len() < loose.len(),
        "{quoted:?} / {loose:?}"
    );
    assert!(quoted.contains(&"es-ley-5-2011".to_owned()));
    assert!(
        !quoted.contains(&"br-lei-15068-2024".to_owned()),
        "no phrase in Brazil's law"
    );
    // Every text found holds the words side by side, in some form and some language.
    for id in &quoted {
        let text = app.get(id).await.expect("get");
        let all = format!(
            "{} {} {} {}",
            text.title,
            text.title_en,
            text.summary,
            text.provisions
                .iter()
                .map(|provision| format!("{} {}", provision.heading, provision.text))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let folded = sse_law_guide::analysis::fold(&all);
        assert!(
            ["economia social", "economie social", "economia socia", "economy social"]
                .iter()
                .any(|phrase| folded.contains(phrase)),
            "{id}"
        );
    }
    // Quotes also narrow a query of several words; a quoted single word is required too.
    let narrowed = app
        .ranked("cooperativas \"economía solidaria\"", "es", "")
        .await
        .expect("mixed");
    assert!(narrowed.contains(&"co-ley-454-1998".to_owned()), "{narrowed:?}");
    assert!(!narrowed.contains(&"es-ley-5-2011".to_owned()), "{narrowed:?}");
    let single = app.ranked("\"pescadores\" economía", "es", "").await.expect("one word");
    assert_eq!(single, ["es-ley-5-2011"]);
    app.stop().await;
}

async fn search_ranks_a_phrase_before_scattered_words_and_a_title_before_the_body(backend: Backend) {
    let mut app = App::start(backend, false).await;
    let text = |title: &str, body: &str| {
        let mut text = law(title);
        text.summary = String::new();
        text.title_en = String::new();
        text.provisions[0].text = body.to_owned();
        text
    };
    let texts = [
        (
            "es-ley-1-2030",
            text(
                "Ley de fomento",
                "La economía del país y la cohesión social de sus regiones.",
            ),
        ),
        (
            "es-ley-2-2030",
            text(
                "Ley de fomento",
                "La economía social del país y la cohesión de sus regiones.",
            ),
        ),
        (
            "es-ley-3-2030",
            text("Ley de mutualidades", "Regula el sector y otras entidades del país."),
        ),
        (
            "es-ley-4-2030",
            text("Ley de fomento", "Regula las mutualidades y otras entidades del país."),
        ),
    ];
    for (id, text) in texts {
        app.create(id, text).await.expect("create");
    }
    assert_eq!(
        app.ranked("economía social", "es", "").await.expect("phrase"),
        ["es-ley-2-2030", "es-ley-1-2030"]
    );
    assert_eq!(
        app.ranked("mutualidades", "es", "").await.expect("title"),
        ["es-ley-3-2030", "es-ley-4-2030"]
    );
    app.stop().await;
}

async fn generate_is_deterministic_and_fills_the_search_index(backend: Backend) {
    let spec = sse_platform::generate::GenerateSpec {
        initiatives: 0,
        observations: 0,
        legal_texts: 400,
        seed: 42,
    };
    let mut first = App::start(backend, false).await;
    let mut second = App::start(backend, false).await;
    assert_eq!(
        Module
            .generate(&first.database.connection, &spec)
            .await
            .expect("generate"),
        400
    );
    assert_eq!(
        Module
            .generate(&second.database.connection, &spec)
            .await
            .expect("again"),
        400
    );
    assert_eq!(
        Module.generate(&first.database.connection, &spec).await.expect("rerun"),
        0,
        "a rerun skips the texts already there"
    );
    let names: Vec<String> = (0..400)
        .map(|index| format!("legalTexts/{}", sse_law_guide::generate::legal_text_id(index)))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let read = |app: &mut App| {
        let request = BatchGetLegalTextsRequest {
            names: names.iter().map(|name| (*name).to_owned()).collect(),
        };
        let mut client = app.client.clone();
        async move {
            client
                .batch_get_legal_texts(request)
                .await
                .expect("batch")
                .into_inner()
                .legal_texts
        }
    };
    let texts = read(&mut first).await;
    assert_eq!(texts, read(&mut second).await, "the same seed gives the same texts");
    let languages: std::collections::BTreeSet<&str> = texts.iter().map(|text| text.language.as_str()).collect();
    assert!(languages.len() >= 5, "{languages:?}");
    // Searches in several languages find some texts, not all and not none, through the index.
    for (query, language) in [
        ("cooperativas", "es"),
        ("économie sociale", "fr"),
        ("public procurement", "en"),
        ("\"economia social\"", ""),
        ("registro", ""),
    ] {
        let found = first.ranked(query, language, "").await.expect(query);
        assert!(!found.is_empty() && found.len() < 400, "{query:?}: {}", found.len());
    }
    // Some texts were amended: their earlier states are revisions.
    let mut revised = 0;
    for name in &names[..50] {
        let id = name.trim_start_matches("legalTexts/");
        let (revisions, _) = revisions(&mut first, id, 10, "").await.expect("revisions");
        revised += usize::from(!revisions.is_empty());
    }
    assert!(revised > 0 && revised < 50, "{revised}");
    assert_collection_kept(&first).await;
    first.stop().await;
    second.stop().await;
}

async fn search_sees_every_write_even_from_another_process(backend: Backend) {
    let mut app = App::start(backend, true).await;
    assert!(app.ranked("xilófono", "es", "").await.expect("nothing yet").is_empty());
    let mut text = law("Ley del xilófono");
    let created = app.create("es-ley-1-2030", text.clone()).await.expect("create");
    assert_eq!(
        app.ranked("xilófono", "es", "").await.expect("created"),
        ["es-ley-1-2030"]
    );
    // Another process (its own store, the same database) changes the text.
    let other = sse_law_guide::Store::new(app.database.connection.clone());
    other
        .modify("es-ley-1-2030", &created.etag, |current| {
            current.title = "Ley de cooperativas".to_owned();
            Ok(())
        })
        .await
        .expect("update elsewhere");
    assert!(app.ranked("xilófono", "es", "").await.expect("updated").is_empty());
    text.summary = "Regula el xilófono.".to_owned();
    other
        .create(sse_law_guide::store::NewLegalText {
            id: Some("es-ley-2-2030".to_owned()),
            legal_text: text,
            request_id: String::new(),
        })
        .await
        .expect("create elsewhere");
    assert_eq!(
        app.ranked("xilófono", "es", "").await.expect("created"),
        ["es-ley-2-2030"]
    );
    other.delete("es-ley-2-2030", "").await.expect("delete elsewhere");
    assert!(app.ranked("xilófono", "es", "").await.expect("deleted").is_empty());
    assert_collection_kept(&app).await;
    app.stop().await;
}

/// The number of texts and their total length that every write keeps for BM25 are those of the
/// texts' table.
async fn assert_collection_kept(app: &App) {
    let db = &app.database.connection;
    let kept = sse_law_guide::store::kept_collection(db).await.expect("kept");
    let counted = sse_law_guide::store::count_collection(db).await.expect("counted");
    assert_eq!(kept, counted);
    assert!(kept.0 > 0 && kept.1 > 0);
}

async fn the_postings_migration_indexes_the_texts_already_stored(backend: Backend) {
    use sea_orm::EntityTrait;
    use sea_orm_migration::MigratorTrait;
    let database = TestDatabase::new(backend).await.expect("test database");
    let db = &database.connection;
    // A database as the first release left it: texts, no postings.
    sse_law_guide::Migrator::up(db, Some(1)).await.expect("first migration");
    let mut text = law("Ley del xilófono");
    text.name = "legalTexts/es-ley-1-2030".to_owned();
    let indexed = sse_law_guide::resource::index(&text);
    let row = sse_law_guide::resource::to_row(&text, "es-ley-1-2030", &indexed).expect("row");
    sse_law_guide::entity::legal_text::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .expect("insert");
    Module.migrate(db).await.expect("the rest");
    let server = TestServer::start(sse_testkit::grpc_server_with(&Module, &database).expect("register"))
        .await
        .expect("server");
    let intercept: fn(Request<()>) -> Result<Request<()>, Status> = sse_testkit::with_admin_key;
    let mut app = App {
        client: LawGuideServiceClient::with_interceptor(server.channel.clone(), intercept),
        server,
        database,
    };
    assert_eq!(
        app.ranked("xilófono", "es", "").await.expect("search"),
        ["es-ley-1-2030"]
    );
    assert_collection_kept(&app).await;
    app.stop().await;
}
