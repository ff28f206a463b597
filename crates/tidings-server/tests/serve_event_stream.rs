//! The direct HTTP/1.1 event-stream path of `serve::Server`, over raw sockets: what goes on
//! the wire (head, chunked frames, the last chunk), how it hands everything that is not an
//! event stream to hyper without calling the service twice, and how it notices clients that
//! leave.

mod serve_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serve_support::{
    PATIENCE, Proto, connect, get, read_until, read_until_closed, start, start_with, text,
};
use tidings_broker::Message;
use tidings_codec::Event;
use tidings_server::serve::ServeConfig;
use tidings_server::{Hub, HubConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads from `stream` into `seen` until `needle` appears (or fails after [`PATIENCE`]).
async fn read_until_bytes(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0_u8; 4096];
        while !seen.windows(needle.len()).any(|w| w == needle) {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before {:?}; got {:?}", needle, String::from_utf8_lossy(seen));
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(seen)));
}

/// Reads until the server closes the connection, appending to `seen`.
async fn read_to_close(stream: &mut TcpStream, seen: &mut Vec<u8>) {
    seen.extend(read_until_closed(stream).await.0);
}

/// Splits an HTTP/1.1 response into its head and its de-chunked body, checking the chunk
/// framing on the way; returns whether the last (zero-length) chunk was seen.
fn dechunk(response: &[u8]) -> (String, Vec<u8>, bool) {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(response[..split].to_vec()).expect("ASCII head");
    let mut rest = &response[split + 4..];
    let mut body = Vec::new();
    while !rest.is_empty() {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).expect("hex"), 16)
            .expect("a hex chunk size");
        if size == 0 {
            assert_eq!(&rest[line_end..], b"\r\n\r\n", "nothing after the last chunk");
            return (head, body, true);
        }
        let data = &rest[line_end + 2..];
        assert!(data.len() >= size + 2, "a whole chunk");
        body.extend_from_slice(&data[..size]);
        assert_eq!(&data[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        rest = &data[size + 2..];
    }
    (head, body, false)
}

fn publish(hub: &Hub, data: &str) {
    hub.publish(Message::new(Event::new(data.to_owned())).topic("t")).expect("publish");
}

async fn wait_for_connections(hub: &Hub, count: usize) {
    tokio::time::timeout(PATIENCE, async {
        while hub.connections() != count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} connections, expected {count}", hub.connections()));
}

#[tokio::test]
async fn a_get_event_stream_is_written_as_chunks_with_a_complete_head() {
    let server = start(ServeConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n\r\n").await;
    publish(&server.hub, "first");
    publish(&server.hub, "second\nline");
    read_until_bytes(&mut stream, &mut seen, b"data: line\n\n\r\n").await;

    let (head, body, ended) = dechunk(&seen);
    assert!(!ended);
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: text/event-stream"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(head.contains("\r\ndate: "), "{head}");
    assert!(head.contains("\r\ncache-control: no-cache"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(body.starts_with(":\n\n"), "{body:?}");
    assert!(body.contains("data: first\n\n"), "{body:?}");
    assert!(body.contains("data: second\ndata: line\n\n"), "{body:?}");
}

#[tokio::test]
async fn a_head_sent_one_byte_at_a_time_is_served() {
    let server = start(ServeConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    for byte in b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n" {
        stream.write_all(&[*byte]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n").await;
    publish(&server.hub, "late");
    read_until_bytes(&mut stream, &mut seen, b"data: late\n\n").await;
}

#[tokio::test]
async fn a_client_that_leaves_is_unsubscribed() {
    let server = start(ServeConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n").await;
    assert_eq!(server.hub.connections(), 1);
    drop(stream);
    // Noticed by reading the socket, with nothing published to write.
    wait_for_connections(&server.hub, 0).await;
}

#[tokio::test]
async fn bytes_after_the_request_are_ignored_and_the_stream_goes_on() {
    let server = start(ServeConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n").await;
    stream.write_all(b"more bytes nobody asked for").await.expect("write");
    publish(&server.hub, "still here");
    read_until_bytes(&mut stream, &mut seen, b"data: still here\n\n").await;
    assert_eq!(server.hub.connections(), 1);
    assert_eq!(seen.windows(9).filter(|w| w == b"HTTP/1.1 ").count(), 1, "one response only");
}

#[tokio::test]
async fn other_requests_go_to_hyper_and_the_service_is_called_once_per_request() {
    let hub = Hub::new(HubConfig::default().shards(2));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = serve_support::app(&hub).route(
        "/count",
        axum::routing::get(move || {
            let counter = Arc::clone(&counter);
            async move { (counter.fetch_add(1, Ordering::SeqCst) + 1).to_string() }
        }),
    );
    let server = start_with(ServeConfig::default(), hub, app).await;
    // Two requests on one keep-alive connection: the first is read by the event-stream path,
    // answered by the service, found not to be a stream and handed to hyper with its
    // response; the second is hyper's alone.
    let (mut conn, _) = connect(&Proto::Http1, server.addr).await;
    let (status, first) = text(conn.send(get("/count")).await).await;
    assert_eq!((status.as_u16(), first.as_str()), (200, "1"));
    let (status, second) = text(conn.send(get("/count")).await).await;
    assert_eq!((status.as_u16(), second.as_str()), (200, "2"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_answer_to_a_subscribe_keeps_the_connection_for_the_next_request() {
    let server = start(ServeConfig::default()).await;
    let (mut conn, _) = connect(&Proto::Http1, server.addr).await;
    // No topic: 400 from the service, written by hyper.
    let (status, _) = text(conn.send(get("/events")).await).await;
    assert_eq!(status.as_u16(), 400);
    let response = conn.send(get("/events?topic=t")).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, ":\n\n").await;
    publish(&server.hub, "after the error");
    read_until(&mut body, &mut seen, "data: after the error\n\n").await;
}

#[tokio::test]
async fn a_malformed_request_line_gets_hyper_s_400() {
    let server = start(ServeConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/9.9\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_to_close(&mut stream, &mut seen).await;
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn shutdown_sends_retry_and_the_last_chunk_then_closes() {
    let config = ServeConfig::default().shutdown_retry(Duration::from_millis(1234));
    let mut server = start(config).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n").await;
    server.stop();
    read_to_close(&mut stream, &mut seen).await;
    let (_, body, ended) = dechunk(&seen);
    assert!(ended, "the last chunk was sent: {:?}", String::from_utf8_lossy(&seen));
    assert!(String::from_utf8_lossy(&body).ends_with("retry:1234\n\n"));
    let report = tokio::time::timeout(PATIENCE, &mut server.serving)
        .await
        .expect("serve returned")
        .expect("serve task");
    assert_eq!(report.forced(), 0);
}

#[tokio::test]
async fn a_connection_waiting_for_its_first_head_closes_at_shutdown() {
    let config = ServeConfig::default().shutdown_timeout(Duration::from_secs(30));
    let mut server = start(config).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\n").await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop();
    let mut seen = Vec::new();
    read_to_close(&mut stream, &mut seen).await;
    let report = tokio::time::timeout(PATIENCE, &mut server.serving)
        .await
        .expect("serve returned well before the 30 s bound")
        .expect("serve task");
    assert_eq!(report.forced(), 0);
}

#[tokio::test]
async fn with_the_direct_path_off_streams_are_still_served_by_hyper() {
    let server = start(ServeConfig::default().direct_event_streams(false)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n").await;
    publish(&server.hub, "via hyper");
    read_until_bytes(&mut stream, &mut seen, b"data: via hyper\n\n").await;
    let (head, body, _) = dechunk(&seen);
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"));
    assert!(String::from_utf8_lossy(&body).contains("data: via hyper\n\n"));
}

#[tokio::test]
async fn a_write_delay_gathers_events_into_one_chunk() {
    let hub = Hub::new(HubConfig::default().shards(1).write_delay(Duration::from_millis(200)));
    let server = start_with(ServeConfig::default(), hub.clone(), serve_support::app(&hub)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut seen = Vec::new();
    read_until_bytes(&mut stream, &mut seen, b":\n\n\r\n").await;
    let before = seen.len();
    let published = std::time::Instant::now();
    for n in 0..5 {
        publish(&hub, &format!("event {n}"));
    }
    read_until_bytes(&mut stream, &mut seen, b"data: event 4\n\n").await;
    assert!(published.elapsed() >= Duration::from_millis(150), "held back by the delay");
    // All five arrived as one chunk: one size line for the lot.
    let delivered = String::from_utf8_lossy(&seen[before..]).into_owned();
    assert_eq!(delivered.matches("\r\n").count(), 2, "one chunk: {delivered:?}");
    assert_eq!(delivered.matches("data: event").count(), 5);
}
