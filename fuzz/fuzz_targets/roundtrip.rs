//! Fuzz target for the encoder and decoder together: arbitrary events (any text; invalid
//! types, ids and comments are rejected by their constructors and left out) are encoded back
//! to back, cut into chunks of fuzzer-chosen sizes and decoded. The decoded items must be
//! exactly the events' comments, retry hints and events, with line breaks in data normalised to
//! LF, an empty event type read as "message", and retry hints in whole milliseconds.

#![no_main]

use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;
use tidings_codec::{Comment, Decoder, Event, EventId, EventType, Item, MessageEvent};

/// Builds the events and the items a decoder must produce for them, in stream order.
fn events_and_expected(u: &mut Unstructured<'_>) -> arbitrary::Result<(Vec<Event>, Vec<Item>)> {
    let mut events = Vec::new();
    let mut expected = Vec::new();
    let mut last_event_id = EventId::empty();
    for _ in 0..u.int_in_range(1..=4)? {
        let mut event = Event::default();
        for _ in 0..u.int_in_range(0..=2)? {
            // A rejected comment must be rejected for a line break, and nothing is written.
            match Comment::new(u.arbitrary::<&str>()?) {
                Ok(comment) => {
                    expected.push(Item::Comment(comment.as_str().to_owned()));
                    event = event.with_comment(comment);
                }
                Err(err) => assert!(matches!(err, tidings_codec::FieldError::LineBreak { .. })),
            }
        }
        if u.arbitrary()? {
            let retry = Duration::new(u.arbitrary()?, u.int_in_range(0..=999_999_999)?);
            let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
            expected.push(Item::Retry(Duration::from_millis(millis)));
            event = event.with_retry(retry);
        }
        let kind = match u.arbitrary::<Option<&str>>()? {
            Some(text) => EventType::new(text).ok(),
            None => None,
        };
        if let Some(kind) = &kind {
            event = event.with_type(kind.clone());
        }
        if let Some(text) = u.arbitrary::<Option<&str>>()? {
            if let Ok(id) = EventId::new(text) {
                last_event_id = id.clone();
                event = event.with_id(id);
            }
        }
        if let Some(data) = u.arbitrary::<Option<String>>()? {
            expected.push(Item::Event(MessageEvent {
                kind: kind.filter(|kind| !kind.as_str().is_empty()),
                data: data.replace("\r\n", "\n").replace('\r', "\n").into(),
                last_event_id: last_event_id.clone(),
                unknown_fields: Vec::new(),
            }));
            event = event.with_data(data);
        }
        events.push(event);
    }
    Ok((events, expected))
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let Ok((events, expected)) = events_and_expected(&mut u) else { return };
    let sizes: Vec<u8> = u.arbitrary().unwrap_or_default();

    let mut stream = BytesMut::new();
    for event in &events {
        event.encode_into(&mut stream);
    }
    // Separately encoded frames are the same bytes.
    let concatenated: Vec<u8> = events.iter().flat_map(Event::encode).collect();
    assert_eq!(stream[..], concatenated[..]);

    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut rest = &stream[..];
    let mut next_size = sizes.iter().map(|&size| usize::from(size).max(1)).cycle();
    while !rest.is_empty() {
        let size = next_size.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        decoder.push(chunk);
        while let Some(item) = decoder.next_item().transpose() {
            items.push(item.expect("encoded events stay within the default 1 MiB limit"));
        }
    }
    assert_eq!(items, expected);
    assert!(!decoder.finish(), "every frame ends with a blank line");
});
