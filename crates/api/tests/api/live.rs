//! Bounded runs and the streaming extensions: followed logs and the attachable run.

use std::sync::atomic::Ordering;
use std::time::Duration;

use deis_testkit::platform_settings;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn run_output_is_cut_at_the_limit_and_the_answer_says_so() {
    let w = world_with(deis_domain::PlatformSettings {
        run_output_limit: 8,
        ..platform_settings()
    })
    .await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let body = w
        .post(
            "/v1/apps/demo/run",
            &w.owner,
            json!({"command": "echo a long line"}),
        )
        .await
        .expect(200);
    assert_eq!(
        body,
        json!([
            0,
            "ran echo\n[deis: output cut after 8 bytes (run_output_limit)]\n"
        ])
    );
    let body = w
        .post("/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
        .await
        .expect(200);
    assert_eq!(
        body,
        json!([0, "ran ls\n"]),
        "output within the limit is whole"
    );
}

/// Reads a streamed answer until it holds every one of `wanted` (or fails after 10 s).
async fn read_until(res: &mut reqwest::Response, seen: &mut String, wanted: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted.iter().all(|w| seen.contains(w)) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} in:\n{seen}"))
            .expect("the stream reads")
            .unwrap_or_else(|| panic!("the stream ended without {wanted:?}:\n{seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn followed_logs_stream_events_and_container_lines_until_the_client_leaves() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut res = w
        .req(
            Method::GET,
            "/v1/apps/demo/logs?follow=true&lines=100",
            &w.collab,
        )
        .send()
        .await
        .expect("follow");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().ok(),
        Some("text/plain; charset=utf-8")
    );
    let mut seen = String::new();
    // The recent lines first: the deploy's event and the container's first line.
    read_until(
        &mut res,
        &mut seen,
        &[
            "deis[api]: owner deployed abc1234",
            "demo[web.1]: demo_v2.web.1 started",
        ],
    )
    .await;
    assert_eq!(w.app.scheduler.followers.load(Ordering::SeqCst), 1);
    // Then what happens: a config change's event, its new container, what it prints.
    w.set(&w.owner, "demo", json!({"A": "1"})).await;
    read_until(
        &mut res,
        &mut seen,
        &[
            "deis[api]: owner added A",
            "demo[web.1]: demo_v3.web.1 started",
        ],
    )
    .await;
    w.app.scheduler.print("demo_v3.web.1", "tick 1");
    read_until(&mut res, &mut seen, &["demo[web.1]: tick 1"]).await;
    assert_eq!(
        seen.matches("owner deployed abc1234").count(),
        1,
        "no line twice:\n{seen}"
    );
    // Every line is a whole log line.
    assert!(seen.ends_with('\n'));
    for line in seen.lines() {
        assert!(
            line.contains("deis[api]: ") || line.contains("demo[web.1]: "),
            "{line}"
        );
    }
    // The follower leaves: the engine's stream is released within seconds.
    drop(res);
    for _ in 0..100 {
        if w.app.scheduler.followers.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w.app.scheduler.followers.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn followed_logs_filter_by_type_and_number_and_check_their_parameters() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post("/v1/apps/demo/scale", &w.owner, json!({"web": 2}))
        .await
        .empty(204);
    let mut res = w
        .req(
            Method::GET,
            "/v1/apps/demo/logs?follow=1&type=web&num=2",
            &w.owner,
        )
        .send()
        .await
        .expect("follow");
    assert_eq!(res.status(), 200);
    let mut seen = String::new();
    read_until(&mut res, &mut seen, &["demo[web.2]: demo_v2.web.2 started"]).await;
    w.app.scheduler.print("demo_v2.web.1", "one");
    w.app.scheduler.print("demo_v2.web.2", "two");
    read_until(&mut res, &mut seen, &["demo[web.2]: two"]).await;
    assert!(
        !seen.contains("web.1") && !seen.contains("deis[api]"),
        "{seen}"
    );
    drop(res);

    for (query, detail) in [
        ("follow=maybe", "follow must be true or false"),
        (
            "follow=true&lines=0",
            "lines must be a whole number from 1 to 10000",
        ),
        (
            "follow=true&lines=x",
            "lines must be a whole number from 1 to 10000",
        ),
        ("follow=true&num=-1", "num must be a whole number from 1"),
        ("follow=true&type=a%20b", "type must be a process type"),
    ] {
        let res = w
            .get(&format!("/v1/apps/demo/logs?{query}"), &w.owner)
            .await;
        assert_eq!(res.status, 400, "{query}: {}", res.text);
        assert_eq!(res.json(), json!({ "detail": detail }), "{query}");
    }
    w.get("/v1/apps/demo/logs?follow=true", &w.other)
        .await
        .is(404, not_found());
    // Without follow the answer is the old one.
    let res = w.get("/v1/apps/demo/logs?follow=false", &w.owner).await;
    assert_eq!(res.status, 200);
    assert!(
        res.json()
            .as_str()
            .expect("a JSON string")
            .contains("deis[api]: owner deployed abc1234")
    );
}
