//! What an operator may tune: timeouts, health checks and limits of the router.

use std::time::Duration;

/// Settings of a [`crate::Router`]; `RouterSettings::default()` suits most installations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    /// Longest wait for a TCP connection to a container; past it the request answers 504.
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for a container's response headers once the request is sent; past it
    /// the request answers 504. Default 60 s.
    pub response_timeout: Duration,
    /// Longest pause of a request or response body in either direction once it started
    /// flowing; past it the exchange is aborted. Default 60 s.
    pub body_idle_timeout: Duration,
    /// How long a kept-alive connection to a container may sit unused in the pool before it
    /// is closed. Default 90 s.
    pub upstream_idle_timeout: Duration,
    /// Most idle kept-alive connections kept per container. Default 256.
    pub max_idle_per_upstream: usize,
    /// Longest wait for a client's request headers, on a new connection and between the
    /// requests of a kept-alive one (also bounds a TLS handshake). Default 60 s.
    pub client_idle_timeout: Duration,
    /// Interval of the active health checks of every routed container. Default 5 s.
    pub probe_interval: Duration,
    /// Longest wait for one health probe's response headers. Default 2 s.
    pub probe_timeout: Duration,
    /// Interval of the probes of a container not yet seen healthy (a new one). Default 100 ms.
    pub new_probe_interval: Duration,
    /// How long a new container is probed at `new_probe_interval` before only the active
    /// checks at `probe_interval` remain. Default 30 s.
    pub new_probe_period: Duration,
    /// Consecutive failed active probes (timeouts, statuses of 500 and above) that take a
    /// container out; a refused connection takes it out at once. Default 2.
    pub unhealthy_threshold: u32,
    /// Other containers tried when connecting to one is refused, for idempotent requests
    /// whose body was not sent yet. Default 2.
    pub retries: usize,
    /// Longest time in-flight requests get to finish once serving is asked to stop.
    /// Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(60),
            upstream_idle_timeout: Duration::from_secs(90),
            max_idle_per_upstream: 256,
            client_idle_timeout: Duration::from_secs(60),
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
            new_probe_interval: Duration::from_millis(100),
            new_probe_period: Duration::from_secs(30),
            unhealthy_threshold: 2,
            retries: 2,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
