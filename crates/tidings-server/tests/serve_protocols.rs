//! `serve::Server` over real sockets: HTTP/1.1, h2c with prior knowledge, and TLS with h2 or
//! http/1.1 chosen by ALPN, each publishing then receiving over SSE; the connection info
//! handed to handlers.

mod serve_support;

use serve_support::{Proto, connect, get, publish_then_receive, start, text, trusting};
use tidings_server::serve::{ServeConfig, TlsConfig};

#[tokio::test]
async fn http1_publish_then_subscribe() {
    let server = start(ServeConfig::default()).await;
    publish_then_receive(&Proto::Http1, server.addr, "news", "over http/1.1").await;
}

#[tokio::test]
async fn h2c_prior_knowledge_publish_then_subscribe() {
    let server = start(ServeConfig::default()).await;
    publish_then_receive(&Proto::H2c, server.addr, "news", "over h2c").await;
}

#[tokio::test]
async fn h2c_multiplexes_the_stream_and_the_publish_on_one_connection() {
    let server = start(ServeConfig::default()).await;
    let (mut conn, _) = connect(&Proto::H2c, server.addr).await;
    let serve_support::Sender::Http2(sender) = &mut conn else { panic!("h2c speaks HTTP/2") };
    let mut publisher = sender.clone();
    let response = sender.send_request(get("/events?topic=t")).await.expect("response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    let mut body = response.into_body();
    let answer = publisher.send_request(serve_support::publish("t", "same conn")).await;
    assert_eq!(answer.expect("response").status(), 200);
    let mut seen = String::new();
    serve_support::read_until(&mut body, &mut seen, "data: same conn\n\n").await;
}

#[tokio::test]
async fn tls_with_the_dev_certificate_negotiates_h2_by_alpn() {
    let tls = TlsConfig::dev_self_signed(["localhost", "127.0.0.1"]).expect("certificate");
    let proto = Proto::Tls { trust: trusting(&tls, &[b"h2", b"http/1.1"]) };
    let server = start(ServeConfig::default().tls(tls)).await;
    let (mut conn, alpn) = connect(&proto, server.addr).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let response = conn.send(get("/peer")).await;
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = text(response).await.1;
    assert!(body.contains(" true "), "the handler sees a TLS connection: {body}");
    publish_then_receive(&proto, server.addr, "secure", "over h2 and TLS").await;
}

#[tokio::test]
async fn tls_client_offering_only_http1_gets_http1() {
    let tls = TlsConfig::dev_self_signed(["localhost"]).expect("certificate");
    let proto = Proto::Tls { trust: trusting(&tls, &[b"http/1.1"]) };
    let server = start(ServeConfig::default().tls(tls)).await;
    let (mut conn, alpn) = connect(&proto, server.addr).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(conn.send(get("/peer")).await.version(), http::Version::HTTP_11);
    publish_then_receive(&proto, server.addr, "secure", "over http/1.1 and TLS").await;
}

#[tokio::test]
async fn tls_server_refuses_a_clear_text_request() {
    let tls = TlsConfig::dev_self_signed(["localhost"]).expect("certificate");
    let server = start(ServeConfig::default().tls(tls)).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.expect("handshake");
    tokio::spawn(conn);
    assert!(sender.send_request(get("/peer")).await.is_err(), "plain HTTP on a TLS port");
}

#[tokio::test]
async fn handlers_see_the_peer_address_as_connection_info_and_axum_connect_info() {
    let server = start(ServeConfig::default()).await;
    for h2 in [false, true] {
        let stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        let client = stream.local_addr().expect("client address");
        let io = hyper_util::rt::TokioIo::new(stream);
        let response = if h2 {
            let executor = hyper_util::rt::TokioExecutor::new();
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(executor, io).await.expect("handshake");
            tokio::spawn(conn);
            sender.send_request(get("/peer")).await.expect("response")
        } else {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(io).await.expect("handshake");
            tokio::spawn(conn);
            sender.send_request(get("/peer")).await.expect("response")
        };
        let (status, body) = text(response).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("{client} {client} false {}", server.addr), "h2: {h2}");
    }
}
