//! §4.2 and §4.3: apps, and the app actions scale, logs and run.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const APP_KEYS: &[&str] = &[
    "uuid",
    "id",
    "owner",
    "url",
    "structure",
    "created",
    "updated",
];

#[tokio::test]
async fn creating_an_app_answers_201_with_the_app_and_its_first_release() {
    let w = world().await;
    let res = w
        .post("/v1/apps", &w.owner, json!({"id": "my-app-1"}))
        .await;
    let app = res.expect(201);
    has_keys(&app, APP_KEYS);
    assert_eq!(app["id"], "my-app-1");
    assert_eq!(app["owner"], "owner");
    assert_eq!(app["url"], "my-app-1.deisapp.local");
    assert_eq!(app["structure"], json!({}));
    is_uuid(&app["uuid"]);
    is_deis_time(&app["created"]);
    is_deis_time(&app["updated"]);
    let releases = w.releases("my-app-1").await;
    assert_eq!(pluck(&releases, "version"), vec![json!(1)]);
    assert_eq!(releases[0]["summary"], "owner created initial release");
    assert!(w.engine().is_empty(), "creating an app runs nothing");
    assert_eq!(w.get("/v1/apps/my-app-1", &w.owner).await.expect(200), app);
}

#[tokio::test]
async fn an_app_without_an_id_gets_a_generated_word_word_name() {
    let w = world().await;
    for body in [json!({}), json!({"structure": {}})] {
        let app = w.post("/v1/apps", &w.owner, body).await.expect(201);
        let id = app["id"].as_str().expect("id");
        let words: Vec<&str> = id.split('-').collect();
        assert_eq!(words.len(), 2, "{id}");
        assert!(
            words
                .iter()
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        );
    }
    // No body at all is an empty object too.
    let res = send(w.req(Method::POST, "/v1/apps", &w.owner)).await;
    assert!(res.expect(201)["id"].is_string());
}

#[tokio::test]
async fn app_ids_are_validated_in_the_spec_order() {
    let w = world().await;
    let cases = [
        (json!(""), "This field is required."),
        (json!(null), "This field is required."),
        (
            json!("my app"),
            "Enter a valid 'slug' consisting of letters, numbers, underscores or hyphens.",
        ),
        (
            json!("émoji"),
            "Enter a valid 'slug' consisting of letters, numbers, underscores or hyphens.",
        ),
        (json!("MyApp"), "App IDs can only contain [a-z0-9-]"),
        (json!("my_app"), "App IDs can only contain [a-z0-9-]"),
        (json!("deis"), "App IDs cannot be 'deis'"),
        (
            json!("a".repeat(65)),
            "Ensure this value has at most 64 characters (it has 65).",
        ),
        (json!("demo"), "App with this Id already exists."),
    ];
    for (id, message) in cases {
        w.post("/v1/apps", &w.owner, json!({ "id": id }))
            .await
            .is(400, field("id", message));
    }
    for id in [json!(["x"]), json!({"a": 1}), json!(true)] {
        let res = w.post("/v1/apps", &w.owner, json!({ "id": id })).await;
        assert_eq!(res.status, 400, "{id}: {}", res.text);
        assert!(res.json()["id"].is_array(), "{}", res.text);
    }
    let ok = w
        .post("/v1/apps", &w.owner, json!({"id": "a".repeat(64)}))
        .await
        .expect(201);
    assert_eq!(ok["id"], "a".repeat(64));
}

#[tokio::test]
async fn an_app_structure_is_validated_and_stored() {
    let w = world().await;
    w.post(
        "/v1/apps",
        &w.owner,
        json!({"id": "neg", "structure": {"web": -1}}),
    )
    .await
    .is(
        400,
        field("structure", "Must be greater than or equal to zero"),
    );
    for structure in [
        json!({"web": "x"}),
        json!({"web": null}),
        json!({"web": [1]}),
    ] {
        let res = w
            .post(
                "/v1/apps",
                &w.owner,
                json!({"id": "bad", "structure": structure}),
            )
            .await;
        assert_eq!(res.status, 400, "{structure}: {}", res.text);
        assert!(res.json()["structure"].is_array());
    }
    for structure in [json!([1]), json!(3), json!("not json"), json!("[1]")] {
        let res = w
            .post(
                "/v1/apps",
                &w.owner,
                json!({"id": "bad", "structure": structure}),
            )
            .await;
        assert_eq!(res.status, 400, "{structure}: {}", res.text);
        assert!(res.json()["structure"].is_array(), "{}", res.text);
    }
    let app = w
        .post(
            "/v1/apps",
            &w.owner,
            json!({"id": "pre", "structure": "{\"web\": \"2\"}"}),
        )
        .await
        .expect(201);
    assert_eq!(app["structure"], json!({"web": 2}));
    let res = w.get("/v1/apps/bad", &w.owner).await;
    res.is(404, not_found());
}

#[tokio::test]
async fn the_app_list_shows_what_each_role_may_see_in_creation_order() {
    let w = world().await;
    w.create_app(&w.owner, "zeta").await;
    w.create_app(&w.other, "others").await;
    w.create_app(&w.owner, "alpha").await;
    let ids = |body: Value| pluck(&results(&body), "id");
    assert_eq!(
        ids(w.get("/v1/apps", &w.owner).await.expect(200)),
        vec![json!("demo"), json!("zeta"), json!("alpha")]
    );
    assert_eq!(
        ids(w.get("/v1/apps/", &w.collab).await.expect(200)),
        vec![json!("demo")]
    );
    assert_eq!(
        ids(w.get("/v1/apps", &w.other).await.expect(200)),
        vec![json!("others")]
    );
    assert_eq!(
        ids(w.get("/v1/apps", &w.admin).await.expect(200)),
        vec![
            json!("demo"),
            json!("zeta"),
            json!("others"),
            json!("alpha")
        ]
    );
    let body = w.get("/v1/apps", &w.owner).await.expect(200);
    assert_eq!(body["next"], Value::Null);
    assert_eq!(body["previous"], Value::Null);
    for app in results(&body) {
        has_keys(&app, APP_KEYS);
    }
    send(w.anon(Method::GET, "/v1/apps"))
        .await
        .is(401, unauthenticated());
}

#[tokio::test]
async fn an_app_is_visible_to_owner_collaborator_and_admin_only() {
    let w = world().await;
    for token in [&w.owner, &w.collab, &w.admin] {
        let app = w.get("/v1/apps/demo", token).await.expect(200);
        assert_eq!(app["id"], "demo");
        assert_eq!(app["owner"], "owner");
    }
    w.get("/v1/apps/demo", &w.other).await.is(404, not_found());
    w.get("/v1/apps/demo/", &w.other).await.is(404, not_found());
    w.get("/v1/apps/ghost", &w.owner).await.is(404, not_found());
    w.get("/v1/apps/Demo", &w.owner).await.is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo"))
        .await
        .is(401, unauthenticated());
    for method in [Method::PUT, Method::PATCH, Method::POST] {
        send(w.req(method.clone(), "/v1/apps/demo", &w.owner))
            .await
            .is(
                405,
                json!({ "detail": format!("Method '{method}' not allowed.") }),
            );
    }
}

#[tokio::test]
async fn only_the_owner_or_an_admin_destroys_an_app() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);
    w.delete("/v1/apps/demo", &w.collab)
        .await
        .is(403, forbidden());
    w.delete("/v1/apps/demo", &w.other)
        .await
        .is(404, not_found());
    send(w.anon(Method::DELETE, "/v1/apps/demo"))
        .await
        .is(401, unauthenticated());
    w.delete("/v1/apps/ghost", &w.owner)
        .await
        .is(404, not_found());
    assert_eq!(w.engine(), vec!["demo_v2.web.1"], "refusals change nothing");
    w.get("/v1/apps/demo", &w.owner).await.expect(200);

    w.delete("/v1/apps/demo/", &w.owner).await.empty(204);
    assert!(w.engine().is_empty(), "the app's containers are gone");
    w.get("/v1/apps/demo", &w.owner).await.is(404, not_found());
    w.get("/v1/apps/demo/releases", &w.owner)
        .await
        .is(404, not_found());
    w.delete("/v1/apps/demo", &w.owner)
        .await
        .is(404, not_found());

    w.create_app(&w.other, "theirs").await;
    w.delete("/v1/apps/theirs", &w.admin).await.empty(204);
    w.get("/v1/apps/theirs", &w.other)
        .await
        .is(404, not_found());
    // The id can be used again.
    w.create_app(&w.owner, "theirs").await;
}

// ---- logs ------------------------------------------------------------------------------

fn log_lines(res: &Reply) -> Vec<String> {
    assert_eq!(
        res.header("Content-Type").as_deref(),
        Some("text/plain"),
        "logs are JSON labelled text/plain"
    );
    let text: String = serde_json::from_str(&res.text).expect("a JSON string");
    assert!(text.ends_with('\n'), "{text:?}");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    lines.pop();
    lines
}

#[tokio::test]
async fn logs_are_a_json_string_of_timestamped_lines() {
    let w = world().await;
    let res = w.get("/v1/apps/demo/logs", &w.owner).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let lines = log_lines(&res);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" deis[api]: owner created initial release")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("deis[api]: demo: release demo-v1 created"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("deis[api]: demo: User collab was granted access to demo"))
    );
    for line in &lines {
        let stamp = line.split(' ').next().expect("stamp");
        is_deis_time(&json!(stamp));
    }

    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.set(&w.collab, "demo", json!({"FOO": "bar"})).await;
    let lines = log_lines(&w.get("/v1/apps/demo/logs/", &w.collab).await);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("deis[api]: owner deployed abc1234")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("deis[api]: owner added FOO")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("deis[api]: demo: owner scaled containers web=1")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" demo[web.1]: ")),
        "container output is merged in: {lines:?}"
    );

    w.get("/v1/apps/demo/logs", &w.admin).await.expect(200);
    w.get("/v1/apps/demo/logs", &w.other)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/logs", &w.owner)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/logs"))
        .await
        .is(401, unauthenticated());
    send(w.req(Method::POST, "/v1/apps/demo/logs", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'POST' not allowed."}));
}

// ---- run -------------------------------------------------------------------------------

#[tokio::test]
async fn run_needs_a_build_and_a_command() {
    let w = world().await;
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
        .await
        .is(
            400,
            json!("No build associated with this release to run this command"),
        );
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    for body in [json!({}), json!({"command": ""}), json!({"command": null})] {
        w.post("/v1/apps/demo/run", &w.owner, body)
            .await
            .is(400, field("command", "This field is required."));
    }
    for body in [
        json!({"command": 1}),
        json!({"command": ["ls"]}),
        json!({"command": {}}),
    ] {
        let res = w.post("/v1/apps/demo/run", &w.owner, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json()["command"].is_array());
    }
    for body in [json!([]), json!("ls")] {
        let res = w.post("/v1/apps/demo/run", &w.owner, body).await;
        assert_eq!(res.status, 400, "{}", res.text);
    }
    assert!(w.app.scheduler.engine().runs.is_empty());
}

#[tokio::test]
async fn run_answers_exit_code_and_output_and_keeps_a_run_record() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.set(&w.owner, "demo", json!({"FOO": "bar"})).await;
    w.post(
        "/v1/apps/demo/config",
        &w.owner,
        json!({"memory": {"web": "64M", "worker": "96M"}, "cpu": {"web": 128}}),
    )
    .await
    .expect(201);
    let res = w
        .post(
            "/v1/apps/demo/run",
            &w.collab,
            json!({"command": "echo 'hi' ü"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("Content-Type").as_deref(), Some("text/plain"));
    let body: Value = serde_json::from_str(&res.text).expect("JSON");
    assert_eq!(body, json!([0, "ran echo 'hi' ü\n"]));
    {
        let engine = w.app.scheduler.engine();
        assert_eq!(engine.runs.len(), 1);
        let run = &engine.runs[0];
        assert_eq!(run.name, "demo_v4.run.1");
        assert_eq!(run.image, format!("{RELEASES}demo:v4"));
        assert_eq!(run.env.get("FOO").map(String::as_str), Some("bar"));
        // A run is bounded like the app: its largest limits, as no `run` type sets any.
        assert_eq!(run.memory.as_deref(), Some("96M"));
        assert_eq!(run.cpu_shares, Some(128));
    }
    w.post("/v1/apps/demo/run", &w.admin, json!({"command": "true"}))
        .await
        .expect(200);
    let runs = w
        .get("/v1/apps/demo/containers/run", &w.owner)
        .await
        .expect(200);
    let runs = results(&runs);
    assert_eq!(pluck(&runs, "num"), vec![json!(1), json!(2)]);
    assert_eq!(runs[0]["type"], "run");
    assert_eq!(runs[0]["release"], "v4");
    assert_eq!(
        w.ps("demo").await,
        vec!["web.1@v4 up"],
        "runs are not listed"
    );
    assert_eq!(w.releases("demo").await.len(), 4, "run creates no release");

    w.post("/v1/apps/demo/run", &w.other, json!({"command": "ls"}))
        .await
        .is(404, not_found());
    w.post("/v1/apps/ghost/run", &w.owner, json!({"command": "ls"}))
        .await
        .is(404, not_found());
    send(
        w.anon(Method::POST, "/v1/apps/demo/run")
            .json(&json!({"command": "ls"})),
    )
    .await
    .is(401, unauthenticated());
    send(w.req(Method::GET, "/v1/apps/demo/run", &w.owner))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
}

// ---- scale -----------------------------------------------------------------------------

#[tokio::test]
async fn scale_refuses_bad_formats_before_looking_the_app_up() {
    let w = world().await;
    for body in [
        json!({"web": "one"}),
        json!({"web": null}),
        json!({"web": [1]}),
        json!({"web": "3.5"}),
        json!({"web": {}}),
        json!([1, 2]),
        json!("web=1"),
        json!(null),
    ] {
        for app in ["demo", "ghost"] {
            w.post(&format!("/v1/apps/{app}/scale"), &w.owner, body.clone())
                .await
                .is(400, json!("Invalid scaling format"));
        }
    }
    w.post("/v1/apps/ghost/scale", &w.owner, json!({"web": 1}))
        .await
        .is(404, not_found());
    w.post("/v1/apps/demo/scale", &w.other, json!({"web": 1}))
        .await
        .is(404, not_found());
    send(
        w.anon(Method::POST, "/v1/apps/demo/scale")
            .json(&json!({"web": 1})),
    )
    .await
    .is(401, unauthenticated());
}

#[tokio::test]
async fn scale_checks_counts_build_and_types() {
    let w = world().await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": -1}))
        .await
        .is(400, json!("[u'Must be greater than or equal to zero']"));
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 1}))
        .await
        .is(400, json!("No build associated with this release"));
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"db": 1}))
        .await
        .is(
            400,
            json!("Container type db does not exist in application"),
        );
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": -3}),
    )
    .await
    .is(400, json!("[u'Must be greater than or equal to zero']"));
    assert_eq!(
        w.ps("demo").await,
        vec!["web.1@v2 up"],
        "refusals change nothing"
    );
}

#[tokio::test]
async fn scale_creates_and_removes_containers_and_merges_the_structure() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    assert_eq!(structure(&w).await, json!({"web": 1}));

    w.post(
        "/v1/apps/demo/scale/",
        &w.collab,
        json!({"web": "3", "worker": 1.9}),
    )
    .await
    .empty(204);
    assert_eq!(
        w.ps("demo").await,
        vec![
            "web.1@v2 up",
            "web.2@v2 up",
            "web.3@v2 up",
            "worker.1@v2 up"
        ]
    );
    assert_eq!(
        w.engine(),
        vec![
            "demo_v2.web.1",
            "demo_v2.web.2",
            "demo_v2.web.3",
            "demo_v2.worker.1"
        ]
    );
    assert_eq!(structure(&w).await, json!({"web": 3, "worker": 1}));

    w.post("/v1/apps/demo/scale", &w.admin, json!({"web": 1}))
        .await
        .empty(204);
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up", "worker.1@v2 up"]);
    assert_eq!(w.engine(), vec!["demo_v2.web.1", "demo_v2.worker.1"]);
    assert_eq!(
        structure(&w).await,
        json!({"web": 1, "worker": 1}),
        "the request merges into the structure"
    );

    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 0, "cmd": true}),
    )
    .await
    .empty(204);
    assert_eq!(w.ps("demo").await, vec!["worker.1@v2 up", "cmd.1@v2 up"]);
    assert_eq!(
        structure(&w).await,
        json!({"web": 0, "worker": 1, "cmd": 1})
    );

    w.post("/v1/apps/demo/scale", &w.owner, json!({}))
        .await
        .empty(204);
    assert_eq!(w.ps("demo").await, vec!["worker.1@v2 up", "cmd.1@v2 up"]);
    assert_eq!(
        w.releases("demo").await.len(),
        2,
        "scale creates no release"
    );

    // Numbers continue after the highest one in use.
    w.post("/v1/apps/demo/scale", &w.owner, json!({"worker": 2}))
        .await
        .empty(204);
    assert_eq!(
        w.ps("demo").await,
        vec!["worker.1@v2 up", "cmd.1@v2 up", "worker.2@v2 up"]
    );
}

#[tokio::test]
async fn absurd_scale_counts_are_refused_without_work() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    for count in [json!(1_000_000_000_000i64), json!(i64::MAX), json!(1e15)] {
        let res = w
            .post("/v1/apps/demo/scale", &w.owner, json!({ "web": count }))
            .await;
        assert_eq!(res.status, 400, "{count}: {}", res.text);
        assert!(res.json().is_string(), "{}", res.text);
    }
    let res = w
        .post(
            "/v1/apps",
            &w.owner,
            json!({"id": "huge", "structure": {"web": 1_000_000_000_000i64}}),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.json()["structure"].is_array(), "{}", res.text);
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"]);
}

async fn structure(w: &World) -> Value {
    w.get("/v1/apps/demo", &w.owner).await.expect(200)["structure"].clone()
}

#[tokio::test]
async fn the_log_records_every_platform_event() {
    let w = world().await;
    let uuid7 = |v: &Value| v.as_str().expect("uuid").replace('-', "")[..7].to_owned();
    let first_config = w.get("/v1/apps/demo/config", &w.owner).await.expect(200);
    let build = w
        .post(
            "/v1/apps/demo/builds",
            &w.owner,
            json!({"image": "img", "sha": "abcdef1", "procfile": {"web": "x"}}),
        )
        .await
        .expect(201);
    let config = w
        .post(
            "/v1/apps/demo/config",
            &w.collab,
            json!({"values": {"A": 1}}),
        )
        .await
        .expect(201);
    w.post("/v1/apps/demo/scale", &w.collab, json!({"web": 2}))
        .await
        .empty(204);
    w.post(
        "/v1/apps/demo/run",
        &w.collab,
        json!({"command": "echo 'x'"}),
    )
    .await
    .expect(200);
    w.delete("/v1/apps/demo/perms/collab", &w.owner)
        .await
        .empty(204);
    let lines = log_lines(&w.get("/v1/apps/demo/logs", &w.owner).await);
    let messages: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split_once(" deis[api]: ").map(|(_, m)| m.to_owned()))
        .collect();
    let expected = [
        format!("demo: config demo-{} updated", uuid7(&first_config["uuid"])),
        "demo: release demo-v1 created".to_owned(),
        "owner created initial release".to_owned(),
        "demo: User collab was granted access to demo".to_owned(),
        format!("demo: build demo-{} created", uuid7(&build["uuid"])),
        "demo: release demo-v2 created".to_owned(),
        "owner deployed abcdef1".to_owned(),
        "demo: owner scaled containers web=1".to_owned(),
        format!("demo: config demo-{} updated", uuid7(&config["uuid"])),
        "demo: release demo-v3 created".to_owned(),
        "owner added A".to_owned(),
        "demo: collab scaled containers web=2".to_owned(),
        "demo: collab runs 'echo 'x''".to_owned(),
        "demo: User collab was revoked access to demo".to_owned(),
    ];
    assert_eq!(messages, expected);
}
