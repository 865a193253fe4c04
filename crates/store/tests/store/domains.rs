//! Domains: global uniqueness, exact removal, events.

use std::sync::Arc;

use deis_domain::{PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(domains_are_unique_across_apps_and_removed_exactly);

async fn domains_are_unique_across_apps_and_removed_exactly(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    let z = fixtures::domain("alpha", "z.example.com");
    let a = fixtures::domain("alpha", "a.example.com");
    store
        .add_domain(z.clone(), vec!["added z".into()])
        .await
        .expect("z");
    store
        .add_domain(a.clone(), vec!["added a".into()])
        .await
        .expect("a");
    let listed = store
        .list_domains("alpha", PageSel::Number(1))
        .await
        .expect("list");
    assert_eq!(listed.items, vec![z.clone(), a.clone()]);
    assert_eq!(listed.count, 2);

    let taken = fixtures::domain("beta", "z.example.com");
    assert_conflict(
        store.add_domain(taken, vec!["never".into()]).await,
        "domain",
    );
    assert_eq!(
        store
            .list_domains("beta", PageSel::Number(1))
            .await
            .expect("none")
            .count,
        0
    );
    assert_not_found(
        store
            .add_domain(fixtures::domain("ghost", "g.example.com"), vec![])
            .await,
        "app",
    );

    assert_not_found(
        store.remove_domain("beta", "z.example.com", vec![]).await,
        "domain",
    );
    assert_not_found(
        store.remove_domain("alpha", "Z.example.com", vec![]).await,
        "domain",
    );
    store
        .remove_domain("alpha", "z.example.com", vec!["removed z".into()])
        .await
        .expect("removed");
    let listed = store
        .list_domains("alpha", PageSel::Last)
        .await
        .expect("list");
    assert_eq!(listed.items, vec![a]);
    let messages: Vec<String> = store
        .events("alpha", 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        messages,
        ["alice created alpha", "added z", "added a", "removed z"]
    );
    assert!(
        store
            .events("beta", 10)
            .await
            .expect("events")
            .iter()
            .all(|e| e.message != "never")
    );
}
