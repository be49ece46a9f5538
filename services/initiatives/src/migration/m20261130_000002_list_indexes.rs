//! Indexes that keep Lists fast at scale (100,000 initiatives and more): live rows in each order
//! (the `id` one serves counting too), facet values with their owners (a filter reads the index
//! alone), and substring search over display names: trigrams (pg_trgm) on PostgreSQL, an FTS5
//! trigram table kept in step by triggers on SQLite (see `store::FILTER_SCHEMA`). Each index
//! costs every write, so descriptions, searched less, are not indexed.
//!
//! The FTS5 table is keyed by the rowid of `initiatives`, which only an explicit `VACUUM` may
//! renumber (the table's key is text): after one, rebuild it with
//! `INSERT INTO initiatives_text (initiatives_text) VALUES ('rebuild')` (see the README).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::store::FACETS;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The orders of ListInitiatives, by column (`name` is `id`).
const LIVE_ORDERS: [&str; 5] = ["id", "display_name", "start_date", "create_time", "update_time"];

/// The orders the first migration indexed over every row, deleted ones included; the live
/// indexes replace them (a `show_deleted` List in one of these orders sorts instead).
const ALL_ROW_ORDERS: [&str; 4] = ["display_name", "create_time", "update_time", "start_date"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Lists show live rows unless asked: each order has an index of live rows alone, which
        // the planners prefer to sorting every live row (SQLite otherwise takes the id index for
        // its `delete_time IS NULL` and sorts 100,000 rows for a page of 50).
        for column in LIVE_ORDERS {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS initiatives_live_{column}_idx ON initiatives ({}) WHERE delete_time IS NULL",
                if column == "id" { "id".to_owned() } else { format!("{column}, id") }
            ))
            .await?;
        }
        for column in ALL_ROW_ORDERS {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS initiatives_{column}_idx"))
                .await?;
        }
        manager.create_index(FACETS.value_index()).await?;
        manager
            .drop_index(Index::drop().name(FACETS.lookup_index_name()).if_exists().to_owned())
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
                db.execute_unprepared(
                    "CREATE INDEX IF NOT EXISTS initiatives_display_name_trgm_idx \
                     ON initiatives USING gin (lower(display_name) gin_trgm_ops)",
                )
                .await?;
            }
            _ => {
                for statement in [
                    "CREATE VIRTUAL TABLE IF NOT EXISTS initiatives_text USING fts5(display_name, \
                     content='initiatives', content_rowid='rowid', tokenize='trigram')",
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_insert AFTER INSERT ON initiatives BEGIN \
                     INSERT INTO initiatives_text (rowid, display_name) VALUES (new.rowid, new.display_name); END",
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_delete AFTER DELETE ON initiatives BEGIN \
                     INSERT INTO initiatives_text (initiatives_text, rowid, display_name) \
                     VALUES ('delete', old.rowid, old.display_name); END",
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_update AFTER UPDATE OF display_name ON initiatives \
                     BEGIN INSERT INTO initiatives_text (initiatives_text, rowid, display_name) \
                     VALUES ('delete', old.rowid, old.display_name); \
                     INSERT INTO initiatives_text (rowid, display_name) VALUES (new.rowid, new.display_name); END",
                ] {
                    db.execute_unprepared(statement).await?;
                }
                db.execute_unprepared("INSERT INTO initiatives_text (initiatives_text) VALUES ('rebuild')")
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX IF EXISTS initiatives_display_name_trgm_idx")
                    .await?;
            }
            _ => {
                for trigger in ["insert", "delete", "update"] {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS initiatives_text_{trigger}"))
                        .await?;
                }
                db.execute_unprepared("DROP TABLE IF EXISTS initiatives_text").await?;
            }
        }
        manager.create_index(FACETS.lookup_index()).await?;
        manager
            .drop_index(Index::drop().name(FACETS.value_index_name()).if_exists().to_owned())
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS initiatives_live_idx")
            .await?;
        Ok(())
    }
}
