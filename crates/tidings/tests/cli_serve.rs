//! The built `tidings` binary: first run (token and URL on stdout, publish with the token,
//! receive over SSE, SIGTERM, clean exit), configuration precedence, exit codes.

mod support;

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout};

use support::tidings;

const PATIENCE: Duration = Duration::from_secs(10);

/// What the first run printed: the hub's URL, the publisher token, the admin page link.
struct FirstRun {
    url: String,
    token: String,
    admin_link: String,
}

/// Reads the banner up to the admin page link.
async fn read_banner(stdout: ChildStdout) -> FirstRun {
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut token) = (None, None);
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            seen.push(line.clone());
            if let Some(rest) = line.split(" is listening on ").nth(1) {
                url = rest.split(' ').next().map(str::to_owned);
            }
            let trimmed = line.trim();
            if line.starts_with("    ") && trimmed.starts_with("eyJ") && !trimmed.contains(' ') {
                token = Some(trimmed.to_owned());
            }
            if line.starts_with("    ") && trimmed.contains("/admin?authorization=eyJ") {
                return trimmed.to_owned();
            }
        }
        panic!("stdout ended before the admin link: {seen:#?}");
    };
    let admin_link = tokio::time::timeout(PATIENCE, read).await.expect("banner in time");
    let url = url.expect("the URL line comes first");
    let admin_link = admin_link.strip_prefix(url.as_str()).expect("a link to this hub").to_owned();
    FirstRun { url, token: token.expect("the token comes before the admin link"), admin_link }
}

async fn send(url: &str, request: http::request::Builder, body: &str) -> http::Response<Incoming> {
    let authority = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(authority).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let request = request
        .header("host", authority)
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    sender.send_request(request).await.expect("response")
}

async fn read_until(body: &mut Incoming, seen: &mut String, needle: &str) {
    tokio::time::timeout(PATIENCE, async {
        while !seen.contains(needle) {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        seen.push_str(&String::from_utf8_lossy(&data));
                    }
                }
                _ => break,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}; got {seen:?}"));
    assert!(seen.contains(needle), "stream ended before {needle:?}; got {seen:?}");
}

async fn text(response: http::Response<Incoming>) -> (http::StatusCode, String) {
    let status = response.status();
    let body = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test]
async fn first_run_prints_a_token_that_publishes_and_sigterm_exits_cleanly() {
    let mut child = tidings()
        .args(["serve", "--listen", "127.0.0.1:0", "--shutdown-retry", "3s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tidings");
    let FirstRun { url, token, admin_link } =
        read_banner(child.stdout.take().expect("stdout")).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let response = send(&url, http::Request::get("/events?topic=greetings"), "").await;
    assert_eq!(response.status(), 200);
    let mut stream = response.into_body();
    let mut seen = String::new();

    let json = r#"{"topic": "greetings", "data": "hello"}"#;
    let publish = || http::Request::post("/publish").header("content-type", "application/json");
    let refused = send(&url, publish(), json).await;
    assert_eq!(refused.status(), 401, "publishing needs the token");
    let accepted =
        send(&url, publish().header("authorization", format!("Bearer {token}")), json).await;
    assert_eq!(accepted.status(), 200);
    read_until(&mut stream, &mut seen, "data: hello\n\n").await;

    // The admin page's token opens the admin status; the metrics count the event.
    let status_path = admin_link.replace("/admin?", "/admin/status?");
    let (status, json) = text(send(&url, http::Request::get(status_path.as_str()), "").await).await;
    assert_eq!(status, 200, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["totals"]["published"], 1, "{json}");
    let (status, _) = text(send(&url, http::Request::get("/admin/status"), "").await).await;
    assert_eq!(status, 401, "the admin status needs a token");
    let (status, metrics) = text(send(&url, http::Request::get("/metrics"), "").await).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("\ntidings_events_published_total 1\n"), "{metrics}");

    sigterm(&child);
    // The open stream is told when to come back, then ends.
    read_until(&mut stream, &mut seen, "retry:3000\n\n").await;
    assert!(matches!(stream.frame().await, None | Some(Err(_))), "the stream ended");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exited in time")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn flags_win_over_environment_over_file_over_defaults() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("precedence.toml");
    std::fs::write(
        &path,
        r#"
listen = "127.0.0.1:1"
[history]
max_events = 50
[streams]
keep_alive = "30s"
[limits]
max_topics = 7
[cors]
origins = ["https://file.example"]
"#,
    )
    .expect("write config");
    let output = tidings()
        .args(["serve", "--print-config", "--listen", "127.0.0.1:3"])
        .arg("--config")
        .arg(&path)
        .env("TIDINGS_LISTEN", "127.0.0.1:2")
        .env("TIDINGS_KEEP_ALIVE", "45s")
        .env("TIDINGS_CORS_ORIGINS", "https://a.example,https://b.example")
        .env("TIDINGS_JWT_KEY", "do-not-print-me")
        .output()
        .await
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("utf-8");
    assert!(!printed.contains("do-not-print-me"), "{printed}");
    let config: toml::Table = toml::from_str(&printed).expect("TOML");
    assert_eq!(config["listen"].as_str(), Some("127.0.0.1:3"), "flag over env over file");
    assert_eq!(config["streams"]["keep_alive"].as_str(), Some("45s"), "env over file");
    let origins = config["cors"]["origins"].as_array().expect("list");
    assert_eq!(origins.len(), 2, "the variable's list replaces the file's: {origins:?}");
    assert_eq!(config["limits"]["max_topics"].as_integer(), Some(7), "file over default");
    assert_eq!(config["history"]["max_events"].as_integer(), Some(50));
    assert_eq!(config["limits"]["max_body"].as_str(), Some("1MiB"), "default");
    assert_eq!(config["auth"]["jwt_key"].as_str(), Some("<redacted>"));
}

#[tokio::test]
async fn an_invalid_value_exits_with_2_and_names_the_key() {
    let output = tidings()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TIDINGS_HEADER_READ_TIMEOUT", "soon")
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("limits.header_read_timeout"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_key_in_the_file_exits_with_2() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("typo.toml");
    std::fs::write(&path, "[limits]\nmax_conections = 5\n").expect("write config");
    let output = tidings().args(["serve", "--config"]).arg(&path).output().await.expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_conections"));
}

#[tokio::test]
async fn an_address_in_use_exits_with_1() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = tidings().args(["serve", "--listen", &addr]).output().await.expect("run");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on"));
}

#[tokio::test]
async fn help_documents_the_exit_codes() {
    for args in [&["--help"][..], &["serve", "--help"]] {
        let output = tidings().args(args).output().await.expect("run");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Exit codes:") && help.contains("2  usage"), "{help}");
    }
}
