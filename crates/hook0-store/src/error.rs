//! Storage errors, named by what the caller must do about them rather than by backend.

use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// An event with this id was already stored (upstream's `event_pkey` conflict).
    #[error("an event with this id was already ingested")]
    EventAlreadyIngested,
    /// The event type named by an event or subscription does not exist in the application.
    #[error("event type does not exist: {0}")]
    EventTypeDoesNotExist(String),
    /// The organization still has live applications.
    #[error("the organization still has applications")]
    OrganizationIsNotEmpty,
    /// A user with this email already exists.
    #[error("a user with this email already exists")]
    UserAlreadyExist,
    /// The user is already a member of the organization.
    #[error("the user is already a member of the organization")]
    InvitedUserAlreadyInOrganization,
    /// A quota is reached; nothing was written (HTTP 429 with the quota's problem id).
    #[error("quota reached: {0:?}")]
    QuotaReached(hook0_core::quota::Quota),
    /// The database is unreachable, overloaded or timed out: retry later (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) => {
                // SQLite: SQLITE_BUSY / SQLITE_LOCKED / SQLITE_FULL; PostgreSQL: lock_not_available,
                // query_canceled (statement timeout), admin shutdown, cannot connect now.
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let transient = matches!(
                    code.as_str(),
                    "5" | "6"
                        | "13"
                        | "517"
                        | "261"
                        | "55P03"
                        | "57014"
                        | "57P01"
                        | "57P03"
                        | "53300"
                );
                if transient {
                    StoreError::Unavailable(e.to_string())
                } else {
                    StoreError::Database(e.to_string())
                }
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    DatabaseBusy
                        | DatabaseLocked
                        | DiskFull
                        | SystemIoFailure
                        | CannotOpen
                        | OutOfMemory
                ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

/// True when a SQLite write failed on a primary-key or unique constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}
