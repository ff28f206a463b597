//! [`SseBody`]: the `http_body::Body` of an SSE response fed by a hub subscription.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tidings_broker::{Drained, Gap, GapReason, Item};
use tidings_codec::{Event, EventType, KEEP_ALIVE};

use crate::hub::Subscription;

/// Event type of the notice a subscriber gets when events it asked for cannot be delivered
/// (unknown or too old `Last-Event-ID`, trimmed history, queue overflow with drop-oldest).
/// Its data is JSON: `{"reason": "unknown-id" | "trimmed" | "overflow" | "history-unavailable",
/// "missed": <count or null>}`. It has no `id:` field, so the client's last event id stays on
/// the last event it really received.
///
/// ```
/// assert_eq!(tidings_server::GAP_EVENT_TYPE, "tidings-gap");
/// ```
pub const GAP_EVENT_TYPE: &str = "tidings-gap";

/// The response body of one SSE connection.
///
/// Each poll drains every item the subscription has ready under one short lock and yields
/// them as one frame (copied together: cheaper than one frame each for the writer), so a
/// connection makes one write per batch instead of one per event.
/// Events are the hub's shared frames (a reference-count clone each); gap notices are rendered
/// as [`GAP_EVENT_TYPE`] events; an idle connection gets the keep-alive comment on the hub-wide
/// tick. When the peer goes away hyper drops the body, which unsubscribes.
///
/// Cancel safety: dropping the body unsubscribes; events not yet written are lost to this
/// connection, and the client gets them again by resuming with `Last-Event-ID`.
///
/// ```
/// use http_body_util::BodyExt;
/// use tidings_broker::{Message, SubscriptionConfig};
/// use tidings_codec::Event;
/// use tidings_server::Hub;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new(Default::default());
/// let mut body = hub.subscribe(SubscriptionConfig::new())?.into_body();
/// hub.publish(Message::new(Event::new("hi")).to_everyone())?;
/// let _opening = body.frame().await.expect("opening frame")?;
/// let frame = body.frame().await.expect("a frame")?.into_data().expect("data");
/// assert!(frame.ends_with(b"data: hi\n\n"));
/// # Ok(()) }
/// ```
pub struct SseBody {
    subscription: Subscription,
    pending: VecDeque<Bytes>,
    drained: Vec<Item>,
    closing: bool,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody")
            .field("subscription", &self.subscription)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl SseBody {
    pub(crate) fn new(subscription: Subscription) -> Self {
        let config = subscription.hub.config();
        let opening = match config.retry_hint_value() {
            Some(retry) => Event::default().with_retry(retry).encode(),
            // A comment first, so headers and the stream start reach the client at once.
            None => Bytes::from_static(KEEP_ALIVE),
        };
        let deadline =
            config.max_lifetime_value().map(|lifetime| Box::pin(tokio::time::sleep(lifetime)));
        Self {
            subscription,
            pending: VecDeque::from([opening]),
            drained: Vec::new(),
            closing: false,
            deadline,
        }
    }

    /// Moves everything the subscription has ready into `pending`; registers the waker when
    /// there is nothing. Returns whether the hub closed the subscription.
    fn refill(&mut self, cx: &mut Context<'_>) -> bool {
        let hub = &self.subscription.hub;
        let id = self.subscription.id;
        let mut state = hub.shard_state(self.subscription.shard);
        let drained = match state.shard.drain(id, &mut self.drained) {
            Ok(drained) => drained,
            // The shard no longer knows this subscriber: treat it as closed.
            Err(_) => return true,
        };
        let Some(conn) = state.conns.get_mut(&id) else { return true };
        let closed = !matches!(drained, Drained::Open);
        if self.drained.is_empty() && !closed {
            if conn.keep_alive_due {
                conn.keep_alive_due = false;
                self.pending.push_back(Bytes::from_static(KEEP_ALIVE));
            } else if !conn.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                // Registered under the shard lock, so a publish after we unlock finds it.
                conn.waker = Some(cx.waker().clone());
            }
        } else {
            conn.keep_alive_due = false;
            // Counted under the lock already held, for the admin status.
            conn.sent += self.drained.len() as u64;
        }
        drop(state);
        for item in self.drained.drain(..) {
            match item {
                Item::Event(event) => self.pending.push_back(event.frame().clone()),
                Item::Gap(gap) => self.pending.push_back(render_gap(&gap)),
                // Future item kinds carry nothing for the wire yet.
                _ => {}
            }
        }
        closed
    }
}

impl SseBody {
    /// Everything pending as one frame: one poll and one buffer for the writer however many
    /// events are ready, at the price of copying them once (about 100 bytes each, less than
    /// handing each on as a frame of its own costs).
    fn take_pending(&mut self) -> Option<Bytes> {
        if self.pending.len() <= 1 {
            return self.pending.pop_front();
        }
        let total = self.pending.iter().map(Bytes::len).sum();
        let mut joined = bytes::BytesMut::with_capacity(total);
        for frame in self.pending.drain(..) {
            joined.extend_from_slice(&frame);
        }
        Some(joined.freeze())
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(frame) = this.take_pending() {
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            if this.closing {
                return Poll::Ready(None);
            }
            if let Some(retry) = this.subscription.hub.shutdown_retry() {
                // Graceful shutdown: flush what is ready, tell the client when to come back.
                this.refill(cx);
                this.pending.push_back(Event::default().with_retry(retry).encode());
                this.closing = true;
                continue;
            }
            if let Some(deadline) = &mut this.deadline {
                if deadline.as_mut().poll(cx).is_ready() {
                    // Maximum lifetime reached: end the stream; the client reconnects and
                    // resumes from its last event id.
                    this.closing = true;
                    continue;
                }
            }
            this.closing = this.refill(cx);
            if this.pending.is_empty() && !this.closing {
                return Poll::Pending;
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.closing && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Renders a gap notice as an SSE event a browser can listen for (see [`GAP_EVENT_TYPE`]).
pub(crate) fn render_gap(gap: &Gap) -> Bytes {
    let reason = match gap.reason {
        GapReason::UnknownId => "unknown-id",
        GapReason::Trimmed => "trimmed",
        GapReason::Overflow => "overflow",
        GapReason::HistoryUnavailable => "history-unavailable",
        _ => "other",
    };
    let data = serde_json::json!({ "reason": reason, "missed": gap.missed });
    // The type is a constant without line breaks, so it always validates.
    let mut event = Event::new(data.to_string());
    if let Ok(kind) = EventType::new(GAP_EVENT_TYPE) {
        event = event.with_type(kind);
    }
    event.encode()
}
