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
            engine.images.get(&format!("{RELEASES}demo:v2")),
            engine.images.get("deis/example:latest"),
            "the release image is the build's image"
        );
        assert!(engine.images.contains_key("deis/example:latest"));
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

// ---- images between tenants ------------------------------------------------------------------

/// Builds `image` into `app` as `token` and answers the reply.
async fn build(w: &World, token: &str, app: &str, image: &str) -> Reply {
    w.post(
        &format!("/v1/apps/{app}/builds"),
        token,
        json!({ "image": image }),
    )
    .await
}

/// Asserts a refusal with this status whose `detail` mentions `needle`, and that `app` still
/// has `releases` releases and no build.
async fn refused(w: &World, reply: Reply, status: u16, needle: &str, app: &str, releases: usize) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let detail = reply.json()["detail"].as_str().map(str::to_owned);
    assert!(
        detail.as_deref().is_some_and(|d| d.contains(needle)),
        "{needle:?} not in {}",
        reply.text
    );
    assert_eq!(w.releases_as(&w.admin, app).await.len(), releases);
    let builds = w
        .get(&format!("/v1/apps/{app}/builds"), &w.admin)
        .await
        .expect(200);
    assert_eq!(builds["count"], 0, "nothing recorded: {builds}");
}

#[tokio::test]
async fn a_build_may_not_borrow_another_tenants_release_by_tag_or_id() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "secret:1").await;
    let release = format!("{RELEASES}demo:v2");
    let id = w.app.scheduler.id_of(&release).expect("published");
    w.create_app(&w.other, "mine").await;

    // By tag, even while the image also has an ordinary tag: refused for whom cannot see demo.
    for named in [release.clone(), format!("docker.io/{release}")] {
        let reply = build(&w, &w.other, "mine", &named).await;
        refused(
            &w,
            reply,
            403,
            "a release of an app you cannot access",
            "mine",
            1,
        )
        .await;
    }
    // Another controller's namespace is never anyone's to build from.
    let reply = build(&w, &w.other, "mine", "deis-release/elsewhere/demo:v2").await;
    refused(&w, reply, 403, "cannot access", "mine", 1).await;

    // Once the release is all that names the image: refused by id and by short id.
    w.app.scheduler.untag("secret:1");
    let short = id.trim_start_matches("sha256:")[..12].to_owned();
    for named in [&id, &short] {
        let reply = build(&w, &w.other, "mine", named).await;
        refused(
            &w,
            reply,
            403,
            "only known as releases of apps you cannot access",
            "mine",
            1,
        )
        .await;
    }
    // An image without any tag is refused too: it may be an earlier release of anyone.
    let untagged = format!("sha256:{}", "e".repeat(64));
    w.app.scheduler.engine().ids.insert(untagged.clone());
    let reply = build(&w, &w.other, "mine", &untagged).await;
    refused(&w, reply, 403, "it has no tag", "mine", 1).await;

    // Who can see demo may: its collaborator into demo, its owner into another app, an admin.
    assert_eq!(
        build(&w, &w.collab, "demo", &release).await.expect(201)["image"],
        json!(release)
    );
    w.create_app(&w.owner, "staging").await;
    build(&w, &w.owner, "staging", &id).await.expect(201);
    build(&w, &w.admin, "mine", &short).await.expect(201);

    // By id while an ordinary tag names it again: anyone could name that tag anyway.
    {
        let mut engine = w.app.scheduler.engine();
        engine.missing.remove("secret:1");
        engine.images.insert("secret:1".into(), id.clone());
    }
    w.create_app(&w.other, "copy").await;
    build(&w, &w.other, "copy", &id).await.expect(201);
}

#[tokio::test]
async fn a_missing_image_is_a_bad_request_and_an_unreachable_engine_unavailable() {
    let w = world().await;
    w.app.scheduler.engine().missing.insert("ghost:1".into());
    let reply = build(&w, &w.owner, "demo", "ghost:1").await;
    assert_eq!(
        reply.json(),
        json!({"detail": "The docker engine has no image ghost:1: build or load it there first"})
    );
    refused(&w, reply, 400, "no image ghost:1", "demo", 1).await;
    // A release tag that was never published is missing as well (demo is the owner's).
    let reply = build(&w, &w.owner, "demo", &format!("{RELEASES}demo:v9")).await;
    refused(&w, reply, 400, "has no image", "demo", 1).await;

    w.app
        .scheduler
        .unreachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = build(&w, &w.owner, "demo", "img:1").await;
    refused(&w, reply, 503, "unreachable", "demo", 1).await;
}

#[tokio::test]
async fn image_references_follow_the_grammar() {
    let w = world().await;
    for image in [
        "--privileged",
        " ",
        "UPPER:tag",
        "Upper/lower:tag",
        "lower/Upper",
        "img:",
        "a b",
        "img@sha256:1234",
        "img:tag:more",
    ] {
        let reply = build(&w, &w.owner, "demo", image).await;
        assert_eq!(reply.status, 400, "{image:?}: {}", reply.text);
        let messages = reply.json()["image"].clone();
        assert!(
            messages[0]
                .as_str()
                .is_some_and(|m| m.starts_with("Invalid image reference")),
            "{image:?}: {}",
            reply.text
        );
    }
    assert_eq!(w.releases("demo").await.len(), 1);
    for image in [
        "busybox",
        "registry.example.com:5000/team/app:1.0",
        "deis/example@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let reply = build(&w, &w.owner, "demo", image).await;
        assert_eq!(reply.status, 201, "{image:?}: {}", reply.text);
    }
}
