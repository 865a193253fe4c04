//! Listeners: accept connections, serve HTTP/1.1 (with upgrades) and HTTP/2 on them, stop
//! gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::Shared;
use crate::proxy::{self, Conn};
use crate::settings::RouterSettings;

/// Pause after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The connection builder shared by every connection of a listener.
fn builder(settings: &RouterSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.client_idle_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves `listener` until `shutdown` completes, then lets in-flight requests finish for at
/// most `shutdown_grace`.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let proto = if tls.is_some() { "https" } else { "http" };
    let builder = Arc::new(builder(&shared.settings));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(
                        Arc::clone(&shared),
                        Arc::clone(&builder),
                        stream,
                        peer,
                        proto,
                        tls.clone(),
                        graceful.watcher(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let open = connections.len();
    let finished = tokio::time::timeout(shared.settings.shutdown_grace, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            still_open = connections.len(),
            "connections still busy after the shutdown grace period, closed"
        );
        connections.shutdown().await;
    } else {
        tracing::debug!(open, "listener stopped, connections finished");
    }
    Ok(())
}

/// Serves one client connection.
async fn connection(
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    proto: &'static str,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "TCP_NODELAY not set");
    }
    let timeout = shared.settings.client_idle_timeout;
    let conn = Arc::new(Conn::new(peer, proto));
    let service =
        service_fn(move |request| proxy::handle(Arc::clone(&shared), Arc::clone(&conn), request));
    let served = match tls {
        None => {
            watcher
                .watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service))
                .await
        }
        Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                watcher
                    .watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service))
                    .await
            }
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    if let Err(error) = served {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}
