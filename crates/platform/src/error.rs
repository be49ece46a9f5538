//! The one error type of every service and its mapping to `google.rpc.Status`: a gRPC code, a
//! lowercase message, an `ErrorInfo` (reason, domain) and, for bad input, `BadRequest` field
//! violations. Unexpected errors are logged once here, with their whole cause chain, and reach
//! the caller as INTERNAL without internals. A database that cannot be reached is not
//! unexpected: it is UNAVAILABLE (`DATABASE_UNAVAILABLE`) with a `RetryInfo`, which clients retry.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error the observatory returns.
pub const ERROR_DOMAIN: &str = "observatory.sse";

/// One invalid field of a request, named by its path, e.g. `initiative.countries[1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; `violations` name each bad field.
    #[error("{message}")]
    InvalidArgument {
        reason: &'static str,
        message: String,
        violations: Vec<FieldViolation>,
    },
    #[error("{resource} not found")]
    NotFound { resource: String },
    #[error("{resource} already exists")]
    AlreadyExists { resource: String },
    /// The request is valid but the system is not in a state to carry it out.
    #[error("{message}")]
    FailedPrecondition { reason: &'static str, message: String },
    /// A concurrency conflict, such as a stale etag: read again and retry.
    #[error("{message}")]
    Aborted { reason: &'static str, message: String },
    /// No credentials where some are needed, or credentials that are unknown, revoked or
    /// expired.
    #[error("{message}")]
    Unauthenticated { reason: &'static str, message: String },
    /// Valid credentials without the right to do this.
    #[error("{message}")]
    PermissionDenied { reason: &'static str, message: String },
    /// Over a rate limit: retry after `retry_after` (a `RetryInfo` detail says so).
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// A dependency (another service, the database) is down; the caller may retry with
    /// backoff, after `retry_after` when given (a `RetryInfo` detail says so).
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    /// Bad input with the field violations found; `message` sums them up.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let message = match violations.as_slice() {
            [only] => format!("invalid {}: {}", only.field, only.description),
            many => format!("{} invalid fields", many.len()),
        };
        ServiceError::InvalidArgument {
            reason: "INVALID_ARGUMENT",
            message,
            violations,
        }
    }

    /// Bad input in one field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        ServiceError::invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: impl Into<String>) -> Self {
        ServiceError::NotFound {
            resource: resource.into(),
        }
    }

    pub fn already_exists(resource: impl Into<String>) -> Self {
        ServiceError::AlreadyExists {
            resource: resource.into(),
        }
    }

    /// A dependency that is down, without a suggested delay.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ServiceError::Unavailable {
            reason: "UNAVAILABLE",
            message: message.into(),
            retry_after: None,
        }
    }

    /// The database cannot be reached (refused, dropped or no connection within the pool's
    /// acquire timeout): retry in a second.
    pub fn database_unavailable() -> Self {
        ServiceError::Unavailable {
            reason: DATABASE_UNAVAILABLE,
            message: "the database is unavailable; retry later".to_owned(),
            retry_after: Some(DATABASE_RETRY_AFTER),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ServiceError::InvalidArgument { .. } => Code::InvalidArgument,
            ServiceError::NotFound { .. } => Code::NotFound,
            ServiceError::AlreadyExists { .. } => Code::AlreadyExists,
            ServiceError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ServiceError::Aborted { .. } => Code::Aborted,
            ServiceError::Unauthenticated { .. } => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::ResourceExhausted { .. } => Code::ResourceExhausted,
            ServiceError::Unavailable { .. } => Code::Unavailable,
            ServiceError::Internal(_) => Code::Internal,
        }
    }

    /// The machine-readable `ErrorInfo.reason`, in UPPER_SNAKE_CASE.
    pub fn reason(&self) -> &'static str {
        match self {
            ServiceError::InvalidArgument { reason, .. }
            | ServiceError::FailedPrecondition { reason, .. }
            | ServiceError::Aborted { reason, .. }
            | ServiceError::Unauthenticated { reason, .. }
            | ServiceError::PermissionDenied { reason, .. }
            | ServiceError::ResourceExhausted { reason, .. }
            | ServiceError::Unavailable { reason, .. } => reason,
            ServiceError::NotFound { .. } => "NOT_FOUND",
            ServiceError::AlreadyExists { .. } => "ALREADY_EXISTS",
            ServiceError::Internal(_) => "INTERNAL",
        }
    }
}

/// The `ErrorInfo.reason` of a call that failed because the database could not be reached.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

/// The delay the `RetryInfo` of a DATABASE_UNAVAILABLE error suggests: a restarted or failed-over
/// database is usually back within seconds, and the health check notices within one.
pub const DATABASE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        if is_connection_lost(&error) {
            // One line per call would flood the log during an outage: health logs the outage
            // once, and the call's own span records its UNAVAILABLE.
            tracing::debug!(%error, "database unavailable");
            return ServiceError::database_unavailable();
        }
        ServiceError::Internal(anyhow::Error::new(error).context("database error"))
    }
}

/// The bounds of what one error puts in the response's trailers, whatever a check wrote: gRPC
/// clients refuse metadata past about 8 KB (RESOURCE_EXHAUSTED "metadata size exceeds hard
/// limit"), and a proxy's HTTP/2 header limit is not much larger. Messages quote rejected
/// values through [`crate::validate::quoted`]; these are the net under every message.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;
/// The bytes of violations listed (a request's dozen or two fit); a last one says how many
/// more there were.
const MAX_VIOLATIONS_BYTES: usize = 3072;
const MAX_FIELD_BYTES: usize = 128;
const MAX_DESCRIPTION_BYTES: usize = 256;

/// `text` cut to at most `max` bytes on a character boundary, with an ellipsis when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

/// Whether `error` says the database could not be reached rather than that a statement failed:
/// no connection within the acquire timeout, a refused or dropped connection, or the server
/// shutting down or starting up. Such a call may succeed when retried; a failed statement
/// would fail again.
pub fn is_connection_lost(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    let sqlx_error = match error {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => error.as_ref(),
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx_error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            // PostgreSQL's class 08 (connection exception), 57P01-57P03 (the server shutting
            // down, crashed or not yet accepting connections) and 53300 (too many connections).
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl ServiceError {
    /// This error, or DATABASE_UNAVAILABLE when it is an internal error caused by a database
    /// that could not be reached (one that reached here through `anyhow` rather than
    /// `From<DbErr>`).
    fn classified(self) -> ServiceError {
        match self {
            ServiceError::Internal(cause)
                if cause
                    .chain()
                    .any(|cause| cause.downcast_ref::<sea_orm::DbErr>().is_some_and(is_connection_lost)) =>
            {
                tracing::debug!(error = format!("{cause:#}"), "database unavailable");
                ServiceError::database_unavailable()
            }
            other => other,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        let error = error.classified();
        let code = error.code();
        let reason = error.reason();
        let mut metadata = HashMap::new();
        let message = match &error {
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "internal error".to_owned()
            }
            other => bounded(&other.to_string(), MAX_ERROR_MESSAGE_BYTES),
        };
        match &error {
            ServiceError::NotFound { resource } | ServiceError::AlreadyExists { resource } => {
                metadata.insert("resource".to_owned(), bounded(resource, MAX_FIELD_BYTES));
            }
            _ => {}
        }
        let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
        if let ServiceError::InvalidArgument { violations, .. } = &error {
            let mut budget = MAX_VIOLATIONS_BYTES;
            let mut listed = 0;
            for violation in violations {
                let field = bounded(&violation.field, MAX_FIELD_BYTES);
                let description = bounded(&violation.description, MAX_DESCRIPTION_BYTES);
                let Some(left) = budget.checked_sub(field.len() + description.len()) else {
                    break;
                };
                budget = left;
                listed += 1;
                details.add_bad_request_violation(field, description);
            }
            if listed < violations.len() {
                let more = violations.len() - listed;
                details.add_bad_request_violation("", format!("and {more} more violations"));
            }
        }
        match &error {
            ServiceError::ResourceExhausted { retry_after, .. }
            | ServiceError::Unavailable {
                retry_after: Some(retry_after),
                ..
            } => {
                details.set_retry_info(Some(*retry_after));
            }
            _ => {}
        }
        Status::with_error_details(code, message, details)
    }
}

/// The outcome of a write that met a concurrent one: a unique key taken at commit (the same
/// resource or request_id written first), or SQLite's write lock held by another transaction.
/// ABORTED tells the caller to retry, and the retry gets a definite answer.
pub fn concurrent_writes_abort<T>(result: ServiceResult<T>) -> ServiceResult<T> {
    match result {
        Err(ServiceError::Internal(error)) if error.chain().any(is_write_conflict) => Err(ServiceError::Aborted {
            reason: CONCURRENT_WRITE,
            message: "another request wrote the same resource or request_id at the same time; retry".to_owned(),
        }),
        other => other,
    }
}

/// Whether a create that carries a request id should run once more after `result`: it met a
/// concurrent write (ABORTED) or found its resource id taken (ALREADY_EXISTS). Either may be
/// the same request sent again while its first attempt was being written; once that attempt
/// has committed (which a unique key taken, or a row seen, implies on PostgreSQL), the second run
/// finds the request recorded and answers with its result, so a retry never looks like a conflict.
/// A resource id taken by another request is ALREADY_EXISTS again.
pub fn conflict_may_be_a_retry<T>(result: &ServiceResult<T>, has_request_id: bool) -> bool {
    has_request_id
        && matches!(
            result,
            Err(ServiceError::AlreadyExists { .. })
                | Err(ServiceError::Aborted {
                    reason: CONCURRENT_WRITE,
                    ..
                })
        )
}

/// The `ErrorInfo.reason` of a write that met a concurrent one.
pub const CONCURRENT_WRITE: &str = "CONCURRENT_WRITE";

/// The HTTP status grpc-gateway answers a gRPC code with; the gateway uses the same mapping.
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode;
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A unique key taken by a concurrent transaction, or, on SQLite, the write lock held by one.
fn is_write_conflict(cause: &(dyn std::error::Error + 'static)) -> bool {
    let Some(db_error) = cause.downcast_ref::<sea_orm::DbErr>() else {
        return false;
    };
    if matches!(db_error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let text = db_error.to_string();
    text.contains("database is locked") || text.contains("(code: 5)") || text.contains("(code: 517)")
}

/// The `grpc-status` among `headers` (a trailers-only answer's headers, or the trailers),
/// `None` when there is none (a successful call's headers: its status comes in the trailers).
pub fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from_i32(value))
}

/// What every RPC handler returns.
pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_error_info_and_each_field_violation() {
        let error = ServiceError::invalid(vec![
            FieldViolation::new("initiative.countries[1]", "unknown ISO 3166-1 code \"XX\""),
            FieldViolation::new("initiative.display_name", "required"),
        ]);
        let status = Status::from(error);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        let fields: Vec<&str> = details
            .bad_request()
            .expect("bad request")
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["initiative.countries[1]", "initiative.display_name"]);
    }

    #[test]
    fn an_error_stays_small_whatever_the_request_held() {
        let huge = "x".repeat(1024 * 1024);
        let violations = (0..1000)
            .map(|index| FieldViolation::new(format!("names[{index}]{huge}"), huge.clone()))
            .collect();
        let status = Status::from(ServiceError::invalid(violations));
        let trailers = status.clone().into_http::<tonic::body::Body>();
        let size: usize = trailers
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        assert!(size < 8 * 1024, "{size} bytes of trailers");
        let details = status.get_error_details();
        let listed = &details.bad_request().expect("bad request").field_violations;
        assert!(listed.len() < 20, "{} violations listed", listed.len());
        assert_eq!(
            listed.last().map(|violation| violation.description.as_str()),
            Some(format!("and {} more violations", 1000 - (listed.len() - 1)).as_str())
        );
    }

    #[test]
    fn a_lost_database_is_unavailable_with_a_retry_delay() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};
        let refused = || {
            let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
            RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::Io(io)))
        };
        let lost = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Query(refused()),
            DbErr::Exec(refused()),
            DbErr::Conn(refused()),
        ];
        for error in lost {
            let status = Status::from(ServiceError::from(error));
            assert_eq!(status.code(), Code::Unavailable);
            let details = status.get_error_details();
            assert_eq!(details.error_info().expect("error info").reason, DATABASE_UNAVAILABLE);
            let retry = details.retry_info().and_then(|retry| retry.retry_delay);
            assert_eq!(retry, Some(DATABASE_RETRY_AFTER));
        }
        // Also when it reached the handler wrapped in anyhow.
        let wrapped = anyhow::Error::new(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)).context("listing");
        assert_eq!(Status::from(ServiceError::Internal(wrapped)).code(), Code::Unavailable);
        // A statement that failed is not an outage.
        let failed = DbErr::Query(RuntimeErr::Internal("syntax error".to_owned()));
        assert_eq!(Status::from(ServiceError::from(failed)).code(), Code::Internal);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = Status::from(ServiceError::Internal(anyhow::anyhow!("password=hunter2")));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
