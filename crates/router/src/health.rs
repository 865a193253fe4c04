//! Health probes: `GET {health_path}` answered with a status below 500 means healthy.
//!
//! New containers are probed often (`new_probe_interval`) until they answer; every routed
//! container is probed every `probe_interval` by the active check, which takes dead ones
//! out and brings recovered ones back.

use std::fmt;
use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Uri, header};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;

use deis_domain::{Endpoint, Unhealthy};

use crate::Shared;
use crate::table::Upstream;

/// The probe client: no pooled connections, so every probe connects afresh.
pub(crate) type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// Active probes run at once, at most.
const PROBE_CONCURRENCY: usize = 64;

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// Nothing listens (the container is gone or not started): out at once.
    Refused,
    /// No response headers within the probe timeout.
    Timeout(Duration),
    /// An answer of 500 or above.
    Status(http::StatusCode),
    /// Anything else (reset, not HTTP, ...).
    Other(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::Timeout(after) => write!(f, "no response within {after:?}"),
            Self::Status(status) => write!(f, "answered status {status}"),
            Self::Other(error) => f.write_str(error),
        }
    }
}

/// The I/O error kind somewhere in `error`'s chain of sources.
pub(crate) fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// One error and its sources, joined for a message.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        text.push_str(": ");
        text.push_str(&e.to_string());
        current = e.source();
    }
    text
}

/// Probes `upstream` once: `GET path` within `timeout`.
pub(crate) async fn probe(
    client: &ProbeClient,
    upstream: &Upstream,
    path: &str,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let uri = Uri::builder()
        .scheme("http")
        .authority(upstream.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| ProbeError::Other(format!("bad health check path {path:?}: {e}")))?;
    let request = Request::get(uri)
        .header(header::USER_AGENT, "deis-router/health")
        .body(Empty::new())
        .map_err(|e| ProbeError::Other(e.to_string()))?;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Err(ProbeError::Timeout(timeout)),
        Ok(Ok(response)) if response.status().is_server_error() => {
            Err(ProbeError::Status(response.status()))
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => match io_kind(&e) {
            Some(io::ErrorKind::ConnectionRefused) => Err(ProbeError::Refused),
            Some(io::ErrorKind::TimedOut) => Err(ProbeError::Timeout(timeout)),
            _ => Err(ProbeError::Other(describe(&e))),
        },
    }
}

/// A health path as a request target: `/` prefixed when missing.
pub(crate) fn target(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

impl Shared {
    /// Probes each endpoint every `new_probe_interval` until it answers below 500 (then it
    /// counts as healthy) or the next probe would start after `timeout`; the ones that never
    /// answered, with what their last probe saw.
    pub(crate) async fn await_healthy(
        &self,
        endpoints: &[Endpoint],
        path: &str,
        timeout: Duration,
    ) -> Vec<Unhealthy> {
        let path = target(path);
        let deadline = Instant::now() + timeout;
        let settings = &self.settings;
        let results = futures_util::future::join_all(endpoints.iter().map(|endpoint| {
            let path = &path;
            async move {
                let upstream = self.lock_routes().upstream(endpoint);
                loop {
                    match probe(&self.prober, &upstream, path, settings.probe_timeout).await {
                        Ok(()) => {
                            self.seen_healthy(endpoint);
                            return None;
                        }
                        Err(error) if Instant::now() + settings.new_probe_interval >= deadline => {
                            return Some(Unhealthy {
                                endpoint: endpoint.clone(),
                                reason: error.to_string(),
                            });
                        }
                        Err(_) => tokio::time::sleep(settings.new_probe_interval).await,
                    }
                }
            }
        }))
        .await;
        self.prune_retired();
        results.into_iter().flatten().collect()
    }
}

/// Probes a new container every `new_probe_interval` until it answers, it is no longer
/// routed, or `new_probe_period` passes; the active check takes over from there.
pub(crate) async fn probe_new(shared: Weak<Shared>, upstream: Arc<Upstream>, path: String) {
    let Some(settings) = shared.upgrade().map(|s| s.settings.clone()) else {
        upstream.stop_probing();
        return;
    };
    let until = Instant::now() + settings.new_probe_period;
    loop {
        // The registry and this task hold it; more means an app still routes to it.
        let routed = Arc::strong_count(&upstream) > 2;
        if upstream.is_healthy() || !routed {
            break;
        }
        let Some(router) = shared.upgrade() else {
            break;
        };
        if probe(&router.prober, &upstream, &path, settings.probe_timeout)
            .await
            .is_ok()
        {
            if upstream.mark_up() {
                tracing::info!(container = %upstream.endpoint.container, addr = %upstream.endpoint.addr, "container healthy, routed");
                router.prune_retired();
            }
            break;
        }
        drop(router);
        if Instant::now() >= until {
            break;
        }
        tokio::time::sleep(settings.new_probe_interval).await;
    }
    upstream.stop_probing();
}

/// Probes every routed container every `probe_interval`, as long as the router exists.
pub(crate) async fn active_checks(shared: Weak<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(router) = shared.upgrade() else {
            return;
        };
        let targets = router.check_targets();
        let threshold = router.settings.unhealthy_threshold;
        let timeout = router.settings.probe_timeout;
        let came_up = futures_util::stream::iter(targets)
            .map(|(upstream, path)| {
                let router = &router;
                async move {
                    match probe(&router.prober, &upstream, &path, timeout).await {
                        Ok(()) => {
                            let up = upstream.mark_up();
                            if up {
                                tracing::info!(container = %upstream.endpoint.container, addr = %upstream.endpoint.addr, "container recovered, routed again");
                            }
                            up
                        }
                        Err(error) => {
                            let out = match error {
                                ProbeError::Refused => upstream.mark_down(),
                                _ => upstream.probe_failed(threshold),
                            };
                            if out {
                                tracing::warn!(container = %upstream.endpoint.container, addr = %upstream.endpoint.addr, %error, "container failed its health check, taken out");
                            }
                            false
                        }
                    }
                }
            })
            .buffer_unordered(PROBE_CONCURRENCY)
            .fold(false, |any, up| async move { any || up })
            .await;
        if came_up {
            router.prune_retired();
        }
    }
}
