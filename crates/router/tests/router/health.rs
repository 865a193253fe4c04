//! Health: probes and their verdicts, containers joining and leaving, active checks, drains.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deis_domain::{Endpoint, Routing};
use deis_router::{Router, RouterSettings};
use http::StatusCode;
use tokio::net::TcpListener;

use crate::common::{Running, Upstream, client, eventually, fast_checks, full, get, routes, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_healthy_probes_the_path_and_says_why_not() {
    let router = Router::new(RouterSettings {
        probe_timeout: Duration::from_millis(200),
        ..RouterSettings::default()
    });
    let not_found = Upstream::start("not-found").await;
    not_found.set_health(404);
    let ok = Upstream::start("ok").await;
    router
        .await_healthy(
            &[ok.endpoint(), not_found.endpoint()],
            "healthz",
            Duration::from_secs(2),
        )
        .await
        .expect("200 and 404 are both below 500");
    assert!(ok.state.probes.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        ok.state.hits.load(Ordering::SeqCst),
        0,
        "only /healthz is probed"
    );

    let failing = Upstream::start("failing").await;
    failing.set_health(503);
    let refused = Upstream::start("refused").await;
    let refused_endpoint = refused.endpoint();
    refused.stop().await;
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_endpoint = Endpoint {
        container: "silent_v1.web.1".into(),
        addr: silent.local_addr().expect("addr"),
    };
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });

    let failures = router
        .await_healthy(
            &[
                failing.endpoint(),
                ok.endpoint(),
                refused_endpoint.clone(),
                silent_endpoint.clone(),
            ],
            "/healthz",
            Duration::from_millis(800),
        )
        .await
        .expect_err("three never answer below 500");
    held.abort();
    let reasons: Vec<(&str, &str)> = failures
        .iter()
        .map(|u| (u.endpoint.container.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "failing_v1.web.1",
                "answered status 503 Service Unavailable"
            ),
            ("refused_v1.web.1", "connection refused"),
            ("silent_v1.web.1", "no response within 200ms"),
        ]
    );
    assert!(
        failing.state.probes.load(Ordering::SeqCst) >= 3,
        "probed repeatedly until the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_containers_serve_until_a_new_one_is_healthy() {
    let (old, new) = (Upstream::start("old").await, Upstream::start("new").await);
    new.set_health(503);
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&old]).await;
    running
        .router
        .set_routes(routes("app", &["app.test"], &[new.endpoint()]))
        .await;
    let client = client();
    for _ in 0..5 {
        assert_eq!(
            get(&client, running.addr, "app.test", "/").await.body,
            "old"
        );
    }
    let state = Arc::clone(&new.state);
    eventually("the new container is probed", || {
        let state = Arc::clone(&state);
        async move { state.probes.load(Ordering::SeqCst) >= 2 }
    })
    .await;
    assert_eq!(
        get(&client, running.addr, "app.test", "/").await.body,
        "old"
    );

    new.set_health(200);
    let addr = running.addr;
    eventually("the new container gets traffic", || {
        let client = client.clone();
        async move { get(&client, addr, "app.test", "/").await.body == "new" }
    })
    .await;
    let old_hits = old.state.hits.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(
            get(&client, running.addr, "app.test", "/").await.body,
            "new"
        );
    }
    assert_eq!(
        old.state.hits.load(Ordering::SeqCst),
        old_hits,
        "the old one gets nothing new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_list_stops_old_containers_at_once() {
    let old = Upstream::start("old").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&old]).await;
    running
        .router
        .set_routes(routes("app", &["app.test"], &[]))
        .await;
    let answer = get(&client(), running.addr, "app.test", "/").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(old.state.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_take_failing_containers_out_and_bring_them_back() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let running = Running::start(fast_checks()).await;
    running.route_healthy("app", &["app.test"], &[&a, &b]).await;
    let client = client();
    let addr = running.addr;

    a.set_health(500);
    let probes = a.state.probes.load(Ordering::SeqCst);
    let state = Arc::clone(&a.state);
    eventually("two failed checks of a", || {
        let state = Arc::clone(&state);
        async move { state.probes.load(Ordering::SeqCst) >= probes + 3 }
    })
    .await;
    let hits = a.state.hits.load(Ordering::SeqCst);
    for _ in 0..6 {
        assert_eq!(get(&client, addr, "app.test", "/").await.body, "b");
    }
    assert_eq!(a.state.hits.load(Ordering::SeqCst), hits);

    a.set_health(200);
    eventually("a is back", || {
        let client = client.clone();
        async move { get(&client, addr, "app.test", "/").await.body == "a" }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_take_a_dead_container_out_before_traffic_finds_it() {
    let (dead, b) = (Upstream::start("dead").await, Upstream::start("b").await);
    let running = Running::start(fast_checks()).await;
    running
        .route_healthy("app", &["app.test"], &[&dead, &b])
        .await;
    dead.stop().await;
    let b_probes = b.state.probes.load(Ordering::SeqCst);
    let state = Arc::clone(&b.state);
    eventually("an active check round passes", || {
        let state = Arc::clone(&state);
        async move { state.probes.load(Ordering::SeqCst) >= b_probes + 2 }
    })
    .await;
    let client = client();
    for _ in 0..4 {
        let post = send(
            &client,
            running.addr,
            "POST",
            "app.test",
            "/echo",
            &[],
            full("x"),
        )
        .await;
        assert_eq!(post.status, StatusCode::OK, "no POST reaches the dead one");
        assert_eq!(post.body, "x");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_requests_in_flight() {
    let (old, new) = (Upstream::start("old").await, Upstream::start("new").await);
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&old]).await;
    let client = client();
    let slow = tokio::spawn({
        let (client, addr) = (client.clone(), running.addr);
        async move { get(&client, addr, "app.test", "/slow?600").await }
    });
    let state = Arc::clone(&old.state);
    eventually("the slow request reaches the old container", || {
        let state = Arc::clone(&state);
        async move { state.slow_started.load(Ordering::SeqCst) == 1 }
    })
    .await;

    running.route_healthy("app", &["app.test"], &[&new]).await;
    assert_eq!(
        get(&client, running.addr, "app.test", "/").await.body,
        "new"
    );
    running
        .router
        .drain(&[old.endpoint()], Duration::from_secs(10))
        .await;
    assert!(
        old.state.slow_done.load(Ordering::SeqCst),
        "drain returned before the request finished"
    );
    let answer = slow.await.expect("request task");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_gives_up_after_the_grace_period() {
    let (old, new) = (Upstream::start("old").await, Upstream::start("new").await);
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&old]).await;
    let slow = tokio::spawn({
        let (client, addr) = (client(), running.addr);
        async move { get(&client, addr, "app.test", "/slow?30000").await }
    });
    let state = Arc::clone(&old.state);
    eventually("the slow request reaches the old container", || {
        let state = Arc::clone(&state);
        async move { state.slow_started.load(Ordering::SeqCst) == 1 }
    })
    .await;
    running.route_healthy("app", &["app.test"], &[&new]).await;
    running
        .router
        .drain(&[old.endpoint()], Duration::from_millis(300))
        .await;
    assert!(!slow.is_finished(), "the request is still in flight");
    assert!(!old.state.slow_done.load(Ordering::SeqCst));
    slow.abort();
}
