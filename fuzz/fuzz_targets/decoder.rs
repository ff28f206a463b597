//! Fuzz target for `tidings_codec::Decoder`: arbitrary bytes, arbitrary chunking.
//!
//! Input layout: `[limit, flags, cut count, cut sizes..., stream...]`.
//! - `limit` sets a small `max_event_size` (0..=255, or ×64 when flag bit 0 is set), so the
//!   size limit and its recovery path are exercised constantly;
//! - flag bit 1 turns on `keep_unknown_fields`;
//! - the cut sizes (up to 15 bytes, each 0..=255) are chunk lengths, used in turn until the
//!   stream is consumed, so empty chunks, 1-byte chunks and long ones all occur.
//!
//! It checks that the decoder never panics, that after each drain it holds at most
//! `max_event_size` bytes (plus the 2 bytes of a possible BOM prefix at stream start), that no
//! event is larger than the limit, and that the chunked run produces exactly what one push of
//! the whole stream produces: items, errors, end-of-stream state and last event id. Each
//! chunked run is made twice, pulling with `next_item` and with `next_item_ref` (the borrowed
//! items made owned), which must agree item for item.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_codec::{DecodeError, Decoder, DecoderConfig, Item, ItemRef};

/// Everything observable about decoding one stream.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    items: Vec<Result<Item, DecodeError>>,
    discarded_at_end: bool,
    last_event_id: String,
}

/// A byte-order-mark prefix (at most 2 bytes) may wait at stream start whatever the limit.
const BOM_PREFIX: usize = 2;

fn run<'a>(
    config: &DecoderConfig,
    limit: usize,
    chunks: impl Iterator<Item = &'a [u8]>,
    borrowed: bool,
) -> Outcome {
    let mut decoder = Decoder::with_config(config.clone());
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            let next = if borrowed {
                decoder.next_item_ref().map(|item| item.map(ItemRef::into_owned))
            } else {
                decoder.next_item()
            };
            match next {
                Ok(Some(item)) => {
                    if let Item::Event(event) = &item {
                        let size = event.data.len()
                            + event.kind.as_ref().map_or(0, |kind| kind.as_str().len())
                            + event
                                .unknown_fields
                                .iter()
                                .map(|(k, v)| k.len() + v.len())
                                .sum::<usize>();
                        assert!(size <= limit, "event of {size} bytes passed a limit of {limit}");
                    }
                    items.push(Ok(item));
                }
                Ok(None) => break,
                Err(err) => items.push(Err(err)),
            }
        }
        let held = decoder.buffered_len();
        assert!(held <= limit.max(BOM_PREFIX), "decoder holds {held} bytes, limit {limit}");
    }
    let discarded_at_end = decoder.finish();
    assert_eq!(decoder.buffered_len(), 0, "finish leaves nothing buffered");
    Outcome { items, discarded_at_end, last_event_id: decoder.last_event_id().to_string() }
}

/// Chunk lengths taken from `sizes` in turn until `stream` is used up.
fn chunks<'a>(stream: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = stream;
    let mut next = sizes.iter().cycle();
    let mut empty_in_a_row = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = usize::from(*next.next()?).min(rest.len());
        // All-zero sizes would never finish; after a full round of empty chunks, take the rest.
        empty_in_a_row = if size == 0 { empty_in_a_row + 1 } else { 0 };
        let size = if empty_in_a_row > sizes.len() { rest.len() } else { size };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&[limit, flags, cut_count], rest)) = input.split_first_chunk::<3>() else {
        return;
    };
    let cut_count = usize::from(cut_count % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(cut_count);
    let limit = if flags & 1 == 1 { usize::from(limit) * 64 } else { usize::from(limit) };
    let config = DecoderConfig::default().max_event_size(limit).keep_unknown_fields(flags & 2 == 2);

    let whole = run(&config, limit, std::iter::once(stream), false);
    let lent = run(&config, limit, std::iter::once(stream), true);
    assert_eq!(lent, whole, "next_item_ref");
    if !sizes.is_empty() {
        let chunked = run(&config, limit, chunks(stream, sizes), false);
        assert_eq!(chunked, whole, "chunk sizes {sizes:?}");
        let lent = run(&config, limit, chunks(stream, sizes), true);
        assert_eq!(lent, whole, "next_item_ref, chunk sizes {sizes:?}");
    }
});
