//! Mercure compatibility (protocol draft 07, as the reference hub 0.x speaks it):
//! `GET /.well-known/mercure` subscribes, `POST /.well-known/mercure` publishes.
//!
//! Existing Mercure publishers and subscribers work unchanged; the streams are plain SSE. Where
//! this hub answers differently from the reference hub, on purpose:
//!
//! - A valid token without the right to publish to a topic gets **403** (the draft's status;
//!   the reference hub answers 401). A missing or invalid token gets 401, as there.
//! - A body that is not `application/x-www-form-urlencoded` gets **415** (the reference hub
//!   parses nothing and answers 400 "missing topic"); a body over the limit gets **413**.
//! - A custom `id` already used by a retained event gets **409** (the reference hub stores
//!   duplicates, which makes `Last-Event-ID` ambiguous); an id in the hub's own id format gets
//!   400.
//! - An invalid topic selector on subscribe gets 400 (the reference hub silently treats it as
//!   an exact topic).
//! - Event ids the hub assigns are its own compact ids, not `urn:uuid:…`; clients treat ids as
//!   opaque.
//! - A resume from an unknown id answers `Last-Event-ID: earliest` (the fix the reference hub
//!   made after 0.24.2), replays what history holds and sends a `tidings-gap` event first, which
//!   `EventSource` ignores unless a listener asks for that type.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, header};

use super::publish::{EventSpec, build_message, publish_error};
use super::request::{
    Flavor, has_media_type, identify, read_body, subscribe_to_query_topics, unsupported_media_type,
};
use super::{ApiError, AppState};

/// `GET /.well-known/mercure?topic=…&topic=…`: subscribe to every selector given.
///
/// Checks in the reference hub's order: credentials (401), then topics (400).
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    subscribe_to_query_topics(&state, &parts, Flavor::Mercure)
}

/// `POST /.well-known/mercure` with form fields `topic` (repeatable), `data`, `id`, `type`,
/// `retry`, `private`. Answers `200 text/plain` with the event id.
pub(crate) async fn publish(
    State(state): State<AppState>,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let identity = identify(&state, &parts, false)?;
    if !has_media_type(&parts, "application/x-www-form-urlencoded") {
        return Err(unsupported_media_type("application/x-www-form-urlencoded"));
    }
    let body = read_body(&parts, body, state.config.max_body).await?;
    let mut spec = EventSpec::default();
    // Only the body counts, as in the reference hub (query parameters are ignored). `;` is not a
    // separator.
    for (name, value) in form_urlencoded::parse(&body) {
        match &*name {
            "topic" => spec.topics.push(value.into_owned()),
            "data" => spec.data = value.into_owned(),
            // Empty id or type: as if absent (the hub assigns an id; the type is `message`).
            "id" => spec.id = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "type" => spec.kind = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "retry" if !value.is_empty() => {
                let retry: u64 = value.parse().map_err(|_| {
                    ApiError::bad_request("invalid_retry", "retry must be a non-negative integer")
                })?;
                // 0 means "no retry field", as in the reference hub.
                spec.retry = Some(retry).filter(|&r| r != 0);
            }
            // Presence alone makes the update private, whatever the value ("", "off" included).
            "private" => spec.private = true,
            _ => {}
        }
    }
    if spec.topics.is_empty() {
        return Err(ApiError::bad_request("missing_topic", "missing \"topic\" parameter"));
    }
    let message = build_message(&state, &identity, spec)?;
    let published = state.hub.publish(message).map_err(publish_error)?;
    super::yield_to_subscribers().await;
    let mut response = published.id().as_str().to_owned().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}
