//! SSE responses for handlers that stream their own events, without a hub: [`EventStream`]
//! (the response) and [`LastEventId`] (the extractor for the id a reconnecting client sends).
//!
//! Use them when an endpoint computes its own events (progress of a job, a query's live
//! results). Each event is encoded by `tidings-codec`, so fields are validated and multi-line
//! data is split correctly (unlike axum's own `sse` module, which panics on line breaks in
//! fields).
//!
//! ```
//! use futures_util::stream;
//! use tidings_codec::{Event, EventId};
//! use tidings_server::{EventStream, LastEventId};
//!
//! // A handler (with the `axum` feature, `LastEventId` is an extractor and `EventStream` a
//! // response): resume counting down after the client's last id.
//! async fn countdown(last: LastEventId) -> EventStream<impl futures_core::Stream<Item = Event>> {
//!     let start = last.as_str().and_then(|id| id.parse::<u32>().ok()).unwrap_or(10);
//!     EventStream::new(stream::iter((0..start).rev().filter_map(|n| {
//!         Some(Event::new(n.to_string()).with_id(EventId::new(n.to_string()).ok()?))
//!     })))
//! }
//! # #[cfg(feature = "axum")]
//! # { let app: axum::Router = axum::Router::new().route("/countdown", axum::routing::get(countdown)); drop(app); }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, HeaderValue, Response, header};
use http_body::{Body, Frame};
use tidings_codec::{Event, KEEP_ALIVE};

/// An SSE response body over a stream of [`Event`]s, with the spec's response headers.
///
/// Every event is encoded once as it is pulled; ready events are yielded back to back so hyper
/// batches them into one write. An optional keep-alive sends a comment when the stream has
/// been quiet for the period (one timer per response: fine for per-request streams; a hub's
/// connections share one tick instead).
///
/// Cancel safety: dropping the response drops the stream; no event is pulled after that.
///
/// ```
/// use http_body_util::BodyExt;
/// use tidings_codec::Event;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let events = futures_util::stream::iter([Event::new("a\nb")]);
/// let response = tidings_server::EventStream::new(events).into_http();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// let bytes = response.into_body().collect().await.expect("infallible").to_bytes();
/// assert_eq!(&bytes[..], b"data: a\ndata: b\n\n");
/// # }
/// ```
#[must_use]
pub struct EventStream<S> {
    events: Pin<Box<S>>,
    keep_alive: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    retry: Option<Bytes>,
    done: bool,
}

impl<S> std::fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("done", &self.done).finish_non_exhaustive()
    }
}

impl<S: Stream<Item = Event> + Send + 'static> EventStream<S> {
    /// A response streaming `events`; it ends when the stream ends.
    ///
    /// See [`EventStream`] for an example.
    pub fn new(events: S) -> Self {
        Self { events: Box::pin(events), keep_alive: None, retry: None, done: false }
    }

    /// Sends a keep-alive comment after `period` without an event. Default: none. Call it
    /// inside a tokio runtime (it starts a timer).
    pub fn keep_alive(mut self, period: Duration) -> Self {
        self.keep_alive = Some((period, Box::pin(tokio::time::sleep(period))));
        self
    }

    /// Opens the stream with a `retry:` hint. Default: none.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(Event::default().with_retry(retry).encode());
        self
    }

    /// The HTTP response: status 200, `Content-Type: text/event-stream`,
    /// `Cache-Control: no-cache`, `X-Accel-Buffering: no`, and this stream as the body.
    ///
    /// See [`EventStream`] for an example.
    pub fn into_http(self) -> Response<Self> {
        let mut response = Response::new(self);
        insert_event_stream_headers(response.headers_mut());
        response
    }
}

/// The headers every event-stream response of this crate carries: `Content-Type:
/// text/event-stream`, `Cache-Control: no-cache` (a cached stream would replay stale
/// events), and `X-Accel-Buffering: no` (nginx would otherwise hold events back until its
/// buffer fills). A caller may replace `Cache-Control` afterwards (the Mercure API does).
pub(crate) fn insert_event_stream_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

impl<S: Stream<Item = Event>> Body for EventStream<S> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(retry) = this.retry.take() {
            return Poll::Ready(Some(Ok(Frame::data(retry))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        match this.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(event)) => {
                if let Some((period, timer)) = &mut this.keep_alive {
                    timer.as_mut().reset(tokio::time::Instant::now() + *period);
                }
                Poll::Ready(Some(Ok(Frame::data(event.encode()))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some((period, timer)) = &mut this.keep_alive {
                    if timer.as_mut().poll(cx).is_ready() {
                        timer.as_mut().reset(tokio::time::Instant::now() + *period);
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.retry.is_none()
    }
}

#[cfg(feature = "axum")]
impl<S: Stream<Item = Event> + Send + 'static> axum::response::IntoResponse for EventStream<S> {
    fn into_response(self) -> axum::response::Response {
        self.into_http().map(axum::body::Body::new)
    }
}

/// The `Last-Event-ID` a reconnecting client sent (none when absent or empty); with the
/// `axum` feature it is also an extractor.
///
/// ```
/// let (head, ()) = http::Request::builder().header("last-event-id", "41").body(()).expect("request").into_parts();
/// let last = tidings_server::LastEventId::from_headers(&head.headers);
/// assert_eq!(last.as_str(), Some("41"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastEventId(Option<String>);

impl LastEventId {
    /// Reads the header from a request head; absent, empty or undecodable means none.
    ///
    /// ```
    /// let (head, ()) = http::Request::new(()).into_parts();
    /// assert_eq!(tidings_server::LastEventId::from_headers(&head.headers).as_str(), None);
    /// ```
    #[must_use]
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let id = headers
            .get("last-event-id")
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        Self(id)
    }

    /// The id, if the client sent one.
    ///
    /// See [`LastEventId`] for an example.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LastEventId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}
