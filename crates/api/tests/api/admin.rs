//! §4.10: administrators.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn admins_list_grant_and_revoke_admin_rights() {
    let w = world().await;
    let body = w.get("/v1/admin/perms", &w.admin).await.expect(200);
    assert_eq!(
        body,
        json!({"count": 1, "next": null, "previous": null,
               "results": [{"username": "admin", "is_superuser": true}]})
    );
    w.get("/v1/apps/demo", &w.other).await.is(404, not_found());

    w.post("/v1/admin/perms/", &w.admin, json!({"username": "other"}))
        .await
        .empty(201);
    w.post("/v1/admin/perms", &w.admin, json!({"username": "other"}))
        .await
        .empty(201);
    let list = results(&w.get("/v1/admin/perms/", &w.other).await.expect(200));
    assert_eq!(
        pluck(&list, "username"),
        vec![json!("admin"), json!("other")]
    );
    // The new admin sees and manages everything.
    w.get("/v1/apps/demo", &w.other).await.expect(200);
    let apps = results(&w.get("/v1/apps", &w.other).await.expect(200));
    assert_eq!(pluck(&apps, "id"), vec![json!("demo")]);
    w.post(
        "/v1/apps/demo/perms",
        &w.other,
        json!({"username": "admin"}),
    )
    .await
    .empty(201);

    w.delete("/v1/admin/perms/other", &w.admin).await.empty(204);
    w.get("/v1/apps/demo", &w.other).await.is(404, not_found());
    w.get("/v1/admin/perms", &w.other)
        .await
        .is(403, forbidden());
    let list = results(&w.get("/v1/admin/perms", &w.admin).await.expect(200));
    assert_eq!(pluck(&list, "username"), vec![json!("admin")]);
}

#[tokio::test]
async fn only_admins_manage_admins() {
    let w = world().await;
    for token in [&w.owner, &w.collab, &w.other] {
        w.get("/v1/admin/perms", token).await.is(403, forbidden());
        w.post("/v1/admin/perms", token, json!({"username": "owner"}))
            .await
            .is(403, forbidden());
        w.delete("/v1/admin/perms/admin", token)
            .await
            .is(403, forbidden());
    }
    send(w.anon(Method::GET, "/v1/admin/perms"))
        .await
        .is(401, unauthenticated());
    send(
        w.anon(Method::POST, "/v1/admin/perms")
            .json(&json!({"username": "owner"})),
    )
    .await
    .is(401, unauthenticated());
    send(w.anon(Method::DELETE, "/v1/admin/perms/admin"))
        .await
        .is(401, unauthenticated());
    let list = results(&w.get("/v1/admin/perms", &w.admin).await.expect(200));
    assert_eq!(pluck(&list, "username"), vec![json!("admin")]);
}

#[tokio::test]
async fn admin_management_errors() {
    let w = world().await;
    w.post("/v1/admin/perms", &w.admin, json!({"username": "nobody"}))
        .await
        .is(404, not_found());
    w.delete("/v1/admin/perms/nobody", &w.admin)
        .await
        .is(404, not_found());
    for body in [json!({}), json!({"username": ""})] {
        w.post("/v1/admin/perms", &w.admin, body)
            .await
            .is(400, field("username", "This field is required."));
    }
    let res = w
        .post("/v1/admin/perms", &w.admin, json!({"username": 3}))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.json()["username"].is_array());
    w.post("/v1/admin/perms", &w.admin, json!(["x"]))
        .await
        .expect(400);
    send(w.req(Method::PUT, "/v1/admin/perms", &w.admin))
        .await
        .is(405, json!({"detail": "Method 'PUT' not allowed."}));
    send(w.req(Method::GET, "/v1/admin/perms/owner", &w.admin))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
}

#[tokio::test]
async fn the_last_admin_can_step_down_and_the_next_registration_becomes_admin() {
    let w = world().await;
    send(
        w.app
            .http
            .post(w.app.url("/v1/auth/register"))
            .form(&[("username", "a.b@c"), ("password", "pw")]),
    )
    .await
    .expect(201);
    w.post("/v1/admin/perms", &w.admin, json!({"username": "a.b@c"}))
        .await
        .empty(201);
    w.delete("/v1/admin/perms/a.b@c", &w.admin).await.empty(204);
    w.delete("/v1/admin/perms/admin", &w.admin).await.empty(204);
    w.get("/v1/admin/perms", &w.admin)
        .await
        .is(403, forbidden());
    w.get("/v1/apps/demo", &w.admin).await.is(404, not_found());
    let res = send(
        w.app
            .http
            .post(w.app.url("/v1/auth/register"))
            .form(&[("username", "next"), ("password", "pw")]),
    )
    .await;
    assert_eq!(res.expect(201)["is_superuser"], true);
}
