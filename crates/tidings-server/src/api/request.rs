//! Request parsing shared by the native and Mercure endpoints, and the SSE response head.

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use tidings_broker::{Selector, Start, SubscriptionConfig};
use tidings_codec::EventId;

use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::hub::SubscribeError;

/// The `key=value` pairs of a query string, form-decoded, in order (keys may repeat).
pub(crate) fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts
        .uri
        .query()
        .map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Authenticates the request; anonymous callers pass only when `anonymous_ok`.
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

/// Parses selectors, refusing none, too many, or invalid ones.
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
        selectors.push(selector);
    }
    if selectors.is_empty() {
        return Err(ApiError::bad_request("missing_topic", "at least one topic is required"));
    }
    Ok(selectors)
}

/// Where the subscription starts: the `Last-Event-ID` header wins over the `lastEventID`
/// query parameter (the header is what a browser sends on reconnect); empty means absent.
pub(crate) fn start_from(parts: &Parts, pairs: &[(String, String)]) -> Result<Start, ApiError> {
    let header = parts.headers.get("last-event-id").map(|value| {
        value.to_str().map(str::to_owned).map_err(|_| {
            ApiError::bad_request("invalid_last_event_id", "Last-Event-ID is not visible ASCII")
        })
    });
    let header = header.transpose()?.filter(|id| !id.is_empty());
    let query = pairs.iter().find(|(k, _)| k == "lastEventID").map(|(_, v)| v.clone());
    let Some(id) = header.or(query.filter(|id| !id.is_empty())) else {
        return Ok(Start::Live);
    };
    if id == "earliest" {
        return Ok(Start::Since(tidings_broker::Timestamp::ZERO));
    }
    let id = EventId::new(&id).map_err(|error| {
        ApiError::bad_request("invalid_last_event_id", format!("invalid Last-Event-ID: {error}"))
    })?;
    Ok(Start::Resume(id))
}

/// Opens the subscription and builds the streaming response with the SSE headers.
pub(crate) fn open_stream(
    state: &AppState,
    identity: &Identity,
    selectors: Vec<Selector>,
    start: Start,
) -> Result<Response, ApiError> {
    let mut config = SubscriptionConfig::new()
        .selectors(selectors)
        .start(start)
        .authorizer(std::sync::Arc::new(identity.subscribe.clone()));
    if let Some(user) = &identity.user {
        config = config.principal(user.clone());
    }
    let subscription = state.hub.subscribe(config).map_err(|error| match error {
        SubscribeError::TooManyConnections { limit } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!("the hub serves its maximum of {limit} connections; retry later"),
        ),
        other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", other.to_string()),
    })?;
    let mut response = Response::new(Body::new(subscription.into_body()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
