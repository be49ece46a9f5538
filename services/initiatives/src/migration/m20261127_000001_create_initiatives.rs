//! Initiatives, their facets (one row per value of a repeated field) and request records.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("initiatives")
                    .if_not_exists()
                    .col(text("id").primary_key())
                    .col(text("display_name"))
                    .col(text("description"))
                    .col(text("legal_form"))
                    .col(text("status"))
                    .col(text("start_date"))
                    .col(big_integer("create_time"))
                    .col(big_integer("update_time"))
                    .col(big_integer_null("delete_time"))
                    .col(text("etag"))
                    .col(text("resource"))
                    .to_owned(),
            )
            .await?;
        for column in ["display_name", "create_time", "update_time", "start_date"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("initiatives_{column}_idx"))
                        .table("initiatives")
                        .col(column)
                        .col("id")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(crate::store::FACETS.create_table("initiatives", "id"))
            .await?;
        manager.create_index(crate::store::FACETS.lookup_index()).await?;
        manager.create_table(crate::store::REQUEST_LOG.create_table()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["initiative_requests", "initiative_facets", "initiatives"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
