//! Bodies streamed through the router, never buffered: what goes to a container and what
//! goes back to the client, each bounded by an idle timeout.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::table::InFlight;

/// Errors of streamed bodies.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// A body stalled longer than the idle timeout.
#[derive(Debug)]
pub(crate) struct IdleTimeout;

impl fmt::Display for IdleTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("body idle timeout")
    }
}

impl StdError for IdleTimeout {}

/// `inner`, failing when no frame arrives for `timeout` while the consumer waits. The timer
/// exists only once the body had to wait.
#[derive(Debug)]
pub(crate) struct Idle<B> {
    inner: B,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<B> Idle<B> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
            armed: false,
        }
    }
}

impl<B> Body for Idle<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let timer = match &mut this.timer {
            Some(timer) => {
                if !this.armed {
                    timer.as_mut().reset(Instant::now() + this.timeout);
                }
                timer
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep(this.timeout))),
        };
        this.armed = true;
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(IdleTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body kept for a retry: it stays in the shared slot until an attempt's upstream
/// connection first asks for it.
#[derive(Debug)]
pub(crate) struct Retained {
    slot: Arc<Mutex<Option<Incoming>>>,
    timeout: Duration,
    hint: SizeHint,
}

impl Retained {
    /// Keeps `body`; `timeout` bounds its pauses once an attempt reads it.
    pub(crate) fn new(body: Incoming, timeout: Duration) -> Self {
        let hint = body.size_hint();
        Self {
            slot: Arc::new(Mutex::new(Some(body))),
            timeout,
            hint,
        }
    }

    /// The body for one attempt; `None` once an earlier attempt started reading it.
    pub(crate) fn attempt(&self) -> Option<UpBody> {
        let untouched = self.slot.lock().is_ok_and(|slot| slot.is_some());
        untouched.then(|| {
            UpBody::Held(Held {
                slot: Arc::clone(&self.slot),
                taken: None,
                timeout: self.timeout,
                hint: self.hint,
            })
        })
    }
}

/// One attempt's view of a [`Retained`] body.
#[derive(Debug)]
pub(crate) struct Held {
    slot: Arc<Mutex<Option<Incoming>>>,
    taken: Option<Idle<Incoming>>,
    timeout: Duration,
    hint: SizeHint,
}

/// What the router sends to a container.
#[derive(Debug)]
pub(crate) enum UpBody {
    /// No body.
    Empty,
    /// The client's body, streamed.
    Stream(Idle<Incoming>),
    /// The client's body, kept for a retry until it is first read.
    Held(Held),
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Stream(body) => Pin::new(body).poll_frame(cx),
            Self::Held(held) => {
                if held.taken.is_none() {
                    let body = held.slot.lock().ok().and_then(|mut slot| slot.take());
                    match body {
                        Some(body) => held.taken = Some(Idle::new(body, held.timeout)),
                        None => return Poll::Ready(None),
                    }
                }
                match &mut held.taken {
                    Some(body) => Pin::new(body).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Stream(body) => body.is_end_stream(),
            Self::Held(held) => held.taken.as_ref().is_some_and(Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Stream(body) => body.size_hint(),
            Self::Held(held) => held
                .taken
                .as_ref()
                .map_or_else(|| held.hint, Body::size_hint),
        }
    }
}

/// What the router answers a client.
#[derive(Debug)]
pub(crate) enum DownBody {
    /// A short body of the router's own (errors), or none.
    Full(Option<Bytes>),
    /// The container's response, streamed; the request counts as in flight until it ends.
    Upstream {
        /// The container's body.
        body: Idle<Incoming>,
        /// The in-flight count it holds.
        _flight: InFlight,
    },
}

impl DownBody {
    /// A body of the router's own.
    pub(crate) fn text(text: &'static str) -> Self {
        Self::Full(Some(Bytes::from_static(text.as_bytes())))
    }

    /// No body.
    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }
}

impl Body for DownBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Upstream { body, .. } => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(data) => data.is_none(),
            Self::Upstream { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Upstream { body, .. } => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::stream;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_idle_timeout() {
        let stalled = StreamBody::new(stream::pending::<Result<Frame<Bytes>, Infallible>>());
        let mut body = Idle::new(stalled, Duration::from_millis(30));
        let error = body
            .frame()
            .await
            .expect("a frame")
            .expect_err("an idle timeout");
        assert!(error.is::<IdleTimeout>());
    }

    #[tokio::test]
    async fn a_flowing_body_passes_through() {
        let chunks = (0..3).map(|i| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![i; 4]))));
        let body = Idle::new(
            StreamBody::new(stream::iter(chunks)),
            Duration::from_millis(30),
        );
        let bytes = body.collect().await.expect("no error").to_bytes();
        assert_eq!(&bytes[..], &[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    }
}
