//! Event history: the [`History`] trait and the in-memory ring, [`MemoryHistory`].
//!
//! History holds published events in sequence order so that a reconnecting client can be sent
//! what it missed. The trait is shaped for three backends: the in-memory ring here, an embedded
//! durable store and Redis Streams. What those need shaped it:
//!
//! - **Batches.** [`History::append`] takes a slice, so a durable store can write one
//!   transaction (or one `XADD` pipeline) per batch, and [`History::read_after`] reads a bounded
//!   batch after a position, like a range query or `XRANGE … COUNT`.
//! - **No lock across reads.** The broker core never reads history while it holds subscriber
//!   state: a resume is a plan ([`crate::ReplayPlan`]) plus batches the driver reads and hands
//!   to the shard ([`crate::Shard::push_replay`]). An async backend implements the same
//!   operations as `async fn`s in the server layer, and the driver awaits them with no lock
//!   held. The synchronous trait here is what the in-memory ring and a synchronous embedded
//!   store implement directly.
//! - **Positions, not ids.** Events are addressed by [`Seq`]. Broker-assigned ids encode their
//!   sequence ([`crate::IdScheme`]); publisher-supplied ids are looked up with
//!   [`History::position_of`], an index kept beside the events.
//! - **Trim by count, bytes and age** ([`Retention`]); events older than the TTL are also
//!   skipped by reads between trims, so an expired event is never replayed.
//!
//! ```
//! use tidings_broker::{Broker, BrokerConfig, History, Message, Retention, Timestamp};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0).retention(Retention::default().max_events(Some(2))));
//! for data in ["a", "b", "c"] {
//!     broker.publish(Message::new(Event::new(data)), Timestamp::ZERO)?;
//! }
//! let history = broker.hub().history();
//! assert_eq!((history.len(), history.first_seq().map(|s| s.get())), (2, Some(2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tidings_codec::EventId;

use crate::id::Seq;
use crate::message::Published;
use crate::time::Timestamp;

/// How much history to keep. Every limit is optional; the default keeps 1 000 events, 16 MiB
/// and no age limit.
///
/// ```
/// use std::time::Duration;
/// use tidings_broker::Retention;
///
/// let retention = Retention::default()
///     .max_events(Some(10_000))
///     .max_bytes(Some(64 << 20))
///     .event_ttl(Some(Duration::from_secs(3600)));
/// assert_eq!(retention.max_events_limit(), Some(10_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Retention {
    max_events: Option<usize>,
    max_bytes: Option<usize>,
    event_ttl: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self { max_events: Some(1_000), max_bytes: Some(16 << 20), event_ttl: None }
    }
}

impl Retention {
    /// Keeps nothing: every resume is a gap, every new subscriber is live only.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Retention::none().max_events_limit(), Some(0));
    /// ```
    pub fn none() -> Self {
        Self { max_events: Some(0), max_bytes: None, event_ttl: None }
    }

    /// Keeps everything (memory grows without bound: for tests and short-lived hubs).
    ///
    /// ```
    /// assert_eq!(tidings_broker::Retention::unlimited().max_events_limit(), None);
    /// ```
    pub fn unlimited() -> Self {
        Self { max_events: None, max_bytes: None, event_ttl: None }
    }

    /// Most events kept; the oldest go first. Default: `Some(1_000)`.
    pub fn max_events(mut self, limit: Option<usize>) -> Self {
        self.max_events = limit;
        self
    }

    /// Most bytes kept, counted by [`Published::size`]. Default: `Some(16 MiB)`.
    pub fn max_bytes(mut self, limit: Option<usize>) -> Self {
        self.max_bytes = limit;
        self
    }

    /// Age after which an event expires: it is never replayed and is trimmed. Default: `None`.
    pub fn event_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.event_ttl = ttl;
        self
    }

    /// The count limit.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Retention::default().max_events_limit(), Some(1_000));
    /// ```
    #[must_use]
    pub fn max_events_limit(&self) -> Option<usize> {
        self.max_events
    }

    /// The byte limit.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Retention::default().max_bytes_limit(), Some(16 << 20));
    /// ```
    #[must_use]
    pub fn max_bytes_limit(&self) -> Option<usize> {
        self.max_bytes
    }

    /// The TTL.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Retention::default().event_ttl_limit(), None);
    /// ```
    #[must_use]
    pub fn event_ttl_limit(&self) -> Option<Duration> {
        self.event_ttl
    }

    /// The oldest publication time still replayable at `now` (`None`: no TTL).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_broker::{Retention, Timestamp};
    ///
    /// let r = Retention::default().event_ttl(Some(Duration::from_millis(10)));
    /// assert_eq!(r.not_before(Timestamp::from_millis(25)), Some(Timestamp::from_millis(15)));
    /// ```
    #[must_use]
    pub fn not_before(&self, now: Timestamp) -> Option<Timestamp> {
        self.event_ttl.map(|ttl| now.saturating_sub(ttl))
    }
}

/// A history backend failed (I/O, connection, corruption). The in-memory ring never fails.
///
/// ```
/// use tidings_broker::HistoryError;
///
/// let err = HistoryError::backend(std::io::Error::other("disk full"));
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The backend reported an error.
    #[error("history backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Appended events did not continue the stored sequence (a bug in the caller).
    #[error("append out of order: expected {expected}, got {got}")]
    OutOfOrder {
        /// The sequence the store expected next.
        expected: Seq,
        /// The sequence it was given.
        got: Seq,
    },
}

impl HistoryError {
    /// Wraps a backend error.
    ///
    /// See [`HistoryError`] for an example.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// What one trim removed.
///
/// ```
/// let t = tidings_broker::Trimmed::default();
/// assert_eq!((t.events, t.bytes), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trimmed {
    /// Events removed.
    pub events: u64,
    /// Bytes removed.
    pub bytes: u64,
}

/// Storage for published events, in sequence order. See the [module docs](self) for the
/// design.
///
/// Contract: sequences are appended contiguously (each batch continues the last stored
/// sequence, starting anywhere for an empty store), events leave only from the front (trim),
/// and timestamps do not decrease along the sequence.
///
/// ```
/// use tidings_broker::{History, MemoryHistory, Retention, Seq, Timestamp};
///
/// let history = MemoryHistory::new();
/// assert!(history.is_empty());
/// assert_eq!(history.last_seq(), None);
/// ```
pub trait History {
    /// Appends events after the last stored one.
    ///
    /// # Errors
    /// [`HistoryError::OutOfOrder`] when the batch does not continue the stored sequence;
    /// [`HistoryError::Backend`] when storage fails.
    fn append(&mut self, events: &[Published]) -> Result<(), HistoryError>;

    /// Appends to `out` at most `limit` events with a sequence after `after`, oldest first,
    /// skipping events published before `not_before` (expired by the TTL).
    ///
    /// # Errors
    /// [`HistoryError::Backend`] when storage fails.
    fn read_after(
        &self,
        after: Seq,
        limit: usize,
        not_before: Option<Timestamp>,
        out: &mut Vec<Published>,
    ) -> Result<(), HistoryError>;

    /// Removes the oldest events until every limit of `retention` holds at `now`.
    ///
    /// # Errors
    /// [`HistoryError::Backend`] when storage fails.
    fn trim(&mut self, retention: &Retention, now: Timestamp) -> Result<Trimmed, HistoryError>;

    /// The position of a publisher-supplied id among retained events.
    ///
    /// # Errors
    /// [`HistoryError::Backend`] when storage fails.
    fn position_of(&self, id: &EventId) -> Result<Option<Seq>, HistoryError>;

    /// The first retained event published at or after `time`.
    ///
    /// # Errors
    /// [`HistoryError::Backend`] when storage fails.
    fn first_since(&self, time: Timestamp) -> Result<Option<Seq>, HistoryError>;

    /// The oldest retained sequence.
    fn first_seq(&self) -> Option<Seq>;

    /// The newest retained sequence.
    fn last_seq(&self) -> Option<Seq>;

    /// Number of retained events.
    fn len(&self) -> usize;

    /// Whether no event is retained.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes retained, by [`Published::size`].
    fn bytes(&self) -> usize;
}

/// The in-memory ring: a `VecDeque` of shared events plus a map of publisher-supplied ids.
///
/// Lookups by sequence are O(1) (the ring is contiguous), by time O(log n), and appends and
/// trims O(1) per event. Events are the same allocations the subscriber queues hold, so
/// history costs one pointer per event plus the events themselves.
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, History, Message, Seq, Timestamp};
/// use tidings_codec::Event;
///
/// let mut broker = Broker::new(BrokerConfig::new(0));
/// broker.publish(Message::new(Event::new("a")), Timestamp::ZERO)?;
/// broker.publish(Message::new(Event::new("b")), Timestamp::ZERO)?;
/// let mut out = Vec::new();
/// broker.hub().history().read_after(Seq::new(1), 10, None, &mut out)?;
/// assert_eq!(out.len(), 1);
/// assert_eq!(out[0].seq(), Seq::new(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryHistory {
    events: VecDeque<Published>,
    supplied_ids: HashMap<EventId, Seq>,
    bytes: usize,
}

impl MemoryHistory {
    /// An empty ring.
    ///
    /// ```
    /// use tidings_broker::{History, MemoryHistory};
    /// assert_eq!(MemoryHistory::new().len(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn pop_front(&mut self, trimmed: &mut Trimmed) {
        if let Some(event) = self.events.pop_front() {
            if event.is_id_supplied() {
                self.supplied_ids.remove(event.id());
            }
            let size = event.size();
            self.bytes -= size;
            trimmed.events += 1;
            trimmed.bytes += size as u64;
        }
    }
}

impl History for MemoryHistory {
    fn append(&mut self, events: &[Published]) -> Result<(), HistoryError> {
        let mut expected = self.last_seq().map(Seq::next);
        for event in events {
            if let Some(expected) = expected
                && event.seq() != expected
            {
                return Err(HistoryError::OutOfOrder { expected, got: event.seq() });
            }
            expected = Some(event.seq().next());
        }
        for event in events {
            if event.is_id_supplied() {
                self.supplied_ids.insert(event.id().clone(), event.seq());
            }
            self.bytes += event.size();
            self.events.push_back(event.clone());
        }
        Ok(())
    }

    fn read_after(
        &self,
        after: Seq,
        limit: usize,
        not_before: Option<Timestamp>,
        out: &mut Vec<Published>,
    ) -> Result<(), HistoryError> {
        let Some(first) = self.first_seq() else { return Ok(()) };
        let mut start = usize::try_from(after.next().get().saturating_sub(first.get()))
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        if let Some(not_before) = not_before {
            // Timestamps do not decrease, so expired events form a prefix.
            let expired = self.events.partition_point(|e| e.time() < not_before);
            start = start.max(expired);
        }
        out.extend(self.events.range(start..).take(limit).cloned());
        Ok(())
    }

    fn trim(&mut self, retention: &Retention, now: Timestamp) -> Result<Trimmed, HistoryError> {
        let mut trimmed = Trimmed::default();
        if let Some(max) = retention.max_events_limit() {
            while self.events.len() > max {
                self.pop_front(&mut trimmed);
            }
        }
        if let Some(max) = retention.max_bytes_limit() {
            while self.bytes > max {
                self.pop_front(&mut trimmed);
            }
        }
        if let Some(not_before) = retention.not_before(now) {
            while self.events.front().is_some_and(|e| e.time() < not_before) {
                self.pop_front(&mut trimmed);
            }
        }
        Ok(trimmed)
    }

    fn position_of(&self, id: &EventId) -> Result<Option<Seq>, HistoryError> {
        Ok(self.supplied_ids.get(id).copied())
    }

    fn first_since(&self, time: Timestamp) -> Result<Option<Seq>, HistoryError> {
        let index = self.events.partition_point(|e| e.time() < time);
        Ok(self.events.get(index).map(Published::seq))
    }

    fn first_seq(&self) -> Option<Seq> {
        self.events.front().map(Published::seq)
    }

    fn last_seq(&self) -> Option<Seq> {
        self.events.back().map(Published::seq)
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}
