//! Spec-exact Server-Sent Events wire codec.
//!
//! `tidings-codec` turns events into the `text/event-stream` wire format and back, following
//! the WHATWG HTML standard, section "Server-sent events", to the letter. It does no I/O and
//! needs no runtime: it is driven by method calls and tested deterministically.
//!
//! - [`Event`] is a by-value builder; [`Event::encode`] produces one [`bytes::Bytes`] frame
//!   that a hub shares with every subscriber by reference count.
//! - [`EventType`], [`EventId`] and [`Comment`] are validated field values: they cannot hold
//!   the line breaks (or, for ids, the NUL) that would corrupt the stream.
//! - [`Decoder`] is incremental: push chunks split anywhere, pull [`Item`]s (events, comments,
//!   retry hints), with a bounded event size. It checks each chunk's UTF-8 once and parses
//!   events in place: decoded data and ids are [`SharedStr`]s, parts of one shared copy of
//!   the chunk's text.
//! - [`Decoder::next_item_ref`] is the borrowed form of [`Decoder::next_item`]: it lends an
//!   [`ItemRef`] whose text is read where the decoder holds it, with no allocation or
//!   reference count per event, for consumers that only look at each event (a filter, a proxy,
//!   a load generator). Same parser, same results; [`ItemRef::into_owned`] keeps one.
//! - [`Event::encode_into`] appends frames to a caller's buffer, for a writer that sends
//!   many frames on one connection without one allocation per frame.
//! - With the `serde` feature, `Event::json` and `MessageEvent::json` carry JSON data.
//!
//! What it is not: a client (reconnection lives in `tidings-client`) or a server.
//!
//! ```
//! use tidings_codec::{Decoder, Event, EventId, Item, ItemRef};
//!
//! let frame = Event::new("hello\nworld").with_id(EventId::new("1")?).encode();
//!
//! let mut decoder = Decoder::new();
//! decoder.push(&frame);
//! let Some(Item::Event(event)) = decoder.next_item()? else { panic!("no event") };
//! assert_eq!(event.data, "hello\nworld");
//! assert_eq!(event.last_event_id.as_str(), "1");
//!
//! // The same stream, lent instead of owned.
//! decoder.push(&frame);
//! let Some(ItemRef::Event(event)) = decoder.next_item_ref()? else { panic!("no event") };
//! assert_eq!((event.data, event.last_event_id), ("hello\nworld", "1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decoder;
mod event;
mod field;
#[cfg(feature = "serde")]
mod json;
mod shared;

pub use decoder::{
    DEFAULT_MAX_EVENT_SIZE, DecodeError, Decoder, DecoderConfig, EventRef, Item, ItemRef, Items,
    MessageEvent,
};
pub use event::{Event, KEEP_ALIVE};
pub use field::{Comment, EventId, EventType, ExtensionField, FieldError};
pub use shared::SharedStr;

/// The README's example is compiled and run as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
