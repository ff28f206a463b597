//! The admin endpoints: what the hub is doing now, for people ([`router`], feature `axum`).
//!
//! | route | what |
//! |---|---|
//! | `GET /admin` | a self-contained HTML page (no external assets) that updates live over SSE |
//! | `GET /admin/status` | JSON: node, version, uptime, totals, busiest topics, open connections |
//! | `GET /admin/events` | SSE: the same JSON as a `status` event every [`AdminConfig::refresh`] |
//!
//! Every route needs an admin: a caller the configured authenticator identifies with
//! [`Identity::admin`](crate::Identity::admin) set (with the JWT authenticator, a token minted
//! with `TokenBuilder::new().admin(true)` and signed with the publisher key). No credentials
//! answer 401, credentials without the admin right 403. A browser cannot set headers on an
//! `EventSource`, so the page passes on the `authorization` query parameter it was opened with
//! (`/admin?authorization=<token>`); the `mercureAuthorization` cookie works too and keeps the
//! token out of URLs and logs. The page is sent with `Referrer-Policy: no-referrer` so the
//! token does not leak through links, and a content security policy that allows only its own
//! inline script and style and connections to the hub.
//!
//! The status stream is the hub's own SSE: one snapshot per period for each open admin page,
//! generated on the period (not published through the broker, so admin traffic neither counts
//! in the metrics nor lands in history). It ends when the hub shuts down (with the hub's
//! `retry:` hint) or when the admin's credentials expire.
//!
//! `/admin/status`:
//!
//! ```json
//! {
//!   "node": "tidings", "version": "0.1.0", "started_at": 1767225600000,
//!   "uptime_seconds": 42.5, "shutting_down": false,
//!   "totals": {"connections": 1, "subscriptions": 2, "published": 10, "rejected": 0,
//!              "delivered": 7, "replayed": 3, "dropped": 0, "lag_disconnects": 0, "gaps": 0,
//!              "history_events": 10, "history_bytes": 640, "publish_calls": 10,
//!              "publish_seconds": 0.000183},
//!   "topics": [{"topic": "news", "published": 10}],
//!   "connections": [{"id": "0.0.1", "selectors": ["news", "sport/*"], "user": "ann",
//!                    "address": "192.0.2.7", "since": 1767225640000, "age_seconds": 2.5,
//!                    "events_sent": 7, "queued": 0, "queued_bytes": 0}],
//!   "connections_truncated": false
//! }
//! ```
//!
//! `user` and `address` are absent when unknown (`address` is known when the layer that opened
//! the stream called [`Subscription::set_client_addr`](crate::Subscription::set_client_addr)).
//! At most [`AdminConfig::max_listed`] connections are listed, oldest first;
//! `connections_truncated` says whether there were more.
//!
//! Without feature `axum`, the same data is there for other front ends:
//!
//! ```
//! use tidings_broker::{Selector, SubscriptionConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = tidings_server::Hub::new(Default::default());
//! let _subscription = hub.subscribe(SubscriptionConfig::new().selector(Selector::parse("news")?))?;
//! let totals = hub.stats();
//! let listed = hub.connection_list(100);
//! assert_eq!((totals.connections, listed[0].selectors.as_slice()), (1, &["news".to_owned()][..]));
//! # Ok(()) }
//! ```

use std::net::IpAddr;

use tidings_broker::{SubscriberId, Timestamp};

/// One open subscription, as [`Hub::connection_list`](crate::Hub::connection_list) lists it.
///
/// See [`Hub::connection_list`](crate::Hub::connection_list) for an example.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStatus {
    /// The subscriber.
    pub id: SubscriberId,
    /// Its selectors, as given.
    pub selectors: Vec<String>,
    /// The user it belongs to, if any.
    pub user: Option<String>,
    /// The client's address, if the layer that opened it recorded one.
    pub client_addr: Option<IpAddr>,
    /// When it subscribed, on the hub's clock.
    pub since: Timestamp,
    /// Items (events and gap notices) its response body took for the wire.
    pub sent: u64,
    /// Live items waiting in its queue.
    pub queued: usize,
    /// Bytes of those items.
    pub queued_bytes: usize,
}

#[cfg(feature = "axum")]
pub(crate) use http_routes::require_admin;
#[cfg(feature = "axum")]
pub use http_routes::{AdminConfig, DEFAULT_MAX_LISTED, DEFAULT_REFRESH, router};

#[cfg(feature = "axum")]
mod http_routes {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::{Duration, SystemTime};

    use axum::Router;
    use axum::body::Body as AxumBody;
    use axum::extract::{Request, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use bytes::Bytes;
    use http::request::Parts;
    use http::{HeaderValue, header};
    use http_body::{Body, Frame, SizeHint};
    use serde::Serialize;
    use tidings_codec::{Event, EventType};

    use crate::api::ApiError;
    use crate::auth::{Anonymous, Authenticator, Identity};
    use crate::hub::Hub;
    use crate::stream::insert_event_stream_headers;

    /// Default for [`AdminConfig::max_listed`].
    pub const DEFAULT_MAX_LISTED: usize = 1000;

    /// Default for [`AdminConfig::refresh`].
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

    /// The shortest [`AdminConfig::refresh`] accepted.
    const MIN_REFRESH: Duration = Duration::from_millis(50);

    /// The admin page, self-contained.
    const PAGE: &str = include_str!("admin.html");

    /// Only the page's own inline script and style, connections to the hub, nothing else.
    const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
        style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
        form-action 'none'; frame-ancestors 'none'";

    /// Settings of the admin endpoints.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_server::admin::AdminConfig;
    /// let config = AdminConfig::default().node("eu-1").max_listed(100).refresh(Duration::from_secs(2));
    /// # drop(config);
    /// ```
    #[derive(Clone)]
    #[must_use]
    pub struct AdminConfig {
        authenticator: Arc<dyn Authenticator>,
        node: String,
        max_listed: usize,
        refresh: Duration,
    }

    impl Default for AdminConfig {
        fn default() -> Self {
            Self {
                authenticator: Arc::new(Anonymous),
                node: "tidings".to_owned(),
                max_listed: DEFAULT_MAX_LISTED,
                refresh: DEFAULT_REFRESH,
            }
        }
    }

    impl std::fmt::Debug for AdminConfig {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AdminConfig")
                .field("node", &self.node)
                .field("max_listed", &self.max_listed)
                .field("refresh", &self.refresh)
                .finish_non_exhaustive()
        }
    }

    impl AdminConfig {
        /// Who is calling; only identities with `admin` set get in. Default: [`Anonymous`],
        /// which identifies nobody, so every request is refused until one is configured.
        ///
        /// See [`router`] for an example.
        pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
            self.authenticator = Arc::new(authenticator);
            self
        }

        /// The same, for an authenticator already shared (the one the API uses).
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tidings_server::{Anonymous, Authenticator};
        /// let shared: Arc<dyn Authenticator> = Arc::new(Anonymous);
        /// let config = tidings_server::admin::AdminConfig::default().shared_authenticator(shared);
        /// # drop(config);
        /// ```
        pub fn shared_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
            self.authenticator = authenticator;
            self
        }

        /// The node name shown (for telling hubs apart). Default: `tidings`.
        ///
        /// See [`AdminConfig`] for an example.
        pub fn node(mut self, name: impl Into<String>) -> Self {
            self.node = name.into();
            self
        }

        /// At most this many connections are listed per status. Default:
        /// [`DEFAULT_MAX_LISTED`] (1000).
        ///
        /// See [`AdminConfig`] for an example.
        pub fn max_listed(mut self, max: usize) -> Self {
            self.max_listed = max;
            self
        }

        /// How often `/admin/events` sends a status. Default: [`DEFAULT_REFRESH`] (1 s);
        /// at least 50 ms.
        ///
        /// See [`AdminConfig`] for an example.
        pub fn refresh(mut self, period: Duration) -> Self {
            self.refresh = period.max(MIN_REFRESH);
            self
        }
    }

    /// Lets admins through: 401 without (or with invalid) credentials, 403 for a caller who
    /// is not an admin.
    pub(crate) fn require_admin(
        authenticator: &dyn Authenticator,
        parts: &Parts,
    ) -> Result<Identity, ApiError> {
        match authenticator.authenticate(parts) {
            Ok(Some(identity)) if identity.admin => Ok(identity),
            Ok(Some(_)) => Err(ApiError::forbidden("this needs an admin token")),
            Ok(None) => Err(ApiError::unauthorized("this needs an admin token")),
            Err(error) => Err(ApiError::unauthorized(error.to_string())),
        }
    }

    #[derive(Clone)]
    struct AdminState {
        hub: Hub,
        config: Arc<AdminConfig>,
    }

    /// The admin routes of the [module docs](super), with their state applied; merge them
    /// with the API router.
    ///
    /// ```
    /// use tidings_server::admin::{AdminConfig, router};
    /// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, VerifyingKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let hub = tidings_server::Hub::new(Default::default());
    /// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("a secret of 32 bytes or more....")?));
    /// let admin = router(hub.clone(), AdminConfig::default().authenticator(auth).node("eu-1"));
    /// let app = tidings_server::api::router(hub, Default::default()).merge(admin);
    /// # drop(app);
    /// # Ok(()) }
    /// ```
    pub fn router(hub: Hub, config: AdminConfig) -> Router {
        let state = AdminState { hub, config: Arc::new(config) };
        Router::new()
            .route("/admin", get(page))
            .route("/admin/status", get(status))
            .route("/admin/events", get(events))
            .with_state(state)
    }

    fn no_store(response: &mut Response) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    async fn page(State(state): State<AdminState>, request: Request) -> Response {
        let (parts, _) = request.into_parts();
        if let Err(refused) = require_admin(state.config.authenticator.as_ref(), &parts) {
            return refused.into_response();
        }
        let mut response = axum::response::Html(PAGE).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        no_store(&mut response);
        response
    }

    async fn status(State(state): State<AdminState>, request: Request) -> Response {
        let (parts, _) = request.into_parts();
        if let Err(refused) = require_admin(state.config.authenticator.as_ref(), &parts) {
            return refused.into_response();
        }
        let mut response = axum::Json(snapshot(&state.hub, &state.config)).into_response();
        no_store(&mut response);
        response
    }

    async fn events(State(state): State<AdminState>, request: Request) -> Response {
        let (parts, _) = request.into_parts();
        let identity = match require_admin(state.config.authenticator.as_ref(), &parts) {
            Ok(identity) => identity,
            Err(refused) => return refused.into_response(),
        };
        let lifetime = identity
            .expires
            .map(|at| at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO));
        let body = StatusStream::new(state.hub, state.config, lifetime);
        let mut response = Response::new(AxumBody::new(body));
        insert_event_stream_headers(response.headers_mut());
        response
    }

    #[derive(Serialize)]
    struct Status<'a> {
        node: &'a str,
        version: &'static str,
        /// Unix milliseconds.
        started_at: u64,
        uptime_seconds: f64,
        shutting_down: bool,
        totals: Totals,
        topics: Vec<TopicCount<'a>>,
        connections: Vec<Connection>,
        connections_truncated: bool,
    }

    #[derive(Serialize)]
    struct Totals {
        connections: usize,
        subscriptions: usize,
        published: u64,
        rejected: u64,
        delivered: u64,
        replayed: u64,
        dropped: u64,
        lag_disconnects: u64,
        gaps: u64,
        history_events: usize,
        history_bytes: usize,
        publish_calls: u64,
        publish_seconds: f64,
    }

    #[derive(Serialize)]
    struct TopicCount<'a> {
        topic: &'a str,
        published: u64,
    }

    #[derive(Serialize)]
    struct Connection {
        id: String,
        selectors: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Unix milliseconds.
        since: u64,
        age_seconds: f64,
        events_sent: u64,
        queued: usize,
        queued_bytes: usize,
    }

    /// Topics listed in a status.
    const STATUS_TOPICS: usize = 20;

    /// The status document (see the [module docs](super)).
    fn snapshot(hub: &Hub, config: &AdminConfig) -> serde_json::Value {
        let totals = hub.stats();
        // One more than shown tells whether the list is complete.
        let mut listed = hub.connection_list(config.max_listed.saturating_add(1));
        let truncated = listed.len() > config.max_listed;
        listed.sort_by(|a, b| a.since.cmp(&b.since).then(a.id.cmp(&b.id)));
        listed.truncate(config.max_listed);
        let now = totals.now.as_millis();
        let connections = listed
            .into_iter()
            .map(|c| Connection {
                id: c.id.to_string(),
                selectors: c.selectors,
                user: c.user,
                address: c.client_addr.map(|a| a.to_string()),
                since: c.since.as_millis(),
                age_seconds: millis_to_seconds(now.saturating_sub(c.since.as_millis())),
                events_sent: c.sent,
                queued: c.queued,
                queued_bytes: c.queued_bytes,
            })
            .collect();
        let topics = totals
            .core
            .topics
            .sorted()
            .into_iter()
            .take(STATUS_TOPICS)
            .map(|(topic, published)| TopicCount { topic, published })
            .collect();
        let status = Status {
            node: &config.node,
            version: env!("CARGO_PKG_VERSION"),
            started_at: totals.started.as_millis(),
            uptime_seconds: totals.uptime().as_secs_f64(),
            shutting_down: totals.shutting_down,
            totals: Totals {
                connections: totals.connections,
                subscriptions: totals.subscriptions,
                published: totals.core.published,
                rejected: totals.core.rejected,
                delivered: totals.shards.delivered,
                replayed: totals.shards.replayed,
                dropped: totals.shards.dropped,
                lag_disconnects: totals.shards.lag_disconnects,
                gaps: totals.shards.gaps,
                history_events: totals.history_events,
                history_bytes: totals.history_bytes,
                publish_calls: totals.publish_latency.count(),
                publish_seconds: totals.publish_latency.sum().as_secs_f64(),
            },
            topics,
            connections,
            connections_truncated: truncated,
        };
        // Serializing plain structs of strings and numbers cannot fail; `Null` keeps this
        // total anyway.
        serde_json::to_value(status).unwrap_or_default()
    }

    #[allow(clippy::cast_precision_loss)] // Milliseconds of an age fit a double exactly.
    fn millis_to_seconds(millis: u64) -> f64 {
        millis as f64 / 1000.0
    }

    /// The `/admin/events` body: a `status` event at once and every period after; ends with
    /// the hub's `retry:` hint when it shuts down, or when the admin's credentials expire.
    struct StatusStream {
        hub: Hub,
        config: Arc<AdminConfig>,
        ticks: tokio::time::Interval,
        expires: Option<Pin<Box<tokio::time::Sleep>>>,
        done: bool,
    }

    impl StatusStream {
        fn new(hub: Hub, config: Arc<AdminConfig>, lifetime: Option<Duration>) -> Self {
            let mut ticks = tokio::time::interval(config.refresh);
            // A page that fell behind wants the current state, not the ones it missed.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let expires = lifetime.map(|lifetime| Box::pin(tokio::time::sleep(lifetime)));
            Self { hub, config, ticks, expires, done: false }
        }

        fn status_event(&self) -> Bytes {
            let data = snapshot(&self.hub, &self.config).to_string();
            let mut event = Event::new(data);
            // A constant without line breaks: always valid.
            if let Ok(kind) = EventType::new("status") {
                event = event.with_type(kind);
            }
            event.encode()
        }
    }

    impl Body for StatusStream {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(expires) = &mut this.expires {
                if expires.as_mut().poll(cx).is_ready() {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
            if this.ticks.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            // Checked on each tick: a shutdown ends the stream within one period.
            if let Some(retry) = this.hub.shutdown_retry() {
                this.done = true;
                let goodbye = Event::default().with_retry(retry).encode();
                return Poll::Ready(Some(Ok(Frame::data(goodbye))));
            }
            Poll::Ready(Some(Ok(Frame::data(this.status_event()))))
        }

        fn is_end_stream(&self) -> bool {
            self.done
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::default()
        }
    }
}
