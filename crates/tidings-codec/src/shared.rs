//! [`SharedStr`]: immutable UTF-8 text that clones without copying.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, Range};
use std::sync::Arc;

use arcstr::{ArcStr, Substr};
use bytes::Bytes;

/// Immutable, validated UTF-8 text whose clones share one buffer.
///
/// A `SharedStr` is a part of a reference-counted string, or a whole reference-counted
/// `String`: cloning it is a reference-count increment. The [`Decoder`](crate::Decoder) hands out the data and id
/// of an event as parts of the text of the chunk they arrived in, so decoding them allocates
/// nothing per event. Such a part keeps that whole chunk alive; convert it to a [`String`] to
/// keep the text for long without the chunk.
///
/// It derefs to [`str`] and compares with `str`, `&str` and `String`.
///
/// ```
/// use tidings_codec::SharedStr;
///
/// let text = SharedStr::from("hello");
/// assert_eq!(text, "hello");
/// assert!(text.starts_with("he"));
/// let owned: String = text.clone().into();
/// assert_eq!(owned, text.as_str());
/// ```
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    /// A part of a reference-counted string (16 bytes: the string and two `u32` offsets).
    Part(Substr),
    /// A `String` adopted as it is, without copying its text: large decoded data.
    Owned(Arc<String>),
}

impl Default for SharedStr {
    fn default() -> Self {
        Self(Repr::Part(Substr::new()))
    }
}

impl SharedStr {
    /// Decodes `bytes` as UTF-8 the way the SSE standard does, with each invalid sequence
    /// replaced by U+FFFD, and copies the text into a shared buffer.
    ///
    /// ```
    /// use tidings_codec::SharedStr;
    ///
    /// assert_eq!(SharedStr::from_utf8_lossy(b"caf\xC3\xA9"), "café");
    /// assert_eq!(SharedStr::from_utf8_lossy(b"caf\xC3"), "caf\u{FFFD}");
    /// ```
    #[must_use]
    pub fn from_utf8_lossy(bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        match Self::from_utf8(bytes) {
            Some(text) => text,
            None => Self::from(String::from_utf8_lossy(bytes)),
        }
    }

    /// `bytes` copied into a new shared buffer when they are valid UTF-8 (checked with a
    /// vectorised validator, `simdutf8`, several times faster than the standard library's on
    /// text that is not all ASCII).
    pub(crate) fn from_utf8(bytes: &[u8]) -> Option<Self> {
        let text = simdutf8::basic::from_utf8(bytes).ok()?;
        Some(Self::from(text))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Part(part) => part.as_str(),
            Repr::Owned(owned) => owned.as_str(),
        }
    }

    /// The UTF-8 bytes as [`Bytes`] that share this text's buffer (no copy of the text).
    ///
    /// ```
    /// let text = tidings_codec::SharedStr::from("é");
    /// assert_eq!(&text.into_bytes()[..], "é".as_bytes());
    /// ```
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Part(part) => Bytes::from_owner(part),
            Repr::Owned(owned) => match Arc::try_unwrap(owned) {
                Ok(owned) => Bytes::from(owned),
                Err(shared) => Bytes::from_owner(SharedString(shared)),
            },
        }
    }

    /// Wraps a part of a reference-counted string (crate-private: `arcstr` stays out of the
    /// public API).
    #[cfg(test)]
    pub(crate) fn from_part(part: Substr) -> Self {
        Self(Repr::Part(part))
    }

    /// The text as a part of a reference-counted string: free for text that is one already
    /// (everything the decoder slices out of a chunk), a copy for an adopted `String`. Ids and
    /// event types are stored this way, because `Option<Substr>` has a spare niche and stays
    /// two words, which keeps `Event` and `MessageEvent` small enough to move inline.
    pub(crate) fn into_part(self) -> Substr {
        match self.0 {
            Repr::Part(part) => part,
            Repr::Owned(owned) => Substr::from(owned.as_str()),
        }
    }

    /// Whether `self` and `other` are parts of one buffer.
    #[cfg(test)]
    pub(crate) fn shares_buffer_with(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Part(one), Repr::Part(other)) => ArcStr::ptr_eq(one.parent(), other.parent()),
            (Repr::Owned(one), Repr::Owned(other)) => Arc::ptr_eq(one, other),
            _ => false,
        }
    }

    /// `self[range]` as shared text (a reference-count increment), or `None` when `range` is
    /// out of bounds or not on character boundaries.
    pub(crate) fn slice(&self, range: Range<usize>) -> Option<Self> {
        let text = self.as_str().get(range.clone())?;
        Some(match &self.0 {
            Repr::Part(part) => Self(Repr::Part(part.substr(range))),
            Repr::Owned(_) => Self::from(text),
        })
    }
}

/// A shared `String` as the owner of [`Bytes`].
struct SharedString(Arc<String>);

impl AsRef<[u8]> for SharedString {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    /// Copies the text into a new shared buffer.
    fn from(text: &str) -> Self {
        Self(Repr::Part(Substr::full(ArcStr::from(text))))
    }
}

impl From<String> for SharedStr {
    /// Takes the `String` over without copying its text (one small allocation for the
    /// reference count).
    fn from(text: String) -> Self {
        Self(Repr::Owned(Arc::new(text)))
    }
}

impl From<Cow<'_, str>> for SharedStr {
    fn from(text: Cow<'_, str>) -> Self {
        match text {
            Cow::Borrowed(text) => Self::from(text),
            Cow::Owned(text) => Self::from(text),
        }
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        match text.0 {
            Repr::Owned(owned) => Arc::try_unwrap(owned).unwrap_or_else(|shared| (*shared).clone()),
            Repr::Part(part) => part.as_str().to_owned(),
        }
    }
}

impl From<SharedStr> for Bytes {
    fn from(text: SharedStr) -> Self {
        text.into_bytes()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Equality, order and hash are those of the text, so `SharedStr` can key a map looked up by
// `&str` (`Borrow<str>`).
impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SharedStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_text {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for SharedStr {
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<SharedStr> for $other {
            fn eq(&self, other: &SharedStr) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}
eq_text!(str, &str, String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_text_round_trip_through_every_conversion() {
        for text in ["", "x", &"é".repeat(15), &"long ".repeat(20)] {
            let shared = SharedStr::from(text);
            assert_eq!(shared, text);
            assert_eq!(SharedStr::from(text.to_owned()), text);
            assert_eq!(String::from(shared.clone()), text);
            assert_eq!(&shared.clone().into_bytes()[..], text.as_bytes());
            assert_eq!(SharedStr::from_utf8_lossy(text), text);
        }
    }

    #[test]
    fn slices_of_a_shared_buffer_read_the_right_text() {
        let whole = SharedStr::from_utf8(("id: 1\ndata: ".to_owned() + &"z".repeat(40)).as_bytes())
            .expect("valid");
        let data = whole.slice(12..52).expect("in bounds");
        assert_eq!(data, "z".repeat(40));
        assert!(whole.slice(12..53).is_none());
        let id = whole.slice(4..5).expect("in bounds");
        assert_eq!(id.slice(0..1).expect("in bounds"), "1");
        assert_eq!(&id.clone().into_bytes()[..], b"1");
        drop(whole);
        assert_eq!((id.as_str(), data.len()), ("1", 40));
    }

    #[test]
    fn a_shared_str_is_two_words() {
        assert_eq!(std::mem::size_of::<SharedStr>(), 16);
    }

    #[test]
    fn ids_and_types_are_two_words_even_when_optional() {
        use crate::{EventId, EventType};
        assert_eq!(std::mem::size_of::<Option<EventId>>(), 16);
        assert_eq!(std::mem::size_of::<Option<EventType>>(), 16);
    }

    #[test]
    fn invalid_utf8_is_refused_or_replaced() {
        assert!(SharedStr::from_utf8(b"a\xFFb").is_none());
        assert_eq!(SharedStr::from_utf8_lossy(b"a\xFFb"), "a\u{FFFD}b");
    }

    #[test]
    fn equal_text_is_equal_and_hashes_alike_whatever_the_storage() {
        use std::collections::HashSet;
        let long = "k".repeat(64);
        let set: HashSet<SharedStr> = [SharedStr::from(long.as_str())].into();
        let sliced = SharedStr::from_utf8(format!("--{long}").as_bytes()).expect("valid");
        assert!(set.contains(&sliced.slice(2..66).expect("in bounds")));
        let accented = SharedStr::from("é");
        assert!(accented.slice(0..1).is_none(), "not a character boundary");
        assert!(set.contains(long.as_str()));
    }
}
