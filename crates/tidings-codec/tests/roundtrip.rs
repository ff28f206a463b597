//! Property tests: `decode(encode(e)) == e` for arbitrary events, for every way of cutting the
//! encoded bytes into two chunks and for random multi-way cuts.
//!
//! "Equal" allows for what the wire cannot carry: line breaks in data come out as LF (CR, LF
//! and CRLF are all one line ending), an empty event type is the default type ("message", so
//! `kind` is `None`), retry hints are whole milliseconds, and comments and retry hints arrive
//! as their own items before the event they were written with.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::{Decoded, decode_chunks, decode_chunks_with, split_at};
use proptest::prelude::*;
use proptest::sample::Index;
use tidings_codec::{
    Comment, DecodeError, DecoderConfig, Event, EventId, EventType, Item, MessageEvent,
};

/// What an event is made of, before validation, so the expected decoding can be computed.
#[derive(Clone, Debug)]
struct Spec {
    data: Option<String>,
    kind: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    comments: Vec<String>,
}

impl Spec {
    fn event(&self) -> Event {
        let mut event = Event::default();
        if let Some(data) = &self.data {
            event = event.with_data(data.clone());
        }
        if let Some(kind) = &self.kind {
            event = event.with_type(EventType::new(kind).expect("strategy makes valid types"));
        }
        if let Some(id) = &self.id {
            event = event.with_id(EventId::new(id).expect("strategy makes valid ids"));
        }
        if let Some(retry) = self.retry {
            event = event.with_retry(retry);
        }
        for comment in &self.comments {
            event =
                event.with_comment(Comment::new(comment).expect("strategy makes valid comments"));
        }
        event
    }
}

/// CRLF, lone CR and lone LF each become one LF.
fn normalise_line_breaks(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// The items a spec-following decoder must produce for `specs` encoded back to back, and the
/// last event id at the end.
fn expected(specs: &[Spec]) -> (Vec<Result<Item, DecodeError>>, String) {
    let mut items = Vec::new();
    let mut last_event_id = String::new();
    for spec in specs {
        items.extend(spec.comments.iter().map(|c| Ok(Item::Comment(c.clone()))));
        if let Some(retry) = spec.retry {
            // Written in whole milliseconds, saturating at u64::MAX.
            let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
            items.push(Ok(Item::Retry(Duration::from_millis(millis))));
        }
        // Every frame ends with a blank line, so its id always reaches a dispatch.
        if let Some(id) = &spec.id {
            last_event_id.clone_from(id);
        }
        if let Some(data) = &spec.data {
            items.push(Ok(Item::Event(MessageEvent {
                kind: spec
                    .kind
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .map(|k| EventType::new(k).expect("valid type")),
                data: normalise_line_breaks(data).into(),
                last_event_id: EventId::new(&last_event_id).expect("valid id"),
                unknown_fields: Vec::new(),
            })));
        }
    }
    (items, last_event_id)
}

/// The stream of `specs` through `Event::encode_into`, checked frame by frame against
/// `Event::encode` (which sizes its frame exactly in advance; `encode_into` grows the buffer
/// as it writes), so both encoders are held to the round trip.
fn encode_all(specs: &[Spec]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for spec in specs {
        let event = spec.event();
        let before = out.len();
        event.encode_into(&mut out);
        assert_eq!(out[before..], event.encode()[..], "encode_into and encode differ");
    }
    out.to_vec()
}

/// Text pieces that stress the format: every line break, NUL, spaces and colons, a BOM,
/// non-ASCII of every UTF-8 length, and arbitrary characters.
fn piece(line_breaks: bool, nul: bool) -> BoxedStrategy<String> {
    let mut pieces = vec![
        (4, "[a-z]{1,4}".boxed()),
        (1, Just(" ".to_owned()).boxed()),
        (1, Just(":".to_owned()).boxed()),
        (1, Just("\t".to_owned()).boxed()),
        (1, Just("\u{FEFF}".to_owned()).boxed()),
        (
            1,
            prop::sample::select(vec!["é", "€", "😀", "\u{FFFD}", "ид"])
                .prop_map(str::to_owned)
                .boxed(),
        ),
        (
            2,
            any::<char>()
                .prop_filter("no line breaks or NUL here", |c| !matches!(c, '\r' | '\n' | '\0'))
                .prop_map(String::from)
                .boxed(),
        ),
    ];
    if line_breaks {
        for text in ["\r\n", "\r", "\n"] {
            pieces.push((2, Just(text.to_owned()).boxed()));
        }
    }
    if nul {
        pieces.push((1, Just("\0".to_owned()).boxed()));
    }
    prop::strategy::Union::new_weighted(pieces).boxed()
}

fn text(line_breaks: bool, nul: bool, max_pieces: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(piece(line_breaks, nul), 0..max_pieces).prop_map(|p| p.concat())
}

fn retry() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0u64..100_000).prop_map(Duration::from_millis),
        // Sub-millisecond parts are dropped by the encoder.
        2 => (any::<u64>(), 0u32..1_000_000)
            .prop_map(|(ms, ns)| Duration::from_millis(ms) + Duration::from_nanos(ns.into())),
        1 => Just(Duration::MAX),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::option::weighted(0.85, text(true, true, 12)),
        prop::option::of(text(false, true, 4)),
        prop::option::of(text(false, false, 4)),
        prop::option::weighted(0.2, retry()),
        prop::collection::vec(text(false, true, 4), 0..3),
    )
        .prop_map(|(data, kind, id, retry, comments)| Spec { data, kind, id, retry, comments })
}

/// Byte offsets in `0..=len`, ascending, from proptest indices.
fn cuts(indices: &[Index], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = indices.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn check(decoded: &Decoded, items: &[Result<Item, DecodeError>], last_id: &str, how: &str) {
    assert_eq!(decoded.items, items, "{how}");
    assert_eq!(decoded.last_event_id, last_id, "{how}");
    assert!(!decoded.discarded_at_end, "{how}: a frame ends with a blank line");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn one_event_round_trips_at_every_two_way_split(spec in spec()) {
        let stream = encode_all(std::slice::from_ref(&spec));
        let (items, last_id) = expected(std::slice::from_ref(&spec));
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            check(&decode_chunks([a, b]), &items, &last_id, &format!("cut at {cut}"));
        }
    }

    #[test]
    fn event_sequences_round_trip_at_every_two_way_split(
        specs in prop::collection::vec(spec(), 1..5),
    ) {
        let stream = encode_all(&specs);
        let (items, last_id) = expected(&specs);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            check(&decode_chunks([a, b]), &items, &last_id, &format!("cut at {cut}"));
        }
        // Keeping unknown fields changes nothing: the encoder writes none.
        let config = DecoderConfig::default().keep_unknown_fields(true);
        check(&decode_chunks_with(config, [&stream[..]]), &items, &last_id, "keep unknown");
    }

    #[test]
    fn event_sequences_round_trip_at_random_multi_way_splits(
        specs in prop::collection::vec(spec(), 1..6),
        indices in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let stream = encode_all(&specs);
        let (items, last_id) = expected(&specs);
        let cuts = cuts(&indices, stream.len());
        let decoded = decode_chunks(split_at(&stream, &cuts));
        check(&decoded, &items, &last_id, &format!("cuts at {cuts:?}"));
        let decoded = decode_chunks(stream.chunks(1));
        check(&decoded, &items, &last_id, "1-byte chunks");
    }
}

/// Pinned cases the strategies reach only by chance.
#[test]
fn round_trip_pinned_cases() {
    let specs = [
        Spec {
            data: Some("\r\r\n\n\r".to_owned()),
            kind: Some(String::new()),
            id: Some(" ".to_owned()),
            retry: Some(Duration::MAX),
            comments: vec![String::new(), " ".to_owned(), ":".to_owned()],
        },
        Spec {
            data: Some("\0\u{FEFF} x\u{10FFFF}".to_owned()),
            kind: Some("\0".to_owned()),
            id: None,
            retry: Some(Duration::from_nanos(999_999)),
            comments: Vec::new(),
        },
        Spec {
            data: None,
            kind: Some("t".to_owned()),
            id: Some(String::new()),
            retry: None,
            comments: Vec::new(),
        },
        Spec { data: Some(String::new()), kind: None, id: None, retry: None, comments: Vec::new() },
    ];
    let stream = encode_all(&specs);
    let (items, last_id) = expected(&specs);
    // 3 comments, retry, event; retry, event; nothing; event.
    assert_eq!(items.len(), 8, "{items:?}");
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        check(&decode_chunks([a, b]), &items, &last_id, &format!("cut at {cut}"));
    }
}
