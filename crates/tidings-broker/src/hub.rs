//! The hub: id assignment, encoding and history. One per broker, behind its own lock.
//!
//! Publishing is [`Hub::publish`] (assign a sequence and id, encode the frame once, append to
//! history, trim) followed by [`crate::Shard::fan_out`] on every shard, **in sequence order**:
//! the driver fans out each event to every shard before fanning out the next (for example by
//! holding the hub lock while it does; lock order hub → shard). Shards check the order and
//! refuse an event older than one they have already seen.
//!
//! A subscription starts with [`Hub::plan`] (where to replay from), then
//! [`crate::Shard::subscribe`], then batches read with [`Hub::read`] (or from an async
//! backend with no lock held) pushed with [`crate::Shard::push_replay`].
//!
//! ```
//! use tidings_broker::{Hub, HubConfig, Message, Shard, ShardConfig, Start, SubscriptionConfig, Timestamp, Selector};
//! use tidings_codec::Event;
//!
//! let mut hub = Hub::new(HubConfig::new(42));
//! let mut shards = vec![Shard::new(ShardConfig::new(0)), Shard::new(ShardConfig::new(1))];
//!
//! let now = Timestamp::from_millis(1);
//! let published = hub.publish(Message::new(Event::new("hi")).topic("news"), now)?;
//! for shard in &mut shards {
//!     shard.fan_out(&published)?;
//! }
//! assert_eq!(hub.stats().published, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use tidings_codec::EventId;

use crate::history::{History, HistoryError, MemoryHistory, Retention};
use crate::id::{IdScheme, Seq};
use crate::item::{Gap, GapReason};
use crate::message::{Message, Published, PublishedParts};
use crate::stats::{HubStats, TopTopics};
use crate::time::Timestamp;

/// Default number of topics listed in per-topic statistics.
pub const DEFAULT_TOPIC_STATS: usize = 64;

/// What a resume does when events after the client's id are gone (unknown id, trimmed or
/// expired history). A [`Gap`] notice is queued first either way.
///
/// ```
/// assert_eq!(tidings_broker::GapPolicy::default(), tidings_broker::GapPolicy::ReplayRetained);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapPolicy {
    /// Replay what history still holds after the gap, then go live (the default).
    #[default]
    ReplayRetained,
    /// Skip history and go live.
    LiveOnly,
}

/// Hub settings.
///
/// ```
/// use tidings_broker::{GapPolicy, HubConfig, Retention};
///
/// let config = HubConfig::new(rand_epoch())
///     .retention(Retention::default().max_events(Some(50_000)))
///     .gap_policy(GapPolicy::LiveOnly);
/// # fn rand_epoch() -> u32 { 7 }
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HubConfig {
    epoch: u32,
    retention: Retention,
    gap_policy: GapPolicy,
    topic_stats: usize,
}

impl HubConfig {
    /// Settings with id epoch `epoch`. The epoch should be random per history (the server
    /// draws it from its RNG; tests fix it), so ids of a wiped history are recognised as
    /// unknown. A durable history must store its epoch and reuse it.
    ///
    /// See [`HubConfig`] for an example.
    pub fn new(epoch: u32) -> Self {
        Self {
            epoch,
            retention: Retention::default(),
            gap_policy: GapPolicy::default(),
            topic_stats: DEFAULT_TOPIC_STATS,
        }
    }

    /// History limits. Default: [`Retention::default`] (1 000 events, 16 MiB, no TTL).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// What resumes do on a gap. Default: [`GapPolicy::ReplayRetained`].
    pub fn gap_policy(mut self, policy: GapPolicy) -> Self {
        self.gap_policy = policy;
        self
    }

    /// Topics listed in per-topic statistics (the rest count as "other"). Default:
    /// [`DEFAULT_TOPIC_STATS`] (64).
    pub fn topic_stats(mut self, topics: usize) -> Self {
        self.topic_stats = topics;
        self
    }
}

/// Where a new subscription starts.
///
/// ```
/// use tidings_broker::Start;
/// use tidings_codec::EventId;
///
/// assert_eq!(Start::default(), Start::Live);
/// let resume = Start::Resume(EventId::new("0-a5")?);
/// # drop(resume);
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// Live events only (the default).
    #[default]
    Live,
    /// Replay the last `n` events of history (those of them the subscription matches), then
    /// live.
    LastN(usize),
    /// Replay events published at or after this time, then live (Mercure's `earliest` is
    /// `Since(Timestamp::ZERO)`).
    Since(Timestamp),
    /// Resume after this `Last-Event-ID`: every retained event after it that the
    /// subscription matches, then live; a [`Gap`] first if the id is unknown or history no
    /// longer reaches back to it.
    Resume(EventId),
}

/// Where to replay from: the result of [`Hub::plan`], handed to [`crate::Shard::subscribe`].
///
/// ```
/// use tidings_broker::{Hub, HubConfig, Start, Timestamp};
///
/// let hub = Hub::new(HubConfig::new(0));
/// let plan = hub.plan(&Start::Live, Timestamp::ZERO)?;
/// assert_eq!(plan.after(), None);
/// # Ok::<(), tidings_broker::HistoryError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayPlan {
    pub(crate) after: Option<Seq>,
    pub(crate) gap: Option<Gap>,
    pub(crate) anchored: bool,
    pub(crate) gap_policy: GapPolicy,
}

impl ReplayPlan {
    /// Live only, no notice.
    ///
    /// ```
    /// assert_eq!(tidings_broker::ReplayPlan::live().after(), None);
    /// ```
    #[must_use]
    pub const fn live() -> Self {
        Self { after: None, gap: None, anchored: false, gap_policy: GapPolicy::ReplayRetained }
    }

    /// Replay events after this position (`None`: live only).
    ///
    /// See [`ReplayPlan`] for an example.
    #[must_use]
    pub const fn after(&self) -> Option<Seq> {
        self.after
    }

    /// The notice queued before anything else (unknown id).
    ///
    /// ```
    /// use tidings_broker::{GapReason, Hub, HubConfig, Start, Timestamp};
    /// use tidings_codec::EventId;
    ///
    /// let hub = Hub::new(HubConfig::new(0));
    /// let plan = hub.plan(&Start::Resume(EventId::new("nope")?), Timestamp::ZERO)?;
    /// assert_eq!(plan.gap().map(|g| g.reason), Some(GapReason::UnknownId));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn gap(&self) -> Option<Gap> {
        self.gap
    }
}

/// Why a publish was refused.
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, Message, PublishError, Timestamp};
/// use tidings_codec::{Event, EventId};
///
/// let mut broker = Broker::new(BrokerConfig::new(0));
/// let event = Event::new("x").with_id(EventId::new("order-1")?);
/// broker.publish(Message::new(event.clone()), Timestamp::ZERO)?;
/// let err = broker.publish(Message::new(event), Timestamp::ZERO).unwrap_err();
/// assert!(matches!(err, PublishError::DuplicateId { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The supplied id is empty (on the wire it would reset the client's last id).
    #[error("event id is empty")]
    EmptyId,
    /// The supplied id has the form of an id this hub assigns itself.
    #[error("event id {id} has the hub's reserved form (prefix {prefix})")]
    ReservedId {
        /// The id.
        id: EventId,
        /// The reserved prefix.
        prefix: Box<str>,
    },
    /// The supplied id is already used by a retained event.
    #[error("event id {id} is already used by retained event {seq}")]
    DuplicateId {
        /// The id.
        id: EventId,
        /// The event that holds it.
        seq: Seq,
    },
    /// History failed.
    #[error("history failed")]
    History(#[from] HistoryError),
}

/// Id assignment and history. See the [module docs](self).
pub struct Hub<H = MemoryHistory> {
    scheme: IdScheme,
    retention: Retention,
    gap_policy: GapPolicy,
    last_seq: Seq,
    last_id: Option<EventId>,
    last_time: Timestamp,
    history: H,
    stats: HubStats,
}

impl Hub<MemoryHistory> {
    /// A hub with an in-memory history.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub fn new(config: HubConfig) -> Self {
        Self::with_history(config, MemoryHistory::new())
    }
}

impl<H: History> Hub<H> {
    /// A hub over `history`; sequences continue after its last event.
    ///
    /// ```
    /// use tidings_broker::{Hub, HubConfig, MemoryHistory};
    /// let hub = Hub::with_history(HubConfig::new(0), MemoryHistory::new());
    /// # drop(hub);
    /// ```
    #[must_use]
    pub fn with_history(config: HubConfig, history: H) -> Self {
        Self {
            scheme: IdScheme::new(config.epoch),
            retention: config.retention,
            gap_policy: config.gap_policy,
            last_seq: history.last_seq().unwrap_or(Seq::ZERO),
            last_id: None,
            last_time: Timestamp::ZERO,
            history,
            stats: HubStats { topics: TopTopics::new(config.topic_stats), ..HubStats::default() },
        }
    }

    /// Publishes: assigns the next sequence and, unless the event has one, an id; encodes the
    /// frame once; appends to history and trims it. Never waits on subscribers: fan the
    /// returned event out to every shard with [`crate::Shard::fan_out`].
    ///
    /// `now` is the publication time; a time earlier than the previous publish is raised to it
    /// so history stays ordered by time.
    ///
    /// # Errors
    /// [`PublishError`] for an empty, reserved or duplicate supplied id, or a history failure.
    ///
    /// See the [module docs](self) for an example.
    pub fn publish(&mut self, message: Message, now: Timestamp) -> Result<Published, PublishError> {
        let result = self.publish_inner(message, now);
        if result.is_err() {
            self.stats.rejected += 1;
        }
        result
    }

    fn publish_inner(
        &mut self,
        message: Message,
        now: Timestamp,
    ) -> Result<Published, PublishError> {
        let time = now.max(self.last_time);
        let published = self.prepare(message, self.last_seq.next(), time, &[])?;
        self.commit(std::slice::from_ref(&published), time)?;
        Ok(published)
    }

    /// Publishes several messages as one batch: consecutive sequences, one history append
    /// (one transaction or pipeline for a durable or remote history) and one trim. All or
    /// nothing: when one message is refused, none is published. Fan the events out in order.
    ///
    /// # Errors
    /// As [`Hub::publish`]; a supplied id used twice within the batch is a
    /// [`PublishError::DuplicateId`] too.
    ///
    /// ```
    /// use tidings_broker::{Hub, HubConfig, Message, Shard, ShardConfig, Timestamp};
    /// use tidings_codec::Event;
    ///
    /// let mut hub = Hub::new(HubConfig::new(0));
    /// let mut shard = Shard::new(ShardConfig::new(0));
    /// let mut published = Vec::new();
    /// let batch = ["a", "b", "c"].map(|data| Message::new(Event::new(data)).topic("t"));
    /// hub.publish_batch(batch, Timestamp::ZERO, &mut published)?;
    /// for event in &published {
    ///     shard.fan_out(event)?;
    /// }
    /// let ids: Vec<&str> = published.iter().map(|e| e.id().as_str()).collect();
    /// assert_eq!(ids, ["0-a1", "0-a2", "0-a3"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_batch(
        &mut self,
        messages: impl IntoIterator<Item = Message>,
        now: Timestamp,
        out: &mut Vec<Published>,
    ) -> Result<(), PublishError> {
        let time = now.max(self.last_time);
        let start = out.len();
        let mut seq = self.last_seq;
        let mut result = Ok(());
        for message in messages {
            seq = seq.next();
            match self.prepare(message, seq, time, &out[start..]) {
                Ok(published) => out.push(published),
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        if result.is_ok() && out.len() > start {
            result = self.commit(&out[start..], time);
        }
        if result.is_err() {
            out.truncate(start);
            self.stats.rejected += 1;
        }
        result
    }

    /// Validates the message, assigns `seq` and its id, and encodes the frame. `pending` are
    /// events of the same batch not yet appended (for the uniqueness of supplied ids).
    fn prepare(
        &self,
        message: Message,
        seq: Seq,
        time: Timestamp,
        pending: &[Published],
    ) -> Result<Published, PublishError> {
        let Message { event, topics, audience } = message;
        let (id, id_supplied, event) = match event.id() {
            Some(id) => {
                self.check_supplied_id(id)?;
                if let Some(twin) = pending.iter().find(|p| p.is_id_supplied() && p.id() == id) {
                    return Err(PublishError::DuplicateId { id: id.clone(), seq: twin.seq() });
                }
                (id.clone(), true, event)
            }
            None => {
                let id = self.scheme.format(seq);
                (id.clone(), false, event.with_id(id))
            }
        };
        Ok(Published::new(PublishedParts {
            seq,
            id,
            id_supplied,
            time,
            frame: event.encode(),
            topics,
            audience,
        }))
    }

    /// Appends prepared events, then trims. Once the append succeeded the events are
    /// published: a failed trim only leaves history longer until the next one (counted in
    /// [`HubStats::trim_errors`]), because refusing an event already in history would make
    /// replays differ from what live subscribers got.
    fn commit(&mut self, events: &[Published], time: Timestamp) -> Result<(), PublishError> {
        self.history.append(events)?;
        if let Some(last) = events.last() {
            self.last_seq = last.seq();
            self.last_id = Some(last.id().clone());
        }
        self.last_time = time;
        self.stats.published += events.len() as u64;
        for event in events {
            for topic in event.topics() {
                self.stats.topics.add(topic, 1);
            }
        }
        match self.history.trim(&self.retention, time) {
            Ok(trimmed) => self.stats.trimmed += trimmed.events,
            Err(_) => self.stats.trim_errors += 1,
        }
        Ok(())
    }

    fn check_supplied_id(&self, id: &EventId) -> Result<(), PublishError> {
        if id.is_empty() {
            return Err(PublishError::EmptyId);
        }
        if self.scheme.parse(id.as_str()).is_some() {
            return Err(PublishError::ReservedId {
                id: id.clone(),
                prefix: self.scheme.prefix().into(),
            });
        }
        if let Some(seq) = self.history.position_of(id)? {
            return Err(PublishError::DuplicateId { id: id.clone(), seq });
        }
        Ok(())
    }

    /// The position of `id`: a broker id of this epoch that was issued, or a supplied id
    /// still retained. `None` means unknown.
    ///
    /// # Errors
    /// [`HistoryError`] when the history lookup fails.
    ///
    /// ```
    /// use tidings_broker::{Broker, BrokerConfig, Message, Seq, Timestamp};
    /// use tidings_codec::{Event, EventId};
    ///
    /// let mut broker = Broker::new(BrokerConfig::new(0));
    /// let p = broker.publish(Message::new(Event::new("x")), Timestamp::ZERO)?;
    /// assert_eq!(broker.hub().resolve(p.id())?, Some(Seq::new(1)));
    /// assert_eq!(broker.hub().resolve(&EventId::new("0-a2")?)?, None, "not issued yet");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self, id: &EventId) -> Result<Option<Seq>, HistoryError> {
        if let Some(seq) = self.scheme.parse(id.as_str()) {
            return Ok((seq <= self.last_seq).then_some(seq));
        }
        self.history.position_of(id)
    }

    /// Plans where a subscription starts (see [`Start`]). Takes `&self`: it only reads.
    ///
    /// # Errors
    /// [`HistoryError`] when a history lookup fails.
    ///
    /// See [`ReplayPlan`] for an example.
    pub fn plan(&self, start: &Start, now: Timestamp) -> Result<ReplayPlan, HistoryError> {
        let mut plan = ReplayPlan { gap_policy: self.gap_policy, ..ReplayPlan::live() };
        match start {
            Start::Live => {}
            Start::LastN(n) => {
                let n = u64::try_from(*n).unwrap_or(u64::MAX);
                plan.after = Some(Seq::new(self.last_seq.get().saturating_sub(n)));
            }
            Start::Since(time) => {
                let from = self.retention.not_before(now).map_or(*time, |nb| nb.max(*time));
                plan.after = Some(match self.history.first_since(from)? {
                    Some(first) => Seq::new(first.get().saturating_sub(1)),
                    None => self.last_seq,
                });
            }
            Start::Resume(id) => match self.resolve(id)? {
                Some(seq) => {
                    plan.after = Some(seq);
                    plan.anchored = true;
                }
                None => {
                    plan.gap = Some(Gap::new(GapReason::UnknownId, None));
                    if self.gap_policy == GapPolicy::ReplayRetained {
                        plan.after = Some(Seq::ZERO);
                    }
                }
            },
        }
        Ok(plan)
    }

    /// Appends to `out` at most `limit` retained, unexpired events after `after`, oldest first.
    /// Pass them to [`crate::Shard::push_replay`].
    ///
    /// # Errors
    /// [`HistoryError`] when the history read fails.
    ///
    /// See [`MemoryHistory`] for an example of the underlying read.
    pub fn read(
        &self,
        after: Seq,
        limit: usize,
        now: Timestamp,
        out: &mut Vec<Published>,
    ) -> Result<(), HistoryError> {
        self.history.read_after(after, limit, self.retention.not_before(now), out)
    }

    /// Trims history to the retention limits at `now` (call it on a periodic tick so expired
    /// events are released even when nothing is published).
    ///
    /// # Errors
    /// [`HistoryError`] when the history trim fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_broker::{Broker, BrokerConfig, History, Message, Retention, Timestamp};
    ///
    /// let config = BrokerConfig::new(0).retention(Retention::default().event_ttl(Some(Duration::from_secs(1))));
    /// let mut broker = Broker::new(config);
    /// broker.publish(Message::new(tidings_codec::Event::new("x")), Timestamp::ZERO)?;
    /// broker.hub_mut().trim(Timestamp::from_millis(5_000))?;
    /// assert!(broker.hub().history().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trim(&mut self, now: Timestamp) -> Result<(), HistoryError> {
        let trimmed = self.history.trim(&self.retention, now)?;
        self.stats.trimmed += trimmed.events;
        Ok(())
    }

    /// The sequence of the last published event.
    ///
    /// ```
    /// let hub = tidings_broker::Hub::new(tidings_broker::HubConfig::new(0));
    /// assert_eq!(hub.last_seq(), tidings_broker::Seq::ZERO);
    /// ```
    #[must_use]
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The id of the last event published through this hub (Mercure sends it to new
    /// subscribers as their starting `Last-Event-ID`). `None` before the first publish, also
    /// for a hub opened over an existing history.
    ///
    /// ```
    /// use tidings_broker::{Hub, HubConfig, Message, Timestamp};
    ///
    /// let mut hub = Hub::new(HubConfig::new(0));
    /// assert_eq!(hub.last_id(), None);
    /// hub.publish(Message::new(tidings_codec::Event::new("x")), Timestamp::ZERO)?;
    /// assert_eq!(hub.last_id().map(|id| id.as_str()), Some("0-a1"));
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    #[must_use]
    pub fn last_id(&self) -> Option<&EventId> {
        self.last_id.as_ref()
    }

    /// The id scheme of this hub's epoch.
    ///
    /// ```
    /// let hub = tidings_broker::Hub::new(tidings_broker::HubConfig::new(0));
    /// assert_eq!(hub.id_scheme().prefix(), "0-");
    /// ```
    #[must_use]
    pub fn id_scheme(&self) -> &IdScheme {
        &self.scheme
    }

    /// The retention limits.
    ///
    /// ```
    /// let hub = tidings_broker::Hub::new(tidings_broker::HubConfig::new(0));
    /// assert_eq!(hub.retention(), &tidings_broker::Retention::default());
    /// ```
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The history.
    ///
    /// See [`MemoryHistory`] for an example.
    #[must_use]
    pub fn history(&self) -> &H {
        &self.history
    }

    /// Counters.
    ///
    /// See [`HubStats`] for an example.
    #[must_use]
    pub fn stats(&self) -> &HubStats {
        &self.stats
    }
}

impl<H> std::fmt::Debug for Hub<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("scheme", &self.scheme)
            .field("retention", &self.retention)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}
