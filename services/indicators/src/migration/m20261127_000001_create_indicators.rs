//! Indicators with their SDG facets, observations, and request records.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("indicators")
                    .if_not_exists()
                    .col(text("id").primary_key())
                    .col(text("display_name"))
                    .col(text("unit"))
                    .col(text("category"))
                    .col(text("aggregation"))
                    .col(big_integer("create_time"))
                    .col(big_integer("update_time"))
                    .col(big_integer_null("delete_time"))
                    .col(text("etag"))
                    .col(text("resource"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(crate::store::INDICATOR_FACETS.create_table("indicators", "id"))
            .await?;
        manager
            .create_index(crate::store::INDICATOR_FACETS.lookup_index())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("observations")
                    .if_not_exists()
                    .col(text("name").primary_key())
                    .col(text("indicator"))
                    .col(text("initiative"))
                    .col(text("ref_area"))
                    .col(text("time_period"))
                    .col(text("period_start"))
                    .col(text("period_end"))
                    .col(integer("year"))
                    .col(double("value"))
                    .col(text("status"))
                    .col(text("source_title"))
                    .col(text("source_publisher"))
                    .col(text("source_url"))
                    .col(text("source_date"))
                    .col(big_integer("create_time"))
                    .col(big_integer("update_time"))
                    .col(big_integer_null("delete_time"))
                    .col(text("etag"))
                    .col(text("resource"))
                    .to_owned(),
            )
            .await?;
        let indexes: [super::IndexSpec; 4] = [
            ("observations_indicator_idx", &["indicator", "name"]),
            ("observations_initiative_idx", &["initiative", "indicator"]),
            ("observations_period_idx", &["period_end", "name"]),
            ("observations_create_time_idx", &["create_time", "name"]),
        ];
        for index in indexes {
            super::create_index(manager, index).await?;
        }
        manager.create_table(crate::store::REQUEST_LOG.create_table()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["indicator_requests", "observations", "indicator_facets", "indicators"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
