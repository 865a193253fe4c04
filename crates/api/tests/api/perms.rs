//! §4.9 and §5.10: sharing an app with collaborators.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn owners_share_and_unshare_apps() {
    let w = world().await;
    w.get("/v1/apps/demo/perms", &w.owner)
        .await
        .is(200, json!({"users": ["collab"]}));
    send(
        w.app
            .http
            .post(w.app.url("/v1/auth/register"))
            .form(&[("username", "john.doe+x@ex"), ("password", "pw")]),
    )
    .await
    .expect(201);
    let john = w.app.user("john").await;
    w.get("/v1/apps/demo", &john).await.is(404, not_found());

    w.post(
        "/v1/apps/demo/perms/",
        &w.owner,
        json!({"username": "john"}),
    )
    .await
    .empty(201);
    w.post("/v1/apps/demo/perms", &w.owner, json!({"username": "john"}))
        .await
        .empty(201);
    w.post(
        "/v1/apps/demo/perms",
        &w.admin,
        json!({"username": "john.doe+x@ex"}),
    )
    .await
    .empty(201);
    for token in [&w.owner, &w.collab, &w.admin, &john] {
        w.get("/v1/apps/demo/perms/", token)
            .await
            .is(200, json!({"users": ["collab", "john", "john.doe+x@ex"]}));
    }
    w.get("/v1/apps/demo", &john).await.expect(200);
    let apps = results(&w.get("/v1/apps", &john).await.expect(200));
    assert_eq!(pluck(&apps, "id"), vec![json!("demo")]);

    w.delete("/v1/apps/demo/perms/john", &w.owner)
        .await
        .empty(204);
    w.delete("/v1/apps/demo/perms/john.doe+x@ex/", &w.admin)
        .await
        .empty(204);
    w.get("/v1/apps/demo", &john).await.is(404, not_found());
    w.get("/v1/apps/demo/perms", &john)
        .await
        .is(404, not_found());
    w.get("/v1/apps/demo/perms", &w.owner)
        .await
        .is(200, json!({"users": ["collab"]}));
    w.delete("/v1/apps/demo/perms/john", &w.owner)
        .await
        .empty(404);

    let res = w.get("/v1/apps/demo/logs", &w.owner).await;
    let logs: String = serde_json::from_str(&res.text).expect("logs");
    assert!(
        logs.contains("deis[api]: demo: User john was granted access to demo\n"),
        "{logs}"
    );
    assert!(
        logs.contains("deis[api]: demo: User john was revoked access to demo\n"),
        "{logs}"
    );
}

#[tokio::test]
async fn collaborators_and_strangers_cannot_manage_sharing() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/perms",
        &w.collab,
        json!({"username": "other"}),
    )
    .await
    .empty(403);
    w.delete("/v1/apps/demo/perms/collab", &w.collab)
        .await
        .empty(403);
    w.get("/v1/apps/demo/perms", &w.other)
        .await
        .is(404, not_found());
    w.post(
        "/v1/apps/demo/perms",
        &w.other,
        json!({"username": "other"}),
    )
    .await
    .is(404, not_found());
    w.delete("/v1/apps/demo/perms/collab", &w.other)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/perms"))
        .await
        .is(401, unauthenticated());
    send(
        w.anon(Method::POST, "/v1/apps/demo/perms")
            .json(&json!({"username": "other"})),
    )
    .await
    .is(401, unauthenticated());
    send(w.anon(Method::DELETE, "/v1/apps/demo/perms/collab"))
        .await
        .is(401, unauthenticated());
    w.get("/v1/apps/demo/perms", &w.owner)
        .await
        .is(200, json!({"users": ["collab"]}));
    w.get("/v1/apps/demo", &w.other).await.is(404, not_found());
}

#[tokio::test]
async fn sharing_errors() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/perms",
        &w.owner,
        json!({"username": "nobody"}),
    )
    .await
    .is(404, not_found());
    w.delete("/v1/apps/demo/perms/nobody", &w.owner)
        .await
        .is(404, not_found());
    w.delete("/v1/apps/demo/perms/other", &w.owner)
        .await
        .empty(404);
    w.get("/v1/apps/ghost/perms", &w.owner)
        .await
        .is(404, not_found());
    w.post(
        "/v1/apps/ghost/perms",
        &w.owner,
        json!({"username": "other"}),
    )
    .await
    .is(404, not_found());
    w.delete("/v1/apps/ghost/perms/collab", &w.owner)
        .await
        .is(404, not_found());
    for body in [
        json!({}),
        json!({"username": ""}),
        json!({"username": null}),
    ] {
        w.post("/v1/apps/demo/perms", &w.owner, body)
            .await
            .is(400, field("username", "This field is required."));
    }
    for body in [json!({"username": 1}), json!({"username": ["other"]})] {
        let res = w.post("/v1/apps/demo/perms", &w.owner, body).await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert!(res.json()["username"].is_array());
    }
    for body in [json!([]), json!("other")] {
        w.post("/v1/apps/demo/perms", &w.owner, body)
            .await
            .expect(400);
    }
    send(w.req(Method::POST, "/v1/apps/demo/perms/other", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'POST' not allowed."}));
    send(w.req(Method::DELETE, "/v1/apps/demo/perms", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
    // Granting the owner is allowed and lists them.
    w.post(
        "/v1/apps/demo/perms",
        &w.owner,
        json!({"username": "owner"}),
    )
    .await
    .empty(201);
    w.get("/v1/apps/demo/perms", &w.owner)
        .await
        .is(200, json!({"users": ["collab", "owner"]}));
}
