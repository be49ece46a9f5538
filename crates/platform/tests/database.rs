//! The connections `database::connect` opens, proved against the real servers, and what
//! `database::insert_in` leaves when a row fails.

use sea_orm::{ConnectionTrait, Statement, Value};
use sse_platform::database;
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

/// `database::insert_in` is `INSERT OR FAIL` on SQLite, which keeps no statement journal: a row
/// that fails leaves the rows its statement wrote before it to the transaction, and the
/// transaction's rollback takes them. What a caller sees is the same on both databases: an
/// error, and nothing written.
async fn a_failing_row_leaves_nothing_of_its_insert(backend: Backend) {
    let database = TestDatabase::new(backend).await.expect("database");
    let db = &database.connection;
    db.execute_unprepared("CREATE TABLE things (id TEXT PRIMARY KEY)")
        .await
        .expect("table");
    let insert = |ids: &str| {
        Statement::from_string(
            db.get_database_backend(),
            format!("INSERT INTO things (id) VALUES {ids}"),
        )
    };
    let things = || Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM things");

    let txn = database::begin_write(db).await.expect("begin");
    let failed = database::insert_in(&txn, insert("('a'), ('b'), ('a'), ('c')")).await;
    assert!(failed.is_err(), "a repeated key is refused: {failed:?}");
    if backend == Backend::Sqlite {
        // FAIL, not ABORT: the rows before the failing one are still in the transaction.
        let row = txn.query_one_raw(things()).await.expect("count").expect("a row");
        assert_eq!(row.try_get::<i64>("", "n").expect("n"), 2);
    }
    txn.rollback().await.expect("rollback");
    let row = db.query_one_raw(things()).await.expect("count").expect("a row");
    assert_eq!(
        row.try_get::<i64>("", "n").expect("n"),
        0,
        "nothing of the failed insert stays"
    );

    let txn = database::begin_write(db).await.expect("begin");
    database::insert_in(&txn, insert("('a'), ('b'), ('c')"))
        .await
        .expect("insert");
    txn.commit().await.expect("commit");
    let row = db.query_one_raw(things()).await.expect("count").expect("a row");
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 3);
}

sse_testkit::on_both_databases!(a_failing_row_leaves_nothing_of_its_insert);
