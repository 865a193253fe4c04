//! What operators see: request ids, `/metrics`, `/readyz`, and the bounds on connections and
//! request bodies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deis_api::{Metrics, ServerLimits};
use deis_testkit::{api_settings, platform_settings, spawn_app, spawn_app_served};
use reqwest::Method;
use serde_json::{Value, json};

/// The value of one sample line `name{labels} value` whose labels include every one of `with`.
fn sample(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| with.iter().all(|w| l.contains(w)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every non-comment line is `name{labels} value` or `name value` with a number.
fn assert_prometheus_text(text: &str) {
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line:?}"
        );
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
        }
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("X-Request-Id", "deploy-42.a:b")
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "deploy-42.a:b");
    // Insane ids (spaces, too long) are replaced by a fresh UUID; so are missing ones.
    for sent in [Some("has space"), Some(&"x".repeat(200)[..]), None] {
        let mut req = app.http.get(app.url("/v1/apps"));
        if let Some(sent) = sent {
            req = req.header("X-Request-Id", sent);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 401);
        let id = res.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_ne!(Some(id.as_str()), sent);
    }
    // Errors answered before routing (a foreign API version) carry one too.
    let res = app
        .http
        .get(app.url("/v1/apps"))
        .header("X-Deis-Version", "2.0")
        .header("X-Request-Id", "r-405")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["x-request-id"], "r-405");
}

#[tokio::test]
async fn metrics_count_requests_by_route_method_and_status() {
    let app = spawn_app().await;
    let token = app.user("metrics-owner").await;
    let res = app
        .req(Method::POST, "/v1/apps", &token)
        .json(&json!({"id": "metered"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    let res = app
        .req(Method::POST, "/v1/apps/metered/builds", &token)
        .json(&json!({"image": "deis/example:latest"}))
        .send()
        .await
        .expect("build");
    assert_eq!(res.status(), 201);
    for _ in 0..3 {
        let res = app
            .http
            .get(app.url("/v1/apps/metered"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 401);
    }
    let res = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4",
        "Prometheus text format"
    );
    let text = res.text().await.expect("body");
    assert_prometheus_text(&text);
    let unauthorized = [
        "route=\"/v1/apps/{id}\"",
        "method=\"GET\"",
        "status=\"401\"",
    ];
    assert_eq!(
        sample(&text, "deis_http_requests_total", &unauthorized),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "deis_http_request_duration_seconds_count",
            &unauthorized
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "deis_http_requests_total",
            &["route=\"/v1/apps\"", "method=\"POST\"", "status=\"201\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "deis_deploy_duration_seconds_count",
            &["kind=\"build\"", "outcome=\"ok\""]
        ),
        Some(1.0)
    );
    // The first build scaled the app to one container, which the engine runs.
    assert_eq!(
        sample(&text, "deis_containers", &["state=\"up\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "deis_containers", &["state=\"crashed\""]),
        Some(0.0)
    );
}

#[tokio::test]
async fn metrics_ask_for_the_bearer_token_when_one_is_set() {
    let metrics = Metrics::new(prometheus::Registry::new(), Some("scrape-secret".into()))
        .expect("metrics register");
    let app = spawn_app_served(
        api_settings(),
        platform_settings(),
        ServerLimits::default(),
        metrics,
    )
    .await;
    let res = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.expect("json");
    assert!(body["detail"].is_string(), "{body}");
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("deis_http_requests_total")
    );
}

#[tokio::test]
async fn readyz_names_the_dependency_that_does_not_answer() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"database": "ok", "engine": "ok"})
    );
    app.scheduler.unreachable.store(true, Ordering::SeqCst);
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["engine"], "unavailable");
    assert_eq!(body["detail"], "not ready: engine not answering");
    // Liveness does not depend on the engine.
    let res = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    app.scheduler.unreachable.store(false, Ordering::SeqCst);
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), 200);
}

fn addr(app: &deis_testkit::TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

/// Sends the head of a request whose body will trickle, one byte now.
fn trickle_head(to: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(to).expect("connect");
    s.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .expect("write head");
    s
}

/// Everything the server sends until it closes (or `limit` passes).
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> String {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no close within {limit:?}: {e}; read so far {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_at_the_deadline() {
    let limits = ServerLimits {
        body_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let app = spawn_app_served(
        api_settings(),
        platform_settings(),
        limits,
        Metrics::standalone(),
    )
    .await;
    let to = addr(&app);
    let answer = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut s = trickle_head(to);
        // A byte now and then never finishes the body.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(500));
            let _ = s.write_all(b" ");
        }
        let answer = read_until_closed(&mut s, Duration::from_secs(10));
        (answer, started.elapsed())
    })
    .await
    .expect("trickler");
    let (answer, took) = answer;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("Request body was not received in time."),
        "{answer}"
    );
    assert!(took < Duration::from_secs(5), "cut after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped_while_healthz_answers() {
    let limits = ServerLimits {
        body_timeout: Duration::from_secs(3),
        connections_per_ip: 50,
        ..ServerLimits::default()
    };
    let app = spawn_app_served(
        api_settings(),
        platform_settings(),
        limits,
        Metrics::standalone(),
    )
    .await;
    let to = addr(&app);
    // 300 trickling connections from 127.0.0.1.
    let tricklers: Vec<TcpStream> =
        tokio::task::spawn_blocking(move || (0..300).map(|_| trickle_head(to)).collect())
            .await
            .expect("connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile another address (all of 127/8 is this host) is served at once.
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .build()
        .expect("client");
    let started = Instant::now();
    let res = other
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // All 300 end within the body deadline (plus slack): 250 closed at once, 50 answered 408.
    let outcomes = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let answers: Vec<String> = tricklers
            .into_iter()
            .map(|mut s| read_until_closed(&mut s, Duration::from_secs(10)))
            .collect();
        (answers, started.elapsed())
    })
    .await
    .expect("read");
    let (answers, took) = outcomes;
    let timed_out = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408"))
        .count();
    let closed = answers.iter().filter(|a| a.is_empty()).count();
    assert_eq!(timed_out, 50, "answered 408");
    assert_eq!(closed, 250, "closed without an answer");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    // The address may connect again once its connections are gone.
    let res = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_gets_400() {
    let app = spawn_app().await;
    let to = addr(&app);
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(to).expect("connect");
        s.write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        )
        .expect("write");
        read_until_closed(&mut s, Duration::from_secs(10))
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}
