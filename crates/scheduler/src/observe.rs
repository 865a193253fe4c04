//! `list`: this controller's containers as the engine sees them.

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use deis_domain::{ContainerState, Observed, SchedulerError};

use crate::engine::{Engine, about, classify, status};
use crate::labels;

/// Every container labelled with `identity` (and `app`, when given), in every state,
/// sorted by name, with its address on `network`. Containers whose labels do not parse are
/// skipped with a warning.
pub(crate) async fn list(
    engine: &Engine,
    identity: &str,
    network: &str,
    app: Option<&str>,
) -> Result<Vec<Observed>, SchedulerError> {
    let docker = engine.docker().await?;
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&labels::filter(identity, app))
        .build();
    let summaries = engine
        .bounded(docker.list_containers(Some(options)))
        .await
        .map_err(classify)?;
    let mut observed: Vec<Observed> = summaries
        .into_iter()
        .filter_map(|summary| observed(summary, network))
        .collect();
    observed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(observed)
}

/// One container's inspection, `None` when it does not exist.
pub(crate) async fn inspect(
    engine: &Engine,
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, SchedulerError> {
    match engine
        .bounded(docker.inspect_container(name, None::<InspectContainerOptions>))
        .await
    {
        Ok(info) => Ok(Some(info)),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(about(name, classify(e))),
    }
}

/// The value of one label of an inspected container.
pub(crate) fn label<'a>(info: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    info.config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// Whether the container carries this controller's identity, so that we may replace it.
pub(crate) fn is_ours(info: &ContainerInspectResponse, identity: &str) -> bool {
    label(info, labels::CONTROLLER) == Some(identity)
}

/// The failure for a name held by a container of someone else, which is never touched.
pub(crate) fn taken(name: &str) -> SchedulerError {
    SchedulerError::Failed(format!(
        "{name}: the name is taken by a container this controller does not own"
    ))
}

/// The port's view of one engine container.
fn observed(summary: ContainerSummary, network: &str) -> Option<Observed> {
    let name = summary
        .names
        .as_ref()
        .and_then(|names| names.first())
        .map(|n| n.trim_start_matches('/').to_owned())?;
    let labels = summary.labels.clone().unwrap_or_default();
    let parsed = (|| {
        Some(Observed {
            name: name.clone(),
            app: labels.get(labels::APP)?.clone(),
            version: labels.get(labels::RELEASE)?.parse().ok()?,
            proc_type: labels.get(labels::TYPE)?.clone(),
            num: labels.get(labels::NUM)?.parse().ok()?,
            state: state_of(summary.state, summary.status.as_deref()),
            address: address_of(&summary, network),
            port: None,
        })
    })();
    if parsed.is_none() {
        tracing::warn!(container = %name, "skipping a container with incomplete deis labels");
    }
    parsed
}

/// The container's address on the platform network, where the host-side router reaches it;
/// none when it is not on that network (or not running).
fn address_of(summary: &ContainerSummary, network: &str) -> Option<std::net::IpAddr> {
    summary
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

/// Engine state to port state. The summary carries no exit code, so an exited
/// container's comes from its status text (`Exited (0) 3 minutes ago`); when that text
/// cannot be read, the container counts as crashed.
fn state_of(state: Option<ContainerSummaryStateEnum>, status: Option<&str>) -> ContainerState {
    use ContainerSummaryStateEnum as S;
    match state {
        Some(S::RUNNING) => ContainerState::Up,
        Some(S::RESTARTING | S::DEAD) => ContainerState::Crashed,
        Some(S::CREATED) => ContainerState::Created,
        Some(S::PAUSED) => ContainerState::Down,
        Some(S::REMOVING) => ContainerState::Destroyed,
        Some(S::EXITED) => match status.and_then(exit_code) {
            Some(0) => ContainerState::Down,
            _ => ContainerState::Crashed,
        },
        None | Some(S::EMPTY) => ContainerState::Error,
    }
}

/// The code in `Exited (137) 5 seconds ago`.
fn exit_code(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    let (code, _) = rest.split_once(')')?;
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_states_map_to_port_states() {
        use ContainerSummaryStateEnum as S;
        let exited = |status| state_of(Some(S::EXITED), Some(status));
        assert_eq!(
            state_of(Some(S::RUNNING), Some("Up 2 minutes")),
            ContainerState::Up
        );
        assert_eq!(
            state_of(Some(S::RESTARTING), Some("Restarting (1) 1 second ago")),
            ContainerState::Crashed
        );
        assert_eq!(
            state_of(Some(S::CREATED), Some("Created")),
            ContainerState::Created
        );
        assert_eq!(exited("Exited (0) 3 minutes ago"), ContainerState::Down);
        assert_eq!(
            exited("Exited (137) 5 seconds ago"),
            ContainerState::Crashed
        );
        assert_eq!(exited("gone"), ContainerState::Crashed);
        assert_eq!(state_of(Some(S::DEAD), None), ContainerState::Crashed);
        assert_eq!(state_of(Some(S::PAUSED), None), ContainerState::Down);
        assert_eq!(state_of(Some(S::REMOVING), None), ContainerState::Destroyed);
    }

    #[test]
    fn the_address_is_the_one_on_the_platform_network() {
        use bollard::models::{ContainerSummaryNetworkSettings, EndpointSettings};
        let endpoint = |ip: &str| EndpointSettings {
            ip_address: Some(ip.to_owned()),
            ..Default::default()
        };
        let labels = [
            (labels::APP, "app"),
            (labels::RELEASE, "2"),
            (labels::TYPE, "web"),
            (labels::NUM, "1"),
        ];
        let summary = |networks: Vec<(&str, &str)>| ContainerSummary {
            names: Some(vec!["/app_v2.web.1".to_owned()]),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(
                    networks
                        .into_iter()
                        .map(|(name, ip)| (name.to_owned(), endpoint(ip)))
                        .collect(),
                ),
            }),
            ..Default::default()
        };
        let both = summary(vec![
            ("bridge", "172.17.0.5"),
            ("deis-apps-x", "172.21.0.7"),
        ]);
        let seen = observed(both, "deis-apps-x").expect("ours");
        assert_eq!(seen.address, "172.21.0.7".parse().ok());
        let elsewhere = summary(vec![("bridge", "172.17.0.5")]);
        assert_eq!(
            observed(elsewhere, "deis-apps-x").expect("ours").address,
            None
        );
    }

    #[test]
    fn containers_without_our_labels_are_skipped() {
        let summary = ContainerSummary {
            names: Some(vec!["/app_v1.web.1".to_owned()]),
            labels: Some([(labels::APP.to_owned(), "app".to_owned())].into()),
            ..Default::default()
        };
        assert_eq!(observed(summary, "deis-apps-x"), None);
    }
}
