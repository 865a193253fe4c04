//! How the port's specs become the engine's container configuration.
//!
//! Every container is confined the same way (see docs/SECURITY.md): on the platform network
//! only, `no-new-privileges`, every capability dropped but [`CAPABILITIES`], a pids limit,
//! IPv6 off, the app's memory and CPU limits; nothing of the host is mounted and nothing is
//! published.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use deis_domain::{ContainerSpec, RunSpec, SchedulerError};

use crate::DockerSettings;
use crate::labels;
use crate::limits::memory_bytes;
use crate::network::PlatformNetwork;

/// The capabilities a container keeps: what ordinary images need to start as root and drop
/// to a user of their own (change owners and modes of their files, switch user and group,
/// signal their children, bind ports below 1024). Gone from Docker's defaults: `NET_RAW`
/// (raw sockets: spoofing, sniffing on the bridge), `MKNOD` (device nodes), `SETFCAP` and
/// `SETPCAP` (granting capabilities), `SYS_CHROOT` and `AUDIT_WRITE`.
pub(crate) const CAPABILITIES: [&str; 8] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETGID",
    "SETUID",
];

/// A long-running process: restarted by the engine when it exits (unless it was stopped),
/// so a crashed process comes back and containers survive an engine restart.
/// `spec.tags` are placement constraints and one engine has no placement: ignored.
pub(crate) fn long_running(
    settings: &DockerSettings,
    network: &PlatformNetwork,
    spec: &ContainerSpec,
) -> Result<ContainerCreateBody, SchedulerError> {
    let memory = spec.memory.as_deref().map(memory_bytes).transpose()?;
    let (entrypoint, cmd) = match &spec.command {
        Some(command) => shell(command),
        None => (None, None),
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint,
        cmd,
        env: Some(env_list(&spec.env)),
        labels: Some(labels::for_container(
            &settings.identity,
            &spec.app,
            spec.version,
            &spec.proc_type,
            spec.num,
        )),
        host_config: Some(HostConfig {
            memory,
            cpu_shares: spec.cpu_shares,
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..confined(settings, network)
        }),
        networking_config: Some(endpoint(network)),
        ..Default::default()
    })
}

/// A one-off command: never restarted, removed by `run` once it has exited; confined and
/// limited like the app's processes.
pub(crate) fn one_off(
    settings: &DockerSettings,
    network: &PlatformNetwork,
    spec: &RunSpec,
) -> Result<ContainerCreateBody, SchedulerError> {
    let memory = spec.memory.as_deref().map(memory_bytes).transpose()?;
    let (entrypoint, cmd) = shell(&spec.command);
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint,
        cmd,
        env: Some(env_list(&spec.env)),
        labels: Some(labels::for_container(
            &settings.identity,
            &spec.app,
            spec.version,
            labels::RUN_TYPE,
            spec.num,
        )),
        host_config: Some(HostConfig {
            memory,
            cpu_shares: spec.cpu_shares,
            ..confined(settings, network)
        }),
        networking_config: Some(endpoint(network)),
        ..Default::default()
    })
}

/// The container's one endpoint: on the platform network, named by id (see `network`).
fn endpoint(network: &PlatformNetwork) -> NetworkingConfig {
    NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network.name.clone(),
            EndpointSettings {
                network_id: Some(network.id.clone()),
                ..Default::default()
            },
        )])),
    }
}

/// What every container of the platform gets: the platform network only, no new privileges,
/// the kept capabilities, the pids limit and no IPv6 (link-local addresses would pass the
/// bridge's IPv4 filter).
fn confined(settings: &DockerSettings, network: &PlatformNetwork) -> HostConfig {
    HostConfig {
        network_mode: Some(network.id.clone()),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        cap_drop: Some(vec!["ALL".to_owned()]),
        cap_add: Some(CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
        pids_limit: Some(settings.pids_limit),
        sysctls: Some(ipv6_off()),
        privileged: Some(false),
        ..Default::default()
    }
}

/// The sysctls that turn IPv6 off inside a container.
pub(crate) fn ipv6_off() -> HashMap<String, String> {
    HashMap::from([
        ("net.ipv6.conf.all.disable_ipv6".to_owned(), "1".to_owned()),
        (
            "net.ipv6.conf.default.disable_ipv6".to_owned(),
            "1".to_owned(),
        ),
    ])
}

/// `sh -c <command>`, with the image's entrypoint reset (`[""]` is the engine's way to say
/// "none") so that an image with an `ENTRYPOINT` still runs the procfile line itself.
fn shell(command: &str) -> (Option<Vec<String>>, Option<Vec<String>>) {
    (
        Some(vec![String::new()]),
        Some(vec!["sh".to_owned(), "-c".to_owned(), command.to_owned()]),
    )
}

/// `KEY=value` pairs.
pub(crate) fn env_list(env: &BTreeMap<String, String>) -> Vec<String> {
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> PlatformNetwork {
        PlatformNetwork {
            name: "deis-apps-deis-controller".to_owned(),
            id: "0123456789ab".to_owned(),
        }
    }

    fn spec(command: Option<&str>) -> ContainerSpec {
        ContainerSpec {
            name: "shiny-pony_v2.web.1".to_owned(),
            app: "shiny-pony".to_owned(),
            version: 2,
            proc_type: "web".to_owned(),
            num: 1,
            image: "deis-release/deis-controller/shiny-pony:v2".to_owned(),
            command: command.map(str::to_owned),
            env: BTreeMap::from([("PORT".to_owned(), "5000".to_owned())]),
            memory: Some("64M".to_owned()),
            cpu_shares: Some(512),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn a_procfile_line_runs_through_the_shell_and_limits_apply() {
        let body = long_running(
            &DockerSettings::default(),
            &network(),
            &spec(Some("python app.py")),
        )
        .expect("valid spec");
        assert_eq!(
            body.cmd,
            Some(vec!["sh".into(), "-c".into(), "python app.py".into()])
        );
        assert_eq!(body.entrypoint, Some(vec![String::new()]));
        assert_eq!(body.env, Some(vec!["PORT=5000".to_owned()]));
        let host = body.host_config.expect("host config");
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.cpu_shares, Some(512));
        let labels = body.labels.expect("labels");
        assert_eq!(labels[labels::CONTROLLER], "deis-controller");
        assert_eq!(labels[labels::RELEASE], "2");
        assert_eq!(labels[labels::TYPE], "web");
    }

    #[test]
    fn every_container_is_confined_alike() {
        let settings = DockerSettings {
            pids_limit: 77,
            ..DockerSettings::default()
        };
        let run = RunSpec {
            name: "shiny-pony_v2.run.1".to_owned(),
            app: "shiny-pony".to_owned(),
            version: 2,
            num: 1,
            image: "deis-release/deis-controller/shiny-pony:v2".to_owned(),
            command: "true".to_owned(),
            env: BTreeMap::new(),
            memory: Some("32M".to_owned()),
            cpu_shares: Some(100),
            timeout: std::time::Duration::from_secs(1),
            output_limit: 1024 * 1024,
        };
        let web = long_running(&settings, &network(), &spec(None)).expect("valid spec");
        let one_off = one_off(&settings, &network(), &run).expect("valid run");
        for host in [web.host_config, one_off.host_config.clone()] {
            let host = host.expect("host config");
            assert_eq!(host.network_mode.as_deref(), Some("0123456789ab"));
            assert_eq!(host.security_opt, Some(vec!["no-new-privileges".into()]));
            assert_eq!(host.cap_drop, Some(vec!["ALL".into()]));
            let kept = host.cap_add.expect("capabilities");
            assert!(!kept.iter().any(|c| c == "NET_RAW" || c == "MKNOD"));
            assert_eq!(host.pids_limit, Some(77));
            assert_eq!((host.binds, host.mounts), (None, None));
            assert_eq!(host.privileged, Some(false));
        }
        let endpoints = one_off
            .networking_config
            .and_then(|n| n.endpoints_config)
            .expect("endpoints");
        assert_eq!(
            endpoints["deis-apps-deis-controller"].network_id.as_deref(),
            Some("0123456789ab")
        );
        let host = one_off.host_config.expect("host config");
        assert_eq!((host.memory, host.cpu_shares), (Some(32 << 20), Some(100)));
        assert_eq!(host.restart_policy, None);
    }

    #[test]
    fn the_default_command_keeps_the_image_entrypoint_and_cmd() {
        let body =
            long_running(&DockerSettings::default(), &network(), &spec(None)).expect("valid spec");
        assert_eq!((body.entrypoint, body.cmd), (None, None));
    }

    #[test]
    fn a_malformed_memory_limit_fails_before_the_engine_is_asked() {
        let mut bad = spec(None);
        bad.memory = Some("lots".to_owned());
        assert!(long_running(&DockerSettings::default(), &network(), &bad).is_err());
    }
}
