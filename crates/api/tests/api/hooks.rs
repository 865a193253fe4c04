//! §4.12: the builder's hooks.

use std::sync::atomic::Ordering;

use deis_domain::{PlatformSettings, Throttle};
use deis_testkit::BUILDER_KEY;
use serde_json::{Value, json};

use crate::helpers::*;

fn push_body(user: &str, repo: &str) -> Value {
    json!({
        "receive_user": user,
        "receive_repo": repo,
        "sha": "060da68f654e75fac06dbedd1995d5f8ad9084db",
        "fingerprint": "54:6d:da:1f:91:b5:2b:6f:a2:83:90:c4:f9:73:76:f5",
        "ssh_connection": "10.0.1.10 50337 172.17.0.143 22",
        "ssh_original_command": "git-receive-pack 'demo.git'",
    })
}

fn build_body(user: &str, repo: &str) -> Value {
    json!({
        "receive_user": user,
        "receive_repo": repo,
        "image": repo,
        "sha": "060da68f",
        "procfile": "{\"web\": \"node server.js\"}",
        "dockerfile": false,
    })
}

#[tokio::test]
async fn the_push_hook_records_a_push() {
    let w = world().await;
    let push = w
        .hook("/v1/hooks/push", push_body("collab", "demo"))
        .await
        .expect(201);
    has_keys(
        &push,
        &[
            "uuid",
            "app",
            "owner",
            "sha",
            "fingerprint",
            "receive_user",
            "receive_repo",
            "ssh_connection",
            "ssh_original_command",
            "created",
            "updated",
        ],
    );
    assert_eq!(push["app"], "demo");
    assert_eq!(push["owner"], "collab");
    assert_eq!(push["receive_user"], "collab");
    assert_eq!(push["receive_repo"], "demo");
    assert_eq!(push["sha"], "060da68f654e75fac06dbedd1995d5f8ad9084db");
    assert_eq!(push["ssh_original_command"], "git-receive-pack 'demo.git'");
    is_uuid(&push["uuid"]);
    is_deis_time(&push["created"]);
    w.hook("/v1/hooks/push/", push_body("admin", "demo"))
        .await
        .expect(201);

    for missing in [
        "sha",
        "fingerprint",
        "ssh_connection",
        "ssh_original_command",
    ] {
        let mut body = push_body("owner", "demo");
        body.as_object_mut().expect("object").remove(missing);
        w.hook("/v1/hooks/push", body)
            .await
            .is(400, field(missing, "This field is required."));
    }
    let mut body = push_body("owner", "demo");
    body["sha"] = json!("a".repeat(41));
    w.hook("/v1/hooks/push", body).await.is(
        400,
        field(
            "sha",
            "Ensure this value has at most 40 characters (it has 41).",
        ),
    );
    let mut body = push_body("owner", "demo");
    body["fingerprint"] = json!(["x"]);
    w.hook("/v1/hooks/push", body).await.expect(400);
}

#[tokio::test]
async fn the_config_hook_answers_the_current_config() {
    let w = world().await;
    w.set(&w.owner, "demo", json!({"FOO": "bar"})).await;
    let config = w
        .hook(
            "/v1/hooks/config",
            json!({"receive_user": "collab", "receive_repo": "demo"}),
        )
        .await
        .expect(200);
    assert_eq!(
        config,
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)
    );
    assert_eq!(config["values"], json!({"FOO": "bar"}));
    w.hook(
        "/v1/hooks/config/",
        json!({"receive_user": "admin", "receive_repo": "demo"}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn the_build_hook_deploys_and_answers_version_and_domains() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "example.com"}),
    )
    .await
    .expect(201);
    w.hook("/v1/hooks/build", build_body("collab", "demo"))
        .await
        .is(
            200,
            json!({"release": {"version": 2}, "domains": ["demo.deisapp.local"]}),
        );
    let releases = w.releases("demo").await;
    assert_eq!(releases[0]["owner"], "collab");
    assert_eq!(releases[0]["summary"], "collab deployed 060da68");
    let build = &results(&w.get("/v1/apps/demo/builds", &w.owner).await.expect(200))[0];
    assert_eq!(build["owner"], "collab");
    assert_eq!(build["image"], "demo");
    assert_eq!(build["dockerfile"], "False");
    assert_eq!(build["procfile"], json!({"web": "node server.js"}));
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"]);

    // The original tests' spelling works too.
    w.hook("/v1/hooks/builds", build_body("owner", "demo"))
        .await
        .is(
            200,
            json!({"release": {"version": 3}, "domains": ["demo.deisapp.local"]}),
        );
    w.hook("/v1/hooks/builds/", build_body("admin", "demo"))
        .await
        .is(
            200,
            json!({"release": {"version": 4}, "domains": ["demo.deisapp.local"]}),
        );
    assert_eq!(w.engine(), vec!["demo_v4.web.1"]);

    let mut body = build_body("owner", "demo");
    body.as_object_mut().expect("object").remove("image");
    w.hook("/v1/hooks/build", body)
        .await
        .is(400, field("image", "This field is required."));
    assert_eq!(w.releases("demo").await.len(), 4);

    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    let res = w.hook("/v1/hooks/build", build_body("owner", "demo")).await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert!(
        res.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("failed")
    );
    assert_eq!(w.releases("demo").await.len(), 4);
    assert_eq!(w.engine(), vec!["demo_v4.web.1"]);
}

#[tokio::test]
async fn hooks_check_the_acting_user_and_app() {
    let w = world().await;
    for path in ["/v1/hooks/push", "/v1/hooks/config", "/v1/hooks/build"] {
        let body = |user: &str, repo: &str| match path {
            "/v1/hooks/push" => push_body(user, repo),
            "/v1/hooks/build" => build_body(user, repo),
            _ => json!({"receive_user": user, "receive_repo": repo}),
        };
        w.hook(path, body("other", "demo"))
            .await
            .is(403, forbidden());
        w.hook(path, body("nobody", "demo"))
            .await
            .is(404, not_found());
        w.hook(path, body("owner", "ghost"))
            .await
            .is(404, not_found());
        w.hook(path, body("owner", "Bad_Repo"))
            .await
            .is(404, not_found());
        let mut b = body("owner", "demo");
        b.as_object_mut().expect("object").remove("receive_user");
        let res = w.hook(path, b).await;
        assert_eq!(res.status, 400, "{path}: {}", res.text);
        assert_eq!(
            res.json()["receive_user"],
            json!(["This field is required."])
        );
        let mut b = body("owner", "demo");
        b["receive_repo"] = json!(5);
        let res = w.hook(path, b).await;
        assert_eq!(res.status, 400, "{path}: {}", res.text);
        assert!(res.json()["receive_repo"].is_array());
        let res = w.hook(path, json!([1])).await;
        assert_eq!(res.status, 400, "{path}: {}", res.text);
    }
    assert_eq!(w.releases("demo").await.len(), 1);
}

#[tokio::test]
async fn hooks_need_the_builder_key() {
    // More wrong keys than the default throttle allows (see `throttle.rs` for that).
    let w = world_with(PlatformSettings {
        throttle: Throttle {
            failures: 100,
            ..Throttle::default()
        },
        ..PlatformSettings::default()
    })
    .await;
    for path in [
        "/v1/hooks/push",
        "/v1/hooks/config",
        "/v1/hooks/build",
        "/v1/hooks/builds",
    ] {
        let body = json!({"receive_user": "owner", "receive_repo": "demo"});
        let post = || w.app.http.post(w.app.url(path)).json(&body);
        send(post()).await.is(401, unauthenticated());
        send(post().header("X-Deis-Builder-Auth", "wrong"))
            .await
            .is(401, unauthenticated());
        send(post().header("X-Deis-Builder-Auth", ""))
            .await
            .is(401, unauthenticated());
        send(post().header("Authorization", format!("token {}", w.owner)))
            .await
            .is(403, forbidden());
        send(
            post()
                .header("Authorization", format!("token {}", w.admin))
                .header("X-Deis-Builder-Auth", "wrong"),
        )
        .await
        .is(403, forbidden());
        send(
            post()
                .header("Authorization", "token bad")
                .header("X-Deis-Builder-Auth", BUILDER_KEY),
        )
        .await
        .is(401, json!({"detail": "Invalid token"}));
        // Auth before method: a GET without the key is refused, with it is 405.
        send(w.app.http.get(w.app.url(path)))
            .await
            .is(401, unauthenticated());
        send(
            w.app
                .http
                .get(w.app.url(path))
                .header("X-Deis-Builder-Auth", BUILDER_KEY),
        )
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
    }
    assert_eq!(w.releases("demo").await.len(), 1);
}

#[tokio::test]
async fn hooks_are_refused_when_no_builder_key_is_configured() {
    let mut settings = deis_testkit::api_settings();
    settings.builder_key = None;
    let app = deis_testkit::spawn_app_with(settings).await;
    app.user("a").await;
    for key in ["", "anything", BUILDER_KEY] {
        let res = send(
            app.http
                .post(app.url("/v1/hooks/config"))
                .header("X-Deis-Builder-Auth", key)
                .json(&json!({"receive_user": "a", "receive_repo": "x"})),
        )
        .await;
        res.is(401, unauthenticated());
    }
}
