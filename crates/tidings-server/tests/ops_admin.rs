//! The admin endpoints over real sockets: the status lists live connections with their
//! selectors, user, address and counts; the page and the live status stream; refusal without
//! an admin token.

mod ops_support;

use std::time::{Duration, SystemTime};

use http::StatusCode;
use ops_support::{
    PATIENCE, Stream, admin_token, full, get, publish_ok, publisher_token, send, start, start_with,
    subscriber_token, text,
};
use serde_json::{Value, json};
use tidings_broker::{Message, Selector, SubscriptionConfig, UserId};
use tidings_codec::Event;
use tidings_server::admin::AdminConfig;
use tidings_server::metrics::MetricsConfig;
use tidings_server::{AuthError, Hub, HubConfig, Identity};

async fn status(addr: std::net::SocketAddr) -> Value {
    let (status, headers, body) =
        full(send(addr, get("/admin/status", Some(&admin_token()))).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers.get("content-type").expect("content type"), "application/json");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test]
async fn status_lists_a_live_connection_with_its_selectors_user_and_events_sent() {
    let admin = AdminConfig::default().node("test-node");
    let running = start(HubConfig::default(), MetricsConfig::default(), admin).await;
    let addr = running.addr;
    let mut stream = Stream::open(
        addr,
        get("/events?topic=books/1&topic=authors/*", Some(&subscriber_token("ann"))),
    )
    .await;
    publish_ok(addr, json!({"topic": "books/1", "data": "one"})).await;
    publish_ok(addr, json!({"topic": "authors/ann", "data": "two"})).await;
    publish_ok(addr, json!({"topic": "elsewhere", "data": "not for ann"})).await;
    stream.until("data: two", 1).await;

    let status = status(addr).await;
    assert_eq!(status["node"], "test-node");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["shutting_down"], false);
    assert!(status["uptime_seconds"].as_f64().expect("uptime") >= 0.0);
    assert_eq!(status["totals"]["connections"], 1);
    assert_eq!(status["totals"]["subscriptions"], 2);
    assert_eq!(status["totals"]["published"], 3);
    assert_eq!(status["totals"]["delivered"], 2);
    assert_eq!(status["totals"]["publish_calls"], 3);
    assert_eq!(status["connections_truncated"], false);
    let connections = status["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!(connection["selectors"], json!(["books/1", "authors/*"]));
    assert_eq!(connection["user"], "ann");
    assert_eq!(connection["events_sent"], 2);
    assert_eq!(connection["queued"], 0);
    assert!(connection["age_seconds"].as_f64().expect("age") >= 0.0);
    assert!(
        connection["since"].as_u64().expect("since")
            >= status["started_at"].as_u64().expect("started")
    );
    let topics = status["topics"].as_array().expect("topics");
    assert_eq!(topics.len(), 3);
    assert!(topics.contains(&json!({"topic": "books/1", "published": 1})));

    drop(stream);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while running.hub.connections() != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the closed stream was not cleaned up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(self::status(addr).await["connections"], json!([]));
}

#[tokio::test]
async fn status_shows_client_addresses_anonymous_users_and_truncates_the_list() {
    let admin = AdminConfig::default().max_listed(2);
    let running = start(HubConfig::default().shards(2), MetricsConfig::default(), admin).await;
    let hub = &running.hub;
    let selector = |s: &str| Selector::parse(s).expect("selector");
    let first = hub
        .subscribe(SubscriptionConfig::new().selector(selector("a")).principal(UserId::new("bob")))
        .expect("subscribe");
    first.set_client_addr("2001:db8::7".parse().expect("address"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second =
        hub.subscribe(SubscriptionConfig::new().selector(selector("b"))).expect("subscribe");
    let status = status(running.addr).await;
    let connections = status["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 2);
    assert_eq!(status["connections_truncated"], false);
    // Oldest first.
    assert_eq!(connections[0]["address"], "2001:db8::7");
    assert_eq!(connections[0]["user"], "bob");
    assert_eq!(connections[0]["id"], first.id().to_string());
    let anonymous = connections[1].as_object().expect("object");
    assert!(!anonymous.contains_key("user") && !anonymous.contains_key("address"), "{anonymous:?}");

    let third =
        hub.subscribe(SubscriptionConfig::new().selector(selector("c"))).expect("subscribe");
    let status = self::status(running.addr).await;
    assert_eq!(status["connections"].as_array().expect("connections").len(), 2);
    assert_eq!(status["connections_truncated"], true);
    assert_eq!(status["totals"]["connections"], 3);
    drop((first, second, third));
}

#[tokio::test]
async fn admin_routes_refuse_callers_without_an_admin_token() {
    let running =
        start(HubConfig::default(), MetricsConfig::default(), AdminConfig::default()).await;
    let addr = running.addr;
    let non_admins = [subscriber_token("ann"), publisher_token()];
    for path in ["/admin", "/admin/status", "/admin/events"] {
        let (status, body) = text(send(addr, get(path, None)).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let error: Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(error["error"], "unauthorized");
        let (status, _) = text(send(addr, get(path, Some("not.a.token"))).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with a malformed token");
        for token in &non_admins {
            let (status, body) = text(send(addr, get(path, Some(token))).await).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
            let error: Value = serde_json::from_str(&body).expect("JSON error");
            assert_eq!(error["error"], "forbidden");
        }
    }
}

#[tokio::test]
async fn the_default_config_lets_nobody_in() {
    // No authenticator configured: nobody is identified, so nobody is an admin.
    let hub = Hub::new(HubConfig::default());
    let router = tidings_server::admin::router(hub.clone(), AdminConfig::default());
    let running = start_with(hub, router).await;
    let response = send(running.addr, get("/admin/status", Some(&admin_token()))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_page_is_self_contained_and_takes_the_token_from_query_or_cookie() {
    let running =
        start(HubConfig::default(), MetricsConfig::default(), AdminConfig::default()).await;
    let addr = running.addr;
    let token = admin_token();
    let by_query = get(&format!("/admin?authorization={token}"), None);
    let (status, headers, page) = full(send(addr, by_query).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").expect("type"), "text/html; charset=utf-8");
    assert_eq!(headers.get("referrer-policy").expect("referrer policy"), "no-referrer");
    let policy = headers.get("content-security-policy").expect("CSP").to_str().expect("text");
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    assert!(page.contains("new EventSource(url)"));
    // Nothing is loaded from elsewhere.
    for external in ["src=\"http", "href=\"http", "src=\"//", "@import", "url("] {
        assert!(!page.contains(external), "the page references {external}");
    }

    let by_cookie = http::Request::get("/admin/status")
        .header("cookie", format!("mercureAuthorization={token}"))
        .body(Default::default())
        .expect("request");
    assert_eq!(send(addr, by_cookie).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_status_stream_sends_fresh_snapshots_and_ends_on_shutdown() {
    let admin = AdminConfig::default().refresh(Duration::from_millis(50));
    let running = start(HubConfig::default(), MetricsConfig::default(), admin).await;
    let addr = running.addr;
    let token = admin_token();
    let mut stream =
        Stream::open(addr, get(&format!("/admin/events?authorization={token}"), None)).await;
    stream.until("event:status\n", 1).await;
    let first = last_status(stream.complete());
    assert_eq!(first["totals"]["published"], 0);

    running.hub.publish(Message::new(Event::new("x")).topic("t")).expect("publish");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = stream.complete().matches("event:status\n").count();
        stream.until("event:status\n", seen + 1).await;
        if last_status(stream.complete())["totals"]["published"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the publish never showed");
    }

    running.hub.shutdown(Duration::from_millis(700));
    stream.read_to_end().await;
    assert!(stream.seen.ends_with("retry:700\n\n"), "{:?}", stream.seen);
}

#[tokio::test]
async fn the_status_stream_ends_when_the_admin_credentials_expire() {
    let hub = Hub::new(HubConfig::default());
    let expiring = |_: &http::request::Parts| -> Result<Option<Identity>, AuthError> {
        let expires = SystemTime::now() + Duration::from_millis(300);
        Ok(Some(Identity::default().with_admin(true).with_expires(expires)))
    };
    let admin = AdminConfig::default().authenticator(expiring).refresh(Duration::from_secs(60));
    let running = start_with(hub.clone(), tidings_server::admin::router(hub, admin)).await;
    let started = tokio::time::Instant::now();
    let mut stream = Stream::open(running.addr, get("/admin/events", None)).await;
    stream.read_to_end().await;
    assert_eq!(stream.seen.matches("event:status\n").count(), 1, "one snapshot, then the end");
    assert!(started.elapsed() >= Duration::from_millis(250), "ended before the expiry");
}

/// The data of the last complete `status` event in `seen`.
fn last_status(seen: &str) -> Value {
    let data = seen
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("event:status\ndata: "))
        .last()
        .expect("a status event");
    serde_json::from_str(data).expect("status JSON")
}
