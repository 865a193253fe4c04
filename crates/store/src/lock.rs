//! Per-app locks inside one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use deis_domain::AppLock;
use tokio::sync::OwnedMutexGuard;

/// One async mutex per app id, created on first use. The map holds them weakly: a mutex
/// lives while a holder or a waiter has it, and its entry is swept once nobody does.
#[derive(Debug, Default)]
pub(crate) struct LocalLocks {
    apps: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// Holds one app's mutex; dropping it lets the next change of that app in.
pub(crate) struct LocalGuard {
    _guard: OwnedMutexGuard<()>,
}

impl AppLock for LocalGuard {}

impl LocalLocks {
    /// Waits until no other holder has `app`, then holds it.
    pub(crate) async fn lock(&self, app: &str) -> LocalGuard {
        let mutex = self.mutex_of(app);
        LocalGuard {
            _guard: mutex.lock_owned().await,
        }
    }

    fn mutex_of(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.retain(|_, m| m.strong_count() > 0);
        if let Some(mutex) = apps.get(app).and_then(Weak::upgrade) {
            return mutex;
        }
        let mutex = Arc::new(tokio::sync::Mutex::new(()));
        apps.insert(app.to_owned(), Arc::downgrade(&mutex));
        mutex
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.apps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_holder_per_app_and_no_leftovers() {
        let locks = LocalLocks::default();
        let held = locks.lock("a").await;
        let other_app = tokio::time::timeout(Duration::from_millis(200), locks.lock("b")).await;
        assert!(other_app.is_ok(), "another app is not blocked");
        drop(other_app);
        let same_app = tokio::time::timeout(Duration::from_millis(200), locks.lock("a")).await;
        assert!(same_app.is_err(), "the same app waits for the holder");
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(200), locks.lock("a")).await;
        assert!(again.is_ok(), "released locks can be taken");
        drop(again);
        let _c = locks.lock("c").await;
        assert_eq!(locks.len(), 1, "only the held lock stays in the map");
    }
}
