//! Legal texts, their facets, search terms, revisions and request records.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("legal_texts")
                    .if_not_exists()
                    .col(text("id").primary_key())
                    .col(text("jurisdiction"))
                    .col(text("level"))
                    .col(text("kind"))
                    .col(text("status"))
                    .col(text("language"))
                    .col(text("number"))
                    .col(text("title"))
                    .col(text("title_en"))
                    .col(text("summary"))
                    .col(text("adoption_date"))
                    .col(text("publication_date"))
                    .col(text("entry_into_force_date"))
                    .col(big_integer("create_time"))
                    .col(big_integer("update_time"))
                    .col(text("etag"))
                    .col(big_integer("search_length"))
                    .col(text("resource"))
                    .to_owned(),
            )
            .await?;
        for column in [
            "jurisdiction",
            "adoption_date",
            "publication_date",
            "entry_into_force_date",
            "create_time",
            "update_time",
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("legal_texts_{column}_idx"))
                        .table("legal_texts")
                        .col(column)
                        .col("id")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(crate::store::FACETS.create_table("legal_texts", "id"))
            .await?;
        manager.create_index(crate::store::FACETS.lookup_index()).await?;
        manager
            .create_table(
                Table::create()
                    .table("legal_text_terms")
                    .if_not_exists()
                    .col(text("legal_text_id"))
                    .col(text("field"))
                    .col(text("term"))
                    .col(integer("count"))
                    .primary_key(Index::create().col("legal_text_id").col("field").col("term"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("legal_text_terms", "legal_text_id")
                            .to("legal_texts", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("legal_text_terms_term_idx")
                    .table("legal_text_terms")
                    .col("term")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // No foreign key: revisions outlive the text they are of.
        manager
            .create_table(
                Table::create()
                    .table("legal_text_revisions")
                    .if_not_exists()
                    .col(text("legal_text_id"))
                    .col(big_integer("revision_id"))
                    .col(text("change"))
                    .col(big_integer("revision_create_time"))
                    .col(text("resource"))
                    .primary_key(Index::create().col("legal_text_id").col("revision_id"))
                    .to_owned(),
            )
            .await?;
        manager.create_table(crate::store::REQUEST_LOG.create_table()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "legal_text_requests",
            "legal_text_revisions",
            "legal_text_terms",
            "legal_text_facets",
            "legal_texts",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
