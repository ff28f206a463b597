//! The stream format through the network path: bytes written to a real socket, decoded by the
//! client. Test names follow the behaviours of LaunchDarkly's SSE contract test suite ("basic
//! parsing", "BOM", "comments", "line endings"), written as our own tests.

mod support;

use support::{data_of, events_of, triple};

fn t(kind: &str, data: &str, id: &str) -> (String, String, String) {
    (kind.to_owned(), data.to_owned(), id.to_owned())
}

mod basic_parsing {
    use super::*;

    #[tokio::test]
    async fn one_line_message_in_one_chunk() {
        assert_eq!(data_of(&events_of(b"data: Hello\n\n", None).await), ["Hello"]);
    }

    #[tokio::test]
    async fn one_line_message_in_two_chunks() {
        let events = events_of(b"data: Hello\n\n", Some(8)).await;
        assert_eq!(data_of(&events), ["Hello"]);
    }

    #[tokio::test]
    async fn two_one_line_messages_in_one_chunk() {
        let events = events_of(b"data: Hello\n\ndata: World\n\n", None).await;
        assert_eq!(data_of(&events), ["Hello", "World"]);
    }

    #[tokio::test]
    async fn one_two_line_message_in_one_chunk() {
        let events = events_of(b"data: Hello\ndata:World\n\n", None).await;
        assert_eq!(data_of(&events), ["Hello\nWorld"]);
    }

    #[tokio::test]
    async fn empty_data() {
        assert_eq!(data_of(&events_of(b"data:\n\n", None).await), [""]);
    }

    #[tokio::test]
    async fn event_with_specific_type() {
        let events = events_of(b"event: greeting\ndata: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("greeting", "Hello", ""));
    }

    #[tokio::test]
    async fn default_event_type() {
        let events = events_of(b"data: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("message", "Hello", ""));
    }

    #[tokio::test]
    async fn event_with_id() {
        let events = events_of(b"id: abc\ndata: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("message", "Hello", "abc"));
    }

    #[tokio::test]
    async fn event_with_type_and_id() {
        let events = events_of(b"event: greeting\nid: abc\ndata: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("greeting", "Hello", "abc"));
    }

    #[tokio::test]
    async fn id_field_is_ignored_if_it_contains_a_null() {
        let events = events_of(b"id: a\0bc\ndata: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("message", "Hello", ""));
    }

    #[tokio::test]
    async fn last_id_persists_if_not_overridden_by_later_event() {
        let events = events_of(b"id: abc\ndata: first\n\ndata: second\n\n", None).await;
        let got: Vec<_> = events.iter().map(triple).collect();
        assert_eq!(got, [t("message", "first", "abc"), t("message", "second", "abc")]);
    }

    #[tokio::test]
    async fn last_id_can_be_overridden_by_an_empty_value() {
        let events = events_of(b"id: abc\ndata: first\n\nid: \ndata: second\n\n", None).await;
        let got: Vec<_> = events.iter().map(triple).collect();
        assert_eq!(got, [t("message", "first", "abc"), t("message", "second", "")]);
    }

    #[tokio::test]
    async fn fields_in_reverse_order() {
        let events = events_of(b"data: Hello\nid: abc\nevent: greeting\n\n", None).await;
        assert_eq!(triple(&events[0]), t("greeting", "Hello", "abc"));
    }

    #[tokio::test]
    async fn unknown_field_is_ignored() {
        let events = events_of(b"event: greeting\ncolor: blue\ndata: Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("greeting", "Hello", ""));
        assert_eq!(events[0].fields().count(), 0);
    }

    #[tokio::test]
    async fn fields_without_leading_space() {
        let events = events_of(b"event:greeting\ndata:Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t("greeting", "Hello", ""));
    }

    #[tokio::test]
    async fn fields_with_extra_leading_space() {
        let events = events_of(b"event:  greeting\ndata:  Hello\n\n", None).await;
        assert_eq!(triple(&events[0]), t(" greeting", " Hello", ""));
    }

    #[tokio::test]
    async fn field_with_no_colon() {
        let events = events_of(b"data\n\ndata\ndata\n\n", None).await;
        assert_eq!(data_of(&events), ["", "\n"]);
    }

    #[tokio::test]
    async fn multi_byte_characters() {
        let events = events_of("data: €豆腐\n\n".as_bytes(), None).await;
        assert_eq!(data_of(&events), ["€豆腐"]);
    }

    #[tokio::test]
    async fn many_messages_in_rapid_succession() {
        let input: String = (0..100).map(|i| format!("data: message {i}\n\n")).collect();
        let expected: Vec<String> = (0..100).map(|i| format!("message {i}")).collect();
        assert_eq!(data_of(&events_of(input.as_bytes(), None).await), expected);
    }

    #[tokio::test]
    async fn multi_byte_characters_sent_in_single_byte_pieces() {
        let events = events_of("data: €豆腐\n\n".as_bytes(), Some(1)).await;
        assert_eq!(data_of(&events), ["€豆腐"]);
    }

    #[tokio::test]
    async fn multi_byte_characters_split_across_writes_inside_a_long_chunk() {
        // A 100-byte write (long enough for the decoder to keep it whole) that ends in the
        // middle of a 4-byte character; the next write completes it.
        let mut input = b"data: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 92));
        input.extend("😀\n\n".as_bytes());
        let events = events_of(&input, Some(100)).await;
        assert_eq!(data_of(&events), [format!("{}😀", "x".repeat(92))]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_not_fatal() {
        let events = events_of(b"data: a\xFFb\n\ndata: next\n\n", None).await;
        assert_eq!(data_of(&events), ["a\u{FFFD}b", "next"]);
    }
}

mod bom {
    use super::*;

    #[tokio::test]
    async fn leading_bom_is_stripped() {
        let events = events_of(b"\xEF\xBB\xBFdata: Hello\n\n", None).await;
        assert_eq!(data_of(&events), ["Hello"]);
    }

    #[tokio::test]
    async fn leading_bom_split_across_writes_is_stripped() {
        let events = events_of(b"\xEF\xBB\xBFdata: Hello\n\n", Some(1)).await;
        assert_eq!(data_of(&events), ["Hello"]);
    }

    #[tokio::test]
    async fn only_one_bom_is_stripped() {
        // The second BOM is part of the first line's field name, which is then unknown.
        let events =
            events_of(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: Hello\n\ndata: World\n\n", None).await;
        assert_eq!(data_of(&events), ["World"]);
    }
}

mod comments {
    use super::*;

    #[tokio::test]
    async fn single_comment_is_not_an_event() {
        let events = events_of(b":Hello\n\ndata: after\n\n", None).await;
        assert_eq!(data_of(&events), ["after"]);
    }

    #[tokio::test]
    async fn comments_within_an_event_are_ignored() {
        let events = events_of(b"data: a\n: comment\ndata: b\n\n", Some(2)).await;
        assert_eq!(data_of(&events), ["a\nb"]);
    }
}

mod line_endings {
    use super::*;

    /// The suite's inputs for one line terminator, with the expected data.
    fn cases(end: &str) -> Vec<(String, Vec<&'static str>)> {
        vec![
            (format!("data: event 1{end}{end}"), vec!["event 1"]),
            (
                format!(
                    "data: event 1{end}{end}data: event 2 line 1{end}data: event 2 line 2{end}{end}"
                ),
                vec!["event 1", "event 2 line 1\nevent 2 line 2"],
            ),
            (format!("data:{end}data: line2{end}data: line3{end}{end}"), vec!["\nline2\nline3"]),
            (format!("data: line1{end}data:{end}data: line3{end}{end}"), vec!["line1\n\nline3"]),
            (
                format!("data: event 1{end}{end}{end}data: event 2{end}{end}"),
                vec!["event 1", "event 2"],
            ),
            (
                format!("data: event 1{end}{end}{end}{end}data: event 2{end}{end}"),
                vec!["event 1", "event 2"],
            ),
        ]
    }

    async fn check(end: &str) {
        for (input, expected) in cases(end) {
            for chunk in [None, Some(1), Some(2)] {
                let events = events_of(input.as_bytes(), chunk).await;
                assert_eq!(data_of(&events), expected, "{input:?} in chunks of {chunk:?}");
            }
        }
    }

    #[tokio::test]
    async fn lf_separator() {
        check("\n").await;
    }

    #[tokio::test]
    async fn crlf_separator() {
        check("\r\n").await;
    }

    #[tokio::test]
    async fn cr_separator() {
        check("\r").await;
    }

    #[tokio::test]
    async fn crlf_where_cr_is_end_of_one_chunk() {
        let mut server = support::ScriptServer::start().await;
        let mut source = support::client(&server.url("/")).build().expect("client");
        let script = tokio::spawn(async move {
            let mut conn = server.accept().await;
            conn.open_stream().await;
            for piece in ["data: Hello\r", "\ndata: World\r", "\n\r\ndata: OK\r", "\n", "\r", "\n"]
            {
                conn.send(piece).await;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            conn.close().await;
            server
        });
        let events: Vec<_> = support::items_until_reconnect(&mut source)
            .await
            .into_iter()
            .filter_map(|item| match item {
                tidings_client::ClientItem::Event(event) => Some(event),
                _ => None,
            })
            .collect();
        drop(script.await.expect("script"));
        assert_eq!(data_of(&events), ["Hello\nWorld", "OK"]);
    }
}
