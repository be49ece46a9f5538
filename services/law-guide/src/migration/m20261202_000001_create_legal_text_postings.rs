//! The search index as postings: one row per term and text, keyed by term first so a query reads
//! the postings of its terms only, carrying the per-field counts and the text's length so that
//! ranking needs no other read. Replaces `legal_text_terms` (one row per term, text and field,
//! read alongside every text's length), and fills the new table from the stored texts. Adds the
//! index's state: its version, which every write increments, so searches can keep rankings
//! until it moves, and the number of texts and their total length, which BM25 needs.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, TransactionTrait},
};

use crate::{entity::legal_text, resource, store};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Texts indexed per round of the backfill.
const BACKFILL_CHUNK: u64 = 200;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("legal_text_postings")
                    .if_not_exists()
                    .col(text("term"))
                    .col(text("legal_text_id"))
                    .col(integer("title"))
                    .col(integer("summary"))
                    .col(integer("provisions"))
                    .col(big_integer("length"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("legal_text_postings", "legal_text_id")
                            .to("legal_texts", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Every column, term first: a query's postings are read from the index alone (an
        // index-only scan), term after term, not gathered from rows spread over the table.
        manager
            .create_index(
                Index::create()
                    .name("legal_text_postings_term_idx")
                    .table("legal_text_postings")
                    .col("term")
                    .col("legal_text_id")
                    .col("title")
                    .col("summary")
                    .col("provisions")
                    .col("length")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("legal_text_postings_legal_text_id_idx")
                    .table("legal_text_postings")
                    .col("legal_text_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(store::INDEX_VERSION_TABLE)
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(big_integer("version"))
                    .col(big_integer("texts"))
                    .col(big_integer("total_length"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute(
            &Query::insert()
                .into_table(store::INDEX_VERSION_TABLE)
                .columns(["id", "version", "texts", "total_length"])
                .values_panic([1.into(), 0.into(), 0.into(), 0.into()])
                .on_conflict(OnConflict::column("id").do_nothing().to_owned())
                .to_owned(),
        )
        .await?;
        let mut offset = 0;
        loop {
            let rows = legal_text::Entity::find()
                .order_by_asc(legal_text::Column::Id)
                .offset(offset)
                .limit(BACKFILL_CHUNK)
                .all(db)
                .await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as u64;
            let mut postings = Vec::new();
            for row in &rows {
                let text = resource::from_row(row).map_err(|error| DbErr::Migration(error.to_string()))?;
                postings.extend(resource::postings(&resource::index(&text), &row.id));
            }
            // Each chunk's postings together or not at all (SQLite runs migrations outside a
            // transaction; on PostgreSQL this is a savepoint in the migration's).
            let txn = db.begin().await?;
            store::insert_postings(&txn, postings)
                .await
                .map_err(|error| DbErr::Migration(error.to_string()))?;
            txn.commit().await?;
        }
        let (texts, total_length) = store::count_collection(db)
            .await
            .map_err(|error| DbErr::Migration(error.to_string()))?;
        db.execute(
            &Query::update()
                .table(store::INDEX_VERSION_TABLE)
                .values([("texts", texts.into()), ("total_length", total_length.into())])
                .to_owned(),
        )
        .await?;
        manager
            .drop_table(Table::drop().table("legal_text_terms").if_exists().to_owned())
            .await
    }

    /// Back to the previous table, empty: the previous release rebuilds nothing, so searches
    /// find nothing until texts are written again.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["legal_text_postings", store::INDEX_VERSION_TABLE] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
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
                    .to_owned(),
            )
            .await
    }
}
