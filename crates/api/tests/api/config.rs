//! §4.4 and §5.3: config, limits and tags.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const CONFIG_KEYS: &[&str] = &[
    "uuid", "app", "owner", "values", "memory", "cpu", "tags", "created", "updated",
];

#[tokio::test]
async fn a_new_app_has_an_empty_config_owned_by_the_app_owner() {
    let w = world().await;
    for token in [&w.owner, &w.collab, &w.admin] {
        let config = w.get("/v1/apps/demo/config", token).await.expect(200);
        has_keys(&config, CONFIG_KEYS);
        assert_eq!(config["app"], "demo");
        assert_eq!(config["owner"], "owner");
        for field in ["values", "memory", "cpu", "tags"] {
            assert_eq!(config[field], json!({}), "{field}");
        }
        is_uuid(&config["uuid"]);
        is_deis_time(&config["created"]);
        assert_eq!(w.releases("demo").await[0]["config"], config["uuid"]);
    }
    w.get("/v1/apps/demo/config", &w.other)
        .await
        .is(404, not_found());
    w.get("/v1/apps/ghost/config", &w.owner)
        .await
        .is(404, not_found());
    send(w.anon(Method::GET, "/v1/apps/demo/config"))
        .await
        .is(401, unauthenticated());
}

#[tokio::test]
async fn setting_config_creates_a_release_and_answers_the_new_config() {
    let w = world().await;
    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.collab,
            json!({"values": "{\"FOO\": \"bar\", \"PORT\": 5000}"}),
        )
        .await;
    let config = res.expect(201);
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("2"));
    has_keys(&config, CONFIG_KEYS);
    assert_eq!(config["values"], json!({"FOO": "bar", "PORT": 5000}));
    assert_eq!(
        config["owner"], "owner",
        "config owner is always the app owner"
    );
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200),
        config
    );

    let releases = w.releases("demo").await;
    assert_eq!(pluck(&releases, "version"), vec![json!(2), json!(1)]);
    assert_eq!(
        releases[0]["owner"], "collab",
        "the release belongs to the caller"
    );
    assert_eq!(releases[0]["summary"], "owner added FOO, PORT");
    assert_eq!(releases[0]["config"], config["uuid"]);
    assert_eq!(releases[0]["build"], Value::Null);

    // Merge: overlay, change, null removes, removing an absent key is a no-op.
    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"FOO": "baz", "PORT": null, "NEW": {"nested": [1, "x"]}, "ABSENT": null}}),
        )
        .await;
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("3"));
    assert_eq!(
        res.expect(201)["values"],
        json!({"FOO": "baz", "NEW": {"nested": [1, "x"]}})
    );
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "owner added NEW, changed FOO, deleted PORT"
    );

    // Nothing submitted is still a release.
    let res = w.post("/v1/apps/demo/config", &w.owner, json!({})).await;
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("4"));
    assert_eq!(
        res.expect(201)["values"],
        json!({"FOO": "baz", "NEW": {"nested": [1, "x"]}})
    );
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "owner changed nothing"
    );
    let res = w
        .post("/v1/apps/demo/config/", &w.admin, json!({"values": null}))
        .await;
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("5"));
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "admin changed nothing"
    );
}

#[tokio::test]
async fn limits_and_tags_are_validated_with_the_spec_messages() {
    let w = world().await;
    let cases = [
        (
            json!({"memory": {"web": "512"}}),
            "memory",
            "Limit format: <number><unit>, where unit = B, K, M or G",
        ),
        (
            json!({"memory": {"web": "lots"}}),
            "memory",
            "Limit format: <number><unit>, where unit = B, K, M or G",
        ),
        (
            json!({"memory": {"web": 512}}),
            "memory",
            "Limit format: <number><unit>, where unit = B, K, M or G",
        ),
        (
            json!({"memory": {"web": true}}),
            "memory",
            "Limit format: <number><unit>, where unit = B, K, M or G",
        ),
        (
            json!({"memory": {"Web": "512M"}}),
            "memory",
            "Process types can only contain [a-z]",
        ),
        (
            json!({"memory": {"1web": "512M"}}),
            "memory",
            "Process types can only contain [a-z]",
        ),
        (
            json!({"cpu": {"web": "abc"}}),
            "cpu",
            "CPU shares must be an integer",
        ),
        (
            json!({"cpu": {"web": "1.5"}}),
            "cpu",
            "CPU shares must be an integer",
        ),
        (
            json!({"cpu": {"web": -1}}),
            "cpu",
            "CPU shares must be an integer",
        ),
        (
            json!({"cpu": {"web": 1025}}),
            "cpu",
            "CPU shares must be between 0 and 1024",
        ),
        (
            json!({"cpu": {"web": "99999999999999999999999"}}),
            "cpu",
            "CPU shares must be between 0 and 1024",
        ),
        (
            json!({"cpu": {"WEB": 5}}),
            "cpu",
            "Process types can only contain [a-z]",
        ),
        (
            json!({"tags": {"env2": "x"}}),
            "tags",
            "Tag keys can only contain [a-z]",
        ),
        (
            json!({"tags": {"Env": "x"}}),
            "tags",
            "Tag keys can only contain [a-z]",
        ),
        (
            json!({"tags": {"env": "in\nvalid"}}),
            "tags",
            "Invalid tag value",
        ),
        (
            json!({"tags": {"env": "in valid"}}),
            "tags",
            "Invalid tag value",
        ),
        (json!({"tags": {"env": ""}}), "tags", "Invalid tag value"),
        (json!({"tags": {"env": ["x"]}}), "tags", "Invalid tag value"),
    ];
    for (body, name, message) in cases {
        let res = w.post("/v1/apps/demo/config", &w.owner, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert_eq!(res.json(), field(name, message), "{body}");
    }
    assert_eq!(
        w.releases("demo").await.len(),
        1,
        "refused changes create no release"
    );

    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"memory": "{\"web\": \"512M\", \"web2\": \"1g\"}", "cpu": {"web": 1024, "worker": "0"}}),
        )
        .await;
    let config = res.expect(201);
    assert_eq!(config["memory"], json!({"web": "512M", "web2": "1g"}));
    assert_eq!(config["cpu"], json!({"web": 1024, "worker": "0"}));
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "owner changed limits for memory, cpu"
    );
    let config = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"tags": {"env": "prod_1"}, "values": {"A": 1}, "memory": {"web2": null}}),
        )
        .await
        .expect(201);
    assert_eq!(config["tags"], json!({"env": "prod_1"}));
    assert_eq!(config["memory"], json!({"web": "512M"}));
    assert_eq!(
        config["cpu"],
        json!({"web": 1024, "worker": "0"}),
        "omitted fields are kept"
    );
    assert_eq!(
        w.releases("demo").await[0]["summary"],
        "owner added A and owner changed limits for memory and owner added tag env"
    );
}

#[tokio::test]
async fn mistyped_config_fields_are_400_and_change_nothing() {
    let w = world().await;
    for name in ["values", "memory", "cpu", "tags"] {
        for value in [
            json!([1]),
            json!(3),
            json!(true),
            json!("not json"),
            json!("[1, 2]"),
            json!("\"str\""),
        ] {
            let res = w
                .post("/v1/apps/demo/config", &w.owner, json!({ name: value }))
                .await;
            assert_eq!(res.status, 400, "{name}={value}: {}", res.text);
            let body = res.json();
            assert_eq!(
                keys(&body).into_iter().collect::<Vec<_>>(),
                vec![name.to_owned()],
                "{body}"
            );
            assert!(body[name][0].is_string());
        }
    }
    for body in [json!([]), json!("values"), json!(1), json!(null)] {
        let res = w.post("/v1/apps/demo/config", &w.owner, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json()["detail"].is_string());
    }
    let res = send(
        w.req(Method::POST, "/v1/apps/demo/config", &w.owner)
            .form(&[("values", "{\"A\": 1}")]),
    )
    .await;
    assert_eq!(
        res.status, 400,
        "a form body on config is refused: {}",
        res.text
    );
    assert!(res.json()["detail"].is_string());
    assert_eq!(w.releases("demo").await.len(), 1);
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"],
        json!({})
    );
}

#[tokio::test]
async fn config_values_keep_unicode_big_and_nested_values() {
    let w = world().await;
    let big = "x".repeat(40_000);
    let values = json!({
        "GREETING": "héllo wörld ✓ 日本語 🚀",
        "BIG": big,
        "NUM": 1.5,
        "BOOL": false,
        "U64": u64::MAX,
        "I64": i64::MIN,
        "HUGE": 1.5e300,
        "EMPTY": "",
        "LIST": [],
        "NESTED": {"a": {"b": {"c": [1, 2, {"d": null}]}}},
    });
    let config = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({ "values": values }),
        )
        .await
        .expect(201);
    assert_eq!(config["values"], values);
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"],
        values
    );
    // Deeply nested JSON is refused as a parse error, not a crash.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = send(
        w.req(Method::POST, "/v1/apps/demo/config", &w.owner)
            .header("Content-Type", "application/json")
            .body(format!("{{\"values\": {{\"A\": {deep}}}}}")),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": format!("{{\"A\": {deep}}}")}),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.json()["values"].is_array());
}

#[tokio::test]
async fn config_reaches_the_containers_as_environment() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    let v = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"FOO": "bar", "N": 3}, "memory": {"web": "256M"}, "cpu": {"web": 512}, "tags": {"zone": "a"}}),
        )
        .await;
    assert_eq!(v.header("X-Deis-Release").as_deref(), Some("3"));
    assert_eq!(w.engine(), vec!["demo_v3.web.1"]);
    let engine = w.app.scheduler.engine();
    let spec = engine.containers.get("demo_v3.web.1").expect("running");
    assert_eq!(spec.env.get("FOO").map(String::as_str), Some("bar"));
    assert_eq!(spec.env.get("N").map(String::as_str), Some("3"));
    assert_eq!(spec.env.get("DEIS_APP").map(String::as_str), Some("demo"));
    assert_eq!(spec.env.get("DEIS_RELEASE").map(String::as_str), Some("v3"));
    assert_eq!(spec.memory.as_deref(), Some("256M"));
    assert_eq!(spec.cpu_shares, Some(512));
    assert_eq!(spec.tags.get("zone").map(String::as_str), Some("a"));
    assert_eq!(spec.image, format!("{RELEASES}demo:v3"));
    assert_eq!(
        engine.images.get(&spec.image),
        engine.images.get("deis/example:latest"),
        "a config change keeps the image"
    );
    assert!(engine.images.contains_key("deis/example:latest"));
}

#[tokio::test]
async fn config_merges_against_the_current_release_after_a_rollback() {
    let w = world().await;
    w.set(&w.owner, "demo", json!({"A": "1"})).await;
    w.set(&w.owner, "demo", json!({"B": "2"})).await;
    w.post(
        "/v1/apps/demo/releases/rollback",
        &w.owner,
        json!({"version": 2}),
    )
    .await
    .is(201, json!({"version": 4}));
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"],
        json!({"A": "1"})
    );
    assert_eq!(w.set(&w.owner, "demo", json!({"C": "3"})).await, 5);
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"],
        json!({"A": "1", "C": "3"}),
        "the rolled-back B does not come back"
    );
    assert_eq!(w.releases("demo").await[0]["summary"], "owner added C");
}

#[tokio::test]
async fn config_changes_need_visibility_and_other_methods_are_405() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/config",
        &w.other,
        json!({"values": {"A": 1}}),
    )
    .await
    .is(404, not_found());
    w.post(
        "/v1/apps/ghost/config",
        &w.owner,
        json!({"values": {"A": 1}}),
    )
    .await
    .is(404, not_found());
    // Visibility is checked before the body.
    w.post("/v1/apps/demo/config", &w.other, json!({"values": [1]}))
        .await
        .is(404, not_found());
    send(
        w.anon(Method::POST, "/v1/apps/demo/config")
            .json(&json!({"values": {"A": 1}})),
    )
    .await
    .is(401, unauthenticated());
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        send(w.req(method.clone(), "/v1/apps/demo/config", &w.owner))
            .await
            .is(
                405,
                json!({ "detail": format!("Method '{method}' not allowed.") }),
            );
    }
    assert_eq!(w.releases("demo").await.len(), 1);
    assert_eq!(w.set(&w.admin, "demo", json!({"A": 1})).await, 2);
}
