//! Large bodies stream through the router in both directions; nothing waits for a whole body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use deis_router::RouterSettings;
use futures_util::StreamExt;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::common::{BoxError, Running, Upstream, check_pattern, client, full};

const LEN: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Waits until `counter` is above zero.
async fn until_some(counter: &AtomicUsize) {
    while counter.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// 50 MB go up to an echoing app and come back through the router. The client's body waits
/// twice: at 8 MB until the app has received bytes, at 16 MB until the client has received
/// echoed bytes. A router that buffered a whole body in either direction would never let
/// that happen: the exchange would stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_stream_up_and_back_at_once() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("big", &["big.test"], &[&a]).await;

    let received = Arc::new(AtomicUsize::new(0));
    let (app, client_got) = (Arc::clone(&a.state), Arc::clone(&received));
    let chunks = futures_util::stream::iter((0..LEN).step_by(CHUNK)).then(move |start| {
        let (app, client_got) = (Arc::clone(&app), Arc::clone(&client_got));
        async move {
            if start == 8 * 1024 * 1024 {
                until_some(&app.echoed).await;
            }
            if start == 16 * 1024 * 1024 {
                until_some(&client_got).await;
            }
            let end = (start + CHUNK).min(LEN);
            let chunk: Vec<u8> = (start..end).map(|i| (i % 251) as u8).collect();
            Ok::<_, BoxError>(Frame::data(Bytes::from(chunk)))
        }
    });
    let request = Request::post(format!("http://{}/echo", running.addr))
        .header(header::HOST, "big.test")
        .body(BodyExt::boxed(StreamBody::new(chunks)))
        .expect("request");
    let exchange = async {
        let response = client().request(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::TRANSFER_ENCODING], "chunked");
        assert!(!response.headers().contains_key(header::CONTENT_LENGTH));
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("no error").into_data() {
                let offset = received.load(Ordering::SeqCst);
                for (i, b) in data.iter().enumerate() {
                    assert_eq!(*b, ((offset + i) % 251) as u8, "byte {}", offset + i);
                }
                received.fetch_add(data.len(), Ordering::SeqCst);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .expect("the exchange stalled: a body was buffered whole");
    assert_eq!(
        received.load(Ordering::SeqCst),
        LEN,
        "every byte came back, in order"
    );
    assert_eq!(a.state.echoed.load(Ordering::SeqCst), LEN);

    let seen = a
        .state
        .last_headers
        .lock()
        .expect("lock")
        .clone()
        .expect("headers");
    assert_eq!(
        seen[header::TRANSFER_ENCODING],
        "chunked",
        "the app got it chunked"
    );
    assert!(!seen.contains_key(header::CONTENT_LENGTH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_download_arrives_intact() {
    let a = Upstream::start("a").await;
    let running = Running::start(RouterSettings::default()).await;
    running.route_healthy("big", &["big.test"], &[&a]).await;
    let request = Request::get(format!("http://{}/big?{LEN}", running.addr))
        .header(header::HOST, "big.test")
        .body(full(""))
        .expect("request");
    let response = client().request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::TRANSFER_ENCODING], "chunked");
    assert_eq!(check_pattern(response.into_body()).await, LEN);
}
