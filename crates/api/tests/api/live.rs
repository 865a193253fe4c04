//! Bounded runs and the streaming extensions: followed logs and the attachable run.

use std::sync::atomic::Ordering;
use std::time::Duration;

use deis_domain::TtySize;
use deis_testkit::platform_settings;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the attachable run of `app` as `token`.
async fn attach(
    w: &World,
    app: &str,
    token: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = w
        .app
        .url(&format!("/v1/apps/{app}/run/attach"))
        .replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Authorization",
        format!("token {token}").parse().expect("a header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The next message that is not a ping, within 10 s.
async fn next(socket: &mut Socket) -> WsMessage {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a message");
        if !matches!(message, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return message;
        }
    }
}

fn stdout(text: &str) -> WsMessage {
    let mut frame = vec![1u8];
    frame.extend_from_slice(text.as_bytes());
    WsMessage::Binary(frame.into())
}

#[tokio::test]
async fn an_attached_run_streams_input_output_resizes_and_the_exit_code() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut socket = attach(&w, "demo", &w.collab).await.expect("upgrade");
    let first = json!({"command": "cat", "tty": true, "cols": 100, "rows": 30});
    socket
        .send(WsMessage::Text(first.to_string().into()))
        .await
        .expect("send");
    assert_eq!(next(&mut socket).await, stdout("ran cat\n"));
    socket
        .send(WsMessage::Binary(b"hello\n".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(next(&mut socket).await, stdout("hello\n"));
    let resize = json!({"resize": {"cols": 120, "rows": 40}});
    socket
        .send(WsMessage::Text(resize.to_string().into()))
        .await
        .expect("send");
    socket
        .send(WsMessage::Text(json!({"eof": true}).to_string().into()))
        .await
        .expect("send");
    let WsMessage::Text(end) = next(&mut socket).await else {
        panic!("the exit code is a text message");
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&end).expect("JSON"),
        json!({"exit_code": 0})
    );
    assert!(matches!(next(&mut socket).await, WsMessage::Close(_)));
    let size = |cols, rows| ("demo_v2.run.1".to_owned(), TtySize { cols, rows });
    assert_eq!(
        *w.app.scheduler.resizes.lock().expect("resizes"),
        vec![size(100, 30), size(120, 40)]
    );
    assert!(
        w.app
            .scheduler
            .attached
            .lock()
            .expect("attached")
            .is_empty()
    );
    let run = w.app.scheduler.engine().runs[0].clone();
    assert_eq!(
        (run.name.as_str(), run.command.as_str()),
        ("demo_v2.run.1", "cat")
    );
    drop(socket);

    // Authorized as the run: a stranger's handshake is 404, and nothing ran.
    match attach(&w, "demo", &w.other).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 404),
        other => panic!("a stranger attached: {other:?}"),
    }
    // A first message without command is refused like the run's body.
    let mut socket = attach(&w, "demo", &w.owner).await.expect("upgrade");
    socket
        .send(WsMessage::Text(json!({"tty": false}).to_string().into()))
        .await
        .expect("send");
    let WsMessage::Text(refused) = next(&mut socket).await else {
        panic!("the refusal is a text message");
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&refused).expect("JSON"),
        json!({"status": 400, "detail": "command: This field is required."})
    );
    assert_eq!(w.app.scheduler.engine().runs.len(), 1);
}

#[tokio::test]
async fn a_client_that_leaves_an_attached_run_stops_it() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut socket = attach(&w, "demo", &w.owner).await.expect("upgrade");
    let first = json!({"command": "sh"});
    socket
        .send(WsMessage::Text(first.to_string().into()))
        .await
        .expect("send");
    assert_eq!(next(&mut socket).await, stdout("ran sh\n"));
    assert_eq!(w.app.scheduler.attached.lock().expect("attached").len(), 1);
    drop(socket);
    for _ in 0..100 {
        if w.app
            .scheduler
            .attached
            .lock()
            .expect("attached")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        w.app
            .scheduler
            .attached
            .lock()
            .expect("attached")
            .is_empty(),
        "the run was stopped"
    );
}

#[tokio::test]
async fn attached_runs_count_against_the_concurrent_runs_of_an_app() {
    let w = world_with(deis_domain::PlatformSettings {
        quotas: deis_domain::Quotas {
            runs_per_app: 1,
            ..deis_domain::Quotas::default()
        },
        ..platform_settings()
    })
    .await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut socket = attach(&w, "demo", &w.owner).await.expect("upgrade");
    socket
        .send(WsMessage::Text(json!({"command": "sh"}).to_string().into()))
        .await
        .expect("send");
    assert_eq!(next(&mut socket).await, stdout("ran sh\n"));
    let mut second = attach(&w, "demo", &w.owner).await.expect("upgrade");
    second
        .send(WsMessage::Text(json!({"command": "sh"}).to_string().into()))
        .await
        .expect("send");
    let WsMessage::Text(refused) = next(&mut second).await else {
        panic!("the refusal is a text message");
    };
    let refused: serde_json::Value = serde_json::from_str(&refused).expect("JSON");
    assert_eq!(refused["status"], 429, "{refused}");
}

#[tokio::test]
async fn fifty_followers_of_one_app_all_see_a_new_line() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let mut followers = Vec::new();
    for _ in 0..50 {
        let res = w
            .req(
                Method::GET,
                "/v1/apps/demo/logs?follow=true&lines=1",
                &w.owner,
            )
            .send()
            .await
            .expect("follow");
        assert_eq!(res.status(), 200);
        followers.push(res);
    }
    for _ in 0..100 {
        if w.app.scheduler.followers.load(Ordering::SeqCst) == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.app.scheduler.followers.load(Ordering::SeqCst), 50);
    w.app.scheduler.print("demo_v2.web.1", "to everyone");
    let seen = futures_util::future::join_all(followers.iter_mut().map(|res| async move {
        let mut seen = String::new();
        read_until(res, &mut seen, &["demo[web.1]: to everyone"]).await;
        seen
    }))
    .await;
    assert_eq!(seen.len(), 50);
}
