//! Real upstream servers, a running router and a client for the router's tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use deis_domain::{AppRoutes, Endpoint, Routing};
use deis_router::{Router, RouterSettings};
use futures_util::StreamExt;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Errors of test bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Bodies of test requests and responses.
pub type TestBody = BoxBody<Bytes, BoxError>;

/// A body of `text`.
pub fn full(text: impl Into<Bytes>) -> TestBody {
    Full::new(text.into()).map_err(|e| match e {}).boxed()
}

/// `len` bytes of the test pattern (`i % 251`), streamed in 64 KiB chunks.
pub fn pattern_body(len: usize) -> TestBody {
    const CHUNK: usize = 64 * 1024;
    let chunks = futures_util::stream::iter((0..len).step_by(CHUNK)).map(move |start| {
        let end = (start + CHUNK).min(len);
        let chunk: Vec<u8> = (start..end).map(|i| (i % 251) as u8).collect();
        Ok::<_, BoxError>(Frame::data(Bytes::from(chunk)))
    });
    BodyExt::boxed(StreamBody::new(chunks))
}

/// Reads a body, checking it is the test pattern; its length.
pub async fn check_pattern(mut body: Incoming) -> usize {
    let mut offset = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        if let Ok(data) = frame.into_data() {
            for (i, b) in data.iter().enumerate() {
                assert_eq!(*b, ((offset + i) % 251) as u8, "byte {}", offset + i);
            }
            offset += data.len();
        }
    }
    offset
}

/// What a test upstream saw and how it behaves.
#[derive(Default)]
pub struct State {
    /// Its name, the body of `/`.
    pub name: String,
    /// Requests other than health probes.
    pub hits: AtomicUsize,
    /// Health probes (`/healthz`).
    pub probes: AtomicUsize,
    /// Status of `/healthz`.
    pub health: AtomicU16,
    /// Slow requests started and finished.
    pub slow_started: AtomicUsize,
    /// Slow requests answered.
    pub slow_done: AtomicBool,
    /// Bytes `/echo` received.
    pub echoed: AtomicUsize,
    /// Headers of the last request to `/headers` or `/echo`.
    pub last_headers: Mutex<Option<HeaderMap>>,
}

/// A real HTTP/1.1 server on 127.0.0.1 with a few endpoints:
/// `/` (its name), `/healthz` (status `health`), `/headers` (request headers as lines),
/// `/echo` (the request body streamed back), `/big?N` (N pattern bytes), `/slow?MS` (answers
/// after MS milliseconds), `/hop` (a response with hop-by-hop headers), `/ws` (WebSocket echo).
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub state: Arc<State>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Starts one named `name`, healthy.
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            name: name.to_owned(),
            health: AtomicU16::new(200),
            ..State::default()
        });
        let task = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let mut connections = JoinSet::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |req| serve(Arc::clone(&state), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades()
                            .await;
                    });
                }
            }
        });
        Self { addr, state, task }
    }

    /// Its endpoint, as the controller would list it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            container: format!("{}_v1.web.1", self.state.name),
            addr: self.addr,
        }
    }

    /// Stops listening and closes every connection: connecting is refused from now on.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Sets the status of `/healthz`.
    pub fn set_health(&self, status: u16) {
        self.state.health.store(status, Ordering::SeqCst);
    }
}

fn query_number(req: &Request<Incoming>) -> u64 {
    req.uri().query().and_then(|q| q.parse().ok()).unwrap_or(0)
}

async fn serve(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        state.probes.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(state.health.load(Ordering::SeqCst)).expect("status");
        let mut response = Response::new(full("health"));
        *response.status_mut() = status;
        return Ok(response);
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    let response = match path.as_str() {
        "/headers" => {
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                .collect();
            lines.sort();
            *state.last_headers.lock().expect("lock") = Some(req.headers().clone());
            Response::new(full(lines.join("\n")))
        }
        "/echo" => {
            *state.last_headers.lock().expect("lock") = Some(req.headers().clone());
            let counted = Arc::clone(&state);
            let body = req.into_body().map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    counted.echoed.fetch_add(data.len(), Ordering::SeqCst);
                }
                frame
            });
            Response::new(body.map_err(BoxError::from).boxed())
        }
        "/big" => Response::new(pattern_body(query_number(&req) as usize)),
        "/slow" => {
            state.slow_started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(query_number(&req))).await;
            state.slow_done.store(true, Ordering::SeqCst);
            Response::new(full(state.name.clone()))
        }
        "/hop" => Response::builder()
            .header(header::CONNECTION, "x-up-secret")
            .header("x-up-secret", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("x-kept", "1")
            .body(full(state.name.clone()))
            .expect("response"),
        "/ws" => websocket(req),
        _ => Response::new(full(state.name.clone())),
    };
    Ok(response)
}

/// Accepts a WebSocket and echoes every message.
fn websocket(mut req: Request<Incoming>) -> Response<TestBody> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        let mut response = Response::new(full("not a websocket"));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
            if futures_util::SinkExt::send(&mut ws, message).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(full(""))
        .expect("response")
}

/// A router serving plain HTTP on 127.0.0.1.
pub struct Running {
    /// The router.
    pub router: Router,
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// The serve task.
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Starts a router with `settings`.
    pub async fn start(settings: RouterSettings) -> Self {
        let router = Router::new(settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let router = router.clone();
            async move {
                router
                    .serve(listener, async {
                        let _ = stopped.await;
                    })
                    .await
            }
        });
        Self {
            router,
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Asks it to stop serving.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Routes `app` at `hosts` to `upstreams` after they answered a health probe (so they
    /// get traffic at once).
    pub async fn route_healthy(&self, app: &str, hosts: &[&str], upstreams: &[&Upstream]) {
        let endpoints: Vec<Endpoint> = upstreams.iter().map(|u| u.endpoint()).collect();
        self.router
            .await_healthy(&endpoints, "/healthz", Duration::from_secs(5))
            .await
            .expect("upstreams healthy");
        self.router.set_routes(routes(app, hosts, &endpoints)).await;
    }
}

/// The routes of `app`.
pub fn routes(app: &str, hosts: &[&str], endpoints: &[Endpoint]) -> AppRoutes {
    AppRoutes {
        app: app.to_owned(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        endpoints: endpoints.to_vec(),
        health_path: "/healthz".to_owned(),
    }
}

/// A pooled HTTP client.
pub fn client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One answer: status, headers, body.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

/// Sends `method path` with `Host: host` and extra headers through the router at `addr`.
pub async fn send(
    client: &Client<HttpConnector, TestBody>,
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header(header::HOST, host);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(body).expect("request"))
        .await
        .expect("the router answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET path` with `Host: host`.
pub async fn get(
    client: &Client<HttpConnector, TestBody>,
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Answer {
    send(client, addr, "GET", host, path, &[], full("")).await
}

/// Settings with fast active checks, for tests that watch them work.
pub fn fast_checks() -> RouterSettings {
    RouterSettings {
        probe_interval: Duration::from_millis(100),
        probe_timeout: Duration::from_millis(500),
        ..RouterSettings::default()
    }
}

/// Polls `check` every 20 ms until it holds, for at most 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within 10 s");
}
