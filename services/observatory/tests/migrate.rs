//! Replicas starting together on an empty PostgreSQL database each run `migrate` (their init
//! containers do): every one must succeed, and the schema be applied once.

use std::process::{Command, Stdio};

use sse_testkit::{Backend, TestDatabase};

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_migrations_of_one_empty_database_all_succeed() {
    let database = TestDatabase::new(Backend::Postgres).await.expect("database");
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_observatory"))
                .arg("migrate")
                .env("DATABASE_URL", &database.url)
                .env("OBSERVATORY_LOG_FILTER", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start migrate")
        })
        .collect();
    let mut failures = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("migrate exits");
        if !output.status.success() {
            failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
        }
    }
    assert!(failures.is_empty(), "{} of 6 failed: {failures:#?}", failures.len());
    let applied: Vec<sea_orm::QueryResult> = sea_orm::ConnectionTrait::query_all_raw(
        &database.connection,
        sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT version FROM initiatives_migrations",
        ),
    )
    .await
    .expect("migrations table");
    let known = <sse_initiatives::migration::Migrator as sea_orm_migration::MigratorTrait>::migrations().len();
    assert_eq!(applied.len(), known, "each migration recorded once");
}
