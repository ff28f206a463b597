//! Mercure's active subscriptions ([`super::ApiConfig::subscriptions`]): who listens to what,
//! the presence events published when subscribers come and go, and the subscriptions API.
//!
//! Each selector of each stream is one "subscription" with the IRI
//! `/.well-known/mercure/subscriptions/{topic}/{subscriber}` (both parts encoded like Go's
//! `url.QueryEscape`, as the reference hub does). When a stream opens, one private event per
//! selector is published on that IRI with `"active": true`; when it closes, one with
//! `"active": false`. The registry and those events change under one lock, which the API also
//! takes to read the registry and the hub's last event id, so a listing and its `lastEventID`
//! agree: every presence event is either reflected in the listing or comes after that id.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use serde::Serialize;
use tidings_broker::{Message, SubscriberId};

use super::publish::wire_event;
use super::request::identify;
use super::{ApiConfig, ApiError, AppState};
use crate::body::SseBody;
use crate::hub::{Hub, Subscription, lock};

/// JSON-LD context of every document.
const CONTEXT: &str = "https://mercure.rocks/";

/// Path of the subscriptions API and prefix of every subscription IRI.
const PREFIX: &str = "/.well-known/mercure/subscriptions";

/// The streams open through one router, for the subscriptions API.
pub(crate) struct Presence {
    /// Distinguishes this run's subscriber IRIs from an earlier run's (subscriber ids restart).
    instance: String,
    entries: Mutex<BTreeMap<SubscriberId, Entry>>,
}

struct Entry {
    subscriber: Arc<str>,
    topics: Box<[String]>,
    payload: Option<serde_json::Value>,
}

impl Presence {
    pub(crate) fn new(hub: &Hub) -> Self {
        Self { instance: format!("{:x}", hub.now().as_millis()), entries: Mutex::default() }
    }

    /// Registers a stream and publishes its arrival, one event per selector.
    fn join(
        &self,
        state: &AppState,
        id: SubscriberId,
        topics: &[String],
        payload: Option<serde_json::Value>,
    ) {
        let payload = payload.filter(|p| !p.is_null());
        let entry = Entry {
            subscriber: format!("urn:tidings:{}:{id}", self.instance).into(),
            topics: topics.into(),
            payload,
        };
        let mut entries = lock(&self.entries);
        announce(&state.hub, &state.config, &entry, true);
        entries.insert(id, entry);
    }

    /// Unregisters a stream and publishes its departure.
    fn leave(&self, hub: &Hub, config: &ApiConfig, id: SubscriberId) {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.remove(&id) {
            announce(hub, config, &entry, false);
        }
    }
}

/// Publishes one presence event per topic of `entry`.
fn announce(hub: &Hub, config: &ApiConfig, entry: &Entry, active: bool) {
    for topic in &entry.topics {
        let doc = SubscriptionDoc::new(entry, topic, active, true);
        let iri = doc.id.clone();
        let data = match serde_json::to_string_pretty(&doc) {
            Ok(data) => data,
            Err(error) => {
                tracing::warn!(%error, "subscription event not serialisable");
                continue;
            }
        };
        let published = wire_event(config, data, std::slice::from_ref(&iri))
            .map_err(|error| error.to_string())
            .and_then(|event| {
                hub.publish(Message::new(event).topic(iri).private())
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = published {
            tracing::warn!(%error, "subscription event not published");
        }
    }
}

/// Removes the stream from the registry (and announces it) when the response body is dropped.
struct PresenceGuard {
    hub: Hub,
    config: Arc<ApiConfig>,
    presence: Arc<Presence>,
    id: SubscriberId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.leave(&self.hub, &self.config, self.id);
    }
}

/// The body of every API stream: the hub's [`SseBody`], plus the presence registration when
/// the subscriptions feature is on.
pub(crate) struct StreamBody {
    // Declared first so it drops first: the subscription is gone before its departure is
    // announced.
    inner: SseBody,
    _presence: Option<PresenceGuard>,
}

impl StreamBody {
    pub(crate) fn open(
        state: &AppState,
        subscription: Subscription,
        topics: &[String],
        payload: Option<&serde_json::Value>,
    ) -> Self {
        let presence = state.config.subscriptions.then(|| {
            let id = subscription.id();
            state.presence.join(state, id, topics, payload.cloned());
            PresenceGuard {
                hub: state.hub.clone(),
                config: Arc::clone(&state.config),
                presence: Arc::clone(&state.presence),
                id,
            }
        });
        Self { inner: subscription.into_body(), _presence: presence }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One subscription, as listed and as carried by presence events.
#[derive(Serialize)]
struct SubscriptionDoc<'a> {
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    context: Option<&'static str>,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    subscriber: &'a str,
    topic: &'a str,
    active: bool,
    #[serde(rename = "lastEventID", skip_serializing_if = "Option::is_none")]
    last_event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a serde_json::Value>,
}

impl<'a> SubscriptionDoc<'a> {
    fn new(entry: &'a Entry, topic: &'a str, active: bool, context: bool) -> Self {
        Self {
            context: context.then_some(CONTEXT),
            id: format!("{PREFIX}/{}/{}", query_escape(topic), query_escape(&entry.subscriber)),
            kind: "Subscription",
            subscriber: &entry.subscriber,
            topic,
            active,
            last_event_id: None,
            payload: entry.payload.as_ref(),
        }
    }
}

/// A list of subscriptions.
#[derive(Serialize)]
struct CollectionDoc<'a> {
    #[serde(rename = "@context")]
    context: &'static str,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEventID")]
    last_event_id: &'a str,
    subscriptions: Vec<SubscriptionDoc<'a>>,
}

/// `GET /.well-known/mercure/subscriptions[/{topic}]`: the active subscriptions, all of them or
/// those whose selector is exactly `{topic}`.
pub(crate) async fn list(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let uri = authorize(&state, &parts)?;
    let segments = segments(&parts)?;
    let filter = segments.first().map(String::as_str);
    let entries = lock(&state.presence.entries);
    let last = state.hub.last_event_id();
    let last = last.as_ref().map_or("earliest", |id| id.as_str());
    if let Some(not_modified) = not_modified(&parts, last) {
        return Ok(not_modified);
    }
    let subscriptions = entries
        .values()
        .flat_map(|entry| {
            entry
                .topics
                .iter()
                .filter(|topic| filter.is_none_or(|f| f == topic.as_str()))
                .map(move |topic| SubscriptionDoc::new(entry, topic, true, false))
        })
        .collect();
    let doc = CollectionDoc {
        context: CONTEXT,
        id: &uri,
        kind: "Subscriptions",
        last_event_id: last,
        subscriptions,
    };
    json_ld(&doc, last)
}

/// `GET /.well-known/mercure/subscriptions/{topic}/{subscriber}`: one subscription, or 404.
pub(crate) async fn one(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    authorize(&state, &parts)?;
    let segments = segments(&parts)?;
    let [topic, subscriber] = &segments[..] else {
        return Err(ApiError::not_found("unknown_subscription", "no such subscription"));
    };
    let entries = lock(&state.presence.entries);
    let last = state.hub.last_event_id();
    let last = last.as_ref().map_or("earliest", |id| id.as_str());
    if let Some(not_modified) = not_modified(&parts, last) {
        return Ok(not_modified);
    }
    let found = entries.values().find_map(|entry| {
        let topic = entry.topics.iter().find(|t| *t == topic)?;
        (&*entry.subscriber == subscriber).then(|| SubscriptionDoc::new(entry, topic, true, true))
    });
    let Some(mut doc) = found else {
        return Err(ApiError::not_found(
            "unknown_subscription",
            format!("no active subscription of {subscriber:?} to {topic:?}"),
        ));
    };
    doc.last_event_id = Some(last);
    json_ld(&doc, last)
}

/// The feature is on, the caller has a valid token (anonymous is not enough), and its
/// subscribe grant covers the request URI as received (path and query). Returns that URI.
fn authorize(state: &AppState, parts: &Parts) -> Result<String, ApiError> {
    if !state.config.subscriptions {
        return Err(ApiError::not_found(
            "subscriptions_disabled",
            "the subscriptions API is not enabled on this hub",
        ));
    }
    let identity = identify(state, parts, false)?;
    let uri = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    if !identity.subscribe.allows(uri) {
        return Err(ApiError::forbidden(format!("not allowed to read {uri:?}")));
    }
    Ok(uri.to_owned())
}

/// The decoded `{topic}` and `{subscriber}` segments after the API path.
fn segments(parts: &Parts) -> Result<Vec<String>, ApiError> {
    let path = parts.uri.path();
    let rest = path.find(PREFIX).map_or("", |at| &path[at + PREFIX.len()..]);
    rest.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            query_unescape(segment).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_path",
                    format!("bad percent-encoding in {segment:?}"),
                )
            })
        })
        .collect()
}

/// 304 when `If-None-Match` names the current `lastEventID` (quoted or not, as clients of the
/// reference hub echo its unquoted value).
fn not_modified(parts: &Parts, last: &str) -> Option<Response> {
    let header = parts.headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let matches = header.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag.trim_matches('"') == last
    });
    matches.then(|| {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Some(etag) = etag(last) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    })
}

/// A strong entity tag holding `last` (none if the id cannot be one).
fn etag(last: &str) -> Option<HeaderValue> {
    if last.contains('"') {
        return None;
    }
    HeaderValue::from_bytes(format!("\"{last}\"").as_bytes()).ok()
}

fn json_ld(doc: &impl Serialize, last: &str) -> Result<Response, ApiError> {
    let body = serde_json::to_string_pretty(doc)
        .map_err(|error| ApiError::unavailable("serialisation_failed", error.to_string()))?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
    if let Some(etag) = etag(last) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Go's `url.QueryEscape`, which the reference hub uses for subscription IRIs: `A-Z a-z 0-9
/// - _ . ~` stay, space becomes `+`, every other byte `%XX` (upper-case hex).
pub(crate) fn query_escape(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte. `None` for a bad escape or a result
/// that is not UTF-8.
pub(crate) fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(at + 1..at + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                at += 2;
            }
            other => out.push(other),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{query_escape, query_unescape};

    #[test]
    fn escape_matches_go_query_escape() {
        assert_eq!(
            query_escape("https://example.com/{selector}"),
            "https%3A%2F%2Fexample.com%2F%7Bselector%7D"
        );
        assert_eq!(query_escape("*"), "%2A");
        assert_eq!(query_escape("a b~é"), "a+b~%C3%A9");
    }

    #[test]
    fn unescape_inverts_escape_and_refuses_bad_escapes() {
        for text in ["https://example.com/{id}", "a b+c", "é/%"] {
            assert_eq!(query_unescape(&query_escape(text)).as_deref(), Some(text));
        }
        assert_eq!(query_unescape("a+b%2Bc").as_deref(), Some("a b+c"));
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("%4"), None);
        assert_eq!(query_unescape("%FF"), None, "not UTF-8");
    }
}
