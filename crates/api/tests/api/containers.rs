//! §4.7: container listings and details.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const CONTAINER_KEYS: &[&str] = &[
    "uuid", "app", "owner", "release", "type", "num", "state", "created", "updated",
];

#[tokio::test]
async fn containers_are_listed_oldest_first_by_type_and_fetched_by_number() {
    let w = world().await;
    let empty = w
        .get("/v1/apps/demo/containers", &w.owner)
        .await
        .expect(200);
    assert_eq!(
        empty,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
    w.deploy(&w.collab, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": 1}),
    )
    .await
    .empty(204);
    let all = results(
        &w.get("/v1/apps/demo/containers/", &w.collab)
            .await
            .expect(200),
    );
    assert_eq!(all.len(), 3);
    for c in &all {
        has_keys(c, CONTAINER_KEYS);
        assert_eq!(c["app"], "demo");
        assert_eq!(c["owner"], "owner", "containers belong to the app owner");
        assert_eq!(c["release"], "v2");
        assert_eq!(c["state"], "up");
        is_uuid(&c["uuid"]);
        is_deis_time(&c["created"]);
    }
    assert_eq!(
        pluck(&all, "type"),
        vec![json!("web"), json!("web"), json!("worker")]
    );
    assert_eq!(pluck(&all, "num"), vec![json!(1), json!(2), json!(1)]);

    let web = results(
        &w.get("/v1/apps/demo/containers/web", &w.admin)
            .await
            .expect(200),
    );
    assert_eq!(web, all[..2].to_vec());
    let worker = results(
        &w.get("/v1/apps/demo/containers/worker/", &w.owner)
            .await
            .expect(200),
    );
    assert_eq!(worker, all[2..].to_vec());
    for t in ["cmd", "nope", "web.x", "run"] {
        let none = w
            .get(&format!("/v1/apps/demo/containers/{t}"), &w.owner)
            .await
            .expect(200);
        assert_eq!(none["count"], 0, "{t}");
    }

    assert_eq!(
        w.get("/v1/apps/demo/containers/web/2", &w.collab)
            .await
            .expect(200),
        all[1]
    );
    assert_eq!(
        w.get("/v1/apps/demo/containers/worker/1/", &w.owner)
            .await
            .expect(200),
        all[2]
    );
    for path in [
        "web/3",
        "web/0",
        "web/abc",
        "web/-1",
        "db/1",
        "web/99999999999999999999999",
    ] {
        w.get(&format!("/v1/apps/demo/containers/{path}"), &w.owner)
            .await
            .is(404, not_found());
    }
}

#[tokio::test]
async fn containers_need_visibility() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    for path in ["", "/web", "/web/1"] {
        let path = format!("/v1/apps/demo/containers{path}");
        w.get(&path, &w.other).await.is(404, not_found());
        send(w.anon(Method::GET, &path))
            .await
            .is(401, unauthenticated());
        send(w.req(Method::POST, &path, &w.owner))
            .await
            .is(405, json!({"detail": "Method 'POST' not allowed."}));
        let ghost = path.replace("demo", "ghost");
        w.get(&ghost, &w.owner).await.is(404, not_found());
    }
}

#[tokio::test]
async fn container_states_follow_the_engine() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.app.scheduler.engine().containers.clear();
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 down"]);
    assert_eq!(
        w.get("/v1/apps/demo/containers/web/1", &w.owner)
            .await
            .expect(200)["state"],
        "down"
    );
    // When the engine does not answer, the stored states are shown.
    w.app
        .scheduler
        .unreachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 down"]);
    w.get("/v1/apps/demo/containers/web/1", &w.owner)
        .await
        .expect(200);
}
