//! The incremental decoder: push byte chunks in, pull [`Item`]s out.
//!
//! It implements WHATWG HTML § 9.2.6 "Interpreting an event stream" and § 9.2.5's dispatch
//! steps exactly. The comments cite the rule each branch implements.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;

use crate::field::{EventId, EventType};
use crate::shared::SharedStr;

/// Default for [`DecoderConfig::max_event_size`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A `data` line still arriving is decoded into the data buffer piece by piece once this many
/// bytes of it are buffered (see [`StreamedLine`]).
const STREAM_DATA_AFTER: usize = 4096;

/// Chunks shorter than this are copied into the line buffer; longer ones are kept whole as
/// [`Piece`]s, validated once and parsed in place. Below this size the bookkeeping of a piece
/// (a queue entry, a shared-buffer handle) costs more than the copy it saves.
const PIECE_MIN: usize = 64;

/// Multi-line data up to this size is copied out of the data buffer at dispatch (one exact
/// allocation, and the buffer keeps its capacity for the next event); longer data hands the
/// buffer itself over instead of copying it.
const COPY_DATA_UP_TO: usize = 4096;

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
    /// The data lines joined with LF (no trailing LF). Single-line data is a part of the text
    /// of the chunk it arrived in, shared rather than copied (see [`SharedStr`]).
    pub data: SharedStr,
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

/// A dispatched event borrowed from the [`Decoder`] ([`Decoder::next_item_ref`]): the same
/// values as a [`MessageEvent`], read where the decoder holds them, valid until the decoder is
/// next used.
///
/// ```
/// let mut decoder = tidings_codec::Decoder::new();
/// decoder.push(b"event: tick\nid: 9\ndata: a\ndata: b\n\n");
/// let Some(tidings_codec::ItemRef::Event(event)) = decoder.next_item_ref()? else {
///     panic!("no event")
/// };
/// assert_eq!((event.event_type(), event.data, event.last_event_id), ("tick", "a\nb", "9"));
/// let owned = event.into_owned();
/// assert_eq!(owned.data, "a\nb");
/// # Ok::<(), tidings_codec::DecodeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The `event:` field, or `None` when absent or empty (the type is then `message`).
    pub kind: Option<&'a str>,
    /// The data lines joined with LF (no trailing LF).
    pub data: &'a str,
    /// The stream's last event id at dispatch: from this event's `id:` field or an earlier one.
    pub last_event_id: &'a str,
    /// Fields the spec does not define, in order, when
    /// [`DecoderConfig::keep_unknown_fields`] is on; otherwise empty.
    pub unknown_fields: &'a [(String, String)],
}

impl EventRef<'_> {
    /// The event type a browser would dispatch: the `event:` field, or `"message"`.
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b"data: x\n\n");
    /// let item = decoder.next_item_ref()?.expect("an item");
    /// assert!(matches!(item, tidings_codec::ItemRef::Event(e) if e.event_type() == "message"));
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.kind.unwrap_or("message")
    }

    /// The event as an owned [`MessageEvent`] (its text copied).
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b"id: 3\ndata: x\n\n");
    /// let Some(tidings_codec::ItemRef::Event(event)) = decoder.next_item_ref()? else {
    ///     panic!("no event")
    /// };
    /// assert_eq!(event.into_owned().last_event_id.as_str(), "3");
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn into_owned(self) -> MessageEvent {
        // The values come from single lines that the decoder parsed: no CR or LF, and an id
        // without NUL, as the field constructors require.
        MessageEvent {
            kind: self.kind.map(|kind| EventType::from_line_value(SharedStr::from(kind))),
            data: SharedStr::from(self.data),
            last_event_id: EventId::from_line_value(SharedStr::from(self.last_event_id)),
            unknown_fields: self.unknown_fields.to_vec(),
        }
    }
}

/// One thing the decoder found in the stream, borrowed from the [`Decoder`]
/// ([`Decoder::next_item_ref`]); the borrowed form of [`Item`].
///
/// ```
/// use std::time::Duration;
/// use tidings_codec::{Decoder, ItemRef};
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"retry: 250\n: note\n");
/// assert_eq!(decoder.next_item_ref()?, Some(ItemRef::Retry(Duration::from_millis(250))));
/// assert_eq!(decoder.next_item_ref()?, Some(ItemRef::Comment("note")));
/// assert_eq!(decoder.next_item_ref()?, None);
/// # Ok::<(), tidings_codec::DecodeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemRef<'a> {
    /// A dispatched event (a blank line ended a block with at least one `data` field).
    Event(EventRef<'a>),
    /// A comment line's text, after the colon and one optional leading space.
    Comment(&'a str),
    /// A valid `retry:` field: the client's new reconnection delay, effective at once.
    Retry(Duration),
}

impl ItemRef<'_> {
    /// The item as an owned [`Item`] (its text copied).
    ///
    /// ```
    /// let mut decoder = tidings_codec::Decoder::new();
    /// decoder.push(b": hi\n");
    /// let item = decoder.next_item_ref()?.map(tidings_codec::ItemRef::into_owned);
    /// assert_eq!(item, Some(tidings_codec::Item::Comment("hi".into())));
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    #[must_use]
    pub fn into_owned(self) -> Item {
        match self {
            ItemRef::Event(event) => Item::Event(event.into_owned()),
            ItemRef::Comment(text) => Item::Comment(text.to_owned()),
            ItemRef::Retry(after) => Item::Retry(after),
        }
    }
}

/// Incremental SSE decoder.
///
/// Push byte chunks of any size with [`Decoder::push`] (or hand over owned chunks, such as an
/// HTTP body's, with [`Decoder::push_bytes`]), then call [`Decoder::next_item`] until it
/// returns `Ok(None)` ("need more bytes"); or call [`Decoder::next_item_ref`] instead, which
/// lends each item out of the decoder rather than building an owned one. At end of stream call
/// [`Decoder::finish`], which discards an incomplete trailing event as the spec requires.
///
/// A chunk is checked for valid UTF-8 once, as a whole, its text is copied once into a shared
/// buffer, and events are parsed out of that in place: a single-line event's data and its id
/// are parts of it ([`SharedStr`]), not copies of their own. Lines that straddle two chunks,
/// chunks that are not valid UTF-8 and small chunks go through a line buffer instead, with
/// the same result.
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
    /// Unparsed bytes that come before every queued piece live in `buf[pos..]`: a line carried
    /// over from an earlier chunk, small chunks, and chunks that are not valid UTF-8.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..pos + scanned]` is known to hold no CR or LF, so a long line arriving in
    /// small chunks is scanned once, not once per chunk.
    scanned: usize,
    /// Chunks kept whole, in stream order after `buf[pos..]`; `pieces[0]` is unparsed from
    /// `piece_pos` on. A piece that is used up is dropped when the decoder next looks at it.
    pieces: VecDeque<Piece>,
    piece_pos: usize,
    /// Whether the stream start has been checked for a byte order mark.
    bom_checked: bool,
    /// The previous line ended with CR as the last buffered byte; an LF that arrives next
    /// belongs to that line ending ("CRLF split across chunks is one line ending").
    skip_lf: bool,
    /// See [`STREAM_DATA_AFTER`]; a field so tests can force or disable streaming.
    stream_data_after: usize,
    /// See [`PIECE_MIN`]; a field so tests can send every chunk down either path.
    piece_min: usize,
    fields: FieldState,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// A chunk of the stream kept whole instead of being copied into the line buffer.
#[derive(Debug, Clone)]
enum Piece {
    /// Valid UTF-8, checked once for the whole chunk: its complete lines are parsed in place
    /// and their values are parts of it.
    Text(SharedStr),
    /// Not valid UTF-8 as a whole (or a few bytes of a character cut at a chunk boundary):
    /// copied into the line buffer when reached, whose lines are decoded one by one.
    Raw(Box<[u8]>),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Text(text) => text.as_bytes(),
            Piece::Raw(bytes) => bytes,
        }
    }
}

#[derive(Debug)]
struct FieldState {
    config: DecoderConfig,
    /// The spec's data buffer, except while `data_one` holds it.
    data: String,
    /// The data buffer when exactly one `data` line has been seen since the last dispatch:
    /// that line's value (the buffer is this plus LF). Kept as the shared text it arrived in,
    /// so a single-line event's data is never copied. `data` is empty while this is set.
    data_one: Option<SharedStr>,
    /// The spec's event type buffer.
    event_type: SharedStr,
    /// The spec's "last event ID buffer" (set by `id:`, never reset by dispatch) when an `id:`
    /// field has set it since the last dispatch; `None` means the buffer equals
    /// `last_event_id`. Keeping it apart lets dispatch move the new id into `last_event_id`
    /// instead of cloning it.
    pending_id: Option<EventId>,
    /// The spec's "last event ID string" of the event source: the last event ID buffer as of
    /// the last dispatch. An `id` seen in an event that never completes does not reach it.
    /// Stale while `last_id_in_piece` is set.
    last_event_id: EventId,
    /// The last event ID string when it is a part of the front piece, as a range in it: set by
    /// the in-place parser ([`FieldState::common_lines`]), which then gives each event its own
    /// handle on the id but keeps none itself. That saves two reference-count operations per
    /// event (one increment, and the decrement of the id it replaces). Turned into
    /// `last_event_id` before the piece is dropped and before any other code reads the id
    /// (see [`Decoder::settle_last_id`]).
    last_id_in_piece: Option<Range<usize>>,
    /// `last_event_id` made on demand for [`Decoder::last_event_id`] (which only has `&self`)
    /// while `last_id_in_piece` is set; cleared whenever that changes.
    last_id_cache: OnceLock<EventId>,
    unknown: Vec<(String, String)>,
    /// Skipping the rest of an oversized event until the blank line that ends it.
    discarding: bool,
    /// While discarding: bytes of the current (dropped) line have been seen, so the next line
    /// ending ends a non-empty line rather than forming a blank one.
    discarding_mid_line: bool,
    /// The `data` line being read has its value so far in `data` already.
    streamed: Option<StreamedLine>,
    /// What the last item of [`Decoder::next_item_ref`] lends out.
    lent: Lent,
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

/// One complete line, without its line ending.
#[derive(Clone, Copy)]
struct Line<'a> {
    bytes: &'a [u8],
    /// For a line parsed in place in a [`Piece::Text`]: the piece, the line as text in it and
    /// the line's offset in the piece. Values are then parts of the piece. `None` for a line
    /// from the line buffer, whose values are decoded (invalid sequences replaced) and copied.
    text: Option<(&'a SharedStr, &'a str, usize)>,
}

impl<'a> Line<'a> {
    /// The text of `self.bytes[range]`. Every range the parser asks for starts and ends next
    /// to an ASCII byte (`:`, a space, the line's ends), so it is a character boundary of the
    /// line's text.
    fn str(self, range: Range<usize>) -> Cow<'a, str> {
        if let Some((_, text, _)) = self.text {
            if let Some(part) = text.get(range.clone()) {
                return Cow::Borrowed(part);
            }
        }
        utf8(self.bytes.get(range).unwrap_or_default())
    }

    /// The value at `range`, which [`Line::str`] turned into `text`, as shared text: a part of
    /// the piece when the line is in one, else a copy of `text`.
    fn share(self, range: Range<usize>, text: Cow<'a, str>) -> SharedStr {
        if let Some((piece, _, offset)) = self.text {
            if let Some(part) = piece.slice(offset + range.start..offset + range.end) {
                return part;
            }
        }
        SharedStr::from(text)
    }
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
            pieces: VecDeque::new(),
            piece_pos: 0,
            bom_checked: false,
            skip_lf: false,
            stream_data_after: STREAM_DATA_AFTER,
            piece_min: PIECE_MIN,
            fields: FieldState {
                config,
                data: String::new(),
                data_one: None,
                event_type: SharedStr::default(),
                pending_id: None,
                last_event_id: EventId::empty(),
                last_id_in_piece: None,
                last_id_cache: OnceLock::new(),
                unknown: Vec::new(),
                discarding: false,
                discarding_mid_line: false,
                streamed: None,
                lent: Lent::default(),
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
        self.settle_last_id();
        self.fields.pending_id = None;
        self.fields.last_event_id = last_event_id;
        self
    }

    /// The stream's last event id: the id buffer as of the last dispatch (empty at first).
    /// This is what a client sends as `Last-Event-ID` when it reconnects.
    #[must_use]
    pub fn last_event_id(&self) -> &EventId {
        match (&self.fields.last_id_in_piece, self.pieces.front()) {
            (Some(range), Some(Piece::Text(piece))) => {
                self.fields.last_id_cache.get_or_init(|| id_in(piece, range.clone()))
            }
            _ => &self.fields.last_event_id,
        }
    }

    /// Turns a last event id kept as a range in the front piece into an [`EventId`] of its
    /// own; called before that piece is dropped and before code other than the in-place parser
    /// reads or replaces the id.
    fn settle_last_id(&mut self) {
        if let Some(range) = self.fields.last_id_in_piece.take() {
            self.fields.last_id_cache.take();
            if let Some(Piece::Text(piece)) = self.pieces.front() {
                self.fields.last_event_id = id_in(piece, range);
            }
        }
    }

    /// Drops the front piece (its last event id, if it holds it, is settled first).
    fn pop_piece(&mut self) {
        self.settle_last_id();
        self.pieces.pop_front();
        self.piece_pos = 0;
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
        self.buf.len() - self.pos
            + self.pieces_len()
            + streamed_raw
            + self.fields.pending_size_as_buffered()
    }

    /// Unparsed bytes in the queued pieces.
    fn pieces_len(&self) -> usize {
        self.pieces.iter().map(|piece| piece.bytes().len()).sum::<usize>() - self.piece_pos
    }

    /// Appends a chunk of the stream. Chunks may split lines, line endings and multi-byte
    /// characters anywhere.
    ///
    /// A chunk of more than a few dozen bytes is checked for valid UTF-8 as a whole and copied
    /// once into a shared buffer; the data and ids of the events inside it are parts of that
    /// buffer (see [`SharedStr`]), which lives until the last of them is dropped.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.takes_small_chunk(chunk) {
            return;
        }
        if !self.may_queue(chunk) {
            self.buf.extend_from_slice(chunk);
            return;
        }
        self.push_piece(chunk);
    }

    /// Appends a chunk the caller owns, such as an HTTP body frame: the same as
    /// [`Decoder::push`] (the chunk's text is copied once either way, see [`SharedStr`]), for
    /// callers that hold [`Bytes`].
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tidings_codec::{Decoder, Item};
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push_bytes(Bytes::from_static(b"id: 7\ndata: hello\n\n"));
    /// let Some(Item::Event(event)) = decoder.next_item()? else { panic!("no event") };
    /// assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("hello", "7"));
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    pub fn push_bytes(&mut self, chunk: Bytes) {
        self.push(&chunk);
    }

    /// The shared start of both pushes: takes the chunk into the line buffer (or the data
    /// buffer of a streamed line) when nothing is queued after the line buffer and keeping the
    /// chunk whole would not pay.
    fn takes_small_chunk(&mut self, chunk: &[u8]) -> bool {
        self.drop_spent_pieces();
        if !self.pieces.is_empty() {
            // Bytes already queued come first; the chunk must queue behind them.
            return false;
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
        }
        if self.buf.is_empty() && self.stream_chunk(chunk, None) {
            return true;
        }
        if chunk.len() < self.piece_min {
            self.buf.extend_from_slice(chunk);
            return true;
        }
        false
    }

    /// Whether `chunk` may be queued as a piece. Until the stream start has been checked for a
    /// byte order mark, only a chunk that settles the question by itself may be (it starts
    /// the stream and is not a proper prefix of a BOM); [`Decoder::strip_bom`] then looks at
    /// it. Anything else waits in the line buffer until the check is done.
    fn may_queue(&self, chunk: &[u8]) -> bool {
        if self.bom_checked || !self.pieces.is_empty() {
            return true;
        }
        self.pos == self.buf.len() && (chunk.len() >= BOM.len() || !BOM.starts_with(chunk))
    }

    /// Queues `chunk` as pieces: the valid UTF-8 body as text, and as raw bytes the few bytes
    /// at either end that may belong to a character cut by a chunk boundary.
    fn push_piece(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        // Up to three continuation bytes at the start may finish a character that the previous
        // chunk began; they, and an unfinished character at the end, are not valid on their
        // own. Cutting there keeps the body checkable by itself, and the lines that hold those
        // bytes straddle a chunk boundary, so they are decoded whole in the line buffer anyway.
        let lead = chunk.iter().take(3).take_while(|&&byte| is_continuation(byte)).count();
        let whole = chunk.len() - incomplete_suffix(&chunk[lead..]);
        if lead > 0 {
            self.pieces.push_back(Piece::Raw(chunk[..lead].into()));
        }
        match SharedStr::from_utf8(&chunk[lead..whole]) {
            Some(text) if lead < whole => {
                self.pieces.push_back(Piece::Text(text));
                if whole < chunk.len() {
                    self.pieces.push_back(Piece::Raw(chunk[whole..].into()));
                }
            }
            _ => self.pieces.push_back(Piece::Raw(chunk[lead..].into())),
        }
    }

    /// Drops pieces that have been parsed to their end.
    fn drop_spent_pieces(&mut self) {
        while self.pieces.front().is_some_and(|piece| self.piece_pos >= piece.bytes().len()) {
            self.pop_piece();
        }
    }

    /// While a long `data` line is streamed (see [`StreamedLine`]) and nothing else is
    /// buffered, a chunk that neither ends the line nor breaks the size limit is decoded
    /// straight into the data buffer instead of being copied into `buf` first. Any other chunk
    /// takes the ordinary path, so [`Decoder::next_item`] sees exactly what it would have.
    ///
    /// `text` is the chunk as text when it is known to be valid UTF-8 (a [`Piece::Text`]).
    fn stream_chunk(&mut self, chunk: &[u8], text: Option<&str>) -> bool {
        let Some(mut streamed) = self.fields.streamed else {
            return false;
        };
        if self.fields.pending_size_as_buffered() + streamed.raw + chunk.len()
            > self.fields.config.max_event_size
            || memchr::memchr2(b'\n', b'\r', chunk).is_some()
        {
            return false;
        }
        let whole = match text {
            Some(text) => {
                self.fields.data.push_str(text);
                chunk.len()
            }
            None => {
                let whole = chunk.len() - incomplete_suffix(chunk);
                self.fields.data.push_str(&utf8(&chunk[..whole]));
                whole
            }
        };
        streamed.raw += whole;
        self.fields.streamed = Some(streamed);
        self.buf.extend_from_slice(&chunk[whole..]);
        // The kept bytes were just searched for line endings.
        self.scanned = self.buf.len() - self.pos;
        true
    }

    /// Parses buffered bytes until the next item. `Ok(None)` means every complete line has
    /// been consumed and more bytes are needed.
    ///
    /// # Errors
    /// [`DecodeError::EventTooLarge`] once per oversized event; call again to continue.
    pub fn next_item(&mut self) -> Result<Option<Item>, DecodeError> {
        self.next::<Own>()
    }

    /// [`Decoder::next_item`] without an owned item: the event's data, id, type and unknown
    /// fields, and a comment's text, are borrowed from the decoder until the next call that
    /// takes `&mut self`. Nothing is allocated or reference counted per item: single-line
    /// data and ids are read where they lie in the chunk's text, multi-line data is joined in
    /// a buffer the decoder reuses. For consumers that only look at each event (a filter, a
    /// proxy, a load generator); [`ItemRef::into_owned`] keeps one.
    ///
    /// The stream is parsed by the same code as for [`Decoder::next_item`], with the same
    /// results, and the two can be mixed on one decoder.
    ///
    /// # Errors
    /// [`DecodeError::EventTooLarge`] once per oversized event; call again to continue.
    ///
    /// ```
    /// use tidings_codec::{Decoder, ItemRef};
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push(b": hi\nid: 7\ndata: one\n\ndata: two\ndata: lines\n\n");
    /// let mut seen = Vec::new();
    /// while let Some(item) = decoder.next_item_ref()? {
    ///     match item {
    ///         ItemRef::Event(event) => seen.push(format!("{} {}", event.last_event_id, event.data)),
    ///         ItemRef::Comment(text) => seen.push(format!("comment {text}")),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(seen, ["comment hi", "7 one", "7 two\nlines"]);
    /// # Ok::<(), tidings_codec::DecodeError>(())
    /// ```
    pub fn next_item_ref(&mut self) -> Result<Option<ItemRef<'_>>, DecodeError> {
        // The previous item's shared values are released, so a quiet decoder does not keep
        // their chunk alive.
        self.fields.lent.one = SharedStr::default();
        self.fields.lent.kind = SharedStr::default();
        let Some(found) = self.next::<Lend>()? else {
            return Ok(None);
        };
        Ok(Some(self.lent_item(found)))
    }

    /// The borrowed view of what [`Lend`] recorded: the parts of an event parsed in place are
    /// in the front piece, which [`Decoder::next`] keeps for that reason; the rest is in
    /// [`FieldState::lent`] and `last_event_id`.
    fn lent_item(&self, found: Found) -> ItemRef<'_> {
        let lent = &self.fields.lent;
        match found {
            Found::Retry(after) => ItemRef::Retry(after),
            Found::Comment => ItemRef::Comment(&lent.comment),
            Found::Event { data, id } => {
                let piece = match self.pieces.front() {
                    Some(Piece::Text(piece)) => piece.as_str(),
                    _ => "",
                };
                // The ranges come from lines of that piece and end next to ASCII bytes, so
                // they are in bounds and on character boundaries.
                let data = match data {
                    LentText::Piece(range) => piece.get(range).unwrap_or_default(),
                    LentText::One => lent.one.as_str(),
                    LentText::Joined => lent.joined.as_str(),
                };
                let last_event_id = match id {
                    Some(range) => piece.get(range).unwrap_or_default(),
                    None => self.fields.last_event_id.as_str(),
                };
                ItemRef::Event(EventRef {
                    kind: (!lent.kind.is_empty()).then_some(lent.kind.as_str()),
                    data,
                    last_event_id,
                    unknown_fields: &lent.unknown,
                })
            }
        }
    }

    /// The parser behind [`Decoder::next_item`] and [`Decoder::next_item_ref`]; `E` decides
    /// whether an item is built owned or recorded for lending.
    fn next<E: Emit>(&mut self) -> Result<Option<E::Out>, DecodeError> {
        loop {
            if !self.bom_checked && !self.strip_bom() {
                return Ok(None);
            }
            if self.skip_lf {
                self.skip_lf_after_cr();
            }
            if self.pos < self.buf.len() {
                // The line buffer comes first in the stream.
                let rest = &self.buf[self.pos + self.scanned..];
                let Some(found) = find_line_end(rest) else {
                    self.scanned = self.buf.len() - self.pos;
                    if self.carry_from_piece() {
                        continue;
                    }
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
                self.settle_last_id();
                let line = Line { bytes: &self.buf[line_start..line_end], text: None };
                if let Some(streamed) = self.fields.streamed.take() {
                    self.fields.end_streamed_data(streamed, line)?;
                } else if let Some(item) = self.fields.line::<E>(line)? {
                    return Ok(Some(item));
                }
                continue;
            }
            // The line buffer is used up: parse the next piece in place.
            let Some(Piece::Text(piece)) = self.pieces.front() else {
                // A raw piece goes through the line buffer; nothing left means need more.
                if self.carry_from_piece() {
                    continue;
                }
                return self.incomplete_line();
            };
            let bytes = piece.as_bytes();
            let mut line_start = self.piece_pos;
            let item = self.fields.common_lines::<E>(piece, bytes, &mut line_start);
            self.piece_pos = line_start;
            if line_start == bytes.len() {
                // Used up; pieces are popped as they run out, except one that a lent item
                // still reads from (the next call pops it).
                match item {
                    Some(item) => {
                        if !E::LENDS_PIECE {
                            self.pop_piece();
                        }
                        return Ok(Some(item));
                    }
                    None => {
                        self.pop_piece();
                        continue;
                    }
                }
            }
            if let Some(item) = item {
                return Ok(Some(item));
            }
            let Some(found) = find_line_end(&bytes[line_start..]) else {
                // The piece ends inside a line: its rest waits in the line buffer.
                self.carry_from_piece();
                continue;
            };
            let line_end = line_start + found;
            let mut next = line_end + 1;
            if bytes[line_end] == b'\r' {
                match bytes.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.piece_pos = next;
            let spent = next == bytes.len();
            // The general path reads and replaces the last event id as an `EventId`.
            if let Some(range) = self.fields.last_id_in_piece.take() {
                self.fields.last_id_cache.take();
                self.fields.last_event_id = id_in(piece, range);
            }
            let line = Line {
                bytes: &bytes[line_start..line_end],
                // Line ends are ASCII, so they are character boundaries of the piece's text.
                text: piece
                    .as_str()
                    .get(line_start..line_end)
                    .map(|text| (piece, text, line_start)),
            };
            let item = match self.fields.streamed.take() {
                Some(streamed) => self.fields.end_streamed_data(streamed, line).map(|()| None),
                None => self.fields.line::<E>(line),
            };
            if spent {
                self.pop_piece();
            }
            if let Some(item) = item? {
                return Ok(Some(item));
            }
        }
    }

    /// After a line that ended with CR at the end of the buffered bytes: if the next byte
    /// has arrived, it is consumed when it is the LF of a CRLF.
    fn skip_lf_after_cr(&mut self) {
        if self.pos < self.buf.len() {
            self.skip_lf = false;
            if self.buf[self.pos] == b'\n' {
                self.pos += 1;
            }
            return;
        }
        self.drop_spent_pieces();
        if let Some(piece) = self.pieces.front() {
            self.skip_lf = false;
            if piece.bytes()[self.piece_pos] == b'\n' {
                self.piece_pos += 1;
            }
        }
    }

    /// Moves bytes of the next piece into the line buffer: up to the end of the first line
    /// (which completes the partial line there) for text, all of it otherwise. While a long
    /// `data` line is streamed they may go straight to the data buffer instead. Returns
    /// whether there was a piece.
    fn carry_from_piece(&mut self) -> bool {
        self.drop_spent_pieces();
        let Some(piece) = self.pieces.front() else {
            return false;
        };
        let rest = &piece.bytes()[self.piece_pos..];
        let take = match (piece, find_line_end(rest)) {
            (Piece::Text(_), Some(end)) => {
                end + 1 + usize::from(rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n'))
            }
            _ => rest.len(),
        };
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
            if take == rest.len() && self.fields.streamed.is_some() {
                // The rest of the piece may be the middle of a streamed `data` line. A handle
                // on the piece (a reference count) frees `self` for `stream_chunk`.
                let piece = piece.clone();
                let rest = &piece.bytes()[self.piece_pos..];
                let text = match &piece {
                    Piece::Text(text) => text.as_str().get(self.piece_pos..),
                    Piece::Raw(_) => None,
                };
                if self.stream_chunk(rest, text) {
                    self.piece_pos += take;
                    return true;
                }
                let rest = &piece.bytes()[self.piece_pos..];
                self.buf.extend_from_slice(rest);
                self.piece_pos += take;
                return true;
            }
        }
        self.buf.extend_from_slice(&rest[..take]);
        self.piece_pos += take;
        true
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
        self.settle_last_id();
        let pending = self.pos < self.buf.len()
            || self.pieces_len() > 0
            || self.fields.data_len() > 0
            || !self.fields.event_type.is_empty()
            || self.fields.pending_id.as_ref().is_some_and(|id| *id != self.fields.last_event_id)
            || self.fields.discarding
            || self.fields.streamed.is_some();
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        self.pieces.clear();
        self.piece_pos = 0;
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
        if self.pos == self.buf.len() {
            self.drop_spent_pieces();
            if let Some(piece) = self.pieces.front() {
                // The first piece settles the question (see `Decoder::may_queue`). A BOM is
                // one character, so skipping it keeps the piece's text on a boundary.
                if piece.bytes()[self.piece_pos..].starts_with(BOM) {
                    self.piece_pos += BOM.len();
                }
                self.bom_checked = true;
                return true;
            }
        }
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

    /// No line ending in the buffer and nothing queued after it: keep the partial line unless
    /// it already breaks the size limit, in which case drop it and skip the rest of its event.
    fn incomplete_line<T>(&mut self) -> Result<Option<T>, DecodeError> {
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
                self.fields.spill_data_one();
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
    /// Length of the spec's data buffer.
    fn data_len(&self) -> usize {
        self.data.len() + self.data_one.as_ref().map_or(0, |one| one.len() + 1)
    }

    fn pending_size(&self) -> usize {
        self.data_len()
            + self.event_type.len()
            + self.unknown.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }

    /// [`FieldState::pending_size`] as it would be had a streamed line not been decoded yet.
    fn pending_size_as_buffered(&self) -> usize {
        self.pending_size()
            - self.streamed.map_or(0, |streamed| self.data.len() - streamed.data_before)
    }

    /// Moves a single data line held as shared text into the data buffer proper, before a
    /// second line is appended to it.
    fn spill_data_one(&mut self) {
        if let Some(one) = self.data_one.take() {
            self.data.push_str(&one);
            self.data.push('\n');
        }
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.data_one = None;
        self.event_type = SharedStr::default();
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
        rest: Line<'_>,
    ) -> Result<(), DecodeError> {
        let decoded_so_far = self.data.len() - streamed.data_before;
        let pending = self.pending_size() - decoded_so_far;
        if pending + streamed.raw + rest.bytes.len() > self.config.max_event_size {
            return Err(self.too_large());
        }
        let rest = rest.str(0..rest.bytes.len());
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

    /// The common lines of a text piece, parsed in place from `*at` without the general
    /// machinery of [`FieldState::line`], which they would go through with the same result:
    /// LF-terminated blank lines, `id` lines, and the first `data` line of an event. Stops at
    /// the first other line (or one that would break the size limit, or an incomplete one),
    /// leaving `*at` at its start for the general path, or at a dispatched event, leaving
    /// `*at` after its blank line.
    ///
    /// Ids and data stay ranges in the piece here: an `id` line's value becomes an [`EventId`]
    /// only for an owned event that carries it, and the decoder keeps the range
    /// (`last_id_in_piece`); the data becomes shared text only for an owned event, or when the
    /// event goes on past this call. A lent event reads both where they are.
    fn common_lines<E: Emit>(
        &mut self,
        piece: &SharedStr,
        bytes: &[u8],
        at: &mut usize,
    ) -> Option<E::Out> {
        if self.discarding || self.streamed.is_some() {
            return None;
        }
        let max = self.config.max_event_size;
        let mut pending = self.pending_size();
        // The last event ID buffer, when an `id` line of this piece set it in this call.
        let mut id_here: Option<Range<usize>> = None;
        // The data buffer, when the event's only `data` line so far is in this call.
        let mut data_here: Option<Range<usize>> = None;
        let stop = loop {
            let start = *at;
            let Some(found) = find_line_end(&bytes[start..]) else { break None };
            let end = start + found;
            // The checks of `line` that could fail here go to `line` instead, as does a CR.
            if bytes[end] != b'\n' || pending + found > max {
                break None;
            }
            if found == 0 {
                *at = end + 1;
                // Dispatch step 1: the last event ID string becomes the buffer.
                if let Some(range) = id_here.take() {
                    self.pending_id = None;
                    self.last_id_in_piece = Some(range);
                    self.last_id_cache.take();
                } else if let Some(id) = self.pending_id.take() {
                    self.last_id_in_piece = None;
                    self.last_id_cache.take();
                    self.last_event_id = id;
                }
                if data_here.is_none() && self.data.is_empty() && self.data_one.is_none() {
                    // Step 2: no data, no event; the type buffer is reset.
                    self.event_type = SharedStr::default();
                    self.unknown.clear();
                    pending = self.pending_size();
                    continue;
                }
                let id = self.last_id_in_piece.clone();
                break Some(E::event(self, Some(piece), data_here.take(), id));
            }
            let line = &bytes[start..end];
            let Some(colon) = find_colon(line) else { break None };
            let value = start + after_one_space(line, colon + 1)..end;
            match &line[..colon] {
                b"data"
                    if data_here.is_none() && self.data.is_empty() && self.data_one.is_none() =>
                {
                    if pending + value.len() + 1 > max {
                        break None;
                    }
                    pending += value.len() + 1;
                    data_here = Some(value);
                }
                b"id" => {
                    if !has_nul(&bytes[value.clone()]) {
                        id_here = Some(value);
                    }
                }
                _ => break None,
            }
            *at = end + 1;
        };
        // The event goes on past this call: its id and data are shared text from here on.
        if let Some(range) = id_here {
            self.pending_id = Some(id_in(piece, range));
        }
        if let Some(range) = data_here {
            self.data_one = Some(piece.slice(range).unwrap_or_default());
        }
        stop
    }

    /// Processes one complete line (without its line ending).
    fn line<E: Emit>(&mut self, line: Line<'_>) -> Result<Option<E::Out>, DecodeError> {
        if self.discarding {
            if line.bytes.is_empty() && !self.discarding_mid_line {
                self.discarding = false;
            }
            self.discarding_mid_line = false;
            return Ok(None);
        }
        let bytes = line.bytes;
        let pending = self.pending_size();
        // The raw line counts against the limit exactly as `incomplete_line` counts it while it
        // is still arriving, so whether an event is too large does not depend on where the
        // stream was split into chunks.
        if pending + bytes.len() > self.config.max_event_size {
            return Err(self.too_large());
        }
        // "If the line is empty (a blank line): Dispatch the event."
        if bytes.is_empty() {
            return Ok(self.dispatch::<E>());
        }
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        // We report it instead (clients may want keep-alives); the text drops one leading space
        // to mirror how the encoder writes `: text`.
        if bytes[0] == b':' {
            let text = line.str(after_one_space(bytes, 1)..bytes.len());
            return Ok(Some(E::comment(self, text)));
        }
        // "If the line contains a U+003A COLON character: collect the characters before the
        // first colon as the field name, after it as the value; if value starts with a U+0020
        // SPACE, remove it." "Otherwise, the string is not empty but does not contain a U+003A
        // COLON character: process the field using the whole line as the field name, and the
        // empty string as the field value."
        let (name, value) = match find_colon(bytes) {
            Some(colon) => (0..colon, after_one_space(bytes, colon + 1)..bytes.len()),
            None => (0..bytes.len(), bytes.len()..bytes.len()),
        };
        // Field names are compared case-sensitively, byte for byte.
        match &bytes[name.clone()] {
            b"data" => {
                // "Append the field value to the data buffer, then append a single U+000A LINE
                // FEED (LF) character to the data buffer."
                // The limit counts decoded text: one invalid byte becomes a 3-byte U+FFFD.
                let text = line.str(value.clone());
                if pending + text.len() + 1 > self.config.max_event_size {
                    return Err(self.too_large());
                }
                if self.data.is_empty() && self.data_one.is_none() {
                    // The first line of an event is kept as it arrived; see `data_one`.
                    self.data_one = Some(line.share(value, text));
                } else {
                    self.spill_data_one();
                    self.data.push_str(&text);
                    self.data.push('\n');
                }
            }
            b"event" => {
                // "Set the event type buffer to the field value."
                let text = line.str(value.clone());
                if pending - self.event_type.len() + text.len() > self.config.max_event_size {
                    return Err(self.too_large());
                }
                self.event_type = line.share(value, text);
            }
            b"id" => {
                // "If the field value does not contain U+0000 NULL, then set the last event ID
                // buffer to the field value. Otherwise, ignore the field."
                // A line cannot contain CR or LF, so the only possible rejection is NUL.
                let text = line.str(value.clone());
                if !has_nul(text.as_bytes()) {
                    self.pending_id = Some(EventId::from_line_value(line.share(value, text)));
                }
            }
            // "If the field value consists of only ASCII digits, then interpret the field value
            // as an integer in base ten, and set the event stream's reconnection time to that
            // integer. Otherwise, ignore the field." (Digits beyond u64 saturate.)
            b"retry" => {
                let digits = &bytes[value];
                if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    let millis = digits.iter().fold(0u64, |acc, digit| {
                        acc.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                    });
                    return Ok(Some(E::retry(Duration::from_millis(millis))));
                }
            }
            // "Otherwise: The field is ignored."
            _ if self.config.keep_unknown_fields => {
                let (name, value) = (line.str(name).into_owned(), line.str(value).into_owned());
                if pending + name.len() + value.len() > self.config.max_event_size {
                    return Err(self.too_large());
                }
                self.unknown.push((name, value));
            }
            _ => {}
        }
        Ok(None)
    }

    /// WHATWG "dispatch the event".
    fn dispatch<E: Emit>(&mut self) -> Option<E::Out> {
        debug_assert!(self.last_id_in_piece.is_none(), "settled before the general path");
        // 1. "Set the last event ID string of the event source to the value of the last event
        //    ID buffer. The buffer does not get reset."
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
        }
        if self.data.is_empty() && self.data_one.is_none() {
            // 2. "If the data buffer is an empty string, set the data buffer and the event
            //    type buffer to the empty string and return."
            self.event_type = SharedStr::default();
            self.unknown.clear();
            return None;
        }
        Some(E::event(self, None, None, None))
    }

    /// Dispatch step 3 for a data buffer held in `data_one` or `data`: "If the data buffer's
    /// last character is a U+000A LINE FEED (LF) character, then remove the last character
    /// from the data buffer." A single line's buffer is its value plus LF, so without the LF
    /// it is the value.
    fn take_data(&mut self) -> SharedStr {
        if let Some(one) = self.data_one.take() {
            return one;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        if self.data.len() <= COPY_DATA_UP_TO {
            let data = SharedStr::from(self.data.as_str());
            self.data.clear();
            data
        } else {
            SharedStr::from(std::mem::take(&mut self.data))
        }
    }
}

/// How the parser hands out what it found: [`Own`] builds [`Item`]s, [`Lend`] records where
/// an [`ItemRef`]'s parts are. One parser serves both, so they cannot disagree on the spec.
trait Emit {
    type Out;
    /// Whether an item may read from the front piece, which must then stay queued until the
    /// next call even when it is used up.
    const LENDS_PIECE: bool;

    /// Dispatch steps 3 to 6 for a non-empty data buffer, after step 1. The data is
    /// `piece[data]` when it is a range in the piece being parsed in place, else in
    /// `fields.data_one` or `fields.data`; the last event ID string is `piece[id]` when it is
    /// a range there, else `fields.last_event_id`.
    fn event(
        fields: &mut FieldState,
        piece: Option<&SharedStr>,
        data: Option<Range<usize>>,
        id: Option<Range<usize>>,
    ) -> Self::Out;

    fn comment(fields: &mut FieldState, text: Cow<'_, str>) -> Self::Out;

    fn retry(after: Duration) -> Self::Out;
}

/// Owned items ([`Decoder::next_item`]).
struct Own;

impl Emit for Own {
    type Out = Item;
    const LENDS_PIECE: bool = false;

    // Inlined into the in-place parser so the event is built where it is returned (an extra
    // copy of it on the way out measured slower).
    #[inline(always)]
    fn event(
        fields: &mut FieldState,
        piece: Option<&SharedStr>,
        data: Option<Range<usize>>,
        id: Option<Range<usize>>,
    ) -> Item {
        let data = match (piece, data) {
            (Some(piece), Some(range)) => piece.slice(range).unwrap_or_default(),
            _ => fields.take_data(),
        };
        // 6. The event's lastEventId is the event source's last event ID string.
        let last_event_id = match (piece, id) {
            (Some(piece), Some(range)) => id_in(piece, range),
            _ => fields.last_event_id.clone(),
        };
        // 5. Type: the event type buffer if not empty, else "message". The buffer came from a
        //    single line, so it holds no CR or LF.
        let event_type = std::mem::take(&mut fields.event_type);
        let kind = (!event_type.is_empty()).then(|| EventType::from_line_value(event_type));
        Item::Event(MessageEvent {
            kind,
            data,
            last_event_id,
            unknown_fields: std::mem::take(&mut fields.unknown),
        })
    }

    fn comment(_: &mut FieldState, text: Cow<'_, str>) -> Item {
        Item::Comment(text.into_owned())
    }

    fn retry(after: Duration) -> Item {
        Item::Retry(after)
    }
}

/// Lent items ([`Decoder::next_item_ref`]): the values move into [`FieldState::lent`] (or stay
/// ranges in the front piece) and [`Decoder::lent_item`] borrows them.
struct Lend;

/// Where a lent item is.
enum Found {
    /// Data and id as [`Emit::event`] describes them; the rest is in [`Lent`].
    Event {
        data: LentText,
        id: Option<Range<usize>>,
    },
    /// In `Lent::comment`.
    Comment,
    Retry(Duration),
}

/// Where a lent event's data is.
enum LentText {
    /// A range in the front piece.
    Piece(Range<usize>),
    /// `Lent::one`.
    One,
    /// `Lent::joined`.
    Joined,
}

/// The values of the last lent item that are not in a piece. The buffers keep their capacity,
/// so lending allocates nothing once they have grown.
#[derive(Debug, Default)]
struct Lent {
    /// Single-line data that was shared text already (it arrived through the line buffer, or
    /// before the call that dispatched it).
    one: SharedStr,
    /// Multi-line data; swapped with the data buffer at dispatch, so each keeps its capacity.
    joined: String,
    kind: SharedStr,
    unknown: Vec<(String, String)>,
    comment: String,
}

impl Emit for Lend {
    type Out = Found;
    const LENDS_PIECE: bool = true;

    #[inline(always)]
    fn event(
        fields: &mut FieldState,
        _: Option<&SharedStr>,
        data: Option<Range<usize>>,
        id: Option<Range<usize>>,
    ) -> Found {
        let data = match data {
            Some(range) => LentText::Piece(range),
            None => match fields.data_one.take() {
                Some(one) => {
                    fields.lent.one = one;
                    LentText::One
                }
                None => {
                    // Step 3: the trailing LF goes (see `FieldState::take_data`).
                    if fields.data.ends_with('\n') {
                        fields.data.pop();
                    }
                    std::mem::swap(&mut fields.data, &mut fields.lent.joined);
                    fields.data.clear();
                    LentText::Joined
                }
            },
        };
        fields.lent.kind = std::mem::take(&mut fields.event_type);
        fields.lent.unknown.clear();
        std::mem::swap(&mut fields.unknown, &mut fields.lent.unknown);
        Found::Event { data, id }
    }

    fn comment(fields: &mut FieldState, text: Cow<'_, str>) -> Found {
        fields.lent.comment.clear();
        fields.lent.comment.push_str(&text);
        Found::Comment
    }

    fn retry(after: Duration) -> Found {
        Found::Retry(after)
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

/// The id at `range` of `piece` (a range the parser took from an `id` line of that piece).
fn id_in(piece: &SharedStr, range: Range<usize>) -> EventId {
    piece.slice(range).map_or_else(EventId::empty, EventId::from_line_value)
}

/// Whether `value` holds NUL. Ids are short: the standard library's scan beats the setup of a
/// vectorised search on them, which long values still get.
fn has_nul(value: &[u8]) -> bool {
    if value.len() <= 32 { value.contains(&0) } else { memchr::memchr(0, value).is_some() }
}

/// A UTF-8 continuation byte (`10xxxxxx`): never the first byte of a character.
fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// How many bytes at the end of `bytes` may be the start of a character that the next chunk
/// completes: from the last byte that is not a continuation byte (`10xxxxxx`), if that byte
/// announces a longer sequence than is there. Cutting right before such a byte never splits a
/// character or a maximal invalid sequence, so decoding the two sides apart equals decoding
/// them together.
fn incomplete_suffix(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if !is_continuation(byte) {
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

/// `at`, or one past it when `line[at]` is a space ("If value starts with a U+0020 SPACE
/// character, remove it from value").
fn after_one_space(line: &[u8], at: usize) -> usize {
    if line.get(at) == Some(&b' ') { at + 1 } else { at }
}

/// UTF-8 decoding with invalid sequences replaced by U+FFFD (WHATWG "UTF-8 decode", which
/// replaces each maximal invalid subpart as Rust's lossy conversion does), for lines that are
/// not part of a validated [`Piece::Text`]. Decoding line by line is equivalent to decoding the
/// whole stream because CR and LF never occur inside a multi-byte sequence, and lines are only
/// decoded once complete, so characters split across chunks are whole by then; a long `data`
/// line decoded while it arrives is cut only before a byte that starts a character (see
/// [`incomplete_suffix`]), which keeps the equivalence. A piece is cut the same way at both
/// ends, so text validated piece by piece is text validated whole.
///
/// Valid input (nearly all of it) takes a fast validator, `simdutf8` for long input (the parts
/// of a long streamed line) and the standard library's for short lines, where the vectorised
/// one's setup does not pay; `from_utf8_lossy` walks byte by byte even when nothing needs
/// replacing, so it only runs on invalid input.
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    let valid = if bytes.len() >= 256 {
        simdutf8::basic::from_utf8(bytes).ok()
    } else {
        std::str::from_utf8(bytes).ok()
    };
    match valid {
        Some(text) => Cow::Borrowed(text),
        None => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a test feeds chunks to the decoder.
    #[derive(Clone, Copy, Debug)]
    enum Feed {
        /// `push`, every chunk through the line buffer (the way small chunks go).
        Copied,
        /// `push`, every chunk kept as a piece (the way large chunks go).
        Pieces,
        /// `push_bytes`, every chunk kept as a piece without a copy.
        Owned,
        /// As `Pieces`, items pulled with `next_item_ref` (made owned to compare them).
        PiecesLent,
        /// As `Pieces`, `next_item` and `next_item_ref` by turns.
        PiecesAlternating,
    }

    /// Everything observable about decoding `chunks`: each result of `next_item` (items and
    /// errors), `buffered_len` after every push and every drain, then `finish` and the id.
    fn observe(chunks: &[&[u8]], config: &DecoderConfig, stream_data_after: usize) -> Vec<String> {
        observe_fed(chunks, config, stream_data_after, Feed::Copied)
    }

    fn observe_fed(
        chunks: &[&[u8]],
        config: &DecoderConfig,
        stream_data_after: usize,
        feed: Feed,
    ) -> Vec<String> {
        let mut decoder = Decoder::with_config(config.clone());
        decoder.stream_data_after = stream_data_after;
        decoder.piece_min = match feed {
            Feed::Copied => usize::MAX,
            Feed::Pieces | Feed::Owned | Feed::PiecesLent | Feed::PiecesAlternating => 0,
        };
        let mut seen = Vec::new();
        let mut calls = 0usize;
        for chunk in chunks {
            match feed {
                Feed::Owned => decoder.push_bytes(Bytes::copy_from_slice(chunk)),
                _ => decoder.push(chunk),
            }
            seen.push(format!("pushed, buffered {}", decoder.buffered_len()));
            loop {
                calls += 1;
                let lend = match feed {
                    Feed::PiecesLent => true,
                    Feed::PiecesAlternating => calls % 2 == 0,
                    _ => false,
                };
                let result = if lend {
                    decoder.next_item_ref().map(|item| item.map(ItemRef::into_owned))
                } else {
                    decoder.next_item()
                };
                // The id is read after every step: the in-place parser keeps it as a range in
                // its piece and makes it on demand.
                seen.push(format!("{result:?}, last id {:?}", decoder.last_event_id()));
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
        b"\xEF\xBB\xBFdata: bom\r\n\r\n\xEF\xBB\xBFdata: second bom kept\n\n",
        b"data: a\rdata: b\r\rid: \xC3\xA9\r\rid: x\0y\rdata\r\r",
        b"id: 1\ndata: a\n\ndata: b\n\nid: 22\nid\n\ndata: c\nid: 3\n\n: c\nid: 4\n",
        b"id: 5\ndata: x\nid: 6\nevent: e\n\nid: 7\r\ndata: y\n\ndata: z\n\n",
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

    /// Chunks kept as pieces (parsed in place, values sliced out) must decode exactly as
    /// chunks copied into the line buffer, wherever the chunk boundaries fall: inside lines,
    /// line endings, characters and the byte order mark, with and without streamed lines.
    #[test]
    fn pieces_decode_exactly_as_the_line_buffer_at_every_two_way_split() {
        for stream in STREAMS {
            for config in configs() {
                for cut in 0..=stream.len() {
                    let chunks = [&stream[..cut], &stream[cut..]];
                    for after in [6, usize::MAX] {
                        let copied = observe_fed(&chunks, &config, after, Feed::Copied);
                        for feed in
                            [Feed::Pieces, Feed::Owned, Feed::PiecesLent, Feed::PiecesAlternating]
                        {
                            assert_eq!(
                                observe_fed(&chunks, &config, after, feed),
                                copied,
                                "stream {stream:?}, cut {cut}, config {config:?}, {feed:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pieces_decode_exactly_as_the_line_buffer_at_every_three_way_split() {
        for stream in STREAMS {
            for config in configs() {
                for first in 0..=stream.len() {
                    for second in first..=stream.len() {
                        let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
                        let copied = observe_fed(&chunks, &config, usize::MAX, Feed::Copied);
                        assert_eq!(
                            observe_fed(&chunks, &config, usize::MAX, Feed::Owned),
                            copied,
                            "stream {stream:?}, cuts {first} {second}, config {config:?}"
                        );
                        assert_eq!(
                            observe_fed(&chunks, &config, 6, Feed::Pieces),
                            copied,
                            "stream {stream:?}, cuts {first} {second}, config {config:?}"
                        );
                        for feed in [Feed::PiecesLent, Feed::PiecesAlternating] {
                            assert_eq!(
                                observe_fed(&chunks, &config, usize::MAX, feed),
                                copied,
                                "stream {stream:?}, cuts {first} {second}, {feed:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pieces_decode_exactly_as_the_line_buffer_byte_by_byte_and_pushed_ahead() {
        for stream in STREAMS {
            for config in configs() {
                let bytes: Vec<&[u8]> = stream.chunks(1).collect();
                let copied = observe_fed(&bytes, &config, 6, Feed::Copied);
                assert_eq!(observe_fed(&bytes, &config, 6, Feed::Owned), copied);
                assert_eq!(observe_fed(&bytes, &config, 6, Feed::PiecesLent), copied);
                let whole = [&stream[..]];
                assert_eq!(
                    observe_fed(&whole, &config, 6, Feed::PiecesLent),
                    observe_fed(&whole, &config, 6, Feed::Copied)
                );
                // Several chunks pushed before anything is parsed queue up in order.
                let mut queued = Decoder::with_config(config.clone());
                queued.piece_min = 0;
                let mut buffered = Decoder::with_config(config.clone());
                for chunk in stream.chunks(5) {
                    queued.push_bytes(Bytes::copy_from_slice(chunk));
                    buffered.push(chunk);
                }
                assert_eq!(queued.buffered_len(), buffered.buffered_len());
                let drain = |decoder: &mut Decoder| {
                    let mut items = Vec::new();
                    loop {
                        let item = decoder.next_item();
                        if item == Ok(None) {
                            return (items, decoder.buffered_len(), decoder.finish());
                        }
                        items.push(item);
                    }
                };
                assert_eq!(drain(&mut queued), drain(&mut buffered), "stream {stream:?}");
            }
        }
    }

    /// Pulls the next event, panicking on anything else.
    fn next_event(decoder: &mut Decoder) -> MessageEvent {
        match decoder.next_item() {
            Ok(Some(Item::Event(event))) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn data_and_ids_of_a_chunk_are_parts_of_one_buffer() {
        let chunk =
            format!("id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n", "a".repeat(60), "b".repeat(9));
        let mut decoder = Decoder::new();
        decoder.push(chunk.as_bytes());
        let (first, second) = (next_event(&mut decoder), next_event(&mut decoder));
        assert_eq!((first.last_event_id.as_str(), second.data.as_str()), ("1", "bbbbbbbbb"));
        assert!(first.data.shares_buffer_with(&second.data));
        assert!(first.data.shares_buffer_with(&second.last_event_id.shared()));
        assert!(first.data.shares_buffer_with(&decoder.last_event_id().shared()));
    }

    #[test]
    fn lent_events_read_their_data_and_id_in_the_chunk_and_multi_line_data_in_one_buffer() {
        let chunk = format!("id: 1\ndata: {}\n\ndata: a\ndata: b\n\n", "a".repeat(60));
        let mut decoder = Decoder::new();
        decoder.push(chunk.as_bytes());
        let Some(Piece::Text(piece)) = decoder.pieces.front() else { panic!("kept whole") };
        let text = piece.as_bytes().as_ptr_range();
        let Ok(Some(ItemRef::Event(first))) = decoder.next_item_ref() else { panic!("event") };
        assert_eq!((first.data.len(), first.last_event_id), (60, "1"));
        assert!(text.contains(&first.data.as_ptr()), "data read in place");
        assert!(text.contains(&first.last_event_id.as_ptr()), "id read in place");
        let Ok(Some(ItemRef::Event(second))) = decoder.next_item_ref() else { panic!("event") };
        assert_eq!(second.data, "a\nb");
        let joined = second.data.as_ptr();
        decoder.push(b"data: c\ndata: d\n\n");
        let Ok(Some(ItemRef::Event(third))) = decoder.next_item_ref() else { panic!("event") };
        assert_eq!(third.data, "c\nd");
        // The data buffer and the lent buffer trade places at each dispatch, keeping their
        // capacity: the third event's text is in the buffer the second one's was not.
        assert_ne!(third.data.as_ptr(), joined);
        assert_eq!(decoder.next_item_ref(), Ok(None));
        assert_eq!(decoder.last_event_id(), "1");
    }

    #[test]
    fn a_decoder_and_its_events_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Decoder>();
        send_sync::<MessageEvent>();
        send_sync::<SharedStr>();
    }

    #[test]
    fn the_last_event_id_is_right_between_events_and_after_its_chunk_is_gone() {
        let mut decoder = Decoder::new();
        decoder.piece_min = 0;
        decoder.push(b"id: first\ndata: 1\n\ndata: 2\n\nid: second\ndata: 3\n\nid: third\nda");
        for expected in ["first", "first", "second"] {
            let event = next_event(&mut decoder);
            assert_eq!(event.last_event_id, expected);
            assert_eq!(decoder.last_event_id(), &event.last_event_id);
        }
        assert_eq!(decoder.next_item(), Ok(None));
        // The chunk is used up and dropped; the id it held is kept (the third one is not
        // dispatched yet).
        decoder.push(b"ta: 4\n\ndata: 5\n\n");
        assert_eq!(decoder.last_event_id(), "second");
        assert_eq!(next_event(&mut decoder).last_event_id, "third");
        assert_eq!(next_event(&mut decoder).last_event_id, "third");
        assert_eq!(decoder.last_event_id(), "third");
        decoder.push(b"id: fourth\ndata: 6\n");
        assert_eq!(decoder.next_item(), Ok(None));
        assert!(decoder.finish(), "the undispatched event is discarded with its id");
        assert_eq!(decoder.last_event_id(), "third");
    }

    #[test]
    fn a_character_cut_by_a_chunk_boundary_keeps_the_rest_of_the_chunk_in_place() {
        let mut decoder = Decoder::new();
        decoder.piece_min = 0;
        decoder.push(b"data: caf\xC3");
        assert_eq!(decoder.next_item(), Ok(None));
        decoder.push(b"\xA9\n\ndata: one line in place\n\ndata: and another\n\n");
        assert_eq!(next_event(&mut decoder).data, "caf\u{E9}");
        let (second, third) = (next_event(&mut decoder), next_event(&mut decoder));
        assert_eq!(
            (second.data.as_str(), third.data.as_str()),
            ("one line in place", "and another")
        );
        assert!(second.data.shares_buffer_with(&third.data), "the body after the cut is one piece");
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
        assert_eq!(event.map(|e| e.map(|e| e.data)), Ok(Some("0123456789 \u{20AC}".into())));
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
