//! Test support shared by every service's tests: a fresh database per test, on SQLite or on the
//! local PostgreSQL, dropped when the test ends; a gRPC server on a random loopback port; and a
//! macro that runs one test body on both databases; test CAs and certificates (`tls`); and a
//! check that a validator agrees with its contract's annotations (`contract`).
#![forbid(unsafe_code)]

pub mod contract;
pub mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sse_platform::{
    access::{Policy, guard::Access},
    config::Settings,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::{Shutdown, ShutdownTrigger},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::{
    Request, Status,
    transport::{Channel, Endpoint},
};

/// Where the tests find PostgreSQL: a database they may connect to and create databases from.
pub const POSTGRES_URL_VARIABLE: &str = "TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The admin key tests send, as `authorization: Bearer …`.
pub const ADMIN_KEY: &str = "test-admin-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test only.
pub struct TestDatabase {
    pub connection: DatabaseConnection,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
}

impl TestDatabase {
    /// A new, empty database. On PostgreSQL, a database of its own on the server named by
    /// `TEST_POSTGRES_URL` (the local one by default); failing to reach it fails the test rather
    /// than skipping it.
    pub async fn new(backend: Backend) -> anyhow::Result<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", folder.path().join("test.sqlite").display());
                let connection = sse_platform::database::connect(&url).await?;
                migrate_access(&connection).await?;
                Ok(TestDatabase {
                    connection,
                    url,
                    cleanup: Cleanup::Sqlite(folder),
                })
            }
            Backend::Postgres => {
                let admin_url =
                    std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
                let database = format!("observatory_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sse_platform::database::connect(&admin_url)
                    .await
                    .with_context(|| format!("PostgreSQL tests need a server; set {POSTGRES_URL_VARIABLE}"))?;
                admin.execute_unprepared(&format!("CREATE DATABASE {database}")).await?;
                admin.close().await?;
                let url = replace_database(&admin_url, &database);
                let connection = sse_platform::database::connect(&url).await?;
                migrate_access(&connection).await?;
                Ok(TestDatabase {
                    connection,
                    url,
                    cleanup: Cleanup::Postgres { admin_url, database },
                })
            }
        }
    }
}

/// The tables of partner access (keys, audit events), which every served database holds.
async fn migrate_access(connection: &DatabaseConnection) -> anyhow::Result<()> {
    sse_platform::database::migrate::<sse_platform::access::schema::Migrator>(connection).await
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, database } = &self.cleanup else {
            return;
        };
        let (admin_url, database) = (admin_url.clone(), database.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: drop the database
        // from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = sse_platform::database::connect(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.url);
        }
    }
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let base = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A gRPC server running in the test, on a random loopback port.
pub struct TestServer {
    pub address: SocketAddr,
    pub channel: Channel,
    trigger: ShutdownTrigger,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start(server: GrpcServer) -> anyhow::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (trigger, shutdown) = Shutdown::new();
        let handle = tokio::spawn(server.serve(listener, shutdown));
        let channel = Endpoint::from_shared(format!("http://{address}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await?;
        Ok(TestServer {
            address,
            channel,
            trigger,
            handle,
        })
    }

    /// Starts shutdown and waits for the server to finish draining.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.trigger.trigger();
        self.handle.await?
    }
}

/// The guard of a test server over `database` (its own access store), with the admin key set
/// and the default policy.
pub fn access(database: &TestDatabase) -> Arc<Access> {
    access_with(database, Policy::with_admin_key(Some(ADMIN_KEY.to_owned().into())))
}

/// The guard of a test server over `database`, with `policy`.
pub fn access_with(database: &TestDatabase, policy: Policy) -> Arc<Access> {
    Access::new(policy, database.connection.clone(), database.connection.clone())
}

/// The server a test starts over `database`: the admin key set, the access service (keys and
/// the audit trail) on the same database, a short drain.
pub fn grpc_server(database: &TestDatabase) -> GrpcServer {
    grpc_server_guarded_by(database, access(database))
}

/// As [`grpc_server`], guarded by `access`.
pub fn grpc_server_guarded_by(database: &TestDatabase, access: Arc<Access>) -> GrpcServer {
    let service = sse_platform::access::service::grpc_service(database.connection.clone(), access.clone());
    GrpcServer::new(access, Duration::from_secs(2))
        .with_database(database.connection.clone())
        .add_service(service)
}

/// The test server with `module`'s services over `database`, with default settings.
pub fn grpc_server_with(module: &dyn ServiceModule, database: &TestDatabase) -> anyhow::Result<GrpcServer> {
    grpc_server_with_settings(module, database, Settings::default())
}

/// The test server with `module`'s services over `database`, with `settings` (e.g. where the
/// other services it calls are).
pub fn grpc_server_with_settings(
    module: &dyn ServiceModule,
    database: &TestDatabase,
    settings: Settings,
) -> anyhow::Result<GrpcServer> {
    let context = ModuleContext {
        db: database.connection.clone(),
        settings,
        local_services: None,
    };
    module.register(grpc_server(database), &context)
}

/// Adds the admin key to every call, as partners will send theirs.
pub fn with_admin_key(mut request: Request<()>) -> Result<Request<()>, Status> {
    let value = format!("Bearer {ADMIN_KEY}")
        .parse()
        .map_err(|_| Status::internal("unusable test key"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// The fields a `BadRequest` error detail names, in the order the service gave them.
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The `ErrorInfo.reason` of an error, empty when there is none.
pub fn error_reason(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// Asserts that `filter` was refused as a filter error whose message contains `expected`.
pub fn assert_invalid_filter(status: &Status, filter: &str, expected: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{filter}");
    assert_eq!(error_reason(status), "INVALID_FILTER", "{filter}");
    assert_eq!(violated_fields(status), ["filter"], "{filter}");
    assert!(status.message().contains(expected), "{filter}: {}", status.message());
}

/// Calls `path` (`/package.Service/Method`) with `body` sent as the request message's bytes,
/// whatever they are, with the admin key: what a client with a broken or hostile encoder sends.
/// Returns the response message's bytes.
pub async fn raw_unary<S>(service: S, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status>
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResponseBody: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let mut client = tonic::client::Grpc::new(service).max_encoding_message_size(usize::MAX);
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(format!("not ready: {}", error.into())))?;
    let mut request = Request::new(body);
    let key = format!("Bearer {ADMIN_KEY}")
        .parse()
        .map_err(|_| Status::internal("unusable test key"))?;
    request.metadata_mut().insert("authorization", key);
    let path = http::uri::PathAndQuery::from_static(path);
    Ok(client.unary(request, path, RawCodec).await?.into_inner())
}

/// Sends and receives message bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buffer: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put_slice(buffer, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buffer: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut message = vec![0; bytes::Buf::remaining(buffer)];
        bytes::Buf::copy_to_slice(buffer, &mut message);
        Ok(Some(message))
    }
}

/// A page token as a hostile client would write it: `token` (one the service returned) with
/// its sort key values changed by `change`. Tokens are base64url JSON `{"q": …, "k": [...]}`.
pub fn forged_page_token(token: &str, change: impl FnOnce(&mut Vec<serde_json::Value>)) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut decoded: serde_json::Value = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default();
    if let Some(serde_json::Value::Array(keys)) = decoded.get_mut("k") {
        change(keys);
    }
    URL_SAFE_NO_PAD.encode(decoded.to_string())
}

/// Asserts that `status` is INVALID_ARGUMENT naming `fields` (in any order), with a message and
/// details small enough for any gRPC client (under 1 KB of message).
pub fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let mut violated = violated_fields(status);
    violated.sort();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(violated, expected, "{}", status.message());
    assert!(
        status.message().len() < 1024,
        "a {}-byte message",
        status.message().len()
    );
    assert!(
        status.details().len() < 4096,
        "{} bytes of details",
        status.details().len()
    );
}

/// Runs each named `async fn name(backend: Backend)` of the calling module as two tests,
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replace_database_keeps_credentials_and_options() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@db/test?sslmode=disable", "x"),
            "postgres://u:p@db/x?sslmode=disable"
        );
    }
}
