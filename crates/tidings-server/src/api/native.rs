//! Native endpoints: `GET /events`, `GET /events/{topic…}`, `POST /publish`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use serde::Deserialize;
use tidings_broker::{Message, PublishError, UserId};
use tidings_codec::{Event, EventId, EventType};

use super::request::{identify, open_stream, parse_selectors, query_pairs, start_from};
use super::{ApiError, AppState};

/// `GET /events?topic=a&topic=b`: subscribe to every given selector.
pub(crate) async fn subscribe_query(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let identity = identify(&state, &parts, state.config.allow_anonymous)?;
    let pairs = query_pairs(&parts);
    let topics = pairs.iter().filter(|(k, _)| k == "topic").map(|(_, v)| v.as_str());
    let selectors = parse_selectors(&state, topics)?;
    let start = start_from(&parts, &pairs)?;
    open_stream(&state, &identity, selectors, start)
}

/// `GET /events/pets`: the topic `pets` and its whole subtree (`pets/**`), like sseserver's
/// hierarchical namespaces (but never `petsmart`).
pub(crate) async fn subscribe_path(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let identity = identify(&state, &parts, state.config.allow_anonymous)?;
    let topic = topic.trim_end_matches('/');
    let subtree = format!("{topic}/**");
    let selectors = parse_selectors(&state, [topic, subtree.as_str()])?;
    let pairs = query_pairs(&parts);
    let start = start_from(&parts, &pairs)?;
    open_stream(&state, &identity, selectors, start)
}

/// One event of a publish request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    retry: Option<u64>,
    #[serde(default)]
    private: bool,
    /// Deliver only to these users (sponge's `uids`).
    #[serde(default)]
    users: Option<Vec<String>>,
}

/// A batch: `{"events": [...]}`, optionally with users for every event (`{"uids": [...],
/// "events": [...]}`, sponge's `Push(uids, events)` shape).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    events: Vec<EventRequest>,
    #[serde(default, alias = "uids")]
    users: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PublishRequest {
    Batch(BatchRequest),
    One(EventRequest),
}

/// `POST /publish` with a JSON body: one event or a batch. Answers `{"ids": [...]}`.
pub(crate) async fn publish(
    State(state): State<AppState>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let identity = identify(&state, &parts, false)?;
    let is_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "POST /publish takes application/json",
        ));
    }
    if body.len() > state.config.max_body {
        return Err(ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds {} bytes", state.config.max_body),
        ));
    }
    let request: PublishRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request("malformed_json", error.to_string()))?;
    let (events, batch_users) = match request {
        PublishRequest::Batch(batch) => (batch.events, batch.users),
        PublishRequest::One(event) => (vec![event], None),
    };
    // Validate everything first, so a bad event in a batch publishes nothing.
    let mut messages = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let users = event.users.clone().or_else(|| batch_users.clone());
        messages.push(to_message(&state, &identity, event, users).map_err(|error| {
            ApiError::new(error.status(), error.code(), format!("event {index}: {error}"))
        })?);
    }
    let mut ids = Vec::with_capacity(messages.len());
    for message in messages {
        let published = state.hub.publish(message).map_err(publish_error)?;
        ids.push(published.id().as_str().to_owned());
    }
    Ok(Json(serde_json::json!({ "ids": ids })).into_response())
}

fn to_message(
    state: &AppState,
    identity: &crate::auth::Identity,
    request: EventRequest,
    users: Option<Vec<String>>,
) -> Result<Message, ApiError> {
    let mut topics = request.topics;
    topics.extend(request.topic);
    if topics.is_empty() && users.is_none() {
        return Err(ApiError::bad_request("missing_topic", "an event needs a topic or users"));
    }
    if topics.len() > state.config.max_topics {
        return Err(ApiError::bad_request(
            "too_many_topics",
            format!("at most {} topics per event", state.config.max_topics),
        ));
    }
    if let Some(topic) = topics.iter().find(|t| !identity.publish.allows(t)) {
        return Err(ApiError::forbidden(format!("not allowed to publish to {topic:?}")));
    }
    if topics.is_empty() && !identity.publish.allows("*") {
        return Err(ApiError::forbidden("publishing to users needs the right to publish to *"));
    }
    let data = match request.data {
        None => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(other) => other.to_string(),
    };
    let mut event = Event::new(data);
    if let Some(kind) = request.kind {
        event = event.with_type(
            EventType::new(kind)
                .map_err(|e| ApiError::bad_request("invalid_type", e.to_string()))?,
        );
    }
    if let Some(id) = request.id {
        event = event.with_id(
            EventId::new(id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?,
        );
    }
    if let Some(retry) = request.retry {
        event = event.with_retry(std::time::Duration::from_millis(retry));
    }
    let mut message = Message::new(event).topics(topics);
    if request.private {
        message = message.private();
    }
    if let Some(users) = users {
        message = message.to_users(users.into_iter().map(UserId::from));
    }
    Ok(message)
}

pub(crate) fn publish_error(error: PublishError) -> ApiError {
    match error {
        PublishError::DuplicateId { .. }
        | PublishError::ReservedId { .. }
        | PublishError::EmptyId => {
            ApiError::new(http::StatusCode::CONFLICT, "duplicate_id", error.to_string())
        }
        other => ApiError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "history_unavailable",
            other.to_string(),
        ),
    }
}
