//! Fan-out state: subscriptions, the selector index and per-subscriber bounded queues.
//!
//! A [`Shard`] holds a share of the subscribers. The server runs several, each behind its own
//! lock, so that many connections draining their queues do not contend on one lock; every
//! published event is fanned out to every shard, in sequence order (see [`crate::hub`]).
//!
//! # Delivery
//! [`Shard::fan_out`] finds the matching subscribers through the [`SelectorIndex`] (exact
//! topics by hash, wildcards by literal segments), the per-user map or the subscriber id, and
//! for each one: checks the per-subscriber stamp (the last sequence it was offered, so an
//! event matching several selectors or topics is queued once, with no set per publish),
//! checks authorization for private events, then pushes a reference-counted clone of the
//! event into the subscriber's queue and accounts its bytes. A subscriber whose queue went
//! from empty to non-empty is listed once in [`Shard::take_woken`], so the driver wakes
//! exactly those tasks, and [`Shard::drain`] hands over every ready item in one call.
//!
//! # Slow subscribers
//! Queues are bounded by count and bytes ([`QueueLimits`]). On overflow the subscription's
//! [`OverflowPolicy`] applies: `Disconnect` marks the subscriber (see
//! [`Shard::take_disconnects`]; its client resumes from history) and `DropOldest` evicts the
//! oldest events and queues a [`Gap`] in their place. Neither ever waits.
//!
//! # Resume without gap or duplicate
//! [`Shard::subscribe`] registers the subscriber for live events at once and records `upto`,
//! the last sequence this shard fanned out. Live events after `upto` queue up while the
//! driver reads history after the resume position in batches and hands them to
//! [`Shard::push_replay`], which keeps only events up to `upto` and in order; the live queue
//! is released behind the replayed events when the replay is done. The stamp starts at
//! `max(resume position, upto)`, so a live event the client already has is dropped. Because
//! no history read happens under the shard's lock, a durable or remote history can be read
//! asynchronously between the calls.
//!
//! ```
//! use tidings_broker::{
//!     Hub, HubConfig, Item, Message, ReplayStep, Selector, Shard, ShardConfig, Start,
//!     SubscriptionConfig, Timestamp,
//! };
//! use tidings_codec::Event;
//!
//! let now = Timestamp::ZERO;
//! let mut hub = Hub::new(HubConfig::new(0));
//! let mut shard = Shard::new(ShardConfig::new(0));
//! let publish = |hub: &mut Hub, shard: &mut Shard, data: &str| {
//!     let event = hub.publish(Message::new(Event::new(data)).topic("t"), now)?;
//!     shard.fan_out(&event)?;
//!     Ok::<_, Box<dyn std::error::Error>>(event)
//! };
//! let seen = publish(&mut hub, &mut shard, "1")?;
//! publish(&mut hub, &mut shard, "2")?; // missed while disconnected
//!
//! // The client resumes after event 1: plan, register, then replay in batches…
//! let config = SubscriptionConfig::new().selector(Selector::parse("t")?);
//! let plan = hub.plan(&Start::Resume(seen.id().clone()), now)?;
//! let subscribed = shard.subscribe(config, &plan, now)?;
//! // …while event 3 is published: it waits in the live queue.
//! publish(&mut hub, &mut shard, "3")?;
//! let mut cursor = subscribed.replay();
//! while let Some(at) = cursor {
//!     let mut batch = Vec::new();
//!     hub.read(at.after(), 64, now, &mut batch)?;
//!     cursor = match shard.push_replay(subscribed.id(), &batch)? {
//!         ReplayStep::Continue(next) => Some(next),
//!         ReplayStep::Done => None,
//!     };
//! }
//! let mut items = Vec::new();
//! shard.drain(subscribed.id(), &mut items)?;
//! let seqs: Vec<u64> = items.iter().filter_map(Item::event).map(|e| e.seq().get()).collect();
//! assert_eq!(seqs, [2, 3], "the missed event, then the live one: no gap, no duplicate");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::auth::{Authorizer, Opaque};
use crate::hooks::{DisconnectReason, Hooks, NoHooks, UndeliveredReason};
use crate::hub::{GapPolicy, ReplayPlan, Start};
use crate::id::{Seq, SubscriberId, UserId};
use crate::index::SelectorIndex;
use crate::item::{Gap, GapReason, Item};
use crate::message::{Audience, Published};
use crate::selector::Selector;
use crate::stats::{ShardStats, TopTopics};
use crate::time::Timestamp;

/// Default [`QueueLimits::max_items`]: 1 024 events.
pub const DEFAULT_QUEUE_ITEMS: usize = 1024;
/// Default [`QueueLimits::max_bytes`]: 4 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 4 << 20;

/// Bounds of one subscriber's live queue.
///
/// ```
/// use tidings_broker::QueueLimits;
///
/// let limits = QueueLimits::new(256, 1 << 20);
/// assert_eq!((limits.max_items, limits.max_bytes), (256, 1 << 20));
/// assert_eq!(QueueLimits::default().max_items, tidings_broker::DEFAULT_QUEUE_ITEMS);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct QueueLimits {
    /// Most queued events. Default: [`DEFAULT_QUEUE_ITEMS`].
    pub max_items: usize,
    /// Most queued frame bytes. Default: [`DEFAULT_QUEUE_BYTES`].
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { max_items: DEFAULT_QUEUE_ITEMS, max_bytes: DEFAULT_QUEUE_BYTES }
    }
}

impl QueueLimits {
    /// Limits of `max_items` events and `max_bytes` frame bytes.
    ///
    /// See [`QueueLimits`] for an example.
    #[must_use]
    pub const fn new(max_items: usize, max_bytes: usize) -> Self {
        Self { max_items, max_bytes }
    }
}

/// What happens when a subscriber's queue is full.
///
/// ```
/// assert_eq!(tidings_broker::OverflowPolicy::default(), tidings_broker::OverflowPolicy::Disconnect);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Mark the subscriber for disconnection; its client resumes from history with
    /// `Last-Event-ID` (the default: nothing is lost while history reaches back far enough).
    #[default]
    Disconnect,
    /// Evict the oldest queued events and queue a [`Gap`] notice in their place.
    DropOldest,
}

/// Shard settings.
///
/// ```
/// use std::sync::Arc;
/// use tidings_broker::{NoHooks, OverflowPolicy, QueueLimits, ShardConfig};
///
/// let config = ShardConfig::new(3)
///     .queue_limits(QueueLimits::new(128, 1 << 20))
///     .overflow(OverflowPolicy::DropOldest)
///     .hooks(Arc::new(NoHooks));
/// # drop(config);
/// ```
#[derive(Clone)]
#[must_use]
pub struct ShardConfig {
    index: u16,
    queue: QueueLimits,
    overflow: OverflowPolicy,
    hooks: Arc<dyn Hooks>,
    topic_stats: usize,
}

impl ShardConfig {
    /// Settings for shard number `index` (part of every [`SubscriberId`] it issues, so a
    /// driver can route by id).
    ///
    /// See [`ShardConfig`] for an example.
    pub fn new(index: u16) -> Self {
        Self {
            index,
            queue: QueueLimits::default(),
            overflow: OverflowPolicy::default(),
            hooks: Arc::new(NoHooks),
            topic_stats: crate::hub::DEFAULT_TOPIC_STATS,
        }
    }

    /// Default queue limits for subscriptions that set none. Default: [`QueueLimits::default`].
    pub fn queue_limits(mut self, limits: QueueLimits) -> Self {
        self.queue = limits;
        self
    }

    /// Default overflow policy for subscriptions that set none. Default:
    /// [`OverflowPolicy::Disconnect`].
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Lifecycle and failure callbacks. Default: [`NoHooks`].
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Topics listed in per-topic delivery statistics. Default: 64.
    pub fn topic_stats(mut self, topics: usize) -> Self {
        self.topic_stats = topics;
        self
    }
}

impl fmt::Debug for ShardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardConfig")
            .field("index", &self.index)
            .field("queue", &self.queue)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

/// One subscription: selectors, principal, authorization, options and where to start.
/// A by-value builder.
///
/// ```
/// use std::sync::Arc;
/// use tidings_broker::{OverflowPolicy, Selector, SelectorAuthorizer, Start, SubscriptionConfig, UserId};
///
/// let config = SubscriptionConfig::new()
///     .selector(Selector::parse("books/1")?)
///     .selector(Selector::parse("*")?)
///     .principal(UserId::new("alice"))
///     .authorizer(Arc::new(SelectorAuthorizer::new([Selector::parse("books/1")?])))
///     .overflow(OverflowPolicy::DropOldest)
///     .start(Start::LastN(10));
/// assert_eq!(config.selector_list().len(), 2);
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct SubscriptionConfig {
    selectors: Vec<Selector>,
    principal: Option<UserId>,
    authorizer: Option<Arc<dyn Authorizer>>,
    queue: Option<QueueLimits>,
    overflow: Option<OverflowPolicy>,
    start: Start,
}

impl SubscriptionConfig {
    /// No selectors (the subscriber then only gets broadcasts, its user's events and events
    /// sent to it), no principal, no private access, shard defaults, live only.
    ///
    /// See [`SubscriptionConfig`] for an example.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a topic selector.
    pub fn selector(mut self, selector: Selector) -> Self {
        self.selectors.push(selector);
        self
    }

    /// Adds several topic selectors.
    pub fn selectors(mut self, selectors: impl IntoIterator<Item = Selector>) -> Self {
        self.selectors.extend(selectors);
        self
    }

    /// The user this subscription acts for (per-user delivery). Default: none.
    pub fn principal(mut self, user: UserId) -> Self {
        self.principal = Some(user);
        self
    }

    /// Who decides which private events it sees. Default: none (no private events).
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Queue limits. Default: the shard's ([`ShardConfig::queue_limits`]).
    pub fn queue_limits(mut self, limits: QueueLimits) -> Self {
        self.queue = Some(limits);
        self
    }

    /// Overflow policy. Default: the shard's ([`ShardConfig::overflow`]).
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = Some(policy);
        self
    }

    /// Where to start. Default: [`Start::Live`].
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// The selectors.
    ///
    /// See [`SubscriptionConfig`] for an example.
    #[must_use]
    pub fn selector_list(&self) -> &[Selector] {
        &self.selectors
    }

    /// Where it starts.
    ///
    /// ```
    /// use tidings_broker::{Start, SubscriptionConfig};
    /// assert_eq!(SubscriptionConfig::new().start_at(), &Start::Live);
    /// ```
    #[must_use]
    pub fn start_at(&self) -> &Start {
        &self.start
    }
}

impl fmt::Debug for SubscriptionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionConfig")
            .field("selectors", &self.selectors)
            .field("principal", &self.principal)
            .field("authorizer", &self.authorizer.as_ref().map(|_| Opaque))
            .field("queue", &self.queue)
            .field("overflow", &self.overflow)
            .field("start", &self.start)
            .finish()
    }
}

/// A subscription as listed by [`Shard::subscriptions`] and passed to
/// [`Hooks::on_subscribe`].
///
/// ```
/// # use tidings_broker::{Broker, BrokerConfig, Selector, SubscriptionConfig, Timestamp, UserId};
/// # let mut broker = Broker::new(BrokerConfig::new(0));
/// let config = SubscriptionConfig::new().selector(Selector::parse("t")?).principal(UserId::new("u"));
/// let id = broker.subscribe(config, Timestamp::from_millis(3))?;
/// let info = broker.shard().subscription(id).expect("registered");
/// assert_eq!(info.selectors[0].as_str(), "t");
/// assert_eq!(info.principal.map(UserId::as_str), Some("u"));
/// assert_eq!(info.since, Timestamp::from_millis(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SubscriptionInfo<'a> {
    /// The subscriber.
    pub id: SubscriberId,
    /// Its selectors.
    pub selectors: &'a [Selector],
    /// Its principal.
    pub principal: Option<&'a UserId>,
    /// When it subscribed.
    pub since: Timestamp,
}

/// Where a replay stands: read history after [`ReplayCursor::after`], then hand the batch to
/// [`Shard::push_replay`].
///
/// See the [module docs](self) for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayCursor {
    after: Seq,
    upto: Seq,
}

impl ReplayCursor {
    /// Read events after this position.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub const fn after(&self) -> Seq {
        self.after
    }

    /// The replay ends at this position (the last event the shard had fanned out when the
    /// subscriber registered); later events arrive live.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub const fn upto(&self) -> Seq {
        self.upto
    }
}

/// What [`Shard::subscribe`] returns.
///
/// See the [module docs](self) for an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribed {
    id: SubscriberId,
    replay: Option<ReplayCursor>,
}

impl Subscribed {
    /// The new subscriber.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub const fn id(&self) -> SubscriberId {
        self.id
    }

    /// Where to start reading history, if anything is to be replayed.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub const fn replay(&self) -> Option<ReplayCursor> {
        self.replay
    }
}

/// What to do after [`Shard::push_replay`].
///
/// See the [module docs](self) for an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayStep {
    /// Read the next batch after this cursor.
    Continue(ReplayCursor),
    /// The replay is complete; the subscriber is live.
    Done,
}

/// What [`Shard::drain`] found besides the items.
///
/// ```
/// use tidings_broker::{DisconnectReason, Drained};
/// assert!(Drained::Open.is_open());
/// assert!(!Drained::Closed(DisconnectReason::Lagged).is_open());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// The subscription goes on.
    Open,
    /// The subscriber is disconnected: send what was drained, then close, and
    /// [`Shard::unsubscribe`] it.
    Closed(DisconnectReason),
}

impl Drained {
    /// Whether the subscription goes on.
    ///
    /// See [`Drained`] for an example.
    #[must_use]
    pub const fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }
}

/// Result of one [`Shard::fan_out`].
///
/// ```
/// # use tidings_broker::{Broker, BrokerConfig, Message, Selector, SubscriptionConfig, Timestamp};
/// # use tidings_broker::{Hub, HubConfig, Shard, ShardConfig, Start};
/// let mut hub = Hub::new(HubConfig::new(0));
/// let mut shard = Shard::new(ShardConfig::new(0));
/// let config = SubscriptionConfig::new().selector(Selector::parse("t")?);
/// shard.subscribe(config, &hub.plan(&Start::Live, Timestamp::ZERO)?, Timestamp::ZERO)?;
/// let event = hub.publish(tidings_broker::Message::new(tidings_codec::Event::new("x")).topic("t"), Timestamp::ZERO)?;
/// assert_eq!(shard.fan_out(&event)?.delivered, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FanOut {
    /// Subscribers that got the event queued.
    pub delivered: usize,
    /// Subscribers addressed that did not get it (full queue, disconnecting).
    pub dropped: usize,
}

/// A shard refused a call.
///
/// ```
/// # use tidings_broker::{Broker, BrokerConfig, ShardError, SubscriptionConfig, Timestamp};
/// # let mut broker = Broker::new(BrokerConfig::new(0));
/// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
/// broker.unsubscribe(id)?;
/// assert!(matches!(broker.unsubscribe(id), Err(ShardError::UnknownSubscriber(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// No such subscriber in this shard (unsubscribed, or another shard's id).
    #[error("unknown subscriber {0}")]
    UnknownSubscriber(SubscriberId),
    /// The subscriber is not replaying.
    #[error("subscriber {0} is not replaying")]
    NotReplaying(SubscriberId),
    /// The shard cannot hold more subscribers.
    #[error("shard is full")]
    Full,
    /// An event arrived out of sequence order.
    #[error("event {got} fanned out after {last}")]
    OutOfOrder {
        /// The last sequence this shard saw.
        last: Seq,
        /// The sequence offered.
        got: Seq,
    },
}

/// Replay in progress, or finished with replayed items still to drain.
struct Replay {
    cursor: Seq,
    upto: Seq,
    /// Whether a jump in sequence numbers is a loss to report (true once the position is
    /// known to be the client's own).
    anchored: bool,
    gap_policy: GapPolicy,
    items: VecDeque<Item>,
    finished: bool,
}

/// A live-queue entry: an [`Item`] in 16 bytes (the public `Gap` is larger), so a queue push
/// writes half as much memory.
enum Queued {
    Event(Published),
    /// `missed == u64::MAX` means unknown.
    Gap {
        reason: GapReason,
        missed: u64,
    },
}

impl Queued {
    fn gap(reason: GapReason, missed: Option<u64>) -> Self {
        Self::Gap { reason, missed: missed.unwrap_or(u64::MAX) }
    }

    fn into_item(self) -> Item {
        match self {
            Self::Event(event) => Item::Event(event),
            Self::Gap { reason, missed } => {
                Item::Gap(Gap::new(reason, (missed != u64::MAX).then_some(missed)))
            }
        }
    }
}

/// What a delivery touches, in exactly one cache line: everything read only on subscribe,
/// unsubscribe, overflow, replay, listings or private events lives in the boxed [`Profile`].
/// (`hot_structures_stay_small` pins the size.)
#[repr(align(64))]
struct Sub {
    /// Last sequence offered to this subscriber: dedupe across selectors and topics, and the
    /// live side of the resume seam.
    stamp: u64,
    queue: VecDeque<Queued>,
    /// At most `max_bytes`: an event that does not fit is never queued.
    queued_bytes: u32,
    max_items: u32,
    max_bytes: u32,
    /// Listed in `woken` since the last drain.
    notified: bool,
    /// Got something since the last `take_idle`.
    active: bool,
    /// `profile.replay` is set: live events wait, and do not wake the subscriber.
    has_replay: bool,
    disconnect: Option<DisconnectReason>,
    profile: Box<Profile>,
}

struct Profile {
    overflow: OverflowPolicy,
    replay: Option<Box<Replay>>,
    selectors: Box<[Selector]>,
    principal: Option<UserId>,
    authorizer: Option<Arc<dyn Authorizer>>,
    since: Timestamp,
}

impl Sub {
    fn is_authorized(&self, event: &Published) -> bool {
        self.profile
            .authorizer
            .as_ref()
            .is_some_and(|auth| event.topics().iter().any(|t| auth.can_see_private(t)))
    }

    /// Whether this subscription is addressed by `event` (replay path: no index).
    fn sees(&self, id: SubscriberId, event: &Published) -> bool {
        match event.audience() {
            Audience::Topics { private } => {
                event.topics().iter().any(|t| self.profile.selectors.iter().any(|s| s.matches(t)))
                    && (!private || self.is_authorized(event))
            }
            Audience::Everyone => true,
            Audience::Users(users) => {
                self.profile.principal.as_ref().is_some_and(|p| users.contains(p))
            }
            Audience::Subscriber(target) => *target == id,
        }
    }

    fn is_drainable(&self) -> bool {
        match &self.profile.replay {
            Some(replay) => !replay.items.is_empty() || (replay.finished && !self.queue.is_empty()),
            None => !self.queue.is_empty(),
        }
    }

    fn is_replaying(&self) -> bool {
        self.profile.replay.as_ref().is_some_and(|r| !r.finished)
    }

    fn set_replay(&mut self, replay: Option<Box<Replay>>) {
        self.has_replay = replay.is_some();
        self.profile.replay = replay;
    }

    fn fits(&self, len: usize) -> bool {
        self.queue.len() < self.max_items as usize
            && self.queued_bytes as usize + len <= self.max_bytes as usize
    }
}

/// Subscribers, their index and queues. See the [module docs](self).
pub struct Shard {
    index: u16,
    defaults: QueueLimits,
    default_overflow: OverflowPolicy,
    hooks: Arc<dyn Hooks>,
    /// Subscribers by slot (the key in the index and user map).
    slots: Vec<Option<Sub>>,
    /// Generation of each slot, bumped when it is freed, so stale ids are refused.
    generations: Vec<u32>,
    free: Vec<u32>,
    selectors: SelectorIndex<u32>,
    users: HashMap<UserId, Vec<u32>>,
    selector_counts: HashMap<Box<str>, usize>,
    last_seq: Seq,
    woken: Vec<SubscriberId>,
    disconnects: Vec<(SubscriberId, DisconnectReason)>,
    stats: ShardStats,
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shard")
            .field("index", &self.index)
            .field("online", &self.stats.online)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// Marks `sub` for disconnection (once) and tells the driver and the hooks.
fn mark_disconnect(
    sub: &mut Sub,
    id: SubscriberId,
    reason: DisconnectReason,
    hooks: &dyn Hooks,
    woken: &mut Vec<SubscriberId>,
    disconnects: &mut Vec<(SubscriberId, DisconnectReason)>,
) -> bool {
    if sub.disconnect.is_some() {
        return false;
    }
    sub.disconnect = Some(reason);
    disconnects.push((id, reason));
    if !sub.notified {
        sub.notified = true;
        woken.push(id);
    }
    hooks.on_disconnect(id, reason);
    true
}

/// The per-delivery work: dedupe, authorize, bound, push, wake. Shared by every audience.
struct Deliver<'a> {
    shard: u16,
    generations: &'a [u32],
    event: &'a Published,
    seq: u64,
    private: bool,
    len: usize,
    hooks: &'a dyn Hooks,
    woken: &'a mut Vec<SubscriberId>,
    disconnects: &'a mut Vec<(SubscriberId, DisconnectReason)>,
    stats: &'a mut ShardStats,
    result: FanOut,
}

impl Deliver<'_> {
    #[inline]
    fn offer(&mut self, slots: &mut [Option<Sub>], slot: u32) {
        let Some(Some(sub)) = slots.get_mut(slot as usize) else { return };
        if sub.stamp >= self.seq {
            return;
        }
        sub.stamp = self.seq;
        if self.private && !sub.is_authorized(self.event) {
            return;
        }
        if sub.disconnect.is_some() {
            self.refuse(self.id(slot), UndeliveredReason::Disconnecting);
            return;
        }
        if !sub.fits(self.len) {
            let id = self.id(slot);
            match sub.profile.overflow {
                OverflowPolicy::Disconnect => {
                    self.refuse(id, UndeliveredReason::QueueFull);
                    if mark_disconnect(
                        sub,
                        id,
                        DisconnectReason::Lagged,
                        self.hooks,
                        self.woken,
                        self.disconnects,
                    ) {
                        self.stats.lag_disconnects += 1;
                    }
                    return;
                }
                OverflowPolicy::DropOldest => {
                    if !self.make_room(sub, id) {
                        return;
                    }
                }
            }
        }
        sub.queue.push_back(Queued::Event(self.event.clone()));
        // Cannot truncate: `fits` (or `make_room`) checked it stays within `max_bytes`.
        sub.queued_bytes += self.len as u32;
        sub.active = true;
        self.result.delivered += 1;
        if !sub.notified && !sub.has_replay {
            sub.notified = true;
            let id = self.id(slot);
            self.woken.push(id);
        }
    }

    /// The id of `slot`, read only when needed (wake-up, refusal): the generations live in a
    /// separate array so a plain delivery does not touch them.
    fn id(&self, slot: u32) -> SubscriberId {
        SubscriberId::new(
            self.shard,
            slot,
            self.generations.get(slot as usize).copied().unwrap_or(0),
        )
    }

    fn refuse(&mut self, id: SubscriberId, reason: UndeliveredReason) {
        self.result.dropped += 1;
        self.stats.dropped += 1;
        self.hooks.on_undelivered(self.event, id, reason);
    }

    /// Makes room for this event under `DropOldest`. When it fits in an empty queue, evicts
    /// the oldest events until it fits and leaves one `Gap` at the front counting them;
    /// otherwise drops this event and notes it in a `Gap` at the back. Returns whether to
    /// queue the event.
    fn make_room(&mut self, sub: &mut Sub, id: SubscriberId) -> bool {
        let fits_alone = self.len <= sub.max_bytes as usize && sub.max_items > 0;
        if !fits_alone {
            self.refuse(id, UndeliveredReason::Evicted);
            match sub.queue.back_mut() {
                Some(Queued::Gap { missed, .. }) => *missed = missed.saturating_add(1),
                _ => {
                    sub.queue.push_back(Queued::gap(GapReason::Overflow, Some(1)));
                    self.stats.gaps += 1;
                }
            }
        } else {
            // A gap already at the front stays there and is extended.
            let first = usize::from(matches!(sub.queue.front(), Some(Queued::Gap { .. })));
            let mut evicted = 0u64;
            while sub.queue.len() > first
                && (sub.queue.len() - first >= sub.max_items as usize
                    || sub.queued_bytes as usize + self.len > sub.max_bytes as usize)
            {
                match sub.queue.remove(first) {
                    Some(Queued::Event(old)) => {
                        sub.queued_bytes -= old.frame().len() as u32;
                        self.result.dropped += 1;
                        self.stats.dropped += 1;
                        self.hooks.on_undelivered(&old, id, UndeliveredReason::Evicted);
                        evicted += 1;
                    }
                    // A gap noted for an oversized event: fold it into the front one.
                    Some(Queued::Gap { missed, .. }) => evicted = evicted.saturating_add(missed),
                    None => break,
                }
            }
            match sub.queue.front_mut() {
                Some(Queued::Gap { missed, .. }) if first == 1 => {
                    *missed = missed.saturating_add(evicted)
                }
                _ => {
                    sub.queue.push_front(Queued::gap(GapReason::Overflow, Some(evicted)));
                    self.stats.gaps += 1;
                }
            }
        }
        if !sub.notified && !sub.has_replay {
            sub.notified = true;
            self.woken.push(id);
        }
        fits_alone
    }
}

impl Shard {
    /// An empty shard.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub fn new(config: ShardConfig) -> Self {
        Self {
            index: config.index,
            defaults: config.queue,
            default_overflow: config.overflow,
            hooks: config.hooks,
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            selectors: SelectorIndex::new(),
            users: HashMap::new(),
            selector_counts: HashMap::new(),
            last_seq: Seq::ZERO,
            woken: Vec::new(),
            disconnects: Vec::new(),
            stats: ShardStats {
                topics: TopTopics::new(config.topic_stats),
                ..ShardStats::default()
            },
        }
    }

    fn sub_mut(&mut self, id: SubscriberId) -> Result<&mut Sub, ShardError> {
        if id.shard() != self.index {
            return Err(ShardError::UnknownSubscriber(id));
        }
        if self.generations.get(id.slot() as usize) != Some(&id.generation()) {
            return Err(ShardError::UnknownSubscriber(id));
        }
        match self.slots.get_mut(id.slot() as usize) {
            Some(Some(sub)) => Ok(sub),
            _ => Err(ShardError::UnknownSubscriber(id)),
        }
    }

    fn sub(&self, id: SubscriberId) -> Option<&Sub> {
        if id.shard() != self.index
            || self.generations.get(id.slot() as usize) != Some(&id.generation())
        {
            return None;
        }
        self.slots.get(id.slot() as usize).and_then(Option::as_ref)
    }

    /// Registers a subscription for live events now, and sets up its replay per `plan` (from
    /// [`crate::Hub::plan`] for `config`'s start). When [`Subscribed::replay`] is `Some`, read
    /// history from its cursor and call [`Shard::push_replay`] until it returns
    /// [`ReplayStep::Done`]; live events queue meanwhile and follow the replay.
    ///
    /// # Errors
    /// [`ShardError::Full`] past 2³² − 1 subscribers.
    ///
    /// See the [module docs](self) for an example.
    pub fn subscribe(
        &mut self,
        config: SubscriptionConfig,
        plan: &ReplayPlan,
        now: Timestamp,
    ) -> Result<Subscribed, ShardError> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).map_err(|_| ShardError::Full)?;
                if slot == u32::MAX {
                    return Err(ShardError::Full);
                }
                self.slots.push(None);
                self.generations.push(0);
                slot
            }
        };
        let upto = self.last_seq;
        let after = plan.after;
        let replay_range = after.filter(|after| *after < upto);
        let limits = config.queue.unwrap_or(self.defaults);
        let mut sub = Sub {
            stamp: after.map_or(upto, |after| after.max(upto)).get(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            // Limits beyond 4 GiB or 4 billion events per subscriber are no limits at all.
            max_items: u32::try_from(limits.max_items).unwrap_or(u32::MAX),
            max_bytes: u32::try_from(limits.max_bytes).unwrap_or(u32::MAX),
            notified: false,
            active: false,
            has_replay: false,
            disconnect: None,
            profile: Box::new(Profile {
                overflow: config.overflow.unwrap_or(self.default_overflow),
                replay: None,
                selectors: config.selectors.into_boxed_slice(),
                principal: config.principal,
                authorizer: config.authorizer,
                since: now,
            }),
        };
        if replay_range.is_some() || plan.gap.is_some() {
            let mut items = VecDeque::new();
            if let Some(gap) = plan.gap {
                items.push_back(Item::Gap(gap));
                self.stats.gaps += 1;
            }
            sub.set_replay(Some(Box::new(Replay {
                cursor: after.unwrap_or(upto),
                upto,
                anchored: plan.anchored,
                gap_policy: plan.gap_policy,
                items,
                finished: replay_range.is_none(),
            })));
        }
        for selector in &sub.profile.selectors {
            self.selectors.insert(selector, slot);
            *self.selector_counts.entry(selector.as_str().into()).or_insert(0) += 1;
        }
        if let Some(user) = &sub.profile.principal {
            self.users.entry(user.clone()).or_default().push(slot);
        }
        let generation = self.generations.get(slot as usize).copied().unwrap_or(0);
        let id = SubscriberId::new(self.index, slot, generation);
        if sub.is_drainable() {
            sub.notified = true;
            self.woken.push(id);
        }
        self.hooks.on_subscribe(&SubscriptionInfo {
            id,
            selectors: &sub.profile.selectors,
            principal: sub.profile.principal.as_ref(),
            since: now,
        });
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            *entry = Some(sub);
        }
        self.stats.subscribed += 1;
        self.stats.online += 1;
        Ok(Subscribed { id, replay: replay_range.map(|after| ReplayCursor { after, upto }) })
    }

    /// Hands a batch of history (read after the cursor's position) to a replaying subscriber.
    /// Keeps the events it may see, in order, up to the cursor's `upto`; a jump in sequence
    /// numbers (trimmed or expired history) queues a [`Gap`]. An empty batch means history
    /// has nothing more.
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`]; [`ShardError::NotReplaying`] when the replay is done.
    ///
    /// See the [module docs](self) for an example.
    pub fn push_replay(
        &mut self,
        id: SubscriberId,
        batch: &[Published],
    ) -> Result<ReplayStep, ShardError> {
        let sub = self.sub_mut(id)?;
        let Some(mut replay) = sub.profile.replay.take() else {
            return Err(ShardError::NotReplaying(id));
        };
        if replay.finished {
            sub.profile.replay = Some(replay);
            return Err(ShardError::NotReplaying(id));
        }
        let mut replayed = 0u64;
        let mut gaps = 0u64;
        if batch.is_empty() {
            if replay.anchored && replay.cursor < replay.upto {
                replay.items.push_back(Item::Gap(Gap::new(
                    GapReason::Trimmed,
                    Some(replay.upto.get() - replay.cursor.get()),
                )));
                gaps += 1;
            }
            replay.finished = true;
        }
        for event in batch {
            let seq = event.seq();
            if seq <= replay.cursor {
                continue;
            }
            if seq > replay.upto {
                // Fanned out after registration: it is (or will be) in the live queue.
                if replay.anchored && replay.cursor < replay.upto {
                    replay.items.push_back(Item::Gap(Gap::new(
                        GapReason::Trimmed,
                        Some(replay.upto.get() - replay.cursor.get()),
                    )));
                    gaps += 1;
                }
                replay.finished = true;
                break;
            }
            if seq != replay.cursor.next() && replay.anchored {
                replay.items.push_back(Item::Gap(Gap::new(
                    GapReason::Trimmed,
                    Some(seq.get() - replay.cursor.get() - 1),
                )));
                gaps += 1;
                if replay.gap_policy == GapPolicy::LiveOnly {
                    replay.finished = true;
                    break;
                }
            }
            replay.cursor = seq;
            replay.anchored = true;
            if sub.sees(id, event) {
                replay.items.push_back(Item::Event(event.clone()));
                replayed += 1;
            }
            if seq == replay.upto {
                replay.finished = true;
                break;
            }
        }
        let step = if replay.finished {
            ReplayStep::Done
        } else {
            ReplayStep::Continue(ReplayCursor { after: replay.cursor, upto: replay.upto })
        };
        sub.set_replay(if replay.finished && replay.items.is_empty() {
            None
        } else {
            Some(replay)
        });
        sub.active |= replayed > 0;
        let wake = !sub.notified && sub.is_drainable();
        if wake {
            sub.notified = true;
            self.woken.push(id);
        }
        self.stats.replayed += replayed;
        self.stats.gaps += gaps;
        Ok(step)
    }

    /// Ends a replay early because history could not be read: queues a
    /// [`GapReason::HistoryUnavailable`] notice and goes live.
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`]; [`ShardError::NotReplaying`].
    ///
    /// ```
    /// use tidings_broker::{GapReason, Hub, HubConfig, Item, Message, Shard, ShardConfig, Start, SubscriptionConfig, Timestamp};
    /// use tidings_codec::Event;
    ///
    /// let (mut hub, mut shard, now) = (Hub::new(HubConfig::new(0)), Shard::new(ShardConfig::new(0)), Timestamp::ZERO);
    /// let e = hub.publish(Message::new(Event::new("x")).to_everyone(), now)?;
    /// shard.fan_out(&e)?;
    /// let plan = hub.plan(&Start::LastN(5), now)?;
    /// let subscribed = shard.subscribe(SubscriptionConfig::new(), &plan, now)?;
    /// shard.abandon_replay(subscribed.id())?;
    /// let mut items = Vec::new();
    /// shard.drain(subscribed.id(), &mut items)?;
    /// assert!(matches!(&items[..], [Item::Gap(g)] if g.reason == GapReason::HistoryUnavailable));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abandon_replay(&mut self, id: SubscriberId) -> Result<(), ShardError> {
        let sub = self.sub_mut(id)?;
        let Some(replay) = sub.profile.replay.as_mut().filter(|r| !r.finished) else {
            return Err(ShardError::NotReplaying(id));
        };
        replay.items.push_back(Item::Gap(Gap::new(GapReason::HistoryUnavailable, None)));
        replay.finished = true;
        if !sub.notified {
            sub.notified = true;
            self.woken.push(id);
        }
        self.stats.gaps += 1;
        Ok(())
    }

    /// Fans a published event out to the subscribers of this shard it is addressed to.
    /// Never waits: full queues apply their overflow policy.
    ///
    /// # Errors
    /// [`ShardError::OutOfOrder`] when `event` is not newer than the last event fanned out
    /// here (events must reach every shard in sequence order; it is not delivered).
    ///
    /// See [`FanOut`] for an example.
    pub fn fan_out(&mut self, event: &Published) -> Result<FanOut, ShardError> {
        if event.seq() <= self.last_seq {
            return Err(ShardError::OutOfOrder { last: self.last_seq, got: event.seq() });
        }
        self.last_seq = event.seq();
        let mut deliver = Deliver {
            shard: self.index,
            generations: &self.generations,
            event,
            seq: event.seq().get(),
            private: event.is_private(),
            len: event.frame().len(),
            hooks: &*self.hooks,
            woken: &mut self.woken,
            disconnects: &mut self.disconnects,
            stats: &mut self.stats,
            result: FanOut::default(),
        };
        let slots = &mut self.slots;
        match event.audience() {
            Audience::Topics { .. } => {
                for topic in event.topics() {
                    self.selectors.for_each_match(topic, |slot| deliver.offer(slots, slot));
                }
            }
            Audience::Everyone => {
                for slot in 0..slots.len() {
                    deliver.offer(slots, slot as u32);
                }
            }
            Audience::Users(users) => {
                for user in users.iter() {
                    if let Some(sessions) = self.users.get(user) {
                        for &slot in sessions {
                            deliver.offer(slots, slot);
                        }
                    }
                }
            }
            Audience::Subscriber(target) => {
                let live =
                    self.generations.get(target.slot() as usize) == Some(&target.generation());
                if target.shard() == self.index && live {
                    deliver.offer(slots, target.slot());
                }
            }
        }
        let result = deliver.result;
        self.stats.delivered += result.delivered as u64;
        if result.delivered > 0
            && let Some(topic) = event.topics().first()
        {
            self.stats.topics.add(topic, result.delivered as u64);
        }
        Ok(result)
    }

    /// Moves every ready item of a subscriber to `out`: replayed items first, then live ones
    /// (those wait while a replay is in progress). Call it when the subscriber was woken; it
    /// is listed again by [`Shard::take_woken`] the next time its queue becomes non-empty.
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`].
    ///
    /// See [`Item`] for an example.
    pub fn drain(&mut self, id: SubscriberId, out: &mut Vec<Item>) -> Result<Drained, ShardError> {
        let sub = self.sub_mut(id)?;
        let mut live = true;
        if sub.has_replay
            && let Some(replay) = &mut sub.profile.replay
        {
            out.extend(replay.items.drain(..));
            live = replay.finished;
            if live {
                sub.set_replay(None);
            }
        }
        if live {
            out.extend(sub.queue.drain(..).map(Queued::into_item));
            sub.queued_bytes = 0;
        }
        sub.notified = false;
        Ok(match sub.disconnect {
            Some(reason) => Drained::Closed(reason),
            None => Drained::Open,
        })
    }

    /// Removes a subscription (its client went away, or after [`Drained::Closed`]); queued
    /// items are dropped.
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`].
    ///
    /// See [`ShardError`] for an example.
    pub fn unsubscribe(&mut self, id: SubscriberId) -> Result<(), ShardError> {
        self.sub_mut(id)?;
        let slot = id.slot();
        let Some(sub) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return Err(ShardError::UnknownSubscriber(id));
        };
        let generation = id.generation().wrapping_add(1);
        if let Some(entry) = self.generations.get_mut(slot as usize) {
            *entry = generation;
        }
        for selector in &sub.profile.selectors {
            self.selectors.remove(selector, slot);
            if let Some(count) = self.selector_counts.get_mut(selector.as_str()) {
                *count -= 1;
                if *count == 0 {
                    self.selector_counts.remove(selector.as_str());
                }
            }
        }
        if let Some(user) = &sub.profile.principal
            && let Some(sessions) = self.users.get_mut(user)
        {
            sessions.retain(|&s| s != slot);
            if sessions.is_empty() {
                self.users.remove(user);
            }
        }
        // A generation that wrapped around could collide with an old id: retire the slot.
        if generation != u32::MAX {
            self.free.push(slot);
        }
        self.stats.unsubscribed += 1;
        self.stats.online -= 1;
        self.hooks.on_unsubscribe(id);
        Ok(())
    }

    /// Marks a subscriber for disconnection (shutdown, expired credentials, …). It gets no
    /// more events; [`Shard::drain`] returns what it had, then [`Drained::Closed`].
    ///
    /// # Errors
    /// [`ShardError::UnknownSubscriber`].
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, DisconnectReason, Drained, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// broker.shard_mut().disconnect(id, DisconnectReason::Requested)?;
    /// assert_eq!(broker.drain(id, &mut Vec::new())?, Drained::Closed(DisconnectReason::Requested));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn disconnect(
        &mut self,
        id: SubscriberId,
        reason: DisconnectReason,
    ) -> Result<(), ShardError> {
        let hooks = Arc::clone(&self.hooks);
        let mut woken = std::mem::take(&mut self.woken);
        let mut disconnects = std::mem::take(&mut self.disconnects);
        let result = self.sub_mut(id).map(|sub| {
            mark_disconnect(sub, id, reason, &*hooks, &mut woken, &mut disconnects);
        });
        self.woken = woken;
        self.disconnects = disconnects;
        result
    }

    /// Moves to `out` the subscribers whose queue became non-empty since they last drained
    /// (each listed once): wake exactly those tasks.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// broker.publish(Message::new(tidings_codec::Event::new("a")).to_everyone(), Timestamp::ZERO)?;
    /// broker.publish(Message::new(tidings_codec::Event::new("b")).to_everyone(), Timestamp::ZERO)?;
    /// let mut woken = Vec::new();
    /// broker.shard_mut().take_woken(&mut woken);
    /// assert_eq!(woken, [id]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_woken(&mut self, out: &mut Vec<SubscriberId>) {
        out.append(&mut self.woken);
    }

    /// Moves to `out` the subscribers marked for disconnection since the last call.
    ///
    /// See [`crate::OverflowPolicy`] and the crate tests for examples.
    pub fn take_disconnects(&mut self, out: &mut Vec<(SubscriberId, DisconnectReason)>) {
        out.append(&mut self.disconnects);
    }

    /// Moves to `out` the subscribers that were queued nothing since the previous call, and
    /// starts a new period: on a hub-wide keep-alive tick, send those a keep-alive.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let a = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// let b = broker.subscribe(SubscriptionConfig::new().principal("bob".into()), Timestamp::ZERO)?;
    /// broker.publish(Message::new(tidings_codec::Event::new("hi")).to_users(["bob".into()]), Timestamp::ZERO)?;
    /// let mut idle = Vec::new();
    /// broker.shard_mut().take_idle(&mut idle);
    /// assert_eq!(idle, [a]);
    /// idle.clear();
    /// broker.shard_mut().take_idle(&mut idle);
    /// assert_eq!(idle, [a, b]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_idle(&mut self, out: &mut Vec<SubscriberId>) {
        for ((slot, entry), &generation) in self.slots.iter_mut().enumerate().zip(&self.generations)
        {
            if let Some(sub) = entry {
                if !sub.active && sub.disconnect.is_none() {
                    out.push(SubscriberId::new(self.index, slot as u32, generation));
                }
                sub.active = false;
            }
        }
    }

    /// Number of subscribers online.
    ///
    /// ```
    /// let shard = tidings_broker::Shard::new(tidings_broker::ShardConfig::new(0));
    /// assert_eq!(shard.len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.stats.online as usize
    }

    /// Whether no subscriber is online.
    ///
    /// ```
    /// assert!(tidings_broker::Shard::new(tidings_broker::ShardConfig::new(0)).is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions online for `user`.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, SubscriptionConfig, Timestamp, UserId};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// broker.subscribe(SubscriptionConfig::new().principal(UserId::new("ann")), Timestamp::ZERO)?;
    /// broker.subscribe(SubscriptionConfig::new().principal(UserId::new("ann")), Timestamp::ZERO)?;
    /// assert_eq!(broker.shard().user_sessions(&UserId::new("ann")), 2);
    /// assert_eq!(broker.shard().users_online(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn user_sessions(&self, user: &UserId) -> usize {
        self.users.get(user).map_or(0, Vec::len)
    }

    /// Distinct users with at least one session online.
    ///
    /// See [`Shard::user_sessions`] for an example.
    #[must_use]
    pub fn users_online(&self) -> usize {
        self.users.len()
    }

    /// Subscribers online per selector text.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Selector, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// broker.subscribe(SubscriptionConfig::new().selector(Selector::parse("a")?), Timestamp::ZERO)?;
    /// assert_eq!(broker.shard().selector_count("a"), 1);
    /// assert_eq!(broker.shard().selector_counts().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn selector_counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.selector_counts.iter().map(|(s, c)| (&**s, *c))
    }

    /// Subscribers online with exactly this selector.
    ///
    /// See [`Shard::selector_counts`] for an example.
    #[must_use]
    pub fn selector_count(&self, selector: &str) -> usize {
        self.selector_counts.get(selector).copied().unwrap_or(0)
    }

    /// Subscribers whose selectors match `topic` (a query for dashboards: it builds a set).
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Selector, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let both = SubscriptionConfig::new().selector(Selector::parse("a")?).selector(Selector::parse("*")?);
    /// broker.subscribe(both, Timestamp::ZERO)?;
    /// assert_eq!(broker.shard().subscribers_for_topic("a"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn subscribers_for_topic(&self, topic: &str) -> usize {
        let mut seen = HashSet::new();
        self.selectors.for_each_match(topic, |slot| {
            seen.insert(slot);
        });
        seen.len()
    }

    /// Active subscriptions with their selectors (for a subscriptions API).
    ///
    /// See [`SubscriptionInfo`] for an example.
    pub fn subscriptions(&self) -> impl Iterator<Item = SubscriptionInfo<'_>> {
        self.slots.iter().enumerate().zip(&self.generations).filter_map(
            |((slot, entry), &generation)| {
                entry.as_ref().map(|sub| SubscriptionInfo {
                    id: SubscriberId::new(self.index, slot as u32, generation),
                    selectors: &sub.profile.selectors,
                    principal: sub.profile.principal.as_ref(),
                    since: sub.profile.since,
                })
            },
        )
    }

    /// One subscription.
    ///
    /// See [`SubscriptionInfo`] for an example.
    #[must_use]
    pub fn subscription(&self, id: SubscriberId) -> Option<SubscriptionInfo<'_>> {
        self.sub(id).map(|sub| SubscriptionInfo {
            id,
            selectors: &sub.profile.selectors,
            principal: sub.profile.principal.as_ref(),
            since: sub.profile.since,
        })
    }

    /// Live items queued for a subscriber and their bytes (replayed items not counted).
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// let e = broker.publish(Message::new(tidings_codec::Event::new("x")).to_everyone(), Timestamp::ZERO)?;
    /// assert_eq!(broker.shard().queued(id), Some((1, e.frame().len())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn queued(&self, id: SubscriberId) -> Option<(usize, usize)> {
        self.sub(id).map(|sub| (sub.queue.len(), sub.queued_bytes as usize))
    }

    /// Whether a subscriber is still replaying.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// assert!(!broker.shard().is_replaying(id));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_replaying(&self, id: SubscriberId) -> bool {
        self.sub(id).is_some_and(Sub::is_replaying)
    }

    /// The last sequence fanned out here.
    ///
    /// ```
    /// let shard = tidings_broker::Shard::new(tidings_broker::ShardConfig::new(0));
    /// assert_eq!(shard.last_seq(), tidings_broker::Seq::ZERO);
    /// ```
    #[must_use]
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// This shard's index.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Shard::new(tidings_broker::ShardConfig::new(4)).index(), 4);
    /// ```
    #[must_use]
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Counters.
    ///
    /// See [`ShardStats`] for an example.
    #[must_use]
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_structures_stay_small() {
        // A queue push writes one `Queued`; a delivery touches one `Slot`.
        assert_eq!(std::mem::size_of::<Queued>(), 16);
        assert_eq!(std::mem::size_of::<Option<Sub>>(), 64);
    }
}
