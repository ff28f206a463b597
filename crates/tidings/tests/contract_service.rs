//! `tidings::contract` in-process over real sockets: a scripted SSE server stands in for the
//! harness's stream endpoint and an axum app for its callback endpoint, and the test drives the
//! service's REST protocol as the harness would (creation, events, comments, errors, restart,
//! delete, stop).

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};
use tidings::contract::ContractService;
use tidings::publish::{HttpClient, http_client};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(10);

/// What the scripted server does on one connection.
#[derive(Clone)]
enum Script {
    /// `200 text/event-stream`, these bytes, then keep the connection open until the client
    /// drops it (reported as [`Seen::Closed`]).
    Open(&'static [u8]),
    /// `200 text/event-stream`, these bytes, then close.
    Close(&'static [u8]),
    /// `404 Not Found`.
    NotFound,
}

/// What the scripted server saw.
#[derive(Debug)]
enum Seen {
    /// Connection `n` (from 0) sent this request head and body.
    Request(usize, String),
    /// The client closed connection `n`.
    Closed(usize),
}

/// A raw TCP server answering connection `n` with `scripts[n]`; its URL and what it saw.
async fn scripted_server(scripts: Vec<Script>) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/stream", listener.local_addr().expect("addr"));
    let (seen, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for (index, script) in scripts.into_iter().enumerate() {
            let Ok((socket, _)) = listener.accept().await else { return };
            tokio::spawn(serve_script(socket, index, script, seen.clone()));
        }
    });
    (url, receiver)
}

async fn serve_script(
    mut socket: TcpStream,
    index: usize,
    script: Script,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    // The head, then as many body bytes as Content-Length says.
    let head_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = socket.read(&mut chunk).await.expect("read request");
        assert_ne!(n, 0, "request cut off");
        request.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().expect("length"));
    while request.len() < head_end + length {
        let n = socket.read(&mut chunk).await.expect("read body");
        assert_ne!(n, 0, "body cut off");
        request.extend_from_slice(&chunk[..n]);
    }
    let _ = seen.send(Seen::Request(index, String::from_utf8_lossy(&request).into_owned()));
    let stream_head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    match script {
        Script::NotFound => {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
        Script::Close(body) => {
            let _ = socket.write_all(&[stream_head.as_slice(), body].concat()).await;
        }
        Script::Open(body) => {
            let _ = socket.write_all(&[stream_head.as_slice(), body].concat()).await;
            // Nothing more is sent: a read returns when the client closes its end.
            while matches!(socket.read(&mut chunk).await, Ok(n) if n > 0) {}
            let _ = seen.send(Seen::Closed(index));
        }
    }
}

/// The harness's callback endpoint: every POST to `/callbacks/{stream}/{n}` arrives on the
/// channel as `(stream, n, body)`.
async fn harness() -> (String, mpsc::UnboundedReceiver<(u32, u64, Value)>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/callbacks/{stream}/{n}",
            post(
                |State(sender): State<mpsc::UnboundedSender<(u32, u64, Value)>>,
                 Path((stream, n)): Path<(u32, u64)>,
                 body: Bytes| async move {
                    let body = serde_json::from_slice(&body).expect("callback bodies are JSON");
                    let _ = sender.send((stream, n, body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(sender);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/callbacks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, receiver)
}

async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, http::HeaderMap, String) {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("service answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

fn request_of(seen: Seen) -> (usize, String) {
    match seen {
        Seen::Request(index, request) => (index, request),
        other => panic!("expected a request, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_protocol_creates_streams_reports_in_order_restarts_deletes_and_stops() {
    let service = ContractService::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let base = format!("http://{}", service.local_addr());
    let running = tokio::spawn(service.run());
    let client = http_client().expect("client");

    // Status: up, with the capabilities the harness uses to pick optional tests.
    let (status, _, body) = call(&client, Method::GET, &format!("{base}/"), None).await;
    assert_eq!(status, StatusCode::OK);
    let capabilities: Value = serde_json::from_str(&body).expect("JSON status");
    for capability in
        ["comments", "headers", "last-event-id", "post", "report", "read-timeout", "restart"]
    {
        assert!(
            capabilities["capabilities"].as_array().expect("a list").contains(&json!(capability)),
            "{capability} missing from {capabilities}"
        );
    }

    // A body that is not a stream request is refused.
    let (status, _, _) =
        call(&client, Method::POST, &format!("{base}/"), Some(json!({"tag": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (stream_url, mut seen) = scripted_server(vec![
        Script::Open(b":hello\n\nid: 1\nevent: greet\ndata: a\n\n"),
        Script::Close(b"data: b\n\n"),
        Script::Open(b""),
    ])
    .await;
    let (callback_base, mut callbacks) = harness().await;

    let (status, headers, body) = call(
        &client,
        Method::POST,
        &format!("{base}/"),
        Some(json!({
            "streamUrl": stream_url,
            "callbackUrl": format!("{callback_base}/1"),
            "tag": "first",
            "initialDelayMs": 10,
            "readTimeoutMs": null,
            "lastEventId": "5",
            "headers": {"x-test": "yes"},
            "method": "REPORT",
            "body": "the-query",
        })),
    )
    .await;
    assert!(status.is_success(), "create answered {status}: {body}");
    let location = headers["location"].to_str().expect("ASCII location").to_owned();
    assert!(location.starts_with(&format!("{base}/streams/")), "{location}");

    // The request carries the method, body, custom header and initial Last-Event-ID.
    let (index, request) = request_of(next(&mut seen, "the first request").await);
    assert_eq!(index, 0);
    assert!(request.starts_with("REPORT /stream HTTP/1.1\r\n"), "{request}");
    let lower = request.to_lowercase();
    assert!(lower.contains("\r\nx-test: yes\r\n"), "{request}");
    assert!(lower.contains("\r\nlast-event-id: 5\r\n"), "{request}");
    assert!(lower.contains("\r\ncontent-type: text/plain\r\n"), "{request}");
    assert!(request.ends_with("\r\n\r\nthe-query"), "{request}");

    // Callbacks arrive numbered from 1, in stream order: the comment, then the event.
    assert_eq!(
        next(&mut callbacks, "callback 1").await,
        (1, 1, json!({"kind": "comment", "comment": "hello"}))
    );
    assert_eq!(
        next(&mut callbacks, "callback 2").await,
        (1, 2, json!({"kind": "event", "event": {"type": "greet", "data": "a", "id": "1"}}))
    );

    // Unknown commands and streams are refused.
    let (status, _, _) =
        call(&client, Method::POST, &location, Some(json!({"command": "dance"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(
        &client,
        Method::POST,
        &format!("{base}/streams/999"),
        Some(json!({"command": "restart"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Restart: the client drops the connection and reconnects with the last id, and a restart
    // is not reported as an error.
    let (status, _, _) =
        call(&client, Method::POST, &location, Some(json!({"command": "restart"}))).await;
    assert!(status.is_success(), "restart answered {status}");
    match next(&mut seen, "the first connection to close").await {
        Seen::Closed(0) => {}
        other => panic!("expected connection 0 to close, got {other:?}"),
    }
    let (index, request) = request_of(next(&mut seen, "the request after the restart").await);
    assert_eq!(index, 1);
    assert!(request.to_lowercase().contains("\r\nlast-event-id: 1\r\n"), "{request}");

    // The second connection sends an event and ends: the event, then an error callback.
    assert_eq!(
        next(&mut callbacks, "callback 3").await,
        (1, 3, json!({"kind": "event", "event": {"type": "message", "data": "b", "id": "1"}}))
    );
    let (stream, n, error) = next(&mut callbacks, "callback 4").await;
    assert_eq!((stream, n, &error["kind"]), (1, 4, &json!("error")), "{error}");
    let (index, _) = request_of(next(&mut seen, "the reconnection").await);
    assert_eq!(index, 2);

    // Delete: the client closes its connection; a second delete finds nothing.
    let (status, _, _) = call(&client, Method::DELETE, &location, None).await;
    assert!(status.is_success(), "delete answered {status}");
    match next(&mut seen, "the deleted stream's connection to close").await {
        Seen::Closed(2) => {}
        other => panic!("expected connection 2 to close, got {other:?}"),
    }
    let (status, _, _) = call(&client, Method::DELETE, &location, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A stream that fails for good (404) reports one error callback.
    let (failing_url, _failing_seen) = scripted_server(vec![Script::NotFound]).await;
    let (status, _, _) = call(
        &client,
        Method::POST,
        &format!("{base}/"),
        Some(json!({"streamUrl": failing_url, "callbackUrl": format!("{callback_base}/2")})),
    )
    .await;
    assert!(status.is_success());
    let (stream, n, error) = next(&mut callbacks, "the 404 error callback").await;
    assert_eq!((stream, n, &error["kind"]), (2, 1, &json!("error")), "{error}");
    assert!(error["comment"].as_str().expect("text").contains("404"), "{error}");

    // No callback arrived for the deleted stream after its error.
    assert!(callbacks.try_recv().is_err(), "unexpected callback");

    // DELETE / stops the service.
    let (status, _, _) = call(&client, Method::DELETE, &format!("{base}/"), None).await;
    assert!(status.is_success());
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the service stops")
        .expect("no panic")
        .expect("no error");
}
