//! The traffic port: what the router offers the deploy pipeline.
//!
//! The router sends each request to a healthy container of the app its `Host` names. The use
//! cases tell it, per app, which host names and which containers there are; the router probes
//! containers it has not seen healthy before they get traffic. Deploys use it to wait for new
//! containers to answer and for old ones to finish their requests before they are stopped.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;

use crate::certificate::TlsCertificate;

/// One container that may receive traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Engine name of the container (`{app}_v{N}.{type}.{num}`), for messages.
    pub container: String,
    /// Where it answers: the container's address and its `$PORT`.
    pub addr: SocketAddr,
}

/// Everything the router needs to route one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoutes {
    /// App id.
    pub app: String,
    /// Host names routed to the app, lowercase and without port: `{app}.{domain}` and the
    /// app's custom domains.
    pub hosts: Vec<String>,
    /// The app's routable containers. Ones the router has not seen healthy are probed first
    /// and get traffic once they answer.
    pub endpoints: Vec<Endpoint>,
    /// Path of health probes (the app's `HEALTHCHECK_URL`, default `/`).
    pub health_path: String,
}

/// A container that did not become healthy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    /// The container's endpoint.
    pub endpoint: Endpoint,
    /// What the last probe saw (refused connection, timeout, status 503, ...).
    pub reason: String,
}

/// The router, as the use cases drive it.
#[async_trait]
pub trait Routing: Send + Sync {
    /// Replaces what the router knows of the app (its hosts at once; containers as above).
    /// Containers no longer listed stop getting new requests once the app has a healthy
    /// listed container, or at once when none is listed.
    async fn set_routes(&self, routes: AppRoutes);
    /// Forgets the app: its hosts answer 404 from now on.
    async fn remove_app(&self, app: &str);
    /// Probes every endpoint until it answers HTTP on `path` with a status below 500, or
    /// `timeout` passes; the ones that never did are returned. Endpoints that answered count
    /// as healthy for `set_routes`.
    async fn await_healthy(
        &self,
        endpoints: &[Endpoint],
        path: &str,
        timeout: Duration,
    ) -> Result<(), Vec<Unhealthy>>;
    /// Waits until no request is in flight to any of these endpoints, at most `grace`.
    async fn drain(&self, endpoints: &[Endpoint], grace: Duration);
    /// Replaces the certificates served over HTTPS, each for its names (API v1.7 `/v1/certs`).
    /// A router without HTTPS ignores them.
    async fn set_certificates(&self, certificates: Vec<TlsCertificate>) {
        drop(certificates);
    }
}
