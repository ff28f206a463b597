//! The native HTTP API end to end over real sockets on 127.0.0.1.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tidings_server::api::{ApiConfig, router};
use tidings_server::{AuthError, Authenticator, Grant, Hub, HubConfig, Identity};

/// Test credentials: `x-test-user: name` identifies a user; `x-test-publisher` may publish.
struct TestAuth;

impl Authenticator for TestAuth {
    fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
        let mut identity = None::<Identity>;
        if let Some(user) = head.headers.get("x-test-user").and_then(|v| v.to_str().ok()) {
            identity = Some(Identity::default().with_user(user.into()));
        }
        if head.headers.contains_key("x-test-publisher") {
            identity = Some(identity.unwrap_or_default().with_publish(Grant::All));
        }
        Ok(identity)
    }
}

async fn start_hub() -> (String, Hub) {
    let hub = Hub::new(HubConfig::default().shards(2));
    let app = router(hub.clone(), ApiConfig::default().authenticator(TestAuth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hub)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(client: &HttpClient, url: &str, headers: &[(&str, &str)]) -> http::Response<Incoming> {
    let mut request = http::Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client.request(request.body(Full::default()).expect("request")).await.expect("response")
}

async fn publish(client: &HttpClient, base: &str, json: &str) -> (http::StatusCode, String) {
    let request = http::Request::post(format!("{base}/publish"))
        .header("content-type", "application/json")
        .header("x-test-publisher", "1")
        .body(Full::new(bytes::Bytes::from(json.to_owned())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Reads the SSE body until `needle` has arrived (or fails after 5 s).
async fn read_until(body: &mut Incoming, seen: &mut String, needle: &str) {
    tokio::time::timeout(Duration::from_secs(5), async {
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

#[tokio::test]
async fn subscribe_by_query_receives_published_event_with_sse_headers() {
    let (base, _hub) = start_hub().await;
    let client = client();
    let response = get(&client, &format!("{base}/events?topic=news"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let mut body = response.into_body();
    let (status, answer) =
        publish(&client, &base, r#"{"topic": "news", "data": "line 1\nline 2", "type": "note"}"#)
            .await;
    assert_eq!(status, 200, "{answer}");
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: line 2\n\n").await;
    assert!(seen.contains("event:note\n"), "{seen:?}");
    assert!(seen.contains("data: line 1\ndata: line 2\n\n"), "{seen:?}");
}

#[tokio::test]
async fn path_subscription_gets_the_subtree_but_not_a_sibling_prefix() {
    let (base, _hub) = start_hub().await;
    let client = client();
    let mut body = get(&client, &format!("{base}/events/pets"), &[]).await.into_body();
    for (topic, data) in [("petsmart", "wrong"), ("pets", "root"), ("pets/cats", "cat")] {
        let json = format!(r#"{{"topic": "{topic}", "data": "{data}"}}"#);
        assert_eq!(publish(&client, &base, &json).await.0, 200);
    }
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: cat\n\n").await;
    assert!(seen.contains("data: root\n\n"));
    assert!(!seen.contains("wrong"), "petsmart leaked into the pets subtree: {seen:?}");
}

#[tokio::test]
async fn resume_with_last_event_id_replays_what_was_missed() {
    let (base, _hub) = start_hub().await;
    let client = client();
    let (_, first) = publish(&client, &base, r#"{"topic": "t", "data": "one"}"#).await;
    let first_id: serde_json::Value = serde_json::from_str(&first).expect("json");
    let first_id = first_id["ids"][0].as_str().expect("id").to_owned();
    publish(&client, &base, r#"{"topic": "t", "data": "two"}"#).await;
    let mut body = get(&client, &format!("{base}/events?topic=t"), &[("last-event-id", &first_id)])
        .await
        .into_body();
    publish(&client, &base, r#"{"topic": "t", "data": "three"}"#).await;
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: three\n\n").await;
    assert!(!seen.contains("data: one"), "replayed the event it already had: {seen:?}");
    let two = seen.find("data: two").expect("missed event replayed");
    assert!(two < seen.find("data: three").expect("live"), "replay comes before live");
}

#[tokio::test]
async fn per_user_delivery_reaches_every_session_of_that_user_only() {
    let (base, _hub) = start_hub().await;
    let client = client();
    let url = format!("{base}/events?topic=inbox");
    let mut ann_1 = get(&client, &url, &[("x-test-user", "ann")]).await.into_body();
    let mut ann_2 = get(&client, &url, &[("x-test-user", "ann")]).await.into_body();
    let mut bob = get(&client, &url, &[("x-test-user", "bob")]).await.into_body();
    let (status, answer) =
        publish(&client, &base, r#"{"uids": ["ann"], "events": [{"data": "for ann"}]}"#).await;
    assert_eq!(status, 200, "{answer}");
    publish(&client, &base, r#"{"topic": "inbox", "data": "for all"}"#).await;
    for body in [&mut ann_1, &mut ann_2] {
        let mut seen = String::new();
        read_until(body, &mut seen, "data: for all\n\n").await;
        assert!(seen.contains("data: for ann\n\n"), "{seen:?}");
    }
    let mut seen = String::new();
    read_until(&mut bob, &mut seen, "data: for all\n\n").await;
    assert!(!seen.contains("for ann"), "bob got ann's event: {seen:?}");
}

#[tokio::test]
async fn bad_publish_requests_get_clear_statuses_and_lose_nothing() {
    let (base, _hub) = start_hub().await;
    let client = client();
    let mut body = get(&client, &format!("{base}/events?topic=t"), &[]).await.into_body();
    assert_eq!(publish(&client, &base, r#"{"topic": "t", "data": "kept"}"#).await.0, 200);
    let cases = [
        (r#"{"data": "no topic"}"#, 400, "missing_topic"),
        (r#"{"topic": "t", "data": 1, "type": "a\nb"}"#, 400, "invalid_type"),
        (r#"{"topic": "t""#, 400, "malformed_json"),
        (
            r#"{"events": [{"topic": "t", "id": "x"}, {"topic": "t", "id": "bad\u0000"}]}"#,
            400,
            "invalid_id",
        ),
    ];
    for (json, status, code) in cases {
        let (got, answer) = publish(&client, &base, json).await;
        assert_eq!(got.as_u16(), status, "{json} -> {answer}");
        assert!(answer.contains(code), "{json} -> {answer}");
    }
    let (dup_first, _) =
        publish(&client, &base, r#"{"topic": "t", "id": "order-1", "data": "a"}"#).await;
    assert_eq!(dup_first, 200);
    let (dup, answer) =
        publish(&client, &base, r#"{"topic": "t", "id": "order-1", "data": "b"}"#).await;
    assert_eq!(dup, 409, "{answer}");
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "id:order-1\ndata: a\n\n").await;
    assert!(seen.contains("data: kept\n\n"));
    assert!(!seen.contains("id:x"), "a batch with a bad event published part of itself: {seen:?}");
    // Subscribing without a topic, or with a bad selector, is refused too.
    assert_eq!(get(&client, &format!("{base}/events"), &[]).await.status(), 400);
    assert_eq!(get(&client, &format!("{base}/events?topic=a/**/b"), &[]).await.status(), 400);
}

#[tokio::test]
async fn dropped_connection_is_unsubscribed() {
    let (base, hub) = start_hub().await;
    let client = client();
    let response = get(&client, &format!("{base}/events?topic=t"), &[]).await;
    assert_eq!(hub.connections(), 1);
    drop(response);
    // The server notices on its next write; publishing makes it write.
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.connections() != 0 {
            publish(&client, &base, r#"{"topic": "t", "data": "x"}"#).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("connection cleaned up");
}
