//! Reconnection delays: the spec's reconnection time plus exponential backoff with jitter.
//!
//! Randomness comes from a [`JitterRng`] passed in, so tests replay delays exactly.

use std::time::Duration;

/// The growth step's floor: with `retry: 0`, failures still back off (20 ms, 40 ms, …).
///
/// ```
/// use std::time::Duration;
/// use tidings_client::{Backoff, Jitter, MIN_STEP, SplitMix64};
///
/// let backoff = Backoff::default().jitter(Jitter::None);
/// let delay = backoff.delay(Duration::ZERO, 1, None, &mut SplitMix64::new(0));
/// assert_eq!(delay, MIN_STEP * 2);
/// ```
pub const MIN_STEP: Duration = Duration::from_millis(10);

/// A source of random numbers for jitter.
///
/// ```
/// use tidings_client::JitterRng;
///
/// /// Always the largest value: every jittered delay is at its ceiling.
/// struct Max;
/// impl JitterRng for Max {
///     fn next_u64(&mut self) -> u64 { u64::MAX }
/// }
/// assert_eq!(Max.next_u64(), u64::MAX);
/// ```
pub trait JitterRng: Send + 'static {
    /// The next uniformly distributed value.
    fn next_u64(&mut self) -> u64;
}

/// The default jitter source: SplitMix64, seeded from the process's hash randomness unless a
/// seed is given. Not cryptographic, and needs not be.
///
/// ```
/// use tidings_client::{JitterRng, SplitMix64};
///
/// let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed (deterministic delays).
    ///
    /// ```
    /// use tidings_client::{JitterRng, SplitMix64};
    /// assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    /// ```
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator seeded differently in every process (and every call).
    ///
    /// ```
    /// let rng = tidings_client::SplitMix64::from_entropy();
    /// # drop(rng);
    /// ```
    #[must_use]
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // `RandomState` is seeded from the OS once per thread and varied per instance: enough
        // to keep clients that start together from reconnecting in lockstep.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        Self(hasher.finish())
    }
}

impl JitterRng for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// How delays spread between clients.
///
/// ```
/// use tidings_client::{Backoff, Jitter};
///
/// let backoff = Backoff::default().jitter(Jitter::Decorrelated);
/// # drop(backoff);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the exponential ceiling itself.
    None,
    /// The reconnection time plus a uniform share of the rest of the ceiling (AWS's "full
    /// jitter" over the part the client adds). The default.
    #[default]
    Full,
    /// AWS's "decorrelated jitter": uniform between the step and three times the previous
    /// delay, capped.
    Decorrelated,
}

/// Backoff settings.
///
/// The rules, for the `n`-th failed attempt in a row since the last working stream, with `r`
/// the reconnection time (the initial retry delay, or the last `retry:` the server sent):
///
/// - `n = 0` (the stream worked and then ended): wait exactly `r`, as the spec says and as the
///   server asked with `retry:`.
/// - `n ≥ 1`: the ceiling is `step · 2ⁿ`, capped at [`Backoff::max_delay`], where `step` is `r`
///   but at least 10 ms, so `retry: 0` cannot turn failures into a busy loop. Then:
///   - [`Jitter::None`]: the ceiling.
///   - [`Jitter::Full`]: `r` plus a uniform share of `ceiling − r`.
///   - [`Jitter::Decorrelated`]: uniform in `[step, 3 · previous delay]`, capped.
///
/// No delay is ever shorter than `r`: the spec makes the reconnection time a minimum ("wait a
/// delay equal to the reconnection time … optionally, wait some more"). When the server asks
/// for more than the cap, the server wins.
///
/// ```
/// use std::time::Duration;
/// use tidings_client::{Backoff, Jitter};
///
/// let backoff = Backoff::default()
///     .max_delay(Duration::from_secs(60))
///     .jitter(Jitter::None)
///     .reset_after(Duration::from_secs(30));
/// assert_eq!(backoff.delay(Duration::from_secs(1), 0, None, &mut tidings_client::SplitMix64::new(1)), Duration::from_secs(1));
/// assert_eq!(backoff.delay(Duration::from_secs(1), 3, None, &mut tidings_client::SplitMix64::new(1)), Duration::from_secs(8));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Backoff {
    max_delay: Duration,
    jitter: Jitter,
    reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max_delay: Duration::from_secs(30),
            jitter: Jitter::Full,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The cap on backed-off delays. Default: 30 s. A `retry:` above it still wins.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let backoff = tidings_client::Backoff::default().max_delay(Duration::from_secs(120));
    /// # drop(backoff);
    /// ```
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// How delays are randomised. Default: [`Jitter::Full`].
    ///
    /// ```
    /// let backoff = tidings_client::Backoff::default().jitter(tidings_client::Jitter::None);
    /// # drop(backoff);
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// A stream that stayed open this long counts as working even if it delivered no event,
    /// so its end resets the backoff. (One that delivered an event always counts.)
    /// Default: 60 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let backoff = tidings_client::Backoff::default().reset_after(Duration::from_secs(10));
    /// assert_eq!(backoff.reset_after_duration(), Duration::from_secs(10));
    /// ```
    pub fn reset_after(mut self, reset_after: Duration) -> Self {
        self.reset_after = reset_after;
        self
    }

    /// The configured [`Backoff::reset_after`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(tidings_client::Backoff::default().reset_after_duration(), Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn reset_after_duration(&self) -> Duration {
        self.reset_after
    }

    /// The delay before the next attempt: `reconnection_time` is the spec's reconnection time,
    /// `failures` the failed attempts in a row since the last working stream, `previous` the
    /// delay chosen last time (for decorrelated jitter). See [`Backoff`] for the rules.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_client::{Backoff, Jitter, SplitMix64};
    ///
    /// let backoff = Backoff::default().jitter(Jitter::Full);
    /// let r = Duration::from_millis(100);
    /// let delay = backoff.delay(r, 2, None, &mut SplitMix64::new(3));
    /// assert!(delay >= r && delay <= Duration::from_millis(400));
    /// ```
    #[must_use]
    pub fn delay(
        &self,
        reconnection_time: Duration,
        failures: u32,
        previous: Option<Duration>,
        rng: &mut dyn JitterRng,
    ) -> Duration {
        let r = reconnection_time;
        if failures == 0 {
            return r;
        }
        let cap = self.max_delay.max(r);
        let step = r.max(MIN_STEP);
        // 2^n saturates long before u32::MAX doublings matter; the cap bounds it anyway.
        let ceiling = step.saturating_mul(1u32 << failures.min(31)).min(cap).max(r);
        let delay = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => r + uniform(Duration::ZERO, ceiling - r, rng),
            Jitter::Decorrelated => {
                let low = step.min(cap);
                let high = previous.unwrap_or(step).saturating_mul(3).min(cap).max(low);
                uniform(low, high, rng)
            }
        };
        delay.max(r)
    }
}

/// A uniformly random duration in `[low, high]` (nanosecond resolution).
fn uniform(low: Duration, high: Duration, rng: &mut dyn JitterRng) -> Duration {
    let span = u64::try_from(high.saturating_sub(low).as_nanos()).unwrap_or(u64::MAX);
    if span == 0 {
        return low;
    }
    // Multiply-shift maps the 64 random bits onto 0..=span without the bias of `%` mattering.
    let offset = ((u128::from(rng.next_u64()) * (u128::from(span) + 1)) >> 64) as u64;
    low + Duration::from_nanos(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the same value every time.
    struct Fixed(u64);
    impl JitterRng for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    const R: Duration = Duration::from_millis(100);

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff::default().jitter(jitter).max_delay(Duration::from_secs(1))
    }

    #[test]
    fn first_reconnect_after_a_working_stream_waits_exactly_the_reconnection_time() {
        for jitter in [Jitter::None, Jitter::Full, Jitter::Decorrelated] {
            assert_eq!(backoff(jitter).delay(R, 0, None, &mut Fixed(u64::MAX)), R);
        }
    }

    #[test]
    fn no_jitter_doubles_up_to_the_cap() {
        let b = backoff(Jitter::None);
        let delays: Vec<_> =
            (1..=5).map(|n| b.delay(R, n, None, &mut Fixed(0)).as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn full_jitter_spans_reconnection_time_to_ceiling() {
        let b = backoff(Jitter::Full);
        assert_eq!(b.delay(R, 2, None, &mut Fixed(0)), R);
        assert_eq!(b.delay(R, 2, None, &mut Fixed(u64::MAX)), Duration::from_millis(400));
        let middle = b.delay(R, 2, None, &mut Fixed(u64::MAX / 2));
        assert!(middle > Duration::from_millis(240) && middle < Duration::from_millis(260));
    }

    #[test]
    fn decorrelated_jitter_grows_from_the_previous_delay_and_is_capped() {
        let b = backoff(Jitter::Decorrelated);
        assert_eq!(b.delay(R, 1, None, &mut Fixed(u64::MAX)), Duration::from_millis(300));
        assert_eq!(
            b.delay(R, 2, Some(Duration::from_millis(300)), &mut Fixed(u64::MAX)),
            Duration::from_millis(900)
        );
        assert_eq!(
            b.delay(R, 3, Some(Duration::from_millis(900)), &mut Fixed(u64::MAX)),
            Duration::from_secs(1)
        );
        assert_eq!(b.delay(R, 3, Some(Duration::from_millis(900)), &mut Fixed(0)), R);
    }

    #[test]
    fn a_retry_above_the_cap_is_honoured() {
        let long = Duration::from_secs(5);
        for jitter in [Jitter::None, Jitter::Full, Jitter::Decorrelated] {
            for n in 0..4 {
                assert_eq!(backoff(jitter).delay(long, n, None, &mut Fixed(u64::MAX)), long);
            }
        }
    }

    #[test]
    fn retry_zero_still_backs_off_after_failures() {
        let b = backoff(Jitter::None);
        assert_eq!(b.delay(Duration::ZERO, 0, None, &mut Fixed(0)), Duration::ZERO);
        assert_eq!(b.delay(Duration::ZERO, 1, None, &mut Fixed(0)), Duration::from_millis(20));
        assert_eq!(b.delay(Duration::ZERO, 3, None, &mut Fixed(0)), Duration::from_millis(80));
    }

    #[test]
    fn huge_failure_counts_saturate_at_the_cap() {
        let b = backoff(Jitter::None);
        assert_eq!(b.delay(R, u32::MAX, None, &mut Fixed(0)), Duration::from_secs(1));
    }

    #[test]
    fn seeded_generators_replay() {
        let (mut a, mut b) = (SplitMix64::new(42), SplitMix64::new(42));
        let (xs, ys): (Vec<_>, Vec<_>) = (0..8).map(|_| (a.next_u64(), b.next_u64())).unzip();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }
}
