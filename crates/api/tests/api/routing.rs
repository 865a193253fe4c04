//! The deploy pipeline as the router sees it: which containers are routed, the health gate
//! new containers pass, the drain of old ones, and the table after domain changes and
//! destroys (router double: `testkit::FakeRouting`).

use serde_json::json;

use crate::helpers::*;

/// Host names and `container:port` endpoints the router holds for `app`.
fn routes(w: &World, app: &str) -> Option<(Vec<String>, Vec<String>)> {
    let table = w.app.routing.table();
    table.apps.get(app).map(|r| {
        (
            r.hosts.clone(),
            r.endpoints
                .iter()
                .map(|e| format!("{}:{}", e.container, e.addr.port()))
                .collect(),
        )
    })
}

fn drained(w: &World) -> Vec<String> {
    w.app
        .routing
        .table()
        .drained
        .iter()
        .map(|e| e.container.clone())
        .collect()
}

#[tokio::test]
async fn a_deploy_routes_the_web_containers_on_their_port_and_workers_stay_out() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.post(
        "/v1/apps/demo/scale",
        &w.owner,
        json!({"web": 2, "worker": 1}),
    )
    .await
    .empty(204);
    assert_eq!(
        routes(&w, "demo"),
        Some((
            vec!["demo.deisapp.local".to_owned()],
            vec![
                "demo_v2.web.1:5000".to_owned(),
                "demo_v2.web.2:5000".to_owned()
            ]
        ))
    );

    w.set(&w.owner, "demo", json!({"PORT": "8080"})).await;
    let (_, endpoints) = routes(&w, "demo").expect("routed");
    assert_eq!(endpoints, vec!["demo_v3.web.1:8080", "demo_v3.web.2:8080"]);
    assert_eq!(
        drained(&w),
        vec!["demo_v2.web.1", "demo_v2.web.2"],
        "the old web containers drain after the switch (workers are never routed)"
    );
}

#[tokio::test]
async fn an_app_without_web_routes_its_cmd_containers() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/builds",
        &w.owner,
        json!({"image": "deis/example:latest"}),
    )
    .await
    .expect(201);
    let (_, endpoints) = routes(&w, "demo").expect("routed");
    assert_eq!(endpoints, vec!["demo_v2.cmd.1:5000"]);
}

#[tokio::test]
async fn a_release_whose_web_never_answers_is_refused_and_the_old_one_keeps_serving() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    let before = routes(&w, "demo");
    w.app.routing.fail_health_of("demo_v3.web");

    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"BROKEN": "1"}}),
        )
        .await;
    let body = res.expect(400);
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("web.1 did not answer HTTP on port 5000 at /"),
        "{detail}"
    );
    assert!(detail.contains("connection refused"), "{detail}");
    assert!(
        detail.contains("demo_v3.web.1 started"),
        "quotes the output: {detail}"
    );

    assert_eq!(w.releases("demo").await.len(), 2, "no release recorded");
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"]);
    assert_eq!(w.engine(), vec!["demo_v2.web.1"], "new containers removed");
    assert_eq!(routes(&w, "demo"), before, "routes untouched");
    assert!(drained(&w).is_empty());
    let config = w.get("/v1/apps/demo/config", &w.owner).await.expect(200);
    assert_eq!(config["values"], json!({}), "config unchanged");
}

#[tokio::test]
async fn a_first_web_deploy_that_never_answers_is_refused() {
    let w = world().await;
    w.app.routing.fail_health_of("demo_v2.web");
    let res = w
        .post(
            "/v1/apps/demo/builds",
            &w.owner,
            json!({
                "image": "deis/example:latest",
                "sha": "abc1234def5678",
                "procfile": {"web": "sleep 1000"},
            }),
        )
        .await;
    let body = res.expect(400);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("web.1 did not answer")),
        "{body}"
    );
    assert_eq!(w.releases("demo").await.len(), 1);
    assert!(w.ps("demo").await.is_empty());
    assert!(w.engine().is_empty());
}

#[tokio::test]
async fn a_cmd_worker_that_serves_nothing_still_deploys() {
    let w = world().await;
    w.app.routing.fail_health_of("demo_v");
    w.post(
        "/v1/apps/demo/builds",
        &w.owner,
        json!({"image": "deis/worker:latest"}),
    )
    .await
    .expect(201);
    w.set(&w.owner, "demo", json!({"TICK": "1"})).await;
    assert_eq!(w.ps("demo").await, vec!["cmd.1@v3 up"]);
    let logs = w
        .get("/v1/apps/demo/logs", &w.owner)
        .await
        .expect(200)
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        logs.contains("cmd containers do not answer on / yet; routed once they do"),
        "{logs}"
    );
}

#[tokio::test]
async fn an_explicit_health_check_path_makes_the_gate_strict_for_cmd() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/builds",
        &w.owner,
        json!({"image": "deis/example:latest"}),
    )
    .await
    .expect(201);
    w.app.routing.fail_health_of("demo_v3.cmd");
    let res = w
        .post(
            "/v1/apps/demo/config",
            &w.owner,
            json!({"values": {"HEALTHCHECK_URL": "/up"}}),
        )
        .await;
    let body = res.expect(400);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cmd.1 did not answer HTTP on port 5000 at /up")),
        "{body}"
    );
    assert_eq!(w.ps("demo").await, vec!["cmd.1@v2 up"]);
}

#[tokio::test]
async fn scaling_up_waits_for_health_and_scaling_down_drains() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.app.routing.fail_health_of("demo_v2.web.3");
    let res = w
        .post("/v1/apps/demo/scale", &w.owner, json!({"web": 3}))
        .await;
    res.expect(400);
    assert_eq!(w.ps("demo").await, vec!["web.1@v2 up"], "scale undone");
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);

    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 2}))
        .await
        .empty(204);
    let (_, endpoints) = routes(&w, "demo").expect("routed");
    assert_eq!(endpoints, vec!["demo_v2.web.1:5000", "demo_v2.web.2:5000"]);

    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 1}))
        .await
        .empty(204);
    let (_, endpoints) = routes(&w, "demo").expect("routed");
    assert_eq!(endpoints, vec!["demo_v2.web.1:5000"]);
    assert_eq!(drained(&w), vec!["demo_v2.web.2"]);
    assert_eq!(w.engine(), vec!["demo_v2.web.1"]);
}

#[tokio::test]
async fn domains_join_and_leave_the_app_hosts_and_destroy_forgets_the_app() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "deis/example:latest").await;
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "shop.example.com"}),
    )
    .await
    .expect(201);
    let (hosts, _) = routes(&w, "demo").expect("routed");
    assert_eq!(hosts, vec!["demo.deisapp.local", "shop.example.com"]);

    w.delete("/v1/apps/demo/domains/shop.example.com", &w.owner)
        .await
        .empty(204);
    let (hosts, _) = routes(&w, "demo").expect("routed");
    assert_eq!(hosts, vec!["demo.deisapp.local"]);

    w.delete("/v1/apps/demo", &w.owner).await.empty(204);
    assert_eq!(routes(&w, "demo"), None);
}

#[tokio::test]
async fn an_app_with_a_domain_but_no_containers_is_known_to_the_router() {
    let w = world().await;
    w.post(
        "/v1/apps/demo/domains",
        &w.owner,
        json!({"domain": "idle.example.com"}),
    )
    .await
    .expect(201);
    assert_eq!(
        routes(&w, "demo"),
        Some((
            vec![
                "demo.deisapp.local".to_owned(),
                "idle.example.com".to_owned()
            ],
            vec![]
        )),
        "known hosts without containers answer 503, not 404"
    );
}
