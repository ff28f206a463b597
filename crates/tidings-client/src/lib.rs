//! A reconnecting Server-Sent Events client for tokio that follows the spec to the letter.
//!
//! `tidings-client` connects to any SSE endpoint over HTTP/1.1 or HTTP/2 (rustls TLS), decodes
//! the stream with [`tidings_codec`], and keeps it alive the way WHATWG HTML § 9.2 says a
//! browser's `EventSource` does: it reconnects after network errors and after a normal end of
//! the stream, waits the server's `retry:` time, resumes with `Last-Event-ID` (and stops
//! sending it after an empty `id:`), follows redirects within a limit, stops for good on
//! `204`, and fails, without retrying, on any other status or content type. On top of that it
//! adds exponential backoff with jitter, attempt and time limits, a read timeout for stalled
//! connections, request bodies for `POST`/`REPORT` streams, and helpers for tidings and
//! Mercure hubs.
//!
//! The main types:
//!
//! - [`EventSource`] (built with [`EventSourceBuilder`]): a [`futures_core::Stream`] of
//!   [`ClientItem`]s — [`Event`]s and typed notices (open, reconnecting, retry changed, gap,
//!   comment, event errors). [`EventSource::run`] drives it with [`Handlers`] instead:
//!   callbacks by event type, by topic, and for connect, disconnect and errors.
//! - [`Controller`]: restart or close a client from another task; a [`CancellationToken`]
//!   works too, and so does dropping the client.
//! - [`machine::Machine`]: the I/O-free core holding every protocol decision, for tests and
//!   for drivers of your own. [`Backoff`] computes delays with an injected [`JitterRng`].
//! - [`EventSource::tidings_hub`] and [`EventSource::mercure_hub`]: subscribe to topics, with
//!   each event's topics (the hub's `topic` field) and gap notices decoded.
//!
//! What it is not: a server (see `tidings-server`) or a browser polyfill; it does not follow
//! the `EventSource` JavaScript API's names where Rust has better shapes.
//!
//! ```no_run
//! use futures_util::StreamExt as _;
//! use tidings_client::{ClientItem, EventSource};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), tidings_client::Error> {
//!     let mut source = EventSource::tidings_hub("http://localhost:8080", ["news/*"])
//!         .read_timeout(std::time::Duration::from_secs(45))
//!         .build()?;
//!     while let Some(item) = source.next().await {
//!         match item? {
//!             ClientItem::Event(event) => {
//!                 println!("{} {:?}: {}", event.id(), event.topic(), event.data());
//!             }
//!             ClientItem::Gap(gap) => eprintln!("the hub lost events: {:?}", gap.reason),
//!             ClientItem::Reconnecting(r) => eprintln!("reconnecting in {:?}", r.delay),
//!             _ => {}
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Cancel safety
//!
//! Polling [`EventSource`] is cancel-safe (its state lives in the client, not in the `next()`
//! future). Dropping the client or cancelling it closes the connection; its place in the
//! stream is the [`Event::id`] of the last event you handled, which you pass to
//! [`EventSourceBuilder::last_event_id`] to resume. See [`EventSource`].

mod backoff;
mod builder;
mod error;
mod handlers;
mod hub;
mod item;
pub mod machine;
mod source;
mod transport;

pub use backoff::{Backoff, Jitter, JitterRng, MIN_STEP, SplitMix64};
pub use builder::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REDIRECTS, DEFAULT_RETRY, EventSourceBuilder,
};
pub use error::{BoxError, Error, ErrorKind};
pub use handlers::Handlers;
pub use hub::HubKind;
pub use item::{
    ClientItem, DataEncoding, Disconnect, Event, GAP_EVENT_TYPE, Gap, GapReason, Open,
    Reconnecting, StopReason, TOPIC_FIELD,
};
pub use machine::{Machine, Next, Verdict};
pub use source::{Controller, EventSource};
/// Re-exported so a cancellation token can be made without naming `tokio-util`.
pub use tokio_util::sync::CancellationToken;
