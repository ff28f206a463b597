//! The incremental decoder: push byte chunks in, pull [`Item`]s out.
//!
//! It implements WHATWG HTML § 9.2.6 "Interpreting an event stream" and § 9.2.5's dispatch
//! steps exactly. The comments cite the rule each branch implements.

use std::borrow::Cow;
use std::time::Duration;

use crate::field::{EventId, EventType};

/// Default for [`DecoderConfig::max_event_size`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A `data` line still arriving is decoded into the data buffer piece by piece once this many
/// bytes of it are buffered (see [`StreamedLine`]).
const STREAM_DATA_AFTER: usize = 4096;

/// Decoder settings.
///
/// ```
/// use tidings_codec::{Decoder, DecoderConfig};
///
/// let decoder = Decoder::with_config(
///     DecoderConfig::default().max_event_size(64 * 1024).keep_unknown_fields(true),
/// );
/// # drop(decoder);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct DecoderConfig {
    max_event_size: usize,
    keep_unknown_fields: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { max_event_size: DEFAULT_MAX_EVENT_SIZE, keep_unknown_fields: false }
    }
}

impl DecoderConfig {
    /// Largest event accepted, in bytes of buffered field values (data, type and unknown
    /// fields, as decoded UTF-8) plus the raw line being read, whether that line has arrived
    /// whole or is still arriving. Default: [`DEFAULT_MAX_EVENT_SIZE`] (1 MiB).
    ///
    /// A bigger event yields [`DecodeError::EventTooLarge`]; the decoder then skips the rest
    /// of that event and carries on with the next one, so memory stays bounded.
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// Keep fields the spec does not know (`foo: bar`) on the decoded event instead of
    /// ignoring them. Default: `false` (the spec's behaviour).
    pub fn keep_unknown_fields(mut self, keep: bool) -> Self {
        self.keep_unknown_fields = keep;
        self
    }
}

/// Why the decoder could not produce an item.
///
/// ```
/// use tidings_codec::{DecodeError, Decoder, DecoderConfig};
///
/// let mut decoder = Decoder::with_config(DecoderConfig::default().max_event_size(10));
/// decoder.push(b"data: too long\n\ndata: ok\n\n");
/// assert!(matches!(decoder.next_item(), Err(DecodeError::EventTooLarge { limit: 10 })));
/// // The oversized event is skipped; decoding continues with the next one.
/// assert_eq!(decoder.next_item()?.and_then(|i| i.into_event()).map(|e| e.data), Some("ok".into()));
/// # Ok::<(), DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An event grew past [`DecoderConfig::max_event_size`]. It is discarded, including its
    /// `id`, and decoding resumes after the blank line that ends it.
    #[error("event exceeds the maximum size of {limit} bytes")]
    EventTooLarge {
        /// The configured limit.
        limit: usize,
    },
}

/// A dispatched event, as a browser's `MessageEvent` would see it.
///
/// ```
/// let mut decoder = tidings_codec::Decoder::new();
/// decoder.push(b"id: 1\ndata: hi\n\ndata: again\n\n");
/// let first = decoder.next_item()?.and_then(|i| i.into_event()).expect("an event");
/// assert_eq!((first.event_type(), first.data.as_str(), first.last_event_id.as_str()), ("message", "hi", "1"));
/// // The last event id carries into later events that have no `id` field.
/// let second = decoder.next_item()?.and_then(|i| i.into_event()).expect("an event");
/// assert_eq!(second.last_event_id.as_str(), "1");
/// # Ok::<(), tidings_codec::DecodeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEvent {
    /// The `event:` field, or `None` when absent or empty (the type is then `message`).
    pub kind: Option<EventType>,
    /// The data lines joined with LF (no trailing LF).
    pub data: String,
    /// The stream's last event id at dispatch: from this event's `id:` field or an earlier one.
    pub last_event_id: EventId,
    /// Fields the spec does not define, in order, when
    /// [`DecoderConfig::keep_unknown_fields`] is on; otherwise empty.
    pub unknown_fields: Vec<(String, String)>,
}

impl MessageEvent {
    /// The event type a browser would dispatch: the `event:` field, or `"message"`.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.kind.as_ref().map_or("message", EventType::as_str)
    }
}

/// One thing the decoder found in the stream, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// A dispatched event (a blank line ended a block with at least one `data` field).
    Event(MessageEvent),
    /// A comment line's text, after the colon and one optional leading space.
    Comment(String),
    /// A valid `retry:` field: the client's new reconnection delay, effective at once.
    Retry(Duration),
}

impl Item {
    /// The event, if this item is one.
    ///
    /// ```
    /// let item = tidings_codec::Item::Comment("x".into());
    /// assert!(item.into_event().is_none());
    /// ```
    #[must_use]
    pub fn into_event(self) -> Option<MessageEvent> {
        match self {
            Item::Event(event) => Some(event),
            _ => None,
        }
    }
}

/// Incremental SSE decoder.
///
/// Push byte chunks of any size with [`Decoder::push`], then call [`Decoder::next_item`] until
/// it returns `Ok(None)` ("need more bytes"). At end of stream call [`Decoder::finish`], which
/// discards an incomplete trailing event as the spec requires.
///
/// ```
/// use tidings_codec::{Decoder, Item};
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"event: greet\ndata: hel");
/// assert_eq!(decoder.next_item()?, None); // incomplete
/// decoder.push(b"lo\r\n\r\n");
/// match decoder.next_item()? {
///     Some(Item::Event(event)) => {
///         assert_eq!(event.event_type(), "greet");
///         assert_eq!(event.data, "hello");
///     }
///     other => panic!("expected an event, got {other:?}"),
/// }
/// # Ok::<(), tidings_codec::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    /// Unparsed bytes live in `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..pos + scanned]` is known to hold no CR or LF, so a long line arriving in
    /// small chunks is scanned once, not once per chunk.
    scanned: usize,
    /// Whether the stream start has been checked for a byte order mark.
    bom_checked: bool,
    /// The previous line ended with CR as the last buffered byte; an LF that arrives next
    /// belongs to that line ending ("CRLF split across chunks is one line ending").
    skip_lf: bool,
    /// See [`STREAM_DATA_AFTER`]; a field so tests can force or disable streaming.
    stream_data_after: usize,
    fields: FieldState,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct FieldState {
    config: DecoderConfig,
    data: String,
    event_type: String,
    /// The spec's "last event ID buffer" (set by `id:`, never reset by dispatch) when an `id:`
    /// field has set it since the last dispatch; `None` means the buffer equals
    /// `last_event_id`. Keeping it apart lets dispatch move the new id into `last_event_id`
    /// instead of cloning it, which saves reference-count traffic on every event.
    pending_id: Option<EventId>,
    /// The spec's "last event ID string" of the event source: the last event ID buffer as of
    /// the last dispatch. An `id` seen in an event that never completes does not reach it.
    last_event_id: EventId,
    /// The previous dispatched type, reused to avoid an allocation per event.
    last_type: Option<EventType>,
    unknown: Vec<(String, String)>,
    /// Skipping the rest of an oversized event until the blank line that ends it.
    discarding: bool,
    /// While discarding: bytes of the current (dropped) line have been seen, so the next line
    /// ending ends a non-empty line rather than forming a blank one.
    discarding_mid_line: bool,
    /// The `data` line being read has its value so far in `data` already.
    streamed: Option<StreamedLine>,
}

/// A long `data` line that is still arriving. Rather than buffering all of it and copying it
/// into the data buffer at its end (two large copies, the second into cold memory), its value
/// is decoded into the data buffer chunk by chunk while the bytes are hot; only a trailing
/// incomplete UTF-8 sequence stays in the input buffer. Decoding piecewise gives the same text
/// as decoding the whole line because every cut is made right before a byte that starts a
/// character. The counts here let the size limit and [`Decoder::buffered_len`] see exactly
/// what they would have seen had the line been buffered whole.
#[derive(Debug, Clone, Copy)]
struct StreamedLine {
    /// Raw bytes of the line already consumed: `data:`, the optional space, value bytes.
    raw: usize,
    /// Length of the data buffer before this line; the line's decoded text follows it.
    data_before: usize,
}

impl Decoder {
    /// A decoder with [`DecoderConfig::default`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(DecoderConfig::default())
    }

    /// A decoder with the given settings.
    #[must_use]
    pub fn with_config(config: DecoderConfig) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            bom_checked: false,
            skip_lf: false,
            stream_data_after: STREAM_DATA_AFTER,
            fields: FieldState {
                config,
                data: String::new(),
                event_type: String::new(),
                pending_id: None,
                last_event_id: EventId::empty(),
                last_type: None,
                unknown: Vec::new(),
                discarding: false,
                discarding_mid_line: false,
                streamed: None,
            },
        }
    }

    /// Starts the stream with a known last event id, as a reconnecting client does: events
    /// without an `id:` field carry it until the server sends a new one.
    ///
    /// ```
    /// use tidings_codec::{Decoder, EventId};
    ///
    /// let mut decoder = Decoder::new().resuming_after(EventId::new("41")?);
    /// decoder.push(b"data: x\n\n");
    /// let event = decoder.next_item()?.and_then(|i| i.into_event()).expect("event");
    /// assert_eq!(event.last_event_id.as_str(), "41");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn resuming_after(mut self, last_event_id: EventId) -> Self {
        self.fields.pending_id = None;
        self.fields.last_event_id = last_event_id;
        self
    }

    /// The stream's last event id: the id buffer as of the last dispatch (empty at first).
    /// This is what a client sends as `Last-Event-ID` when it reconnects.
    #[must_use]
    pub fn last_event_id(&self) -> &EventId {
        &self.fields.last_event_id
    }

    /// Bytes held for the event in progress: the unparsed rest of the stream (normally a
    /// partial line) plus the field values buffered so far (data, type, kept unknown fields).
    ///
    /// Right after [`Decoder::push`] it includes the whole new chunk. Once
    /// [`Decoder::next_item`] has returned `Ok(None)`, it is at most
    /// [`DecoderConfig::max_event_size`] (or the two bytes of a possible byte order mark at the
    /// very start of the stream), however the stream was chunked: memory stays bounded.
    ///
    /// ```
    /// use tidings_codec::{Decoder, DecoderConfig};
    ///
    /// let mut decoder = Decoder::with_config(DecoderConfig::default().max_event_size(16));
    /// decoder.push(b"data: 12\ndata: 3");
    /// assert_eq!(decoder.next_item()?, None);
    /// assert_eq!(decoder.buffered_len(), "12\n".len() + "data: 3".len());
    /// decoder.push(&[b'4'; 100]);
    /// assert!(decoder.next_item().is_err()); // the event outgrew its limit and was dropped
    /// assert_eq!(decoder.next_item()?, None);
    /// assert_eq!(decoder.buffered_len(), 0);
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        let streamed_raw = self.fields.streamed.map_or(0, |streamed| streamed.raw);
        self.buf.len() - self.pos + streamed_raw + self.fields.pending_size_as_buffered()
    }

    /// Appends a chunk of the stream. Chunks may split lines, line endings and multi-byte
    /// characters anywhere.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.is_empty() && self.stream_chunk(chunk) {
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// While a long `data` line is streamed (see [`StreamedLine`]) and nothing else is
    /// buffered, a chunk that neither ends the line nor breaks the size limit is decoded
    /// straight into the data buffer instead of being copied into `buf` first. Any other chunk
    /// takes the ordinary path, so [`Decoder::next_item`] sees exactly what it would have.
    fn stream_chunk(&mut self, chunk: &[u8]) -> bool {
        let Some(mut streamed) = self.fields.streamed else {
            return false;
        };
        if self.fields.pending_size_as_buffered() + streamed.raw + chunk.len()
            > self.fields.config.max_event_size
            || memchr::memchr2(b'\n', b'\r', chunk).is_some()
        {
            return false;
        }
        let whole = chunk.len() - incomplete_suffix(chunk);
        self.fields.data.push_str(&utf8(&chunk[..whole]));
        streamed.raw += whole;
        self.fields.streamed = Some(streamed);
        self.buf.extend_from_slice(&chunk[whole..]);
        // The kept bytes were just searched for line endings.
        self.scanned = self.buf.len();
        true
    }

    /// Parses buffered bytes until the next item. `Ok(None)` means every complete line has
    /// been consumed and more bytes are needed.
    ///
    /// # Errors
    /// [`DecodeError::EventTooLarge`] once per oversized event; call again to continue.
    pub fn next_item(&mut self) -> Result<Option<Item>, DecodeError> {
        loop {
            if !self.bom_checked && !self.strip_bom() {
                return Ok(None);
            }
            if self.skip_lf && self.pos < self.buf.len() {
                self.skip_lf = false;
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
            }
            let rest = &self.buf[self.pos + self.scanned..];
            let Some(found) = find_line_end(rest) else {
                self.scanned = self.buf.len() - self.pos;
                return self.incomplete_line();
            };
            let line_len = self.scanned + found;
            self.scanned = 0;
            let line_start = self.pos;
            let line_end = line_start + line_len;
            // "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED
            // (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a single
            // U+000D CARRIAGE RETURN (CR) character."
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.pos = next;
            let line = &self.buf[line_start..line_end];
            if let Some(streamed) = self.fields.streamed.take() {
                self.fields.end_streamed_data(streamed, line)?;
            } else if let Some(item) = self.fields.line(line)? {
                return Ok(Some(item));
            }
        }
    }

    /// Ends the stream: "Once the end of the file is reached, any pending data must be
    /// discarded. (If the file ends in the middle of an event, before the final empty line,
    /// the incomplete event is not dispatched.)" The incomplete event's `id` is discarded too,
    /// so [`Decoder::last_event_id`] keeps the id of the last dispatched block.
    ///
    /// Returns whether anything was discarded. The decoder is then ready for a new stream
    /// that continues from [`Decoder::last_event_id`].
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b"id: 1\ndata: a\n\nid: 2\ndata: cut off");
    /// while decoder.next_item()?.is_some() {}
    /// assert!(decoder.finish());
    /// assert_eq!(decoder.last_event_id().as_str(), "1");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    pub fn finish(&mut self) -> bool {
        let pending = self.pos < self.buf.len()
            || !self.fields.data.is_empty()
            || !self.fields.event_type.is_empty()
            || self.fields.pending_id.as_ref().is_some_and(|id| *id != self.fields.last_event_id)
            || self.fields.discarding
            || self.fields.streamed.is_some();
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        self.bom_checked = false;
        self.skip_lf = false;
        self.fields.reset_event();
        self.fields.discarding = false;
        self.fields.discarding_mid_line = false;
        pending
    }

    /// Iterates over the items currently decodable; stops at "need more bytes".
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b": hi\ndata: 1\n\ndata: 2\n\n");
    /// assert_eq!(decoder.items().count(), 3);
    /// ```
    pub fn items(&mut self) -> Items<'_> {
        Items { decoder: self }
    }

    /// "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
    /// Returns `false` while the buffered bytes are still a proper prefix of a BOM.
    fn strip_bom(&mut self) -> bool {
        let rest = &self.buf[self.pos..];
        if rest.len() < BOM.len() && BOM.starts_with(rest) {
            return false;
        }
        if rest.starts_with(BOM) {
            self.pos += BOM.len();
        }
        self.bom_checked = true;
        true
    }

    /// No line ending in the buffer: keep the partial line unless it already breaks the size
    /// limit, in which case drop it and skip the rest of its event.
    fn incomplete_line(&mut self) -> Result<Option<Item>, DecodeError> {
        let partial = self.buf.len() - self.pos;
        if self.fields.discarding {
            if partial > 0 {
                self.fields.discarding_mid_line = true;
            }
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
            return Ok(None);
        }
        let raw_partial = partial + self.fields.streamed.map_or(0, |streamed| streamed.raw);
        if self.fields.pending_size_as_buffered() + raw_partial > self.fields.config.max_event_size
        {
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
            self.fields.start_discarding(true);
            return Err(DecodeError::EventTooLarge { limit: self.fields.config.max_event_size });
        }
        self.stream_data();
        // Move the partial line to the front so the buffer does not grow with consumed bytes.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(None)
    }

    /// Decodes the value of a long partial `data` line into the data buffer (see
    /// [`StreamedLine`]), leaving only a possibly incomplete trailing character in `buf`.
    fn stream_data(&mut self) {
        let partial = &self.buf[self.pos..];
        let mut streamed = match self.fields.streamed {
            Some(streamed) => streamed,
            // Past `data:` there must be at least one byte, to see whether it is the space.
            None if partial.len() >= self.stream_data_after.max(6)
                && partial.starts_with(b"data:") =>
            {
                // "If value starts with a U+0020 SPACE character, remove it from value."
                let prefix = if partial.get(5) == Some(&b' ') { 6 } else { 5 };
                self.pos += prefix;
                StreamedLine { raw: prefix, data_before: self.fields.data.len() }
            }
            None => return,
        };
        let value = &self.buf[self.pos..];
        let whole = value.len() - incomplete_suffix(value);
        self.fields.data.push_str(&utf8(&value[..whole]));
        streamed.raw += whole;
        self.pos += whole;
        self.scanned = self.buf.len() - self.pos;
        self.fields.streamed = Some(streamed);
    }
}

impl FieldState {
    fn pending_size(&self) -> usize {
        self.data.len()
            + self.event_type.len()
            + self.unknown.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }

    /// [`FieldState::pending_size`] as it would be had a streamed line not been decoded yet.
    fn pending_size_as_buffered(&self) -> usize {
        self.pending_size()
            - self.streamed.map_or(0, |streamed| self.data.len() - streamed.data_before)
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.unknown.clear();
        // A discarded block's `id` must not survive into the next dispatch.
        self.pending_id = None;
        self.streamed = None;
    }

    /// The end of a streamed `data` line: `rest` is the part of its value not decoded yet. The
    /// checks are those of [`FieldState::line`] for a `data` line, on the same numbers.
    fn end_streamed_data(
        &mut self,
        streamed: StreamedLine,
        rest: &[u8],
    ) -> Result<(), DecodeError> {
        let decoded_so_far = self.data.len() - streamed.data_before;
        let pending = self.pending_size() - decoded_so_far;
        if pending + streamed.raw + rest.len() > self.config.max_event_size {
            return Err(self.too_large());
        }
        let rest = utf8(rest);
        if pending + decoded_so_far + rest.len() + 1 > self.config.max_event_size {
            return Err(self.too_large());
        }
        self.data.push_str(&rest);
        self.data.push('\n');
        Ok(())
    }

    fn start_discarding(&mut self, mid_line: bool) {
        self.reset_event();
        self.discarding = true;
        self.discarding_mid_line = mid_line;
    }

    fn too_large(&mut self) -> DecodeError {
        self.start_discarding(false);
        DecodeError::EventTooLarge { limit: self.config.max_event_size }
    }

    /// Processes one complete line (without its line ending).
    fn line(&mut self, line: &[u8]) -> Result<Option<Item>, DecodeError> {
        if self.discarding {
            if line.is_empty() && !self.discarding_mid_line {
                self.discarding = false;
            }
            self.discarding_mid_line = false;
            return Ok(None);
        }
        // The raw line counts against the limit exactly as `incomplete_line` counts it while it
        // is still arriving, so whether an event is too large does not depend on where the
        // stream was split into chunks.
        if self.pending_size() + line.len() > self.config.max_event_size {
            return Err(self.too_large());
        }
        // "If the line is empty (a blank line): Dispatch the event."
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        // We report it instead (clients may want keep-alives); the text drops one leading space
        // to mirror how the encoder writes `: text`.
        if line[0] == b':' {
            return Ok(Some(Item::Comment(utf8(strip_one_space(&line[1..])).into_owned())));
        }
        // "If the line contains a U+003A COLON character: collect the characters before the
        // first colon as the field name, after it as the value; if value starts with a U+0020
        // SPACE, remove it." "Otherwise, the string is not empty but does not contain a U+003A
        // COLON character: process the field using the whole line as the field name, and the
        // empty string as the field value."
        let (name, value) = match find_colon(line) {
            Some(colon) => (&line[..colon], strip_one_space(&line[colon + 1..])),
            None => (line, &b""[..]),
        };
        // Field names are compared case-sensitively, byte for byte.
        match name {
            b"data" => {
                // "Append the field value to the data buffer, then append a single U+000A LINE
                // FEED (LF) character to the data buffer."
                // The limit counts decoded text: one invalid byte becomes a 3-byte U+FFFD.
                let value = utf8(value);
                if self.pending_size() + value.len() + 1 > self.config.max_event_size {
                    return Err(self.too_large());
                }
                // Reserve the LF too: an event's first data line then allocates exactly once
                // instead of growing again for the LF.
                self.data.reserve(value.len() + 1);
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"event" => {
                // "Set the event type buffer to the field value."
                let value = utf8(value);
                if self.pending_size() - self.event_type.len() + value.len()
                    > self.config.max_event_size
                {
                    return Err(self.too_large());
                }
                self.event_type.clear();
                self.event_type.push_str(&value);
            }
            b"id" => {
                // "If the field value does not contain U+0000 NULL, then set the last event ID
                // buffer to the field value. Otherwise, ignore the field."
                // A line cannot contain CR or LF, so the only possible rejection is NUL.
                if let Some(id) = EventId::from_line_value(&utf8(value)) {
                    self.pending_id = Some(id);
                }
            }
            // "If the field value consists of only ASCII digits, then interpret the field value
            // as an integer in base ten, and set the event stream's reconnection time to that
            // integer. Otherwise, ignore the field." (Digits beyond u64 saturate.)
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |acc, digit| {
                    acc.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                });
                return Ok(Some(Item::Retry(Duration::from_millis(millis))));
            }
            b"retry" => {}
            // "Otherwise: The field is ignored."
            _ if self.config.keep_unknown_fields => {
                let (name, value) = (utf8(name).into_owned(), utf8(value).into_owned());
                if self.pending_size() + name.len() + value.len() > self.config.max_event_size {
                    return Err(self.too_large());
                }
                self.unknown.push((name, value));
            }
            _ => {}
        }
        Ok(None)
    }

    /// WHATWG "dispatch the event".
    fn dispatch(&mut self) -> Option<Item> {
        // 1. "Set the last event ID string of the event source to the value of the last event
        //    ID buffer. The buffer does not get reset."
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
        }
        // 2. "If the data buffer is an empty string, set the data buffer and the event type
        //    buffer to the empty string and return."
        if self.data.is_empty() {
            self.event_type.clear();
            self.unknown.clear();
            return None;
        }
        // 3. "If the data buffer's last character is a U+000A LINE FEED (LF) character, then
        //    remove the last character from the data buffer."
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        // 5. Type: the event type buffer if not empty, else "message".
        let kind = if self.event_type.is_empty() {
            None
        } else {
            match &self.last_type {
                Some(previous) if previous.as_str() == self.event_type => Some(previous.clone()),
                _ => {
                    // The buffer came from a single line, so it holds no CR or LF.
                    let fresh = EventType::new(&self.event_type).ok();
                    self.last_type.clone_from(&fresh);
                    fresh
                }
            }
        };
        self.event_type.clear();
        // 6. The event's lastEventId is the event source's last event ID string.
        Some(Item::Event(MessageEvent {
            kind,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
            unknown_fields: std::mem::take(&mut self.unknown),
        }))
    }
}

/// Iterator over the items a [`Decoder`] can produce from what it has buffered.
#[derive(Debug)]
pub struct Items<'a> {
    decoder: &'a mut Decoder,
}

impl Iterator for Items<'_> {
    type Item = Result<Item, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.next_item().transpose()
    }
}

/// The first CR or LF in `bytes`. A blank line (the end of every event) is answered from its
/// first byte, without the setup cost of a vectorised search.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    match bytes.first() {
        Some(b'\n' | b'\r') => Some(0),
        _ => memchr::memchr2(b'\n', b'\r', bytes),
    }
}

/// How many bytes at the end of `bytes` may be the start of a character that the next chunk
/// completes: from the last byte that is not a continuation byte (`10xxxxxx`), if that byte
/// announces a longer sequence than is there. Cutting right before such a byte never splits a
/// character or a maximal invalid sequence, so decoding the two sides apart equals decoding
/// them together.
fn incomplete_suffix(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 != 0x80 {
            let needed = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { back } else { 0 };
        }
    }
    0
}

/// The first colon in `line`. The spec's field names are at most 5 bytes, so a scalar look at
/// the first few bytes finds the colon before a vectorised search would have finished its
/// setup; lines with a longer or no field name fall back to `memchr`.
fn find_colon(line: &[u8]) -> Option<usize> {
    const HEAD: usize = 8;
    let head = line.len().min(HEAD);
    match line[..head].iter().position(|&byte| byte == b':') {
        Some(colon) => Some(colon),
        None => memchr::memchr(b':', &line[head..]).map(|colon| head + colon),
    }
}

fn strip_one_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

/// UTF-8 decoding with invalid sequences replaced by U+FFFD (WHATWG "UTF-8 decode", which
/// replaces each maximal invalid subpart as Rust's lossy conversion does). Decoding line by
/// line is equivalent to decoding the whole stream because CR and LF never occur inside a
/// multi-byte sequence, and lines are only decoded once complete, so characters split across
/// chunks are whole by then; a long `data` line decoded while it arrives is cut only before a
/// byte that starts a character (see [`incomplete_suffix`]), which keeps the equivalence.
///
/// Valid input (nearly all of it) takes the standard library's word-at-a-time validator;
/// `from_utf8_lossy` walks byte by byte even when nothing needs replacing, which made it most
/// of the decoder's time on long lines.
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything observable about decoding `chunks`: each result of `next_item` (items and
    /// errors), `buffered_len` after every push and every drain, then `finish` and the id.
    fn observe(chunks: &[&[u8]], config: &DecoderConfig, stream_data_after: usize) -> Vec<String> {
        let mut decoder = Decoder::with_config(config.clone());
        decoder.stream_data_after = stream_data_after;
        let mut seen = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            seen.push(format!("pushed, buffered {}", decoder.buffered_len()));
            loop {
                let result = decoder.next_item();
                seen.push(format!("{result:?}"));
                if result == Ok(None) {
                    break;
                }
            }
            seen.push(format!("drained, buffered {}", decoder.buffered_len()));
        }
        seen.push(format!("finish {}, last id {:?}", decoder.finish(), decoder.last_event_id()));
        seen
    }

    /// Streams that put long `data` lines, multi-byte and invalid UTF-8, all line endings and
    /// size-limit breaches at every position a chunk boundary can fall on.
    const STREAMS: &[&[u8]] = &[
        b"data: h\xC3\xA9llo w\xE2\x82\xACrld \xF0\x9D\x84\x9E end\n\n",
        b"id: 1\ndata:no space \xE2\x82\xAC\xE2\x82\xAC\r\ndata:  two spaces\r\rdata\n\n",
        b"data: bad \xFF\x80 cut \xE2\x82 then \xC0\xAF \xE0\x80 \xF4\x90\x80\x80 \xF0\x9F\n\n",
        b"data: ends in a cut character \xF0\x9F\x98",
        b"data: first line is long enough\ndata: second line is long too\n\nid: 2\n\n",
        b": comment\nevent: e\ndata: \xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\n\n",
    ];

    fn configs() -> Vec<DecoderConfig> {
        [8, 20, 27, 40, usize::MAX].map(|max| DecoderConfig::default().max_event_size(max)).into()
    }

    #[test]
    fn streamed_data_lines_decode_exactly_as_buffered_ones_at_every_two_way_split() {
        for stream in STREAMS {
            for config in configs() {
                for cut in 0..=stream.len() {
                    let chunks = [&stream[..cut], &stream[cut..]];
                    let buffered = observe(&chunks, &config, usize::MAX);
                    for after in [0, 6, 7, 9] {
                        assert_eq!(
                            observe(&chunks, &config, after),
                            buffered,
                            "stream {stream:?}, cut {cut}, config {config:?}, after {after}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn streamed_data_lines_decode_exactly_as_buffered_ones_at_every_three_way_split() {
        for stream in STREAMS {
            for config in configs() {
                for first in 0..=stream.len() {
                    for second in first..=stream.len() {
                        let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
                        assert_eq!(
                            observe(&chunks, &config, 6),
                            observe(&chunks, &config, usize::MAX),
                            "stream {stream:?}, cuts {first} {second}, config {config:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn streamed_data_lines_decode_exactly_as_buffered_ones_byte_by_byte() {
        for stream in STREAMS {
            let chunks: Vec<&[u8]> = stream.chunks(1).collect();
            for config in configs() {
                assert_eq!(observe(&chunks, &config, 6), observe(&chunks, &config, usize::MAX));
            }
        }
    }

    #[test]
    fn a_long_data_line_is_decoded_while_it_arrives() {
        let mut decoder = Decoder::new();
        decoder.stream_data_after = 6;
        decoder.push(b"data: 0123456789 \xE2\x82");
        assert_eq!(decoder.next_item(), Ok(None));
        // Only the cut character is still raw; the rest is in the data buffer already.
        assert_eq!(decoder.buf[decoder.pos..], b"\xE2\x82"[..]);
        assert_eq!(decoder.fields.data, "0123456789 ");
        assert_eq!(decoder.buffered_len(), b"data: 0123456789 \xE2\x82".len());
        decoder.push(b"\xAC\n\n");
        let event = decoder.next_item().map(|item| item.and_then(Item::into_event));
        assert_eq!(event.map(|e| e.map(|e| e.data)), Ok(Some("0123456789 \u{20AC}".to_owned())));
    }

    #[test]
    fn a_chunk_inside_a_streamed_data_line_skips_the_input_buffer() {
        let mut decoder = Decoder::new();
        decoder.stream_data_after = 6;
        decoder.push(b"data: 0123456789");
        assert_eq!(decoder.next_item(), Ok(None));
        decoder.push(b" more \xF0\x9F");
        // Decoded on arrival: only the cut character went into the input buffer.
        assert_eq!(decoder.buf, b"\xF0\x9F");
        assert_eq!(decoder.fields.data, "0123456789 more ");
        assert_eq!(decoder.buffered_len(), b"data: 0123456789 more \xF0\x9F".len());
        assert_eq!(decoder.next_item(), Ok(None));
        decoder.push(b"\x98\x80\n\n");
        let event = decoder.next_item().map(|item| item.and_then(Item::into_event));
        assert_eq!(event.map(|e| e.map(|e| e.data)), Ok(Some("0123456789 more \u{1F600}".into())));
    }

    #[test]
    fn incomplete_suffix_keeps_only_a_character_the_next_chunk_may_complete() {
        assert_eq!(incomplete_suffix(b""), 0);
        assert_eq!(incomplete_suffix(b"abc"), 0);
        assert_eq!(incomplete_suffix(b"a\xC3"), 1);
        assert_eq!(incomplete_suffix(b"a\xC3\xA9"), 0);
        assert_eq!(incomplete_suffix(b"a\xE2\x82"), 2);
        assert_eq!(incomplete_suffix(b"a\xF0\x9F\x98"), 3);
        assert_eq!(incomplete_suffix(b"a\xF0\x9F\x98\x80"), 0);
        // Stray continuation bytes and bytes that never start a character end a sequence.
        assert_eq!(incomplete_suffix(b"a\x80\x80\x80"), 0);
        assert_eq!(incomplete_suffix(b"a\xFF"), 0);
    }
}
