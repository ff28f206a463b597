//! What a subscriber's queue yields: shared event frames and typed notices.
//!
//! ```
//! use tidings_broker::{Broker, BrokerConfig, GapReason, Item, Start, SubscriptionConfig, Timestamp};
//! use tidings_codec::EventId;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0));
//! let start = Start::Resume(EventId::new("from-yesterday")?);
//! let id = broker.subscribe(SubscriptionConfig::new().start(start), Timestamp::ZERO)?;
//! let mut items = Vec::new();
//! broker.drain(id, &mut items)?;
//! assert!(matches!(&items[..], [Item::Gap(gap)] if gap.reason == GapReason::UnknownId));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::message::Published;

/// One thing to send to a subscriber, in order.
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, Item, Message, Selector, SubscriptionConfig, Timestamp};
/// use tidings_codec::Event;
///
/// let mut broker = Broker::new(BrokerConfig::new(0));
/// let sub = broker.subscribe(SubscriptionConfig::new().selector(Selector::parse("t")?), Timestamp::ZERO)?;
/// broker.publish(Message::new(Event::new("hi")).topic("t"), Timestamp::ZERO)?;
/// let mut items = Vec::new();
/// broker.drain(sub, &mut items)?;
/// let Item::Event(event) = &items[0] else { panic!("expected an event") };
/// assert_eq!(&event.frame()[..], b"id:0-a1\ndata: hi\n\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An event: write [`Published::frame`] as is.
    Event(Published),
    /// Events were missed; the server renders this as an SSE event the client can see.
    Gap(Gap),
}

impl Item {
    /// The event, if this is one.
    ///
    /// ```
    /// use tidings_broker::{Gap, GapReason, Item};
    /// assert!(Item::Gap(Gap::new(GapReason::UnknownId, None)).event().is_none());
    /// ```
    #[must_use]
    pub fn event(&self) -> Option<&Published> {
        match self {
            Self::Event(event) => Some(event),
            Self::Gap(_) => None,
        }
    }
}

/// A notice that the subscriber missed events. Nothing is lost silently: every way an event
/// can fail to reach a connected subscriber that asked for it either disconnects the
/// subscriber (so its client resumes) or queues a `Gap`.
///
/// ```
/// use tidings_broker::{Gap, GapReason};
///
/// let gap = Gap::new(GapReason::Overflow, Some(3));
/// assert_eq!(gap.reason, GapReason::Overflow);
/// assert_eq!(gap.missed, Some(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// Why.
    pub reason: GapReason,
    /// How many events were skipped, when known. For [`GapReason::Trimmed`] this counts every
    /// missing event of history, not only those the subscription would have matched, so it is
    /// an upper bound.
    pub missed: Option<u64>,
}

impl Gap {
    /// A gap notice.
    ///
    /// See [`Gap`] for an example.
    #[must_use]
    pub const fn new(reason: GapReason, missed: Option<u64>) -> Self {
        Self { reason, missed }
    }
}

/// Why a subscriber missed events.
///
/// ```
/// use tidings_broker::GapReason;
/// assert_ne!(GapReason::UnknownId, GapReason::Trimmed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapReason {
    /// The `Last-Event-ID` is not one the hub knows (another epoch, trimmed publisher id, or
    /// never issued).
    UnknownId,
    /// Events after the resume position were trimmed or expired before they could be replayed.
    Trimmed,
    /// The queue overflowed and the oldest events were dropped (`DropOldest` policy).
    Overflow,
    /// The history backend failed while replaying ([`crate::Shard::abandon_replay`]).
    HistoryUnavailable,
}
