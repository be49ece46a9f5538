//! AIP-155 request ids: a request that carries a `request_id` is recorded with its response in
//! the same transaction as its writes, so a retry finds the record and gets the same response
//! without writing again. Each service keeps its records in a table of its own.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction,
    sea_query::{ColumnDef, Expr, ExprTrait, Index, Query, Table, TableCreateStatement},
};
use serde::{Serialize, de::DeserializeOwned};

use std::collections::HashMap;

use crate::{
    database::{self, IN_LIST_CHUNK, rows_per_insert},
    error::{ServiceError, ServiceResult},
};

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

    /// The responses recorded for `method` under any of `request_ids` (empty ids are skipped),
    /// by request id: one query per [`IN_LIST_CHUNK`] ids, for batches.
    pub async fn recorded_many<T: DeserializeOwned>(
        &self,
        db: &impl ConnectionTrait,
        method: &str,
        request_ids: &[&str],
    ) -> ServiceResult<HashMap<String, T>> {
        let ids: Vec<&str> = request_ids.iter().copied().filter(|id| !id.is_empty()).collect();
        let mut found = HashMap::new();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let select = Query::select()
                .columns(["request_id", "response"])
                .from(self.table)
                .and_where(Expr::col("method").eq(method))
                .and_where(Expr::col("request_id").is_in(chunk.iter().copied()))
                .to_owned();
            for row in db.query_all(&select).await? {
                let request_id: String = row.try_get("", "request_id")?;
                let response: String = row.try_get("", "response")?;
                let response = serde_json::from_str(&response).map_err(|error| {
                    ServiceError::Internal(anyhow::Error::new(error).context("unreadable recorded response"))
                })?;
                found.insert(request_id, response);
            }
        }
        Ok(found)
    }

    /// Records each (request_id, response) of `method` in multi-row INSERTs, in the caller's
    /// transaction (see [`database::insert_in`]); entries with an empty request_id are skipped.
    pub async fn record_many<R: Serialize>(
        &self,
        txn: &DatabaseTransaction,
        method: &str,
        responses: &[(&str, &R)],
        now_micros: i64,
    ) -> ServiceResult<()> {
        let serialized = responses
            .iter()
            .filter(|(request_id, _)| !request_id.is_empty())
            .map(|(request_id, response)| {
                let json = serde_json::to_string(response).map_err(|error| ServiceError::Internal(error.into()))?;
                Ok(((*request_id).to_owned(), json))
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        self.record_many_json(txn, method, &serialized, now_micros).await
    }

    /// As [`RequestLog::record_many`], with each response already written as JSON (a caller that
    /// serializes a resource once for several uses).
    pub async fn record_many_json(
        &self,
        txn: &DatabaseTransaction,
        method: &str,
        records: &[(String, String)],
        now_micros: i64,
    ) -> ServiceResult<()> {
        let recorded: Vec<&(String, String)> = records.iter().filter(|(id, _)| !id.is_empty()).collect();
        for chunk in recorded.chunks(rows_per_insert(4)) {
            let mut insert = Query::insert()
                .into_table(self.table)
                .columns(["method", "request_id", "response", "create_time"])
                .to_owned();
            for (request_id, response) in chunk {
                insert.values_panic([
                    method.into(),
                    request_id.as_str().into(),
                    response.as_str().into(),
                    now_micros.into(),
                ]);
            }
            database::insert_in(txn, txn.get_database_backend().build(&insert)).await?;
        }
        Ok(())
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
