//! Opening and migrating databases.

use deis_domain::Store;
use deis_store::{DieselStore, migrate};

use crate::fixtures;

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
fn migrate_names_what_it_applied() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    assert_eq!(migrate(&url).expect("migrated"), ["2025-11-27-000000_init"]);
    assert!(migrate(&url).expect("migrated").is_empty());
}
