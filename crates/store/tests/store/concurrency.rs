//! Concurrent use: per-app locks, racing registrations.

use std::sync::Arc;

use deis_domain::{PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures;

crate::backend_tests!(
    locked_release_steps_number_versions_contiguously,
    racing_registrations_make_one_superuser,
    apps_lock_independently,
);

async fn locked_release_steps_number_versions_contiguously(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let _lock = store.lock_app("alpha").await?;
                let latest = store.latest_release("alpha").await?;
                let current = store.containers("alpha").await?;
                let step = fixtures::next_release(&latest, current);
                store.commit_release(step).await?;
                Ok::<_, deis_domain::StoreError>(latest.version + 1)
            })
        })
        .collect();
    let mut versions = vec![];
    for task in tasks {
        versions.push(task.await.expect("task").expect("release step"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=17).collect::<Vec<_>>());
    let listed = store
        .list_releases("alpha", PageSel::Number(1))
        .await
        .expect("releases");
    let stored: Vec<i64> = listed.items.iter().map(|r| r.version).collect();
    assert_eq!(stored, (1..=17).rev().collect::<Vec<_>>());
    let containers = store.containers("alpha").await.expect("containers");
    assert_eq!(
        containers.len(),
        1,
        "each step retired the previous container"
    );
    assert_eq!(containers[0].release, 17);
}

async fn racing_registrations_make_one_superuser(store: Arc<DieselStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_user(fixtures::new_user(&format!("u{i}")))
                    .await
            })
        })
        .collect();
    let mut admins = 0;
    for task in tasks {
        admins += usize::from(task.await.expect("task").expect("registered").is_superuser);
    }
    assert_eq!(admins, 1);
    assert_eq!(
        store
            .list_admins(PageSel::Number(1))
            .await
            .expect("admins")
            .count,
        1
    );
}

async fn apps_lock_independently(store: Arc<DieselStore>) {
    let held = store.lock_app("alpha").await.expect("alpha locked");
    let beta =
        tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_app("beta")).await;
    assert!(beta.is_ok(), "beta does not wait for alpha");
    let blocked = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        store.lock_app("alpha"),
    )
    .await;
    assert!(blocked.is_err(), "alpha waits for its holder");
    drop(held);
    let again =
        tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_app("alpha")).await;
    assert!(again.is_ok(), "alpha is free once dropped");
}
