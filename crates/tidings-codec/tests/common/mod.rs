//! Helpers shared by the codec's integration tests: feed chunks, collect every item.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use bytes::Bytes;
use tidings_codec::{DecodeError, Decoder, DecoderConfig, Item, MessageEvent};

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
    loop {
        match decoder.next_item() {
            Ok(Some(item)) => into.push(Ok(item)),
            Ok(None) => return,
            Err(err) => into.push(Err(err)),
        }
    }
}

/// Feeds `chunks` one at a time (draining after each, as a network client would), then ends
/// the stream.
pub fn decode_chunks_with<'a>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    let mut decoder = Decoder::with_config(config);
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        drain(&mut decoder, &mut items);
    }
    let discarded_at_end = decoder.finish();
    Decoded { items, discarded_at_end, last_event_id: decoder.last_event_id().to_string() }
}

/// [`decode_chunks_with`], but each chunk is handed over with `push_bytes` (kept whole when
/// it is large enough, its events sliced out of it) instead of copied with `push`.
pub fn decode_owned_chunks_with<'a>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    let mut decoder = Decoder::with_config(config);
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push_bytes(Bytes::copy_from_slice(chunk));
        drain(&mut decoder, &mut items);
    }
    let discarded_at_end = decoder.finish();
    Decoded { items, discarded_at_end, last_event_id: decoder.last_event_id().to_string() }
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
