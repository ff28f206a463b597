//! [`EventSourceBuilder`]: every setting of a client, with its default.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tidings_codec::{DEFAULT_MAX_EVENT_SIZE, EventId};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::backoff::{Backoff, JitterRng, SplitMix64};
use crate::error::{BoxError, Error, ErrorKind};
use crate::item::DataEncoding;
use crate::machine::{Machine, Settings, Validator, to_uri};
use crate::source::EventSource;
use crate::transport::{TlsSettings, TransportSettings};

/// Default for [`EventSourceBuilder::retry`]: 3 s, what browsers use.
///
/// ```
/// let machine = tidings_client::EventSource::builder("http://localhost/").build_machine()?;
/// assert_eq!(machine.reconnection_time(), tidings_client::DEFAULT_RETRY);
/// # Ok::<(), tidings_client::Error>(())
/// ```
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Default for [`EventSourceBuilder::max_redirects`]: 10 in a row.
///
/// ```
/// assert_eq!(tidings_client::DEFAULT_MAX_REDIRECTS, 10);
/// ```
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// Default for [`EventSourceBuilder::connect_timeout`]: 30 s.
///
/// ```
/// assert_eq!(tidings_client::DEFAULT_CONNECT_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes a fresh jitter source for each machine built.
type RngFactory = Arc<dyn Fn() -> Box<dyn JitterRng> + Send + Sync>;

/// Configures and builds an [`EventSource`] (or, for a driver of your own, a [`Machine`]).
///
/// Setters take and return the builder by value. Invalid input (a URL, header or id that
/// cannot be used) is remembered and reported by [`EventSourceBuilder::build`], so chains stay
/// readable.
///
/// ```no_run
/// use std::time::Duration;
/// use tidings_client::{Backoff, EventSource, Jitter};
///
/// # async fn demo() -> Result<(), tidings_client::Error> {
/// let source = EventSource::builder("https://hub.example/events?topic=news/*")
///     .bearer_token("eyJ…")
///     .header("x-client", "dashboard")
///     .retry(Duration::from_secs(2))
///     .backoff(Backoff::default().max_delay(Duration::from_secs(60)).jitter(Jitter::Full))
///     .read_timeout(Duration::from_secs(45))
///     .max_retry_duration(Duration::from_secs(600))
///     .build()?;
/// # drop(source);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct EventSourceBuilder {
    url: Result<Url, Error>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    last_event_id: EventId,
    retry: Duration,
    backoff: Backoff,
    max_attempts: Option<u32>,
    max_retry_duration: Option<Duration>,
    max_redirects: u32,
    read_timeout: Option<Duration>,
    max_event_size: usize,
    comments: bool,
    topic_field: Option<String>,
    keep_unknown_fields: bool,
    data_encoding: DataEncoding,
    gap_events: bool,
    validator: Option<Validator>,
    rng: Option<RngFactory>,
    tls: TlsSettings,
    http2_prior_knowledge: bool,
    connect_timeout: Option<Duration>,
    cancel: Option<CancellationToken>,
    /// The first invalid input given to a setter.
    error: Option<Error>,
}

impl fmt::Debug for EventSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSourceBuilder")
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("method", &self.method)
            .field("retry", &self.retry)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl EventSourceBuilder {
    pub(crate) fn new(url: &str) -> Self {
        let url = Url::parse(url)
            .map_err(|error| Error::with_source(ErrorKind::InvalidUrl, error))
            .and_then(|url| match url.scheme() {
                "http" | "https" if to_uri(&url).is_some() => Ok(url),
                _ => Err(Error::new(ErrorKind::InvalidUrl)),
            });
        Self::from_url(url)
    }

    pub(crate) fn from_url(url: Result<Url, Error>) -> Self {
        Self {
            url,
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            last_event_id: EventId::empty(),
            retry: DEFAULT_RETRY,
            backoff: Backoff::default(),
            max_attempts: None,
            max_retry_duration: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            read_timeout: None,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            comments: false,
            topic_field: None,
            keep_unknown_fields: false,
            data_encoding: DataEncoding::Plain,
            gap_events: true,
            validator: None,
            rng: None,
            tls: TlsSettings { native_roots: true, ..TlsSettings::default() },
            http2_prior_knowledge: false,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            cancel: None,
            error: None,
        }
    }

    fn remember(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    /// The request method. Default: `GET`. `POST` and `REPORT` (with
    /// [`EventSourceBuilder::body`]) serve APIs that take a query in the body.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/stream")
    ///     .method(http::Method::POST)
    ///     .header("content-type", "application/json")
    ///     .body(r#"{"filter": "errors"}"#);
    /// # drop(builder);
    /// ```
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The request body, re-sent unchanged on every reconnection. Default: empty.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").body("query");
    /// # drop(builder);
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a request header, sent on every request (a repeated name adds a value).
    /// `Accept`, `Cache-Control` and `Last-Event-ID` are the client's own and cannot be set
    /// here. An invalid name or value fails [`EventSourceBuilder::build`] with
    /// [`ErrorKind::InvalidRequest`].
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .header("x-tenant", "blue");
    /// # drop(builder);
    /// ```
    pub fn header<N, V>(mut self, name: N, value: V) -> Self
    where
        N: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.remember(Error::new(ErrorKind::InvalidRequest)),
        }
        self
    }

    /// Adds all of `headers` (see [`EventSourceBuilder::header`]).
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-a", http::HeaderValue::from_static("1"));
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").headers(headers);
    /// # drop(builder);
    /// ```
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Sends `Authorization: Bearer <token>` (a tidings or Mercure hub's JWT). The header is
    /// dropped on a redirect to another origin.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").bearer_token("abc");
    /// # drop(builder);
    /// ```
    pub fn bearer_token(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.header(http::header::AUTHORIZATION, value)
    }

    /// The last event id to resume from: sent as `Last-Event-ID` on the first request.
    /// Default: none. An id with CR, LF or NUL fails the build with
    /// [`ErrorKind::InvalidRequest`].
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").last_event_id("k3vq1x-41");
    /// # drop(builder);
    /// ```
    pub fn last_event_id(mut self, id: impl AsRef<str>) -> Self {
        match EventId::new(id) {
            Ok(id) => self.last_event_id = id,
            Err(error) => self.remember(Error::with_source(ErrorKind::InvalidRequest, error)),
        }
        self
    }

    /// The initial reconnection time, until the server sends `retry:`. Default:
    /// [`DEFAULT_RETRY`] (3 s).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .retry(std::time::Duration::from_millis(500));
    /// # drop(builder);
    /// ```
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// Backoff after failed attempts. Default: [`Backoff::default`] (full jitter, 30 s cap,
    /// reset after a stream delivered an event or stayed open 60 s).
    ///
    /// ```
    /// use tidings_client::{Backoff, Jitter};
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .backoff(Backoff::default().jitter(Jitter::Decorrelated));
    /// # drop(builder);
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The jitter source, cloned into each client built. Default: [`SplitMix64`] seeded
    /// from process randomness.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .jitter_rng(tidings_client::SplitMix64::new(42));
    /// # drop(builder);
    /// ```
    pub fn jitter_rng<R: JitterRng + Clone + Sync>(mut self, rng: R) -> Self {
        self.rng = Some(Arc::new(move || Box::new(rng.clone())));
        self
    }

    /// Gives up after this many connection attempts in a row without a working stream (the
    /// first connection counts; a stream that delivered an event resets the count).
    /// Default: no limit. `0` is taken as `1`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").max_attempts(5);
    /// # drop(builder);
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Gives up rather than wait past this much time without a working stream (counted from
    /// the start, or from the end of the last working stream). Default: no limit.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .max_retry_duration(std::time::Duration::from_secs(300));
    /// # drop(builder);
    /// ```
    pub fn max_retry_duration(mut self, duration: Duration) -> Self {
        self.max_retry_duration = Some(duration);
        self
    }

    /// Redirects followed in a row within one attempt. Default: [`DEFAULT_MAX_REDIRECTS`].
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").max_redirects(3);
    /// # drop(builder);
    /// ```
    pub fn max_redirects(mut self, redirects: u32) -> Self {
        self.max_redirects = redirects;
        self
    }

    /// Drops and re-establishes a connection on which nothing arrived for this long (the
    /// response head, or any body bytes: comments and keep-alives count). Set it above the
    /// server's keep-alive interval (15 s for a tidings hub). Default: none.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .read_timeout(std::time::Duration::from_secs(45));
    /// # drop(builder);
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Limit on establishing the TCP connection. Default: [`DEFAULT_CONNECT_TIMEOUT`].
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .connect_timeout(std::time::Duration::from_secs(5));
    /// # drop(builder);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Largest event accepted, in bytes; a larger one is skipped and reported as
    /// [`ClientItem::EventError`](crate::ClientItem::EventError). Default:
    /// [`DEFAULT_MAX_EVENT_SIZE`] (1 MiB).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").max_event_size(64 * 1024);
    /// # drop(builder);
    /// ```
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// Report comment lines as [`ClientItem::Comment`](crate::ClientItem::Comment).
    /// Default: `false`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").comments(true);
    /// # drop(builder);
    /// ```
    pub fn comments(mut self, comments: bool) -> Self {
        self.comments = comments;
        self
    }

    /// Read event topics from the named extension field ([`crate::TOPIC_FIELD`] for a tidings
    /// hub); they appear in [`Event::topics`](crate::Event::topics). Default: off (the hub
    /// helpers turn it on).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .topic_field(tidings_client::TOPIC_FIELD);
    /// # drop(builder);
    /// ```
    pub fn topic_field(mut self, field: impl Into<String>) -> Self {
        self.topic_field = Some(field.into());
        self
    }

    /// Keep fields the SSE standard does not define, in [`Event::fields`](crate::Event::fields).
    /// Default: `false`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").keep_unknown_fields(true);
    /// # drop(builder);
    /// ```
    pub fn keep_unknown_fields(mut self, keep: bool) -> Self {
        self.keep_unknown_fields = keep;
        self
    }

    /// How event data is encoded. Default: [`DataEncoding::Plain`].
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .data_encoding(tidings_client::DataEncoding::FromResponseHeader);
    /// # drop(builder);
    /// ```
    pub fn data_encoding(mut self, encoding: DataEncoding) -> Self {
        self.data_encoding = encoding;
        self
    }

    /// Turn `tidings-gap` events into [`ClientItem::Gap`](crate::ClientItem::Gap). Default:
    /// `true`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").gap_events(false);
    /// # drop(builder);
    /// ```
    pub fn gap_events(mut self, gap_events: bool) -> Self {
        self.gap_events = gap_events;
        self
    }

    /// A check on each `200 text/event-stream` response head before the stream is read. An
    /// error fails the client without reconnecting ([`ErrorKind::Rejected`], with the hook's
    /// error as `source()`). Default: none.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/")
    ///     .validate_response(|response| match response.headers.get("x-api-version") {
    ///         Some(v) if v == "2" => Ok(()),
    ///         _ => Err("this client speaks API version 2".into()),
    ///     });
    /// # drop(builder);
    /// ```
    pub fn validate_response<F>(mut self, hook: F) -> Self
    where
        F: Fn(&http::response::Parts) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.validator = Some(Arc::new(hook));
        self
    }

    /// Trust the operating system's root certificates (feature `native-roots`, on by
    /// default). Default: `true`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("https://localhost:8443/").native_roots(false);
    /// # drop(builder);
    /// ```
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.tls.native_roots = enabled;
        self
    }

    /// Trust Mozilla's root certificates compiled in (feature `webpki-roots`). Default:
    /// `false`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("https://localhost:8443/").webpki_roots(true);
    /// # drop(builder);
    /// ```
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.tls.webpki_roots = enabled;
        self
    }

    /// Trusts the certificates in a PEM file's contents as roots, besides the others. A PEM
    /// without certificates, or one that does not parse, fails the build with
    /// [`ErrorKind::Tls`].
    ///
    /// ```no_run
    /// let pem = std::fs::read("dev-ca.pem")?;
    /// let builder = tidings_client::EventSource::builder("https://localhost:8443/")
    ///     .add_root_certificate_pem(&pem);
    /// # drop(builder);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
        match parsed {
            Ok(certificates) if !certificates.is_empty() => {
                self.tls.extra_roots.extend(certificates);
            }
            Ok(_) => self.remember(Error::new(ErrorKind::Tls)),
            Err(error) => self.remember(Error::with_source(ErrorKind::Tls, error)),
        }
        self
    }

    /// Trusts a DER-encoded certificate as a root, besides the others.
    ///
    /// ```no_run
    /// let der = std::fs::read("dev-ca.der")?;
    /// let builder = tidings_client::EventSource::builder("https://localhost:8443/")
    ///     .add_root_certificate_der(der);
    /// # drop(builder);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// **Dangerous**: accept any server certificate (self-signed, expired, for another name).
    /// Only for development servers; anyone on the path can read and change the stream.
    /// Default: `false`.
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("https://localhost:8443/")
    ///     .danger_accept_invalid_certs(true);
    /// # drop(builder);
    /// ```
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.danger_accept_invalid_certs = accept;
        self
    }

    /// Speak HTTP/2 without negotiating it (h2c on `http://` URLs; over TLS too). Default:
    /// off: HTTP/1.1 on `http://`, and on `https://` whatever ALPN picks (HTTP/2 preferred).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").http2_prior_knowledge();
    /// # drop(builder);
    /// ```
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// Ends the stream when `token` is cancelled (or any of its parents). Dropping the
    /// [`EventSource`] or calling [`Controller::close`](crate::Controller::close) works too.
    ///
    /// ```
    /// let token = tidings_client::CancellationToken::new();
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/").cancellation(token.clone());
    /// token.cancel(); // the stream ends at its next poll
    /// # drop(builder);
    /// ```
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let url = self.url.clone()?;
        Ok(Settings {
            url,
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            last_event_id: self.last_event_id.clone(),
            retry: self.retry,
            backoff: self.backoff.clone(),
            max_attempts: self.max_attempts,
            max_retry_duration: self.max_retry_duration,
            max_redirects: self.max_redirects,
            max_event_size: self.max_event_size,
            comments: self.comments,
            topic_field: self.topic_field.clone(),
            keep_unknown_fields: self.keep_unknown_fields,
            data_encoding: self.data_encoding,
            gap_events: self.gap_events,
            validator: self.validator.clone(),
        })
    }

    /// The protocol core alone, for a driver of your own (see [`crate::machine`]).
    ///
    /// # Errors
    /// The first invalid setting ([`ErrorKind::InvalidUrl`], [`ErrorKind::InvalidRequest`],
    /// [`ErrorKind::Tls`]).
    ///
    /// ```
    /// let machine = tidings_client::EventSource::builder("http://localhost:8080/").build_machine()?;
    /// # drop(machine);
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn build_machine(&self) -> Result<Machine, Error> {
        let settings = self.settings()?;
        let rng: Box<dyn JitterRng> = match &self.rng {
            Some(make) => make(),
            None => Box::new(SplitMix64::from_entropy()),
        };
        Ok(Machine::new(settings, rng))
    }

    /// Builds the client. Nothing is sent until the stream is first polled.
    ///
    /// # Errors
    /// The first invalid setting ([`ErrorKind::InvalidUrl`], [`ErrorKind::InvalidRequest`],
    /// [`ErrorKind::Tls`]).
    ///
    /// ```
    /// let source = tidings_client::EventSource::builder("http://localhost:8080/events?topic=a").build()?;
    /// # drop(source);
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn build(self) -> Result<EventSource, Error> {
        let machine = self.build_machine()?;
        let transport = TransportSettings {
            tls: self.tls,
            http2_prior_knowledge: self.http2_prior_knowledge,
            connect_timeout: self.connect_timeout,
        };
        EventSource::start(machine, &transport, self.read_timeout, self.cancel)
    }
}
