//! The schema of the law guide, one file per migration. Applied migrations are recorded in
//! `law_guide_migrations`, apart from other services sharing the database.

use sea_orm_migration::{MigrationTrait, MigratorTrait, sea_orm::DynIden};

mod m20261201_000001_create_legal_texts;
mod m20261202_000001_create_legal_text_postings;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261201_000001_create_legal_texts::Migration),
            Box::new(m20261202_000001_create_legal_text_postings::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "law_guide_migrations".into()
    }
}
