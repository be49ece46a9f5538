//! The schema of the indicators service, one file per migration. Applied migrations are
//! recorded in `indicators_migrations`, apart from other services sharing the database.

use sea_orm_migration::{MigrationTrait, MigratorTrait, sea_orm::DynIden};

mod m20261127_000001_create_indicators;
mod m20261130_000001_index_observations_for_export;
mod m20261130_000002_cover_observations_by_initiative;
mod m20261201_000001_lead_observations_by_indicator_and_initiative;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_indicators::Migration),
            Box::new(m20261130_000001_index_observations_for_export::Migration),
            Box::new(m20261130_000002_cover_observations_by_initiative::Migration),
            Box::new(m20261201_000001_lead_observations_by_indicator_and_initiative::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "indicators_migrations".into()
    }
}
