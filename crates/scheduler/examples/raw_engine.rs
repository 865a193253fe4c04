//! The baseline of `cargo xtask bench --only deploy`: what the Docker engine itself needs for
//! the container operations of a scale and of a deploy, issued concurrently through bollard
//! with nothing of the controller around them.
//!
//! `raw_engine IMAGE APP IDENTITY` measures, once each, with containers shaped like
//! `DockerScheduler`'s (procfile line through `sh -c`, `DEIS_*` and `PORT` environment,
//! `deis.*` labels, restart unless stopped, stop grace period 5 s):
//! - `up`: create and start 20 containers concurrently, each until the engine reports it running;
//! - `down`: stop and remove those 20 concurrently;
//! - `deploy`: with 10 containers of release 1 running, tag the image as release 2, create and
//!   start 10 containers of release 2 concurrently until running, then stop and remove the 10
//!   old ones concurrently (the order a deploy must keep so that some process always runs).
//!
//! It prints one JSON object of seconds, `{"up": .., "down": .., "deploy": ..}`, and removes
//! every container it made.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::future::try_join_all;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Containers of the scale measurement.
const SCALE: i64 = 20;
/// Containers of the deploy measurement.
const DEPLOY: i64 = 10;
/// The web process of the bench's procfile.
const COMMAND: &str = "start";
/// `DockerSettings::default().stop_timeout`.
const STOP_GRACE_SECS: i32 = 5;

struct Bench {
    docker: Docker,
    image: String,
    app: String,
    identity: String,
}

impl Bench {
    fn name(&self, version: i64, num: i64) -> String {
        format!("{}_v{version}.web.{num}", self.app)
    }

    fn body(&self, version: i64, num: i64) -> ContainerCreateBody {
        let labels = HashMap::from([
            ("deis.controller".to_owned(), self.identity.clone()),
            ("deis.app".to_owned(), self.app.clone()),
            ("deis.release".to_owned(), version.to_string()),
            ("deis.type".to_owned(), "web".to_owned()),
            ("deis.num".to_owned(), num.to_string()),
        ]);
        ContainerCreateBody {
            image: Some(format!("{}:v{version}", self.app)),
            entrypoint: Some(vec![String::new()]),
            cmd: Some(vec!["sh".into(), "-c".into(), COMMAND.into()]),
            env: Some(vec![
                format!("DEIS_APP={}", self.app),
                format!("DEIS_RELEASE=v{version}"),
                "PORT=5000".to_owned(),
            ]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn tag(&self, version: i64) -> Result<()> {
        let options = TagImageOptionsBuilder::new()
            .repo(&self.app)
            .tag(&format!("v{version}"))
            .build();
        Ok(self.docker.tag_image(&self.image, Some(options)).await?)
    }

    /// Create, start, and inspect until running.
    async fn start_one(&self, version: i64, num: i64) -> Result<()> {
        let name = self.name(version, num);
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker
            .create_container(Some(options), self.body(version, num))
            .await?;
        self.docker
            .start_container(&name, None::<StartContainerOptions>)
            .await?;
        loop {
            let info = self
                .docker
                .inspect_container(&name, None::<InspectContainerOptions>)
                .await?;
            let status = info.state.and_then(|s| s.status);
            match status {
                Some(ContainerStateStatusEnum::RUNNING) => return Ok(()),
                Some(ContainerStateStatusEnum::CREATED) | None => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some(other) => return Err(format!("{name} is {other:?}").into()),
            }
        }
    }

    async fn remove_one(&self, version: i64, num: i64) -> Result<()> {
        let name = self.name(version, num);
        let stop = StopContainerOptionsBuilder::new()
            .t(STOP_GRACE_SECS)
            .build();
        self.docker.stop_container(&name, Some(stop)).await?;
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        Ok(self.docker.remove_container(&name, Some(remove)).await?)
    }

    async fn start_all(&self, version: i64, count: i64) -> Result<()> {
        try_join_all((1..=count).map(|n| self.start_one(version, n))).await?;
        Ok(())
    }

    async fn remove_all(&self, version: i64, count: i64) -> Result<()> {
        try_join_all((1..=count).map(|n| self.remove_one(version, n))).await?;
        Ok(())
    }

    async fn measure(&self) -> Result<(f64, f64, f64)> {
        self.tag(1).await?;
        let began = Instant::now();
        self.start_all(1, SCALE).await?;
        let up = began.elapsed().as_secs_f64();
        let began = Instant::now();
        self.remove_all(1, SCALE).await?;
        let down = began.elapsed().as_secs_f64();

        self.start_all(1, DEPLOY).await?;
        let began = Instant::now();
        self.tag(2).await?;
        self.start_all(2, DEPLOY).await?;
        self.remove_all(1, DEPLOY).await?;
        let deploy = began.elapsed().as_secs_f64();
        self.remove_all(2, DEPLOY).await?;
        Ok((up, down, deploy))
    }

    /// Force-removes whatever a failed measurement left behind.
    async fn clean(&self) {
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        for version in [1, 2] {
            for num in 1..=SCALE {
                let _ = self
                    .docker
                    .remove_container(&self.name(version, num), Some(remove.clone()))
                    .await;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: raw_engine IMAGE APP IDENTITY";
    let (Some(image), Some(app), Some(identity)) = (args.next(), args.next(), args.next()) else {
        return Err(usage.into());
    };
    let docker = Docker::connect_with_defaults()?.negotiate_version().await?;
    let bench = Bench {
        docker,
        image,
        app,
        identity,
    };
    let measured = bench.measure().await;
    bench.clean().await;
    let (up, down, deploy) = measured?;
    println!(r#"{{"up": {up:.4}, "down": {down:.4}, "deploy": {deploy:.4}}}"#);
    Ok(())
}
