//! The connection to the engine: connecting lazily, bounding every request in time, and the
//! one place where bollard's errors become [`SchedulerError`]s.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::{API_DEFAULT_VERSION, Docker};
use deis_domain::SchedulerError;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::OnceCell;

use crate::DockerSettings;

/// One attempt at connecting, awaited by every caller that arrives while it runs.
type Attempt = Shared<BoxFuture<'static, Result<Docker, SchedulerError>>>;

/// A lazily connected engine client. Connecting (and negotiating the API version down to
/// what the engine speaks) happens on first use and is retried on later calls until it
/// succeeds, so the controller starts, and answers "unavailable", while the engine is down.
/// Callers that arrive while an attempt is under way share its outcome instead of queueing
/// for attempts of their own, so no call waits longer than one connect timeout.
pub(crate) struct Engine {
    host: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    client: OnceCell<Docker>,
    attempt: Mutex<Option<Attempt>>,
}

impl Engine {
    /// An engine client that has not connected yet.
    pub(crate) fn new(settings: &DockerSettings) -> Self {
        Self {
            host: settings.host.clone(),
            connect_timeout: settings.connect_timeout,
            request_timeout: settings.request_timeout,
            client: OnceCell::new(),
            attempt: Mutex::new(None),
        }
    }

    /// The connected client, connecting first if needed: joins the attempt under way, or
    /// starts one when there is none (or the last one failed).
    pub(crate) async fn docker(&self) -> Result<&Docker, SchedulerError> {
        if let Some(docker) = self.client.get() {
            return Ok(docker);
        }
        let attempt = {
            let mut slot = self
                .attempt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match slot.as_ref() {
                Some(running) if !matches!(running.peek(), Some(Err(_))) => running.clone(),
                _ => {
                    let fresh = connect(self.host.clone(), self.connect_timeout)
                        .boxed()
                        .shared();
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        let docker = attempt.await?;
        Ok(self.client.get_or_init(|| async { docker }).await)
    }

    /// Awaits one engine request, failing with a timeout error after the request bound.
    pub(crate) async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, BollardError> {
        self.bounded_by(self.request_timeout, request).await
    }

    /// Awaits one engine request that may legitimately take `extra` longer than others
    /// (a stop with a grace period, a log stream being read to its end).
    pub(crate) async fn bounded_by<T>(
        &self,
        extra: Duration,
        request: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, BollardError> {
        let limit = self.request_timeout.saturating_add(extra);
        tokio::time::timeout(limit, request)
            .await
            .unwrap_or(Err(BollardError::RequestTimeoutError))
    }
}

/// Makes a client for `host` (`None`: `DOCKER_HOST` or the local socket) and negotiates the
/// API version within `timeout`.
async fn connect(host: Option<String>, timeout: Duration) -> Result<Docker, SchedulerError> {
    let docker = match host.as_deref() {
        None => Docker::connect_with_defaults(),
        Some(host) if host.starts_with("unix://") => {
            Docker::connect_with_unix(host, CLIENT_TIMEOUT_SECS, API_DEFAULT_VERSION)
        }
        Some(host) if host.starts_with("tcp://") || host.starts_with("http://") => {
            Docker::connect_with_http(host, CLIENT_TIMEOUT_SECS, API_DEFAULT_VERSION)
        }
        Some(host) => {
            return Err(SchedulerError::Unavailable(format!(
                "docker engine address {host:?} is not unix://, tcp:// or http://"
            )));
        }
    }
    .map_err(classify)?
    .with_timeout(Duration::from_secs(CLIENT_TIMEOUT_SECS));
    let negotiated = tokio::time::timeout(timeout, docker.negotiate_version())
        .await
        .map_err(|_| {
            SchedulerError::Unavailable(format!(
                "docker engine unreachable: no answer within {}s",
                timeout.as_secs_f32()
            ))
        })?
        .map_err(classify)?;
    tracing::info!(
        api.version = %negotiated.client_version(),
        "connected to the docker engine"
    );
    Ok(negotiated)
}

/// bollard's own bound on receiving response headers. Ours (`bounded`) are tighter for
/// plain requests; this one only has to stay out of the way of long waits (`run` may wait
/// many minutes for a container's exit), so it is a day.
const CLIENT_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// The HTTP status of an error the engine answered with, if it answered.
pub(crate) fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Maps every bollard error to the port's two failures: could not reach the engine
/// (`Unavailable`, the API answers 503) or the engine refused (`Failed`).
pub(crate) fn classify(e: BollardError) -> SchedulerError {
    match e {
        BollardError::DockerResponseServerError { message, .. } => {
            SchedulerError::Failed(message.trim().to_owned())
        }
        BollardError::RequestTimeoutError => SchedulerError::Unavailable(
            "docker engine unreachable: no answer within the request timeout".to_owned(),
        ),
        BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::IOError { .. }
        | BollardError::SocketNotFoundError(_)
        | BollardError::UnsupportedURISchemeError { .. }
        | BollardError::APIVersionParseError {} => {
            SchedulerError::Unavailable(format!("docker engine unreachable: {e}"))
        }
        other => SchedulerError::Failed(format!("docker engine: {other}")),
    }
}

/// Puts the container's name in front of a failure's message, keeping its kind.
pub(crate) fn about(name: &str, e: SchedulerError) -> SchedulerError {
    match e {
        SchedulerError::Unavailable(m) => SchedulerError::Unavailable(format!("{name}: {m}")),
        SchedulerError::Failed(m) => SchedulerError::Failed(format!("{name}: {m}")),
    }
}

/// One failure out of several: `Unavailable` when any of them is (the engine is the
/// problem, worth retrying), otherwise `Failed`; the messages are joined.
pub(crate) fn combine(summary: &str, failures: Vec<SchedulerError>) -> SchedulerError {
    let unavailable = failures
        .iter()
        .any(|e| matches!(e, SchedulerError::Unavailable(_)));
    let details: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let message = format!("{summary}: {}", details.join("; "));
    if unavailable {
        SchedulerError::Unavailable(message)
    } else {
        SchedulerError::Failed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_failures_and_silence_is_unavailability() {
        let refused = BollardError::DockerResponseServerError {
            status_code: 409,
            message: "Conflict. The container name is in use\n".to_owned(),
        };
        assert!(matches!(classify(refused), SchedulerError::Failed(m) if m.ends_with("in use")));
        assert!(matches!(
            classify(BollardError::RequestTimeoutError),
            SchedulerError::Unavailable(_)
        ));
        assert!(matches!(
            classify(BollardError::SocketNotFoundError("/x.sock".to_owned())),
            SchedulerError::Unavailable(m) if m.contains("/x.sock")
        ));
    }
}
