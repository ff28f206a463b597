//! Hub subscriptions, per-topic and per-type handlers, gap notices, base64 data and
//! cancellation, against a scripted server that speaks like a tidings hub.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{PATIENCE, ScriptServer, next_event, next_item};
use tidings_client::{
    Backoff, CancellationToken, ClientItem, DataEncoding, EventSource, GapReason, Handlers, Jitter,
};

/// A tidings hub's stream head with base64 data announced.
const HUB_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTidings-Data-Encoding: base64\r\nConnection: close\r\n\r\n";

fn fast(builder: tidings_client::EventSourceBuilder) -> tidings_client::EventSourceBuilder {
    builder
        .retry(Duration::from_millis(10))
        .backoff(Backoff::default().jitter(Jitter::None))
        .native_roots(false)
}

#[tokio::test]
async fn tidings_hub_subscription_routes_events_by_topic_and_type() {
    let mut server = ScriptServer::start().await;
    let base = server.url("/hub");
    let source =
        fast(EventSource::tidings_hub(&base, ["news/*", "alerts"])).build().expect("client");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = |tag: &'static str| {
        let seen = seen.clone();
        move |event: &tidings_client::Event| {
            seen.lock().expect("lock").push(format!("{tag}:{}", event.data()))
        }
    };
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let gap_log = gaps.clone();
    let opens = Arc::new(Mutex::new(0));
    let open_log = opens.clone();
    let handlers = Handlers::new()
        .on_topic("news/sport", log("sport"))
        .on_topic("all", log("all"))
        .on("update", log("update"))
        .on_message(log("message"))
        .on_gap(move |gap| gap_log.lock().expect("lock").push(gap.clone()))
        .on_open(move |_| *open_log.lock().expect("lock") += 1);
    let run = tokio::spawn(source.run(handlers));
    let mut conn = server.accept().await;
    assert_eq!(conn.request.target, "/hub/events?topic=news%2F*&topic=alerts");
    conn.open_stream().await;
    conn.send(concat!(
        "event:tidings-gap\ndata: {\"missed\":null,\"reason\":\"unknown-id\"}\n\n",
        "id:1\ntopic:news/sport\ntopic:all\nevent:update\ndata: kick-off\n\n",
        "id:2\ntopic:news/weather\ndata: rain\n\n",
    ))
    .await;
    // The reconnection gets 204, which stops `run` cleanly.
    conn.close().await;
    let mut last = server.accept().await;
    assert_eq!(last.request.header("last-event-id"), Some("2"));
    last.send("HTTP/1.1 204 No Content\r\n\r\n").await;
    tokio::time::timeout(PATIENCE, run).await.expect("run ended").expect("task").expect("no error");
    assert_eq!(
        *seen.lock().expect("lock"),
        ["update:kick-off", "sport:kick-off", "all:kick-off", "message:rain"]
    );
    let gaps = gaps.lock().expect("lock");
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].reason, GapReason::UnknownId);
    assert_eq!(gaps[0].missed, None);
    assert_eq!(*opens.lock().expect("lock"), 1);
}

#[tokio::test]
async fn mercure_hub_subscription_url() {
    let mut server = ScriptServer::start().await;
    let source =
        fast(EventSource::mercure_hub(server.url("/"), ["https://example.com/books/{id}"]))
            .bearer_token("jwt")
            .build()
            .expect("client");
    let driver = tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut source = source;
        while source.next().await.is_some() {}
    });
    let conn = server.accept().await;
    assert_eq!(
        conn.request.target,
        "/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D"
    );
    assert_eq!(conn.request.header("authorization"), Some("Bearer jwt"));
    driver.abort();
}

#[tokio::test]
async fn base64_data_is_decoded_and_gap_events_are_not() {
    let mut server = ScriptServer::start().await;
    let mut source = fast(EventSource::tidings_hub(server.url(""), ["t"]))
        .data_encoding(DataEncoding::FromResponseHeader)
        .build()
        .expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send(HUB_HEAD).await;
        // "line 1\nline 2", then a gap notice in clear.
        conn.send("id:1\ntopic:t\ndata: bGluZSAxCmxpbmUgMg==\n\nevent:tidings-gap\ndata: {\"reason\":\"overflow\",\"missed\":3}\n\n")
            .await;
        conn
    });
    let event = next_event(&mut source).await;
    assert_eq!(event.data(), "line 1\nline 2");
    assert_eq!(event.topics(), ["t"]);
    let Some(Ok(ClientItem::Gap(gap))) = next_item(&mut source).await else { panic!("no gap") };
    assert_eq!((gap.reason, gap.missed), (GapReason::Overflow, Some(3)));
    drop(script.await.expect("script"));
}

#[tokio::test]
async fn cancellation_token_ends_the_stream_and_closes_the_connection() {
    let mut server = ScriptServer::start().await;
    let token = CancellationToken::new();
    let mut source = fast(EventSource::builder(server.url("/")))
        .cancellation(token.clone())
        .build()
        .expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send("data: one\n\n").await;
        conn.wait_closed_by_client().await;
        server.expect_no_connection(Duration::from_millis(100)).await;
    });
    assert_eq!(next_event(&mut source).await.data(), "one");
    token.cancel();
    assert!(next_item(&mut source).await.is_none(), "the stream ends at once");
    script.await.expect("connection closed, no reconnection");
}

#[tokio::test]
async fn dropping_the_client_closes_the_connection() {
    let mut server = ScriptServer::start().await;
    let mut source = fast(EventSource::builder(server.url("/"))).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        conn.send("data: one\n\n").await;
        conn.wait_closed_by_client().await;
    });
    assert_eq!(next_event(&mut source).await.data(), "one");
    drop(source);
    script.await.expect("the connection closed");
}

#[tokio::test]
async fn controller_close_during_backoff_ends_the_stream() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut source = EventSource::builder(format!("http://{addr}/"))
        .retry(Duration::from_secs(60))
        .native_roots(false)
        .build()
        .expect("client");
    let Some(Ok(ClientItem::Reconnecting(r))) = next_item(&mut source).await else { panic!() };
    assert!(r.delay >= Duration::from_secs(60));
    source.controller().close();
    assert!(next_item(&mut source).await.is_none());
}
