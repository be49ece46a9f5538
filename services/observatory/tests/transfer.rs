//! `observatory import` and `export` as an operator and a partner use them, on SQLite and
//! PostgreSQL: everything exported, imported into an empty database and exported again gives
//! the same bytes (CSV, JSON Lines, SDMX-CSV); importing again creates nothing; a dry run names
//! every invalid row and writes nothing; `--on-error stop` and `skip`; and a partner importing
//! into a running observatory with an API key, refused without one.

use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use sse_platform::access::schema::audit_event;
use sse_platform::{
    access::{
        Policy, Scope,
        keys::{KeyStore, NewKey},
    },
    config::Settings,
    generate::GenerateSpec,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::{Shutdown, ShutdownTrigger},
    transfer::{self, Format, ImportOptions, ImportReport, OnError, Progress, TransferKind, command::Observatory},
};
use sse_proto::{
    access::{ListAuditEventsRequest, access_service_client::AccessServiceClient},
    initiatives::{
        CreateInitiativeRequest, DeleteInitiativeRequest, Initiative, ListInitiativesRequest, initiative::LegalForm,
        initiative_service_client::InitiativeServiceClient,
    },
    types::{ExternalIdentifier, LatLng, PartialDate, SourceCitation},
};
use sse_testkit::{ADMIN_KEY, Backend, TestDatabase, on_both_databases};
use tokio::net::TcpListener;

const MODULES: [&dyn ServiceModule; 3] = [
    &sse_initiatives::Module,
    &sse_indicators::Module,
    &sse_law_guide::Module,
];

/// In the order an import must follow: what observations and texts name exists first.
const KINDS: [&str; 4] = ["initiatives", "indicators", "legal-texts", "observations"];

fn settings_for(database: &TestDatabase) -> Settings {
    Settings {
        database_url: database.url.clone(),
        ..Settings::default()
    }
}

fn kind(name: &str) -> Box<dyn TransferKind> {
    MODULES
        .iter()
        .flat_map(|module| module.transfer_kinds())
        .find(|kind| kind.kind() == name)
        .expect("a kind")
}

async fn export(observatory: &Observatory, name: &str, format: Format) -> Vec<u8> {
    let mut written = Vec::new();
    transfer::export(
        kind(name).as_ref(),
        &observatory.api,
        format,
        &mut written,
        &Progress::captured("export").0,
    )
    .await
    .expect("export");
    written
}

async fn import(
    observatory: &Observatory,
    name: &str,
    file: &[u8],
    format: Format,
    dry_run: bool,
    on_error: OnError,
) -> (ImportReport, Vec<String>) {
    let (progress, lines) = Progress::captured(format!("import {name}"));
    let options = ImportOptions {
        format,
        dry_run,
        on_error,
    };
    let input = Box::new(std::io::Cursor::new(file.to_vec()));
    let report = transfer::import(kind(name).as_ref(), &observatory.api, input, options, &progress)
        .await
        .expect("import");
    let lines = lines.lock().expect("lines").clone();
    (report, lines)
}

/// A database with the seed, generated data, and an initiative whose every field is awkward.
async fn populated(backend: Backend) -> (TestDatabase, Observatory) {
    let database = TestDatabase::new(backend).await.expect("database");
    let observatory = Observatory::local(&settings_for(&database), &MODULES)
        .await
        .expect("local");
    let spec = GenerateSpec {
        initiatives: 40,
        observations: 300,
        legal_texts: 15,
        seed: 7,
    };
    for module in MODULES {
        module.seed(&database.connection).await.expect("seed");
        module.generate(&database.connection, &spec).await.expect("generate");
    }
    let mut initiatives = InitiativeServiceClient::new(observatory.api.channel());
    let awkward = Initiative {
        display_name: "Coopérative « L'Étoile », \"quotes\"; semicolons".to_owned(),
        description: "Line one,\nline two; with \\ backslash\n\tand 日本語 ✓".to_owned(),
        legal_form: LegalForm::Cooperative as i32,
        countries: vec!["FR".to_owned(), "SN".to_owned()],
        territories: vec!["SN-DK".to_owned()],
        location: Some(LatLng {
            latitude: 0.0,
            longitude: -17.4467,
        }),
        sdg_goals: vec![5, 8],
        sdg_targets: vec!["8.3".to_owned()],
        start_date: Some(PartialDate {
            year: 2019,
            month: 4,
            day: 0,
        }),
        end_date: Some(PartialDate {
            year: 2030,
            month: 12,
            day: 31,
        }),
        website: "https://example.org/étoile?a=1,2".to_owned(),
        identifiers: vec![ExternalIdentifier {
            scheme: "siren".to_owned(),
            value: "123;456".to_owned(),
        }],
        sources: vec![SourceCitation {
            title: "Registre, \"2024\"".to_owned(),
            url: "https://example.org/r".to_owned(),
            publisher: "Préfecture\nde Paris".to_owned(),
            date: Some(PartialDate {
                year: 2024,
                month: 1,
                day: 0,
            }),
        }],
        ..Default::default()
    };
    initiatives
        .create_initiative(observatory.api.request(CreateInitiativeRequest {
            initiative: Some(awkward),
            initiative_id: "etoile".to_owned(),
            request_id: String::new(),
        }))
        .await
        .expect("the awkward initiative");
    // A deleted initiative is not exported.
    initiatives
        .create_initiative(observatory.api.request(CreateInitiativeRequest {
            initiative: Some(Initiative {
                display_name: "Gone".to_owned(),
                ..Default::default()
            }),
            initiative_id: "gone".to_owned(),
            request_id: String::new(),
        }))
        .await
        .expect("an initiative to delete");
    initiatives
        .delete_initiative(observatory.api.request(DeleteInitiativeRequest {
            name: "initiatives/gone".to_owned(),
            etag: String::new(),
        }))
        .await
        .expect("deleted");
    (database, observatory)
}

async fn round_trip_gives_the_same_files(backend: Backend) {
    let (_source_database, source) = populated(backend).await;
    for format in [Format::Csv, Format::Jsonl] {
        let target_database = TestDatabase::new(backend).await.expect("database");
        let target = Observatory::local(&settings_for(&target_database), &MODULES)
            .await
            .expect("local");
        for name in KINDS {
            let exported = export(&source, name, format).await;
            let text = String::from_utf8(exported.clone()).expect("utf-8");
            assert!(!text.contains("initiatives/gone"), "a deleted initiative was exported");
            assert!(
                !text.contains("create_time") && !text.contains("createTime"),
                "{name}: output-only fields"
            );
            let rows = text.lines().count() as u64 - u64::from(format == Format::Csv);
            let (report, lines) = import(&target, name, &exported, format, false, OnError::Stop).await;
            assert_eq!(report.invalid, 0, "{name} {format:?}: {lines:?}");
            assert_eq!(report.created + report.unchanged, report.rows, "{name} {format:?}");
            if format == Format::Jsonl {
                assert_eq!(report.rows, rows, "{name}: one resource a line");
            }
            let again = export(&target, name, format).await;
            assert!(
                again == exported,
                "{name} {format:?} differs after a round trip:\n{}\n---\n{}",
                String::from_utf8_lossy(&exported),
                String::from_utf8_lossy(&again)
            );
            // Importing the same file again creates nothing new.
            let (repeated, _) = import(&target, name, &exported, format, false, OnError::Stop).await;
            assert_eq!(repeated.created, 0, "{name} {format:?}");
            assert_eq!(repeated.unchanged, repeated.rows, "{name} {format:?}");
            assert_eq!(export(&target, name, format).await, exported);
        }
        target.close().await;
    }
    // The awkward initiative came through whole.
    let csv = String::from_utf8(export(&source, "initiatives", Format::Csv).await).expect("utf-8");
    assert!(
        csv.contains("\"Coopérative « L'Étoile », \"\"quotes\"\"; semicolons\""),
        "{csv}"
    );
    assert!(csv.contains("2019-04,2030-12-31"), "{csv}");
    assert!(csv.contains("COOPERATIVE,FR;SN,SN-DK,0,-17.4467,5;8,8.3"), "{csv}");
    source.close().await;
}

async fn observations_travel_as_sdmx_csv(backend: Backend) {
    let (_source_database, source) = populated(backend).await;
    let target_database = TestDatabase::new(backend).await.expect("database");
    let target = Observatory::local(&settings_for(&target_database), &MODULES)
        .await
        .expect("local");
    for name in ["initiatives", "indicators"] {
        let exported = export(&source, name, Format::Csv).await;
        import(&target, name, &exported, Format::Csv, false, OnError::Stop).await;
    }
    let sdmx = export(&source, "observations", Format::SdmxCsv).await;
    assert!(sdmx.starts_with(b"STRUCTURE,STRUCTURE_ID,ACTION,INDICATOR"));
    let (report, lines) = import(&target, "observations", &sdmx, Format::SdmxCsv, false, OnError::Stop).await;
    assert_eq!(report.invalid, 0, "{lines:?}");
    assert!(report.created >= 300, "{report:?}");
    assert_eq!(export(&target, "observations", Format::SdmxCsv).await, sdmx);
    let (again, _) = import(&target, "observations", &sdmx, Format::SdmxCsv, false, OnError::Stop).await;
    assert_eq!((again.created, again.unchanged), (0, report.created));
    // A bad row names its column.
    let bad = "INDICATOR,TIME_PERIOD,OBS_VALUE,OBS_STATUS\njobs,2020,x,Q\n";
    let (report, lines) = import(
        &target,
        "observations",
        bad.as_bytes(),
        Format::SdmxCsv,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!(report.invalid, 1);
    assert!(
        lines.iter().any(|line| line.starts_with("row 2: OBS_VALUE: ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with("row 2: OBS_STATUS: ")),
        "{lines:?}"
    );
    source.close().await;
    target.close().await;
}

const INVALID_CSV: &str = "name,display_name,legal_form,countries,sdg_goals,start_date,location.latitude
,Coop Un,COOPERATIVE,FR,8,2020,
,Coop Deux,COOP,FR,8,2020,
,,ASSOCIATION,XX,8;99,2020-13,
,\"Coop \"\"Trois\"\", sur
deux lignes\",MUTUAL,SN,5,2019-04,95
,Coop Quatre,FOUNDATION,ES,abc,2018,
initiatives/coop-cinq,Coop Cinq,MUTUAL,SN,5,2019-04,
";

async fn a_dry_run_names_every_invalid_row_and_writes_nothing(backend: Backend) {
    let database = TestDatabase::new(backend).await.expect("database");
    let observatory = Observatory::local(&settings_for(&database), &MODULES)
        .await
        .expect("local");
    let (report, lines) = import(
        &observatory,
        "initiatives",
        INVALID_CSV.as_bytes(),
        Format::Csv,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!(
        (report.rows, report.created, report.invalid),
        (6, 2, 4),
        "{report:?} {lines:?}"
    );
    let expected = [
        "row 3: legal_form: `COOP` is not one of COOPERATIVE,",
        "row 4: display_name: is required",
        "row 4: countries[0]: ",
        "row 4: sdg_goals[1]: ",
        "row 4: start_date.month: ",
        "row 5: location.latitude: ",
        "row 7: sdg_goals: `abc` is not a whole number",
    ];
    for wanted in expected {
        assert!(
            lines.iter().any(|line| line.starts_with(wanted)),
            "{wanted} not in {lines:?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("dry run, nothing written") || line.contains("to create"))
    );
    assert!(
        export(&observatory, "initiatives", Format::Csv)
            .await
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            == 1
    );
    // A malformed JSON line and an unknown column are rows like any other.
    let jsonl = "{\"displayName\": \"Fine\"}\n{\"displayName\": \n{\"legalForm\": \"LEGAL_FORM_NOPE\"}\n";
    let (report, lines) = import(
        &observatory,
        "initiatives",
        jsonl.as_bytes(),
        Format::Jsonl,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!((report.rows, report.invalid), (3, 2), "{lines:?}");
    assert!(lines.iter().any(|line| line.starts_with("row 2: -: ")), "{lines:?}");
    assert!(lines.iter().any(|line| line.starts_with("row 3: -: ")), "{lines:?}");
    let (report, lines) = import(
        &observatory,
        "initiatives",
        b"name,nom\n,x\n",
        Format::Csv,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!(report.invalid, 1);
    assert!(
        lines[0].starts_with("row 1: nom: is not a column; the columns are name, display_name"),
        "{lines:?}"
    );
    // What a row names must exist: every such row is reported, not only the first.
    let observations = "name,initiative,time_period,value,status,source.title
indicators/nope/observations/,,2020,1,REPORTED,A register
indicators/nope/observations/,initiatives/nowhere,2021,2,REPORTED,A register
indicators/other/observations/x1,,2022,3,TARGET,A plan
";
    let (report, lines) = import(
        &observatory,
        "observations",
        observations.as_bytes(),
        Format::Csv,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!(report.invalid, 3, "{lines:?}");
    assert!(
        lines.contains(&"row 2: name: indicators/nope does not exist".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("row 3: initiative: initiatives/nowhere does not exist")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"row 4: name: indicators/other does not exist".to_owned()),
        "{lines:?}"
    );
    // Nor does a check leave a trace in the audit trail.
    let events = audit_event::Entity::find()
        .count(&database.connection)
        .await
        .expect("audit");
    assert_eq!(events, 0);
    observatory.close().await;
}

/// 1200 rows, two batches; row 1102 (the 1101st initiative) is invalid.
fn two_batches() -> String {
    let mut csv = String::from("name,display_name,countries\n");
    for index in 0..1200 {
        let country = if index == 1100 { "ZZ" } else { "FR" };
        csv.push_str(&format!("initiatives/bulk-{index:04},Bulk {index},{country}\n"));
    }
    csv
}

async fn on_error_stop_writes_the_batches_before_and_skip_every_valid_row(backend: Backend) {
    let database = TestDatabase::new(backend).await.expect("database");
    let observatory = Observatory::local(&settings_for(&database), &MODULES)
        .await
        .expect("local");
    let file = two_batches();
    let (stopped, lines) = import(
        &observatory,
        "initiatives",
        file.as_bytes(),
        Format::Csv,
        false,
        OnError::Stop,
    )
    .await;
    assert_eq!(
        (stopped.created, stopped.invalid, stopped.stopped_at),
        (1000, 1, Some(1102)),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with("row 1102: countries[0]: ")),
        "{lines:?}"
    );
    assert_eq!(count_initiatives(&observatory).await, 1000);
    let (skipped, _) = import(
        &observatory,
        "initiatives",
        file.as_bytes(),
        Format::Csv,
        false,
        OnError::Skip,
    )
    .await;
    assert_eq!(
        (skipped.created, skipped.unchanged, skipped.invalid, skipped.stopped_at),
        (199, 1000, 1, None)
    );
    assert_eq!(count_initiatives(&observatory).await, 1199);
    observatory.close().await;
}

async fn count_initiatives(observatory: &Observatory) -> i32 {
    InitiativeServiceClient::new(observatory.api.channel())
        .list_initiatives(observatory.api.request(ListInitiativesRequest {
            page_size: 1,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner()
        .total_size
}

/// Every module served on a loopback port, as `observatory serve` does, with the test admin key.
async fn serve(database: &TestDatabase) -> (String, ShutdownTrigger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let address = listener.local_addr().expect("address");
    let settings = Settings {
        grpc_addr: address,
        ..settings_for(database)
    };
    let access = sse_testkit::access_with(database, Policy::with_admin_key(Some(ADMIN_KEY.to_owned().into())));
    let mut server: GrpcServer = sse_testkit::grpc_server_guarded_by(database, access);
    let context = ModuleContext {
        db: database.connection.clone(),
        settings,
        local_services: None,
    };
    for module in MODULES {
        module.migrate(&database.connection).await.expect("migrate");
        server = module.register(server, &context).expect("register");
    }
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(server.serve(listener, shutdown));
    tokio::time::sleep(Duration::from_millis(100)).await;
    (format!("http://{address}"), trigger)
}

const PARTNER_CSV: &str = "display_name,legal_form,countries,sdg_goals,start_date,sources
Coopérative des Tisserands,COOPERATIVE,SN,8;5,2012,\"[{\"\"title\"\":\"\"Registre national\"\",\"\"url\"\":\"\"https://example.sn/registre\"\"}]\"
Mutuelle de santé de Thiès,MUTUAL,SN,3,2015-06,
";

async fn a_partner_imports_into_a_running_observatory_with_an_api_key(backend: Backend) {
    let database = TestDatabase::new(backend).await.expect("database");
    let (url, stop) = serve(&database).await;
    let keys = KeyStore::new(database.connection.clone());
    let (_, secret) = keys
        .create(NewKey {
            display_name: "Registre du Sénégal".to_owned(),
            scopes: vec![Scope::InitiativesWrite],
            expire_time: None,
        })
        .await
        .expect("key");
    let (_, reader) = keys
        .create(NewKey {
            display_name: "A reader".to_owned(),
            scopes: vec![Scope::Read],
            expire_time: None,
        })
        .await
        .expect("key");
    let settings = Settings::default();
    // Without a key, or with one lacking the scope, nothing is written.
    for key in [None, Some(reader.as_str())] {
        let anonymous = Observatory::remote(&url, key, &settings).expect("remote");
        let refused = transfer::import(
            kind("initiatives").as_ref(),
            &anonymous.api,
            Box::new(std::io::Cursor::new(PARTNER_CSV.as_bytes().to_vec())),
            ImportOptions {
                format: Format::Csv,
                dry_run: false,
                on_error: OnError::Stop,
            },
            &Progress::captured("import").0,
        )
        .await
        .expect_err("refused");
        let message = refused.to_string();
        assert!(
            message.contains("Unauthenticated") || message.contains("PermissionDenied"),
            "{message}"
        );
    }
    let partner = Observatory::remote(&url, Some(&secret), &settings).expect("remote");
    let (dry, _) = import(
        &partner,
        "initiatives",
        PARTNER_CSV.as_bytes(),
        Format::Csv,
        true,
        OnError::Stop,
    )
    .await;
    assert_eq!((dry.created, dry.invalid), (2, 0));
    assert_eq!(count_initiatives(&partner).await, 0);
    let (report, lines) = import(
        &partner,
        "initiatives",
        PARTNER_CSV.as_bytes(),
        Format::Csv,
        false,
        OnError::Stop,
    )
    .await;
    assert_eq!((report.rows, report.created, report.invalid), (2, 2, 0), "{lines:?}");
    let (again, _) = import(
        &partner,
        "initiatives",
        PARTNER_CSV.as_bytes(),
        Format::Csv,
        false,
        OnError::Stop,
    )
    .await;
    assert_eq!((again.created, again.unchanged), (0, 2));
    let exported = String::from_utf8(export(&partner, "initiatives", Format::Csv).await).expect("utf-8");
    assert!(
        exported.contains("initiatives/cooperative-des-tisserands-"),
        "{exported}"
    );
    // The writes are the partner's in the audit trail, the checks are not there at all.
    let admin = Observatory::remote(&url, Some(ADMIN_KEY), &settings).expect("remote");
    let events = AccessServiceClient::new(admin.api.channel())
        .list_audit_events(admin.api.request(ListAuditEventsRequest::default()))
        .await
        .expect("audit")
        .into_inner()
        .audit_events;
    let written: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event.code == "OK")
        .map(|event| (event.method.as_str(), event.caller.as_str()))
        .collect();
    assert_eq!(written.len(), 1, "{events:?}");
    assert!(written[0].0.ends_with("BatchCreateInitiatives"), "{events:?}");
    assert!(written[0].1.starts_with("apiKeys/"), "{events:?}");
    stop.trigger();
}

/// `validate_only` on each create an import uses: the BadRequest a create would get, and, for a
/// valid request, an empty answer, nothing written and nothing audited.
async fn validate_only_checks_every_field_and_writes_nothing(backend: Backend) {
    use sse_proto::{
        indicators::{
            BatchCreateObservationsRequest, CreateIndicatorRequest, CreateObservationRequest, Indicator, Observation,
            indicator_service_client::IndicatorServiceClient, observation::Status as ObservationStatus,
        },
        initiatives::BatchCreateInitiativesRequest,
        lawguide::{
            CreateLegalTextRequest, LegalText, ListLegalTextsRequest, law_guide_service_client::LawGuideServiceClient,
        },
    };
    let database = TestDatabase::new(backend).await.expect("database");
    let observatory = Observatory::local(&settings_for(&database), &MODULES)
        .await
        .expect("local");
    let api = &observatory.api;
    let mut initiatives = InitiativeServiceClient::new(api.channel());
    let mut indicators = IndicatorServiceClient::new(api.channel());
    let mut law_guide = LawGuideServiceClient::new(api.channel());
    let initiative = |display_name: &str, country: &str| CreateInitiativeRequest {
        initiative: Some(Initiative {
            display_name: display_name.to_owned(),
            countries: vec![country.to_owned()],
            ..Default::default()
        }),
        initiative_id: String::new(),
        request_id: String::new(),
    };
    let batch = |requests, validate_only| BatchCreateInitiativesRequest {
        requests,
        request_id: String::new(),
        validate_only,
    };
    let refused = initiatives
        .batch_create_initiatives(api.request(batch(vec![initiative("Fine", "FR"), initiative("", "XX")], true)))
        .await
        .expect_err("invalid");
    assert_eq!(
        sse_testkit::violated_fields(&refused),
        [
            "requests[1].initiative.display_name",
            "requests[1].initiative.countries[0]"
        ]
    );
    let checked = initiatives
        .batch_create_initiatives(api.request(batch(vec![initiative("Fine", "FR")], true)))
        .await
        .expect("valid")
        .into_inner();
    assert!(checked.initiatives.is_empty());
    assert_eq!(count_initiatives(&observatory).await, 0);

    let indicator = |unit: &str| CreateIndicatorRequest {
        indicator: Some(Indicator {
            display_name: "Jobs".to_owned(),
            unit: unit.to_owned(),
            ..Default::default()
        }),
        indicator_id: "jobs".to_owned(),
        request_id: String::new(),
        validate_only: true,
    };
    let answer = indicators.create_indicator(api.request(indicator("jobs"))).await;
    assert_eq!(answer.expect("valid").into_inner().indicator, None);
    let refused = indicators
        .create_indicator(api.request(CreateIndicatorRequest {
            indicator_id: "Not An Id".to_owned(),
            ..indicator("jobs")
        }))
        .await
        .expect_err("invalid");
    assert_eq!(sse_testkit::violated_fields(&refused), ["indicator_id"]);
    indicators
        .get_indicator(api.request(sse_proto::indicators::GetIndicatorRequest {
            name: "indicators/jobs".to_owned(),
        }))
        .await
        .expect_err("not written");

    let observation = CreateObservationRequest {
        parent: "indicators/jobs".to_owned(),
        observation: Some(Observation {
            time_period: "2020-13".to_owned(),
            value: 1.0,
            status: ObservationStatus::Reported as i32,
            source: Some(SourceCitation {
                title: "A register".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        observation_id: String::new(),
        request_id: String::new(),
    };
    let refused = indicators
        .batch_create_observations(api.request(BatchCreateObservationsRequest {
            parent: "indicators/-".to_owned(),
            requests: vec![observation],
            request_id: String::new(),
            validate_only: true,
        }))
        .await
        .expect_err("invalid");
    assert_eq!(
        sse_testkit::violated_fields(&refused),
        ["requests[0].observation.time_period"]
    );

    let refused = law_guide
        .create_legal_text(api.request(CreateLegalTextRequest {
            legal_text: Some(LegalText {
                jurisdiction: "FR".to_owned(),
                ..Default::default()
            }),
            legal_text_id: "fr-loi".to_owned(),
            request_id: String::new(),
            validate_only: true,
        }))
        .await
        .expect_err("invalid");
    assert!(
        sse_testkit::violated_fields(&refused).contains(&"legal_text.title".to_owned()),
        "{refused:?}"
    );
    let texts = law_guide
        .list_legal_texts(api.request(ListLegalTextsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(texts.total_size, 0);
    let events = audit_event::Entity::find()
        .count(&database.connection)
        .await
        .expect("audit");
    assert_eq!(events, 0, "a check is not a write");
    observatory.close().await;
}

on_both_databases!(
    validate_only_checks_every_field_and_writes_nothing,
    round_trip_gives_the_same_files,
    observations_travel_as_sdmx_csv,
    a_dry_run_names_every_invalid_row_and_writes_nothing,
    on_error_stop_writes_the_batches_before_and_skip_every_valid_row,
    a_partner_imports_into_a_running_observatory_with_an_api_key,
);
