//! Fan-out benchmarks of the broker core alone (no I/O): one publish (id, encode once, append
//! to history, fan out) to N matching subscribers, for exact topics, a mix with 30% wildcard
//! selectors, and URI templates; and a publish whose cost must not depend on the number of
//! subscribers that do not match it.
//!
//! Throughput is the number of deliveries per publish, so criterion's "elem/s" is deliveries
//! per second and ns per delivery is the time per iteration divided by N (docs/BENCHMARKS.md).
//! Woken queues are drained outside the timed region every few publishes, as a driver would,
//! so they never overflow.
//!
//! Run: `cargo bench -p tidings-broker --bench broker`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tidings_broker::{
    Hub, HubConfig, Message, QueueLimits, Retention, Selector, Shard, ShardConfig, Start,
    SubscriberId, SubscriptionConfig, Timestamp,
};
use tidings_codec::Event;

const SIZES: [usize; 4] = [1, 1_000, 10_000, 100_000];
/// Publishes between two (untimed) drains; queues hold this many.
const DRAIN_EVERY: usize = 32;
const TOPIC: &str = "https://example.com/books/1";

struct Bench {
    hub: Hub,
    shard: Shard,
    woken: Vec<SubscriberId>,
    message: Message,
    out: Vec<tidings_broker::Item>,
}

impl Bench {
    fn new(selectors: impl Iterator<Item = Selector>) -> Self {
        let mut hub = Hub::new(HubConfig::new(1).retention(Retention::default()));
        let mut shard = Shard::new(
            ShardConfig::new(0).queue_limits(QueueLimits::new(DRAIN_EVERY * 2, 1 << 20)),
        );
        let plan = hub.plan(&Start::Live, Timestamp::ZERO).expect("plan");
        for selector in selectors {
            shard
                .subscribe(SubscriptionConfig::new().selector(selector), &plan, Timestamp::ZERO)
                .expect("subscribe");
        }
        let message = Message::new(Event::new(r#"{"price":"12.50","stock":3}"#)).topic(TOPIC);
        // Warm the history ring to its steady state (full, trimming one per publish).
        for _ in 0..1_000 {
            let p = hub
                .publish(Message::new(Event::new("warm")).topic("warm"), Timestamp::ZERO)
                .expect("publish");
            shard.fan_out(&p).expect("fan out");
        }
        Self { hub, shard, woken: Vec::new(), message, out: Vec::with_capacity(DRAIN_EVERY * 2) }
    }

    /// Drains the woken subscribers, as a driver does.
    fn drain_all(&mut self) {
        self.woken.clear();
        self.shard.take_woken(&mut self.woken);
        for &id in &self.woken {
            self.out.clear();
            let _ = self.shard.drain(id, &mut self.out);
        }
    }

    /// Times `iters` publishes; drains every `DRAIN_EVERY` publishes, untimed.
    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let now = Timestamp::from_millis(1);
        let mut since_drain = 0;
        for _ in 0..iters {
            let start = Instant::now();
            let published = self.hub.publish(self.message.clone(), now).expect("publish");
            let fan_out = self.shard.fan_out(&published).expect("fan out");
            total += start.elapsed();
            black_box(fan_out);
            since_drain += 1;
            if since_drain == DRAIN_EVERY {
                self.drain_all();
                since_drain = 0;
            }
        }
        self.drain_all();
        total
    }
}

fn exact(n: usize) -> impl Iterator<Item = Selector> {
    (0..n).map(|_| Selector::parse(TOPIC).expect("selector"))
}

/// 70% exact, 30% wildcards that match `TOPIC` (`*` segment and `**` tail forms).
fn wildcard_mix(n: usize) -> impl Iterator<Item = Selector> {
    (0..n).map(|i| {
        let text = match i % 10 {
            0 => "https://example.com/books/*",
            1 => "https://example.com/**",
            2 => "https://example.com/*/1",
            _ => TOPIC,
        };
        Selector::parse(text).expect("selector")
    })
}

fn templates(n: usize) -> impl Iterator<Item = Selector> {
    (0..n).map(|i| {
        let text = if i % 2 == 0 {
            "https://example.com/books/{id}"
        } else {
            "https://example.com/{kind}/{id}"
        };
        Selector::parse(text).expect("selector")
    })
}

fn fan_out(c: &mut Criterion) {
    type Make = fn(usize) -> Box<dyn Iterator<Item = Selector>>;
    let kinds: [(&str, Make); 3] = [
        ("exact", |n| Box::new(exact(n))),
        ("wildcard_mix_30pct", |n| Box::new(wildcard_mix(n))),
        ("uri_template", |n| Box::new(templates(n))),
    ];
    for (name, make) in kinds {
        let mut group = c.benchmark_group(format!("fan_out/{name}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for n in SIZES {
            let mut bench = Bench::new(make(n));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter_custom(|iters| bench.run(iters))
            });
        }
        group.finish();
    }
}

/// One matching subscriber, alone or among 10 or 100 000 that do not match (70% exact topics
/// on other books, 30% wildcards and templates under other prefixes). The first wildcard
/// registered adds one walk of the topic's path in the trie to every publish; after that the
/// cost must not grow with the number of subscribers that do not match.
fn independence(c: &mut Criterion) {
    let mut group = c.benchmark_group("independence");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let others = |n: usize| {
        (0..n).map(|i| {
            let text = match i % 10 {
                0 => format!("https://example.com/authors/{i}/*"),
                1 => format!("https://example.com/shelves/{i}/**"),
                2 => format!("https://example.com/users/{i}/{{id}}"),
                _ => format!("https://example.com/books/{}", i + 2),
            };
            Selector::parse(&text).expect("selector")
        })
    };
    for (name, n) in
        [("1_matching_alone", 0usize), ("1_matching_10_not", 10), ("1_matching_100k_not", 100_000)]
    {
        let mut bench = Bench::new(exact(1).chain(others(n)));
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter_custom(|iters| bench.run(iters)));
    }
    group.finish();
}

criterion_group!(benches, fan_out, independence);
criterion_main!(benches);
