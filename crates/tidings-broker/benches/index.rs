//! Cost of finding the subscribers of one published topic.
//!
//! Each `*_background` benchmark publishes a topic with exactly one matching subscriber while
//! `n` other selectors of the same kind do not match: with the index the time should not move
//! between n = 1 000 and n = 100 000. (From n = 0 it may step once: with no wildcard or
//! template at all the trie walk is skipped.) `fan_out` measures the cost per reported key as the number of
//! matching subscribers grows.
//!
//! Run: `cargo bench -p tidings-broker --bench index`.

use divan::{Bencher, black_box};
use tidings_broker::{Selector, SelectorIndex};

fn main() {
    divan::main();
}

const BACKGROUND: [usize; 3] = [0, 1_000, 100_000];

fn selector(text: &str) -> Selector {
    match Selector::parse(text) {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

/// Builds an index with `n` non-matching selectors from `other` plus the matching one, and
/// benchmarks one lookup of `topic`.
fn run(
    bencher: Bencher<'_, '_>,
    n: usize,
    other: impl Fn(usize) -> String,
    matching: &str,
    topic: &str,
) {
    let mut index = SelectorIndex::new();
    for i in 0..n {
        index.insert(&selector(&other(i)), i as u64 + 1);
    }
    index.insert(&selector(matching), 0);
    let mut check = 0;
    index.for_each_match(topic, |_| check += 1);
    assert_eq!(check, 1, "exactly one subscriber matches");
    bencher.bench_local(|| {
        let mut count = 0u64;
        index.for_each_match(black_box(topic), |key| count += key + 1);
        count
    });
}

#[divan::bench(args = BACKGROUND)]
fn exact_background(bencher: Bencher<'_, '_>, n: usize) {
    run(
        bencher,
        n,
        |i| format!("https://example.com/books/{i}"),
        "https://example.com/books/the-hobbit",
        "https://example.com/books/the-hobbit",
    );
}

#[divan::bench(args = BACKGROUND)]
fn wildcard_background(bencher: Bencher<'_, '_>, n: usize) {
    // Half share the matching selector's first segment, so the walk has to descend among them.
    run(
        bencher,
        n,
        |i| if i % 2 == 0 { format!("ride.{i}.*") } else { format!("tenant{i}.*.start") },
        "ride.*.start",
        "ride.passenger.start",
    );
}

#[divan::bench(args = BACKGROUND)]
fn template_background(bencher: Bencher<'_, '_>, n: usize) {
    run(
        bencher,
        n,
        |i| format!("https://example.com/tenant{i}/books/{{id}}"),
        "https://example.com/books/{id}",
        "https://example.com/books/1",
    );
}

#[divan::bench(args = BACKGROUND)]
fn mixed_background(bencher: Bencher<'_, '_>, n: usize) {
    // 70% exact, 30% wildcards and templates, none matching.
    run(
        bencher,
        n,
        |i| match i % 10 {
            0..=6 => format!("https://example.com/users/{i}"),
            7 | 8 => format!("https://example.com/users/{i}/**"),
            _ => format!("https://example.com/users/{i}/{{+rest}}"),
        },
        "https://example.com/users/me",
        "https://example.com/users/me",
    );
}

/// `m` subscribers all matching; divide the time by `m` for the cost per reported key.
#[divan::bench(args = [1, 1_000, 10_000, 100_000])]
fn fan_out(bencher: Bencher<'_, '_>, m: usize) {
    let mut index = SelectorIndex::new();
    let news = selector("news");
    for key in 0..m as u64 {
        index.insert(&news, key);
    }
    bencher.counter(divan::counter::ItemsCount::new(m)).bench_local(|| {
        let mut sum = 0u64;
        index.for_each_match(black_box("news"), |key| sum = sum.wrapping_add(key));
        sum
    });
}

/// One template checked against a matching topic: the compiled matcher's own cost.
#[divan::bench]
fn template_match(bencher: Bencher<'_, '_>) {
    let books = selector("https://example.com/books/{id}/reviews{?page}");
    bencher
        .bench_local(|| books.matches(black_box("https://example.com/books/1234/reviews?page=2")));
}
