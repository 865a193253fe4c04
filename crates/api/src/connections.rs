//! Bounds on what one client can hold open: connections per address, and the time a request
//! body may take to arrive. Together with actix's own bounds (5 s for a request head, 5 s of
//! idle keep-alive) no client holds a connection, or a file descriptor, for long without
//! sending a request at a reasonable pace.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Extensions;

/// Limits of the API's HTTP server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// The whole request body must arrive within this time; a slower one is answered 408 and
    /// its connection closed.
    pub body_timeout: Duration,
    /// Connections one client address may hold open at once (0 = no limit). Further ones are
    /// closed right after they are accepted.
    pub connections_per_ip: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(20),
            connections_per_ip: 128,
            shutdown_timeout: Duration::from_secs(60),
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenConnections {
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One accepted connection, counted while it lives (it sits in the connection's extensions,
/// dropped when the connection closes).
struct Counted {
    ip: IpAddr,
    open: OpenConnections,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut by_ip = self
            .open
            .by_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

impl OpenConnections {
    /// Called by actix for every accepted connection: counts it, or shuts it down when its
    /// address already holds `cap` connections (the server then sees it end at once).
    pub(crate) fn on_connect(&self, cap: usize, connection: &dyn Any, data: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip();
        let admitted = {
            let mut by_ip = self
                .by_ip
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let open = by_ip.entry(ip).or_insert(0);
            if cap == 0 || *open < cap {
                *open += 1;
                true
            } else {
                false
            }
        };
        if admitted {
            data.insert(Counted {
                ip,
                open: self.clone(),
            });
        } else {
            tracing::warn!(client = %ip, cap, "connection refused: too many open connections from this address");
            if let Err(e) = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both) {
                tracing::debug!(error = %e, "shutting a refused connection down failed");
            }
        }
    }
}
