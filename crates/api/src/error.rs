//! One mapping from every failure to an HTTP answer in the spec's error shapes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use deis_domain::{Error, StoreError};
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused or failed.
    #[error(transparent)]
    Domain(#[from] Error),
    /// Authentication failed; the message is the `detail`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The body could not be read; the message is the `detail`.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than allowed.
    #[error("Request body is too large")]
    TooLarge,
    /// The body did not arrive within the server's body timeout.
    #[error("Request body was not received in time.")]
    BodyTimeout,
    /// The body's media type is not one the API parses.
    #[error("Unsupported media type '{0}' in request.")]
    UnsupportedMediaType(String),
    /// The route exists but not for this method.
    #[error("Method '{0}' not allowed.")]
    MethodNotAllowed(String),
    /// No route matches.
    #[error("Not found")]
    NoRoute,
    /// The blocking pool is gone (shutting down).
    #[error("blocking pool is gone")]
    Blocking(#[from] actix_web::error::BlockingError),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    /// Token signing failed.
    #[error("token signing failed: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Domain(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Domain(e) => match e {
                Error::NotFound | Error::NotFoundEmpty => StatusCode::NOT_FOUND,
                Error::Forbidden | Error::ForbiddenEmpty | Error::Quota(_) => StatusCode::FORBIDDEN,
                Error::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::Fields(_) | Error::Rejected(_) | Error::Refused(_) => {
                    StatusCode::BAD_REQUEST
                }
                Error::Denied(_) => StatusCode::FORBIDDEN,
                Error::Unavailable(_) | Error::Store(StoreError::Unavailable(_)) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                Error::Conflict(_) | Error::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
                Error::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
                Error::Store(StoreError::Backend(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Blocking(_) | Self::Hash(_) | Self::Token(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Domain(Error::Forbidden | Error::ForbiddenEmpty | Error::Denied(_)) => {
                tracing::info!(reason = %self, "permission refused");
            }
            Self::Domain(Error::TooMany { .. }) => tracing::info!(reason = %self, "throttled"),
            _ => {}
        }
        let mut res = HttpResponse::build(status);
        match self {
            Self::Domain(Error::NotFoundEmpty | Error::ForbiddenEmpty) => res.finish(),
            Self::Domain(Error::Fields(fields)) => res.json(fields),
            Self::Domain(Error::Rejected(message)) => res.json(message),
            Self::Domain(Error::TooMany {
                message,
                retry_after,
            }) => {
                if let Some(wait) = retry_after {
                    res.insert_header((header::RETRY_AFTER, wait.as_secs().max(1)));
                }
                res.json(json!({ "detail": message }))
            }
            Self::BodyTimeout => {
                // The rest of the body is never read: the connection cannot carry another request.
                res.force_close();
                res.json(json!({ "detail": self.to_string() }))
            }
            Self::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Token")));
                res.json(json!({ "detail": self.to_string() }))
            }
            _ if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE => {
                tracing::error!(error = ?self, "request failed");
                res.json(json!({ "detail": "internal server error" }))
            }
            Self::Domain(Error::Store(StoreError::Unavailable(e))) => {
                tracing::warn!(error = %e, "database unavailable");
                res.json(json!({ "detail": "database unavailable, try again" }))
            }
            _ => res.json(json!({ "detail": self.to_string() })),
        }
    }
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
