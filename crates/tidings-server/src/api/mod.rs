//! The hub's HTTP API on axum (feature `axum`): native endpoints and Mercure-compatible ones.
//!
//! [`router`] returns an `axum::Router` to serve as is, to nest into an existing app, or to
//! merge with other routes (metrics, admin) and wrap in layers (CORS, tracing).
//!
//! | route | what |
//! |---|---|
//! | `GET /events?topic=…` | subscribe to one or more selectors (SSE) |
//! | `GET /events/{topic…}` | subscribe to a topic and its whole subtree (`t` and `t/**`) |
//! | `POST /publish` | publish one event or a batch (JSON) |
//! | `GET /.well-known/mercure?topic=…` | Mercure subscribe (SSE) |
//! | `POST /.well-known/mercure` | Mercure publish (form fields) |
//! | `GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]` | Mercure's active subscriptions (JSON-LD), when [`ApiConfig::subscriptions`] is on |
//!
//! `docs/HTTP_API.md` describes every parameter, status code and header.
//!
//! Every event published through the API is encoded once, at publish time, with what the
//! configuration asks for on the wire: one `topic:` line per topic ([`ApiConfig::topic_field`])
//! and base64 data ([`ApiConfig::base64_data`]). Subscribers share that frame.
//!
//! What it is not: the listener (hyper's connection handling, TLS, graceful shutdown) or the
//! authenticator itself ([`ApiConfig::authenticator`] takes any [`Authenticator`]).
//!
//! ```
//! use axum::routing::get;
//! use tidings_broker::Selector;
//! use tidings_server::api::{ApiConfig, mercure_link, router};
//! use tidings_server::{Hub, HubConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::default());
//! let config = ApiConfig::default()
//!     .allow_anonymous(true)
//!     .subscriptions(true)
//!     .topic_field(true)
//!     .max_data(64 * 1024)
//!     .allowed_topics([Selector::parse("https://example.com/{+path}")?])
//!     .link_header(mercure_link("https://example.com/.well-known/mercure")?);
//! // The router merges with the application's own routes and takes its layers.
//! let app = router(hub.clone(), config).route("/healthz", get(|| async { "ok" }));
//! # drop(app);
//! # Ok(()) }
//! ```

mod discovery;
mod error;
mod mercure;
mod native;
mod publish;
mod request;
mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use http::HeaderValue;
use tidings_broker::Selector;

pub use discovery::{LinkError, MercureLink, mercure_link};
pub use error::ApiError;
pub use publish::{DATA_ENCODING_HEADER, TOPIC_FIELD, with_topic_fields};

use crate::auth::{Anonymous, Authenticator};
use crate::hub::Hub;

/// Default for [`ApiConfig::max_topics`].
pub const DEFAULT_MAX_TOPICS: usize = 100;

/// Default for [`ApiConfig::max_body`]: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Default for [`ApiConfig::max_data`]: 512 KiB. Even base64-encoded (4/3 larger) such data
/// stays under the 1 MiB event size our decoder accepts by default.
pub const DEFAULT_MAX_DATA: usize = 512 * 1024;

/// Settings of the HTTP API. Every limit has a default suited to a public hub.
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
    pub(crate) max_data: usize,
    pub(crate) topic_field: bool,
    pub(crate) base64_data: bool,
    pub(crate) allowed_topics: Option<Arc<[Selector]>>,
    pub(crate) subscriptions: bool,
    pub(crate) link: Option<HeaderValue>,
    pub(crate) trusted_proxies: crate::client_addr::TrustedProxies,
    pub(crate) stream_headers: Arc<http::HeaderMap>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            authenticator: Arc::new(Anonymous),
            allow_anonymous: true,
            max_topics: DEFAULT_MAX_TOPICS,
            max_body: DEFAULT_MAX_BODY,
            max_data: DEFAULT_MAX_DATA,
            topic_field: false,
            base64_data: false,
            allowed_topics: None,
            subscriptions: false,
            link: None,
            trusted_proxies: crate::client_addr::TrustedProxies::none(),
            stream_headers: Arc::default(),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("allow_anonymous", &self.allow_anonymous)
            .field("max_topics", &self.max_topics)
            .field("max_body", &self.max_body)
            .field("max_data", &self.max_data)
            .field("topic_field", &self.topic_field)
            .field("base64_data", &self.base64_data)
            .field("allowed_topics", &self.allowed_topics)
            .field("subscriptions", &self.subscriptions)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl ApiConfig {
    /// Who is calling. Default: [`Anonymous`] (nobody can publish over HTTP).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Arc::new(authenticator);
        self
    }

    /// Proxies whose `X-Forwarded-For`/`Forwarded` headers are believed when recording a
    /// stream's client address (shown by the admin status). Default: none, so the address is
    /// the TCP peer's. The peer address comes from axum's `ConnectInfo<SocketAddr>` request
    /// extension, which `tidings_server::serve` and `into_make_service_with_connect_info`
    /// provide; without it no address is recorded.
    ///
    /// ```
    /// use tidings_server::client_addr::{IpNet, TrustedProxies};
    /// let config = tidings_server::api::ApiConfig::default()
    ///     .trusted_proxies(TrustedProxies::none().trust(IpNet::parse("10.0.0.0/8")?));
    /// # drop(config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trusted_proxies(mut self, proxies: crate::client_addr::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Adds a header to every SSE stream response (native and Mercure), after the hub's own
    /// headers, so it may also replace one of them (e.g. `Cache-Control`). Default: none.
    ///
    /// ```
    /// use http::{HeaderName, HeaderValue};
    /// let config = tidings_server::api::ApiConfig::default()
    ///     .stream_header(HeaderName::from_static("x-hub"), HeaderValue::from_static("eu-1"));
    /// # drop(config);
    /// ```
    pub fn stream_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        Arc::make_mut(&mut self.stream_headers).insert(name, value);
        self
    }

    /// Whether subscribers without credentials are accepted (they see public events only).
    /// Invalid credentials are refused (401) either way. Default: `true`.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Most topics (selectors) per subscription, and topics per published event; more are
    /// refused with 400. Default: [`DEFAULT_MAX_TOPICS`] (100).
    pub fn max_topics(mut self, max: usize) -> Self {
        self.max_topics = max;
        self
    }

    /// Largest publish request body in bytes; a larger one is refused with 413 before it is
    /// read in full (at once when `Content-Length` announces it). Default:
    /// [`DEFAULT_MAX_BODY`] (1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Largest data of one published event in bytes (before any base64 encoding); larger is
    /// refused with 413. Default: [`DEFAULT_MAX_DATA`] (512 KiB).
    pub fn max_data(mut self, bytes: usize) -> Self {
        self.max_data = bytes;
        self
    }

    /// Whether events published through the API carry one `topic:` field line per topic
    /// ([`TOPIC_FIELD`]), so clients can route events by topic. Browsers ignore the field.
    /// Off by default because it tells every recipient all of an event's topics, which Mercure
    /// applications may use as private access-control topics (`…/users/alice/?topic=…`).
    /// Default: `false`.
    pub fn topic_field(mut self, on: bool) -> Self {
        self.topic_field = on;
        self
    }

    /// Whether the data of events published through the API is sent base64-encoded (standard
    /// alphabet, padded), so it may hold anything, line breaks included, in one `data:` line.
    /// Streams announce it with the [`DATA_ENCODING_HEADER`] response header. `tidings-gap`
    /// notices are never encoded. Default: `false`.
    pub fn base64_data(mut self, on: bool) -> Self {
        self.base64_data = on;
        self
    }

    /// Restricts the hub to these topics (qsse's fixed topic list). Publishing to a topic no
    /// selector matches, or subscribing with a selector that is neither one of these (same
    /// text) nor an exact topic one of them matches, is refused with 403. Default: any topic.
    ///
    /// ```
    /// use tidings_broker::Selector;
    /// let config = tidings_server::api::ApiConfig::default()
    ///     .allowed_topics([Selector::parse("news/*")?, Selector::parse("weather")?]);
    /// # drop(config);
    /// # Ok::<(), tidings_broker::SelectorError>(())
    /// ```
    pub fn allowed_topics(mut self, selectors: impl IntoIterator<Item = Selector>) -> Self {
        self.allowed_topics = Some(selectors.into_iter().collect());
        self
    }

    /// Mercure's active-subscriptions feature: the subscriptions API and a private presence
    /// event on `/.well-known/mercure/subscriptions/{topic}/{subscriber}` each time a
    /// subscriber connects or disconnects. Costs two publishes per subscribed selector and
    /// connection. Default: `false` (the API answers 404).
    pub fn subscriptions(mut self, on: bool) -> Self {
        self.subscriptions = on;
        self
    }

    /// A `Link` header sent on every response of the router, typically
    /// [`mercure_link`]`(hub_url)` so clients discover the hub. Default: none.
    ///
    /// ```
    /// use tidings_server::api::{ApiConfig, mercure_link};
    /// let config = ApiConfig::default()
    ///     .link_header(mercure_link("https://example.com/.well-known/mercure")?);
    /// # drop(config);
    /// # Ok::<(), tidings_server::api::LinkError>(())
    /// ```
    pub fn link_header(mut self, value: HeaderValue) -> Self {
        self.link = Some(value);
        self
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Hub,
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) presence: Arc<subscriptions::Presence>,
}

/// The hub's HTTP API for `hub`: the routes in the [module docs](self), with their state
/// applied, so the result merges with other routers and takes layers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hub = tidings_server::Hub::new(Default::default());
/// let app = axum::Router::new().nest("/sse", tidings_server::api::router(hub, Default::default()));
/// # drop(app);
/// # }
/// ```
pub fn router(hub: Hub, config: ApiConfig) -> Router {
    let presence = Arc::new(subscriptions::Presence::new(&hub));
    let link = config.link.clone();
    let state = AppState { hub, config: Arc::new(config), presence };
    let router = Router::new()
        .route("/events", get(native::subscribe_query))
        .route("/events/{*topic}", get(native::subscribe_path))
        .route("/publish", post(native::publish))
        .route("/.well-known/mercure", get(mercure::subscribe).post(mercure::publish))
        .route("/.well-known/mercure/subscriptions", get(subscriptions::list))
        .route("/.well-known/mercure/subscriptions/{topic}", get(subscriptions::list))
        .route("/.well-known/mercure/subscriptions/{topic}/{subscriber}", get(subscriptions::one))
        .with_state(state);
    match link {
        Some(link) => {
            router.layer(axum::middleware::map_response(move |mut response: Response| {
                let link = link.clone();
                async move {
                    response.headers_mut().append(http::header::LINK, link);
                    response
                }
            }))
        }
        None => router,
    }
}

/// Counts a publish against the task's scheduling budget, yielding once it is spent. A
/// publisher pipelining requests on one connection would otherwise publish hundreds of events
/// in a single poll (hyper reads them all at once and the handlers never wait), while the
/// subscribers it fills never run: their queues would overflow and they would be disconnected
/// for the hub's own busyness, not theirs.
pub(crate) async fn yield_to_subscribers() {
    tokio::task::consume_budget().await;
}
