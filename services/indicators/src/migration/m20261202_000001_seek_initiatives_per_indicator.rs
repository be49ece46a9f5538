//! PostgreSQL drops `observations_live_initiative_idx` (initiative, indicator, delete_time), as
//! SQLite did in the migration before: the figures of one initiative are found through
//! `observations_indicator_initiative_idx` instead, one seek per indicator.
//!
//! The initiative-led index spans every indicator's observations, so each row a batch writes
//! lands on its own page of it, and after a checkpoint each such page is written whole to the
//! write-ahead log. A batch of 5,000 observations over 1,000,000 (psql, rolled back, after a
//! checkpoint) took 550–630 ms without it against 730–1,090 ms with it.
//!
//! PostgreSQL has no skip-scan before version 18, so reads that name an initiative and not an
//! indicator say which indicators to seek: `indicator = ANY(every indicator)`
//! (`store::every_indicator`), whose index scan reads a few pages per indicator (3 ms for an
//! initiative's figures, ordered, where without it a scan of every row took 1.2 s).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What this migration drops, as the migration that made it made it.
const BY_INITIATIVE: super::IndexSpec = super::m20261130_000002_cover_observations_by_initiative::NEW;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            super::drop_index(manager, BY_INITIATIVE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            super::create_index(manager, BY_INITIATIVE).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::MigratorTrait;
    use sse_testkit::{Backend, TestDatabase, on_both_databases};

    use crate::migration::{Migrator, observation_indexes};

    on_both_databases!(both_databases_keep_the_same_indexes_of_observations);

    /// After every migration both databases have the same indexes of observations; `down`
    /// gives PostgreSQL its initiative-led one back.
    async fn both_databases_keep_the_same_indexes_of_observations(backend: Backend) {
        let database = TestDatabase::new(backend).await.expect("test database");
        let db = &database.connection;
        sse_platform::database::migrate::<Migrator>(db)
            .await
            .expect("migrations");
        let now = [
            "observations_create_time_idx",
            "observations_indicator_idx",
            "observations_indicator_initiative_idx",
            "observations_period_idx",
        ];
        assert_eq!(observation_indexes(db).await, now);
        Migrator::down(db, Some(1)).await.expect("down");
        let mut before = now.to_vec();
        if backend == Backend::Postgres {
            before.push("observations_live_initiative_idx");
            before.sort_unstable();
        }
        assert_eq!(observation_indexes(db).await, before);
        Migrator::up(db, None).await.expect("up again");
        assert_eq!(observation_indexes(db).await, now);
    }
}
