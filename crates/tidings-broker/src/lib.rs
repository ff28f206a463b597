//! I/O-free broker core for tidings: topics and selectors, fan-out, history and resume,
//! slow-subscriber policy.
//!
//! This crate decides who gets which event, keeps history, and resumes clients from
//! `Last-Event-ID` with no gap and no duplicate. It does no I/O, reads no clock (time is a
//! [`Timestamp`] argument) and draws no random numbers (the id epoch is configuration), so it
//! is driven by plain method calls and tested deterministically. It is not a server: the
//! `tidings-server` crate drives it from tokio, renders [`Gap`] notices and keep-alives, and
//! moves frames to sockets.
//!
//! # Parts
//! - [`Hub`]: assigns sequences and ids ([`IdScheme`]), encodes each event once into shared
//!   [`bytes::Bytes`], appends to [`History`] (the in-memory [`MemoryHistory`] here) and
//!   applies [`Retention`]. One per broker.
//! - [`Shard`]: subscriptions ([`SubscriptionConfig`]: [`Selector`]s, a principal, an
//!   [`Authorizer`]), the [`SelectorIndex`], per-user sessions and bounded per-subscriber
//!   queues with an [`OverflowPolicy`]. The server runs several, each behind its own lock.
//! - [`Broker`]: one hub and one shard in one value, for simple uses and tests.
//! - [`Hooks`] for lifecycle and failed deliveries; [`HubStats`] and [`ShardStats`].
//!
//! The model (the publish path, the resume seam, the lag policies) is described in
//! `docs/BROKER.md`.
//!
//! # Example
//! ```
//! use tidings_broker::{Broker, BrokerConfig, Item, Message, Selector, SubscriptionConfig, Timestamp};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0x7e57));
//! let now = Timestamp::from_millis(0);
//! let reader = broker.subscribe(SubscriptionConfig::new().selector(Selector::parse("books/1")?), now)?;
//!
//! let published = broker.publish(Message::new(Event::new("new price")).topic("books/1"), now)?;
//! assert!(published.id().as_str().starts_with(broker.hub().id_scheme().prefix()));
//!
//! // The driver wakes exactly the subscribers that have something new…
//! let mut woken = Vec::new();
//! broker.take_woken(&mut woken);
//! assert_eq!(woken, [reader]);
//! // …and each takes every ready frame at once.
//! let mut items = Vec::new();
//! broker.drain(reader, &mut items)?;
//! assert!(matches!(&items[..], [Item::Event(e)] if e.frame() == published.frame()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod index;
pub mod selector;
mod template;

pub mod auth;
pub mod broker;
pub mod history;
pub mod hooks;
pub mod hub;
pub mod id;
pub mod item;
pub mod message;
pub mod shard;
pub mod stats;
pub mod time;

pub use auth::{AllowAll, Authorizer, SelectorAuthorizer};
pub use broker::{Broker, BrokerConfig, BrokerError};
pub use history::{History, HistoryError, MemoryHistory, Retention, Trimmed};
pub use hooks::{DisconnectReason, Hooks, NoHooks, UndeliveredReason};
pub use hub::{GapPolicy, Hub, HubConfig, PublishError, ReplayPlan, Start};
pub use id::{IdScheme, Seq, SubscriberId, UserId};
pub use index::SelectorIndex;
pub use item::{Gap, GapReason, Item};
pub use message::{Audience, Message, Published, PublishedParts};
pub use selector::{Selector, SelectorError, SelectorKind};
pub use shard::{
    DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_ITEMS, Drained, FanOut, OverflowPolicy, QueueLimits,
    ReplayCursor, ReplayStep, Shard, ShardConfig, ShardError, Subscribed, SubscriptionConfig,
    SubscriptionInfo,
};
pub use stats::{HubStats, ShardStats, TopTopics};
pub use time::Timestamp;
