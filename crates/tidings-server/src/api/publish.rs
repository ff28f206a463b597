//! What the native and Mercure publish endpoints share: the checks an event passes (topics,
//! rights, limits) and how it is put on the wire (topic fields, base64 data), once, at
//! publish time, so every subscriber gets the same frame.

use base64::Engine as _;
use tidings_broker::{Message, PublishError, UserId};
use tidings_codec::{Event, EventId, EventType, ExtensionField, FieldError};

use super::{ApiConfig, ApiError, AppState};
use crate::auth::Identity;

/// Name of the extension field that carries an event's topic, one line per topic, first topic
/// first (`topic:https://example.com/books/1`). Browsers ignore it; a `tidings_codec::Decoder`
/// with `keep_unknown_fields` returns it in `MessageEvent::unknown_fields`.
///
/// ```
/// assert_eq!(tidings_server::api::TOPIC_FIELD, "topic");
/// ```
pub const TOPIC_FIELD: &str = "topic";

/// Response header of event streams when the hub base64-encodes event data
/// ([`super::ApiConfig::base64_data`]); its value is then `base64`. Absent otherwise.
///
/// ```
/// assert_eq!(tidings_server::api::DATA_ENCODING_HEADER, "tidings-data-encoding");
/// ```
pub const DATA_ENCODING_HEADER: &str = "tidings-data-encoding";

/// Topics containing this are the hub's own (subscription events); nobody may publish there.
pub(crate) const RESERVED_TOPICS: &str = "/.well-known/mercure";

/// Adds one [`TOPIC_FIELD`] line per topic to `event`, as the API does for what it publishes;
/// for applications that publish in-process with `Hub::publish` and want the same frames.
///
/// # Errors
/// [`FieldError::LineBreak`] when a topic contains CR or LF.
///
/// ```
/// use tidings_codec::Event;
/// let event = tidings_server::api::with_topic_fields(Event::new("x"), ["a", "b"])?;
/// assert_eq!(&event.encode()[..], b"topic:a\ntopic:b\ndata: x\n\n");
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
pub fn with_topic_fields<T: AsRef<str>>(
    mut event: Event,
    topics: impl IntoIterator<Item = T>,
) -> Result<Event, FieldError> {
    for topic in topics {
        event = event.with_extension(ExtensionField::new(TOPIC_FIELD, topic)?);
    }
    Ok(event)
}

/// One event of a publish request, whichever endpoint it came from.
#[derive(Debug, Default)]
pub(crate) struct EventSpec {
    pub(crate) topics: Vec<String>,
    pub(crate) data: String,
    pub(crate) kind: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) retry: Option<u64>,
    pub(crate) private: bool,
    pub(crate) users: Option<Vec<String>>,
}

/// Checks `spec` against the configuration and `identity`'s rights and builds the message.
///
/// Order: topics present (400), not too many (400), valid (400), not reserved (403), inside the
/// configured set (403), granted (403); data size (413); type and id (400).
pub(crate) fn build_message(
    state: &AppState,
    identity: &Identity,
    spec: EventSpec,
) -> Result<Message, ApiError> {
    let config = &state.config;
    let EventSpec { topics, data, kind, id, retry, private, users } = spec;
    if topics.is_empty() && users.is_none() {
        return Err(ApiError::bad_request("missing_topic", "an event needs a topic or users"));
    }
    if topics.len() > config.max_topics {
        return Err(ApiError::bad_request(
            "too_many_topics",
            format!("at most {} topics per event", config.max_topics),
        ));
    }
    if let Some(topic) = topics.iter().find(|t| t.is_empty() || t.contains(['\r', '\n'])) {
        return Err(ApiError::bad_request(
            "invalid_topic",
            format!("topic {topic:?} is empty or contains a line break"),
        ));
    }
    if let Some(topic) = topics.iter().find(|t| t.contains(RESERVED_TOPICS)) {
        return Err(ApiError::new(
            http::StatusCode::FORBIDDEN,
            "reserved_topic",
            format!("topic {topic:?} is in the hub's reserved {RESERVED_TOPICS} namespace"),
        ));
    }
    if let Some(allowed) = &config.allowed_topics {
        if let Some(topic) = topics.iter().find(|t| !allowed.iter().any(|s| s.matches(t))) {
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "topic_not_allowed",
                format!("topic {topic:?} is not one this hub serves"),
            ));
        }
    }
    if let Some(topic) = topics.iter().find(|t| !identity.publish.allows(t)) {
        return Err(ApiError::forbidden(format!("not allowed to publish to {topic:?}")));
    }
    if topics.is_empty() && !identity.publish.allows("*") {
        return Err(ApiError::forbidden("publishing to users needs the right to publish to *"));
    }
    if data.len() > config.max_data {
        return Err(ApiError::too_large(
            "data_too_large",
            format!(
                "event data is {} bytes, more than the {} allowed",
                data.len(),
                config.max_data
            ),
        ));
    }
    let mut event = wire_event(config, data, &topics)?;
    if let Some(kind) = kind {
        event = event.with_type(
            EventType::new(kind)
                .map_err(|e| ApiError::bad_request("invalid_type", e.to_string()))?,
        );
    }
    if let Some(id) = id {
        event = event.with_id(
            EventId::new(id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?,
        );
    }
    if let Some(retry) = retry {
        event = event.with_retry(std::time::Duration::from_millis(retry));
    }
    let mut message = Message::new(event).topics(topics);
    if private {
        message = message.private();
    }
    if let Some(users) = users {
        message = message.to_users(users.into_iter().map(UserId::from));
    }
    Ok(message)
}

/// The event carrying `data` the way the configuration puts it on the wire: base64 data and
/// topic fields as configured. Topics must already be free of line breaks.
pub(crate) fn wire_event(
    config: &ApiConfig,
    data: String,
    topics: &[String],
) -> Result<Event, ApiError> {
    let data = if config.base64_data {
        base64::engine::general_purpose::STANDARD.encode(data)
    } else {
        data
    };
    let event = Event::new(data);
    if !config.topic_field {
        return Ok(event);
    }
    with_topic_fields(event, topics)
        .map_err(|error| ApiError::bad_request("invalid_topic", error.to_string()))
}

/// The status for a publish the broker refused.
pub(crate) fn publish_error(error: PublishError) -> ApiError {
    match error {
        PublishError::DuplicateId { .. } => {
            ApiError::new(http::StatusCode::CONFLICT, "duplicate_id", error.to_string())
        }
        PublishError::ReservedId { .. } => ApiError::bad_request("reserved_id", error.to_string()),
        PublishError::EmptyId => ApiError::bad_request("invalid_id", error.to_string()),
        other => ApiError::unavailable("history_unavailable", other.to_string()),
    }
}
