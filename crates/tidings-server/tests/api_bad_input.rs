//! Bad input, one test per case of the issue's list, over real sockets: each answers with a
//! clear status and a JSON body naming the problem, the hub keeps running, and nothing already
//! accepted is lost (a witness subscriber gets the events published before and after, and
//! history still replays them).
//!
//! Credentials are simulated with the test authenticator (`x-test-token: expired` and so on);
//! the JWT-specific cases live with the JWT authenticator's tests.

mod api_support;

use api_support::{
    HttpClient, MERCURE, PROTOS, Proto, Server, Sse, client, full, publish_form, publish_json,
    send, serve, serve_default, streamed,
};
use http::StatusCode;
use tidings_server::HubConfig;
use tidings_server::api::ApiConfig;

/// A subscriber that saw an event published before the bad input, and must see one after it.
struct Witness {
    sub: Sse,
}

impl Witness {
    async fn watch(server: &Server, client: &HttpClient) -> Self {
        let url = format!("{}/events?topic=w", server.base);
        // Identified, so the witness also works where anonymous subscribers are refused.
        let mut sub = Sse::open(client, &url, &[("x-test-user", "witness")]).await;
        let json = r#"{"topic": "w", "data": "before", "id": "w-before"}"#;
        assert_eq!(publish_json(client, &server.base, json).await.0, StatusCode::OK);
        sub.until("data: before\n\n").await;
        Self { sub }
    }

    /// The hub still publishes and delivers, and still holds what it accepted.
    async fn still_fine(mut self, server: &Server, client: &HttpClient) {
        let (status, body) =
            publish_json(client, &server.base, r#"{"topic": "w", "data": "after"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.sub.until("data: after\n\n").await;
        assert_eq!(self.sub.messages(), ["before", "after"]);
        let url = format!("{}/events?topic=w&replay=all", server.base);
        let mut replay = Sse::open(client, &url, &[("x-test-user", "witness")]).await;
        replay.until("data: after\n\n").await;
        assert_eq!(replay.messages(), ["before", "after"], "history lost an accepted event");
    }
}

/// Asserts a refusal: status, and a JSON body whose `error` is `code`.
fn refused(answer: (StatusCode, String), status: StatusCode, code: &str, what: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{what}: {body}");
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: body not JSON: {body}"));
    assert_eq!(json["error"], code, "{what}: {body}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

async fn get(client: &HttpClient, url: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let (status, _, body) = send(client, "GET", url, headers, full("")).await;
    (status, body)
}

async fn post(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    body: api_support::Body,
) -> (StatusCode, String) {
    let (status, _, body) = send(client, "POST", url, headers, body).await;
    (status, body)
}

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const PUBLISHER: (&str, &str) = ("x-test-publish", "*");

#[tokio::test]
async fn no_topic() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let bad = StatusCode::BAD_REQUEST;
        refused(get(&client, &format!("{base}/events"), &[]).await, bad, "missing_topic", "native");
        refused(
            get(&client, &format!("{base}/events?topic="), &[]).await,
            bad,
            "invalid_selector",
            "empty",
        );
        refused(
            get(&client, &format!("{base}{MERCURE}"), &[]).await,
            bad,
            "missing_topic",
            "mercure",
        );
        let native =
            post(&client, &format!("{base}/publish"), &[JSON, PUBLISHER], full(r#"{"data": "x"}"#))
                .await;
        refused(native, bad, "missing_topic", "native publish");
        let mercure =
            post(&client, &format!("{base}{MERCURE}"), &[FORM, PUBLISHER], full("data=x")).await;
        refused(mercure, bad, "missing_topic", "mercure publish");
        let empty =
            post(&client, &format!("{base}{MERCURE}"), &[FORM, PUBLISHER], full("topic=")).await;
        refused(empty, bad, "invalid_topic", "empty topic");
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn invalid_selector_or_template() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        for selector in
            ["a/**/b", "ride.pass*", "https%3A%2F%2Fx%2F%7Bid", "https%3A%2F%2Fx%2F%7B%3Dbad%7D"]
        {
            for path in ["/events", MERCURE] {
                let url = format!("{}{path}?topic=ok&topic={selector}", server.base);
                refused(
                    get(&client, &url, &[]).await,
                    StatusCode::BAD_REQUEST,
                    "invalid_selector",
                    &url,
                );
            }
        }
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn missing_token() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().allow_anonymous(false)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let unauthorized = StatusCode::UNAUTHORIZED;
        let publish =
            post(&client, &format!("{base}/publish"), &[JSON], full(r#"{"topic": "w"}"#)).await;
        refused(publish, unauthorized, "unauthorized", "native publish");
        let publish = post(&client, &format!("{base}{MERCURE}"), &[FORM], full("topic=w")).await;
        refused(publish, unauthorized, "unauthorized", "mercure publish");
        for path in ["/events?topic=w", "/events/w", "/.well-known/mercure?topic=w"] {
            let url = format!("{base}{path}");
            refused(get(&client, &url, &[]).await, unauthorized, "unauthorized", &url);
        }
        witness.still_fine(&server, &client).await;
    }
}

/// Credentials that are present but bad are refused on every endpoint, even where anonymous
/// callers are welcome: never downgraded to anonymous.
#[tokio::test]
async fn malformed_expired_or_wrongly_signed_token() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().subscriptions(true)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        for (token, reason) in
            [("malformed", "malformed"), ("expired", "expired"), ("bad-signature", "signature")]
        {
            let credentials = ("x-test-token", token);
            let answers = [
                get(&client, &format!("{base}/events?topic=w"), &[credentials]).await,
                get(&client, &format!("{base}{MERCURE}?topic=w"), &[credentials]).await,
                get(&client, &format!("{base}{MERCURE}/subscriptions"), &[credentials]).await,
                post(
                    &client,
                    &format!("{base}/publish"),
                    &[JSON, PUBLISHER, credentials],
                    full(r#"{"topic": "w"}"#),
                )
                .await,
                post(
                    &client,
                    &format!("{base}{MERCURE}"),
                    &[FORM, PUBLISHER, credentials],
                    full("topic=w"),
                )
                .await,
            ];
            for (index, answer) in answers.into_iter().enumerate() {
                assert!(answer.1.contains(reason), "{token} #{index}: {}", answer.1);
                refused(answer, StatusCode::UNAUTHORIZED, "unauthorized", token);
            }
        }
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn token_without_rights_for_the_topic() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().subscriptions(true)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let narrow = ("x-test-publish", "books/*");
        let forbidden = StatusCode::FORBIDDEN;
        let native = post(
            &client,
            &format!("{base}/publish"),
            &[JSON, narrow],
            full(r#"{"topics": ["books/1", "w"]}"#),
        )
        .await;
        refused(native, forbidden, "forbidden", "native");
        let users = post(
            &client,
            &format!("{base}/publish"),
            &[JSON, narrow],
            full(r#"{"uids": ["ann"], "events": [{}]}"#),
        )
        .await;
        refused(users, forbidden, "forbidden", "users need *");
        let mercure =
            post(&client, &format!("{base}{MERCURE}"), &[FORM, narrow], full("topic=w")).await;
        refused(mercure, forbidden, "forbidden", "mercure");
        // A subscriber-only identity cannot publish at all.
        let reader = ("x-test-subscribe", "*");
        let mercure =
            post(&client, &format!("{base}{MERCURE}"), &[FORM, reader], full("topic=books/1"))
                .await;
        refused(mercure, forbidden, "forbidden", "no publish grant");
        let api = format!("{base}{MERCURE}/subscriptions");
        refused(
            get(&client, &api, &[("x-test-subscribe", "books/*")]).await,
            forbidden,
            "forbidden",
            "api",
        );
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn oversized_data() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().max_data(16)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let big = "x".repeat(17);
        let native = post(
            &client,
            &format!("{base}/publish"),
            &[JSON, PUBLISHER],
            full(format!(r#"{{"topic": "w", "data": "{big}"}}"#)),
        )
        .await;
        refused(native, StatusCode::PAYLOAD_TOO_LARGE, "data_too_large", "native");
        let mercure = post(
            &client,
            &format!("{base}{MERCURE}"),
            &[FORM, PUBLISHER],
            full(format!("topic=w&data={big}")),
        )
        .await;
        refused(mercure, StatusCode::PAYLOAD_TOO_LARGE, "data_too_large", "mercure");
        // Exactly at the limit is fine.
        let (status, _, _) =
            publish_form(&client, base, &[("topic", "x"), ("data", &big[1..])]).await;
        assert_eq!(status, StatusCode::OK);
        witness.still_fine(&server, &client).await;
    }
}

/// A body over the limit is refused with 413: at once when its length is announced, and as soon
/// as the limit is crossed when it is streamed without a length.
#[tokio::test]
async fn oversized_body() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().max_body(1024)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let json = format!(r#"{{"topic": "w", "data": "{}"}}"#, "x".repeat(64 * 1024));
        let form = format!("topic=w&data={}", "x".repeat(64 * 1024));
        let cases = [
            ("/publish", JSON, full(json.clone()), "native, announced"),
            ("/publish", JSON, streamed(json.into_bytes(), 512), "native, streamed"),
            (MERCURE, FORM, full(form.clone()), "mercure, announced"),
            (MERCURE, FORM, streamed(form.into_bytes(), 512), "mercure, streamed"),
        ];
        for (path, content_type, body, what) in cases {
            let answer =
                post(&client, &format!("{base}{path}"), &[content_type, PUBLISHER], body).await;
            refused(answer, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", what);
        }
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn unknown_content_type() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let unsupported = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        let cases = [
            ("/publish", Some("text/plain"), r#"{"topic": "w"}"#),
            ("/publish", None, r#"{"topic": "w"}"#),
            ("/publish", Some("application/x-www-form-urlencoded"), "topic=w"),
            (MERCURE, Some("application/json"), r#"{"topic": "w"}"#),
            (MERCURE, Some("multipart/form-data; boundary=x"), "--x--"),
            (MERCURE, None, "topic=w"),
        ];
        for (path, content_type, body) in cases {
            let mut headers = vec![PUBLISHER];
            headers.extend(content_type.map(|c| ("content-type", c)));
            let answer = post(&client, &format!("{base}{path}"), &headers, full(body)).await;
            refused(
                answer,
                unsupported,
                "unsupported_media_type",
                &format!("{path} {content_type:?}"),
            );
        }
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn malformed_json() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        for json in
            [r#"{"topic": "w""#, "[1, 2]", r#"{"topic": "w", "colour": "red"}"#, "", "\u{feff}{}"]
        {
            let answer =
                post(&client, &format!("{}/publish", server.base), &[JSON, PUBLISHER], full(json))
                    .await;
            refused(answer, StatusCode::BAD_REQUEST, "malformed_json", json);
        }
        witness.still_fine(&server, &client).await;
    }
}

/// A custom id already used by a retained event is refused with 409; the first event keeps it.
#[tokio::test]
async fn duplicate_custom_id() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let native =
            publish_json(&client, base, r#"{"topic": "w", "id": "w-before", "data": "dup"}"#).await;
        refused(native, StatusCode::CONFLICT, "duplicate_id", "native");
        let mercure = post(
            &client,
            &format!("{base}{MERCURE}"),
            &[FORM, PUBLISHER],
            full("topic=w&id=w-before&data=dup"),
        )
        .await;
        refused(mercure, StatusCode::CONFLICT, "duplicate_id", "mercure");
        // In a batch, a duplicate refuses the whole batch: the fresh event is not published
        // either (the witness would see it).
        let batch = r#"{"events": [{"topic": "w", "id": "fresh", "data": "partial"},
            {"topic": "w", "id": "w-before"}]}"#;
        refused(
            publish_json(&client, base, batch).await,
            StatusCode::CONFLICT,
            "duplicate_id",
            "batch",
        );
        let twice = r#"{"events": [{"topic": "w", "id": "twice"}, {"topic": "w", "id": "twice"}]}"#;
        refused(
            publish_json(&client, base, twice).await,
            StatusCode::CONFLICT,
            "duplicate_id",
            "twice",
        );
        // Resuming after that id still works: it names the first event.
        let url = format!("{base}/events?topic=w");
        let mut resumed = Sse::open(&client, &url, &[("last-event-id", "w-before")]).await;
        assert_eq!(resumed.headers["last-event-id"], "w-before");
        witness.still_fine(&server, &client).await;
        resumed.until("data: after\n\n").await;
        assert_eq!(resumed.messages(), ["after"]);
    }
}

#[tokio::test]
async fn invalid_last_event_id() {
    for proto in PROTOS {
        let server = serve_default().await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        // An id the hub never issued: a stream with a gap notice, answered `earliest`.
        let mut unknown =
            Sse::open(&client, &format!("{base}/events?topic=w&lastEventID=0"), &[]).await;
        assert_eq!(unknown.headers["last-event-id"], "earliest");
        unknown.until("event:tidings-gap\n").await;
        // An id no event could have: refused.
        let url = format!("{base}/events?topic=w&lastEventID=a%00b");
        refused(
            get(&client, &url, &[]).await,
            StatusCode::BAD_REQUEST,
            "invalid_last_event_id",
            "NUL",
        );
        let url = format!("{base}{MERCURE}?topic=w");
        let request = http::Request::get(&url)
            .header("last-event-id", http::HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text"))
            .body(full(""))
            .expect("request");
        let response = client.request(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "not UTF-8");
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn too_many_topics() {
    for proto in PROTOS {
        let server = serve(HubConfig::default(), ApiConfig::default().max_topics(2)).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let bad = StatusCode::BAD_REQUEST;
        for path in ["/events", MERCURE] {
            let url = format!("{base}{path}?topic=a&topic=b&topic=c");
            refused(get(&client, &url, &[]).await, bad, "too_many_topics", &url);
        }
        let _two = Sse::open(&client, &format!("{base}/events?topic=a&topic=b"), &[]).await;
        let native = publish_json(&client, base, r#"{"topics": ["a", "b", "c"]}"#).await;
        refused(native, bad, "too_many_topics", "native");
        let mercure = post(
            &client,
            &format!("{base}{MERCURE}"),
            &[FORM, PUBLISHER],
            full("topic=a&topic=b&topic=c"),
        )
        .await;
        refused(mercure, bad, "too_many_topics", "mercure");
        witness.still_fine(&server, &client).await;
    }
}

#[tokio::test]
async fn more_connections_than_allowed() {
    for proto in PROTOS {
        let server = serve(HubConfig::default().max_connections(2), ApiConfig::default()).await;
        let client = client(proto);
        let witness = Witness::watch(&server, &client).await;
        let base = &server.base;
        let second = Sse::open(&client, &format!("{base}{MERCURE}?topic=x"), &[]).await;
        for path in ["/events?topic=x", "/.well-known/mercure?topic=x"] {
            let url = format!("{base}{path}");
            refused(
                get(&client, &url, &[]).await,
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                &url,
            );
        }
        drop(second);
        wait_for_connections(&server, &client, 1).await;
        let again = Sse::open(&client, &format!("{base}/events?topic=x"), &[]).await;
        drop(again);
        wait_for_connections(&server, &client, 1).await;
        witness.still_fine(&server, &client).await;
    }
}

/// Waits until the hub serves `n` connections: a slot comes back once the server notices its
/// client left, at its next write, which publishing to the left stream's topic causes.
async fn wait_for_connections(server: &Server, client: &HttpClient, n: usize) {
    let freed = async {
        while server.hub.connections() > n {
            publish_json(client, &server.base, r#"{"topic": "x", "data": "nudge"}"#).await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), freed).await.expect("slot freed");
}

#[tokio::test]
async fn malformed_fields_and_parameters() {
    let server = serve_default().await;
    let client = client(Proto::Http1);
    let witness = Witness::watch(&server, &client).await;
    let base = &server.base;
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        ("topic=w&type=a%0Ab", "invalid_type"),
        ("topic=w&id=a%0Db", "invalid_id"),
        ("topic=w&retry=-1", "invalid_retry"),
        ("topic=w%0Ax", "invalid_topic"),
    ];
    for (form, code) in cases {
        let answer =
            post(&client, &format!("{base}{MERCURE}"), &[FORM, PUBLISHER], full(form)).await;
        refused(answer, bad, code, form);
    }
    let native = publish_json(&client, base, r#"{"topic": "w", "id": ""}"#).await;
    refused(native, bad, "invalid_id", "empty id");
    let url = format!("{base}/events?topic=w&replay=yesterday");
    refused(get(&client, &url, &[]).await, bad, "invalid_replay", "replay");
    witness.still_fine(&server, &client).await;
}
