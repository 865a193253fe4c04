//! Opening and migrating databases.

use std::time::Duration;

use deis_domain::Store;
use deis_store::{DieselStore, migrate};

use crate::{TestDb, fixtures};

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
    assert_eq!(migrate(&url).expect("migrated"), ["2025-11-27-000000_init"]);
    assert!(migrate(&url).expect("migrated").is_empty());
}

#[tokio::test]
async fn postgres_databases_are_migrated_once_and_kept() {
    let Some(db) = TestDb::postgres_empty() else {
        return;
    };
    assert_eq!(
        migrate(&db.url).expect("migrated"),
        ["2025-11-27-000000_init"]
    );
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
