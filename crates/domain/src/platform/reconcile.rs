//! Reconciliation: making the engine match the database.

use super::*;

impl Platform {
    /// Makes the engine match the database: starts missing containers, removes this
    /// controller's orphans (and the release images of deleted apps) and stores observed
    /// states; hands the router the certificates. Returns how many containers it started and
    /// removed.
    pub async fn reconcile(&self) -> Result<(usize, usize), Error> {
        self.push_certificates().await;
        let observed = self
            .scheduler
            .list(None)
            .await
            .map_err(|e| unavailable("reconcile", &e))?;
        let apps: HashSet<String> = self.store.all_app_ids().await?.into_iter().collect();
        let mut started = 0;
        let mut removed = 0;
        let orphans: Vec<String> = observed
            .iter()
            .filter(|o| !apps.contains(&o.app) && o.proc_type != "run")
            .map(|o| o.name.clone())
            .collect();
        if !orphans.is_empty() {
            removed += orphans.len();
            for name in &orphans {
                tracing::info!(container = %name, "reconcile removes a container of a deleted app");
            }
            self.scheduler
                .remove(&orphans)
                .await
                .map_err(|e| unavailable("reconcile", &e))?;
        }
        self.forget_deleted_apps().await;
        for app in apps {
            let of_app: Vec<&Observed> = observed.iter().filter(|o| o.app == app).collect();
            match self.reconcile_app(&app, &of_app).await {
                Ok((s, r)) => {
                    started += s;
                    removed += r;
                }
                Err(e) => tracing::warn!(app = %app, error = %e, "reconciling the app failed"),
            }
            self.sync_routes(&app).await;
        }
        Ok((started, removed))
    }

    async fn reconcile_app(
        &self,
        id: &str,
        seen_before_lock: &[&Observed],
    ) -> Result<(usize, usize), Error> {
        let _lock = self.store.lock_app(id).await?;
        let desired: Vec<Container> = self.processes(id).await?;
        if desired.is_empty() && seen_before_lock.is_empty() {
            return Ok((0, 0));
        }
        let observed = self
            .scheduler
            .list(Some(id))
            .await
            .map_err(|e| unavailable("reconcile", &e))?;
        let by_name: HashMap<String, &Observed> =
            observed.iter().map(|o| (o.name.clone(), o)).collect();
        let wanted: HashSet<String> = desired.iter().map(Container::name).collect();
        let orphans: Vec<String> = observed
            .iter()
            .filter(|o| o.proc_type != "run" && !wanted.contains(&o.name))
            .map(|o| o.name.clone())
            .collect();
        let mut specs = Vec::new();
        let mut states = Vec::new();
        for c in &desired {
            match by_name.get(&c.name()) {
                // Created (a crash between create and start), stopped and removed containers are
                // started again; crashed ones are the restart policy's to bring back.
                Some(o)
                    if !matches!(
                        o.state,
                        ContainerState::Destroyed | ContainerState::Created | ContainerState::Down
                    ) =>
                {
                    if o.state != c.state {
                        states.push((c.uuid, o.state));
                    }
                }
                _ => {
                    let release = self.store.release(id, c.release).await?;
                    let Some(build_id) = release.build else {
                        continue;
                    };
                    let build = self.store.build(id, build_id).await?;
                    let config = self.store.config(release.config).await?;
                    specs.push((c.uuid, self.spec(c, &build, &config)));
                }
            }
        }
        let started = specs.len();
        if !specs.is_empty() {
            let only: Vec<ContainerSpec> = specs.iter().map(|(_, s)| s.clone()).collect();
            let state = match self.scheduler.start(&only).await {
                Ok(()) => ContainerState::Up,
                Err(e) => {
                    tracing::warn!(app = id, error = %e, "reconcile could not start missing containers");
                    ContainerState::Error
                }
            };
            states.extend(specs.iter().map(|(u, _)| (*u, state)));
        }
        if !orphans.is_empty() {
            for name in &orphans {
                tracing::info!(app = id, container = %name, "reconcile removes a container the database does not list");
            }
            self.scheduler
                .remove(&orphans)
                .await
                .map_err(|e| unavailable("reconcile", &e))?;
        }
        if !states.is_empty() {
            self.store.set_states(&states).await?;
        }
        Ok((started, orphans.len()))
    }
}
