//! The measurement behind the platform network's design (`cargo xtask bench --only networks`):
//! what keeping apps apart costs on this engine, one way and the other.
//!
//! `networks IMAGE IDENTITY` measures, over 5 alternating rounds, and prints one JSON object of
//! medians in milliseconds:
//! - `net_create`, `net_remove`: one bridge network with an explicit /24 subnet, the cost a
//!   bridge per app adds to an app's first deploy and to its destruction;
//! - `shared_start`: create and start 5 containers concurrently until running, all on one
//!   bridge with inter-container communication off (the platform's way), while 30 other bridges
//!   exist beside it;
//! - `per_app_start`: the same 5 containers, each on a bridge of its own among those 30;
//! - `first_start`, `next_start`: `DockerScheduler::start` of one container for a controller
//!   whose network does not exist yet (found missing, created, checked) and then once it is
//!   known (one inspection).
//!
//! Bridges of the per-app side use explicit subnets from 10.213.0.0/16, as a per-app scheme
//! must once the engine's default pools (about 30 networks) are spent. Everything is labelled
//! with IDENTITY and removed at the end, also after a failure.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use deis_domain::{ContainerSpec, Scheduler};
use deis_scheduler::{DockerScheduler, DockerSettings};
use futures_util::future::try_join_all;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Rounds of each measurement.
const ROUNDS: usize = 5;
/// Bridges standing for apps' networks.
const PER_APP: usize = 30;
/// Containers started at once.
const CONTAINERS: usize = 5;

struct Bench {
    docker: Docker,
    image: String,
    identity: String,
}

impl Bench {
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([("deis.controller".to_owned(), self.identity.clone())])
    }

    /// Creates a bridge and answers its id and how long the engine took.
    async fn network(
        &self,
        name: &str,
        options: &[(&str, &str)],
        subnet: Option<String>,
    ) -> Result<(String, f64)> {
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            options: Some(
                options
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            labels: Some(self.labels()),
            ipam: subnet.map(|subnet| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let began = Instant::now();
        let created = self.docker.create_network(request).await?;
        Ok((created.id, millis(began)))
    }

    /// Creates and starts one container on `network` and waits until it runs.
    async fn start_one(&self, name: String, network: &str) -> Result<()> {
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            labels: Some(self.labels()),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_owned()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_owned(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker.create_container(Some(options), body).await?;
        self.docker
            .start_container(&name, None::<StartContainerOptions>)
            .await?;
        loop {
            let info = self
                .docker
                .inspect_container(&name, None::<InspectContainerOptions>)
                .await?;
            match info.state.and_then(|s| s.status) {
                Some(ContainerStateStatusEnum::RUNNING) => return Ok(()),
                Some(ContainerStateStatusEnum::CREATED) | None => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some(other) => return Err(format!("{name} is {other:?}").into()),
            }
        }
    }

    /// Starts one container per network given, concurrently; the milliseconds it took.
    async fn start_on(&self, round: usize, networks: &[String]) -> Result<f64> {
        let began = Instant::now();
        try_join_all(
            networks
                .iter()
                .enumerate()
                .map(|(i, net)| self.start_one(format!("{}-{round}-{i}", self.identity), net)),
        )
        .await?;
        let took = millis(began);
        self.remove_containers().await;
        Ok(took)
    }

    async fn remove_containers(&self) {
        let filters =
            HashMap::from([("label", vec![format!("deis.controller={}", self.identity)])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        for container in self
            .docker
            .list_containers(Some(options))
            .await
            .unwrap_or_default()
        {
            if let Some(id) = container.id {
                let _ = self
                    .docker
                    .remove_container(&id, Some(remove.clone()))
                    .await;
            }
        }
    }

    async fn remove_networks(&self) {
        let filters =
            HashMap::from([("label", vec![format!("deis.controller={}", self.identity)])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        for network in self
            .docker
            .list_networks(Some(options))
            .await
            .unwrap_or_default()
        {
            if let Some(id) = network.id {
                let _ = self.docker.remove_network(&id).await;
            }
        }
    }

    async fn measure(&self) -> Result<String> {
        let shared = format!("{}-shared", self.identity);
        self.network(
            &shared,
            &[("com.docker.network.bridge.enable_icc", "false")],
            None,
        )
        .await?;
        let mut created = Vec::new();
        let mut per_app = Vec::new();
        for i in 0..PER_APP {
            let name = format!("{}-app{i}", self.identity);
            let (id, took) = self
                .network(&name, &[], Some(format!("10.213.{i}.0/24")))
                .await?;
            created.push(took);
            per_app.push(id);
        }
        let (mut shared_start, mut per_app_start) = (Vec::new(), Vec::new());
        let on_shared = vec![shared.clone(); CONTAINERS];
        for round in 0..ROUNDS {
            let own = &per_app[round * CONTAINERS % PER_APP..][..CONTAINERS];
            if round % 2 == 0 {
                shared_start.push(self.start_on(round, &on_shared).await?);
                per_app_start.push(self.start_on(round, own).await?);
            } else {
                per_app_start.push(self.start_on(round, own).await?);
                shared_start.push(self.start_on(round, &on_shared).await?);
            }
        }
        let mut removed = Vec::new();
        for id in &per_app {
            let began = Instant::now();
            self.docker.remove_network(id).await?;
            removed.push(millis(began));
        }
        let (first, next) = self.scheduler_start().await?;
        Ok(format!(
            r#"{{"net_create": {:.1}, "net_remove": {:.1}, "shared_start": {:.1}, "per_app_start": {:.1}, "first_start": {first:.1}, "next_start": {next:.1}}}"#,
            median(created),
            median(removed),
            median(shared_start),
            median(per_app_start),
        ))
    }

    /// `DockerScheduler::start` of one container before and after its network exists.
    async fn scheduler_start(&self) -> Result<(f64, f64)> {
        let scheduler = DockerScheduler::new(DockerSettings {
            identity: self.identity.clone(),
            stop_timeout: Duration::from_secs(1),
            ..DockerSettings::default()
        });
        let app = format!("{}-app", self.identity);
        scheduler.publish(&self.image, &app, 1).await?;
        let spec = |num: i64| ContainerSpec {
            name: format!("{app}_v1.web.{num}"),
            app: app.clone(),
            version: 1,
            proc_type: "web".to_owned(),
            num,
            image: scheduler.release_image(&app, 1),
            command: None,
            env: BTreeMap::new(),
            memory: None,
            cpu_shares: None,
            tags: BTreeMap::new(),
        };
        let began = Instant::now();
        scheduler.start(&[spec(1)]).await?;
        let first = millis(began);
        let began = Instant::now();
        scheduler.start(&[spec(2)]).await?;
        let next = millis(began);
        scheduler.remove(&[spec(1).name, spec(2).name]).await?;
        scheduler.forget(&app).await?;
        Ok((first, next))
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(image), Some(identity)) = (args.next(), args.next()) else {
        return Err("usage: networks IMAGE IDENTITY".into());
    };
    let docker = Docker::connect_with_defaults()?.negotiate_version().await?;
    let bench = Bench {
        docker,
        image,
        identity,
    };
    let measured = bench.measure().await;
    bench.remove_containers().await;
    bench.remove_networks().await;
    println!("{}", measured?);
    Ok(())
}
