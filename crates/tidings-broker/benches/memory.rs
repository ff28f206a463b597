//! Bytes of memory per idle subscription, measured as the growth of the process's resident
//! set while 100 000 subscriptions are registered in one shard (Linux `/proc/self/statm`).
//! Everything a subscription costs is counted: its slot, its selectors, the index entries, the
//! per-user map, the allocator's overhead. Each case runs in a fresh child process so memory
//! freed by one case cannot hide the next one's growth.
//!
//! Run: `cargo bench -p tidings-broker --bench memory`

use tidings_broker::{
    Hub, HubConfig, Selector, Shard, ShardConfig, Start, SubscriptionConfig, Timestamp, UserId,
};

const N: usize = 100_000;
const CASE_VAR: &str = "TIDINGS_MEMORY_CASE";

type Make = fn(usize) -> SubscriptionConfig;

fn selector(text: &str) -> Selector {
    Selector::parse(text).expect("selector")
}

const CASES: [(&str, Make); 5] = [
    ("exact topic, distinct per subscriber", |i| {
        SubscriptionConfig::new().selector(selector(&format!("https://example.com/books/{i}")))
    }),
    ("exact topic, the same for all", |_| {
        SubscriptionConfig::new().selector(selector("https://example.com/books/1"))
    }),
    ("wildcard, distinct per subscriber", |i| {
        SubscriptionConfig::new().selector(selector(&format!("https://example.com/books/{i}/*")))
    }),
    ("URI template, the same for all", |_| {
        SubscriptionConfig::new().selector(selector("https://example.com/books/{id}"))
    }),
    ("exact topic + user, distinct", |i| {
        SubscriptionConfig::new()
            .selector(selector(&format!("https://example.com/books/{i}")))
            .principal(UserId::new(format!("user-{i}")))
    }),
];

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn run_case(index: usize) {
    let (name, make) = CASES[index];
    let hub = Hub::new(HubConfig::new(1));
    let plan = hub.plan(&Start::Live, Timestamp::ZERO).expect("plan");
    let mut shard = Shard::new(ShardConfig::new(0));
    let Some(before) = resident_bytes() else {
        println!("{name}: /proc/self/statm unavailable");
        return;
    };
    for i in 0..N {
        shard.subscribe(make(i), &plan, Timestamp::ZERO).expect("subscribe");
    }
    let after = resident_bytes().unwrap_or(before);
    println!("{name:<40} {:>6} bytes per idle subscription", (after - before) / N as u64);
    std::hint::black_box(&shard);
}

fn main() {
    if let Some(index) = std::env::var(CASE_VAR).ok().and_then(|v| v.parse().ok()) {
        run_case(index);
        return;
    }
    println!("{N} idle subscriptions in one shard, resident-set growth per subscription:");
    let exe = std::env::current_exe().expect("current exe");
    for index in 0..CASES.len() {
        let status = std::process::Command::new(&exe)
            .env(CASE_VAR, index.to_string())
            .status()
            .expect("spawn");
        assert!(status.success(), "case {index} failed");
    }
}
