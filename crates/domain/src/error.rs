//! Error types: what a store or scheduler can report, and what a use case answers.

use std::collections::BTreeMap;
use std::time::Duration;

/// Field name -> messages, the serializer-validation shape of the API.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Failures of the durable store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The looked-up record does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now (pool exhausted, connection lost).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported; a bug or a broken database.
    #[error("database error: {0}")]
    Backend(String),
}

/// Failures of the container scheduler.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SchedulerError {
    /// The engine cannot be reached or is not configured.
    #[error("{0}")]
    Unavailable(String),
    /// The engine refused or failed an operation.
    #[error("{0}")]
    Failed(String),
}

/// What a use case answers when it does not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The object does not exist or is not visible to the caller.
    #[error("Not found")]
    NotFound,
    /// Not found, answered with an empty body (sharing endpoints).
    #[error("not found")]
    NotFoundEmpty,
    /// The caller may not do this.
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    /// The caller may not do this; answered with an empty body (sharing endpoints).
    #[error("forbidden")]
    ForbiddenEmpty,
    /// Field validation failed.
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
    /// A domain rule refused the request; the message is the whole answer.
    #[error("{0}")]
    Rejected(String),
    /// The request cannot be carried out as asked (e.g. the new release never became
    /// healthy); nothing was changed. Answered 400 with the message as `detail`.
    #[error("{0}")]
    Refused(String),
    /// A quota or the platform's container bound refuses the request; nothing was created.
    #[error("{0}")]
    Quota(String),
    /// Too many failed attempts or requests at once; worth trying again after `retry_after`
    /// when that is known.
    #[error("{message}")]
    TooMany {
        /// What to tell the caller.
        message: String,
        /// How long until an attempt may succeed, when known.
        retry_after: Option<Duration>,
    },
    /// The request conflicts with the state of another record; the message is the `detail`.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not use what the request names (403); the message is the `detail`.
    #[error("{0}")]
    Denied(String),
    /// The scheduler could not carry the change out; nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl Error {
    /// One field error.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(name.to_owned(), vec![message.into()]);
        Self::Fields(errors)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::NotFound,
            other => Self::Store(other),
        }
    }
}
