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

/// The last active administrator cannot step down or leave (issue 14: stepping down let the
/// next anonymous registration become administrator).
#[tokio::test]
async fn the_last_admin_cannot_step_down_or_cancel_their_account() {
    let w = world().await;
    let refusal = |what: &str| {
        json!(format!(
            "The last active administrator cannot {what}; promote another user first."
        ))
    };
    w.delete("/v1/admin/perms/admin", &w.admin)
        .await
        .is(400, refusal("lose administrator rights"));
    send(w.req(Method::DELETE, "/v1/auth/cancel", &w.admin))
        .await
        .is(400, refusal("cancel their account"));
    let list = results(&w.get("/v1/admin/perms", &w.admin).await.expect(200));
    assert_eq!(pluck(&list, "username"), vec![json!("admin")]);
    let stored = w.app.store.user_by_name("admin").await.expect("admin kept");
    assert!(stored.is_superuser && stored.is_active);

    // With a second administrator, either may go; the one left stays.
    w.post("/v1/admin/perms", &w.admin, json!({"username": "other"}))
        .await
        .empty(201);
    w.delete("/v1/admin/perms/admin", &w.admin).await.empty(204);
    w.delete("/v1/admin/perms/other", &w.other)
        .await
        .is(400, refusal("lose administrator rights"));
    w.post("/v1/admin/perms", &w.other, json!({"username": "admin"}))
        .await
        .empty(201);
    send(w.req(Method::DELETE, "/v1/auth/cancel", &w.other))
        .await
        .empty(204);
    send(w.req(Method::DELETE, "/v1/auth/cancel", &w.admin))
        .await
        .is(400, refusal("cancel their account"));
    let list = results(&w.get("/v1/admin/perms", &w.admin).await.expect(200));
    assert_eq!(pluck(&list, "username"), vec![json!("admin")]);

    // Demoting someone who is not an administrator changes nothing and is fine.
    w.delete("/v1/admin/perms/owner", &w.admin).await.empty(204);
    // A newcomer is never an administrator once one has existed.
    let res = send(
        w.app
            .http
            .post(w.app.url("/v1/auth/register"))
            .form(&[("username", "next"), ("password", "pw")]),
    )
    .await;
    assert_eq!(res.expect(201)["is_superuser"], false);
}

/// Concurrent demotions of the two last administrators leave exactly one.
#[tokio::test]
async fn concurrent_demotions_keep_one_administrator() {
    let w = world().await;
    w.post("/v1/admin/perms", &w.admin, json!({"username": "other"}))
        .await
        .empty(201);
    let (a, b) = tokio::join!(
        w.delete("/v1/admin/perms/other", &w.admin),
        w.delete("/v1/admin/perms/admin", &w.other),
    );
    // One wins; the other is refused as the last administrator (400) or, if the winner's
    // change came first, as no administrator any more (403).
    let mut statuses = vec![a.status, b.status];
    statuses.sort_unstable();
    assert!(
        statuses == [204, 400] || statuses == [204, 403],
        "{a:?} {b:?}"
    );
    let admins = w
        .app
        .store
        .list_admins(deis_domain::PageSel::Number(1))
        .await
        .expect("admins");
    assert_eq!(admins.count, 1);
}
