//! Proxying: routing by host, spreading, headers, retries, upgrades, timeouts, logs, shutdown.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deis_domain::Routing;
use deis_router::RouterSettings;
use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Running, Upstream, client, eventually, full, get, routes, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_answers_404_and_503() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running
        .route_healthy("one", &["one.test", "One.Example.com"], &[&a])
        .await;
    let client = client();

    for host in [
        "one.test",
        "one.example.com",
        "ONE.Example.COM.:9999",
        "one.test:80",
    ] {
        let answer = get(&client, running.addr, host, "/").await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
        assert_eq!(answer.body, "a", "{host}");
    }

    let unknown = get(&client, running.addr, "other.test", "/").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, "no app is served at this host\n");
    assert!(unknown.headers.contains_key("x-request-id"));

    running
        .router
        .set_routes(routes("two", &["two.test"], &[]))
        .await;
    let empty = get(&client, running.addr, "two.test", "/").await;
    assert_eq!(empty.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(empty.body, "the app has no healthy container\n");

    running.router.remove_app("one").await;
    let removed = get(&client, running.addr, "one.test", "/").await;
    assert_eq!(removed.status, StatusCode::NOT_FOUND);
    assert_eq!(a.state.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_uri_routes_by_its_authority() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("one", &["one.test"], &[&a]).await;

    let stream = TcpStream::connect(running.addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = Request::get("http://One.Test/headers")
        .header(header::HOST, "elsewhere.test")
        .body(full(""))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let lines = String::from_utf8_lossy(&body);
    assert!(lines.contains("host: One.Test"), "{lines}");
    assert!(lines.contains("x-forwarded-host: One.Test"), "{lines}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_spread_over_three_containers() {
    let ups = [
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("c").await,
    ];
    let running = Running::start(RouterSettings::default()).await;
    running
        .route_healthy("three", &["three.test"], &[&ups[0], &ups[1], &ups[2]])
        .await;
    let client = client();
    let mut bodies = Vec::new();
    for _ in 0..30 {
        let answer = get(&client, running.addr, "three.test", "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        bodies.push(answer.body);
    }
    for up in &ups {
        let served = bodies.iter().filter(|b| **b == up.state.name).count();
        assert_eq!(served, 10, "round-robin gives {} a third", up.state.name);
        assert_eq!(up.state.hits.load(Ordering::SeqCst), 10);
    }
}

/// `name: value` lines of an upstream's `/headers` answer.
fn header_lines(body: &str) -> Vec<(&str, &str)> {
    body.lines().filter_map(|l| l.split_once(": ")).collect()
}

fn header<'a>(lines: &[(&str, &'a str)], name: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_and_request_ids() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("one", &["one.test"], &[&a]).await;
    let client = client();

    let answer = send(
        &client,
        running.addr,
        "GET",
        "One.Test:8080",
        "/headers",
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "spoofed.test"),
            ("x-request-id", "client-id-42"),
        ],
        full(""),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let lines = header_lines(&answer.body);
    assert_eq!(
        header(&lines, "x-forwarded-for"),
        ["203.0.113.7, 127.0.0.1"]
    );
    assert_eq!(header(&lines, "x-forwarded-proto"), ["http"]);
    assert_eq!(header(&lines, "x-forwarded-host"), ["One.Test:8080"]);
    assert_eq!(header(&lines, "host"), ["One.Test:8080"]);
    assert_eq!(header(&lines, "x-request-id"), ["client-id-42"]);
    assert_eq!(answer.headers["x-request-id"], "client-id-42");

    for sent in [None, Some("has spaces in it"), Some("quote\"")] {
        let extra: Vec<(&str, &str)> = sent.map(|id| ("x-request-id", id)).into_iter().collect();
        let answer = send(
            &client,
            running.addr,
            "GET",
            "one.test",
            "/headers",
            &extra,
            full(""),
        )
        .await;
        let lines = header_lines(&answer.body);
        let seen = header(&lines, "x-request-id");
        let echoed = answer.headers["x-request-id"].to_str().expect("ascii");
        assert_eq!(
            seen,
            [echoed],
            "the upstream and the client see the same id"
        );
        assert_eq!(echoed.len(), 36, "a generated UUID replaces {sent:?}");
        assert_eq!(header(&lines, "x-forwarded-for"), ["127.0.0.1"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("one", &["one.test"], &[&a]).await;
    let client = client();

    let answer = send(
        &client,
        running.addr,
        "GET",
        "one.test",
        "/headers",
        &[
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic eDp5"),
            ("x-end-to-end", "kept"),
        ],
        full(""),
    )
    .await;
    let lines = header_lines(&answer.body);
    for gone in [
        "connection",
        "x-secret",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "transfer-encoding",
    ] {
        assert!(
            header(&lines, gone).is_empty(),
            "{gone} reached the app: {lines:?}"
        );
    }
    assert_eq!(header(&lines, "x-end-to-end"), ["kept"]);

    let hop = get(&client, running.addr, "one.test", "/hop").await;
    assert_eq!(hop.status, StatusCode::OK);
    assert_eq!(hop.body, "a");
    assert_eq!(hop.headers["x-kept"], "1");
    for gone in ["x-up-secret", "keep-alive", "proxy-authenticate"] {
        assert!(!hop.headers.contains_key(gone), "{gone} reached the client");
    }
    assert!(
        hop.headers
            .get(header::CONNECTION)
            .is_none_or(|v| !v.as_bytes().eq_ignore_ascii_case(b"x-up-secret")),
        "the app's Connection header reached the client"
    );
}

/// A router routing `app.test` to a container that refuses connections (seen healthy before
/// it stopped) and then to `b`.
async fn dead_then_b() -> (Running, Upstream) {
    let dead = Upstream::start("dead").await;
    let b = Upstream::start("b").await;
    let running = Running::start(RouterSettings::default()).await;
    running
        .route_healthy("app", &["app.test"], &[&dead, &b])
        .await;
    dead.stop().await;
    (running, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_for_idempotent_requests_only() {
    let client = client();

    let (running, b) = dead_then_b().await;
    for _ in 0..4 {
        let answer = get(&client, running.addr, "app.test", "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "b");
    }
    assert_eq!(b.state.hits.load(Ordering::SeqCst), 4);

    let (running, b) = dead_then_b().await;
    let put = send(
        &client,
        running.addr,
        "PUT",
        "app.test",
        "/echo",
        &[],
        full("payload"),
    )
    .await;
    assert_eq!(
        put.status,
        StatusCode::OK,
        "a PUT whose body was not sent is retried"
    );
    assert_eq!(put.body, "payload");
    assert_eq!(b.state.hits.load(Ordering::SeqCst), 1);

    let (running, b) = dead_then_b().await;
    let post = send(
        &client,
        running.addr,
        "POST",
        "app.test",
        "/echo",
        &[],
        full("payload"),
    )
    .await;
    assert_eq!(
        post.status,
        StatusCode::BAD_GATEWAY,
        "a POST is not retried"
    );
    assert_eq!(post.body, "the app refused the connection\n");
    assert_eq!(b.state.hits.load(Ordering::SeqCst), 0);
    for _ in 0..3 {
        let post = send(
            &client,
            running.addr,
            "POST",
            "app.test",
            "/echo",
            &[],
            full("again"),
        )
        .await;
        assert_eq!(
            post.status,
            StatusCode::OK,
            "the refusing container was taken out"
        );
        assert_eq!(post.body, "again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_router() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("ws", &["ws.test"], &[&a]).await;

    let stream = TcpStream::connect(running.addr).await.expect("connect");
    let (mut ws, response) = tokio_tungstenite::client_async("ws://ws.test/ws", stream)
        .await
        .expect("WebSocket handshake through the router");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(response.headers().contains_key("x-request-id"));
    for i in 0..3 {
        let text = format!("hello {i}");
        ws.send(Message::text(text.clone())).await.expect("send");
        let echoed = ws.next().await.expect("a message").expect("no error");
        assert_eq!(echoed, Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    let echoed = ws.next().await.expect("a message").expect("no error");
    assert_eq!(echoed, Message::binary(vec![0u8, 1, 2, 255]));
    ws.close(None).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_change_serves_the_next_request() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&a]).await;
    let client = client();
    assert_eq!(get(&client, running.addr, "app.test", "/").await.body, "a");

    running
        .router
        .await_healthy(&[b.endpoint()], "/healthz", Duration::from_secs(5))
        .await
        .expect("b healthy");
    running
        .router
        .set_routes(routes("app", &["app.test"], &[b.endpoint()]))
        .await;
    for _ in 0..3 {
        assert_eq!(get(&client, running.addr, "app.test", "/").await.body, "b");
    }

    running
        .router
        .set_routes(routes("app", &["renamed.test"], &[b.endpoint()]))
        .await;
    assert_eq!(
        get(&client, running.addr, "app.test", "/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&client, running.addr, "renamed.test", "/").await.body,
        "b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_app_answers_504() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings {
        response_timeout: Duration::from_millis(300),
        ..RouterSettings::default()
    })
    .await;
    running.route_healthy("app", &["app.test"], &[&a]).await;
    let answer = get(&client(), running.addr, "app.test", "/slow?5000").await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer.body, "the app did not answer in time\n");
}

/// A writer appending to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_access_line_per_request() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&a]).await;
    let client = client();
    let ok = send(
        &client,
        running.addr,
        "GET",
        "App.Test",
        "/some/path?q=1",
        &[("x-request-id", "log-me-1")],
        full(""),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let missing = send(
        &client,
        running.addr,
        "DELETE",
        "nobody.test",
        "/x",
        &[("x-request-id", "log-me-2")],
        full(""),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let text = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    let access: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("deis_router::access"))
        .collect();
    assert_eq!(access.len(), 2, "{text}");
    let first = access[0];
    for part in [
        " INFO ",
        "request_id=log-me-1",
        "host=app.test",
        "method=GET",
        "path=/some/path",
        "status=200",
        &format!("upstream={}", a.addr),
        "latency_ms=",
    ] {
        assert!(first.contains(part), "{part} missing in {first}");
    }
    let second = access[1];
    for part in [
        "request_id=log-me-2",
        "host=nobody.test",
        "method=DELETE",
        "status=404",
        "upstream=-",
    ] {
        assert!(second.contains(part), "{part} missing in {second}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_lets_requests_finish() {
    let a = Upstream::start("a").await;
    let mut running = Running::start(RouterSettings::default()).await;
    running.route_healthy("app", &["app.test"], &[&a]).await;
    let client = client();
    let slow = tokio::spawn({
        let (client, addr) = (client.clone(), running.addr);
        async move { get(&client, addr, "app.test", "/slow?500").await }
    });
    let state = Arc::clone(&a.state);
    eventually("the slow request reaches the app", || {
        let state = Arc::clone(&state);
        async move { state.slow_started.load(Ordering::SeqCst) == 1 }
    })
    .await;
    running.shutdown();
    let addr = running.addr;
    eventually("the listener closes", || async move {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(!a.state.slow_done.load(Ordering::SeqCst), "still in flight");
    let answer = slow.await.expect("request task");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "a");
    running
        .task
        .await
        .expect("serve task")
        .expect("serve returns Ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_that_hangs_answers_504() {
    use std::net::SocketAddr;

    use deis_domain::Endpoint;
    use hyper::service::service_fn;

    // A listener with a backlog of 0 that answers one connection (the health probe), then
    // stops accepting: once its queue is full the kernel drops new SYNs and connects hang.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let (done, hold) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("the probe connects");
        let service = service_fn(|_| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(full("ok")))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
        let _ = hold.await;
        drop(listener);
    });
    let running = Running::start(RouterSettings {
        connect_timeout: Duration::from_millis(300),
        ..RouterSettings::default()
    })
    .await;
    let endpoint = Endpoint {
        container: "stuck_v1.web.1".into(),
        addr,
    };
    running
        .router
        .await_healthy(std::slice::from_ref(&endpoint), "/", Duration::from_secs(5))
        .await
        .expect("the probe was answered");
    running
        .router
        .set_routes(routes("stuck", &["stuck.test"], &[endpoint]))
        .await;
    let mut queued = Vec::new();
    let hung = tokio::task::spawn_blocking(move || {
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => queued.push(stream),
                Err(_) => return Some(queued),
            }
        }
        None
    })
    .await
    .expect("filling the queue");
    let queued = hung.expect("connects to a full accept queue hang");

    let answer = get(&client(), running.addr, "stuck.test", "/").await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer.body, "connecting to the app timed out\n");
    drop(queued);
    let _ = done.send(());
}
