//! Request ids, the per-request span and access lines, and request metrics.
//!
//! Every request runs inside a `request` span carrying its id: the client's `X-Request-Id`
//! when it is sane (1 to 128 characters of `A-Z a-z 0-9 - _ . : /`), a new UUID otherwise.
//! The id is echoed in the answer's `X-Request-Id`. When the answer is ready, one access line
//! (`deis_api::access`, info) tells id, method, route pattern, status, latency and the
//! authenticated user, and the request counts in [`crate::metrics`].

use std::time::Instant;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument as _;

use crate::state::ApiState;

/// The header carrying a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client request id taken as is.
const MAX_ID: usize = 128;

/// The user a request authenticated as, recorded by [`crate::auth`] for the access line.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) String);

/// The client's id if it is sane, else a fresh one.
fn request_id(sent: Option<&HeaderValue>) -> String {
    sent.and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_ID
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// A method as a metric label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Milliseconds with three decimals.
fn millis(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The middleware: id, span, access line, metrics.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(req.headers().get(&REQUEST_ID));
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id);
    let metrics = req
        .app_data::<web::Data<ApiState>>()
        .map(|state| state.metrics.clone());
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let _entered = span.enter();
    let mut res = match result {
        Ok(res) => res,
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            tracing::info!(
                target: "deis_api::access",
                request_id = %id,
                method,
                route = "unmatched",
                status,
                latency_ms = millis(elapsed),
                "request"
            );
            if let Some(metrics) = metrics {
                metrics.observe("unmatched", method, status, elapsed);
            }
            return Err(e);
        }
    };
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    let user = res
        .request()
        .extensions()
        .get::<Caller>()
        .map(|c| c.0.clone());
    tracing::info!(
        target: "deis_api::access",
        request_id = %id,
        method,
        route = %route,
        status,
        latency_ms = millis(elapsed),
        user = user.as_deref().unwrap_or("-"),
        "request"
    );
    if let Some(metrics) = metrics {
        metrics.observe(&route, method, status, elapsed);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_client_ids_are_kept_and_others_replaced() {
        let kept = HeaderValue::from_static("abc-123_x.y:z/1");
        assert_eq!(request_id(Some(&kept)), "abc-123_x.y:z/1");
        for bad in ["", "has space", "quote\"", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).expect("header value");
            let id = request_id(Some(&value));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        assert!(uuid::Uuid::parse_str(&request_id(None)).is_ok());
    }
}
