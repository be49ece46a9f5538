//! The facet table of a resource: one row per value of each repeated field that filters reach
//! (`countries`, `topics`…), so that `countries:"FR"` is an `EXISTS` over an index, the same on
//! SQLite and PostgreSQL.

use sea_orm::{
    ConnectionTrait,
    sea_query::{
        ColumnDef, Expr, ExprTrait, ForeignKey, ForeignKeyAction, Index, IndexCreateStatement, OnConflict, Query,
        Table, TableCreateStatement,
    },
};

use super::FacetTable;
use crate::{database::rows_per_insert, error::ServiceResult};

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

    /// Writes the facets of owners that have none yet (just created), in as few multi-row
    /// INSERTs as the bind-parameter limit allows, in the caller's transaction.
    pub async fn insert_new(
        &self,
        db: &impl ConnectionTrait,
        mut rows: Vec<(String, &str, String)>,
    ) -> ServiceResult<()> {
        rows.sort();
        rows.dedup();
        for chunk in rows.chunks(rows_per_insert(3)) {
            let mut insert = Query::insert()
                .into_table(self.table)
                .columns([self.owner_column, self.field_column, self.value_column])
                .to_owned();
            for (owner, field, value) in chunk {
                insert.values_panic([owner.as_str().into(), (*field).into(), value.as_str().into()]);
            }
            db.execute(&insert).await?;
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
