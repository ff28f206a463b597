//! The result of a run: what [`run`](crate::run) returns and `tidings bench --json` prints.

use std::fmt;

use serde::Serialize;

/// Everything a run measured. Serialises to the JSON that `tidings bench --json` prints.
///
/// ```
/// let summary = tidings_bench::Summary::default();
/// let json = serde_json::to_value(&summary)?;
/// assert_eq!(json["deliveries"]["lost"], 0);
/// assert!(json["server"].is_null());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Subscriber connections.
    pub connections: Connections,
    /// The publisher's side.
    pub publish: Publish,
    /// Events received by subscribers.
    pub deliveries: Deliveries,
    /// Publish-to-receive latency of delivered events, microseconds.
    pub latency_us: Latency,
    /// The server's memory and CPU time, when its pids were given.
    pub server: Option<Server>,
    /// The load tool's own CPU use while events flowed: near 1.0 means the tool, pinned to one
    /// core, was the limit rather than the server.
    pub client_cpu_utilisation: f64,
    /// Wall time of the whole run, seconds.
    pub duration_s: f64,
    /// Why the run ended: `complete` (every expected delivery arrived), `drain-timeout`
    /// (deliveries were missing when the drain time after the last publish ran out) or
    /// `max-duration`.
    pub ended_by: String,
}

/// Connection figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Connections {
    /// Asked for.
    pub requested: u64,
    /// Answered 200 with a stream.
    pub established: u64,
    /// Refused, timed out, or answered with another status.
    pub failed: u64,
    /// Established, then closed by the server or broken before the run ended.
    pub closed_early: u64,
    /// From the first connect to the last answer, seconds.
    pub connect_s: f64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

/// Publisher figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Publish {
    /// Events to publish.
    pub requested: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered otherwise or failed.
    pub failed: u64,
    /// The last non-2xx status, if any.
    pub last_bad_status: Option<u16>,
    /// Why publishing ended early, if it did. A request that failed (timed out, or was in
    /// flight when its connection ended) may still have been published.
    pub error: Option<String>,
    /// From the first send to the last answer, seconds.
    pub duration_s: f64,
    /// Events published per second.
    pub per_s: f64,
}

/// Delivery figures. `expected` is every established connection times every event published
/// with a 2xx answer; `lost` is what did not arrive. An event received twice or out of order
/// counts in `out_of_order` (and as received), so zero `lost` with zero `out_of_order` means
/// every event reached every subscriber exactly once, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Deliveries {
    /// Expected deliveries.
    pub expected: u64,
    /// Received deliveries.
    pub received: u64,
    /// Expected but not received.
    pub lost: u64,
    /// Received with a sequence number not above the previous one on that connection.
    pub out_of_order: u64,
    /// From the first publish to the last delivery, seconds.
    pub duration_s: f64,
    /// Received deliveries per second over `duration_s`.
    pub per_s: f64,
}

/// Latency percentiles, microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// The server's processes, summed over the given pids.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Server {
    /// The pids read.
    pub pids: Vec<u32>,
    /// RSS before the first connection, bytes.
    pub rss_before: u64,
    /// RSS with every connection open and idle, bytes.
    pub rss_connected: u64,
    /// RSS at the end of the run, bytes.
    pub rss_end: u64,
    /// `(rss_connected - rss_before) / established`, bytes.
    pub rss_per_connection: f64,
    /// User plus system CPU time from the first publish to the end of the deliveries, seconds
    /// (clock-tick resolution, usually 10 ms).
    pub cpu_s: f64,
    /// CPU time per 1 000 deliveries, milliseconds (the same number as µs per delivery).
    pub cpu_ms_per_1000_deliveries: f64,
    /// CPU time over wall time in the same window (1.0 is one core busy).
    pub cpu_utilisation: f64,
}

impl Summary {
    /// The summary as pretty-printed JSON (what `tidings bench --json` prints).
    ///
    /// ```
    /// let text = tidings_bench::Summary::default().to_json();
    /// assert!(text.contains("\"ended_by\": \"\""));
    /// ```
    pub fn to_json(&self) -> String {
        // Plain numbers, strings and options: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connections;
        writeln!(
            f,
            "connections  {} of {} established in {:.2} s, {} failed, {} closed early",
            c.established, c.requested, c.connect_s, c.failed, c.closed_early
        )?;
        if let Some(error) = &c.first_error {
            writeln!(f, "             first failure: {error}")?;
        }
        let p = &self.publish;
        writeln!(
            f,
            "published    {} of {} in {:.2} s ({:.0}/s), {} failed{}",
            p.ok,
            p.requested,
            p.duration_s,
            p.per_s,
            p.failed,
            p.last_bad_status.map(|s| format!(" (last status {s})")).unwrap_or_default()
        )?;
        if let Some(error) = &p.error {
            writeln!(f, "             publishing stopped: {error}")?;
        }
        let d = &self.deliveries;
        writeln!(
            f,
            "deliveries   {} of {} in {:.2} s: {:.0}/s, {} lost, {} out of order",
            d.received, d.expected, d.duration_s, d.per_s, d.lost, d.out_of_order
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "latency      p50 {} p90 {} p99 {} p99.9 {} max {}",
            micros(l.p50),
            micros(l.p90),
            micros(l.p99),
            micros(l.p999),
            micros(l.max)
        )?;
        if let Some(s) = &self.server {
            writeln!(
                f,
                "server       {:.3} s CPU ({:.0}% of a core): {:.3} ms per 1 000 deliveries; RSS {:.1} MiB → {:.1} MiB connected ({:.0} B per connection)",
                s.cpu_s,
                s.cpu_utilisation * 100.0,
                s.cpu_ms_per_1000_deliveries,
                s.rss_before as f64 / 1_048_576.0,
                s.rss_connected as f64 / 1_048_576.0,
                s.rss_per_connection
            )?;
        }
        writeln!(
            f,
            "load tool    {:.0}% of a core while events flowed{}",
            self.client_cpu_utilisation * 100.0,
            if self.client_cpu_utilisation >= 0.9 {
                " (the load tool may be the limit)"
            } else {
                ""
            }
        )?;
        write!(f, "run          {:.2} s, ended by {}", self.duration_s, self.ended_by)
    }
}

/// Microseconds as µs or ms, for people.
fn micros(us: f64) -> String {
    if us >= 1000.0 { format!("{:.2}ms", us / 1000.0) } else { format!("{us:.0}µs") }
}
