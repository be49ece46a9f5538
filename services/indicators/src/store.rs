//! Reading and writing indicators and observations. Every write is one transaction: rows,
//! facets and request records commit together or not at all; updates are conditional on the
//! etag read, so concurrent writers cannot overwrite each other unseen.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use sse_platform::{
    ServiceError, ServiceResult, error,
    filter::{FacetTable, FieldKind, FilterField, FilterSchema},
    idempotency::RequestLog,
    lifecycle::{self, Lifecycle},
    names,
    pagination::{self, ListQuery, ListSpec, OrderField, Page},
    time,
};
use sse_proto::indicators::{Indicator, Observation};

use crate::{
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
const OBSERVATIONS: &str = "observations";

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
    OrderField::new("name", "id"),
    OrderField::named("display_name"),
    OrderField::named("create_time"),
    OrderField::named("update_time"),
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
    OrderField::named("name"),
    OrderField::named("time_period"),
    OrderField::named("period_start"),
    OrderField::named("period_end"),
    OrderField::named("value"),
    OrderField::named("create_time"),
    OrderField::named("update_time"),
];

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
        let created = async {
            let txn = self.db.begin().await?;
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
            let mut stored = resource;
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
            txn.commit().await?;
            self.counts.changed();
            Ok(stored)
        }
        .await;
        error::concurrent_writes_abort(created)
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
        let txn = self.db.begin().await?;
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

    fn observation_condition(&self, filter: &str, show_deleted: bool) -> ServiceResult<Condition> {
        let mut matching = Condition::all();
        if let Some(filter) = OBSERVATION_FILTER.condition(filter)? {
            matching = matching.add(filter);
        }
        if !show_deleted {
            matching = matching.add(observation_row::Column::DeleteTime.is_null());
        }
        Ok(matching)
    }

    /// Creates every observation or none. A `request_id` seen before (of the batch, or of one
    /// item) returns what that request returned, and writes nothing for it.
    #[tracing::instrument(skip(self, items), fields(count = items.len()), err(level = "debug", Display))]
    pub async fn create_observations(
        &self,
        items: Vec<NewObservation>,
        batch_request_id: &str,
    ) -> ServiceResult<Vec<Observation>> {
        let created = async {
            let txn = self.db.begin().await?;
            if let Some(recorded) = REQUEST_LOG
                .recorded(&txn, BATCH_CREATE_OBSERVATIONS, batch_request_id)
                .await?
            {
                return Ok(recorded);
            }
            let now = time::now_micros();
            let mut live_indicators = HashSet::new();
            let mut created = Vec::with_capacity(items.len());
            let mut rows = Vec::with_capacity(items.len());
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                if let Some(recorded) = REQUEST_LOG.recorded(&txn, CREATE_OBSERVATION, &item.request_id).await? {
                    created.push(recorded);
                    continue;
                }
                if !live_indicators.contains(&item.indicator_code) {
                    require_live_indicator(&txn, &item.indicator_code).await?;
                    live_indicators.insert(item.indicator_code.clone());
                }
                let id = item.id.unwrap_or_else(names::generate_id);
                let indicator_name = indicator::name_of(&item.indicator_code);
                let mut stored = item.observation;
                stored.name = observation::name_of(&item.indicator_code, &id);
                stored.create_time = Some(time::timestamp(now));
                stored.update_time = Some(time::timestamp(now));
                stored.delete_time = None;
                rows.push(observation::to_row(&mut stored, &indicator_name, &item.period)?);
                names.push(stored.name.clone());
                REQUEST_LOG
                    .record(&txn, CREATE_OBSERVATION, &item.request_id, &stored, now)
                    .await?;
                created.push(stored);
            }
            for chunk in names.chunks(500) {
                let taken = observation_row::Entity::find()
                    .filter(observation_row::Column::Name.is_in(chunk.iter().cloned()))
                    .one(&txn)
                    .await?;
                if let Some(taken) = taken {
                    return Err(ServiceError::already_exists(taken.name));
                }
            }
            // Chunks keep each statement under the databases' bound-parameter limits.
            let mut pending = rows.into_iter().peekable();
            while pending.peek().is_some() {
                let chunk: Vec<_> = pending.by_ref().take(500).collect();
                observation_row::Entity::insert_many(chunk)
                    .exec_without_returning(&txn)
                    .await?;
            }
            REQUEST_LOG
                .record(&txn, BATCH_CREATE_OBSERVATIONS, batch_request_id, &created, now)
                .await?;
            txn.commit().await?;
            self.counts.changed();
            Ok(created)
        }
        .await;
        error::concurrent_writes_abort(created)
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
        let txn = self.db.begin().await?;
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
        txn.commit().await?;
        self.counts.changed();
        Ok(changed)
    }
}

async fn require_live_indicator(txn: &DatabaseTransaction, code: &str) -> ServiceResult<()> {
    let name = indicator::name_of(code);
    let row = indicator_row::Entity::find_by_id(code.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::not_found(&name))?;
    lifecycle::check_change(&name, Lifecycle::of(row.delete_time), Lifecycle::Live, "", "")
}
