//! What a run does: [`BenchConfig`].

use std::time::Duration;

use crate::BenchError;

/// Most subscriber connections in one run.
pub(crate) const MAX_CONNECTIONS: usize = 1_000_000;
/// Most events in one run.
pub(crate) const MAX_EVENTS: u64 = 100_000_000;
/// Longest run.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);

/// A run of the load tool. Every setter documents its default.
///
/// ```
/// use std::time::Duration;
/// use tidings_bench::BenchConfig;
///
/// // nchan: raw body, publish to /pub/<channel>.
/// let nchan = BenchConfig::new("http://127.0.0.1:8081/sub/b", "http://127.0.0.1:8081/pub/b")
///     .connections(10_000)
///     .events(100)
///     .rate(Some(50.0))
///     .max_duration(Duration::from_secs(120));
/// assert_eq!(nchan.connection_count(), 10_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct BenchConfig {
    pub(crate) subscribe_url: String,
    pub(crate) publish_url: String,
    pub(crate) method: String,
    pub(crate) subscribe_headers: Vec<(String, String)>,
    pub(crate) publish_headers: Vec<(String, String)>,
    pub(crate) body_template: String,
    pub(crate) connections: usize,
    pub(crate) events: u64,
    pub(crate) rate: Option<f64>,
    pub(crate) publish_window: Option<u64>,
    pub(crate) data_size: usize,
    pub(crate) connect_rate: f64,
    pub(crate) connect_concurrency: usize,
    pub(crate) timeout: Duration,
    pub(crate) settle: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) max_duration: Duration,
    pub(crate) server_pids: Vec<u32>,
    pub(crate) progress: bool,
}

impl BenchConfig {
    /// Subscribers `GET subscribe_url`; events are published to `publish_url`. Both must be
    /// `http://` URLs on loopback.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://127.0.0.1:8080/events?topic=b", "http://127.0.0.1:8080/publish");
    /// # let _ = config;
    /// ```
    pub fn new(subscribe_url: impl Into<String>, publish_url: impl Into<String>) -> Self {
        Self {
            subscribe_url: subscribe_url.into(),
            publish_url: publish_url.into(),
            method: "POST".into(),
            subscribe_headers: Vec::new(),
            publish_headers: Vec::new(),
            body_template: crate::publish::DATA.into(),
            connections: 100,
            events: 1000,
            rate: None,
            publish_window: None,
            data_size: 100,
            connect_rate: 2000.0,
            connect_concurrency: 200,
            timeout: Duration::from_secs(5),
            settle: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(300),
            server_pids: Vec::new(),
            progress: false,
        }
    }

    /// The publish request's method. Default `POST`.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").method("PUT");
    /// # let _ = config;
    /// ```
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Adds a header to every subscribe request. Default none (`Accept: text/event-stream`
    /// is sent unless an `Accept` header is given).
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .subscribe_header("Authorization", "Bearer abc");
    /// # let _ = config;
    /// ```
    pub fn subscribe_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.subscribe_headers.push((name.into(), value.into()));
        self
    }

    /// Adds a header to every publish request. Default none (`Host` and `Content-Length` are
    /// always sent).
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .publish_header("Content-Type", "application/json");
    /// # let _ = config;
    /// ```
    pub fn publish_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.publish_headers.push((name.into(), value.into()));
        self
    }

    /// The publish body, with `{data}` (exactly once) where the event data goes. Default
    /// `{data}` (the body is the data, as nchan takes it). The data is ASCII letters, digits
    /// and `:`, so it needs no escaping inside JSON strings.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .body_template(r#"{"topic":"bench","data":"{data}"}"#);
    /// # let _ = config;
    /// ```
    pub fn body_template(mut self, template: impl Into<String>) -> Self {
        self.body_template = template.into();
        self
    }

    /// Subscriber connections, 1 to 1 000 000. Default 100.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").connections(10);
    /// assert_eq!(config.connection_count(), 10);
    /// ```
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// The number of subscriber connections the run opens.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p");
    /// assert_eq!(config.connection_count(), 100);
    /// ```
    pub fn connection_count(&self) -> usize {
        self.connections
    }

    /// Events to publish, 1 to 100 000 000. Default 1 000.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").events(20_000);
    /// # let _ = config;
    /// ```
    pub fn events(mut self, events: u64) -> Self {
        self.events = events;
        self
    }

    /// Events per second; `None` publishes the next event as soon as the previous one is
    /// answered. Default `None`.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").rate(Some(1000.0));
    /// # let _ = config;
    /// ```
    pub fn rate(mut self, rate: Option<f64>) -> Self {
        self.rate = rate;
        self
    }

    /// Most publish requests sent and not yet answered (HTTP/1.1 pipelining on the one
    /// publish connection, so events stay in order), 1 to 100 000. Default: 1 without a rate
    /// (each event is published when the previous one is answered: "as fast as the publisher
    /// can"), 1 000 with a rate (so the rate holds while the server takes time to answer).
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").publish_window(Some(16));
    /// # let _ = config;
    /// ```
    pub fn publish_window(mut self, window: Option<u64>) -> Self {
        self.publish_window = window;
        self
    }

    /// Bytes of event data (the payload is padded to this size), 48 to 1 MiB. Default 100.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").data_size(1024);
    /// # let _ = config;
    /// ```
    pub fn data_size(mut self, bytes: usize) -> Self {
        self.data_size = bytes;
        self
    }

    /// New connections per second at most. Default 2 000.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").connect_rate(500.0);
    /// # let _ = config;
    /// ```
    pub fn connect_rate(mut self, per_second: f64) -> Self {
        self.connect_rate = per_second;
        self
    }

    /// Connections between connect and response head at once, at most. Default 200.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").connect_concurrency(50);
    /// # let _ = config;
    /// ```
    pub fn connect_concurrency(mut self, max: usize) -> Self {
        self.connect_concurrency = max;
        self
    }

    /// How long a connect and response head, or one publish request, may take. Default 5 s.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .timeout(std::time::Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Pause between the last connection and the first publish (and the idle memory
    /// reading). Default 1 s.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .settle(std::time::Duration::from_millis(200));
    /// # let _ = config;
    /// ```
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// How long to wait for missing deliveries after the last publish. Default 10 s.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .drain_timeout(std::time::Duration::from_secs(3));
    /// # let _ = config;
    /// ```
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// The whole run's limit, at most an hour; when reached the run stops and reports what it
    /// has. Default 300 s.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p")
    ///     .max_duration(std::time::Duration::from_secs(60));
    /// # let _ = config;
    /// ```
    pub fn max_duration(mut self, limit: Duration) -> Self {
        self.max_duration = limit;
        self
    }

    /// The server's processes, whose memory and CPU time `/proc` reports (summed). Default
    /// none (no server figures).
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").server_pids(vec![4242]);
    /// # let _ = config;
    /// ```
    pub fn server_pids(mut self, pids: Vec<u32>) -> Self {
        self.server_pids = pids;
        self
    }

    /// Print a progress line on stderr every second. Default `false`.
    ///
    /// ```
    /// let config = tidings_bench::BenchConfig::new("http://[::1]/s", "http://[::1]/p").progress(true);
    /// # let _ = config;
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Refuses settings outside their bounds.
    pub(crate) fn check(&self) -> Result<(), BenchError> {
        let fail = |setting, bounds| Err(BenchError::Setting { setting, bounds });
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return fail("connections", "from 1 to 1000000");
        }
        if !(1..=MAX_EVENTS).contains(&self.events) {
            return fail("events", "from 1 to 100000000");
        }
        if self.rate.is_some_and(|rate| !(rate.is_finite() && rate > 0.0)) {
            return fail("rate", "a positive number of events per second");
        }
        if self.publish_window.is_some_and(|w| !(1..=100_000).contains(&w)) {
            return fail("publish window", "from 1 to 100000");
        }
        if !(48..=1 << 20).contains(&self.data_size) {
            return fail("data size", "from 48 to 1048576 bytes");
        }
        if !(self.connect_rate.is_finite() && self.connect_rate > 0.0) {
            return fail("connect rate", "a positive number of connections per second");
        }
        if self.connect_concurrency == 0 {
            return fail("connect concurrency", "at least 1");
        }
        if self.max_duration > MAX_DURATION || self.max_duration.is_zero() {
            return fail("max duration", "more than 0 and at most 3600 s");
        }
        if self.timeout.is_zero() {
            return fail("timeout", "more than 0");
        }
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !token(&self.method) {
            return fail("method", "a non-empty token");
        }
        let header_ok = |(name, value): &(String, String)| {
            token(name) && !name.contains(':') && !value.bytes().any(|b| b == b'\r' || b == b'\n')
        };
        if !self.subscribe_headers.iter().chain(&self.publish_headers).all(header_ok) {
            return fail("headers", "a name without ':' or spaces and a value without line breaks");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        let base = BenchConfig::new("http://127.0.0.1/s", "http://127.0.0.1/p");
        assert!(base.check().is_ok());
        let bad = [
            base.clone().connections(0),
            base.clone().connections(MAX_CONNECTIONS + 1),
            base.clone().events(0),
            base.clone().rate(Some(0.0)),
            base.clone().rate(Some(f64::NAN)),
            base.clone().data_size(10),
            base.clone().publish_window(Some(0)),
            base.clone().connect_rate(-1.0),
            base.clone().connect_concurrency(0),
            base.clone().max_duration(Duration::from_secs(7200)),
            base.clone().method("PO ST"),
            base.clone().publish_header("X", "a\r\nInjected: 1"),
            base.clone().subscribe_header("X:Y", "1"),
        ];
        for config in bad {
            assert!(matches!(config.check(), Err(BenchError::Setting { .. })), "{config:?}");
        }
    }
}
