//! §4.11: SSH keys.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const KEY_KEYS: &[&str] = &["uuid", "id", "owner", "public", "created", "updated"];

#[tokio::test]
async fn keys_are_added_listed_fetched_and_removed() {
    let w = world().await;
    let public = public_key("one", "owner@laptop");
    let res = w
        .post(
            "/v1/keys",
            &w.owner,
            json!({"id": "owner@laptop", "public": public}),
        )
        .await;
    let key = res.expect(201);
    has_keys(&key, KEY_KEYS);
    assert_eq!(key["id"], "owner@laptop");
    assert_eq!(key["owner"], "owner");
    assert_eq!(key["public"], public);
    is_uuid(&key["uuid"]);
    is_deis_time(&key["created"]);
    let second = w
        .post(
            "/v1/keys/",
            &w.owner,
            json!({"id": "id_rsa.work", "public": public_key("two", "")}),
        )
        .await
        .expect(201);

    let list = results(&w.get("/v1/keys", &w.owner).await.expect(200));
    assert_eq!(list, vec![key.clone(), second.clone()]);
    assert_eq!(w.get("/v1/keys", &w.collab).await.expect(200)["count"], 0);

    assert_eq!(
        w.get("/v1/keys/owner@laptop", &w.owner).await.expect(200),
        key
    );
    assert_eq!(
        w.get("/v1/keys/id_rsa.work", &w.owner).await.expect(200),
        second
    );
    w.get("/v1/keys/owner@laptop", &w.other)
        .await
        .is(404, not_found());
    w.delete("/v1/keys/owner@laptop", &w.admin)
        .await
        .is(404, not_found());
    w.get("/v1/keys/nope", &w.owner).await.is(404, not_found());

    w.delete("/v1/keys/owner@laptop", &w.owner).await.empty(204);
    w.get("/v1/keys/owner@laptop", &w.owner)
        .await
        .is(404, not_found());
    w.delete("/v1/keys/owner@laptop", &w.owner)
        .await
        .is(404, not_found());
    let list = results(&w.get("/v1/keys", &w.owner).await.expect(200));
    assert_eq!(list, vec![second]);
    // The same public key can come back once removed.
    w.post("/v1/keys", &w.other, json!({"id": "k", "public": public}))
        .await
        .expect(201);
}

#[tokio::test]
async fn key_ids_are_unique_per_owner_and_public_keys_globally() {
    let w = world().await;
    let public = public_key("one", "c");
    w.post(
        "/v1/keys",
        &w.owner,
        json!({"id": "laptop", "public": public}),
    )
    .await
    .expect(201);
    w.post(
        "/v1/keys",
        &w.owner,
        json!({"id": "laptop", "public": public_key("two", "c")}),
    )
    .await
    .is(
        400,
        field("id", "SSH Key with this Owner and Id already exists."),
    );
    w.post(
        "/v1/keys",
        &w.other,
        json!({"id": "other", "public": public}),
    )
    .await
    .is(
        400,
        field("public", "SSH Key with this Public already exists."),
    );
    w.post(
        "/v1/keys",
        &w.other,
        json!({"id": "laptop", "public": public_key("three", "c")}),
    )
    .await
    .expect(201);
    assert_eq!(w.get("/v1/keys", &w.owner).await.expect(200)["count"], 1);
}

#[tokio::test]
async fn key_bodies_are_validated() {
    let w = world().await;
    let good = public_key("one", "c");
    w.post("/v1/keys", &w.owner, json!({})).await.is(
        400,
        json!({"id": ["This field is required."], "public": ["This field is required."]}),
    );
    w.post(
        "/v1/keys",
        &w.owner,
        json!({"id": "x".repeat(129), "public": good}),
    )
    .await
    .is(
        400,
        field(
            "id",
            "Ensure this value has at most 128 characters (it has 129).",
        ),
    );
    for public in [
        "ssh-rsa",
        "ssh-rsa !!!notbase64!!!",
        "ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
        "not a key at all",
        "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAQ==",
    ] {
        let res = w
            .post("/v1/keys", &w.owner, json!({"id": "k", "public": public}))
            .await;
        assert_eq!(res.status, 400, "{public}: {}", res.text);
        assert_eq!(
            keys(&res.json()).into_iter().collect::<Vec<_>>(),
            vec!["public"]
        );
    }
    for body in [
        json!({"id": 1, "public": good}),
        json!({"id": "k", "public": ["ssh-rsa"]}),
        json!({"id": {"a": 1}, "public": good}),
    ] {
        let res = w.post("/v1/keys", &w.owner, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json().is_object());
    }
    for body in [json!([]), json!("ssh-rsa AAAA")] {
        w.post("/v1/keys", &w.owner, body).await.expect(400);
    }
    assert_eq!(w.get("/v1/keys", &w.owner).await.expect(200)["count"], 0);
}

#[tokio::test]
async fn keys_need_a_user_and_other_methods_are_405() {
    let w = world().await;
    send(w.anon(Method::GET, "/v1/keys"))
        .await
        .is(401, unauthenticated());
    send(
        w.anon(Method::POST, "/v1/keys")
            .json(&json!({"id": "k", "public": public_key("a", "")})),
    )
    .await
    .is(401, unauthenticated());
    send(w.anon(Method::GET, "/v1/keys/k"))
        .await
        .is(401, unauthenticated());
    send(w.anon(Method::DELETE, "/v1/keys/k"))
        .await
        .is(401, unauthenticated());
    send(w.req(Method::PUT, "/v1/keys", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'PUT' not allowed."}));
    send(w.req(Method::POST, "/v1/keys/k", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'POST' not allowed."}));
}

#[tokio::test]
async fn key_ids_may_hold_slashes_spaces_and_unicode() {
    let w = world().await;
    for (i, id) in ["dir/id_rsa", "my key", "clé@hôte", "a+b=c", "100%"]
        .iter()
        .enumerate()
    {
        let key = w
            .post(
                "/v1/keys",
                &w.owner,
                json!({"id": id, "public": public_key(&i.to_string(), id)}),
            )
            .await
            .expect(201);
        assert_eq!(key["id"], *id);
        let path = format!(
            "/v1/keys/{}",
            id.replace('%', "%25")
                .replace(' ', "%20")
                .replace('+', "%2B")
        );
        assert_eq!(w.get(&path, &w.owner).await.expect(200), key, "{id}");
        w.delete(&path, &w.owner).await.empty(204);
        w.get(&path, &w.owner).await.is(404, not_found());
    }
    assert_eq!(w.get("/v1/keys", &w.owner).await.expect(200)["count"], 0);
}
