//! Containers: listing them with live states, and scaling process types.

use super::*;

impl Platform {
    /// Containers of the app with their live states where the engine answers.
    pub async fn list_containers(
        &self,
        user: &User,
        id: &str,
        proc_type: Option<&str>,
        page: PageSel,
    ) -> Result<Page<Container>, Error> {
        let app = self.visible_app(user, id).await?;
        let page = self.store.list_containers(&app.id, proc_type, page).await?;
        Ok(self.refresh_states(&app.id, page).await)
    }

    /// One container by type and number.
    pub async fn container(
        &self,
        user: &User,
        id: &str,
        proc_type: &str,
        num: &str,
    ) -> Result<Container, Error> {
        let app = self.visible_app(user, id).await?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::NotFound);
        }
        let num: i64 = num.parse().map_err(|_| Error::NotFound)?;
        let mut found: Vec<Container> = self
            .store
            .containers(&app.id)
            .await?
            .into_iter()
            .filter(|c| c.proc_type == proc_type && c.num == num)
            .collect();
        let newest = found.pop().ok_or(Error::NotFound)?;
        let refreshed = self
            .refresh_states(
                &app.id,
                Page {
                    count: 1,
                    number: 1,
                    items: vec![newest],
                },
            )
            .await;
        refreshed.items.into_iter().next().ok_or(Error::NotFound)
    }

    /// Overlays the engine's view of states; keeps the stored ones when the engine does not answer.
    async fn refresh_states(&self, app: &str, mut page: Page<Container>) -> Page<Container> {
        let live = page
            .items
            .iter()
            .any(|c| c.proc_type != "run" || c.state == ContainerState::Up);
        if !live {
            return page;
        }
        let observed = match self.scheduler.list(Some(app)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(app, error = %e, "engine states unavailable; answering stored states");
                return page;
            }
        };
        let by_name: HashMap<&str, &Observed> =
            observed.iter().map(|o| (o.name.as_str(), o)).collect();
        let mut changed = Vec::new();
        // A run whose client left (or whose controller stopped) ended without being recorded:
        // once past the grace a starting run may take, no container means it is over.
        let settled = timefmt::now() - super::quota::RUN_GRACE;
        for c in &mut page.items {
            if c.proc_type == "run" {
                if c.state == ContainerState::Up
                    && c.created < settled
                    && !by_name.contains_key(c.name().as_str())
                {
                    c.state = ContainerState::Destroyed;
                    changed.push((c.uuid, c.state));
                }
                continue;
            }
            let state = by_name
                .get(c.name().as_str())
                .map_or(ContainerState::Down, |o| o.state);
            if state != c.state {
                c.state = state;
                changed.push((c.uuid, state));
            }
        }
        if !changed.is_empty()
            && let Err(e) = self.store.set_states(&changed).await
        {
            tracing::warn!(app, error = %e, "could not store observed states");
        }
        page
    }

    /// Scales process types to the requested counts (merged into the stored structure).
    pub async fn scale(&self, user: &User, id: &str, request: &Structure) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        if request.values().any(|n| *n < 0) {
            return Err(Error::Rejected(
                "[u'Must be greater than or equal to zero']".into(),
            ));
        }
        if request.values().any(|n| *n > validate::MAX_SCALE) {
            return Err(Error::Rejected(validate::too_many()));
        }
        let _lock = self.store.lock_app(&app.id).await?;
        let app = self.store.app(&app.id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let Some(build_id) = latest.build else {
            return Err(Error::Rejected(
                "No build associated with this release".into(),
            ));
        };
        let build = self.store.build(&app.id, build_id).await?;
        if let Some(bad) = request.keys().find(|t| !valid_type(&build, t)) {
            return Err(Error::Rejected(format!(
                "Container type {bad} does not exist in application"
            )));
        }
        let config = self.store.config(latest.config).await?;
        self.check_scale(user, &app, request).await?;
        self.scale_locked(user, &app, &latest, &build, &config, request)
            .await
    }

    /// The scale algorithm; the caller holds the app's lock.
    pub(super) async fn scale_locked(
        &self,
        user: &User,
        app: &App,
        latest: &Release,
        build: &Build,
        config: &Config,
        request: &Structure,
    ) -> Result<(), Error> {
        let existing: Vec<Container> = self.processes(&app.id).await?;
        let now = timefmt::now();
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (proc_type, wanted) in request {
            let of_type: Vec<&Container> = existing
                .iter()
                .filter(|c| &c.proc_type == proc_type)
                .collect();
            let have = i64::try_from(of_type.len()).unwrap_or(i64::MAX);
            let first = of_type.iter().map(|c| c.num).max().unwrap_or(0) + 1;
            for next in (first..).take(usize::try_from(wanted - have).unwrap_or(0)) {
                add.push(Container {
                    uuid: Uuid::new_v4(),
                    app: app.id.clone(),
                    owner: app.owner.clone(),
                    release: latest.version,
                    proc_type: proc_type.clone(),
                    num: next,
                    state: ContainerState::Initialized,
                    created: now,
                    updated: now,
                });
            }
            let surplus = usize::try_from(have - wanted).unwrap_or(0);
            // The newest go, kept in creation order so that an undo puts them back in place.
            let keep = of_type.len().saturating_sub(surplus);
            remove.extend(of_type.iter().skip(keep).map(|c| (*c).clone()));
        }
        let structure = release::merge_structure(&app.structure, request);
        if add.is_empty() && remove.is_empty() && structure == app.structure {
            return Ok(());
        }
        let line = request
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let event = format!("{}: {} scaled containers {line}", app.id, user.username);
        self.store
            .commit_scale(&app.id, &structure, &add, &remove, Some(event))
            .await?;
        if !add.is_empty() {
            let specs: Vec<ContainerSpec> =
                add.iter().map(|c| self.spec(c, build, config)).collect();
            if let Err(e) = self.scheduler.start(&specs).await {
                self.event(
                    &app.id,
                    format!("{}: aborting, failed to create some containers", app.id),
                )
                .await;
                // `start` removes what it created; should the engine have failed that too, take
                // it back here (what an engine that does not answer holds, reconciliation removes).
                if matches!(e, SchedulerError::Failed(_)) {
                    self.abandon(&add).await;
                }
                self.undo_scale(app, &add, &remove).await;
                return Err(unavailable(
                    "aborting, failed to create some containers",
                    &e,
                ));
            }
        }
        let gate = match self.plan_switch(&app.id, &add, config, &remove, None).await {
            Ok(Some(switch)) => self
                .health_gate(&app.id, &switch)
                .await
                .map(|()| switch.old),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let retired = match gate {
            Ok(retired) => retired,
            Err(e) => {
                self.abandon(&add).await;
                self.undo_scale(app, &add, &remove).await;
                return Err(e);
            }
        };
        if !add.is_empty() {
            let up: Vec<(Uuid, ContainerState)> =
                add.iter().map(|c| (c.uuid, ContainerState::Up)).collect();
            self.store.set_states(&up).await?;
        }
        self.switch_traffic(&app.id, &retired).await;
        if !remove.is_empty() {
            let names: Vec<String> = remove.iter().map(Container::name).collect();
            if let Err(e) = self.scheduler.remove(&names).await {
                // All or nothing: take back what this step started and put the record back
                // as it was; whatever the engine still holds, reconciliation settles.
                self.event(
                    &app.id,
                    format!("{}: aborting, failed to destroy some containers", app.id),
                )
                .await;
                self.abandon(&add).await;
                self.undo_scale(app, &add, &remove).await;
                self.sync_routes(&app.id).await;
                return Err(unavailable(
                    "aborting, failed to destroy some containers",
                    &e,
                ));
            }
        }
        Ok(())
    }

    /// Puts the records of a failed scale back as they were.
    async fn undo_scale(&self, app: &App, added: &[Container], removed: &[Container]) {
        if let Err(undo) = self
            .store
            .commit_scale(&app.id, &app.structure, removed, added, None)
            .await
        {
            tracing::error!(app = %app.id, error = %undo, "could not undo a failed scale");
        }
    }
}
