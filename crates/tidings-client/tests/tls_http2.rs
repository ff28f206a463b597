//! TLS (rustls) and HTTP/2 against a hyper server: trusted roots, the insecure option, ALPN
//! and h2c.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use support::{client, next_event, next_item};
use tidings_client::{ClientItem, Disconnect, ErrorKind};
use tokio::net::TcpListener;

/// Answers every request with one event and the HTTP version it was spoken in.
async fn answer(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let body = format!("data: {:?}\n\n", request.version());
    Ok(http::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default())
}

/// A self-signed certificate for `localhost` and the PEM of it.
struct Certificate {
    pem: String,
    tls: Arc<rustls::ServerConfig>,
}

fn certificate() -> Certificate {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let pem = key.cert.pem();
    let der = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.key_pair.serialize_der())
        .expect("private key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], private)
        .expect("server config");
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Certificate { pem, tls: Arc::new(tls) }
}

/// Serves [`answer`] with hyper's auto (HTTP/1.1 or HTTP/2) connection builder, over TLS when
/// `tls` is given.
async fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let service = service_fn(answer);
                match acceptor {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_with_a_trusted_root_negotiates_http2() {
    let certificate = certificate();
    let addr = serve(Some(certificate.tls.clone())).await;
    let mut source = client(&format!("https://localhost:{}/", addr.port()))
        .add_root_certificate_pem(certificate.pem.as_bytes())
        .build()
        .expect("client");
    let Some(Ok(ClientItem::Open(open))) = next_item(&mut source).await else { panic!("no open") };
    assert_eq!(open.version, http::Version::HTTP_2);
    assert_eq!(next_event(&mut source).await.data(), "HTTP/2.0");
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_fails_and_retries() {
    let certificate = certificate();
    let addr = serve(Some(certificate.tls)).await;
    let mut source = client(&format!("https://localhost:{}/", addr.port()))
        .max_attempts(2)
        .build()
        .expect("client");
    let Some(Ok(ClientItem::Reconnecting(reconnecting))) = next_item(&mut source).await else {
        panic!("expected a reconnection")
    };
    assert!(
        matches!(&reconnecting.reason, Disconnect::Error(e) if e.kind() == &ErrorKind::Connect)
    );
    let Some(Err(error)) = next_item(&mut source).await else { panic!("expected to give up") };
    assert!(matches!(error.kind(), ErrorKind::GaveUp { attempts: 2, .. }));
}

#[tokio::test]
async fn danger_accept_invalid_certs_allows_a_self_signed_development_server() {
    let certificate = certificate();
    let addr = serve(Some(certificate.tls)).await;
    // 127.0.0.1 is not even the certificate's name.
    let mut source = client(&format!("https://127.0.0.1:{}/", addr.port()))
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    assert_eq!(next_event(&mut source).await.data(), "HTTP/2.0");
}

#[tokio::test]
async fn plain_http_uses_http1_by_default() {
    let addr = serve(None).await;
    let mut source = client(&format!("http://{addr}/")).build().expect("client");
    assert_eq!(next_event(&mut source).await.data(), "HTTP/1.1");
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let addr = serve(None).await;
    let mut source =
        client(&format!("http://{addr}/")).http2_prior_knowledge().build().expect("client");
    let Some(Ok(ClientItem::Open(open))) = next_item(&mut source).await else { panic!("no open") };
    assert_eq!(open.version, http::Version::HTTP_2);
    assert_eq!(next_event(&mut source).await.data(), "HTTP/2.0");
}

#[tokio::test]
async fn http2_stream_end_reconnects() {
    // The server answers each request with one event and ends the stream; over HTTP/2 the end
    // of a stream is not the end of the connection, and the client must still reconnect.
    let addr = serve(None).await;
    let mut source =
        client(&format!("http://{addr}/")).http2_prior_knowledge().build().expect("client");
    for _ in 0..3 {
        assert_eq!(next_event(&mut source).await.data(), "HTTP/2.0");
    }
}

#[tokio::test]
async fn an_unparsable_root_certificate_fails_the_build() {
    let error = client("https://localhost/")
        .add_root_certificate_pem(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .build()
        .expect_err("invalid PEM");
    assert_eq!(error.kind(), &ErrorKind::Tls);
    let error =
        client("https://localhost/").add_root_certificate_pem(b"").build().expect_err("no PEM");
    assert_eq!(error.kind(), &ErrorKind::Tls);
}
