//! What publishers hand in ([`Message`]) and what the broker shares with history and every
//! subscriber ([`Published`]).
//!
//! ```
//! use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0));
//! let message = Message::new(Event::new("{\"stock\":3}")).topic("https://example.com/books/1");
//! let published = broker.publish(message, Timestamp::from_millis(9))?;
//! assert_eq!(&published.frame()[..], b"id:0-a1\ndata: {\"stock\":3}\n\n");
//! assert_eq!(published.time(), Timestamp::from_millis(9));
//! # Ok::<(), tidings_broker::PublishError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use tidings_codec::{Event, EventId};

use crate::id::{Seq, SubscriberId, UserId};
use crate::time::Timestamp;

/// Who an event is for.
///
/// ```
/// use tidings_broker::{Audience, Message, UserId};
/// use tidings_codec::Event;
///
/// let m = Message::new(Event::new("hi")).to_users([UserId::new("alice")]);
/// assert!(matches!(m.audience(), Audience::Users(users) if users.len() == 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Audience {
    /// Subscribers with a selector matching one of the event's topics. When `private`, only
    /// those whose authorizer also covers one of the topics (Mercure's private updates).
    Topics {
        /// Deliver only to authorized subscribers.
        private: bool,
    },
    /// Every subscriber, whatever its selectors.
    Everyone,
    /// Every live session of these users (subscriptions whose principal is one of them).
    Users(Box<[UserId]>),
    /// One connection. Such events are kept in history (their id stays resumable) but are never
    /// replayed: a reconnecting client is a new subscriber.
    Subscriber(SubscriberId),
}

/// An event to publish, with its topics and audience. A by-value builder.
///
/// When the event carries an id ([`Event::with_id`]) the broker keeps it (it must be unique in
/// retained history); otherwise the broker assigns one.
///
/// ```
/// use tidings_broker::Message;
/// use tidings_codec::Event;
///
/// let m = Message::new(Event::new("{\"price\":3}"))
///     .topic("https://example.com/books/1")
///     .topic("books")
///     .private();
/// assert_eq!(m.topic_list().len(), 2);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Message {
    pub(crate) event: Event,
    pub(crate) topics: Vec<Box<str>>,
    pub(crate) audience: Audience,
}

impl Message {
    /// A message with no topic, for the public topic audience (add topics with
    /// [`Message::topic`]).
    ///
    /// ```
    /// let m = tidings_broker::Message::new(tidings_codec::Event::new("x"));
    /// assert!(m.topic_list().is_empty());
    /// ```
    pub fn new(event: Event) -> Self {
        Self { event, topics: Vec::new(), audience: Audience::Topics { private: false } }
    }

    /// Adds a topic. An event may carry several; a subscriber gets it once if any of its
    /// selectors matches any topic.
    ///
    /// ```
    /// let m = tidings_broker::Message::new(tidings_codec::Event::new("x")).topic("a");
    /// assert_eq!(&*m.topic_list()[0], "a");
    /// ```
    pub fn topic(mut self, topic: impl Into<Box<str>>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Adds several topics.
    ///
    /// ```
    /// let m = tidings_broker::Message::new(tidings_codec::Event::new("x")).topics(["a", "b"]);
    /// assert_eq!(m.topic_list().len(), 2);
    /// ```
    pub fn topics<T: Into<Box<str>>>(mut self, topics: impl IntoIterator<Item = T>) -> Self {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Makes the event private: only subscribers authorized for one of its topics get it.
    ///
    /// ```
    /// use tidings_broker::{Audience, Message};
    /// let m = Message::new(tidings_codec::Event::new("x")).topic("t").private();
    /// assert_eq!(m.audience(), &Audience::Topics { private: true });
    /// ```
    pub fn private(mut self) -> Self {
        self.audience = Audience::Topics { private: true };
        self
    }

    /// Sends to every subscriber (topics, if any, are kept as metadata for statistics).
    ///
    /// ```
    /// use tidings_broker::{Audience, Message};
    /// let m = Message::new(tidings_codec::Event::new("x")).to_everyone();
    /// assert_eq!(m.audience(), &Audience::Everyone);
    /// ```
    pub fn to_everyone(mut self) -> Self {
        self.audience = Audience::Everyone;
        self
    }

    /// Sends to every live session of these users.
    ///
    /// ```
    /// use tidings_broker::{Message, UserId};
    /// let m = Message::new(tidings_codec::Event::new("x")).to_users(["a", "b"].map(UserId::new));
    /// # drop(m);
    /// ```
    pub fn to_users(mut self, users: impl IntoIterator<Item = UserId>) -> Self {
        self.audience = Audience::Users(users.into_iter().collect());
        self
    }

    /// Sends to one subscriber (one connection).
    ///
    /// ```
    /// use tidings_broker::{Broker, BrokerConfig, Message, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(1));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// broker.publish(Message::new(tidings_codec::Event::new("just you")).to_subscriber(id), Timestamp::ZERO)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_subscriber(mut self, subscriber: SubscriberId) -> Self {
        self.audience = Audience::Subscriber(subscriber);
        self
    }

    /// The event.
    ///
    /// ```
    /// let m = tidings_broker::Message::new(tidings_codec::Event::new("x"));
    /// assert_eq!(m.event().data(), Some("x"));
    /// ```
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The topics.
    ///
    /// ```
    /// let m = tidings_broker::Message::new(tidings_codec::Event::new("x")).topic("t");
    /// assert_eq!(m.topic_list().len(), 1);
    /// ```
    #[must_use]
    pub fn topic_list(&self) -> &[Box<str>] {
        &self.topics
    }

    /// The audience.
    ///
    /// ```
    /// use tidings_broker::{Audience, Message};
    /// let m = Message::new(tidings_codec::Event::new("x"));
    /// assert_eq!(m.audience(), &Audience::Topics { private: false });
    /// ```
    #[must_use]
    pub fn audience(&self) -> &Audience {
        &self.audience
    }
}

/// A published event as stored in history and queued for subscribers: its position, id,
/// time, topics, audience and the frame encoded once.
///
/// Cloning is one reference-count increment: history and every subscriber queue share the
/// same allocation, and the frame inside is written to the wire as is.
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
/// use tidings_codec::Event;
///
/// let mut broker = Broker::new(BrokerConfig::new(0));
/// let published = broker.publish(Message::new(Event::new("hi")).topic("t"), Timestamp::ZERO)?;
/// assert_eq!(published.id().as_str(), "0-a1");
/// assert_eq!(&published.frame()[..], b"id:0-a1\ndata: hi\n\n");
/// # Ok::<(), tidings_broker::PublishError>(())
/// ```
#[derive(Clone)]
pub struct Published(Arc<Record>);

struct Record {
    seq: Seq,
    id: EventId,
    id_supplied: bool,
    time: Timestamp,
    frame: Bytes,
    topics: Box<[Box<str>]>,
    audience: Audience,
}

/// The parts of a [`Published`] event, for history backends that store and reload events.
///
/// ```
/// use bytes::Bytes;
/// use tidings_broker::{Audience, Published, PublishedParts, Seq, Timestamp};
/// use tidings_codec::EventId;
///
/// let event = Published::from_parts(PublishedParts {
///     seq: Seq::new(4),
///     id: EventId::new("order-4")?,
///     id_supplied: true,
///     time: Timestamp::from_millis(10),
///     frame: Bytes::from_static(b"id:order-4\ndata: x\n\n"),
///     topics: vec!["orders".into()],
///     audience: Audience::Topics { private: false },
/// });
/// assert_eq!(event.seq(), Seq::new(4));
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishedParts {
    /// Position in history.
    pub seq: Seq,
    /// The id written in the frame.
    pub id: EventId,
    /// Whether the publisher chose the id (then it is indexed for lookups).
    pub id_supplied: bool,
    /// When it was published.
    pub time: Timestamp,
    /// The encoded frame.
    pub frame: Bytes,
    /// Its topics.
    pub topics: Vec<Box<str>>,
    /// Who it is for.
    pub audience: Audience,
}

impl Published {
    pub(crate) fn new(parts: PublishedParts) -> Self {
        Self::from_parts(parts)
    }

    /// Rebuilds an event from stored parts (for history backends).
    ///
    /// See [`PublishedParts`] for an example.
    #[must_use]
    pub fn from_parts(parts: PublishedParts) -> Self {
        Self(Arc::new(Record {
            seq: parts.seq,
            id: parts.id,
            id_supplied: parts.id_supplied,
            time: parts.time,
            frame: parts.frame,
            topics: parts.topics.into_boxed_slice(),
            audience: parts.audience,
        }))
    }

    /// Position in history.
    ///
    /// See [`Published`] for an example.
    #[must_use]
    pub fn seq(&self) -> Seq {
        self.0.seq
    }

    /// The event id (in the frame, and what clients send back as `Last-Event-ID`).
    ///
    /// See [`Published`] for an example.
    #[must_use]
    pub fn id(&self) -> &EventId {
        &self.0.id
    }

    /// Whether the publisher chose the id.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
    /// # use tidings_codec::{Event, EventId};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let event = Event::new("x").with_id(EventId::new("mine")?);
    /// let published = broker.publish(Message::new(event), Timestamp::ZERO)?;
    /// assert!(published.is_id_supplied());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_id_supplied(&self) -> bool {
        self.0.id_supplied
    }

    /// When it was published.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let p = broker.publish(Message::new(tidings_codec::Event::new("x")), Timestamp::from_millis(5))?;
    /// assert_eq!(p.time(), Timestamp::from_millis(5));
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    #[must_use]
    pub fn time(&self) -> Timestamp {
        self.0.time
    }

    /// The encoded frame, ready to write; clone it (a reference count) to keep it.
    ///
    /// See [`Published`] for an example.
    #[must_use]
    pub fn frame(&self) -> &Bytes {
        &self.0.frame
    }

    /// The topics.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let p = broker.publish(Message::new(tidings_codec::Event::new("x")).topic("t"), Timestamp::ZERO)?;
    /// assert_eq!(&*p.topics()[0], "t");
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    #[must_use]
    pub fn topics(&self) -> &[Box<str>] {
        &self.0.topics
    }

    /// Who it is for.
    ///
    /// ```
    /// # use tidings_broker::{Audience, Broker, BrokerConfig, Message, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let p = broker.publish(Message::new(tidings_codec::Event::new("x")).to_everyone(), Timestamp::ZERO)?;
    /// assert_eq!(p.audience(), &Audience::Everyone);
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    #[must_use]
    pub fn audience(&self) -> &Audience {
        &self.0.audience
    }

    /// Bytes this event accounts for in history limits: the frame plus its topics.
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, Message, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(0));
    /// let p = broker.publish(Message::new(tidings_codec::Event::new("x")).topic("ab"), Timestamp::ZERO)?;
    /// assert_eq!(p.size(), p.frame().len() + 2);
    /// # Ok::<(), tidings_broker::PublishError>(())
    /// ```
    #[must_use]
    pub fn size(&self) -> usize {
        self.0.frame.len() + self.0.topics.iter().map(|t| t.len()).sum::<usize>()
    }

    pub(crate) fn is_private(&self) -> bool {
        matches!(self.0.audience, Audience::Topics { private: true })
    }
}

impl fmt::Debug for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Published")
            .field("seq", &self.0.seq)
            .field("id", &self.0.id)
            .field("time", &self.0.time)
            .field("topics", &self.0.topics)
            .field("audience", &self.0.audience)
            .field("frame_len", &self.0.frame.len())
            .finish()
    }
}

impl PartialEq for Published {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.seq == other.0.seq
                && self.0.id == other.0.id
                && self.0.frame == other.0.frame)
    }
}

impl Eq for Published {}
