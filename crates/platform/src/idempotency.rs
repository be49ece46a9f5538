//! AIP-155 request ids: a request that carries a `request_id` is recorded with its response in
//! the same transaction as its writes, so a retry finds the record and gets the same response
//! without writing again. Each service keeps its records in a table of its own.

use sea_orm::{
    ConnectionTrait,
    sea_query::{ColumnDef, Expr, ExprTrait, Index, Query, Table, TableCreateStatement},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ServiceError, ServiceResult};

/// A service's table of recorded requests.
#[derive(Debug, Clone, Copy)]
pub struct RequestLog {
    pub table: &'static str,
}

impl RequestLog {
    /// The table, for the service's migration.
    pub fn create_table(&self) -> TableCreateStatement {
        Table::create()
            .table(self.table)
            .if_not_exists()
            .col(ColumnDef::new("method").text().not_null())
            .col(ColumnDef::new("request_id").text().not_null())
            .col(ColumnDef::new("response").text().not_null())
            .col(ColumnDef::new("create_time").big_integer().not_null())
            .primary_key(Index::create().col("method").col("request_id"))
            .to_owned()
    }

    /// The response recorded for `method` and `request_id`; `None` for an empty request_id.
    pub async fn recorded<T: DeserializeOwned>(
        &self,
        db: &impl ConnectionTrait,
        method: &str,
        request_id: &str,
    ) -> ServiceResult<Option<T>> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let select = Query::select()
            .column("response")
            .from(self.table)
            .and_where(Expr::col("method").eq(method))
            .and_where(Expr::col("request_id").eq(request_id))
            .to_owned();
        let Some(row) = db.query_one(&select).await? else {
            return Ok(None);
        };
        let response: String = row.try_get("", "response")?;
        serde_json::from_str(&response)
            .map(Some)
            .map_err(|error| ServiceError::Internal(anyhow::Error::new(error).context("unreadable recorded response")))
    }

    /// Records the response to `method` with `request_id`; nothing for an empty request_id.
    pub async fn record(
        &self,
        db: &impl ConnectionTrait,
        method: &str,
        request_id: &str,
        response: &impl Serialize,
        now_micros: i64,
    ) -> ServiceResult<()> {
        if request_id.is_empty() {
            return Ok(());
        }
        let response = serde_json::to_string(response).map_err(|error| ServiceError::Internal(error.into()))?;
        let insert = Query::insert()
            .into_table(self.table)
            .columns(["method", "request_id", "response", "create_time"])
            .values_panic([method.into(), request_id.into(), response.into(), now_micros.into()])
            .to_owned();
        db.execute(&insert).await?;
        Ok(())
    }
}
