//! The connections `database::connect` opens to PostgreSQL, proved against the real server.

use sea_orm::{ConnectionTrait, Statement, Value};
use sse_testkit::{Backend, TestDatabase};

/// Guards TCP_NODELAY on the connections to PostgreSQL (`database::nodelay`): without it a
/// statement whose message is longer than one TCP segment (64 KiB over loopback) waits for the
/// server's delayed ACK, 40 ms a statement, as every multi-row INSERT of a batch create did.
#[tokio::test]
async fn statements_over_64_kib_take_milliseconds_not_a_delayed_ack() {
    let database = TestDatabase::new(Backend::Postgres).await.expect("database");
    let db = &database.connection;
    // 100 KiB: one full segment and a short one, the shape Nagle's algorithm holds back.
    let text = "x".repeat(100 * 1024);
    let statement = || {
        Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT octet_length(CAST($1 AS text)) AS length",
            [Value::from(text.clone())],
        )
    };
    db.query_one_raw(statement()).await.expect("warm-up");
    let mut millis = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let row = db.query_one_raw(statement()).await.expect("query").expect("a row");
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(row.try_get::<i32>("", "length").expect("length"), 100 * 1024);
    }
    millis.sort_by(f64::total_cmp);
    let median = millis[millis.len() / 2];
    assert!(
        median < 10.0,
        "a 100 KiB statement took {median:.1} ms (median of 20); TCP_NODELAY is off again?"
    );
}
