//! Native endpoints: `GET /events`, `GET /events/{topic…}`, `POST /publish`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Deserialize;

use super::publish::{EventSpec, build_message, publish_error};
use super::request::{
    Flavor, has_media_type, identify, open_stream, parse_selectors, query_pairs, read_body,
    start_from, subscribe_to_query_topics, unsupported_media_type,
};
use super::{ApiError, AppState, yield_to_subscribers};

/// `GET /events?topic=a&topic=b`: subscribe to every given selector.
pub(crate) async fn subscribe_query(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    subscribe_to_query_topics(&state, &parts, Flavor::Native)
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
    open_stream(&state, &parts, &identity, selectors, start, Flavor::Native)
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
    body: Body,
) -> Result<Response, ApiError> {
    let identity = identify(&state, &parts, false)?;
    if !has_media_type(&parts, "application/json") {
        return Err(unsupported_media_type("application/json"));
    }
    let body = read_body(&parts, body, state.config.max_body).await?;
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
        let spec = to_spec(event, users);
        messages.push(build_message(&state, &identity, spec).map_err(|error| {
            ApiError::new(
                error.status(),
                error.code(),
                format!("event {index}: {}", error.message()),
            )
        })?);
    }
    // One batch, all or nothing: a duplicate id refuses the whole request.
    let published = state.hub.publish_batch(messages).map_err(publish_error)?;
    yield_to_subscribers().await;
    let ids: Vec<&str> = published.iter().map(|event| event.id().as_str()).collect();
    Ok(Json(serde_json::json!({ "ids": ids })).into_response())
}

fn to_spec(request: EventRequest, users: Option<Vec<String>>) -> EventSpec {
    let mut topics = request.topics;
    topics.extend(request.topic);
    let data = match request.data {
        None => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(other) => other.to_string(),
    };
    EventSpec {
        topics,
        data,
        kind: request.kind,
        id: request.id,
        retry: request.retry,
        private: request.private,
        users,
    }
}
