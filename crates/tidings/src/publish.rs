//! Publishing one event to a hub over HTTP: the work behind `tidings pub`.
//!
//! A [`Publication`] is the event; [`Protocol`] picks the hub's route and body shape: the
//! tidings native route (`POST {base}/publish`, JSON) or Mercure's (`POST
//! {base}/.well-known/mercure`, form fields), which any Mercure hub, tidings included,
//! accepts. [`Publication::send`] posts it with a [`HttpClient`] from [`http_client`] and
//! returns the id the hub gave the event.
//!
//! ```
//! use tidings::publish::{Protocol, Publication};
//!
//! let event = Publication::new(["https://example.com/books/1"], "{\"title\": \"Dune\"}")
//!     .event_type("book-updated")
//!     .private(true);
//! let body = event.body(Protocol::Mercure);
//! assert_eq!(
//!     String::from_utf8(body).expect("form bodies are ASCII"),
//!     "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%22title%22%3A+%22Dune%22%7D&type=book-updated&private=on"
//! );
//! ```

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

/// The HTTP client `tidings` publishes (and reports contract-test callbacks) with: hyper-util's
/// pooled client over plain TCP or rustls TLS with the system's root certificates.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a [`HttpClient`] trusting the operating system's root certificates (HTTP/1.1, and
/// HTTP/2 when TLS negotiates it).
///
/// # Errors
/// [`PublishError::Tls`] when the system's certificate store cannot be read.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tidings::publish::PublishError> {
/// let client = tidings::publish::http_client()?;
/// # drop(client);
/// # Ok(())
/// # }
/// ```
pub fn http_client() -> Result<HttpClient, PublishError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(PublishError::Tls)?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// **Insecure**: a [`HttpClient`] that accepts any server certificate (self-signed, expired,
/// for another name), for a development hub (`tidings serve --dev-tls`). Anyone on the path
/// can read and change what it sends. Signatures in the handshake are still checked, so the
/// server must hold the key of the certificate it shows.
///
/// # Errors
/// [`PublishError::Tls`] when the TLS configuration cannot be built.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tidings::publish::PublishError> {
/// let client = tidings::publish::insecure_http_client()?;
/// # drop(client);
/// # Ok(())
/// # }
/// ```
pub fn insecure_http_client() -> Result<HttpClient, PublishError> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| PublishError::Tls(std::io::Error::other(error)))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate { provider }))
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Accepts every certificate chain, but still checks handshake signatures with the
/// provider's algorithms.
#[derive(Debug)]
struct AnyCertificate {
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Which publish route and body format to use.
///
/// ```
/// use tidings::publish::Protocol;
/// let url = Protocol::Mercure.publish_url("https://hub.example/base")?;
/// assert_eq!(url.as_str(), "https://hub.example/base/.well-known/mercure");
/// // A URL that already names the route is used as it is.
/// let url = Protocol::Native.publish_url("http://localhost:8080/publish")?;
/// assert_eq!(url.as_str(), "http://localhost:8080/publish");
/// # Ok::<(), tidings::publish::PublishError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// tidings' native route: `POST {base}/publish` with a JSON body; the answer is
    /// `{"ids": [...]}`.
    Native,
    /// Mercure's route: `POST {base}/.well-known/mercure` with form fields; the answer is the
    /// id as plain text.
    Mercure,
}

impl Protocol {
    /// The route below the hub's base URL.
    fn path(self) -> &'static str {
        match self {
            Protocol::Native => "publish",
            Protocol::Mercure => ".well-known/mercure",
        }
    }

    /// The publish URL on the hub at `base`. `base` may carry a path prefix; when its path
    /// already ends with this protocol's route it is taken as the publish URL itself.
    ///
    /// # Errors
    /// [`PublishError::InvalidUrl`] when `base` is not an absolute `http`/`https` URL.
    ///
    /// ```
    /// use tidings::publish::Protocol;
    /// let url = Protocol::Native.publish_url("http://localhost:8080/prefix?x=1")?;
    /// assert_eq!(url.as_str(), "http://localhost:8080/prefix/publish");
    /// assert!(Protocol::Native.publish_url("ftp://x").is_err());
    /// # Ok::<(), tidings::publish::PublishError>(())
    /// ```
    pub fn publish_url(self, base: &str) -> Result<Url, PublishError> {
        let invalid = || PublishError::InvalidUrl { url: base.to_owned() };
        let mut url = Url::parse(base).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(invalid());
        }
        url.set_fragment(None);
        if url.path().trim_end_matches('/').ends_with(&format!("/{}", self.path())) {
            return Ok(url);
        }
        url.set_query(None);
        // Joining onto "http://h/prefix" would replace "prefix"; a trailing slash makes the
        // base a directory.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url.join(self.path()).map_err(|_| invalid())
    }

    /// The request's `Content-Type`.
    fn content_type(self) -> &'static str {
        match self {
            Protocol::Native => "application/json",
            Protocol::Mercure => "application/x-www-form-urlencoded",
        }
    }
}

/// One event to publish. Built by value; the topics and data are required, the rest optional.
///
/// ```
/// use tidings::publish::{Protocol, Publication};
/// let event = Publication::new(["a", "b"], "two\nlines").id("custom-1").retry(5000);
/// let json: serde_json::Value = serde_json::from_slice(&event.body(Protocol::Native))?;
/// assert_eq!(json, serde_json::json!({
///     "topics": ["a", "b"], "data": "two\nlines", "id": "custom-1", "retry": 5000
/// }));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Publication {
    topics: Vec<String>,
    data: String,
    event_type: Option<String>,
    id: Option<String>,
    private: bool,
    retry: Option<u64>,
}

impl Publication {
    /// An event on `topics` (the first is the canonical one for Mercure) carrying `data`.
    ///
    /// ```
    /// let event = tidings::publish::Publication::new(["news"], "hello");
    /// # drop(event);
    /// ```
    pub fn new<T: Into<String>>(
        topics: impl IntoIterator<Item = T>,
        data: impl Into<String>,
    ) -> Self {
        Self {
            topics: topics.into_iter().map(Into::into).collect(),
            data: data.into(),
            event_type: None,
            id: None,
            private: false,
            retry: None,
        }
    }

    /// The SSE `event:` field. Default: none (subscribers see `message`).
    ///
    /// ```
    /// let event = tidings::publish::Publication::new(["news"], "hi").event_type("greeting");
    /// # drop(event);
    /// ```
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// A custom event id. Default: none (the hub assigns one).
    ///
    /// ```
    /// let event = tidings::publish::Publication::new(["news"], "hi").id("n-1");
    /// # drop(event);
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Deliver only to subscribers allowed to see private events of a topic. Default: `false`.
    ///
    /// ```
    /// let event = tidings::publish::Publication::new(["users/ann"], "hi").private(true);
    /// # drop(event);
    /// ```
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// A `retry:` hint in milliseconds. Default: none.
    ///
    /// ```
    /// let event = tidings::publish::Publication::new(["news"], "hi").retry(2000);
    /// # drop(event);
    /// ```
    pub fn retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// The request body for `protocol`: a JSON object for the native route, form fields for
    /// Mercure (where `private` is sent as `private=on`, its presence being what counts).
    ///
    /// ```
    /// use tidings::publish::{Protocol, Publication};
    /// let body = Publication::new(["a"], "x y").body(Protocol::Mercure);
    /// assert_eq!(body, b"topic=a&data=x+y");
    /// ```
    #[must_use]
    pub fn body(&self, protocol: Protocol) -> Vec<u8> {
        match protocol {
            Protocol::Native => {
                let mut object = serde_json::Map::new();
                object.insert("topics".into(), self.topics.clone().into());
                object.insert("data".into(), self.data.clone().into());
                if let Some(event_type) = &self.event_type {
                    object.insert("type".into(), event_type.clone().into());
                }
                if let Some(id) = &self.id {
                    object.insert("id".into(), id.clone().into());
                }
                if self.private {
                    object.insert("private".into(), true.into());
                }
                if let Some(retry) = self.retry {
                    object.insert("retry".into(), retry.into());
                }
                serde_json::Value::Object(object).to_string().into_bytes()
            }
            Protocol::Mercure => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for topic in &self.topics {
                    form.append_pair("topic", topic);
                }
                form.append_pair("data", &self.data);
                if let Some(event_type) = &self.event_type {
                    form.append_pair("type", event_type);
                }
                if let Some(id) = &self.id {
                    form.append_pair("id", id);
                }
                if self.private {
                    form.append_pair("private", "on");
                }
                if let Some(retry) = self.retry {
                    form.append_pair("retry", &retry.to_string());
                }
                form.finish().into_bytes()
            }
        }
    }

    /// Posts the event to `url` (from [`Protocol::publish_url`]) with `token` as a Bearer
    /// token, and returns the id the hub gave it.
    ///
    /// # Errors
    /// [`PublishError::Request`] when the request could not be made or the answer read,
    /// [`PublishError::Status`] for an answer other than 2xx (with the hub's message),
    /// [`PublishError::InvalidResponse`] when a 2xx answer carries no id.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request; the hub may or may not have published the
    /// event.
    ///
    /// ```no_run
    /// use tidings::publish::{Protocol, Publication, http_client};
    /// # async fn demo() -> Result<(), tidings::publish::PublishError> {
    /// let url = Protocol::Native.publish_url("http://localhost:8080")?;
    /// let id = Publication::new(["news"], "hi").send(&http_client()?, Protocol::Native, &url, Some("eyJ…")).await?;
    /// println!("{id}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(
        &self,
        client: &HttpClient,
        protocol: Protocol,
        url: &Url,
        token: Option<&str>,
    ) -> Result<String, PublishError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, protocol.content_type());
        if let Some(token) = token {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| PublishError::InvalidToken)?;
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(self.body(protocol))))
            .map_err(|error| PublishError::Request(Box::new(error)))?;
        let response = client
            .request(request)
            .await
            .map_err(|error| PublishError::Request(Box::new(error)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| PublishError::Request(Box::new(error)))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(PublishError::Status { status, body: text.trim().to_owned() });
        }
        let id = match protocol {
            Protocol::Native => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|json| json["ids"][0].as_str().map(str::to_owned)),
            Protocol::Mercure => Some(text.trim().to_owned()).filter(|id| !id.is_empty()),
        };
        id.ok_or(PublishError::InvalidResponse)
    }
}

/// Why publishing failed.
///
/// ```
/// use tidings::publish::{Protocol, PublishError};
/// let error = Protocol::Native.publish_url("not a url").expect_err("refused");
/// assert!(matches!(error, PublishError::InvalidUrl { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The hub URL is not an absolute `http`/`https` URL.
    #[error("invalid hub URL {url:?} (an absolute http or https URL is expected)")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The token cannot be sent in a header (it has a line break or a control character).
    #[error("the token is not a valid header value")]
    InvalidToken,
    /// The system's root certificates could not be loaded, or the TLS configuration built.
    #[error("cannot set up TLS")]
    Tls(#[source] std::io::Error),
    /// The request could not be sent or its answer read.
    #[error("the publish request failed")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The hub refused the event.
    #[error("the hub answered {status}: {body}")]
    Status {
        /// The answer's status.
        status: StatusCode,
        /// The answer's body (the hub's JSON error), trimmed.
        body: String,
    },
    /// A successful answer without an event id in it.
    #[error("the hub's answer carries no event id")]
    InvalidResponse,
}
