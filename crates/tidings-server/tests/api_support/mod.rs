//! What the API tests share: the router served on 127.0.0.1:0 through hyper-util's auto
//! builder (HTTP/1.1 and h2c on the same port), clients for each protocol, a test
//! authenticator, and SSE reading.
//!
//! Each test file uses a different part, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tidings_broker::Selector;
use tidings_codec::{Decoder, DecoderConfig, Item, MessageEvent};
use tidings_server::api::{ApiConfig, router};
use tidings_server::{AuthError, Authenticator, Grant, Hub, HubConfig, Identity};

/// The Mercure endpoint.
pub const MERCURE: &str = "/.well-known/mercure";

/// How long a test waits for something that should arrive at once.
const PATIENCE: Duration = Duration::from_secs(5);

/// The HTTP version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Http1,
    /// HTTP/2 over cleartext TCP with prior knowledge.
    H2c,
}

/// Every protocol the e2e tests run over.
pub const PROTOS: [Proto; 2] = [Proto::Http1, Proto::H2c];

/// Test credentials, all in headers:
/// - `x-test-token: malformed | expired | bad-signature` fails authentication (401);
/// - `x-test-user: name` identifies a user;
/// - `x-test-publish: selector` (repeatable) grants publishing, `x-test-subscribe` private
///   subscribing, `x-test-payload: json` sets the payload.
///
/// A request with none of these is anonymous.
pub struct TestAuth;

impl Authenticator for TestAuth {
    fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
        let text = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
        match text("x-test-token") {
            Some("malformed") => return Err(AuthError::Malformed),
            Some("expired") => return Err(AuthError::Expired),
            Some("bad-signature") => return Err(AuthError::BadSignature),
            _ => {}
        }
        let grant = |name: &str| -> Result<Option<Grant>, AuthError> {
            let values: Vec<_> = head.headers.get_all(name).iter().collect();
            if values.is_empty() {
                return Ok(None);
            }
            let selectors = values
                .into_iter()
                .map(|v| {
                    let text = v.to_str().map_err(|_| AuthError::Malformed)?;
                    Selector::parse(text).map_err(|_| AuthError::Malformed)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Grant::selectors(selectors)))
        };
        let mut identity = None::<Identity>;
        if let Some(user) = text("x-test-user") {
            identity = Some(Identity::default().with_user(user.into()));
        }
        if let Some(publish) = grant("x-test-publish")? {
            identity = Some(identity.unwrap_or_default().with_publish(publish));
        }
        if let Some(subscribe) = grant("x-test-subscribe")? {
            identity = Some(identity.unwrap_or_default().with_subscribe(subscribe));
        }
        if let Some(payload) = text("x-test-payload") {
            let mut with_payload = identity.unwrap_or_default();
            with_payload.payload =
                Some(serde_json::from_str(payload).map_err(|_| AuthError::Malformed)?);
            identity = Some(with_payload);
        }
        Ok(identity)
    }
}

/// A hub serving the API on a real socket.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub hub: Hub,
}

/// Serves `router(hub, api.authenticator(TestAuth))` with hyper-util's auto builder, which
/// answers HTTP/1.1 and h2c on the same port.
pub async fn serve(hub: HubConfig, api: ApiConfig) -> Server {
    serve_as_configured(hub, api.authenticator(TestAuth)).await
}

/// Serves `router(hub, api)` with the authenticator `api` already has.
pub async fn serve_as_configured(hub: HubConfig, api: ApiConfig) -> Server {
    let hub = Hub::new(hub.shards(2));
    let app = router(hub.clone(), api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Server { base: format!("http://{addr}"), hub }
}

/// The default server: default hub and API settings, test credentials.
pub async fn serve_default() -> Server {
    serve(HubConfig::default(), ApiConfig::default()).await
}

pub type Body = BoxBody<Bytes, Infallible>;
pub type HttpClient = Client<HttpConnector, Body>;

/// A client speaking `proto` (h2c with prior knowledge for [`Proto::H2c`]).
pub fn client(proto: Proto) -> HttpClient {
    let mut builder = Client::builder(TokioExecutor::new());
    if proto == Proto::H2c {
        builder.http2_only(true);
    }
    builder.build_http()
}

/// A body with a known length.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A body sent in `chunk`-byte pieces without announcing its length (chunked on HTTP/1.1).
pub fn streamed(bytes: Vec<u8>, chunk: usize) -> Body {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
        bytes.chunks(chunk).map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
    StreamBody::new(futures_util::stream::iter(frames)).boxed()
}

/// Sends a request and returns the response head and its body as text.
pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> (StatusCode, HeaderMap, String) {
    let response = request(client, method, url, headers, body).await;
    let (head, body) = response.into_parts();
    let body = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .expect("response body in time")
        .expect("response body")
        .to_bytes();
    (head.status, head.headers, String::from_utf8_lossy(&body).into_owned())
}

/// Sends a request and returns the response with its body unread.
pub async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> http::Response<Incoming> {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body).expect("request");
    tokio::time::timeout(PATIENCE, client.request(request))
        .await
        .expect("response in time")
        .expect("response")
}

/// Publishes JSON on the native endpoint with the right to publish anywhere.
pub async fn publish_json(client: &HttpClient, base: &str, json: &str) -> (StatusCode, String) {
    let (status, _, body) = send(
        client,
        "POST",
        &format!("{base}/publish"),
        &[("content-type", "application/json"), ("x-test-publish", "*")],
        full(json.to_owned()),
    )
    .await;
    (status, body)
}

/// Publishes a Mercure form with the right to publish anywhere; returns status and body.
pub async fn publish_form(
    client: &HttpClient,
    base: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    send(
        client,
        "POST",
        &format!("{base}{MERCURE}"),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-test-publish", "*")],
        full(form),
    )
    .await
}

/// Percent-encodes a query value.
pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An open event stream and the text read from it so far.
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    pub text: String,
}

impl Sse {
    /// Opens a stream (GET) and checks it is one.
    pub async fn open(client: &HttpClient, url: &str, headers: &[(&str, &str)]) -> Self {
        let response = request(client, "GET", url, headers, full("")).await;
        let (head, body) = response.into_parts();
        assert_eq!(head.status, StatusCode::OK, "stream {url} refused: {:?}", head.headers);
        assert_eq!(head.headers["content-type"], "text/event-stream");
        Self { status: head.status, headers: head.headers, body, text: String::new() }
    }

    /// Reads until the text contains `needle`; fails after a few seconds.
    pub async fn until(&mut self, needle: &str) {
        let read = async {
            while !self.text.contains(needle) {
                let frame = self.body.frame().await.expect("stream open").expect("frame");
                if let Ok(data) = frame.into_data() {
                    self.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
        };
        if tokio::time::timeout(PATIENCE, read).await.is_err() {
            panic!("timed out waiting for {needle:?}; got {:?}", self.text);
        }
    }

    /// Reads until the stream ends; fails after a few seconds.
    pub async fn until_end(&mut self) {
        let read = async {
            while let Some(frame) = self.body.frame().await {
                if let Ok(data) = frame.expect("frame").into_data() {
                    self.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
        };
        if tokio::time::timeout(PATIENCE, read).await.is_err() {
            panic!("stream did not end; got {:?}", self.text);
        }
    }

    /// The events read so far, decoded with unknown fields kept.
    pub fn events(&self) -> Vec<MessageEvent> {
        let mut decoder = Decoder::with_config(DecoderConfig::default().keep_unknown_fields(true));
        decoder.push(self.text.as_bytes());
        let mut events = Vec::new();
        while let Some(item) = decoder.next_item().expect("valid stream") {
            if let Item::Event(event) = item {
                events.push(event);
            }
        }
        events
    }

    /// The data of the events read so far whose type is `message`.
    pub fn messages(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.event_type() == "message")
            .map(|e| e.data.into())
            .collect()
    }
}
