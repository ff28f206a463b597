//! Helpers shared by the codec's integration tests: feed chunks, collect every item.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use bytes::Bytes;
use tidings_codec::{DecodeError, Decoder, DecoderConfig, Item, ItemRef, MessageEvent};

/// What a decoder produced for a whole stream: every item and error in order, whether
/// `finish` discarded anything, and the last event id at the end.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub items: Vec<Result<Item, DecodeError>>,
    pub discarded_at_end: bool,
    pub last_event_id: String,
}

impl Decoded {
    /// The dispatched events, panicking on a decode error (tests that expect errors look at
    /// `items` directly).
    pub fn events(&self) -> Vec<MessageEvent> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Ok(Item::Event(event)) => Some(event.clone()),
                Ok(_) => None,
                Err(err) => panic!("unexpected decode error {err:?}"),
            })
            .collect()
    }

    /// The data of every dispatched event.
    pub fn data(&self) -> Vec<String> {
        self.events().into_iter().map(|event| event.data.into()).collect()
    }
}

/// Pulls every item the decoder can produce from what it has buffered.
pub fn drain(decoder: &mut Decoder, into: &mut Vec<Result<Item, DecodeError>>) {
    drain_with(decoder, Pull::Owned, into, &mut Vec::new());
}

/// How items are pulled out of the decoder.
#[derive(Clone, Copy, Debug)]
pub enum Pull {
    /// `next_item`.
    Owned,
    /// `next_item_ref`, each item made owned with `into_owned` to compare it.
    Borrowed,
    /// `next_item` and `next_item_ref` by turns, so each sees the state the other left.
    Alternating,
}

/// Pulls every item, recording the last event id after every call in `ids`.
fn drain_with(
    decoder: &mut Decoder,
    pull: Pull,
    into: &mut Vec<Result<Item, DecodeError>>,
    ids: &mut Vec<String>,
) {
    loop {
        let borrowed = match pull {
            Pull::Owned => false,
            Pull::Borrowed => true,
            Pull::Alternating => ids.len() % 2 == 1,
        };
        let result = if borrowed {
            decoder.next_item_ref().map(|item| item.map(ItemRef::into_owned))
        } else {
            decoder.next_item()
        };
        ids.push(decoder.last_event_id().to_string());
        match result {
            Ok(Some(item)) => into.push(Ok(item)),
            Ok(None) => return,
            Err(err) => into.push(Err(err)),
        }
    }
}

/// Feeds each chunk with `push` (or `push_bytes`), drains after each, as a network client
/// would, then ends the stream; `ids` gets the last event id after every call.
fn run<'a>(
    config: &DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    owned_chunks: bool,
    pull: Pull,
    ids: &mut Vec<String>,
) -> Decoded {
    let mut decoder = Decoder::with_config(config.clone());
    let mut items = Vec::new();
    for chunk in chunks {
        if owned_chunks {
            decoder.push_bytes(Bytes::copy_from_slice(chunk));
        } else {
            decoder.push(chunk);
        }
        drain_with(&mut decoder, pull, &mut items, ids);
    }
    let discarded_at_end = decoder.finish();
    Decoded { items, discarded_at_end, last_event_id: decoder.last_event_id().to_string() }
}

/// Decodes with `next_item`, and checks that `next_item_ref`, and both by turns, produce
/// exactly the same items and last event ids at every step.
fn decode_every_way<'a>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    owned_chunks: bool,
) -> Decoded {
    let chunks: Vec<&[u8]> = chunks.into_iter().collect();
    let mut ids = Vec::new();
    let owned = run(&config, chunks.iter().copied(), owned_chunks, Pull::Owned, &mut ids);
    for pull in [Pull::Borrowed, Pull::Alternating] {
        let mut other_ids = Vec::new();
        let other = run(&config, chunks.iter().copied(), owned_chunks, pull, &mut other_ids);
        assert_eq!(other, owned, "{pull:?} differs from Owned");
        assert_eq!(other_ids, ids, "{pull:?}: last event ids differ from Owned");
    }
    owned
}

/// Feeds `chunks` one at a time (draining after each, as a network client would), then ends
/// the stream. Every stream is also decoded with `next_item_ref` (see [`decode_every_way`]).
pub fn decode_chunks_with<'a>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    decode_every_way(config, chunks, false)
}

/// [`decode_chunks_with`], but each chunk is handed over with `push_bytes` (kept whole when
/// it is large enough, its events sliced out of it) instead of copied with `push`.
pub fn decode_owned_chunks_with<'a>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    decode_every_way(config, chunks, true)
}

/// [`decode_chunks_with`] and the default configuration.
pub fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    decode_chunks_with(DecoderConfig::default(), chunks)
}

/// The whole stream in one chunk.
pub fn decode(stream: &[u8]) -> Decoded {
    decode_chunks([stream])
}

/// The stream in chunks of `size` bytes (the last one shorter).
pub fn decode_in_chunks_of(stream: &[u8], size: usize) -> Decoded {
    decode_chunks(stream.chunks(size))
}

/// The stream cut at each of `cuts` (byte offsets, ascending, each at most `stream.len()`).
pub fn split_at<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        chunks.push(&stream[start..cut]);
        start = cut;
    }
    chunks.push(&stream[start..]);
    chunks
}
