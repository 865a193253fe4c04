//! Accounts: registration, the first superuser, passwords, admins, deletion.

use std::sync::Arc;

use deis_domain::store::AppScope;
use deis_domain::{PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(
    first_user_is_superuser_and_names_are_unique,
    never_superuser_again_once_an_admin_existed,
    the_first_admin_is_registered_once,
    the_last_active_admin_stays,
    user_ids_are_never_reused,
    password_change_bumps_token_generation,
    login_and_admin_flag_updates,
    admins_are_listed_by_registration_and_paginated,
    deleting_a_user_takes_everything_they_own,
);

async fn first_user_is_superuser_and_names_are_unique(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    assert!(alice.is_superuser);
    assert!(alice.is_active);
    assert_eq!(alice.token_generation, 0);
    assert_eq!(alice.last_login, Some(alice.date_joined));
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.password_hash, "hash-of-alice");
    let bob = fixtures::user(&*store, "bob").await;
    assert!(!bob.is_superuser);
    assert!(bob.id > alice.id);

    assert_eq!(store.user_by_id(alice.id).await.expect("by id"), alice);
    assert_eq!(store.user_by_name("bob").await.expect("by name"), bob);
    assert_conflict(
        store.create_user(fixtures::new_user("alice")).await,
        "username",
    );
    assert_not_found(store.user_by_name("ghost").await, "user");
    assert_not_found(store.user_by_id(bob.id + 100).await, "user");
}

async fn never_superuser_again_once_an_admin_existed(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let bob = fixtures::user(&*store, "bob").await;
    store.set_superuser("bob", true).await.expect("promoted");
    store.set_superuser("alice", false).await.expect("demoted");
    store
        .delete_user(bob.id)
        .await
        .expect_err("bob is the last admin");
    let carol = fixtures::user(&*store, "carol").await;
    assert!(!carol.is_superuser, "an administrator has existed");
}

async fn the_first_admin_is_registered_once(store: Arc<DieselStore>) {
    let root = store
        .create_first_admin(fixtures::new_user("root"))
        .await
        .expect("the first administrator");
    assert!(root.is_superuser);
    assert_conflict(
        store.create_first_admin(fixtures::new_user("late")).await,
        "is_superuser",
    );
    assert_not_found(store.user_by_name("late").await, "user");
    // Ordinary registration still works, without the flag.
    assert!(!fixtures::user(&*store, "late").await.is_superuser);
}

async fn the_last_active_admin_stays(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    assert_conflict(store.set_superuser("alice", false).await, "is_superuser");
    assert_conflict(store.delete_user(alice.id).await, "is_superuser");
    assert!(store.user_by_id(alice.id).await.expect("kept").is_superuser);
    // Demoting a user who is no administrator is fine.
    fixtures::user(&*store, "bob").await;
    store.set_superuser("bob", false).await.expect("no change");
    // With two, one may go.
    store.set_superuser("bob", true).await.expect("promoted");
    store.set_superuser("alice", false).await.expect("demoted");
    assert_conflict(store.set_superuser("bob", false).await, "is_superuser");
    store
        .delete_user(alice.id)
        .await
        .expect("alice is no admin now");
    assert_eq!(
        store
            .list_admins(PageSel::Number(1))
            .await
            .expect("admins")
            .count,
        1
    );
}

/// An administrator demoted behind the store's back (the database edited by hand) does not
/// make the next registration an administrator.
async fn no_first_admin_after_a_demotion_by_hand(db: crate::TestDb) {
    let store = db.store();
    fixtures::user(&*store, "alice").await;
    crate::execute_by_hand(&db.url, "UPDATE users SET is_superuser = false");
    assert!(!fixtures::user(&*store, "bob").await.is_superuser);
    assert_conflict(
        store.create_first_admin(fixtures::new_user("carol")).await,
        "is_superuser",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_no_first_admin_after_a_demotion_by_hand() {
    no_first_admin_after_a_demotion_by_hand(crate::TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_no_first_admin_after_a_demotion_by_hand() {
    let Some(db) = crate::TestDb::postgres() else {
        return;
    };
    no_first_admin_after_a_demotion_by_hand(db).await;
}

async fn user_ids_are_never_reused(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    let bob = fixtures::user(&*store, "bob").await;
    store.delete_user(bob.id).await.expect("bob deleted");
    let carol = fixtures::user(&*store, "carol").await;
    assert!(carol.id > bob.id, "{} reuses {}", carol.id, bob.id);
    let bob_again = fixtures::user(&*store, "bob").await;
    assert!(bob_again.id > carol.id);
}

async fn password_change_bumps_token_generation(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    let changed = store
        .set_password(alice.id, "new-hash")
        .await
        .expect("changed");
    assert_eq!(changed.password_hash, "new-hash");
    assert_eq!(changed.token_generation, 1);
    let again = store
        .set_password(alice.id, "newer-hash")
        .await
        .expect("changed");
    assert_eq!(again.token_generation, 2);
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .expect("reads")
            .password_hash,
        "newer-hash"
    );
    assert_not_found(store.set_password(alice.id + 1, "x").await, "user");
}

async fn login_and_admin_flag_updates(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    let bob = fixtures::user(&*store, "bob").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.touch_login(bob.id).await.expect("login recorded");
    let bob_now = store.user_by_id(bob.id).await.expect("reads");
    assert!(bob_now.last_login > bob.last_login);
    assert_eq!(bob_now.date_joined, bob.date_joined);
    assert_not_found(store.touch_login(bob.id + 7).await, "user");

    store.set_superuser("bob", true).await.expect("promoted");
    assert!(store.user_by_name("bob").await.expect("reads").is_superuser);
    store.set_superuser("alice", false).await.expect("demoted");
    assert!(
        !store
            .user_by_id(alice.id)
            .await
            .expect("reads")
            .is_superuser
    );
    assert_not_found(store.set_superuser("ghost", true).await, "user");
}

async fn admins_are_listed_by_registration_and_paginated(store: Arc<DieselStore>) {
    let first = fixtures::user(&*store, "admin000").await;
    fixtures::user(&*store, "plain").await;
    for i in 1..=100 {
        let name = format!("admin{i:03}");
        fixtures::user(&*store, &name).await;
        store.set_superuser(&name, true).await.expect("promoted");
    }
    let page1 = store.list_admins(PageSel::Number(1)).await.expect("page 1");
    assert_eq!(page1.count, 101);
    assert_eq!(page1.number, 1);
    assert_eq!(page1.items.len(), 100);
    assert!(page1.has_next());
    assert_eq!(page1.items[0], first);
    assert_eq!(page1.items[99].username, "admin099");
    assert!(page1.items.iter().all(|u| u.username != "plain"));
    let last = store.list_admins(PageSel::Last).await.expect("last page");
    assert_eq!((last.number, last.items.len()), (2, 1));
    assert_eq!(last.items[0].username, "admin100");
    assert_not_found(store.list_admins(PageSel::Number(3)).await, "page");
}

async fn deleting_a_user_takes_everything_they_own(store: Arc<DieselStore>) {
    let alice = fixtures::user(&*store, "alice").await;
    let bob = fixtures::user(&*store, "bob").await;
    // alice, the first user, is the administrator: another one lets her go.
    store.set_superuser("bob", true).await.expect("promoted");
    let bob = store.user_by_id(bob.id).await.expect("bob");
    let (_, first_config, first) = fixtures::app(&*store, "alpha", "alice").await;
    fixtures::app(&*store, "beta", "alice").await;
    fixtures::app(&*store, "gamma", "bob").await;

    let step = fixtures::next_release(&first, vec![]);
    store.commit_release(step.clone()).await.expect("v2");
    store
        .add_domain(fixtures::domain("alpha", "alpha.example.com"), vec![])
        .await
        .expect("domain");
    store
        .add_push(fixtures::push("alpha", "alice"))
        .await
        .expect("push");
    store
        .grant("alpha", "bob", "alice shared alpha with bob".into())
        .await
        .expect("grant");
    store
        .grant("gamma", "alice", "bob shared gamma with alice".into())
        .await
        .expect("grant");
    store
        .add_key(fixtures::key("alice", "laptop", "ssh-rsa AAAA alice"))
        .await
        .expect("key");
    store
        .add_key(fixtures::key("bob", "laptop", "ssh-rsa AAAA bob"))
        .await
        .expect("key");

    let gone = store.delete_user(alice.id).await.expect("alice deleted");
    assert_eq!(gone, vec!["alpha".to_owned(), "beta".to_owned()]);

    assert_not_found(store.user_by_id(alice.id).await, "user");
    assert_not_found(store.app("alpha").await, "app");
    assert_not_found(store.app("beta").await, "app");
    assert_not_found(store.config(first_config.uuid).await, "config");
    let build = step.build.as_ref().expect("step has a build").uuid;
    assert_not_found(store.build("alpha", build).await, "build");
    assert_not_found(store.latest_release("alpha").await, "release");
    assert!(
        store
            .containers("alpha")
            .await
            .expect("containers")
            .is_empty()
    );
    assert!(store.events("alpha", 10).await.expect("events").is_empty());
    assert!(
        !store
            .is_collaborator("alpha", "bob")
            .await
            .expect("grant query")
    );
    assert_eq!(
        store
            .list_keys("alice", PageSel::Number(1))
            .await
            .expect("keys")
            .count,
        0
    );
    assert_eq!(
        store.all_app_ids().await.expect("ids"),
        vec!["gamma".to_owned()]
    );

    // What bob has is untouched, minus alice's grant on it.
    assert_eq!(
        store.collaborators("gamma").await.expect("collaborators"),
        Vec::<String>::new()
    );
    assert_eq!(
        store
            .list_keys("bob", PageSel::Number(1))
            .await
            .expect("keys")
            .count,
        1
    );
    let visible = store
        .list_apps(AppScope::VisibleTo("bob".into()), PageSel::Number(1))
        .await;
    assert_eq!(visible.expect("apps").items.len(), 1);
    assert_eq!(store.user_by_id(bob.id).await.expect("bob stays"), bob);

    // Unique values alice held are free again.
    fixtures::app(&*store, "alpha", "bob").await;
    store
        .add_domain(fixtures::domain("alpha", "alpha.example.com"), vec![])
        .await
        .expect("free");
    store
        .add_key(fixtures::key("bob", "desk", "ssh-rsa AAAA alice"))
        .await
        .expect("free");
    assert_not_found(store.delete_user(alice.id).await, "user");
}
