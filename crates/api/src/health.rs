//! `GET /readyz`: whether this controller can serve, that is whether the database and the
//! engine answer. `/healthz` (in `lib.rs`) stays a liveness check that touches neither.

use std::future::Future;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::ApiState;

/// How long each dependency may take to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// `ok`, or why the dependency is not ready (the reason itself is logged, not answered).
async fn probe<E: std::fmt::Display>(
    what: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(dependency = what, error = %e, "not ready");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!(
                dependency = what,
                timeout_s = PROBE_TIMEOUT.as_secs(),
                "not ready: no answer in time"
            );
            "timed out"
        }
    }
}

/// `GET /readyz`: 200 `{"database": "ok", "engine": "ok"}` when both answer within
/// [`PROBE_TIMEOUT`]; 503 naming the ones that do not (and a `detail`) otherwise.
pub async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let platform = &state.platform;
    let (database, engine) = tokio::join!(
        probe("database", platform.store().ping()),
        probe("engine", platform.scheduler().ping()),
    );
    let failing: Vec<&str> = [("database", database), ("engine", engine)]
        .into_iter()
        .filter(|(_, answer)| *answer != "ok")
        .map(|(name, _)| name)
        .collect();
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({ "database": database, "engine": engine }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "detail": format!("not ready: {} not answering", failing.join(" and ")),
            "database": database,
            "engine": engine,
        }))
    }
}
