//! A read cache for the two lookups every authenticated request makes: the caller's user
//! record and the app list. Invalidated by every write this process makes and, on
//! PostgreSQL, by the notices of the other replicas (`listen.rs`); the short time-to-live
//! covers the rare out-of-band writer (`deis-controller create-admin` against a running
//! controller).
//!
//! A fill races a concurrent write safely: readers note the generation before querying and
//! only insert when no write happened meanwhile. On PostgreSQL the cache is used only while
//! the listener is connected and has confirmed its connection recently ([`Liveness`]); losing
//! it empties everything and bumps every generation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deis_domain::store::AppScope;
use deis_domain::{App, Page, PageSel, User};

use crate::notice::Change;

/// How long an entry is trusted without a write through this process.
const TTL: Duration = Duration::from_secs(2);
/// Entries kept per map before it is emptied (bounds memory under many users or pages).
const CAPACITY: usize = 4096;

/// One generation-guarded map.
#[derive(Debug)]
struct Generational<K, V> {
    generation: AtomicU64,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> Generational<K, V> {
    fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &K) -> Option<V> {
        self.entries()
            .get(key)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(v, _)| v.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn fill(&self, key: K, value: V, seen: u64) {
        let mut entries = self.entries();
        if self.generation() != seen {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    fn invalidate(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Forgets one entry; fills in flight are dropped too (they may have read it before).
    fn invalidate_key(&self, key: &K) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }
}

/// How long a listener's last confirmation of its connection is trusted.
const TRUSTED_FOR: Duration = Duration::from_millis(1000);

/// Whether the notices of other replicas reach this process: set by the listener while its
/// connection is up, with the time it last confirmed that (a query round trip).
#[derive(Debug)]
pub(crate) struct Liveness {
    since: Instant,
    /// One more than the milliseconds after `since` of the last confirmation; 0 while the
    /// listener is not connected.
    confirmed: AtomicU64,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            since: Instant::now(),
            confirmed: AtomicU64::new(0),
        }
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// The listener's connection answered just now, and every notice sent before is handled.
    pub(crate) fn confirm(&self) {
        self.confirmed.store(self.stamp(), Ordering::Release);
    }

    /// The listener lost its connection.
    pub(crate) fn lost(&self) {
        self.confirmed.store(0, Ordering::Release);
    }

    /// Connected and confirmed less than [`TRUSTED_FOR`] ago.
    pub(crate) fn fresh(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        confirmed != 0
            && u128::from(self.stamp().saturating_sub(confirmed)) < TRUSTED_FOR.as_millis()
    }
}

/// Cache key of an app list: the scope and the requested page.
type ListKey = (Option<String>, PageSel);

/// Cached user records and app lists.
#[derive(Debug)]
pub(crate) struct ReadCache {
    users: Generational<i64, User>,
    lists: Generational<ListKey, Page<App>>,
    /// PostgreSQL: the listener's state; the cache is bypassed unless it is fresh.
    gate: Option<Arc<Liveness>>,
}

impl ReadCache {
    /// A cache for the only writer of a database (SQLite).
    pub(crate) fn new() -> Self {
        Self {
            users: Generational::new(),
            lists: Generational::new(),
            gate: None,
        }
    }

    /// A cache used only while `gate` says the other replicas' notices arrive.
    pub(crate) fn gated(gate: Arc<Liveness>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new()
        }
    }

    /// Whether reads may be served from the cache and fill it now.
    pub(crate) fn usable(&self) -> bool {
        self.gate.as_deref().is_none_or(Liveness::fresh)
    }

    /// The cached user and, on a miss, the generation to fill with.
    pub(crate) fn user(&self, id: i64) -> Result<User, u64> {
        let seen = self.users.generation();
        self.users.get(&id).ok_or(seen)
    }

    pub(crate) fn fill_user(&self, user: &User, seen: u64) {
        self.users.fill(user.id, user.clone(), seen);
    }

    fn list_key(scope: &AppScope, page: PageSel) -> ListKey {
        match scope {
            AppScope::All => (None, page),
            AppScope::VisibleTo(u) => (Some(u.clone()), page),
        }
    }

    /// The cached list page and, on a miss, the generation to fill with.
    pub(crate) fn apps(&self, scope: &AppScope, page: PageSel) -> Result<Page<App>, u64> {
        let seen = self.lists.generation();
        self.lists.get(&Self::list_key(scope, page)).ok_or(seen)
    }

    pub(crate) fn fill_apps(&self, scope: &AppScope, page: PageSel, value: &Page<App>, seen: u64) {
        self.lists
            .fill(Self::list_key(scope, page), value.clone(), seen);
    }

    /// The generation of the app lists: it changes with every write that may change one.
    pub(crate) fn apps_generation(&self) -> u64 {
        self.lists.generation()
    }

    /// Drops what `changes` make stale.
    pub(crate) fn apply(&self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::User(id) => self.users.invalidate_key(id),
                Change::Users => self.users.invalidate(),
                Change::App(_) | Change::AppLists => self.lists.invalidate(),
                Change::Routes(_) | Change::Certs => {}
                Change::Everything => self.clear(),
            }
        }
    }

    /// Drops everything (and every fill in flight).
    pub(crate) fn clear(&self) {
        self.users.invalidate();
        self.lists.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let cache: Generational<u8, u8> = Generational::new();
        let seen = cache.generation();
        cache.invalidate();
        cache.fill(1, 1, seen);
        assert_eq!(cache.get(&1), None);
        let seen = cache.generation();
        cache.fill(1, 2, seen);
        assert_eq!(cache.get(&1), Some(2));
        cache.invalidate();
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn one_key_goes_and_fills_in_flight_are_dropped() {
        let cache: Generational<u8, u8> = Generational::new();
        cache.fill(1, 1, cache.generation());
        cache.fill(2, 2, cache.generation());
        let seen = cache.generation();
        cache.invalidate_key(&1);
        cache.fill(3, 3, seen);
        assert_eq!(
            (cache.get(&1), cache.get(&2), cache.get(&3)),
            (None, Some(2), None)
        );
    }

    #[test]
    fn a_gated_cache_is_used_only_while_confirmed() {
        let gate = Arc::new(Liveness::new());
        let cache = ReadCache::gated(gate.clone());
        assert!(!cache.usable());
        gate.confirm();
        assert!(cache.usable());
        gate.lost();
        assert!(!cache.usable());
        assert!(ReadCache::new().usable());
    }
}
