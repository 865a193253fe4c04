//! Per-process caches of the hot read path: rendered `GET /v1/apps` bodies, reused while the
//! store's app-list version is unchanged, and verified tokens.
//!
//! Only where the store can tell when app lists change ([`Store::app_lists_version`]): the key
//! holds everything the body depends on (the caller's scope and the request URL, which shapes
//! `next`/`previous`), and an entry is trusted for at most [`TTL`], the store's own bound for
//! writes it cannot see.
//!
//! [`Store::app_lists_version`]: deis_domain::Store::app_lists_version

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// How long an entry is trusted even when the version has not moved.
const TTL: Duration = Duration::from_secs(2);
/// Entries kept before the map is emptied.
const CAPACITY: usize = 4096;

/// A string-keyed map that empties itself when it reaches [`CAPACITY`] entries.
#[derive(Debug)]
pub(crate) struct Bounded<V> {
    entries: Mutex<HashMap<String, V>>,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> Bounded<V> {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value kept under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.entries().get(key).cloned()
    }

    /// Keeps `value` under `key`.
    pub(crate) fn put(&self, key: String, value: V) {
        let mut entries = self.entries();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

/// Rendered list bodies by scope and URL, with the list version and time they were rendered at.
#[derive(Debug, Default)]
pub(crate) struct ListCache(Bounded<(u64, Instant, Bytes)>);

impl ListCache {
    /// The body rendered at `version` for `key`, if still fresh.
    pub(crate) fn get(&self, key: &str, version: u64) -> Option<Bytes> {
        self.0
            .get(key)
            .filter(|(v, at, _)| *v == version && at.elapsed() < TTL)
            .map(|(_, _, body)| body)
    }

    /// Keeps a body rendered from data read at `version`.
    pub(crate) fn put(&self, key: String, version: u64, body: Bytes) {
        self.0.put(key, (version, Instant::now(), body));
    }
}

/// Tokens whose signature was verified, with the claims the API uses: `(user id, token
/// generation, expiry)`. A signature stays valid for a given key, so verification happens once
/// per token; expiry and the user's current generation are still checked on every request.
pub(crate) type VerifiedTokens = Bounded<(i64, i64, i64)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_tied_to_their_version() {
        let cache = ListCache::default();
        cache.put("k".into(), 3, Bytes::from_static(b"x"));
        assert_eq!(cache.get("k", 3), Some(Bytes::from_static(b"x")));
        assert_eq!(cache.get("k", 4), None);
        assert_eq!(cache.get("other", 3), None);
    }
}
