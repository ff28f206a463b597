//! Graceful shutdown of `serve::Server`: open streams get `retry:` and end, new connections
//! are refused, and the serve future returns within the configured bound.

mod serve_support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serve_support::{PATIENCE, Proto, connect, get, read_to_end, read_until, start, start_with};
use tidings_server::serve::ServeConfig;
use tidings_server::{Hub, HubConfig};

/// Waits until the server has begun its shutdown (the hub is told right after the listener
/// is closed).
async fn wait_for_shutdown_start(hub: &Hub) {
    tokio::time::timeout(PATIENCE, async {
        while !hub.is_shutting_down() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("shutdown started");
}

#[tokio::test]
async fn open_streams_get_retry_and_end_new_connections_are_refused_and_serve_returns() {
    let config = ServeConfig::default()
        .shutdown_retry(Duration::from_millis(1500))
        .shutdown_timeout(Duration::from_secs(30));
    let mut server = start(config).await;
    let mut streams = Vec::new();
    for proto in [Proto::Http1, Proto::H2c] {
        let (mut conn, _) = connect(&proto, server.addr).await;
        let response = conn.send(get("/events?topic=t")).await;
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut seen = String::new();
        // The opening comment: the stream is established before the shutdown.
        read_until(&mut body, &mut seen, ":\n\n").await;
        streams.push((body, seen));
    }
    assert_eq!(server.hub.connections(), 2);

    let started = Instant::now();
    server.stop();
    for (body, seen) in &mut streams {
        read_to_end(body, seen).await;
        assert!(seen.ends_with("retry:1500\n\n"), "{seen:?}");
    }
    let report = tokio::time::timeout(PATIENCE, &mut server.serving)
        .await
        .expect("serve returned well before the 30 s bound: nothing was left to wait for")
        .expect("serve task");
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(report.forced(), 0);
    assert_eq!(report.accepted(), 2);
    assert_eq!(server.hub.connections(), 0);
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn a_response_that_never_ends_is_cut_at_the_shutdown_timeout() {
    let bound = Duration::from_millis(400);
    let hub = Hub::new(HubConfig::default().shards(1));
    // A body that is never ready: a response the hub knows nothing about.
    let stuck = axum::routing::get(|| async {
        let never = futures_util::stream::pending::<Result<http_body::Frame<Bytes>, Infallible>>();
        axum::body::Body::new(http_body_util::StreamBody::new(never))
    });
    let app = serve_support::app(&hub).route("/stuck", stuck);
    let mut server = start_with(ServeConfig::default().shutdown_timeout(bound), hub, app).await;
    let (mut conn, _) = connect(&Proto::Http1, server.addr).await;
    let response = conn.send(get("/stuck")).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();

    let started = Instant::now();
    server.stop();
    wait_for_shutdown_start(&server.hub).await;
    // Draining: the stuck response holds the server, but the listener is already closed.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err(), "refused while draining");
    assert!(!server.serving.is_finished());

    let report = tokio::time::timeout(PATIENCE, &mut server.serving)
        .await
        .expect("serve returned")
        .expect("serve task");
    let took = started.elapsed();
    assert!(took >= bound, "waited for the bound: {took:?}");
    assert!(took < bound + Duration::from_secs(2), "returned soon after the bound: {took:?}");
    assert_eq!(report.forced(), 1);
    // The client sees its connection end (cut, not a clean end of body).
    let end = tokio::time::timeout(PATIENCE, http_body_util::BodyExt::frame(&mut body)).await;
    assert!(matches!(end.expect("ended"), None | Some(Err(_))));
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_delay_the_shutdown() {
    let mut server = start(ServeConfig::default().shutdown_timeout(Duration::from_secs(30))).await;
    let (mut h1, _) = connect(&Proto::Http1, server.addr).await;
    let (mut h2, _) = connect(&Proto::H2c, server.addr).await;
    for conn in [&mut h1, &mut h2] {
        assert_eq!(conn.send(get("/peer")).await.status(), 200);
    }
    server.stop();
    let report = tokio::time::timeout(PATIENCE, &mut server.serving)
        .await
        .expect("idle connections closed at once")
        .expect("serve task");
    assert_eq!(report.forced(), 0);
}
