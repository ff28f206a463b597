//! The async tidings hub for tokio: the I/O-free broker core behind sharded locks, an SSE
//! response body that batches ready frames, and (feature `axum`) the HTTP API.
//!
//! - [`Hub`]: publish from anywhere, subscribe per connection; one hub-wide keep-alive tick.
//! - [`Subscription`] / [`SseBody`]: what a connection drains; `http_body::Body<Data = Bytes>`,
//!   so it plugs into hyper, axum and tower without adapters.
//!
//! What it is not: the hub binary (that is the `tidings` crate, glue only) or a client.
//!
//! ```
//! use http_body_util::BodyExt;
//! use tidings_broker::{Message, Selector, SubscriptionConfig};
//! use tidings_codec::Event;
//! use tidings_server::{Hub, HubConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::default());
//! let mut body = hub
//!     .subscribe(SubscriptionConfig::new().selector(Selector::parse("pets/**")?))?
//!     .into_body();
//! hub.publish(Message::new(Event::new("meow")).topic("pets/cats"))?;
//! let mut seen = Vec::new();
//! while !seen.ends_with(b"data: meow\n\n") {
//!     seen.extend_from_slice(&body.frame().await.expect("open")?.into_data().expect("data"));
//! }
//! # Ok(()) }
//! ```

pub mod admin;
#[cfg(feature = "axum")]
pub mod api;
mod auth;
mod body;
pub mod client_addr;
pub mod cors;
mod hub;
pub mod jwt;
pub mod metrics;
#[cfg(feature = "serve")]
pub mod serve;
mod stream;

pub use auth::{Anonymous, AuthError, Authenticator, Grant, Identity};
pub use body::{GAP_EVENT_TYPE, SseBody};
pub use client_addr::TrustedProxies;
pub use cors::CorsConfig;
pub use hub::{
    DEFAULT_KEEP_ALIVE, DEFAULT_MAX_CONNECTIONS, DEFAULT_WRITE_DELAY, Hub, HubConfig,
    SubscribeError, Subscription,
};
pub use jwt::{JwtAuthenticator, JwtConfig, TokenBuilder};
pub use stream::{EventStream, LastEventId};
