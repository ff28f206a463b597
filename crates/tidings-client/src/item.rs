//! What the client yields: events and typed notices about the connection.

use std::time::Duration;

use http::{HeaderMap, Uri, Version};
use tidings_codec::{EventId, MessageEvent};

use crate::error::Error;

/// The event type a tidings hub gives its gap notices (`docs/HTTP_API.md`, "The gap event").
///
/// ```
/// assert_eq!(tidings_client::GAP_EVENT_TYPE, "tidings-gap");
/// ```
pub const GAP_EVENT_TYPE: &str = "tidings-gap";

/// The extension field a tidings hub writes each event's topics in, one line per topic
/// (`topic:news/sport`), when it is configured to (`docs/HTTP_API.md`, "Routing by topic").
///
/// ```
/// assert_eq!(tidings_client::TOPIC_FIELD, "topic");
/// ```
pub const TOPIC_FIELD: &str = "topic";

/// One thing the client reports, in stream order.
///
/// Besides events, the stream carries notices about the connection, so a consumer sees
/// everything in one place. Fatal errors are not items: they arrive as the stream's `Err`,
/// after which it ends.
///
/// ```
/// use tidings_client::ClientItem;
///
/// fn show(item: &ClientItem) -> String {
///     match item {
///         ClientItem::Event(event) => format!("{}: {}", event.event_type(), event.data()),
///         ClientItem::Reconnecting(r) => format!("reconnecting in {:?}", r.delay),
///         other => format!("{other:?}"),
///     }
/// }
/// # let _ = show;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientItem {
    /// A stream opened: the response was `200` with `text/event-stream` (the spec's
    /// "announce the connection", a browser's `open` event).
    Open(Open),
    /// An event.
    Event(Event),
    /// A tidings hub says events were lost before the ones that follow (an event of type
    /// [`GAP_EVENT_TYPE`] whose data parsed).
    Gap(Gap),
    /// A comment line's text (keep-alives), when
    /// [`EventSourceBuilder::comments`](crate::EventSourceBuilder::comments) is on.
    Comment(String),
    /// The server changed the reconnection time with a `retry:` field.
    Retry(Duration),
    /// The connection ended or could not be made; the client tries again after `delay`.
    Reconnecting(Reconnecting),
    /// One event was lost (too large, or its data failed to decode); the stream goes on.
    EventError(Error),
    /// The client stopped for good without an error: the server answered `204 No Content`,
    /// the spec's way of saying "do not reconnect". The stream ends after this item.
    Stopped(StopReason),
}

/// Why the client stopped without an error.
///
/// ```
/// let reason = tidings_client::StopReason::NoContent;
/// assert_eq!(format!("{reason:?}"), "NoContent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The server answered `204 No Content`.
    NoContent,
}

/// A stream that opened.
///
/// ```
/// # use tidings_client::ClientItem;
/// fn resumed_where_asked(item: &ClientItem) -> Option<bool> {
///     let ClientItem::Open(open) = item else { return None };
///     // A tidings hub echoes the id it resumed from, or `earliest` when it did not know it.
///     let answer = open.headers.get("last-event-id")?.to_str().ok()?;
///     Some(answer == open.last_event_id.as_str())
/// }
/// # let _ = resumed_where_asked;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Open {
    /// The URL the stream came from, after redirects.
    pub url: Uri,
    /// The HTTP version of the connection.
    pub version: Version,
    /// The response headers.
    pub headers: HeaderMap,
    /// The `Last-Event-ID` the request carried (empty when none was sent).
    pub last_event_id: EventId,
    /// Connection attempts made since the last working stream, this one included.
    pub attempt: u32,
}

/// The connection ended (or could not be made) and the client reconnects.
///
/// ```
/// # use tidings_client::{ClientItem, Disconnect};
/// fn was_clean(item: &ClientItem) -> bool {
///     matches!(item, ClientItem::Reconnecting(r) if r.reason == Disconnect::Eof)
/// }
/// # let _ = was_clean;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reconnecting {
    /// Why the connection ended.
    pub reason: Disconnect,
    /// How long the client waits before the next attempt.
    pub delay: Duration,
    /// The number of the next attempt since the last working stream (1 for the first).
    pub attempt: u32,
    /// Whether an event cut off by the disconnection was discarded (with its `id`).
    pub discarded_partial: bool,
}

/// Why a connection ended.
///
/// ```
/// let reason = tidings_client::Disconnect::ReadTimeout;
/// assert_ne!(reason, tidings_client::Disconnect::Eof);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server ended the response normally.
    Eof,
    /// No bytes arrived (comments count) for the configured read timeout; the client dropped
    /// the connection.
    ReadTimeout,
    /// A network or protocol error while connecting or reading.
    Error(Error),
    /// [`Controller::restart`](crate::Controller::restart) asked for a new connection.
    Restart,
}

/// A gap notice from a tidings hub: events the subscriber asked for were lost.
///
/// ```
/// use tidings_client::{Gap, GapReason};
///
/// let gap = Gap::parse(r#"{"reason": "trimmed", "missed": 12}"#).expect("valid gap data");
/// assert_eq!((gap.reason, gap.missed), (GapReason::Trimmed, Some(12)));
/// assert!(Gap::parse("not json").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// Why events were lost.
    pub reason: GapReason,
    /// How many, when the hub knows.
    pub missed: Option<u64>,
}

impl Gap {
    /// Parses a gap event's data (`{"reason": "...", "missed": n|null}`); `None` when it is
    /// not such an object.
    ///
    /// ```
    /// let gap = tidings_client::Gap::parse(r#"{"missed": null, "reason": "unknown-id"}"#);
    /// assert_eq!(gap.map(|g| g.missed), Some(None));
    /// ```
    #[must_use]
    pub fn parse(data: &str) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Wire {
            reason: String,
            #[serde(default)]
            missed: Option<u64>,
        }
        let wire: Wire = serde_json::from_str(data).ok()?;
        let reason = match wire.reason.as_str() {
            "unknown-id" => GapReason::UnknownId,
            "trimmed" => GapReason::Trimmed,
            "overflow" => GapReason::Overflow,
            "history-unavailable" => GapReason::HistoryUnavailable,
            _ => GapReason::Other(wire.reason),
        };
        Some(Self { reason, missed: wire.missed })
    }
}

/// Why a tidings hub reported a gap.
///
/// ```
/// # use tidings_client::{Gap, GapReason};
/// let gap = Gap::parse(r#"{"reason": "a-new-reason", "missed": null}"#).expect("valid");
/// assert_eq!(gap.reason, GapReason::Other("a-new-reason".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapReason {
    /// The last event id was unknown to the hub; what history holds follows.
    UnknownId,
    /// History no longer reaches back to the last event id.
    Trimmed,
    /// The subscriber's queue overflowed and older events were dropped.
    Overflow,
    /// History could not be read.
    HistoryUnavailable,
    /// A reason this version does not know.
    Other(String),
}

/// How event data is encoded on the wire.
///
/// ```
/// use tidings_client::{DataEncoding, EventSource};
///
/// let builder = EventSource::builder("http://localhost:8080/events?topic=a")
///     .data_encoding(DataEncoding::Base64);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataEncoding {
    /// Data is the text on the wire (the SSE standard). The default.
    #[default]
    Plain,
    /// Data is base64 (standard alphabet, padded), as a tidings hub sends it with its
    /// `base64_data` option; the client decodes it. Gap events are never encoded.
    Base64,
    /// Base64 when the response carries `Tidings-Data-Encoding: base64`, plain otherwise.
    FromResponseHeader,
}

/// An event as the client delivers it.
///
/// Wraps the codec's [`MessageEvent`] and adds what the client knows: the topics a tidings hub
/// listed, and the data decoded from base64 when that option is on.
///
/// ```
/// # use tidings_client::ClientItem;
/// fn print(item: &ClientItem) {
///     if let ClientItem::Event(event) = item {
///         println!("[{}] id={} {:?}: {}", event.event_type(), event.id(), event.topics(), event.data());
///     }
/// }
/// # let _ = print;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    message: MessageEvent,
    data: Data,
    topics: Vec<String>,
}

/// Where an event's data lives.
#[derive(Debug, Clone, PartialEq)]
enum Data {
    /// The message's own data.
    Wire,
    /// Decoded from base64 into valid UTF-8.
    Text(String),
    /// Decoded from base64 into bytes that are not UTF-8; `lossy` replaces invalid sequences.
    Binary { bytes: Vec<u8>, lossy: String },
}

impl Event {
    /// Wraps a decoded message. `topic_field` names the extension field whose lines are taken
    /// out of the message's unknown fields as topics.
    pub(crate) fn from_message(mut message: MessageEvent, topic_field: Option<&str>) -> Self {
        let mut topics = Vec::new();
        if let Some(field) = topic_field {
            // `&**` reaches the `str` whether the codec stores names as `String` or as its
            // shared string type.
            message.unknown_fields.retain(|(name, value)| {
                if &**name == field {
                    topics.push(String::from(&**value));
                    false
                } else {
                    true
                }
            });
        }
        Self { message, data: Data::Wire, topics }
    }

    /// An event built by hand, for tests of code that consumes events.
    ///
    /// ```
    /// use tidings_client::Event;
    /// use tidings_codec::{Decoder, Item};
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push(b"event: greet\ndata: hi\n\n");
    /// let Some(Item::Event(message)) = decoder.next_item()? else { panic!("no event") };
    /// let event = Event::new(message);
    /// assert_eq!((event.event_type(), event.data()), ("greet", "hi"));
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn new(message: MessageEvent) -> Self {
        Self::from_message(message, None)
    }

    /// Replaces the data with the base64 decoding of the wire data.
    pub(crate) fn decode_base64(&mut self) -> Result<(), base64::DecodeError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&*self.message.data)?;
        self.data = match String::from_utf8(bytes) {
            Ok(text) => Data::Text(text),
            Err(error) => {
                let bytes = error.into_bytes();
                let lossy = String::from_utf8_lossy(&bytes).into_owned();
                Data::Binary { bytes, lossy }
            }
        };
        Ok(())
    }

    /// The event type: the `event:` field, or `"message"` when there was none.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.event_type(), "message");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.message.event_type()
    }

    /// The data as text. With base64 data that decodes to bytes which are not UTF-8, invalid
    /// sequences are replaced by U+FFFD; [`Event::data_bytes`] has the exact bytes.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: a\ndata: b\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.data(), "a\nb");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn data(&self) -> &str {
        match &self.data {
            Data::Wire => &self.message.data,
            Data::Text(text) => text,
            Data::Binary { lossy, .. } => lossy,
        }
    }

    /// The data as bytes: exactly what base64 decoded to, or the text's UTF-8.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: hi\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.data_bytes(), b"hi");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn data_bytes(&self) -> &[u8] {
        match &self.data {
            Data::Binary { bytes, .. } => bytes,
            _ => self.data().as_bytes(),
        }
    }

    /// The stream's last event id when this event was dispatched: this event's `id:` or an
    /// earlier one (empty when none was set, or after an empty `id:`).
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"id: 7\ndata: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.id(), "7");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> &str {
        self.message.last_event_id.as_str()
    }

    /// [`Event::id`] as the codec's validated id type.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert!(event.last_event_id().is_empty());
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &EventId {
        &self.message.last_event_id
    }

    /// The topics a tidings hub listed for this event, canonical topic first; empty unless the
    /// client reads the topic field
    /// ([`EventSourceBuilder::topic_field`](crate::EventSourceBuilder::topic_field)).
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert!(event.topics().is_empty());
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The canonical topic (the first one listed), if any.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.topic(), None);
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        self.topics.first().map(String::as_str)
    }

    /// Fields the SSE standard does not define, other than the topic field, in stream order;
    /// empty unless [`EventSourceBuilder::keep_unknown_fields`](crate::EventSourceBuilder::keep_unknown_fields)
    /// or the topic field is on.
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::with_config(tidings_codec::DecoderConfig::default().keep_unknown_fields(true));
    /// # d.push(b"color: blue\ndata: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.fields().collect::<Vec<_>>(), [("color", "blue")]);
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.message.unknown_fields.iter().map(|(name, value)| (&**name, &**value))
    }

    /// The codec's event, as decoded from the wire (data not base64-decoded, topic fields
    /// removed).
    ///
    /// ```
    /// # use tidings_client::Event;
    /// # let mut d = tidings_codec::Decoder::new(); d.push(b"data: x\n\n");
    /// # let event = Event::new(d.next_item()?.and_then(|i| i.into_event()).expect("event"));
    /// assert_eq!(event.message().event_type(), "message");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn message(&self) -> &MessageEvent {
        &self.message
    }
}
