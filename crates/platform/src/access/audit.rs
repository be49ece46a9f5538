//! The audit trail: one event per write, accepted or refused, naming the caller, the method,
//! the resource, the `request_id` and the outcome.
//!
//! An accepted write records its event in its own transaction ([`record`], called by the store
//! just before it commits), so no write commits without its event. The guard serves each write
//! inside a [`WriteInProgress`] scope that tells [`record`] who is writing what; a write that
//! recorded nothing (refused, failed, or a replay of an answered `request_id`) gets its event
//! from the guard once answered. Events are written in the database of the service that
//! answered; when the access store is another database, [`relay`] moves them there, where
//! ListAuditEvents reads them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use tonic::Code;

use super::schema::audit_event;
use crate::{
    ServiceResult,
    filter::{FieldKind, FilterField, FilterSchema},
    pagination::{self, ListCounts, ListQuery, ListSpec, OrderField, Page, SortType},
    shutdown::Shutdown,
    time,
};

tokio::task_local! {
    static CURRENT: Arc<WriteInProgress>;
}

/// Who is writing through which method, for the duration of one served write.
#[derive(Debug)]
pub struct WriteInProgress {
    caller: String,
    /// `sse.initiatives.v1.InitiativeService/CreateInitiative`.
    method: String,
    recorded: AtomicBool,
}

impl WriteInProgress {
    pub fn new(caller: &str, path: &str) -> Arc<WriteInProgress> {
        Arc::new(WriteInProgress {
            caller: caller.to_owned(),
            method: path.trim_start_matches('/').to_owned(),
            recorded: AtomicBool::new(false),
        })
    }

    /// Whether the write recorded its event in its transaction.
    pub fn recorded(&self) -> bool {
        self.recorded.load(Ordering::Acquire)
    }

    /// Runs `serving` with this write as the one [`record`] records.
    pub async fn scope<F: Future>(self: &Arc<Self>, serving: F) -> F::Output {
        CURRENT.scope(self.clone(), serving).await
    }

    /// The event of this write with its outcome. `resource` and `request_id` of a refused
    /// write are what the caller sent, unchecked: see [`recorded_text`].
    pub fn event(&self, resource: &str, request_id: &str, code: Code) -> Event {
        Event {
            caller: self.caller.clone(),
            method: self.method.clone(),
            resource: recorded_text(resource),
            request_id: recorded_text(request_id),
            code,
        }
    }
}

/// The most characters of a value the trail keeps.
const MAX_RECORDED_CHARS: usize = 256;

/// A value as the trail keeps it: cut to [`MAX_RECORDED_CHARS`], control characters replaced by
/// U+FFFD. A refused write is recorded with what it sent, which no check has passed: PostgreSQL
/// would refuse a NUL (and the event would be lost), and a 4 MB request_id would be kept whole.
fn recorded_text(text: &str) -> String {
    text.chars()
        .take(MAX_RECORDED_CHARS)
        .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
        .collect()
}

/// Records the write being served as accepted, in `txn`, the transaction that makes it: the
/// event commits with the write or not at all. Outside a served call (seeding, generating
/// data, the command line) there is no caller to record, and nothing is written.
pub async fn record(txn: &impl ConnectionTrait, resource: &str, request_id: &str) -> ServiceResult<()> {
    let Ok(write) = CURRENT.try_with(Arc::clone) else {
        return Ok(());
    };
    append(txn, &write.event(resource, request_id, Code::Ok)).await?;
    write.recorded.store(true, Ordering::Release);
    Ok(())
}

/// One event, before it is stored.
#[derive(Debug, Clone)]
pub struct Event {
    pub caller: String,
    pub method: String,
    pub resource: String,
    pub request_id: String,
    pub code: Code,
}

/// Writes `event` now, on `db`.
pub async fn append(db: &impl ConnectionTrait, event: &Event) -> Result<(), sea_orm::DbErr> {
    let row = audit_event::Model {
        id: uuid::Uuid::now_v7().to_string(),
        event_time: time::now_micros(),
        caller: event.caller.clone(),
        method: event.method.clone(),
        resource: event.resource.clone(),
        request_id: event.request_id.clone(),
        code: code_name(event.code).to_owned(),
        service: service_of(&event.method).to_owned(),
    };
    audit_event::Entity::insert(audit_event::ActiveModel::from(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// `initiatives` for `sse.initiatives.v1.InitiativeService/CreateInitiative`.
fn service_of(method: &str) -> &str {
    method.split('.').nth(1).unwrap_or_default()
}

/// The canonical name of a gRPC code, as grpc-gateway and the status codes document spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// What ListAuditEvents filters can reach.
const FILTER_SCHEMA: FilterSchema = FilterSchema {
    table: "audit_events",
    id_column: "id",
    fields: &[
        FilterField::named("caller", FieldKind::Text),
        FilterField::named("method", FieldKind::Text),
        FilterField::named("resource", FieldKind::Text),
        FilterField::named("request_id", FieldKind::Text),
        FilterField::named("code", FieldKind::Text),
        FilterField::named("service", FieldKind::Text),
        FilterField::named("event_time", FieldKind::Timestamp),
    ],
    text_columns: &["caller", "method", "resource", "request_id", "code", "service"],
    facets: None,
};

const LIST: ListSpec = ListSpec {
    filter: &FILTER_SCHEMA,
    order: &[OrderField::named("event_time", SortType::Integer)],
    unique_column: "id",
    delete_time_column: None,
};

/// Newest first unless asked otherwise.
pub const DEFAULT_ORDER: &str = "event_time desc";

/// The events in the access store.
#[derive(Clone)]
pub struct AuditTrail {
    db: DatabaseConnection,
    counts: Arc<ListCounts>,
}

impl AuditTrail {
    pub fn new(db: DatabaseConnection) -> AuditTrail {
        AuditTrail {
            db,
            counts: Arc::default(),
        }
    }

    pub async fn list(&self, query: ListQuery<'_>) -> ServiceResult<Page<audit_event::Model>> {
        // Events arrive all the time: a count is good for a few seconds at most anyway.
        self.counts.changed();
        pagination::list_rows::<audit_event::Entity>(
            &self.db,
            &LIST,
            &query,
            (&[], Condition::all()),
            |row, column| match column {
                "event_time" => row.event_time.into(),
                _ => row.id.clone().into(),
            },
            &self.counts,
        )
        .await
    }
}

/// How many events one relay step moves.
const RELAY_BATCH: u64 = crate::database::IN_LIST_CHUNK as u64;
/// How often the relay looks for events to move.
const RELAY_INTERVAL: Duration = Duration::from_secs(1);

/// Moves the events written in `local` (a service's own database) to `access` (the access
/// store), oldest first, until `shutdown`, then once more. An event is deleted locally only
/// once the access store holds it, and inserting one already there changes nothing: a crash
/// between the two steps repeats nothing and loses nothing.
pub async fn relay(local: DatabaseConnection, access: DatabaseConnection, shutdown: Shutdown) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(RELAY_INTERVAL) => false,
            () = shutdown.clone().triggered() => true,
        };
        loop {
            match relay_once(&local, &access).await {
                Ok(moved) if moved as u64 == RELAY_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot relay audit events to the access store; will retry");
                    break;
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Moves one batch; returns how many events it moved.
pub async fn relay_once(local: &DatabaseConnection, access: &DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
    let events = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .limit(RELAY_BATCH)
        .all(local)
        .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    let moved = events.len();
    audit_event::Entity::insert_many(events.into_iter().map(audit_event::ActiveModel::from))
        .on_conflict(OnConflict::column(audit_event::Column::Id).do_nothing().to_owned())
        .exec_without_returning(access)
        .await?;
    audit_event::Entity::delete_many()
        .filter(audit_event::Column::Id.is_in(ids))
        .exec(local)
        .await?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_the_service_of_their_method() {
        assert_eq!(
            service_of("sse.initiatives.v1.InitiativeService/CreateInitiative"),
            "initiatives"
        );
        assert_eq!(service_of("sse.access.v1.AccessService/CreateApiKey"), "access");
    }
}
