//! Per-stream response details: the recorded client address (TCP peer, or the forwarded client
//! behind a trusted proxy; spoofed headers from untrusted peers ignored) and configured headers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tidings_server::api::{ApiConfig, router};
use tidings_server::client_addr::{IpNet, TrustedProxies};
use tidings_server::{Hub, HubConfig};

async fn start(proxies: TrustedProxies) -> (String, Hub) {
    let hub = Hub::new(HubConfig::default());
    let app = router(hub.clone(), ApiConfig::default().trusted_proxies(proxies));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    (format!("http://{addr}/events?topic=t"), hub)
}

async fn recorded_addr(url: &str, hub: &Hub, forwarded_for: &str) -> Option<IpAddr> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let request = http::Request::get(url)
        .header("x-forwarded-for", forwarded_for)
        .body(Empty::new())
        .expect("request");
    let response = client.request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let listed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(status) = hub.connection_list(10).into_iter().next() {
                return status.client_addr;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("connection listed");
    drop(response);
    listed
}

#[tokio::test]
async fn untrusted_peer_cannot_spoof_its_address() {
    let (url, hub) = start(TrustedProxies::none()).await;
    let addr = recorded_addr(&url, &hub, "203.0.113.7").await;
    assert_eq!(addr, Some("127.0.0.1".parse().expect("ip")));
}

#[tokio::test]
async fn trusted_proxy_forwards_the_client_address() {
    let proxies = TrustedProxies::none().trust(IpNet::parse("127.0.0.1").expect("net"));
    let (url, hub) = start(proxies).await;
    let addr = recorded_addr(&url, &hub, "198.51.100.9, 203.0.113.7").await;
    // Walking from the right: 203.0.113.7 is the first hop not trusted, so it is the client.
    assert_eq!(addr, Some("203.0.113.7".parse().expect("ip")));
}

#[tokio::test]
async fn configured_stream_headers_are_sent_with_every_stream() {
    use http::{HeaderName, HeaderValue};
    let hub = Hub::new(HubConfig::default());
    let config = ApiConfig::default()
        .stream_header(HeaderName::from_static("x-hub-region"), HeaderValue::from_static("eu-1"))
        .stream_header(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let app = router(hub, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    for path in ["/events?topic=t", "/.well-known/mercure?topic=t"] {
        let request =
            http::Request::get(format!("http://{addr}{path}")).body(Empty::new()).expect("request");
        let response = client.request(request).await.expect("response");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-hub-region"], "eu-1", "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream", "{path}");
    }
}
