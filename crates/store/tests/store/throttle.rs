//! Throttled failures: windowed counts per key, shared by every store on one database.

use std::sync::Arc;

use deis_domain::{Failures, Store};
use deis_store::DieselStore;

crate::backend_tests!(
    failures_count_per_key_and_window,
    old_windows_are_forgotten,
    concurrent_failures_are_all_counted,
);

fn counts(previous: u32, current: u32) -> Failures {
    Failures { previous, current }
}

async fn failures_count_per_key_and_window(store: Arc<DieselStore>) {
    assert_eq!(store.failures("a", 10).await.expect("read"), counts(0, 0));
    for n in 1..=3 {
        assert_eq!(store.add_failure("a", 10).await.expect("add"), counts(0, n));
    }
    assert_eq!(store.add_failure("b", 10).await.expect("add"), counts(0, 1));
    assert_eq!(store.failures("a", 10).await.expect("read"), counts(0, 3));
    // The next window sees this one's count as the previous one.
    assert_eq!(store.failures("a", 11).await.expect("read"), counts(3, 0));
    assert_eq!(store.add_failure("a", 11).await.expect("add"), counts(3, 1));
    assert_eq!(store.failures("a", 11).await.expect("read"), counts(3, 1));
    assert_eq!(store.failures("a", 12).await.expect("read"), counts(1, 0));
    store.clear_failures("a").await.expect("cleared");
    assert_eq!(store.failures("a", 11).await.expect("read"), counts(0, 0));
    assert_eq!(store.failures("b", 10).await.expect("read"), counts(0, 1));
    store
        .clear_failures("never-seen")
        .await
        .expect("nothing to clear");
}

async fn old_windows_are_forgotten(store: Arc<DieselStore>) {
    store.add_failure("old", 5).await.expect("add");
    store.add_failure("future", 90).await.expect("add");
    assert_eq!(store.failures("old", 7).await.expect("read"), counts(0, 0));
    // Counting anything prunes the rows that say nothing about the current window.
    store.add_failure("now", 20).await.expect("add");
    assert_eq!(store.failures("old", 5).await.expect("read"), counts(0, 0));
    assert_eq!(
        store.failures("future", 90).await.expect("read"),
        counts(0, 0)
    );
    assert_eq!(
        store.add_failure("now", 20).await.expect("add"),
        counts(0, 2)
    );
}

async fn concurrent_failures_are_all_counted(store: Arc<DieselStore>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.add_failure("hot", 3).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.expect("task").expect("add").current);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<u32>>(),
        "every count is seen once"
    );
    assert_eq!(store.failures("hot", 3).await.expect("read"), counts(0, 20));
}

/// Replicas on one database see each other's failures.
async fn two_stores_share_the_counts(db: crate::TestDb) {
    let one = db.store();
    let two = DieselStore::open(&db.url, 2).expect("a second store on the same database");
    one.add_failure("shared", 8).await.expect("add");
    assert_eq!(
        two.add_failure("shared", 8).await.expect("add"),
        counts(0, 2)
    );
    assert_eq!(one.failures("shared", 8).await.expect("read"), counts(0, 2));
    two.clear_failures("shared").await.expect("cleared");
    assert_eq!(one.failures("shared", 8).await.expect("read"), counts(0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_stores_share_the_counts() {
    two_stores_share_the_counts(crate::TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_stores_share_the_counts() {
    let Some(db) = crate::TestDb::postgres() else {
        return;
    };
    two_stores_share_the_counts(db).await;
}
