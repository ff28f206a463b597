//! Property tests on arbitrary byte streams (not just ones our encoder writes):
//!
//! - the decoder agrees with a direct, slow transcription of the WHATWG parsing algorithm that
//!   decodes the whole stream to text first and then splits it into lines;
//! - the decoder's output, errors included, does not depend on how the stream is chunked, even
//!   with a small size limit.

mod common;

use std::time::Duration;

use common::{Decoded, decode_chunks_with, decode_owned_chunks_with, split_at};
use proptest::prelude::*;
use proptest::sample::Index;
use tidings_codec::{DecoderConfig, EventId, EventType, Item, MessageEvent};

/// WHATWG HTML § 9.2.5/9.2.6, transcribed as literally as possible: UTF-8 decode the whole
/// stream (one leading BOM stripped, errors replaced), split into lines at CRLF, LF or CR,
/// drop the last line if it has no line ending, then interpret line by line. Comments and
/// retry values are reported the way the codec reports them.
fn reference(stream: &[u8], keep_unknown_fields: bool) -> Decoded {
    let stream = stream.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(stream);
    let text = String::from_utf8_lossy(stream);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            '\n' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }
    // What follows the last line ending is an unfinished line: never processed.
    let pending_line = !line.is_empty();

    let mut items = Vec::new();
    let (mut data, mut event_type, mut unknown) = (String::new(), String::new(), Vec::new());
    let (mut id_buffer, mut last_event_id) = (String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            last_event_id.clone_from(&id_buffer);
            if data.is_empty() {
                event_type.clear();
                unknown.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let kind = (!event_type.is_empty()).then(|| EventType::new(&event_type));
            items.push(Ok(Item::Event(MessageEvent {
                kind: kind.map(|k| k.expect("a line holds no line break")),
                data: std::mem::take(&mut data).into(),
                last_event_id: EventId::new(&last_event_id).expect("no NUL or line break"),
                unknown_fields: std::mem::take(&mut unknown),
            })));
            event_type.clear();
            continue;
        }
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            items.push(Ok(Item::Comment(comment.to_owned())));
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => value.clone_into(&mut event_type),
            "id" if !value.contains('\0') => value.clone_into(&mut id_buffer),
            "id" => {}
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let millis = value.bytes().fold(0u64, |acc, digit| {
                    acc.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                });
                items.push(Ok(Item::Retry(Duration::from_millis(millis))));
            }
            "retry" => {}
            _ if keep_unknown_fields => unknown.push((name.to_owned(), value.to_owned())),
            _ => {}
        }
    }
    // End of stream: the incomplete event (and its id) is discarded.
    let discarded_at_end =
        pending_line || !data.is_empty() || !event_type.is_empty() || id_buffer != last_event_id;
    Decoded { items, discarded_at_end, last_event_id }
}

/// Byte pieces that make interesting SSE: field names (right and wrong case), separators,
/// every line ending, BOM and its fragments, invalid and multi-byte UTF-8, digits, NUL.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(vec![
            &b"data"[..], b"event", b"id", b"retry", b"foo", b"Data", b"data:", b"data: ",
        ]),
        4 => prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n", b"\n\n", b"\r\n\r\n"]),
        2 => prop::sample::select(vec![&b":"[..], b" ", b"  ", b"\t", b"\0", b"12", b"x", b"-1"]),
        1 => prop::sample::select(vec![
            &b"\xEF\xBB\xBF"[..], b"\xEF", b"\xBB", b"\xBF", b"\xFF", b"\xC3", b"\xC3\xA9",
            "😀".as_bytes(), b"\xF0\x9F", b"\xE2\x82\xAC",
        ]),
    ]
    .prop_map(<[u8]>::to_vec);
    let arbitrary_byte = any::<u8>().prop_map(|b| vec![b]);
    prop::collection::vec(prop_oneof![8 => piece, 1 => arbitrary_byte], 0..48)
        .prop_map(|pieces| pieces.concat())
}

fn cuts(indices: &[Index], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = indices.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn decoder_matches_the_spec_transcription(
        stream in stream(),
        indices in prop::collection::vec(any::<Index>(), 0..8),
        keep_unknown_fields in any::<bool>(),
    ) {
        let config = DecoderConfig::default().keep_unknown_fields(keep_unknown_fields);
        let expected = reference(&stream, keep_unknown_fields);
        let cuts = cuts(&indices, stream.len());
        let decoded = decode_chunks_with(config.clone(), split_at(&stream, &cuts));
        prop_assert_eq!(&decoded.items, &expected.items, "cuts at {:?}", cuts);
        prop_assert_eq!(&decoded.last_event_id, &expected.last_event_id);
        let owned = decode_owned_chunks_with(config.clone(), split_at(&stream, &cuts));
        prop_assert_eq!(&owned, &decoded, "push_bytes, cuts at {:?}", cuts);
        let whole = decode_chunks_with(config, [&stream[..]]);
        prop_assert_eq!(whole.discarded_at_end, expected.discarded_at_end);
    }

    #[test]
    fn decoding_with_a_size_limit_does_not_depend_on_chunking(
        stream in stream(),
        indices in prop::collection::vec(any::<Index>(), 0..8),
        limit in 0usize..40,
        keep_unknown_fields in any::<bool>(),
    ) {
        let config =
            DecoderConfig::default().max_event_size(limit).keep_unknown_fields(keep_unknown_fields);
        let whole = decode_chunks_with(config.clone(), [&stream[..]]);
        let cuts = cuts(&indices, stream.len());
        let split = decode_chunks_with(config.clone(), split_at(&stream, &cuts));
        prop_assert_eq!(&split, &whole, "cuts at {:?}", cuts);
        let owned = decode_owned_chunks_with(config.clone(), split_at(&stream, &cuts));
        prop_assert_eq!(&owned, &whole, "push_bytes, cuts at {:?}", cuts);
        let bytes = decode_chunks_with(config, stream.chunks(1));
        prop_assert_eq!(&bytes, &whole, "1-byte chunks");
    }
}
