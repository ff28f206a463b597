//! The load tool behind `tidings bench`: measures an SSE hub from the outside, the same way
//! for tidings and for the hubs people would otherwise pick (nchan, pushpin).
//!
//! A run opens N subscriber connections (one TCP connection and one HTTP/1.1 request each,
//! connects paced and bounded), waits for them to settle, then publishes M events over HTTP
//! at a fixed rate or as fast as the server answers, and counts what every subscriber
//! receives. Each event's data carries its sequence number and its send time
//! (`<seq>:<ns>:xxx…`, padded to the configured size), so the tool reports loss,
//! out-of-order delivery and publish-to-receive latency percentiles. Given the server's pids it
//! also reads `/proc` for the server's memory per idle connection and CPU time per delivery,
//! and it reports its own CPU use so a run can tell when the tool, not the server, was the
//! limit. The result is a [`Summary`] (JSON with serde).
//!
//! It is not a general HTTP client: it speaks plain HTTP/1.1 to loopback addresses only, and
//! refuses anything else, because it is built to generate heavy traffic.
//!
//! # Design
//! - **One pass, no per-event allocation.** Subscribers share one read buffer (all run on one
//!   current-thread runtime); chunked framing and SSE lines are scanned in the same walk with
//!   `memchr`, and only the payload prefix of a `data:` line is parsed. Per connection the tool
//!   keeps a few dozen bytes of scanner state.
//! - **One clock.** The publisher (a blocking thread) and the subscribers read the same
//!   monotonic clock, so latency needs no clock synchronisation.
//! - **Bounded.** Connections, events and the run's duration all have limits; the tool raises
//!   its own file-descriptor limit (up to the hard limit) and refuses counts it cannot open.
//!
//! # Example
//! ```no_run
//! use tidings_bench::{BenchConfig, run};
//!
//! let config = BenchConfig::new("http://127.0.0.1:8081/sub/bench", "http://127.0.0.1:8081/pub/bench")
//!     .connections(1000)
//!     .events(2000)
//!     .rate(Some(1000.0))
//!     .server_pids(vec![4242, 4243]);
//! let summary = run(&config)?;
//! println!("{summary}");
//! assert_eq!(summary.deliveries.lost, 0);
//! # Ok::<(), tidings_bench::BenchError>(())
//! ```

mod config;
mod http;
mod publish;
mod run;
mod scan;
mod summary;
mod system;
mod target;

use std::io;
use std::net::IpAddr;

pub use config::BenchConfig;
pub use run::run;
pub use summary::{Connections, Deliveries, Latency, Publish, Server, Summary};

/// Why a run could not be made (problems during a run, such as failed connections or lost
/// events, are figures in the [`Summary`], not errors).
///
/// ```
/// use tidings_bench::{BenchConfig, BenchError, run};
///
/// let config = BenchConfig::new("http://192.0.2.1/events", "http://127.0.0.1:8080/publish");
/// assert!(matches!(run(&config), Err(BenchError::NotLoopback { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A URL the tool cannot use.
    #[error("{url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A URL whose host is not a loopback address.
    #[error("{url}: {ip} is not a loopback address; the load tool only targets this machine")]
    NotLoopback {
        /// The URL.
        url: String,
        /// Its address.
        ip: IpAddr,
    },
    /// The body template does not contain `{data}` exactly once.
    #[error("the body template must contain {{data}} exactly once")]
    Template,
    /// A setting out of its bounds.
    #[error("{setting} must be {bounds}")]
    Setting {
        /// The setting.
        setting: &'static str,
        /// Its bounds.
        bounds: &'static str,
    },
    /// The hard file-descriptor limit is below what the connections need.
    #[error("{wanted} file descriptors are needed but the hard limit is {hard}")]
    FdLimit {
        /// Descriptors needed.
        wanted: u64,
        /// The hard limit.
        hard: u64,
    },
    /// A server process's `/proc` entry could not be read.
    #[error("reading /proc/{pid}")]
    Proc {
        /// The pid.
        pid: u32,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No subscriber connection could be established.
    #[error("no subscriber connection was established{}", first_error.as_deref().map(|e| format!(" (first failure: {e})")).unwrap_or_default())]
    NoConnection {
        /// The first failure seen.
        first_error: Option<String>,
    },
    /// Other I/O around the run (the runtime, the publisher thread).
    #[error("{what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}
