//! Opening and migrating databases.

use std::time::Duration;

use deis_domain::Store;
use deis_store::{DieselStore, migrate};

use crate::{TestDb, fixtures};

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[
    "2025-11-27-000000_init",
    "2026-12-02-140000_throttle_and_first_admin",
    "2026-12-31-000000_v17_certificates",
    "2026-12-31-120000_scheduler_identity",
    "2027-01-02-000000_page_indexes",
];

#[tokio::test]
async fn sqlite_files_are_created_migrated_and_kept() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("nested/deeper/deis.sqlite3");
    let url = format!("sqlite:{}", path.display());
    let store = DieselStore::open(&url, 2).expect("opens and creates folders");
    let alice = fixtures::user(&store, "alice").await;
    drop(store);
    assert!(path.exists());

    assert_eq!(
        migrate(&url).expect("nothing left to apply"),
        Vec::<String>::new()
    );
    let bare = path.display().to_string();
    let reopened = DieselStore::open(&bare, 2).expect("reopens from a bare path");
    assert_eq!(reopened.user_by_name("alice").await.expect("kept"), alice);
}

#[test]
fn sqlite_migrate_names_what_it_applied() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    assert_eq!(migrate(&url).expect("migrated"), MIGRATIONS);
    assert!(migrate(&url).expect("migrated").is_empty());
}

#[tokio::test]
async fn every_new_database_gets_its_own_scheduler_identity() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut seen = Vec::new();
    for name in ["one.db", "two.db"] {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let store = DieselStore::open(&url, 1).expect("opens");
        let identity = store
            .setting_or_insert("scheduler_identity", "unused")
            .await
            .expect("setting");
        let hex = identity.strip_prefix("deis-").expect("deis- prefix");
        assert_eq!(hex.len(), 12, "{identity}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{identity}"
        );
        seen.push(identity);
    }
    assert_ne!(seen[0], seen[1]);
    if let Some(db) = TestDb::postgres_empty() {
        let store = DieselStore::open(&db.url, 1).expect("opens");
        let identity = store
            .setting_or_insert("scheduler_identity", "unused")
            .await
            .expect("setting");
        assert_eq!(identity.len(), "deis-".len() + 12, "{identity}");
        assert!(identity.starts_with("deis-") && !seen.contains(&identity));
    }
}

#[tokio::test]
async fn postgres_databases_are_migrated_once_and_kept() {
    let Some(db) = TestDb::postgres_empty() else {
        return;
    };
    assert_eq!(migrate(&db.url).expect("migrated"), MIGRATIONS);
    let store = DieselStore::open(&db.url, 2).expect("opens");
    let alice = fixtures::user(&store, "alice").await;
    drop(store);
    assert!(migrate(&db.url).expect("migrated").is_empty());
    let reopened = DieselStore::open(&db.url, 2).expect("reopens");
    assert_eq!(reopened.user_by_name("alice").await.expect("kept"), alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_app_locks_hold_across_stores() {
    let Some(db) = TestDb::postgres() else { return };
    // A second store on the same database stands for a second controller process.
    let other = DieselStore::open(&db.url, 2).expect("second store opens");
    let held = db.store().lock_app("alpha").await.expect("locked");
    let waiting = tokio::time::timeout(Duration::from_millis(500), other.lock_app("alpha")).await;
    assert!(waiting.is_err(), "the other process waits for the holder");
    let beta = tokio::time::timeout(Duration::from_secs(5), other.lock_app("beta")).await;
    assert!(beta.is_ok(), "other apps are not held");
    drop(held);
    let taken = tokio::time::timeout(Duration::from_secs(5), other.lock_app("alpha")).await;
    assert!(taken.is_ok(), "released when the guard drops");
}

/// Replicas starting together on a fresh database: every one opens, the schema is made once.
async fn concurrent_opens_migrate_once(url: String) {
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || DieselStore::open(&url, 2))
        })
        .collect();
    let mut stores = vec![];
    for open in opens {
        stores.push(open.await.expect("task").expect("every replica opens"));
    }
    fixtures::user(&stores[0], "alice").await;
    assert_eq!(
        stores[3]
            .user_by_name("alice")
            .await
            .expect("shared")
            .username,
        "alice"
    );
    assert!(migrate(&url).expect("migrated").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_opens_migrate_once() {
    let dir = tempfile::tempdir().expect("temporary folder");
    concurrent_opens_migrate_once(format!("sqlite://{}", dir.path().join("x.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_opens_migrate_once() {
    let Some(db) = TestDb::postgres_empty() else {
        return;
    };
    concurrent_opens_migrate_once(db.url.clone()).await;
}

/// A SQLite file moved away while serving is noticed: every call answers `Unavailable` (a
/// write is never reported done into a file nobody will open again), no empty file appears at
/// its path, and all is well again once it is back. A different file put in its place is
/// never written.
#[tokio::test]
async fn a_sqlite_file_moved_away_makes_the_store_unavailable_until_it_is_back() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("deis.db");
    let aside = dir.path().join("aside.db");
    let store = DieselStore::open(&format!("sqlite://{}", path.display()), 4).expect("opens");
    let alice = fixtures::user(&store, "alice").await;
    store
        .ping()
        .await
        .expect("a healthy database answers the ping");

    std::fs::rename(&path, &aside).expect("moved away");
    let unavailable = |what: &str, e: Option<deis_domain::StoreError>| {
        assert!(
            matches!(e, Some(deis_domain::StoreError::Unavailable(_))),
            "{what}: {e:?}"
        );
    };
    unavailable("ping", store.ping().await.err());
    unavailable(
        "write",
        store.create_user(fixtures::new_user("bob")).await.err(),
    );
    unavailable("read", store.user_by_name("alice").await.err());
    unavailable("cached read", store.user_by_id(alice.id).await.err());
    unavailable(
        "app list",
        store
            .list_apps(deis_domain::AppScope::All, deis_domain::PageSel::Number(1))
            .await
            .err(),
    );
    assert!(!path.exists(), "no new database file was created");

    std::fs::rename(&aside, &path).expect("put back");
    store.ping().await.expect("back");
    fixtures::user(&store, "bob").await;
    assert_eq!(store.user_by_id(alice.id).await.expect("read"), alice);

    // A copy in its place is another file: never written behind the operator's back.
    std::fs::copy(&path, &aside).expect("copied");
    std::fs::rename(&aside, &path).expect("replaced");
    unavailable("ping after a replacement", store.ping().await.err());
    unavailable(
        "write after a replacement",
        store.create_user(fixtures::new_user("carol")).await.err(),
    );
}
