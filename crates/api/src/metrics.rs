//! Prometheus metrics of the API: requests by route pattern, method and status, deploys by
//! kind and outcome, and the engine's containers by state (read at scrape time). Other crates'
//! collectors (the controller's engine errors and database pool) join through the registry
//! handed to [`Metrics::new`]; `GET /metrics` renders them all in the text format.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::ContainerState;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::state::ApiState;

/// Latency buckets of API requests, in seconds.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Duration buckets of deploys and scales, in seconds.
const DEPLOY_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// How long a scrape waits for the engine's container list.
const ENGINE_WAIT: Duration = Duration::from_secs(3);

/// The API's metrics and the registry every collector of the process is registered in.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    token: Option<String>,
    requests: IntCounterVec,
    latency: HistogramVec,
    deploys: HistogramVec,
    containers: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers the API's collectors in `registry`; `/metrics` then asks for `token` as a
    /// bearer token when one is given.
    pub fn new(registry: Registry, token: Option<String>) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("deis_http_requests_total", "API requests answered"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "deis_http_request_duration_seconds",
                "Time from request head to response head",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )?;
        let deploys = HistogramVec::new(
            HistogramOpts::new(
                "deis_deploy_duration_seconds",
                "Deploys (build, config, rollback), scales and restarts through the API, by outcome (ok, refused, failed)",
            )
            .buckets(DEPLOY_BUCKETS.to_vec()),
            &["kind", "outcome"],
        )?;
        let containers = IntGaugeVec::new(
            Opts::new(
                "deis_containers",
                "This controller's containers on the engine by state, read at scrape time",
            ),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(deploys.clone()))?;
        registry.register(Box::new(containers.clone()))?;
        Ok(Self {
            registry,
            token: token.filter(|t| !t.is_empty()),
            requests,
            latency,
            deploys,
            containers,
        })
    }

    /// Metrics in a registry of their own, without a token (tests, and until the controller
    /// hands over its registry through [`crate::ApiState::with_metrics`]).
    pub fn standalone() -> Self {
        Self::new(Registry::new(), None).expect("the API's metrics fit a fresh registry")
    }

    /// The registry, for collectors of other crates.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one answered request.
    pub(crate) fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
        if method == "POST"
            && let Some(kind) = deploy_kind(route)
        {
            let outcome = match status.as_bytes().first() {
                Some(b'2') => "ok",
                Some(b'5') => "failed",
                _ => "refused",
            };
            self.deploys
                .with_label_values(&[kind, outcome])
                .observe(elapsed.as_secs_f64());
        }
    }
}

/// What a `POST` to a route pattern changes on the engine, if anything.
fn deploy_kind(route: &str) -> Option<&'static str> {
    Some(match route {
        "/v1/apps/{id}/builds" | "/v1/hooks/build" | "/v1/hooks/builds" => "build",
        "/v1/apps/{id}/config" | "/v1/hooks/config" => "config",
        "/v1/apps/{id}/releases/rollback" => "rollback",
        "/v1/apps/{id}/scale" => "scale",
        "/v1/apps/{id}/containers/restart"
        | "/v1/apps/{id}/containers/{type}/restart"
        | "/v1/apps/{id}/containers/{type}/{num}/restart" => "restart",
        _ => return None,
    })
}

/// `GET /metrics`: every registered metric in the Prometheus text format (behind the bearer
/// token when one is set).
pub async fn scrape(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let metrics = &state.metrics;
    if let Some(token) = &metrics.token {
        let sent = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent.is_none_or(|sent| !crate::auth::constant_time_eq(sent.as_bytes(), token.as_bytes()))
        {
            tracing::warn!("metrics scrape refused: missing or wrong bearer token");
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")))
                .json(serde_json::json!({ "detail": "Authentication credentials were not provided." }));
        }
    }
    let listed = tokio::time::timeout(ENGINE_WAIT, state.platform.scheduler().list(None)).await;
    metrics.containers.reset();
    match listed {
        Ok(Ok(containers)) => {
            for state in [
                ContainerState::Created,
                ContainerState::Up,
                ContainerState::Down,
                ContainerState::Crashed,
            ] {
                metrics
                    .containers
                    .with_label_values(&[state.as_str()])
                    .set(0);
            }
            for c in containers {
                metrics
                    .containers
                    .with_label_values(&[c.state.as_str()])
                    .inc();
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: the engine did not list containers"),
        Err(_) => tracing::warn!("metrics: the engine did not list containers in time"),
    }
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&metrics.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics could not be encoded");
        return HttpResponse::InternalServerError()
            .json(serde_json::json!({ "detail": "internal server error" }));
    }
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_routes_have_kinds_and_others_none() {
        assert_eq!(deploy_kind("/v1/apps/{id}/builds"), Some("build"));
        assert_eq!(deploy_kind("/v1/hooks/config"), Some("config"));
        assert_eq!(deploy_kind("/v1/apps/{id}/scale"), Some("scale"));
        assert_eq!(
            deploy_kind("/v1/apps/{id}/containers/{type}/restart"),
            Some("restart")
        );
        assert_eq!(deploy_kind("/v1/apps"), None);
    }
}
