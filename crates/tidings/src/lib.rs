//! The library half of the `tidings` binary: the pieces of its client commands that are worth
//! testing on their own, kept out of `main.rs` so the binary stays glue.
//!
//! - [`publish`]: one event to a tidings hub (native JSON `POST /publish`) or a Mercure hub
//!   (form `POST /.well-known/mercure`), over hyper-util's client with rustls. `tidings pub`
//!   is a thin layer over it.
//! - [`contract`]: the REST test service of LaunchDarkly's SSE contract-test harness, driving
//!   `tidings-client` (`tidings contract-service`).
//!
//! What it is not: the hub (that is `tidings-server`, run by `tidings serve`) or the SSE client
//! (that is `tidings-client`).
//!
//! ```
//! use tidings::publish::{Protocol, Publication};
//!
//! let publication = Publication::new(["news/sport"], "kick-off").event_type("update");
//! let url = Protocol::Native.publish_url("http://localhost:8080")?;
//! assert_eq!(url.as_str(), "http://localhost:8080/publish");
//! assert!(publication.body(Protocol::Native).starts_with(b"{"));
//! # Ok::<(), tidings::publish::PublishError>(())
//! ```

pub mod contract;
pub mod publish;
