//! Database connections and migrations, the same code path on SQLite (the embedded default) and
//! PostgreSQL. Each service owns its migrations and records them in its own table, so several
//! services can share one database.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

mod held;
mod insert;
mod nodelay;

pub use held::HeldConnection;

/// How a process's connection pool behaves; the `database_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// How long a query waits for a connection (a free one, or a new one the database accepts)
    /// before failing with DATABASE_UNAVAILABLE. Short, so that a lost database fails calls
    /// fast rather than holding them.
    pub acquire_timeout: Duration,
    /// The most connections the pool opens; `None` for the default of the backend (10 on
    /// PostgreSQL, 4 on SQLite, where one writer at a time is the rule).
    pub max_connections: Option<u32>,
    /// Connections kept open even when idle.
    pub min_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            acquire_timeout: Duration::from_millis(DEFAULT_ACQUIRE_TIMEOUT_MS),
            max_connections: None,
            min_connections: 0,
        }
    }
}

/// The default of `database_acquire_timeout_ms`.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 2000;

/// How long a process starting up keeps trying to reach its database (one started at the same
/// time, as in a compose file) before giving up.
const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

impl PoolSettings {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        PoolSettings {
            acquire_timeout: Duration::from_millis(settings.database_acquire_timeout_ms.max(1)),
            max_connections: settings.database_max_connections,
            min_connections: settings.database_min_connections,
        }
    }
}

/// Connects to a `sqlite://` or `postgres://` URL with the default pool settings, creating the
/// SQLite file's folder if needed.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, PoolSettings::default()).await
}

/// Connects to a `sqlite://` or `postgres://` URL with `pool`'s settings, creating the SQLite
/// file's folder if needed. A database that refuses connections at first is tried again for a
/// few seconds: it may be starting alongside this process.
pub async fn connect_with(url: &str, pool: PoolSettings) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or_default();
        if let Some(folder) = std::path::Path::new(file).parent()
            && !folder.as_os_str().is_empty()
        {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create the database folder {}", folder.display()))?;
        }
    }
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(pool.acquire_timeout)
        .acquire_timeout(pool.acquire_timeout)
        .max_connections(pool.max_connections.unwrap_or(if sqlite { 4 } else { 10 }).max(1))
        .min_connections(pool.min_connections)
        // A ping on every checkout is a round trip on every query; only a connection idle long
        // enough to have been dropped by the server or a proxy is checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if sqlite {
        // Every pooled connection gets the same settings (pragmas are per connection): foreign
        // keys enforced, write-ahead logging so readers do not wait on the writer, and a wait
        // rather than an error when another connection holds the write lock (write
        // transactions take it at BEGIN, see `begin_write`). One writer at a time is SQLite's
        // rule; a small pool keeps lock waits short.
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                // Statistics for the query planner, kept current as SQLite advises.
                .optimize_on_close(true, 1000)
                // Sorts and temporary B-trees past the page cache go to a temporary file, not
                // to memory, which the bundled SQLite defaults to: an aggregation sorting 500k
                // figures then peaks at about 10 MB instead of 90 MB, and is faster too (1.5 s
                // instead of 2.2 s here). The files go to SQLITE_TMPDIR, else /var/tmp or /tmp.
                .pragma("temp_store", "FILE")
                // Each connection's own page cache: 1 MiB (SQLite's default is 2 MiB), enough
                // for the upper levels of the B-trees a query descends; the rest of the file is
                // in the operating system's cache anyway. A server keeps about a dozen
                // connections, each cache full once it has served a while.
                .pragma("cache_size", "-1024")
                // The write-ahead log is copied into the database (a checkpoint) once it holds
                // 10,000 pages (40 MiB) rather than SQLite's 1,000: a batch of 1,000
                // initiatives writes about 1,700 pages, so each commit paid a checkpoint, and
                // the pages every batch changes again (the upper levels of each index, the
                // tails that ids and times append to) were copied once per batch. Measured with
                // `sse-bench run --only writes` on the generated 100k / 1M database, five
                // rounds: 14.1k–16.2k against 11.7k–14.2k initiatives a second, 14.8k–17.1k
                // against 11.0k–15.4k observations. Readers look pages up in the log's index
                // in shared memory (about 100 KiB at this size); the file is reused, not regrown.
                .pragma("wal_autocheckpoint", "10000")
                // A write transaction keeps up to 4,096 pages (16 MiB) in its cache before it
                // spills changed pages to the log mid-transaction (by default SQLite spills as
                // soon as the cache_size is full): a batch of 1,000 initiatives or 5,000
                // observations changes about 1,700 pages, which the 256-page cache wrote to the
                // log, read back and wrote again at the commit. Pages past cache_size are freed
                // when the transaction releases them; the allocator keeps some of that memory
                // for the connection's thread (the server's RSS after the benchmark's writes:
                // 154–192 MiB against 101–112 MiB). Measured with `sse-bench run --only writes`
                // on the generated 100k / 1M database, fresh copies, three rounds: 18.2k–21.2k
                // against 15.3k–18.7k initiatives a second, 17.1k–20.0k against 15.8k–17.3k
                // observations.
                .pragma("cache_spill", "4096")
        });
    } else {
        // Each new connection gets TCP_NODELAY, which sqlx 0.9.0 leaves off (see `nodelay`).
        options.map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|connection, _| Box::pin(nodelay::enable(connection)))
        });
    }
    let started = std::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Ok(connection) => return Ok(connection),
            Err(error) if crate::error::is_connection_lost(&error) && started.elapsed() < STARTUP_PATIENCE => {
                tracing::warn!(%error, database = %redact(url), "the database is not reachable yet; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                return Err(anyhow::Error::new(error))
                    .with_context(|| format!("cannot connect to the database at {}", redact(url)));
            }
        }
    }
}

/// Begins a transaction that writes. On SQLite it takes the write lock at BEGIN (`BEGIN
/// IMMEDIATE`), waiting up to the busy timeout for another writer to finish: a transaction
/// that read first and asked for the lock on its first write could not wait (SQLite refuses at
/// once when another writer committed since the read), and concurrent writers of different
/// resources would get ABORTED. On PostgreSQL, a plain BEGIN.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Brings the indexes and statistics up to date after a bulk load (`generate`, a local
/// `import`), so that the first reads after it are as fast as they will be once the database
/// has tidied itself:
/// - PostgreSQL: `VACUUM ANALYZE`. It moves the rows GIN indexes keep in their pending list
///   (pg_trgm's, for `display_name:"…"`) into the index proper, which every substring query
///   otherwise reads whole; sets the visibility map, so index-only scans skip the table; and
///   refreshes the planner's statistics.
/// - SQLite: each FTS5 table merged into one segment (`optimize`): a table filled in many
///   batches keeps several, and a query reads each trigram's postings in every one of them
///   (four times the work at 100,000 initiatives). Then `ANALYZE`.
///
/// Online writes need none of this: autovacuum and FTS5's automerge keep the same bounds over
/// time; this only does it at once.
pub async fn tidy_after_bulk_load(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            db.execute_unprepared("VACUUM ANALYZE").await?;
        }
        _ => {
            let tables = db
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Sqlite,
                    "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'",
                ))
                .await?;
            for table in tables {
                let name: String = table.try_get("", "name")?;
                let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                db.execute_unprepared(&format!("INSERT INTO {quoted} ({quoted}) VALUES ('optimize')"))
                    .await?;
            }
            db.execute_unprepared("ANALYZE").await?;
        }
    }
    Ok(())
}

/// The PostgreSQL advisory lock every migration of the observatory holds ("SSE_MIGR").
const MIGRATION_LOCK: i64 = 0x5353_455f_4d49_4752;

/// Applies a service's pending migrations. On PostgreSQL they run under an advisory lock, so
/// that replicas starting together on an empty database (each running `migrate`) take turns:
/// the first applies them, the others then find nothing to do. The lock belongs to one pooled
/// connection; it is released when the migrations end, or when the process dies.
pub async fn migrate<M: MigratorTrait>(connection: &DatabaseConnection) -> anyhow::Result<()> {
    if connection.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return M::up(connection, None).await.context("database migration failed");
    }
    let pool = connection.get_postgres_connection_pool();
    if pool.options().get_max_connections() < 2 {
        // The lock's connection would leave none for the migrations themselves.
        tracing::warn!("a pool of one connection migrates without the migration lock");
        return M::up(connection, None).await.context("database migration failed");
    }
    let mut holder = pool
        .acquire()
        .await
        .context("cannot take a connection for the migration lock")?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *holder)
        .await
        .context("cannot take the migration lock")?;
    let migrated = M::up(connection, None).await.context("database migration failed");
    let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *holder)
        .await;
    migrated?;
    unlocked.context("cannot release the migration lock")?;
    Ok(())
}

/// The URL without its password, for logs and errors: the one in the authority
/// (`user:password@`) and any `password=` query parameter.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => match base[scheme_end + 3..at].split_once(':') {
            Some((user, _password)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => parameter.to_owned(),
                })
                .collect();
            format!("{base}?{}", parameters.join("&"))
        }
    }
}

/// The most bind parameters one statement carries: under SQLite's 32,766 and PostgreSQL's
/// 65,535, so a multi-row INSERT of any table fits on both.
pub const MAX_BIND_PARAMETERS: usize = 30_000;

/// Names or ids in one `IN (…)` list. Short lists keep a primary key in use even on a table the
/// planner has no statistics for: with a long list of parameters PostgreSQL's generic plan
/// scans the table and tests each row against the whole list (seconds at a million rows).
pub const IN_LIST_CHUNK: usize = 100;

/// `column IN (values)`, the values bound as one JSON array: the same statement whatever their
/// number, so each connection prepares it once. A list of parameters (`IN (?, ?, …)`) is a new
/// statement for each length, and on SQLite worse: with the STAT4 samples `ANALYZE` gathers,
/// each value bound in it makes SQLite parse and plan the statement again at every execution.
pub fn in_json_array<S: AsRef<str>>(
    backend: sea_orm::DatabaseBackend,
    column: impl Into<sea_orm::sea_query::Expr>,
    values: &[S],
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::Expr;
    let array = serde_json::Value::from(values.iter().map(|value| value.as_ref()).collect::<Vec<_>>()).to_string();
    // Each backend's own placeholders: numbered on PostgreSQL, `?` in order on SQLite.
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "$1 = ANY(ARRAY(SELECT json_array_elements_text(CAST($2 AS json))))",
        _ => "? IN (SELECT value FROM json_each(?))",
    };
    Expr::cust_with_exprs(sql, [column.into(), Expr::val(array)])
}

/// The first of `values`, in their order, that `column` of `table` holds, found in one query
/// whatever their number ([`in_json_array`]): a batch whose ids are taken is refused naming the
/// same one, whatever order the database finds them in.
pub async fn first_present<S: AsRef<str>>(
    db: &impl sea_orm::ConnectionTrait,
    table: &'static str,
    column: &'static str,
    values: &[S],
) -> Result<Option<String>, sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, Query};
    if values.is_empty() {
        return Ok(None);
    }
    let select = Query::select()
        .column(column)
        .from(table)
        .and_where(in_json_array(db.get_database_backend(), Expr::col(column), values))
        .to_owned();
    let present: std::collections::HashSet<String> = db
        .query_all(&select)
        .await?
        .iter()
        .map(|row| row.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    Ok(values
        .iter()
        .map(AsRef::as_ref)
        .find(|value| present.contains(*value))
        .map(str::to_owned))
}

/// Inserts `rows` of `E` in as few multi-row INSERTs as the bind-parameter limit allows (one
/// parameter per column of `E`), in the caller's transaction (see [`Inserts`]).
pub async fn insert_all<E>(txn: &DatabaseTransaction, rows: Vec<E::ActiveModel>) -> Result<(), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::ActiveModel: Send + 'static,
{
    use sea_orm::ConnectionTrait;
    Inserts::of::<E>(txn.get_database_backend(), rows).run(txn).await
}

/// The multi-row INSERTs of a batch's rows, built on a blocking thread from the moment they are
/// asked for, while the caller's transaction runs its checks and then the statements already
/// built. A batch of 5,000 observations into PostgreSQL spent 154 ms of its 794 ms between its
/// four INSERTs, building the next with one core idle; built ahead, about 30 ms a statement
/// remain (sea-orm and sqlx binding its values as it is sent). Statements come in order, at most
/// two ahead of the one running. Dropped unrun, it stops building.
pub struct Inserts {
    statements: tokio::sync::mpsc::Receiver<sea_orm::Statement>,
    builder: tokio::task::JoinHandle<()>,
}

impl Inserts {
    /// Starts building the INSERTs of `rows` of `E`, [`rows_per_insert`] rows a statement.
    pub fn of<E>(backend: sea_orm::DatabaseBackend, rows: Vec<E::ActiveModel>) -> Self
    where
        E: sea_orm::EntityTrait,
        E::ActiveModel: Send + 'static,
    {
        use sea_orm::{Iterable, QueryTrait};
        let per_statement = rows_per_insert(E::Column::iter().count());
        // One waiting in the channel, one in the builder's hands.
        let (sender, statements) = tokio::sync::mpsc::channel(1);
        let builder = tokio::task::spawn_blocking(move || {
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<E::ActiveModel> = rows.by_ref().take(per_statement).collect();
                let insert = insert::statement::<E>(backend, chunk)
                    .unwrap_or_else(|chunk| backend.build(&E::insert_many(chunk).into_query()));
                if sender.blocking_send(insert).is_err() {
                    // No one runs them any more.
                    return;
                }
            }
        });
        Inserts { statements, builder }
    }

    /// Runs every statement in `txn` (see [`insert_in`]), in order, as each is built.
    pub async fn run(mut self, txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
        while let Some(insert) = self.statements.recv().await {
            insert_in(txn, insert).await?;
        }
        // The channel also ends when the builder failed: then not every row was written.
        self.builder
            .await
            .map_err(|failed| sea_orm::DbErr::Custom(format!("building the INSERT statements failed: {failed}")))
    }
}

/// Runs `insert`, an `INSERT INTO …` of many rows, in `txn`; on SQLite as `INSERT OR FAIL`.
///
/// Inside a transaction, SQLite keeps a statement journal for a statement that writes several
/// rows: a copy of each page it changes, so that a failing row can undo that statement alone
/// (`ABORT`, the default). For a batch of 5,000 observations that is thousands of pages copied
/// to a temporary file: in sqlite3 over 1,000,000 observations (and the six indexes of the
/// time), a batch's INSERTs and commit took 250–260 ms with `OR FAIL` against 300–320 ms
/// without. `OR FAIL` keeps none: the failing statement stops and leaves the rows it wrote
/// before to the transaction, which the caller then rolls back, as every write here does when a
/// step fails. Hence a transaction, not any connection: outside one, those rows would stay.
pub async fn insert_in(txn: &DatabaseTransaction, mut insert: sea_orm::Statement) -> Result<(), sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    if insert.db_backend == sea_orm::DatabaseBackend::Sqlite
        && let Some(rest) = insert.sql.strip_prefix("INSERT INTO ")
    {
        insert.sql = format!("INSERT OR FAIL INTO {rest}");
    }
    txn.execute_raw(insert).await.map(|_| ())
}

/// How many rows of `columns` columns one multi-row INSERT may carry.
pub const fn rows_per_insert(columns: usize) -> usize {
    let rows = MAX_BIND_PARAMETERS / if columns == 0 { 1 } else { columns };
    if rows == 0 { 1 } else { rows }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://obs:s3cret@db:5432/obs"),
            "postgres://obs:***@db:5432/obs"
        );
        assert_eq!(redact("postgres://obs@db/obs"), "postgres://obs@db/obs");
        assert_eq!(
            redact("sqlite://data/obs.sqlite?mode=rwc"),
            "sqlite://data/obs.sqlite?mode=rwc"
        );
    }
}

#[cfg(test)]
mod json_array_tests {
    use sea_orm::{
        DatabaseBackend,
        sea_query::{Expr, PostgresQueryBuilder, Query, SqliteQueryBuilder},
    };

    use super::in_json_array;

    #[test]
    fn values_are_one_json_array_parameter_on_both_backends() {
        let select = |backend| {
            Query::select()
                .column("id")
                .from("things")
                .and_where(in_json_array(backend, Expr::col(("things", "id")), &["a", "b\"c"]))
                .to_owned()
        };
        let (sql, values) = select(DatabaseBackend::Sqlite).build(SqliteQueryBuilder);
        assert_eq!(
            sql,
            r#"SELECT "id" FROM "things" WHERE "things"."id" IN (SELECT value FROM json_each(?))"#
        );
        assert_eq!(values.0, vec![sea_orm::Value::from(r#"["a","b\"c"]"#)]);
        let (sql, _) = select(DatabaseBackend::Postgres).build(PostgresQueryBuilder);
        assert_eq!(
            sql,
            r#"SELECT "id" FROM "things" WHERE "things"."id" = ANY(ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))"#
        );
    }
}
