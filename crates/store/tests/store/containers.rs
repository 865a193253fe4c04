//! Containers: listings by type, scale steps, observed states.

use std::sync::Arc;

use deis_domain::{ContainerState, PageSel, Store, Structure};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_not_found};

crate::backend_tests!(
    listings_leave_one_offs_out_unless_asked,
    scale_steps_are_applied_together,
    observed_states_are_stored,
    container_pages_hold_a_hundred,
);

fn names(containers: &[deis_domain::Container]) -> Vec<String> {
    containers.iter().map(|c| c.name()).collect()
}

async fn listings_leave_one_offs_out_unless_asked(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    let add = [
        fixtures::container("alpha", 1, "worker", 1),
        fixtures::container("alpha", 1, "run", 1),
        fixtures::container("alpha", 1, "web", 1),
        fixtures::container("alpha", 1, "web", 2),
    ];
    let structure: Structure = [("web".to_owned(), 2), ("worker".to_owned(), 1)].into();
    store
        .commit_scale("alpha", &structure, &add, &[], None)
        .await
        .expect("scaled");
    let other = [fixtures::container("beta", 1, "web", 1)];
    store
        .commit_scale("beta", &structure, &other, &[], None)
        .await
        .expect("scaled");

    let all = store
        .list_containers("alpha", None, PageSel::Number(1))
        .await
        .expect("list");
    assert_eq!(
        names(&all.items),
        ["alpha_v1.worker.1", "alpha_v1.web.1", "alpha_v1.web.2"]
    );
    assert_eq!(all.count, 3);
    let web = store
        .list_containers("alpha", Some("web"), PageSel::Number(1))
        .await
        .expect("web");
    assert_eq!(names(&web.items), ["alpha_v1.web.1", "alpha_v1.web.2"]);
    let run = store
        .list_containers("alpha", Some("run"), PageSel::Last)
        .await
        .expect("run");
    assert_eq!(names(&run.items), ["alpha_v1.run.1"]);
    let none = store
        .list_containers("alpha", Some("cmd"), PageSel::Number(1))
        .await
        .expect("cmd");
    assert_eq!(none.count, 0);
    assert_not_found(
        store
            .list_containers("alpha", Some("cmd"), PageSel::Number(2))
            .await,
        "page",
    );
    let every = store.containers("alpha").await.expect("all");
    assert_eq!(every, add.to_vec());
}

async fn scale_steps_are_applied_together(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let (app, _, _) = fixtures::app(&*store, "alpha", "alice").await;
    let web1 = fixtures::container("alpha", 1, "web", 1);
    let web2 = fixtures::container("alpha", 1, "web", 2);
    let up: Structure = [("web".to_owned(), 2)].into();
    let event = Some("alice scaled web=2".to_owned());
    store
        .commit_scale("alpha", &up, &[web1.clone(), web2.clone()], &[], event)
        .await
        .expect("up");
    let stored = store.app("alpha").await.expect("app");
    assert_eq!(stored.structure, up);
    assert!(stored.updated > app.updated);

    let down: Structure = [("web".to_owned(), 1), ("worker".to_owned(), 0)].into();
    store
        .commit_scale("alpha", &down, &[], &[web2], None)
        .await
        .expect("down");
    assert_eq!(
        store.containers("alpha").await.expect("containers"),
        vec![web1]
    );
    assert_eq!(store.app("alpha").await.expect("app").structure, down);
    let messages: Vec<String> = store
        .events("alpha", 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(messages, ["alice created alpha", "alice scaled web=2"]);

    let ghost = fixtures::container("ghost", 1, "web", 1);
    assert_not_found(
        store
            .commit_scale("ghost", &down, &[ghost], &[], None)
            .await,
        "app",
    );
}

async fn observed_states_are_stored(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    let web = fixtures::container("alpha", 1, "web", 1);
    let worker = fixtures::container("alpha", 1, "worker", 1);
    let structure: Structure = [("web".to_owned(), 1), ("worker".to_owned(), 1)].into();
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
    let missing = uuid::Uuid::new_v4();
    let states = [
        (web.uuid, ContainerState::Up),
        (missing, ContainerState::Down),
        (worker.uuid, ContainerState::Crashed),
    ];
    store.set_states(&states).await.expect("states stored");
    let stored = store.containers("alpha").await.expect("containers");
    assert_eq!(stored[0].state, ContainerState::Up);
    assert_eq!(stored[1].state, ContainerState::Crashed);
    assert!(stored[0].updated >= web.updated);
    assert_eq!(stored[0].created, web.created);
    assert_eq!(stored.len(), 2);
}

async fn container_pages_hold_a_hundred(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::app(&*store, "alpha", "alice").await;
    let add: Vec<_> = (1..=150)
        .map(|n| fixtures::container("alpha", 1, "web", n))
        .collect();
    let structure: Structure = [("web".to_owned(), 150)].into();
    store
        .commit_scale("alpha", &structure, &add, &[], None)
        .await
        .expect("scaled");
    let first = store
        .list_containers("alpha", None, PageSel::Number(1))
        .await
        .expect("page 1");
    assert_eq!((first.count, first.items.len()), (150, 100));
    let nums: Vec<i64> = first.items.iter().map(|c| c.num).collect();
    assert_eq!(nums, (1..=100).collect::<Vec<_>>());
    let last = store
        .list_containers("alpha", Some("web"), PageSel::Last)
        .await
        .expect("last");
    assert_eq!(
        (last.number, last.items.len(), last.items[49].num),
        (2, 50, 150)
    );
}
