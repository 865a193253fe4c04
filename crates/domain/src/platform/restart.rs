//! Restarting processes: every chosen container is replaced on the engine by a new container
//! of the same release, type and number, built from the same spec a deploy gives it.
//!
//! Engine names carry release, type and number, so a replacement cannot run beside the
//! container it replaces: each one leaves the route table, drains and is removed before its
//! replacement starts, and the replacement passes the deploy's health gate (`routes`) before
//! the next wave begins. A type with more than one container is restarted in two waves (first
//! half, then the rest), so that the other half keeps serving meanwhile; an app with a single
//! routable container is unreachable while it restarts. Restarting changes no desired state:
//! the container records stay (their states are updated), so a failure half way leaves
//! nothing to withdraw and the reconcile loop starts whatever the engine is missing.

use std::collections::hash_map::Entry;

use super::*;

/// Which processes of an app a restart is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartTarget {
    /// Every process.
    All,
    /// Every process of one type.
    Type(String),
    /// One process, by type and number.
    One(String, i64),
}

impl RestartTarget {
    fn includes(&self, c: &Container) -> bool {
        match self {
            Self::All => true,
            Self::Type(t) => &c.proc_type == t,
            Self::One(t, n) => &c.proc_type == t && c.num == *n,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::All => "all containers".into(),
            Self::Type(t) => format!("{t} containers"),
            Self::One(t, n) => format!("{t}.{n}"),
        }
    }
}

/// The chosen containers in restart order: the first half of each type (at least one), then
/// the rest.
fn waves(chosen: &[Container]) -> Vec<Vec<Container>> {
    let mut by_type: BTreeMap<&str, Vec<&Container>> = BTreeMap::new();
    for c in chosen {
        by_type.entry(c.proc_type.as_str()).or_default().push(c);
    }
    let mut first = Vec::new();
    let mut second = Vec::new();
    for of_type in by_type.values() {
        let split = (of_type.len() / 2).max(1);
        first.extend(of_type[..split].iter().map(|c| (*c).clone()));
        second.extend(of_type[split..].iter().map(|c| (*c).clone()));
    }
    [first, second]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect()
}

impl Platform {
    /// Restarts the app's chosen processes; returns them as restarted. Restarting one process
    /// that does not exist is `NotFound`; a type without processes restarts nothing.
    pub async fn restart(
        &self,
        user: &User,
        id: &str,
        target: RestartTarget,
    ) -> Result<Vec<Container>, Error> {
        let app = self.visible_app(user, id).await?;
        let _lock = self.store.lock_app(&app.id).await?;
        let chosen: Vec<Container> = self
            .processes(&app.id)
            .await?
            .into_iter()
            .filter(|c| target.includes(c))
            .collect();
        if chosen.is_empty() {
            return match target {
                RestartTarget::One(..) => Err(Error::NotFound),
                _ => Ok(Vec::new()),
            };
        }
        let specs = self.specs_of(&app.id, &chosen).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let config = self.store.config(latest.config).await?;
        self.event(
            &app.id,
            format!(
                "{}: {} restarted {}",
                app.id,
                user.username,
                target.describe()
            ),
        )
        .await;
        for wave in waves(&chosen) {
            self.replace(&app.id, &wave, &specs, &config).await?;
        }
        let restarted: HashSet<Uuid> = chosen.iter().map(|c| c.uuid).collect();
        let mut now = self.processes(&app.id).await?;
        now.retain(|c| restarted.contains(&c.uuid));
        Ok(now)
    }

    /// The spec of each container at its own release, by uuid.
    async fn specs_of(
        &self,
        app: &str,
        containers: &[Container],
    ) -> Result<HashMap<Uuid, ContainerSpec>, Error> {
        let mut releases: HashMap<i64, (Build, Config)> = HashMap::new();
        let mut specs = HashMap::new();
        for c in containers {
            let (build, config) = match releases.entry(c.release) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => {
                    let release = self.store.release(app, c.release).await?;
                    let Some(build_id) = release.build else {
                        return Err(Error::Rejected(
                            "No build associated with this release".into(),
                        ));
                    };
                    let build = self.store.build(app, build_id).await?;
                    let config = self.store.config(release.config).await?;
                    slot.insert((build, config))
                }
            };
            specs.insert(c.uuid, self.spec(c, build, config));
        }
        Ok(specs)
    }

    /// Takes one wave of containers out of the route table, lets them finish their requests,
    /// removes them from the engine, starts their replacements and waits until those answer.
    async fn replace(
        &self,
        app: &str,
        wave: &[Container],
        specs: &HashMap<Uuid, ContainerSpec>,
        config: &Config,
    ) -> Result<(), Error> {
        if let Some(leaving) = self.plan_switch(app, &[], config, wave, None).await? {
            self.out_of_rotation(app, &leaving.old).await;
        }
        let names: Vec<String> = wave.iter().map(Container::name).collect();
        if let Err(e) = self.scheduler.remove(&names).await {
            self.event(
                app,
                format!("{app}: aborting, failed to destroy some containers"),
            )
            .await;
            self.sync_routes(app).await;
            return Err(unavailable(
                "aborting, failed to destroy some containers",
                &e,
            ));
        }
        let wanted: Vec<ContainerSpec> = wave
            .iter()
            .filter_map(|c| specs.get(&c.uuid).cloned())
            .collect();
        let outcome = self.scheduler.start(&wanted).await;
        let state = if outcome.is_ok() {
            ContainerState::Up
        } else {
            ContainerState::Error
        };
        let states: Vec<(Uuid, ContainerState)> = wave.iter().map(|c| (c.uuid, state)).collect();
        self.store.set_states(&states).await?;
        if let Err(e) = outcome {
            self.event(
                app,
                format!("{app}: aborting, failed to create some containers"),
            )
            .await;
            self.sync_routes(app).await;
            return Err(unavailable(
                "aborting, failed to create some containers",
                &e,
            ));
        }
        let gate = match self.plan_switch(app, wave, config, &[], None).await? {
            Some(arriving) => self.health_gate(app, &arriving).await,
            None => Ok(()),
        };
        // Routed either way: the router probes containers it has not seen healthy first.
        self.sync_routes(app).await;
        gate
    }

    /// Stops routing to `leaving` and waits until their requests are done.
    async fn out_of_rotation(&self, app: &str, leaving: &[Endpoint]) {
        if leaving.is_empty() {
            return;
        }
        match self.routes_of(app).await {
            Ok(mut routes) => {
                routes.endpoints.retain(|e| !leaving.contains(e));
                self.routing.set_routes(routes).await;
            }
            Err(e) => {
                tracing::warn!(app, error = %e, "could not take containers out of the routes")
            }
        }
        self.routing.drain(leaving, self.settings.drain_grace).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(proc_type: &str, num: i64) -> Container {
        let now = timefmt::now();
        Container {
            uuid: Uuid::new_v4(),
            app: "a".into(),
            owner: "o".into(),
            release: 2,
            proc_type: proc_type.into(),
            num,
            state: ContainerState::Up,
            created: now,
            updated: now,
        }
    }

    fn labels(waves: &[Vec<Container>]) -> Vec<Vec<String>> {
        waves
            .iter()
            .map(|w| {
                w.iter()
                    .map(|c| format!("{}.{}", c.proc_type, c.num))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn half_of_each_type_keeps_running_while_the_other_half_restarts() {
        let chosen = vec![
            container("web", 1),
            container("web", 2),
            container("web", 3),
            container("web", 4),
            container("worker", 1),
        ];
        assert_eq!(
            labels(&waves(&chosen)),
            [vec!["web.1", "web.2", "worker.1"], vec!["web.3", "web.4"]]
        );
        assert_eq!(labels(&waves(&chosen[..1])), [vec!["web.1"]]);
        assert_eq!(
            labels(&waves(&chosen[..3])),
            [vec!["web.1"], vec!["web.2", "web.3"]]
        );
        assert!(waves(&[]).is_empty());
    }

    #[test]
    fn targets_choose_processes() {
        let web = container("web", 2);
        assert!(RestartTarget::All.includes(&web));
        assert!(RestartTarget::Type("web".into()).includes(&web));
        assert!(!RestartTarget::Type("worker".into()).includes(&web));
        assert!(RestartTarget::One("web".into(), 2).includes(&web));
        assert!(!RestartTarget::One("web".into(), 1).includes(&web));
    }
}
