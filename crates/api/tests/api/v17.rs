//! API v1.7 (`api-v1.7-additions.md`): how a request selects its generation, and every v1.7
//! endpoint and changed shape, asserted as the Deis 1.13.4 Go client reads them. Requests
//! "as the Go client" carry what it sends: `User-Agent: Deis Client v1.13.4`, no
//! `X-Deis-Version`, and `Content-Type: application/json` on every call.

use deis_domain::Platform;
use deis_testkit::{platform_settings, tls};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const GO_CLIENT: &str = "Deis Client v1.13.4";

const USER_KEYS: &[&str] = &[
    "id",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
    "groups",
    "user_permissions",
];

const CONTAINER_KEYS: &[&str] = &[
    "uuid", "app", "owner", "release", "type", "num", "state", "created", "updated",
];

const CERT_KEYS: &[&str] = &[
    "id",
    "common_name",
    "expires",
    "owner",
    "created",
    "updated",
];

/// Asserts the headers every v1.7 answer carries.
#[track_caller]
fn assert_v17(res: &Reply) {
    assert_eq!(
        res.header("DEIS_API_VERSION").as_deref(),
        Some("1.7"),
        "{res:?}"
    );
    assert_eq!(
        res.header("DEIS_PLATFORM_VERSION").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

/// Asserts that an answer carries no version header (v1.0, §1.5).
#[track_caller]
fn assert_v10(res: &Reply) {
    assert!(
        res.headers.keys().all(|k| !k.as_str().contains("version")),
        "{:?}",
        res.headers
    );
}

/// A request as the Go client 1.13.4 sends it (`token` empty: none).
fn go(
    w: &World,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::RequestBuilder {
    let mut rb = w
        .app
        .http
        .request(method, w.app.url(path))
        .header("User-Agent", GO_CLIENT)
        .header("Content-Type", "application/json");
    if !token.is_empty() {
        rb = rb.header("Authorization", format!("token {token}"));
    }
    match body {
        Some(body) => rb.body(body.to_string()),
        None => rb,
    }
}

/// Sends a Go client request and checks the v1.7 headers of the answer.
async fn call(w: &World, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
    let res = send(go(w, method, path, token, body)).await;
    assert_v17(&res);
    res
}

async fn get(w: &World, path: &str, token: &str) -> Reply {
    call(w, Method::GET, path, token, None).await
}

async fn post(w: &World, path: &str, token: &str, body: Value) -> Reply {
    call(w, Method::POST, path, token, Some(body)).await
}

// ---- generation selection ---------------------------------------------------------------

#[tokio::test]
async fn the_go_client_gets_v17_headers_on_every_answer() {
    let w = world().await;
    // The client's connection check: GET /v1/ without a token must be 401, and is read for
    // DEIS_API_VERSION too.
    let res = get(&w, "/v1/", "").await;
    res.is(401, unauthenticated());
    assert_eq!(res.header("WWW-Authenticate").as_deref(), Some("Token"));
    get(&w, "/v1/", &w.owner).await.is(200, json!({}));
    get(&w, "/v1/apps/ghost", &w.owner)
        .await
        .is(404, not_found());
    get(&w, "/v1/nowhere", &w.owner).await.is(404, not_found());
    call(&w, Method::PUT, "/v1/apps/demo", &w.owner, None)
        .await
        .is(405, json!({"detail": "Method 'PUT' not allowed."}));
    let apps = results(
        &get(&w, "/v1/apps/?page_size=100", &w.owner)
            .await
            .expect(200),
    );
    assert_eq!(pluck(&apps, "id"), [json!("demo")]);
    // Register and login are JSON bodies from the Go client.
    let res = post(
        &w,
        "/v1/auth/register/",
        "",
        json!({"username": "gopher", "password": "pw", "email": "g@example.com"}),
    )
    .await;
    has_keys(&res.expect(201), USER_KEYS);
    let token = post(
        &w,
        "/v1/auth/login/",
        "",
        json!({"username": "gopher", "password": "pw"}),
    )
    .await
    .expect(200);
    assert!(token["token"].is_string());
}

#[tokio::test]
async fn an_explicit_version_header_selects_the_generation() {
    let w = world().await;
    let with = |version: &'static str| {
        w.app
            .http
            .get(w.app.url("/v1/users"))
            .header("Authorization", format!("token {}", w.admin))
            .header("X-Deis-Version", version)
    };
    let res = send(with("1.7")).await;
    assert_v17(&res);
    assert_eq!(results(&res.expect(200)).len(), 4);
    // v1.0 has no users endpoint and no version header.
    let res = send(with("1.0")).await;
    res.is(404, not_found());
    assert_v10(&res);
    // The Go client's User-Agent with X-Deis-Version 1.0 is v1.0: the header wins.
    let res = send(with("1.0").header("User-Agent", GO_CLIENT)).await;
    res.is(404, not_found());
    assert_v10(&res);
    // A version this server does not speak is refused before anything else, as in v1.0.
    let res = send(with("2.0").header("User-Agent", GO_CLIENT)).await;
    res.is(
        405,
        json!({"error": "Client and server versions do not match. Client version: 2.0 Server version: 1.0"}),
    );
    assert_v10(&res);
}

#[tokio::test]
async fn clients_that_select_nothing_keep_the_v10_behaviour() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let v10 = |method: Method, path: &str, ua: Option<&'static str>| {
        let rb = w
            .app
            .http
            .request(method, w.app.url(path))
            .header("Authorization", format!("token {}", w.admin));
        match ua {
            Some(ua) => rb.header("User-Agent", ua),
            None => rb,
        }
    };
    for ua in [
        None,
        Some("python-requests/2.4.3"),
        Some("Deis Client v2.0.0"),
    ] {
        // The v1.7 routes do not exist for v1.0 clients: today's answers, unchanged.
        for path in ["/v1/users", "/v1/certs", "/v1/certs/example.com"] {
            let res = send(v10(Method::GET, path, ua)).await;
            res.is(404, not_found());
            assert_v10(&res);
        }
        send(v10(Method::POST, "/v1/auth/tokens", ua))
            .await
            .is(404, not_found());
        send(v10(Method::POST, "/v1/apps/demo", ua).json(&json!({"owner": "other"})))
            .await
            .is(405, json!({"detail": "Method 'POST' not allowed."}));
        send(v10(Method::POST, "/v1/apps/demo/containers/restart", ua))
            .await
            .is(405, json!({"detail": "Method 'POST' not allowed."}));
        let listed = send(v10(Method::GET, "/v1/apps/demo/containers/restart", ua))
            .await
            .expect(200);
        assert_eq!(listed["count"], 0, "a type named restart, as in v1.0");
        send(v10(
            Method::POST,
            "/v1/apps/demo/containers/web/1/restart",
            ua,
        ))
        .await
        .is(404, not_found());
        // Bare-string errors stay bare strings.
        let res =
            send(v10(Method::POST, "/v1/apps/demo/scale", ua).json(&json!({"web": "x"}))).await;
        res.is(400, json!("Invalid scaling format"));
        assert_v10(&res);
    }
    assert_eq!(w.app.store.app("demo").await.expect("app").owner, "owner");
}

// ---- changed shapes -----------------------------------------------------------------------

#[tokio::test]
async fn errors_of_run_scale_and_restart_are_detail_objects() {
    let w = world().await;
    post(&w, "/v1/apps/demo/scale/", &w.owner, json!({"web": "x"}))
        .await
        .is(400, json!({"detail": "Invalid scaling format"}));
    post(&w, "/v1/apps/demo/scale/", &w.owner, json!({"web": 1}))
        .await
        .is(
            400,
            json!({"detail": "No build associated with this release"}),
        );
    post(&w, "/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
        .await
        .is(
            400,
            json!({"detail": "No build associated with this release to run this command"}),
        );
    post(&w, "/v1/apps/demo/containers/restart/", &w.owner, json!({}))
        .await
        .is(200, json!([]));
    w.deploy(&w.owner, "demo", "img:1").await;
    post(&w, "/v1/apps/demo/scale/", &w.owner, json!({"web": -1}))
        .await
        .is(
            400,
            json!({"detail": "[u'Must be greater than or equal to zero']"}),
        );
    post(&w, "/v1/apps/demo/scale/", &w.owner, json!({"db": 1}))
        .await
        .is(
            400,
            json!({"detail": "Container type db does not exist in application"}),
        );
    w.app
        .scheduler
        .unreachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let res = post(&w, "/v1/apps/demo/containers/restart/", &w.owner, json!({})).await;
    res.is(
        503,
        json!({"detail": "could not list the app's containers: docker engine unreachable (injected)"}),
    );
    let res = post(&w, "/v1/apps/demo/run", &w.owner, json!({"command": "ls"})).await;
    assert_eq!(res.status, 503);
    assert!(res.json()["detail"].is_string());
    // Other bare-string and empty v1.0 errors become details too.
    post(
        &w,
        "/v1/auth/passwd/",
        &w.owner,
        json!({"password": "no", "new_password": "x"}),
    )
    .await
    .is(400, json!({"detail": "Current password did not match"}));
    post(
        &w,
        "/v1/apps/demo/perms/",
        &w.collab,
        json!({"username": "other"}),
    )
    .await
    .is(403, forbidden());
    call(
        &w,
        Method::DELETE,
        "/v1/apps/demo/perms/collab",
        &w.collab,
        None,
    )
    .await
    .is(403, forbidden());
    call(
        &w,
        Method::DELETE,
        "/v1/apps/demo/perms/other",
        &w.owner,
        None,
    )
    .await
    .is(404, not_found());
}

#[tokio::test]
async fn logs_are_plain_text_lines_and_honour_log_lines() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let res = get(&w, "/v1/apps/demo/logs", &w.owner).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(!res.text.starts_with('"'), "not JSON-encoded: {}", res.text);
    assert!(res.text.ends_with('\n'));
    let lines: Vec<&str> = res.text.lines().collect();
    assert!(lines.len() > 3, "{lines:?}");
    assert!(
        lines[..3]
            .iter()
            .any(|l| l.ends_with(" deis[api]: owner created initial release")),
        "{lines:?}"
    );
    let last_two = get(&w, "/v1/apps/demo/logs?log_lines=2", &w.owner).await;
    assert_eq!(last_two.status, 200);
    assert_eq!(
        last_two.text.lines().collect::<Vec<_>>(),
        lines[lines.len() - 2..]
    );
    for bad in ["0", "-1", "x", "10001"] {
        get(&w, &format!("/v1/apps/demo/logs?log_lines={bad}"), &w.owner)
            .await
            .is(
                400,
                json!({"detail": "log_lines must be a whole number from 1 to 10000"}),
            );
    }
    get(&w, "/v1/apps/demo/logs?log_lines=2", &w.other)
        .await
        .is(404, not_found());
    // v1.0 ignores log_lines and keeps its JSON string.
    let v10 = w.get("/v1/apps/demo/logs?log_lines=2", &w.owner).await;
    assert_eq!(v10.status, 200);
    assert_eq!(v10.json(), json!(res.text));
    assert_v10(&v10);
}

#[tokio::test]
async fn cpu_limits_read_back_as_integers() {
    let w = world().await;
    // What `deis limits:set --cpu web=256` sends.
    let res = post(
        &w,
        "/v1/apps/demo/config/",
        &w.owner,
        json!({"cpu": {"web": "256"}}),
    )
    .await;
    let config = res.expect(201);
    assert_eq!(res.header("X-Deis-Release").as_deref(), Some("2"));
    assert_eq!(config["cpu"], json!({"web": 256}));
    let config = post(
        &w,
        "/v1/apps/demo/config/",
        &w.owner,
        json!({"cpu": {"worker": 512}}),
    )
    .await
    .expect(201);
    assert_eq!(config["cpu"], json!({"web": 256, "worker": 512}));
    let config = get(&w, "/v1/apps/demo/config/", &w.owner).await.expect(200);
    assert_eq!(config["cpu"], json!({"web": 256, "worker": 512}));
    assert_eq!(config["memory"], json!({}));
    // v1.0 reads them as they were sent.
    let config = w.get("/v1/apps/demo/config", &w.owner).await.expect(200);
    assert_eq!(config["cpu"], json!({"web": "256", "worker": 512}));
    post(
        &w,
        "/v1/apps/demo/config/",
        &w.owner,
        json!({"cpu": {"web": "2G"}}),
    )
    .await
    .is(400, field("cpu", "CPU shares must be an integer"));
}

// ---- app transfer -------------------------------------------------------------------------

#[tokio::test]
async fn an_app_is_transferred_by_its_owner_or_an_admin() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    post(&w, "/v1/apps/demo/", &w.collab, json!({"owner": "collab"}))
        .await
        .is(403, forbidden());
    post(&w, "/v1/apps/demo/", &w.other, json!({"owner": "other"}))
        .await
        .is(404, not_found());
    post(&w, "/v1/apps/demo/", &w.owner, json!({"owner": "ghost"}))
        .await
        .is(404, not_found());
    post(&w, "/v1/apps/demo/", &w.owner, json!({}))
        .await
        .is(400, field("owner", "This field is required."));
    post(&w, "/v1/apps/demo/", &w.owner, json!({"owner": 3}))
        .await
        .is(400, field("owner", "Not a valid string."));
    assert_eq!(w.app.store.app("demo").await.expect("app").owner, "owner");

    let app = post(&w, "/v1/apps/demo/", &w.owner, json!({"owner": "other"}))
        .await
        .expect(200);
    assert_eq!(app["id"], "demo");
    assert_eq!(app["owner"], "other");
    assert_eq!(app["url"], "demo.deisapp.local");
    // The new owner has it, with its config and containers; the old one no longer sees it.
    assert_eq!(
        get(&w, "/v1/apps/demo/", &w.other).await.expect(200)["owner"],
        "other"
    );
    get(&w, "/v1/apps/demo/", &w.owner)
        .await
        .is(404, not_found());
    assert_eq!(
        get(&w, "/v1/apps/demo/config/", &w.other).await.expect(200)["owner"],
        "other"
    );
    let containers = results(
        &get(&w, "/v1/apps/demo/containers/", &w.other)
            .await
            .expect(200),
    );
    assert!(!containers.is_empty());
    assert!(containers.iter().all(|c| c["owner"] == "other"));
    // Collaborators keep their grant; an admin may transfer any app.
    get(&w, "/v1/apps/demo/", &w.collab).await.expect(200);
    let app = post(&w, "/v1/apps/demo", &w.admin, json!({"owner": "owner"}))
        .await
        .expect(200);
    assert_eq!(app["owner"], "owner");
    let log = get(&w, "/v1/apps/demo/logs", &w.owner).await;
    assert!(
        log.text
            .contains("demo: owner transferred the app to other"),
        "{}",
        log.text
    );
    assert!(
        log.text
            .contains("demo: admin transferred the app to owner")
    );
    call(
        &w,
        Method::POST,
        "/v1/apps/demo/",
        "",
        Some(json!({"owner": "x"})),
    )
    .await
    .is(401, unauthenticated());
}

// ---- restart ------------------------------------------------------------------------------

#[tokio::test]
async fn restart_replaces_containers_with_new_ones_of_the_same_release() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": 1}),
    )
    .await
    .empty(204);
    let before = w.ps("demo").await;
    assert_eq!(before, ["web.1@v2 up", "web.2@v2 up", "worker.1@v2 up"]);
    let engine_before = w.engine();
    // Mark what runs now: a restarted container is created afresh from its spec.
    let mark = || {
        for spec in w.app.scheduler.engine().containers.values_mut() {
            spec.env.insert("MARK".into(), "old".into());
        }
    };
    let marked = || {
        w.app
            .scheduler
            .engine()
            .containers
            .values()
            .filter(|s| s.env.contains_key("MARK"))
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };

    mark();
    let all = post(
        &w,
        "/v1/apps/demo/containers/restart/",
        &w.collab,
        json!({}),
    )
    .await
    .expect(200);
    let all = all.as_array().expect("a plain JSON list");
    assert_eq!(all.len(), 3);
    for c in all {
        has_keys(c, CONTAINER_KEYS);
        assert_eq!(c["release"], "v2");
        assert_eq!(c["state"], "up");
        assert_eq!(c["owner"], "owner");
        is_uuid(&c["uuid"]);
    }
    assert_eq!(
        pluck(all, "type"),
        [json!("web"), json!("web"), json!("worker")]
    );
    assert_eq!(pluck(all, "num"), [json!(1), json!(2), json!(1)]);
    assert!(marked().is_empty(), "every container was replaced");
    assert_eq!(
        w.engine(),
        engine_before,
        "same names: same release, type and number"
    );
    assert_eq!(w.ps("demo").await, before);
    assert_eq!(
        w.releases("demo").await.len(),
        2,
        "a restart makes no release"
    );

    mark();
    let web = post(
        &w,
        "/v1/apps/demo/containers/web/restart/",
        &w.owner,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        pluck(web.as_array().expect("list"), "num"),
        [json!(1), json!(2)]
    );
    assert_eq!(marked(), ["demo_v2.worker.1"]);

    mark();
    let one = post(
        &w,
        "/v1/apps/demo/containers/web/2/restart/",
        &w.admin,
        json!({}),
    )
    .await
    .expect(200);
    let one = one.as_array().expect("list");
    assert_eq!(one.len(), 1);
    assert_eq!(
        (&one[0]["type"], &one[0]["num"]),
        (&json!("web"), &json!(2))
    );
    assert_eq!(marked(), ["demo_v2.web.1", "demo_v2.worker.1"]);

    post(
        &w,
        "/v1/apps/demo/containers/web/9/restart",
        &w.owner,
        json!({}),
    )
    .await
    .is(404, not_found());
    post(
        &w,
        "/v1/apps/demo/containers/web/x/restart",
        &w.owner,
        json!({}),
    )
    .await
    .is(404, not_found());
    post(
        &w,
        "/v1/apps/demo/containers/db/restart",
        &w.owner,
        json!({}),
    )
    .await
    .is(200, json!([]));
    post(&w, "/v1/apps/demo/containers/restart", &w.other, json!({}))
        .await
        .is(404, not_found());
    post(&w, "/v1/apps/ghost/containers/restart", &w.owner, json!({}))
        .await
        .is(404, not_found());
    call(
        &w,
        Method::POST,
        "/v1/apps/demo/containers/restart",
        "",
        None,
    )
    .await
    .is(401, unauthenticated());
    get(&w, "/v1/apps/demo/containers/restart", &w.owner)
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
    let log = get(&w, "/v1/apps/demo/logs", &w.owner).await.text;
    assert!(
        log.contains("demo: collab restarted all containers"),
        "{log}"
    );
    assert!(log.contains("demo: owner restarted web containers"));
    assert!(log.contains("demo: admin restarted web.2"));
}

#[tokio::test]
async fn a_restart_the_engine_refuses_is_503_and_left_to_reconciliation() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.app
        .scheduler
        .fail_next_start
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let res = post(&w, "/v1/apps/demo/containers/restart", &w.owner, json!({})).await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert!(
        res.json()["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("aborting, failed to create some containers")),
        "{}",
        res.text
    );
    // The record stays (restarting changes no desired state) and says what happened.
    let stored = w.app.store.containers("demo").await.expect("containers");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, deis_domain::ContainerState::Error);
    assert!(w.engine().is_empty());
    let platform = Platform::new(
        w.app.store.clone(),
        w.app.scheduler.clone(),
        w.app.routing.clone(),
        platform_settings(),
    );
    assert_eq!(platform.reconcile().await.expect("reconciles"), (1, 0));
    assert_eq!(w.engine(), ["demo_v2.web.1"]);
    assert_eq!(w.ps("demo").await, ["web.1@v2 up"]);
}

#[tokio::test]
async fn a_restart_drains_each_wave_and_waits_until_its_replacements_answer() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": 1}),
    )
    .await
    .empty(204);
    let drained = |w: &World| {
        w.app
            .routing
            .table()
            .drained
            .iter()
            .map(|e| e.container.clone())
            .collect::<Vec<_>>()
    };
    let routed = |w: &World| {
        w.app.routing.table().apps["demo"]
            .endpoints
            .iter()
            .map(|e| e.container.clone())
            .collect::<Vec<_>>()
    };
    let before = drained(&w).len();
    post(&w, "/v1/apps/demo/containers/restart", &w.owner, json!({}))
        .await
        .expect(200);
    // One web container at a time leaves the table and drains; workers are never routed.
    assert_eq!(drained(&w)[before..], ["demo_v2.web.1", "demo_v2.web.2"]);
    assert_eq!(routed(&w), ["demo_v2.web.1", "demo_v2.web.2"]);

    // A replacement that never answers stops the restart before the second wave.
    w.app.routing.fail_health_of("web.1");
    w.app
        .scheduler
        .engine()
        .containers
        .get_mut("demo_v2.web.2")
        .expect("web.2 runs")
        .env
        .insert("MARK".into(), "old".into());
    let res = post(
        &w,
        "/v1/apps/demo/containers/web/restart",
        &w.owner,
        json!({}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text);
    let detail = res.json()["detail"].as_str().expect("detail").to_owned();
    assert!(
        detail.contains("web.1 did not answer HTTP on port 5000"),
        "{detail}"
    );
    let engine = w.app.scheduler.engine();
    assert!(
        engine.containers["demo_v2.web.2"].env.contains_key("MARK"),
        "web.2 kept serving"
    );
    drop(engine);
    assert_eq!(routed(&w), ["demo_v2.web.1", "demo_v2.web.2"]);
}

// ---- users and tokens ---------------------------------------------------------------------

#[tokio::test]
async fn administrators_list_every_user() {
    let w = world().await;
    let body = get(&w, "/v1/users/?page_size=100", &w.admin)
        .await
        .expect(200);
    let users = results(&body);
    assert_eq!(
        pluck(&users, "username"),
        [
            json!("admin"),
            json!("owner"),
            json!("collab"),
            json!("other")
        ]
    );
    for u in &users {
        has_keys(u, USER_KEYS);
        assert_eq!(u["groups"], json!([]));
        assert_eq!(u["is_staff"], u["is_superuser"]);
    }
    assert_eq!(users[0]["is_superuser"], true);
    assert_eq!(users[1]["is_superuser"], false);
    assert_eq!(users[1]["email"], "owner@example.com");
    get(&w, "/v1/users/", &w.owner).await.is(403, forbidden());
    get(&w, "/v1/users/", "").await.is(401, unauthenticated());
    get(&w, "/v1/users/?page=2", &w.admin)
        .await
        .is(404, not_found());
}

/// Whether `token` still authenticates.
async fn works(w: &World, token: &str) -> bool {
    let res = get(w, "/v1/", token).await;
    match res.status {
        200 => true,
        401 => false,
        other => panic!("unexpected {other}: {}", res.text),
    }
}

#[tokio::test]
async fn regenerating_a_token_revokes_the_earlier_ones() {
    let w = world().await;
    let fresh = post(&w, "/v1/auth/tokens/", &w.owner, json!({}))
        .await
        .expect(200);
    has_keys(&fresh, &["token"]);
    let fresh = fresh["token"].as_str().expect("token").to_owned();
    assert_ne!(fresh, w.owner);
    assert!(!works(&w, &w.owner).await, "the earlier token is revoked");
    assert!(works(&w, &fresh).await);
    assert!(works(&w, &w.collab).await, "nobody else's");
    let apps = results(&get(&w, "/v1/apps", &fresh).await.expect(200));
    assert_eq!(pluck(&apps, "id"), [json!("demo")]);

    // Others only for administrators.
    post(
        &w,
        "/v1/auth/tokens/",
        &w.collab,
        json!({"username": "other"}),
    )
    .await
    .is(403, forbidden());
    post(&w, "/v1/auth/tokens/", &w.collab, json!({"all": true}))
        .await
        .is(403, forbidden());
    assert!(works(&w, &w.other).await);
    post(
        &w,
        "/v1/auth/tokens/",
        &w.admin,
        json!({"username": "ghost"}),
    )
    .await
    .is(404, not_found());
    let theirs = post(
        &w,
        "/v1/auth/tokens/",
        &w.admin,
        json!({"username": "collab"}),
    )
    .await
    .expect(200);
    let theirs = theirs["token"].as_str().expect("token").to_owned();
    assert!(!works(&w, &w.collab).await);
    assert!(
        works(&w, &w.admin).await,
        "the administrator's own token stays"
    );
    // The answer is the named user's new token.
    let apps = results(&get(&w, "/v1/apps", &theirs).await.expect(200));
    assert_eq!(pluck(&apps, "id"), [json!("demo")]);
    w.post("/v1/apps", &w.admin, json!({"id": "admins-app"}))
        .await
        .expect(201);
    assert_eq!(
        results(&get(&w, "/v1/apps", &theirs).await.expect(200)).len(),
        1
    );

    // Everyone's, the administrator's included; the answer is the caller's new token.
    let mine = post(&w, "/v1/auth/tokens/", &w.admin, json!({"all": true}))
        .await
        .expect(200);
    let mine = mine["token"].as_str().expect("token").to_owned();
    for old in [&w.admin, &fresh, &theirs, &w.other] {
        assert!(!works(&w, old).await);
    }
    assert!(works(&w, &mine).await);
    assert_eq!(
        results(&get(&w, "/v1/apps", &mine).await.expect(200)).len(),
        2
    );
    post(&w, "/v1/auth/tokens/", &mine, json!({"all": "maybe"}))
        .await
        .is(400, field("all", "Must be a valid boolean."));
    call(&w, Method::POST, "/v1/auth/tokens/", "", None)
        .await
        .is(401, unauthenticated());
}

// ---- certificates -------------------------------------------------------------------------

#[tokio::test]
async fn certificates_are_stored_checked_and_never_answer_their_key() {
    let w = world().await;
    let res = post(
        &w,
        "/v1/certs",
        &w.owner,
        json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY}),
    )
    .await;
    let cert = res.expect(201);
    has_keys(&cert, CERT_KEYS);
    assert_eq!(cert["common_name"], "example.com");
    assert_eq!(cert["expires"], tls::EXPIRES);
    assert_eq!(cert["owner"], "owner");
    assert!(cert["id"].is_i64());
    is_deis_time(&cert["created"]);
    assert_eq!(cert["created"], cert["updated"]);
    assert!(!res.text.contains("PRIVATE"));

    // One certificate per common name, whoever asks.
    for token in [&w.owner, &w.other] {
        post(
            &w,
            "/v1/certs/",
            token,
            json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY}),
        )
        .await
        .is(
            409,
            json!({"detail": "A certificate for example.com already exists"}),
        );
    }
    // Another name the certificate covers; a wildcard; one without a common name.
    let www = post(
        &w,
        "/v1/certs/",
        &w.owner,
        json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY, "common_name": "WWW.example.com"}),
    )
    .await
    .expect(201);
    assert_eq!(www["common_name"], "www.example.com");
    let wild = post(
        &w,
        "/v1/certs/",
        &w.other,
        json!({"certificate": tls::WILDCARD_CERT, "key": tls::WILDCARD_KEY}),
    )
    .await
    .expect(201);
    assert_eq!(wild["common_name"], "*.apps.example.org");
    post(
        &w,
        "/v1/certs/",
        &w.other,
        json!({"certificate": tls::NOCN_CERT, "key": tls::NOCN_KEY}),
    )
    .await
    .is(
        400,
        field(
            "common_name",
            "The certificate has no common name: name the host it is for",
        ),
    );
    post(
        &w,
        "/v1/certs/",
        &w.other,
        json!({"certificate": tls::NOCN_CERT, "key": tls::NOCN_KEY, "common_name": "nocn.example.net"}),
    )
    .await
    .expect(201);

    // Lists show common names and expiry only: all for an administrator, else one's own.
    let listed = get(&w, "/v1/certs/?page_size=100", &w.admin)
        .await
        .expect(200);
    let listed = results(&listed);
    assert_eq!(
        listed,
        [
            json!({"common_name": "example.com", "expires": tls::EXPIRES}),
            json!({"common_name": "www.example.com", "expires": tls::EXPIRES}),
            json!({"common_name": "*.apps.example.org", "expires": tls::EXPIRES}),
            json!({"common_name": "nocn.example.net", "expires": tls::EXPIRES}),
        ]
    );
    let own = results(&get(&w, "/v1/certs", &w.other).await.expect(200));
    assert_eq!(
        pluck(&own, "common_name"),
        [json!("*.apps.example.org"), json!("nocn.example.net")]
    );
    assert!(results(&get(&w, "/v1/certs", &w.collab).await.expect(200)).is_empty());

    // Details for the owner or an administrator.
    assert_eq!(
        get(&w, "/v1/certs/example.com", &w.owner).await.expect(200),
        cert
    );
    assert_eq!(
        get(&w, "/v1/certs/example.com", &w.admin).await.expect(200),
        cert
    );
    get(&w, "/v1/certs/example.com", &w.other)
        .await
        .is(404, not_found());
    get(&w, "/v1/certs/nowhere.com", &w.admin)
        .await
        .is(404, not_found());
    assert_eq!(
        get(&w, "/v1/certs/*.apps.example.org", &w.other)
            .await
            .expect(200)["owner"],
        "other"
    );

    // At rest the key is sealed; the router gets it back opened.
    let stored = w.app.store.cert("example.com").await.expect("stored");
    assert!(stored.sealed_key.starts_with("v1:"));
    assert!(!stored.sealed_key.contains("PRIVATE"));
    assert!(!stored.chain.contains("PRIVATE"));
    let platform = Platform::new(
        w.app.store.clone(),
        w.app.scheduler.clone(),
        w.app.routing.clone(),
        platform_settings(),
    );
    let served = platform.tls_certificates().await.expect("opens");
    assert_eq!(served.len(), 4);
    assert_eq!(served[0].names, ["example.com"]);
    assert_eq!(served[0].chain_pem, tls::EXAMPLE_CERT);
    assert_eq!(served[0].key_pem, tls::EXAMPLE_KEY);
    assert_eq!(served[2].names, ["*.apps.example.org"]);
    assert_eq!(served[2].key_pem, tls::WILDCARD_KEY);
    // Every change is handed to the router at once.
    assert_eq!(w.app.routing.table().certificates, served);

    // Removal by the owner or an administrator.
    call(&w, Method::DELETE, "/v1/certs/example.com", &w.other, None)
        .await
        .is(404, not_found());
    let res = call(&w, Method::DELETE, "/v1/certs/example.com", &w.owner, None).await;
    res.empty(204);
    call(&w, Method::DELETE, "/v1/certs/example.com", &w.owner, None)
        .await
        .is(404, not_found());
    call(
        &w,
        Method::DELETE,
        "/v1/certs/nocn.example.net",
        &w.admin,
        None,
    )
    .await
    .empty(204);
    assert_eq!(platform.tls_certificates().await.expect("opens").len(), 2);
    let handed: Vec<Vec<String>> = w
        .app
        .routing
        .table()
        .certificates
        .iter()
        .map(|c| c.names.clone())
        .collect();
    assert_eq!(handed, [["www.example.com"], ["*.apps.example.org"]]);
    get(&w, "/v1/certs", "").await.is(401, unauthenticated());
}

#[tokio::test]
async fn certificates_that_do_not_parse_or_match_are_400() {
    let w = world().await;
    let add = |body: Value| post(&w, "/v1/certs", &w.owner, body);
    add(json!({})).await.is(
        400,
        json!({"certificate": ["This field is required."], "key": ["This field is required."]}),
    );
    add(json!({"certificate": tls::EXAMPLE_CERT, "key": 7}))
        .await
        .is(400, field("key", "Not a valid string."));
    add(json!({"certificate": "hello", "key": tls::EXAMPLE_KEY}))
        .await
        .is(
            400,
            field(
                "certificate",
                "Could not read a PEM certificate (-----BEGIN CERTIFICATE-----)",
            ),
        );
    add(json!({"certificate": tls::EXAMPLE_CERT, "key": "secret bytes"}))
        .await
        .is(
            400,
            field(
                "key",
                "Could not read a PEM private key (PKCS#8, RSA or EC PRIVATE KEY)",
            ),
        );
    for key in [tls::OTHER_KEY, tls::WILDCARD_KEY, tls::NOCN_KEY] {
        add(json!({"certificate": tls::EXAMPLE_CERT, "key": key}))
            .await
            .is(
                400,
                field("key", "The private key does not match the certificate"),
            );
    }
    let res = add(json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY, "common_name": "example.org"})).await;
    res.is(
        400,
        field(
            "common_name",
            "The certificate is not valid for example.org (it is for example.com, www.example.com)",
        ),
    );
    add(json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY, "common_name": "not a host"}))
        .await
        .is(
            400,
            field(
                "common_name",
                "Common name does not look like a lowercase hostname (a wildcard may start it: *.example.com)",
            ),
        );
    add(json!("a string")).await.expect(400);
    assert!(w.app.store.all_certs().await.expect("reads").is_empty());
}

// ---- cancel and passwd of another user, both generations ---------------------------------

/// A request of either generation.
fn as_gen(
    w: &World,
    v17: bool,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::RequestBuilder {
    if v17 {
        go(w, method, path, token, Some(body))
    } else {
        w.req(method, path, token).json(&body)
    }
}

#[tokio::test]
async fn cancelling_another_account_is_for_administrators_and_only_that_account() {
    for v17 in [false, true] {
        let w = world().await;
        let carol = w.app.user("carol").await;
        let cancel = |token: &str, body: Value| {
            send(as_gen(
                &w,
                v17,
                Method::DELETE,
                "/v1/auth/cancel/",
                token,
                body,
            ))
        };

        // A non-administrator naming someone else: 403, and nobody is deleted.
        cancel(&w.other, json!({"username": "carol"}))
            .await
            .is(403, forbidden());
        assert!(
            works(&w, &w.other).await && works(&w, &carol).await,
            "v17={v17}"
        );
        // An unknown name: 404, the caller stays.
        cancel(&w.admin, json!({"username": "ghost"}))
            .await
            .is(404, not_found());
        assert!(works(&w, &w.admin).await);
        // A user who still owns apps: 409, nothing deleted.
        cancel(&w.admin, json!({"username": "owner"})).await.is(
            409,
            json!({"detail": "owner still has applications assigned. Delete or transfer ownership"}),
        );
        assert!(works(&w, &w.owner).await && works(&w, &w.admin).await);
        assert_eq!(w.app.store.app("demo").await.expect("app").owner, "owner");

        // The administrator cancels carol: carol is gone, the administrator is not.
        cancel(&w.admin, json!({"username": "carol"}))
            .await
            .empty(204);
        assert!(!works(&w, &carol).await);
        assert!(w.app.store.user_by_name("carol").await.is_err());
        assert!(works(&w, &w.admin).await, "v17={v17}");
        assert!(
            w.app
                .store
                .user_by_name("admin")
                .await
                .expect("admin")
                .is_superuser
        );

        // Once the apps are transferred the owner can be cancelled too, with the grants and
        // certificates they hold.
        post(&w, "/v1/apps/demo/", &w.owner, json!({"owner": "collab"}))
            .await
            .expect(200);
        post(
            &w,
            "/v1/certs",
            &w.owner,
            json!({"certificate": tls::EXAMPLE_CERT, "key": tls::EXAMPLE_KEY}),
        )
        .await
        .expect(201);
        cancel(&w.admin, json!({"username": "owner"}))
            .await
            .empty(204);
        assert!(!works(&w, &w.owner).await);
        assert!(w.app.store.all_certs().await.expect("reads").is_empty());
        assert_eq!(w.app.store.app("demo").await.expect("app").owner, "collab");

        // Naming oneself, or nobody, cancels the caller (with their apps, as in v1.0).
        cancel(&w.collab, json!({"username": "collab"}))
            .await
            .empty(204);
        assert!(!works(&w, &w.collab).await);
        assert!(w.app.store.app("demo").await.is_err());
        cancel(&w.other, json!({})).await.empty(204);
        assert!(!works(&w, &w.other).await);
        assert!(works(&w, &w.admin).await);
    }
}

#[tokio::test]
async fn administrators_set_another_users_password_without_the_old_one() {
    for v17 in [false, true] {
        let w = world().await;
        let passwd = |token: &str, body: Value| {
            send(as_gen(
                &w,
                v17,
                Method::POST,
                "/v1/auth/passwd/",
                token,
                body,
            ))
        };
        passwd(
            &w.collab,
            json!({"username": "owner", "new_password": "taken"}),
        )
        .await
        .is(403, forbidden());
        passwd(&w.admin, json!({"username": "ghost", "new_password": "x"}))
            .await
            .is(404, not_found());
        passwd(&w.admin, json!({"username": "owner"}))
            .await
            .is(400, field("new_password", "This field is required."));
        assert!(works(&w, &w.owner).await);

        passwd(
            &w.admin,
            json!({"username": "owner", "new_password": "reset-pw"}),
        )
        .await
        .is(200, json!({"status": "password set"}));
        assert!(
            !works(&w, &w.owner).await,
            "the user's earlier tokens are revoked"
        );
        assert!(works(&w, &w.admin).await, "the administrator's are not");
        let login = |password: &'static str| {
            send(
                w.app
                    .http
                    .post(w.app.url("/v1/auth/login/"))
                    .form(&[("username", "owner"), ("password", password)]),
            )
        };
        login("pw-owner").await.expect(400);
        login("reset-pw").await.expect(200);
        // Naming oneself is the ordinary change: the current password is needed.
        passwd(
            &w.collab,
            json!({"username": "collab", "password": "wrong", "new_password": "x"}),
        )
        .await
        .expect(400);
        passwd(
            &w.collab,
            json!({"username": "collab", "password": "pw-collab", "new_password": "x"}),
        )
        .await
        .is(200, json!({"status": "password set"}));
    }
}
