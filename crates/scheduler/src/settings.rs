//! What the Docker backend needs to know, handed over by whoever builds it.

use std::time::Duration;

/// Settings of a [`crate::DockerScheduler`]; the controller fills them from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerSettings {
    /// Engine address such as `unix:///var/run/docker.sock` or `tcp://10.0.0.5:2375`;
    /// `None` follows `DOCKER_HOST` and falls back to the local socket.
    pub host: Option<String>,
    /// Value of the `deis.controller` label: containers and networks carrying another value
    /// are not ours. It also names this controller's release images
    /// (`deis-release/{identity}/{app}:v{N}`) and network (`deis-apps-{identity}`).
    pub identity: String,
    /// How long `start` waits for new containers to be running before it gives up.
    pub start_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL when containers are removed.
    pub stop_timeout: Duration,
    /// Bound on connecting to the engine and negotiating the API version.
    pub connect_timeout: Duration,
    /// Bound on every single engine request.
    pub request_timeout: Duration,
    /// Subnet of the platform network (e.g. `10.213.0.0/22`) when it is created; `None` lets
    /// the engine pick one from its address pools.
    pub network_subnet: Option<String>,
    /// Most processes (and threads) one container may run.
    pub pids_limit: i64,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            host: None,
            identity: "deis-controller".to_owned(),
            start_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(30),
            network_subnet: None,
            pids_limit: 1024,
        }
    }
}
