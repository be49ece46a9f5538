//! One index led by indicator then initiative, `observations_indicator_initiative_idx`, replaces
//! `observations_export_idx` (indicator, ref_area, initiative, …) and, on SQLite,
//! `observations_live_initiative_idx` (initiative, indicator, delete_time).
//!
//! Each index an insert has to find a random place in costs a write-ahead-log page per row or
//! so. The initiative-led one spans every indicator's observations, so a batch of 5,000 into one
//! indicator touched about as many of its pages as it wrote rows: over 1,000,000 observations
//! on SQLite, 5,600–6,100 pages a batch with it, 1,300–1,650 without it, and 250 ms against
//! 100–130 ms for the INSERTs and their checkpoint.
//!
//! The new index serves what the two did:
//! - the export reads keyset pages by its range, in the new export order (`store::EXPORT_ORDER`,
//!   then `delete_time`, so the `delete_time IS NULL` test needs no row);
//! - aggregation by legal form or goal asks which initiatives an indicator's live figures are
//!   about (`store::observed_initiatives`): a covering scan of the indicator's range;
//! - figures of one initiative across indicators (GetProgress, an initiative's page):
//!   - SQLite skip-scans it, seeking each indicator's part for the initiative (`ANY(indicator)
//!     AND initiative=?` in its plan): under a millisecond over 1,000,000 observations. It needs
//!     the statistics of `ANALYZE`, which this migration gathers;
//!   - PostgreSQL has no skip-scan (before version 18), so it kept the initiative-led index,
//!     until the next migration (`m20261202_000001_seek_initiatives_per_indicator`).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const NEW: super::IndexSpec = (
    "observations_indicator_initiative_idx",
    &[
        "indicator",
        "initiative",
        "ref_area",
        "status",
        "period_start",
        "period_end",
        "name",
        "delete_time",
    ],
);
/// What this migration replaces, as the migrations that made them made them.
const EXPORT: super::IndexSpec = super::m20261130_000001_index_observations_for_export::EXPORT;
const BY_INITIATIVE: super::IndexSpec = super::m20261130_000002_cover_observations_by_initiative::NEW;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_index(manager, NEW).await?;
        super::drop_index(manager, EXPORT).await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            super::drop_index(manager, BY_INITIATIVE).await?;
            // The skip-scan needs the new index's statistics, once there are figures to count
            // (an empty table's would be wrong as soon as it fills; `observatory generate`
            // gathers them after loading, and SQLite's `optimize` as a connection closes).
            let db = manager.get_connection();
            let any = db
                .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT 1 FROM observations LIMIT 1",
                ))
                .await?;
            if any.is_some() {
                db.execute_unprepared("ANALYZE observations").await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_index(manager, EXPORT).await?;
        super::create_index(manager, BY_INITIATIVE).await?;
        super::drop_index(manager, NEW).await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::MigratorTrait;
    use sse_testkit::{Backend, TestDatabase, on_both_databases};

    use crate::migration::{Migrator, observation_indexes};

    on_both_databases!(observations_keep_only_the_indexes_their_queries_need);

    /// Every write pays for each index: these are the ones the queries need (see above), the
    /// initiative-led one on PostgreSQL only; `down` gives back the ones before.
    async fn observations_keep_only_the_indexes_their_queries_need(backend: Backend) {
        let database = TestDatabase::new(backend).await.expect("test database");
        let db = &database.connection;
        // Up to this migration.
        Migrator::up(db, Some(4)).await.expect("migrations");
        let mut now = vec![
            "observations_create_time_idx",
            "observations_indicator_idx",
            "observations_indicator_initiative_idx",
            "observations_period_idx",
        ];
        if backend == Backend::Postgres {
            now.push("observations_live_initiative_idx");
            now.sort_unstable();
        }
        assert_eq!(observation_indexes(db).await, now);
        Migrator::down(db, Some(1)).await.expect("down");
        assert_eq!(
            observation_indexes(db).await,
            [
                "observations_create_time_idx",
                "observations_export_idx",
                "observations_indicator_idx",
                "observations_live_initiative_idx",
                "observations_period_idx",
            ]
        );
        Migrator::up(db, Some(1)).await.expect("up again");
        assert_eq!(observation_indexes(db).await, now);
    }
}
