//! The tables of the initiatives service. An initiative is stored whole, as its proto3 JSON in
//! `resource`, with the fields that List filters and sorts on copied into columns; its repeated
//! fields are copied into `initiative_facets` (see `store::FACETS`), one row per value, for
//! `countries:"FR"` filters.

pub mod initiative {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "initiatives")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub display_name: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        #[sea_orm(column_type = "Text")]
        pub legal_form: String,
        #[sea_orm(column_type = "Text")]
        pub status: String,
        /// `YYYY-MM-DD`, unknown parts as `01` (see `filter::date_column`); `''` when unknown.
        #[sea_orm(column_type = "Text")]
        pub start_date: String,
        /// Microseconds since the Unix epoch, as are the other times.
        pub create_time: i64,
        pub update_time: i64,
        pub delete_time: Option<i64>,
        #[sea_orm(column_type = "Text")]
        pub etag: String,
        /// The whole initiative as proto3 JSON.
        #[sea_orm(column_type = "Text")]
        pub resource: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
