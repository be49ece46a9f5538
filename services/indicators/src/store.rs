//! Reading and writing indicators and observations. Every write is one transaction: rows,
//! facets and request records commit together or not at all; updates are conditional on the
//! etag read, so concurrent writers cannot overwrite each other unseen.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement, StreamTrait,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};
use sse_platform::{
    ServiceError, ServiceResult,
    access::audit,
    database, error,
    filter::{FacetTable, FieldKind, FilterField, FilterSchema},
    idempotency::RequestLog,
    lifecycle::{self, Lifecycle},
    names,
    pagination::{self, ListQuery, ListSpec, OrderField, Page, SortType},
    time,
};
use sse_proto::indicators::{Indicator, Observation};
use tokio_stream::{Stream, StreamExt};

use crate::{
    aggregate::{FigureGroup, GroupField, LastFigure},
    entity::{indicator as indicator_row, observation as observation_row},
    indicator::{self, AGGREGATION_PREFIX, AGGREGATIONS, CATEGORIES, CATEGORY_PREFIX},
    observation::{self, STATUS_PREFIX, STATUSES},
    period::Period,
};

/// Where requests with a `request_id` are recorded.
pub const REQUEST_LOG: RequestLog = RequestLog {
    table: "indicator_requests",
};
pub const CREATE_INDICATOR: &str = "CreateIndicator";
pub const CREATE_OBSERVATION: &str = "CreateObservation";
pub const BATCH_CREATE_OBSERVATIONS: &str = "BatchCreateObservations";

/// The most observations one BatchCreateObservations may carry.
pub const MAX_BATCH_SIZE: usize = 10_000;

const INDICATORS: &str = "indicators";

/// The order of exports: figures that could share an SDMX key (same indicator, initiative,
/// place, status and period) come together, then by name; `observations_indicator_initiative_idx`
/// follows it.
pub const EXPORT_ORDER: [&str; 7] = [
    "indicator",
    "initiative",
    "ref_area",
    "status",
    "period_start",
    "period_end",
    "name",
];

/// A row's values in [`EXPORT_ORDER`].
fn export_key(row: &observation_row::Model) -> [&String; 7] {
    [
        &row.indicator,
        &row.initiative,
        &row.ref_area,
        &row.status,
        &row.period_start,
        &row.period_end,
        &row.name,
    ]
}

const OBSERVATIONS: &str = "observations";

/// On PostgreSQL, `indicator = ANY(every indicator)`: what reads that name an initiative add
/// (GetProgress, and lists, exports and aggregations whose filter compares `initiative`), so
/// that PostgreSQL, which has no skip-scan before version 18, seeks each indicator's part of
/// `observations_indicator_initiative_idx` for the initiative, as SQLite's skip-scan does by
/// itself (the migration `m20261202_000001` says why there is no initiative-led index). Beside
/// `indicator = …` it is redundant, and harmless. It keeps every match: an observation's
/// indicator is a row of `indicators`, which are marked deleted, never removed.
fn every_indicator(backend: sea_orm::DbBackend) -> Option<Expr> {
    (backend == sea_orm::DbBackend::Postgres).then(|| {
        Expr::cust(
            r#""observations"."indicator" = ANY(ARRAY(SELECT 'indicators/' || "indicators"."id" FROM "indicators"))"#,
        )
    })
}

/// [`every_indicator`] when `filter` compares `initiative` (an invalid or overlong filter
/// compares nothing: its error comes from compiling it).
fn every_indicator_for(backend: sea_orm::DbBackend, filter: &str) -> Option<Expr> {
    if filter.chars().count() > sse_platform::filter::MAX_FILTER_CHARS {
        return None;
    }
    let names_initiative = sse_platform::filter::parse(filter)
        .ok()
        .flatten()
        .is_some_and(|expr| expr.compares("initiative"));
    every_indicator(backend).filter(|_| names_initiative)
}

/// One row per SDG indicator code an indicator names.
pub const INDICATOR_FACETS: FacetTable = FacetTable::new("indicator_facets", "indicator_id");

/// What ListIndicators filters can reach.
pub const INDICATOR_FILTER: FilterSchema = FilterSchema {
    table: INDICATORS,
    id_column: "id",
    fields: &[
        FilterField::new("name", "id", FieldKind::ResourceName { prefix: "indicators/" }),
        FilterField::named("display_name", FieldKind::Text),
        FilterField::named("unit", FieldKind::Text),
        FilterField::named(
            "category",
            FieldKind::Enum {
                prefix: CATEGORY_PREFIX,
                values: CATEGORIES,
            },
        ),
        FilterField::named(
            "aggregation",
            FieldKind::Enum {
                prefix: AGGREGATION_PREFIX,
                values: AGGREGATIONS,
            },
        ),
        FilterField::named("sdg_indicators", FieldKind::RepeatedText),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("update_time", FieldKind::Timestamp),
    ],
    text_columns: &["id", "display_name"],
    facets: Some(INDICATOR_FACETS),
};

const INDICATOR_LIST: ListSpec = ListSpec {
    filter: &INDICATOR_FILTER,
    order: INDICATOR_ORDER,
    unique_column: "id",
    delete_time_column: Some("delete_time"),
};

const INDICATOR_ORDER: &[OrderField] = &[
    OrderField::new("name", "id", SortType::Text),
    OrderField::named("display_name", SortType::Text),
    OrderField::named("create_time", SortType::Integer),
    OrderField::named("update_time", SortType::Integer),
];

/// What ListObservations, AggregateObservations and ExportObservations filters can reach.
pub const OBSERVATION_FILTER: FilterSchema = FilterSchema {
    table: OBSERVATIONS,
    id_column: "name",
    fields: &[
        FilterField::named("name", FieldKind::Text),
        FilterField::named("indicator", FieldKind::Text),
        FilterField::named("initiative", FieldKind::Text),
        FilterField::named("ref_area", FieldKind::Text),
        FilterField::named("time_period", FieldKind::Text),
        FilterField::named("period_start", FieldKind::Date),
        FilterField::named("period_end", FieldKind::Date),
        FilterField::named("year", FieldKind::Integer),
        FilterField::named("value", FieldKind::Number),
        FilterField::named(
            "status",
            FieldKind::Enum {
                prefix: STATUS_PREFIX,
                values: STATUSES,
            },
        ),
        FilterField::new("source", "source_title", FieldKind::Text),
        FilterField::new("source.title", "source_title", FieldKind::Text),
        FilterField::new("source.publisher", "source_publisher", FieldKind::Text),
        FilterField::new("source.url", "source_url", FieldKind::Text),
        FilterField::new("source.date", "source_date", FieldKind::Date),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("update_time", FieldKind::Timestamp),
    ],
    text_columns: &["name", "initiative", "source_title", "source_publisher"],
    facets: None,
};

const OBSERVATION_LIST: ListSpec = ListSpec {
    filter: &OBSERVATION_FILTER,
    order: OBSERVATION_ORDER,
    unique_column: "name",
    delete_time_column: Some("delete_time"),
};

const OBSERVATION_ORDER: &[OrderField] = &[
    OrderField::named("name", SortType::Text),
    OrderField::named("time_period", SortType::Text),
    OrderField::named("period_start", SortType::Text),
    OrderField::named("period_end", SortType::Text),
    OrderField::named("value", SortType::Number),
    OrderField::named("create_time", SortType::Integer),
    OrderField::named("update_time", SortType::Integer),
];

/// A figure GetProgress shows, with how many figures it was preferred to.
pub type LatestFigure = (observation_row::Model, i64);

/// One observation to create, already validated.
pub struct NewObservation {
    pub indicator_code: String,
    pub id: Option<String>,
    pub observation: Observation,
    pub period: Period,
    pub request_id: String,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// The counts of indicator and observation Lists; every committed write outdates them.
    counts: std::sync::Arc<pagination::ListCounts>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store {
            db,
            counts: std::sync::Arc::default(),
        }
    }

    /// The response recorded for `method` and `request_id`, if that request was answered.
    pub async fn recorded<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        request_id: &str,
    ) -> ServiceResult<Option<T>> {
        REQUEST_LOG.recorded(&self.db, method, request_id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn get_indicator(&self, code: &str) -> ServiceResult<Indicator> {
        let row = indicator_row::Entity::find_by_id(code.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::not_found(indicator::name_of(code)))?;
        indicator::from_row(&row)
    }

    pub async fn indicator_exists(&self, code: &str) -> ServiceResult<bool> {
        Ok(indicator_row::Entity::find_by_id(code.to_owned())
            .one(&self.db)
            .await?
            .is_some())
    }

    pub async fn observation_exists(&self, name: &str) -> ServiceResult<bool> {
        Ok(observation_row::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Every indicator, deleted or not, by code: for aggregation, progress and exports.
    pub async fn indicators_by_code(&self) -> ServiceResult<HashMap<String, Indicator>> {
        let rows = indicator_row::Entity::find().all(&self.db).await?;
        rows.iter()
            .map(|row| Ok((row.id.clone(), indicator::from_row(row)?)))
            .collect()
    }

    #[tracing::instrument(skip_all, fields(filter = query.filter), err(level = "debug", Display))]
    pub async fn list_indicators(&self, query: ListQuery<'_>) -> ServiceResult<Page<Indicator>> {
        let rows = pagination::list_rows::<indicator_row::Entity>(
            &self.db,
            &INDICATOR_LIST,
            &query,
            (&[], Condition::all()),
            |row, column| match column {
                "display_name" => row.display_name.clone().into(),
                "create_time" => row.create_time.into(),
                "update_time" => row.update_time.into(),
                _ => row.id.clone().into(),
            },
            &self.counts,
        )
        .await?;
        rows.try_map(indicator::from_row)
    }

    #[tracing::instrument(skip(self, resource), err(level = "debug", Display))]
    pub async fn create_indicator(
        &self,
        code: &str,
        resource: Indicator,
        request_id: &str,
    ) -> ServiceResult<Indicator> {
        let created = error::concurrent_writes_abort(self.try_create_indicator(code, &resource, request_id).await);
        if error::conflict_may_be_a_retry(&created, !request_id.is_empty()) {
            return error::concurrent_writes_abort(self.try_create_indicator(code, &resource, request_id).await);
        }
        created
    }

    async fn try_create_indicator(
        &self,
        code: &str,
        resource: &Indicator,
        request_id: &str,
    ) -> ServiceResult<Indicator> {
        let txn = database::begin_write(&self.db).await?;
        if let Some(recorded) = REQUEST_LOG.recorded(&txn, CREATE_INDICATOR, request_id).await? {
            return Ok(recorded);
        }
        if indicator_row::Entity::find_by_id(code.to_owned())
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(ServiceError::already_exists(indicator::name_of(code)));
        }
        let now = time::now_micros();
        let mut stored = resource.clone();
        stored.name = indicator::name_of(code);
        stored.create_time = Some(time::timestamp(now));
        stored.update_time = Some(time::timestamp(now));
        stored.delete_time = None;
        indicator_row::Entity::insert(indicator::to_row(&mut stored, code)?)
            .exec_without_returning(&txn)
            .await?;
        INDICATOR_FACETS.replace(&txn, code, indicator::facets(&stored)).await?;
        REQUEST_LOG
            .record(&txn, CREATE_INDICATOR, request_id, &stored, now)
            .await?;
        audit::record(&txn, &stored.name, request_id).await?;
        txn.commit().await?;
        self.counts.changed();
        Ok(stored)
    }

    /// Changes one indicator in the `required` state whose etag is still `etag` (when given).
    #[tracing::instrument(skip(self, change), err(level = "debug", Display))]
    pub async fn modify_indicator(
        &self,
        code: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Indicator, i64) -> ServiceResult<()>,
    ) -> ServiceResult<Indicator> {
        error::concurrent_writes_abort(self.try_modify_indicator(code, etag, required, change).await)
    }

    async fn try_modify_indicator(
        &self,
        code: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Indicator, i64) -> ServiceResult<()>,
    ) -> ServiceResult<Indicator> {
        let name = indicator::name_of(code);
        let txn = database::begin_write(&self.db).await?;
        let row = indicator_row::Entity::find_by_id(code.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        lifecycle::check_change(&name, Lifecycle::of(row.delete_time), required, etag, &row.etag)?;
        let mut changed = indicator::from_row(&row)?;
        let now = time::now_micros();
        change(&mut changed, now)?;
        changed.update_time = Some(time::timestamp(now));
        let written = indicator_row::Entity::update_many()
            .set(indicator::to_row(&mut changed, code)?)
            .filter(indicator_row::Column::Id.eq(code))
            .filter(indicator_row::Column::Etag.eq(row.etag.clone()))
            .exec(&txn)
            .await?;
        if written.rows_affected != 1 {
            return Err(lifecycle::stale_etag(&name));
        }
        INDICATOR_FACETS
            .replace(&txn, code, indicator::facets(&changed))
            .await?;
        audit::record(&txn, &name, "").await?;
        txn.commit().await?;
        self.counts.changed();
        Ok(changed)
    }

    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn get_observation(&self, name: &str) -> ServiceResult<Observation> {
        let row = observation_row::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::not_found(name))?;
        observation::from_row(&row)
    }

    /// Observations of `indicator` (a name), or of every indicator when `None`.
    #[tracing::instrument(skip_all, fields(filter = query.filter), err(level = "debug", Display))]
    pub async fn list_observations(
        &self,
        indicator: Option<&str>,
        query: ListQuery<'_>,
    ) -> ServiceResult<Page<Observation>> {
        let parent = indicator.unwrap_or("indicators/-");
        let mut within = Condition::all();
        if let Some(indicator) = indicator {
            within = within.add(observation_row::Column::Indicator.eq(indicator));
        } else if let Some(every) = every_indicator_for(self.db.get_database_backend(), query.filter) {
            within = within.add(every);
        }
        let rows = pagination::list_rows::<observation_row::Entity>(
            &self.db,
            &OBSERVATION_LIST,
            &query,
            (&[parent], within),
            |row, column| match column {
                "time_period" => row.time_period.clone().into(),
                "period_start" => row.period_start.clone().into(),
                "period_end" => row.period_end.clone().into(),
                // Values sort as numbers; the token keeps the exact f64 as JSON.
                "value" => serde_json::Number::from_f64(row.value).map_or(serde_json::Value::Null, Into::into),
                "create_time" => row.create_time.into(),
                "update_time" => row.update_time.into(),
                _ => row.name.clone().into(),
            },
            &self.counts,
        )
        .await?;
        rows.try_map(observation::from_row)
    }

    /// Every live observation matching `filter` plus `extra`, in name order: what aggregation,
    /// progress and exports read.
    pub async fn matching_observations(
        &self,
        filter: &str,
        extra: Condition,
    ) -> ServiceResult<Vec<observation_row::Model>> {
        let matching = self.observation_condition(filter, false)?.add(extra);
        Ok(observation_row::Entity::find()
            .filter(matching)
            .order_by_asc(observation_row::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// The initiatives that live observations of `indicator` (a name) matching `filter` are
    /// about, each once: what aggregation by legal form or goal looks up.
    pub async fn observed_initiatives(&self, indicator: &str, filter: &str) -> ServiceResult<Vec<String>> {
        let matching = self
            .observation_condition(filter, false)?
            .add(observation_row::Column::Indicator.eq(indicator))
            .add(observation_row::Column::Initiative.ne(""));
        let query = Query::select()
            .distinct()
            .column("initiative")
            .from(OBSERVATIONS)
            .cond_where(matching)
            .to_owned();
        // Streamed: only the names are kept, not a driver row for each.
        let statement = self.db.get_database_backend().build(&query);
        let mut rows = self.db.stream_raw(statement).await?;
        let mut names = Vec::new();
        while let Some(row) = rows.next().await {
            names.push(row?.try_get::<String>("", "initiative")?);
        }
        Ok(names)
    }

    /// Applies the source rule and sums up the kept figures of `indicator` (a name) matching
    /// `filter`, grouped by `fields`, all in the database: a stream of groups, one at a time as
    /// the database returns them, so no observation is held in memory. The query runs when the
    /// first group is asked for (the database sorts every figure first); the caller may do
    /// other work meanwhile. `with_last` asks for each group's latest figure too (an extra
    /// sort, so only when the rule needs it).
    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn aggregate_figures(
        &self,
        indicator: &str,
        filter: &str,
        fields: &[GroupField],
        with_last: bool,
    ) -> ServiceResult<impl Stream<Item = ServiceResult<FigureGroup>> + Send + '_> {
        let matching = self
            .observation_condition(filter, false)?
            .add(observation_row::Column::Indicator.eq(indicator));
        let backend = self.db.get_database_backend();
        // The stored fields are distinct, and so are their columns.
        let columns: Vec<&'static str> = fields.iter().map(|field| group_column(*field)).collect();
        let mut selected = columns.clone();
        selected.push("value");
        if with_last {
            selected.extend(["period_end", "source_date", "name"]);
        }
        let ranked = backend.build(&ranked_figures(matching, "initiative", Some(&selected)));
        let columns = columns.join(", ");
        // One pass over the ranked figures: the kept ones (rank 1) are summed, the others
        // counted as set aside; every group holds the kept figure of each of its conflict sets.
        // The latest figure of a group, when asked for, is the first of its kept figures by
        // period end (a second window, so only then).
        let (last_ranked, source, last) = if with_last {
            (
                format!(
                    ", last_ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY {columns} \
                     ORDER BY CASE WHEN figure_rank = 1 THEN 0 ELSE 1 END, period_end DESC, {PREFERENCE}) \
                     AS group_rank FROM ranked)"
                ),
                "last_ranked",
                ["value", "period_end", "source_date", "name"]
                    .map(|column| format!(", MAX(CASE WHEN group_rank = 1 THEN {column} END) AS last_{column}"))
                    .concat(),
            )
        } else {
            (String::new(), "ranked", String::new())
        };
        let sql = format!(
            "WITH ranked AS ({ranked}){last_ranked} \
             SELECT {columns}, SUM(CASE WHEN figure_rank = 1 THEN value END) AS total, \
             COUNT(CASE WHEN figure_rank = 1 THEN 1 END) AS figures, \
             MAX(CASE WHEN figure_rank = 1 THEN value END) AS highest, \
             COUNT(*) - COUNT(CASE WHEN figure_rank = 1 THEN 1 END) AS set_aside{last} \
             FROM {source} GROUP BY {columns}",
            ranked = ranked.sql
        );
        let statement = Statement {
            sql,
            values: ranked.values,
            db_backend: backend,
        };
        let rows = self.db.stream_raw(statement).await?;
        let fields = fields.to_vec();
        Ok(rows.map(move |row| figure_group(&row?, &fields, with_last)))
    }

    /// For GetProgress: the indicators `initiative` (a name) has live figures of, in name order,
    /// and for each indicator and of the `statuses`, the kept figure with the latest period end
    /// (the source rule deciding between figures of one period) with how many it was preferred
    /// to. The database does the choosing; at most one row per indicator and status comes back.
    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn latest_figures(
        &self,
        initiative: &str,
        statuses: &[&str],
    ) -> ServiceResult<(Vec<String>, Vec<LatestFigure>)> {
        let backend = self.db.get_database_backend();
        let mut live = Condition::all()
            .add(observation_row::Column::Initiative.eq(initiative))
            .add(observation_row::Column::DeleteTime.is_null());
        if let Some(every) = every_indicator(backend) {
            live = live.add(every);
        }
        let indicators = Query::select()
            .distinct()
            .column("indicator")
            .from(OBSERVATIONS)
            .cond_where(live.clone())
            .to_owned();
        let mut indicator_names: Vec<String> = self
            .db
            .query_all(&indicators)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "indicator"))
            .collect::<Result<_, _>>()?;
        indicator_names.sort();
        let with_status = live.add(observation_row::Column::Status.is_in(statuses.iter().copied()));
        let ranked = backend.build(&ranked_figures(with_status, "indicator", None));
        let sql = format!(
            "WITH ranked AS ({ranked}), \
             latest AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY indicator, status \
             ORDER BY period_end DESC, {PREFERENCE}) AS latest_rank FROM ranked WHERE figure_rank = 1) \
             SELECT * FROM latest WHERE latest_rank = 1",
            ranked = ranked.sql
        );
        let statement = Statement {
            sql,
            values: ranked.values,
            db_backend: backend,
        };
        let mut figures = Vec::new();
        for row in self.db.query_all_raw(statement).await? {
            let set_aside: i64 = row.try_get("", "figure_count")?;
            figures.push((observation_row::Model::from_query_result(&row, "")?, set_aside - 1));
        }
        Ok((indicator_names, figures))
    }

    /// Checks `filter` for ExportObservations before the stream starts, so a bad one is an
    /// INVALID_ARGUMENT rather than a broken stream.
    pub fn check_observation_filter(&self, filter: &str) -> ServiceResult<()> {
        self.observation_condition(filter, false).map(|_| ())
    }

    /// One page of the live observations matching `filter`, in [`EXPORT_ORDER`], after the row
    /// `after` (keyset pagination: each page is an index range scan, however far in).
    pub async fn export_page(
        &self,
        filter: &str,
        after: Option<&observation_row::Model>,
        limit: u64,
    ) -> ServiceResult<Vec<observation_row::Model>> {
        let mut matching = self.observation_condition(filter, false)?;
        if let Some(last) = after {
            let columns = Expr::tuple(EXPORT_ORDER.iter().map(|column| Expr::col((OBSERVATIONS, *column))));
            let values = Expr::tuple(export_key(last).map(|value| Expr::value(value.clone())));
            matching = matching.add(columns.gt(values));
        }
        let mut select = observation_row::Entity::find().filter(matching);
        for column in EXPORT_ORDER {
            select = select.order_by_asc(Expr::col((OBSERVATIONS, column)));
        }
        Ok(select.limit(limit).all(&self.db).await?)
    }

    /// What an export of `filter` will hold, read before it is written (SDMX-JSON lists only
    /// the attributes some observation has): the indicators named, and whether any observation
    /// has a source title, URL, publisher, date and note.
    pub async fn export_contents(&self, filter: &str) -> ServiceResult<(Vec<String>, [bool; 5])> {
        let matching = self.observation_condition(filter, false)?;
        let indicators = Query::select()
            .distinct()
            .column("indicator")
            .from(OBSERVATIONS)
            .cond_where(matching.clone())
            .to_owned();
        let indicators = self
            .db
            .query_all(&indicators)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "indicator"))
            .collect::<Result<Vec<_>, _>>()?;
        // pbjson leaves empty strings out, so `"note":"` is in the JSON exactly when there is a
        // note (inside a string value the quotes would be escaped).
        let tests = [
            "source_title <> ''",
            "source_url <> ''",
            "source_publisher <> ''",
            "source_date <> ''",
            "resource LIKE '%\"note\":\"%'",
        ];
        let mut select = Query::select();
        for (index, test) in tests.iter().enumerate() {
            select.expr_as(
                Expr::cust(format!("MAX(CASE WHEN {test} THEN 1 ELSE 0 END)")),
                format!("has_{index}"),
            );
        }
        select.from(OBSERVATIONS).cond_where(matching);
        let mut present = [false; 5];
        if let Some(row) = self.db.query_one(&select).await? {
            for (index, flag) in present.iter_mut().enumerate() {
                *flag = row.try_get::<Option<i32>>("", &format!("has_{index}"))?.unwrap_or(0) > 0;
            }
        }
        Ok((indicators, present))
    }

    fn observation_condition(&self, filter: &str, show_deleted: bool) -> ServiceResult<Condition> {
        let mut matching = Condition::all();
        if let Some(filter) = OBSERVATION_FILTER.condition(filter)? {
            matching = matching.add(filter);
        }
        if !show_deleted {
            matching = matching.add(observation_row::Column::DeleteTime.is_null());
        }
        if let Some(every) = every_indicator_for(self.db.get_database_backend(), filter) {
            matching = matching.add(every);
        }
        Ok(matching)
    }

    /// Creates every observation or none. A `request_id` seen before (of the batch, or of one
    /// item) returns what that request returned, and writes nothing for it. Every step is done in
    /// bulk: one query for the recorded requests, one for the indicators, one for clashing
    /// names, as few multi-row INSERTs as the parameter limit allows and as few for the request
    /// records.
    #[tracing::instrument(skip(self, items), fields(count = items.len()), err(level = "debug", Display))]
    pub async fn create_observations(
        &self,
        items: Vec<NewObservation>,
        batch_request_id: &str,
    ) -> ServiceResult<Vec<Observation>> {
        let created = error::concurrent_writes_abort(self.try_create_observations(&items, batch_request_id).await);
        let has_request_id = !batch_request_id.is_empty() || items.iter().any(|item| !item.request_id.is_empty());
        if error::conflict_may_be_a_retry(&created, has_request_id) {
            return error::concurrent_writes_abort(self.try_create_observations(&items, batch_request_id).await);
        }
        created
    }

    /// Refuses the codes of indicators that do not exist or are deleted (NOT_FOUND), as a
    /// create of their observations would.
    pub async fn require_live_indicators(&self, codes: &BTreeSet<&str>) -> ServiceResult<()> {
        require_live_indicators(&self.db, codes).await
    }

    async fn try_create_observations(
        &self,
        items: &[NewObservation],
        batch_request_id: &str,
    ) -> ServiceResult<Vec<Observation>> {
        let txn = database::begin_write(&self.db).await?;
        if let Some(recorded) = REQUEST_LOG
            .recorded(&txn, BATCH_CREATE_OBSERVATIONS, batch_request_id)
            .await?
        {
            return Ok(recorded);
        }
        let single_request_id = match items {
            [one] if batch_request_id.is_empty() => Some(one.request_id.clone()),
            _ => None,
        };
        let request_ids: Vec<&str> = items.iter().map(|item| item.request_id.as_str()).collect();
        let mut answered: HashMap<String, Observation> = REQUEST_LOG
            .recorded_many(&txn, CREATE_OBSERVATION, &request_ids)
            .await?;
        let codes: BTreeSet<&str> = items
            .iter()
            .filter(|item| !answered.contains_key(&item.request_id))
            .map(|item| item.indicator_code.as_str())
            .collect();
        require_live_indicators(&txn, &codes).await?;
        let now = time::now_micros();
        let mut created = Vec::with_capacity(items.len());
        // Each observation's JSON, serialized once: the row's `resource`, its request record
        // and its part of the batch's record.
        let mut created_json = Vec::with_capacity(items.len());
        let mut rows = Vec::with_capacity(items.len());
        // The names of the observations this call writes (not those it replays), which must
        // be free.
        let mut fresh_names = Vec::with_capacity(items.len());
        let mut records = Vec::new();
        for item in items {
            if let Some(recorded) = answered.remove(&item.request_id) {
                created_json.push(to_json(&recorded)?);
                created.push(recorded);
                continue;
            }
            let id = item.id.clone().unwrap_or_else(names::generate_id);
            let indicator_name = indicator::name_of(&item.indicator_code);
            let mut stored = item.observation.clone();
            stored.name = observation::name_of(&item.indicator_code, &id);
            stored.create_time = Some(time::timestamp(now));
            stored.update_time = Some(time::timestamp(now));
            stored.delete_time = None;
            let row = observation::to_row(&mut stored, &indicator_name, &item.period)?;
            let json = match &row.resource {
                ActiveValue::Set(json) | ActiveValue::Unchanged(json) => json.clone(),
                ActiveValue::NotSet => to_json(&stored)?,
            };
            rows.push(row);
            if !item.request_id.is_empty() {
                records.push((item.request_id.clone(), json.clone()));
            }
            created_json.push(json);
            fresh_names.push(stored.name.clone());
            created.push(stored);
        }
        // Built while the names are checked, and each while the one before runs.
        let inserts =
            database::Inserts::of::<observation_row::Entity>(ConnectionTrait::get_database_backend(&txn), rows);
        require_unused_names(&txn, &fresh_names).await?;
        inserts.run(&txn).await?;
        REQUEST_LOG
            .record_many_json(&txn, CREATE_OBSERVATION, &records, now)
            .await?;
        if !batch_request_id.is_empty() {
            // What `serde_json::to_string(&created)` gives, from the pieces at hand.
            let response = format!("[{}]", created_json.join(","));
            let record = [(batch_request_id.to_owned(), response)];
            REQUEST_LOG
                .record_many_json(&txn, BATCH_CREATE_OBSERVATIONS, &record, now)
                .await?;
        }
        match (created.as_slice(), &single_request_id) {
            ([one], Some(request_id)) => audit::record(&txn, &one.name, request_id).await?,
            _ => audit::record(&txn, "indicators/-/observations", batch_request_id).await?,
        }
        txn.commit().await?;
        self.counts.changed();
        Ok(created)
    }

    /// Writes observation rows as they are, in one transaction, without any check: for
    /// `observatory generate`, which makes rows it knows are valid and new.
    pub async fn insert_generated(&self, rows: Vec<observation_row::ActiveModel>) -> ServiceResult<()> {
        let txn = database::begin_write(&self.db).await?;
        database::insert_all::<observation_row::Entity>(&txn, rows).await?;
        txn.commit().await?;
        self.counts.changed();
        Ok(())
    }

    /// Which of `request_ids` were answered by CreateObservation, with their answers.
    pub async fn recorded_observations(&self, request_ids: &[&str]) -> ServiceResult<HashMap<String, Observation>> {
        REQUEST_LOG
            .recorded_many(&self.db, CREATE_OBSERVATION, request_ids)
            .await
    }

    /// Changes one observation in the `required` state whose etag is still `etag` (when
    /// given). `change` returns the observation's period once it has checked the result.
    #[tracing::instrument(skip(self, change), err(level = "debug", Display))]
    pub async fn modify_observation(
        &self,
        name: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Observation, i64) -> ServiceResult<Period>,
    ) -> ServiceResult<Observation> {
        error::concurrent_writes_abort(self.try_modify_observation(name, etag, required, change).await)
    }

    async fn try_modify_observation(
        &self,
        name: &str,
        etag: &str,
        required: Lifecycle,
        change: impl FnOnce(&mut Observation, i64) -> ServiceResult<Period>,
    ) -> ServiceResult<Observation> {
        let txn = database::begin_write(&self.db).await?;
        let row = observation_row::Entity::find_by_id(name.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found(name))?;
        lifecycle::check_change(name, Lifecycle::of(row.delete_time), required, etag, &row.etag)?;
        let mut changed = observation::from_row(&row)?;
        let now = time::now_micros();
        let period = change(&mut changed, now)?;
        changed.update_time = Some(time::timestamp(now));
        let written = observation_row::Entity::update_many()
            .set(observation::to_row(&mut changed, &row.indicator, &period)?)
            .filter(observation_row::Column::Name.eq(name))
            .filter(observation_row::Column::Etag.eq(row.etag.clone()))
            .exec(&txn)
            .await?;
        if written.rows_affected != 1 {
            return Err(lifecycle::stale_etag(name));
        }
        audit::record(&txn, name, "").await?;
        txn.commit().await?;
        self.counts.changed();
        Ok(changed)
    }
}

/// Checks, in one query, that every indicator of `codes` exists and is not deleted.
async fn require_live_indicators(txn: &impl ConnectionTrait, codes: &BTreeSet<&str>) -> ServiceResult<()> {
    if codes.is_empty() {
        return Ok(());
    }
    let rows = indicator_row::Entity::find()
        .filter(indicator_row::Column::Id.is_in(codes.iter().map(|code| (*code).to_owned())))
        .all(txn)
        .await?;
    let found: HashMap<&str, &indicator_row::Model> = rows.iter().map(|row| (row.id.as_str(), row)).collect();
    for code in codes {
        let name = indicator::name_of(code);
        let row = found.get(code).ok_or_else(|| ServiceError::not_found(&name))?;
        lifecycle::check_change(&name, Lifecycle::of(row.delete_time), Lifecycle::Live, "", "")?;
    }
    Ok(())
}

fn to_json(resource: &impl serde::Serialize) -> ServiceResult<String> {
    serde_json::to_string(resource).map_err(|error| ServiceError::Internal(error.into()))
}

/// Refuses the batch if any of `names` is taken (ALREADY_EXISTS naming the first taken, in the
/// batch's order), in one query: a query per hundred names cost a batch of 5,000 about 50 ms of
/// round trips.
async fn require_unused_names(txn: &DatabaseTransaction, names: &[String]) -> ServiceResult<()> {
    match database::first_present(txn, OBSERVATIONS, "name", names).await? {
        Some(taken) => Err(ServiceError::already_exists(taken)),
        None => Ok(()),
    }
}

/// One group of [`Store::aggregate_figures`], read from its row.
fn figure_group(row: &sea_orm::QueryResult, fields: &[GroupField], with_last: bool) -> ServiceResult<FigureGroup> {
    let mut keys = Vec::with_capacity(fields.len());
    for field in fields {
        let column = group_column(*field);
        keys.push(match field {
            GroupField::Year => row.try_get::<i32>("", column)?.to_string(),
            _ => row.try_get::<String>("", column)?,
        });
    }
    let last = if with_last {
        Some(LastFigure {
            period_end: row.try_get("", "last_period_end")?,
            source_date: row.try_get("", "last_source_date")?,
            value: row.try_get("", "last_value")?,
            name: row.try_get("", "last_name")?,
        })
    } else {
        None
    };
    Ok(FigureGroup {
        keys,
        sum: row.try_get("", "total")?,
        count: row.try_get("", "figures")?,
        max: row.try_get("", "highest")?,
        last,
        set_aside: row.try_get("", "set_aside")?,
    })
}

/// The source rule's order within one initiative, place, period and status: the most recently
/// published source first (no date sorts as oldest), then the lowest figure, then the name.
const PREFERENCE: &str = "source_date DESC, value ASC, name ASC";

/// The figures matching `condition` with their rank under the source rule (`figure_rank`, 1 for
/// the kept one). Conflicts are between figures of one `owner` (column: the initiative, or the
/// indicator when the initiative is fixed), place, period and status. `columns` are those
/// selected; `None` selects every column and the size of each conflict set (`figure_count`),
/// for the few figures of one initiative. Aggregation counts what it sets aside from the ranks
/// instead: a second window is a second sort of every figure.
///
/// The partition's columns mean the same in any order; this one puts the owner first (the most
/// distinct values, so the window's sort decides early) and the status second, so that the
/// grouping by owner and status that follows (aggregation by initiative, legal form or goal;
/// the latest figure of each indicator) reads the window's output in its order instead of
/// sorting it again (over 500k figures on PostgreSQL, 3.4 s instead of 1.6 s).
fn ranked_figures(condition: Condition, owner: &str, columns: Option<&[&'static str]>) -> SelectStatement {
    let partition = format!("PARTITION BY {owner}, status, ref_area, time_period");
    let mut select = Query::select();
    match columns {
        None => {
            select.expr(Expr::cust("*"));
        }
        Some(columns) => {
            select.columns(columns.iter().copied());
        }
    }
    select
        .expr_as(
            Expr::cust(format!("ROW_NUMBER() OVER ({partition} ORDER BY {PREFERENCE})")),
            "figure_rank",
        )
        .from(OBSERVATIONS)
        .cond_where(condition);
    if columns.is_none() {
        select.expr_as(Expr::cust(format!("COUNT(*) OVER ({partition})")), "figure_count");
    }
    select.to_owned()
}

/// The column a stored group field reads.
fn group_column(field: GroupField) -> &'static str {
    match field {
        GroupField::RefArea => "ref_area",
        GroupField::Year => "year",
        GroupField::Status => "status",
        GroupField::Initiative | GroupField::LegalForm | GroupField::SdgGoal => "initiative",
    }
}
