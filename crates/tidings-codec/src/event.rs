//! The [`Event`] value and its encoder.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::field::{Comment, EventId, EventType, ExtensionField, FieldError};

/// The keep-alive frame: one empty comment line and a blank line (`":\n\n"`).
///
/// Clients ignore it; proxies and load balancers see traffic and keep the connection open. It
/// is a static constant so a hub can send it to every idle connection without allocating.
///
/// ```
/// assert_eq!(&tidings_codec::KEEP_ALIVE[..], b":\n\n");
/// ```
pub const KEEP_ALIVE: &[u8] = b":\n\n";

/// One server-sent event, built by value and encoded once into shared [`Bytes`].
///
/// An event with data (see [`Event::new`]) is dispatched by the client even when the data is
/// empty. An event without data ([`Event::comment`], [`Event::default`] with only an id or a
/// retry hint) is not dispatched: it only carries comments, updates the client's last event
/// id, or sets its reconnection delay.
///
/// ```
/// use std::time::Duration;
/// use tidings_codec::{Event, EventId, EventType};
///
/// let frame = Event::new("line one\r\nline two")
///     .with_type(EventType::new("note")?)
///     .with_id(EventId::new("7")?)
///     .with_retry(Duration::from_secs(3))
///     .encode();
/// assert_eq!(
///     &frame[..],
///     b"retry:3000\nevent:note\nid:7\ndata: line one\ndata: line two\n\n"
/// );
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Event {
    data: Option<String>,
    event_type: Option<EventType>,
    id: Option<EventId>,
    retry: Option<Duration>,
    comments: Vec<Comment>,
    extensions: Vec<ExtensionField>,
}

impl Event {
    /// An event carrying `data`, which may contain any text including CR, LF and CRLF line
    /// breaks (each becomes one `data:` line) and may be empty (still dispatched).
    ///
    /// ```
    /// let frame = tidings_codec::Event::new("").encode();
    /// assert_eq!(&frame[..], b"data:\n\n");
    /// ```
    pub fn new(data: impl Into<String>) -> Self {
        Self { data: Some(data.into()), ..Self::default() }
    }

    /// A frame holding only a comment, which clients ignore (useful as a keep-alive with text).
    ///
    /// # Errors
    /// [`FieldError::LineBreak`] when `text` contains CR or LF.
    ///
    /// ```
    /// let frame = tidings_codec::Event::comment("hello")?.encode();
    /// assert_eq!(&frame[..], b": hello\n\n");
    /// # Ok::<(), tidings_codec::FieldError>(())
    /// ```
    pub fn comment(text: impl AsRef<str>) -> Result<Self, FieldError> {
        Ok(Self::default().with_comment(Comment::new(text)?))
    }

    /// The keep-alive frame as shared bytes; see [`KEEP_ALIVE`].
    ///
    /// ```
    /// assert_eq!(&tidings_codec::Event::keep_alive()[..], b":\n\n");
    /// ```
    #[must_use]
    pub fn keep_alive() -> Bytes {
        Bytes::from_static(KEEP_ALIVE)
    }

    /// Replaces the data (see [`Event::new`] for what it may contain).
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the event type (`event:`); default: none, which clients treat as `message`.
    pub fn with_type(mut self, event_type: EventType) -> Self {
        self.event_type = Some(event_type);
        self
    }

    /// Sets the event id (`id:`); default: none, so the client keeps its previous last id.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the reconnection delay hint (`retry:`, whole milliseconds); default: none.
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment line (`: text`), written before the fields.
    pub fn with_comment(mut self, comment: Comment) -> Self {
        self.comments.push(comment);
        self
    }

    /// Adds a field the spec does not define, written after `id` (see [`ExtensionField`]).
    pub fn with_extension(mut self, field: ExtensionField) -> Self {
        self.extensions.push(field);
        self
    }

    /// The data, if this event has any.
    #[must_use]
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event type, if set.
    #[must_use]
    pub fn event_type(&self) -> Option<&EventType> {
        self.event_type.as_ref()
    }

    /// The event id, if set.
    #[must_use]
    pub fn id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The reconnection delay hint, if set.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The comments, in the order they are written.
    #[must_use]
    pub fn comments(&self) -> &[Comment] {
        &self.comments
    }

    /// The extension fields, in the order they are written.
    #[must_use]
    pub fn extensions(&self) -> &[ExtensionField] {
        &self.extensions
    }

    /// Encodes the event into one frame. Encode once and clone the [`Bytes`] (a reference
    /// count increment) for every subscriber.
    ///
    /// Layout: comments, `retry`, `event`, `id`, extension fields, then one `data:` line per
    /// line of data, then a blank line. Every line ends with LF.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let first_break = self.first_data_break();
        let len = self.encoded_len(first_break);
        // Exactly `len` bytes: `Bytes` then takes this allocation over as it is. With spare
        // capacity it would allocate a second block (a shared header) for every frame. A `Vec`
        // rather than `BytesMut` because its appends inline into `write`.
        let mut out = Vec::with_capacity(len);
        self.write(&mut out, first_break);
        debug_assert_eq!(out.len(), len, "encoded_len and write disagree");
        Bytes::from(out)
    }

    /// Appends the encoded frame to `out` (see [`Event::encode`]).
    ///
    /// The buffer grows as it is written, without first adding up the frame's exact length:
    /// a writer's buffer that is cleared and reused between socket writes has the room
    /// already, and there the sum cost about a tenth of the encode.
    ///
    /// ```
    /// let mut out = bytes::BytesMut::new();
    /// tidings_codec::Event::new("a").encode_into(&mut out);
    /// tidings_codec::Event::new("b").encode_into(&mut out);
    /// assert_eq!(&out[..], b"data: a\n\ndata: b\n\n");
    /// ```
    pub fn encode_into(&self, out: &mut BytesMut) {
        let first_break = self.first_data_break();
        self.write(out, first_break);
    }

    /// Where the data's first CR or LF is, searched once and shared by [`Event::encoded_len`]
    /// and [`Event::write`], so single-line data (the common case) is scanned only once.
    fn first_data_break(&self) -> Option<usize> {
        self.data.as_deref().and_then(|data| memchr::memchr2(b'\r', b'\n', data.as_bytes()))
    }

    fn write(&self, out: &mut impl Sink, first_break: Option<usize>) {
        for comment in &self.comments {
            if comment.as_str().is_empty() {
                out.put_slice(b":\n");
            } else {
                out.put_slice(b": ");
                out.put_slice(comment.as_str().as_bytes());
                out.put_u8(b'\n');
            }
        }
        if let Some(retry) = self.retry {
            out.put_slice(b"retry:");
            out.put_slice(itoa::Buffer::new().format(retry_millis(retry)).as_bytes());
            out.put_u8(b'\n');
        }
        if let Some(event_type) = &self.event_type {
            put_field(out, b"event:", event_type.as_str());
        }
        if let Some(id) = &self.id {
            put_field(out, b"id:", id.as_str());
        }
        for field in &self.extensions {
            out.put_slice(field.name().as_bytes());
            put_field(out, b":", field.value());
        }
        if let Some(data) = &self.data {
            match first_break {
                // One line, the common case, is written without the line iterator.
                None => put_data_line(out, data.as_bytes()),
                Some(_) => {
                    for line in data_lines(data.as_bytes(), first_break) {
                        put_data_line(out, line);
                    }
                }
            }
        }
        out.put_u8(b'\n');
    }

    /// The exact length of the encoded frame; [`Event::write`] writes this many bytes.
    fn encoded_len(&self, first_break: Option<usize>) -> usize {
        let comments = self
            .comments
            .iter()
            .map(|comment| match comment.as_str().len() {
                0 => ":\n".len(),
                len => ": ".len() + len + 1,
            })
            .sum::<usize>();
        let retry = self.retry.map_or(0, |retry| {
            let digits = retry_millis(retry).checked_ilog10().map_or(1, |log| log as usize + 1);
            "retry:".len() + digits + 1
        });
        let event_type = self.event_type.as_ref().map_or(0, |t| field_len("event:", t.as_str()));
        let id = self.id.as_ref().map_or(0, |id| field_len("id:", id.as_str()));
        let extensions = self
            .extensions
            .iter()
            .map(|field| field.name().len() + field_len(":", field.value()))
            .sum::<usize>();
        let data = self.data.as_ref().map_or(0, |data| {
            data_lines(data.as_bytes(), first_break)
                .map(|line| {
                    if line.is_empty() { "data:\n".len() } else { "data: ".len() + line.len() + 1 }
                })
                .sum()
        });
        comments + retry + event_type + id + extensions + data + 1
    }
}

/// Where [`Event::write`] appends: `Vec` ([`Event::encode`]) and `BytesMut`
/// ([`Event::encode_into`]) through their inlined `extend_from_slice` (`BufMut::put_slice` on
/// `BytesMut` is an out-of-line call per field).
trait Sink {
    fn put_slice(&mut self, bytes: &[u8]);

    fn put_u8(&mut self, byte: u8) {
        self.put_slice(&[byte]);
    }
}

impl Sink for Vec<u8> {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_u8(&mut self, byte: u8) {
        self.push(byte);
    }
}

impl Sink for BytesMut {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The `retry:` value: whole milliseconds, saturating at `u64::MAX`.
fn retry_millis(retry: Duration) -> u64 {
    u64::try_from(retry.as_millis()).unwrap_or(u64::MAX)
}

/// Writes `name` + value + LF. A value starting with a space gets an extra space after the
/// colon, because the decoder strips exactly one (WHATWG: "If value starts with a U+0020 SPACE
/// character, remove it from value").
fn put_field(out: &mut impl Sink, name: &[u8], value: &str) {
    out.put_slice(name);
    if value.starts_with(' ') {
        out.put_u8(b' ');
    }
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

/// Writes one `data:` line. Always a space after the colon when the line is not empty: the
/// decoder removes one, so a line that itself starts with a space keeps it.
fn put_data_line(out: &mut impl Sink, line: &[u8]) {
    if line.is_empty() {
        out.put_slice(b"data:\n");
    } else {
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_u8(b'\n');
    }
}

/// The length [`put_field`] writes.
fn field_len(name: &str, value: &str) -> usize {
    name.len() + usize::from(value.starts_with(' ')) + value.len() + 1
}

/// The lines of `data`, each written as one `data:` line. CRLF, lone CR and lone LF each end
/// exactly one line, mirroring how the decoder splits lines, so `decode(encode(data))` equals
/// `data` with every line break normalised to LF. `first_break` is the result of searching
/// `data` for CR or LF, which the caller has already done.
fn data_lines(data: &[u8], first_break: Option<usize>) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    let mut known_break = Some(first_break);
    std::iter::from_fn(move || {
        let data = rest?;
        let found = known_break.take().unwrap_or_else(|| memchr::memchr2(b'\r', b'\n', data));
        match found {
            None => {
                rest = None;
                Some(data)
            }
            Some(end) => {
                let after = if data[end] == b'\r' && data.get(end + 1) == Some(&b'\n') {
                    end + 2
                } else {
                    end + 1
                };
                rest = Some(&data[after..]);
                Some(&data[..end])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(event: &Event) -> String {
        String::from_utf8(event.encode().to_vec()).expect("encoder writes UTF-8")
    }

    #[test]
    fn data_with_lf_cr_and_crlf_becomes_one_data_line_per_line() {
        let frame = encoded(&Event::new("a\nb\rc\r\nd"));
        assert_eq!(frame, "data: a\ndata: b\ndata: c\ndata: d\n\n");
    }

    #[test]
    fn crlf_in_data_is_one_line_break_not_two() {
        assert_eq!(encoded(&Event::new("x\r\ny")), "data: x\ndata: y\n\n");
    }

    #[test]
    fn trailing_and_consecutive_line_breaks_become_empty_data_lines() {
        assert_eq!(encoded(&Event::new("a\n")), "data: a\ndata:\n\n");
        assert_eq!(encoded(&Event::new("\r\r\n")), "data:\ndata:\ndata:\n\n");
    }

    #[test]
    fn empty_data_still_writes_a_data_line() {
        assert_eq!(encoded(&Event::new("")), "data:\n\n");
    }

    #[test]
    fn frame_without_data_writes_no_data_line() {
        let id_only = Event::default().with_id(EventId::new("9").expect("valid id"));
        assert_eq!(encoded(&id_only), "id:9\n\n");
    }

    #[test]
    fn values_starting_with_space_keep_it() {
        let event = Event::new(" x")
            .with_type(EventType::new(" t").expect("valid type"))
            .with_id(EventId::new(" 1").expect("valid id"));
        assert_eq!(encoded(&event), "event:  t\nid:  1\ndata:  x\n\n");
    }

    #[test]
    fn comments_come_first_and_empty_comment_is_bare_colon() {
        let event = Event::new("d")
            .with_comment(Comment::new("").expect("valid"))
            .with_comment(Comment::new("two").expect("valid"));
        assert_eq!(encoded(&event), ":\n: two\ndata: d\n\n");
    }

    #[test]
    fn extension_fields_come_after_id_and_keep_a_leading_space() {
        let event = Event::new("d")
            .with_id(EventId::new("1").expect("valid id"))
            .with_extension(ExtensionField::new("topic", "a").expect("valid"))
            .with_extension(ExtensionField::new("topic", " b").expect("valid"));
        assert_eq!(encoded(&event), "id:1\ntopic:a\ntopic:  b\ndata: d\n\n");
    }

    #[test]
    fn retry_is_written_in_whole_milliseconds() {
        let event = Event::default().with_retry(Duration::from_micros(1_500_900));
        assert_eq!(encoded(&event), "retry:1500\n\n");
    }

    #[test]
    fn encode_into_appends_frames_back_to_back() {
        let mut out = BytesMut::new();
        Event::new("1").encode_into(&mut out);
        Event::comment("c").expect("valid").encode_into(&mut out);
        assert_eq!(&out[..], b"data: 1\n\n: c\n\n");
    }
}
