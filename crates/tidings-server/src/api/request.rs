//! Request parsing shared by the native and Mercure endpoints, and the SSE response head.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tidings_broker::{Selector, SelectorKind, Start, SubscriptionConfig, Timestamp};
use tidings_codec::EventId;

use super::publish::DATA_ENCODING_HEADER;
use super::subscriptions::StreamBody;
use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::hub::SubscribeError;
use crate::stream::insert_event_stream_headers;

/// The `key=value` pairs of a query string, form-decoded, in order (keys may repeat).
pub(crate) fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts
        .uri
        .query()
        .map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Authenticates the request; anonymous callers pass only when `anonymous_ok`. Credentials
/// that are present but bad are refused even then: they are never downgraded to anonymous.
pub(crate) fn identify(
    state: &AppState,
    parts: &Parts,
    anonymous_ok: bool,
) -> Result<Identity, ApiError> {
    match state.config.authenticator.authenticate(parts) {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) if anonymous_ok => Ok(Identity::anonymous()),
        Ok(None) => Err(ApiError::unauthorized("credentials required")),
        Err(error) => Err(ApiError::unauthorized(error.to_string())),
    }
}

/// Parses subscription selectors, refusing none, too many, invalid ones, and (with
/// [`super::ApiConfig::allowed_topics`]) ones outside the configured set.
pub(crate) fn parse_selectors<'a>(
    state: &AppState,
    texts: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Selector>, ApiError> {
    let mut selectors = Vec::new();
    for text in texts {
        if selectors.len() == state.config.max_topics {
            return Err(ApiError::bad_request(
                "too_many_topics",
                format!("at most {} topics per subscription", state.config.max_topics),
            ));
        }
        let selector = Selector::parse(text).map_err(|error| {
            ApiError::bad_request("invalid_selector", format!("invalid selector {text:?}: {error}"))
        })?;
        if !is_allowed(state, &selector) {
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "topic_not_allowed",
                format!("selector {text:?} is outside the topics this hub serves"),
            ));
        }
        selectors.push(selector);
    }
    if selectors.is_empty() {
        return Err(ApiError::bad_request("missing_topic", "at least one topic is required"));
    }
    Ok(selectors)
}

/// Whether a subscription selector stays inside [`super::ApiConfig::allowed_topics`]: it is
/// one of them, or an exact topic one of them matches. (Whether one pattern covers another is
/// not decided; such a selector must be listed itself.)
fn is_allowed(state: &AppState, selector: &Selector) -> bool {
    let Some(allowed) = &state.config.allowed_topics else { return true };
    allowed.iter().any(|a| {
        a == selector || (selector.kind() == SelectorKind::Exact && a.matches(selector.as_str()))
    })
}

/// Where a subscription starts, and the last event id the client sent (for the
/// `Last-Event-ID` response header).
#[derive(Debug)]
pub(crate) struct StartRequest {
    pub(crate) start: Start,
    /// The id the client resumes from, as sent (`earliest` included); `None` for a first
    /// connection.
    pub(crate) last_event_id: Option<String>,
}

/// Where the subscription starts: the `Last-Event-ID` header wins over the `lastEventID`
/// query parameter (the header is what a browser sends on reconnect, with the URL of the first
/// connection); both win over `replay`, so a reconnecting client resumes rather than replaying
/// again. Empty values count as absent.
pub(crate) fn start_from(
    parts: &Parts,
    pairs: &[(String, String)],
) -> Result<StartRequest, ApiError> {
    // Browsers send the id as UTF-8 bytes, so non-ASCII ids must be read back, not refused.
    let header = parts.headers.get("last-event-id").map(|value| {
        std::str::from_utf8(value.as_bytes()).map(str::to_owned).map_err(|_| {
            ApiError::bad_request("invalid_last_event_id", "Last-Event-ID is not UTF-8")
        })
    });
    let header = header.transpose()?.filter(|id| !id.is_empty());
    let query = pairs.iter().find(|(k, _)| k == "lastEventID").map(|(_, v)| v.clone());
    let Some(id) = header.or(query.filter(|id| !id.is_empty())) else {
        let replay = pairs.iter().find(|(k, _)| k == "replay").map(|(_, v)| v.as_str());
        let start = match replay {
            None | Some("") => Start::Live,
            Some(replay) => parse_replay(replay)?,
        };
        return Ok(StartRequest { start, last_event_id: None });
    };
    if id == "earliest" {
        return Ok(StartRequest { start: Start::Since(Timestamp::ZERO), last_event_id: Some(id) });
    }
    let event_id = EventId::new(&id).map_err(|error| {
        ApiError::bad_request("invalid_last_event_id", format!("invalid Last-Event-ID: {error}"))
    })?;
    Ok(StartRequest { start: Start::Resume(event_id), last_event_id: Some(id) })
}

/// `replay=all`, `replay=last:N` or `replay=since:<unix milliseconds>`.
fn parse_replay(replay: &str) -> Result<Start, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_replay",
            format!("replay={replay:?}: expected all, last:<count> or since:<unix milliseconds>"),
        )
    };
    if replay == "all" {
        return Ok(Start::Since(Timestamp::ZERO));
    }
    if let Some(count) = replay.strip_prefix("last:") {
        return count.parse().map(Start::LastN).map_err(|_| invalid());
    }
    if let Some(millis) = replay.strip_prefix("since:") {
        return millis
            .parse()
            .map(|ms| Start::Since(Timestamp::from_millis(ms)))
            .map_err(|_| invalid());
    }
    Err(invalid())
}

/// Whether the request's `Content-Type` is `media_type` (parameters such as `charset` aside).
pub(crate) fn has_media_type(parts: &Parts, media_type: &str) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(media_type))
}

/// The 415 answer for a body of the wrong type.
pub(crate) fn unsupported_media_type(expected: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("the body must be {expected}"),
    )
}

/// Reads a request body of at most `max` bytes. A larger body is refused with 413 as soon as
/// that is known: at once from `Content-Length`, otherwise when the limit is crossed while
/// reading, so an oversized body is never buffered in full.
pub(crate) async fn read_body(parts: &Parts, body: Body, max: usize) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::too_large("body_too_large", format!("the body exceeds {max} bytes"));
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > u64::try_from(max).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => Err(ApiError::bad_request("body_unreadable", error.to_string())),
    }
}

/// Which family of endpoints a stream belongs to: it decides the cache headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Native,
    Mercure,
}

/// Opens the subscription and builds the streaming response with the SSE headers.
/// Subscribes to every `topic` query parameter: the body of both `GET /events?topic=…` and
/// Mercure's `GET /.well-known/mercure?topic=…`. Credentials are checked first (401), then
/// topics (400), in the Mercure reference hub's order.
pub(crate) fn subscribe_to_query_topics(
    state: &AppState,
    parts: &Parts,
    flavor: Flavor,
) -> Result<Response, ApiError> {
    let identity = identify(state, parts, state.config.allow_anonymous)?;
    let pairs = query_pairs(parts);
    let topics = pairs.iter().filter(|(k, _)| k == "topic").map(|(_, v)| v.as_str());
    let selectors = parse_selectors(state, topics)?;
    let start = start_from(parts, &pairs)?;
    open_stream(state, parts, &identity, selectors, start, flavor)
}

pub(crate) fn open_stream(
    state: &AppState,
    parts: &Parts,
    identity: &Identity,
    selectors: Vec<Selector>,
    start: StartRequest,
    flavor: Flavor,
) -> Result<Response, ApiError> {
    // Kept only for the subscriptions feature, which lists and announces them.
    let topics: Vec<String> = if state.config.subscriptions {
        selectors.iter().map(|s| s.as_str().to_owned()).collect()
    } else {
        Vec::new()
    };
    let mut config = SubscriptionConfig::new()
        .selectors(selectors)
        .start(start.start)
        .authorizer(std::sync::Arc::new(identity.subscribe.clone()));
    if let Some(user) = &identity.user {
        config = config.principal(user.clone());
    }
    let subscription = state.hub.subscribe(config).map_err(|error| match error {
        SubscribeError::TooManyConnections { limit } => ApiError::unavailable(
            "too_many_connections",
            format!("the hub serves its maximum of {limit} connections; retry later"),
        ),
        SubscribeError::ShuttingDown => {
            ApiError::unavailable("shutting_down", "the hub is shutting down; retry later")
        }
        other => ApiError::unavailable("unavailable", other.to_string()),
    })?;
    if let Some(axum::extract::ConnectInfo(peer)) =
        parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        subscription
            .set_client_addr(state.config.trusted_proxies.client_ip(peer.ip(), &parts.headers));
    }
    // The id of the event before the first one sent: the client's own id when the hub knows
    // it, else `earliest` (Mercure's rule, with the fix for unknown ids).
    let answered_id = start
        .last_event_id
        .map(|id| if subscription.start_gap().is_some() { "earliest".to_owned() } else { id });
    let body = StreamBody::open(state, subscription, &topics, identity.payload.as_ref());
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    insert_event_stream_headers(headers);
    if flavor == Flavor::Mercure {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
        );
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    }
    if let Some(value) = answered_id.and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok()) {
        if flavor == Flavor::Mercure {
            headers.insert("mercure-last-event-id", value.clone());
        }
        headers.insert("last-event-id", value);
    }
    if state.config.base64_data {
        headers.insert(DATA_ENCODING_HEADER, HeaderValue::from_static("base64"));
    }
    for (name, value) in state.config.stream_headers.iter() {
        headers.insert(name.clone(), value.clone());
    }
    Ok(response)
}
