//! The schema of the initiatives service, one file per migration. Applied migrations are
//! recorded in `initiatives_migrations`, apart from other services sharing the database.

use sea_orm_migration::{MigrationTrait, MigratorTrait, sea_orm::DynIden};

mod m20261127_000001_create_initiatives;
mod m20261130_000002_list_indexes;
mod m20261130_000003_facets_checked_by_the_store;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_initiatives::Migration),
            Box::new(m20261130_000002_list_indexes::Migration),
            Box::new(m20261130_000003_facets_checked_by_the_store::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "initiatives_migrations".into()
    }
}
