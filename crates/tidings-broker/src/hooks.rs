//! Lifecycle and delivery-failure callbacks: the [`Hooks`] trait.
//!
//! Hooks are set per shard ([`crate::ShardConfig::hooks`]) and shared by reference count.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tidings_broker::{Broker, BrokerConfig, Hooks, SubscriberId, SubscriptionConfig, Timestamp};
//!
//! #[derive(Default)]
//! struct Log(Mutex<Vec<SubscriberId>>);
//! impl Hooks for Log {
//!     fn on_unsubscribe(&self, id: SubscriberId) {
//!         self.0.lock().unwrap_or_else(|e| e.into_inner()).push(id);
//!     }
//! }
//!
//! let log = Arc::new(Log::default());
//! let mut broker = Broker::new(BrokerConfig::new(0).hooks(log.clone()));
//! let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
//! broker.unsubscribe(id)?;
//! assert_eq!(*log.0.lock().unwrap_or_else(|e| e.into_inner()), [id]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::id::SubscriberId;
use crate::message::Published;
use crate::shard::SubscriptionInfo;

/// Why the broker disconnects a subscriber.
///
/// ```
/// use tidings_broker::DisconnectReason;
/// assert_ne!(DisconnectReason::Lagged, DisconnectReason::Requested);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// Its queue overflowed under [`crate::OverflowPolicy::Disconnect`]; the client should
    /// reconnect with `Last-Event-ID` and resume from history.
    Lagged,
    /// The driver asked for it ([`crate::Shard::disconnect`]): shutdown, expired token, …
    Requested,
}

/// Why a subscriber did not get an event it was addressed.
///
/// ```
/// use tidings_broker::UndeliveredReason;
/// assert_ne!(UndeliveredReason::QueueFull, UndeliveredReason::Evicted);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UndeliveredReason {
    /// The queue was full; the subscriber is being disconnected (`Disconnect` policy).
    QueueFull,
    /// The event was queued, then evicted to make room (`DropOldest` policy).
    Evicted,
    /// The subscriber was already marked for disconnection.
    Disconnecting,
}

/// Callbacks for subscription lifecycle and failed deliveries. Every method defaults to doing
/// nothing.
///
/// Hooks run with the shard's lock held, inside `subscribe`, `unsubscribe`, `fan_out` and
/// friends: keep them short (bump a metric, push to a channel) and never call back into the
/// broker. They take `&self` so one value can be shared by all shards.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use tidings_broker::{Hooks, Published, SubscriberId, UndeliveredReason};
///
/// #[derive(Default)]
/// struct Failures(AtomicU64);
///
/// impl Hooks for Failures {
///     fn on_undelivered(&self, _: &Published, _: SubscriberId, _: UndeliveredReason) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// let hooks: Arc<dyn Hooks> = Arc::new(Failures::default());
/// # drop(hooks);
/// ```
pub trait Hooks: Send + Sync {
    /// A subscription was registered.
    fn on_subscribe(&self, subscription: &SubscriptionInfo<'_>) {
        let _ = subscription;
    }

    /// A subscription was removed ([`crate::Shard::unsubscribe`]).
    fn on_unsubscribe(&self, subscriber: SubscriberId) {
        let _ = subscriber;
    }

    /// The broker marked a subscriber for disconnection.
    fn on_disconnect(&self, subscriber: SubscriberId, reason: DisconnectReason) {
        let _ = (subscriber, reason);
    }

    /// A subscriber did not get `event`.
    fn on_undelivered(
        &self,
        event: &Published,
        subscriber: SubscriberId,
        reason: UndeliveredReason,
    ) {
        let _ = (event, subscriber, reason);
    }
}

/// Hooks that do nothing (the default).
///
/// ```
/// use tidings_broker::{Hooks, NoHooks};
/// let hooks: &dyn Hooks = &NoHooks;
/// # drop(hooks);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}
