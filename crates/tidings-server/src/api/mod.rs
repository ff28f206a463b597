//! The hub's HTTP API on axum (feature `axum`): native endpoints and Mercure-compatible ones.
//!
//! [`router`] returns an `axum::Router` to serve as is or to nest into an existing app.
//!
//! | route | what |
//! |---|---|
//! | `GET /events?topic=…` | subscribe to one or more selectors (SSE) |
//! | `GET /events/{topic…}` | subscribe to a topic and its whole subtree (`t` and `t/**`) |
//! | `POST /publish` | publish one event or a batch (JSON) |

mod error;
mod native;
mod request;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::auth::{Anonymous, Authenticator};
use crate::hub::Hub;

/// Settings of the HTTP API.
///
/// ```
/// use tidings_server::api::ApiConfig;
/// let config = ApiConfig::default().allow_anonymous(false).max_topics(16);
/// # drop(config);
/// ```
#[derive(Clone)]
#[must_use]
pub struct ApiConfig {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) allow_anonymous: bool,
    pub(crate) max_topics: usize,
    pub(crate) max_body: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            authenticator: Arc::new(Anonymous),
            allow_anonymous: true,
            max_topics: 100,
            max_body: 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("allow_anonymous", &self.allow_anonymous)
            .field("max_topics", &self.max_topics)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl ApiConfig {
    /// Who is calling. Default: [`Anonymous`] (nobody can publish over HTTP).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Arc::new(authenticator);
        self
    }

    /// Whether subscribers without credentials are accepted (they see public events only).
    /// Default: `true`.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Most topics (selectors) per subscription or per published event. Default: 100.
    pub fn max_topics(mut self, max: usize) -> Self {
        self.max_topics = max;
        self
    }

    /// Largest publish request body in bytes. Default: 1 MiB.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Hub,
    pub(crate) config: Arc<ApiConfig>,
}

/// The hub's HTTP API for `hub`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hub = tidings_server::Hub::new(Default::default());
/// let app = axum::Router::new().nest("/sse", tidings_server::api::router(hub, Default::default()));
/// # drop(app);
/// # }
/// ```
pub fn router(hub: Hub, config: ApiConfig) -> Router {
    let state = AppState { hub, config: Arc::new(config) };
    Router::new()
        .route("/events", get(native::subscribe_query))
        .route("/events/{*topic}", get(native::subscribe_path))
        .route("/publish", post(native::publish))
        .with_state(state)
}
