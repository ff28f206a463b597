//! Requests and responses over real sockets: what the client sends, and what it does with each
//! kind of response. Names follow LaunchDarkly's SSE contract suite ("HTTP behavior") where
//! they correspond.

mod support;

use std::time::Duration;

use http::StatusCode;
use support::{ScriptServer, client, final_error, next_event, next_item};
use tidings_client::{ClientItem, ErrorKind, StopReason};

/// Long enough that a client which wrongly reconnects would have done so (its reconnection
/// time is 10 ms).
const QUIET: Duration = Duration::from_millis(150);

#[tokio::test]
async fn default_method_and_headers() {
    let mut server = ScriptServer::start().await;
    let source = client(&server.url("/stream?x=1")).build().expect("client");
    let poll = tokio::spawn(drive(source));
    let conn = server.accept().await;
    let request = &conn.request;
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/stream?x=1");
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.header("cache-control"), Some("no-cache"));
    assert_eq!(request.header("last-event-id"), None);
    assert!(request.body.is_empty());
    poll.abort();
}

#[tokio::test]
async fn custom_headers() {
    let mut server = ScriptServer::start().await;
    let source = client(&server.url("/"))
        .header("header-name-1", "value-1")
        .header("header-name-2", "value-2")
        .bearer_token("t0ken")
        .build()
        .expect("client");
    let poll = tokio::spawn(drive(source));
    let conn = server.accept().await;
    assert_eq!(conn.request.header("header-name-1"), Some("value-1"));
    assert_eq!(conn.request.header("header-name-2"), Some("value-2"));
    assert_eq!(conn.request.header("authorization"), Some("Bearer t0ken"));
    poll.abort();
}

/// Polls the client in the background until it ends.
async fn drive(mut source: tidings_client::EventSource) {
    use futures_util::StreamExt as _;
    while source.next().await.is_some() {}
}

async fn request_with_body(method: &str) {
    let mut server = ScriptServer::start().await;
    let body = r#"{"hello": "world"}"#;
    let source = client(&server.url("/"))
        .method(http::Method::from_bytes(method.as_bytes()).expect("method"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .build()
        .expect("client");
    let poll = tokio::spawn(drive(source));
    let conn = server.accept().await;
    assert_eq!(conn.request.method, method);
    assert_eq!(conn.request.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(conn.request.body, body.as_bytes());
    poll.abort();
}

#[tokio::test]
async fn post_request() {
    request_with_body("POST").await;
}

#[tokio::test]
async fn report_request() {
    request_with_body("REPORT").await;
}

#[tokio::test]
async fn sends_last_event_id_in_initial_request_if_set() {
    let mut server = ScriptServer::start().await;
    let source = client(&server.url("/")).last_event_id("abc").build().expect("client");
    let poll = tokio::spawn(drive(source));
    let conn = server.accept().await;
    assert_eq!(conn.request.header("last-event-id"), Some("abc"));
    poll.abort();
}

#[tokio::test]
async fn status_204_stops_the_client_for_good() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send("HTTP/1.1 204 No Content\r\n\r\n").await;
        server.expect_no_connection(QUIET).await;
    });
    assert!(matches!(
        next_item(&mut source).await,
        Some(Ok(ClientItem::Stopped(StopReason::NoContent)))
    ));
    assert!(next_item(&mut source).await.is_none());
    script.await.expect("no reconnection after 204");
}

async fn redirect_is_followed(status: u16) {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/first")).build().expect("client");
    let script = tokio::spawn(async move {
        let mut first = server.accept().await;
        assert_eq!(first.request.target, "/first");
        first
            .send(format!(
                "HTTP/1.1 {status} Redirect\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n"
            ))
            .await;
        let mut second = server.accept().await;
        assert_eq!(second.request.target, "/second");
        assert_eq!(second.request.header("accept"), Some("text/event-stream"));
        second.open_stream().await;
        second.send("data: redirected\n\n").await;
        second
    });
    let Some(Ok(ClientItem::Open(open))) = next_item(&mut source).await else {
        panic!("stream did not open")
    };
    assert_eq!(open.url.path(), "/second");
    assert_eq!(next_event(&mut source).await.data(), "redirected");
    drop(script.await.expect("script"));
}

#[tokio::test]
async fn client_follows_301_redirect() {
    redirect_is_followed(301).await;
}

#[tokio::test]
async fn client_follows_302_redirect() {
    redirect_is_followed(302).await;
}

#[tokio::test]
async fn client_follows_303_redirect() {
    redirect_is_followed(303).await;
}

#[tokio::test]
async fn client_follows_307_redirect() {
    redirect_is_followed(307).await;
}

#[tokio::test]
async fn client_follows_308_redirect() {
    redirect_is_followed(308).await;
}

#[tokio::test]
async fn redirect_307_keeps_post_body_and_303_turns_it_into_get() {
    for (status, method, body) in [(307, "POST", "q"), (303, "GET", "")] {
        let mut server = ScriptServer::start().await;
        let source =
            client(&server.url("/")).method(http::Method::POST).body("q").build().expect("client");
        let poll = tokio::spawn(drive(source));
        let mut first = server.accept().await;
        first
            .send(format!("HTTP/1.1 {status} R\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"))
            .await;
        let second = server.accept().await;
        assert_eq!(second.request.method, method, "{status}");
        assert_eq!(second.request.body, body.as_bytes(), "{status}");
        poll.abort();
    }
}

async fn redirect_fails(location: Option<&str>) -> tidings_client::Error {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let head = match location {
        Some(location) => {
            format!("HTTP/1.1 301 Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
        }
        None => "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n".to_owned(),
    };
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send(head).await;
        server.expect_no_connection(QUIET).await;
    });
    let error = final_error(&mut source).await;
    script.await.expect("no further connection");
    error
}

#[tokio::test]
async fn redirect_with_empty_location_is_an_error_not_a_loop() {
    let error = redirect_fails(Some("")).await;
    assert_eq!(error.kind(), &ErrorKind::RedirectWithoutLocation(StatusCode::MOVED_PERMANENTLY));
}

#[tokio::test]
async fn redirect_without_location_is_an_error() {
    let error = redirect_fails(None).await;
    assert_eq!(error.kind(), &ErrorKind::RedirectWithoutLocation(StatusCode::MOVED_PERMANENTLY));
}

#[tokio::test]
async fn redirect_loop_stops_at_the_limit() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/loop")).max_redirects(3).build().expect("client");
    let script = tokio::spawn(async move {
        for _ in 0..4 {
            let mut conn = server.accept().await;
            conn.send("HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n").await;
        }
        server.expect_no_connection(QUIET).await;
    });
    let error = final_error(&mut source).await;
    assert_eq!(error.kind(), &ErrorKind::TooManyRedirects { limit: 3 });
    script.await.expect("the loop was not stopped");
}

async fn response_fails_without_retry(head: &'static str) -> tidings_client::Error {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send(head).await;
        conn.send("data: not for you\n\n").await;
        server.expect_no_connection(QUIET).await;
    });
    let error = final_error(&mut source).await;
    script.await.expect("the client retried");
    error
}

#[tokio::test]
async fn status_500_fails_without_retry() {
    let error = response_fails_without_retry(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(error.kind(), &ErrorKind::Status(StatusCode::INTERNAL_SERVER_ERROR));
}

#[tokio::test]
async fn status_404_fails_without_retry() {
    let error =
        response_fails_without_retry("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
    assert_eq!(error.kind(), &ErrorKind::Status(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn wrong_content_type_fails_without_retry() {
    let error = response_fails_without_retry(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(error.kind(), &ErrorKind::ContentType(Some("text/plain".into())));
}

#[tokio::test]
async fn missing_content_type_fails_without_retry() {
    let error = response_fails_without_retry("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").await;
    assert_eq!(error.kind(), &ErrorKind::ContentType(None));
}

#[tokio::test]
async fn content_type_with_parameters_is_accepted() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send("HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nConnection: close\r\n\r\n")
            .await;
        conn.send("data: ok\n\n").await;
        conn
    });
    assert_eq!(next_event(&mut source).await.data(), "ok");
    drop(script.await.expect("script"));
}

#[tokio::test]
async fn validation_hook_rejects_without_retry() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/"))
        .validate_response(|response| {
            if response.headers.contains_key("x-version") {
                Ok(())
            } else {
                Err("x-version missing".into())
            }
        })
        .build()
        .expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        server.expect_no_connection(QUIET).await;
    });
    let error = final_error(&mut source).await;
    assert_eq!(error.kind(), &ErrorKind::Rejected);
    assert_eq!(
        std::error::Error::source(&error).map(ToString::to_string).as_deref(),
        Some("x-version missing")
    );
    script.await.expect("the client retried");
}

#[tokio::test]
async fn response_headers_are_reported_on_open() {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).last_event_id("7").build().expect("client");
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nLast-Event-ID: earliest\r\nConnection: close\r\n\r\n")
            .await;
        conn
    });
    let Some(Ok(ClientItem::Open(open))) = next_item(&mut source).await else { panic!("no open") };
    assert_eq!(open.headers["last-event-id"], "earliest");
    assert_eq!(open.last_event_id.as_str(), "7");
    assert_eq!(open.version, http::Version::HTTP_11);
    assert_eq!(open.attempt, 1);
    drop(script.await.expect("script"));
}
