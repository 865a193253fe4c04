//! Settings: built-in defaults, then an optional TOML file, then `DEIS_*` environment variables.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// Every setting of the controller (documented in `docs/OPERATIONS.md`).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Where state lives: `sqlite://PATH` or `postgres://...`; empty = a file in `data_dir`.
    pub database_url: String,
    /// Directory for the default SQLite file, created on first start.
    pub data_dir: PathBuf,
    /// Connections in the database pool.
    pub db_pool_size: u32,
    /// Token signing key; generated and kept in the database when empty.
    pub secret_key: String,
    /// Secret the key that seals stored certificates' private keys is derived from; the
    /// signing key (set or generated) when empty.
    pub cert_key: String,
    /// Value builder hooks must send in `X-Deis-Builder-Auth`; hooks are refused when empty.
    pub builder_key: String,
    /// Apps are reachable at `{app}.{domain}`.
    pub domain: String,
    /// `enabled`, `disabled` or `admin_only`.
    pub registration: String,
    /// bcrypt cost of password hashes (4..=31).
    pub bcrypt_cost: u32,
    /// Token lifetime in seconds.
    pub token_lifetime: u64,
    /// Lines answered by the logs endpoint.
    pub log_lines: u64,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Time limit of one-off `run` commands, in seconds.
    pub run_timeout: u64,
    /// Bytes of a one-off `run`'s output kept for the answer; the rest is dropped.
    pub run_output_limit: u64,
    /// Seconds between reconciliations of database and engine (0 = only at start).
    pub reconcile_interval: u64,
    /// Label value marking this controller's containers; empty = the one generated on first
    /// start and kept in the database (unique per database).
    pub scheduler_identity: String,
    /// Which backend runs containers: `docker` (one engine) or `swarm` (the engine at
    /// `DOCKER_HOST` is a swarm manager).
    pub scheduler: String,
    /// Seconds to wait for new containers to run.
    pub start_timeout: u64,
    /// Address of the router's HTTP listener; empty disables the listener.
    pub router_bind: String,
    /// Address of the router's HTTPS listener (certificates from `/v1/certs`); empty: none.
    pub router_tls_bind: String,
    /// Port of the router as users reach it, for app URLs; 0 = the port of `router_bind`.
    pub router_public_port: u16,
    /// Seconds a deploy waits for new routable containers to answer their health check.
    pub health_timeout: u64,
    /// Seconds old containers may finish in-flight requests after leaving the route table.
    pub drain_grace: u64,
    /// Seconds between the router's health checks of every routed container.
    pub health_interval: u64,
    /// Seconds one health probe may take before it counts as failed.
    pub health_probe_timeout: u64,
    /// Seconds the router waits for an app's response headers before answering 504.
    pub router_response_timeout: u64,
    /// Release images kept per app (the latest releases'; older ones go after each deploy).
    pub keep_releases: usize,
    /// Most processes one container may run.
    pub pids_limit: i64,
    /// Subnet of the platform network when the controller creates it; empty = the engine's pools.
    pub network_subnet: String,
    /// Log filter (`info`, `deis_api=debug,info`, ...).
    pub log: String,
    /// Apps one user may own (administrators are exempt).
    pub max_apps_per_user: u64,
    /// Long-running containers one app may have (administrators are exempt).
    pub max_containers_per_app: u64,
    /// Containers of the whole platform, one-off runs included; nobody is exempt.
    pub max_containers: u64,
    /// One-off runs one app may have going at once.
    pub max_runs_per_app: u64,
    /// Failed logins per username (and per address, counted by username) or wrong builder keys
    /// per address allowed within `throttle_window`.
    pub throttle_failures: u32,
    /// Length of the throttling window, in seconds.
    pub throttle_window: u64,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy only).
    pub trust_forwarded_for: bool,
    /// Log lines as `text` or `json` (one object per line).
    pub log_format: String,
    /// Bearer token `/metrics` asks for; empty = open.
    pub metrics_token: String,
    /// Seconds a whole request body may take to arrive (408 after that).
    pub body_timeout: u64,
    /// Connections one client address may hold open to the API (0 = no limit).
    pub connections_per_ip: usize,
    /// Address of the builder's SSH listener (`git push`); empty disables the builder.
    pub builder_bind: String,
    /// Largest repository one app may have on the builder, in bytes.
    pub max_repo_size: u64,
    /// Largest build context (the pushed commit as a tar archive), in bytes.
    pub max_build_context: u64,
}

impl Settings {
    /// Reads the settings: defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .set_default("bind", "127.0.0.1:8000")?
            .set_default("database_url", "")?
            .set_default("data_dir", "data")?
            .set_default("db_pool_size", 8)?
            .set_default("secret_key", "")?
            .set_default("cert_key", "")?
            .set_default("builder_key", "")?
            .set_default("domain", "localhost")?
            .set_default("registration", "enabled")?
            .set_default("bcrypt_cost", 10)?
            .set_default("token_lifetime", 30 * 24 * 3600)?
            .set_default("log_lines", 1000)?
            .set_default("body_limit", 1024 * 1024)?
            .set_default("run_timeout", 1200)?
            .set_default("run_output_limit", 1024 * 1024)?
            .set_default("reconcile_interval", 30)?
            .set_default("scheduler_identity", "")?
            .set_default("scheduler", "docker")?
            .set_default("start_timeout", 60)?
            .set_default("router_bind", "127.0.0.1:8080")?
            .set_default("router_tls_bind", "")?
            .set_default("router_public_port", 0)?
            .set_default("health_timeout", 60)?
            .set_default("drain_grace", 10)?
            .set_default("health_interval", 5)?
            .set_default("health_probe_timeout", 2)?
            .set_default("router_response_timeout", 60)?
            .set_default("keep_releases", 5)?
            .set_default("pids_limit", 1024)?
            .set_default("network_subnet", "")?
            .set_default("log", "info")?
            .set_default("max_apps_per_user", 100)?
            .set_default("max_containers_per_app", 50)?
            .set_default("max_containers", 300)?
            .set_default("max_runs_per_app", 5)?
            .set_default("throttle_failures", 10)?
            .set_default("throttle_window", 300)?
            .set_default("trust_forwarded_for", false)?
            .set_default("log_format", "text")?
            .set_default("metrics_token", "")?
            .set_default("body_timeout", 20)?
            .set_default("connections_per_ip", 128)?
            .set_default("builder_bind", "127.0.0.1:2222")?
            .set_default("max_repo_size", 512 * 1024 * 1024)?
            .set_default("max_build_context", 256 * 1024 * 1024)?;
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let mut settings: Self = builder
            .add_source(config::Environment::with_prefix("DEIS").try_parsing(true))
            .build()
            .and_then(config::Config::try_deserialize)
            .context("reading settings")?;
        // Absolute from here on: git runs the builder's hook inside a repository, where a
        // path relative to the controller's working directory would name nothing.
        settings.data_dir = std::path::absolute(&settings.data_dir)
            .with_context(|| format!("data_dir {}", settings.data_dir.display()))?;
        settings.check().map_err(|problems| {
            anyhow::anyhow!("invalid settings:\n  {}", problems.join("\n  "))
        })?;
        Ok(settings)
    }

    /// Every problem with the settings at once.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "bind: {:?} is not an address like 127.0.0.1:8000",
                self.bind
            ));
        }
        let url = self.database_url.as_str();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database_url: {url:?} must start with sqlite:// or postgres://"
            ));
        }
        if self.db_pool_size == 0 {
            problems.push("db_pool_size: must be at least 1".into());
        }
        if deis_api::Registration::parse(&self.registration).is_none() {
            problems.push(format!(
                "registration: {:?} must be enabled, disabled or admin_only",
                self.registration
            ));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            problems.push(format!(
                "bcrypt_cost: {} must be between 4 and 31",
                self.bcrypt_cost
            ));
        }
        if self.token_lifetime == 0 {
            problems.push("token_lifetime: must be at least 1 second".into());
        }
        if self.body_limit < 1024 {
            problems.push("body_limit: must be at least 1024 bytes".into());
        }
        if self.run_timeout == 0 {
            problems.push("run_timeout: must be at least 1 second".into());
        }
        if self.start_timeout == 0 {
            problems.push("start_timeout: must be at least 1 second".into());
        }
        for (name, value) in [
            ("health_timeout", self.health_timeout),
            ("health_interval", self.health_interval),
            ("health_probe_timeout", self.health_probe_timeout),
            ("router_response_timeout", self.router_response_timeout),
        ] {
            if value == 0 {
                problems.push(format!("{name}: must be at least 1 second"));
            }
        }
        for (name, value) in [
            ("router_bind", &self.router_bind),
            ("router_tls_bind", &self.router_tls_bind),
            ("builder_bind", &self.builder_bind),
        ] {
            if !value.is_empty() && value.parse::<std::net::SocketAddr>().is_err() {
                problems.push(format!(
                    "{name}: {value:?} is not an address like 127.0.0.1:8080 (empty disables it)"
                ));
            }
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            problems.push(format!(
                "log_format: {:?} must be text or json",
                self.log_format
            ));
        }
        if self.body_timeout == 0 {
            problems.push("body_timeout: must be at least 1 second".into());
        }
        if self.max_repo_size == 0 || self.max_build_context == 0 {
            problems.push("max_repo_size, max_build_context: must be at least 1 byte".into());
        }
        if !matches!(self.scheduler.as_str(), "docker" | "swarm") {
            problems.push(format!(
                "scheduler: {:?} is neither \"docker\" nor \"swarm\"",
                self.scheduler
            ));
        }
        if self.keep_releases == 0 {
            problems.push("keep_releases: must be at least 1 (the running release)".into());
        }
        if self.pids_limit < 16 {
            problems.push(format!(
                "pids_limit: {} must be at least 16",
                self.pids_limit
            ));
        }
        if !self.network_subnet.is_empty() && !is_cidr(&self.network_subnet) {
            problems.push(format!(
                "network_subnet: {:?} is not a subnet like 10.213.0.0/22",
                self.network_subnet
            ));
        }
        if self.domain.is_empty() || self.domain.contains('/') {
            problems.push(format!("domain: {:?} is not a domain name", self.domain));
        }
        if self.max_containers == 0 {
            problems.push("max_containers: must be at least 1".into());
        }
        if self.throttle_failures == 0 {
            problems.push("throttle_failures: must be at least 1".into());
        }
        if self.throttle_window == 0 {
            problems.push("throttle_window: must be at least 1 second".into());
        }
        if !self.secret_key.is_empty() && self.secret_key.len() < 16 {
            problems.push("secret_key: must be at least 16 characters when set".into());
        }
        if !self.cert_key.is_empty() && self.cert_key.len() < 16 {
            problems.push("cert_key: must be at least 16 characters when set".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The router's port as users reach it: the setting, else the HTTP listener's port.
    pub fn public_port(&self) -> Option<u16> {
        if self.router_public_port != 0 {
            return Some(self.router_public_port);
        }
        self.router_bind
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.port())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("deis.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

/// `ADDRESS/PREFIX` with an IP address and a prefix length that fits it.
fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_point_at_a_data_file() {
        let settings = Settings::load(None).expect("defaults load");
        assert_eq!(settings.bind, "127.0.0.1:8000");
        assert_eq!(
            settings.data_dir,
            std::env::current_dir().expect("cwd").join("data"),
            "the relative default is made absolute"
        );
        assert!(
            settings.database_url().ends_with("/deis.db"),
            "{}",
            settings.database_url()
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut settings = Settings::load(None).expect("defaults load");
        settings.bind = "nowhere".into();
        settings.registration = "sometimes".into();
        settings.bcrypt_cost = 2;
        settings.database_url = "mysql://x".into();
        settings.secret_key = "short".into();
        settings.keep_releases = 0;
        settings.pids_limit = 3;
        settings.network_subnet = "10.0.0.0/33".into();
        settings.scheduler = "kubernetes".into();
        let problems = settings.check().expect_err("invalid");
        assert_eq!(problems.len(), 9, "{problems:#?}");
        for key in [
            "bind",
            "registration",
            "bcrypt_cost",
            "database_url",
            "secret_key",
            "keep_releases",
            "pids_limit",
            "network_subnet",
            "scheduler",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key} missing from {problems:#?}"
            );
        }
    }

    #[test]
    fn log_format_and_body_timeout_are_checked() {
        let mut settings = Settings::load(None).expect("defaults load");
        assert_eq!(settings.log_format, "text");
        assert!(
            settings.scheduler_identity.is_empty(),
            "generated per database"
        );
        settings.log_format = "xml".into();
        settings.body_timeout = 0;
        let problems = settings.check().expect_err("invalid");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("log_format"), "{problems:#?}");
        assert!(problems[1].starts_with("body_timeout"), "{problems:#?}");
    }

    #[test]
    fn the_sample_settings_file_is_valid() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/deis.toml");
        let settings = Settings::load(Some(&sample)).expect("the sample loads");
        assert_eq!(settings.log_format, "json");
        assert!(settings.scheduler_identity.is_empty());
    }

    #[test]
    fn a_settings_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("deis.toml");
        std::fs::write(&file, "domain = \"example.org\"\nlog_lines = 7\n").expect("write");
        let settings = Settings::load(Some(&file)).expect("file loads");
        assert_eq!(settings.domain, "example.org");
        assert_eq!(settings.log_lines, 7);
    }
}
