//! Prometheus metrics and the health probe: [`render`] writes the hub's counters in the
//! Prometheus text exposition format (0.0.4); with feature `axum`, [`router`] serves them at
//! `GET /metrics`, with `GET /healthz` beside it.
//!
//! # Why rendered at scrape time, not through the `metrics` facade
//!
//! The broker already counts everything worth exporting ([`tidings_broker::HubStats`],
//! [`tidings_broker::ShardStats`]), as plain integers bumped under the locks the publish and
//! delivery paths hold anyway. Mirroring them into the `metrics` facade would add an atomic
//! increment (behind a global recorder lookup) per delivery, on the hottest path, to count the
//! same thing twice. Instead a scrape takes each lock once, copies the counters
//! ([`Hub::stats`]) and formats them; the hot path pays nothing. The text format is small
//! enough to write directly, and with no global recorder several hubs in one process (tests,
//! multi-tenant apps) each export their own numbers. The one measurement the broker does not
//! keep, publish latency, is a fixed-bucket histogram of atomics in the hub
//! ([`LatencySnapshot`]): three relaxed increments per publish call, none per delivery.
//!
//! # Names
//!
//! Every name starts with the prefix from [`MetricsConfig::namespace`] and
//! [`MetricsConfig::subsystem`] (qsse's namespace and subsystem), `tidings_` by default:
//!
//! | metric | type | what |
//! |---|---|---|
//! | `connections` | gauge | open SSE streams |
//! | `subscriptions` | gauge | selectors over all open streams (Mercure counts each as a subscription) |
//! | `subscriptions_opened_total`, `subscriptions_closed_total` | counter | streams registered and removed |
//! | `events_published_total` | counter | events accepted |
//! | `events_rejected_total` | counter | publishes refused (duplicate or reserved id, history failure) |
//! | `events_delivered_total` | counter | events queued live to subscribers (one per subscriber) |
//! | `events_replayed_total` | counter | events replayed from history to resuming subscribers |
//! | `events_dropped_total` | counter | events a subscriber did not get (overflow) |
//! | `lag_disconnects_total` | counter | subscribers disconnected because their queue overflowed |
//! | `gaps_total` | counter | gap notices sent (unknown or trimmed resume point, drop-oldest) |
//! | `history_events`, `history_bytes` | gauge | what history retains now |
//! | `history_trimmed_total`, `history_trim_errors_total` | counter | retention at work |
//! | `publish_duration_seconds` | histogram | one observation per publish call (a batch is one): lock wait, history append and fan-out |
//! | `topic_events_published_total{topic}` | counter | events published per topic, for the busiest topics |
//! | `topic_events_published_other_total` | counter | the same for every topic not listed |
//! | `topic_events_delivered_total{topic}`, `topic_events_delivered_other_total` | counter | live deliveries per topic (an event counts under its first topic) |
//! | `uptime_seconds` | gauge | since the hub started |
//! | `shutting_down` | gauge | 1 once a graceful shutdown began |
//! | `build_info{version}` | gauge | always 1 |
//!
//! Per-topic series are bounded: the broker keeps counts for its busiest topics only
//! (a space-saving table, `tidings_broker::TopTopics`) and at most
//! [`MetricsConfig::topic_series`] of them are exported, the rest summed into the `_other_`
//! series. A topic that drops out of the table and comes back starts counting again from its
//! new arrivals, which Prometheus reads as a counter reset; listed plus other always equals the
//! total.
//!
//! ```
//! use tidings_broker::{Message, Selector, SubscriptionConfig};
//! use tidings_codec::Event;
//! use tidings_server::metrics::{MetricsConfig, render};
//! use tidings_server::Hub;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(Default::default());
//! let _subscription = hub.subscribe(SubscriptionConfig::new().selector(Selector::parse("news")?))?;
//! hub.publish(Message::new(Event::new("extra!")).topic("news"))?;
//!
//! let text = render(&hub, &MetricsConfig::default().namespace("acme")?.subsystem("sse")?);
//! assert!(text.contains("\nacme_sse_events_published_total 1\n"));
//! assert!(text.contains("\nacme_sse_topic_events_delivered_total{topic=\"news\"} 1\n"));
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings_broker::{HubStats, ShardStats, Timestamp, TopTopics};

use crate::hub::Hub;

/// Default for [`MetricsConfig::topic_series`].
pub const DEFAULT_TOPIC_SERIES: usize = 32;

/// Upper bounds of the publish latency buckets, in nanoseconds: 1 µs to 1 s, roughly three
/// per decade. An in-memory publish takes microseconds; the upper buckets catch lock waits
/// behind a large fan-out.
const LATENCY_BOUNDS_NS: [u64; 19] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// Buckets: one per bound, and the last for everything above (`+Inf`).
const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// A lock-free histogram of durations with fixed buckets. Recording is two relaxed atomic
/// additions and a short search; reading while others record may see a sum slightly ahead
/// of or behind the counts, which Prometheus tolerates.
#[derive(Debug, Default)]
pub(crate) struct LatencyHistogram {
    /// Non-cumulative counts per bucket; the total count is their sum, so the `+Inf` bucket
    /// and `_count` always agree.
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_ns: AtomicU64,
}

impl LatencyHistogram {
    /// Adds one observation.
    pub(crate) fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// The publish latency histogram at one moment (see [`HubTotals::publish_latency`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = tidings_server::Hub::new(Default::default());
/// hub.publish(tidings_broker::Message::new(tidings_codec::Event::new("x")).topic("t"))?;
/// let latency = hub.stats().publish_latency;
/// assert_eq!(latency.count(), 1);
/// let (last_bound, cumulative) = latency.buckets().last().expect("buckets");
/// assert_eq!((last_bound, cumulative), (None, 1), "the +Inf bucket holds everything");
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    buckets: [u64; LATENCY_BUCKETS],
    sum_ns: u64,
}

impl LatencySnapshot {
    /// Number of observations.
    ///
    /// See [`LatencySnapshot`] for an example.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of all observations.
    ///
    /// ```
    /// let empty = tidings_server::metrics::LatencySnapshot::default();
    /// assert_eq!(empty.sum(), std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Cumulative counts: `(upper bound, observations at or below it)`, ascending; the last
    /// has no bound (`+Inf`) and equals [`LatencySnapshot::count`].
    ///
    /// See [`LatencySnapshot`] for an example.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = LATENCY_BOUNDS_NS.iter().map(|&ns| Some(Duration::from_nanos(ns)));
        self.buckets.iter().zip(bounds.chain([None])).scan(0, |cumulative, (count, bound)| {
            *cumulative += count;
            Some((bound, *cumulative))
        })
    }
}

/// Hub-wide counters and sizes at one moment, from [`Hub::stats`].
///
/// See [`Hub::stats`] for an example.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubTotals {
    /// What was published and kept.
    pub core: HubStats,
    /// What reached subscribers, every shard's counters added up.
    pub shards: ShardStats,
    /// Open subscriptions (SSE streams).
    pub connections: usize,
    /// Selectors over all open subscriptions.
    pub subscriptions: usize,
    /// Events history retains.
    pub history_events: usize,
    /// Encoded bytes history retains.
    pub history_bytes: usize,
    /// How long publish calls took.
    pub publish_latency: LatencySnapshot,
    /// When the hub started (see [`Hub::started`]).
    pub started: Timestamp,
    /// When these totals were taken, on the hub's clock.
    pub now: Timestamp,
    /// Whether a graceful shutdown began.
    pub shutting_down: bool,
}

impl HubTotals {
    /// Time since the hub started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// tokio::time::advance(std::time::Duration::from_secs(90)).await;
    /// assert_eq!(hub.stats().uptime().as_secs(), 90);
    /// # }
    /// ```
    #[must_use]
    pub fn uptime(&self) -> Duration {
        Duration::from_millis(self.now.as_millis().saturating_sub(self.started.as_millis()))
    }
}

/// A namespace or subsystem that cannot be part of a Prometheus metric name.
///
/// ```
/// let error = tidings_server::metrics::MetricsConfig::default().namespace("my-app").unwrap_err();
/// assert_eq!(error.name(), "my-app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a valid metric name part (letters, digits and `_`, not starting with a digit)"
)]
#[non_exhaustive]
pub struct InvalidMetricName {
    name: String,
}

impl InvalidMetricName {
    /// The refused text.
    ///
    /// See [`InvalidMetricName`] for an example.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Settings of the metrics endpoint.
///
/// ```
/// use tidings_server::metrics::MetricsConfig;
/// let config = MetricsConfig::default().namespace("acme")?.subsystem("events")?.topic_series(10);
/// assert_eq!(config.prefix(), "acme_events_");
/// # Ok::<(), tidings_server::metrics::InvalidMetricName>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct MetricsConfig {
    namespace: String,
    subsystem: String,
    topic_series: usize,
    #[cfg(feature = "axum")]
    protected: Option<std::sync::Arc<dyn crate::auth::Authenticator>>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            namespace: "tidings".to_owned(),
            subsystem: String::new(),
            topic_series: DEFAULT_TOPIC_SERIES,
            #[cfg(feature = "axum")]
            protected: None,
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("MetricsConfig");
        debug
            .field("namespace", &self.namespace)
            .field("subsystem", &self.subsystem)
            .field("topic_series", &self.topic_series);
        #[cfg(feature = "axum")]
        debug.field("protected", &self.protected.is_some());
        debug.finish()
    }
}

impl MetricsConfig {
    /// First part of every metric name (qsse's namespace). Empty for none. Default: `tidings`.
    ///
    /// # Errors
    /// [`InvalidMetricName`] unless it is ASCII letters, digits and `_`, not starting with a
    /// digit.
    ///
    /// See [`MetricsConfig`] for an example.
    pub fn namespace(mut self, namespace: &str) -> Result<Self, InvalidMetricName> {
        self.namespace = valid_name_part(namespace)?;
        Ok(self)
    }

    /// Second part of every metric name (qsse's subsystem). Empty for none. Default: none.
    ///
    /// # Errors
    /// As [`MetricsConfig::namespace`].
    ///
    /// See [`MetricsConfig`] for an example.
    pub fn subsystem(mut self, subsystem: &str) -> Result<Self, InvalidMetricName> {
        self.subsystem = valid_name_part(subsystem)?;
        Ok(self)
    }

    /// How many topics get their own per-topic series (the busiest first); the rest are
    /// summed into the `_other_` series. The broker itself lists at most its
    /// `topic_stats` (64 by default), so larger values change nothing. 0 exports totals only.
    /// Default: [`DEFAULT_TOPIC_SERIES`] (32).
    ///
    /// See [`MetricsConfig`] for an example.
    pub fn topic_series(mut self, series: usize) -> Self {
        self.topic_series = series;
        self
    }

    /// Serve `/metrics` only to callers `authenticator` identifies as admins (per-topic series
    /// name topics, which may be private). `/healthz` stays open. Default: open to everyone
    /// (restrict it at the network instead, as is usual for scrape endpoints).
    ///
    /// ```
    /// use tidings_server::metrics::MetricsConfig;
    /// let config = MetricsConfig::default().admin_only(tidings_server::Anonymous);
    /// # drop(config);
    /// ```
    #[cfg(feature = "axum")]
    pub fn admin_only(mut self, authenticator: impl crate::auth::Authenticator) -> Self {
        self.protected = Some(std::sync::Arc::new(authenticator));
        self
    }

    /// The prefix of every metric name: namespace and subsystem, each followed by `_`.
    ///
    /// ```
    /// use tidings_server::metrics::MetricsConfig;
    /// assert_eq!(MetricsConfig::default().prefix(), "tidings_");
    /// assert_eq!(MetricsConfig::default().namespace("")?.prefix(), "");
    /// # Ok::<(), tidings_server::metrics::InvalidMetricName>(())
    /// ```
    #[must_use]
    pub fn prefix(&self) -> String {
        let mut prefix = String::new();
        for part in [&self.namespace, &self.subsystem] {
            if !part.is_empty() {
                prefix.push_str(part);
                prefix.push('_');
            }
        }
        prefix
    }
}

/// Checks one part of a metric name. Colons are valid in Prometheus names but reserved for
/// recording rules, so they are refused here.
fn valid_name_part(part: &str) -> Result<String, InvalidMetricName> {
    let valid = part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !part.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if valid { Ok(part.to_owned()) } else { Err(InvalidMetricName { name: part.to_owned() }) }
}

/// The hub's metrics in the Prometheus text format (version 0.0.4), as [`router`] serves them.
///
/// See the [module docs](self) for the names and an example.
#[must_use]
pub fn render(hub: &Hub, config: &MetricsConfig) -> String {
    render_totals(&hub.stats(), config)
}

/// Renders already taken totals (see [`render`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidings_server::metrics::{MetricsConfig, render_totals};
/// let hub = tidings_server::Hub::new(Default::default());
/// let text = render_totals(&hub.stats(), &MetricsConfig::default());
/// assert!(text.contains("# TYPE tidings_connections gauge\ntidings_connections 0\n"));
/// # }
/// ```
#[must_use]
pub fn render_totals(totals: &HubTotals, config: &MetricsConfig) -> String {
    let mut out = Writer { out: String::with_capacity(8 * 1024), prefix: config.prefix() };
    let core = &totals.core;
    let shards = &totals.shards;

    out.gauge("connections", "Open SSE streams.", totals.connections as u64);
    out.gauge(
        "subscriptions",
        "Selectors over all open streams (each is one subscription).",
        totals.subscriptions as u64,
    );
    out.counter("subscriptions_opened_total", "Streams registered.", shards.subscribed);
    out.counter("subscriptions_closed_total", "Streams removed.", shards.unsubscribed);
    out.counter("events_published_total", "Events accepted.", core.published);
    out.counter(
        "events_rejected_total",
        "Publishes refused (duplicate or reserved id, history failure).",
        core.rejected,
    );
    out.counter(
        "events_delivered_total",
        "Events queued live to subscribers (one per subscriber).",
        shards.delivered,
    );
    out.counter(
        "events_replayed_total",
        "Events replayed from history to resuming subscribers.",
        shards.replayed,
    );
    out.counter(
        "events_dropped_total",
        "Events a subscriber did not get because its queue overflowed.",
        shards.dropped,
    );
    out.counter(
        "lag_disconnects_total",
        "Subscribers disconnected because their queue overflowed.",
        shards.lag_disconnects,
    );
    out.counter("gaps_total", "Gap notices sent to subscribers.", shards.gaps);
    out.gauge("history_events", "Events history retains.", totals.history_events as u64);
    out.gauge("history_bytes", "Encoded bytes history retains.", totals.history_bytes as u64);
    out.counter("history_trimmed_total", "Events removed from history by retention.", core.trimmed);
    out.counter("history_trim_errors_total", "Trims the history backend failed.", core.trim_errors);
    out.histogram(
        "publish_duration_seconds",
        "Time a publish call takes: lock wait, history append and fan-out.",
        &totals.publish_latency,
    );
    out.topics(
        "topic_events_published",
        "Events published per topic (busiest topics).",
        &core.topics,
        config.topic_series,
    );
    out.topics(
        "topic_events_delivered",
        "Live deliveries per topic, under an event's first topic (busiest topics).",
        &shards.topics,
        config.topic_series,
    );
    out.head("uptime_seconds", "Time since the hub started.", "gauge");
    out.sample("uptime_seconds", "", Seconds(totals.uptime()));
    out.gauge(
        "shutting_down",
        "1 once a graceful shutdown began.",
        u64::from(totals.shutting_down),
    );
    out.head("build_info", "The hub's version; always 1.", "gauge");
    out.sample("build_info", &label("version", env!("CARGO_PKG_VERSION")), 1);
    out.out
}

/// Writes metric families; every name gets the prefix.
struct Writer {
    out: String,
    prefix: String,
}

// `write!` into a `String` cannot fail; its `fmt::Result` is ignored throughout.
impl Writer {
    fn head(&mut self, name: &str, help: &str, kind: &str) {
        let prefix = &self.prefix;
        let _ = write!(self.out, "# HELP {prefix}{name} {help}\n# TYPE {prefix}{name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{}{name}{labels} {value}", self.prefix);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.head(name, help, "counter");
        self.sample(name, "", value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.head(name, help, "gauge");
        self.sample(name, "", value);
    }

    fn histogram(&mut self, name: &str, help: &str, snapshot: &LatencySnapshot) {
        self.head(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (bound, cumulative) in snapshot.buckets() {
            let le = bound.map_or_else(|| "+Inf".to_owned(), |b| Seconds(b).to_string());
            self.sample(&bucket, &label("le", &le), cumulative);
        }
        self.sample(&format!("{name}_sum"), "", Seconds(snapshot.sum()));
        self.sample(&format!("{name}_count"), "", snapshot.count());
    }

    /// `{name}_total{topic=…}` for the `limit` busiest topics and `{name}_other_total` for
    /// the rest.
    fn topics(&mut self, name: &str, help: &str, table: &TopTopics, limit: usize) {
        let listed = format!("{name}_total");
        let other = format!("{name}_other_total");
        self.head(&listed, help, "counter");
        let sorted = table.sorted();
        let mut rest = table.other();
        for (i, (topic, count)) in sorted.into_iter().enumerate() {
            if i < limit {
                self.sample(&listed, &label("topic", topic), count);
            } else {
                rest += count;
            }
        }
        self.head(&other, "Per-topic counts of the topics not listed.", "counter");
        self.sample(&other, "", rest);
    }
}

/// `{name="value"}` with the value escaped as the text format requires (backslash, double
/// quote and line feed; topics may hold any of them).
fn label(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 5);
    out.push('{');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\"}");
    out
}

/// A duration printed as decimal seconds, exactly (nanosecond resolution, no float rounding,
/// no exponent): `0.0000025`, `1.5`, `90`.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        if nanos == 0 {
            return write!(f, "{secs}");
        }
        let fraction = format!("{nanos:09}");
        write!(f, "{secs}.{}", fraction.trim_end_matches('0'))
    }
}

#[cfg(feature = "axum")]
pub use http_routes::router;

#[cfg(feature = "axum")]
mod http_routes {
    use axum::Router;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use http::{HeaderValue, StatusCode, header};

    use super::{MetricsConfig, render};
    use crate::admin::require_admin;
    use crate::hub::Hub;

    /// `Content-Type` of the Prometheus text format.
    const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

    #[derive(Clone)]
    struct MetricsState {
        hub: Hub,
        config: std::sync::Arc<MetricsConfig>,
    }

    /// `GET /metrics` (see the [module docs](super)) and `GET /healthz`: `200 ok` while the
    /// hub serves, `503 shutting down` once its graceful shutdown began, so a load balancer
    /// stops sending new clients while the streams drain. Merge it with the API router.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tidings_server::{Hub, api, metrics};
    /// let hub = Hub::new(Default::default());
    /// let app = api::router(hub.clone(), Default::default())
    ///     .merge(metrics::router(hub, metrics::MetricsConfig::default()));
    /// # drop(app);
    /// # }
    /// ```
    pub fn router(hub: Hub, config: MetricsConfig) -> Router {
        let state = MetricsState { hub, config: std::sync::Arc::new(config) };
        Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(state)
    }

    async fn metrics(
        State(state): State<MetricsState>,
        request: axum::extract::Request,
    ) -> Response {
        if let Some(authenticator) = &state.config.protected {
            let (parts, _) = request.into_parts();
            if let Err(refused) = require_admin(authenticator.as_ref(), &parts) {
                return refused.into_response();
            }
        }
        let text = render(&state.hub, &state.config);
        let mut response = text.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    async fn healthz(State(state): State<MetricsState>) -> Response {
        let (status, body) = if state.hub.is_shutting_down() {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
        } else {
            (StatusCode::OK, "ok\n")
        };
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        let cases = [
            (Duration::from_nanos(2_500), "0.0000025"),
            (Duration::from_millis(1_500), "1.5"),
            (Duration::from_secs(90), "90"),
            (Duration::ZERO, "0"),
            (Duration::from_nanos(1), "0.000000001"),
        ];
        for (duration, text) in cases {
            assert_eq!(Seconds(duration).to_string(), text);
        }
    }

    #[test]
    fn labels_escape_backslash_quote_and_line_feed() {
        assert_eq!(label("topic", "a\\b\"c\nd"), r#"{topic="a\\b\"c\nd"}"#);
        assert_eq!(label("topic", "https://example.com/ü"), r#"{topic="https://example.com/ü"}"#);
    }

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let histogram = LatencyHistogram::default();
        histogram.record(Duration::from_nanos(1_000)); // exactly the first bound
        histogram.record(Duration::from_nanos(1_001)); // just above: second bucket
        histogram.record(Duration::from_secs(5)); // above every bound: +Inf only
        let snapshot = histogram.snapshot();
        let buckets: Vec<_> = snapshot.buckets().collect();
        assert_eq!(buckets[0], (Some(Duration::from_micros(1)), 1));
        assert_eq!(buckets[1], (Some(Duration::from_nanos(2_500)), 2));
        assert_eq!(buckets[LATENCY_BOUNDS_NS.len() - 1], (Some(Duration::from_secs(1)), 2));
        assert_eq!(buckets[LATENCY_BOUNDS_NS.len()], (None, 3));
        assert_eq!(snapshot.count(), 3);
        assert_eq!(snapshot.sum(), Duration::from_nanos(5_000_002_001));
    }

    #[test]
    fn name_parts_refuse_what_prometheus_refuses() {
        for bad in ["9lives", "my-app", "a b", "é", "a:b"] {
            assert!(valid_name_part(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["", "a", "_x", "tidings_hub", "A9"] {
            assert!(valid_name_part(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn topic_series_beyond_the_limit_fold_into_other() {
        let mut table = TopTopics::new(8);
        for (topic, n) in [("a", 5), ("b", 3), ("c", 2), ("d", 1)] {
            table.add(topic, n);
        }
        let mut writer = Writer { out: String::new(), prefix: "p_".to_owned() };
        writer.topics("t", "help", &table, 2);
        assert!(writer.out.contains("p_t_total{topic=\"a\"} 5\n"));
        assert!(writer.out.contains("p_t_total{topic=\"b\"} 3\n"));
        assert!(!writer.out.contains("topic=\"c\""));
        assert!(writer.out.contains("\np_t_other_total 3\n"));
    }
}
