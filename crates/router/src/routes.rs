//! The writer side of the table: what the controller told the router, per app.
//!
//! One mutex guards it; it is held only to compute and swap snapshots (never across an
//! await, never by a request).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deis_domain::{AppRoutes, Endpoint};
use tokio::time::Instant;

use crate::Shared;
use crate::health;
use crate::table::{AppEntry, AppSlot, HostMap, Upstream, normalize_host};

/// How long a container no app routes to stays known (its health remembered) after it was
/// last listed or probed healthy.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What the controller told the router.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    apps: HashMap<String, App>,
    known: HashMap<Endpoint, Known>,
}

/// One app's routes.
#[derive(Debug)]
struct App {
    hosts: Vec<String>,
    health_path: String,
    slot: Arc<AppSlot>,
}

/// A container the router knows, routed or not.
#[derive(Debug)]
struct Known {
    upstream: Arc<Upstream>,
    touched: Instant,
}

impl Routes {
    /// The tracked state of `endpoint`, created (not yet healthy) when new.
    pub(crate) fn upstream(&mut self, endpoint: &Endpoint) -> Arc<Upstream> {
        let now = Instant::now();
        let known = self.known.entry(endpoint.clone()).or_insert_with(|| Known {
            upstream: Arc::new(Upstream::new(endpoint.clone())),
            touched: now,
        });
        known.touched = now;
        Arc::clone(&known.upstream)
    }

    /// The tracked state of `endpoint`, when known.
    pub(crate) fn get(&self, endpoint: &Endpoint) -> Option<Arc<Upstream>> {
        self.known.get(endpoint).map(|k| Arc::clone(&k.upstream))
    }

    /// Every app's hosts. A host two apps claim (the domain keeps them unique) goes to the
    /// first app by id, so the outcome does not depend on the order of changes.
    fn host_map(&self) -> HostMap {
        let mut apps: Vec<(&String, &App)> = self.apps.iter().collect();
        apps.sort_by(|a, b| a.0.cmp(b.0));
        let mut hosts = HostMap::with_capacity(apps.iter().map(|(_, a)| a.hosts.len()).sum());
        for (_, app) in apps {
            for host in &app.hosts {
                hosts
                    .entry(host.as_str().into())
                    .or_insert_with(|| Arc::clone(&app.slot));
            }
        }
        hosts
    }
}

impl Shared {
    /// Replaces an app's routes (see `Routing::set_routes`).
    pub(crate) fn set_routes(self: &Arc<Self>, routes: AppRoutes) {
        let path = health::target(&routes.health_path);
        let mut hosts: Vec<String> = routes
            .hosts
            .iter()
            .map(|h| normalize_host(h).into_owned())
            .filter(|h| !h.is_empty())
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut to_probe = Vec::new();
        {
            let mut state = self.lock_routes();
            let mut seen = HashSet::new();
            let listed: Vec<Arc<Upstream>> = routes
                .endpoints
                .iter()
                .filter(|e| seen.insert(*e))
                .map(|e| state.upstream(e))
                .collect();
            let previous = state
                .apps
                .get(&routes.app)
                .map(|app| app.slot.entry.load_full());
            let retired = match &previous {
                Some(old) if !listed.is_empty() && !listed.iter().any(|u| u.is_healthy()) => {
                    let serving = if old.has_healthy_listed() {
                        old.listed.iter().collect::<Vec<_>>()
                    } else {
                        old.listed.iter().chain(&old.retired).collect()
                    };
                    serving
                        .into_iter()
                        .filter(|u| !listed.iter().any(|l| Arc::ptr_eq(l, u)))
                        .cloned()
                        .collect()
                }
                _ => Vec::new(),
            };
            for upstream in &listed {
                if !upstream.is_healthy() && upstream.start_probing() {
                    to_probe.push(Arc::clone(upstream));
                }
            }
            let entry = Arc::new(AppEntry::new(listed, retired));
            let hosts_changed = match state.apps.get_mut(&routes.app) {
                Some(app) => {
                    app.slot.entry.store(entry);
                    app.health_path.clone_from(&path);
                    let changed = app.hosts != hosts;
                    app.hosts = hosts;
                    changed
                }
                None => {
                    let slot = Arc::new(AppSlot::default());
                    slot.entry.store(entry);
                    state.apps.insert(
                        routes.app.clone(),
                        App {
                            hosts,
                            health_path: path.clone(),
                            slot,
                        },
                    );
                    true
                }
            };
            if hosts_changed {
                self.table.store(state.host_map());
            }
        }
        for upstream in to_probe {
            tokio::spawn(health::probe_new(
                Arc::downgrade(self),
                upstream,
                path.clone(),
            ));
        }
    }

    /// Forgets an app: its hosts answer 404.
    pub(crate) fn remove_app(&self, app: &str) {
        let mut state = self.lock_routes();
        if state.apps.remove(app).is_some() {
            self.table.store(state.host_map());
        }
    }

    /// Drops the retired containers of apps that have a healthy listed one.
    pub(crate) fn prune_retired(&self) {
        let state = self.lock_routes();
        for app in state.apps.values() {
            let entry = app.slot.entry.load();
            if !entry.retired.is_empty() && entry.has_healthy_listed() {
                app.slot
                    .entry
                    .store(Arc::new(AppEntry::new(entry.listed.clone(), Vec::new())));
            }
        }
    }

    /// Every routed container with its app's health path, once each; forgets containers
    /// nothing routed or probed for a while.
    pub(crate) fn check_targets(&self) -> Vec<(Arc<Upstream>, String)> {
        let mut state = self.lock_routes();
        let mut targets: Vec<(Arc<Upstream>, String)> = Vec::new();
        let mut seen = HashSet::new();
        for app in state.apps.values() {
            let entry = app.slot.entry.load();
            for upstream in entry.listed.iter().chain(&entry.retired) {
                if seen.insert(Arc::as_ptr(upstream)) {
                    targets.push((Arc::clone(upstream), app.health_path.clone()));
                }
            }
        }
        state.known.retain(|_, known| {
            Arc::strong_count(&known.upstream) > 1 || known.touched.elapsed() < FORGET_AFTER
        });
        targets
    }

    /// Marks `endpoint` healthy (it answered a probe), tracking it when new.
    pub(crate) fn seen_healthy(&self, endpoint: &Endpoint) -> bool {
        self.lock_routes().upstream(endpoint).mark_up()
    }

    /// The tracked containers among `endpoints`.
    pub(crate) fn known(&self, endpoints: &[Endpoint]) -> Vec<Arc<Upstream>> {
        let state = self.lock_routes();
        endpoints.iter().filter_map(|e| state.get(e)).collect()
    }
}
