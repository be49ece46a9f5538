//! Reading and writing initiatives. Every write is one transaction: the row, its facets and the
//! request record commit together or not at all. Updates are conditional on the etag read, so
//! concurrent writers cannot overwrite each other unseen.

use std::{collections::HashMap, sync::Arc};

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use sse_platform::{
    ServiceError, ServiceResult,
    access::audit,
    coalesce::{BatchFailed, BatchRead, Coalescer},
    database::{self, HeldConnection, IN_LIST_CHUNK},
    error,
    filter::{FacetTable, FieldKind, FilterField, FilterSchema},
    idempotency::RequestLog,
    lifecycle::{self, Lifecycle},
    names,
    pagination::{self, ListCounts, ListQuery, ListSpec, OrderField, Page, SortType},
    time,
};
use sse_proto::initiatives::Initiative;

use crate::{
    entity::initiative,
    resource::{self, LEGAL_FORM_PREFIX, LEGAL_FORMS, STATUS_PREFIX, STATUSES},
};

const TABLE: &str = "initiatives";

/// One row per value of the repeated fields filters reach.
pub const FACETS: FacetTable = FacetTable::new("initiative_facets", "initiative_id");

/// What ListInitiatives filters can reach (the README documents the grammar).
pub const FILTER_SCHEMA: FilterSchema = FilterSchema {
    table: TABLE,
    id_column: "id",
    fields: &[
        FilterField::new("name", "id", FieldKind::ResourceName { prefix: "initiatives/" }),
        FilterField::named("display_name", FieldKind::IndexedText),
        FilterField::named("description", FieldKind::Text),
        FilterField::named(
            "legal_form",
            FieldKind::Enum {
                prefix: LEGAL_FORM_PREFIX,
                values: LEGAL_FORMS,
            },
        ),
        FilterField::named(
            "status",
            FieldKind::Enum {
                prefix: STATUS_PREFIX,
                values: STATUSES,
            },
        ),
        FilterField::named("countries", FieldKind::RepeatedText),
        FilterField::named("territories", FieldKind::RepeatedText),
        FilterField::named("sdg_goals", FieldKind::RepeatedInteger),
        FilterField::named("sdg_targets", FieldKind::RepeatedText),
        FilterField::named("related_legal_texts", FieldKind::RepeatedText),
        FilterField::named("start_date", FieldKind::Date),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("update_time", FieldKind::Timestamp),
        FilterField::named("delete_time", FieldKind::Timestamp),
    ],
    text_columns: &["id", "display_name", "description"],
    facets: Some(FACETS),
};

/// How ListInitiatives reads the table.
const LIST: ListSpec = ListSpec {
    filter: &FILTER_SCHEMA,
    order: ORDER_FIELDS,
    unique_column: "id",
    delete_time_column: Some("delete_time"),
};

const ORDER_FIELDS: &[OrderField] = &[
    OrderField::new("name", "id", SortType::Text),
    OrderField::named("display_name", SortType::Text),
    OrderField::named("start_date", SortType::Text),
    OrderField::named("create_time", SortType::Integer),
    OrderField::named("update_time", SortType::Integer),
];

/// Where requests with a `request_id` are recorded.
pub const REQUEST_LOG: RequestLog = RequestLog {
    table: "initiative_requests",
};

/// The method names request records are kept under.
pub const CREATE_METHOD: &str = "CreateInitiative";
pub const BATCH_CREATE_METHOD: &str = "BatchCreateInitiatives";

/// One initiative to create, already validated.
pub struct NewInitiative {
    pub id: Option<String>,
    pub initiative: Initiative,
    pub request_id: String,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    counts: Arc<ListCounts>,
    /// GetInitiative's reads, a batch per round trip under load (see [`Coalescer`]): each
    /// initiative's stored JSON, parsed by its own call.
    gets: Arc<Coalescer<String, Arc<str>>>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        let reader = db.clone();
        // On PostgreSQL the batch reads keep one connection (see `HeldConnection`).
        let held = HeldConnection::of(&db);
        let read: BatchRead<String, Arc<str>> = Arc::new(move |ids: Vec<String>| {
            let db = reader.clone();
            let held = held.clone();
            Box::pin(async move { stored_by_id(&db, held.as_deref(), &ids).await })
        });
        // One batch read at a time: the calls that arrive meanwhile make the next batch larger,
        // and a batch of a hundred costs the database little more than one read (measured: two
        // at a time answered 15% fewer calls a second on SQLite).
        Store {
            db,
            counts: Arc::default(),
            gets: Arc::new(Coalescer::new(read, IN_LIST_CHUNK, 1)),
        }
    }

    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn get(&self, id: &str) -> ServiceResult<Initiative> {
        let stored = match self.gets.read(id.to_owned()).await {
            Ok(stored) => stored,
            // The batch failed: read alone, for this call's own error.
            Err(BatchFailed) => find(&self.db, id).await?.map(|row| Arc::from(row.resource)),
        };
        let stored = stored.ok_or_else(|| ServiceError::not_found(resource::name_of(id)))?;
        resource::from_stored(id, &stored)
    }

    /// The initiatives with these ids, in their order (an id may repeat), soft-deleted ones
    /// included; NOT_FOUND names the first id that does not exist. One query. With `fields`
    /// (a read mask), only those fields and the name are set; when each is kept in a column
    /// ([`resource::COLUMN_FIELDS`]), the stored resources are not read at all.
    #[tracing::instrument(skip_all, fields(count = ids.len()), err(level = "debug", Display))]
    pub async fn get_all(&self, ids: &[&str], fields: Option<&[&str]>) -> ServiceResult<Vec<Initiative>> {
        let from_columns = fields.filter(|fields| fields.iter().all(|field| resource::COLUMN_FIELDS.contains(field)));
        let by_id = rows_by_id(&self.db, ids, from_columns).await?;
        let initiative = |row: &initiative::Model| match (from_columns, fields) {
            (Some(fields), _) => Ok(resource::from_columns(row, fields)),
            (None, Some(fields)) => resource::masked(&resource::from_row(row)?, fields),
            (None, None) => resource::from_row(row),
        };
        ids.iter()
            .map(|id| match by_id.get(*id) {
                Some(row) => initiative(row),
                None => Err(ServiceError::not_found(resource::name_of(id))),
            })
            .collect()
    }

    pub async fn exists(&self, id: &str) -> ServiceResult<bool> {
        Ok(find(&self.db, id).await?.is_some())
    }

    #[tracing::instrument(skip_all, fields(filter = query.filter, order_by = query.order_by), err(level = "debug", Display))]
    pub async fn list(&self, query: ListQuery<'_>) -> ServiceResult<Page<Initiative>> {
        let rows = pagination::list_rows::<initiative::Entity>(
            &self.db,
            &LIST,
            &query,
            (&[], Condition::all()),
            sort_value,
            &self.counts,
        )
        .await?;
        rows.try_map(resource::from_row)
    }

    /// Creates every initiative or none. A `request_id` seen before (of the batch, or of one
    /// item) returns what that request returned, and writes nothing for it.
    pub async fn create_all(
        &self,
        items: Vec<NewInitiative>,
        batch_request_id: &str,
    ) -> ServiceResult<Vec<Initiative>> {
        let mut created = error::concurrent_writes_abort(self.try_create_all(&items, batch_request_id).await);
        let has_request_id = !batch_request_id.is_empty() || items.iter().any(|item| !item.request_id.is_empty());
        if error::conflict_may_be_a_retry(&created, has_request_id) {
            created = error::concurrent_writes_abort(self.try_create_all(&items, batch_request_id).await);
        }
        self.counts.changed();
        created
    }

    /// The batch in a handful of statements whatever its size: one look-up of recorded request
    /// ids, one of existing ids, then multi-row INSERTs of the rows, their facets and the
    /// request records.
    async fn try_create_all(&self, items: &[NewInitiative], batch_request_id: &str) -> ServiceResult<Vec<Initiative>> {
        let txn = database::begin_write(&self.db).await?;
        if let Some(response) = REQUEST_LOG
            .recorded(&txn, BATCH_CREATE_METHOD, batch_request_id)
            .await?
        {
            return Ok(response);
        }
        let request_ids: Vec<&str> = items.iter().map(|item| item.request_id.as_str()).collect();
        let replayed: HashMap<String, Initiative> =
            REQUEST_LOG.recorded_many(&txn, CREATE_METHOD, &request_ids).await?;
        let now = time::now_micros();
        let mut created = Vec::with_capacity(items.len());
        let mut fresh = Vec::with_capacity(items.len());
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            if let Some(response) = replayed.get(&item.request_id) {
                created.push(response.clone());
                continue;
            }
            let id = item.id.clone().unwrap_or_else(names::generate_id);
            let mut stored = item.initiative.clone();
            stored.name = resource::name_of(&id);
            stored.create_time = Some(time::timestamp(now));
            stored.update_time = Some(time::timestamp(now));
            stored.delete_time = None;
            rows.push(resource::to_row(&mut stored, &id)?);
            fresh.push((created.len(), id, item.request_id.as_str()));
            created.push(stored);
        }
        // Built while the ids are checked and the facets gathered.
        let inserts = database::Inserts::of::<initiative::Entity>(ConnectionTrait::get_database_backend(&txn), rows);
        let fresh_ids: Vec<&str> = fresh.iter().map(|(_, id, _)| id.as_str()).collect();
        // Deleted or not: an id stays taken.
        if let Some(taken) = database::first_present(&txn, TABLE, "id", &fresh_ids).await? {
            return Err(ServiceError::already_exists(resource::name_of(&taken)));
        }
        let mut facets = Vec::new();
        let mut records = Vec::new();
        for (position, id, request_id) in fresh {
            let stored = &created[position];
            facets.extend(
                resource::facets(stored)
                    .into_iter()
                    .map(|(field, value)| (id.clone(), field, value)),
            );
            records.push((request_id, stored));
        }
        inserts.run(&txn).await?;
        FACETS.insert_new(&txn, facets).await?;
        REQUEST_LOG.record_many(&txn, CREATE_METHOD, &records, now).await?;
        REQUEST_LOG
            .record(&txn, BATCH_CREATE_METHOD, batch_request_id, &created, now)
            .await?;
        match (created.as_slice(), items) {
            ([one], [item]) if batch_request_id.is_empty() => audit::record(&txn, &one.name, &item.request_id).await?,
            _ => audit::record(&txn, TABLE, batch_request_id).await?,
        }
        txn.commit().await?;
        Ok(created)
    }

    /// Changes one initiative that is in the `required` state, if its etag is still `etag`
    /// (when given). The write is conditional on the etag read, so a concurrent change in
    /// between is refused with ABORTED rather than overwritten.
    #[tracing::instrument(skip(self, change), err(level = "debug", Display))]
    pub async fn modify(
        &self,
        id: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Initiative, i64) -> ServiceResult<()>,
    ) -> ServiceResult<Initiative> {
        let changed = error::concurrent_writes_abort(self.try_modify(id, etag, required, change).await);
        self.counts.changed();
        changed
    }

    async fn try_modify(
        &self,
        id: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Initiative, i64) -> ServiceResult<()>,
    ) -> ServiceResult<Initiative> {
        let txn = database::begin_write(&self.db).await?;
        let name = resource::name_of(id);
        let row = find(&txn, id).await?.ok_or_else(|| ServiceError::not_found(&name))?;
        lifecycle::check_change(&name, Lifecycle::of(row.delete_time), required, etag, &row.etag)?;
        let mut changed = resource::from_row(&row)?;
        let now = time::now_micros();
        change(&mut changed, now)?;
        changed.update_time = Some(time::timestamp(now));
        let update = resource::to_row(&mut changed, id)?;
        let written = initiative::Entity::update_many()
            .set(update)
            .filter(initiative::Column::Id.eq(id))
            .filter(initiative::Column::Etag.eq(row.etag.clone()))
            .exec(&txn)
            .await?;
        if written.rows_affected != 1 {
            return Err(lifecycle::stale_etag(&name));
        }
        FACETS.replace(&txn, id, resource::facets(&changed)).await?;
        audit::record(&txn, &name, "").await?;
        txn.commit().await?;
        Ok(changed)
    }
}

/// The rows of those of `ids` that exist, by id, in one query. With `fields` (each one of
/// [`resource::COLUMN_FIELDS`]), only their columns and the id are read, the others answered
/// empty: the indicators service checks thousands of initiatives a batch by `delete_time` alone.
/// Reading every column of 1,000 of them took PostgreSQL 5.6 ms, these two 4.4 ms (pgbench on
/// 100,000 initiatives), and the service decodes two columns a row instead of ten.
async fn rows_by_id<S: AsRef<str>>(
    db: &impl ConnectionTrait,
    ids: &[S],
    fields: Option<&[&str]>,
) -> ServiceResult<HashMap<String, initiative::Model>> {
    use sea_orm::{IdenStatic, Iterable, sea_query::Expr};
    let mut select = initiative::Entity::find();
    if let Some(fields) = fields {
        select = select.select_only();
        for column in initiative::Column::iter() {
            let name = column.as_str();
            select = if matches!(column, initiative::Column::Id) || fields.contains(&name) {
                select.column(column)
            } else {
                select.column_as(unread(column), name)
            };
        }
    }
    let found = select
        .filter(database::in_json_array(
            db.get_database_backend(),
            Expr::col((initiative::Entity, initiative::Column::Id)),
            ids,
        ))
        .all(db)
        .await?;
    Ok(found.into_iter().map(|row| (row.id.clone(), row)).collect())
}

/// What a column not read answers: empty text, zero, or no deletion time, typed as the column
/// so that both databases decode it.
fn unread(column: initiative::Column) -> sea_orm::sea_query::Expr {
    use initiative::Column;
    use sea_orm::sea_query::Expr;
    match column {
        Column::CreateTime | Column::UpdateTime => Expr::cust("CAST(0 AS BIGINT)"),
        Column::DeleteTime => Expr::cust("CAST(NULL AS BIGINT)"),
        _ => Expr::val(""),
    }
}

/// The stored JSON of those of `ids` that exist, by id, in one query.
///
/// - SQLite answers one row: the database joins the stored resources (JSON already) into one
///   JSON object keyed by id. sqlx hands each row of SQLite over from its own thread, so a
///   batch costs one hand-over, not one a row. A stored resource that is not JSON fails the
///   whole batch: each of its calls then reads alone (see [`Store::get`]), and only that
///   initiative's call fails.
/// - PostgreSQL answers a row per initiative, which its protocol sends in one piece anyway:
///   building the object cost the database a quarter of the statement (0.16–0.18 ms against
///   0.13 ms for six ids, pgbench on 100,000 initiatives), and each batch is a round trip
///   GetInitiative waits for. A stored resource that is not JSON fails only its own call. On
///   `held`, when given, the batch reads' own connection.
async fn stored_by_id(
    db: &impl ConnectionTrait,
    held: Option<&HeldConnection>,
    ids: &[String],
) -> ServiceResult<HashMap<String, Arc<str>>> {
    use sea_orm::{
        QueryTrait,
        sea_query::{Expr, Query},
    };
    let backend = db.get_database_backend();
    let among_ids = database::in_json_array(backend, Expr::col((initiative::Entity, initiative::Column::Id)), ids);
    if backend == sea_orm::DatabaseBackend::Postgres {
        let select = initiative::Entity::find()
            .select_only()
            .columns([initiative::Column::Id, initiative::Column::Resource])
            .filter(among_ids)
            .build(backend);
        let rows = match held {
            Some(held) => held.query_all(select).await?,
            None => db.query_all_raw(select).await?,
        };
        let found: Vec<(String, String)> = rows
            .iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<_, sea_orm::DbErr>>()?;
        return Ok(found.into_iter().map(|(id, stored)| (id, Arc::from(stored))).collect());
    }
    let query = Query::select()
        // NULL when none exists (an aggregate over no rows).
        .expr_as(
            Expr::cust("'{' || group_concat(json_quote(id) || ':' || resource, ',') || '}'"),
            "found",
        )
        .from(initiative::Entity)
        .and_where(among_ids)
        .to_owned();
    let found: Option<String> = match db.query_one(&query).await? {
        Some(row) => row.try_get("", "found")?,
        None => None,
    };
    let Some(found) = found else {
        return Ok(HashMap::new());
    };
    let by_id: HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_str(&found).map_err(|error| {
        ServiceError::Internal(anyhow::Error::new(error).context("the stored initiatives read together are unreadable"))
    })?;
    Ok(by_id
        .into_iter()
        .map(|(id, stored)| (id, Arc::from(Box::<str>::from(stored))))
        .collect())
}

async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<initiative::Model>> {
    Ok(initiative::Entity::find_by_id(id.to_owned()).one(db).await?)
}

fn sort_value(row: &initiative::Model, column: &str) -> serde_json::Value {
    match column {
        "display_name" => row.display_name.clone().into(),
        "start_date" => row.start_date.clone().into(),
        "create_time" => row.create_time.into(),
        "update_time" => row.update_time.into(),
        _ => row.id.clone().into(),
    }
}

#[cfg(test)]
mod tests {
    use sse_testkit::{Backend, TestDatabase, on_both_databases};

    use super::*;

    /// A store on a fresh, migrated database with initiatives `a`, `b` and `c`; `b`'s name has
    /// what JSON escapes (quotes, a backslash, a line break) and a non-ASCII letter.
    async fn store_with_three(backend: Backend) -> (TestDatabase, Store) {
        let database = TestDatabase::new(backend).await.expect("test database");
        database::migrate::<crate::migration::Migrator>(&database.connection)
            .await
            .expect("migrations");
        let store = Store::new(database.connection.clone());
        let items =
            [("a", "Coop A"), ("b", "Coop \"B\" \\ é\nsecond line"), ("c", "Coop C")].map(|(id, display_name)| {
                NewInitiative {
                    id: Some(id.to_owned()),
                    initiative: Initiative {
                        display_name: display_name.to_owned(),
                        ..Default::default()
                    },
                    request_id: String::new(),
                }
            });
        store.create_all(items.into(), "").await.expect("create");
        (database, store)
    }

    on_both_databases!(
        a_batch_read_answers_each_existing_initiative_once_by_id,
        a_stored_resource_that_is_not_json_fails_only_its_own_get,
    );

    /// GetInitiative's batch read itself (not the read alone it falls back to): the ids that
    /// exist, each once whatever the repeats, each with the JSON a read alone finds; through
    /// the pool and, on PostgreSQL, on the held connection the coalescer uses.
    async fn a_batch_read_answers_each_existing_initiative_once_by_id(backend: Backend) {
        let (_database, store) = store_with_three(backend).await;
        let held = HeldConnection::of(&store.db);
        assert_eq!(held.is_some(), backend == Backend::Postgres);
        for held in [None, held.as_deref()] {
            let ids = ["b", "missing", "a", "b", "c"].map(str::to_owned);
            let found = stored_by_id(&store.db, held, &ids).await.expect("batch read");
            let mut keys: Vec<&str> = found.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["a", "b", "c"]);
            for (id, stored) in &found {
                let alone = find(&store.db, id).await.expect("read alone").expect("exists");
                assert_eq!(
                    resource::from_stored(id, stored).expect("parses"),
                    resource::from_row(&alone).expect("parses")
                );
            }
            // None exists: an empty answer rather than an error.
            let none = stored_by_id(&store.db, held, &["x".to_owned(), "y".to_owned()])
                .await
                .expect("batch read");
            assert!(none.is_empty(), "{none:?}");
        }
    }

    /// Both databases store text that is not JSON in `resource`: on SQLite the batch read then
    /// fails whole and `get` falls back to reading alone; on PostgreSQL the batch answers each
    /// stored text as it is. Either way only that initiative's call fails.
    async fn a_stored_resource_that_is_not_json_fails_only_its_own_get(backend: Backend) {
        let (_database, store) = store_with_three(backend).await;
        store
            .db
            .execute_unprepared("UPDATE initiatives SET resource = 'not json {' WHERE id = 'b'")
            .await
            .expect("damage b");
        let ids = ["a", "b"].map(str::to_owned);
        let batch = stored_by_id(&store.db, None, &ids).await;
        match backend {
            Backend::Sqlite => assert!(matches!(batch, Err(ServiceError::Internal(_))), "{batch:?}"),
            Backend::Postgres => assert_eq!(batch.expect("batch read")["b"].as_ref(), "not json {"),
        }
        let (a, b) = tokio::join!(store.get("a"), store.get("b"));
        assert_eq!(a.expect("a is readable").display_name, "Coop A");
        let b = b.expect_err("b is damaged");
        assert!(
            matches!(&b, ServiceError::Internal(error) if format!("{error:#}").contains("stored initiative b")),
            "{b:?}"
        );
    }
}
