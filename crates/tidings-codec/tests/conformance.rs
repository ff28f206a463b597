//! The classic SSE client-conformance cases: chunking, large events, multi-byte characters and
//! byte order marks split across chunks, and the three line endings.

mod common;

use std::time::Duration;

use common::{decode, decode_chunks, decode_chunks_with, decode_in_chunks_of, drain};
use tidings_codec::{DecodeError, Decoder, DecoderConfig, Item, MessageEvent};

const MIB: usize = 1024 * 1024;

fn event(kind: Option<&str>, data: &str, last_event_id: &str) -> Result<Item, DecodeError> {
    Ok(Item::Event(MessageEvent {
        kind: kind.map(|k| k.try_into().expect("valid event type")),
        data: data.into(),
        last_event_id: last_event_id.try_into().expect("valid id"),
        unknown_fields: Vec::new(),
    }))
}

#[test]
fn one_event_in_several_chunks() {
    let stream = b"event: greet\nid: 1\ndata: hello\ndata: world\n\n";
    let expected = [event(Some("greet"), "hello\nworld", "1")];
    for size in 1..stream.len() {
        assert_eq!(decode_in_chunks_of(stream, size).items, expected, "chunks of {size}");
    }
    // Field names, colons and line endings cut in the middle.
    let decoded = decode_chunks([&b"ev"[..], b"ent:", b" greet\ni", b"d: 1\nda", b"ta: hel"]);
    assert!(decoded.items.is_empty());
    let decoded = decode_chunks([
        &b"ev"[..],
        b"ent:",
        b" greet\ni",
        b"d: 1\nda",
        b"ta: hel",
        b"lo\ndata: world\n",
        b"\n",
    ]);
    assert_eq!(decoded.items, expected);
}

#[test]
fn several_events_in_one_chunk() {
    let decoded = decode(b"data: 1\n\n: ping\nid: a\ndata: 2\n\nevent: x\ndata: 3\n\nretry: 9\n");
    assert_eq!(
        decoded.items,
        [
            event(None, "1", ""),
            Ok(Item::Comment("ping".to_owned())),
            event(None, "2", "a"),
            event(Some("x"), "3", "a"),
            Ok(Item::Retry(Duration::from_millis(9))),
        ]
    );
    assert!(!decoded.discarded_at_end);
}

/// Empty chunks change nothing, wherever they come.
#[test]
fn empty_chunks_are_harmless() {
    let decoded =
        decode_chunks([&b""[..], b"", b"\xEF", b"", b"\xBB\xBFdata: x\r", b"", b"\n", b"", b"\n"]);
    assert_eq!(decoded.items, [event(None, "x", "")]);
}

fn five_mib_stream() -> (Vec<u8>, String) {
    // Varied content so a dropped or duplicated slice shows up in the comparison.
    let data: String = (0..5 * MIB).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut stream = b"id: big\ndata: ".to_vec();
    stream.extend_from_slice(data.as_bytes());
    stream.extend_from_slice(b"\n\ndata: after\n\n");
    (stream, data)
}

fn eight_mib() -> DecoderConfig {
    DecoderConfig::default().max_event_size(8 * MIB)
}

#[test]
fn five_mib_event_in_one_chunk() {
    let (stream, data) = five_mib_stream();
    let decoded = decode_chunks_with(eight_mib(), [&stream[..]]);
    assert_eq!(decoded.items, [event(None, &data, "big"), event(None, "after", "big")]);
}

#[test]
fn five_mib_event_in_two_chunks() {
    let (stream, data) = five_mib_stream();
    let expected = [event(None, &data, "big"), event(None, "after", "big")];
    for cut in [1, 10, stream.len() / 2, stream.len() - 17, stream.len() - 1] {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks_with(eight_mib(), [a, b]).items, expected, "cut at {cut}");
    }
}

/// With the default 1 MiB limit the same stream is an error, not 5 MiB of buffering, and the
/// following event still arrives (without the oversized event's id).
#[test]
fn five_mib_event_over_the_default_limit_is_an_error() {
    let (stream, _) = five_mib_stream();
    let (a, b) = stream.split_at(stream.len() / 2);
    for chunks in [vec![&stream[..]], vec![a, b]] {
        let decoded = decode_chunks(chunks);
        assert_eq!(
            decoded.items,
            [Err(DecodeError::EventTooLarge { limit: MIB }), event(None, "after", ""),]
        );
    }
}

#[test]
fn multibyte_characters_fed_one_byte_per_chunk() {
    let stream = "event: ünïcødé\nid: ид-€\ndata: é€😀\u{10FFFF}\ndata: 日本語\n\n: ☃\n";
    let decoded = decode_in_chunks_of(stream.as_bytes(), 1);
    assert_eq!(
        decoded.items,
        [
            event(Some("ünïcødé"), "é€😀\u{10FFFF}\n日本語", "ид-€"),
            Ok(Item::Comment("☃".to_owned())),
        ]
    );
}

/// Every split of every multi-byte character, in every field.
#[test]
fn multibyte_characters_split_at_every_byte_decode_whole() {
    let stream = "data: x😀y\n\n".as_bytes();
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks([a, b]).data(), ["x😀y"], "cut at {cut}");
    }
}

#[test]
fn bom_split_two_plus_one() {
    let decoded = decode_chunks([&b"\xEF\xBB"[..], b"\xBFdata: x\n\n"]);
    assert_eq!(decoded.items, [event(None, "x", "")]);
}

#[test]
fn bom_split_one_plus_one_plus_one() {
    let decoded = decode_chunks([&b"\xEF"[..], b"\xBB", b"\xBF", b"data: x\n\n"]);
    assert_eq!(decoded.items, [event(None, "x", "")]);
}

/// Only one BOM is stripped: the second is the first character of the field name.
#[test]
fn second_bom_kept() {
    let config = DecoderConfig::default().keep_unknown_fields(true);
    for chunks in [
        vec![&b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\ndata: y\n\n"[..]],
        vec![&b"\xEF\xBB"[..], b"\xBF\xEF", b"\xBB\xBFdata: x\ndata: y\n\n"],
    ] {
        let decoded = decode_chunks_with(config.clone(), chunks);
        let events = decoded.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "y");
        assert_eq!(events[0].unknown_fields, [("\u{FEFF}data".to_owned(), "x".to_owned())]);
    }
}

/// `data` / `data` → "\n": two empty data lines make one LF (the trailing LF is removed).
#[test]
fn two_empty_data_lines_give_one_lf() {
    assert_eq!(decode(b"data\ndata\n\n").data(), ["\n"]);
    assert_eq!(decode(b"data:\ndata:\n\n").data(), ["\n"]);
}

/// `data:  x` → " x": only the first space is removed.
#[test]
fn extra_leading_space_kept() {
    assert_eq!(decode(b"data:  x\n\n").data(), [" x"]);
}

/// The same stream written with LF, CR and CRLF line endings, fed whole, in 1-byte and in
/// 2-byte chunks, decodes identically. 2-byte chunks put CRLF pairs both inside one chunk and
/// across a boundary, depending on the line's parity.
#[test]
fn all_three_line_endings_with_one_and_two_byte_chunks() {
    let lines = [
        ": hello",
        "retry: 250",
        "event: a",
        "id: 1",
        "data: first",
        "data:",
        "data:  spaced",
        "",
        "data",
        "",
        "",
        "id: 2",
        "",
        "data: é",
        "",
        "data: cut off at end of stream",
    ];
    let expected = [
        Ok(Item::Comment("hello".to_owned())),
        Ok(Item::Retry(Duration::from_millis(250))),
        event(Some("a"), "first\n\n spaced", "1"),
        event(None, "", "1"),
        event(None, "é", "2"),
    ];
    for ending in ["\n", "\r", "\r\n"] {
        let stream = lines.join(ending);
        for size in [1, 2, stream.len()] {
            let decoded = decode_in_chunks_of(stream.as_bytes(), size);
            assert_eq!(decoded.items, expected, "ending {ending:?}, chunks of {size}");
            assert!(decoded.discarded_at_end, "the last line had no line ending");
            assert_eq!(decoded.last_event_id, "2");
        }
    }
}

/// Mixed line endings in one stream, including a CRLF cut between chunks.
#[test]
fn mixed_line_endings_in_one_stream() {
    let stream = b"data: a\rdata: b\ndata: c\r\n\ndata: d\r\r";
    assert_eq!(decode(stream).data(), ["a\nb\nc", "d"]);
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks([a, b]).data(), ["a\nb\nc", "d"], "cut at {cut}");
    }
}

/// A 1 MiB line fed one byte at a time. The decoder keeps a cursor into the part of the line
/// it has already scanned for CR/LF, so this is linear work; a decoder that rescanned the
/// partial line on every chunk would do about 5·10^11 byte comparisons here and never finish.
/// What is asserted is the behaviour along the way: nothing is produced early, the buffer holds
/// exactly the partial line, and the event comes out whole, followed by a CR/LF split across
/// chunks.
#[test]
fn long_line_in_one_byte_chunks_is_buffered_exactly_and_decoded_whole() {
    let mut decoder = Decoder::with_config(DecoderConfig::default().max_event_size(2 * MIB));
    let mut items = Vec::new();
    let prefix = b"data: ";
    let data: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    for (at, byte) in prefix.iter().chain(&data).enumerate() {
        decoder.push(std::slice::from_ref(byte));
        drain(&mut decoder, &mut items);
        assert!(items.is_empty(), "nothing before the line ends (byte {at})");
        assert_eq!(decoder.buffered_len(), at + 1);
    }
    for ending in [&b"\r"[..], b"\n", b"\r", b"\n"] {
        decoder.push(ending);
        drain(&mut decoder, &mut items);
    }
    assert_eq!(items.len(), 1);
    let Some(Ok(Item::Event(event))) = items.pop() else { panic!("expected an event") };
    assert_eq!(event.data.as_bytes(), data);
    assert_eq!(decoder.buffered_len(), 0);
    assert!(!decoder.finish());
}
