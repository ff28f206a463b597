//! [`Broker`]: one hub and one shard under one `&mut self`, for simple uses and tests.
//!
//! The server uses [`crate::Hub`] and several [`crate::Shard`]s, each behind its own lock;
//! `Broker` runs the same protocol in single calls: [`Broker::publish`] fans out at once and
//! [`Broker::subscribe`] replays synchronously.
//!
//! ```
//! use tidings_broker::{Broker, BrokerConfig, Message, SubscriptionConfig, Timestamp, UserId};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0));
//! let t = Timestamp::ZERO;
//! let phone = broker.subscribe(SubscriptionConfig::new().principal(UserId::new("ann")), t)?;
//! let laptop = broker.subscribe(SubscriptionConfig::new().principal(UserId::new("ann")), t)?;
//! broker.publish(Message::new(Event::new("hi ann")).to_users([UserId::new("ann")]), t)?;
//! let mut woken = Vec::new();
//! broker.take_woken(&mut woken);
//! assert_eq!(woken, [phone, laptop]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use crate::history::{History, HistoryError, MemoryHistory, Retention};
use crate::hooks::{DisconnectReason, Hooks};
use crate::hub::{GapPolicy, Hub, HubConfig, PublishError};
use crate::id::SubscriberId;
use crate::item::Item;
use crate::message::{Message, Published};
use crate::shard::{
    Drained, OverflowPolicy, QueueLimits, ReplayStep, Shard, ShardConfig, ShardError,
    SubscriptionConfig,
};
use crate::time::Timestamp;

/// Events read from history per replay batch.
const REPLAY_BATCH: usize = 256;

/// Settings of a [`Broker`]: a [`HubConfig`] and a [`ShardConfig`], with shortcuts.
///
/// ```
/// use tidings_broker::{BrokerConfig, OverflowPolicy, QueueLimits, Retention};
///
/// let config = BrokerConfig::new(0x1d)
///     .retention(Retention::default().max_events(Some(100)))
///     .queue_limits(QueueLimits::new(16, 64 * 1024))
///     .overflow(OverflowPolicy::DropOldest);
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BrokerConfig {
    hub: HubConfig,
    shard: ShardConfig,
}

impl BrokerConfig {
    /// Defaults with id epoch `epoch` (see [`HubConfig::new`]).
    ///
    /// See [`BrokerConfig`] for an example.
    pub fn new(epoch: u32) -> Self {
        Self { hub: HubConfig::new(epoch), shard: ShardConfig::new(0) }
    }

    /// Replaces the hub settings.
    pub fn hub(mut self, hub: HubConfig) -> Self {
        self.hub = hub;
        self
    }

    /// Replaces the shard settings.
    pub fn shard(mut self, shard: ShardConfig) -> Self {
        self.shard = shard;
        self
    }

    /// See [`HubConfig::retention`].
    pub fn retention(mut self, retention: Retention) -> Self {
        self.hub = self.hub.retention(retention);
        self
    }

    /// See [`HubConfig::gap_policy`].
    pub fn gap_policy(mut self, policy: GapPolicy) -> Self {
        self.hub = self.hub.gap_policy(policy);
        self
    }

    /// See [`ShardConfig::queue_limits`].
    pub fn queue_limits(mut self, limits: QueueLimits) -> Self {
        self.shard = self.shard.queue_limits(limits);
        self
    }

    /// See [`ShardConfig::overflow`].
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.shard = self.shard.overflow(policy);
        self
    }

    /// See [`ShardConfig::hooks`].
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.shard = self.shard.hooks(hooks);
        self
    }
}

/// A failure of [`Broker::subscribe`].
///
/// ```
/// use tidings_broker::{BrokerError, ShardError};
/// let err = BrokerError::from(ShardError::Full);
/// assert!(matches!(err, BrokerError::Shard(ShardError::Full)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// History failed.
    #[error("history failed")]
    History(#[from] HistoryError),
    /// The shard refused.
    #[error("shard refused")]
    Shard(#[from] ShardError),
}

/// A hub and one shard. See the [module docs](self).
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, Item, Message, Selector, Start, SubscriptionConfig, Timestamp};
/// use tidings_codec::Event;
///
/// let mut broker = Broker::new(BrokerConfig::new(0));
/// let t = Timestamp::ZERO;
/// let first = broker.publish(Message::new(Event::new("1")).topic("pets/cats"), t)?;
/// broker.publish(Message::new(Event::new("2")).topic("pets/dogs"), t)?;
///
/// // A client that saw event 1 reconnects with `Last-Event-ID`.
/// let config = SubscriptionConfig::new()
///     .selector(Selector::parse("pets/dogs")?)
///     .start(Start::Resume(first.id().clone()));
/// let id = broker.subscribe(config, t)?;
/// let mut items = Vec::new();
/// broker.drain(id, &mut items)?;
/// assert_eq!(items.len(), 1);
/// assert_eq!(items[0].event().map(|e| e.id().as_str()), Some("0-a2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Broker<H = MemoryHistory> {
    hub: Hub<H>,
    shard: Shard,
    batch: Vec<Published>,
}

impl Broker<MemoryHistory> {
    /// A broker with in-memory history.
    ///
    /// See [`Broker`] for an example.
    #[must_use]
    pub fn new(config: BrokerConfig) -> Self {
        Self::with_history(config, MemoryHistory::new())
    }
}

impl<H: History> Broker<H> {
    /// A broker over `history`.
    ///
    /// ```
    /// use tidings_broker::{Broker, BrokerConfig, MemoryHistory};
    /// let broker = Broker::with_history(BrokerConfig::new(0), MemoryHistory::new());
    /// # drop(broker);
    /// ```
    #[must_use]
    pub fn with_history(config: BrokerConfig, history: H) -> Self {
        Self {
            hub: Hub::with_history(config.hub, history),
            shard: Shard::new(config.shard),
            batch: Vec::new(),
        }
    }

    /// Publishes and fans out; returns the published event (its id is `.id()`).
    ///
    /// # Errors
    /// See [`Hub::publish`].
    ///
    /// See [`Broker`] for an example.
    pub fn publish(&mut self, message: Message, now: Timestamp) -> Result<Published, PublishError> {
        let published = self.hub.publish(message, now)?;
        // Cannot fail: this shard is fed only by this hub, in sequence order.
        let _ = self.shard.fan_out(&published);
        Ok(published)
    }

    /// Publishes a batch (one history append; all or nothing) and fans it out; appends the
    /// published events to `out`. See [`Hub::publish_batch`].
    ///
    /// # Errors
    /// See [`Hub::publish_batch`].
    ///
    /// ```
    /// use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
    /// use tidings_codec::Event;
    ///
    /// let mut broker = Broker::new(BrokerConfig::new(0));
    /// let mut out = Vec::new();
    /// broker.publish_batch([Message::new(Event::new("a")), Message::new(Event::new("b"))], Timestamp::ZERO, &mut out)?;
    /// assert_eq!(out.len(), 2);
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    pub fn publish_batch(
        &mut self,
        messages: impl IntoIterator<Item = Message>,
        now: Timestamp,
        out: &mut Vec<Published>,
    ) -> Result<(), PublishError> {
        let start = out.len();
        self.hub.publish_batch(messages, now, out)?;
        for published in &out[start..] {
            // Cannot fail: this shard is fed only by this hub, in sequence order.
            let _ = self.shard.fan_out(published);
        }
        Ok(())
    }

    /// Subscribes, replaying history per the config's [`crate::Start`] before returning.
    ///
    /// # Errors
    /// [`BrokerError::History`] when history fails (the subscriber is then not registered);
    /// [`BrokerError::Shard`] when the shard is full.
    ///
    /// See [`Broker`] for an example.
    pub fn subscribe(
        &mut self,
        config: SubscriptionConfig,
        now: Timestamp,
    ) -> Result<SubscriberId, BrokerError> {
        let plan = self.hub.plan(config.start_at(), now)?;
        let subscribed = self.shard.subscribe(config, &plan, now)?;
        let id = subscribed.id();
        let mut cursor = subscribed.replay();
        while let Some(at) = cursor {
            self.batch.clear();
            if let Err(err) = self.hub.read(at.after(), REPLAY_BATCH, now, &mut self.batch) {
                let _ = self.shard.unsubscribe(id);
                return Err(err.into());
            }
            cursor = match self.shard.push_replay(id, &self.batch)? {
                ReplayStep::Continue(next) => Some(next),
                ReplayStep::Done => None,
            };
        }
        self.batch.clear();
        Ok(id)
    }

    /// Moves every ready item of `id` to `out`; see [`Shard::drain`].
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`].
    ///
    /// See [`Broker`] for an example.
    pub fn drain(&mut self, id: SubscriberId, out: &mut Vec<Item>) -> Result<Drained, ShardError> {
        self.shard.drain(id, out)
    }

    /// Removes a subscription; see [`Shard::unsubscribe`].
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`].
    ///
    /// See [`ShardError`] for an example.
    pub fn unsubscribe(&mut self, id: SubscriberId) -> Result<(), ShardError> {
        self.shard.unsubscribe(id)
    }

    /// See [`Shard::take_woken`].
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig};
    /// let mut broker = Broker::new(BrokerConfig::new(0));
    /// let mut woken = Vec::new();
    /// broker.take_woken(&mut woken);
    /// assert!(woken.is_empty());
    /// ```
    pub fn take_woken(&mut self, out: &mut Vec<SubscriberId>) {
        self.shard.take_woken(out);
    }

    /// See [`Shard::take_disconnects`].
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig};
    /// let mut broker = Broker::new(BrokerConfig::new(0));
    /// let mut gone = Vec::new();
    /// broker.take_disconnects(&mut gone);
    /// assert!(gone.is_empty());
    /// ```
    pub fn take_disconnects(&mut self, out: &mut Vec<(SubscriberId, DisconnectReason)>) {
        self.shard.take_disconnects(out);
    }

    /// The hub.
    ///
    /// See [`crate::MemoryHistory`] for an example.
    #[must_use]
    pub fn hub(&self) -> &Hub<H> {
        &self.hub
    }

    /// The hub, mutably (for [`Hub::trim`]).
    ///
    /// See [`Hub::trim`] for an example.
    pub fn hub_mut(&mut self) -> &mut Hub<H> {
        &mut self.hub
    }

    /// The shard.
    ///
    /// See [`crate::ShardStats`] for an example.
    #[must_use]
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// The shard, mutably.
    ///
    /// See [`Shard::disconnect`] for an example.
    pub fn shard_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}
