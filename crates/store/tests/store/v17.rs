//! The steps API v1.7 added: users list, token renewal, cancelling a named user, app transfer
//! and certificates.

use std::sync::Arc;

use deis_domain::timefmt::{from_micros, now, to_micros};
use deis_domain::{NewCertificate, PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(
    users_are_listed_by_registration,
    token_generations_are_bumped_for_one_or_everyone,
    a_user_who_owns_apps_is_not_deleted,
    a_user_without_apps_is_deleted_with_keys_grants_and_certificates,
    a_transfer_moves_app_configs_and_containers_together,
    certificates_are_unique_by_common_name,
);

fn cert(common_name: &str, owner: &str) -> NewCertificate {
    NewCertificate {
        common_name: common_name.to_owned(),
        owner: owner.to_owned(),
        chain: format!("-----BEGIN CERTIFICATE-----\n{common_name}\n-----END CERTIFICATE-----\n"),
        sealed_key: format!("v1:sealed-{common_name}"),
        expires: from_micros(to_micros(now()) + 90 * 86_400 * 1_000_000),
        created: now(),
    }
}

async fn users_are_listed_by_registration(store: Arc<DieselStore>) {
    for name in ["alice", "bob", "carol"] {
        fixtures::user(&*store, name).await;
    }
    let page = store.list_users(PageSel::Number(1)).await.expect("lists");
    assert_eq!(page.count, 3);
    let names: Vec<&str> = page.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_not_found(store.list_users(PageSel::Number(2)).await, "page");
}

async fn token_generations_are_bumped_for_one_or_everyone(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    let bob = fixtures::user(&*store, "bob").await;
    let bumped = store.bump_token_generation(alice.id).await.expect("bumps");
    assert_eq!(bumped.token_generation, 1);
    assert_eq!(bumped.password_hash, alice.password_hash);
    let read = store.user_by_id(alice.id).await.expect("reads");
    assert_eq!(read.token_generation, 1, "the cached user is not served");
    store.bump_all_token_generations().await.expect("bumps all");
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .expect("reads")
            .token_generation,
        2
    );
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .expect("reads")
            .token_generation,
        1
    );
    assert_not_found(store.bump_token_generation(bob.id + 100).await, "user");
}

async fn a_user_who_owns_apps_is_not_deleted(store: Arc<DieselStore>) {
    fixtures::user(&*store, "admin").await;
    let carol = fixtures::user(&*store, "carol").await;
    fixtures::app(&*store, "carols-app", "carol").await;
    assert_conflict(store.delete_user_without_apps(carol.id).await, "apps");
    assert_eq!(
        store.user_by_id(carol.id).await.expect("still there"),
        carol
    );
    assert_eq!(
        store.app("carols-app").await.expect("app kept").owner,
        "carol"
    );
    assert_not_found(store.delete_user_without_apps(carol.id + 100).await, "user");
}

async fn a_user_without_apps_is_deleted_with_keys_grants_and_certificates(store: Arc<DieselStore>) {
    let admin = fixtures::user(&*store, "admin").await;
    let carol = fixtures::user(&*store, "carol").await;
    fixtures::app(&*store, "shared", "admin").await;
    store
        .grant("shared", "carol", "granted".into())
        .await
        .expect("grants");
    store
        .add_key(fixtures::key("carol", "laptop", "ssh-rsa AAAA carol"))
        .await
        .expect("key");
    store
        .add_cert(cert("carol.example.com", "carol"))
        .await
        .expect("cert");
    store
        .add_cert(cert("admin.example.com", "admin"))
        .await
        .expect("cert");
    store
        .delete_user_without_apps(carol.id)
        .await
        .expect("deleted");
    assert_not_found(store.user_by_id(carol.id).await, "user");
    assert_eq!(
        store.user_by_id(admin.id).await.expect("admin stays"),
        admin
    );
    assert!(
        store
            .collaborators("shared")
            .await
            .expect("lists")
            .is_empty()
    );
    assert_not_found(store.key("carol", "laptop").await, "key");
    assert_not_found(store.cert("carol.example.com").await, "cert");
    assert_eq!(
        store.cert("admin.example.com").await.expect("kept").owner,
        "admin"
    );
}

async fn a_transfer_moves_app_configs_and_containers_together(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    let (app, _, v1) = fixtures::app(&*store, "moving", "alice").await;
    let mut step = fixtures::next_release(&v1, Vec::new());
    for c in &mut step.containers {
        c.owner = "alice".into();
    }
    store.commit_release(step.clone()).await.expect("v2");
    let moved = store
        .transfer_app(
            "moving",
            "bob",
            "moving: alice transferred the app to bob".into(),
        )
        .await
        .expect("transfers");
    assert_eq!(moved.owner, "bob");
    assert_eq!(moved.uuid, app.uuid);
    assert!(moved.updated >= app.updated);
    let config = store.config(step.release.config).await.expect("config");
    assert_eq!(config.owner, "bob");
    let containers = store.containers("moving").await.expect("containers");
    assert!(!containers.is_empty());
    assert!(containers.iter().all(|c| c.owner == "bob"));
    let events = store.events("moving", 10).await.expect("events");
    assert_eq!(
        events.last().map(|e| e.message.as_str()),
        Some("moving: alice transferred the app to bob")
    );
    assert_not_found(
        store.transfer_app("moving", "ghost", "x".into()).await,
        "user",
    );
    assert_eq!(store.app("moving").await.expect("app").owner, "bob");
    assert_not_found(
        store.transfer_app("nowhere", "bob", "x".into()).await,
        "app",
    );
}

async fn certificates_are_unique_by_common_name(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    let first = store
        .add_cert(cert("example.com", "alice"))
        .await
        .expect("adds");
    assert_eq!(first.common_name, "example.com");
    assert_eq!(first.sealed_key, "v1:sealed-example.com");
    assert_eq!(first.created, first.updated);
    assert_conflict(
        store.add_cert(cert("example.com", "bob")).await,
        "common_name",
    );
    let second = store
        .add_cert(cert("*.example.org", "bob"))
        .await
        .expect("adds");
    assert!(second.id > first.id);
    assert_not_found(store.add_cert(cert("x.example.net", "ghost")).await, "user");

    let all = store
        .list_certs(None, PageSel::Number(1))
        .await
        .expect("lists");
    let names: Vec<&str> = all.items.iter().map(|c| c.common_name.as_str()).collect();
    assert_eq!(names, ["example.com", "*.example.org"]);
    let bobs = store
        .list_certs(Some("bob"), PageSel::Number(1))
        .await
        .expect("lists");
    assert_eq!(bobs.count, 1);
    assert_eq!(bobs.items[0], second);
    assert_eq!(store.cert("example.com").await.expect("reads"), first);
    assert_eq!(store.all_certs().await.expect("all"), vec![first, second]);

    store.remove_cert("example.com").await.expect("removes");
    assert_not_found(store.cert("example.com").await, "cert");
    assert_not_found(store.remove_cert("example.com").await, "cert");
    assert_eq!(store.all_certs().await.expect("all").len(), 1);
}
