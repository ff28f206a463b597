//! The hub's HTTP API end to end over real sockets, each test over HTTP/1.1 and h2c: publish →
//! subscribe across the native and Mercure endpoints, resume, gaps, private and per-user
//! delivery, and the native conveniences (topic field, base64 data, replay, topic set).

mod api_support;

use api_support::{
    MERCURE, PROTOS, Proto, Sse, client, enc, full, publish_form, publish_json, request, send,
    serve, serve_default,
};
use base64::Engine as _;
use http::{StatusCode, Version};
use tidings_broker::Selector;
use tidings_server::HubConfig;
use tidings_server::api::ApiConfig;

#[tokio::test]
async fn each_client_speaks_the_protocol_it_asked_for() {
    let server = serve_default().await;
    for (proto, version) in [(Proto::Http1, Version::HTTP_11), (Proto::H2c, Version::HTTP_2)] {
        let response = request(
            &client(proto),
            "GET",
            &format!("{}/events?topic=t", server.base),
            &[],
            full(""),
        )
        .await;
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn every_publish_endpoint_reaches_every_subscribe_endpoint() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let base = &server.base;
        let mut by_query = Sse::open(&client, &format!("{base}/events?topic=pets/cats"), &[]).await;
        let mut by_path = Sse::open(&client, &format!("{base}/events/pets"), &[]).await;
        let mut mercure =
            Sse::open(&client, &format!("{base}{MERCURE}?topic={}", enc("pets/{kind}")), &[]).await;
        let (status, body) =
            publish_json(&client, base, r#"{"topic": "pets/cats", "data": "native"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, _) =
            publish_form(&client, base, &[("topic", "pets/cats"), ("data", "mercure")]).await;
        assert_eq!(status, StatusCode::OK);
        for sub in [&mut by_query, &mut by_path, &mut mercure] {
            sub.until("data: mercure\n\n").await;
            assert_eq!(sub.messages(), ["native", "mercure"], "{proto:?}");
        }
    }
}

/// A client that drops its connection and comes back with the id of the last event it saw gets
/// exactly what it missed: nothing lost, nothing twice.
#[tokio::test]
async fn resume_after_reconnect_loses_nothing_and_repeats_nothing() {
    for proto in PROTOS {
        for path in ["/events?topic=t", "/.well-known/mercure?topic=t"] {
            let server = serve_default().await;
            let client = client(proto);
            let url = format!("{}{path}", server.base);
            let mut first = Sse::open(&client, &url, &[]).await;
            for n in 1..=2 {
                publish_json(&client, &server.base, &format!(r#"{{"topic": "t", "data": "{n}"}}"#))
                    .await;
            }
            first.until("data: 2\n\n").await;
            let last = first.events().pop().expect("event").last_event_id;
            drop(first);
            for n in 3..=4 {
                publish_json(&client, &server.base, &format!(r#"{{"topic": "t", "data": "{n}"}}"#))
                    .await;
            }
            let mut again = Sse::open(&client, &url, &[("last-event-id", last.as_str())]).await;
            assert_eq!(again.headers["last-event-id"], last.as_str());
            publish_json(&client, &server.base, r#"{"topic": "t", "data": "5"}"#).await;
            again.until("data: 5\n\n").await;
            assert_eq!(again.messages(), ["3", "4", "5"], "{proto:?} {path}");
        }
    }
}

#[tokio::test]
async fn unknown_last_event_id_gets_a_gap_event_with_json_data() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let url = format!("{}/events?topic=t", server.base);
        let mut sub = Sse::open(&client, &url, &[("last-event-id", "from-another-hub")]).await;
        assert_eq!(sub.headers["last-event-id"], "earliest");
        publish_json(&client, &server.base, r#"{"topic": "t", "data": "live"}"#).await;
        sub.until("data: live\n\n").await;
        let events = sub.events();
        assert_eq!(events[0].event_type(), "tidings-gap", "{proto:?}");
        assert_eq!(events[0].last_event_id.as_str(), "", "the gap event carries no id");
        let gap: serde_json::Value = serde_json::from_str(&events[0].data).expect("JSON");
        assert_eq!(gap, serde_json::json!({"reason": "unknown-id", "missed": null}));
        assert_eq!(sub.messages(), ["live"]);
    }
}

#[tokio::test]
async fn private_events_are_invisible_without_rights() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let url = format!("{}/events?topic=orders/*", server.base);
        let mut granted = Sse::open(&client, &url, &[("x-test-subscribe", "orders/1")]).await;
        let mut other = Sse::open(&client, &url, &[("x-test-subscribe", "orders/2")]).await;
        let mut anonymous = Sse::open(&client, &url, &[]).await;
        let json = r#"{"topic": "orders/1", "data": "secret", "private": true}"#;
        assert_eq!(publish_json(&client, &server.base, json).await.0, StatusCode::OK);
        publish_json(&client, &server.base, r#"{"topic": "orders/3", "data": "public"}"#).await;
        for sub in [&mut granted, &mut other, &mut anonymous] {
            sub.until("data: public\n\n").await;
        }
        assert_eq!(granted.messages(), ["secret", "public"], "{proto:?}");
        assert_eq!(other.messages(), ["public"], "{proto:?}");
        assert_eq!(anonymous.messages(), ["public"], "{proto:?}");
    }
}

#[tokio::test]
async fn per_user_delivery_reaches_every_session_of_those_users_on_any_endpoint() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let native = format!("{}/events?topic=inbox", server.base);
        let mercure = format!("{}{MERCURE}?topic=inbox", server.base);
        let mut ann_native = Sse::open(&client, &native, &[("x-test-user", "ann")]).await;
        let mut ann_mercure = Sse::open(&client, &mercure, &[("x-test-user", "ann")]).await;
        let mut bob = Sse::open(&client, &native, &[("x-test-user", "bob")]).await;
        let mut anonymous = Sse::open(&client, &native, &[]).await;
        let json = r#"{"uids": ["ann"], "events": [{"data": "for ann"}, {"data": "again"}]}"#;
        let (status, body) = publish_json(&client, &server.base, json).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        publish_json(&client, &server.base, r#"{"topic": "inbox", "data": "for all"}"#).await;
        for sub in [&mut ann_native, &mut ann_mercure] {
            sub.until("data: for all\n\n").await;
            assert_eq!(sub.messages(), ["for ann", "again", "for all"], "{proto:?}");
        }
        for sub in [&mut bob, &mut anonymous] {
            sub.until("data: for all\n\n").await;
            assert_eq!(sub.messages(), ["for all"], "{proto:?}");
        }
    }
}

/// With the topic field on, each event names its topics in `topic:` lines, which a decoder
/// keeping unknown fields returns, so a client subscribed to a pattern can route by topic.
#[tokio::test]
async fn topic_field_names_each_events_topics() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().topic_field(true)).await;
        let client = client(proto);
        let mut sub =
            Sse::open(&client, &format!("{}/events?topic=news/*", server.base), &[]).await;
        publish_json(&client, &server.base, r#"{"topics": ["news/sport", "all"], "data": "a"}"#)
            .await;
        publish_form(&client, &server.base, &[("topic", "news/tech"), ("data", "b")]).await;
        sub.until("data: b\n\n").await;
        let routed: Vec<(Vec<String>, String)> = sub
            .events()
            .into_iter()
            .map(|e| {
                let topics = e
                    .unknown_fields
                    .into_iter()
                    .filter(|(name, _)| name == "topic")
                    .map(|(_, value)| value)
                    .collect();
                (topics, e.data.into())
            })
            .collect();
        assert_eq!(
            routed,
            [
                (vec!["news/sport".to_owned(), "all".to_owned()], "a".to_owned()),
                (vec!["news/tech".to_owned()], "b".to_owned()),
            ],
            "{proto:?}"
        );
    }
}

#[tokio::test]
async fn topic_field_is_off_by_default() {
    let server = serve_default().await;
    let client = client(Proto::Http1);
    let mut sub = Sse::open(&client, &format!("{}/events?topic=t", server.base), &[]).await;
    publish_json(&client, &server.base, r#"{"topic": "t", "data": "x"}"#).await;
    sub.until("data: x\n\n").await;
    assert!(!sub.text.contains("topic:"), "{:?}", sub.text);
}

/// With base64 data on, streams say so in a header and every event's data is one base64 line
/// that decodes to what was published; gap notices stay plain JSON.
#[tokio::test]
async fn base64_data_is_announced_and_decodes_to_the_published_data() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().base64_data(true)).await;
        let client = client(proto);
        let url = format!("{}/events?topic=t", server.base);
        let mut sub = Sse::open(&client, &url, &[("last-event-id", "unknown")]).await;
        assert_eq!(sub.headers["tidings-data-encoding"], "base64");
        let original = "line 1\r\nline 2\n\u{0}é";
        let json = serde_json::json!({"topic": "t", "data": original}).to_string();
        assert_eq!(publish_json(&client, &server.base, &json).await.0, StatusCode::OK);
        let encoded = base64::engine::general_purpose::STANDARD.encode(original);
        sub.until(&format!("data: {encoded}\n\n")).await;
        let events = sub.events();
        assert_eq!(events[0].event_type(), "tidings-gap");
        assert!(events[0].data.starts_with('{'), "gap notices are not encoded");
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(&events[1].data).expect("base64 data");
        assert_eq!(String::from_utf8(decoded).expect("UTF-8"), original, "{proto:?}");
        assert_eq!(sub.text.matches("data:").count(), 2, "one data line per event");
    }
}

#[tokio::test]
async fn replay_options_start_new_subscribers_in_history() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        for n in 1..=4 {
            publish_json(&client, &server.base, &format!(r#"{{"topic": "t", "data": "{n}"}}"#))
                .await;
        }
        let later = server.hub.now().as_millis() + 60_000;
        let cases = [
            ("replay=last:2".to_owned(), vec!["3", "4"]),
            ("replay=all".to_owned(), vec!["1", "2", "3", "4"]),
            (format!("replay=since:{later}"), vec![]),
        ];
        let mut subs = Vec::new();
        for (query, _) in &cases {
            let url = format!("{}/events?topic=t&{query}", server.base);
            subs.push(Sse::open(&client, &url, &[]).await);
        }
        // A client reconnecting with the same URL resumes rather than replaying again.
        let url = format!("{}/events?topic=t&replay=all", server.base);
        let mut first = Sse::open(&client, &url, &[]).await;
        first.until("data: 4\n\n").await;
        let third_id = first.events()[2].last_event_id.clone();
        let mut resumed = Sse::open(&client, &url, &[("last-event-id", third_id.as_str())]).await;
        publish_json(&client, &server.base, r#"{"topic": "t", "data": "live"}"#).await;
        for (mut sub, (query, replayed)) in subs.into_iter().zip(cases) {
            sub.until("data: live\n\n").await;
            let mut expected = replayed;
            expected.push("live");
            assert_eq!(sub.messages(), expected, "{proto:?} {query}");
        }
        resumed.until("data: live\n\n").await;
        assert_eq!(resumed.messages(), ["4", "live"], "{proto:?}");
        let url = format!("{}/events?topic=t&replay=last:x", server.base);
        let (status, _, body) = send(&client, "GET", &url, &[], full("")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("invalid_replay"), "{body}");
    }
}

#[tokio::test]
async fn replay_since_a_time_replays_events_from_then() {
    let server = serve_default().await;
    let client = client(Proto::Http1);
    publish_json(&client, &server.base, r#"{"topic": "t", "data": "old"}"#).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let since = server.hub.now().as_millis();
    publish_json(&client, &server.base, r#"{"topic": "t", "data": "new"}"#).await;
    let url = format!("{}/events?topic=t&replay=since:{since}", server.base);
    let mut sub = Sse::open(&client, &url, &[]).await;
    sub.until("data: new\n\n").await;
    assert_eq!(sub.messages(), ["new"]);
}

#[tokio::test]
async fn configured_topic_set_refuses_publishing_and_subscribing_outside_it() {
    for proto in PROTOS {
        let allowed = [Selector::parse("news/*").expect("selector")];
        let server =
            serve(HubConfig::default(), ApiConfig::default().allowed_topics(allowed)).await;
        let client = client(proto);
        let base = &server.base;
        let mut inside = Sse::open(&client, &format!("{base}/events?topic=news/*"), &[]).await;
        let _exact = Sse::open(&client, &format!("{base}/events?topic=news/sport"), &[]).await;
        for url in [
            format!("{base}/events?topic=weather"),
            format!("{base}/events?topic=*"),
            format!("{base}{MERCURE}?topic=news/**"),
        ] {
            let (status, _, body) = send(&client, "GET", &url, &[], full("")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{url}: {body}");
            assert!(body.contains("topic_not_allowed"), "{body}");
        }
        let (status, body) =
            publish_json(&client, base, r#"{"topics": ["news/a", "weather"], "data": "x"}"#).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("topic_not_allowed"), "{body}");
        let (status, _, _) = publish_form(&client, base, &[("topic", "weather")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        publish_json(&client, base, r#"{"topic": "news/a", "data": "ok"}"#).await;
        inside.until("data: ok\n\n").await;
        assert_eq!(inside.messages(), ["ok"], "{proto:?}");
    }
}
