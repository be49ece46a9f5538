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
//! connection back:
//! - when a query fails (the connection may be broken: the next query takes another);
//! - after 30 s without a query ([`QUIET`], checked every 30 s), so that an idle service holds
//!   nothing and the pool's idle timeout, lifetime and checks apply to the connection again;
//! - when the pool closes, which waits for every connection to come back.
//!
//! While held, the connection counts against the pool's maximum; a pool of fewer than two
//! connections keeps none, so that everything else always has one. One query runs at a time:
//! the callers are meant to be one at a time already (a [`crate::coalesce::Coalescer`] of
//! concurrency 1).

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    sqlx::{PgPool, Postgres, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// After this long without a query the connection goes back to the pool.
pub const QUIET: Duration = Duration::from_secs(30);

pub struct HeldConnection {
    pool: PgPool,
    quiet: Duration,
    held: Mutex<Option<(PoolConnection<Postgres>, Instant)>>,
}

impl HeldConnection {
    /// A held connection of `db`'s pool when `db` is PostgreSQL with a pool of two connections
    /// or more; `None` otherwise. SQLite's pool tests a connection given back too, but in its
    /// own thread, without a round trip. Within a runtime only (it starts the task that gives
    /// the connection back); `None` outside one.
    pub fn of(db: &DatabaseConnection) -> Option<Arc<Self>> {
        Self::given_back_after(db, QUIET)
    }

    /// [`HeldConnection::of`], given back after `quiet` without a query rather than [`QUIET`].
    pub fn given_back_after(db: &DatabaseConnection, quiet: Duration) -> Option<Arc<Self>> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        if pool.options().get_max_connections() < 2 {
            return None;
        }
        let closing = pool.close_event();
        let held = Arc::new(HeldConnection {
            pool,
            quiet,
            held: Mutex::new(None),
        });
        runtime.spawn(give_back(Arc::downgrade(&held), closing));
        Some(held)
    }

    /// Runs `statement` (built for PostgreSQL) on the held connection and returns its rows, as
    /// `ConnectionTrait::query_all_raw` would through the pool.
    pub async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut held = self.held.lock().await;
        let mut connection = match held.take() {
            Some((connection, last_used)) if last_used.elapsed() < self.quiet => connection,
            stale => {
                // Back to the pool (which checks it) before another is taken: with every other
                // connection in use, the pool could otherwise lend nothing.
                drop(stale);
                self.pool.acquire().await.map_err(sqlx_error)?
            }
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
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// Whether a connection is held now.
    pub async fn is_holding(&self) -> bool {
        self.held.lock().await.is_some()
    }
}

/// Gives the connection of `held` back after its quiet time without a query, and when the pool
/// closes; ends with the pool or with `held`.
async fn give_back(held: Weak<HeldConnection>, closing: sea_orm::sqlx::pool::CloseEvent) {
    let Some(quiet) = held.upgrade().map(|held| held.quiet) else {
        return;
    };
    tokio::pin!(closing);
    loop {
        let closed = tokio::select! {
            () = &mut closing => true,
            () = tokio::time::sleep(quiet) => false,
        };
        let Some(held) = held.upgrade() else {
            return;
        };
        let mut slot = held.held.lock().await;
        if closed || slot.as_ref().is_some_and(|(_, last_used)| last_used.elapsed() >= quiet) {
            slot.take();
        }
        if closed {
            return;
        }
    }
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}
