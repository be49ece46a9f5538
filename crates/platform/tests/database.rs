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

sse_testkit::on_both_databases!(a_failing_row_leaves_nothing_of_its_insert, insert_all_keeps_every_value);

/// `database::HeldConnection` (GetInitiative's batch reads on PostgreSQL): its queries run on
/// one connection, one after the other, while the pool serves others; a connection that breaks
/// fails one query and the next takes another; a pool of one keeps nothing back; the connection
/// goes back to the pool after its quiet time; and the pool still closes while one is held
/// (`Pool::close` waits for every connection to come back).
#[tokio::test]
async fn a_held_connection_keeps_its_backend_and_gives_it_back_when_broken_quiet_or_closing() {
    let sqlite = TestDatabase::new(Backend::Sqlite).await.expect("database");
    assert!(
        database::HeldConnection::of(&sqlite.connection).is_none(),
        "SQLite keeps nothing"
    );

    let database = TestDatabase::new(Backend::Postgres).await.expect("database");
    let db = database.connection.clone();
    let held = database::HeldConnection::of(&db).expect("PostgreSQL holds a connection");
    let statement = |sql: &str| Statement::from_string(sea_orm::DbBackend::Postgres, sql);
    let backend_pid = || async {
        let rows = held
            .query_all(statement("SELECT pg_backend_pid()"))
            .await
            .expect("query");
        rows[0].try_get_by_index::<i32>(0).expect("pid")
    };
    let pool_pid = || async {
        let row = db
            .query_one_raw(statement("SELECT pg_backend_pid() AS pid"))
            .await
            .expect("query")
            .expect("a row");
        row.try_get::<i32>("", "pid").expect("pid")
    };

    let first = backend_pid().await;
    for _ in 0..20 {
        assert_eq!(backend_pid().await, first, "every query on the same connection");
        assert_ne!(pool_pid().await, first, "held, it is not handed to others");
    }

    // A query that fails leaves the held connection usable or gives it back.
    let failed = held.query_all(statement("SELECT 1 / 0")).await;
    assert!(failed.is_err(), "division by zero is refused: {failed:?}");
    let after_failure = backend_pid().await;

    // The server ends the held connection: one query fails, the next runs on another.
    let ended = db
        .query_one_raw(statement(&format!(
            "SELECT pg_terminate_backend({after_failure}) AS ended"
        )))
        .await
        .expect("terminate")
        .expect("a row");
    assert!(ended.try_get::<bool>("", "ended").expect("ended"));
    let lost = held.query_all(statement("SELECT pg_backend_pid()")).await;
    assert!(lost.is_err(), "the ended connection fails its query: {lost:?}");
    let renewed = backend_pid().await;
    assert_ne!(renewed, after_failure, "a new connection after the lost one");
    assert_eq!(backend_pid().await, renewed, "and it is held in turn");

    // A pool of one keeps nothing back: everything else always has its connection.
    let one = database::connect_with(
        &database.url,
        database::PoolSettings {
            max_connections: Some(1),
            ..database::PoolSettings::default()
        },
    )
    .await
    .expect("a pool of one");
    assert!(
        database::HeldConnection::of(&one).is_none(),
        "a pool of one holds nothing"
    );
    one.close().await.expect("close");

    // After its quiet time without a query, the connection goes back to the pool by itself,
    // and the next query takes one again.
    let quick = database::HeldConnection::given_back_after(&db, std::time::Duration::from_millis(200)).expect("held");
    quick.query_all(statement("SELECT 1")).await.expect("query");
    assert!(quick.is_holding().await, "held after its query");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!quick.is_holding().await, "given back after 200 ms of quiet");
    quick
        .query_all(statement("SELECT 1"))
        .await
        .expect("query after the quiet");
    assert!(quick.is_holding().await, "held again");

    // Closing the pool does not wait forever on the held connection.
    tokio::time::timeout(std::time::Duration::from_secs(10), db.clone().close())
        .await
        .expect("the pool closes while a connection is held")
        .expect("close");
    assert!(
        held.query_all(statement("SELECT 1")).await.is_err(),
        "a closed pool lends nothing more"
    );
}

/// A table with a column of each kind the services store.
mod thing {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "things")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        pub count: i32,
        pub value: f64,
        pub deleted: Option<i64>,
        pub flag: bool,
        #[sea_orm(column_type = "Text")]
        pub note: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `database::insert_all` writes its own multi-row INSERTs: every value comes back as it went
/// in, over several statements, on both databases.
async fn insert_all_keeps_every_value(backend: Backend) {
    use sea_orm::{EntityTrait, IntoActiveModel, QueryOrder, Schema};
    let database = TestDatabase::new(backend).await.expect("database");
    let db = &database.connection;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(thing::Entity))
        .await
        .expect("table");
    let odd = ["", "l'économie \"sociale\"", "🌍\t\n", "\\$1 ? --"];
    let models: Vec<thing::Model> = (0..12_000i32)
        .map(|index| thing::Model {
            id: format!("thing-{index:05}"),
            count: [i32::MIN, i32::MAX, 0, index][index as usize % 4],
            value: [f64::MIN_POSITIVE, f64::MAX, -0.1, f64::from(index) / 3.0, f64::INFINITY][index as usize % 5],
            deleted: (index % 3 == 0).then_some(i64::MAX - i64::from(index)),
            flag: index % 2 == 0,
            note: odd[index as usize % odd.len()].to_owned(),
        })
        .collect();
    let rows = models.iter().cloned().map(IntoActiveModel::into_active_model).collect();
    let txn = database::begin_write(db).await.expect("begin");
    database::insert_all::<thing::Entity>(&txn, rows).await.expect("insert");
    txn.commit().await.expect("commit");
    let stored = thing::Entity::find()
        .order_by_asc(thing::Column::Id)
        .all(db)
        .await
        .expect("read back");
    assert_eq!(stored.len(), models.len());
    for (stored, written) in stored.iter().zip(&models) {
        assert_eq!(stored, written);
        assert_eq!(stored.value.to_bits(), written.value.to_bits(), "{}", written.id);
    }
}
