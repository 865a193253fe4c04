//! Releases, builds and configs; the release step and its undo.

use std::sync::Arc;

use deis_domain::{ContainerState, PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(
    committing_a_release_stores_every_part,
    a_taken_version_is_a_conflict_and_stores_nothing,
    withdrawing_undoes_a_commit_exactly,
    releases_and_builds_are_listed_newest_first,
);

async fn committing_a_release_stores_every_part(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (app, _, v1) = fixtures::app(&*store, "alpha", "alice").await;
    let mut old = fixtures::container("alpha", 1, "web", 1);
    old.state = ContainerState::Up;
    let keep = fixtures::container("alpha", 1, "run", 1);
    store
        .commit_scale(
            "alpha",
            &[("web".to_owned(), 1)].into(),
            &[old.clone(), keep.clone()],
            &[],
            None,
        )
        .await
        .expect("scaled");

    let step = fixtures::next_release(&v1, vec![old.clone()]);
    store
        .commit_release(step.clone())
        .await
        .expect("v2 committed");

    assert_eq!(
        store.latest_release("alpha").await.expect("latest"),
        step.release
    );
    assert_eq!(store.release("alpha", 2).await.expect("v2"), step.release);
    assert_eq!(store.release("alpha", 1).await.expect("v1"), v1);
    assert_not_found(store.release("alpha", 3).await, "release");
    let config = step.config.clone().expect("config");
    assert_eq!(store.config(config.uuid).await.expect("config"), config);
    let build = step.build.clone().expect("build");
    assert_eq!(
        store.build("alpha", build.uuid).await.expect("build"),
        build
    );
    assert_not_found(store.build("beta", build.uuid).await, "build");

    let containers = store.containers("alpha").await.expect("containers");
    assert_eq!(containers, vec![keep, step.containers[0].clone()]);
    let events = store.events("alpha", 1).await.expect("events");
    assert_eq!(events[0].message, "deployer deployed img:2");
    let app_now = store.app("alpha").await.expect("app");
    assert!(app_now.updated > app.updated, "the app was marked changed");
    assert_eq!(app_now.created, app.created);
    assert_eq!(app_now.structure, [("web".to_owned(), 1)].into());

    // A release may reuse an earlier config and build (a rollback) without new rows.
    let mut rollback = fixtures::next_release(&step.release, vec![]);
    rollback.release.config = v1.config;
    rollback.release.build = None;
    rollback.config = None;
    rollback.build = None;
    rollback.containers.clear();
    store.commit_release(rollback.clone()).await.expect("v3");
    assert_eq!(
        store.latest_release("alpha").await.expect("latest"),
        rollback.release
    );
    assert_not_found(store.latest_release("beta").await, "release");
}

async fn a_taken_version_is_a_conflict_and_stores_nothing(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (_, _, v1) = fixtures::app(&*store, "alpha", "alice").await;
    let first = fixtures::next_release(&v1, vec![]);
    store.commit_release(first.clone()).await.expect("v2");
    let before = store.containers("alpha").await.expect("containers");
    let events_before = store.events("alpha", 100).await.expect("events").len();

    let racing = fixtures::next_release(&v1, before.clone());
    assert_conflict(store.commit_release(racing.clone()).await, "version");
    let mut skipping = fixtures::next_release(&first.release, before.clone());
    skipping.release.version = 4;
    assert_conflict(store.commit_release(skipping).await, "version");
    let config = racing.config.as_ref().expect("config").uuid;
    assert_not_found(store.config(config).await, "config");
    let build = racing.build.as_ref().expect("build").uuid;
    assert_not_found(store.build("alpha", build).await, "build");
    assert_eq!(store.containers("alpha").await.expect("containers"), before);
    assert_eq!(
        store.events("alpha", 100).await.expect("events").len(),
        events_before
    );
    assert_eq!(
        store.latest_release("alpha").await.expect("latest"),
        first.release
    );

    let mut orphan = fixtures::next_release(&v1, vec![]);
    orphan.release.app = "ghost".into();
    orphan.config = None;
    orphan.build = None;
    orphan.release.build = None;
    orphan.release.config = v1.config;
    orphan.containers.clear();
    assert_not_found(store.commit_release(orphan).await, "app");
}

async fn withdrawing_undoes_a_commit_exactly(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (_, _, v1) = fixtures::app(&*store, "alpha", "alice").await;
    let mut web = fixtures::container("alpha", 1, "web", 1);
    web.state = ContainerState::Up;
    let mut worker = fixtures::container("alpha", 1, "worker", 1);
    worker.state = ContainerState::Crashed;
    let structure = [("web".to_owned(), 1), ("worker".to_owned(), 1)].into();
    store
        .commit_scale(
            "alpha",
            &structure,
            &[web.clone(), worker.clone()],
            &[],
            None,
        )
        .await
        .expect("scaled");
    let before = store.containers("alpha").await.expect("containers");
    assert_eq!(before, vec![web.clone(), worker.clone()]);

    let step = fixtures::next_release(&v1, vec![web.clone(), worker.clone()]);
    store.commit_release(step.clone()).await.expect("v2");
    assert_eq!(
        store.containers("alpha").await.expect("swapped"),
        step.containers
    );

    store
        .withdraw_release(step.clone())
        .await
        .expect("withdrawn");
    assert_eq!(store.latest_release("alpha").await.expect("latest"), v1);
    assert_eq!(store.containers("alpha").await.expect("restored"), before);
    assert_not_found(
        store
            .config(step.config.as_ref().expect("config").uuid)
            .await,
        "config",
    );
    assert_not_found(
        store
            .build("alpha", step.build.as_ref().expect("build").uuid)
            .await,
        "build",
    );
    assert_eq!(
        store
            .list_builds("alpha", PageSel::Number(1))
            .await
            .expect("builds")
            .count,
        0
    );
    assert_not_found(store.withdraw_release(step.clone()).await, "release");

    // The version is free again.
    store
        .commit_release(fixtures::next_release(&v1, before))
        .await
        .expect("v2 again");
    assert_eq!(
        store.latest_release("alpha").await.expect("latest").version,
        2
    );
}

async fn releases_and_builds_are_listed_newest_first(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (_, _, mut previous) = fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    let mut builds = vec![];
    for _ in 2..=102 {
        let step = fixtures::next_release(&previous, store.containers("alpha").await.expect("c"));
        store.commit_release(step.clone()).await.expect("committed");
        builds.push(step.build.clone().expect("build"));
        previous = step.release;
    }
    let page = store
        .list_releases("alpha", PageSel::Number(1))
        .await
        .expect("releases");
    assert_eq!((page.count, page.items.len()), (102, 100));
    let versions: Vec<i64> = page.items.iter().map(|r| r.version).collect();
    assert_eq!(versions, (3..=102).rev().collect::<Vec<_>>());
    let last = store
        .list_releases("alpha", PageSel::Last)
        .await
        .expect("last");
    let versions: Vec<i64> = last.items.iter().map(|r| r.version).collect();
    assert_eq!((last.number, versions), (2, vec![2, 1]));
    assert_not_found(
        store.list_releases("alpha", PageSel::Number(3)).await,
        "page",
    );

    let listed = store
        .list_builds("alpha", PageSel::Number(1))
        .await
        .expect("builds");
    assert_eq!(listed.count, 101);
    assert_eq!(listed.items[0], builds[100]);
    assert_eq!(listed.items[99], builds[1]);
    let last = store
        .list_builds("alpha", PageSel::Last)
        .await
        .expect("last");
    assert_eq!(last.items, vec![builds[0].clone()]);
    assert_eq!(
        store
            .list_builds("beta", PageSel::Number(1))
            .await
            .expect("none")
            .count,
        0
    );
    assert_eq!(
        store
            .list_releases("beta", PageSel::Number(1))
            .await
            .expect("v1")
            .count,
        1
    );
}
