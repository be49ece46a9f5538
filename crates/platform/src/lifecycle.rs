//! The rules every soft-deletable, etag-guarded resource follows when it is changed: a change
//! applies to a live resource (or, to undelete, a deleted one), and only if the etag the caller
//! read is still current.

use crate::error::ServiceError;

/// The state a change needs its resource to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Live,
    Deleted,
}

impl Lifecycle {
    pub fn of(delete_time: Option<i64>) -> Lifecycle {
        if delete_time.is_some() {
            Lifecycle::Deleted
        } else {
            Lifecycle::Live
        }
    }
}

/// Whether the resource `name`, in state `actual` with etag `current`, may take a change that
/// needs `required` and was made from `given` (empty: no etag check).
pub fn check_change(
    name: &str,
    actual: Lifecycle,
    required: Lifecycle,
    given: &str,
    current: &str,
) -> Result<(), ServiceError> {
    if actual != required {
        return Err(match actual {
            Lifecycle::Deleted => ServiceError::FailedPrecondition {
                reason: "DELETED",
                message: format!("{name} is deleted; undelete it first"),
            },
            Lifecycle::Live => ServiceError::FailedPrecondition {
                reason: "NOT_DELETED",
                message: format!("{name} is not deleted"),
            },
        });
    }
    if !given.is_empty() && given != current {
        return Err(stale_etag(name));
    }
    Ok(())
}

/// The answer to a change made from an outdated read.
pub fn stale_etag(name: &str) -> ServiceError {
    ServiceError::Aborted {
        reason: "ETAG_MISMATCH",
        message: format!("{name} has changed since it was read; read it again and retry"),
    }
}
