//! What the `ops_*` tests share: the hub's API, metrics and admin routers served by
//! `serve::Server` on 127.0.0.1:0 behind the real JWT authenticator, tokens for each role, and
//! a small HTTP/1.1 client that reads SSE streams.
//!
//! Each test file uses a different part, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../running/mod.rs"]
mod running;
pub use running::Running;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tidings_server::admin::AdminConfig;
use tidings_server::api::ApiConfig;
use tidings_server::jwt::{JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey};
use tidings_server::metrics::MetricsConfig;
use tidings_server::serve::ServeConfig;
use tidings_server::{Hub, HubConfig, api, metrics};

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(5);

const SECRET: &str = "ops tests: a secret of at least 32 bytes";

/// The authenticator every test server uses.
pub fn authenticator() -> JwtAuthenticator {
    JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")))
}

fn sign(builder: &TokenBuilder) -> String {
    builder.sign(&SigningKey::hs256(SECRET).expect("key")).expect("sign")
}

/// A token that may publish and subscribe to everything; not an admin.
pub fn publisher_token() -> String {
    sign(&TokenBuilder::publisher().subject("publisher"))
}

/// A subscriber token for `user`; not an admin.
pub fn subscriber_token(user: &str) -> String {
    sign(&TokenBuilder::new().subject(user).subscribe(["*"]))
}

/// An admin token (and nothing else).
pub fn admin_token() -> String {
    sign(&TokenBuilder::new().subject("root").admin(true))
}

/// The API (anonymous subscribers allowed), metrics and admin routers over one hub.
pub fn app(hub: &Hub, metrics_config: MetricsConfig, admin: AdminConfig) -> axum::Router {
    let api_config = ApiConfig::default().authenticator(authenticator()).allow_anonymous(true);
    api::router(hub.clone(), api_config)
        .merge(metrics::router(hub.clone(), metrics_config))
        .merge(tidings_server::admin::router(hub.clone(), admin.authenticator(authenticator())))
}

/// Serves [`app`] over a fresh hub with `config` on 127.0.0.1:0.
pub async fn start(
    config: HubConfig,
    metrics_config: MetricsConfig,
    admin: AdminConfig,
) -> Running {
    let hub = Hub::new(config);
    let router = app(&hub, metrics_config, admin);
    start_with(hub, router).await
}

/// Serves `router` on 127.0.0.1:0, shutting `hub` down with the server.
pub async fn start_with(hub: Hub, router: axum::Router) -> Running {
    running::serve(ServeConfig::default(), hub, router).await
}

/// Sends `request` over a new HTTP/1.1 connection to `addr`.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Response<Incoming> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    tokio::time::timeout(PATIENCE, sender.send_request(request))
        .await
        .expect("response in time")
        .expect("response")
}

/// A GET of `path`, with `Authorization: Bearer <token>` when a token is given.
pub fn get(path: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::get(path).header("host", "localhost");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Full::default()).expect("request")
}

/// A native JSON publish (`body` as is) with the publisher token.
pub fn publish(body: &serde_json::Value) -> Request<Full<Bytes>> {
    Request::post("/publish")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", publisher_token()))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

/// Publishes over HTTP and checks it was accepted.
pub async fn publish_ok(addr: SocketAddr, body: serde_json::Value) {
    let (status, text) = text(send(addr, publish(&body)).await).await;
    assert_eq!(status, StatusCode::OK, "publish refused: {text}");
}

/// Reads the whole body as text.
pub async fn text(response: Response<Incoming>) -> (StatusCode, String) {
    let (status, _, body) = full(response).await;
    (status, body)
}

/// Status, headers and the whole body as text.
pub async fn full(response: Response<Incoming>) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// An open SSE response being read.
pub struct Stream {
    body: Incoming,
    /// Everything received so far.
    pub seen: String,
}

impl Stream {
    /// Opens `request` and checks it is an event stream.
    pub async fn open(addr: SocketAddr, request: Request<Full<Bytes>>) -> Self {
        let response = send(addr, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers().get("content-type").expect("content type");
        assert_eq!(content_type, "text/event-stream");
        Self { body: response.into_body(), seen: String::new() }
    }

    /// The complete events received so far (up to the last blank line).
    pub fn complete(&self) -> &str {
        self.seen.rfind("\n\n").map_or("", |end| &self.seen[..end + 2])
    }

    /// Reads until the complete events received contain `needle` `times` times; panics
    /// after [`PATIENCE`].
    pub async fn until(&mut self, needle: &str, times: usize) {
        let reading = async {
            while self.complete().matches(needle).count() < times {
                match self.body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.seen.push_str(&String::from_utf8_lossy(&data));
                        }
                    }
                    Some(Err(error)) => panic!("stream failed: {error}; seen {:?}", self.seen),
                    None => panic!("stream ended; seen {:?}", self.seen),
                }
            }
        };
        if tokio::time::timeout(PATIENCE, reading).await.is_err() {
            panic!("{needle:?} not seen {times} times in time; seen {:?}", self.seen);
        }
    }

    /// Reads to the end of the stream; panics if it does not end within [`PATIENCE`].
    pub async fn read_to_end(&mut self) {
        let reading = async {
            while let Some(frame) = self.body.frame().await {
                if let Ok(data) = frame.expect("frame").into_data() {
                    self.seen.push_str(&String::from_utf8_lossy(&data));
                }
            }
        };
        if tokio::time::timeout(PATIENCE, reading).await.is_err() {
            panic!("stream did not end in time; seen {:?}", self.seen);
        }
    }
}

/// The value of the sample `line_start` (a metric name with its labels) in a Prometheus text
/// exposition; panics when absent.
pub fn sample(text: &str, line_start: &str) -> f64 {
    let prefix = format!("{line_start} ");
    let line = text
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no sample {line_start:?} in\n{text}"));
    line[prefix.len()..].parse().unwrap_or_else(|_| panic!("not a number: {line:?}"))
}
