//! The platform network: one bridge of this controller, `deis-apps-{identity}`, that every app
//! container and one-off run joins, with inter-container communication disabled
//! (`com.docker.network.bridge.enable_icc=false`). No container on it reaches another one, of
//! its own app or of another, while the host (where the router runs) reaches each of them at
//! its address on the bridge. Why one bridge rather than one per app: docs/ARCHITECTURE.md.
//!
//! The network is made on first need and labelled with the controller's identity. The engine
//! (API 1.41) accepts two networks of one name, so concurrent creators (threads, replicas) may
//! each make one. Every caller then joins the oldest (creation time, then id): whoever lists
//! after a creation sees every older network, so all callers agree. Duplicates are removed
//! once they are a minute old and unused (the engine refuses to remove a network in use), so
//! a caller that chose one in the instant of a race is never pulled from under its feet.
//! Containers name their network by id, in the host config and in their endpoint, so a
//! duplicate never makes the name ambiguous for them; every bridge keeps its containers apart
//! and the host reaches all of them. A network of that name without our label is someone
//! else's and never used.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptionsBuilder};
use deis_domain::SchedulerError;
use deis_domain::timefmt::parse_rfc3339;
use time::OffsetDateTime;

use crate::engine::{about, classify, status};
use crate::{DockerScheduler, labels};

/// The bridge driver's option that lets containers of one bridge talk to each other.
pub(crate) const ICC: &str = "com.docker.network.bridge.enable_icc";
/// The driver option carrying the MTU, copied from the engine's default bridge.
pub(crate) const MTU: &str = "com.docker.network.driver.mtu";
/// How old an unused duplicate of the platform network must be before it is removed.
const DUPLICATE_GRACE: Duration = Duration::from_secs(60);

/// The network a container joins: its name and the id of the one network of that name it
/// joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformNetwork {
    /// The network's name, `deis-apps-{identity}`.
    pub(crate) name: String,
    /// The engine's id of the network.
    pub(crate) id: String,
}

/// The network this scheduler joined last, remembered between calls.
#[derive(Debug)]
pub(crate) struct Known {
    /// Its id.
    id: String,
    /// Whether it was the only one of its name: then one inspection per call confirms it;
    /// otherwise every call looks for duplicates to remove.
    alone: bool,
}

/// This controller's network, creating it when it does not exist yet. The network found last
/// is remembered and checked with one inspection per call.
pub(crate) async fn ensure(
    s: &DockerScheduler,
    docker: &Docker,
) -> Result<PlatformNetwork, SchedulerError> {
    let mut known = s.network.lock().await;
    if let Some(Known { id, alone: true }) = known.as_ref() {
        match s
            .engine
            .bounded(docker.inspect_network(id, None::<InspectNetworkOptions>))
            .await
        {
            Ok(_) => return Ok(platform(s, id)),
            Err(e) if status(&e) == Some(404) => {
                tracing::info!(network = %s.names.network(), "the platform network is gone; making it again");
            }
            Err(e) => return Err(classify(e)),
        }
    }
    let mut ours = find(s, docker).await?;
    if ours.is_empty() {
        let created = create(s, docker).await;
        ours = find(s, docker).await?;
        // A creator that lost a race on a configured subnet is refused ("pool overlaps"):
        // the winner's network is the one to use.
        if ours.is_empty() {
            created?;
        }
    }
    let Some((_, chosen)) = ours.first().cloned() else {
        return Err(SchedulerError::Failed(format!(
            "network {} vanished right after it was created",
            s.names.network()
        )));
    };
    let settled = OffsetDateTime::now_utc() - DUPLICATE_GRACE;
    let mut left = 0;
    for (created, duplicate) in &ours[1..] {
        if !created.is_some_and(|at| at < settled) {
            left += 1;
            continue;
        }
        match s.engine.bounded(docker.remove_network(duplicate)).await {
            Ok(()) => tracing::info!(network = %duplicate, "removed a duplicate platform network"),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => {
                left += 1;
                tracing::debug!(network = %duplicate, error = %e, "a duplicate platform network stays while in use");
            }
        }
    }
    let info = s
        .engine
        .bounded(docker.inspect_network(&chosen, None::<InspectNetworkOptions>))
        .await
        .map_err(classify)?;
    if option(&info, ICC) != Some("false") {
        return Err(SchedulerError::Failed(format!(
            "network {} lets containers reach each other ({ICC} is not false); remove it so \
             that the controller makes it again",
            s.names.network()
        )));
    }
    let network = platform(s, &chosen);
    *known = Some(Known {
        id: chosen,
        alone: left == 0,
    });
    Ok(network)
}

fn platform(s: &DockerScheduler, id: &str) -> PlatformNetwork {
    PlatformNetwork {
        name: s.names.network().to_owned(),
        id: id.to_owned(),
    }
}

/// Our networks of the platform network's name with their creation times, oldest first (then
/// by id); fails when a network of that name belongs to someone else.
async fn find(
    s: &DockerScheduler,
    docker: &Docker,
) -> Result<Vec<(Option<OffsetDateTime>, String)>, SchedulerError> {
    let name = s.names.network();
    let filters = HashMap::from([("name", vec![name.to_owned()])]);
    let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let networks = s
        .engine
        .bounded(docker.list_networks(Some(options)))
        .await
        .map_err(classify)?;
    let mut ours = Vec::new();
    for network in networks.iter().filter(|n| n.name.as_deref() == Some(name)) {
        let owner = network
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::CONTROLLER));
        if owner.map(String::as_str) != Some(s.settings.identity.as_str()) {
            return Err(SchedulerError::Failed(format!(
                "network {name} exists and is not this controller's (its {} label is not {:?})",
                labels::CONTROLLER,
                s.settings.identity
            )));
        }
        let created = network.created.as_deref().and_then(parse_rfc3339);
        ours.extend(network.id.clone().map(|id| (created, id)));
    }
    // Unknown creation times sort last: such a network is never preferred.
    ours.sort_by_key(|(created, id)| (created.is_none(), *created, id.clone()));
    Ok(ours)
}

/// Creates the platform network: a bridge with inter-container communication off, the MTU of
/// the engine's default bridge, our label, and the configured subnet if any.
async fn create(s: &DockerScheduler, docker: &Docker) -> Result<(), SchedulerError> {
    let mut options = HashMap::from([(ICC.to_owned(), "false".to_owned())]);
    match s
        .engine
        .bounded(docker.inspect_network("bridge", None::<InspectNetworkOptions>))
        .await
    {
        Ok(default) => {
            if let Some(mtu) = option(&default, MTU) {
                options.insert(MTU.to_owned(), mtu.to_owned());
            }
        }
        Err(e) if status(&e) == Some(404) => {}
        Err(e) => return Err(classify(e)),
    }
    let request = NetworkCreateRequest {
        name: s.names.network().to_owned(),
        driver: Some("bridge".to_owned()),
        options: Some(options),
        labels: Some(HashMap::from([(
            labels::CONTROLLER.to_owned(),
            s.settings.identity.clone(),
        )])),
        ipam: s.settings.network_subnet.as_ref().map(|subnet| Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    match s.engine.bounded(docker.create_network(request)).await {
        Ok(created) => {
            tracing::info!(network = %s.names.network(), id = %created.id, "created the platform network");
            Ok(())
        }
        // Newer engines refuse a second network of one name: another creator was first.
        Err(e) if status(&e) == Some(409) => Ok(()),
        Err(e) => Err(about(
            &format!("could not create network {}", s.names.network()),
            classify(e),
        )),
    }
}

/// The driver option `key` of `network`, when set.
pub(crate) fn option<'a>(network: &'a Network, key: &str) -> Option<&'a str> {
    network
        .options
        .as_ref()
        .and_then(|o| o.get(key))
        .map(String::as_str)
}
