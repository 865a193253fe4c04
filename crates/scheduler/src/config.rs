//! How the port's specs become the engine's container configuration.

use std::collections::BTreeMap;

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use deis_domain::{ContainerSpec, RunSpec, SchedulerError};

use crate::DockerSettings;
use crate::labels;
use crate::limits::memory_bytes;

/// A long-running process: restarted by the engine when it exits (unless it was stopped),
/// so a crashed process comes back and containers survive an engine restart.
/// `spec.tags` are placement constraints and one engine has no placement: ignored.
pub(crate) fn long_running(
    settings: &DockerSettings,
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
            network_mode: settings.network.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A one-off command: never restarted, removed by `run` once it has exited.
pub(crate) fn one_off(settings: &DockerSettings, spec: &RunSpec) -> ContainerCreateBody {
    let (entrypoint, cmd) = shell(&spec.command);
    ContainerCreateBody {
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
            network_mode: settings.network.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
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
fn env_list(env: &BTreeMap<String, String>) -> Vec<String> {
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: Option<&str>) -> ContainerSpec {
        ContainerSpec {
            name: "shiny-pony_v2.web.1".to_owned(),
            app: "shiny-pony".to_owned(),
            version: 2,
            proc_type: "web".to_owned(),
            num: 1,
            image: "shiny-pony:v2".to_owned(),
            command: command.map(str::to_owned),
            env: BTreeMap::from([("PORT".to_owned(), "5000".to_owned())]),
            memory: Some("64M".to_owned()),
            cpu_shares: Some(512),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn a_procfile_line_runs_through_the_shell_and_limits_apply() {
        let body = long_running(&DockerSettings::default(), &spec(Some("python app.py")))
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
    fn the_default_command_keeps_the_image_entrypoint_and_cmd() {
        let body = long_running(&DockerSettings::default(), &spec(None)).expect("valid spec");
        assert_eq!((body.entrypoint, body.cmd), (None, None));
    }

    #[test]
    fn a_malformed_memory_limit_fails_before_the_engine_is_asked() {
        let mut bad = spec(None);
        bad.memory = Some("lots".to_owned());
        assert!(long_running(&DockerSettings::default(), &bad).is_err());
    }
}
