//! Serving (feature `serve`): the accept loop and connection driver that puts any tower
//! service — typically the hub's [`api::router`](crate::api::router) — on a TCP listener, over
//! HTTP/1.1 and HTTP/2, in clear text or TLS, with limits and a graceful shutdown.
//!
//! - [`Server`]: owns the listener; [`Server::serve`] runs until a shutdown future completes,
//!   drains, and returns a [`ServeReport`].
//! - [`ServeConfig`]: every limit, with its default next to the setter.
//! - [`TlsConfig`]: a certificate chain and key from PEM files, or a self-signed development
//!   certificate; ALPN offers `h2` and `http/1.1`.
//! - [`ConnectionInfo`]: the peer address (and more) in every request's extensions, for the
//!   client-address logic ([`TrustedProxies`](crate::TrustedProxies)).
//!
//! What it is not: routing, auth or CORS (those are the service's job), nor HTTP/3.
//!
//! # Protocols
//! Each connection speaks whatever its client starts with: hyper-util's auto builder reads
//! the first bytes and picks HTTP/2 for the HTTP/2 connection preface (h2c with prior
//! knowledge, or h2 negotiated by ALPN under TLS) and HTTP/1.1 otherwise. HTTP/1.1 upgrades
//! (WebSocket) work for services that use them. `TCP_NODELAY` is set on every socket: the SSE
//! body hands hyper every ready frame at once, so there is nothing for Nagle's algorithm to
//! coalesce and only latency to lose.
//!
//! # Event streams over HTTP/1.1
//! hyper keeps an HTTP/1.1 connection's read buffer (8 to 16 KiB) and write buffer (8 KiB)
//! for the connection's whole life, in case another request follows. An SSE response does not
//! end, so on a hub those buffers would be most of the memory of every idle subscriber. So,
//! unless [`ServeConfig::direct_event_streams`] is off, the server reads the first request head
//! of each HTTP/1.1 connection itself (with `httparse`, hyper's own parser). When it is a
//! bodyless `GET` and the service answers `200 text/event-stream`, the server writes that
//! response directly: the head, then every batch of ready frames as one chunk in one vectored
//! write, keeping no buffer between batches; it closes the connection when the stream ends
//! and notices a client that leaves by reading the socket. Everything else (other methods,
//! request bodies, upgrades, HTTP/2, malformed heads, answers that are not event streams, and
//! every later request on the connection) is hyper's, with the bytes already read put back in
//! front of the connection and the answer already made handed over as is, so the service
//! sees each request once. Services get [`RequestBody`] as the request body type.
//!
//! # Limits (slowloris and friends)
//! - [`ServeConfig::header_read_timeout`]: a connection must finish its TLS handshake and the
//!   head of its first request within this time, and every later HTTP/1.1 request head within
//!   this time of the previous response (so idle keep-alive connections are closed too). A
//!   client trickling bytes is cut off.
//! - [`ServeConfig::max_header_size`]: a larger HTTP/1.1 request head is answered
//!   `431 Request Header Fields Too Large`; for HTTP/2 it is the advertised
//!   `SETTINGS_MAX_HEADER_LIST_SIZE`, and h2 answers 431 too.
//! - [`ServeConfig::max_sockets`]: beyond this many open connections the listener stops
//!   accepting (new clients wait in the kernel's backlog) until one closes. Streams are capped
//!   separately, with a clear 503, by [`HubConfig::max_connections`](crate::HubConfig::max_connections).
//! - HTTP/2: at most [`ServeConfig::h2_max_concurrent_streams`] streams per connection, and a
//!   PING every [`ServeConfig::h2_keep_alive_interval`] closes connections whose peer stopped
//!   answering.
//!
//! # Graceful shutdown
//! When the shutdown future completes, [`Server::serve`]:
//! 1. closes the listener, so new connections are refused;
//! 2. calls [`Hub::shutdown`] with [`ServeConfig::shutdown_retry`] on the hub given to
//!    [`Server::hub`]: every open stream sends `retry:` and ends, and new subscriptions are
//!    refused;
//! 3. tells every connection to finish: HTTP/1.1 connections close after their in-flight
//!    response, HTTP/2 connections send `GOAWAY` and close once their streams end;
//! 4. waits at most [`ServeConfig::shutdown_timeout`] for that, then cuts the connections
//!    still open, and returns.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use tidings_server::serve::{ServeConfig, Server};
//! use tidings_server::{Hub, HubConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::default());
//! let app = tidings_server::api::router(hub.clone(), Default::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = Server::new(listener, ServeConfig::default().shutdown_timeout(Duration::from_secs(5)))
//!     .hub(hub);
//! println!("listening on http://{}", server.local_addr()?);
//! // In a binary the shutdown future waits for SIGTERM or Ctrl-C; here it is ready at once.
//! let report = server.serve(app, std::future::ready(())).await;
//! assert_eq!(report.forced(), 0);
//! # Ok(()) }
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::hub::Hub;

mod event_stream;
mod rewind;

use rewind::Rewind;

/// Default for [`ServeConfig::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`ServeConfig::max_header_size`]: 64 KiB, room for a 16 KiB token in both the
/// `Authorization` header and the cookie, with everything a browser adds.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;

/// Default for [`ServeConfig::max_sockets`].
pub const DEFAULT_MAX_SOCKETS: usize = 100_000;

/// Default for [`ServeConfig::h2_max_concurrent_streams`]: enough for every `EventSource` a
/// browser tab multiplexes onto one connection.
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 256;

/// Default for [`ServeConfig::h2_keep_alive_interval`]: 30 s.
pub const DEFAULT_H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// Default for [`ServeConfig::h2_keep_alive_timeout`]: 20 s.
pub const DEFAULT_H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Default for [`ServeConfig::shutdown_timeout`]: 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`ServeConfig::shutdown_retry`]: 2 s.
pub const DEFAULT_SHUTDOWN_RETRY: Duration = Duration::from_secs(2);

/// hyper's smallest HTTP/1.1 buffer (it panics below it).
const MIN_HTTP1_BUFFER: usize = 8192;

/// How long the accept loop pauses after an accept error that is not about one connection
/// (typically out of file descriptors), so it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Settings of a [`Server`]. Every limit has a default suited to a public hub.
///
/// ```
/// use std::time::Duration;
/// use tidings_server::serve::ServeConfig;
///
/// let config = ServeConfig::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_header_size(16 * 1024)
///     .max_sockets(10_000);
/// assert_eq!(config.max_sockets_value(), 10_000);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ServeConfig {
    header_read_timeout: Option<Duration>,
    max_header_size: usize,
    max_sockets: usize,
    h2_max_concurrent_streams: u32,
    h2_keep_alive_interval: Option<Duration>,
    h2_keep_alive_timeout: Duration,
    shutdown_timeout: Duration,
    shutdown_retry: Duration,
    tls: Option<TlsConfig>,
    direct_event_streams: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_sockets: DEFAULT_MAX_SOCKETS,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            h2_keep_alive_interval: Some(DEFAULT_H2_KEEP_ALIVE_INTERVAL),
            h2_keep_alive_timeout: DEFAULT_H2_KEEP_ALIVE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            shutdown_retry: DEFAULT_SHUTDOWN_RETRY,
            tls: None,
            direct_event_streams: true,
        }
    }
}

impl ServeConfig {
    /// Time allowed for the TLS handshake and the first request head of a connection, and
    /// for each later HTTP/1.1 request head after the previous response (see the
    /// [module docs](self)). `None` waits forever (not for public hubs). Default:
    /// [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s).
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// Largest request head (request line and headers) in bytes; larger is answered 431.
    /// For HTTP/1.1 it caps the connection's read buffer, so values under 8 KiB count as
    /// 8 KiB. Default: [`DEFAULT_MAX_HEADER_SIZE`] (64 KiB).
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Most connections open at once; at the limit the listener waits for one to close
    /// before accepting the next. Clamped to at least 1. Default: [`DEFAULT_MAX_SOCKETS`]
    /// (100 000; the process's file descriptor limit usually binds first).
    pub fn max_sockets(mut self, max: usize) -> Self {
        self.max_sockets = max.max(1);
        self
    }

    /// Most concurrent streams per HTTP/2 connection. Default:
    /// [`DEFAULT_H2_MAX_CONCURRENT_STREAMS`] (256).
    pub fn h2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.h2_max_concurrent_streams = max;
        self
    }

    /// How often an HTTP/2 connection is pinged; `None` sends no pings. Default:
    /// [`DEFAULT_H2_KEEP_ALIVE_INTERVAL`] (30 s).
    pub fn h2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.h2_keep_alive_interval = interval.into();
        self
    }

    /// How long a ping may go unanswered before the HTTP/2 connection is closed. Default:
    /// [`DEFAULT_H2_KEEP_ALIVE_TIMEOUT`] (20 s).
    pub fn h2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.h2_keep_alive_timeout = timeout;
        self
    }

    /// The most a graceful shutdown waits for connections to finish before it cuts them.
    /// Default: [`DEFAULT_SHUTDOWN_TIMEOUT`] (10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The `retry:` delay streams send on shutdown: when clients come back (to this hub
    /// restarted, or another one), resuming with `Last-Event-ID`. Default:
    /// [`DEFAULT_SHUTDOWN_RETRY`] (2 s).
    pub fn shutdown_retry(mut self, retry: Duration) -> Self {
        self.shutdown_retry = retry;
        self
    }

    /// Serves TLS with `tls` instead of clear text. Default: clear text.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The header read timeout.
    ///
    /// ```
    /// use tidings_server::serve::{DEFAULT_HEADER_READ_TIMEOUT, ServeConfig};
    /// assert_eq!(ServeConfig::default().header_read_timeout_value(), Some(DEFAULT_HEADER_READ_TIMEOUT));
    /// ```
    #[must_use]
    pub fn header_read_timeout_value(&self) -> Option<Duration> {
        self.header_read_timeout
    }

    /// The socket limit.
    ///
    /// ```
    /// assert_eq!(tidings_server::serve::ServeConfig::default().max_sockets(0).max_sockets_value(), 1);
    /// ```
    #[must_use]
    pub fn max_sockets_value(&self) -> usize {
        self.max_sockets
    }

    /// Whether HTTP/1.1 event streams are written by tidings' own streaming path instead of
    /// hyper's connection (see *Event streams over HTTP/1.1* in the [module docs](self)).
    /// Default: on. Turning it off serves every request through hyper, at about 18 KiB more
    /// memory per idle HTTP/1.1 subscriber (23.3 instead of 5.1 KiB in docs/BENCHMARKS.md).
    ///
    /// ```
    /// let config = tidings_server::serve::ServeConfig::default().direct_event_streams(false);
    /// assert!(!config.direct_event_streams_value());
    /// ```
    pub fn direct_event_streams(mut self, on: bool) -> Self {
        self.direct_event_streams = on;
        self
    }

    /// The configured [`ServeConfig::direct_event_streams`].
    ///
    /// ```
    /// assert!(tidings_server::serve::ServeConfig::default().direct_event_streams_value());
    /// ```
    #[must_use]
    pub fn direct_event_streams_value(&self) -> bool {
        self.direct_event_streams
    }

    /// Whether TLS is configured.
    ///
    /// ```
    /// assert!(!tidings_server::serve::ServeConfig::default().is_tls());
    /// ```
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            // hyper-util's builder has no head-size setter; the read buffer cap is the same
            // limit (hyper answers 431 when a head does not fit). It also bounds how much
            // response data waits for the socket before hyper stops polling the body, which
            // at 64 KiB still batches many SSE frames into one write.
            .max_buf_size(self.max_header_size.max(MIN_HTTP1_BUFFER));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.h2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(self.max_header_size).unwrap_or(u32::MAX))
            .keep_alive_interval(self.h2_keep_alive_interval)
            .keep_alive_timeout(self.h2_keep_alive_timeout);
        builder
    }
}

/// Why a TLS configuration could not be built.
///
/// ```
/// use tidings_server::serve::{TlsConfig, TlsError};
/// let error = TlsConfig::from_pem(b"not a certificate", b"not a key").unwrap_err();
/// assert!(matches!(error, TlsError::NoCertificate { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The certificate PEM holds no certificate (or one that does not parse).
    #[error("no certificate in {}", source_name(path.as_deref()))]
    NoCertificate {
        /// The file, when read from one.
        path: Option<PathBuf>,
    },
    /// The key PEM holds no private key (PKCS #8, PKCS #1 or SEC1) or one that does not parse.
    #[error("no private key in {}", source_name(path.as_deref()))]
    NoPrivateKey {
        /// The file, when read from one.
        path: Option<PathBuf>,
    },
    /// rustls refused the certificate and key (for example, a key that does not match the
    /// certificate, or of an unsupported type).
    #[error("the certificate and key were refused")]
    Refused {
        /// rustls' reason.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate")]
    Generate {
        /// rcgen's reason.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

fn source_name(path: Option<&Path>) -> String {
    path.map_or_else(|| "the PEM text".to_owned(), |p| p.display().to_string())
}

/// A TLS server configuration: certificate chain and private key, ALPN `h2` and `http/1.1`,
/// TLS 1.2 and 1.3 on the aws-lc-rs provider.
///
/// ```
/// use tidings_server::serve::TlsConfig;
/// let tls = TlsConfig::dev_self_signed(["localhost", "127.0.0.1"])?;
/// assert!(tls.dev_certificate_pem().is_some_and(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----")));
/// # Ok::<(), tidings_server::serve::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    dev_certificate_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &["h2", "http/1.1"])
            .field("self_signed", &self.dev_certificate_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// From a certificate chain file (PEM, leaf first) and a private key file (PEM: PKCS #8,
    /// PKCS #1 or SEC1), as a certificate authority or ACME client writes them.
    ///
    /// # Errors
    /// [`TlsError::Read`], [`TlsError::NoCertificate`], [`TlsError::NoPrivateKey`],
    /// [`TlsError::Refused`].
    ///
    /// ```no_run
    /// let tls = tidings_server::serve::TlsConfig::from_pem_files(
    ///     "/etc/tidings/fullchain.pem",
    ///     "/etc/tidings/privkey.pem",
    /// )?;
    /// # let _ = tls;
    /// # Ok::<(), tidings_server::serve::TlsError>(())
    /// ```
    pub fn from_pem_files(
        certificate_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
        };
        let (cert_path, key_path) = (certificate_chain.as_ref(), private_key.as_ref());
        let certs = certificates(&read(cert_path)?)
            .ok_or_else(|| TlsError::NoCertificate { path: Some(cert_path.to_owned()) })?;
        let key = PrivateKeyDer::from_pem_slice(&read(key_path)?)
            .map_err(|_| TlsError::NoPrivateKey { path: Some(key_path.to_owned()) })?;
        Self::from_der(certs, key, None)
    }

    /// From PEM text: a certificate chain (leaf first) and a private key.
    ///
    /// # Errors
    /// [`TlsError::NoCertificate`], [`TlsError::NoPrivateKey`], [`TlsError::Refused`].
    ///
    /// See [`TlsError`] for an example.
    pub fn from_pem(certificate_chain: &[u8], private_key: &[u8]) -> Result<Self, TlsError> {
        let certs =
            certificates(certificate_chain).ok_or(TlsError::NoCertificate { path: None })?;
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|_| TlsError::NoPrivateKey { path: None })?;
        Self::from_der(certs, key, None)
    }

    /// A freshly generated self-signed certificate (ECDSA P-256) for `names` (DNS names or
    /// IP addresses), for development only: no client trusts it unless told to, for example
    /// with `curl --cacert` and the PEM from [`TlsConfig::dev_certificate_pem`].
    ///
    /// # Errors
    /// [`TlsError::Generate`] for a name that is neither a DNS name nor an IP address.
    ///
    /// See [`TlsConfig`] for an example.
    pub fn dev_self_signed<S: Into<String>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, TlsError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|source| TlsError::Generate { source: Box::new(source) })?;
        let pem: Arc<str> = generated.cert.pem().into();
        let key = PrivateKeyDer::try_from(generated.key_pair.serialize_der())
            .map_err(|reason| TlsError::Generate { source: reason.into() })?;
        Self::from_der(vec![generated.cert.der().clone()], key, Some(pem))
    }

    /// The PEM of the certificate made by [`TlsConfig::dev_self_signed`], for clients to
    /// trust; `None` for a configuration from files.
    ///
    /// See [`TlsConfig`] for an example.
    #[must_use]
    pub fn dev_certificate_pem(&self) -> Option<&str> {
        self.dev_certificate_pem.as_deref()
    }

    fn from_der(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        dev_certificate_pem: Option<Arc<str>>,
    ) -> Result<Self, TlsError> {
        let refused = |source: rustls::Error| TlsError::Refused { source: Box::new(source) };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(refused)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { server: Arc::new(server), dev_certificate_pem })
    }
}

/// Every certificate in `pem`, or `None` when there is none or one does not parse.
fn certificates(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().ok()?;
    (!certs.is_empty()).then_some(certs)
}

/// What the server knows about a request's connection, in every request's extensions (with
/// feature `axum`, the peer address is also there as `axum::extract::ConnectInfo<SocketAddr>`).
///
/// ```
/// use tidings_server::serve::ConnectionInfo;
/// async fn handler(request: http::Request<()>) -> String {
///     match request.extensions().get::<ConnectionInfo>() {
///         Some(info) => format!("hello {}", info.peer().ip()),
///         None => "served by something else".to_owned(),
///     }
/// }
/// # let _ = handler;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
}

impl ConnectionInfo {
    /// A connection from `peer` to `local`, over TLS or not (for tests and other servers that
    /// want to hand the same extension to the hub's handlers).
    ///
    /// ```
    /// let info = tidings_server::serve::ConnectionInfo::new(
    ///     "192.0.2.1:4711".parse()?,
    ///     "127.0.0.1:8080".parse()?,
    ///     false,
    /// );
    /// assert_eq!(info.peer().port(), 4711);
    /// assert!(!info.is_tls());
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    #[must_use]
    pub fn new(peer: SocketAddr, local: SocketAddr, tls: bool) -> Self {
        Self { peer, local, tls }
    }

    /// The TCP peer: the client, or the last proxy in front of the hub.
    ///
    /// See [`ConnectionInfo::new`] for an example.
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The local address the connection came in on.
    ///
    /// ```
    /// let info = tidings_server::serve::ConnectionInfo::new("[::1]:1".parse()?, "[::1]:2".parse()?, true);
    /// assert_eq!(info.local().port(), 2);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    #[must_use]
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Whether the connection is TLS.
    ///
    /// See [`ConnectionInfo::new`] for an example.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// What a finished [`Server::serve`] did.
///
/// See [`Server::serve`] for an example.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    accepted: u64,
    forced: usize,
}

impl ServeReport {
    /// Connections accepted over the server's life.
    ///
    /// See [`Server::serve`] for an example.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Connections still open when [`ServeConfig::shutdown_timeout`] ran out, and cut.
    ///
    /// See [`Server::serve`] for an example.
    #[must_use]
    pub fn forced(&self) -> usize {
        self.forced
    }
}

/// A listener with its [`ServeConfig`], ready to serve; see the [module docs](self).
///
/// See the [module docs](self) for an example.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServeConfig,
    hub: Option<Hub>,
}

impl Server {
    /// Serves connections from `listener` with `config`.
    ///
    /// See the [module docs](self) for an example.
    pub fn new(listener: TcpListener, config: ServeConfig) -> Self {
        Self { listener, config, hub: None }
    }

    /// The hub to shut down with the server (step 2 of the graceful shutdown in the
    /// [module docs](self)). Default: none.
    ///
    /// See the [module docs](self) for an example.
    #[must_use]
    pub fn hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// The address the listener is bound to (with the real port after binding port 0).
    ///
    /// # Errors
    /// The operating system's, as [`TcpListener::local_addr`].
    ///
    /// See the [module docs](self) for an example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts and serves connections with `service` until `shutdown` completes, then shuts
    /// down gracefully (see the [module docs](self)) and reports. Never fails: accept errors
    /// (such as running out of file descriptors) are logged and retried, connection errors
    /// end only their connection.
    ///
    /// Cancel safety: dropping the future drops the listener and cuts every connection at
    /// once, without telling the hub; complete `shutdown` instead.
    ///
    /// ```
    /// use tidings_server::serve::{ServeConfig, Server};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
    /// let server = Server::new(tokio::net::TcpListener::bind("127.0.0.1:0").await?, ServeConfig::default());
    /// let addr = server.local_addr()?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let serving = tokio::spawn(server.serve(app, async { let _ = stopped.await; }));
    /// let _client = tokio::net::TcpStream::connect(addr).await?;
    /// let _ = stop.send(());
    /// let report = serving.await?;
    /// assert_eq!(report.forced(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn serve<S, B>(
        self,
        service: S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> ServeReport
    where
        S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let Self { listener, config, hub } = self;
        let local = listener.local_addr().ok();
        let (stopping, stop_watch) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            builder: config.builder(),
            tls: config.tls.as_ref().map(|tls| TlsAcceptor::from(Arc::clone(&tls.server))),
            header_read_timeout: config.header_read_timeout,
            max_header_size: config.max_header_size.max(MIN_HTTP1_BUFFER),
            direct_event_streams: config.direct_event_streams,
            stopping: stop_watch,
        });
        let sockets = Arc::new(Semaphore::new(config.max_sockets));
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut report = ServeReport::default();
        let mut shutdown = pin!(shutdown);
        match local {
            Some(address) => info!(%address, tls = shared.tls.is_some(), "serving"),
            None => info!(tls = shared.tls.is_some(), "serving"),
        }
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // Reap finished connection tasks so the set does not grow with history.
                Some(finished) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(error) = finished {
                        if error.is_panic() {
                            warn!(%error, "a connection task panicked");
                        }
                    }
                }
                (permit, accepted) = accept(&listener, &sockets, config.max_sockets) => {
                    match accepted {
                        Ok((stream, peer)) => {
                            report.accepted += 1;
                            // The connection's own local address: with a wildcard listener it
                            // names the interface the client reached.
                            let local = stream.local_addr().ok().or(local).unwrap_or(peer);
                            let info = ConnectionInfo::new(peer, local, shared.tls.is_some());
                            connections.spawn(connection(
                                Arc::clone(&shared),
                                stream,
                                info,
                                service.clone(),
                                graceful.watcher(),
                                permit,
                            ));
                        }
                        Err(error) => accept_failed(&error).await,
                    }
                }
            }
        }

        // 1. New connections are refused from here on; connections still waiting for their
        // first request head close.
        drop(listener);
        stopping.send_replace(true);
        info!(open = connections.len(), "shutting down");
        // 2. Streams send `retry:` and end.
        if let Some(hub) = &hub {
            hub.shutdown(config.shutdown_retry);
        }
        // 3. and 4.
        let drained = tokio::time::timeout(config.shutdown_timeout, async {
            graceful.shutdown().await;
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            report.forced = connections.len();
            warn!(
                forced = report.forced,
                timeout = ?config.shutdown_timeout,
                "shutdown timeout: cutting the connections still open"
            );
            connections.shutdown().await;
        }
        info!(accepted = report.accepted, forced = report.forced, "stopped");
        report
    }
}

/// An error as services and bodies report it.
type BoxError = Box<dyn StdError + Send + Sync>;

/// The bounds [`Server::serve`] puts on its service, named once for the connection tasks.
trait ConnectionService<B>:
    tower_service::Service<
        Request<RequestBody>,
        Response = Response<B>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> ConnectionService<B> for S
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
}

/// The bounds [`Server::serve`] puts on response bodies, named once for the connection tasks.
trait ResponseBody: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
}

/// What every connection task shares.
struct Shared {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Option<Duration>,
    max_header_size: usize,
    direct_event_streams: bool,
    /// Becomes `true` when the server shuts down.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// Waits for a socket slot, then for a connection. Cancel safe: both waits are.
async fn accept(
    listener: &TcpListener,
    sockets: &Arc<Semaphore>,
    max_sockets: usize,
) -> (Option<OwnedSemaphorePermit>, io::Result<(TcpStream, SocketAddr)>) {
    let permit = match Arc::clone(sockets).try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            warn!(max_sockets, "connection limit reached: accepting again when one closes");
            match Arc::clone(sockets).acquire_owned().await {
                Ok(permit) => permit,
                // The semaphore is never closed; accept without a slot rather than stop.
                Err(_) => return (None, listener.accept().await),
            }
        }
    };
    (Some(permit), listener.accept().await)
}

/// Logs an accept error and, unless it concerns one connection only, pauses briefly: the
/// usual cause is running out of file descriptors, which retrying at once cannot fix.
async fn accept_failed(error: &io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => debug!(%error, "accept failed"),
        _ => {
            warn!(%error, "accept failed; pausing");
            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
        }
    }
}

/// One connection, from the TLS handshake (if any) to its end.
async fn connection<S, B>(
    shared: Arc<Shared>,
    stream: TcpStream,
    info: ConnectionInfo,
    service: S,
    watcher: Watcher,
    permit: Option<OwnedSemaphorePermit>,
) where
    S: ConnectionService<B>,
    B: ResponseBody,
{
    // The slot is released when the connection ends, however it ends.
    let _permit = permit;
    if let Err(error) = stream.set_nodelay(true) {
        debug!(peer = %info.peer, %error, "cannot set TCP_NODELAY");
    }
    debug!(peer = %info.peer, "connection accepted");
    let deadline = shared.header_read_timeout.map(|t| tokio::time::Instant::now() + t);
    match &shared.tls {
        None => drive(&shared, stream, info, service, watcher, deadline).await,
        // Boxed: a TLS connection's state is large, and a task is as large as its largest
        // state, so keeping it inline would cost every clear-text connection that memory.
        Some(acceptor) => {
            Box::pin(async {
                let handshake = acceptor.accept(stream);
                let tls = match deadline {
                    Some(deadline) => match tokio::time::timeout_at(deadline, handshake).await {
                        Ok(result) => result,
                        Err(_) => {
                            debug!(peer = %info.peer, "TLS handshake timed out");
                            return;
                        }
                    },
                    None => handshake.await,
                };
                match tls {
                    Ok(tls) => drive(&shared, tls, info, service, watcher, deadline).await,
                    Err(error) => debug!(peer = %info.peer, %error, "TLS handshake failed"),
                }
            })
            .await;
        }
    }
    debug!(peer = %info.peer, "connection closed");
}

/// Serves HTTP on an established (and, with TLS, handshaken) connection: the first request
/// through the event-stream path when it qualifies, everything else through hyper.
async fn drive<I, S, B>(
    shared: &Shared,
    mut io: I,
    info: ConnectionInfo,
    service: S,
    watcher: Watcher,
    first_request_deadline: Option<tokio::time::Instant>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ConnectionService<B>,
    B: ResponseBody,
{
    if !shared.direct_event_streams {
        let io = Rewind::new(Bytes::new(), io);
        return Box::pin(drive_hyper(
            shared,
            io,
            info,
            service,
            None,
            watcher,
            first_request_deadline,
        ))
        .await;
    }
    let mut stopping = shared.stopping.clone();
    let head = async {
        tokio::select! {
            biased;
            _ = stopping.wait_for(|stopping| *stopping) => None,
            head = event_stream::read_head(&mut io, shared.max_header_size) => Some(head),
        }
    };
    let head = match first_request_deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, head).await.ok().flatten(),
        None => head.await,
    };
    let (buffered, stashed) = match head {
        None => {
            debug!(peer = %info.peer, "no request before the header read timeout or shutdown");
            return;
        }
        Some(event_stream::Head::Gone) => return,
        Some(event_stream::Head::Other { buffered }) => (buffered, None),
        Some(event_stream::Head::Eligible { request, buffered }) => {
            let request = tag(request.map(|()| RequestBody::empty()), info);
            let mut service = service.clone();
            let response = async {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                service.call(request).await
            };
            let response = match response.await {
                Ok(response) => response,
                Err(error) => {
                    let error: BoxError = error.into();
                    debug!(peer = %info.peer, %error, "service failed");
                    return;
                }
            };
            if event_stream::is_event_stream(&response) {
                if let Err(error) = event_stream::stream(io, response).await {
                    debug!(peer = %info.peer, %error, "event stream ended with an error");
                }
                return;
            }
            (buffered, Some(response))
        }
    };
    let deadline = if stashed.is_some() { None } else { first_request_deadline };
    let io = Rewind::new(buffered, io);
    Box::pin(drive_hyper(shared, io, info, service, stashed, watcher, deadline)).await;
}

/// Serves the connection with hyper; `stashed` is the response to the first request when the
/// event-stream path already called the service for it.
async fn drive_hyper<I, S, B>(
    shared: &Shared,
    io: Rewind<I>,
    info: ConnectionInfo,
    service: S,
    stashed: Option<Response<B>>,
    watcher: Watcher,
    first_request_deadline: Option<tokio::time::Instant>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ConnectionService<B>,
    B: ResponseBody,
{
    let requested = Arc::new(AtomicBool::new(stashed.is_some()));
    let service = TowerToHyperService::new(ConnService {
        inner: service,
        info,
        requested: Arc::clone(&requested),
        stashed: Arc::new(Mutex::new(stashed)),
    });
    let conn = shared.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = pin!(watcher.watch(conn.into_owned()));
    // hyper's own header timeout only runs once it knows the protocol and reads an HTTP/1.1
    // head; a client that sends nothing, or a partial HTTP/2 preface, or opens HTTP/2 without
    // ever starting a stream, is held to the same deadline here. Once a request has started,
    // in-flight work is never cut by this.
    let result = match first_request_deadline {
        Some(deadline) => {
            tokio::select! {
                result = &mut conn => result,
                () = tokio::time::sleep_until(deadline) => {
                    if requested.load(Ordering::Acquire) {
                        conn.await
                    } else {
                        debug!(peer = %info.peer, "no request before the header read timeout");
                        return;
                    }
                }
            }
        }
        None => conn.await,
    };
    if let Err(error) = result {
        // Mostly clients going away, or the timeouts above: not the server's problem.
        debug!(peer = %info.peer, %error, "connection ended with an error");
    }
}

/// Puts [`ConnectionInfo`] (and axum's `ConnectInfo`) into a request's extensions.
fn tag<B>(mut request: Request<B>, info: ConnectionInfo) -> Request<B> {
    request.extensions_mut().insert(info);
    #[cfg(feature = "axum")]
    request.extensions_mut().insert(axum::extract::ConnectInfo(info.peer));
    request
}

/// The service of one hyper connection: hands the stashed response (if any) to the first
/// request, puts [`ConnectionInfo`] into each request's extensions, and notes that a request
/// arrived.
struct ConnService<S, R> {
    inner: S,
    info: ConnectionInfo,
    requested: Arc<AtomicBool>,
    stashed: Arc<Mutex<Option<R>>>,
}

// By hand: a derive would ask for `R: Clone`, and a response is not.
impl<S: Clone, R> Clone for ConnService<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            info: self.info,
            requested: Arc::clone(&self.requested),
            stashed: Arc::clone(&self.stashed),
        }
    }
}

impl<S> tower_service::Service<Request<Incoming>> for ConnService<S, S::Response>
where
    S: tower_service::Service<Request<RequestBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ConnFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        self.requested.store(true, Ordering::Release);
        let stashed = self.stashed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match stashed {
            // The event-stream path already answered this request (hyper re-read its head).
            Some(response) => ConnFuture::Stashed { response: Some(response) },
            None => ConnFuture::Call {
                future: self.inner.call(tag(request.map(RequestBody::from), self.info)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ConnService`]: a stashed response, or the service's own future.
    #[project = ConnFutureProjection]
    enum ConnFuture<F, R> {
        Stashed { response: Option<R> },
        Call { #[pin] future: F },
    }
}

impl<F, R, E> Future for ConnFuture<F, R>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ConnFutureProjection::Stashed { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after completion: never completes again.
                None => Poll::Pending,
            },
            ConnFutureProjection::Call { future } => future.poll(cx),
        }
    }
}

/// The request body handed to the service by [`Server::serve`]: hyper's incoming body, or
/// empty for a request read by the event-stream path (which only takes bodyless `GET`s).
/// axum's `Router` accepts it like any body.
///
/// ```
/// use http_body::Body;
/// let body = tidings_server::serve::RequestBody::empty();
/// assert!(body.is_end_stream());
/// ```
#[derive(Debug, Default)]
pub struct RequestBody {
    incoming: Option<Incoming>,
}

impl RequestBody {
    /// A body with no bytes.
    ///
    /// See [`RequestBody`] for an example.
    #[must_use]
    pub fn empty() -> Self {
        Self { incoming: None }
    }
}

impl From<Incoming> for RequestBody {
    fn from(incoming: Incoming) -> Self {
        Self { incoming: Some(incoming) }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match &mut self.get_mut().incoming {
            Some(incoming) => std::pin::Pin::new(incoming).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.incoming {
            Some(incoming) => incoming.size_hint(),
            None => http_body::SizeHint::with_exact(0),
        }
    }
}

/// A shutdown future for binaries: completes on SIGTERM or SIGINT (Ctrl-C) on Unix, on
/// Ctrl-C elsewhere. If the signal handlers cannot be installed it logs why and never
/// completes (the process then stops the default way, at once).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// use tidings_server::serve::{ServeConfig, Server, shutdown_signal};
/// let app = axum::Router::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// Server::new(listener, ServeConfig::default()).serve(app, shutdown_signal()).await;
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                info!(signal = name, "shutdown requested");
            }
            (Err(error), _) | (_, Err(error)) => {
                warn!(%error, "cannot listen for shutdown signals");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => info!(signal = "Ctrl-C", "shutdown requested"),
            Err(error) => {
                warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}
