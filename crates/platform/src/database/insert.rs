//! The multi-row INSERT statements of a batch's rows, written here rather than by sea-query:
//! the same statement, each value moved once out of its row.
//!
//! sea-query's (`insert_many`) wraps each value in an expression and copies it again as it
//! writes the SQL: for a batch of 5,000 observations, about 40 ms a statement of 1,250 rows on
//! a slow machine, while the transaction waited for it.
//!
//! Tried and not kept, on PostgreSQL: one array a column (`INSERT … SELECT * FROM unnest(…)`,
//! each array bound as the text of an array literal), which spares sea-orm and sqlx binding
//! 23,750 parameters a statement (about 30 ms on that machine). PostgreSQL's reading of the
//! arrays cost more than that: the four INSERTs of a batch ran 280 ms against 135 ms, and a
//! batch of 1,000 initiatives was slower too. So was one JSON
//! array of rows (`jsonb_populate_recordset`).

use std::fmt::Write;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, EntityTrait, Iden, Iterable, Statement, sea_query::Expr,
};

/// The INSERT of `rows`, or the rows back (for sea-query) when they do not all set the same
/// columns, a column saves its value through an expression (an enum's cast) or the table is in
/// a schema of its own.
pub(super) fn statement<E: EntityTrait>(
    backend: DatabaseBackend,
    rows: Vec<E::ActiveModel>,
) -> Result<Statement, Vec<E::ActiveModel>> {
    let Some(columns) = columns_of::<E>(&rows).filter(|_| E::default().schema_name().is_none()) else {
        return Err(rows);
    };
    let names: Vec<String> = columns.iter().map(|column| quote(&column.to_string())).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote(E::default().table_name()),
        names.join(", ")
    );
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for (index, mut row) in rows.into_iter().enumerate() {
        sql.push_str(if index == 0 { "(" } else { ", (" });
        for (position, column) in columns.iter().enumerate() {
            if position > 0 {
                sql.push_str(", ");
            }
            match backend {
                DatabaseBackend::Postgres => {
                    let _ = write!(sql, "${}", values.len() + 1);
                }
                _ => sql.push('?'),
            }
            values.push(row.take(*column).into_value().expect("every row sets this column"));
        }
        sql.push(')');
    }
    Ok(Statement::from_sql_and_values(backend, sql, values))
}

/// The columns every row of `rows` sets (the same for each), if their values go in as they are.
fn columns_of<E: EntityTrait>(rows: &[E::ActiveModel]) -> Option<Vec<E::Column>> {
    let first = rows.first()?;
    let set: Vec<bool> = E::Column::iter().map(|column| !first.is_not_set(column)).collect();
    let sets_the_same = |row: &E::ActiveModel| {
        E::Column::iter()
            .zip(&set)
            .all(|(column, set)| row.is_not_set(column) != *set)
    };
    let columns: Vec<E::Column> = E::Column::iter()
        .zip(&set)
        .filter(|(_, set)| **set)
        .map(|(column, _)| column)
        .collect();
    let plain = |column: &E::Column| matches!(column.save_as(Expr::val(1)), Expr::Value(_));
    (!columns.is_empty() && columns.iter().all(plain) && rows.iter().all(sets_the_same)).then_some(columns)
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue, DatabaseBackend, EntityTrait, IntoActiveModel, QueryTrait};

    use super::statement;

    mod thing {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "things")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
            pub id: String,
            pub count: i32,
            pub value: f64,
            pub deleted: Option<i64>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn rows() -> Vec<thing::ActiveModel> {
        (0..3)
            .map(|index| {
                thing::Model {
                    id: format!("thing-{index}"),
                    count: index,
                    value: f64::from(index) / 3.0,
                    deleted: (index == 1).then_some(7),
                }
                .into_active_model()
            })
            .collect()
    }

    #[test]
    fn the_statement_is_sea_querys() {
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            let ours = statement::<thing::Entity>(backend, rows()).expect("written here");
            let theirs = backend.build(&thing::Entity::insert_many(rows()).into_query());
            assert_eq!(ours.sql, theirs.sql, "{backend:?}");
            assert_eq!(ours.values, theirs.values, "{backend:?}");
        }
    }

    #[test]
    fn rows_that_set_different_columns_go_back_to_sea_query() {
        let mut rows = rows();
        rows[2].deleted = ActiveValue::NotSet;
        let back = statement::<thing::Entity>(DatabaseBackend::Postgres, rows).expect_err("not written here");
        assert_eq!(back.len(), 3);
        assert!(statement::<thing::Entity>(DatabaseBackend::Sqlite, Vec::new()).is_err());
    }
}
