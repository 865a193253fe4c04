//! §4.8 and §5.12: custom domains.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn domains_are_added_listed_and_removed() {
    let w = world().await;
    let res = w
        .post(
            "/v1/apps/demo/domains",
            &w.collab,
            json!({"domain": "www.example.com"}),
        )
        .await;
    let d = res.expect(201);
    has_keys(&d, &["domain", "owner", "app", "created", "updated"]);
    assert_eq!(d["domain"], "www.example.com");
    assert_eq!(d["owner"], "collab");
    assert_eq!(d["app"], "demo");
    is_deis_time(&d["created"]);
    w.post(
        "/v1/apps/demo/domains/",
        &w.owner,
        json!({"domain": "a-b.c-d.example.io"}),
    )
    .await
    .expect(201);
    w.post(
        "/v1/apps/demo/domains",
        &w.admin,
        json!({"domain": "x1.co"}),
    )
    .await
    .expect(201);
    let list = results(&w.get("/v1/apps/demo/domains", &w.owner).await.expect(200));
    assert_eq!(
        pluck(&list, "domain"),
        vec![
            json!("www.example.com"),
            json!("a-b.c-d.example.io"),
            json!("x1.co")
        ]
    );
    assert_eq!(list[0], d);
    assert_eq!(
        results(&w.get("/v1/apps/demo/domains/", &w.collab).await.expect(200)),
        list
    );
    assert_eq!(
        w.releases("demo").await.len(),
        1,
        "domains create no release"
    );

    w.delete("/v1/apps/demo/domains/www.example.com", &w.collab)
        .await
        .empty(204);
    w.delete("/v1/apps/demo/domains/x1.co/", &w.admin)
        .await
        .empty(204);
    w.delete("/v1/apps/demo/domains/www.example.com", &w.owner)
        .await
        .is(404, not_found());
    w.delete("/v1/apps/demo/domains/A-B.C-D.EXAMPLE.IO", &w.owner)
        .await
        .is(404, not_found());
    let list = results(&w.get("/v1/apps/demo/domains", &w.owner).await.expect(200));
    assert_eq!(pluck(&list, "domain"), vec![json!("a-b.c-d.example.io")]);

    let res = w.get("/v1/apps/demo/logs", &w.owner).await;
    let logs: String = serde_json::from_str(&res.text).expect("logs");
    assert!(
        logs.contains("deis[api]: demo: domain www.example.com added\n"),
        "{logs}"
    );
    assert!(
        logs.contains("deis[api]: domain www.example.com removed\n"),
        "{logs}"
    );
}

#[tokio::test]
async fn domains_are_validated_and_globally_unique() {
    let w = world().await;
    let invalid =
        "Hostname does not look like a valid hostname. Only lowercase characters are allowed.";
    let cases = [
        (json!({}), "This field is required."),
        (json!({"domain": ""}), "This field is required."),
        (json!({"domain": null}), "This field is required."),
        (json!({"domain": "Example.com"}), invalid),
        (json!({"domain": "localhost"}), invalid),
        (json!({"domain": "under_score.com"}), invalid),
        (json!({"domain": "example.c"}), invalid),
        (json!({"domain": "example.com."}), invalid),
        (json!({"domain": "exa mple.com"}), invalid),
        (json!({"domain": "ëxample.com"}), invalid),
        (
            json!({"domain": "*.example.com"}),
            "Adding a wildcard subdomain is currently not supported",
        ),
    ];
    for (body, message) in cases {
        let res = w
            .post("/v1/apps/demo/domains", &w.owner, body.clone())
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert_eq!(res.json(), field("domain", message), "{body}");
    }
    for body in [
        json!({"domain": 5}),
        json!({"domain": ["a.com"]}),
        json!({"domain": {"a": "b"}}),
    ] {
        let res = w
            .post("/v1/apps/demo/domains", &w.owner, body.clone())
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json()["domain"].is_array());
    }
    let long = format!("{}.com", "a".repeat(300));
    let res = w
        .post("/v1/apps/demo/domains", &w.owner, json!({"domain": long}))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.json()["domain"].is_array());

    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "example.com"}),
    )
    .await
    .expect(201);
    let taken = field(
        "domain",
        "The domain example.com is already in use by another app",
    );
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "example.com"}),
    )
    .await
    .is(400, taken.clone());
    w.create_app(&w.other, "theirs").await;
    w.post(
        "/v1/apps/theirs/domains",
        &w.other,
        json!({"domain": "example.com"}),
    )
    .await
    .is(400, taken);
    // Free again once removed.
    w.delete("/v1/apps/demo/domains/example.com", &w.owner)
        .await
        .empty(204);
    w.post(
        "/v1/apps/theirs/domains",
        &w.other,
        json!({"domain": "example.com"}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn domains_need_visibility() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "example.com"}),
    )
    .await
    .expect(201);
    w.get("/v1/apps/demo/domains", &w.other)
        .await
        .is(404, not_found());
    w.post(
        "/v1/apps/demo/domains",
        &w.other,
        json!({"domain": "other.com"}),
    )
    .await
    .is(404, not_found());
    w.delete("/v1/apps/demo/domains/example.com", &w.other)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/domains", &w.owner)
        .await
        .is(404, not_found());
    w.post(
        "/v1/apps/ghost/domains",
        &w.owner,
        json!({"domain": "other.com"}),
    )
    .await
    .is(404, not_found());
    w.delete("/v1/apps/ghost/domains/example.com", &w.owner)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/domains"))
        .await
        .is(401, unauthenticated());
    send(
        w.anon(Method::POST, "/v1/apps/demo/domains")
            .json(&json!({"domain": "x.com"})),
    )
    .await
    .is(401, unauthenticated());
    send(w.anon(Method::DELETE, "/v1/apps/demo/domains/example.com"))
        .await
        .is(401, unauthenticated());
    send(w.req(Method::GET, "/v1/apps/demo/domains/example.com", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
    send(w.req(Method::DELETE, "/v1/apps/demo/domains", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
    let list = results(&w.get("/v1/apps/demo/domains", &w.owner).await.expect(200));
    assert_eq!(pluck(&list, "domain"), vec![json!("example.com")]);
}
