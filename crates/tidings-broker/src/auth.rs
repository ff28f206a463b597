//! Who may see private events: the [`Authorizer`] trait and two ready implementations.
//!
//! The server layer fills a subscription's authorizer from token claims (Mercure's
//! `mercure.subscribe` selectors become a [`SelectorAuthorizer`]) or from a user function
//! (any `Fn(&str) -> bool`). The broker asks it only for private events that a subscription's
//! selectors already matched.
//!
//! ```
//! use std::sync::Arc;
//! use tidings_broker::{Broker, BrokerConfig, Message, Selector, SelectorAuthorizer, SubscriptionConfig, Timestamp};
//! use tidings_codec::Event;
//!
//! let mut broker = Broker::new(BrokerConfig::new(0));
//! let t = Timestamp::ZERO;
//! let selector = Selector::parse("users/alice/inbox")?;
//! let owner = SubscriptionConfig::new()
//!     .selector(selector.clone())
//!     .authorizer(Arc::new(SelectorAuthorizer::new([selector.clone()])));
//! let owner = broker.subscribe(owner, t)?;
//! let stranger = broker.subscribe(SubscriptionConfig::new().selector(selector), t)?;
//! broker.publish(Message::new(Event::new("secret")).topic("users/alice/inbox").private(), t)?;
//! assert_eq!(broker.shard().queued(owner).map(|(n, _)| n), Some(1));
//! assert_eq!(broker.shard().queued(stranger).map(|(n, _)| n), Some(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::selector::Selector;

/// Decides whether a subscriber may receive private events of a topic.
///
/// A private event is delivered when the subscriber's selectors match one of its topics and
/// the authorizer accepts one of its topics. Called with the broker's shard lock held: keep it
/// fast and never call back into the broker.
///
/// ```
/// use tidings_broker::Authorizer;
///
/// let only_mine = |topic: &str| topic.starts_with("users/alice/");
/// assert!(only_mine.can_see_private("users/alice/inbox"));
/// assert!(!only_mine.can_see_private("users/bob/inbox"));
/// ```
pub trait Authorizer: Send + Sync {
    /// Whether private events on `topic` may be delivered.
    fn can_see_private(&self, topic: &str) -> bool;
}

impl<F> Authorizer for F
where
    F: Fn(&str) -> bool + Send + Sync,
{
    fn can_see_private(&self, topic: &str) -> bool {
        self(topic)
    }
}

/// Authorizes the topics matched by any of a set of selectors (Mercure's subscribe claim).
///
/// ```
/// use tidings_broker::{Authorizer, Selector, SelectorAuthorizer};
///
/// let auth = SelectorAuthorizer::new([Selector::parse("books/1")?]);
/// assert!(auth.can_see_private("books/1"));
/// assert!(!auth.can_see_private("books/2"));
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SelectorAuthorizer {
    selectors: Box<[Selector]>,
}

impl SelectorAuthorizer {
    /// Authorizes what any of `selectors` matches.
    ///
    /// See [`SelectorAuthorizer`] for an example.
    pub fn new(selectors: impl IntoIterator<Item = Selector>) -> Self {
        Self { selectors: selectors.into_iter().collect() }
    }

    /// The selectors.
    ///
    /// ```
    /// let auth = tidings_broker::SelectorAuthorizer::new([]);
    /// assert!(auth.selectors().is_empty());
    /// ```
    #[must_use]
    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }
}

impl Authorizer for SelectorAuthorizer {
    fn can_see_private(&self, topic: &str) -> bool {
        self.selectors.iter().any(|s| s.matches(topic))
    }
}

/// Authorizes every private topic (trusted internal subscribers).
///
/// ```
/// use tidings_broker::{AllowAll, Authorizer};
/// assert!(AllowAll.can_see_private("anything"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn can_see_private(&self, _topic: &str) -> bool {
        true
    }
}

/// Debug output for `Arc<dyn Authorizer>` fields.
pub(crate) struct Opaque;

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<authorizer>")
    }
}
