//! `EventStream` + `LastEventId`: handler-provided streams served by axum over a real socket.

use std::time::Duration;

use futures_util::stream;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tidings_codec::{Decoder, Event, EventId, Item};
use tidings_server::{EventStream, LastEventId};

async fn countdown(last: LastEventId) -> EventStream<impl futures_core::Stream<Item = Event>> {
    let start = last.as_str().and_then(|id| id.parse::<u32>().ok()).unwrap_or(5);
    EventStream::new(stream::iter((0..start).rev().map(|n| {
        Event::new(format!("t-minus {n}\nstill counting"))
            .with_id(EventId::new(n.to_string()).expect("digits are a valid id"))
    })))
    .retry(Duration::from_secs(1))
}

async fn serve() -> String {
    let app = axum::Router::new().route("/countdown", axum::routing::get(countdown));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/countdown")
}

async fn fetch(url: &str, last_event_id: Option<&str>) -> (http::HeaderMap, Vec<Item>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut request = http::Request::get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response =
        client.request(request.body(Empty::new()).expect("request")).await.expect("response");
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let mut decoder = Decoder::new();
    decoder.push(&bytes);
    let items = decoder.items().collect::<Result<Vec<_>, _>>().expect("valid stream");
    (headers, items)
}

#[tokio::test]
async fn handler_stream_is_served_as_spec_sse_and_resumes_from_last_event_id() {
    let url = serve().await;
    let (headers, items) = fetch(&url, None).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(items.first(), Some(&Item::Retry(Duration::from_secs(1))));
    let events: Vec<_> = items.into_iter().filter_map(Item::into_event).collect();
    assert_eq!(events.len(), 5);
    assert_eq!(&*events[0].data, "t-minus 4\nstill counting");
    assert_eq!(events[4].last_event_id.as_str(), "0");

    let (_, items) = fetch(&url, Some("2")).await;
    let ids: Vec<String> = items
        .into_iter()
        .filter_map(Item::into_event)
        .map(|e| e.last_event_id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["1", "0"], "resumed after the client's last id");
}

#[tokio::test(start_paused = true)]
async fn quiet_stream_gets_keep_alive_comments() {
    let quiet = stream::pending::<Event>();
    let mut body = EventStream::new(quiet).keep_alive(Duration::from_secs(15));
    let started = tokio::time::Instant::now();
    let frame = body.frame().await.expect("keep-alive").expect("infallible");
    assert_eq!(frame.into_data().expect("data"), &b":\n\n"[..]);
    assert_eq!(started.elapsed(), Duration::from_secs(15));
}
