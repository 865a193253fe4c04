//! The replica listener (PostgreSQL only): one thread with a connection of its own that
//! `LISTEN`s on the notice channel, drops what other replicas' notices make stale from the
//! read cache and passes their changes on to subscribers.
//!
//! libpq delivers notices without a query, but diesel only reads them when asked
//! (`notifications_iter` consumes what arrived and never waits), so the thread polls every
//! [`POLL`], and every [`HEARTBEAT`] runs a query: a connection that died quietly fails it.
//! After each heartbeat (and the notices that came before its answer) it confirms the
//! [`Liveness`] the cache is gated on; the cache trusts a confirmation for one second only,
//! so a stuck thread or a dead connection stops cached reads within that.
//!
//! On any failure the cache is emptied and bypassed; the thread reconnects, `LISTEN`s again,
//! empties the cache once more (a notice may have been missed while it was away), tells
//! subscribers [`Change::Everything`] and only then lets the cache serve again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tokio::sync::broadcast;

use crate::cache::{Liveness, ReadCache};
use crate::notice::{CHANNEL, Change, decode};

/// How often arrived notices are read.
const POLL: Duration = Duration::from_millis(10);
/// How often the connection is proven alive with a query.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// The heartbeat: any query proves the connection; this one is told apart from the pool's
/// `SELECT 1` tests in `pg_stat_statements` (the bench counts round trips per request there).
const HEARTBEAT_QUERY: &str = "SELECT pg_backend_pid()";
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// `application_name` of the listening session (operators and tests find it by that).
pub(crate) const APPLICATION_NAME: &str = "deis-listener";

/// The running listener; dropping it tells the thread to stop, which it does within one
/// [`POLL`] (or when a connection attempt or heartbeat under way ends: nobody waits for it).
#[derive(Debug)]
pub(crate) struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What the listening thread works with.
struct Listening {
    url: String,
    origin: String,
    cache: Arc<ReadCache>,
    gate: Arc<Liveness>,
    feed: broadcast::Sender<Change>,
    stop: Arc<AtomicBool>,
}

/// Starts listening on the database at `url` for notices of replicas other than `origin`.
pub(crate) fn spawn(
    url: String,
    origin: String,
    cache: Arc<ReadCache>,
    gate: Arc<Liveness>,
    feed: broadcast::Sender<Change>,
) -> std::io::Result<Listener> {
    let stop = Arc::new(AtomicBool::new(false));
    let listening = Listening {
        url,
        origin,
        cache,
        gate,
        feed,
        stop: stop.clone(),
    };
    std::thread::Builder::new()
        .name("deis-listener".into())
        .spawn(move || listening.run())?;
    Ok(Listener { stop })
}

impl Listening {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps `wait` in [`POLL`] steps; false when asked to stop meanwhile.
    fn pause(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(POLL);
        }
        !self.stopped()
    }

    fn run(self) {
        let mut backoff = POLL;
        let mut first = true;
        while !self.stopped() {
            match self.connect() {
                Ok(mut conn) => {
                    backoff = POLL;
                    // Whatever was cached before may have missed notices: start afresh.
                    self.cache.clear();
                    if !first {
                        let _ = self.feed.send(Change::Everything);
                    }
                    first = false;
                    self.gate.confirm();
                    tracing::debug!("listening for other replicas' changes");
                    let failure = self.serve(&mut conn);
                    self.gate.lost();
                    self.cache.clear();
                    match failure {
                        Some(e) => {
                            tracing::warn!(error = %e, "replica listener lost its connection; cache off until it reconnects")
                        }
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replica listener cannot connect; cache off");
                }
            }
            if !self.pause(backoff) {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn connect(&self) -> Result<PgConnection, String> {
        let mut conn = PgConnection::establish(&self.url).map_err(|e| e.to_string())?;
        conn.batch_execute(&format!(
            "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}"
        ))
        .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Reads notices until the connection fails (`Some(error)`) or the store stops (`None`).
    fn serve(&self, conn: &mut PgConnection) -> Option<String> {
        let mut beat = Instant::now();
        loop {
            if let Err(e) = self.drain(conn) {
                return Some(e);
            }
            if beat.elapsed() >= HEARTBEAT {
                if let Err(e) = conn.batch_execute(HEARTBEAT_QUERY) {
                    return Some(e.to_string());
                }
                // Notices sent before the answer came with it.
                if let Err(e) = self.drain(conn) {
                    return Some(e);
                }
                self.gate.confirm();
                beat = Instant::now();
            }
            if !self.pause(POLL) {
                return None;
            }
        }
    }

    /// Applies every notice that arrived.
    fn drain(&self, conn: &mut PgConnection) -> Result<(), String> {
        for notice in conn.notifications_iter() {
            let notice = notice.map_err(|e| e.to_string())?;
            let (origin, changes) = decode(&notice.payload);
            if origin == self.origin {
                continue;
            }
            self.cache.apply(&changes);
            for change in changes {
                let _ = self.feed.send(change);
            }
        }
        Ok(())
    }
}
