//! One test per rule of WHATWG HTML § 9.2.5 "Parsing an event stream" and § 9.2.6 "Interpreting
//! an event stream" (plus dispatch), and per codec promise from issue 2 (comments and retry
//! surfaced, size limit, unknown fields, encoder validation). Each test is named after the
//! rule it pins, so a missing rule is easy to spot.

mod common;

use std::time::Duration;

use common::{decode, decode_chunks, decode_chunks_with};
use tidings_codec::{
    Comment, DEFAULT_MAX_EVENT_SIZE, DecodeError, Decoder, DecoderConfig, Event, EventId,
    EventType, FieldError, Item, ItemRef, KEEP_ALIVE,
};

fn comment(text: &str) -> Result<Item, DecodeError> {
    Ok(Item::Comment(text.to_owned()))
}

fn retry(millis: u64) -> Result<Item, DecodeError> {
    Ok(Item::Retry(Duration::from_millis(millis)))
}

// ---------------------------------------------------------------------------------------------
// Decoding bytes into lines
// ---------------------------------------------------------------------------------------------

/// "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
#[test]
fn bom_is_stripped_once_at_stream_start() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: x\n\n").data(), ["x"]);
    // Only one: a second BOM is a character of the first line, whose field name is then
    // "\u{FEFF}data", an unknown field.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n").data(), Vec::<String>::new());
}

/// The BOM is stripped at the start of the stream only, not at the start of later lines.
#[test]
fn bom_after_stream_start_is_part_of_the_line() {
    let decoded = decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(decoded.data(), ["a"]);
}

/// A stream that does not start with a BOM loses nothing, even when its first bytes look like
/// the start of one and arrive alone: the decoder waits for the third byte, then keeps them.
#[test]
fn bytes_resembling_a_bom_prefix_are_kept() {
    let config = || DecoderConfig::default().keep_unknown_fields(true);
    let stream = b"\xEF\xBBx: 1\ndata: y\n\n";
    for chunks in [vec![&stream[..]], vec![&stream[..1], &stream[1..2], &stream[2..]]] {
        let event = decode_chunks_with(config(), chunks).events().remove(0);
        // "\xEF\xBB" is a truncated sequence: one replacement character in the field name.
        assert_eq!(event.unknown_fields, [("\u{FFFD}x".to_owned(), "1".to_owned())]);
        assert_eq!(event.data, "y");
    }
}

/// `finish` ends the stream; the next bytes are a new stream, which may start with a BOM again.
#[test]
fn bom_stripped_again_after_finish_starts_a_new_stream() {
    let mut decoder = Decoder::new();
    decoder.push(b"\xEF\xBB\xBFdata: 1\n\n");
    assert!(decoder.next_item().expect("decodes").is_some());
    assert!(!decoder.finish());
    decoder.push(b"\xEF\xBB\xBFdata: 2\n\n");
    let event = decoder.next_item().expect("decodes").and_then(Item::into_event);
    assert_eq!(event.map(|e| e.data), Some("2".into()));
}

/// Lines end at "a single U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE
/// RETURN (CR) character".
#[test]
fn lf_ends_a_line() {
    assert_eq!(decode(b"data: a\ndata: b\n\ndata: c\n\n").data(), ["a\nb", "c"]);
}

/// Lines end at "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair", which is one
/// line ending, not two (two would make a blank line and dispatch early).
#[test]
fn crlf_ends_a_line_once() {
    assert_eq!(decode(b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n").data(), ["a\nb", "c"]);
}

/// Lines end at "a single U+000D CARRIAGE RETURN (CR) character not followed by a U+000A LINE
/// FEED (LF) character".
#[test]
fn lone_cr_ends_a_line() {
    assert_eq!(decode(b"data: a\rdata: b\r\rdata: c\r\r").data(), ["a\nb", "c"]);
}

/// A CR as the last byte of a chunk may be the first half of a CRLF: the LF that starts the
/// next chunk belongs to the same line ending.
#[test]
fn cr_at_chunk_end_then_lf_is_one_line_ending() {
    let decoded = decode_chunks([&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(decoded.data(), ["a\nb"]);
    assert!(!decoded.discarded_at_end);
}

/// A CR at the end of a chunk is a line ending at once; the decoder does not wait for the next
/// chunk to dispatch (a stream may pause after a CR-terminated event).
#[test]
fn cr_at_chunk_end_dispatches_without_waiting_for_more_bytes() {
    let mut decoder = Decoder::new();
    decoder.push(b"data: a\r\r");
    let event = decoder.next_item().expect("decodes").and_then(Item::into_event);
    assert_eq!(event.map(|e| e.data), Some("a".into()));
}

/// LF then CR is two line endings (LF ends one line, CR ends the empty next one), as is CR CR.
#[test]
fn lf_cr_and_cr_cr_are_two_line_endings() {
    assert_eq!(decode(b"data: a\n\rdata: b\r\r").data(), ["a", "b"]);
    assert_eq!(decode_chunks([&b"data: a\r"[..], b"\r"]).data(), ["a"]);
}

// ---------------------------------------------------------------------------------------------
// Lines: comments, fields, values
// ---------------------------------------------------------------------------------------------

/// "If the line starts with a U+003A COLON character (:): Ignore the line." The codec reports
/// it (clients may want keep-alives) with one leading space removed, and it neither dispatches
/// nor interrupts the event around it.
#[test]
fn comments_reported_and_do_not_affect_the_event() {
    let decoded = decode(b": hello\ndata: a\n:\n:  two\n::x\ndata: b\n\n");
    assert_eq!(decoded.items[..4], [comment("hello"), comment(""), comment(" two"), comment(":x")]);
    assert_eq!(decoded.data(), ["a\nb"]);
}

/// The keep-alive frame is one empty comment and a blank line: no event.
#[test]
fn keep_alive_frame_is_an_empty_comment_and_no_event() {
    assert_eq!(decode(KEEP_ALIVE).items, [comment("")]);
}

/// "Collect the characters on the line before the first U+003A COLON character (:), and let
/// field be that string. Collect the characters on the line after the first U+003A COLON
/// character (:), and let value be that string."
#[test]
fn value_is_everything_after_the_first_colon() {
    assert_eq!(decode(b"data: a: b:c\n\n").data(), ["a: b:c"]);
    assert_eq!(decode(b"data::\n\n").data(), [":"]);
}

/// "If value starts with a U+0020 SPACE character, remove it from value." One space only, and
/// only a space: a tab is kept.
#[test]
fn leading_space_removed_once_tab_kept() {
    assert_eq!(decode(b"data:x\n\n").data(), ["x"]);
    assert_eq!(decode(b"data: x\n\n").data(), ["x"]);
    assert_eq!(decode(b"data:  x\n\n").data(), [" x"]);
    assert_eq!(decode(b"data:\tx\n\n").data(), ["\tx"]);
    assert_eq!(decode(b"data: \tx \n\n").data(), ["\tx "]);
}

/// "Otherwise, the string is not empty but does not contain a U+003A COLON character (:):
/// Process the field using the whole line as the field name, and the empty string as the field
/// value."
#[test]
fn line_without_colon_is_field_with_empty_value() {
    // `data` with empty value appends "" + LF: the event is dispatched with empty data.
    assert_eq!(decode(b"data\n\n").data(), [""]);
    // `event` with empty value: the type is "message".
    let event = decode(b"event: x\nevent\ndata: 1\n\n").events().remove(0);
    assert_eq!((&event.kind, event.event_type()), (&None, "message"));
    // `id` with empty value resets the last event id.
    assert_eq!(decode(b"id: 5\ndata: 1\n\nid\ndata: 2\n\n").events()[1].last_event_id, "");
    // A name with a trailing space is a different (unknown) field.
    assert_eq!(decode(b"data \n\n").data(), Vec::<String>::new());
}

/// Field names are compared "case-sensitively": only lowercase names are fields.
#[test]
fn field_names_are_case_sensitive() {
    assert_eq!(decode(b"Data: x\nDATA: y\n\n").data(), Vec::<String>::new());
    let event = decode(b"Event: t\nID: 3\nRetry: 5\ndata: x\n\n").events().remove(0);
    assert_eq!((event.event_type(), event.last_event_id.as_str()), ("message", ""));
    assert_eq!(decode(b"Retry: 5\n").items, []);
}

/// "If the field name is "data": Append the field value to the data buffer, then append a single
/// U+000A LINE FEED (LF) character to the data buffer." Dispatch then removes one trailing LF.
#[test]
fn data_appends_value_and_lf_and_dispatch_removes_one_lf() {
    assert_eq!(decode(b"data: a\ndata: b\n\n").data(), ["a\nb"]);
    assert_eq!(decode(b"data: a\ndata:\n\n").data(), ["a\n"]);
    assert_eq!(decode(b"data:\ndata:\ndata:\n\n").data(), ["\n\n"]);
}

/// "If the field name is "event": Set the event type buffer to the field value." The last one
/// wins, and the buffer is emptied by every dispatch.
#[test]
fn event_sets_the_type_last_one_wins_and_resets_after_dispatch() {
    let events = decode(b"event: a\nevent: b\ndata: 1\n\ndata: 2\n\n").events();
    assert_eq!(events[0].kind.as_ref().map(EventType::as_str), Some("b"));
    assert_eq!(events[0].event_type(), "b");
    assert_eq!((events[1].kind.clone(), events[1].event_type()), (None, "message"));
}

/// Dispatch step 5: "If the event type buffer has a value other than the empty string, change
/// the type of the newly created event to equal the value of the event type buffer." An empty
/// one leaves the type as "message".
#[test]
fn empty_event_type_means_message() {
    let event = decode(b"event:\ndata: x\n\n").events().remove(0);
    assert_eq!((&event.kind, event.event_type()), (&None, "message"));
}

/// Dispatch step 2 empties the event type buffer even when nothing is dispatched, so a type
/// set in a block without data does not leak into the next event.
#[test]
fn event_type_buffer_cleared_when_nothing_is_dispatched() {
    let event = decode(b"event: t\n\ndata: x\n\n").events().remove(0);
    assert_eq!(event.event_type(), "message");
}

/// "If the field name is "id": If the field value does not contain U+0000 NULL, then set the
/// last event ID buffer to the field value."
#[test]
fn id_sets_the_last_event_id_verbatim() {
    let decoded = decode(b"id: 7\ndata: x\n\nid:  spaced \ndata: y\n\n");
    let events = decoded.events();
    assert_eq!(events[0].last_event_id, "7");
    assert_eq!(events[1].last_event_id, " spaced ");
    assert_eq!(decoded.last_event_id, " spaced ");
}

/// "... Otherwise, ignore the field." An id with NUL leaves the buffer as it was.
#[test]
fn id_with_nul_is_ignored() {
    let decoded = decode(b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid: \0\ndata: c\n\n");
    let ids: Vec<_> = decoded.events().into_iter().map(|e| e.last_event_id.to_string()).collect();
    assert_eq!(ids, ["1", "1", "1"]);
}

/// An `id` field with an empty value sets the buffer to the empty string: the client forgets
/// its last event id.
#[test]
fn empty_id_resets_last_event_id() {
    let decoded = decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n");
    assert_eq!(decoded.events()[1].last_event_id, "");
    assert_eq!(decoded.last_event_id, "");
}

/// "If the field name is "retry": If the field value consists of only ASCII digits, then
/// interpret the field value as an integer in base ten, and set the event stream's
/// reconnection time to that integer. Otherwise, ignore the field."
#[test]
fn retry_only_when_all_ascii_digits() {
    assert_eq!(decode(b"retry: 1500\n").items, [retry(1500)]);
    assert_eq!(decode(b"retry:0\n").items, [retry(0)]);
    assert_eq!(decode(b"retry: 007\n").items, [retry(7)]);
    for ignored in [
        &b"retry: 15x\n"[..],
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 1.5\n",
        b"retry: 1e3\n",
        b"retry:  15\n", // only one space is removed; the second is not a digit
        b"retry: 15 \n",
        b"retry:\t15\n",
        "retry: \u{0661}\n".as_bytes(), // ARABIC-INDIC DIGIT ONE is not an ASCII digit
        // An empty value has no digits to interpret; browsers ignore it as well.
        b"retry:\n",
        b"retry\n",
    ] {
        assert_eq!(decode(ignored).items, [], "{:?}", String::from_utf8_lossy(ignored));
    }
}

/// The reconnection time changes when the field is read, not at dispatch, so the codec
/// surfaces it at once, ahead of the event it is part of, even if that event never completes.
#[test]
fn retry_surfaced_immediately_before_its_event() {
    let mut decoder = Decoder::new();
    decoder.push(b"data: x\nretry: 10\n");
    assert_eq!(decoder.next_item(), Ok(Some(Item::Retry(Duration::from_millis(10)))));
    assert_eq!(decoder.next_item(), Ok(None));
    decoder.push(b"\n");
    assert!(matches!(decoder.next_item(), Ok(Some(Item::Event(_)))));
}

/// A value too large for the reconnection time saturates rather than wrapping or failing.
#[test]
fn retry_larger_than_u64_saturates() {
    assert_eq!(decode(b"retry: 99999999999999999999999999\n").items, [retry(u64::MAX)]);
}

/// "Otherwise: The field is ignored." Unknown fields change nothing.
#[test]
fn unknown_fields_ignored() {
    let event = decode(b"foo: bar\ndata: x\nfoo\nDATA: y\n\n").events().remove(0);
    assert_eq!(event.data, "x");
    assert!(event.unknown_fields.is_empty());
    assert_eq!(decode(b"foo: bar\n\n").items, []);
}

/// Opt-in (r3labs' `CustomFields`): unknown fields are kept on the event, in order, with the
/// same name/value split as known fields, and reset by every dispatch.
#[test]
fn keep_unknown_fields_option_keeps_them_per_event() {
    let config = DecoderConfig::default().keep_unknown_fields(true);
    let stream = b"foo: bar\nbaz\nx:  y\nData: d\ndata: 1\n\nfoo: lost\n\ndata: 2\n\n";
    let events = decode_chunks_with(config, [&stream[..]]).events();
    let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    };
    assert_eq!(
        events[0].unknown_fields,
        fields(&[("foo", "bar"), ("baz", ""), ("x", " y"), ("Data", "d")])
    );
    // The block with `foo: lost` dispatched nothing; its field does not leak into event 2.
    assert_eq!(events[1].unknown_fields, []);
    // Known fields never show up as unknown, and invalid retries stay ignored.
    let config = DecoderConfig::default().keep_unknown_fields(true);
    let events = decode_chunks_with(config, [&b"retry: x\nid: \0\nevent: e\ndata: 1\n\n"[..]]);
    assert_eq!(events.events()[0].unknown_fields, []);
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// "If the line is empty (a blank line): Dispatch the event." Nothing is dispatched before it.
#[test]
fn event_dispatched_only_on_blank_line() {
    let mut decoder = Decoder::new();
    decoder.push(b"data: x\n");
    assert_eq!(decoder.next_item(), Ok(None));
    decoder.push(b"\n");
    assert!(matches!(decoder.next_item(), Ok(Some(Item::Event(_)))));
}

/// Dispatch step 1: "Set the last event ID string of the event source to the value of the last
/// event ID buffer. The buffer does not get reset, so the last event ID string of the event
/// source remains set to this value until the next time it is set by the server."
#[test]
fn last_event_id_carries_into_later_events() {
    let decoded = decode(b"id: 1\ndata: a\n\ndata: b\n\nevent: t\ndata: c\n\nid: 2\ndata: d\n\n");
    let ids: Vec<_> = decoded.events().into_iter().map(|e| e.last_event_id.to_string()).collect();
    assert_eq!(ids, ["1", "1", "1", "2"]);
}

/// A reconnecting client starts with the id it sent in `Last-Event-ID`.
#[test]
fn resuming_decoder_starts_with_the_given_last_event_id() {
    let id = EventId::new("41").expect("valid id");
    let mut decoder = Decoder::new().resuming_after(id);
    decoder.push(b"data: a\n\nid: 42\ndata: b\n\n");
    let ids: Vec<_> = decoder
        .items()
        .map(|item| item.expect("decodes").into_event().expect("event").last_event_id)
        .collect();
    assert_eq!(ids, ["41", "42"]);
}

/// Dispatch step 2: "If the data buffer is an empty string, set the data buffer and the event
/// type buffer to the empty string and return." Step 1 has already updated the last event id.
#[test]
fn no_event_when_data_buffer_empty_but_id_updates() {
    let mut decoder = Decoder::new();
    decoder.push(b"id: 7\nevent: t\n\n");
    assert_eq!(decoder.next_item(), Ok(None));
    assert_eq!(decoder.last_event_id().as_str(), "7");
    decoder.push(b"data: x\n\n");
    let event = decoder.next_item().expect("decodes").and_then(Item::into_event).expect("event");
    assert_eq!((event.last_event_id.as_str(), event.event_type()), ("7", "message"));
}

/// `data:` with an empty value is not an empty data buffer (it holds one LF), so the event is
/// dispatched with empty data. axum omits this line and browsers then drop the event.
#[test]
fn empty_data_field_dispatches_event_with_empty_data() {
    assert_eq!(decode(b"data:\n\n").data(), [""]);
    assert_eq!(decode(b"data\r\r").data(), [""]);
}

/// "Once the end of the file is reached, any pending data must be discarded. (If the file ends
/// in the middle of an event, before the final empty line, the incomplete event is not
/// dispatched.)" Its `id` never reached a dispatch, so the last event id stays at the previous
/// one, and a following stream (a reconnection) continues from it.
#[test]
fn trailing_incomplete_event_discarded_with_its_id() {
    let mut decoder = Decoder::new();
    decoder.push(b"id: 1\ndata: a\n\nid: 2\ndata: b\n");
    let items: Vec<_> = decoder.items().collect();
    assert_eq!(items.len(), 1);
    assert!(decoder.finish(), "something was discarded");
    assert_eq!(decoder.last_event_id().as_str(), "1");
    decoder.push(b"data: c\n\n");
    let event = decoder.next_item().expect("decodes").and_then(Item::into_event).expect("event");
    assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("c", "1"));
}

/// The last line of a stream without a line ending is never processed, even if it would be a
/// complete field.
#[test]
fn last_line_without_line_ending_is_discarded() {
    let decoded = decode(b"data: a\n\ndata: b");
    assert_eq!(decoded.data(), ["a"]);
    assert!(decoded.discarded_at_end);
    let decoded = decode(b"data: a\n\n");
    assert!(!decoded.discarded_at_end);
    // A pending id alone counts as discarded state.
    assert!(decode(b"id: 3\n").discarded_at_end);
}

// ---------------------------------------------------------------------------------------------
// Text decoding
// ---------------------------------------------------------------------------------------------

/// The stream is decoded with "UTF-8 decode": each maximal invalid subsequence becomes one
/// U+FFFD REPLACEMENT CHARACTER.
#[test]
fn invalid_utf8_becomes_replacement_char() {
    assert_eq!(decode(b"data: a\xFFb\n\n").data(), ["a\u{FFFD}b"]);
    // A truncated three-byte sequence is one maximal subpart: one replacement character.
    assert_eq!(decode(b"data: \xE2\x82x\n\n").data(), ["\u{FFFD}x"]);
    // 0xF0 cannot be followed by 0x80 (overlong): two replacement characters.
    assert_eq!(decode(b"data: \xF0\x80\n\n").data(), ["\u{FFFD}\u{FFFD}"]);
    // Invalid bytes right before a line ending do not swallow it.
    assert_eq!(decode(b"data: \xE2\ndata: \xE2\x82\r\n\n").data(), ["\u{FFFD}\n\u{FFFD}"]);
    // In the other fields too; an id of replacement characters is a valid id.
    let event = decode(b"event: \xC0\nid: \xFE\ndata: x\n\n").events().remove(0);
    assert_eq!((event.event_type(), event.last_event_id.as_str()), ("\u{FFFD}", "\u{FFFD}"));
}

/// A field name with invalid UTF-8 is not a known field, even if it decodes close to one.
#[test]
fn invalid_utf8_in_field_name_makes_an_unknown_field() {
    assert_eq!(decode(b"dat\xE1: x\n\n").data(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Size limit
// ---------------------------------------------------------------------------------------------

fn limited(limit: usize) -> DecoderConfig {
    DecoderConfig::default().max_event_size(limit)
}

#[test]
fn default_max_event_size_is_one_mebibyte() {
    assert_eq!(DEFAULT_MAX_EVENT_SIZE, 1024 * 1024);
    let mut fits = b"data: ".to_vec();
    fits.resize(DEFAULT_MAX_EVENT_SIZE - 1, b'x');
    fits.extend_from_slice(b"\n\n");
    assert_eq!(decode(&fits).events()[0].data.len(), DEFAULT_MAX_EVENT_SIZE - 7);
    let mut too_big = b"data: ".to_vec();
    // 1 MiB of data does not fit: the limit covers the data and its line.
    too_big.resize(DEFAULT_MAX_EVENT_SIZE + 6, b'x');
    too_big.extend_from_slice(b"\n\n");
    let decoded = decode(&too_big);
    assert_eq!(decoded.items, [Err(DecodeError::EventTooLarge { limit: DEFAULT_MAX_EVENT_SIZE })]);
}

/// An oversized event yields one error, is skipped up to its blank line (its `id` with it), and
/// decoding carries on with the next event.
#[test]
fn max_event_size_error_then_recovery_at_next_event() {
    let stream = b"id: 9\ndata: 0123456789\ndata: 0123456789\ndata: more\n\nid: 10\ndata: ok\n\n";
    let decoded = decode_chunks_with(limited(16), [&stream[..]]);
    assert_eq!(decoded.items.len(), 2, "{:?}", decoded.items);
    assert_eq!(decoded.items[0], Err(DecodeError::EventTooLarge { limit: 16 }));
    let Ok(Item::Event(event)) = &decoded.items[1] else { panic!("{:?}", decoded.items) };
    assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("ok", "10"));

    // The oversized event's id is discarded with it.
    let decoded = decode_chunks_with(limited(16), [&b"id: 9\ndata: 0123456789abcdef\n\n"[..]]);
    assert_eq!(decoded.last_event_id, "");
}

/// A line that is still arriving is bounded too: the error comes before its line ending, the
/// buffered bytes are dropped, and the rest of the line is skipped when it arrives.
#[test]
fn max_event_size_bounds_a_line_still_arriving() {
    let mut decoder = Decoder::with_config(limited(32));
    decoder.push(b"data: ok\n\n");
    assert!(matches!(decoder.next_item(), Ok(Some(Item::Event(_)))));
    decoder.push(&[b'x'; 40]);
    assert_eq!(decoder.next_item(), Err(DecodeError::EventTooLarge { limit: 32 }));
    assert!(decoder.buffered_len() <= 32);
    for _ in 0..100 {
        decoder.push(&[b'x'; 40]);
        assert_eq!(decoder.next_item(), Ok(None), "one error per event");
        assert!(decoder.buffered_len() <= 32);
    }
    // The line ending of the long line is not a blank line: the event it belongs to goes on
    // (and is dropped) up to the next blank line.
    decoder.push(b"\ndata: dropped\n\ndata: next\n\n");
    let event = decoder.next_item().expect("recovers").and_then(Item::into_event).expect("event");
    assert_eq!(event.data, "next");
}

/// Whether an event is too large must not depend on how the stream was cut into chunks: the
/// raw line being read counts the same whether it arrived whole or in pieces.
#[test]
fn max_event_size_does_not_depend_on_chunking() {
    let stream = b"data: 0123456789\n\ndata: ok\n\n";
    let whole = decode_chunks_with(limited(12), [&stream[..]]);
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks_with(limited(12), [a, b]), whole, "cut at {cut}");
    }
    assert_eq!(whole.items[0], Err(DecodeError::EventTooLarge { limit: 12 }));
}

/// The limit counts decoded text: an invalid byte becomes a three-byte U+FFFD, so a line of
/// invalid bytes can buffer three times its length. That must still be bounded by the limit.
#[test]
fn max_event_size_counts_decoded_text() {
    let mut stream = b"data:".to_vec();
    stream.extend_from_slice(&[0xFF; 10]);
    stream.extend_from_slice(b"\n\n");
    // 15 raw bytes fit a 20-byte limit, but the data would be 30 bytes of U+FFFD plus LF.
    let decoded = decode_chunks_with(limited(20), [&stream[..]]);
    assert_eq!(decoded.items, [Err(DecodeError::EventTooLarge { limit: 20 })]);
    let decoded = decode_chunks_with(limited(31), [&stream[..]]);
    assert_eq!(decoded.data(), ["\u{FFFD}".repeat(10)]);
    // The error comes with the line, before the blank line, so nothing over the limit is held.
    let mut decoder = Decoder::with_config(limited(20));
    decoder.push(&stream[..stream.len() - 1]);
    assert_eq!(decoder.next_item(), Err(DecodeError::EventTooLarge { limit: 20 }));
    assert_eq!(decoder.next_item(), Ok(None));
    assert!(decoder.buffered_len() <= 20);
    // ... and the blank line after it ends the dropped event, so the next one arrives.
    decoder.push(b"\ndata: ok\n\n");
    let event = decoder.next_item().expect("recovers").and_then(Item::into_event);
    assert_eq!(event.map(|e| e.data), Some("ok".into()));
}

/// `buffered_len` reports the partial line plus the field values held for the current event.
#[test]
fn buffered_len_counts_partial_line_and_pending_fields() {
    let mut decoder = Decoder::new();
    assert_eq!(decoder.buffered_len(), 0);
    decoder.push(b"data: abc\nda");
    assert_eq!(decoder.next_item(), Ok(None));
    // "abc\n" buffered as data, "da" as the partial line.
    assert_eq!(decoder.buffered_len(), 4 + 2);
    decoder.push(b"ta: d\n\n");
    assert!(decoder.next_item().expect("decodes").is_some());
    assert_eq!(decoder.buffered_len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// An event type cannot contain CR or LF: either would end the field and inject a new line.
#[test]
fn encoder_rejects_line_breaks_in_event_type() {
    assert_eq!(EventType::new("a\nb"), Err(FieldError::LineBreak { field: "event", offset: 1 }));
    assert_eq!(EventType::new("ab\r"), Err(FieldError::LineBreak { field: "event", offset: 2 }));
    assert_eq!(EventType::new("x\r\n"), Err(FieldError::LineBreak { field: "event", offset: 1 }));
    assert!(EventType::new("a\0b").is_ok(), "NUL is harmless in a type");
}

/// An id cannot contain CR, LF or NUL (clients ignore an id with NUL).
#[test]
fn encoder_rejects_line_breaks_and_nul_in_id() {
    assert_eq!(EventId::new("\n"), Err(FieldError::LineBreak { field: "id", offset: 0 }));
    assert_eq!(EventId::new("1\r"), Err(FieldError::LineBreak { field: "id", offset: 1 }));
    assert_eq!(EventId::new("12\0"), Err(FieldError::Nul { field: "id", offset: 2 }));
    assert!(EventId::new("").is_ok_and(|id| id.is_empty()));
}

/// A comment cannot contain CR or LF; `Event::comment` reports the same error.
#[test]
fn encoder_rejects_line_breaks_in_comments() {
    assert_eq!(Comment::new("a\rb"), Err(FieldError::LineBreak { field: "comment", offset: 1 }));
    assert_eq!(Event::comment("x\n"), Err(FieldError::LineBreak { field: "comment", offset: 1 }));
    assert_eq!(Comment::new("").map(|c| c.to_string()), Ok(String::new()));
}

/// Field errors say what went wrong, for logs.
#[test]
fn field_errors_display_the_field_and_offset() {
    let err = EventId::new("ab\0").expect_err("NUL");
    assert_eq!(err.to_string(), "id contains NUL at byte 2");
    let err = EventType::new("a\n").expect_err("LF");
    assert_eq!(err.to_string(), "event contains a line break (CR or LF) at byte 1");
}

/// The encoder writes a `data:` line even for empty data, so the event is dispatched.
#[test]
fn encoder_writes_empty_data_line_so_event_dispatches() {
    let frame = Event::new("").encode();
    assert_eq!(&frame[..], b"data:\n\n");
    assert_eq!(decode(&frame).data(), [""]);
}

/// CR, LF and CRLF in data each end exactly one line.
#[test]
fn encoder_counts_each_line_break_in_data_once() {
    let frame = Event::new("a\r\nb\rc\nd\r\n\r\n").encode();
    assert_eq!(&frame[..], b"data: a\ndata: b\ndata: c\ndata: d\ndata:\ndata:\n\n");
    assert_eq!(decode(&frame).data(), ["a\nb\nc\nd\n\n"]);
}

/// An event with no data only updates the id / retry; the client dispatches nothing.
#[test]
fn encoder_event_without_data_is_not_dispatched() {
    let id = EventId::new("5").expect("valid id");
    let frame = Event::default().with_id(id).with_retry(Duration::from_millis(20)).encode();
    let decoded = decode(&frame);
    assert_eq!(decoded.items, [retry(20)]);
    assert_eq!(decoded.last_event_id, "5");
}

/// Values starting with a space survive the decoder's removal of one space.
#[test]
fn encoder_protects_leading_spaces() {
    let event = Event::new("  two")
        .with_type(EventType::new(" t").expect("valid type"))
        .with_id(EventId::new(" 1").expect("valid id"))
        .with_comment(Comment::new(" c").expect("valid comment"));
    let decoded = decode(&event.encode());
    assert_eq!(decoded.items[0], comment(" c"));
    let decoded_event = decoded.events().remove(0);
    assert_eq!(decoded_event.data, "  two");
    assert_eq!(decoded_event.event_type(), " t");
    assert_eq!(decoded_event.last_event_id, " 1");
}

// ---------------------------------------------------------------------------------------------
// The borrowed API (every stream above is also decoded with it by `common`; these read its
// values directly)
// ---------------------------------------------------------------------------------------------

/// `next_item_ref` applies the same rules: comments, retry, type, the last event id carried
/// into a later event, multi-line data joined with LF, unknown fields when kept, and the
/// `id` of an incomplete event discarded.
#[test]
fn borrowed_items_follow_the_same_rules() {
    let mut decoder = Decoder::with_config(DecoderConfig::default().keep_unknown_fields(true));
    decoder
        .push(b": c\nretry: 7\nevent: e\nid: 1\ntopic: t\ndata: a\ndata: b\n\ndata: x\n\nid: 2\n");
    assert_eq!(decoder.next_item_ref(), Ok(Some(ItemRef::Comment("c"))));
    assert_eq!(decoder.next_item_ref(), Ok(Some(ItemRef::Retry(Duration::from_millis(7)))));
    let first = match decoder.next_item_ref() {
        Ok(Some(ItemRef::Event(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    };
    assert_eq!((first.kind, first.data, first.last_event_id), (Some("e"), "a\nb", "1"));
    assert_eq!(first.unknown_fields, [("topic".to_owned(), "t".to_owned())]);
    let second = match decoder.next_item_ref() {
        Ok(Some(ItemRef::Event(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    };
    assert_eq!((second.event_type(), second.data, second.last_event_id), ("message", "x", "1"));
    assert!(second.unknown_fields.is_empty());
    assert_eq!(decoder.next_item_ref(), Ok(None));
    assert!(decoder.finish(), "the block with id 2 never completed");
    assert_eq!(decoder.last_event_id(), "1");
}

/// The size limit is enforced on the borrowed path too, and decoding resumes after it.
#[test]
fn borrowed_decoding_reports_an_oversized_event_and_resumes() {
    let mut decoder = Decoder::with_config(DecoderConfig::default().max_event_size(8));
    decoder.push(b"data: far too long\n\ndata: ok\n\n");
    assert_eq!(decoder.next_item_ref(), Err(DecodeError::EventTooLarge { limit: 8 }));
    let Ok(Some(ItemRef::Event(event))) = decoder.next_item_ref() else { panic!("no event") };
    assert_eq!(event.data, "ok");
}
