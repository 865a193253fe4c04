//! The platform network on a swarm: `deis-apps-{identity}`, a swarm-scoped bridge (one bridge
//! per node, attachable by plain containers for one-off runs) whose driver options come from
//! the node-local configuration network `deis-apps-{identity}-config`, which turns
//! inter-container communication off as on the Docker backend's bridge. Overlay networks have
//! no such option: every container on one could reach every other one, of every app, so they
//! are not used; the router reaches tasks through their host-mode published ports instead.
//!
//! The configuration network exists per node: this backend makes it on the manager's engine;
//! every other node needs it too (docs/OPERATIONS.md), or its tasks fail to start there and
//! the swarm places them elsewhere. A swarm network takes no labels when it is configured
//! from another network, so it is ours when it is configured from our (labelled)
//! configuration network.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ConfigReference, Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptionsBuilder};
use deis_domain::SchedulerError;

use super::SwarmScheduler;
use crate::engine::{about, classify, status};
use crate::labels;
use crate::network::{ICC, MTU, PlatformNetwork, option};

/// This controller's swarm network, made (with its configuration) when missing; the one found
/// last is checked with one inspection per call.
pub(crate) async fn ensure(
    s: &SwarmScheduler,
    docker: &Docker,
) -> Result<PlatformNetwork, SchedulerError> {
    let engine = &s.docker.engine;
    let mut known = s.network.lock().await;
    if let Some(network) = known.as_ref() {
        match engine
            .bounded(docker.inspect_network(&network.id, None::<InspectNetworkOptions>))
            .await
        {
            Ok(_) => return Ok(network.clone()),
            Err(e) if status(&e) == Some(404) => {
                tracing::info!(network = %network.name, "the platform network is gone; making it again");
            }
            Err(e) => return Err(classify(e)),
        }
    }
    let config = config_name(s);
    ensure_config(s, docker, &config).await?;
    let network = match find(s, docker, &config).await? {
        Some(id) => id,
        None => {
            create(s, docker, &config).await?;
            find(s, docker, &config).await?.ok_or_else(|| {
                SchedulerError::Failed(format!(
                    "network {} vanished right after it was created",
                    s.network_name()
                ))
            })?
        }
    };
    let network = PlatformNetwork {
        name: s.network_name().to_owned(),
        id: network,
    };
    *known = Some(network.clone());
    Ok(network)
}

/// `deis-apps-{identity}-config`.
pub(crate) fn config_name(s: &SwarmScheduler) -> String {
    format!("{}-config", s.network_name())
}

/// Makes the configuration network on this node unless it exists; fails when a network of
/// that name is not ours or lets containers reach each other.
async fn ensure_config(
    s: &SwarmScheduler,
    docker: &Docker,
    name: &str,
) -> Result<(), SchedulerError> {
    let engine = &s.docker.engine;
    let identity = &s.docker.settings.identity;
    let existing = match engine
        .bounded(docker.inspect_network(name, None::<InspectNetworkOptions>))
        .await
    {
        Ok(network) => Some(network),
        Err(e) if status(&e) == Some(404) => None,
        Err(e) => return Err(classify(e)),
    };
    if let Some(network) = existing {
        let owner = network
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::CONTROLLER));
        if owner != Some(identity) || network.config_only != Some(true) {
            return Err(SchedulerError::Failed(format!(
                "network {name} exists and is not this controller's configuration network"
            )));
        }
        if option(&network, ICC) != Some("false") {
            return Err(SchedulerError::Failed(format!(
                "network {name} lets containers reach each other ({ICC} is not false); remove \
                 it so that the controller makes it again"
            )));
        }
        return Ok(());
    }
    let mut options = HashMap::from([(ICC.to_owned(), "false".to_owned())]);
    if let Ok(default) = engine
        .bounded(docker.inspect_network("bridge", None::<InspectNetworkOptions>))
        .await
        && let Some(mtu) = option(&default, MTU)
    {
        options.insert(MTU.to_owned(), mtu.to_owned());
    }
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        config_only: Some(true),
        options: Some(options),
        labels: Some(HashMap::from([(
            labels::CONTROLLER.to_owned(),
            identity.clone(),
        )])),
        ipam: s
            .docker
            .settings
            .network_subnet
            .as_ref()
            .map(|subnet| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        ..Default::default()
    };
    match engine.bounded(docker.create_network(request)).await {
        Ok(_) => {
            tracing::info!(network = %name, "created the platform network's configuration");
            Ok(())
        }
        Err(e) if status(&e) == Some(409) => Ok(()),
        Err(e) => Err(about(
            &format!("could not create network {name}"),
            classify(e),
        )),
    }
}

/// The id of the swarm network of the platform's name, if there is one; fails when one of
/// that name is not configured from our configuration network.
async fn find(
    s: &SwarmScheduler,
    docker: &Docker,
    config: &str,
) -> Result<Option<String>, SchedulerError> {
    let name = s.network_name();
    let filters = HashMap::from([("name", vec![name.to_owned()])]);
    let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let networks = s
        .docker
        .engine
        .bounded(docker.list_networks(Some(options)))
        .await
        .map_err(classify)?;
    let mut found = None;
    for network in networks.iter().filter(|n| n.name.as_deref() == Some(name)) {
        let from = network
            .config_from
            .as_ref()
            .and_then(|c| c.network.as_deref());
        if network.scope.as_deref() != Some("swarm") || from != Some(config) {
            return Err(SchedulerError::Failed(format!(
                "network {name} exists and is not this controller's swarm network (it is not \
                 a swarm network configured from {config})"
            )));
        }
        found = found.or_else(|| network.id.clone());
    }
    Ok(found)
}

/// Creates the swarm network, configured from `config`.
async fn create(s: &SwarmScheduler, docker: &Docker, config: &str) -> Result<(), SchedulerError> {
    let name = s.network_name();
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".to_owned()),
        scope: Some("swarm".to_owned()),
        attachable: Some(true),
        config_from: Some(ConfigReference {
            network: Some(config.to_owned()),
        }),
        ..Default::default()
    };
    match s
        .docker
        .engine
        .bounded(docker.create_network(request))
        .await
    {
        Ok(created) => {
            tracing::info!(network = %name, id = %created.id, "created the swarm network");
            Ok(())
        }
        Err(e) if status(&e) == Some(409) => Ok(()),
        Err(e) => Err(about(
            &format!("could not create network {name}"),
            classify(e),
        )),
    }
}
