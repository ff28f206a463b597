//! Topic selectors and the subscription index: every example from issue 3, the grammar's edge
//! cases and errors, and property tests of the index against a naive scan and of the URI
//! template matcher against the regular expression Mercure builds.

use std::collections::HashMap;

use proptest::prelude::*;
use tidings_broker::{Selector, SelectorError, SelectorIndex, SelectorKind};

fn sel(text: &str) -> Selector {
    Selector::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Asserts which of `topics` `selector` matches: `yes` must match, `no` must not.
fn check(selector: &str, yes: &[&str], no: &[&str]) {
    let s = sel(selector);
    for topic in yes {
        assert!(s.matches(topic), "{selector:?} should match {topic:?}");
    }
    for topic in no {
        assert!(!s.matches(topic), "{selector:?} should not match {topic:?}");
    }
}

fn matching_keys(index: &SelectorIndex<u32>, topic: &str) -> Vec<u32> {
    let mut keys = Vec::new();
    index.for_each_match(topic, |k| keys.push(k));
    keys.sort_unstable();
    keys.dedup();
    keys
}

// ---------------------------------------------------------------------------------------------
// The issue's examples, one per system our users come from.

#[test]
fn qsse_ride_star_start() {
    check(
        "ride.*.start",
        &["ride.passenger.start", "ride.driver.start"],
        &[
            "ride.start",
            "ride..start",
            "ride.passenger.stop",
            "ride.passenger.start.late",
            // qsse's `*` (Go's filepath.Match) crosses dots; ours is exactly one segment.
            "ride.a.b.start",
            "ride/passenger/start",
        ],
    );
}

#[test]
fn qsse_prefix_subscription_is_double_star_here() {
    // qsse writes this `ride.passenger.*`.
    check(
        "ride.passenger.**",
        &["ride.passenger.start", "ride.passenger.account.name"],
        &["ride.passenger", "ride.passenger.", "ride.passengers.start", "ride.driver.start"],
    );
    // A single `*` here is one segment only.
    check("ride.passenger.*", &["ride.passenger.start"], &["ride.passenger.account.name"]);
}

#[test]
fn sseserver_hierarchy_receives_subtree_but_never_petsmart() {
    let mut index = SelectorIndex::new();
    index.insert(&sel("pets"), 1);
    index.insert(&sel("pets/**"), 1);
    for topic in ["pets", "pets/cats", "pets/dogs", "pets/dogs/corgi"] {
        assert_eq!(matching_keys(&index, topic), [1], "{topic:?}");
    }
    // sseserver matches by string prefix, so its `/pets` subscriber also gets `/petsmart`.
    for topic in ["petsmart", "petsmart/cats", "pets.cats", "pet", "pets/"] {
        assert_eq!(matching_keys(&index, topic), [] as [u32; 0], "{topic:?}");
    }
    check("pets", &["pets"], &["pets/cats", "petsmart"]);
    check("pets/**", &["pets/cats", "pets/dogs"], &["pets", "petsmart"]);
}

#[test]
fn sseserver_leading_slash_namespaces_work_the_same() {
    check("/pets/**", &["/pets/cats"], &["/pets", "/petsmart", "pets/cats"]);
}

#[test]
fn r3labs_named_streams_are_exact() {
    let messages = sel("messages");
    assert_eq!(messages.kind(), SelectorKind::Exact);
    check("messages", &["messages"], &["messages2", "message", "messages/x", "Messages", ""]);
}

#[test]
fn mercure_uri_template_matches_one_segment() {
    let books = sel("https://example.com/books/{id}");
    assert_eq!(books.kind(), SelectorKind::Template);
    check(
        "https://example.com/books/{id}",
        &[
            "https://example.com/books/1",
            "https://example.com/books/the-hobbit",
            "https://example.com/books/caf%C3%A9",
            // Mercure step 2: a template also matches its own text.
            "https://example.com/books/{id}",
            // An empty value expands to nothing, and Mercure matches that too.
            "https://example.com/books/",
        ],
        &[
            "https://example.com/books/1/reviews",
            "https://example.com/books",
            "http://example.com/books/1",
            "https://example.com/books/1?x",
            "https://example.com/books/café",
            "https://example.com/books/%zz",
        ],
    );
}

#[test]
fn mercure_template_with_two_variables() {
    check(
        "https://example.com/{firstname}/{lastname}",
        &["https://example.com/kevin/dunglas"],
        &["https://example.com/kevin", "https://example.com/kevin/dunglas/x"],
    );
    check(
        "https://example.com/{foo}/bar",
        &["https://example.com/foo/bar"],
        &["https://example.com/foo/bar/baz"],
    );
}

#[test]
fn mercure_reserved_expansion_crosses_slashes() {
    check(
        "https://example.com/{+path}",
        &[
            "https://example.com/",
            "https://example.com/books/1",
            "https://example.com/books/1/reviews?page=2#top",
            "https://example.com/a,b;c=d",
        ],
        &["https://example.org/books/1", "https://example.com/a b", "https://example.com/é"],
    );
    check(
        "https://example.com/books/{id}{#section}",
        &["https://example.com/books/1", "https://example.com/books/1#chapter/2"],
        &["https://example.com/books/1/2"],
    );
}

#[test]
fn mercure_query_expansions() {
    check(
        "https://example.com/search{?q}",
        &[
            "https://example.com/search",
            "https://example.com/search?q=cats",
            "https://example.com/search?q=a,b",
            // Mercure does not check variable names in the topic.
            "https://example.com/search?page=2",
        ],
        &["https://example.com/search?q=a&page=2", "https://example.com/search/x"],
    );
    check(
        "https://example.com/search{?q,page}",
        &["https://example.com/search?q=a&page=2", "https://example.com/search?q=a"],
        &["https://example.com/search?q=a&page=2&x=3"],
    );
    check(
        "https://example.com/search{?params*}",
        &["https://example.com/search?a=1&b=2&c=3"],
        &["https://example.com/search?a=1/2"],
    );
    check(
        "https://example.com/search?fixed=1{&more}",
        &["https://example.com/search?fixed=1", "https://example.com/search?fixed=1&x=2"],
        &["https://example.com/search?fixed=1&x=2&y=3"],
    );
}

#[test]
fn mercure_path_label_and_matrix_expansions() {
    check(
        "https://example.com/files{/path*}",
        &["https://example.com/files", "https://example.com/files/a/b/c"],
        &["https://example.com/filesa"],
    );
    check(
        "https://example.com/files{/dir}",
        &["https://example.com/files/a"],
        &["https://example.com/files/a/b"],
    );
    check(
        "https://example.com/report{.format}",
        &[
            "https://example.com/report",
            "https://example.com/report.json",
            "https://example.com/report.tar.gz",
        ],
        &["https://example.com/report/json"],
    );
    check(
        "https://example.com/map{;x,y}",
        &["https://example.com/map;x=1;y=2", "https://example.com/map;x"],
        &["https://example.com/map;x=1;y=2;z=3"],
    );
}

#[test]
fn template_literals_match_byte_for_byte() {
    // `%20` in the template is literal text: the topic must carry the same escape.
    check("/a%20b/{x}", &["/a%20b/1"], &["/a b/1", "/a%2Fb/1"]);
    // Non-ASCII literals are fine; expressions only ever match ASCII and escapes.
    check("/café/{x}", &["/café/1", "/café/caf%C3%A9"], &["/cafe/1", "/café/é"]);
}

#[test]
fn star_alone_selects_everything() {
    let all = sel("*");
    assert_eq!(all.kind(), SelectorKind::All);
    check("*", &["", "anything", "https://example.com/books/1", "pets/cats", "*"], &[]);
}

// ---------------------------------------------------------------------------------------------
// Segments, separators and classification.

#[test]
fn separators_must_match_position_by_position() {
    check("a/*.json", &["a/b.json"], &["a.b.json", "a/b/json", "a/.json", "a/b.c.json"]);
    check("a.*", &["a.b"], &["a/b", "a.", "a"]);
}

#[test]
fn uri_with_wildcards_treats_scheme_and_host_as_segments() {
    // Segments: `https:`, an empty one, `example`, `com`, `books`, `*`.
    check(
        "https://example.com/books/*",
        &["https://example.com/books/1", "https://example.com/books/the-hobbit"],
        &[
            "https://example.com/books/",
            "https://example.com/books/1/reviews",
            // `.` separates segments in URIs too.
            "https://example.com/books/1.json",
            "http://example.com/books/1",
        ],
    );
    check(
        "https://*.example.com/**",
        &["https://api.example.com/v1/x"],
        &["https://example.com/v1"],
    );
    check("https://example.com/books/**", &["https://example.com/books/1.json"], &[]);
}

#[test]
fn double_star_alone_needs_a_non_empty_topic() {
    let s = sel("**");
    assert_eq!(s.kind(), SelectorKind::Wildcard);
    check("**", &["a", "a/b", "/"], &[""]);
}

#[test]
fn leading_and_empty_segments_are_literal() {
    check("/*", &["/a"], &["/", "a", "/a/b"]);
    check("a//*", &["a//b"], &["a/b", "a///b"]);
    check("*/b", &["a/b", "xyz/b"], &["/b", "a/b/c"]);
}

#[test]
fn classification_follows_braces_then_stars() {
    assert_eq!(sel("*").kind(), SelectorKind::All);
    assert_eq!(sel("{x}").kind(), SelectorKind::Template);
    assert_eq!(sel("a/*").kind(), SelectorKind::Wildcard);
    assert_eq!(sel("a/b").kind(), SelectorKind::Exact);
    assert_eq!(sel("https://example.com/books/1").kind(), SelectorKind::Exact);
    // A star inside a template's literal text (not a whole segment) is a literal star.
    check("/a*b/{x}", &["/a*b/1"], &["/ab/1"]);
}

#[test]
fn exact_constructor_takes_patterns_literally() {
    let s = Selector::exact("reports/*").expect("non-empty");
    assert_eq!(s.kind(), SelectorKind::Exact);
    assert!(s.matches("reports/*"));
    assert!(!s.matches("reports/2024"));
    assert_ne!(s, sel("reports/*"));
    let braces = Selector::exact("a{b").expect("non-empty");
    assert!(braces.matches("a{b"));
    assert_eq!(Selector::exact(""), Err(SelectorError::Empty));

    let mut index = SelectorIndex::new();
    index.insert(&s, 1);
    index.insert(&sel("reports/*"), 2);
    assert_eq!(matching_keys(&index, "reports/*"), [1, 2]);
    assert_eq!(matching_keys(&index, "reports/2024"), [2]);
}

#[test]
fn equality_hash_display_and_from_str() {
    use std::collections::HashSet;
    let a: Selector = "ride.*.start".parse().expect("valid");
    let b = sel("ride.*.start");
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "ride.*.start");
    assert_eq!(a.as_str(), "ride.*.start");
    let set: HashSet<Selector> = [a, b, sel("*")].into_iter().collect();
    assert_eq!(set.len(), 2);
    let debug = format!("{:?}", sel("pets/**"));
    assert!(debug.contains("Wildcard") && debug.contains("pets/**"), "{debug}");
}

#[test]
fn selectors_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_clone<T: Clone>() {}
    assert_send_sync::<Selector>();
    assert_clone::<Selector>();
    assert_send_sync::<SelectorIndex<u64>>();
}

// ---------------------------------------------------------------------------------------------
// Errors: what and where.

#[test]
fn invalid_selectors_are_refused_with_position() {
    use SelectorError as E;
    let cases: &[(&str, SelectorError)] = &[
        ("", E::Empty),
        ("ride.pass*", E::PartialWildcard { offset: 9 }),
        ("*a/b", E::PartialWildcard { offset: 0 }),
        ("a/***", E::PartialWildcard { offset: 2 }),
        ("a/**/b", E::DoubleStarNotLast { offset: 2 }),
        ("**.b", E::DoubleStarNotLast { offset: 0 }),
        ("/books/{id", E::UnclosedBrace { offset: 7 }),
        ("/books/{", E::UnclosedBrace { offset: 7 }),
        ("/books/{a,", E::UnclosedBrace { offset: 7 }),
        ("/books/{a{b}}", E::UnclosedBrace { offset: 7 }),
        ("/books/id}", E::UnopenedBrace { offset: 9 }),
        ("/books/{id}}", E::UnopenedBrace { offset: 11 }),
        ("/books/{}", E::EmptyExpression { offset: 7 }),
        ("/books/{+}", E::EmptyExpression { offset: 7 }),
        ("/books/{=x}", E::ReservedOperator { offset: 8, operator: '=' }),
        ("/books/{|x}", E::ReservedOperator { offset: 8, operator: '|' }),
        ("/books/{a b}", E::InvalidExpression { offset: 9, found: ' ' }),
        ("/books/{a-b}", E::InvalidExpression { offset: 9, found: '-' }),
        ("/books/{.a.}", E::InvalidExpression { offset: 10, found: '.' }),
        ("/books/{a..b}", E::InvalidExpression { offset: 9, found: '.' }),
        ("/books/{é}", E::InvalidExpression { offset: 8, found: 'é' }),
        ("/books/{a:0}", E::InvalidPrefixLength { offset: 10 }),
        ("/books/{a:}", E::InvalidPrefixLength { offset: 10 }),
        ("/books/{a:10000}", E::InvalidPrefixLength { offset: 10 }),
        ("/books/{a%2}", E::InvalidPercentEncoding { offset: 9 }),
        ("/bo%zzoks/{a}", E::InvalidPercentEncoding { offset: 3 }),
        ("/my books/{id}", E::InvalidLiteral { offset: 3, found: ' ' }),
        ("/books/{id}<", E::InvalidLiteral { offset: 11, found: '<' }),
        ("/books/*/{id}", E::WildcardInTemplate { offset: 7 }),
        ("/books/{id}/**", E::WildcardInTemplate { offset: 12 }),
    ];
    for (text, expected) in cases {
        assert_eq!(Selector::parse(text).as_ref().err(), Some(expected), "{text:?}");
    }
}

#[test]
fn valid_template_syntax_is_accepted() {
    for text in [
        "{a}",
        "{a.b_c}",
        "{%41b}",
        "{a:3}",
        "{a:9999}",
        "{a*}",
        "{a,b:2,c*}",
        "{+a}{#b}{.c}{/d}{;e}{?f}{&g}",
        "/x/{a}?{b}",
        "/\u{E000}/{a}",
        "/\u{10000}/{a}",
    ] {
        assert!(Selector::parse(text).is_ok(), "{text:?}: {:?}", Selector::parse(text));
    }
}

#[test]
fn error_messages_say_what_and_where() {
    let message = Selector::parse("a/**/b").expect_err("invalid").to_string();
    assert_eq!(message, "`**` at byte 2 must be the last segment");
    let message = Selector::parse("/x/{a").expect_err("invalid").to_string();
    assert_eq!(message, "`{` at byte 3 is not closed");
}

#[test]
fn limits_are_enforced() {
    use tidings_broker::selector::{MAX_TEMPLATE_LEN, MAX_WILDCARD_SEGMENTS};
    let deep = vec!["a"; MAX_WILDCARD_SEGMENTS - 1].join("/") + "/*";
    assert!(Selector::parse(&deep).is_ok());
    let too_deep = vec!["a"; MAX_WILDCARD_SEGMENTS].join("/") + "/*";
    assert_eq!(
        Selector::parse(&too_deep),
        Err(SelectorError::TooManySegments {
            segments: MAX_WILDCARD_SEGMENTS + 1,
            max: MAX_WILDCARD_SEGMENTS
        })
    );
    let long = format!("/{}/{{id}}", "a".repeat(MAX_TEMPLATE_LEN));
    assert_eq!(
        Selector::parse(&long),
        Err(SelectorError::TooLong { len: long.len(), max: MAX_TEMPLATE_LEN })
    );
    // Exact topics have no length limit.
    assert!(Selector::parse(&"a".repeat(100_000)).is_ok());
}

#[test]
fn long_templates_and_topics_match_without_blowup() {
    // Many adjacent optional expressions are the worst case for a backtracking matcher.
    let template = "{a}".repeat(300) + "!";
    let s = sel(&template);
    let topic = "a".repeat(10_000);
    assert!(!s.matches(&topic));
    assert!(s.matches(&(topic.clone() + "!")));
    let big = format!("/{}/{{+rest}}", "x".repeat(3000));
    let s = sel(&big);
    assert!(s.matches(&format!("/{}/a/b", "x".repeat(3000))));
    assert!(!s.matches(&format!("/{}/a/b", "x".repeat(2999))));
}

// ---------------------------------------------------------------------------------------------
// The index.

#[test]
fn index_reports_each_kind() {
    let mut index = SelectorIndex::new();
    index.insert(&sel("*"), 1);
    index.insert(&sel("ride.passenger.start"), 2);
    index.insert(&sel("ride.*.start"), 3);
    index.insert(&sel("ride.**"), 4);
    index.insert(&sel("ride.{who}.start"), 5);
    index.insert(&sel("{+any}"), 6);
    index.insert(&sel("ride.driver.start"), 7);
    assert_eq!(index.len(), 7);
    assert_eq!(matching_keys(&index, "ride.passenger.start"), [1, 2, 3, 4, 5, 6]);
    assert_eq!(matching_keys(&index, "ride.driver.start"), [1, 3, 4, 5, 6, 7]);
    assert_eq!(matching_keys(&index, "ride"), [1, 6]);
    assert_eq!(matching_keys(&index, "bus stop"), [1]);
}

#[test]
fn index_reports_once_per_selector_and_counts_registrations() {
    let mut index = SelectorIndex::new();
    let pets = sel("pets/**");
    index.insert(&pets, 1);
    index.insert(&pets, 1);
    index.insert(&sel("pets/*"), 1);
    assert_eq!(index.len(), 3);
    let mut reports = Vec::new();
    index.for_each_match("pets/cats", |k| reports.push(k));
    assert_eq!(reports, [1, 1], "once for each of the two matching selectors");
    assert!(index.remove(&pets, 1));
    assert_eq!(matching_keys(&index, "pets/cats/persian"), [1], "one registration of pets/** left");
    assert!(index.remove(&pets, 1));
    assert!(!index.remove(&pets, 1));
    assert_eq!(matching_keys(&index, "pets/cats/persian"), [] as [u32; 0]);
    assert_eq!(index.len(), 1);
    assert!(!index.remove(&sel("pets/*"), 2), "wrong key");
    assert!(!index.remove(&sel("dogs/*"), 1), "never inserted");
    assert!(index.remove(&sel("pets/*"), 1));
    assert!(index.is_empty());
}

#[test]
fn index_handles_many_keys_on_one_selector() {
    // Past the bucket's linear threshold the key positions move into a map; removal order
    // scrambles them.
    let mut index = SelectorIndex::new();
    let news = sel("news");
    for key in 0..1000 {
        index.insert(&news, key);
    }
    for key in (0..1000).filter(|k| k % 3 != 0) {
        assert!(index.remove(&news, key));
    }
    let expected: Vec<u32> = (0..1000).filter(|k| k % 3 == 0).collect();
    assert_eq!(matching_keys(&index, "news"), expected);
    for key in expected {
        assert!(index.remove(&news, key));
    }
    assert!(index.is_empty());
    assert_eq!(matching_keys(&index, "news"), [] as [u32; 0]);
}

#[test]
fn templates_are_only_tried_under_their_literal_prefix() {
    let mut index = SelectorIndex::new();
    index.insert(&sel("https://example.com/books/{id}"), 1);
    index.insert(&sel("https://example.com/authors/{id}"), 2);
    index.insert(&sel("https://example.com/{kind}/1"), 3);
    index.insert(&sel("{scheme}://example.com/books/1"), 4);
    index.insert(&sel("https://example.com/books{/id}"), 5);
    assert_eq!(matching_keys(&index, "https://example.com/books/1"), [1, 3, 4, 5]);
    assert_eq!(matching_keys(&index, "https://example.com/authors/1"), [2, 3]);
    assert_eq!(matching_keys(&index, "https://example.com/books"), [5]);
    assert!(index.remove(&sel("https://example.com/books/{id}"), 1));
    assert_eq!(matching_keys(&index, "https://example.com/books/1"), [3, 4, 5]);
}

// ---------------------------------------------------------------------------------------------
// Property tests.

const SEGMENTS: &[&str] = &["a", "b", "ab", "", "1", "x%41"];

fn topic_strategy() -> impl Strategy<Value = String> {
    let token = (prop::sample::select(vec!['/', '.']), prop::sample::select(SEGMENTS.to_vec()));
    (prop::sample::select(SEGMENTS.to_vec()), prop::collection::vec(token, 0..5)).prop_map(
        |(first, rest)| {
            let mut topic = first.to_string();
            for (sep, segment) in rest {
                topic.push(sep);
                topic.push_str(segment);
            }
            topic
        },
    )
}

fn wildcard_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![3 => prop::sample::select(SEGMENTS.to_vec()), 2 => Just("*")];
    let token = (prop::sample::select(vec!['/', '.']), segment.clone());
    (
        segment,
        prop::collection::vec(token, 0..4),
        prop::option::of(prop::sample::select(vec!['/', '.'])),
    )
        .prop_map(|(first, rest, tail)| {
            let mut text = first.to_string();
            for (sep, segment) in rest {
                text.push(sep);
                text.push_str(segment);
            }
            if let Some(sep) = tail {
                text.push(sep);
                text.push_str("**");
            }
            text
        })
}

fn template_strategy() -> impl Strategy<Value = String> {
    template_strategy_of(1..5)
}

/// Templates of `pieces` literal or expression pieces; long ones (more than about six
/// expressions) compile past the 64-instruction fast path.
fn template_strategy_of(pieces: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let expression = (
        prop::sample::select(vec!["", "+", "#", ".", "/", ";", "?", "&"]),
        prop::collection::vec(prop::sample::select(vec!["v", "w*", "x:2"]), 1..3),
    )
        .prop_map(|(op, vars)| format!("{{{op}{}}}", vars.join(",")));
    let piece = prop_oneof![
        prop::sample::select(vec!["a", "/", ".", "a/", "/b", "a.b", "=", "%41"])
            .prop_map(String::from),
        expression,
    ];
    prop::collection::vec(piece, pieces)
        .prop_map(|pieces| pieces.concat())
        .prop_filter("a template has a brace", |t| t.contains('{'))
}

fn selector_strategy() -> impl Strategy<Value = Selector> {
    prop_oneof![
        1 => Just("*".to_string()),
        3 => topic_strategy(),
        4 => wildcard_strategy(),
        3 => template_strategy(),
    ]
    .prop_filter_map("parses", |text| Selector::parse(&text).ok())
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, u32),
    Remove(usize, u32),
    Query(String),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// For any sequence of inserts, removes and lookups, the index reports each key exactly
    /// once per distinct selector of its that matches, as a scan with `Selector::matches` says.
    #[test]
    fn index_agrees_with_a_naive_scan(
        selectors in prop::collection::vec(selector_strategy(), 1..12),
        ops in prop::collection::vec(
            prop_oneof![
                4 => (0..12usize, 0..4u32).prop_map(|(s, k)| Op::Insert(s, k)),
                2 => (0..12usize, 0..4u32).prop_map(|(s, k)| Op::Remove(s, k)),
                4 => topic_strategy().prop_map(Op::Query),
            ],
            1..60,
        ),
    ) {
        let mut index = SelectorIndex::new();
        // The model: registrations per (selector, key). Equal selectors at different positions
        // of `selectors` are one selector, as in the index.
        let mut model: HashMap<(Selector, u32), usize> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(s, k) => {
                    let selector = &selectors[s % selectors.len()];
                    index.insert(selector, k);
                    *model.entry((selector.clone(), k)).or_default() += 1;
                }
                Op::Remove(s, k) => {
                    let selector = &selectors[s % selectors.len()];
                    let count = model.entry((selector.clone(), k)).or_default();
                    let expected = *count > 0;
                    *count = count.saturating_sub(1);
                    prop_assert_eq!(index.remove(selector, k), expected);
                }
                Op::Query(topic) => {
                    let mut expected: Vec<u32> = model
                        .iter()
                        .filter(|((selector, _), count)| **count > 0 && selector.matches(&topic))
                        .map(|((_, k), _)| *k)
                        .collect();
                    expected.sort_unstable();
                    let mut reported = Vec::new();
                    index.for_each_match(&topic, |k| reported.push(k));
                    reported.sort_unstable();
                    prop_assert_eq!(reported, expected, "topic {:?}", topic);
                }
            }
            prop_assert_eq!(index.len(), model.values().sum::<usize>());
        }
    }

    /// The automaton accepts exactly what Mercure's regular expression for the template
    /// accepts (plus the template's own text).
    #[test]
    fn template_matcher_agrees_with_mercure_regex(
        template in template_strategy(),
        topics in prop::collection::vec(template_topic_strategy(), 1..20),
    ) {
        let Ok(selector) = Selector::parse(&template) else {
            return Err(TestCaseError::reject("not a valid template"));
        };
        let regex = mercure_regex(&template);
        for topic in topics {
            let expected = topic == template || regex.is_match(&topic);
            prop_assert_eq!(selector.matches(&topic), expected, "{:?} vs {:?} ({})", template, topic, regex);
        }
    }

    /// The same with long templates, which take the general automaton path.
    #[test]
    fn long_template_matcher_agrees_with_mercure_regex(
        template in template_strategy_of(10..24),
        topics in prop::collection::vec(template_topic_strategy(), 1..20),
    ) {
        let Ok(selector) = Selector::parse(&template) else {
            return Err(TestCaseError::reject("not a valid template"));
        };
        let regex = mercure_regex(&template);
        for topic in topics {
            let expected = topic == template || regex.is_match(&topic);
            prop_assert_eq!(selector.matches(&topic), expected, "{:?} vs {:?} ({})", template, topic, regex);
        }
    }

    /// `Selector::matches` on wildcards agrees with a regular expression written from the
    /// grammar in docs/TOPICS.md.
    #[test]
    fn wildcard_matches_agree_with_grammar_regex(
        pattern in wildcard_strategy(),
        topics in prop::collection::vec(topic_strategy(), 1..20),
    ) {
        let Ok(selector) = Selector::parse(&pattern) else {
            return Err(TestCaseError::reject("not a valid wildcard"));
        };
        if selector.kind() != SelectorKind::Wildcard {
            return Err(TestCaseError::reject("`*` alone selects everything"));
        }
        let regex = wildcard_regex(&pattern);
        for topic in topics {
            prop_assert_eq!(selector.matches(&topic), regex.is_match(&topic), "{:?} vs {:?}", pattern, topic);
        }
    }
}

/// Topics over the characters templates care about.
fn template_topic_strategy() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "b", "/", ".", ",", "=", "&", "?", "#", ";", "%41", "%4", "~", "é", "a/", "v=1",
    ]);
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// The regular expression the Mercure hub (through its URI template library) builds for a
/// template, re-derived here from the rules in docs/TOPICS.md for the test's valid templates.
fn mercure_regex(template: &str) -> regex::Regex {
    const UNRESERVED: &str = r"A-Za-z0-9\-._~";
    const RESERVED: &str = r":/?#\[\]@!$&'()*+,;=";
    let class = |reserved: bool, pairs: bool| {
        let chars = if reserved {
            format!("{UNRESERVED}{RESERVED}")
        } else if pairs {
            format!("{UNRESERVED},=")
        } else {
            format!("{UNRESERVED},")
        };
        format!("(?:[{chars}]|%[0-9A-Fa-f]{{2}})*")
    };
    let mut re = String::from("^");
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            re.push_str(&regex::escape(rest));
            break;
        };
        re.push_str(&regex::escape(&rest[..open]));
        let close = open + rest[open..].find('}').expect("valid template");
        let body = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let (op, vars) = match body.chars().next() {
            Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &body[1..]),
            _ => (None, body),
        };
        let (first, sep, named, reserved) = match op {
            None => ("", ",", false, false),
            Some('+') => ("", ",", false, true),
            Some('#') => ("#", ",", false, true),
            Some('.') => (".", ".", false, false),
            Some('/') => ("/", "/", false, false),
            Some(';') => (";", ";", true, false),
            Some('?') => ("?", "&", true, false),
            _ => ("&", "&", true, false),
        };
        let vars: Vec<&str> = vars.split(',').collect();
        let exploded = vars.iter().any(|v| v.ends_with('*'));
        let mut expr =
            format!("{}{}", regex::escape(first), class(reserved, named || vars[0].ends_with('*')));
        if vars.len() > 1 || exploded {
            let repeat =
                if exploded { "*".to_string() } else { format!("{{0,{}}}", vars.len() - 1) };
            expr.push_str(&format!(
                "(?:{}{}){repeat}",
                regex::escape(sep),
                class(reserved, named || exploded)
            ));
        }
        re.push_str(&format!("(?:{expr})?"));
    }
    re.push('$');
    regex::Regex::new(&re).expect("regex")
}

/// A wildcard selector as a regular expression: literal segments as themselves, `*` as one
/// non-empty segment, a final `<sep>**` as the separator and at least one more character.
fn wildcard_regex(pattern: &str) -> regex::Regex {
    let mut re = String::from("^");
    let mut segment = String::new();
    let flush = |segment: &mut String, re: &mut String| {
        match segment.as_str() {
            "*" => re.push_str("[^/.]+"),
            "**" => re.push_str(".+"),
            other => re.push_str(&regex::escape(other)),
        }
        segment.clear();
    };
    for c in pattern.chars() {
        if c == '/' || c == '.' {
            flush(&mut segment, &mut re);
            re.push_str(&regex::escape(&c.to_string()));
        } else {
            segment.push(c);
        }
    }
    flush(&mut segment, &mut re);
    re.push('$');
    regex::Regex::new(&re).expect("regex")
}
