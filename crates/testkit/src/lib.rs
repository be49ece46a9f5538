//! Test support shared by every service's tests: a fresh database per test, on SQLite or on the
//! local PostgreSQL, dropped when the test ends; a gRPC server on a random loopback port; and a
//! macro that runs one test body on both databases; test CAs and certificates (`tls`).
#![forbid(unsafe_code)]

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
