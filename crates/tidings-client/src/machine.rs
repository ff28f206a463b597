//! The I/O-free core: every protocol decision of the client, driven by method calls.
//!
//! [`Machine`] knows nothing about sockets, tasks or clocks. A driver (this crate's
//! [`EventSource`](crate::EventSource), or your own) tells it what happened — an attempt
//! starts, a response head arrived, body bytes arrived, the connection ended — passing the
//! current time, and does what it answers: send this request, follow this redirect, stream
//! this body, wait this long, stop. Items for the user queue up in
//! [`Machine::poll_item`].
//!
//! The rules it implements (WHATWG HTML § 9.2 "Server-sent events", plus what the spec leaves
//! to the client):
//!
//! - Every request carries `Accept: text/event-stream` and `Cache-Control: no-cache`, and
//!   `Last-Event-ID` only when the last event id is non-empty ("If the EventSource object's
//!   last event ID string is not the empty string, set `Last-Event-ID`"). An empty `id:`
//!   field clears it, so the header disappears on the next reconnection.
//! - `200` with `Content-Type: text/event-stream` (parameters allowed, case-insensitive)
//!   opens the stream ("announce the connection"). `204` stops for good. `301`, `302`,
//!   `303`, `307` and `308` are followed (fetch's redirect rules: `303`, and `301`/`302` after
//!   a `POST`, continue as `GET` without a body) up to a limit; a redirect without a
//!   `Location`, or with an empty one, is an error rather than a loop. Any other status, or
//!   another content type, "fails the connection": an error and no reconnection.
//! - A network error, a stalled connection or a normal end of the body reconnects ("When a
//!   user agent is to reestablish the connection …"), after the reconnection time plus
//!   backoff (see [`Backoff`](crate::Backoff::delay)). An event cut off by the disconnection is
//!   discarded with its `id` ("If the file ends in the middle of an event, before the final
//!   empty line, the incomplete event is not dispatched").
//! - `retry:` sets the reconnection time, which is the base of every later delay.
//! - Optional limits on attempts and on time without a working stream end reconnecting with
//!   [`ErrorKind::GaveUp`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tidings_client::{ClientItem, Disconnect, EventSource, Next, Verdict};
//!
//! let mut machine = EventSource::builder("http://hub.test/events")
//!     .retry(Duration::from_millis(500))
//!     .build_machine()?;
//! let now = Instant::now();
//!
//! let request = machine.start_attempt(now);
//! assert_eq!(request.headers()["accept"], "text/event-stream");
//! assert!(request.headers().get("last-event-id").is_none());
//!
//! let response = http::Response::builder()
//!     .header("content-type", "text/event-stream")
//!     .body(())?;
//! assert!(matches!(machine.on_response(now, &response.into_parts().0), Verdict::Stream));
//! machine.on_chunk(now, bytes::Bytes::from_static(b"id: 7\ndata: hi\n\nid: 8\ndata: cut"));
//!
//! assert!(matches!(machine.poll_item(), Some(ClientItem::Open(_))));
//! assert!(matches!(machine.poll_item(), Some(ClientItem::Event(e)) if e.data() == "hi"));
//! assert!(machine.poll_item().is_none());
//!
//! // The server closes mid-event: reconnect after the reconnection time, from id 7.
//! let Next::Reconnect(delay) = machine.on_disconnect(now, Disconnect::Eof) else { panic!() };
//! assert_eq!(delay, Duration::from_millis(500));
//! let request = machine.start_attempt(now + delay);
//! assert_eq!(request.headers()["last-event-id"], "7");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use tidings_codec::{DecodeError, Decoder, DecoderConfig, EventId, Item};
use url::Url;

use crate::backoff::{Backoff, JitterRng};
use crate::error::{BoxError, Error, ErrorKind};
use crate::item::{
    ClientItem, DataEncoding, Disconnect, Event, GAP_EVENT_TYPE, Gap, Open, Reconnecting,
    StopReason,
};

/// The `Last-Event-ID` request header.
pub(crate) const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The response header a tidings hub announces base64 data with.
pub(crate) const DATA_ENCODING: HeaderName = HeaderName::from_static("tidings-data-encoding");

/// A response validation hook; see
/// [`EventSourceBuilder::validate_response`](crate::EventSourceBuilder::validate_response).
pub(crate) type Validator =
    Arc<dyn Fn(&http::response::Parts) -> Result<(), BoxError> + Send + Sync + 'static>;

/// Everything the machine is configured with; the builder fills it in.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) url: Url,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) last_event_id: EventId,
    pub(crate) retry: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) max_retry_duration: Option<Duration>,
    pub(crate) max_redirects: u32,
    pub(crate) max_event_size: usize,
    pub(crate) comments: bool,
    pub(crate) topic_field: Option<String>,
    pub(crate) keep_unknown_fields: bool,
    pub(crate) data_encoding: DataEncoding,
    pub(crate) gap_events: bool,
    pub(crate) validator: Option<Validator>,
}

/// What to do with a response head; the answer of [`Machine::on_response`].
///
/// ```
/// # use tidings_client::Verdict;
/// fn is_terminal(verdict: &Verdict) -> bool {
///     matches!(verdict, Verdict::Stop | Verdict::Fail(_))
/// }
/// # let _ = is_terminal;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Verdict {
    /// Read the body and feed it to [`Machine::on_chunk`].
    Stream,
    /// Drop this response and send this request instead (a redirect, within the same attempt).
    Redirect(Box<http::Request<Bytes>>),
    /// The server said `204`: stop for good. A [`ClientItem::Stopped`] is queued.
    Stop,
    /// Fail without reconnecting; yield the error and stop.
    Fail(Error),
}

/// What to do after a disconnection; the answer of [`Machine::on_disconnect`].
///
/// ```
/// # use tidings_client::Next;
/// # use std::time::Duration;
/// let next = Next::Reconnect(Duration::from_secs(3));
/// assert!(matches!(next, Next::Reconnect(d) if d.as_secs() == 3));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Next {
    /// Wait this long, then call [`Machine::start_attempt`]. A [`ClientItem::Reconnecting`]
    /// is queued.
    Reconnect(Duration),
    /// A limit was reached ([`ErrorKind::GaveUp`]); yield the error and stop.
    GiveUp(Error),
}

/// One request of an attempt: the original one or a redirect's.
#[derive(Debug, Clone)]
struct Hop {
    url: Url,
    method: Method,
    body: Bytes,
    redirects: u32,
    /// A redirect crossed origins: credentials set for the first origin are not sent on.
    strip_credentials: bool,
    /// Whether the request body's own headers are dropped (a redirect turned it into a GET).
    dropped_body: bool,
    last_event_id: EventId,
}

#[derive(Debug)]
enum Phase {
    /// Before the first attempt, or waiting to reconnect.
    Idle,
    /// A request is out; the response head is awaited.
    Connecting(Hop),
    /// The body is being read.
    Streaming { opened_at: Instant, delivered: bool },
    /// Stopped for good.
    Done,
}

/// The client's protocol core. See the [module docs](self) for the rules and an example.
///
/// Build one with [`EventSourceBuilder::build_machine`](crate::EventSourceBuilder::build_machine)
/// when writing your own driver; [`EventSource`](crate::EventSource) drives one over hyper.
///
/// ```
/// use std::time::Instant;
/// use tidings_client::{EventSource, Verdict};
///
/// let mut machine = EventSource::builder("http://hub.test/").build_machine()?;
/// let now = Instant::now();
/// let _request = machine.start_attempt(now);
/// let gone = http::Response::builder().status(204).body(())?.into_parts().0;
/// assert!(matches!(machine.on_response(now, &gone), Verdict::Stop));
/// assert!(machine.is_done());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Machine {
    settings: Settings,
    rng: Box<dyn JitterRng>,
    decoder: Decoder,
    last_event_id: EventId,
    reconnection_time: Duration,
    /// Connection attempts since the last working stream ended (or since the start).
    attempts: u32,
    /// The last backoff delay, for decorrelated jitter; cleared with the backoff.
    previous_delay: Option<Duration>,
    /// When the current run of attempts began: the start, or the end of the last working
    /// stream. The total-time limit counts from here.
    outage_started: Option<Instant>,
    phase: Phase,
    /// Whether the current stream's data is base64.
    base64: bool,
    items: VecDeque<ClientItem>,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("url", &self.settings.url.as_str())
            .field("last_event_id", &self.last_event_id)
            .field("reconnection_time", &self.reconnection_time)
            .field("attempts", &self.attempts)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Machine {
    pub(crate) fn new(settings: Settings, rng: Box<dyn JitterRng>) -> Self {
        let decoder_config = DecoderConfig::default()
            .max_event_size(settings.max_event_size)
            .keep_unknown_fields(settings.keep_unknown_fields || settings.topic_field.is_some());
        let last_event_id = settings.last_event_id.clone();
        Self {
            decoder: Decoder::with_config(decoder_config).resuming_after(last_event_id.clone()),
            last_event_id,
            reconnection_time: settings.retry,
            settings,
            rng,
            attempts: 0,
            previous_delay: None,
            outage_started: None,
            phase: Phase::Idle,
            base64: false,
            items: VecDeque::new(),
        }
    }

    /// The last event id: what the next request sends as `Last-Event-ID` (nothing when empty).
    ///
    /// ```
    /// # use tidings_client::EventSource;
    /// let machine = EventSource::builder("http://hub.test/").last_event_id("41").build_machine()?;
    /// assert_eq!(machine.last_event_id().as_str(), "41");
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &EventId {
        &self.last_event_id
    }

    /// The current reconnection time: the initial retry delay, or the last `retry:` value.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings_client::EventSource;
    /// let machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// assert_eq!(machine.reconnection_time(), Duration::from_secs(3));
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn reconnection_time(&self) -> Duration {
        self.reconnection_time
    }

    /// Connection attempts since the last working stream (or since the start).
    ///
    /// ```
    /// # use tidings_client::EventSource;
    /// let mut machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// assert_eq!(machine.attempts(), 0);
    /// let _request = machine.start_attempt(std::time::Instant::now());
    /// assert_eq!(machine.attempts(), 1);
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the machine stopped for good (204, a fatal error, a limit reached).
    ///
    /// ```
    /// # use tidings_client::EventSource;
    /// let machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// assert!(!machine.is_done());
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The next item for the user, if any.
    ///
    /// ```
    /// # use tidings_client::EventSource;
    /// let mut machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// assert!(machine.poll_item().is_none());
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn poll_item(&mut self) -> Option<ClientItem> {
        self.items.pop_front()
    }

    /// Starts a connection attempt at `now` and returns the request to send: the configured
    /// URL, method, headers and body (re-sent on every attempt), plus `Accept`,
    /// `Cache-Control` and, when the last event id is not empty, `Last-Event-ID`.
    ///
    /// An attempt in progress is abandoned.
    ///
    /// ```
    /// use std::time::Instant;
    /// use tidings_client::EventSource;
    ///
    /// let mut machine = EventSource::builder("http://hub.test/feed")
    ///     .method(http::Method::POST)
    ///     .body("{}")
    ///     .last_event_id("9")
    ///     .build_machine()?;
    /// let request = machine.start_attempt(Instant::now());
    /// assert_eq!((request.method().as_str(), request.body().as_ref()), ("POST", &b"{}"[..]));
    /// assert_eq!(request.headers()["cache-control"], "no-cache");
    /// assert_eq!(request.headers()["last-event-id"], "9");
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn start_attempt(&mut self, now: Instant) -> http::Request<Bytes> {
        self.outage_started.get_or_insert(now);
        self.attempts = self.attempts.saturating_add(1);
        let hop = Hop {
            url: self.settings.url.clone(),
            method: self.settings.method.clone(),
            body: self.settings.body.clone(),
            redirects: 0,
            strip_credentials: false,
            dropped_body: false,
            last_event_id: self.last_event_id.clone(),
        };
        let request = self.request(&hop);
        self.phase = Phase::Connecting(hop);
        request
    }

    /// Builds the request for `hop`.
    fn request(&self, hop: &Hop) -> http::Request<Bytes> {
        let mut request = http::Request::new(hop.body.clone());
        *request.method_mut() = hop.method.clone();
        // The builder checked that the configured URL converts, and redirects are checked in
        // `redirect`, so this fallback is never taken; it keeps the function total.
        *request.uri_mut() = to_uri(&hop.url).unwrap_or_default();
        let headers = request.headers_mut();
        headers.clone_from(&self.settings.headers);
        // The client owns these headers: the last event id is the stream's, not a fixed value.
        headers.remove(LAST_EVENT_ID);
        if hop.strip_credentials {
            // fetch: "If request's current URL's origin is not same origin with locationURL's
            // origin, then for each headerName of CORS non-wildcard request-header name,
            // delete headerName from request's header list" (Authorization); cookies too.
            headers.remove(header::AUTHORIZATION);
            headers.remove(header::COOKIE);
            headers.remove(header::PROXY_AUTHORIZATION);
        }
        if hop.dropped_body {
            // fetch: when a redirect switches to GET, "remove request-body-header name from
            // request's header list".
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::CONTENT_LANGUAGE,
                header::CONTENT_LOCATION,
            ] {
                headers.remove(name);
            }
        }
        // "Set (`Accept`, `text/event-stream`)"; "set request's cache mode to no-store", which
        // a plain HTTP client expresses as `Cache-Control: no-cache`.
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if !hop.last_event_id.is_empty() {
            // An id can hold characters a header value cannot (control characters other than
            // tab); such an id is not sent rather than corrupting the request.
            if let Ok(value) = HeaderValue::from_bytes(hop.last_event_id.as_str().as_bytes()) {
                headers.insert(LAST_EVENT_ID, value);
            }
        }
        request
    }

    /// Decides what to do with a response head. Call it for each response of an attempt,
    /// redirects included.
    ///
    /// ```
    /// use std::time::Instant;
    /// use tidings_client::{ErrorKind, EventSource, Verdict};
    ///
    /// let mut machine = EventSource::builder("http://hub.test/a").build_machine()?;
    /// let now = Instant::now();
    /// let _ = machine.start_attempt(now);
    /// let response = http::Response::builder().status(404).body(())?.into_parts().0;
    /// let Verdict::Fail(error) = machine.on_response(now, &response) else { panic!() };
    /// assert_eq!(error.kind(), &ErrorKind::Status(http::StatusCode::NOT_FOUND));
    /// assert!(machine.is_done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_response(&mut self, now: Instant, response: &http::response::Parts) -> Verdict {
        let Phase::Connecting(hop) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            // Not waiting for a response: a driver bug. Refuse rather than guess.
            return self.fail(Error::new(ErrorKind::InvalidRequest));
        };
        match response.status {
            StatusCode::OK => {}
            StatusCode::NO_CONTENT => {
                self.phase = Phase::Done;
                self.items.push_back(ClientItem::Stopped(StopReason::NoContent));
                return Verdict::Stop;
            }
            StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT => return self.redirect(hop, response),
            status => return self.fail(Error::new(ErrorKind::Status(status))),
        }
        let content_type = response.headers.get(header::CONTENT_TYPE);
        if !content_type.is_some_and(is_event_stream) {
            let value = content_type.map(|value| String::from_utf8_lossy(value.as_bytes()).into());
            return self.fail(Error::new(ErrorKind::ContentType(value)));
        }
        if let Some(validate) = &self.settings.validator {
            if let Err(error) = validate(response) {
                return self.fail(Error::with_source(ErrorKind::Rejected, error));
            }
        }
        self.base64 = match self.settings.data_encoding {
            DataEncoding::Plain => false,
            DataEncoding::Base64 => true,
            DataEncoding::FromResponseHeader => response
                .headers
                .get(DATA_ENCODING)
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"base64")),
        };
        self.phase = Phase::Streaming { opened_at: now, delivered: false };
        self.items.push_back(ClientItem::Open(Open {
            url: to_uri(&hop.url).unwrap_or_default(),
            version: response.version,
            headers: response.headers.clone(),
            last_event_id: hop.last_event_id,
            attempt: self.attempts,
        }));
        Verdict::Stream
    }

    /// Follows a redirect response (fetch's "HTTP-redirect fetch").
    fn redirect(&mut self, mut hop: Hop, response: &http::response::Parts) -> Verdict {
        let status = response.status;
        let location = match response.headers.get(header::LOCATION) {
            Some(value) if !value.is_empty() => value,
            _ => return self.fail(Error::new(ErrorKind::RedirectWithoutLocation(status))),
        };
        if hop.redirects >= self.settings.max_redirects {
            let limit = self.settings.max_redirects;
            return self.fail(Error::new(ErrorKind::TooManyRedirects { limit }));
        }
        let target = std::str::from_utf8(location.as_bytes())
            .ok()
            .and_then(|location| hop.url.join(location).ok())
            .filter(|url| matches!(url.scheme(), "http" | "https"));
        let Some(mut target) = target.filter(|url| to_uri(url).is_some()) else {
            return self.fail(Error::new(ErrorKind::InvalidLocation));
        };
        // A fragment is never sent; fetch keeps the earlier one if the new URL has none.
        target.set_fragment(None);
        // fetch: "If … request's method is `POST` and status is 301 or 302, or status is 303
        // and request's method is not `GET` or `HEAD`, set request's method to `GET` and
        // request's body to null."
        let to_get = (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && hop.method == Method::POST)
            || (status == StatusCode::SEE_OTHER
                && hop.method != Method::GET
                && hop.method != Method::HEAD);
        if to_get {
            hop.method = Method::GET;
            hop.body = Bytes::new();
            hop.dropped_body = true;
        }
        if target.origin() != hop.url.origin() {
            hop.strip_credentials = true;
        }
        hop.url = target;
        hop.redirects += 1;
        let request = self.request(&hop);
        self.phase = Phase::Connecting(hop);
        Verdict::Redirect(Box::new(request))
    }

    fn fail(&mut self, error: Error) -> Verdict {
        self.phase = Phase::Done;
        Verdict::Fail(error)
    }

    /// Feeds body bytes of the open stream; the events, comments and notices they complete
    /// are queued for [`Machine::poll_item`]. Bytes outside a stream are ignored.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use tidings_client::{ClientItem, EventSource, Verdict};
    /// # let mut machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// # let now = Instant::now();
    /// # let _ = machine.start_attempt(now);
    /// # let ok = http::Response::builder().header("content-type", "text/event-stream").body(())?.into_parts().0;
    /// # assert!(matches!(machine.on_response(now, &ok), Verdict::Stream));
    /// # let _open = machine.poll_item();
    /// machine.on_chunk(now, bytes::Bytes::from_static(b"retry: 250\n"));
    /// assert_eq!(machine.poll_item(), Some(ClientItem::Retry(Duration::from_millis(250))));
    /// assert_eq!(machine.reconnection_time(), Duration::from_millis(250));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_chunk(&mut self, _now: Instant, chunk: Bytes) {
        let Phase::Streaming { delivered, .. } = &mut self.phase else {
            return;
        };
        // Owned chunks are kept, not copied: single-line data and ids are slices of them.
        self.decoder.push_bytes(chunk);
        loop {
            match self.decoder.next_item() {
                Ok(None) => break,
                Ok(Some(Item::Event(message))) => {
                    *delivered = true;
                    let item = Self::event_item(&self.settings, self.base64, message);
                    self.items.push_back(item);
                }
                Ok(Some(Item::Comment(text))) => {
                    if self.settings.comments {
                        // `&*` so this compiles whatever string type the codec hands out.
                        self.items.push_back(ClientItem::Comment(String::from(&*text)));
                    }
                }
                Ok(Some(Item::Retry(retry))) => {
                    // "Set the event stream's reconnection time to that integer", and the
                    // backoff grows from it from now on.
                    self.previous_delay = None;
                    if retry != self.reconnection_time {
                        self.reconnection_time = retry;
                        self.items.push_back(ClientItem::Retry(retry));
                    }
                }
                Ok(Some(_)) => {}
                Err(DecodeError::EventTooLarge { limit }) => self
                    .items
                    .push_back(ClientItem::EventError(ErrorKind::EventTooLarge { limit }.into())),
                Err(_) => {}
            }
        }
        // The decoder's id follows dispatches that produce no event too (`id: 5` then a blank
        // line): that is the spec's "last event ID string".
        self.last_event_id.clone_from(self.decoder.last_event_id());
    }

    /// Turns a decoded message into the item the user sees.
    fn event_item(
        settings: &Settings,
        base64: bool,
        message: tidings_codec::MessageEvent,
    ) -> ClientItem {
        if settings.gap_events && message.event_type() == GAP_EVENT_TYPE {
            // A gap notice whose data does not parse is passed on as the event it is.
            if let Some(gap) = Gap::parse(&message.data) {
                return ClientItem::Gap(gap);
            }
            return ClientItem::Event(Event::from_message(message, None));
        }
        let mut event = Event::from_message(message, settings.topic_field.as_deref());
        if base64 {
            if let Err(error) = event.decode_base64() {
                return ClientItem::EventError(Error::with_source(ErrorKind::InvalidData, error));
            }
        }
        ClientItem::Event(event)
    }

    /// The connection ended, failed or could not be made, at `now`. Discards an event cut off
    /// by the disconnection (with its `id`) and decides whether and when to reconnect.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tidings_client::{Backoff, ErrorKind, EventSource, Jitter, Next};
    /// use tidings_client::Disconnect;
    ///
    /// let mut machine = EventSource::builder("http://hub.test/")
    ///     .retry(Duration::from_millis(100))
    ///     .backoff(Backoff::default().jitter(Jitter::None))
    ///     .max_attempts(2)
    ///     .build_machine()?;
    /// let now = Instant::now();
    /// let _ = machine.start_attempt(now);
    /// let refused = Disconnect::Error(ErrorKind::Connect.into());
    /// assert!(matches!(machine.on_disconnect(now, refused.clone()), Next::Reconnect(d) if d == Duration::from_millis(200)));
    /// let _ = machine.start_attempt(now);
    /// let Next::GiveUp(error) = machine.on_disconnect(now, refused) else { panic!() };
    /// assert!(matches!(error.kind(), ErrorKind::GaveUp { attempts: 2, .. }));
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn on_disconnect(&mut self, now: Instant, reason: Disconnect) -> Next {
        let discarded_partial = self.decoder.finish();
        let worked = match self.phase {
            Phase::Streaming { opened_at, delivered } => {
                delivered
                    || now.saturating_duration_since(opened_at)
                        >= self.settings.backoff.reset_after_duration()
            }
            _ => false,
        };
        let restart = reason == Disconnect::Restart;
        if worked || restart {
            // A working stream ended: a new run of attempts starts, backoff from scratch.
            self.attempts = 0;
            self.previous_delay = None;
            self.outage_started = Some(now);
        }
        let outage_started = *self.outage_started.get_or_insert(now);
        let elapsed = now.saturating_duration_since(outage_started);
        let cause = match &reason {
            Disconnect::Error(error) => Some(error.clone()),
            _ => None,
        };
        if self.settings.max_attempts.is_some_and(|max| self.attempts >= max) {
            return self.give_up(elapsed, cause);
        }
        let delay = if restart {
            // The user asked for a new connection now.
            Duration::ZERO
        } else {
            let delay = self.settings.backoff.delay(
                self.reconnection_time,
                self.attempts,
                self.previous_delay,
                &mut *self.rng,
            );
            self.previous_delay = (self.attempts > 0).then_some(delay);
            delay
        };
        if self.settings.max_retry_duration.is_some_and(|max| elapsed + delay > max) {
            return self.give_up(elapsed, cause);
        }
        self.phase = Phase::Idle;
        self.items.push_back(ClientItem::Reconnecting(Reconnecting {
            reason,
            delay,
            attempt: self.attempts + 1,
            discarded_partial,
        }));
        Next::Reconnect(delay)
    }

    fn give_up(&mut self, elapsed: Duration, cause: Option<Error>) -> Next {
        self.phase = Phase::Done;
        let kind = ErrorKind::GaveUp { attempts: self.attempts, elapsed };
        Next::GiveUp(Error::caused_by(kind, cause))
    }

    /// Stops for good (the user cancelled). Later calls change nothing.
    ///
    /// ```
    /// # use tidings_client::EventSource;
    /// let mut machine = EventSource::builder("http://hub.test/").build_machine()?;
    /// machine.close();
    /// assert!(machine.is_done());
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn close(&mut self) {
        self.decoder.finish();
        self.phase = Phase::Done;
    }
}

/// Whether a `Content-Type` value is `text/event-stream`: its MIME type essence, compared
/// ASCII case-insensitively, parameters (`; charset=utf-8`) ignored.
fn is_event_stream(value: &HeaderValue) -> bool {
    let essence = value.as_bytes().split(|&byte| byte == b';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(b"text/event-stream")
}

/// `url` as the `http` crate's URI, or `None` when it holds characters `http` refuses.
pub(crate) fn to_uri(url: &Url) -> Option<Uri> {
    url.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;
    use crate::{EventSource, EventSourceBuilder};

    /// A jitter source returning a fixed value.
    #[derive(Clone)]
    struct Fixed(u64);
    impl JitterRng for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    const R: Duration = Duration::from_millis(100);

    fn builder() -> EventSourceBuilder {
        EventSource::builder("http://hub.test/events?topic=a")
            .retry(R)
            .backoff(Backoff::default().jitter(Jitter::None).max_delay(Duration::from_secs(10)))
    }

    fn machine(builder: EventSourceBuilder) -> Machine {
        builder.jitter_rng(Fixed(0)).build_machine().expect("valid settings")
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        response.body(()).expect("valid response").into_parts().0
    }

    fn stream_ok() -> http::response::Parts {
        response(200, &[("content-type", "text/event-stream")])
    }

    /// Starts an attempt and opens the stream; drains earlier items and the `Open` item.
    fn open(machine: &mut Machine, now: Instant) -> http::Request<Bytes> {
        while machine.poll_item().is_some() {}
        let request = machine.start_attempt(now);
        assert!(matches!(machine.on_response(now, &stream_ok()), Verdict::Stream));
        assert!(matches!(machine.poll_item(), Some(ClientItem::Open(_))));
        request
    }

    fn items(machine: &mut Machine) -> Vec<ClientItem> {
        std::iter::from_fn(|| machine.poll_item()).collect()
    }

    fn event_data(machine: &mut Machine) -> Vec<String> {
        items(machine)
            .into_iter()
            .filter_map(|item| match item {
                ClientItem::Event(event) => Some(event.data().to_owned()),
                _ => None,
            })
            .collect()
    }

    fn reconnect_delay(next: Next) -> Duration {
        match next {
            Next::Reconnect(delay) => delay,
            Next::GiveUp(error) => panic!("gave up: {error}"),
        }
    }

    fn chunk(bytes: &'static str) -> Bytes {
        Bytes::from_static(bytes.as_bytes())
    }

    #[test]
    fn every_request_asks_for_an_event_stream_without_caching() {
        let mut m = machine(builder().header("x-custom", "1"));
        let request = m.start_attempt(Instant::now());
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "http://hub.test/events?topic=a");
        assert_eq!(request.headers()["accept"], "text/event-stream");
        assert_eq!(request.headers()["cache-control"], "no-cache");
        assert_eq!(request.headers()["x-custom"], "1");
        assert!(request.headers().get("last-event-id").is_none());
        assert!(request.body().is_empty());
    }

    #[test]
    fn user_headers_cannot_override_accept_or_last_event_id() {
        let mut m = machine(
            builder().header("accept", "application/json").header("last-event-id", "stale"),
        );
        let request = m.start_attempt(Instant::now());
        assert_eq!(request.headers()["accept"], "text/event-stream");
        assert!(request.headers().get("last-event-id").is_none());
    }

    #[test]
    fn initial_last_event_id_is_sent_on_the_first_request() {
        let mut m = machine(builder().last_event_id("abc"));
        let request = m.start_attempt(Instant::now());
        assert_eq!(request.headers()["last-event-id"], "abc");
    }

    #[test]
    fn method_and_body_are_resent_on_every_attempt() {
        let mut m =
            machine(builder().method(Method::from_bytes(b"REPORT").expect("method")).body("{}"));
        let now = Instant::now();
        for _ in 0..3 {
            let request = m.start_attempt(now);
            assert_eq!(request.method().as_str(), "REPORT");
            assert_eq!(request.body(), "{}");
            reconnect_delay(m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())));
        }
    }

    #[test]
    fn last_event_id_follows_dispatched_events_and_is_sent_on_reconnect() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id: 1\ndata: a\n\ndata: b\n\n"));
        assert_eq!(event_data(&mut m), ["a", "b"]);
        assert_eq!(m.last_event_id().as_str(), "1");
        reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        let request = m.start_attempt(now);
        assert_eq!(request.headers()["last-event-id"], "1");
    }

    #[test]
    fn an_id_without_data_still_sets_the_last_event_id() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id: 9\n\n"));
        assert!(event_data(&mut m).is_empty());
        assert_eq!(m.last_event_id().as_str(), "9");
    }

    #[test]
    fn empty_id_removes_last_event_id_from_the_next_request() {
        let mut m = machine(builder().last_event_id("old"));
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id\ndata: reset\n\n"));
        assert_eq!(event_data(&mut m), ["reset"]);
        reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        let request = m.start_attempt(now);
        assert!(request.headers().get("last-event-id").is_none());
    }

    #[test]
    fn partial_event_cut_by_disconnect_is_discarded_with_its_id() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id: 1\ndata: whole\n\nid: 2\ndata: par"));
        assert_eq!(event_data(&mut m), ["whole"]);
        reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        let Some(ClientItem::Reconnecting(reconnecting)) = m.poll_item() else {
            panic!("expected a reconnecting notice")
        };
        assert!(reconnecting.discarded_partial);
        let request = m.start_attempt(now);
        assert_eq!(request.headers()["last-event-id"], "1");
        // The next stream starts clean: the cut-off line does not join the new bytes.
        assert!(matches!(m.on_response(now, &stream_ok()), Verdict::Stream));
        m.on_chunk(now, chunk("tial\n\ndata: fresh\n\n"));
        assert_eq!(event_data(&mut m), ["fresh"]);
    }

    #[test]
    fn clean_eof_after_events_reconnects_after_exactly_the_reconnection_time() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("data: x\n\n"));
        assert_eq!(reconnect_delay(m.on_disconnect(now, Disconnect::Eof)), R);
    }

    #[test]
    fn retry_field_sets_the_reconnection_time_and_is_reported_once() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("retry: 2500\nretry: 2500\nretry: x\ndata: a\n\n"));
        let got = items(&mut m);
        assert_eq!(got[0], ClientItem::Retry(Duration::from_millis(2500)));
        assert!(matches!(&got[1], ClientItem::Event(_)));
        assert_eq!(got.len(), 2);
        assert_eq!(
            reconnect_delay(m.on_disconnect(now, Disconnect::Eof)),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn retry_is_the_base_of_backoff_after_failures() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("retry: 1000\n"));
        // No event: the stream did not work, so this end counts as a failure.
        assert_eq!(reconnect_delay(m.on_disconnect(now, Disconnect::Eof)), Duration::from_secs(2));
        let _ = m.start_attempt(now);
        assert_eq!(
            reconnect_delay(m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into()))),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap_and_reset_after_a_working_stream() {
        let mut m = machine(builder().backoff(
            Backoff::default().jitter(Jitter::None).max_delay(Duration::from_millis(500)),
        ));
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..4 {
            let _ = m.start_attempt(now);
            delays.push(
                reconnect_delay(m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())))
                    .as_millis(),
            );
        }
        assert_eq!(delays, [200, 400, 500, 500]);
        open(&mut m, now);
        m.on_chunk(now, chunk("data: works\n\n"));
        assert_eq!(reconnect_delay(m.on_disconnect(now, Disconnect::Eof)), R);
        assert_eq!(m.attempts(), 0);
    }

    #[test]
    fn a_stream_open_long_enough_counts_as_working_without_events() {
        let mut m =
            machine(builder().backoff(
                Backoff::default().jitter(Jitter::None).reset_after(Duration::from_secs(5)),
            ));
        let now = Instant::now();
        let _ = m.start_attempt(now);
        reconnect_delay(m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())));
        open(&mut m, now);
        // Open, silent, then a stall after 4 s: not long enough, backoff grows.
        let stalled = now + Duration::from_secs(4);
        assert_eq!(
            reconnect_delay(m.on_disconnect(stalled, Disconnect::ReadTimeout)),
            Duration::from_millis(400)
        );
        open(&mut m, stalled);
        let later = stalled + Duration::from_secs(5);
        assert_eq!(reconnect_delay(m.on_disconnect(later, Disconnect::ReadTimeout)), R);
    }

    #[test]
    fn jitter_comes_from_the_injected_rng() {
        let b = builder().backoff(Backoff::default().jitter(Jitter::Full));
        let mut low = b.clone().jitter_rng(Fixed(0)).build_machine().expect("valid");
        let mut high = b.jitter_rng(Fixed(u64::MAX)).build_machine().expect("valid");
        let now = Instant::now();
        let mut delays = Vec::new();
        for m in [&mut low, &mut high] {
            let _ = m.start_attempt(now);
            let _ = m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into()));
            let _ = m.start_attempt(now);
            delays.push(reconnect_delay(
                m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())),
            ));
        }
        assert_eq!(delays, [R, Duration::from_millis(400)]);
    }

    #[test]
    fn max_attempts_gives_up_with_the_last_cause() {
        let mut m = machine(builder().max_attempts(3));
        let now = Instant::now();
        for _ in 0..2 {
            let _ = m.start_attempt(now);
            reconnect_delay(m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())));
        }
        let _ = m.start_attempt(now);
        let Next::GiveUp(error) = m.on_disconnect(now, Disconnect::Error(ErrorKind::Body.into()))
        else {
            panic!("expected to give up")
        };
        assert!(matches!(error.kind(), ErrorKind::GaveUp { attempts: 3, .. }));
        let source = std::error::Error::source(&error).expect("cause");
        assert_eq!(source.to_string(), Error::from(ErrorKind::Body).to_string());
        assert!(m.is_done());
    }

    #[test]
    fn max_attempts_counts_from_the_last_working_stream() {
        let mut m = machine(builder().max_attempts(2));
        let now = Instant::now();
        for _ in 0..5 {
            open(&mut m, now);
            m.on_chunk(now, chunk("data: ok\n\n"));
            reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        }
    }

    #[test]
    fn total_time_limit_gives_up_before_waiting_past_it() {
        let mut m = machine(builder().max_retry_duration(Duration::from_millis(1000)));
        let start = Instant::now();
        let mut now = start;
        let mut delays = Vec::new();
        loop {
            let _ = m.start_attempt(now);
            match m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into())) {
                Next::Reconnect(delay) => {
                    delays.push(delay.as_millis());
                    now += delay;
                }
                Next::GiveUp(error) => {
                    assert!(matches!(
                        error.kind(),
                        ErrorKind::GaveUp { elapsed, .. } if *elapsed == Duration::from_millis(600)
                    ));
                    break;
                }
            }
        }
        // 200 + 400 = 600 ms; the next delay (800 ms) would end past the 1 s limit.
        assert_eq!(delays, [200, 400]);
    }

    #[test]
    fn status_204_stops_for_good() {
        let mut m = machine(builder());
        let now = Instant::now();
        let _ = m.start_attempt(now);
        assert!(matches!(m.on_response(now, &response(204, &[])), Verdict::Stop));
        assert_eq!(m.poll_item(), Some(ClientItem::Stopped(StopReason::NoContent)));
        assert!(m.is_done());
    }

    #[test]
    fn other_statuses_fail_without_retry() {
        for status in [201, 202, 206, 300, 304, 400, 401, 404, 500, 502, 503] {
            let mut m = machine(builder());
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let verdict =
                m.on_response(now, &response(status, &[("content-type", "text/event-stream")]));
            let Verdict::Fail(error) = verdict else { panic!("{status} did not fail") };
            assert_eq!(
                error.kind(),
                &ErrorKind::Status(StatusCode::from_u16(status).expect("status"))
            );
            assert!(error.is_fatal());
            assert!(m.is_done());
        }
    }

    #[test]
    fn wrong_or_missing_content_type_fails_without_retry() {
        for (headers, expected) in [
            (&[("content-type", "text/plain")][..], Some("text/plain")),
            (&[("content-type", "text/event-streamx")][..], Some("text/event-streamx")),
            (&[][..], None),
        ] {
            let mut m = machine(builder());
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let Verdict::Fail(error) = m.on_response(now, &response(200, headers)) else {
                panic!("{headers:?} did not fail")
            };
            assert_eq!(error.kind(), &ErrorKind::ContentType(expected.map(String::from)));
        }
    }

    #[test]
    fn content_type_parameters_and_case_are_accepted() {
        for value in
            ["text/event-stream; charset=utf-8", "Text/Event-Stream", " text/event-stream ;x=y"]
        {
            let mut m = machine(builder());
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let verdict = m.on_response(now, &response(200, &[("content-type", value)]));
            assert!(matches!(verdict, Verdict::Stream), "{value}");
        }
    }

    #[test]
    fn redirects_are_followed_relative_to_the_current_url() {
        for status in [301, 302, 303, 307, 308] {
            let mut m = machine(builder());
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let verdict = m.on_response(now, &response(status, &[("location", "/moved?x=1")]));
            let Verdict::Redirect(request) = verdict else { panic!("{status} not followed") };
            assert_eq!(request.uri(), "http://hub.test/moved?x=1");
            assert_eq!(request.headers()["accept"], "text/event-stream");
            assert!(matches!(m.on_response(now, &stream_ok()), Verdict::Stream));
            let Some(ClientItem::Open(open)) = m.poll_item() else { panic!("no open") };
            assert_eq!(open.url, "http://hub.test/moved?x=1");
        }
    }

    #[test]
    fn reconnection_after_a_redirect_goes_to_the_original_url() {
        let mut m = machine(builder());
        let now = Instant::now();
        let _ = m.start_attempt(now);
        let _ = m.on_response(now, &response(301, &[("location", "http://other.test/x")]));
        assert!(matches!(m.on_response(now, &stream_ok()), Verdict::Stream));
        reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        assert_eq!(m.start_attempt(now).uri(), "http://hub.test/events?topic=a");
    }

    #[test]
    fn redirect_without_or_with_empty_location_is_an_error_not_a_loop() {
        for headers in [&[][..], &[("location", "")][..]] {
            let mut m = machine(builder());
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let Verdict::Fail(error) = m.on_response(now, &response(307, headers)) else {
                panic!("not an error")
            };
            assert_eq!(
                error.kind(),
                &ErrorKind::RedirectWithoutLocation(StatusCode::TEMPORARY_REDIRECT)
            );
            assert!(m.is_done());
        }
    }

    #[test]
    fn redirect_to_another_scheme_is_invalid() {
        let mut m = machine(builder());
        let now = Instant::now();
        let _ = m.start_attempt(now);
        let Verdict::Fail(error) = m.on_response(now, &response(302, &[("location", "ftp://x/")]))
        else {
            panic!("not an error")
        };
        assert_eq!(error.kind(), &ErrorKind::InvalidLocation);
    }

    #[test]
    fn redirect_limit_is_enforced() {
        let mut m = machine(builder().max_redirects(2));
        let now = Instant::now();
        let _ = m.start_attempt(now);
        for _ in 0..2 {
            assert!(matches!(
                m.on_response(now, &response(302, &[("location", "/again")])),
                Verdict::Redirect(_)
            ));
        }
        let Verdict::Fail(error) = m.on_response(now, &response(302, &[("location", "/again")]))
        else {
            panic!("loop not stopped")
        };
        assert_eq!(error.kind(), &ErrorKind::TooManyRedirects { limit: 2 });
    }

    #[test]
    fn redirect_keeps_or_drops_method_and_body_like_fetch() {
        let cases = [
            ("POST", 301, "GET", ""),
            ("POST", 302, "GET", ""),
            ("POST", 303, "GET", ""),
            ("POST", 307, "POST", "{}"),
            ("POST", 308, "POST", "{}"),
            ("REPORT", 302, "REPORT", "{}"),
            ("REPORT", 303, "GET", ""),
        ];
        for (method, status, expected_method, expected_body) in cases {
            let b = builder()
                .method(Method::from_bytes(method.as_bytes()).expect("method"))
                .body("{}")
                .header("content-type", "application/json");
            let mut m = machine(b);
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let Verdict::Redirect(request) =
                m.on_response(now, &response(status, &[("location", "/x")]))
            else {
                panic!("not followed")
            };
            assert_eq!(request.method().as_str(), expected_method, "{method} {status}");
            assert_eq!(request.body(), expected_body, "{method} {status}");
            assert_eq!(
                request.headers().contains_key("content-type"),
                !expected_body.is_empty(),
                "{method} {status}"
            );
        }
    }

    #[test]
    fn cross_origin_redirect_drops_credentials() {
        let b = builder().header("authorization", "Bearer t");
        let mut m = machine(b);
        let now = Instant::now();
        let _ = m.start_attempt(now);
        let Verdict::Redirect(same) = m.on_response(now, &response(307, &[("location", "/same")]))
        else {
            panic!()
        };
        assert_eq!(same.headers()["authorization"], "Bearer t");
        let Verdict::Redirect(other) =
            m.on_response(now, &response(307, &[("location", "https://elsewhere.test/")]))
        else {
            panic!()
        };
        assert!(other.headers().get("authorization").is_none());
    }

    #[test]
    fn validation_hook_can_reject_a_stream() {
        let b = builder().validate_response(|response| {
            if response.headers.contains_key("x-ok") { Ok(()) } else { Err("no x-ok".into()) }
        });
        let mut m = machine(b);
        let now = Instant::now();
        let _ = m.start_attempt(now);
        let Verdict::Fail(error) = m.on_response(now, &stream_ok()) else { panic!() };
        assert_eq!(error.kind(), &ErrorKind::Rejected);
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string),
            Some("no x-ok".into())
        );
    }

    #[test]
    fn network_errors_before_a_response_reconnect() {
        let mut m = machine(builder());
        let now = Instant::now();
        let _ = m.start_attempt(now);
        let next = m.on_disconnect(now, Disconnect::Error(ErrorKind::Connect.into()));
        assert!(matches!(next, Next::Reconnect(_)));
        let Some(ClientItem::Reconnecting(r)) = m.poll_item() else { panic!() };
        assert_eq!(r.attempt, 2);
        assert!(!r.discarded_partial);
        assert!(matches!(r.reason, Disconnect::Error(_)));
    }

    #[test]
    fn restart_reconnects_at_once_from_the_last_id() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id: 5\ndata: x\n\n"));
        assert_eq!(reconnect_delay(m.on_disconnect(now, Disconnect::Restart)), Duration::ZERO);
        assert_eq!(m.start_attempt(now).headers()["last-event-id"], "5");
    }

    #[test]
    fn comments_are_items_only_when_asked_for() {
        for wanted in [false, true] {
            let mut m = machine(builder().comments(wanted));
            let now = Instant::now();
            open(&mut m, now);
            m.on_chunk(now, chunk(": keep-alive\n"));
            let got = items(&mut m);
            assert_eq!(got == [ClientItem::Comment("keep-alive".into())], wanted);
            assert_eq!(got.is_empty(), !wanted);
        }
    }

    #[test]
    fn oversized_events_are_reported_and_skipped() {
        let mut m = machine(builder().max_event_size(16));
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("data: far too long for the limit\n\ndata: ok\n\n"));
        let got = items(&mut m);
        assert!(
            matches!(&got[0], ClientItem::EventError(e) if e.kind() == &ErrorKind::EventTooLarge { limit: 16 })
        );
        assert!(matches!(&got[1], ClientItem::Event(e) if e.data() == "ok"));
    }

    #[test]
    fn gap_events_become_typed_notices_and_keep_the_last_id() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(
            now,
            chunk("id: 3\ndata: a\n\nevent: tidings-gap\ndata: {\"reason\":\"overflow\",\"missed\":4}\n\nevent: tidings-gap\ndata: nonsense\n\n"),
        );
        let got = items(&mut m);
        assert!(matches!(
            &got[1],
            ClientItem::Gap(Gap { reason: crate::GapReason::Overflow, missed: Some(4) })
        ));
        assert!(matches!(&got[2], ClientItem::Event(e) if e.event_type() == "tidings-gap"));
        assert_eq!(m.last_event_id().as_str(), "3");
    }

    #[test]
    fn gap_events_can_be_left_as_events() {
        let mut m = machine(builder().gap_events(false));
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(
            now,
            chunk("event: tidings-gap\ndata: {\"reason\":\"trimmed\",\"missed\":null}\n\n"),
        );
        assert!(matches!(&items(&mut m)[..], [ClientItem::Event(_)]));
    }

    #[test]
    fn topic_fields_become_the_event_topics() {
        let mut m = machine(builder().topic_field(crate::TOPIC_FIELD).keep_unknown_fields(true));
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(
            now,
            chunk("id: 1\ntopic:news/sport\ntopic:all\ncolor: red\ndata: kick-off\n\n"),
        );
        let got = items(&mut m);
        let ClientItem::Event(event) = &got[0] else { panic!() };
        assert_eq!(event.topics(), ["news/sport", "all"]);
        assert_eq!(event.topic(), Some("news/sport"));
        assert_eq!(event.fields().collect::<Vec<_>>(), [("color", "red")]);
    }

    #[test]
    fn base64_data_is_decoded_when_configured() {
        let mut m = machine(builder().data_encoding(DataEncoding::Base64));
        let now = Instant::now();
        open(&mut m, now);
        // "a\nb" and the bytes FF 00, then something that is not base64.
        m.on_chunk(now, chunk("data: YQpi\n\ndata: /wA=\n\ndata: !!\n\nevent: tidings-gap\ndata: {\"reason\":\"trimmed\",\"missed\":1}\n\n"));
        let got = items(&mut m);
        assert!(matches!(&got[0], ClientItem::Event(e) if e.data() == "a\nb"));
        assert!(
            matches!(&got[1], ClientItem::Event(e) if e.data_bytes() == [0xFF, 0] && e.data() == "\u{FFFD}\0")
        );
        assert!(
            matches!(&got[2], ClientItem::EventError(e) if e.kind() == &ErrorKind::InvalidData)
        );
        assert!(matches!(&got[3], ClientItem::Gap(_)));
    }

    #[test]
    fn base64_from_the_response_header() {
        for (header, expected) in [(Some("base64"), "hi"), (None, "aGk=")] {
            let mut m = machine(builder().data_encoding(DataEncoding::FromResponseHeader));
            let now = Instant::now();
            let _ = m.start_attempt(now);
            let mut headers = vec![("content-type", "text/event-stream")];
            headers.extend(header.map(|value| ("tidings-data-encoding", value)));
            assert!(matches!(m.on_response(now, &response(200, &headers)), Verdict::Stream));
            m.on_chunk(now, chunk("data: aGk=\n\n"));
            assert_eq!(event_data(&mut m), [expected]);
        }
    }

    #[test]
    fn last_event_id_with_unsendable_characters_is_not_sent() {
        let mut m = machine(builder());
        let now = Instant::now();
        open(&mut m, now);
        m.on_chunk(now, chunk("id: a\x01b\ndata: x\n\n"));
        reconnect_delay(m.on_disconnect(now, Disconnect::Eof));
        assert!(m.start_attempt(now).headers().get("last-event-id").is_none());
    }

    #[test]
    fn bytes_outside_a_stream_are_ignored() {
        let mut m = machine(builder());
        m.on_chunk(Instant::now(), chunk("data: stray\n\n"));
        assert!(m.poll_item().is_none());
    }
}
