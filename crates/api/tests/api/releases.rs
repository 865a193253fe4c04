//! §4.6 and §5.8: releases and rollback.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const RELEASE_KEYS: &[&str] = &[
    "uuid", "app", "owner", "version", "summary", "config", "build", "created", "updated",
];

#[tokio::test]
async fn releases_are_listed_newest_first_and_fetched_by_version() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.set(&w.collab, "demo", json!({"A": 1})).await;
    let list = results(
        &w.get("/v1/apps/demo/releases/", &w.collab)
            .await
            .expect(200),
    );
    assert_eq!(pluck(&list, "version"), vec![json!(3), json!(2), json!(1)]);
    assert_eq!(
        pluck(&list, "summary"),
        vec![
            json!("owner added A"),
            json!("owner deployed abc1234"),
            json!("owner created initial release")
        ]
    );
    assert_eq!(
        pluck(&list, "owner"),
        vec![json!("collab"), json!("owner"), json!("owner")]
    );
    for release in &list {
        has_keys(release, RELEASE_KEYS);
        is_uuid(&release["uuid"]);
        is_uuid(&release["config"]);
        is_deis_time(&release["created"]);
        assert_eq!(release["app"], "demo");
        let v = release["version"].as_i64().expect("version");
        for token in [&w.owner, &w.collab, &w.admin] {
            assert_eq!(
                &w.get(&format!("/v1/apps/demo/releases/v{v}"), token)
                    .await
                    .expect(200),
                release
            );
        }
        w.get(&format!("/v1/apps/demo/releases/v{v}/"), &w.owner)
            .await
            .expect(200);
        w.get(&format!("/v1/apps/demo/releases/v{v}"), &w.other)
            .await
            .is(404, not_found());
    }
    assert_eq!(list[2]["build"], Value::Null);
    is_uuid(&list[1]["build"]);
    assert_eq!(list[0]["build"], list[1]["build"]);
    assert_eq!(
        w.get("/v1/apps/demo/releases/v01", &w.owner)
            .await
            .expect(200)["version"],
        1,
        "leading zeros are tolerated"
    );
    for path in [
        "v4",
        "v0",
        "v-1",
        "vX",
        "v99999999999999999999999",
        "3",
        "latest",
    ] {
        w.get(&format!("/v1/apps/demo/releases/{path}"), &w.owner)
            .await
            .is(404, not_found());
    }
    w.get("/v1/apps/demo/releases", &w.other)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/releases", &w.owner)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/releases/v1", &w.owner)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/releases"))
        .await
        .is(401, unauthenticated());
    send(w.anon(Method::GET, "/v1/apps/demo/releases/v1"))
        .await
        .is(401, unauthenticated());
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        send(w.req(method.clone(), "/v1/apps/demo/releases", &w.owner))
            .await
            .is(
                405,
                json!({ "detail": format!("Method '{method}' not allowed.") }),
            );
    }
    send(w.req(Method::DELETE, "/v1/apps/demo/releases/v1", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
}

#[tokio::test]
async fn rollback_below_v1_is_refused() {
    let w = world().await;
    for body in [
        json!({}),
        json!({"version": null}),
        json!({"version": 0}),
        json!({"version": ""}),
    ] {
        w.post("/v1/apps/demo/releases/rollback", &w.owner, body)
            .await
            .is(400, json!("version cannot be below 0"));
    }
    w.set(&w.owner, "demo", json!({"A": 1})).await;
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": -3}),
    )
    .await
    .is(400, json!("version cannot be below 0"));
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 99}),
    )
    .await
    .is(404, not_found());
    for version in [
        json!("v2"),
        json!(true),
        json!(1.5),
        json!([1]),
        json!({"v": 1}),
    ] {
        let res = w
            .post(
                "/v1/apps/demo/releases/rollback",
                &w.owner,
                json!({ "version": version }),
            )
            .await;
        assert_eq!(res.status, 400, "{version}: {}", res.text);
        assert!(res.json()["version"].is_array(), "{}", res.text);
    }
    for body in [json!([]), json!("2"), json!(2)] {
        let res = w
            .post("/v1/apps/demo/releases/rollback", &w.owner, body)
            .await;
        assert_eq!(res.status, 400, "{}", res.text);
    }
    assert_eq!(w.releases("demo").await.len(), 2, "refusals create nothing");
}

#[tokio::test]
async fn rollback_deploys_the_build_and_config_of_the_target() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await; // v2
    w.set(&w.owner, "demo", json!({"A": "1"})).await; // v3
    w.deploy(&w.owner, "demo", "img:2").await; // v4
    let before = w.releases("demo").await;

    w.post("/v1/apps/demo/releases/rollback/", &w.collab, json!({}))
        .await
        .is(201, json!({"version": 5}));
    let releases = w.releases("demo").await;
    let v5 = &releases[0];
    assert_eq!(v5["summary"], "collab rolled back to v3");
    assert_eq!(v5["owner"], "collab");
    let v3 = before.iter().find(|r| r["version"] == 3).expect("v3");
    assert_eq!(v5["build"], v3["build"]);
    assert_eq!(v5["config"], v3["config"], "no new config record");
    assert_eq!(w.ps("demo").await, vec!["web.1@v5 up"]);
    assert_eq!(w.engine(), vec!["demo_v5.web.1"]);
    assert_eq!(
        w.app.scheduler.id_of(&format!("{RELEASES}demo:v5")),
        w.app.scheduler.id_of("img:1")
    );

    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.admin,
        json!({"version": "4"}),
    )
    .await
    .is(201, json!({"version": 6}));
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "admin rolled back to v4"
    );
    assert_eq!(
        w.app.scheduler.id_of(&format!("{RELEASES}demo:v6")),
        w.app.scheduler.id_of("img:2")
    );
    // Rolling back to the current version is allowed.
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 6}),
    )
    .await
    .is(201, json!({"version": 7}));
    assert_eq!(w.engine(), vec!["demo_v7.web.1"]);
}

#[tokio::test]
async fn rollback_to_the_buildless_v1_stops_the_processes() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 1}),
    )
    .await
    .is(201, json!({"version": 3}));
    let v3 = &w.releases("demo").await[0];
    assert_eq!(v3["build"], Value::Null);
    assert_eq!(v3["summary"], "owner rolled back to v1");
    assert!(w.ps("demo").await.is_empty());
    assert!(w.engine().is_empty());
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 1}))
        .await
        .is(400, json!("No build associated with this release"));
}

#[tokio::test]
async fn rollback_needs_visibility() {
    let w = world().await;
    w.set(&w.owner, "demo", json!({"A": 1})).await;
    w.post("/v1/apps/demo/releases/rollback", &w.other, json!({}))
        .await
        .is(404, not_found());
    w.post("/v1/apps/ghost/releases/rollback", &w.owner, json!({}))
        .await
        .is(404, not_found());
    send(
        w.anon(Method::POST, "/v1/apps/demo/releases/rollback")
            .json(&json!({})),
    )
    .await
    .is(401, unauthenticated());
    send(w.req(Method::GET, "/v1/apps/demo/releases/rollback", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
    assert_eq!(w.releases("demo").await.len(), 2);
}

// ---- release images ---------------------------------------------------------------------------

#[tokio::test]
async fn old_release_images_are_pruned_and_destroy_removes_the_rest() {
    let w = world().await;
    w.create_app(&w.owner, "neighbour").await;
    w.deploy(&w.owner, "neighbour", "img:n").await;
    for n in 1..=8 {
        w.deploy(&w.owner, "demo", &format!("img:{n}")).await;
    }
    // v2..v9 were published; the last five (the default `keep_releases`) stay.
    assert_eq!(w.app.scheduler.release_tags("demo"), vec![5, 6, 7, 8, 9]);
    assert_eq!(w.app.scheduler.release_tags("neighbour"), vec![2]);
    // The images the builds named are no release images: never touched.
    for n in 1..=8 {
        assert!(
            w.app
                .scheduler
                .engine()
                .images
                .contains_key(&format!("img:{n}"))
        );
    }
    // A config change publishes v10 from v9's release image and prunes v5.
    w.set(&w.owner, "demo", json!({"A": "1"})).await;
    assert_eq!(w.app.scheduler.release_tags("demo"), vec![6, 7, 8, 9, 10]);

    w.delete("/v1/apps/demo", &w.owner).await.empty(204);
    assert!(w.app.scheduler.release_tags("demo").is_empty());
    assert_eq!(w.app.scheduler.release_tags("neighbour"), vec![2]);
    assert!(w.app.scheduler.engine().images.contains_key("img:8"));

    // Cancelling an account removes the release images of every app it owned.
    send(w.req(Method::DELETE, "/v1/auth/cancel", &w.owner))
        .await
        .empty(204);
    assert!(w.app.scheduler.release_tags("neighbour").is_empty());
}

#[tokio::test]
async fn a_rollback_reuses_the_release_image_or_its_source_or_says_neither_is_left() {
    let w = world().await;
    for n in 1..=7 {
        w.deploy(&w.owner, "demo", &format!("img:{n}")).await;
    }
    // v2 (img:1) and v3 (img:2) lost their release images; v8 is the latest.
    assert_eq!(w.app.scheduler.release_tags("demo"), vec![4, 5, 6, 7, 8]);

    // A kept release is deployed from its own release image: the very image v5 ran, even if
    // the name it was built from now names another image.
    let v5 = w.app.scheduler.id_of(&format!("{RELEASES}demo:v5"));
    w.app.scheduler.untag("img:4");
    w.app.scheduler.engine().missing.remove("img:4");
    assert_ne!(
        w.app.scheduler.id_of("img:4"),
        v5,
        "img:4 names a new image"
    );
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 5}),
    )
    .await
    .is(201, json!({"version": 9}));
    assert_eq!(w.app.scheduler.id_of(&format!("{RELEASES}demo:v9")), v5);

    // A pruned release whose source image is still there is tagged from it again.
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 3}),
    )
    .await
    .is(201, json!({"version": 10}));
    assert_eq!(
        w.app.scheduler.id_of(&format!("{RELEASES}demo:v10")),
        w.app.scheduler.id_of("img:2")
    );
    assert_eq!(w.ps("demo").await, vec!["web.1@v10 up"]);

    // Neither left: a clear 400 and nothing recorded.
    w.app.scheduler.untag("img:1");
    let reply = w
        .post(
            "/v1/apps/demo/releases/rollback",
            &w.owner,
            json!({"version": 2}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("The image of v2 is no longer on the docker engine")
            && detail.contains("only the last 5 releases")
            && detail.contains("img:1"),
        "{detail}"
    );
    assert_eq!(w.releases("demo").await[0]["version"], 10);
    assert_eq!(w.ps("demo").await, vec!["web.1@v10 up"]);
}

#[tokio::test]
async fn reconcile_removes_release_images_of_apps_that_no_longer_exist() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let scheduler: std::sync::Arc<dyn deis_domain::Scheduler> = w.app.scheduler.clone();
    // Left behind by a controller that died between deleting an app and removing its images.
    scheduler
        .publish("img:1", "gone", 3)
        .await
        .expect("publish");
    assert_eq!(w.app.scheduler.release_tags("gone"), vec![3]);
    let platform = deis_domain::Platform::new(
        w.app.store.clone(),
        scheduler,
        w.app.routing.clone(),
        deis_domain::PlatformSettings::default(),
    );
    platform.reconcile().await.expect("reconcile");
    assert!(w.app.scheduler.release_tags("gone").is_empty());
    assert_eq!(w.app.scheduler.release_tags("demo"), vec![2]);
    assert!(w.app.scheduler.engine().images.contains_key("img:1"));
}
