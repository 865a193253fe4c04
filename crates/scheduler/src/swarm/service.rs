//! How the port's container specs become service specs: one service per container, with one
//! replica, confined like the Docker backend's containers as far as Swarm allows.
//!
//! Swarm (API 1.41, Docker 20.10) takes the capabilities, the pids limit, the sysctls that turn
//! IPv6 off and the memory limit for services; `no-new-privileges` is sent too but only engines
//! of API 1.46 and later apply it, and CPU shares (a relative weight) have no service
//! equivalent, so they are not applied (docs/SECURITY.md).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecPrivileges,
    TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use deis_domain::{ContainerSpec, SchedulerError};
use md5::{Digest, Md5};
use regex::Regex;

use crate::DockerSettings;
use crate::config::{CAPABILITIES, env_list, ipv6_off};
use crate::labels;
use crate::limits::memory_bytes;
use crate::network::PlatformNetwork;

/// Label carrying the port's name of the container a service runs (`{app}_v{N}.{type}.{num}`).
pub(crate) const NAME: &str = "deis.name";
/// Longest service name the swarm accepts.
const MAX_NAME: usize = 63;
/// Pause before the swarm replaces a task that exited.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// What the swarm accepts as a service name (a DNS label, underscores allowed).
static SERVICE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
        .unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});

/// The service running the container `container`: its name with `.` written `_`
/// (`{app}_v{N}_{type}_{num}`; app ids hold no `_` and nums no `_`, so no two containers
/// meet), or `deis_` and a digest of it when that is no valid service name.
pub(crate) fn name(container: &str) -> String {
    let readable = container.replace('.', "_");
    if readable.len() <= MAX_NAME && SERVICE_NAME.is_match(&readable) {
        return readable;
    }
    let digest = Md5::digest(container.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("deis_{hex}")
}

/// The labels of a container's service and of its task containers.
pub(crate) fn labels_of(identity: &str, spec: &ContainerSpec) -> HashMap<String, String> {
    let mut labels =
        labels::for_container(identity, &spec.app, spec.version, &spec.proc_type, spec.num);
    labels.insert(NAME.to_owned(), spec.name.clone());
    labels
}

/// The port the container listens on (`$PORT`), published by every task.
pub(crate) fn port_of(spec: &ContainerSpec) -> Option<u16> {
    spec.env.get("PORT").and_then(|p| p.trim().parse().ok())
}

/// The service of one long-running container: one replica, restarted whatever made it
/// stop, on the platform network, publishing `$PORT` in host mode on a port the engine picks.
pub(crate) fn spec(
    settings: &DockerSettings,
    network: &PlatformNetwork,
    spec: &ContainerSpec,
) -> Result<ServiceSpec, SchedulerError> {
    let memory = spec.memory.as_deref().map(memory_bytes).transpose()?;
    let labels = labels_of(&settings.identity, spec);
    let constraints: Vec<String> = spec
        .tags
        .iter()
        .map(|(key, value)| format!("node.labels.{key}=={value}"))
        .collect();
    Ok(ServiceSpec {
        name: Some(name(&spec.name)),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(spec.image.clone()),
                labels: Some(labels),
                // A service's command replaces the image's entrypoint and command.
                command: spec
                    .command
                    .as_ref()
                    .map(|c| vec!["sh".to_owned(), "-c".to_owned(), c.clone()]),
                env: Some(env_list(&spec.env)),
                privileges: Some(TaskSpecContainerSpecPrivileges {
                    no_new_privileges: Some(true),
                    ..Default::default()
                }),
                stop_grace_period: Some(nanos(settings.stop_timeout)),
                sysctls: Some(ipv6_off()),
                capability_drop: Some(vec!["ALL".to_owned()]),
                capability_add: Some(CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    memory_bytes: memory,
                    pids: Some(settings.pids_limit),
                    nano_cpus: None,
                }),
                reservations: None,
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(nanos(RESTART_DELAY)),
                max_attempts: None,
                window: None,
            }),
            placement: (!constraints.is_empty()).then(|| TaskSpecPlacement {
                constraints: Some(constraints),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(network.id.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        endpoint_spec: port_of(spec).map(|port| EndpointSpec {
            mode: None,
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(i64::from(port)),
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    })
}

/// A duration in the nanoseconds the swarm API counts in.
fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn container(tags: &[(&str, &str)]) -> ContainerSpec {
        ContainerSpec {
            name: "shiny-pony_v2.web.1".to_owned(),
            app: "shiny-pony".to_owned(),
            version: 2,
            proc_type: "web".to_owned(),
            num: 1,
            image: "deis-release/deis-controller/shiny-pony:v2".to_owned(),
            command: Some("python app.py".to_owned()),
            env: BTreeMap::from([("PORT".to_owned(), "5000".to_owned())]),
            memory: Some("64M".to_owned()),
            cpu_shares: Some(512),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn service_names_are_readable_when_the_swarm_takes_them_and_digests_otherwise() {
        assert_eq!(name("shiny-pony_v2.web.1"), "shiny-pony_v2_web_1");
        let long = format!("{}_v1.web.1", "a".repeat(64));
        let digested = name(&long);
        assert!(
            digested.starts_with("deis_") && digested.len() == 37,
            "{digested}"
        );
        assert_ne!(name("-odd_v1.web.1"), "-odd_v1_web_1");
        assert_ne!(name("a_v1.web.1"), name("a_v1.web.2"));
    }

    #[test]
    fn a_service_runs_one_confined_replica_publishing_its_port_in_host_mode() {
        let network = PlatformNetwork {
            name: "deis-apps-x".to_owned(),
            id: "n1".to_owned(),
        };
        let settings = DockerSettings {
            pids_limit: 77,
            ..DockerSettings::default()
        };
        let service = spec(&settings, &network, &container(&[("zone", "a")])).expect("valid spec");
        assert_eq!(service.name.as_deref(), Some("shiny-pony_v2_web_1"));
        let labels = service.labels.expect("labels");
        assert_eq!(labels[NAME], "shiny-pony_v2.web.1");
        assert_eq!(labels[labels::APP], "shiny-pony");
        let replicas = service
            .mode
            .and_then(|m| m.replicated)
            .and_then(|r| r.replicas);
        assert_eq!(replicas, Some(1));
        let task = service.task_template.expect("task");
        let container = task.container_spec.expect("container");
        assert_eq!(
            container.command,
            Some(vec!["sh".into(), "-c".into(), "python app.py".into()])
        );
        assert_eq!(container.capability_drop, Some(vec!["ALL".into()]));
        let kept = container.capability_add.expect("capabilities");
        assert!(!kept.iter().any(|c| c == "NET_RAW" || c == "MKNOD"));
        let limits = task.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(
            (limits.memory_bytes, limits.pids),
            (Some(64 << 20), Some(77))
        );
        let constraints = task.placement.and_then(|p| p.constraints);
        assert_eq!(constraints, Some(vec!["node.labels.zone==a".to_owned()]));
        let networks = task.networks.expect("networks");
        assert_eq!(networks[0].target.as_deref(), Some("n1"));
        let ports = service.endpoint_spec.and_then(|e| e.ports).expect("ports");
        assert_eq!(ports[0].target_port, Some(5000));
        assert_eq!(ports[0].published_port, None);
        assert_eq!(
            ports[0].publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
    }
}
