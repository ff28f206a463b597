//! Identifiers: event positions ([`Seq`]), broker-assigned event ids ([`IdScheme`]),
//! subscribers ([`SubscriberId`]) and users ([`UserId`]).
//!
//! Every published event gets a [`Seq`]: its position in the hub's history, starting at 1 and
//! increasing by one per event with no holes. Unless the publisher supplies its own id, the
//! wire id is derived from the sequence by [`IdScheme`]: `{epoch}-{length}{digits}`, where the
//! epoch is a random number from the configuration (so ids from an earlier, wiped history are
//! recognised as unknown), `digits` is the sequence in lowercase base 36 and `length` is one
//! letter giving the number of digits (`a` = 1, `b` = 2, …). The length letter makes plain
//! string comparison agree with numeric order within one epoch, so ids sort correctly in any
//! store, and ids stay short: the millionth event of epoch `3k9x` is `3k9x-dlfls`.
//!
//! ```
//! use tidings_broker::{IdScheme, Seq};
//!
//! let scheme = IdScheme::new(154_545);
//! assert_eq!(scheme.format(Seq::new(1_000_000)).as_str(), "3b8x-dlfls");
//! assert_eq!(scheme.parse("3b8x-dlfls"), Some(Seq::new(1_000_000)));
//! ```

use std::fmt;
use std::sync::Arc;

use tidings_codec::EventId;

/// The position of an event in the hub's history: 1 for the first event, then +1 per event.
///
/// `Seq::ZERO` means "before every event"; it is what a resume position starts from when all
/// retained history should be replayed.
///
/// ```
/// use tidings_broker::Seq;
///
/// assert!(Seq::new(2) > Seq::new(1));
/// assert_eq!(Seq::new(1).next(), Seq::new(2));
/// assert_eq!(Seq::ZERO.get(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(u64);

impl Seq {
    /// Before the first event.
    ///
    /// ```
    /// assert!(tidings_broker::Seq::ZERO < tidings_broker::Seq::new(1));
    /// ```
    pub const ZERO: Self = Self(0);

    /// The sequence number `n`.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Seq::new(9).get(), 9);
    /// ```
    #[must_use]
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Seq::new(3).get(), 3);
    /// ```
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The following position (saturating at `u64::MAX`).
    ///
    /// ```
    /// assert_eq!(tidings_broker::Seq::ZERO.next().get(), 1);
    /// ```
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Formats and recognises broker-assigned event ids for one epoch.
///
/// ```
/// use tidings_broker::{IdScheme, Seq};
///
/// let scheme = IdScheme::new(0x5eed);
/// let id = scheme.format(Seq::new(36));
/// assert_eq!(id.as_str(), "ir1-b10");
/// assert_eq!(scheme.parse(id.as_str()), Some(Seq::new(36)));
/// // Plain string order matches sequence order within an epoch.
/// assert!(scheme.format(Seq::new(35)).as_str() < id.as_str());
/// // Ids of another epoch, or written by hand, are not ours.
/// assert_eq!(IdScheme::new(1).parse(id.as_str()), None);
/// assert_eq!(scheme.parse("ir1-b01"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdScheme {
    /// `{epoch in base 36}-`, the prefix of every id of this epoch.
    prefix: Box<str>,
}

impl IdScheme {
    /// The scheme for `epoch`, which should be random per history (a wiped in-memory history
    /// must get a new epoch, or clients would resume from ids that mean other events now).
    ///
    /// ```
    /// assert_eq!(tidings_broker::IdScheme::new(35).prefix(), "z-");
    /// ```
    #[must_use]
    pub fn new(epoch: u32) -> Self {
        let mut prefix = String::with_capacity(8);
        push_base36(&mut prefix, u64::from(epoch));
        prefix.push('-');
        Self { prefix: prefix.into_boxed_str() }
    }

    /// The text every id of this epoch starts with: the epoch in base 36 and `-`.
    ///
    /// ```
    /// assert_eq!(tidings_broker::IdScheme::new(0).prefix(), "0-");
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The id of sequence number `seq`.
    ///
    /// ```
    /// use tidings_broker::{IdScheme, Seq};
    /// assert_eq!(IdScheme::new(0).format(Seq::new(1)).as_str(), "0-a1");
    /// ```
    #[must_use]
    pub fn format(&self, seq: Seq) -> EventId {
        let mut digits = [0u8; 13];
        let digits = base36(&mut digits, seq.get());
        // At most 13 base-36 digits fit a u64, so the letter is within `a..=m`.
        let letter = b'a' + (digits.len() as u8).saturating_sub(1);
        // Assembled on the stack so the id costs one allocation (its `Arc<str>`): the prefix
        // of a `u32` epoch is at most 8 bytes, so 8 + 1 + 13 bytes always fit.
        let mut buf = [0u8; 24];
        let parts = self.prefix.bytes().chain([letter]).chain(digits.iter().copied());
        let mut len = 0;
        for (slot, byte) in buf.iter_mut().zip(parts) {
            *slot = byte;
            len += 1;
        }
        match std::str::from_utf8(buf.get(..len).unwrap_or_default()).map(EventId::new) {
            Ok(Ok(id)) => id,
            // Unreachable: the text is ASCII letters, digits and `-`. Fall back to the empty
            // id rather than panicking.
            _ => EventId::empty(),
        }
    }

    /// The sequence number of `id` when it is a canonical id of this epoch, else `None`.
    ///
    /// ```
    /// use tidings_broker::{IdScheme, Seq};
    /// let scheme = IdScheme::new(0);
    /// assert_eq!(scheme.parse("0-c100"), Some(Seq::new(1296)));
    /// assert_eq!(scheme.parse("0-a"), None);
    /// assert_eq!(scheme.parse("order-17"), None);
    /// ```
    #[must_use]
    pub fn parse(&self, id: &str) -> Option<Seq> {
        let rest = id.strip_prefix(&*self.prefix)?.as_bytes();
        let (&letter, digits) = rest.split_first()?;
        if !(b'a'..=b'm').contains(&letter) || digits.len() != usize::from(letter - b'a') + 1 {
            return None;
        }
        // Canonical form only: no leading zero, so each sequence has exactly one id.
        if digits.first() == Some(&b'0') {
            return None;
        }
        let mut n: u64 = 0;
        for &d in digits {
            let value = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'z' => d - b'a' + 10,
                _ => return None,
            };
            n = n.checked_mul(36)?.checked_add(u64::from(value))?;
        }
        (n > 0).then_some(Seq::new(n))
    }
}

/// Writes `n` in base 36 at the end of `buf` and returns the digits written.
fn base36(buf: &mut [u8; 13], mut n: u64) -> &[u8] {
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        start -= 1;
        n /= 36;
        if n == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

fn push_base36(out: &mut String, n: u64) {
    let mut buf = [0u8; 13];
    for &b in base36(&mut buf, n) {
        out.push(char::from(b));
    }
}

/// Identifies one subscriber (one connection) within a set of shards.
///
/// Ids are never reused while the shard lives: a slot freed by an unsubscribe gets a new
/// generation, so a stale id held by a driver is refused rather than reaching a newer
/// subscriber.
///
/// ```
/// use tidings_broker::{Broker, BrokerConfig, SubscriptionConfig, Timestamp};
///
/// let mut broker = Broker::new(BrokerConfig::new(7));
/// let a = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
/// let b = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
/// assert_ne!(a, b);
/// assert_eq!(a.shard(), 0);
/// # Ok::<(), tidings_broker::BrokerError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId {
    shard: u16,
    slot: u32,
    generation: u32,
}

impl SubscriberId {
    pub(crate) const fn new(shard: u16, slot: u32, generation: u32) -> Self {
        Self { shard, slot, generation }
    }

    /// The index of the shard that holds this subscriber (see `ShardConfig::index`).
    ///
    /// ```
    /// # use tidings_broker::{Broker, BrokerConfig, SubscriptionConfig, Timestamp};
    /// # let mut broker = Broker::new(BrokerConfig::new(7));
    /// let id = broker.subscribe(SubscriptionConfig::new(), Timestamp::ZERO)?;
    /// assert_eq!(id.shard(), 0);
    /// # Ok::<(), tidings_broker::BrokerError>(())
    /// ```
    #[must_use]
    pub const fn shard(self) -> u16 {
        self.shard
    }

    pub(crate) const fn slot(self) -> u32 {
        self.slot
    }

    pub(crate) const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.shard, self.slot, self.generation)
    }
}

/// A principal: the user a subscription acts for (from a token's subject, a session, …).
///
/// Publishing to a set of users reaches every live session of each of them.
///
/// ```
/// use tidings_broker::UserId;
///
/// let alice = UserId::new("alice");
/// assert_eq!(alice.as_str(), "alice");
/// assert_eq!(alice, UserId::from("alice"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

impl UserId {
    /// Wraps a user identifier.
    ///
    /// ```
    /// assert_eq!(tidings_broker::UserId::new("u1").as_str(), "u1");
    /// ```
    #[must_use]
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The identifier as text.
    ///
    /// ```
    /// assert_eq!(tidings_broker::UserId::from("u1").as_str(), "u1");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_as_strings() {
        let scheme = IdScheme::new(u32::MAX);
        let mut previous = String::new();
        for n in (1..5_000u64).chain([u64::MAX / 2, u64::MAX - 1, u64::MAX]) {
            let id = scheme.format(Seq::new(n));
            assert_eq!(scheme.parse(id.as_str()), Some(Seq::new(n)), "{id}");
            assert!(previous.as_str() < id.as_str(), "{previous} !< {id}");
            previous = id.as_str().to_owned();
        }
    }

    #[test]
    fn parse_rejects_non_canonical_and_foreign_ids() {
        let scheme = IdScheme::new(10);
        assert_eq!(scheme.prefix(), "a-");
        for bad in
            ["", "a-", "a-a", "a-a0", "a-b1", "a-b01", "a-aA", "b-a1", "a-n1234567890123", "a-a-"]
        {
            assert_eq!(scheme.parse(bad), None, "{bad:?}");
        }
        // 13 digits of z overflow u64.
        assert_eq!(scheme.parse("a-mzzzzzzzzzzzzz"), None);
    }
}
