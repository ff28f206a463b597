//! `/metrics` and `/healthz` over real sockets: counters after real publishing and
//! subscribing, custom prefixes, bounded per-topic series, admin-only scraping, and the health
//! probe turning 503 during a graceful shutdown.

mod ops_support;

use std::time::Duration;

use http::StatusCode;
use ops_support::{
    PATIENCE, Stream, admin_token, get, publish_ok, sample, send, start, start_with,
    subscriber_token, text,
};
use serde_json::json;
use tidings_broker::{Message, OverflowPolicy, QueueLimits, Selector, SubscriptionConfig};
use tidings_codec::Event;
use tidings_server::admin::AdminConfig;
use tidings_server::metrics::MetricsConfig;
use tidings_server::{Hub, HubConfig};

async fn scrape(addr: std::net::SocketAddr) -> String {
    let response = send(addr, get("/metrics", None)).await;
    let content_type = response.headers().get("content-type").cloned();
    let (status, body) = text(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type.expect("content type"), "text/plain; version=0.0.4; charset=utf-8");
    body
}

#[tokio::test]
async fn metrics_count_real_publishing_and_subscribing() {
    let running =
        start(HubConfig::default().shards(2), MetricsConfig::default(), AdminConfig::default())
            .await;
    let addr = running.addr;
    let mut news = Stream::open(addr, get("/events?topic=news&topic=weather/*", None)).await;
    let mut sport = Stream::open(addr, get("/events?topic=sport", None)).await;
    for n in 0..3 {
        publish_ok(addr, json!({"topic": "news", "data": format!("headline {n}")})).await;
    }
    publish_ok(addr, json!({"topic": "sport", "data": "goal"})).await;
    // A batch is one publish call holding two events.
    publish_ok(
        addr,
        json!({"events": [{"topic": "weather/rain", "data": "wet"}, {"topic": "nobody", "data": "x"}]}),
    )
    .await;
    news.until("data: ", 4).await;
    sport.until("data: goal", 1).await;

    let metrics = scrape(addr).await;
    assert_eq!(sample(&metrics, "tidings_connections"), 2.0);
    assert_eq!(sample(&metrics, "tidings_subscriptions"), 3.0, "three selectors");
    assert_eq!(sample(&metrics, "tidings_subscriptions_opened_total"), 2.0);
    assert_eq!(sample(&metrics, "tidings_events_published_total"), 6.0);
    assert_eq!(sample(&metrics, "tidings_events_delivered_total"), 5.0, "4 to news, 1 to sport");
    assert_eq!(sample(&metrics, "tidings_events_replayed_total"), 0.0);
    assert_eq!(sample(&metrics, "tidings_events_dropped_total"), 0.0);
    assert_eq!(sample(&metrics, "tidings_lag_disconnects_total"), 0.0);
    assert_eq!(sample(&metrics, "tidings_history_events"), 6.0);
    assert!(sample(&metrics, "tidings_history_bytes") > 6.0 * "data: x\n\n".len() as f64);
    assert_eq!(sample(&metrics, r#"tidings_topic_events_published_total{topic="news"}"#), 3.0);
    assert_eq!(sample(&metrics, r#"tidings_topic_events_published_total{topic="nobody"}"#), 1.0);
    assert_eq!(sample(&metrics, r#"tidings_topic_events_delivered_total{topic="news"}"#), 3.0);
    assert_eq!(
        sample(&metrics, r#"tidings_topic_events_delivered_total{topic="weather/rain"}"#),
        1.0
    );
    assert_eq!(sample(&metrics, "tidings_topic_events_published_other_total"), 0.0);
    // Five publish calls: four single events and one batch.
    assert_eq!(sample(&metrics, "tidings_publish_duration_seconds_count"), 5.0);
    assert_eq!(sample(&metrics, r#"tidings_publish_duration_seconds_bucket{le="+Inf"}"#), 5.0);
    assert!(sample(&metrics, "tidings_publish_duration_seconds_sum") > 0.0);
    assert_eq!(sample(&metrics, "tidings_shutting_down"), 0.0);
    assert!(metrics.contains("# TYPE tidings_publish_duration_seconds histogram\n"));
    assert!(metrics.contains("# TYPE tidings_events_published_total counter\n"));

    drop(sport);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while running.hub.connections() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the closed stream was not cleaned up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = scrape(addr).await;
    assert_eq!(sample(&metrics, "tidings_connections"), 1.0);
    assert_eq!(sample(&metrics, "tidings_subscriptions"), 2.0);
    assert_eq!(sample(&metrics, "tidings_subscriptions_closed_total"), 1.0);
}

#[tokio::test]
async fn resumes_count_as_replayed_and_unknown_ids_as_gaps() {
    let running =
        start(HubConfig::default(), MetricsConfig::default(), AdminConfig::default()).await;
    let addr = running.addr;
    let mut ids = Vec::new();
    for n in 0..3 {
        let hub_id = running
            .hub
            .publish(Message::new(Event::new(format!("e{n}"))).topic("t"))
            .expect("publish");
        ids.push(hub_id.id().as_str().to_owned());
    }
    let mut resumed = Stream::open(
        addr,
        http::Request::get("/events?topic=t")
            .header("last-event-id", &ids[0])
            .body(Default::default())
            .expect("request"),
    )
    .await;
    resumed.until("data: e2", 1).await;
    let mut lost = Stream::open(addr, get("/events?topic=t&lastEventID=no-such-id", None)).await;
    lost.until("event:tidings-gap", 1).await;

    let metrics = scrape(addr).await;
    assert_eq!(
        sample(&metrics, "tidings_events_replayed_total"),
        2.0 + 3.0,
        "2 resumed, 3 after the gap"
    );
    assert_eq!(sample(&metrics, "tidings_gaps_total"), 1.0);
    assert_eq!(sample(&metrics, "tidings_events_delivered_total"), 0.0, "nothing live");
}

#[tokio::test]
async fn overflowing_subscribers_show_as_lag_disconnects_and_drops() {
    let limits = QueueLimits::new(2, 1024 * 1024);
    let hub =
        Hub::new(HubConfig::default().queue_limits(limits).overflow(OverflowPolicy::Disconnect));
    let router = ops_support::app(&hub, MetricsConfig::default(), AdminConfig::default());
    let running = start_with(hub.clone(), router).await;
    // A subscriber that never reads: the third event overflows its queue.
    let stalled = hub
        .subscribe(SubscriptionConfig::new().selector(Selector::parse("t").expect("selector")))
        .expect("subscribe");
    for n in 0..4 {
        hub.publish(Message::new(Event::new(format!("e{n}"))).topic("t")).expect("publish");
    }
    let metrics = scrape(running.addr).await;
    assert_eq!(sample(&metrics, "tidings_lag_disconnects_total"), 1.0);
    assert_eq!(sample(&metrics, "tidings_events_delivered_total"), 2.0);
    assert!(sample(&metrics, "tidings_events_dropped_total") >= 1.0, "{metrics}");
    drop(stalled);
}

#[tokio::test]
async fn prefix_and_topic_series_are_configurable() {
    let config = MetricsConfig::default()
        .namespace("acme")
        .expect("namespace")
        .subsystem("push")
        .expect("subsystem")
        .topic_series(2);
    let running = start(HubConfig::default(), config, AdminConfig::default()).await;
    let topics = [("a", 4), ("b", 3), ("c", 2), ("d", 1)];
    for (topic, count) in topics {
        for _ in 0..count {
            running.hub.publish(Message::new(Event::new("x")).topic(topic)).expect("publish");
        }
    }
    let metrics = scrape(running.addr).await;
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("acme_push_"), "unprefixed sample {line:?}");
    }
    assert_eq!(sample(&metrics, "acme_push_events_published_total"), 10.0);
    assert_eq!(sample(&metrics, r#"acme_push_topic_events_published_total{topic="a"}"#), 4.0);
    assert_eq!(sample(&metrics, r#"acme_push_topic_events_published_total{topic="b"}"#), 3.0);
    let series =
        metrics.lines().filter(|l| l.starts_with("acme_push_topic_events_published_total{"));
    assert_eq!(series.count(), 2, "at most two per-topic series");
    assert_eq!(sample(&metrics, "acme_push_topic_events_published_other_total"), 3.0, "c and d");
}

#[tokio::test]
async fn topics_with_quotes_and_line_breaks_are_escaped_labels() {
    let running =
        start(HubConfig::default(), MetricsConfig::default(), AdminConfig::default()).await;
    running.hub.publish(Message::new(Event::new("x")).topic("say \"hi\"\\\nbye")).expect("publish");
    let metrics = scrape(running.addr).await;
    assert_eq!(
        sample(&metrics, r#"tidings_topic_events_published_total{topic="say \"hi\"\\\nbye"}"#),
        1.0
    );
}

#[tokio::test]
async fn admin_only_metrics_refuse_everyone_else() {
    let config = MetricsConfig::default().admin_only(ops_support::authenticator());
    let running = start(HubConfig::default(), config, AdminConfig::default()).await;
    let addr = running.addr;
    assert_eq!(send(addr, get("/metrics", None)).await.status(), StatusCode::UNAUTHORIZED);
    let user = subscriber_token("ann");
    assert_eq!(send(addr, get("/metrics", Some(&user))).await.status(), StatusCode::FORBIDDEN);
    let (status, body) = text(send(addr, get("/metrics", Some(&admin_token()))).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sample(&body, "tidings_connections"), 0.0);
    // The health probe stays open.
    assert_eq!(send(addr, get("/healthz", None)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn healthz_is_ok_then_503_while_shutting_down() {
    let running =
        start(HubConfig::default(), MetricsConfig::default(), AdminConfig::default()).await;
    let addr = running.addr;
    let (status, body) = text(send(addr, get("/healthz", None)).await).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));

    let mut stream = Stream::open(addr, get("/events?topic=t", None)).await;
    stream.until(":", 1).await;
    running.hub.shutdown(Duration::from_millis(1500));
    // The stream is told when to come back and ends; the probe says the hub is going away.
    stream.read_to_end().await;
    assert!(stream.seen.ends_with("retry:1500\n\n"), "{:?}", stream.seen);
    let (status, body) = text(send(addr, get("/healthz", None)).await).await;
    assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
    let metrics = scrape(addr).await;
    assert_eq!(sample(&metrics, "tidings_shutting_down"), 1.0);
}
