//! Pages at both ends and in the middle of long lists: the back half is read from the end,
//! and must give exactly what reading from the front gives.

use std::sync::Arc;

use deis_domain::store::AppScope;
use deis_domain::{PageSel, Store, Structure};
use deis_store::DieselStore;

use crate::fixtures;

crate::backend_tests!(
    app_pages_at_both_ends,
    release_build_and_container_pages_at_both_ends,
);

/// Every selector worth checking in a list of `count` items (pages of 100).
fn selectors(count: usize) -> Vec<(PageSel, usize)> {
    let pages = count.div_ceil(100).max(1);
    let mut sels: Vec<(PageSel, usize)> = (1..=pages)
        .map(|n| (PageSel::Number(n as u64), n))
        .collect();
    sels.push((PageSel::Last, pages));
    sels
}

/// `expected` cut into the page `number`.
fn slice<T: Clone>(expected: &[T], number: usize) -> Vec<T> {
    expected
        .iter()
        .skip((number - 1) * 100)
        .take(100)
        .cloned()
        .collect()
}

async fn app_pages_at_both_ends(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    let (mut everyone, mut alices) = (Vec::new(), Vec::new());
    for i in 0..230 {
        let id = format!("app-{i:03}");
        let owner = if i % 3 == 0 { "bob" } else { "alice" };
        fixtures::app(&*store, &id, owner).await;
        let shared = owner == "bob" && i % 2 == 0;
        if shared {
            store
                .grant(&id, "alice", "shared".into())
                .await
                .expect("grant");
        }
        if owner == "alice" || shared {
            alices.push(id.clone());
        }
        everyone.push(id);
    }
    // A grant to the owner must not count twice.
    store
        .grant("app-001", "alice", "again".into())
        .await
        .expect("grant");
    for (scope, expected) in [
        (AppScope::All, &everyone),
        (AppScope::VisibleTo("alice".into()), &alices),
    ] {
        for (sel, number) in selectors(expected.len()) {
            let page = store.list_apps(scope.clone(), sel).await.expect("page");
            let ids: Vec<String> = page.items.into_iter().map(|a| a.id).collect();
            assert_eq!(page.count as usize, expected.len(), "{scope:?} {sel:?}");
            assert_eq!(page.number as usize, number);
            assert_eq!(ids, slice(expected, number), "{scope:?} {sel:?}");
        }
    }
}

async fn release_build_and_container_pages_at_both_ends(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "long", "alice").await;
    let mut latest = store.latest_release("long").await.expect("v1");
    let mut builds = Vec::new();
    for _ in 0..209 {
        let step = fixtures::next_release(&latest, vec![]);
        builds.push(step.build.clone().expect("build").uuid);
        latest = step.release.clone();
        store.commit_release(step).await.expect("release");
    }
    let versions: Vec<i64> = (1..=210).rev().collect();
    builds.reverse();
    for (sel, number) in selectors(versions.len()) {
        let page = store.list_releases("long", sel).await.expect("releases");
        let got: Vec<i64> = page.items.iter().map(|r| r.version).collect();
        assert_eq!(got, slice(&versions, number), "releases {sel:?}");
    }
    for (sel, number) in selectors(builds.len()) {
        let page = store.list_builds("long", sel).await.expect("builds");
        let got: Vec<_> = page.items.iter().map(|b| b.uuid).collect();
        assert_eq!(got, slice(&builds, number), "builds {sel:?}");
    }
    let all = store.containers("long").await.expect("containers");
    let add: Vec<_> = (1..=150)
        .map(|n| fixtures::container("long", 210, "web", n))
        .collect();
    let structure: Structure = [("web".to_owned(), 150)].into();
    store
        .commit_scale("long", &structure, &add, &[], None)
        .await
        .expect("scaled");
    let expected: Vec<_> = store
        .containers("long")
        .await
        .expect("containers")
        .into_iter()
        .map(|c| c.uuid)
        .collect();
    assert_eq!(expected.len(), all.len() + 150);
    for (sel, number) in selectors(expected.len()) {
        let page = store
            .list_containers("long", None, sel)
            .await
            .expect("containers");
        let got: Vec<_> = page.items.iter().map(|c| c.uuid).collect();
        assert_eq!(got, slice(&expected, number), "containers {sel:?}");
    }
}
