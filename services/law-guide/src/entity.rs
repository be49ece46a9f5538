//! The tables of the law guide. A legal text is stored whole, as its proto3 JSON in `resource`,
//! with the fields that List filters and sorts on copied into columns; its repeated values that
//! filters reach go into `legal_text_facets`, its search index into `legal_text_postings`, and each
//! state an update or delete replaces into `legal_text_revisions`. Requests with a `request_id`
//! are recorded in `legal_text_requests` (see `store::REQUEST_LOG`).

pub mod legal_text {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "legal_texts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub jurisdiction: String,
        /// Enums as their short names, e.g. `NATIONAL`, `FRAMEWORK_LAW`, `IN_FORCE`.
        #[sea_orm(column_type = "Text")]
        pub level: String,
        #[sea_orm(column_type = "Text")]
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub status: String,
        #[sea_orm(column_type = "Text")]
        pub language: String,
        #[sea_orm(column_type = "Text")]
        pub number: String,
        #[sea_orm(column_type = "Text")]
        pub title: String,
        #[sea_orm(column_type = "Text")]
        pub title_en: String,
        #[sea_orm(column_type = "Text")]
        pub summary: String,
        /// `YYYY-MM-DD`, unknown parts as `01` (see `filter::date_column`); `''` when unknown.
        #[sea_orm(column_type = "Text")]
        pub adoption_date: String,
        #[sea_orm(column_type = "Text")]
        pub publication_date: String,
        #[sea_orm(column_type = "Text")]
        pub entry_into_force_date: String,
        /// Microseconds since the Unix epoch.
        pub create_time: i64,
        pub update_time: i64,
        #[sea_orm(column_type = "Text")]
        pub etag: String,
        /// How many words the search index holds for the text, each weighted by its field.
        pub search_length: i64,
        /// The whole legal text as proto3 JSON.
        #[sea_orm(column_type = "Text")]
        pub resource: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The search index, one posting per term and text: how often the term (see `analysis`) occurs
/// in each field of the text, and the text's weighted length, so that a query reads the postings
/// of its terms and nothing else.
pub mod posting {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "legal_text_postings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub term: String,
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub legal_text_id: String,
        /// Occurrences in the number and titles.
        pub title: i32,
        pub summary: i32,
        /// Occurrences in the provisions' headings and texts.
        pub provisions: i32,
        /// The text's `search_length`.
        pub length: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Earlier states of legal texts. They outlive the text: a deleted text's history stays.
pub mod revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "legal_text_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub legal_text_id: String,
        /// 1 for a text's oldest revision, then 2, 3…
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision_id: i64,
        /// `UPDATE` or `DELETE`: what ended this state.
        #[sea_orm(column_type = "Text")]
        pub change: String,
        pub revision_create_time: i64,
        /// The legal text as it was, as proto3 JSON.
        #[sea_orm(column_type = "Text")]
        pub resource: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
