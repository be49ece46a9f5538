//! An index in the export order of the time, so ExportObservations reads keyset pages by index
//! range, however large the table (replaced by `m20261201_000001`). Aggregation needs no new index: it reads every
//! figure of an indicator (`observations_indicator_idx`), and progress every figure of an
//! initiative (`observations_initiative_idx`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index in the export order of the time; a migration keeps its own copy, as it ran.
pub(super) const EXPORT: super::IndexSpec = (
    "observations_export_idx",
    &[
        "indicator",
        "ref_area",
        "initiative",
        "status",
        "period_start",
        "period_end",
        "name",
    ],
);

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_index(manager, EXPORT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_index(manager, EXPORT).await
    }
}
