//! On PostgreSQL, `initiative_facets` loses its foreign key to `initiatives`. PostgreSQL checks a
//! foreign key with a query per inserted row: 12 of the 50 ms a BatchCreateInitiatives of 1,000
//! spends in the database (3,750 facet rows). The facets are an index of each initiative's
//! repeated fields, which the store writes in the transaction that writes the initiative, and
//! initiatives are never deleted, only marked so: the key had nothing left to catch. Lists read
//! facets only through their initiative (`EXISTS` from `initiatives`), so a facet row without
//! one could not surface anyway.
//!
//! SQLite keeps the key: its check is an in-process B-tree lookup, and dropping a constraint
//! there means rebuilding the table.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The name PostgreSQL gave the key when the first migration created the table.
const FOREIGN_KEY: &str = "initiative_facets_initiative_id_fkey";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE initiative_facets DROP CONSTRAINT IF EXISTS {FOREIGN_KEY}"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE initiative_facets ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (initiative_id) \
                     REFERENCES initiatives (id) ON DELETE CASCADE"
                ))
                .await?;
        }
        Ok(())
    }
}
