//! A PostgreSQL connection that one busy read path keeps between its queries.
//!
//! sqlx 0.9's pool tests every connection given back to it with a round trip to the server (a
//! `Sync` message and its `ReadyForQuery`), in a task of its own, whatever the connection did.
//! A path that runs thousands of small queries a second, GetInitiative's batch reads, paid that
//! round trip, the task and the database's wake-up on every query: 3.7% of the server's
//! samples while GetInitiative ran (`perf record --call-graph dwarf`, 16 connections, 100,000
//! initiatives). Held, five rounds of `sse-bench run --only reads` each: GetInitiative 9.6k–12.2k
//! calls a second (median 11.6k) and 75–88 µs of server CPU a call (median 77), against
//! 8.8k–10.6k (10.1k) and 81–91 µs (86).
//!
//! A [`HeldConnection`] takes a connection from the pool for its first query and keeps it, so
//! its queries follow one another on that connection with nothing in between. It gives the
//! connection back when a query fails (the connection may be broken: the next query takes
//! another) and before a query that comes after 30 s of quiet, so that an idle connection is
//! checked, as the pool checks those it hands out ([`super::connect_with`]), and when the pool
//! closes, which waits for every connection to come back. While held, the connection counts
//! against the pool's maximum. One query runs at a time: the callers are meant to be one at a
//! time already (a [`crate::coalesce::Coalescer`] of concurrency 1).

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement,
    sqlx::{PgPool, Postgres, pool::PoolConnection, postgres::PgRow},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// After this long without a query the connection goes back to the pool, which checks it when
/// it hands it out again.
const QUIET: Duration = Duration::from_secs(30);

pub struct HeldConnection {
    pool: PgPool,
    held: Mutex<Option<(PoolConnection<Postgres>, Instant)>>,
}

impl HeldConnection {
    /// A held connection of `db`'s pool when `db` is PostgreSQL; `None` otherwise (SQLite's
    /// pool does not test connections on their way back). Call it within the runtime: it
    /// starts the task that gives the connection back when the pool closes.
    pub fn of(db: &DatabaseConnection) -> Option<Arc<Self>> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let closing = pool.close_event();
        let held = Arc::new(HeldConnection {
            pool,
            held: Mutex::new(None),
        });
        let watched: Weak<Self> = Arc::downgrade(&held);
        tokio::spawn(async move {
            closing.await;
            if let Some(held) = watched.upgrade() {
                held.held.lock().await.take();
            }
        });
        Some(held)
    }

    /// Runs `statement` (built for PostgreSQL) on the held connection and returns its rows.
    pub async fn fetch_all(&self, statement: Statement) -> Result<Vec<PgRow>, DbErr> {
        let mut held = self.held.lock().await;
        let mut connection = match held.take() {
            Some((connection, last_used)) if last_used.elapsed() < QUIET => connection,
            // Dropping it gives it back to the pool, which checks it.
            _ => self.pool.acquire().await.map_err(sqlx_error)?,
        };
        let values = SqlxValues(statement.values.unwrap_or(sea_orm::Values(Vec::new())));
        // Built by sea-query, values bound as parameters, as sea-orm runs it.
        let rows = sea_orm::sqlx::query_with(sea_orm::sqlx::AssertSqlSafe(statement.sql), values)
            .fetch_all(&mut *connection)
            .await
            .map_err(sqlx_error)?;
        // A pool that began closing meanwhile gets it back now (dropped, it returns to the pool).
        if !self.pool.is_closed() {
            *held = Some((connection, Instant::now()));
        }
        Ok(rows)
    }
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}
