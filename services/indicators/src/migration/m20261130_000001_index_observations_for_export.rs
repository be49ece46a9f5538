//! An index in the export order of the time, so ExportObservations reads keyset pages by index
//! range, however large the table (replaced by `m20261201_000001`). Aggregation needs no new index: it reads every
//! figure of an indicator (`observations_indicator_idx`), and progress every figure of an
//! initiative (`observations_initiative_idx`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "observations_export_idx";
/// The export order this migration indexed; a migration keeps its own copy, as it ran.
const COLUMNS: [&str; 7] = [
    "indicator",
    "ref_area",
    "initiative",
    "status",
    "period_start",
    "period_end",
    "name",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut index = Index::create()
            .name(INDEX)
            .table("observations")
            .if_not_exists()
            .to_owned();
        for column in COLUMNS {
            index.col(column);
        }
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table("observations").to_owned())
            .await
    }
}
