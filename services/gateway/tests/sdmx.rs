//! The gateway's SDMX REST source in front of the real initiatives and indicators services, on
//! SQLite and on PostgreSQL: structure messages with the codelists of the seeded codes, data
//! selected by partial keys in each format, and SDMX error messages. (sdmx1 reads the same
//! answers in tests/e2e/test_sdmx_source.py.)

use std::time::Duration;

use axum::body::Body;
use sse_platform::{
    config::Settings,
    module::{ModuleContext, ServiceModule},
};
use sse_testkit::{Backend, TestDatabase, TestServer};
use tower::ServiceExt;

struct Services {
    router: axum::Router,
    _servers: (TestServer, TestServer),
    _databases: (TestDatabase, TestDatabase),
}

/// Seeded initiatives and indicators services, and the gateway's routes in front of them.
async fn start(backend: Backend) -> Services {
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
    let initiatives =
        TestServer::start(sse_testkit::grpc_server_with(&initiatives_module, &initiatives_database).expect("register"))
            .await
            .expect("initiatives server");

    let database = TestDatabase::new(backend).await.expect("database");
    let module = sse_indicators::Module;
    module.migrate(&database.connection).await.expect("migrate");
    module.seed(&database.connection).await.expect("seed");
    let settings = Settings {
        initiatives_url: format!("http://{}", initiatives.address),
        ..Settings::default()
    };
    let indicators =
        TestServer::start(sse_testkit::grpc_server_with_settings(&module, &database, settings).expect("register"))
            .await
            .expect("indicators server");

    let context = ModuleContext {
        db: database.connection.clone(),
        settings: Settings {
            initiatives_url: format!("http://{}", initiatives.address),
            indicators_url: format!("http://{}", indicators.address),
            law_guide_url: format!("http://{}", indicators.address),
            access_url: format!("http://{}", indicators.address),
            ..Settings::default()
        },
        local_services: None,
    };
    let router = sse_gateway::Module
        .http_routes(&context)
        .expect("gateway routes")
        .expect("the gateway serves HTTP");
    Services {
        router,
        _servers: (initiatives, indicators),
        _databases: (database, initiatives_database),
    }
}

/// GET `path` with `accept`: (status, content type, body).
async fn get(services: &Services, path: &str, accept: &str) -> (u16, String, String) {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Body::empty())
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(30), services.router.clone().oneshot(request))
        .await
        .expect("an answer in time")
        .expect("infallible");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24).await.expect("body");
    (status, content_type, String::from_utf8_lossy(&body).into_owned())
}

async fn the_sdmx_source_answers(backend: Backend) {
    let services = start(backend).await;

    let (status, content_type, body) =
        get(&services, "/sdmx/dataflow/SSE/DF_SSE_OBS/latest?references=all", "*/*").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/vnd.sdmx.structure+xml;version=2.1");
    for expected in [
        "<str:Dataflow id=\"DF_SSE_OBS\"",
        "<str:DataStructure id=\"DSD_SSE_OBS\"",
        "<str:ConceptScheme id=\"CS_SSE_OBS\"",
        "<str:Code id=\"land-restored\"",
        "<str:Code id=\"great-green-wall\"",
        "<com:Name xml:lang=\"en\">France</com:Name>",
        "<str:Code id=\"T\"",
    ] {
        assert!(body.contains(expected), "no {expected} in\n{body}");
    }

    // The Great Green Wall's 2030 target, by a partial key, in each SDMX-ML flavour.
    let key = "/sdmx/data/DF_SSE_OBS/land-restored..great-green-wall.T.";
    let (status, content_type, body) = get(&services, key, "*/*").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        content_type,
        "application/vnd.sdmx.structurespecificdata+xml;version=2.1"
    );
    assert!(
        body.contains("<Obs TIME_PERIOD=\"2030\" OBS_VALUE=\"100000000\" UNIT_MEASURE=\"ha\""),
        "{body}"
    );
    assert_eq!(body.matches("<Obs ").count(), 1, "{body}");
    let (_, content_type, body) = get(&services, key, "application/vnd.sdmx.genericdata+xml;version=2.1").await;
    assert_eq!(content_type, "application/vnd.sdmx.genericdata+xml;version=2.1");
    assert!(body.contains("<gen:ObsValue value=\"100000000\"/>"), "{body}");
    let (_, content_type, body) = get(&services, key, "application/vnd.sdmx.data+json;version=1.0.0").await;
    assert_eq!(content_type, "application/vnd.sdmx.data+json;version=1.0.0");
    let tree: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        tree["dataSets"][0]["series"]["0:0:0:0:0"]["observations"]["0"][0],
        serde_json::json!(100_000_000.0)
    );
    let (_, _, body) = get(&services, &format!("{key}/SSE?format=csvfile"), "*/*").await;
    assert_eq!(body.lines().count(), 2, "{body}");

    // The last reported figure of each land-restored series from 2010 on.
    let (status, _, body) = get(
        &services,
        "/sdmx/data/DF_SSE_OBS/land-restored...A.?startPeriod=2010&lastNObservations=1&detail=dataonly",
        "*/*",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("UNIT_MEASURE"), "dataonly has no attributes: {body}");

    for (path, status, code) in [
        ("/sdmx/data/DF_SSE_OBS/nothing....", 404, "100"),
        ("/sdmx/data/DF_SSE_OBS/a.b.c.d.e.f", 400, "140"),
        ("/sdmx/codelist/SSE/CL_NOPE/latest", 404, "100"),
        ("/sdmx/data/DF_SSE_OBS/all?dimensionAtObservation=NOPE", 403, "150"),
    ] {
        let (answered, content_type, body) = get(&services, path, "*/*").await;
        assert_eq!(answered, status, "{path}: {body}");
        assert_eq!(content_type, "application/vnd.sdmx.error+xml;version=2.1", "{path}");
        assert!(
            body.contains(&format!("<mes:ErrorMessage code=\"{code}\">")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_sdmx_source_answers_on_sqlite() {
    the_sdmx_source_answers(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_sdmx_source_answers_on_postgres() {
    the_sdmx_source_answers(Backend::Postgres).await;
}
