//! A read cache for the two lookups every authenticated request makes: the caller's user
//! record and the app list. Used only on SQLite, where this process makes every write, so
//! invalidating on those writes keeps it exact; the short time-to-live covers the rare
//! out-of-band writer (`deis-controller create-admin` against a running controller).
//!
//! A fill races a concurrent write safely: readers note the generation before querying and
//! only insert when no write happened meanwhile.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deis_domain::store::AppScope;
use deis_domain::{App, Page, PageSel, User};

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
}

/// Cache key of an app list: the scope and the requested page.
type ListKey = (Option<String>, PageSel);

/// Cached user records and app lists.
#[derive(Debug)]
pub(crate) struct ReadCache {
    users: Generational<i64, User>,
    lists: Generational<ListKey, Page<App>>,
}

impl ReadCache {
    pub(crate) fn new() -> Self {
        Self {
            users: Generational::new(),
            lists: Generational::new(),
        }
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

    /// After a write to users (password, flags, deletion).
    pub(crate) fn users_changed(&self) {
        self.users.invalidate();
    }

    /// After a write that changes what an app list shows.
    pub(crate) fn apps_changed(&self) {
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
}
