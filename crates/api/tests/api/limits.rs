//! Issue 14: quotas (apps per user, containers per app, the platform's bound, concurrent runs),
//! scales that fail half-way, and the rules for config keys. Every refusal comes before
//! anything is recorded or started.

use std::time::Duration;

use deis_domain::timefmt::now;
use deis_domain::{Container, ContainerState, PlatformSettings, Quotas};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn quotas(q: Quotas) -> PlatformSettings {
    PlatformSettings {
        quotas: q,
        ..PlatformSettings::default()
    }
}

fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// What the app's records say: its containers (`type.num`, any state) and its structure.
async fn recorded(w: &World, app: &str) -> (Vec<String>, Value) {
    let containers = w
        .app
        .store
        .containers(app)
        .await
        .expect("containers")
        .iter()
        .map(|c| format!("{}.{}", c.proc_type, c.num))
        .collect();
    let structure = w
        .get(&format!("/v1/apps/{app}"), &w.admin)
        .await
        .expect(200)["structure"]
        .clone();
    (containers, structure)
}

#[tokio::test]
async fn the_app_quota_refuses_the_next_app_and_administrators_are_exempt() {
    let w = world_with(quotas(Quotas {
        apps_per_user: 3,
        ..Quotas::default()
    }))
    .await;
    w.create_app(&w.owner, "second").await;
    w.create_app(&w.owner, "third").await;
    for body in [json!({"id": "fourth"}), json!({})] {
        w.post("/v1/apps", &w.owner, body).await.is(
            403,
            detail("You own 3 apps, the most one user may own (3); destroy one first."),
        );
    }
    w.get("/v1/apps/fourth", &w.admin)
        .await
        .is(404, not_found());
    let all = results(&w.get("/v1/apps", &w.admin).await.expect(200));
    assert_eq!(all.len(), 3, "nothing was created: {all:?}");
    // Apps shared with a user do not count as theirs.
    w.create_app(&w.collab, "mine").await;
    for i in 0..5 {
        w.create_app(&w.admin, &format!("admin-{i}")).await;
    }
    w.delete("/v1/apps/third", &w.owner).await.empty(204);
    w.create_app(&w.owner, "fourth").await;
}

#[tokio::test]
async fn scaling_past_the_app_quota_is_refused_before_anything_is_created() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let before = recorded(&w, "demo").await;
    let engine = w.engine();
    assert_eq!(before.0, vec!["web.1"]);
    for (body, asked) in [
        (json!({"cmd": 500}), 501),
        (json!({"web": 51}), 51),
        (json!({"web": 30, "worker": 21}), 51),
    ] {
        w.post("/v1/apps/demo/scale", &w.owner, body.clone())
            .await
            .is(
                403,
                detail(&format!(
                    "An app may have at most 50 containers; {asked} were asked for."
                )),
            );
        assert_eq!(recorded(&w, "demo").await, before, "{body}");
        assert_eq!(w.engine(), engine, "{body}");
    }
    assert_eq!(w.app.scheduler.engine().runs.len(), 0);
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 30, "worker": 20}),
    )
    .await
    .empty(204);
    assert_eq!(w.engine().len(), 50);
    // Going down is always allowed; administrators are exempt from the per-app quota.
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 1, "worker": 0}),
    )
    .await
    .empty(204);
    w.post("/v1/apps/demo/scale", &w.admin, json!({"web": 60}))
        .await
        .empty(204);
    assert_eq!(w.engine().len(), 60);
    // ... but not from the platform's bound.
    w.post("/v1/apps/demo/scale", &w.admin, json!({"cmd": 500}))
        .await
        .is(
            403,
            detail("The platform holds at most 300 containers; 560 were asked for."),
        );
    assert_eq!(w.engine().len(), 60);
}

#[tokio::test]
async fn the_platform_bound_holds_for_everyone_and_counts_runs() {
    let w = world_with(quotas(Quotas {
        containers: 10,
        ..Quotas::default()
    }))
    .await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 8}))
        .await
        .empty(204);
    w.create_app(&w.other, "theirs").await;
    w.deploy(&w.other, "theirs", "img:1").await;
    assert_eq!(w.engine().len(), 9);
    let full = |held: u64, more: u64| {
        detail(&format!(
            "The platform holds at most 10 containers and has {held}; {more} more do not fit. \
             Scale something down first."
        ))
    };
    for token in [&w.other, &w.admin] {
        w.post("/v1/apps/theirs/scale", token, json!({"web": 3}))
            .await
            .is(403, full(9, 2));
    }
    w.create_app(&w.owner, "third").await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 7}))
        .await
        .empty(204);
    w.post("/v1/apps/theirs/scale", &w.other, json!({"web": 3}))
        .await
        .empty(204);
    assert_eq!(w.engine().len(), 10);
    // A first deploy needs room for its containers too.
    let res = w
        .post(
            "/v1/apps/third/builds",
            &w.owner,
            json!({"image": "img:1", "sha": "abc1234def5678", "procfile": {"web": "start"}}),
        )
        .await;
    res.is(403, full(10, 1));
    assert_eq!(
        w.releases("third").await.len(),
        1,
        "no release was recorded"
    );
    // One-off runs count: the platform is full.
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "true"}))
        .await
        .is(403, full(10, 1));
    assert!(w.app.scheduler.engine().runs.is_empty());
}

#[tokio::test]
async fn an_app_cannot_be_created_with_more_containers_than_allowed() {
    let w = world().await;
    w.post(
        "/v1/apps",
        &w.owner,
        json!({"id": "big", "structure": {"web": 40, "worker": 11}}),
    )
    .await
    .is(
        403,
        detail("An app may have at most 50 containers; 51 were asked for."),
    );
    w.post(
        "/v1/apps",
        &w.admin,
        json!({"id": "huge", "structure": {"web": 301}}),
    )
    .await
    .is(
        403,
        detail("The platform holds at most 300 containers; 301 were asked for."),
    );
    for id in ["big", "huge"] {
        w.get(&format!("/v1/apps/{id}"), &w.admin)
            .await
            .is(404, not_found());
    }
    w.post(
        "/v1/apps",
        &w.admin,
        json!({"id": "admins", "structure": {"web": 60}}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn concurrent_runs_per_app_are_capped() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let held = w.app.scheduler.run_gate.write().await;
    let going: Vec<_> = (0..5)
        .map(|i| {
            tokio::spawn(w.post(
                "/v1/apps/demo/run",
                &w.owner,
                json!({ "command": format!("sleep {i}") }),
            ))
        })
        .collect();
    for _ in 0..200 {
        if w.app.scheduler.engine().runs.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(w.app.scheduler.engine().runs.len(), 5, "five runs going");
    let res = w
        .post("/v1/apps/demo/run", &w.collab, json!({"command": "true"}))
        .await;
    res.is(
        429,
        detail(
            "This app already runs 5 one-off commands, the most allowed at once; try again \
             when one has finished.",
        ),
    );
    assert_eq!(res.header("Retry-After"), None);
    assert_eq!(w.app.scheduler.engine().runs.len(), 5);
    // Another app has its own runs.
    w.create_app(&w.other, "theirs").await;
    w.deploy(&w.other, "theirs", "img:1").await;
    let theirs = tokio::spawn(w.post("/v1/apps/theirs/run", &w.other, json!({"command": "true"})));
    drop(held);
    for run in going {
        run.await.expect("run task").expect(200);
    }
    theirs.await.expect("run task").expect(200);
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "true"}))
        .await
        .expect(200);
}

/// Run records of a controller that stopped mid-run do not block an app for ever: records
/// older than the run timeout, and records whose container the engine no longer holds, do not
/// count.
#[tokio::test]
async fn stale_run_records_do_not_count() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let app = w.app.store.app("demo").await.expect("app");
    let run = |num: i64, age: Duration| {
        let created = now() - age;
        Container {
            uuid: uuid::Uuid::new_v4(),
            app: "demo".into(),
            owner: "owner".into(),
            release: 2,
            proc_type: "run".into(),
            num,
            state: ContainerState::Up,
            created,
            updated: created,
        }
    };
    // Five abandoned a while ago (no container on the engine), two from before the timeout.
    let stale: Vec<Container> = (1..=5)
        .map(|n| run(n, Duration::from_secs(120)))
        .chain((6..=7).map(|n| run(n, Duration::from_secs(3 * 3600))))
        .collect();
    w.app
        .store
        .commit_scale("demo", &app.structure, &stale, &[], None)
        .await
        .expect("records");
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "true"}))
        .await
        .expect(200);
    // Five fresh records (their containers may be on the way) do count.
    let fresh: Vec<Container> = (10..15).map(|n| run(n, Duration::ZERO)).collect();
    w.app
        .store
        .commit_scale("demo", &app.structure, &fresh, &[], None)
        .await
        .expect("records");
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "true"}))
        .await
        .expect(429);
    // Listed, the abandoned records are settled (no container, past the grace); the fresh
    // ones and the finished one keep their states.
    let listed = w
        .get("/v1/apps/demo/containers/run", &w.owner)
        .await
        .expect(200);
    let states: Vec<(i64, String)> = results(&listed)
        .iter()
        .map(|c| {
            let num = c["num"].as_i64().expect("num");
            (num, c["state"].as_str().expect("state").to_owned())
        })
        .collect();
    for (num, state) in &states {
        let expected = match num {
            1..=8 => "destroyed",
            _ => "up",
        };
        assert_eq!(state, expected, "run {num}: {states:?}");
    }
    let stored = w.app.store.containers("demo").await.expect("records");
    assert!(
        stored
            .iter()
            .filter(|c| c.proc_type == "run" && c.num <= 7)
            .all(|c| c.state == ContainerState::Destroyed),
        "the settled states are stored"
    );
}

#[tokio::test]
async fn a_scale_that_fails_half_way_removes_what_it_started() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let before = recorded(&w, "demo").await;
    let engine = w.engine();
    *w.app.scheduler.fail_next_start_after.lock().expect("lock") = Some(3);
    let res = w
        .post(
            "/v1/apps/demo/scale",
            &w.owner,
            json!({"web": 4, "worker": 2}),
        )
        .await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(w.engine(), engine, "the three started containers are gone");
    assert_eq!(recorded(&w, "demo").await, before, "no record is left");
    // The app scales normally afterwards.
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 4, "worker": 2}),
    )
    .await
    .empty(204);
    assert_eq!(w.engine().len(), 6);
}

#[tokio::test]
async fn a_deploy_that_fails_half_way_removes_what_it_started() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 3, "worker": 2}),
    )
    .await
    .empty(204);
    let before = recorded(&w, "demo").await;
    let engine = w.engine();
    let releases = w.releases("demo").await.len();
    *w.app.scheduler.fail_next_start_after.lock().expect("lock") = Some(2);
    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"NEW": "1"}}),
        )
        .await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(w.engine(), engine, "the two started containers are gone");
    assert_eq!(recorded(&w, "demo").await, before);
    assert_eq!(
        w.releases("demo").await.len(),
        releases,
        "the release was withdrawn"
    );
}

#[tokio::test]
async fn config_keys_must_be_environment_names_outside_deis() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let releases = w.releases("demo").await.len();
    let name_rule = |key: &str| {
        format!(
            "Config keys must be environment variable names ([A-Za-z_][A-Za-z0-9_]*, at most \
             128 characters): {key:?}"
        )
    };
    let long = "K".repeat(129);
    for (key, message) in [
        ("A=B", name_rule("A=B")),
        ("", name_rule("")),
        ("1ST", name_rule("1ST")),
        ("WITH SPACE", name_rule("WITH SPACE")),
        ("ünïcode", name_rule("ünïcode")),
        (long.as_str(), name_rule(&long)),
        (
            "DEIS_APP",
            "Config keys starting with DEIS_ are reserved for the platform: \"DEIS_APP\"".into(),
        ),
        (
            "deis_release",
            "Config keys starting with DEIS_ are reserved for the platform: \"deis_release\""
                .into(),
        ),
    ] {
        w.post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": { key: "evil" }}),
        )
        .await
        .is(400, json!({ "values": [message] }));
    }
    // NUL characters never get past the body parser (the domain refuses them too).
    w.post(
        "/v1/apps/demo/config",
        &w.owner,
        json!({"values": {"A": "x\u{0}y"}}),
    )
    .await
    .is(400, detail("Null characters are not allowed."));
    assert_eq!(
        w.releases("demo").await.len(),
        releases,
        "nothing was released"
    );
    // PORT is allowed: it is the port the app listens on and the router connects to.
    w.set(&w.owner, "demo", json!({"PORT": "8080", "_ok_1": "y"}))
        .await;
    let spec = w
        .app
        .scheduler
        .engine()
        .containers
        .values()
        .next()
        .expect("a container")
        .clone();
    assert_eq!(spec.env["PORT"], "8080");
    assert_eq!(spec.env["DEIS_APP"], "demo");
    let res = send(
        w.req(Method::POST, "/v1/apps/demo/config", &w.owner)
            .json(&json!({"values": {"DEIS_APP": null}})),
    )
    .await;
    assert_eq!(res.status, 201, "removals are always allowed: {}", res.text);
}
