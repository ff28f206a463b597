//! The test service of LaunchDarkly's SSE contract-test harness (`sse-contract-tests`), driving
//! `tidings-client`: what `tidings contract-service --port P` runs, so the official harness can
//! be pointed at our client.
//!
//! The harness speaks a small REST protocol to the service:
//!
//! - `GET /`: the service is up; the answer lists its [`CAPABILITIES`].
//! - `POST /` with `{streamUrl, callbackUrl, tag, initialDelayMs, readTimeoutMs, lastEventId,
//!   headers, method, body}`: start a client; the answer's `Location` names the stream.
//! - `POST /streams/{id}` with `{"command": "restart"}`: drop the connection and reconnect.
//! - `DELETE /streams/{id}`: stop that client. `DELETE /`: stop the service.
//!
//! Each client reports what it sees by POSTing JSON to `{callbackUrl}/1`, `/2`, … strictly in
//! order, one at a time: `{"kind": "event", "event": {"type", "data", "id"}}`, `{"kind":
//! "comment", "comment"}` and `{"kind": "error", "comment"}` (a lost connection, a failed
//! event, or the fatal error that ended the client).
//!
//! What it is not: a test harness (the harness serves the streams and checks the callbacks)
//! or anything to expose beyond loopback.
//!
//! ```no_run
//! use tidings::contract::ContractService;
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let service = ContractService::bind("127.0.0.1:8000".parse().expect("address")).await?;
//! println!("point the harness at http://{}", service.local_addr());
//! service.run().await // until the harness sends `DELETE /`
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{Value, json};
use tidings_client::{ClientItem, Controller, Disconnect, EventSource};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::publish::{HttpClient, http_client};

/// The optional features of the harness's suite this service supports, as `GET /` lists
/// them. Not `event-type-listeners`: the client hands over every event without being asked
/// for its type.
///
/// ```
/// assert!(tidings::contract::CAPABILITIES.contains(&"restart"));
/// ```
pub const CAPABILITIES: &[&str] =
    &["comments", "headers", "last-event-id", "post", "read-timeout", "report", "restart"];

/// The running service: bound to an address, serving until `DELETE /` or its shutdown token.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let service = tidings::contract::ContractService::bind(([127, 0, 0, 1], 0).into()).await?;
/// let stop = service.shutdown_token();
/// let task = tokio::spawn(service.run());
/// stop.cancel();
/// # let _ = task.await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ContractService {
    listener: TcpListener,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl ContractService {
    /// Binds the service to `addr` (port 0 picks a free one).
    ///
    /// # Errors
    /// The address cannot be bound.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let service = tidings::contract::ContractService::bind(([127, 0, 0, 1], 8000).into()).await?;
    /// # drop(service);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr, shutdown: CancellationToken::new() })
    }

    /// The address the service listens on.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let service = tidings::contract::ContractService::bind(([127, 0, 0, 1], 0).into()).await?;
    /// assert_ne!(service.local_addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A token that stops the service when cancelled, as `DELETE /` does.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let service = tidings::contract::ContractService::bind(([127, 0, 0, 1], 0).into()).await?;
    /// service.shutdown_token().cancel(); // `run` returns at once
    /// service.run().await
    /// # }
    /// ```
    #[must_use]
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves the harness until `DELETE /` (or the shutdown token), then stops every client.
    ///
    /// # Errors
    /// The HTTP server failed, or the system's root certificates (for `https` stream URLs)
    /// could not be loaded.
    ///
    /// # Cancel safety
    /// Dropping the future stops serving; clients already started keep running until the
    /// runtime ends.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// tidings::contract::ContractService::bind(([127, 0, 0, 1], 8000).into()).await?.run().await
    /// # }
    /// ```
    pub async fn run(self) -> std::io::Result<()> {
        let client = http_client().map_err(std::io::Error::other)?;
        let state = Arc::new(Service {
            streams: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            client,
            base: format!("http://{}", self.addr),
            shutdown: self.shutdown.clone(),
        });
        let router = Router::new()
            .route("/", get(status).post(create).delete(stop))
            .route("/streams/{id}", post(command).delete(close))
            .with_state(state.clone());
        let shutdown = self.shutdown.clone();
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        state.close_all();
        served
    }
}

/// Shared state of the handlers.
struct Service {
    streams: Mutex<HashMap<u64, Stream>>,
    next_id: AtomicU64,
    client: HttpClient,
    /// `http://addr`, for the `Location` of created streams.
    base: String,
    shutdown: CancellationToken,
}

/// One client the harness started.
struct Stream {
    controller: Controller,
    task: JoinHandle<()>,
}

impl Stream {
    fn stop(self) {
        self.controller.close();
        // A callback in flight must not be followed by another one once the harness said
        // the stream is done.
        self.task.abort();
    }
}

impl Service {
    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Stream>> {
        // A panicking handler cannot leave the map half-updated (every change is one call).
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close_all(&self) {
        let streams: Vec<Stream> = self.streams().drain().map(|(_, stream)| stream).collect();
        streams.into_iter().for_each(Stream::stop);
    }
}

/// `POST /` body. `null` counts as absent everywhere.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateStream {
    stream_url: String,
    callback_url: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    initial_delay_ms: Option<u64>,
    #[serde(default)]
    read_timeout_ms: Option<u64>,
    #[serde(default)]
    last_event_id: Option<String>,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// `POST /streams/{id}` body.
#[derive(Debug, Deserialize)]
struct Command {
    command: String,
}

async fn status() -> Response {
    axum::Json(json!({"name": "tidings-client", "capabilities": CAPABILITIES})).into_response()
}

async fn stop(State(service): State<Arc<Service>>) -> StatusCode {
    service.shutdown.cancel();
    StatusCode::NO_CONTENT
}

fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, message.into()).into_response()
}

async fn create(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let request: CreateStream = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid stream request: {error}")),
    };
    let source = match client_for(&request) {
        Ok(source) => source,
        Err(error) => return bad_request(format!("cannot create the client: {error}")),
    };
    let id = service.next_id.fetch_add(1, Ordering::Relaxed);
    let controller = source.controller();
    let callbacks = Callbacks {
        client: service.client.clone(),
        base: request.callback_url.trim_end_matches('/').to_owned(),
        sent: 0,
    };
    let task = tokio::spawn(pump(source, callbacks));
    service.streams().insert(id, Stream { controller, task });
    tracing::debug!(id, tag = request.tag.as_deref().unwrap_or(""), "stream created");
    let location = format!("{}/streams/{id}", service.base);
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The client the harness asked for.
fn client_for(request: &CreateStream) -> Result<EventSource, tidings_client::Error> {
    // The harness's streams are generic SSE, not a tidings hub: a `tidings-gap` event is just
    // an event there.
    let mut builder = EventSource::builder(&request.stream_url).comments(true).gap_events(false);
    if let Some(delay) = request.initial_delay_ms {
        builder = builder.retry(Duration::from_millis(delay));
    }
    if let Some(timeout) = request.read_timeout_ms.filter(|&ms| ms > 0) {
        builder = builder.read_timeout(Duration::from_millis(timeout));
    }
    if let Some(id) = request.last_event_id.as_deref().filter(|id| !id.is_empty()) {
        builder = builder.last_event_id(id);
    }
    let headers = request.headers.clone().unwrap_or_default();
    let has_content_type = headers.keys().any(|name| name.eq_ignore_ascii_case("content-type"));
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(method) = &request.method {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| tidings_client::Error::from(tidings_client::ErrorKind::InvalidRequest))?;
        builder = builder.method(method);
    }
    if let Some(body) = &request.body {
        // The suite lets a client pick `text/plain` when the harness names no type.
        if !has_content_type {
            builder = builder.header("content-type", "text/plain");
        }
        builder = builder.body(body.clone());
    }
    builder.build()
}

async fn command(
    State(service): State<Arc<Service>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    let command: Command = match serde_json::from_slice(&body) {
        Ok(command) => command,
        Err(error) => return bad_request(format!("invalid command: {error}")),
    };
    let streams = service.streams();
    let Some(stream) = streams.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match command.command.as_str() {
        "restart" => {
            stream.controller.restart();
            StatusCode::NO_CONTENT.into_response()
        }
        other => bad_request(format!("unknown command {other:?}")),
    }
}

async fn close(State(service): State<Arc<Service>>, Path(id): Path<u64>) -> StatusCode {
    let removed = service.streams().remove(&id);
    match removed {
        Some(stream) => {
            stream.stop();
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Posts one stream's callbacks, numbered from 1, each after the previous one was answered.
struct Callbacks {
    client: HttpClient,
    base: String,
    sent: u64,
}

impl Callbacks {
    /// `false` when the harness cannot be reached any more (nothing more will get through).
    async fn send(&mut self, message: Value) -> bool {
        self.sent += 1;
        let url = format!("{}/{}", self.base, self.sent);
        let request = http::Request::post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(message.to_string())));
        let Ok(request) = request else {
            tracing::warn!(url, "invalid callback URL");
            return false;
        };
        match self.client.request(request).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(url, %error, "callback failed");
                false
            }
        }
    }
}

/// The callback message for one client item, `None` for items the harness has no use for.
fn message_for(item: &Result<ClientItem, tidings_client::Error>) -> Option<Value> {
    let error = |error: &dyn std::fmt::Display| {
        Some(json!({"kind": "error", "comment": error.to_string()}))
    };
    match item {
        Ok(ClientItem::Event(event)) => {
            let mut body = json!({"type": event.event_type(), "data": event.data()});
            if !event.id().is_empty() {
                body["id"] = event.id().into();
            }
            Some(json!({"kind": "event", "event": body}))
        }
        Ok(ClientItem::Comment(text)) => Some(json!({"kind": "comment", "comment": text})),
        Ok(ClientItem::Reconnecting(reconnecting)) => match &reconnecting.reason {
            // A restart is the harness's own doing, not a failure of the stream.
            Disconnect::Restart => None,
            Disconnect::Eof => error(&"the server ended the stream"),
            Disconnect::ReadTimeout => error(&"read timeout"),
            Disconnect::Error(cause) => error(&error_chain(cause)),
            _ => error(&"disconnected"),
        },
        Ok(ClientItem::EventError(cause)) => error(&error_chain(cause)),
        Ok(_) => None,
        Err(cause) => error(&error_chain(cause)),
    }
}

/// An error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn pump(mut source: EventSource, mut callbacks: Callbacks) {
    while let Some(item) = source.next().await {
        if let Some(message) = message_for(&item) {
            if !callbacks.send(message).await {
                return;
            }
        }
    }
}

/// Tests of the parts that need no sockets; the service over sockets is tested in
/// `tests/contract_service.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_accepts_nulls_and_absent_fields() {
        let request: CreateStream = serde_json::from_str(
            r#"{"streamUrl": "http://h/s", "callbackUrl": "http://h/c", "tag": null, "headers": null}"#,
        )
        .expect("valid");
        assert_eq!(request.stream_url, "http://h/s");
        assert!(request.headers.is_none() && request.method.is_none());
        assert!(serde_json::from_str::<CreateStream>(r#"{"streamUrl": "x"}"#).is_err());
    }
}
