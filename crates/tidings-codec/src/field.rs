//! Validated field values: event types, event ids and comments.
//!
//! The SSE wire format is line based, so a value that contains CR or LF would end its field
//! early and inject a new one. Each type here checks that once, at construction, and can then
//! be encoded without further checks ("parse, don't validate").

use std::fmt;

use arcstr::Substr;

use crate::shared::SharedStr;

/// Why a value cannot be used as an SSE field.
///
/// ```
/// use tidings_codec::{EventId, FieldError};
///
/// let err = EventId::new("a\nb").unwrap_err();
/// assert_eq!(err, FieldError::LineBreak { field: "id", offset: 1 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The value contains CR or LF, which would end the field and start a new line.
    #[error("{field} contains a line break (CR or LF) at byte {offset}")]
    LineBreak {
        /// Which field was being built: `"event"`, `"id"` or `"comment"`.
        field: &'static str,
        /// Byte offset of the first CR or LF.
        offset: usize,
    },
    /// The value contains NUL; the spec makes clients ignore an `id` field that contains NUL.
    #[error("{field} contains NUL at byte {offset}")]
    Nul {
        /// Which field was being built (always `"id"` today).
        field: &'static str,
        /// Byte offset of the first NUL.
        offset: usize,
    },
    /// An extension field name is empty, contains `:`, CR or LF, or is a name the spec gives
    /// a meaning (`data`, `event`, `id`, `retry`), which would change what clients dispatch.
    #[error("invalid extension field name")]
    InvalidName,
}

fn reject_line_breaks(field: &'static str, value: &str) -> Result<(), FieldError> {
    match memchr::memchr2(b'\r', b'\n', value.as_bytes()) {
        Some(offset) => Err(FieldError::LineBreak { field, offset }),
        None => Ok(()),
    }
}

/// An event type (the `event:` field): any text without CR or LF.
///
/// A browser dispatches the event to listeners registered for this name; events without a type
/// go to `onmessage` (type `message`).
///
/// ```
/// use tidings_codec::EventType;
///
/// let kind = EventType::new("price-update")?;
/// assert_eq!(kind.as_str(), "price-update");
/// assert!(EventType::new("two\rlines").is_err());
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(Substr);

impl EventType {
    /// Checks that `value` has no CR or LF and wraps it.
    ///
    /// # Errors
    /// [`FieldError::LineBreak`] when the value contains CR or LF.
    pub fn new(value: impl AsRef<str>) -> Result<Self, FieldError> {
        let value = value.as_ref();
        reject_line_breaks("event", value)?;
        Ok(Self(Substr::from(value)))
    }

    /// The decoder's constructor for an `event:` field value, which comes from one line and so
    /// holds no CR or LF.
    pub(crate) fn from_line_value(value: SharedStr) -> Self {
        debug_assert!(memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_none());
        Self(value.into_part())
    }

    /// The type as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event id (the `id:` field): any text without CR, LF or NUL, possibly empty.
///
/// Clients send the last id they saw in the `Last-Event-ID` header when they reconnect. An
/// empty id is valid on the wire and tells the client to forget its last id. Cloning it (once
/// per decoded event, once per subscriber) is a reference-count increment: the id is a part of
/// a shared string, for a decoded id the text of the chunk it arrived in.
///
/// ```
/// use tidings_codec::EventId;
///
/// let id = EventId::new("42")?;
/// assert_eq!(id.as_str(), "42");
/// assert!(EventId::new("4\02").is_err());
/// assert!(EventId::new("").is_ok());
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Substr);

impl EventId {
    /// Checks that `value` has no CR, LF or NUL and wraps it.
    ///
    /// # Errors
    /// [`FieldError::LineBreak`] for CR or LF, [`FieldError::Nul`] for NUL.
    pub fn new(value: impl AsRef<str>) -> Result<Self, FieldError> {
        let value = value.as_ref();
        reject_line_breaks("id", value)?;
        if let Some(offset) = memchr::memchr(0, value.as_bytes()) {
            return Err(FieldError::Nul { field: "id", offset });
        }
        Ok(Self(Substr::from(value)))
    }

    /// The decoder's constructor for an `id:` field value, which comes from one line (so it
    /// holds no CR or LF) and which the decoder has checked for NUL: this skips the scans of
    /// [`EventId::new`]. The value is already shared text (usually a part of the decoder's
    /// input), so nothing is copied.
    pub(crate) fn from_line_value(value: SharedStr) -> Self {
        debug_assert!(memchr::memchr3(b'\r', b'\n', 0, value.as_bytes()).is_none());
        Self(value.into_part())
    }

    /// The empty id, which on the wire tells a client to forget its last event id.
    ///
    /// ```
    /// assert!(tidings_codec::EventId::empty().is_empty());
    /// ```
    #[must_use]
    pub fn empty() -> Self {
        Self(Substr::new())
    }

    /// The id's shared text.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> SharedStr {
        SharedStr::from_part(self.0.clone())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the empty id, which resets the client's last event id.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A comment line (`: text`): any text without CR or LF. Clients ignore comments; servers use
/// them as keep-alives.
///
/// ```
/// use tidings_codec::Comment;
///
/// assert_eq!(Comment::new("keep-alive")?.as_str(), "keep-alive");
/// assert!(Comment::new("a\nb").is_err());
/// # Ok::<(), tidings_codec::FieldError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Comment(Box<str>);

impl Comment {
    /// Checks that `value` has no CR or LF and wraps it.
    ///
    /// # Errors
    /// [`FieldError::LineBreak`] when the value contains CR or LF.
    pub fn new(value: impl AsRef<str>) -> Result<Self, FieldError> {
        let value = value.as_ref();
        reject_line_breaks("comment", value)?;
        Ok(Self(Box::from(value)))
    }

    /// The comment text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A field the SSE specification does not define (`topic: books/1`), written after `id` and
/// before `data`.
///
/// Browsers and every spec-following client ignore unknown fields ("Otherwise: The field is
/// ignored"), so an extension field adds metadata for clients that read it (this crate's
/// `Decoder` with `DecoderConfig::keep_unknown_fields`) without changing what the others see.
///
/// ```
/// use tidings_codec::{Decoder, DecoderConfig, Event, ExtensionField, Item};
///
/// let topic = ExtensionField::new("topic", "books/1")?;
/// let frame = Event::new("x").with_extension(topic).encode();
/// assert_eq!(&frame[..], b"topic:books/1\ndata: x\n\n");
///
/// let mut decoder = Decoder::with_config(DecoderConfig::default().keep_unknown_fields(true));
/// decoder.push(&frame);
/// let Some(Item::Event(event)) = decoder.next_item()? else { panic!("no event") };
/// assert_eq!(event.unknown_fields, [("topic".to_owned(), "books/1".to_owned())]);
/// assert!(ExtensionField::new("id", "7").is_err(), "spec field names are refused");
/// assert!(ExtensionField::new("a:b", "7").is_err());
/// assert!(ExtensionField::new("topic", "a\nb").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtensionField {
    name: Box<str>,
    value: Box<str>,
}

impl ExtensionField {
    /// Checks the name (non-empty, no `:`, CR or LF, not `data`, `event`, `id` or `retry`) and
    /// the value (no CR or LF), and wraps them.
    ///
    /// # Errors
    /// [`FieldError::InvalidName`] for a bad name, [`FieldError::LineBreak`] for a value with
    /// CR or LF.
    pub fn new(name: impl AsRef<str>, value: impl AsRef<str>) -> Result<Self, FieldError> {
        let (name, value) = (name.as_ref(), value.as_ref());
        let reserved = matches!(name, "data" | "event" | "id" | "retry");
        if name.is_empty() || reserved || name.bytes().any(|b| matches!(b, b':' | b'\r' | b'\n')) {
            return Err(FieldError::InvalidName);
        }
        reject_line_breaks("extension", value)?;
        Ok(Self { name: Box::from(name), value: Box::from(value) })
    }

    /// The field name.
    ///
    /// ```
    /// assert_eq!(tidings_codec::ExtensionField::new("topic", "t")?.name(), "topic");
    /// # Ok::<(), tidings_codec::FieldError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field value.
    ///
    /// ```
    /// assert_eq!(tidings_codec::ExtensionField::new("topic", "t")?.value(), "t");
    /// # Ok::<(), tidings_codec::FieldError>(())
    /// ```
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

macro_rules! text_traits {
    ($($ty:ident),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = FieldError;
            fn try_from(value: &str) -> Result<Self, FieldError> {
                Self::new(value)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = FieldError;
            fn try_from(value: String) -> Result<Self, FieldError> {
                Self::new(value)
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    )*};
}
text_traits!(EventType, EventId, Comment);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_rejects_cr_and_lf() {
        assert_eq!(
            EventType::new("a\rb"),
            Err(FieldError::LineBreak { field: "event", offset: 1 })
        );
        assert!(EventType::new("ab\n").is_err());
        assert!(EventType::new("a\u{0}b").is_ok(), "NUL is allowed in a type");
    }

    #[test]
    fn event_id_rejects_cr_lf_and_nul() {
        assert!(EventId::new("\r").is_err());
        assert!(EventId::new("x\n").is_err());
        assert_eq!(EventId::new("ab\0"), Err(FieldError::Nul { field: "id", offset: 2 }));
        assert_eq!(EventId::new("é-1").map(|id| id.to_string()), Ok("é-1".to_owned()));
    }

    #[test]
    fn comment_rejects_line_breaks() {
        assert!(Comment::new("ok: fine").is_ok());
        assert!(Comment::new("no\r\n").is_err());
    }
}
