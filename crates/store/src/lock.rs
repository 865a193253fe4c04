//! Per-app locks: inside one process, and across processes sharing a PostgreSQL database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use deis_domain::{AppLock, StoreError};
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::r2d2::PooledConnection;
use diesel::result::QueryResult;
use diesel::sql_types::{Integer, Text};
use tokio::sync::OwnedMutexGuard;

use crate::conn::{DbConn, DbPool, Manager, Target, checked_in, checkout};
use crate::error::classify;

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

/// Holds an app's PostgreSQL advisory lock on a connection of its own, and the process-local
/// lock of the app (so that waiters of this process queue here, not each on a connection).
pub(crate) struct SharedGuard {
    held: Option<(PooledConnection<Manager>, LocalGuard)>,
}

impl AppLock for SharedGuard {}

impl Drop for SharedGuard {
    fn drop(&mut self) {
        let Some((mut conn, local)) = self.held.take() else {
            return;
        };
        // Unlocking is a round trip to the server: do it on a blocking thread when there is
        // a runtime. The local lock goes last, so the next local waiter finds the lock free.
        let release = move || {
            let released = advisory_unlock_all(&mut conn);
            checked_in(&mut conn, released.is_ok());
            if let Err(e) = released {
                tracing::warn!(error = %e, "could not release an app lock; closing the session will");
            }
            drop(local);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(release)),
            Err(_) => release(),
        }
    }
}

/// Takes `app`'s lock for every process sharing the database: first the local lock, then the
/// advisory lock on a connection of `pool` that stays checked out while the guard lives. If the
/// caller gives up while waiting, the guard is dropped as soon as the lock arrives.
pub(crate) async fn lock_shared(
    locks: &LocalLocks,
    pool: &DbPool,
    target: &Arc<Target>,
    app: &str,
) -> Result<SharedGuard, StoreError> {
    let local = locks.lock(app).await;
    let (pool, target, app) = (pool.clone(), target.clone(), app.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = checkout(&pool, &target)?;
        if let Err(e) = advisory_lock(&mut conn, &app) {
            checked_in(&mut conn, false);
            return Err(classify("app", e));
        }
        Ok(SharedGuard {
            held: Some((conn, local)),
        })
    })
    .await
    .map_err(|e| StoreError::Backend(format!("lock task failed: {e}")))?
}

/// The first key of the controller's PostgreSQL advisory locks ("DEIS"); the second is the
/// app's hash, or 0 for migrations.
pub(crate) const ADVISORY_NAMESPACE: i32 = 0x4445_4953;

/// Waits for and takes the session-level advisory lock of `app` on a PostgreSQL connection.
/// Other sessions, in this process or another, wait here until it is released.
pub(crate) fn advisory_lock(conn: &mut DbConn, app: &str) -> QueryResult<()> {
    match conn {
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT pg_advisory_lock($1, hashtext($2))")
                .bind::<Integer, _>(ADVISORY_NAMESPACE)
                .bind::<Text, _>(app)
                .execute(c)?;
            Ok(())
        }
        DbConn::Sqlite(_) => Err(diesel::result::Error::QueryBuilderError(
            "advisory locks need PostgreSQL".into(),
        )),
    }
}

/// Releases every advisory lock the session holds, leaving the connection clean for reuse.
pub(crate) fn advisory_unlock_all(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Pg(c) => c.batch_execute("SELECT pg_advisory_unlock_all()"),
        DbConn::Sqlite(_) => Ok(()),
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
