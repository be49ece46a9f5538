//! The facet table of a resource: one row per value of each repeated field that filters reach
//! (`countries`, `topics`…), so that `countries:"FR"` is an `EXISTS` over an index, the same on
//! SQLite and PostgreSQL.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement,
    sea_query::{
        ColumnDef, Expr, ExprTrait, ForeignKey, ForeignKeyAction, Index, IndexCreateStatement, OnConflict, Query,
        Table, TableCreateStatement,
    },
};

use super::FacetTable;
use crate::{database, error::ServiceResult};

/// Facet rows one INSERT carries (each a short JSON array in its one parameter).
const FACET_ROWS_PER_INSERT: usize = 10_000;

impl FacetTable {
    /// A facet table whose rows are (`owner_column`, `field`, `value`).
    pub const fn new(table: &'static str, owner_column: &'static str) -> FacetTable {
        FacetTable {
            table,
            owner_column,
            field_column: "field",
            value_column: "value",
        }
    }

    /// The table, for the owner's migration: its rows go with their owner.
    pub fn create_table(&self, owner_table: &str, owner_key: &str) -> TableCreateStatement {
        Table::create()
            .table(self.table)
            .if_not_exists()
            .col(ColumnDef::new(self.owner_column).text().not_null())
            .col(ColumnDef::new(self.field_column).text().not_null())
            .col(ColumnDef::new(self.value_column).text().not_null())
            .primary_key(
                Index::create()
                    .col(self.owner_column)
                    .col(self.field_column)
                    .col(self.value_column),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(self.table, self.owner_column)
                    .to(owner_table.to_owned(), owner_key.to_owned())
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned()
    }

    /// The index filters looked values up by before [`FacetTable::value_index`].
    pub fn lookup_index(&self) -> IndexCreateStatement {
        Index::create()
            .name(self.lookup_index_name())
            .table(self.table)
            .col(self.field_column)
            .col(self.value_column)
            .if_not_exists()
            .to_owned()
    }

    pub fn lookup_index_name(&self) -> String {
        format!("{}_lookup_idx", self.table)
    }

    /// The index filters look values up by: (field, value, owner), so that the owners of a
    /// value are read from the index alone, in owner order.
    pub fn value_index(&self) -> IndexCreateStatement {
        Index::create()
            .name(self.value_index_name())
            .table(self.table)
            .col(self.field_column)
            .col(self.value_column)
            .col(self.owner_column)
            .if_not_exists()
            .to_owned()
    }

    pub fn value_index_name(&self) -> String {
        format!("{}_value_idx", self.table)
    }

    /// Writes the facets of owners that have none yet (just created), in the caller's
    /// transaction: the rows go as one JSON array of `[owner, field, value]` per statement, so
    /// the statement is the same whatever their number (prepared once per connection) and
    /// carries one parameter rather than three a row.
    pub async fn insert_new(
        &self,
        txn: &DatabaseTransaction,
        mut rows: Vec<(String, &str, String)>,
    ) -> ServiceResult<()> {
        rows.sort();
        rows.dedup();
        let backend = txn.get_database_backend();
        let (table, owner, field, value) = (self.table, self.owner_column, self.field_column, self.value_column);
        let sql = match backend {
            DatabaseBackend::Postgres => format!(
                "INSERT INTO \"{table}\" (\"{owner}\", \"{field}\", \"{value}\") \
                 SELECT facet->>0, facet->>1, facet->>2 FROM jsonb_array_elements(CAST($1 AS jsonb)) AS facet"
            ),
            _ => format!(
                "INSERT INTO \"{table}\" (\"{owner}\", \"{field}\", \"{value}\") \
                 SELECT value->>0, value->>1, value->>2 FROM json_each(?)"
            ),
        };
        for chunk in rows.chunks(FACET_ROWS_PER_INSERT) {
            let array = serde_json::to_string(chunk).map_err(anyhow::Error::from)?;
            database::insert_in(
                txn,
                Statement::from_sql_and_values(backend, sql.as_str(), [array.into()]),
            )
            .await?;
        }
        Ok(())
    }

    /// Makes `values` (field, value) the facets of `owner`, in the caller's transaction.
    pub async fn replace(
        &self,
        db: &impl ConnectionTrait,
        owner: &str,
        mut values: Vec<(&str, String)>,
    ) -> ServiceResult<()> {
        let delete = Query::delete()
            .from_table(self.table)
            .and_where(Expr::col(self.owner_column).eq(owner))
            .to_owned();
        db.execute(&delete).await?;
        values.sort();
        values.dedup();
        if values.is_empty() {
            return Ok(());
        }
        let mut insert = Query::insert()
            .into_table(self.table)
            .columns([self.owner_column, self.field_column, self.value_column])
            .on_conflict(
                OnConflict::columns([self.owner_column, self.field_column, self.value_column])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        for (field, value) in values {
            insert.values_panic([owner.into(), field.into(), value.into()]);
        }
        db.execute(&insert).await?;
        Ok(())
    }
}
