//! The route table: host → app → containers, read lock-free on every request.
//!
//! Readers load the host map (an `ArcSwap`), find the app's slot and load the slot's current
//! entry (another `ArcSwap`), pick a container and count the request in flight; none of it
//! takes a lock. Writers (route changes, health changes) build a new entry and swap it in;
//! the host map is rebuilt only when an app's host names change.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use deis_domain::Endpoint;
use http::uri::Authority;
use tokio::sync::Notify;

/// One container as the router tracks it: health and requests in flight.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// The container.
    pub(crate) endpoint: Endpoint,
    /// `ip:port`, the authority of upstream request URIs.
    pub(crate) authority: Authority,
    /// Whether it gets new requests.
    healthy: AtomicBool,
    /// Consecutive failed active probes.
    failures: AtomicU32,
    /// Requests (and upgraded connections) in flight to it.
    in_flight: AtomicUsize,
    /// Woken when `in_flight` drops to zero.
    idle: Notify,
    /// Whether a probe loop for a new container runs.
    probing: AtomicBool,
}

impl Upstream {
    /// A container not seen healthy yet.
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        let authority = Authority::try_from(endpoint.addr.to_string().as_str())
            .expect("a socket address is a valid authority");
        Self {
            endpoint,
            authority,
            healthy: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            probing: AtomicBool::new(false),
        }
    }

    /// Whether it gets new requests.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Marks it healthy; true when it was not.
    pub(crate) fn mark_up(&self) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        !self.healthy.swap(true, Ordering::Relaxed)
    }

    /// Takes it out at once; true when it was healthy.
    pub(crate) fn mark_down(&self) -> bool {
        self.healthy.swap(false, Ordering::Relaxed)
    }

    /// Counts one failed probe; takes it out (returning true) when `threshold` consecutive
    /// ones failed and it was healthy.
    pub(crate) fn probe_failed(&self, threshold: u32) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        failures >= threshold && self.mark_down()
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until nothing is in flight (no deadline: the caller bounds it).
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Claims the probe loop of a new container; false when one runs already.
    pub(crate) fn start_probing(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    /// Ends the probe loop's claim.
    pub(crate) fn stop_probing(&self) {
        self.probing.store(false, Ordering::Release);
    }
}

/// One request (or upgraded connection) in flight to an upstream, counted until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Upstream>);

impl InFlight {
    /// Counts a request to `upstream`.
    pub(crate) fn new(upstream: &Arc<Upstream>) -> Self {
        upstream.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(upstream))
    }

    /// The upstream.
    pub(crate) fn upstream(&self) -> &Arc<Upstream> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What requests to one app may reach: an immutable snapshot, swapped whole.
#[derive(Debug, Default)]
pub(crate) struct AppEntry {
    /// The containers the controller listed.
    pub(crate) listed: Vec<Arc<Upstream>>,
    /// Containers no longer listed, serving until a listed one is healthy.
    pub(crate) retired: Vec<Arc<Upstream>>,
    /// Round-robin cursor.
    next: AtomicUsize,
}

impl AppEntry {
    /// A snapshot of these containers.
    pub(crate) fn new(listed: Vec<Arc<Upstream>>, retired: Vec<Arc<Upstream>>) -> Self {
        Self {
            listed,
            retired,
            next: AtomicUsize::new(0),
        }
    }

    /// The next healthy container, round-robin, skipping `tried`: a listed one when any is
    /// healthy, else a retired one.
    pub(crate) fn pick(&self, tried: &[Arc<Upstream>]) -> Option<&Arc<Upstream>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        [&self.listed, &self.retired].into_iter().find_map(|set| {
            let n = set.len();
            (0..n)
                .map(|i| &set[(start + i) % n])
                .find(|u| u.is_healthy() && !tried.iter().any(|t| Arc::ptr_eq(t, u)))
        })
    }

    /// Whether more than one container could serve (a retry is possible).
    pub(crate) fn has_alternatives(&self) -> bool {
        self.listed.len() + self.retired.len() > 1
    }

    /// Whether a listed container is healthy (retired ones then get nothing).
    pub(crate) fn has_healthy_listed(&self) -> bool {
        self.listed.iter().any(|u| u.is_healthy())
    }
}

/// An app as the host map holds it; its entry is swapped without touching the map.
#[derive(Debug, Default)]
pub(crate) struct AppSlot {
    /// The current snapshot.
    pub(crate) entry: ArcSwap<AppEntry>,
}

/// Host name → app slot.
pub(crate) type HostMap = HashMap<Box<str>, Arc<AppSlot>>;

/// The table readers see.
#[derive(Debug, Default)]
pub(crate) struct Table {
    hosts: ArcSwap<HostMap>,
}

impl Table {
    /// Replaces the host map.
    pub(crate) fn store(&self, hosts: HostMap) {
        self.hosts.store(Arc::new(hosts));
    }

    /// `f` of the current entry of the app at `host` (already normalized); `None` when no
    /// app is served there.
    pub(crate) fn with_entry<R>(&self, host: &str, f: impl FnOnce(&AppEntry) -> R) -> Option<R> {
        let hosts = self.hosts.load();
        let slot = hosts.get(host)?;
        let entry = slot.entry.load();
        Some(f(&entry))
    }
}

/// A `Host` header or URI host as the table keys it: lowercase, without port or trailing dot.
/// Borrows when nothing needs changing.
pub(crate) fn normalize_host(raw: &str) -> Cow<'_, str> {
    let host = if let Some(rest) = raw.strip_prefix('[') {
        rest.split_once(']').map_or(raw, |(inside, _)| inside)
    } else {
        raw.split_once(':').map_or(raw, |(name, _)| name)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(port: u16) -> Arc<Upstream> {
        Arc::new(Upstream::new(Endpoint {
            container: format!("app_v1.web.{port}"),
            addr: ([127, 0, 0, 1], port).into(),
        }))
    }

    #[test]
    fn hosts_lose_case_port_and_trailing_dot() {
        assert_eq!(normalize_host("App.Example.COM.:8080"), "app.example.com");
        assert_eq!(normalize_host("app.localhost"), "app.localhost");
        assert!(matches!(
            normalize_host("app.localhost:80"),
            Cow::Borrowed(_)
        ));
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("example.com."), "example.com");
    }

    #[test]
    fn picks_rotate_over_healthy_listed_then_retired() {
        let (a, b, c, old) = (upstream(1), upstream(2), upstream(3), upstream(4));
        for u in [&a, &c, &old] {
            u.mark_up();
        }
        let entry = AppEntry::new(vec![a.clone(), b.clone(), c.clone()], vec![old.clone()]);
        let picked: Vec<u16> = (0..4)
            .map(|_| entry.pick(&[]).expect("healthy").endpoint.addr.port())
            .collect();
        assert_eq!(picked, [1, 3, 3, 1], "b is unhealthy and skipped");
        assert_eq!(
            entry
                .pick(std::slice::from_ref(&a))
                .map(|u| u.endpoint.addr.port()),
            Some(3)
        );
        a.mark_down();
        c.mark_down();
        assert_eq!(entry.pick(&[]).map(|u| u.endpoint.addr.port()), Some(4));
        old.mark_down();
        assert!(entry.pick(&[]).is_none());
    }

    #[test]
    fn refused_takes_out_at_once_failures_after_threshold() {
        let u = upstream(1);
        assert!(u.mark_up());
        assert!(!u.probe_failed(2));
        assert!(u.is_healthy());
        assert!(u.probe_failed(2));
        assert!(!u.is_healthy());
        assert!(u.mark_up());
        assert!(u.mark_down());
    }

    #[tokio::test]
    async fn idle_waits_for_the_last_request() {
        let u = upstream(1);
        let first = InFlight::new(&u);
        let second = InFlight::new(&u);
        let waiter = tokio::spawn({
            let u = u.clone();
            async move { u.idle().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(second);
        waiter.await.expect("idle returns");
        assert_eq!(u.in_flight(), 0);
    }
}
