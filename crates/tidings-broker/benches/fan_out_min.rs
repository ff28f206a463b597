//! The fan-out figures of `benches/broker.rs`, measured as the minimum over many rounds
//! instead of criterion's mean: on a machine shared with other work, the minimum is the least
//! disturbed estimate of what the code costs. Two tables:
//!
//! 1. ns per delivery publishing to N subscribers that all match (exact topics, a mix with 30%
//!    wildcard selectors, URI templates);
//! 2. ns per publish with one matching subscriber alone and among 10, 1 000 and 100 000 that
//!    do not match.
//!
//! Each round publishes 32 events (timed), then drains the woken subscribers (untimed).
//!
//! Run: `cargo bench -p tidings-broker --bench fan_out_min`

use std::time::{Duration, Instant};

use tidings_broker::{
    Hub, HubConfig, Item, Message, QueueLimits, Selector, Shard, ShardConfig, Start, SubscriberId,
    SubscriptionConfig, Timestamp,
};
use tidings_codec::Event;

const TOPIC: &str = "https://example.com/books/1";
const PER_ROUND: u32 = 32;

struct Setup {
    hub: Hub,
    shard: Shard,
    message: Message,
    woken: Vec<SubscriberId>,
    items: Vec<Item>,
}

impl Setup {
    fn new(selectors: impl Iterator<Item = String>) -> Self {
        let hub = Hub::new(HubConfig::new(1));
        let mut shard = Shard::new(ShardConfig::new(0).queue_limits(QueueLimits::new(64, 1 << 20)));
        let plan = hub.plan(&Start::Live, Timestamp::ZERO).expect("plan");
        for text in selectors {
            let config =
                SubscriptionConfig::new().selector(Selector::parse(&text).expect("selector"));
            shard.subscribe(config, &plan, Timestamp::ZERO).expect("subscribe");
        }
        let message = Message::new(Event::new(r#"{"price":"12.50","stock":3}"#)).topic(TOPIC);
        Self { hub, shard, message, woken: Vec::new(), items: Vec::new() }
    }

    /// Minimum over `rounds` of the mean time of one publish (hub + fan-out) and of its
    /// fan-out alone.
    fn run(&mut self, rounds: usize, expect: usize) -> (Duration, Duration) {
        let (mut best_publish, mut best_fan_out) = (Duration::MAX, Duration::MAX);
        for _ in 0..rounds {
            let mut fan_out = Duration::ZERO;
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                let published =
                    self.hub.publish(self.message.clone(), Timestamp::ZERO).expect("publish");
                let t = Instant::now();
                let result = self.shard.fan_out(&published).expect("fan out");
                fan_out += t.elapsed();
                assert_eq!(result.delivered, expect);
            }
            best_publish = best_publish.min(start.elapsed() / PER_ROUND);
            best_fan_out = best_fan_out.min(fan_out / PER_ROUND);
            self.woken.clear();
            self.shard.take_woken(&mut self.woken);
            for &id in &self.woken {
                self.items.clear();
                self.shard.drain(id, &mut self.items).expect("drain");
            }
        }
        (best_publish, best_fan_out)
    }
}

fn exact(i: usize) -> String {
    let _ = i;
    TOPIC.to_owned()
}

fn wildcard_mix(i: usize) -> String {
    match i % 10 {
        0 => "https://example.com/books/*".to_owned(),
        1 => "https://example.com/**".to_owned(),
        2 => "https://example.com/*/1".to_owned(),
        _ => TOPIC.to_owned(),
    }
}

fn template(i: usize) -> String {
    if i % 2 == 0 { "https://example.com/books/{id}" } else { "https://example.com/{kind}/{id}" }
        .to_owned()
}

/// 70% exact topics of other books; 30% wildcards and templates under other prefixes.
fn other(i: usize) -> String {
    match i % 10 {
        0 => format!("https://example.com/authors/{i}/*"),
        1 => format!("https://example.com/shelves/{i}/**"),
        2 => format!("https://example.com/users/{i}/{{id}}"),
        _ => format!("https://example.com/books/{}", i + 2),
    }
}

fn main() {
    println!(
        "ns per delivery, all N subscribers match (minimum over rounds of {PER_ROUND} publishes)"
    );
    println!("{:>8}  {:>8}  {:>12}  {:>12}", "N", "exact", "30% wildcard", "URI template");
    for n in [1usize, 1_000, 10_000, 100_000] {
        let rounds = (2_000_000 / n).clamp(20, 300);
        let mut row = Vec::new();
        for make in [exact as fn(usize) -> String, wildcard_mix, template] {
            let (_, fan_out) = Setup::new((0..n).map(make)).run(rounds, n);
            row.push(fan_out.as_nanos() as f64 / n as f64);
        }
        println!("{n:>8}  {:>8.1}  {:>12.1}  {:>12.1}", row[0], row[1], row[2]);
    }
    println!();
    println!("ns per publish, 1 matching subscriber among N that do not match");
    println!("{:>8}  {:>22}  {:>14}", "N", "publish + fan_out", "fan_out");
    for n in [0usize, 10, 1_000, 100_000] {
        let selectors = std::iter::once(TOPIC.to_owned()).chain((0..n).map(other));
        let (publish, fan_out) = Setup::new(selectors).run(300, 1);
        println!("{n:>8}  {:>22}  {:>14}", publish.as_nanos(), fan_out.as_nanos());
    }
}
