//! The load tool against a real tidings hub over real loopback sockets: a small run (a few
//! connections, a few hundred events, a couple of seconds) must lose nothing, keep order and
//! report figures that make sense. Large runs are the scripts under `bench/`, never here.

use std::net::SocketAddr;
use std::time::Duration;

use tidings_bench::{BenchConfig, BenchError, run};
use tidings_server::api::{ApiConfig, router};
use tidings_server::jwt::{JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey};
use tidings_server::serve::{ServeConfig, Server};
use tidings_server::{Hub, HubConfig};

const SECRET: &str = "bench-test-secret-of-some-length!";

/// A hub with the HTTP API on 127.0.0.1:0, served from its own runtime on a background thread
/// for as long as the test process lives.
fn start_hub() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let hub = Hub::new(HubConfig::default());
            let auth =
                JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")));
            let app = router(hub.clone(), ApiConfig::default().authenticator(auth));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let server = Server::new(listener, ServeConfig::default()).hub(hub);
            tx.send(server.local_addr().expect("addr")).expect("send addr");
            server.serve(app, std::future::pending::<()>()).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("hub started")
}

fn config(addr: SocketAddr) -> BenchConfig {
    let token =
        TokenBuilder::publisher().sign(&SigningKey::hs256(SECRET).expect("key")).expect("token");
    BenchConfig::new(format!("http://{addr}/events?topic=bench"), format!("http://{addr}/publish"))
        .publish_header("Authorization", format!("Bearer {token}"))
        .publish_header("Content-Type", "application/json")
        .body_template(r#"{"topic":"bench","data":"{data}"}"#)
        .settle(Duration::from_millis(100))
        .drain_timeout(Duration::from_secs(5))
        .max_duration(Duration::from_secs(30))
        .server_pids(vec![std::process::id()])
}

#[test]
fn a_small_run_against_the_hub_loses_nothing_and_reports_sane_figures() {
    let addr = start_hub();
    let summary = run(&config(addr).connections(20).events(300).rate(Some(1000.0))).expect("run");

    assert_eq!(summary.ended_by, "complete", "{summary}");
    assert_eq!(summary.connections.established, 20, "{summary}");
    assert_eq!(summary.connections.failed, 0);
    assert_eq!(summary.connections.closed_early, 0);
    assert_eq!(summary.publish.ok, 300, "{summary}");
    assert_eq!(summary.deliveries.expected, 20 * 300);
    assert_eq!(summary.deliveries.received, 20 * 300);
    assert_eq!(summary.deliveries.lost, 0);
    assert_eq!(summary.deliveries.out_of_order, 0);
    // 300 events at 1 000/s take about 0.3 s to publish.
    assert!((0.25..5.0).contains(&summary.publish.duration_s), "{summary}");
    assert!(summary.deliveries.per_s > 1000.0, "{summary}");
    let l = &summary.latency_us;
    assert!(0.0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
    assert!(l.p50 < 1_000_000.0, "a median latency of a second on loopback: {summary}");
    // The "server" is this test process (hub and tool): its figures exist and are plausible.
    let server = summary.server.as_ref().expect("pids were given");
    assert!(server.rss_connected > 0 && server.rss_end > 0);
    assert!(server.cpu_s >= 0.0 && server.cpu_utilisation >= 0.0);
    let json = serde_json::to_value(&summary).expect("json");
    assert_eq!(json["deliveries"]["received"], 6000);
    assert!(json["latency_us"]["p99"].as_f64().expect("number") > 0.0);
}

#[test]
fn as_fast_as_possible_with_the_default_tidings_payload_size() {
    let addr = start_hub();
    let summary = run(&config(addr).connections(5).events(500).data_size(100)).expect("run");
    assert_eq!(summary.ended_by, "complete", "{summary}");
    assert_eq!(summary.deliveries.received, 2500);
    assert_eq!(summary.deliveries.lost, 0);
    assert_eq!(summary.deliveries.out_of_order, 0);
}

#[test]
fn refused_publishes_are_counted_and_nothing_is_expected_of_them() {
    let addr = start_hub();
    let config = BenchConfig::new(
        format!("http://{addr}/events?topic=bench"),
        format!("http://{addr}/publish"),
    )
    .body_template(r#"{"topic":"bench","data":"{data}"}"#)
    .connections(2)
    .events(3)
    .settle(Duration::from_millis(50))
    .drain_timeout(Duration::from_millis(200));
    // No token: the hub answers 401 to every publish (pipelined, four at a time).
    let summary = run(&config.publish_window(Some(4))).expect("run");
    assert_eq!(summary.publish.ok, 0);
    assert_eq!(summary.publish.failed, 3);
    assert_eq!(summary.publish.last_bad_status, Some(401));
    assert_eq!(summary.deliveries.expected, 0);
    assert_eq!(summary.ended_by, "complete");
}

#[test]
fn a_server_that_is_not_there_is_an_error() {
    // Bind and drop, so the port is very likely closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = BenchConfig::new(
        format!("http://127.0.0.1:{port}/s"),
        format!("http://127.0.0.1:{port}/p"),
    )
    .connections(3)
    .timeout(Duration::from_secs(2));
    match run(&config) {
        Err(BenchError::NoConnection { first_error }) => {
            assert!(first_error.expect("a reason").starts_with("connect"));
        }
        other => panic!("expected NoConnection, got {other:?}"),
    }
}
