//! Integrity under concurrency and failure: consecutive releases, cascades, and deploys that
//! fail without leaving anything half-written (checked through the API and the store).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use deis_domain::{PageSel, StoreError};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// What the store holds for an app, to compare before and after a failure.
async fn snapshot(w: &World, id: &str) -> Value {
    let store = &w.app.store;
    let app = store.app(id).await.expect("app");
    let releases = store
        .list_releases(id, PageSel::Number(1))
        .await
        .expect("releases");
    let builds = store
        .list_builds(id, PageSel::Number(1))
        .await
        .expect("builds");
    let containers: Vec<String> = store
        .containers(id)
        .await
        .expect("containers")
        .iter()
        .map(|c| {
            format!(
                "{}.{}@v{} {}",
                c.proc_type,
                c.num,
                c.release,
                c.state.as_str()
            )
        })
        .collect();
    json!({
        "structure": app.structure,
        "versions": releases.items.iter().map(|r| r.version).collect::<Vec<_>>(),
        "builds": builds.items.iter().map(|b| b.uuid.to_string()).collect::<Vec<_>>(),
        "containers": containers,
        "config": w.get(&format!("/v1/apps/{id}/config"), &w.owner).await.expect(200),
        "ps": w.ps(id).await,
        "engine": w.engine(),
    })
}

#[track_caller]
fn is_503(res: &Reply) {
    assert_eq!(res.status, 503, "{}", res.text);
    let body = res.json();
    has_keys(&body, &["detail"]);
    assert!(!body["detail"].as_str().expect("detail").is_empty());
}

#[tokio::test]
async fn concurrent_config_changes_make_consecutive_releases_holding_every_key() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let posts = (0..24).map(|i| {
        let token = if i % 2 == 0 { &w.owner } else { &w.collab };
        w.post(
            "/v1/apps/demo/config",
            token,
            json!({"values": { format!("KEY_{i:02}"): i }}),
        )
    });
    let replies = join_all(posts).await;
    let mut versions = BTreeSet::new();
    for res in &replies {
        res.expect(201);
        versions.insert(
            res.header("X-Deis-Release")
                .expect("header")
                .parse::<i64>()
                .expect("n"),
        );
    }
    assert_eq!(versions, (3..=26).collect::<BTreeSet<_>>());
    let releases = w.releases("demo").await;
    assert_eq!(
        pluck(&releases, "version"),
        (1..=26).rev().map(|v| json!(v)).collect::<Vec<_>>()
    );
    for r in &releases[..24] {
        let summary = r["summary"].as_str().expect("summary");
        assert!(summary.starts_with("owner added KEY_"), "{summary}");
    }
    let values = w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"].clone();
    let expected: serde_json::Map<String, Value> =
        (0..24).map(|i| (format!("KEY_{i:02}"), json!(i))).collect();
    assert_eq!(values, Value::Object(expected));
    assert_eq!(w.ps("demo").await, vec!["web.1@v26 up"]);
    assert_eq!(w.engine(), vec!["demo_v26.web.1"]);
    let stored = w.app.store.containers("demo").await.expect("containers");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].release, 26);
}

#[tokio::test]
async fn concurrent_builds_configs_rollbacks_and_scales_stay_consistent() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:0").await;
    let mut calls = Vec::new();
    for i in 0..6 {
        calls.push(w.post(
            "/v1/apps/demo/builds",
            &w.owner,
            json!({"image": format!("img:{i}"), "procfile": {"web": "a", "worker": "b"}}),
        ));
        calls.push(w.post(
            "/v1/apps/demo/config",
            &w.collab,
            json!({"values": { format!("K{i}"): "v" }}),
        ));
        calls.push(w.post(
            "/v1/apps/demo/scale",
            &w.owner,
            json!({"web": i % 3 + 1, "worker": i % 2}),
        ));
        calls.push(w.post(
            "/v1/apps/demo/releases/rollback",
            &w.admin,
            json!({"version": 2}),
        ));
    }
    let replies = join_all(calls).await;
    for res in &replies {
        assert!(
            [201, 204].contains(&res.status),
            "{} {}",
            res.status,
            res.text
        );
    }
    let releases = w.releases("demo").await;
    assert_eq!(
        pluck(&releases, "version"),
        (1..=20).rev().map(|v| json!(v)).collect::<Vec<_>>(),
        "18 releases on top of v1 and v2, numbered without gaps"
    );
    // The database and the engine agree on what runs, all of it on the newest release.
    let stored = w.app.store.containers("demo").await.expect("containers");
    let names: Vec<String> = stored
        .iter()
        .filter(|c| c.proc_type != "run")
        .map(|c| format!("demo_v{}.{}.{}", c.release, c.proc_type, c.num))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, w.engine());
    assert!(stored.iter().all(|c| c.release == 20), "{stored:?}");
    let structure = w.get("/v1/apps/demo", &w.owner).await.expect(200)["structure"].clone();
    let web = stored.iter().filter(|c| c.proc_type == "web").count();
    let worker = stored.iter().filter(|c| c.proc_type == "worker").count();
    assert_eq!(structure["web"], json!(web), "{structure}");
    assert_eq!(structure["worker"], json!(worker), "{structure}");
}

#[tokio::test]
async fn concurrent_creations_of_one_app_id_and_one_username_have_one_winner() {
    let w = world().await;
    let replies =
        join_all((0..8).map(|_| w.post("/v1/apps", &w.owner, json!({"id": "race"})))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1);
    for res in replies.iter().filter(|r| r.status != 201) {
        res.is(400, field("id", "App with this Id already exists."));
    }
    assert_eq!(w.releases("race").await.len(), 1);

    let app = deis_testkit::spawn_app().await;
    let replies = join_all((0..8).map(|i| {
        send(app.http.post(app.url("/v1/auth/register")).form(&[
            (
                "username",
                if i % 2 == 0 { "same" } else { "diff" }.to_owned() + &(i % 2).to_string(),
            ),
            ("password", "pw".to_owned()),
        ]))
    }))
    .await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(ok.len(), 2, "one per username");
    for res in replies.iter().filter(|r| r.status != 201) {
        res.is(
            400,
            field("username", "User with this Username already exists."),
        );
    }
    let admins = ok
        .iter()
        .filter(|r| r.json()["is_superuser"] == true)
        .count();
    assert_eq!(admins, 1, "exactly one first user becomes admin");
}

#[tokio::test]
async fn destroying_an_app_removes_everything_that_hangs_off_it() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.set(&w.owner, "demo", json!({"A": 1})).await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"worker": 2}))
        .await
        .empty(204);
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "demo.example.com"}),
    )
    .await
    .expect(201);
    w.post("/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
        .await
        .expect(200);
    w.hook(
        "/v1/hooks/push",
        json!({"receive_user": "owner", "receive_repo": "demo", "sha": "abc", "fingerprint": "f",
               "ssh_connection": "c", "ssh_original_command": "o"}),
    )
    .await
    .expect(201);
    w.create_app(&w.owner, "bystander").await;
    w.deploy(&w.owner, "bystander", "img:1").await;
    assert_eq!(w.engine().len(), 4);

    w.delete("/v1/apps/demo", &w.owner).await.empty(204);

    for path in [
        "",
        "/config",
        "/builds",
        "/releases",
        "/containers",
        "/domains",
        "/perms",
        "/logs",
    ] {
        w.get(&format!("/v1/apps/demo{path}"), &w.owner)
            .await
            .is(404, not_found());
    }
    let store = &w.app.store;
    assert!(matches!(
        store.app("demo").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .containers("demo")
            .await
            .expect("containers")
            .is_empty()
    );
    assert!(store.events("demo", 1000).await.expect("events").is_empty());
    assert!(
        store
            .collaborators("demo")
            .await
            .expect("grants")
            .is_empty()
    );
    assert!(
        !store
            .is_collaborator("demo", "collab")
            .await
            .expect("grant")
    );
    assert_eq!(
        store
            .list_releases("demo", PageSel::Number(1))
            .await
            .expect("r")
            .count,
        0
    );
    assert_eq!(
        store
            .list_builds("demo", PageSel::Number(1))
            .await
            .expect("b")
            .count,
        0
    );
    assert_eq!(
        store
            .list_domains("demo", PageSel::Number(1))
            .await
            .expect("d")
            .count,
        0
    );
    assert_eq!(
        w.engine(),
        vec!["bystander_v2.web.1"],
        "only the other app runs"
    );

    // The name and the domain are free; a new app of that name starts over, unshared.
    w.post(
        "/v1/apps/bystander/domains",
        &w.owner,
        json!({"domain": "demo.example.com"}),
    )
    .await
    .expect(201);
    w.create_app(&w.other, "demo").await;
    assert_eq!(
        pluck(&w.releases_as(&w.other, "demo").await, "version"),
        vec![json!(1)]
    );
    w.get("/v1/apps/demo", &w.collab).await.is(404, not_found());
    w.get("/v1/apps/demo/perms", &w.other)
        .await
        .is(200, json!({"users": []}));
    let logs: String =
        serde_json::from_str(&w.get("/v1/apps/demo/logs", &w.other).await.text).expect("logs");
    assert!(
        !logs.contains("scaled containers"),
        "old events are gone: {logs}"
    );
}

#[tokio::test]
async fn cancelling_an_account_removes_the_users_apps_keys_and_grants() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.create_app(&w.owner, "second").await;
    w.post(
        "/v1/apps/second/domains",
        &w.owner,
        json!({"domain": "second.example.com"}),
    )
    .await
    .expect(201);
    let public = public_key("owner", "owner@host");
    w.post(
        "/v1/keys",
        &w.owner,
        json!({"id": "owner@host", "public": public}),
    )
    .await
    .expect(201);
    w.create_app(&w.other, "theirs").await;
    w.deploy(&w.other, "theirs", "img:1").await;
    w.post(
        "/v1/apps/theirs/perms",
        &w.other,
        json!({"username": "owner"}),
    )
    .await
    .empty(201);

    send(w.req(Method::DELETE, "/v1/auth/cancel/", &w.owner))
        .await
        .empty(204);

    send(w.req(Method::GET, "/v1/apps", &w.owner))
        .await
        .is(401, json!({"detail": "Invalid token"}));
    let all = results(&w.get("/v1/apps", &w.admin).await.expect(200));
    assert_eq!(pluck(&all, "id"), vec![json!("theirs")]);
    w.get("/v1/apps/demo", &w.collab).await.is(404, not_found());
    w.get("/v1/apps/theirs/perms", &w.other)
        .await
        .is(200, json!({"users": []}));
    assert_eq!(
        w.engine(),
        vec!["theirs_v2.web.1"],
        "the user's containers are gone"
    );

    let store = &w.app.store;
    assert!(matches!(
        store.user_by_name("owner").await,
        Err(StoreError::NotFound(_))
    ));
    for app in ["demo", "second"] {
        assert!(matches!(store.app(app).await, Err(StoreError::NotFound(_))));
        assert!(store.containers(app).await.expect("containers").is_empty());
        assert!(store.events(app, 10).await.expect("events").is_empty());
    }
    assert_eq!(
        store
            .list_keys("owner", PageSel::Number(1))
            .await
            .expect("keys")
            .count,
        0
    );
    assert!(
        !store
            .is_collaborator("theirs", "owner")
            .await
            .expect("grant")
    );
    assert!(store.app("theirs").await.is_ok());

    // What the user held is free for others.
    w.post("/v1/keys", &w.other, json!({"id": "k", "public": public}))
        .await
        .expect(201);
    w.post(
        "/v1/apps/theirs/domains",
        &w.other,
        json!({"domain": "second.example.com"}),
    )
    .await
    .expect(201);
    w.create_app(&w.other, "demo").await;
    // A new account of the same name inherits nothing.
    let reborn = w.app.user("owner").await;
    assert_eq!(w.get("/v1/apps", &reborn).await.expect(200)["count"], 0);
    assert_eq!(w.get("/v1/keys", &reborn).await.expect(200)["count"], 0);
    w.get("/v1/apps/theirs", &reborn).await.is(404, not_found());
}

#[tokio::test]
async fn a_failed_deploy_withdraws_the_release_and_keeps_the_old_containers() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 2}))
        .await
        .empty(204);
    let before = snapshot(&w, "demo").await;
    assert_eq!(before["engine"], json!(["demo_v2.web.1", "demo_v2.web.2"]));

    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    is_503(
        &w.post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"A": 1}}),
        )
        .await,
    );
    assert_eq!(snapshot(&w, "demo").await, before);

    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    is_503(
        &w.post("/v1/apps/demo/builds", &w.owner, json!({"image": "img:2"}))
            .await,
    );
    assert_eq!(snapshot(&w, "demo").await, before);

    w.set(&w.owner, "demo", json!({"B": 1})).await;
    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    is_503(
        &w.post("/v1/apps/demo/releases/rollback", &w.owner, json!({}))
            .await,
    );
    assert_eq!(w.releases("demo").await.len(), 3);
    assert_eq!(w.engine(), vec!["demo_v3.web.1", "demo_v3.web.2"]);

    // The numbers of withdrawn releases are used again.
    assert_eq!(w.set(&w.owner, "demo", json!({"C": 1})).await, 4);
    assert_eq!(
        w.get("/v1/apps/demo/config", &w.owner).await.expect(200)["values"],
        json!({"B": 1, "C": 1}),
        "the withdrawn change left no trace in the merge base"
    );
    assert_eq!(w.ps("demo").await, vec!["web.1@v4 up", "web.2@v4 up"]);
}

#[tokio::test]
async fn a_failed_first_build_leaves_the_app_as_it_was() {
    let w = world().await;
    let before = snapshot(&w, "demo").await;
    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    is_503(
        &w.post(
            "/v1/apps/demo/builds",
            &w.owner,
            json!({"image": "img:1", "sha": "abcdef1", "procfile": {"web": "x"}}),
        )
        .await,
    );
    assert_eq!(snapshot(&w, "demo").await, before);
    assert_eq!(before["structure"], json!({}));
    // A retry is a first build again.
    assert_eq!(w.deploy(&w.owner, "demo", "img:1").await, 2);
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"]);
}

#[tokio::test]
async fn a_failed_scale_changes_neither_structure_nor_containers() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let before = snapshot(&w, "demo").await;
    w.app
        .scheduler
        .fail_next_start
        .store(true, Ordering::SeqCst);
    is_503(
        &w.post(
            "/v1/apps/demo/scale",
            &w.owner,
            json!({"web": 3, "worker": 1}),
        )
        .await,
    );
    assert_eq!(snapshot(&w, "demo").await, before);

    // Scaling down with the engine away fails as a whole too.
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 3}))
        .await
        .empty(204);
    let before = snapshot(&w, "demo").await;
    w.app.scheduler.unreachable.store(true, Ordering::SeqCst);
    is_503(
        &w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 1}))
            .await,
    );
    is_503(
        &w.post(
            "/v1/apps/demo/scale",
            &w.owner,
            json!({"web": 2, "worker": 2}),
        )
        .await,
    );
    w.app.scheduler.unreachable.store(false, Ordering::SeqCst);
    assert_eq!(snapshot(&w, "demo").await, before);
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 1}))
        .await
        .empty(204);
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);
}

#[tokio::test]
async fn an_unreachable_engine_is_503_and_nothing_is_half_written() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.set(&w.owner, "demo", json!({"A": 1})).await;
    let before = snapshot(&w, "demo").await;
    w.app.scheduler.unreachable.store(true, Ordering::SeqCst);

    is_503(
        &w.post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"B": 1}}),
        )
        .await,
    );
    is_503(
        &w.post("/v1/apps/demo/builds", &w.owner, json!({"image": "img:2"}))
            .await,
    );
    is_503(
        &w.post("/v1/apps/demo/releases/rollback", &w.owner, json!({}))
            .await,
    );
    is_503(
        &w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 2}))
            .await,
    );
    is_503(
        &w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 0}))
            .await,
    );
    is_503(
        &w.post("/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
            .await,
    );
    // A first build of another app fails the same way.
    w.create_app(&w.owner, "fresh").await;
    is_503(
        &w.post("/v1/apps/fresh/builds", &w.owner, json!({"image": "img:1"}))
            .await,
    );
    assert_eq!(w.releases("fresh").await.len(), 1);

    // Reads still work from the database.
    w.get("/v1/apps/demo/logs", &w.owner).await.expect(200);
    w.app.scheduler.unreachable.store(false, Ordering::SeqCst);
    let mut after = snapshot(&w, "demo").await;
    after["containers"] = before["containers"].clone();
    assert_eq!(after, before);
    assert!(w.app.scheduler.engine().runs.is_empty());
    let runs = w
        .get("/v1/apps/demo/containers/run", &w.owner)
        .await
        .expect(200);
    for run in results(&runs) {
        assert_eq!(run["state"], "error", "a failed run is recorded as failed");
    }

    // Everything works again once the engine is back.
    assert_eq!(w.set(&w.owner, "demo", json!({"B": 1})).await, 4);
    assert_eq!(w.engine(), vec!["demo_v4.web.1"]);
    assert_eq!(w.deploy(&w.owner, "fresh", "img:1").await, 2);
}

#[tokio::test]
async fn destroying_an_app_while_the_engine_is_away_still_deletes_it() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.app.scheduler.unreachable.store(true, Ordering::SeqCst);
    w.delete("/v1/apps/demo", &w.owner).await.empty(204);
    w.get("/v1/apps/demo", &w.owner).await.is(404, not_found());
    assert!(matches!(
        w.app.store.app("demo").await,
        Err(StoreError::NotFound(_))
    ));
    w.app.scheduler.unreachable.store(false, Ordering::SeqCst);
    // The engine's leftovers are orphans that reconciliation removes.
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);
}

#[tokio::test]
async fn many_apps_change_at_once_without_the_database_giving_up() {
    let w = world().await;
    let ids: Vec<String> = (0..12).map(|i| format!("busy-{i}")).collect();
    let created = join_all(
        ids.iter()
            .map(|id| w.post("/v1/apps", &w.owner, json!({ "id": id }))),
    )
    .await;
    for res in &created {
        res.expect(201);
    }
    let deployed = join_all(ids.iter().map(|id| {
        w.post(
            &format!("/v1/apps/{id}/builds"),
            &w.owner,
            json!({"image": "img", "sha": "abcdef1", "procfile": {"web": "x"}}),
        )
    }))
    .await;
    for res in &deployed {
        res.expect(201);
    }
    let mut calls = Vec::new();
    for id in &ids {
        calls.push(w.post(
            &format!("/v1/apps/{id}/config"),
            &w.owner,
            json!({"values": {"A": 1}}),
        ));
        calls.push(w.post(&format!("/v1/apps/{id}/scale"), &w.owner, json!({"web": 2})));
        calls.push(w.post(
            &format!("/v1/apps/{id}/domains"),
            &w.owner,
            json!({"domain": format!("{id}.example.com")}),
        ));
    }
    for res in join_all(calls).await {
        assert!(
            [201, 204].contains(&res.status),
            "{} {}",
            res.status,
            res.text
        );
    }
    for id in &ids {
        assert_eq!(
            w.ps(id).await,
            vec!["web.1@v3 up".to_owned(), "web.2@v3 up".to_owned()],
            "{id}"
        );
    }
    assert_eq!(w.engine().len(), 24);
}

#[tokio::test]
async fn racing_grants_domains_and_keys_end_in_one_record_each() {
    let w = world().await;
    w.create_app(&w.owner, "second").await;
    let grants = join_all((0..8).map(|_| {
        w.post(
            "/v1/apps/demo/perms",
            &w.owner,
            json!({"username": "other"}),
        )
    }))
    .await;
    for res in &grants {
        res.empty(201);
    }
    w.get("/v1/apps/demo/perms", &w.owner)
        .await
        .is(200, json!({"users": ["collab", "other"]}));

    let domains = join_all((0..8).map(|i| {
        let app = if i % 2 == 0 { "demo" } else { "second" };
        w.post(
            &format!("/v1/apps/{app}/domains"),
            &w.owner,
            json!({"domain": "race.example.com"}),
        )
    }))
    .await;
    assert_eq!(domains.iter().filter(|r| r.status == 201).count(), 1);
    for res in domains.iter().filter(|r| r.status != 201) {
        res.is(
            400,
            field(
                "domain",
                "The domain race.example.com is already in use by another app",
            ),
        );
    }

    let public = public_key("race", "");
    let keys = join_all((0..8).map(|i| {
        w.post(
            "/v1/keys",
            &w.owner,
            json!({"id": format!("k{i}"), "public": public}),
        )
    }))
    .await;
    assert_eq!(keys.iter().filter(|r| r.status == 201).count(), 1);
    for res in keys.iter().filter(|r| r.status != 201) {
        res.is(
            400,
            field("public", "SSH Key with this Public already exists."),
        );
    }
    assert_eq!(w.get("/v1/keys", &w.owner).await.expect(200)["count"], 1);
}

#[tokio::test]
async fn changes_racing_an_app_deletion_leave_nothing_behind() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut calls = Vec::new();
    for i in 0..10 {
        let post = |path: &str, body: Value| w.call(Method::POST, path, &w.collab, Some(body));
        calls.push(post(
            "/v1/apps/demo/config",
            json!({"values": { format!("K{i}"): i }}),
        ));
        if i == 4 {
            calls.push(w.call(Method::DELETE, "/v1/apps/demo", &w.owner, None));
        }
        calls.push(post("/v1/apps/demo/scale", json!({"web": i % 3 + 1})));
        calls.push(post(
            "/v1/apps/demo/domains",
            json!({"domain": format!("d{i}.example.com")}),
        ));
    }
    let replies = join_all(calls).await;
    assert!(replies.iter().any(|r| r.status == 204 && r.text.is_empty()));
    for res in &replies {
        assert!(
            [201, 204, 404].contains(&res.status),
            "{} {}",
            res.status,
            res.text
        );
        if res.status == 404 {
            assert_eq!(res.json(), not_found());
        }
    }
    w.get("/v1/apps/demo", &w.owner).await.is(404, not_found());
    let store = &w.app.store;
    assert!(matches!(
        store.app("demo").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .containers("demo")
            .await
            .expect("containers")
            .is_empty()
    );
    assert_eq!(
        store
            .list_domains("demo", PageSel::Number(1))
            .await
            .expect("d")
            .count,
        0
    );
    assert!(w.engine().is_empty(), "{:?}", w.engine());
}
