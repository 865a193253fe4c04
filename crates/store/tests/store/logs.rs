//! Events, pushes and settings.

use std::sync::Arc;

use deis_domain::Store;
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(
    committed_events_reach_the_feed_and_failed_ones_do_not,
    events_are_the_last_ones_oldest_first,
    pushes_are_stored_for_existing_apps,
    a_setting_keeps_its_first_value,
);

async fn committed_events_reach_the_feed_and_failed_ones_do_not(store: Arc<DieselStore>) {
    use futures_util::StreamExt;
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    let mut feed = store.event_feed();
    store
        .append_events("alpha", vec!["one".into(), "two".into()])
        .await
        .expect("appended");
    assert!(
        store
            .append_events("ghost", vec!["lost".into()])
            .await
            .is_err()
    );
    store
        .append_events("alpha", vec!["three".into()])
        .await
        .expect("appended");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
            .await
            .expect("an event within 5 s")
            .expect("the feed is open");
        seen.push((event.app, event.message));
    }
    let alpha = |m: &str| ("alpha".to_owned(), m.to_owned());
    assert_eq!(seen, [alpha("one"), alpha("two"), alpha("three")]);
    let stored = store.events("alpha", 3).await.expect("events");
    let at: Vec<_> = stored.iter().map(|e| e.at).collect();
    assert_eq!(at.len(), 3);
}

async fn events_are_the_last_ones_oldest_first(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    let lines: Vec<String> = (1..=5).map(|i| format!("line {i}")).collect();
    store.append_events("alpha", lines).await.expect("appended");
    store
        .append_events("beta", vec!["beta line".into()])
        .await
        .expect("appended");
    store
        .append_events("alpha", vec![])
        .await
        .expect("nothing to append");

    let last3 = store.events("alpha", 3).await.expect("events");
    let messages: Vec<&str> = last3.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["line 3", "line 4", "line 5"]);
    assert!(last3.iter().all(|e| e.app == "alpha"));
    assert!(last3.windows(2).all(|w| w[0].at <= w[1].at));
    let all = store.events("alpha", 100).await.expect("events");
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].message, "alice created alpha");
    assert!(store.events("alpha", 0).await.expect("none").is_empty());
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "alice created alpha",
            "line 1",
            "line 2",
            "line 3",
            "line 4",
            "line 5"
        ]
    );
    assert_not_found(store.append_events("ghost", vec!["x".into()]).await, "app");
    assert_not_found(
        store
            .append_events("ghost", vec!["x".into(), "y".into()])
            .await,
        "app",
    );
}

async fn pushes_are_stored_for_existing_apps(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    let push = fixtures::push("alpha", "alice");
    store.add_push(push.clone()).await.expect("stored");
    assert_conflict(store.add_push(push).await, "uuid");
    assert_not_found(
        store.add_push(fixtures::push("ghost", "alice")).await,
        "app",
    );
}

async fn a_setting_keeps_its_first_value(store: Arc<DieselStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .setting_or_insert("jwt_key", &format!("key-{i}"))
                    .await
            })
        })
        .collect();
    let mut seen = vec![];
    for task in tasks {
        seen.push(task.await.expect("task").expect("setting"));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "every caller sees one value: {seen:?}"
    );
    let kept = store
        .setting_or_insert("jwt_key", "late")
        .await
        .expect("setting");
    assert_eq!(kept, seen[0]);
    assert_eq!(
        store
            .setting_or_insert("other", "v")
            .await
            .expect("setting"),
        "v"
    );
}
