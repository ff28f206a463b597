//! The async hub handle: the I/O-free broker core behind sharded locks, with wake-ups for the
//! connections that have something to send and one hub-wide keep-alive tick.
//!
//! Lock order is always *core* (ids and history) before *shard*. Publishing holds the core lock
//! while it fans out to every shard, so every shard sees events in sequence order; each shard
//! lock is held only for the fan-out into that shard's queues. Connections only ever take
//! their own shard's lock, so many connections spread over several shards do not contend.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings_broker::{
    DisconnectReason, Gap, GapPolicy, History, HubConfig as CoreConfig, Message, OverflowPolicy,
    PublishError, Published, QueueLimits, ReplayStep, Retention, Seq, Shard, ShardConfig,
    ShardError, ShardStats, SubscriberId, SubscriptionConfig, Timestamp,
};
use tidings_codec::EventId;

use crate::admin::ConnectionStatus;
use crate::body::SseBody;
use crate::metrics::{HubTotals, LatencyHistogram};

/// Default keep-alive period: a comment frame to every connection idle for a whole period.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Default for [`HubConfig::write_delay`]: 1 ms.
pub const DEFAULT_WRITE_DELAY: Duration = Duration::from_millis(1);

/// Default cap on concurrent subscriptions.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

/// How many history events a replay reads per core-lock acquisition, so a long replay does
/// not stall publishers.
const REPLAY_BATCH: usize = 256;

/// Settings of a [`Hub`].
///
/// ```
/// use std::time::Duration;
/// use tidings_server::HubConfig;
///
/// let config = HubConfig::default().shards(4).keep_alive(Duration::from_secs(30));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HubConfig {
    shards: usize,
    epoch: Option<u32>,
    retention: Retention,
    gap_policy: GapPolicy,
    queue_limits: QueueLimits,
    overflow: OverflowPolicy,
    keep_alive: Option<Duration>,
    retry_hint: Option<Duration>,
    max_connections: usize,
    max_lifetime: Option<Duration>,
    write_delay: Option<Duration>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()) * 2,
            epoch: None,
            retention: Retention::default(),
            gap_policy: GapPolicy::default(),
            queue_limits: QueueLimits::default(),
            overflow: OverflowPolicy::default(),
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            retry_hint: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_lifetime: None,
            write_delay: Some(DEFAULT_WRITE_DELAY),
        }
    }
}

impl HubConfig {
    /// Number of subscriber shards, each behind its own lock. Default: twice the number of
    /// CPUs. Clamped to at least 1.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// The id epoch (see `tidings_broker::IdScheme`). Default: derived from the start time,
    /// so a restarted in-memory hub does not reuse the ids of the previous run.
    pub fn epoch(mut self, epoch: u32) -> Self {
        self.epoch = Some(epoch);
        self
    }

    /// History retention. Default: `tidings_broker::Retention::default()`.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// What a resuming subscriber gets after a gap notice. Default: the retained events.
    pub fn gap_policy(mut self, policy: GapPolicy) -> Self {
        self.gap_policy = policy;
        self
    }

    /// Per-subscriber queue bound. Default: `tidings_broker::QueueLimits::default()`.
    pub fn queue_limits(mut self, limits: QueueLimits) -> Self {
        self.queue_limits = limits;
        self
    }

    /// What happens when a subscriber's queue overflows. Default: disconnect (the client
    /// resumes from history with `Last-Event-ID`).
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Period of the hub-wide keep-alive tick; `None` disables keep-alives. Default: 15 s.
    pub fn keep_alive(mut self, period: impl Into<Option<Duration>>) -> Self {
        self.keep_alive = period.into();
        self
    }

    /// A `retry:` hint sent at the start of every stream. Default: none.
    pub fn retry_hint(mut self, retry: impl Into<Option<Duration>>) -> Self {
        self.retry_hint = retry.into();
        self
    }

    /// Maximum concurrent subscriptions; more are refused. Default: 100 000.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Close each stream after this long so clients reconnect (and resume); `None` keeps
    /// streams open indefinitely. Default: none.
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.max_lifetime = lifetime.into();
        self
    }

    /// Let events gather for up to this long before a connection is woken to write them, so
    /// that events published close together share one write and one wake-up. Default:
    /// [`DEFAULT_WRITE_DELAY`] (1 ms); `None` wakes a connection as soon as something is
    /// queued for it.
    ///
    /// Every event reaches its subscribers up to this much later (plus up to one timer tick
    /// of 1 ms). In exchange a connection writes once per delay instead of once per event
    /// when events come faster than that, and the write, not the hub's own work, is most of
    /// the cost of a delivery: publishing one event at a time as fast as possible to 100
    /// subscribers, 1 ms took the hub from 5.8 to 2.0 µs of CPU per delivery and 2.5x the
    /// deliveries per second, for a p99 latency of 2.7 ms instead of 1.5 ms
    /// (docs/BENCHMARKS.md, scenario 3). Keep-alives and shutdown are not delayed. A hub
    /// created outside a tokio runtime has no timer: it ignores the delay and says so in a
    /// warning.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tidings_server::HubConfig::default().write_delay(Duration::from_millis(5));
    /// assert_eq!(config.write_delay_value(), Some(Duration::from_millis(5)));
    /// ```
    pub fn write_delay(mut self, delay: impl Into<Option<Duration>>) -> Self {
        self.write_delay = delay.into().filter(|delay| !delay.is_zero());
        self
    }

    /// The configured [`HubConfig::write_delay`].
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(tidings_server::HubConfig::default().write_delay_value(), Some(Duration::from_millis(1)));
    /// assert_eq!(tidings_server::HubConfig::default().write_delay(None).write_delay_value(), None);
    /// ```
    #[must_use]
    pub fn write_delay_value(&self) -> Option<Duration> {
        self.write_delay
    }

    /// The configured `retry:` hint.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tidings_server::HubConfig::default().retry_hint(Duration::from_secs(2));
    /// assert_eq!(config.retry_hint_value(), Some(Duration::from_secs(2)));
    /// ```
    #[must_use]
    pub fn retry_hint_value(&self) -> Option<Duration> {
        self.retry_hint
    }

    /// The configured maximum stream lifetime.
    ///
    /// ```
    /// assert_eq!(tidings_server::HubConfig::default().max_lifetime_value(), None);
    /// ```
    #[must_use]
    pub fn max_lifetime_value(&self) -> Option<Duration> {
        self.max_lifetime
    }
}

/// Why a subscription could not be opened.
///
/// ```
/// use tidings_server::{Hub, HubConfig, SubscribeError};
/// use tidings_broker::SubscriptionConfig;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hub = Hub::new(HubConfig::default().max_connections(0));
/// let refused = hub.subscribe(SubscriptionConfig::new()).unwrap_err();
/// assert!(matches!(refused, SubscribeError::TooManyConnections { limit: 0 }));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The hub already serves [`HubConfig::max_connections`] subscriptions.
    #[error("too many connections (limit {limit})")]
    TooManyConnections {
        /// The configured limit.
        limit: usize,
    },
    /// The hub is shutting down (see [`Hub::shutdown`]).
    #[error("the hub is shutting down")]
    ShuttingDown,
    /// History could not be read for the replay.
    #[error("history unavailable")]
    History(#[source] tidings_broker::HistoryError),
    /// The shard refused the subscription.
    #[error("subscription refused")]
    Shard(#[source] ShardError),
}

/// The async hub: publish from anywhere, subscribe per connection.
///
/// Cloning is cheap (a reference count); every clone is the same hub. Create it inside a tokio
/// runtime: it spawns the keep-alive task, which ends when the last clone is dropped.
///
/// ```
/// use tidings_broker::{Message, Selector, SubscriptionConfig};
/// use tidings_codec::Event;
/// use tidings_server::{Hub, HubConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new(HubConfig::default());
/// let subscription = hub.subscribe(SubscriptionConfig::new().selector(Selector::parse("news")?))?;
/// let published = hub.publish(Message::new(Event::new("hello")).topic("news"))?;
/// assert!(!published.id().is_empty());
/// # drop(subscription);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: HubConfig,
    core: Mutex<tidings_broker::Hub>,
    shards: Box<[Mutex<ShardState>]>,
    next_shard: AtomicUsize,
    connections: AtomicUsize,
    started: tokio::time::Instant,
    started_unix_ms: u64,
    /// Set by [`Hub::shutdown`]: every body sends `retry:` and ends; no new subscriptions.
    shutting_down: AtomicBool,
    /// The `retry:` delay (ms) sent to clients on shutdown.
    shutdown_retry_ms: AtomicU64,
    /// How long publish calls take, lock waits and fan-out included (for `/metrics`).
    publish_latency: LatencyHistogram,
    /// With a write delay: the wakers publishing collected, for the flush task to wake.
    delayed: Option<Arc<DelayedWakes>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(delayed) = &self.delayed {
            delayed.closed.store(true, Ordering::Release);
            delayed.notify.notify_one();
        }
    }
}

/// Wake-ups held back by [`HubConfig::write_delay`].
struct DelayedWakes {
    delay: Duration,
    held: Mutex<Held>,
    /// Told when the list goes from empty to not empty (and when the hub is dropped).
    notify: tokio::sync::Notify,
    closed: AtomicBool,
}

#[derive(Default)]
struct Held {
    wakers: Vec<Waker>,
    /// When the oldest of `wakers` was held back.
    since: Option<std::time::Instant>,
}

impl Held {
    /// Moves every held wake-up into `due` (which must be empty).
    fn take(&mut self, due: &mut Vec<Waker>) {
        self.since = None;
        std::mem::swap(due, &mut self.wakers);
    }
}

impl DelayedWakes {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            held: Mutex::new(Held::default()),
            notify: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Holds `wake` back for the flush task. If the oldest held wake-up is already overdue
    /// (the flush task's timer runs late when publishing keeps the runtime busy), the
    /// publisher wakes everything itself: the delay is a bound, and a hub saturated by
    /// publishers must not starve its subscribers into overflowing their queues.
    fn defer(&self, wake: &mut Vec<Waker>) {
        let now = std::time::Instant::now();
        let mut held = lock(&self.held);
        held.wakers.append(wake);
        // Checked even when this publish woke nobody new: the connections it queued for may
        // all be held already, and those are the ones that are overdue.
        if held.wakers.is_empty() {
            return;
        }
        match held.since {
            None => {
                held.since = Some(now);
                drop(held);
                self.notify.notify_one();
            }
            Some(since) if now.duration_since(since) >= self.delay => {
                held.take(wake);
                drop(held);
                wake.drain(..).for_each(Waker::wake);
            }
            Some(_) => {}
        }
    }
}

/// The flush task of [`HubConfig::write_delay`]: once wake-ups are waiting, waits out the
/// delay (collecting more), then wakes them all. One task for the whole hub.
async fn flush_loop(delayed: Arc<DelayedWakes>) {
    let mut due = Vec::new();
    loop {
        delayed.notify.notified().await;
        if delayed.closed.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(delayed.delay).await;
        lock(&delayed.held).take(&mut due);
        for waker in due.drain(..) {
            waker.wake();
        }
    }
}

/// One shard and the connection state that must change under the same lock as its queues.
pub(crate) struct ShardState {
    pub(crate) shard: Shard,
    pub(crate) conns: HashMap<SubscriberId, Conn>,
    scratch: Vec<SubscriberId>,
    disconnects: Vec<(SubscriberId, DisconnectReason)>,
}

/// Per-connection state the body and the hub share.
#[derive(Default)]
pub(crate) struct Conn {
    /// Set by the body when it found nothing to send; taken by whoever queues something.
    pub(crate) waker: Option<Waker>,
    /// The keep-alive tick found this connection idle: send a comment frame.
    pub(crate) keep_alive_due: bool,
    /// Items (events and gap notices) the body took for the wire (for the admin status).
    pub(crate) sent: u64,
    /// The client's address, when the layer that opened the stream told us.
    client_addr: Option<IpAddr>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("shards", &self.inner.shards.len())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts a hub with `config`. Call it inside a tokio runtime: the keep-alive task is
    /// spawned there (outside one, the hub works but sends no keep-alives, and says so in a
    /// warning).
    ///
    /// See [`Hub`] for an example.
    #[must_use]
    pub fn new(config: HubConfig) -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // Seconds since 2020 fit 32 bits for a century and differ between restarts.
        let epoch = config.epoch.unwrap_or_else(|| {
            u32::try_from((started_unix_ms / 1000).saturating_sub(1_577_836_800)).unwrap_or(0)
        });
        let core = tidings_broker::Hub::new(
            CoreConfig::new(epoch).retention(config.retention).gap_policy(config.gap_policy),
        );
        let shards = (0..config.shards)
            .map(|index| {
                let shard_config = ShardConfig::new(u16::try_from(index).unwrap_or(u16::MAX))
                    .queue_limits(config.queue_limits)
                    .overflow(config.overflow);
                Mutex::new(ShardState {
                    shard: Shard::new(shard_config),
                    conns: HashMap::new(),
                    scratch: Vec::new(),
                    disconnects: Vec::new(),
                })
            })
            .collect();
        let keep_alive = config.keep_alive;
        let runtime = tokio::runtime::Handle::try_current();
        let delayed = match (config.write_delay, &runtime) {
            (Some(delay), Ok(runtime)) => {
                let delayed = Arc::new(DelayedWakes::new(delay));
                runtime.spawn(flush_loop(Arc::clone(&delayed)));
                Some(delayed)
            }
            (Some(_), Err(_)) => {
                tracing::warn!("hub created outside a tokio runtime: no write delay");
                None
            }
            (None, _) => None,
        };
        let inner = Arc::new(Inner {
            config,
            core: Mutex::new(core),
            shards,
            next_shard: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            started: tokio::time::Instant::now(),
            started_unix_ms,
            shutting_down: AtomicBool::new(false),
            shutdown_retry_ms: AtomicU64::new(0),
            publish_latency: LatencyHistogram::default(),
            delayed,
        });
        if let Some(period) = keep_alive {
            match runtime {
                Ok(runtime) => {
                    // The first tick is due one period after the hub started, not after the task
                    // first runs (which may be later).
                    let first = inner.started + period;
                    runtime.spawn(keep_alive_loop(Arc::downgrade(&inner), first, period));
                }
                Err(_) => tracing::warn!("hub created outside a tokio runtime: no keep-alives"),
            }
        }
        Self { inner }
    }

    /// The hub's configuration.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = tidings_server::Hub::new(tidings_server::HubConfig::default().shards(3));
    /// assert!(hub.config().retry_hint_value().is_none());
    /// # }
    /// ```
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Current time on the hub's clock (milliseconds since the Unix epoch at start, advanced
    /// by tokio's clock, so tests with paused time control it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// assert!(hub.now().as_millis() > 0);
    /// # }
    /// ```
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.inner.now()
    }

    /// Number of open subscriptions.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(tidings_server::Hub::new(Default::default()).connections(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// The id of the last published event, if history still holds it (Mercure's
    /// `lastEventID` of the subscriptions API).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_broker::Message;
    /// let hub = tidings_server::Hub::new(Default::default());
    /// assert_eq!(hub.last_event_id(), None);
    /// let published = hub.publish(Message::new(tidings_codec::Event::new("x")).topic("t"))?;
    /// assert_eq!(hub.last_event_id().as_ref(), Some(published.id()));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> Option<EventId> {
        let now = self.now();
        let core = lock(&self.inner.core);
        let last = core.last_seq().get();
        if last == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(1);
        core.read(Seq::new(last - 1), 1, now, &mut out).ok()?;
        out.pop().map(|event| event.id().clone())
    }

    /// Publishes: assigns the id, encodes the frame once, appends it to history and queues it
    /// for every addressed subscriber. Never waits for subscribers; returns the published
    /// event (its id is [`Published::id`]).
    ///
    /// # Errors
    /// [`PublishError`] from the core (duplicate or reserved id, history failure).
    ///
    /// See [`Hub`] for an example.
    pub fn publish(&self, message: Message) -> Result<Published, PublishError> {
        self.publish_with(|core, now| core.publish(message, now), std::slice::from_ref)
    }

    /// Publishes several messages as one batch, all or nothing: when one is refused (a
    /// duplicate id, also within the batch), none is published. Subscribers get them in order.
    ///
    /// # Errors
    /// As [`Hub::publish`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_broker::Message;
    /// use tidings_codec::{Event, EventId};
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let twice = Event::new("x").with_id(EventId::new("same")?);
    /// let batch = [Message::new(twice.clone()).topic("t"), Message::new(twice).topic("t")];
    /// assert!(hub.publish_batch(batch).is_err());
    /// assert_eq!(hub.last_event_id(), None, "nothing was published");
    /// let published = hub.publish_batch(["a", "b"].map(|d| Message::new(Event::new(d)).topic("t")))?;
    /// assert_eq!(published.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn publish_batch(
        &self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<Vec<Published>, PublishError> {
        self.publish_with(
            |core, now| {
                let mut published = Vec::new();
                core.publish_batch(messages, now, &mut published).map(|()| published)
            },
            Vec::as_slice,
        )
    }

    /// The publish path shared by [`Hub::publish`] and [`Hub::publish_batch`]: `append` puts
    /// the events into history under the core lock; they are then fanned out to every shard
    /// while that lock is still held (so shards see sequence order), and the woken
    /// connections are woken after every lock is released.
    fn publish_with<T>(
        &self,
        append: impl FnOnce(&mut tidings_broker::Hub, Timestamp) -> Result<T, PublishError>,
        events: impl Fn(&T) -> &[Published],
    ) -> Result<T, PublishError> {
        let started = std::time::Instant::now();
        let now = self.now();
        let mut wake = Vec::new();
        let published = {
            let mut core = lock(&self.inner.core);
            let published = append(&mut core, now)?;
            for shard in &self.inner.shards {
                let mut state = lock(shard);
                for event in events(&published) {
                    // Cannot fail: every shard is fed only from here, under the core lock,
                    // in sequence order.
                    let _ = state.shard.fan_out(event);
                }
                state.collect_wakers(&mut wake);
            }
            published
        };
        match &self.inner.delayed {
            Some(delayed) => delayed.defer(&mut wake),
            None => wake.into_iter().for_each(Waker::wake),
        }
        self.inner.publish_latency.record(started.elapsed());
        Ok(published)
    }

    /// Opens a subscription: registers it for live events, replays history per its
    /// `Start` (live events published meanwhile queue behind the replay, with no gap and no
    /// duplicate), and returns the handle the response body drains.
    ///
    /// # Errors
    /// [`SubscribeError`]: too many connections, history unreadable.
    ///
    /// See [`Hub`] for an example.
    pub fn subscribe(&self, config: SubscriptionConfig) -> Result<Subscription, SubscribeError> {
        if self.is_shutting_down() {
            return Err(SubscribeError::ShuttingDown);
        }
        let limit = self.inner.config.max_connections;
        let admitted =
            self.inner.connections.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(SubscribeError::TooManyConnections { limit });
        }
        // From here on, dropping `guard` releases the connection slot on every error path.
        let guard = ConnectionSlot { inner: Arc::clone(&self.inner) };
        let shard = self.inner.next_shard.fetch_add(1, Ordering::Relaxed) % self.inner.shards.len();
        let now = self.now();
        let (subscribed, start_gap) = {
            let core = lock(&self.inner.core);
            let plan = core.plan(config.start_at(), now).map_err(SubscribeError::History)?;
            let mut state = lock(&self.inner.shards[shard]);
            let subscribed =
                state.shard.subscribe(config, &plan, now).map_err(SubscribeError::Shard)?;
            state.conns.insert(subscribed.id(), Conn::default());
            (subscribed, plan.gap())
        };
        let subscription =
            Subscription { hub: self.clone(), id: subscribed.id(), shard, start_gap, _slot: guard };
        // Replay in batches, taking the core lock for each read and the shard lock for each
        // hand-over: publishers interleave freely and their events wait in the live queue.
        let mut cursor = subscribed.replay();
        let mut batch = Vec::with_capacity(REPLAY_BATCH);
        while let Some(at) = cursor {
            batch.clear();
            let read = lock(&self.inner.core).read(at.after(), REPLAY_BATCH, now, &mut batch);
            let mut state = lock(&self.inner.shards[shard]);
            cursor = match read {
                Ok(()) => match state.shard.push_replay(subscription.id, &batch) {
                    Ok(ReplayStep::Continue(next)) => Some(next),
                    Ok(ReplayStep::Done) | Err(_) => None,
                },
                Err(error) => {
                    tracing::warn!(%error, "history read failed during replay");
                    let _ = state.shard.abandon_replay(subscription.id);
                    None
                }
            };
        }
        Ok(subscription)
    }

    /// Starts a graceful shutdown: refuses new subscriptions, and makes every open stream
    /// send `retry: <retry>` (so clients come back after that delay, to this hub restarted or
    /// another one, resuming with `Last-Event-ID`) and end once its queued frames are written.
    /// Returns at once; [`Hub::connections`] falls to zero as the streams finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// let hub = tidings_server::Hub::new(Default::default());
    /// hub.shutdown(Duration::from_secs(1));
    /// assert!(hub.is_shutting_down());
    /// assert!(hub.subscribe(tidings_broker::SubscriptionConfig::new()).is_err());
    /// # }
    /// ```
    pub fn shutdown(&self, retry: Duration) {
        let retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        self.inner.shutdown_retry_ms.store(retry_ms, Ordering::Release);
        self.inner.shutting_down.store(true, Ordering::Release);
        let mut wake = Vec::new();
        for shard in &self.inner.shards {
            let mut state = lock(shard);
            wake.extend(state.conns.values_mut().filter_map(|conn| conn.waker.take()));
        }
        for waker in wake {
            waker.wake();
        }
    }

    /// Whether [`Hub::shutdown`] was called.
    ///
    /// See [`Hub::shutdown`] for an example.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// The `retry:` delay to send on shutdown, once [`Hub::shutdown`] was called.
    pub(crate) fn shutdown_retry(&self) -> Option<Duration> {
        self.is_shutting_down()
            .then(|| Duration::from_millis(self.inner.shutdown_retry_ms.load(Ordering::Acquire)))
    }

    /// When the hub started, on its clock (see [`Hub::now`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// assert!(hub.started() <= hub.now());
    /// # }
    /// ```
    #[must_use]
    pub fn started(&self) -> Timestamp {
        Timestamp::from_millis(self.inner.started_unix_ms)
    }

    /// Hub-wide counters and sizes: the core's and every shard's statistics merged, history
    /// size and the publish latency histogram (what `/metrics` renders). Takes the core lock,
    /// then each shard lock in turn, each just long enough to copy its counters; the parts are
    /// therefore not one atomic snapshot (a publish may land between two shards).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_broker::{Message, Selector, SubscriptionConfig};
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let _subscription = hub.subscribe(SubscriptionConfig::new().selector(Selector::parse("t")?))?;
    /// hub.publish(Message::new(tidings_codec::Event::new("x")).topic("t"))?;
    /// let totals = hub.stats();
    /// assert_eq!((totals.core.published, totals.shards.delivered), (1, 1));
    /// assert_eq!((totals.connections, totals.subscriptions, totals.history_events), (1, 1, 1));
    /// assert_eq!(totals.publish_latency.count(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn stats(&self) -> HubTotals {
        let (core, history_events, history_bytes) = {
            let core = lock(&self.inner.core);
            let history = core.history();
            (core.stats().clone(), History::len(history), History::bytes(history))
        };
        let mut shards = ShardStats::default();
        let mut subscriptions = 0;
        for shard in &self.inner.shards {
            // Copied under the lock, merged outside it: merging topic tables costs more.
            let (copy, selectors) = {
                let state = lock(shard);
                let selectors = state.shard.selector_counts().map(|(_, n)| n).sum::<usize>();
                (state.shard.stats().clone(), selectors)
            };
            shards.merge(&copy);
            subscriptions += selectors;
        }
        HubTotals {
            core,
            shards,
            connections: self.connections(),
            subscriptions,
            history_events,
            history_bytes,
            publish_latency: self.inner.publish_latency.snapshot(),
            started: self.started(),
            now: self.now(),
            shutting_down: self.is_shutting_down(),
        }
    }

    /// Open subscriptions with their selectors, user, client address, start time and the
    /// number of items sent, at most `limit` of them (shard by shard, so which ones are listed
    /// past the limit is arbitrary). Each shard lock is held while its entries are copied.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_broker::{Selector, SubscriptionConfig, UserId};
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let config = SubscriptionConfig::new().selector(Selector::parse("a/*")?).principal(UserId::new("ann"));
    /// let subscription = hub.subscribe(config)?;
    /// subscription.set_client_addr([192, 0, 2, 7].into());
    /// let listed = hub.connection_list(10);
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].selectors, ["a/*"]);
    /// assert_eq!(listed[0].user.as_deref(), Some("ann"));
    /// assert_eq!(listed[0].client_addr, Some([192, 0, 2, 7].into()));
    /// assert!(hub.connection_list(0).is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn connection_list(&self, limit: usize) -> Vec<ConnectionStatus> {
        let mut listed = Vec::new();
        for shard in &self.inner.shards {
            if listed.len() >= limit {
                break;
            }
            let state = lock(shard);
            let room = limit - listed.len();
            listed.extend(state.shard.subscriptions().take(room).map(|info| {
                let conn = state.conns.get(&info.id);
                let (queued, queued_bytes) = state.shard.queued(info.id).unwrap_or_default();
                ConnectionStatus {
                    id: info.id,
                    selectors: info.selectors.iter().map(|s| s.as_str().to_owned()).collect(),
                    user: info.principal.map(|u| u.as_str().to_owned()),
                    client_addr: conn.and_then(|c| c.client_addr),
                    since: info.since,
                    sent: conn.map_or(0, |c| c.sent),
                    queued,
                    queued_bytes,
                }
            }));
        }
        listed
    }

    pub(crate) fn shard_state(&self, shard: usize) -> MutexGuard<'_, ShardState> {
        lock(&self.inner.shards[shard])
    }
}

impl Inner {
    fn now(&self) -> Timestamp {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Timestamp::from_millis(self.started_unix_ms.saturating_add(elapsed))
    }
}

impl ShardState {
    /// Takes the wakers of every connection the shard has something new for (new items, or a
    /// disconnect decision) so the caller can wake them after releasing the lock.
    fn collect_wakers(&mut self, wake: &mut Vec<Waker>) {
        self.scratch.clear();
        self.shard.take_woken(&mut self.scratch);
        self.disconnects.clear();
        self.shard.take_disconnects(&mut self.disconnects);
        let ids = self.scratch.iter().copied().chain(self.disconnects.iter().map(|(id, _)| *id));
        for id in ids {
            if let Some(waker) = self.conns.get_mut(&id).and_then(|conn| conn.waker.take()) {
                wake.push(waker);
            }
        }
    }
}

/// Releases one connection slot when dropped.
struct ConnectionSlot {
    inner: Arc<Inner>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.inner.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One open subscription. Dropping it unsubscribes and frees its connection slot.
///
/// Turn it into a response body with [`Subscription::into_body`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = tidings_server::Hub::new(Default::default());
/// let subscription = hub.subscribe(tidings_broker::SubscriptionConfig::new())?;
/// assert_eq!(hub.connections(), 1);
/// drop(subscription);
/// assert_eq!(hub.connections(), 0);
/// # Ok(()) }
/// ```
pub struct Subscription {
    pub(crate) hub: Hub,
    pub(crate) id: SubscriberId,
    pub(crate) shard: usize,
    start_gap: Option<Gap>,
    _slot: ConnectionSlot,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subscriber id (usable with `Message::to_subscriber`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let a = hub.subscribe(tidings_broker::SubscriptionConfig::new())?;
    /// let b = hub.subscribe(tidings_broker::SubscriptionConfig::new())?;
    /// assert_ne!(a.id(), b.id());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// The gap notice the subscription started with, when it resumed from an id the hub does
    /// not know (the body sends it first, as a `tidings-gap` event). Mercure answers such a
    /// resume with the `Last-Event-ID: earliest` response header.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_broker::{Start, SubscriptionConfig};
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let unknown = Start::Resume(tidings_codec::EventId::new("nope")?);
    /// assert!(hub.subscribe(SubscriptionConfig::new().start(unknown))?.start_gap().is_some());
    /// assert!(hub.subscribe(SubscriptionConfig::new())?.start_gap().is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn start_gap(&self) -> Option<Gap> {
        self.start_gap
    }

    /// The SSE response body for this subscription (see [`SseBody`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let body = hub.subscribe(tidings_broker::SubscriptionConfig::new())?.into_body();
    /// # drop(body);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn into_body(self) -> SseBody {
        SseBody::new(self)
    }

    /// Records the client's address (the TCP peer, or the client a trusted proxy names), so
    /// the admin status can show it ([`Hub::connection_list`]).
    ///
    /// See [`Hub::connection_list`] for an example.
    pub fn set_client_addr(&self, addr: IpAddr) {
        if let Some(conn) = self.hub.shard_state(self.shard).conns.get_mut(&self.id) {
            conn.client_addr = Some(addr);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.hub.shard_state(self.shard);
        state.conns.remove(&self.id);
        // Already gone only if the shard removed it itself; nothing else to undo then.
        let _ = state.shard.unsubscribe(self.id);
    }
}

/// The hub-wide keep-alive: every period, each connection that was queued nothing during the
/// period gets one comment frame. One task for the whole hub, not a timer per connection.
async fn keep_alive_loop(hub: Weak<Inner>, first: tokio::time::Instant, period: Duration) {
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle = Vec::new();
    let mut wake = Vec::new();
    loop {
        ticks.tick().await;
        let Some(inner) = hub.upgrade() else { return };
        for shard in &inner.shards {
            let mut state = lock(shard);
            idle.clear();
            state.shard.take_idle(&mut idle);
            for id in &idle {
                if let Some(conn) = state.conns.get_mut(id) {
                    conn.keep_alive_due = true;
                    if let Some(waker) = conn.waker.take() {
                        wake.push(waker);
                    }
                }
            }
            drop(state);
            for waker in wake.drain(..) {
                waker.wake();
            }
        }
    }
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the state
/// consistent before it can panic, so a panicked holder does not make the data invalid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
