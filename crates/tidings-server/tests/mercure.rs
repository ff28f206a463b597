//! Mercure compatibility end to end over real sockets, HTTP/1.1 and h2c: the recipes of the
//! protocol research notes (round trip, private updates through alternate topics,
//! `Last-Event-ID` reconciliation, subscriptions API and presence events, discovery).

mod api_support;

use api_support::{
    MERCURE, PROTOS, Proto, Sse, client, enc, full, publish_form, send, serve, serve_as_configured,
    serve_default,
};
use http::StatusCode;
use tidings_server::HubConfig;
use tidings_server::api::{ApiConfig, mercure_link};

const BOOKS: &str = "https://example.com/books/{id}";

type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);

#[tokio::test]
async fn publish_then_subscribe_round_trip_with_every_field() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let mut sub =
            Sse::open(&client, &format!("{}{MERCURE}?topic={}", server.base, enc(BOOKS)), &[])
                .await;
        assert_eq!(
            sub.headers["cache-control"],
            "private, no-cache, no-store, must-revalidate, max-age=0"
        );
        assert_eq!(sub.headers["x-accel-buffering"], "no");
        assert_eq!(sub.headers["pragma"], "no-cache");
        assert!(!sub.headers.contains_key("last-event-id"), "no id was asked for");
        let (status, headers, id) = publish_form(
            &client,
            &server.base,
            &[
                ("topic", "https://example.com/books/1"),
                ("data", "{\"title\":\"A\"}\nsecond line"),
                ("id", "book-1-v2"),
                ("type", "book-updated"),
                ("retry", "3000"),
            ],
        )
        .await;
        assert_eq!((status, id.as_str()), (StatusCode::OK, "book-1-v2"), "{proto:?}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        sub.until("data: second line\n\n").await;
        let event = sub.events().pop().expect("an event");
        assert_eq!(event.event_type(), "book-updated");
        assert_eq!(event.last_event_id.as_str(), "book-1-v2");
        assert_eq!(event.data, "{\"title\":\"A\"}\nsecond line");
        assert!(sub.text.contains("retry:3000\n"), "{:?}", sub.text);
        // Without an id the hub assigns one, answers it, and sends it as the event's id.
        let (status, _, id) =
            publish_form(&client, &server.base, &[("topic", "https://example.com/books/2")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!id.is_empty());
        sub.until(&format!("id:{id}\n")).await;
        assert_eq!(sub.events().pop().expect("event").data, "", "no data is empty data");
    }
}

#[tokio::test]
async fn private_update_reaches_only_the_subscriber_its_alternate_topic_authorizes() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let url = format!("{}{MERCURE}?topic={}", server.base, enc(BOOKS));
        let alice_claim = "https://example.com/users/alice/{?topic}";
        let mut alice = Sse::open(&client, &url, &[("x-test-subscribe", alice_claim)]).await;
        let mut anonymous = Sse::open(&client, &url, &[]).await;
        let alternate = format!(
            "https://example.com/users/alice/?topic={}",
            enc("https://example.com/books/1")
        );
        let fields = [
            ("topic", "https://example.com/books/1"),
            ("topic", alternate.as_str()),
            ("private", "on"),
            ("data", "secret"),
            ("id", "p1"),
        ];
        assert_eq!(publish_form(&client, &server.base, &fields).await.0, StatusCode::OK);
        // An empty `private` value still makes the update private.
        let fields = [("topic", "https://example.com/books/2"), ("private", ""), ("data", "other")];
        assert_eq!(publish_form(&client, &server.base, &fields).await.0, StatusCode::OK);
        let fields = [("topic", "https://example.com/books/3"), ("data", "public")];
        assert_eq!(publish_form(&client, &server.base, &fields).await.0, StatusCode::OK);
        alice.until("data: public\n\n").await;
        anonymous.until("data: public\n\n").await;
        assert_eq!(alice.messages(), ["secret", "public"], "{proto:?}");
        assert_eq!(anonymous.messages(), ["public"], "{proto:?}");
    }
}

#[tokio::test]
async fn last_event_id_reconciliation_follows_the_draft() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        for id in ["a", "b", "c"] {
            let fields = [("topic", "t"), ("id", id), ("data", id)];
            assert_eq!(publish_form(&client, &server.base, &fields).await.0, StatusCode::OK);
        }
        let url = |query: &str| format!("{}{MERCURE}?{query}", server.base);
        // (query, request headers, answered Last-Event-ID, replayed data)
        let cases: [Case<'_>; 4] = [
            ("topic=t", &[("last-event-id", "a")], "a", &["b", "c"]),
            ("topic=t&lastEventID=earliest", &[], "earliest", &["a", "b", "c"]),
            ("topic=t&lastEventID=a", &[("last-event-id", "b")], "b", &["c"]),
            ("topic=other&lastEventID=a", &[], "a", &[]),
        ];
        let mut subs = Vec::new();
        for (query, headers, answered, _) in &cases {
            let sub = Sse::open(&client, &url(query), headers).await;
            assert_eq!(sub.headers["last-event-id"], *answered, "{proto:?} {query}");
            assert_eq!(sub.headers["mercure-last-event-id"], *answered, "{proto:?} {query}");
            subs.push(sub);
        }
        let fields = [("topic", "t"), ("topic", "other"), ("data", "live")];
        publish_form(&client, &server.base, &fields).await;
        for (mut sub, (query, _, _, replayed)) in subs.into_iter().zip(cases) {
            sub.until("data: live\n\n").await;
            let mut expected: Vec<&str> = replayed.to_vec();
            expected.push("live");
            assert_eq!(sub.messages(), expected, "{proto:?} {query}");
        }
    }
}

#[tokio::test]
async fn unknown_last_event_id_answers_earliest_and_sends_a_gap_event_first() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        publish_form(&client, &server.base, &[("topic", "t"), ("data", "kept")]).await;
        let url = format!("{}{MERCURE}?topic=t&lastEventID=nope", server.base);
        let mut sub = Sse::open(&client, &url, &[]).await;
        assert_eq!(sub.headers["last-event-id"], "earliest");
        sub.until("data: kept\n\n").await;
        let events = sub.events();
        assert_eq!(events[0].event_type(), "tidings-gap", "{proto:?}: {:?}", sub.text);
        let gap: serde_json::Value = serde_json::from_str(&events[0].data).expect("JSON");
        assert_eq!(gap["reason"], "unknown-id");
        // What history still holds follows the notice; a browser's onmessage sees only that.
        assert_eq!(sub.messages(), ["kept"]);
    }
}

/// The subscriptions API, its authorization against the request URI, conditional requests,
/// and the presence events of a subscriber arriving and leaving.
#[tokio::test]
async fn subscriptions_api_and_presence_events() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().subscriptions(true)).await;
        let client = client(proto);
        let claim = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
        let watcher_url = format!("{}{MERCURE}?topic={}", server.base, enc(claim));
        let mut watcher = Sse::open(&client, &watcher_url, &[("x-test-subscribe", claim)]).await;
        let alice_headers = [("x-test-payload", r#"{"user":"alice"}"#)];
        let alice_url = format!("{}{MERCURE}?topic={}", server.base, enc(BOOKS));
        let alice = Sse::open(&client, &alice_url, &alice_headers).await;
        watcher.until("alice").await;
        let arrival = watcher
            .events()
            .into_iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).expect("JSON"))
            .find(|doc| doc["topic"] == BOOKS)
            .expect("alice's arrival");
        assert_eq!(arrival["@context"], "https://mercure.rocks/");
        assert_eq!(arrival["type"], "Subscription");
        assert_eq!(arrival["active"], true);
        assert_eq!(arrival["payload"]["user"], "alice");
        let subscriber = arrival["subscriber"].as_str().expect("subscriber").to_owned();
        let iri = arrival["id"].as_str().expect("id").to_owned();
        assert_eq!(
            iri,
            format!(
                "/.well-known/mercure/subscriptions/{}/{}",
                "https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D",
                subscriber.replace(':', "%3A")
            )
        );

        // The collection lists both subscriptions, without @context inside.
        let api = format!("{}{MERCURE}/subscriptions", server.base);
        let auth = [("x-test-subscribe", claim)];
        let (status, headers, body) = send(&client, "GET", &api, &auth, full("")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["content-type"], "application/ld+json");
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(list["type"], "Subscriptions");
        assert_eq!(list["id"], "/.well-known/mercure/subscriptions");
        let subscriptions = list["subscriptions"].as_array().expect("array");
        assert_eq!(subscriptions.len(), 2, "{body}");
        assert!(subscriptions.iter().all(|s| s.get("@context").is_none()));
        let etag = headers["etag"].clone();
        assert_eq!(
            etag.to_str().expect("ascii"),
            format!("\"{}\"", list["lastEventID"].as_str().expect("id"))
        );
        let conditional =
            [("x-test-subscribe", claim), ("if-none-match", etag.to_str().expect("ascii"))];
        let (status, _, body) = send(&client, "GET", &api, &conditional, full("")).await;
        assert_eq!((status, body.as_str()), (StatusCode::NOT_MODIFIED, ""));

        // Filtered by topic, and one subscription.
        let by_topic = format!("{}{MERCURE}/subscriptions/{}", server.base, enc(BOOKS));
        let (_, _, body) = send(&client, "GET", &by_topic, &auth, full("")).await;
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(list["subscriptions"].as_array().map(Vec::len), Some(1), "{body}");
        let (status, _, body) =
            send(&client, "GET", &format!("{}{iri}", server.base), &auth, full("")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let one: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(one["subscriber"], subscriber.as_str());
        assert_eq!(one["@context"], "https://mercure.rocks/");
        assert!(one["lastEventID"].is_string());
        let unknown = format!("{}{MERCURE}/subscriptions/{}/nobody", server.base, enc(BOOKS));
        assert_eq!(send(&client, "GET", &unknown, &auth, full("")).await.0, StatusCode::NOT_FOUND);

        // Without credentials 401; with credentials that do not cover the URI 403.
        assert_eq!(send(&client, "GET", &api, &[], full("")).await.0, StatusCode::UNAUTHORIZED);
        let narrow = [("x-test-subscribe", "/.well-known/mercure/subscriptions/x{/subscriber}")];
        assert_eq!(send(&client, "GET", &api, &narrow, full("")).await.0, StatusCode::FORBIDDEN);

        // Alice leaves: her departure is announced.
        drop(alice);
        watcher.until("\"active\": false").await;
        let departure = watcher
            .events()
            .into_iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).expect("JSON"))
            .find(|doc| doc["active"] == false)
            .expect("departure");
        assert_eq!(departure["subscriber"], subscriber.as_str(), "{proto:?}");
        let (_, _, body) = send(&client, "GET", &api, &auth, full("")).await;
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(list["subscriptions"].as_array().map(Vec::len), Some(1), "{body}");
    }
}

#[tokio::test]
async fn presence_events_are_private_and_cannot_be_forged() {
    let server = serve(HubConfig::default(), ApiConfig::default().subscriptions(true)).await;
    let client = client(Proto::Http1);
    let template = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
    let url = format!("{}{MERCURE}?topic={}&topic=t", server.base, enc(template));
    let mut nosy = Sse::open(&client, &url, &[]).await;
    let _other = Sse::open(&client, &format!("{}{MERCURE}?topic=x", server.base), &[]).await;
    let forged = [("topic", "/.well-known/mercure/subscriptions/x/y"), ("data", "{}")];
    let (status, _, body) = publish_form(&client, &server.base, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("reserved_topic"), "{body}");
    publish_form(&client, &server.base, &[("topic", "t"), ("data", "sentinel")]).await;
    nosy.until("data: sentinel\n\n").await;
    assert_eq!(nosy.messages(), ["sentinel"], "an anonymous subscriber saw presence events");
}

#[tokio::test]
async fn subscriptions_api_is_404_when_disabled() {
    let server = serve_default().await;
    let client = client(Proto::Http1);
    let api = format!("{}{MERCURE}/subscriptions", server.base);
    let (status, _, body) =
        send(&client, "GET", &api, &[("x-test-subscribe", "*")], full("")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("subscriptions_disabled"), "{body}");
}

#[tokio::test]
async fn publish_reads_the_body_only_and_answers_rights_with_403() {
    let server = serve_default().await;
    let client = client(Proto::Http1);
    // Query parameters do not count for publishing.
    let (status, _, body) = send(
        &client,
        "POST",
        &format!("{}{MERCURE}?topic=t", server.base),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-test-publish", "*")],
        full("data=x"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("missing_topic"), "{body}");
    // A valid identity without the right: 403 (the reference hub says 401).
    let (status, _, body) = send(
        &client,
        "POST",
        &format!("{}{MERCURE}", server.base),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-test-publish", "https://example.com/books/{id}"),
        ],
        full(format!("topic={}", enc("https://example.com/authors/1"))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // No credentials at all: 401.
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{}{MERCURE}", server.base),
        &[("content-type", "application/x-www-form-urlencoded")],
        full("topic=t"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // retry must be a number.
    let (status, _, body) =
        publish_form(&client, &server.base, &[("topic", "t"), ("retry", "abc")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_retry"), "{body}");
}

#[tokio::test]
async fn anonymous_subscribers_are_refused_when_configured_and_bad_tokens_always() {
    let server = serve(HubConfig::default(), ApiConfig::default().allow_anonymous(false)).await;
    let client = client(Proto::Http1);
    let url = format!("{}{MERCURE}?topic=t", server.base);
    assert_eq!(send(&client, "GET", &url, &[], full("")).await.0, StatusCode::UNAUTHORIZED);
    // Credentials are checked before topics, as in the reference hub.
    let no_topic = format!("{}{MERCURE}", server.base);
    assert_eq!(send(&client, "GET", &no_topic, &[], full("")).await.0, StatusCode::UNAUTHORIZED);
    let _ok = Sse::open(&client, &url, &[("x-test-user", "ann")]).await;

    let open = serve_default().await;
    let url = format!("{}{MERCURE}?topic=t", open.base);
    let (status, _, _) = send(&client, "GET", &url, &[("x-test-token", "expired")], full("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a bad token is never downgraded to anonymous");
}

#[tokio::test]
async fn discovery_link_is_sent_on_hub_responses_when_configured() {
    let link = mercure_link("https://example.com/.well-known/mercure").expect("valid link");
    let server = serve(HubConfig::default(), ApiConfig::default().link_header(link)).await;
    let client = client(Proto::H2c);
    let sub = Sse::open(&client, &format!("{}{MERCURE}?topic=t", server.base), &[]).await;
    assert_eq!(sub.headers["link"], r#"<https://example.com/.well-known/mercure>; rel="mercure""#);
    let (_, headers, _) = publish_form(&client, &server.base, &[("topic", "t")]).await;
    assert!(headers.contains_key("link"));
    let plain = serve_default().await;
    let sub = Sse::open(&client, &format!("{}{MERCURE}?topic=t", plain.base), &[]).await;
    assert!(!sub.headers.contains_key("link"));
}

/// Stock Mercure clients with real JWTs (HS256, the reference hub's default): the publisher sends
/// `Authorization: Bearer`, a browser-style subscriber the `authorization` query parameter.
#[tokio::test]
async fn mercure_clients_with_real_jwts_work_unchanged() {
    use std::time::{Duration, SystemTime};
    use tidings_server::jwt::{
        JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey,
    };

    let secret = "a-test-secret-of-reasonable-length-for-hs256";
    let signing = SigningKey::hs256(secret).expect("key");
    let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(secret).expect("key")));
    let api = ApiConfig::default().authenticator(auth).subscriptions(true);
    for proto in PROTOS {
        let server = serve_as_configured(HubConfig::default(), api.clone()).await;
        let client = client(proto);
        let publisher = TokenBuilder::new().publish(["*"]).sign(&signing).expect("token");
        let books_only = TokenBuilder::new().publish([BOOKS]).sign(&signing).expect("token");
        let alice = TokenBuilder::new()
            .subscribe(["https://example.com/users/alice/{?topic}"])
            .payload(serde_json::json!({"user": "alice"}))
            .sign(&signing)
            .expect("token");
        let expired = TokenBuilder::new()
            .subscribe(["*"])
            .ttl(Duration::from_secs(60))
            .sign_at(&signing, SystemTime::UNIX_EPOCH)
            .expect("token");

        let url = format!("{}{MERCURE}?topic={}", server.base, enc(BOOKS));
        let mut alice_sub =
            Sse::open(&client, &format!("{url}&authorization={}", enc(&alice)), &[]).await;
        let mut anonymous = Sse::open(&client, &url, &[]).await;
        let bearer = format!("Bearer {publisher}");
        let form = |fields: &[(&str, &str)]| {
            form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
        };
        let post = |token: String, body: String| {
            let client = &client;
            let url = format!("{}{MERCURE}", server.base);
            async move {
                let headers = [
                    ("authorization", token.as_str()),
                    ("content-type", "application/x-www-form-urlencoded"),
                ];
                send(client, "POST", &url, &headers, full(body)).await
            }
        };
        let alternate = format!(
            "https://example.com/users/alice/?topic={}",
            enc("https://example.com/books/1")
        );
        let private = form(&[
            ("topic", "https://example.com/books/1"),
            ("topic", &alternate),
            ("private", "on"),
            ("data", "for alice"),
        ]);
        let (status, headers, _) = post(bearer.clone(), private).await;
        assert_eq!(status, StatusCode::OK, "{proto:?}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        let (status, _, body) = post(
            format!("Bearer {books_only}"),
            form(&[("topic", "https://example.com/authors/1")]),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _, _) = post(format!("Bearer {alice}"), form(&[("topic", "x")])).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a subscriber token cannot publish");
        let (status, _, _) = post("Bearer not-a-token".to_owned(), form(&[("topic", "x")])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let public = form(&[("topic", "https://example.com/books/2"), ("data", "for all")]);
        assert_eq!(post(bearer.clone(), public).await.0, StatusCode::OK);
        alice_sub.until("data: for all\n\n").await;
        anonymous.until("data: for all\n\n").await;
        assert_eq!(alice_sub.messages(), ["for alice", "for all"], "{proto:?}");
        assert_eq!(anonymous.messages(), ["for all"], "{proto:?}");

        let expired_url = format!("{url}&authorization={}", enc(&expired));
        let (status, _, body) = send(&client, "GET", &expired_url, &[], full("")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        // The subscriptions API shows Alice's payload from her token.
        let watcher = TokenBuilder::new()
            .subscribe(["/.well-known/mercure/subscriptions{/topic}{/subscriber}"])
            .sign(&signing)
            .expect("token");
        let api_url = format!("{}{MERCURE}/subscriptions", server.base);
        let auth = format!("Bearer {watcher}");
        let (status, _, body) =
            send(&client, "GET", &api_url, &[("authorization", &auth)], full("")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"user\": \"alice\""), "{body}");
    }
}
