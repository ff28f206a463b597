//! Reconnection over real sockets: after a clean end and a broken connection, with the last
//! event id rules, `retry:`, the read timeout, restarts and limits. Names follow LaunchDarkly's
//! SSE contract suite ("reconnection", "read timeout", "restart") where they correspond.

mod support;

use std::time::{Duration, Instant};

use support::{ScriptServer, client, final_error, items_until_reconnect, next_event, next_item};
use tidings_client::{ClientItem, Disconnect, ErrorKind};

#[tokio::test]
async fn sends_id_of_last_received_event() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let script = tokio::spawn(async move {
        let mut first = server.accept().await;
        let first_id = first.request.header("last-event-id").map(str::to_owned);
        first.open_stream().await;
        first.send("id: abc\ndata: Hello\n\n").await;
        // Give the client time to read the event before the reset discards unread bytes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.reset();
        (first_id, server.accept().await.request)
    });
    let event = next_event(&mut source).await;
    assert_eq!((event.id(), event.data()), ("abc", "Hello"));
    let items = items_until_reconnect(&mut source).await;
    assert!(
        matches!(&items[..], [ClientItem::Reconnecting(r)] if matches!(r.reason, Disconnect::Error(_)))
    );
    let driver = next_item_background(source);
    let (first_id, second) = script.await.expect("reconnected");
    driver.abort();
    assert_eq!(first_id, None);
    assert_eq!(second.header("last-event-id"), Some("abc"));
}

/// Keeps polling the client in the background so it reconnects.
fn next_item_background(source: tidings_client::EventSource) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut source = source;
        while source.next().await.is_some() {}
    })
}

/// Opens a stream on the first connection, sends `first`, then ends the connection (reset or
/// clean close); returns the second connection's request and the client's items in between.
async fn across_reconnect(
    builder: tidings_client::EventSourceBuilder,
    server: ScriptServer,
    first: &'static str,
    reset: bool,
) -> (support::Request, Vec<ClientItem>) {
    let mut source = builder.build().expect("client");
    let mut server = server;
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send(first).await;
        if reset {
            // Give the client time to read what was sent before the reset discards it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            conn.reset();
        } else {
            conn.close().await;
        }
        server.accept().await.request
    });
    let items = items_until_reconnect(&mut source).await;
    let driver = next_item_background(source);
    let request = script.await.expect("reconnected");
    driver.abort();
    (request, items)
}

#[tokio::test]
async fn sends_id_of_last_received_event_that_had_an_id_if_later_events_did_not() {
    let server = ScriptServer::start().await;
    let builder = client(&server.url("/"));
    let (request, items) =
        across_reconnect(builder, server, "id: abc\ndata: Hello\n\ndata: World\n\n", true).await;
    let ids: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            ClientItem::Event(event) => Some((event.data(), event.id())),
            _ => None,
        })
        .collect();
    assert_eq!(ids, [("Hello", "abc"), ("World", "abc")]);
    assert_eq!(request.header("last-event-id"), Some("abc"));
}

#[tokio::test]
async fn reconnects_after_a_clean_end_of_stream_with_last_event_id() {
    let server = ScriptServer::start().await;
    let builder = client(&server.url("/"));
    let (request, items) = across_reconnect(builder, server, "id: 1\ndata: a\n\n", false).await;
    assert!(
        matches!(items.last(), Some(ClientItem::Reconnecting(r)) if r.reason == Disconnect::Eof)
    );
    assert_eq!(request.header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn empty_id_removes_last_event_id_on_reconnect() {
    let server = ScriptServer::start().await;
    let builder = client(&server.url("/")).last_event_id("start");
    let (request, _) =
        across_reconnect(builder, server, "id: 1\ndata: a\n\nid:\ndata: b\n\n", false).await;
    assert_eq!(request.header("last-event-id"), None);
}

#[tokio::test]
async fn partial_event_cut_off_by_disconnect_is_discarded_with_its_id() {
    let server = ScriptServer::start().await;
    let builder = client(&server.url("/"));
    let (request, items) =
        across_reconnect(builder, server, "id: 1\ndata: whole\n\nid: 2\ndata: cut", false).await;
    let data: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            ClientItem::Event(event) => Some(event.data().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(data, ["whole"]);
    assert!(matches!(items.last(), Some(ClientItem::Reconnecting(r)) if r.discarded_partial));
    assert_eq!(request.header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn resends_request_body_if_any_when_reconnecting() {
    let server = ScriptServer::start().await;
    let body = r#"{"hello": "world"}"#;
    let builder = client(&server.url("/"))
        .method(http::Method::POST)
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    let (request, _) = across_reconnect(builder, server, "", true).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.body, body.as_bytes());
    assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
}

#[tokio::test]
async fn custom_headers_are_resent_when_reconnecting() {
    let server = ScriptServer::start().await;
    let builder = client(&server.url("/")).header("x-tenant", "blue");
    let (request, _) = across_reconnect(builder, server, "data: x\n\n", false).await;
    assert_eq!(request.header("x-tenant"), Some("blue"));
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.header("cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn retry_field_sets_the_reconnection_delay() {
    let mut server = ScriptServer::start().await;
    // The configured delay is far longer than the test: only `retry:` can make it reconnect.
    let mut source =
        client(&server.url("/")).retry(Duration::from_secs(30)).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send("retry: 200\ndata: a\n\n").await;
        let closed = Instant::now();
        conn.close().await;
        server.accept().await;
        closed.elapsed()
    });
    let items = items_until_reconnect(&mut source).await;
    assert_eq!(items[0], ClientItem::Retry(Duration::from_millis(200)));
    assert!(
        matches!(items.last(), Some(ClientItem::Reconnecting(r)) if r.delay == Duration::from_millis(200))
    );
    let driver = next_item_background(source);
    let waited = script.await.expect("reconnected");
    driver.abort();
    assert!(waited >= Duration::from_millis(190), "reconnected after {waited:?}");
    assert!(waited < Duration::from_secs(2), "reconnected after {waited:?}");
}

#[tokio::test]
async fn can_set_read_timeout() {
    let mut server = ScriptServer::start().await;
    let mut source =
        client(&server.url("/")).read_timeout(Duration::from_millis(200)).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send("data: Hello\n\n").await;
        // Then silence: the client must drop this connection and make a new one.
        conn.wait_closed_by_client().await;
        server.accept().await.request
    });
    assert_eq!(next_event(&mut source).await.data(), "Hello");
    let items = items_until_reconnect(&mut source).await;
    assert!(
        matches!(items.last(), Some(ClientItem::Reconnecting(r)) if r.reason == Disconnect::ReadTimeout)
    );
    let driver = next_item_background(source);
    script.await.expect("reconnected after the read timeout");
    driver.abort();
}

#[tokio::test]
async fn comments_keep_a_connection_alive_past_the_read_timeout() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/"))
        .read_timeout(Duration::from_millis(150))
        .comments(true)
        .build()
        .expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        for _ in 0..6 {
            conn.send(":\n").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.send("data: still here\n\n").await;
        (conn, server)
    });
    let mut comments = 0;
    loop {
        match next_item(&mut source).await {
            Some(Ok(ClientItem::Comment(_))) => comments += 1,
            Some(Ok(ClientItem::Event(event))) => {
                assert_eq!(event.data(), "still here");
                break;
            }
            Some(Ok(ClientItem::Open(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(comments, 6);
    drop(script.await.expect("script"));
}

#[tokio::test]
async fn read_timeout_applies_to_the_response_head() {
    let mut server = ScriptServer::start().await;
    let mut source =
        client(&server.url("/")).read_timeout(Duration::from_millis(100)).build().expect("client");
    let script = tokio::spawn(async move {
        // Accept, never answer.
        let mut silent = server.accept().await;
        silent.wait_closed_by_client().await;
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send("data: second try\n\n").await;
        conn
    });
    let items = items_until_reconnect(&mut source).await;
    assert!(
        matches!(&items[..], [ClientItem::Reconnecting(r)] if r.reason == Disconnect::ReadTimeout)
    );
    assert_eq!(next_event(&mut source).await.data(), "second try");
    drop(script.await.expect("script"));
}

#[tokio::test]
async fn caller_can_trigger_a_restart() {
    let mut server = ScriptServer::start().await;
    let mut source =
        client(&server.url("/")).retry(Duration::from_secs(30)).build().expect("client");
    let controller = source.controller();
    let script = tokio::spawn(async move {
        let mut first = server.accept().await;
        first.open_stream().await;
        first.send("id: 1\ndata: Hello\n\n").await;
        first.wait_closed_by_client().await;
        let mut second = server.accept().await;
        second.open_stream().await;
        second.send("data: Thanks\n\n").await;
        second.request
    });
    assert_eq!(next_event(&mut source).await.data(), "Hello");
    controller.restart();
    let items = items_until_reconnect(&mut source).await;
    assert!(
        matches!(&items[..], [ClientItem::Reconnecting(r)] if r.reason == Disconnect::Restart && r.delay.is_zero())
    );
    assert_eq!(next_event(&mut source).await.data(), "Thanks");
    let request = script.await.expect("script");
    assert_eq!(request.header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn connection_refused_reconnects_then_gives_up_at_max_attempts() {
    // A port with nothing listening: bind, note the port, close.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut source = client(&format!("http://{addr}/")).max_attempts(3).build().expect("client");
    let mut reconnects = Vec::new();
    let error = loop {
        match next_item(&mut source).await {
            Some(Ok(ClientItem::Reconnecting(r))) => {
                assert!(
                    matches!(&r.reason, Disconnect::Error(e) if e.kind() == &ErrorKind::Connect)
                );
                reconnects.push((r.attempt, r.delay.as_millis()));
            }
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(error)) => break error,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(reconnects, [(2, 20), (3, 40)]);
    assert!(matches!(error.kind(), ErrorKind::GaveUp { attempts: 3, .. }));
    assert!(std::error::Error::source(&error).is_some(), "the last connect error is the cause");
    assert!(next_item(&mut source).await.is_none());
}

#[tokio::test]
async fn gives_up_after_max_retry_duration() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let started = Instant::now();
    let mut source = client(&format!("http://{addr}/"))
        .max_retry_duration(Duration::from_millis(100))
        .build()
        .expect("client");
    let error = final_error(&mut source).await;
    assert!(matches!(error.kind(), ErrorKind::GaveUp { .. }));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_that_accepts_and_closes_without_events_backs_off() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let script = tokio::spawn(async move {
        for _ in 0..3 {
            let mut conn = server.accept().await;
            conn.open_stream().await;
            conn.close().await;
        }
        server
    });
    let mut delays = Vec::new();
    while delays.len() < 3 {
        if let Some(Ok(ClientItem::Reconnecting(r))) = next_item(&mut source).await {
            delays.push(r.delay.as_millis());
        }
    }
    // Not a busy loop: an empty stream is a failed attempt, and failures back off.
    assert_eq!(delays, [20, 40, 50]);
    drop(source);
    drop(script.await.expect("script"));
}
