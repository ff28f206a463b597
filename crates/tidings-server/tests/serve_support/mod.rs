//! What the `serve_*` tests share: a hub with the API router served by `serve::Server` on
//! 127.0.0.1:0, clients for HTTP/1.1, h2c and TLS (ALPN) that open one connection per
//! request, and SSE reading.
//!
//! Each test file uses a different part, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../running/mod.rs"]
mod running;
pub use running::Running;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tidings_server::api::{ApiConfig, router};
use tidings_server::serve::{ConnectionInfo, ServeConfig, TlsConfig};
use tidings_server::{AuthError, Grant, Hub, HubConfig, Identity};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The header that makes a request a publisher (the test authenticator's only rule).
pub const PUBLISHER: &str = "x-test-publisher";

/// Publishers are requests with the [`PUBLISHER`] header; everyone else is anonymous.
fn test_auth(head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
    Ok(head.headers.contains_key(PUBLISHER).then(|| Identity::default().with_publish(Grant::All)))
}

/// The hub's API plus `GET /peer`, which answers with what the server put into the request's
/// extensions: `ConnectionInfo` peer, axum `ConnectInfo` peer, TLS flag, local address.
pub fn app(hub: &Hub) -> axum::Router {
    let peer = axum::routing::get(|request: axum::extract::Request| async move {
        let info = request.extensions().get::<ConnectionInfo>().copied();
        let connect_info = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| *addr);
        format!(
            "{} {} {} {}",
            info.map_or("none".into(), |i| i.peer().to_string()),
            connect_info.map_or("none".into(), |a| a.to_string()),
            info.is_some_and(|i| i.is_tls()),
            info.map_or("none".into(), |i| i.local().to_string()),
        )
    });
    router(hub.clone(), ApiConfig::default().authenticator(test_auth)).route("/peer", peer)
}

/// Starts the hub's API on 127.0.0.1:0 with `config`.
pub async fn start(config: ServeConfig) -> Running {
    let hub = Hub::new(HubConfig::default().shards(2));
    start_with(config, hub.clone(), app(&hub)).await
}

/// Starts `app` on 127.0.0.1:0 with `config`, shutting `hub` down with the server.
pub async fn start_with(config: ServeConfig, hub: Hub, app: axum::Router) -> Running {
    running::serve(config, hub, app).await
}

/// How a client talks to the server.
#[derive(Clone)]
pub enum Proto {
    Http1,
    /// HTTP/2 over cleartext TCP with prior knowledge.
    H2c,
    /// TLS trusting the given certificate, offering the given ALPN protocols.
    Tls {
        trust: Arc<rustls::ClientConfig>,
    },
}

/// A TLS client configuration trusting `tls`'s development certificate and offering `alpn`.
pub fn trusting(tls: &TlsConfig, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = tls.dev_certificate_pem().expect("a self-signed configuration");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")).expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// One connection's request sender, for whichever protocol it speaks.
pub enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        let response = match self {
            Self::Http1(sender) => sender.send_request(request).await,
            Self::Http2(sender) => sender.send_request(request).await,
        };
        response.expect("response")
    }
}

/// Opens a connection to `addr`; returns its sender and, for TLS, the ALPN protocol agreed.
pub async fn connect(proto: &Proto, addr: SocketAddr) -> (Sender, Option<Vec<u8>>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    match proto {
        Proto::Http1 => (handshake_h1(TokioIo::new(tcp)).await, None),
        Proto::H2c => (handshake_h2(TokioIo::new(tcp)).await, None),
        Proto::Tls { trust } => {
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(trust));
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let tls = connector.connect(name, tcp).await.expect("TLS handshake");
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let sender = if alpn.as_deref() == Some(b"h2") {
                handshake_h2(TokioIo::new(tls)).await
            } else {
                handshake_h1(TokioIo::new(tls)).await
            };
            (sender, alpn)
        }
    }
}

async fn handshake_h1<I>(io: I) -> Sender
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.expect("h1 handshake");
    tokio::spawn(conn);
    Sender::Http1(sender)
}

async fn handshake_h2<I>(io: I) -> Sender
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    Sender::Http2(sender)
}

/// A GET of `path` (HTTP/2 needs the full URI; HTTP/1.1 is happy with it too).
pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://localhost{path}")).body(Full::default()).expect("request")
}

/// A JSON publish of `data` to `topic` as a publisher.
pub fn publish(topic: &str, data: &str) -> Request<Full<Bytes>> {
    let json = serde_json::json!({"topic": topic, "data": data}).to_string();
    Request::post("http://localhost/publish")
        .header("content-type", "application/json")
        .header(PUBLISHER, "1")
        .body(Full::new(Bytes::from(json)))
        .expect("request")
}

/// Reads the whole body as text.
pub async fn text(response: Response<Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Reads an SSE body until `needle` has arrived; fails after [`PATIENCE`].
pub async fn read_until(body: &mut Incoming, seen: &mut String, needle: &str) {
    tokio::time::timeout(PATIENCE, async {
        while !seen.contains(needle) {
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(data) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}; got {seen:?}"));
}

/// Reads an SSE body to its end; fails after [`PATIENCE`] or on an error.
pub async fn read_to_end(body: &mut Incoming, seen: &mut String) {
    tokio::time::timeout(PATIENCE, async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not end; got {seen:?}"));
}

/// Subscribes to `topic`, publishes `data` to it on a second connection, and checks the
/// subscriber receives it.
pub async fn publish_then_receive(proto: &Proto, addr: SocketAddr, topic: &str, data: &str) {
    let (mut subscriber, _) = connect(proto, addr).await;
    let response = subscriber.send(get(&format!("/events?topic={topic}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let (mut publisher, _) = connect(proto, addr).await;
    let (status, answer) = text(publisher.send(publish(topic, data)).await).await;
    assert_eq!(status, 200, "{answer}");
    let mut seen = String::new();
    read_until(&mut body, &mut seen, &format!("data: {data}\n\n")).await;
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
pub async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closed the connection");
    (received, Instant::now())
}
