//! Noticing a client that hung up while its request still runs.
//!
//! actix-web keeps polling a handler whose client has gone until the handler answers, so a
//! `run` of a departed client would go on to its time limit. Each connection keeps a duplicate
//! of its socket (taken in `on_connect`); a long request races its work against a check of
//! that socket every half second, and drops the work (which removes its container) when the
//! peer has closed the connection.

use std::any::Any;
use std::future::Future;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use socket2::{SockRef, Socket};

/// How often a long request checks its client's connection.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// The client's end of a connection, as a duplicate of its socket.
#[derive(Clone)]
pub struct Peer(Arc<Socket>);

/// Keeps a duplicate of every plain TCP connection's socket in its extensions.
pub fn on_connect(conn: &dyn Any, extensions: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        match SockRef::from(tcp).try_clone() {
            Ok(socket) => {
                extensions.insert(Peer(Arc::new(socket)));
            }
            Err(e) => tracing::debug!(error = %e, "cannot watch a connection for hang-ups"),
        }
    }
}

impl Peer {
    /// The request's connection, when it is watched.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.conn_data::<Peer>().cloned()
    }

    /// Whether the client closed its end: a non-blocking peek reads end-of-stream (or fails)
    /// instead of "nothing yet".
    fn closed(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match self.0.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    /// Resolves once the client has hung up.
    pub async fn hung_up(self) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if self.closed() {
                return;
            }
        }
    }
}

/// Runs `work` to its end, or drops it and answers `None` once the client has hung up.
pub async fn unless_hung_up<F: Future>(req: &HttpRequest, work: F) -> Option<F::Output> {
    let Some(peer) = Peer::of(req) else {
        return Some(work.await);
    };
    tokio::select! {
        done = work => Some(done),
        () = peer.hung_up() => None,
    }
}
