//! Which generation of the Controller API a request speaks, v1.0 or v1.7, and everything that
//! differs between the two: the one place where the API tells them apart.
//!
//! A request selects its generation by its headers, first match wins:
//! 1. `X-Deis-Version: 1.0` selects v1.0 and `X-Deis-Version: 1.7` selects v1.7; any other
//!    value is answered 405 before routing and authentication (§1.5, naming our version 1.0).
//! 2. Without `X-Deis-Version`, a `User-Agent` starting with `Deis Client v1.` (the Go clients
//!    of Deis 1.x, such as 1.13.4, which send no version header) selects v1.7.
//! 3. Anything else is v1.0: the Python client 1.0.1 (which sends `X-Deis-Version: 1.0`) and
//!    clients that say nothing get exactly the v1.0 behaviour.
//!
//! What v1.7 changes, all of it here or behind the [`v17`] guard:
//! - every answer carries `DEIS_API_VERSION: 1.7` and `DEIS_PLATFORM_VERSION`;
//! - errors that v1.0 answers with a bare JSON string or an empty body answer
//!   `{"detail": "..."}` (the Go client cannot read anything else);
//! - the v1.7 routes exist: users, token regeneration, certificates, restart, app transfer;
//! - logs are plain text and honour `?log_lines=N`; cpu limits read back as integers.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::guard::{self, Guard};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use deis_domain::{Config, Error};
use futures_util::future::{Ready, ready};
use serde_json::{Value, json};

use crate::API_VERSION;
use crate::error::ApiError;
use crate::views::View;

/// The API version v1.7 answers carry in `DEIS_API_VERSION`.
pub const V17: &str = "1.7";

/// The platform version v1.7 answers carry in `DEIS_PLATFORM_VERSION`.
pub const PLATFORM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The most lines `?log_lines=N` may ask for.
pub const MAX_LOG_LINES: u64 = 10_000;

/// The `User-Agent` prefix of the Go clients of Deis 1.x.
const GO_CLIENT: &[u8] = b"Deis Client v1.";

/// A generation of the Controller API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// API v1.0, as the Deis 1.0.1 controller spoke it (`api-v1.md`).
    V1_0,
    /// API v1.7, as the Deis 1.13.4 controller spoke it (`api-v1.7-additions.md`).
    V1_7,
}

impl Generation {
    /// The generation the headers select, or the `X-Deis-Version` sent when this server
    /// speaks no such version.
    pub fn select(headers: &HeaderMap) -> Result<Self, String> {
        if let Some(sent) = headers.get("X-Deis-Version") {
            return match sent.as_bytes() {
                b"1.0" => Ok(Self::V1_0),
                b"1.7" => Ok(Self::V1_7),
                other => Err(String::from_utf8_lossy(other).into_owned()),
            };
        }
        let go_client = headers
            .get(USER_AGENT)
            .is_some_and(|ua| ua.as_bytes().starts_with(GO_CLIENT));
        Ok(if go_client { Self::V1_7 } else { Self::V1_0 })
    }

    /// The generation of a request that reached a handler.
    pub fn of(req: &HttpRequest) -> Self {
        Self::select(req.headers()).unwrap_or(Self::V1_0)
    }

    /// The number of log lines the request asks for: `?log_lines=N` (1 to
    /// [`MAX_LOG_LINES`]) in v1.7; v1.0 always answers the configured number.
    pub fn log_lines(self, req: &HttpRequest) -> Result<Option<u64>, ApiError> {
        if self == Self::V1_0 {
            return Ok(None);
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let Some((_, raw)) = pairs.iter().rev().find(|(k, _)| k == "log_lines") else {
            return Ok(None);
        };
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LOG_LINES).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "log_lines must be a whole number from 1 to {MAX_LOG_LINES}"
                ))
            })
    }

    /// The answer of the logs endpoint: v1.0 sends the JSON-encoded string labelled
    /// `text/plain`; v1.7 sends the lines themselves. No lines is 204 in both.
    pub fn logs(self, text: Option<String>) -> HttpResponse {
        match (self, text) {
            (_, None) => HttpResponse::NoContent().finish(),
            (Self::V1_0, Some(text)) => HttpResponse::Ok()
                .content_type("text/plain")
                .body(json!(text).to_string()),
            (Self::V1_7, Some(text)) => HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(text),
        }
    }

    /// The wire form of a config: v1.7 answers cpu shares as integers (they are validated as
    /// digits, but v1.0 keeps the JSON type they were sent with).
    pub fn config(self, config: &Config) -> Value {
        let mut view = config.view();
        if self == Self::V1_7
            && let Some(Value::Object(cpu)) = view.get_mut("cpu")
        {
            for share in cpu.values_mut() {
                if let Some(n) = share.as_str().and_then(|s| s.parse::<u64>().ok()) {
                    *share = Value::from(n);
                }
            }
        }
        view
    }
}

impl FromRequest for Generation {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// Routes only v1.7 requests see; v1.0 requests pass them by as if they did not exist.
pub fn v17() -> impl Guard {
    guard::fn_guard(|ctx| Generation::select(ctx.head().headers()) == Ok(Generation::V1_7))
}

/// The answer to an `X-Deis-Version` this server does not speak (§1.5).
fn mismatch(sent: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(json!({
        "error": format!("Client and server versions do not match. Client version: {sent} Server version: {API_VERSION}")
    }))
}

/// The `detail` a v1.7 error answers where v1.0 answers a bare string or nothing.
fn v17_detail<B>(res: &ServiceResponse<B>) -> Option<String> {
    match res.response().error()?.as_error::<ApiError>()? {
        ApiError::Domain(Error::Rejected(message)) => Some(message.clone()),
        ApiError::Domain(Error::NotFoundEmpty) => Some(Error::NotFound.to_string()),
        ApiError::Domain(Error::ForbiddenEmpty) => Some(Error::Forbidden.to_string()),
        _ => None,
    }
}

/// Selects the generation of every request before routing: refuses versions this server does
/// not speak and gives v1.7 answers their headers and error shapes.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    match Generation::select(req.headers()) {
        Err(sent) => Ok(req.into_response(mismatch(&sent)).map_into_right_body()),
        Ok(Generation::V1_0) => Ok(next.call(req).await?.map_into_left_body()),
        Ok(Generation::V1_7) => {
            let res = next.call(req).await?;
            let mut res = match v17_detail(&res) {
                Some(detail) => {
                    let answer =
                        HttpResponse::build(res.status()).json(json!({ "detail": detail }));
                    res.into_response(answer).map_into_right_body()
                }
                None => res.map_into_left_body(),
            };
            let headers = res.headers_mut();
            headers.insert(
                HeaderName::from_static("deis_api_version"),
                HeaderValue::from_static(V17),
            );
            headers.insert(
                HeaderName::from_static("deis_platform_version"),
                HeaderValue::from_static(PLATFORM_VERSION),
            );
            Ok(res)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn headers_select_the_generation() {
        use Generation::{V1_0, V1_7};
        let select = |pairs| Generation::select(&headers(pairs));
        assert_eq!(select(&[]), Ok(V1_0));
        assert_eq!(select(&[("x-deis-version", "1.0")]), Ok(V1_0));
        assert_eq!(select(&[("x-deis-version", "1.7")]), Ok(V1_7));
        assert_eq!(select(&[("user-agent", "Deis Client v1.13.4")]), Ok(V1_7));
        assert_eq!(select(&[("user-agent", "Deis Client v1.12.0")]), Ok(V1_7));
        assert_eq!(select(&[("user-agent", "Deis Client v2.0.0")]), Ok(V1_0));
        assert_eq!(select(&[("user-agent", "python-requests/2.4")]), Ok(V1_0));
        assert_eq!(
            select(&[
                ("user-agent", "Deis Client v1.13.4"),
                ("x-deis-version", "1.0")
            ]),
            Ok(V1_0)
        );
        assert_eq!(select(&[("x-deis-version", "2.0")]), Err("2.0".into()));
        assert_eq!(select(&[("x-deis-version", "")]), Err(String::new()));
    }
}
