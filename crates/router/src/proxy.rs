//! One request through the router: find the app by host, pick a healthy container, forward
//! with the proxy headers, stream the answer back, log one access line.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;

use crate::Shared;
use crate::body::{DownBody, Idle, Retained, UpBody};
use crate::headers::{self, X_REQUEST_ID};
use crate::health::io_kind;
use crate::table::{InFlight, Upstream, normalize_host};

/// The pooled client requests to containers go through.
pub(crate) type UpstreamClient = Client<HttpConnector, UpBody>;

/// What the router knows of a client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The client's IP address, as `X-Forwarded-For` appends it.
    pub(crate) peer: HeaderValue,
    /// `http` or `https`, as `X-Forwarded-Proto` says.
    pub(crate) proto: &'static str,
}

impl Conn {
    /// A connection from `peer` over `proto`.
    pub(crate) fn new(peer: SocketAddr, proto: &'static str) -> Self {
        let ip = peer.ip().to_canonical().to_string();
        Self {
            peer: HeaderValue::from_str(&ip).expect("an IP address is a valid header value"),
            proto,
        }
    }
}

/// The request's body as attempts send it.
enum Sending {
    /// None: any attempt sends none.
    Empty,
    /// Streamed once: no retry.
    Once(Option<Incoming>),
    /// Kept until first read: retried while untouched.
    Retained(Retained),
}

/// Methods retried on another container when connecting to one was refused.
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A short answer of the router's own.
fn reply(status: StatusCode, text: &'static str, id: &HeaderValue) -> Response<DownBody> {
    let mut response = Response::new(DownBody::text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(&X_REQUEST_ID, id.clone());
    response
}

/// The URI of a request to `authority`.
fn upstream_uri(authority: &Authority, path: Option<&PathAndQuery>) -> Option<Uri> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(
        path.cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).ok()
}

/// Serves one request; never fails (errors are answers).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    request: Request<Incoming>,
) -> Result<Response<DownBody>, std::convert::Infallible> {
    let started = Instant::now();
    let id = headers::request_id(request.headers());
    let method = request.method().clone();
    let path = request.uri().path_and_query().cloned();
    let host_value = match request.uri().authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => request.headers().get(header::HOST).cloned(),
    };
    let host = host_value
        .as_ref()
        .map(|h| normalize_host(h.to_str().unwrap_or_default()));
    let (response, upstream) = match (&host, &host_value) {
        (Some(host), Some(value)) if !host.is_empty() => {
            forward(&shared, &conn, request, host, value, &id).await
        }
        _ => (
            reply(StatusCode::BAD_REQUEST, "missing Host header\n", &id),
            None,
        ),
    };
    tracing::info!(
        target: "deis_router::access",
        request_id = %id.to_str().unwrap_or_default(),
        host = %host.as_deref().unwrap_or("-"),
        method = %method,
        path = %path.as_ref().map_or("-", PathAndQuery::path),
        status = response.status().as_u16(),
        upstream = %OrDash(upstream),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}

/// Forwards a request for `host`; the answer and the container that gave it.
async fn forward(
    shared: &Shared,
    conn: &Conn,
    mut request: Request<Incoming>,
    host: &str,
    host_value: &HeaderValue,
    id: &HeaderValue,
) -> (Response<DownBody>, Option<SocketAddr>) {
    let picked = shared.table.with_entry(host, |entry| {
        entry
            .pick(&[])
            .map(|u| (InFlight::new(u), entry.has_alternatives()))
    });
    let (mut flight, alternatives) = match picked {
        None => {
            return (
                reply(StatusCode::NOT_FOUND, "no app is served at this host\n", id),
                None,
            );
        }
        Some(None) => {
            return (
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the app has no healthy container\n",
                    id,
                ),
                None,
            );
        }
        Some(Some(picked)) => picked,
    };

    let upgrade =
        request.version() <= Version::HTTP_11 && headers::wants_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    headers::set_forwarded(
        &mut parts.headers,
        &conn.peer,
        conn.proto,
        Some(host_value.clone()),
    );
    parts.headers.insert(&X_REQUEST_ID, id.clone());
    if parts.uri.authority().is_some() || !parts.headers.contains_key(header::HOST) {
        parts.headers.insert(header::HOST, host_value.clone());
    }
    let idle = shared.settings.body_idle_timeout;
    let mut sending = if body.is_end_stream() {
        Sending::Empty
    } else if alternatives && idempotent(&parts.method) {
        Sending::Retained(Retained::new(body, idle))
    } else {
        Sending::Once(Some(body))
    };
    let retry_possible = alternatives && !matches!(sending, Sending::Once(_));
    let mut tried: Vec<Arc<Upstream>> = Vec::new();

    let mut response = loop {
        let addr = flight.upstream().endpoint.addr;
        let Some(uri) = upstream_uri(&flight.upstream().authority, parts.uri.path_and_query())
        else {
            return (
                reply(StatusCode::BAD_REQUEST, "bad request target\n", id),
                None,
            );
        };
        let body = match &mut sending {
            Sending::Empty => Some(UpBody::Empty),
            Sending::Once(body) => body.take().map(|b| UpBody::Stream(Idle::new(b, idle))),
            Sending::Retained(retained) => retained.attempt(),
        };
        let Some(body) = body else {
            return (
                reply(
                    StatusCode::BAD_GATEWAY,
                    "the app refused the connection\n",
                    id,
                ),
                Some(addr),
            );
        };
        let mut attempt = Request::new(body);
        *attempt.method_mut() = parts.method.clone();
        *attempt.uri_mut() = uri;
        *attempt.headers_mut() = if retry_possible {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        let sent = tokio::time::timeout(
            shared.settings.response_timeout,
            shared.client.request(attempt),
        )
        .await;
        let error = match sent {
            Ok(Ok(response)) => break response,
            Err(_) => {
                return (
                    reply(
                        StatusCode::GATEWAY_TIMEOUT,
                        "the app did not answer in time\n",
                        id,
                    ),
                    Some(addr),
                );
            }
            Ok(Err(error)) => error,
        };
        let kind = io_kind(&error);
        if error.is_connect() && kind == Some(io::ErrorKind::ConnectionRefused) {
            if flight.upstream().mark_down() {
                tracing::warn!(container = %flight.upstream().endpoint.container, %addr, "container refused a connection, taken out");
            }
            if retry_possible && tried.len() < shared.settings.retries {
                tried.push(Arc::clone(flight.upstream()));
                let next = shared
                    .table
                    .with_entry(host, |entry| entry.pick(&tried).map(InFlight::new))
                    .flatten();
                if let Some(next) = next {
                    flight = next;
                    continue;
                }
            }
            return (
                reply(
                    StatusCode::BAD_GATEWAY,
                    "the app refused the connection\n",
                    id,
                ),
                Some(addr),
            );
        }
        if error.is_connect() && kind == Some(io::ErrorKind::TimedOut) {
            return (
                reply(
                    StatusCode::GATEWAY_TIMEOUT,
                    "connecting to the app timed out\n",
                    id,
                ),
                Some(addr),
            );
        }
        tracing::debug!(%addr, error = %error, "upstream request failed");
        return (
            reply(StatusCode::BAD_GATEWAY, "the app failed to answer\n", id),
            Some(addr),
        );
    };

    let addr = flight.upstream().endpoint.addr;
    *response.version_mut() = Version::HTTP_11;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return (
                reply(
                    StatusCode::BAD_GATEWAY,
                    "the app switched protocols unasked\n",
                    id,
                ),
                Some(addr),
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let _flight = flight;
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                    if let Err(error) =
                        tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        tracing::debug!(%addr, %error, "upgraded connection ended");
                    }
                }
                Err(error) => tracing::debug!(%addr, %error, "upgrade failed"),
            }
        });
        let (mut head, _) = response.into_parts();
        headers::strip_hop_by_hop(&mut head.headers, true);
        head.headers.insert(&X_REQUEST_ID, id.clone());
        return (Response::from_parts(head, DownBody::empty()), Some(addr));
    }
    let (mut head, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut head.headers, false);
    head.headers.insert(&X_REQUEST_ID, id.clone());
    let body = DownBody::Upstream {
        body: Idle::new(body, idle),
        _flight: flight,
    };
    (Response::from_parts(head, body), Some(addr))
}

/// Shows an optional value, or `-`.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}
