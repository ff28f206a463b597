//! Limits of `serve::Server` over raw sockets: slow clients are cut off at the header read
//! timeout (slowloris), oversized request heads get 431, and the socket limit holds new
//! connections back until one closes.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::{PATIENCE, Proto, connect, get, read_until_closed, start, text};
use tidings_server::serve::{ServeConfig, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

fn short_timeout() -> ServeConfig {
    ServeConfig::default().header_read_timeout(HEADER_TIMEOUT)
}

fn assert_cut_at_the_timeout(started: Instant, closed: Instant) {
    let took = closed - started;
    assert!(took >= HEADER_TIMEOUT, "cut before the timeout: {took:?}");
    assert!(took < HEADER_TIMEOUT + Duration::from_secs(2), "cut long after the timeout: {took:?}");
}

#[tokio::test]
async fn slowloris_partial_header_is_cut_off_at_the_header_read_timeout() {
    let server = start(short_timeout()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    stream.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
    let (received, closed) = read_until_closed(&mut stream).await;
    assert_cut_at_the_timeout(started, closed);
    assert!(!received.starts_with(b"HTTP/1.1 200"), "no response to a head that never ended");
}

#[tokio::test]
async fn trickling_a_header_byte_by_byte_does_not_extend_the_timeout() {
    let server = start(short_timeout()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let (read, mut write) = stream.split();
    let trickle = async {
        // One byte every 50 ms: forever, from the server's point of view.
        for _ in 0..100 {
            if write.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut read = read;
    let closed = async {
        let mut buf = [0u8; 1024];
        while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
        Instant::now()
    };
    let closed = tokio::select! {
        closed = closed => closed,
        () = trickle => panic!("still open after 100 trickled bytes"),
    };
    assert_cut_at_the_timeout(started, closed);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_read_timeout() {
    let server = start(short_timeout()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let (received, closed) = read_until_closed(&mut stream).await;
    assert_cut_at_the_timeout(started, closed);
    assert!(received.is_empty());
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed_at_the_header_read_timeout() {
    let server = start(short_timeout()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    // The first 16 of the preface's 24 bytes: the server cannot tell HTTP/1.1 from HTTP/2 yet.
    stream.write_all(b"PRI * HTTP/2.0\r\n").await.expect("write");
    let (_, closed) = read_until_closed(&mut stream).await;
    assert_cut_at_the_timeout(started, closed);
}

#[tokio::test]
async fn a_tls_handshake_that_never_starts_is_closed_at_the_header_read_timeout() {
    let tls = TlsConfig::dev_self_signed(["localhost"]).expect("certificate");
    let server = start(short_timeout().tls(tls)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream).await;
    assert_cut_at_the_timeout(started, closed);
}

#[tokio::test]
async fn a_long_stream_is_not_cut_by_the_header_read_timeout() {
    let server = start(short_timeout()).await;
    for proto in [Proto::Http1, Proto::H2c] {
        let (mut conn, _) = connect(&proto, server.addr).await;
        let mut body = conn.send(get("/events?topic=t")).await.into_body();
        let mut seen = String::new();
        serve_support::read_until(&mut body, &mut seen, ":\n\n").await;
        tokio::time::sleep(HEADER_TIMEOUT * 2).await;
        let (mut publisher, _) = connect(&proto, server.addr).await;
        assert_eq!(publisher.send(serve_support::publish("t", "still here")).await.status(), 200);
        serve_support::read_until(&mut body, &mut seen, "data: still here\n\n").await;
    }
}

#[tokio::test]
async fn an_oversized_request_head_is_answered_431() {
    let limit = 16 * 1024;
    let server = start(ServeConfig::default().max_header_size(limit)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let big = "a".repeat(limit + 1024);
    let request = format!("GET /peer HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (received, _) = read_until_closed(&mut stream).await;
    let head = String::from_utf8_lossy(&received);
    assert!(head.starts_with("HTTP/1.1 431"), "{head:?}");
}

#[tokio::test]
async fn a_request_head_under_the_limit_is_served() {
    let limit = 16 * 1024;
    let server = start(ServeConfig::default().max_header_size(limit)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let big = "a".repeat(limit - 1024);
    let request =
        format!("GET /peer HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (received, _) = read_until_closed(&mut stream).await;
    let head = String::from_utf8_lossy(&received);
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
}

#[tokio::test]
async fn an_oversized_http2_header_list_is_answered_431() {
    let limit = 16 * 1024;
    let server = start(ServeConfig::default().max_header_size(limit)).await;
    let (mut conn, _) = connect(&Proto::H2c, server.addr).await;
    let mut request = get("/peer");
    let big = http::HeaderValue::from_str(&"a".repeat(limit + 1024)).expect("value");
    request.headers_mut().insert("x-big", big);
    assert_eq!(conn.send(request).await.status(), 431);
    // The connection stays usable for requests within the limit.
    assert_eq!(conn.send(get("/peer")).await.status(), 200);
}

#[tokio::test]
async fn at_the_socket_limit_new_connections_wait_until_one_closes() {
    let server = start(ServeConfig::default().max_sockets(1)).await;
    let (mut first, _) = connect(&Proto::Http1, server.addr).await;
    assert_eq!(first.send(get("/peer")).await.status(), 200);

    // The kernel completes the TCP handshake, but the server does not take the connection.
    let (mut second, _) = connect(&Proto::Http1, server.addr).await;
    let waiting = tokio::spawn(async move { text(second.send(get("/peer")).await).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the socket limit");

    drop(first);
    let (status, _) = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("served once the first connection closed")
        .expect("task");
    assert_eq!(status, 200);
}
