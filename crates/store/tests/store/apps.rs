//! Apps: creation, visibility, pagination, deletion, sharing.

use std::sync::Arc;

use deis_domain::store::AppScope;
use deis_domain::{PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(
    creating_an_app_stores_its_config_release_and_events,
    apps_are_listed_in_creation_order_by_visibility,
    app_pages_resolve_like_the_api,
    deleting_an_app_takes_everything_of_it,
    grants_are_idempotent_and_revocable,
);

fn ids(apps: &[deis_domain::App]) -> Vec<&str> {
    apps.iter().map(|a| a.id.as_str()).collect()
}

async fn creating_an_app_stores_its_config_release_and_events(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (app, config, release) = fixtures::app(&*store, "alpha", "alice").await;
    assert_eq!(store.app("alpha").await.expect("app"), app);
    assert_eq!(store.config(config.uuid).await.expect("config"), config);
    assert_eq!(
        store.latest_release("alpha").await.expect("release"),
        release
    );
    let events = store.events("alpha", 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "alice created alpha");
    assert_eq!(events[0].app, "alpha");

    let (again, config2, release2) = fixtures::new_app("alpha", "alice");
    assert_conflict(
        store
            .create_app(again, config2.clone(), release2, vec![])
            .await,
        "id",
    );
    assert_not_found(store.config(config2.uuid).await, "config");
    let (orphan, config3, release3) = fixtures::new_app("orphan", "nobody");
    assert_not_found(
        store.create_app(orphan, config3, release3, vec![]).await,
        "user",
    );
    assert_not_found(store.app("orphan").await, "app");
}

async fn apps_are_listed_in_creation_order_by_visibility(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    fixtures::user(&*store, "carol").await;
    // Names out of alphabetical order, so that only creation order explains the result.
    for (id, owner) in [
        ("zulu", "alice"),
        ("mike", "bob"),
        ("alpha", "alice"),
        ("kilo", "carol"),
    ] {
        fixtures::app(&*store, id, owner).await;
    }
    store
        .grant("mike", "alice", "shared".into())
        .await
        .expect("grant");

    let all = store
        .list_apps(AppScope::All, PageSel::Number(1))
        .await
        .expect("all");
    assert_eq!(ids(&all.items), ["zulu", "mike", "alpha", "kilo"]);
    assert_eq!(all.count, 4);
    let alice = store
        .list_apps(AppScope::VisibleTo("alice".into()), PageSel::Number(1))
        .await;
    let alice = alice.expect("alice's");
    assert_eq!(ids(&alice.items), ["zulu", "mike", "alpha"]);
    assert_eq!(alice.count, 3);
    let bob = store
        .list_apps(AppScope::VisibleTo("bob".into()), PageSel::Number(1))
        .await;
    assert_eq!(ids(&bob.expect("bob's").items), ["mike"]);
    let nobody = store
        .list_apps(AppScope::VisibleTo("dave".into()), PageSel::Last)
        .await;
    let nobody = nobody.expect("empty list");
    assert_eq!((nobody.count, nobody.number, nobody.items.len()), (0, 1, 0));
    assert_eq!(
        store.all_app_ids().await.expect("ids"),
        ["zulu", "mike", "alpha", "kilo"]
    );
}

async fn app_pages_resolve_like_the_api(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    for i in 0..250 {
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        fixtures::app(&*store, &format!("app-{i:03}"), owner).await;
    }
    let first = store
        .list_apps(AppScope::All, PageSel::Number(1))
        .await
        .expect("page 1");
    assert_eq!(
        (first.count, first.number, first.items.len()),
        (250, 1, 100)
    );
    assert_eq!(first.items[0].id, "app-000");
    let second = store
        .list_apps(AppScope::All, PageSel::Number(2))
        .await
        .expect("page 2");
    assert_eq!(second.items[0].id, "app-100");
    assert!(second.has_next());
    let last = store
        .list_apps(AppScope::All, PageSel::Last)
        .await
        .expect("last");
    assert_eq!((last.number, last.items.len()), (3, 50));
    assert_eq!(last.items[49].id, "app-249");
    assert!(!last.has_next());
    assert_not_found(
        store.list_apps(AppScope::All, PageSel::Number(4)).await,
        "page",
    );

    let bob = store
        .list_apps(AppScope::VisibleTo("bob".into()), PageSel::Last)
        .await;
    let bob = bob.expect("bob's last page");
    assert_eq!((bob.count, bob.number, bob.items.len()), (125, 2, 25));
    assert!(bob.items.iter().all(|a| a.owner == "bob"));
    assert_eq!(bob.items[24].id, "app-249");
}

async fn deleting_an_app_takes_everything_of_it(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    let (_, config, first) = fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    let step = fixtures::next_release(&first, vec![]);
    store.commit_release(step.clone()).await.expect("v2");
    store
        .add_domain(fixtures::domain("alpha", "a.example.com"), vec![])
        .await
        .expect("domain");
    store
        .add_push(fixtures::push("alpha", "alice"))
        .await
        .expect("push");
    store
        .grant("alpha", "bob", "shared".into())
        .await
        .expect("grant");

    store.delete_app("alpha").await.expect("deleted");
    assert_not_found(store.app("alpha").await, "app");
    assert_not_found(store.config(config.uuid).await, "config");
    assert_not_found(store.latest_release("alpha").await, "release");
    let build = step.build.as_ref().expect("build").uuid;
    assert_not_found(store.build("alpha", build).await, "build");
    assert!(
        store
            .containers("alpha")
            .await
            .expect("containers")
            .is_empty()
    );
    assert_eq!(
        store
            .list_domains("alpha", PageSel::Number(1))
            .await
            .expect("domains")
            .count,
        0
    );
    assert!(
        store
            .collaborators("alpha")
            .await
            .expect("grants")
            .is_empty()
    );
    assert!(store.events("alpha", 100).await.expect("events").is_empty());
    assert_eq!(store.all_app_ids().await.expect("ids"), ["beta"]);
    assert_not_found(store.delete_app("alpha").await, "app");

    // The id, its domain and its release numbers are free again.
    let (_, _, fresh) = fixtures::app(&*store, "alpha", "bob").await;
    assert_eq!(fresh.version, 1);
    store
        .add_domain(fixtures::domain("alpha", "a.example.com"), vec![])
        .await
        .expect("free");
}

async fn grants_are_idempotent_and_revocable(store: Arc<DieselStore>) {
    for name in ["alice", "bob", "carol"] {
        fixtures::user(&*store, name).await;
    }
    fixtures::app(&*store, "alpha", "alice").await;
    assert!(
        !store
            .is_collaborator("alpha", "carol")
            .await
            .expect("query")
    );
    store
        .grant("alpha", "carol", "shared with carol".into())
        .await
        .expect("grant");
    store
        .grant("alpha", "bob", "shared with bob".into())
        .await
        .expect("grant");
    store
        .grant("alpha", "carol", "shared with carol again".into())
        .await
        .expect("idempotent");
    assert_eq!(
        store.collaborators("alpha").await.expect("list"),
        ["carol", "bob"]
    );
    assert!(
        store
            .is_collaborator("alpha", "carol")
            .await
            .expect("query")
    );
    assert!(
        !store
            .is_collaborator("alpha", "alice")
            .await
            .expect("owner holds no grant")
    );

    store
        .revoke("alpha", "carol", "unshared carol".into())
        .await
        .expect("revoke");
    assert_not_found(
        store.revoke("alpha", "carol", "again".into()).await,
        "grant",
    );
    assert_eq!(store.collaborators("alpha").await.expect("list"), ["bob"]);
    let messages: Vec<String> = store
        .events("alpha", 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        messages,
        [
            "alice created alpha",
            "shared with carol",
            "shared with bob",
            "shared with carol again",
            "unshared carol"
        ]
    );
    assert_not_found(store.grant("alpha", "ghost", "x".into()).await, "user");
}
