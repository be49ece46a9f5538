//! The tables of the indicators service. Each resource is stored whole as proto3 JSON in
//! `resource`, with the fields that filters, sorts and aggregation read copied into columns.

pub mod indicator {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "indicators")]
    pub struct Model {
        /// The code, the last part of `indicators/{code}`.
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub display_name: String,
        #[sea_orm(column_type = "Text")]
        pub unit: String,
        #[sea_orm(column_type = "Text")]
        pub category: String,
        #[sea_orm(column_type = "Text")]
        pub aggregation: String,
        /// Microseconds since the Unix epoch, as are the other times.
        pub create_time: i64,
        pub update_time: i64,
        pub delete_time: Option<i64>,
        #[sea_orm(column_type = "Text")]
        pub etag: String,
        #[sea_orm(column_type = "Text")]
        pub resource: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod observation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "observations")]
    pub struct Model {
        /// The full name, `indicators/{code}/observations/{id}`: unique, and what keyset
        /// pagination ends its order with.
        #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
        pub name: String,
        /// `indicators/{code}`.
        #[sea_orm(column_type = "Text")]
        pub indicator: String,
        /// `initiatives/{id}`, or `''` for a figure about no initiative.
        #[sea_orm(column_type = "Text")]
        pub initiative: String,
        #[sea_orm(column_type = "Text")]
        pub ref_area: String,
        /// As written, e.g. `2007/2020`.
        #[sea_orm(column_type = "Text")]
        pub time_period: String,
        /// The period's first and last day, `YYYY-MM-DD`.
        #[sea_orm(column_type = "Text")]
        pub period_start: String,
        #[sea_orm(column_type = "Text")]
        pub period_end: String,
        /// The year the period ends in.
        pub year: i32,
        pub value: f64,
        #[sea_orm(column_type = "Text")]
        pub status: String,
        #[sea_orm(column_type = "Text")]
        pub source_title: String,
        #[sea_orm(column_type = "Text")]
        pub source_publisher: String,
        #[sea_orm(column_type = "Text")]
        pub source_url: String,
        /// The source's publication date as `YYYY-MM-DD` (unknown parts as `01`); `''` if none.
        #[sea_orm(column_type = "Text")]
        pub source_date: String,
        pub create_time: i64,
        pub update_time: i64,
        pub delete_time: Option<i64>,
        #[sea_orm(column_type = "Text")]
        pub etag: String,
        #[sea_orm(column_type = "Text")]
        pub resource: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
