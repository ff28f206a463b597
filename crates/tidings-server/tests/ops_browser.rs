//! The real browser: headless Debian chromium, driven by npm `playwright-core`
//! (`tests/browser/run.mjs`), against the hub served here on 127.0.0.1:0.
//!
//! Ignored by default: it needs `node`, `/usr/bin/chromium` and `npm ci` in `tests/browser`.
//! `.ci/browser.sh` installs those and runs it:
//!
//! ```text
//! cargo test -p tidings-server --test ops_browser -- --ignored --nocapture
//! ```

mod ops_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Html;
use axum::routing::get;
use ops_support::{admin_token, publisher_token, start_with};
use tidings_server::admin::AdminConfig;
use tidings_server::metrics::MetricsConfig;
use tidings_server::{Hub, HubConfig};

/// The page the browser opens, from the hub's own origin.
const PAGE: &str = include_str!("browser/page.html");

/// How long the whole browser run may take.
const BROWSER_PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node, chromium and `npm ci` in tests/browser: run .ci/browser.sh"]
async fn a_real_browser_receives_reconnects_resumes_and_sees_the_admin_page() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (or .ci/browser.sh)",
        browser_dir.display()
    );
    // Streams end after 3 s (the hub closes them: the browser must reconnect and resume);
    // the browser waits 1.5 s before reconnecting, time enough to publish while it is away.
    let hub = Hub::new(
        HubConfig::default()
            .max_lifetime(Duration::from_secs(3))
            .retry_hint(Duration::from_millis(1500)),
    );
    // The Last-Event-ID of every subscribe request, as the hub received it.
    let resumes: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let recorded = Arc::clone(&resumes);
    let record = move |request: Request, next: Next| {
        let recorded = Arc::clone(&recorded);
        async move {
            if request.uri().path() == "/events" {
                let id = request.headers().get("last-event-id");
                let id = id.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                recorded.lock().expect("lock").push(id);
            }
            next.run(request).await
        }
    };
    let router = ops_support::app(&hub, MetricsConfig::default(), AdminConfig::default())
        .route("/test/page.html", get(|| async { Html(PAGE) }))
        .layer(axum::middleware::from_fn(record));
    let running = start_with(hub, router).await;
    let base = running.url("");

    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let run = tokio::process::Command::new(&node)
        .arg(browser_dir.join("run.mjs"))
        .args([&base, &publisher_token(), &admin_token()])
        .current_dir(&browser_dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BROWSER_PATIENCE, run)
        .await
        .expect("the browser run finished in time")
        .unwrap_or_else(|error| panic!("could not start {node}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- browser run (stdout) ---\n{stdout}--- (stderr) ---\n{stderr}---");
    assert!(output.status.success(), "the browser run failed: {}", output.status);
    assert!(stdout.contains("all browser checks passed"));

    // The browser's own reconnect resumed: a later subscribe request carried the id of the
    // last event it had received.
    let resumes = resumes.lock().expect("lock").clone();
    assert_eq!(resumes.first(), Some(&None), "the first request starts fresh: {resumes:?}");
    assert!(
        resumes.iter().skip(1).any(|id| id.as_deref().is_some_and(|id| !id.is_empty())),
        "no reconnect carried Last-Event-ID: {resumes:?}"
    );
}
