//! Indexes that keep Lists fast at scale (100,000 initiatives and more): live rows by id (the
//! default order, and counting), facet values with their owners (a filter reads the index
//! alone), and substring search over the text fields: trigrams (pg_trgm) on PostgreSQL, an
//! FTS5 trigram table kept in step by triggers on SQLite (see `store::FILTER_SCHEMA`).
//!
//! The FTS5 table is keyed by the rowid of `initiatives`, which only an explicit `VACUUM` may
//! renumber (the table's key is text): after one, rebuild it with
//! `INSERT INTO initiatives_text (initiatives_text) VALUES ('rebuild')` (README, Operations).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::store::FACETS;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The text columns a substring filter or a bare value searches.
const TEXT_COLUMNS: [&str; 3] = ["id", "display_name", "description"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS initiatives_live_idx ON initiatives (id) WHERE delete_time IS NULL",
        )
        .await?;
        manager.create_index(FACETS.value_index()).await?;
        manager
            .drop_index(Index::drop().name(FACETS.lookup_index_name()).if_exists().to_owned())
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
                for column in TEXT_COLUMNS {
                    db.execute_unprepared(&format!(
                        "CREATE INDEX IF NOT EXISTS initiatives_{column}_trgm_idx \
                         ON initiatives USING gin (lower({column}) gin_trgm_ops)"
                    ))
                    .await?;
                }
            }
            _ => {
                let columns = TEXT_COLUMNS.join(", ");
                let new_values = TEXT_COLUMNS.map(|column| format!("new.{column}")).join(", ");
                let old_values = TEXT_COLUMNS.map(|column| format!("old.{column}")).join(", ");
                db.execute_unprepared(&format!(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS initiatives_text USING fts5({columns}, \
                     content='initiatives', content_rowid='rowid', tokenize='trigram')"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_insert AFTER INSERT ON initiatives BEGIN \
                     INSERT INTO initiatives_text (rowid, {columns}) VALUES (new.rowid, {new_values}); END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_delete AFTER DELETE ON initiatives BEGIN \
                     INSERT INTO initiatives_text (initiatives_text, rowid, {columns}) \
                     VALUES ('delete', old.rowid, {old_values}); END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS initiatives_text_update AFTER UPDATE OF {columns} ON initiatives BEGIN \
                     INSERT INTO initiatives_text (initiatives_text, rowid, {columns}) \
                     VALUES ('delete', old.rowid, {old_values}); \
                     INSERT INTO initiatives_text (rowid, {columns}) VALUES (new.rowid, {new_values}); END"
                ))
                .await?;
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
                for column in TEXT_COLUMNS {
                    db.execute_unprepared(&format!("DROP INDEX IF EXISTS initiatives_{column}_trgm_idx"))
                        .await?;
                }
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
