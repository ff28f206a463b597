//! The HTTP transport: hyper-util's client over TCP or rustls TLS, HTTP/1.1 and HTTP/2.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, ErrorKind};

/// TLS settings collected by the builder.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSettings {
    pub(crate) native_roots: bool,
    #[cfg(feature = "webpki-roots")]
    pub(crate) webpki_roots: bool,
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    pub(crate) danger_accept_invalid_certs: bool,
}

/// Transport settings collected by the builder.
#[derive(Clone, Debug)]
pub(crate) struct TransportSettings {
    pub(crate) tls: TlsSettings,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) connect_timeout: Option<Duration>,
}

/// Sends requests; each `EventSource` owns one.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Transport {
    pub(crate) fn new(settings: &TransportSettings) -> Result<Self, Error> {
        let tls = client_config(&settings.tls)?;
        let mut http = HttpConnector::new();
        // The TLS layer wraps this connector, so it must accept `https` URLs too.
        http.enforce_http(false);
        // Events are small and latency matters more than packet count.
        http.set_nodelay(true);
        http.set_connect_timeout(settings.connect_timeout);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // An event stream holds its connection for its whole life; a connection left idle
            // (after a stall or an error) must not be handed to the next attempt.
            .pool_max_idle_per_host(0)
            .http2_only(settings.http2_prior_knowledge)
            .build(https);
        Ok(Self { client })
    }

    /// Sends `request`; resolves to the response head once it arrives.
    pub(crate) fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        self.client.request(request.map(Full::new))
    }
}

/// The response type the transport yields.
pub(crate) type Response = http::Response<Incoming>;

fn provider() -> Arc<CryptoProvider> {
    // Named explicitly so the process-wide default provider (which another crate may have
    // installed, or nobody has) does not matter.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::with_source(ErrorKind::Tls, error))?;
    if settings.danger_accept_invalid_certs {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    #[cfg(feature = "native-roots")]
    if settings.native_roots {
        // Certificates the system store holds but rustls cannot parse are skipped, as are
        // load errors: a missing system store must not stop a client that has its own roots.
        let loaded = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(loaded.certs);
    }
    #[cfg(feature = "webpki-roots")]
    if settings.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for certificate in &settings.extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|error| Error::with_source(ErrorKind::Tls, error))?;
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts any server certificate, for development servers with self-signed certificates.
/// Handshake signatures are still checked, so the peer must hold the key of the certificate it
/// presents; only the certificate's trust and name are not.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
