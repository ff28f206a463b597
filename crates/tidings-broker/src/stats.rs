//! Counters cheap enough to keep on always.
//!
//! Totals are plain integers bumped once per publish or per delivery batch. Per-topic counts
//! use [`TopTopics`], which tracks at most a configured number of topics: when a new topic
//! arrives and the table is full, the least counted topic is folded into `other`, so heavy
//! topics stay listed, memory stays bounded, and `listed + other` always equals the total.
//!
//! ```
//! use tidings_broker::{Broker, BrokerConfig, Message, Selector, SubscriptionConfig, Timestamp};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0));
//! broker.subscribe(SubscriptionConfig::new().selector(Selector::parse("t")?), Timestamp::ZERO)?;
//! broker.publish(Message::new(Event::new("x")).topic("t"), Timestamp::ZERO)?;
//! assert_eq!(broker.hub().stats().published, 1);
//! assert_eq!(broker.shard().stats().delivered, 1);
//! assert_eq!(broker.shard().stats().topics.count("t"), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

/// Per-topic counts with bounded cardinality (a space-saving table).
///
/// ```
/// use tidings_broker::TopTopics;
///
/// let mut top = TopTopics::new(2);
/// for topic in ["a", "a", "a", "b", "c"] {
///     top.add(topic, 1);
/// }
/// // `b` (1) was folded into `other` when `c` arrived; `a` stays.
/// assert_eq!(top.count("a"), Some(3));
/// assert_eq!(top.other(), 1);
/// assert_eq!(top.total(), 5);
/// ```
#[derive(Clone, Debug)]
pub struct TopTopics {
    capacity: usize,
    counts: HashMap<Box<str>, u64>,
    other: u64,
}

/// A table of [`crate::hub::DEFAULT_TOPIC_STATS`] (64) topics.
impl Default for TopTopics {
    fn default() -> Self {
        Self::new(crate::hub::DEFAULT_TOPIC_STATS)
    }
}

impl TopTopics {
    /// A table listing at most `capacity` topics (0: everything goes to `other`).
    ///
    /// ```
    /// let mut top = tidings_broker::TopTopics::new(0);
    /// top.add("a", 2);
    /// assert_eq!(top.other(), 2);
    /// ```
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { capacity, counts: HashMap::with_capacity(capacity.min(1024)), other: 0 }
    }

    /// Adds `n` to `topic`'s count.
    ///
    /// See [`TopTopics`] for an example.
    pub fn add(&mut self, topic: &str, n: u64) {
        if let Some(count) = self.counts.get_mut(topic) {
            *count += n;
            return;
        }
        if self.capacity == 0 {
            self.other += n;
            return;
        }
        if self.counts.len() >= self.capacity {
            // O(capacity), only when an unlisted topic arrives and the table is full.
            let smallest =
                self.counts.iter().min_by_key(|(_, c)| **c).map(|(t, c)| (t.clone(), *c));
            if let Some((topic, count)) = smallest {
                self.counts.remove(&topic);
                self.other += count;
            }
        }
        self.counts.insert(topic.into(), n);
    }

    /// The listed count for `topic` (counted since it was last listed), if listed.
    ///
    /// See [`TopTopics`] for an example.
    #[must_use]
    pub fn count(&self, topic: &str) -> Option<u64> {
        self.counts.get(topic).copied()
    }

    /// Counts of topics not listed.
    ///
    /// See [`TopTopics`] for an example.
    #[must_use]
    pub fn other(&self) -> u64 {
        self.other
    }

    /// Sum of every count, listed or not.
    ///
    /// See [`TopTopics`] for an example.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.other + self.counts.values().sum::<u64>()
    }

    /// Adds every count of `other` (for totals over several shards). The result keeps this
    /// table's capacity; topics that do not fit are folded into `other` as usual.
    ///
    /// ```
    /// let (mut a, mut b) = (tidings_broker::TopTopics::new(4), tidings_broker::TopTopics::new(4));
    /// a.add("x", 1);
    /// b.add("x", 2);
    /// b.add("y", 1);
    /// a.merge(&b);
    /// assert_eq!((a.count("x"), a.count("y"), a.total()), (Some(3), Some(1), 4));
    /// ```
    pub fn merge(&mut self, other: &TopTopics) {
        for (topic, count) in &other.counts {
            self.add(topic, *count);
        }
        self.other += other.other;
    }

    /// Listed topics, highest count first.
    ///
    /// ```
    /// let mut top = tidings_broker::TopTopics::new(4);
    /// top.add("x", 1);
    /// top.add("y", 5);
    /// assert_eq!(top.sorted()[0], ("y", 5));
    /// ```
    #[must_use]
    pub fn sorted(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(t, c)| (&**t, *c)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

/// Hub counters: what was published and kept.
///
/// ```
/// # use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
/// # let mut broker = Broker::new(BrokerConfig::new(0));
/// broker.publish(Message::new(tidings_codec::Event::new("x")).topic("t"), Timestamp::ZERO)?;
/// let stats = broker.hub().stats();
/// assert_eq!(stats.published, 1);
/// assert_eq!(stats.topics.count("t"), Some(1));
/// # Ok::<(), tidings_broker::PublishError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HubStats {
    /// Events accepted.
    pub published: u64,
    /// Publishes refused (invalid or duplicate id, history failure).
    pub rejected: u64,
    /// Events removed from history by retention.
    pub trimmed: u64,
    /// Trims the history backend failed (history then holds more than the limits until the
    /// next trim succeeds).
    pub trim_errors: u64,
    /// Events published per topic (each topic of an event counts once).
    pub topics: TopTopics,
}

/// Shard counters: what reached subscribers, what did not, and why.
///
/// ```
/// # use tidings_broker::{Broker, BrokerConfig, Message, Selector, SubscriptionConfig, Timestamp};
/// # let mut broker = Broker::new(BrokerConfig::new(0));
/// broker.subscribe(SubscriptionConfig::new().selector(Selector::parse("t")?), Timestamp::ZERO)?;
/// broker.publish(Message::new(tidings_codec::Event::new("x")).topic("t"), Timestamp::ZERO)?;
/// let stats = broker.shard().stats();
/// assert_eq!((stats.delivered, stats.online), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ShardStats {
    /// Events queued live to subscribers.
    pub delivered: u64,
    /// Events replayed from history to resuming or catching-up subscribers.
    pub replayed: u64,
    /// Events a subscriber did not get: evicted by drop-oldest, refused by a full queue, or
    /// sent to a subscriber already marked for disconnection.
    pub dropped: u64,
    /// Subscribers disconnected because their queue overflowed.
    pub lag_disconnects: u64,
    /// Gap notices queued (unknown id, trimmed history, drop-oldest).
    pub gaps: u64,
    /// Subscriptions created.
    pub subscribed: u64,
    /// Subscriptions removed.
    pub unsubscribed: u64,
    /// Subscribers online now.
    pub online: u64,
    /// Live deliveries per topic (an event counts under its first topic).
    pub topics: TopTopics,
}

impl ShardStats {
    /// Adds `other`'s counters to these (totals over the shards of a hub).
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, ShardStats, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// let mut total = ShardStats::default();
    /// total.merge(broker.shard().stats());
    /// total.merge(broker.shard().stats());
    /// assert_eq!(total.online, 2);
    /// assert_eq!(total.topics.total(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&mut self, other: &ShardStats) {
        self.delivered += other.delivered;
        self.replayed += other.replayed;
        self.dropped += other.dropped;
        self.lag_disconnects += other.lag_disconnects;
        self.gaps += other.gaps;
        self.subscribed += other.subscribed;
        self.unsubscribed += other.unsubscribed;
        self.online += other.online;
        self.topics.merge(&other.topics);
    }
}
