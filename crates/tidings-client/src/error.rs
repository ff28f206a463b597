//! The client's error type: a kind to match on, the cause chained through `source()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// A boxed error from user code (a response validation hook) or a lower layer.
///
/// ```
/// let error: tidings_client::BoxError = "missing header".into();
/// assert_eq!(error.to_string(), "missing header");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong. Matched through [`Error::kind`].
///
/// Kinds are grouped by what the client does about them:
///
/// - **Fatal, no retry** (the spec's "fail the connection"): [`Status`](ErrorKind::Status),
///   [`ContentType`](ErrorKind::ContentType), the redirect kinds,
///   [`Rejected`](ErrorKind::Rejected), [`GaveUp`](ErrorKind::GaveUp) and the setup kinds.
///   The stream yields the error and then ends.
/// - **Reconnect**: [`Connect`](ErrorKind::Connect) and [`Body`](ErrorKind::Body) arrive inside
///   [`Disconnect::Error`](crate::Disconnect::Error) of a
///   [`ClientItem::Reconnecting`](crate::ClientItem::Reconnecting).
/// - **One event lost, stream goes on**: [`EventTooLarge`](ErrorKind::EventTooLarge) and
///   [`InvalidData`](ErrorKind::InvalidData), as [`ClientItem::EventError`](crate::ClientItem::EventError).
///
/// ```
/// use tidings_client::{Error, ErrorKind};
///
/// fn describe(error: &Error) -> &'static str {
///     match error.kind() {
///         ErrorKind::Status(status) if status.is_client_error() => "check the URL or credentials",
///         ErrorKind::GaveUp { .. } => "server unreachable for too long",
///         _ => "other",
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL could not be parsed, or its scheme is not `http` or `https`.
    #[error("invalid URL (an absolute http or https URL is expected)")]
    InvalidUrl,
    /// A header name or value, or the method, given to the builder is not valid HTTP.
    #[error("invalid request method, header or body")]
    InvalidRequest,
    /// The TLS settings could not be turned into a client configuration (a root certificate
    /// that does not parse, for instance).
    #[error("invalid TLS configuration")]
    Tls,
    /// The connection could not be made or the request not sent (DNS, TCP, TLS handshake,
    /// HTTP protocol). The client reconnects.
    #[error("connection failed")]
    Connect,
    /// Reading the response body failed after the stream opened. The client reconnects.
    #[error("reading the event stream failed")]
    Body,
    /// The response status is neither 200, 204 nor a followed redirect.
    #[error("unexpected response status {0}")]
    Status(StatusCode),
    /// The response is a 200 whose `Content-Type` is not `text/event-stream` (the raw header
    /// value, `None` when absent).
    #[error("unexpected content type {0:?} (text/event-stream expected)")]
    ContentType(Option<String>),
    /// More redirects in a row than [`EventSourceBuilder::max_redirects`](crate::EventSourceBuilder::max_redirects).
    #[error("more than {limit} redirects in a row")]
    TooManyRedirects {
        /// The configured limit.
        limit: u32,
    },
    /// A redirect status with no `Location` header, or an empty one: an error, not a loop.
    #[error("redirect {0} without a Location")]
    RedirectWithoutLocation(StatusCode),
    /// A `Location` header that is not a valid `http`/`https` URL reference.
    #[error("redirect to an invalid location")]
    InvalidLocation,
    /// The response validation hook refused the response; its error is the `source()`.
    #[error("response rejected by the validation hook")]
    Rejected,
    /// An event grew past the configured maximum size; it was skipped, the stream goes on.
    #[error("event exceeds the maximum size of {limit} bytes")]
    EventTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// An event's data could not be decoded under the configured data encoding (invalid
    /// base64); the event was skipped, the stream goes on.
    #[error("event data is not valid in the configured encoding")]
    InvalidData,
    /// The attempt or time limit was reached without a working stream. The last
    /// disconnection's error, if there was one, is the `source()`.
    #[error("gave up reconnecting after {attempts} attempts in {elapsed:?}")]
    GaveUp {
        /// Connection attempts made since the last working stream.
        attempts: u32,
        /// Time since the connection was lost (or since the first attempt).
        elapsed: Duration,
    },
}

/// The error type of this crate: an [`ErrorKind`] plus an optional cause.
///
/// Cheap to clone (the cause is shared), so it can travel in [`crate::ClientItem`]s.
///
/// ```
/// use tidings_client::{Error, ErrorKind};
///
/// let error = Error::from(ErrorKind::EventTooLarge { limit: 1024 });
/// assert!(error.is_event_error());
/// assert!(!error.is_fatal());
/// assert_eq!(error.to_string(), "event exceeds the maximum size of 1024 bytes");
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with_source(kind: ErrorKind, source: impl Into<BoxError>) -> Self {
        Self { kind, source: Some(Arc::from(source.into())) }
    }

    /// The same error with `cause` as its source (for [`ErrorKind::GaveUp`]).
    pub(crate) fn caused_by(kind: ErrorKind, cause: Option<Error>) -> Self {
        Self { kind, source: cause.map(|cause| Arc::new(cause) as Arc<_>) }
    }

    /// What went wrong.
    ///
    /// ```
    /// # use tidings_client::{Error, ErrorKind};
    /// let error = Error::from(ErrorKind::InvalidUrl);
    /// assert_eq!(error.kind(), &ErrorKind::InvalidUrl);
    /// ```
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether the client stops for good after this error (no reconnection).
    ///
    /// ```
    /// # use tidings_client::{Error, ErrorKind};
    /// assert!(Error::from(ErrorKind::Status(http::StatusCode::NOT_FOUND)).is_fatal());
    /// assert!(!Error::from(ErrorKind::Connect).is_fatal());
    /// ```
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !self.is_network() && !self.is_event_error()
    }

    /// Whether this is a network-level failure the client reconnects after.
    ///
    /// ```
    /// # use tidings_client::{Error, ErrorKind};
    /// assert!(Error::from(ErrorKind::Body).is_network());
    /// ```
    #[must_use]
    pub fn is_network(&self) -> bool {
        matches!(self.kind, ErrorKind::Connect | ErrorKind::Body)
    }

    /// Whether this error cost one event and the stream goes on.
    ///
    /// ```
    /// # use tidings_client::{Error, ErrorKind};
    /// assert!(Error::from(ErrorKind::InvalidData).is_event_error());
    /// ```
    #[must_use]
    pub fn is_event_error(&self) -> bool {
        matches!(self.kind, ErrorKind::EventTooLarge { .. } | ErrorKind::InvalidData)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl PartialEq for Error {
    /// Errors compare by kind; causes are not compared.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &self.kind);
        if let Some(source) = &self.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}
