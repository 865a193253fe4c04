//! SSH keys: uniqueness per owner and globally, owner scoping.

use std::sync::Arc;

use deis_domain::{PageSel, Store};
use deis_store::DieselStore;

use crate::fixtures::{self, assert_conflict, assert_not_found};

crate::backend_tests!(keys_are_unique_and_scoped_to_their_owner);

async fn keys_are_unique_and_scoped_to_their_owner(store: Arc<DieselStore>) {
    fixtures::user(&*store, "alice").await;
    fixtures::user(&*store, "bob").await;
    let desk = fixtures::key("alice", "desk", "ssh-rsa AAAA1 alice@desk");
    let laptop = fixtures::key("alice", "laptop", "ssh-rsa AAAA2 alice@laptop");
    store.add_key(desk.clone()).await.expect("desk");
    store.add_key(laptop.clone()).await.expect("laptop");

    assert_conflict(
        store
            .add_key(fixtures::key("alice", "desk", "ssh-rsa AAAA3"))
            .await,
        "id",
    );
    assert_conflict(
        store
            .add_key(fixtures::key("bob", "other", "ssh-rsa AAAA1 alice@desk"))
            .await,
        "public",
    );
    assert_conflict(
        store
            .add_key(fixtures::key("alice", "desk", "ssh-rsa AAAA2 alice@laptop"))
            .await,
        "id",
    );
    let bobs = fixtures::key("bob", "desk", "ssh-ed25519 BBBB bob");
    store
        .add_key(bobs.clone())
        .await
        .expect("same id, other owner");
    assert_not_found(
        store
            .add_key(fixtures::key("ghost", "k", "ssh-rsa CCCC"))
            .await,
        "user",
    );

    let listed = store
        .list_keys("alice", PageSel::Number(1))
        .await
        .expect("list");
    assert_eq!(listed.items, vec![desk.clone(), laptop.clone()]);
    assert_eq!(store.key("alice", "desk").await.expect("key"), desk);
    assert_eq!(store.key("bob", "desk").await.expect("key"), bobs);
    assert_not_found(store.key("bob", "laptop").await, "key");
    assert_not_found(store.remove_key("bob", "laptop").await, "key");
    // The builder finds a key by its data field, exactly, whoever owns it.
    assert_eq!(store.key_by_data("AAAA1").await.expect("by data"), desk);
    assert_eq!(store.key_by_data("BBBB").await.expect("by data"), bobs);
    for data in ["AAAA", "AAAA1 alice@desk", "A%", "_AAA1", "", "alice@desk"] {
        assert_not_found(store.key_by_data(data).await, "key");
    }

    store.remove_key("alice", "desk").await.expect("removed");
    assert_not_found(store.key("alice", "desk").await, "key");
    assert_not_found(store.key_by_data("AAAA1").await, "key");
    assert_eq!(store.key("bob", "desk").await.expect("bob's stays"), bobs);
    let listed = store.list_keys("alice", PageSel::Last).await.expect("list");
    assert_eq!((listed.count, listed.items), (1, vec![laptop]));
    assert_not_found(store.list_keys("alice", PageSel::Number(2)).await, "page");
}
