//! §4.5 and §5.4: builds, deploys and the default scaling of a first build.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const BUILD_KEYS: &[&str] = &[
    "uuid",
    "app",
    "owner",
    "image",
    "sha",
    "procfile",
    "dockerfile",
    "created",
    "updated",
];

#[tokio::test]
async fn a_first_build_creates_a_release_and_scales_web_to_one() {
    let w = world().await;
    let res = w
        .post(
            "/v1/apps/demo/builds",
            &w.collab,
            json!({
                "image": "deis/example:latest",
                "sha": "060da68f654e75fac06dbedd1995d5f8ad9084db",
                "procfile": "{\"web\": \"httpd -f\", \"worker\": \"work\"}",
                "dockerfile": "",
            }),
        )
        .await;
    let build = res.expect(201);
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("2"));
    has_keys(&build, BUILD_KEYS);
    assert_eq!(build["app"], "demo");
    assert_eq!(build["owner"], "collab");
    assert_eq!(build["image"], "deis/example:latest");
    assert_eq!(build["sha"], "060da68f654e75fac06dbedd1995d5f8ad9084db");
    assert_eq!(
        build["procfile"],
        json!({"web": "httpd -f", "worker": "work"})
    );
    assert_eq!(build["dockerfile"], "");
    is_uuid(&build["uuid"]);
    is_deis_time(&build["created"]);

    let releases = w.releases("demo").await;
    assert_eq!(releases[0]["version"], 2);
    assert_eq!(releases[0]["build"], build["uuid"]);
    assert_eq!(releases[0]["owner"], "collab");
    assert_eq!(releases[0]["summary"], "collab deployed 060da68");
    assert_eq!(releases[0]["config"], releases[1]["config"], "same config");

    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"]);
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);
    {
        let engine = w.app.scheduler.engine();
        assert_eq!(
            engine.images.get("demo:v2").map(String::as_str),
            Some("deis/example:latest")
        );
        let spec = engine.containers.get("demo_v2.web.1").expect("web.1 runs");
        assert_eq!(spec.command.as_deref(), Some("httpd -f"));
    }
    assert_eq!(
        w.get("/v1/apps/demo", &w.owner).await.expect(200)["structure"],
        json!({"web": 1})
    );
}

#[tokio::test]
async fn first_builds_without_a_web_process_scale_cmd() {
    let w = world().await;
    let cases = [
        ("nosha", json!({"image": "img:1"}), "owner deployed img:1"),
        (
            "noweb",
            json!({"image": "img:1", "sha": "abcdef0123", "procfile": {"worker": "w"}}),
            "owner deployed abcdef0",
        ),
        (
            "dockerfile",
            json!({"image": "img:1", "sha": "abcdef0123", "dockerfile": true}),
            "owner deployed abcdef0",
        ),
        (
            "bare",
            json!({"image": "img:1", "sha": "abcdef0123"}),
            "owner deployed abcdef0",
        ),
    ];
    for (id, body, summary) in cases {
        w.create_app(&w.owner, id).await;
        let res = w
            .post(&format!("/v1/apps/{id}/builds"), &w.owner, body)
            .await;
        assert_eq!(res.status, 201, "{id}: {}", res.text);
        assert_eq!(w.ps(id).await, vec!["cmd.1@v2 up"], "{id}");
        assert_eq!(w.releases(id).await[0]["summary"], summary);
        let spec = w
            .app
            .scheduler
            .engine()
            .containers
            .get(&format!("{id}_v2.cmd.1"))
            .cloned()
            .expect("cmd.1 runs");
        assert_eq!(spec.command, None, "cmd runs the image's default");
    }
    let dockerfile = w
        .get("/v1/apps/dockerfile/builds", &w.owner)
        .await
        .expect(200);
    assert_eq!(results(&dockerfile)[0]["dockerfile"], "True");
}

#[tokio::test]
async fn a_later_build_moves_every_container_to_the_new_release() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": 1}),
    )
    .await
    .empty(204);
    assert_eq!(w.deploy(&w.admin, "demo", "img:2").await, 3);
    assert_eq!(
        w.ps("demo").await,
        vec!["web.1@v3 up", "web.2@v3 up", "worker.1@v3 up"]
    );
    assert_eq!(
        w.engine(),
        vec!["demo_v3.web.1", "demo_v3.web.2", "demo_v3.worker.1"]
    );
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "admin deployed abc1234"
    );
    assert_eq!(
        w.get("/v1/apps/demo", &w.owner).await.expect(200)["structure"],
        json!({"web": 2, "worker": 1}),
        "only the first build scales"
    );
}

#[tokio::test]
async fn builds_are_listed_newest_first_and_fetched_by_uuid() {
    let w = world().await;
    let empty = w.get("/v1/apps/demo/builds", &w.owner).await.expect(200);
    assert_eq!(
        empty,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
    w.deploy(&w.owner, "demo", "img:1").await;
    w.deploy(&w.owner, "demo", "img:2").await;
    let list = results(&w.get("/v1/apps/demo/builds/", &w.collab).await.expect(200));
    assert_eq!(pluck(&list, "image"), vec![json!("img:2"), json!("img:1")]);
    for build in &list {
        has_keys(build, BUILD_KEYS);
        let uuid = build["uuid"].as_str().expect("uuid");
        for token in [&w.owner, &w.collab, &w.admin] {
            assert_eq!(
                &w.get(&format!("/v1/apps/demo/builds/{uuid}"), token)
                    .await
                    .expect(200),
                build
            );
        }
        w.get(&format!("/v1/apps/demo/builds/{uuid}/"), &w.owner)
            .await
            .expect(200);
        w.get(&format!("/v1/apps/demo/builds/{uuid}"), &w.other)
            .await
            .is(404, not_found());
    }
    w.get("/v1/apps/demo/builds/not-a-uuid", &w.owner)
        .await
        .is(404, not_found());
    w.get(
        &format!("/v1/apps/demo/builds/{}", uuid::Uuid::new_v4()),
        &w.owner,
    )
    .await
    .is(404, not_found());
    // A build of another app is not found through this one.
    w.create_app(&w.owner, "second").await;
    let uuid = list[0]["uuid"].as_str().expect("uuid");
    w.get(&format!("/v1/apps/second/builds/{uuid}"), &w.owner)
        .await
        .is(404, not_found());
    w.get("/v1/apps/demo/builds", &w.other)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/builds", &w.owner)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/builds"))
        .await
        .is(401, unauthenticated());
}

#[tokio::test]
async fn build_bodies_are_validated() {
    let w = world().await;
    let cases = [
        (json!({}), field("image", "This field is required.")),
        (
            json!({"image": ""}),
            field("image", "This field is required."),
        ),
        (
            json!({"image": null}),
            field("image", "This field is required."),
        ),
        (
            json!({"image": "i".repeat(257)}),
            field(
                "image",
                "Ensure this value has at most 256 characters (it has 257).",
            ),
        ),
        (
            json!({"image": "img", "sha": "a".repeat(41)}),
            field(
                "sha",
                "Ensure this value has at most 40 characters (it has 41).",
            ),
        ),
    ];
    for (body, expected) in cases {
        w.post("/v1/apps/demo/builds", &w.owner, body)
            .await
            .is(400, expected);
    }
    for body in [
        json!({"image": 5}),
        json!({"image": ["img"]}),
        json!({"image": "img", "sha": 1234567}),
        json!({"image": "img", "procfile": [1]}),
        json!({"image": "img", "procfile": "not json"}),
        json!({"image": "img", "procfile": "[1]"}),
        json!({"image": "img", "procfile": 7}),
        json!({"image": "img", "procfile": {"web": 1}}),
        json!({"image": "img", "procfile": {"web": ["a"]}}),
        json!({"image": "img", "procfile": {"bad type!": "x"}}),
        json!({"image": "img", "procfile": {"": "x"}}),
        json!({"image": "img", "procfile": {"run": "x"}}),
    ] {
        let res = w.post("/v1/apps/demo/builds", &w.owner, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json().is_object(), "{}", res.text);
        assert!(
            res.json().get("detail").is_none(),
            "field errors: {}",
            res.text
        );
    }
    for body in [json!([]), json!("img"), json!(null)] {
        let res = w.post("/v1/apps/demo/builds", &w.owner, body).await;
        assert_eq!(res.status, 400, "{}", res.text);
    }
    assert_eq!(w.releases("demo").await.len(), 1);
    assert!(w.engine().is_empty());
    let dockerfile = w
        .post(
            "/v1/apps/demo/builds",
            &w.owner,
            json!({"image": "img", "dockerfile": 12}),
        )
        .await
        .expect(201);
    assert_eq!(
        dockerfile["dockerfile"], "12",
        "non-strings are stringified"
    );
}

#[tokio::test]
async fn builds_need_visibility_and_other_methods_are_405() {
    let w = world().await;
    w.post("/v1/apps/demo/builds", &w.other, json!({"image": "img"}))
        .await
        .is(404, not_found());
    w.post("/v1/apps/ghost/builds", &w.owner, json!({"image": "img"}))
        .await
        .is(404, not_found());
    send(
        w.anon(Method::POST, "/v1/apps/demo/builds")
            .json(&json!({"image": "img"})),
    )
    .await
    .is(401, unauthenticated());
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        send(w.req(method.clone(), "/v1/apps/demo/builds", &w.owner))
            .await
            .is(
                405,
                json!({ "detail": format!("Method '{method}' not allowed.") }),
            );
    }
    send(w.req(
        Method::DELETE,
        &format!("/v1/apps/demo/builds/{}", uuid::Uuid::new_v4()),
        &w.owner,
    ))
    .await
    .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
    assert_eq!(w.releases("demo").await.len(), 1);
    let res = w
        .post("/v1/apps/demo/builds", &w.admin, json!({"image": "img"}))
        .await;
    assert_eq!(res.expect(201)["owner"], "admin");
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("2"));
    let v: Value = w.releases("demo").await[0].clone();
    assert_eq!(v["owner"], "admin");
}
