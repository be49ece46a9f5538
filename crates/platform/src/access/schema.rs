//! The tables of partner access: `api_keys` in the access store, and `audit_events` in every
//! service's database (an event commits in the transaction of the write it records; see
//! `audit`). Applied migrations are recorded in `access_migrations`, apart from the services'.

use sea_orm_migration::{MigrationTrait, MigratorTrait, prelude::*, schema::*, sea_orm::DynIden};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateAccessTables)]
    }

    fn migration_table_name() -> DynIden {
        "access_migrations".into()
    }
}

struct CreateAccessTables;

impl MigrationName for CreateAccessTables {
    fn name(&self) -> &str {
        "m20261130_000001_create_access_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAccessTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(text("id").primary_key())
                    .col(text("display_name"))
                    .col(text("scopes"))
                    .col(text("key_hash").unique_key())
                    .col(text("key_prefix"))
                    .col(big_integer("create_time"))
                    .col(big_integer_null("expire_time"))
                    .col(big_integer_null("revoke_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_create_time_idx")
                    .table("api_keys")
                    .col("create_time")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .if_not_exists()
                    .col(text("id").primary_key())
                    .col(big_integer("event_time"))
                    .col(text("caller"))
                    .col(text("method"))
                    .col(text("resource"))
                    .col(text("request_id"))
                    .col(text("code"))
                    .col(text("service"))
                    .to_owned(),
            )
            .await?;
        for column in ["event_time", "caller"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("audit_events_{column}_idx"))
                        .table("audit_events")
                        .col(column)
                        .col("id")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_events", "api_keys"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub display_name: String,
        /// The scopes, separated by spaces.
        #[sea_orm(column_type = "Text")]
        pub scopes: String,
        /// SHA-256 of the secret, in hex: the secret itself is never stored.
        #[sea_orm(column_type = "Text")]
        pub key_hash: String,
        #[sea_orm(column_type = "Text")]
        pub key_prefix: String,
        /// Microseconds since the Unix epoch, as are the other times.
        pub create_time: i64,
        pub expire_time: Option<i64>,
        pub revoke_time: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        /// A UUIDv7: unique across services, in time order.
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        pub event_time: i64,
        #[sea_orm(column_type = "Text")]
        pub caller: String,
        #[sea_orm(column_type = "Text")]
        pub method: String,
        #[sea_orm(column_type = "Text")]
        pub resource: String,
        #[sea_orm(column_type = "Text")]
        pub request_id: String,
        #[sea_orm(column_type = "Text")]
        pub code: String,
        #[sea_orm(column_type = "Text")]
        pub service: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
