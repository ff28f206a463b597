//! The client commands of the built binary against a running hub and scripted servers:
//! `pub` then `sub --json --max-events`, `token` output the hub's authenticator accepts, a
//! closed stdout pipe, and the documented exit codes.

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::{Hub, KEY, PATIENCE, tidings};
use tidings_server::jwt::{JwtAuthenticator, JwtConfig, VerifyingKey};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

async fn run(args: &[&str]) -> Output {
    let child = tidings().args(args).stdin(Stdio::null()).output();
    tokio::time::timeout(PATIENCE, child).await.expect("exits in time").expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Starts `tidings sub` with `args` and waits for its "connected" notice on stderr, so that
/// events published afterwards reach it.
async fn subscribe(args: &[&str]) -> tokio::process::Child {
    let mut child = tidings()
        .arg("sub")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sub");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            if line.contains("connected to") {
                return;
            }
        }
        panic!("sub ended before connecting");
    })
    .await
    .expect("sub connects in time");
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_then_sub_json_max_events_prints_exactly_the_published_events() {
    let hub = Hub::start(&[]).await;
    let sub = subscribe(&[
        &hub.url,
        "--topic",
        "news",
        "--topic",
        "sport",
        "--json",
        "--max-events",
        "3",
        "--timeout",
        "20s",
    ])
    .await;

    // Native publish with a minted token, a type and two data lines.
    let first = run(&[
        "pub",
        &hub.url,
        "--topic",
        "news",
        "--data",
        "line one\nline two",
        "--type",
        "update",
        "--key",
        KEY,
    ])
    .await;
    assert!(first.status.success(), "{}", describe(&first));
    let first_id = stdout(&first).trim().to_owned();
    assert!(!first_id.is_empty());

    // Mercure publish with a custom id, the data from stdin (its final line break dropped).
    let mut second = tidings()
        .args(["pub", &hub.url, "--mercure", "--topic", "sport", "--id", "custom-2", "--key", KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn pub");
    second.stdin.take().expect("stdin").write_all(b"from stdin\n").await.expect("write");
    let second = second.wait_with_output().await.expect("pub runs");
    assert!(second.status.success(), "{}", describe(&second));
    assert_eq!(stdout(&second), "custom-2\n");

    // A token from `tidings token`, and the data from a file.
    let token = run(&["token", "--key", KEY, "--publish", "news"]).await;
    assert!(token.status.success(), "{}", describe(&token));
    let token = stdout(&token).trim().to_owned();
    let file = std::env::temp_dir().join(format!("tidings-cli-client-{}.txt", std::process::id()));
    std::fs::write(&file, "{\"n\": 3}\n").expect("write data file");
    let third = run(&[
        "pub",
        &hub.url,
        "--topic",
        "news",
        "--data-file",
        file.to_str().expect("path"),
        "--token",
        &token,
    ])
    .await;
    let _ = std::fs::remove_file(&file);
    assert!(third.status.success(), "{}", describe(&third));
    let third_id = stdout(&third).trim().to_owned();

    let output = tokio::time::timeout(PATIENCE, sub.wait_with_output())
        .await
        .expect("sub ends")
        .expect("sub runs");
    assert!(output.status.success(), "{}", describe(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"event": "update", "data": "line one\nline two", "id": first_id}),
            json!({"event": "message", "data": "from stdin", "id": "custom-2"}),
            json!({"event": "message", "data": "{\"n\": 3}", "id": third_id}),
        ]
    );
}

#[tokio::test]
async fn token_output_verifies_with_the_hubs_authenticator() {
    let output = run(&[
        "token",
        "--key",
        KEY,
        "--publish",
        "books/*",
        "--subscribe",
        "users/ann/**",
        "--sub",
        "ann",
        "--admin",
        "--ttl",
        "10m",
    ])
    .await;
    assert!(output.status.success(), "{}", describe(&output));
    let token = stdout(&output);
    assert!(token.ends_with('\n') && token.trim().split('.').count() == 3, "{token:?}");

    let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(KEY).expect("key")));
    let now = SystemTime::now();
    let identity = auth.verify(token.trim(), now).expect("the hub accepts the token");
    assert!(identity.admin);
    assert!(identity.publish.allows("books/dune") && !identity.publish.allows("films/dune"));
    assert!(
        identity.subscribe.allows("users/ann/inbox")
            && !identity.subscribe.allows("users/bob/inbox")
    );
    assert_eq!(identity.user.as_ref().map(|user| user.as_str()), Some("ann"));
    let expires = identity.expires.expect("a TTL sets exp");
    let lifetime = expires.duration_since(now).expect("in the future");
    assert!(
        lifetime > Duration::from_secs(590) && lifetime <= Duration::from_secs(600),
        "{lifetime:?}"
    );

    // Another key's authenticator refuses it.
    let other = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("another").expect("key")));
    assert!(other.verify(token.trim(), now).is_err());

    // `--ttl off` mints a token without exp; no key is a usage error.
    let output = run(&["token", "--key", KEY, "--ttl", "off"]).await;
    let identity = auth.verify(stdout(&output).trim(), now).expect("accepted");
    assert!(identity.expires.is_none());
    let output = run(&["token", "--publish", "*"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_pipe_ends_sub_with_success() {
    let hub = Hub::start(&[]).await;
    let mut sub = subscribe(&[&hub.url, "--topic", "news", "--json"]).await;
    let published = run(&["pub", &hub.url, "--topic", "news", "--data", "one", "--key", KEY]).await;
    assert!(published.status.success(), "{}", describe(&published));

    // Read the first line, then close the pipe like `| head -1` does, while the stream stays
    // quiet: sub must notice without another event to write.
    let mut reader = BufReader::new(sub.stdout.take().expect("stdout"));
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
        .await
        .expect("a line")
        .expect("read");
    assert!(line.contains("\"data\":\"one\""), "{line}");
    drop(reader);
    let status =
        tokio::time::timeout(PATIENCE, sub.wait()).await.expect("sub ends").expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_whose_stdout_is_closed_before_any_event_ends_with_success() {
    let hub = Hub::start(&[]).await;
    let mut sub = subscribe(&[&hub.url, "--topic", "news"]).await;
    drop(sub.stdout.take());
    let published =
        run(&["pub", &hub.url, "--topic", "news", "--data", "unread", "--key", KEY]).await;
    assert!(published.status.success(), "{}", describe(&published));
    let output = tokio::time::timeout(PATIENCE, sub.wait_with_output())
        .await
        .expect("sub ends")
        .expect("runs");
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("tidings:"), "no error is printed");
}

/// A server answering every request with `response`, and how many requests it answered.
async fn answering(response: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/stream", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_the_documented_ones() {
    // 0: the server said 204, "do not reconnect".
    let no_content = answering(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
    let output = run(&["sub", &no_content, "--timeout", "10s"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // 1: a fatal answer (404), and a refused publish (wrong key).
    let not_found = answering(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
    let output = run(&["sub", &not_found, "--timeout", "10s"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("404"), "{}", describe(&output));
    let hub = Hub::start(&[]).await;
    let output =
        run(&["pub", &hub.url, "--topic", "news", "--data", "x", "--key", "wrong-key"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("401"), "{}", describe(&output));

    // 2: usage errors.
    for args in [
        &["sub", "not a url"][..],
        &["sub", "http://127.0.0.1:1/", "--no-such-flag"],
        &["sub", "http://127.0.0.1:1/", "-H", "no colon"],
        &["pub", "http://127.0.0.1:1/", "--data", "no topic"],
        &[
            "pub",
            "http://127.0.0.1:1/",
            "--topic",
            "t",
            "--data",
            "x",
            "--token",
            "a",
            "--key",
            "b",
        ],
    ] {
        let output = run(args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", describe(&output));
    }

    // 3: --timeout on a quiet stream.
    let started = std::time::Instant::now();
    let output = run(&["sub", &hub.url, "--topic", "quiet", "--timeout", "500ms"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(started.elapsed() >= Duration::from_millis(500));

    // The exit codes are documented in the help.
    let help = run(&["sub", "--help"]).await;
    let help = stdout(&help);
    for line in ["0  success", "1  fatal error", "2  usage error", "3  --timeout elapsed"] {
        assert!(help.contains(line), "{line} missing from {help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_reaches_a_dev_tls_hub_that_is_refused_without_it() {
    let hub = Hub::start(&["--dev-tls"]).await;
    assert!(hub.url.starts_with("https://"), "{}", hub.url);

    let refused = run(&["pub", &hub.url, "--topic", "tls", "--data", "x", "--key", KEY]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("certificate"),
        "{}",
        describe(&refused)
    );

    let sub = subscribe(&[
        &hub.url,
        "--topic",
        "tls",
        "--insecure",
        "--json",
        "--max-events",
        "1",
        "--timeout",
        "10s",
    ])
    .await;
    let published =
        run(&["pub", &hub.url, "--topic", "tls", "--data", "over TLS", "--key", KEY, "--insecure"])
            .await;
    assert!(published.status.success(), "{}", describe(&published));
    let id = stdout(&published).trim().to_owned();
    let output = tokio::time::timeout(PATIENCE, sub.wait_with_output())
        .await
        .expect("sub ends")
        .expect("runs");
    assert!(output.status.success(), "{}", describe(&output));
    let line: Value = serde_json::from_str(stdout(&output).trim()).expect("a JSON line");
    assert_eq!(line, json!({"event": "message", "data": "over TLS", "id": id}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_on_the_mercure_route_prints_events_in_sse_form() {
    let hub = Hub::start(&[]).await;
    let token = support::publisher_token();
    let sub = subscribe(&[
        &hub.url,
        "--mercure",
        "--topic",
        "https://example.com/books/{id}",
        "--token",
        &token,
        "--max-events",
        "1",
        "--timeout",
        "10s",
    ])
    .await;
    let published = run(&[
        "pub",
        &hub.url,
        "--topic",
        "https://example.com/books/1",
        "--data",
        "two\nlines",
        "--type",
        "book",
        "--private",
        "--key",
        KEY,
    ])
    .await;
    assert!(published.status.success(), "{}", describe(&published));
    let id = stdout(&published).trim().to_owned();
    let output = tokio::time::timeout(PATIENCE, sub.wait_with_output())
        .await
        .expect("sub ends")
        .expect("runs");
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(stdout(&output), format!("id: {id}\nevent: book\ndata: two\ndata: lines\n\n"));
}
