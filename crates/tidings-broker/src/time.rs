//! Time as a value: the broker never reads a clock.
//!
//! Every call that needs the time takes a [`Timestamp`], so tests drive a virtual clock and
//! replay exactly. The server passes milliseconds since a fixed origin of its choosing (the
//! Unix epoch, or the moment the hub started); only differences between timestamps matter.
//!
//! ```
//! use std::time::Duration;
//! use tidings_broker::Timestamp;
//!
//! let mut clock = Timestamp::ZERO;
//! clock += Duration::from_secs(1);
//! assert_eq!(clock.as_millis(), 1_000);
//! ```

use std::fmt;
use std::time::Duration;

/// A point in time, in whole milliseconds since an origin chosen by the caller.
///
/// The broker only compares timestamps and adds durations to them, so any monotonic origin
/// works. Arithmetic saturates instead of overflowing.
///
/// ```
/// use std::time::Duration;
/// use tidings_broker::Timestamp;
///
/// let start = Timestamp::from_millis(1_000);
/// let later = start + Duration::from_secs(2);
/// assert_eq!(later.as_millis(), 3_000);
/// assert_eq!(later.since(start), Duration::from_secs(2));
/// assert_eq!(start.since(later), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Timestamp::ZERO.as_millis(), 0);
    /// ```
    pub const ZERO: Self = Self(0);

    /// A timestamp `millis` milliseconds after the origin.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Timestamp::from_millis(5).as_millis(), 5);
    /// ```
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the origin.
    ///
    /// ```
    /// assert_eq!(tidings_broker::Timestamp::from_millis(7).as_millis(), 7);
    /// ```
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_broker::Timestamp;
    ///
    /// let a = Timestamp::from_millis(10);
    /// assert_eq!(Timestamp::from_millis(25).since(a), Duration::from_millis(15));
    /// ```
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self` minus `duration`, stopping at the origin.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_broker::Timestamp;
    ///
    /// let t = Timestamp::from_millis(10);
    /// assert_eq!(t.saturating_sub(Duration::from_millis(4)).as_millis(), 6);
    /// assert_eq!(t.saturating_sub(Duration::from_secs(1)), Timestamp::ZERO);
    /// ```
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis(duration)))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(millis(rhs)))
    }
}

impl std::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
