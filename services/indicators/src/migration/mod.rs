//! The schema of the indicators service, one file per migration. Applied migrations are
//! recorded in `indicators_migrations`, apart from other services sharing the database.

use sea_orm_migration::{
    MigrationTrait, MigratorTrait,
    prelude::{DbErr, Index, SchemaManager},
    sea_orm::{ConnectionTrait, DynIden},
};

mod m20261127_000001_create_indicators;
mod m20261130_000001_index_observations_for_export;
mod m20261130_000002_cover_observations_by_initiative;
mod m20261201_000001_lead_observations_by_indicator_and_initiative;
mod m20261202_000001_seek_initiatives_per_indicator;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_indicators::Migration),
            Box::new(m20261130_000001_index_observations_for_export::Migration),
            Box::new(m20261130_000002_cover_observations_by_initiative::Migration),
            Box::new(m20261201_000001_lead_observations_by_indicator_and_initiative::Migration),
            Box::new(m20261202_000001_seek_initiatives_per_indicator::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "indicators_migrations".into()
    }
}

/// An index of `observations`: its name and columns.
type IndexSpec = (&'static str, &'static [&'static str]);

/// Creates the index `name` on `observations` over `columns`, unless it exists.
async fn create_index(manager: &SchemaManager<'_>, (name, columns): IndexSpec) -> Result<(), DbErr> {
    let mut index = Index::create()
        .name(name)
        .table("observations")
        .if_not_exists()
        .to_owned();
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index).await
}

/// Drops the index `name`, if it exists.
async fn drop_index(manager: &SchemaManager<'_>, (name, _): IndexSpec) -> Result<(), DbErr> {
    // Plain SQL: the builder's drop names the table as SQLite's schema (`observations.…`).
    manager
        .get_connection()
        .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
        .await
        .map(|_| ())
}

/// The indexes of `observations` but its primary key's, in name order.
#[cfg(test)]
async fn observation_indexes(db: &impl ConnectionTrait) -> Vec<String> {
    use sea_orm_migration::sea_orm::{DbBackend, Statement};
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT indexname AS name FROM pg_indexes \
             WHERE tablename = 'observations' AND indexname <> 'observations_pkey'"
        }
        // The primary key's own index has no SQL.
        _ => "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'observations' AND sql IS NOT NULL",
    };
    let mut names: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("indexes")
        .iter()
        .map(|row| row.try_get("", "name").expect("name"))
        .collect();
    names.sort();
    names
}
