//! Every rule of the broker core, run through the deterministic simulator (`tests/sim`).

mod sim;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sim::{Got, Phase, Sim};
use tidings_broker::{
    Audience, DisconnectReason, Gap, GapPolicy, GapReason, Hooks, HubConfig, Message,
    OverflowPolicy, PublishError, Published, QueueLimits, Retention, Selector, SelectorAuthorizer,
    ShardConfig, ShardError, Start, SubscriberId, SubscriptionConfig, SubscriptionInfo,
    UndeliveredReason, UserId,
};
use tidings_codec::{Event, EventId};

fn sel(text: &str) -> Selector {
    Selector::parse(text).expect("valid selector")
}

fn on(topics: &[&str]) -> SubscriptionConfig {
    SubscriptionConfig::new().selectors(topics.iter().map(|t| sel(t)))
}

fn hub() -> HubConfig {
    HubConfig::new(0xbeef).retention(Retention::unlimited())
}

fn gap(reason: GapReason, missed: Option<u64>) -> Got {
    Got::Gap(Gap::new(reason, missed))
}

// ---------------------------------------------------------------------------------------------
// Resume: the replay/live seam
// ---------------------------------------------------------------------------------------------

/// Number of protocol steps a resume of `c` takes in a fresh copy of the scenario.
fn resume_steps(build: &dyn Fn() -> (Sim, usize)) -> usize {
    let (mut sim, c) = build();
    sim.resume(c);
    let mut steps = 0;
    while sim.step(c) {
        steps += 1;
    }
    steps
}

/// A client on `a` saw some events, went away, more were published; it resumes while more
/// events are published at one chosen step (or at every step) of the resume.
fn seam_scenario(shards: usize) -> impl Fn() -> (Sim, usize) {
    move || {
        let mut sim = Sim::new(hub(), shards);
        // Put the resuming client on the last shard; others keep other shards busy.
        for _ in 0..shards - 1 {
            sim.subscribe(on(&["a"]));
        }
        let c = sim.subscribe(on(&["a"]));
        for i in 0..3 {
            sim.publish_topic("a", &format!("seen {i}"));
            sim.publish_topic("b", "other");
        }
        sim.run_until_idle();
        sim.disconnect(c);
        for i in 0..4 {
            sim.publish_topic("a", &format!("missed {i}"));
            sim.publish_topic("b", "other");
        }
        (sim, c)
    }
}

fn assert_exactly_once_in_order(sim: &Sim, c: usize) {
    let client = &sim.clients[c];
    let expected = sim.seqs_where(0, Sim::on_topic("a"));
    assert_eq!(client.seqs(), expected, "every event on `a`, once, in order; got {:?}", client.got);
    assert!(client.gaps().is_empty(), "no gap: {:?}", client.gaps());
}

#[test]
fn resume_has_no_gap_or_duplicate_when_publishing_at_any_single_step() {
    for shards in [1, 3] {
        let build = seam_scenario(shards);
        let steps = resume_steps(&build);
        assert!(steps >= 6, "batch size 1 gives a multi-step replay ({steps})");
        for at in 0..=steps {
            let (mut sim, c) = build();
            sim.resume(c);
            for step in 0..=steps {
                if step == at {
                    sim.publish_topic("a", "during");
                    sim.publish_topic("b", "during");
                    sim.publish_topic("a", "during 2");
                }
                sim.step(c);
            }
            sim.run_until_idle();
            assert!(matches!(sim.clients[c].phase, Phase::Live));
            assert_exactly_once_in_order(&sim, c);
        }
    }
}

#[test]
fn resume_has_no_gap_or_duplicate_when_publishing_at_every_step() {
    for shards in [1, 2] {
        let build = seam_scenario(shards);
        let (mut sim, c) = build();
        sim.resume(c);
        let mut guard = 0;
        loop {
            sim.publish_topic("a", "during");
            sim.publish_topic("b", "during");
            // Deliveries to other clients interleave too.
            sim.deliver();
            if !sim.step(c) {
                break;
            }
            guard += 1;
            assert!(guard < 1_000, "the replay converges although events keep coming");
        }
        sim.run_until_idle();
        assert_exactly_once_in_order(&sim, c);
    }
}

#[test]
fn resume_is_exact_when_an_event_reached_another_shard_first() {
    // The client saw event 1 through shard 0, then reconnects to shard 1 before shard 1 has
    // fanned out event 1: the live copy must be dropped, not delivered twice.
    let mut sim = Sim::new(hub(), 2);
    let c = sim.client_on(on(&["a"]), 0);
    sim.connect(c, Start::Live);
    sim.settle(c);
    let first = sim.publish_to_hub(Message::new(Event::new("1")).topic("a")).expect("publish");
    sim.fan_out_to(0, &first);
    sim.deliver();
    assert_eq!(sim.clients[c].seqs(), [1]);

    sim.disconnect(c);
    sim.clients[c].shard = 1;
    sim.resume(c);
    sim.settle(c);
    sim.fan_out_to(1, &first);
    let second = sim.publish_to_hub(Message::new(Event::new("2")).topic("a")).expect("publish");
    sim.fan_out_to(0, &second);
    sim.fan_out_to(1, &second);
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1, 2]);
}

#[test]
fn live_events_wait_behind_the_replay() {
    let (mut sim, c) = seam_scenario(1)();
    sim.resume(c);
    sim.step(c); // plan
    sim.step(c); // register
    sim.publish_topic("a", "live while replaying");
    sim.deliver();
    // Nothing is drained yet: replay items come first, live ones wait.
    let before = sim.clients[c].got.len();
    assert_eq!(before, 3, "only the events seen before disconnecting");
    sim.run_until_idle();
    assert_exactly_once_in_order(&sim, c);
}

#[test]
fn replay_skips_events_the_subscription_does_not_match() {
    let (mut sim, c) = seam_scenario(1)();
    sim.resume(c);
    sim.settle(c);
    let stats = sim.shards[0].stats().clone();
    assert_eq!(stats.replayed, 4, "the four missed `a` events, not the `b` ones");
    assert_exactly_once_in_order(&sim, c);
}

#[test]
fn resume_from_the_latest_id_replays_nothing() {
    let mut sim = Sim::new(hub(), 1);
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "x");
    sim.run_until_idle();
    sim.resume(c);
    sim.settle(c);
    sim.publish_topic("a", "y");
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Unknown ids, trimmed history, TTL: gap notices
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_id_gives_a_gap_then_all_retained_events() {
    let mut sim = Sim::new(hub(), 1);
    sim.publish_topic("a", "1");
    sim.publish_topic("b", "2");
    sim.publish_topic("a", "3");
    let c = sim.client(on(&["a"]));
    sim.connect(c, Start::Resume(EventId::new("from-another-hub").expect("id")));
    sim.settle(c);
    sim.publish_topic("a", "4");
    sim.run_until_idle();
    assert_eq!(
        sim.clients[c].got,
        [gap(GapReason::UnknownId, None), Got::Event(1), Got::Event(3), Got::Event(4)]
    );
}

#[test]
fn id_of_another_epoch_is_unknown() {
    let mut sim = Sim::new(hub(), 1);
    sim.publish_topic("a", "1");
    let foreign = tidings_broker::IdScheme::new(1).format(tidings_broker::Seq::new(1));
    let c = sim.client(on(&["a"]));
    sim.connect(c, Start::Resume(foreign));
    sim.settle(c);
    assert_eq!(sim.clients[c].got[0], gap(GapReason::UnknownId, None));
}

#[test]
fn unknown_id_with_live_only_policy_gives_a_gap_then_live() {
    let mut sim = Sim::new(hub().gap_policy(GapPolicy::LiveOnly), 1);
    sim.publish_topic("a", "1");
    let c = sim.client(on(&["a"]));
    sim.connect(c, Start::Resume(EventId::new("nope").expect("id")));
    sim.settle(c);
    sim.publish_topic("a", "2");
    sim.run_until_idle();
    assert_eq!(sim.clients[c].got, [gap(GapReason::UnknownId, None), Got::Event(2)]);
}

fn trimmed_scenario(retention: Retention) -> (Sim, usize) {
    let mut sim = Sim::new(hub().retention(retention), 1);
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "seen");
    sim.run_until_idle();
    sim.disconnect(c);
    for i in 0..5 {
        sim.publish_topic("a", &format!("missed {i}"));
    }
    (sim, c)
}

#[test]
fn retention_by_count_trims_and_resume_reports_the_gap() {
    let (mut sim, c) = trimmed_scenario(Retention::unlimited().max_events(Some(3)));
    assert_eq!(tidings_broker::History::len(sim.hub.history()), 3);
    sim.resume(c);
    sim.settle(c);
    // Events 2 and 3 were trimmed; 4, 5, 6 are retained.
    assert_eq!(
        sim.clients[c].got,
        [
            Got::Event(1),
            gap(GapReason::Trimmed, Some(2)),
            Got::Event(4),
            Got::Event(5),
            Got::Event(6)
        ]
    );
    assert_eq!(sim.hub.stats().trimmed, 3);
}

#[test]
fn retention_by_bytes_trims() {
    let frame_len = {
        let (sim, _) = trimmed_scenario(Retention::unlimited());
        sim.published[1].size()
    };
    let (mut sim, c) = trimmed_scenario(Retention::unlimited().max_bytes(Some(2 * frame_len)));
    assert_eq!(tidings_broker::History::len(sim.hub.history()), 2);
    assert!(tidings_broker::History::bytes(sim.hub.history()) <= 2 * frame_len);
    sim.resume(c);
    sim.settle(c);
    assert_eq!(
        sim.clients[c].got,
        [Got::Event(1), gap(GapReason::Trimmed, Some(3)), Got::Event(5), Got::Event(6)]
    );
}

#[test]
fn retention_by_age_trims_on_publish_and_on_tick() {
    let mut sim = Sim::new(
        hub().retention(Retention::unlimited().event_ttl(Some(Duration::from_secs(10)))),
        1,
    );
    sim.publish_topic("a", "old");
    sim.advance(Duration::from_secs(8));
    sim.publish_topic("a", "newer");
    sim.advance(Duration::from_secs(5));
    sim.publish_topic("a", "newest");
    assert_eq!(tidings_broker::History::len(sim.hub.history()), 2, "the first is 13 s old");
    sim.advance(Duration::from_secs(6));
    sim.hub.trim(sim.now).expect("trim");
    assert_eq!(
        tidings_broker::History::len(sim.hub.history()),
        1,
        "a tick trims without a publish"
    );
}

#[test]
fn expired_events_are_never_replayed_even_before_a_trim() {
    let mut sim = Sim::new(
        hub().retention(Retention::unlimited().event_ttl(Some(Duration::from_secs(10)))),
        1,
    );
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "seen");
    sim.run_until_idle();
    sim.disconnect(c);
    sim.publish_topic("a", "will expire");
    sim.advance(Duration::from_secs(6));
    sim.publish_topic("a", "fresh");
    sim.advance(Duration::from_secs(6));
    // No trim since: events 1 and 2 are still stored but 12 s old.
    assert_eq!(tidings_broker::History::len(sim.hub.history()), 3);
    sim.resume(c);
    sim.settle(c);
    assert_eq!(
        sim.clients[c].got,
        [Got::Event(1), gap(GapReason::Trimmed, Some(1)), Got::Event(3)]
    );

    // A new subscriber asking for the last 10 gets only unexpired events, and no gap.
    let d = sim.client(on(&["a"]));
    sim.connect(d, Start::LastN(10));
    sim.settle(d);
    assert_eq!(sim.clients[d].got, [Got::Event(3)]);
}

#[test]
fn trimmed_history_with_live_only_policy_gives_a_gap_then_live() {
    let mut sim = Sim::new(
        hub().retention(Retention::unlimited().max_events(Some(2))).gap_policy(GapPolicy::LiveOnly),
        1,
    );
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "seen");
    sim.run_until_idle();
    sim.disconnect(c);
    for _ in 0..4 {
        sim.publish_topic("a", "missed");
    }
    sim.resume(c);
    sim.settle(c);
    sim.publish_topic("a", "live");
    sim.run_until_idle();
    assert_eq!(
        sim.clients[c].got,
        [Got::Event(1), gap(GapReason::Trimmed, Some(2)), Got::Event(6)]
    );
}

#[test]
fn history_trimmed_during_the_replay_is_reported() {
    let mut sim = Sim::new(hub().retention(Retention::unlimited().max_events(Some(4))), 1);
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "seen");
    sim.run_until_idle();
    sim.disconnect(c);
    for _ in 0..3 {
        sim.publish_topic("a", "missed");
    }
    sim.resume(c);
    sim.step(c); // plan
    sim.step(c); // register: live from here
    sim.step(c); // read event 2
    sim.step(c); // push event 2
    // Three publishes trim events 1 to 3: event 3 goes before it is read.
    for _ in 0..3 {
        sim.publish_topic("a", "live");
    }
    sim.run_until_idle();
    assert_eq!(
        sim.clients[c].got,
        [
            Got::Event(1),
            Got::Event(2),
            gap(GapReason::Trimmed, Some(1)),
            Got::Event(4),
            Got::Event(5),
            Got::Event(6),
            Got::Event(7)
        ]
    );
}

#[test]
fn history_trimmed_past_the_seam_during_the_replay_is_reported_once() {
    let mut sim = Sim::new(hub().retention(Retention::unlimited().max_events(Some(2))), 1);
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "seen");
    sim.run_until_idle();
    sim.disconnect(c);
    sim.publish_topic("a", "missed");
    sim.publish_topic("a", "missed");
    sim.resume(c);
    sim.step(c); // plan
    sim.step(c); // register: the replay ends at event 3
    // Everything up to the seam is trimmed before the first read.
    sim.publish_topic("a", "live");
    sim.publish_topic("a", "live");
    sim.run_until_idle();
    assert_eq!(
        sim.clients[c].got,
        [Got::Event(1), gap(GapReason::Trimmed, Some(2)), Got::Event(4), Got::Event(5)]
    );
}

#[test]
fn empty_retention_makes_every_resume_a_gap() {
    let (mut sim, c) = trimmed_scenario(Retention::none());
    sim.resume(c);
    sim.settle(c);
    assert_eq!(sim.clients[c].got, [Got::Event(1), gap(GapReason::Trimmed, Some(5))]);
}

// ---------------------------------------------------------------------------------------------
// New subscribers: live, last N, since
// ---------------------------------------------------------------------------------------------

#[test]
fn new_subscribers_start_live_by_default() {
    let mut sim = Sim::new(hub(), 1);
    sim.publish_topic("a", "before");
    let c = sim.subscribe(on(&["a"]));
    sim.publish_topic("a", "after");
    sim.run_until_idle();
    assert_eq!(sim.clients[c].got, [Got::Event(2)]);
}

#[test]
fn last_n_replays_the_matching_events_among_the_last_n() {
    let mut sim = Sim::new(hub(), 1);
    for topic in ["a", "b", "a", "a", "b"] {
        sim.publish_topic(topic, "x");
    }
    let c = sim.client(on(&["a"]));
    sim.connect(c, Start::LastN(3));
    sim.settle(c);
    assert_eq!(sim.clients[c].got, [Got::Event(3), Got::Event(4)]);
}

#[test]
fn since_replays_events_published_at_or_after_the_time() {
    let mut sim = Sim::new(hub(), 1);
    sim.publish_topic("a", "early");
    sim.advance(Duration::from_secs(1));
    let cut = sim.now;
    sim.publish_topic("a", "on time");
    sim.advance(Duration::from_secs(1));
    sim.publish_topic("a", "late");
    let c = sim.client(on(&["a"]));
    sim.connect(c, Start::Since(cut));
    sim.settle(c);
    assert_eq!(sim.clients[c].got, [Got::Event(2), Got::Event(3)]);

    // `earliest`: everything retained.
    let d = sim.client(on(&["a"]));
    sim.connect(d, Start::Since(tidings_broker::Timestamp::ZERO));
    sim.settle(d);
    assert_eq!(sim.clients[d].seqs(), [1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Fan-out: dedupe, private, users, one subscriber, everyone
// ---------------------------------------------------------------------------------------------

#[test]
fn wildcard_subscriptions_are_served_by_the_index_live_and_in_replay() {
    // sseserver's hierarchy: the subtree `pets` is the selectors `pets` and `pets/**`.
    let mut sim = Sim::new(hub(), 2);
    let pets = sim.subscribe(on(&["pets", "pets/**"]));
    let rides = sim.subscribe(on(&["ride.*.start", "ride.passenger.**"]));
    let books = sim.subscribe(on(&["https://example.com/books/{id}"]));
    for topic in [
        "pets",
        "pets/cats",
        "petsmart",
        "pets/dogs/rex",
        "ride.driver.start",
        "ride.passenger.start",
        "ride.passenger.account.name",
        "ride.driver.stop",
        "https://example.com/books/1",
        "https://example.com/books/1/reviews",
    ] {
        sim.publish_topic(topic, topic);
    }
    sim.run_until_idle();
    assert_eq!(sim.clients[pets].seqs(), [1, 2, 4]);
    assert_eq!(sim.clients[rides].seqs(), [5, 6, 7], "`ride.passenger.start` matches both, once");
    assert_eq!(sim.clients[books].seqs(), [9]);

    // Replay applies the same selectors.
    for (c, expected) in [(pets, vec![1, 2, 4]), (rides, vec![5, 6, 7]), (books, vec![9])] {
        let late = sim.client(sim.clients[c].config.clone());
        sim.connect(late, Start::Since(tidings_broker::Timestamp::ZERO));
        sim.run_until_idle();
        assert_eq!(sim.clients[late].seqs(), expected);
    }
}

#[test]
fn an_event_matching_several_selectors_and_topics_is_delivered_once() {
    let mut sim = Sim::new(hub(), 1);
    let c = sim.subscribe(on(&["a", "b", "*"]));
    sim.publish(Message::new(Event::new("x")).topics(["a", "b", "c"]));
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1]);
    assert_eq!(sim.shards[0].stats().delivered, 1);
}

#[test]
fn private_events_reach_only_authorized_subscribers_live_and_in_replay() {
    let mut sim = Sim::new(hub(), 2);
    let auth = Arc::new(SelectorAuthorizer::new([sel("books/1")]));
    let allowed = sim.subscribe(on(&["books/1"]).authorizer(auth.clone()));
    let no_auth = sim.subscribe(on(&["books/1"]));
    let other_auth = sim.subscribe(
        on(&["books/1"]).authorizer(Arc::new(SelectorAuthorizer::new([sel("books/2")]))),
    );
    let closure =
        sim.subscribe(on(&["books/1"]).authorizer(Arc::new(|t: &str| t.starts_with("books/"))));
    sim.publish(Message::new(Event::new("secret")).topic("books/1").private());
    sim.publish(Message::new(Event::new("public")).topic("books/1"));
    // Authorized on `books/1` but the event's other topic is what the selector matched.
    sim.publish(Message::new(Event::new("secret 2")).topics(["books/1", "x"]).private());
    sim.run_until_idle();
    assert_eq!(sim.clients[allowed].seqs(), [1, 2, 3]);
    assert_eq!(sim.clients[no_auth].seqs(), [2]);
    assert_eq!(sim.clients[other_auth].seqs(), [2]);
    assert_eq!(sim.clients[closure].seqs(), [1, 2, 3]);

    // Replay applies the same rule.
    let late_allowed = sim.client(on(&["books/1"]).authorizer(auth));
    sim.connect(late_allowed, Start::Since(tidings_broker::Timestamp::ZERO));
    let late_denied = sim.client(on(&["books/1"]));
    sim.connect(late_denied, Start::Since(tidings_broker::Timestamp::ZERO));
    sim.run_until_idle();
    assert_eq!(sim.clients[late_allowed].seqs(), [1, 2, 3]);
    assert_eq!(sim.clients[late_denied].seqs(), [2]);
}

#[test]
fn per_user_delivery_reaches_every_session_of_those_users() {
    let mut sim = Sim::new(hub(), 3);
    let alice = UserId::new("alice");
    let bob = UserId::new("bob");
    let a1 = sim.subscribe(SubscriptionConfig::new().principal(alice.clone()));
    let a2 = sim.subscribe(on(&["news"]).principal(alice.clone()));
    let b1 = sim.subscribe(SubscriptionConfig::new().principal(bob.clone()));
    let anon = sim.subscribe(on(&["*"]));
    let carol = sim.subscribe(SubscriptionConfig::new().principal(UserId::new("carol")));
    sim.publish(Message::new(Event::new("for alice")).to_users([alice.clone()]));
    sim.publish(Message::new(Event::new("for both")).to_users([
        alice.clone(),
        bob.clone(),
        alice.clone(),
    ]));
    sim.run_until_idle();
    assert_eq!(sim.clients[a1].seqs(), [1, 2]);
    assert_eq!(sim.clients[a2].seqs(), [1, 2]);
    assert_eq!(sim.clients[b1].seqs(), [2]);
    assert!(sim.clients[anon].got.is_empty(), "selectors do not see per-user events");
    assert!(sim.clients[carol].got.is_empty());
    let sessions: usize = sim.shards.iter().map(|s| s.user_sessions(&alice)).sum();
    assert_eq!(sessions, 2);

    // A resuming session of alice gets her events it missed.
    sim.disconnect(b1);
    sim.publish(Message::new(Event::new("for bob")).to_users([bob.clone()]));
    sim.resume(b1);
    sim.run_until_idle();
    assert_eq!(sim.clients[b1].seqs(), [2, 3]);
}

#[test]
fn send_to_one_subscriber_reaches_only_it_and_is_never_replayed() {
    let mut sim = Sim::new(hub(), 2);
    let c = sim.subscribe(on(&["a"]));
    let d = sim.subscribe(on(&["a"]));
    let target = sim.clients[c].id.expect("connected");
    sim.publish(Message::new(Event::new("just you")).to_subscriber(target));
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1]);
    assert!(sim.clients[d].got.is_empty());

    // After reconnecting, the client is a new subscriber: a message for its old id goes nowhere.
    sim.resume(c);
    sim.run_until_idle();
    sim.publish(Message::new(Event::new("stale")).to_subscriber(target));
    sim.publish_topic("a", "public");
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1, 3]);
    let e = sim.client(on(&["a"]));
    sim.connect(e, Start::Since(tidings_broker::Timestamp::ZERO));
    sim.run_until_idle();
    assert_eq!(sim.clients[e].seqs(), [3]);
}

#[test]
fn broadcast_reaches_everyone_in_one_call() {
    let mut sim = Sim::new(hub(), 3);
    let clients: Vec<usize> = (0..7)
        .map(|i| match i % 3 {
            0 => sim.subscribe(SubscriptionConfig::new()),
            1 => sim.subscribe(on(&["x"])),
            _ => sim.subscribe(SubscriptionConfig::new().principal(UserId::new("u"))),
        })
        .collect();
    sim.publish(Message::new(Event::new("all hands")).to_everyone());
    sim.run_until_idle();
    for c in clients {
        assert_eq!(sim.clients[c].seqs(), [1], "client {c}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slow subscribers
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().expect("lock"))
    }
}

impl Hooks for Recorder {
    fn on_subscribe(&self, s: &SubscriptionInfo<'_>) {
        let selectors: Vec<&str> = s.selectors.iter().map(Selector::as_str).collect();
        self.log.lock().expect("lock").push(format!("subscribe {} {selectors:?}", s.id));
    }
    fn on_unsubscribe(&self, id: SubscriberId) {
        self.log.lock().expect("lock").push(format!("unsubscribe {id}"));
    }
    fn on_disconnect(&self, id: SubscriberId, reason: DisconnectReason) {
        self.log.lock().expect("lock").push(format!("disconnect {id} {reason:?}"));
    }
    fn on_undelivered(&self, event: &Published, id: SubscriberId, reason: UndeliveredReason) {
        self.log
            .lock()
            .expect("lock")
            .push(format!("undelivered {} {id} {reason:?}", event.seq().get()));
    }
}

fn slow_sim(policy: OverflowPolicy, limits: QueueLimits) -> (Sim, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let shard = ShardConfig::new(0).queue_limits(limits).overflow(policy).hooks(recorder.clone());
    (Sim::with_shards(hub(), vec![shard]), recorder)
}

#[test]
fn disconnect_policy_drops_the_lagging_subscriber_and_it_resumes_losslessly() {
    let (mut sim, recorder) = slow_sim(OverflowPolicy::Disconnect, QueueLimits::new(3, 1 << 20));
    let slow = sim.subscribe(on(&["a"]));
    let fast = sim.subscribe(on(&["a"]));
    sim.clients[slow].paused = true;
    recorder.take();
    for i in 0..6 {
        sim.publish_topic("a", &format!("{i}"));
        sim.deliver();
    }
    let slow_id = sim.clients[slow].id.expect("connected");
    let mut marked = Vec::new();
    sim.shards[0].take_disconnects(&mut marked);
    assert_eq!(marked, [(slow_id, DisconnectReason::Lagged)]);
    assert_eq!(
        recorder.take(),
        [
            format!("undelivered 4 {slow_id} QueueFull"),
            format!("disconnect {slow_id} Lagged"),
            format!("undelivered 5 {slow_id} Disconnecting"),
            format!("undelivered 6 {slow_id} Disconnecting"),
        ]
    );
    // The fast subscriber never noticed.
    assert_eq!(sim.clients[fast].seqs(), [1, 2, 3, 4, 5, 6]);
    let stats = sim.shards[0].stats().clone();
    assert_eq!((stats.lag_disconnects, stats.dropped), (1, 3));

    // The slow client gets what was queued, is closed, and resumes from its last id.
    sim.clients[slow].paused = false;
    sim.drain(slow);
    assert!(matches!(sim.clients[slow].phase, Phase::Closed(DisconnectReason::Lagged)));
    assert_eq!(sim.clients[slow].seqs(), [1, 2, 3]);
    sim.resume(slow);
    sim.run_until_idle();
    assert_eq!(sim.clients[slow].seqs(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn drop_oldest_policy_evicts_and_leaves_a_gap_notice() {
    let (mut sim, recorder) = slow_sim(OverflowPolicy::DropOldest, QueueLimits::new(3, 1 << 20));
    let slow = sim.subscribe(on(&["a"]));
    sim.clients[slow].paused = true;
    recorder.take();
    for i in 0..6 {
        sim.publish_topic("a", &format!("{i}"));
    }
    let id = sim.clients[slow].id.expect("connected");
    assert_eq!(
        recorder.take(),
        [
            format!("undelivered 1 {id} Evicted"),
            format!("undelivered 2 {id} Evicted"),
            format!("undelivered 3 {id} Evicted"),
        ]
    );
    sim.drain(slow);
    assert_eq!(
        sim.clients[slow].got,
        [gap(GapReason::Overflow, Some(3)), Got::Event(4), Got::Event(5), Got::Event(6)]
    );
    assert!(sim.clients[slow].is_connected());
    let stats = sim.shards[0].stats().clone();
    assert_eq!((stats.dropped, stats.lag_disconnects, stats.gaps), (3, 0, 1));

    // A second overflow after draining gives a new notice.
    for _ in 0..4 {
        sim.publish_topic("a", "more");
    }
    sim.drain(slow);
    assert_eq!(
        &sim.clients[slow].got[4..],
        [gap(GapReason::Overflow, Some(1)), Got::Event(8), Got::Event(9), Got::Event(10)]
    );
}

#[test]
fn queue_bytes_are_bounded_too() {
    let (mut sim, _) = slow_sim(OverflowPolicy::DropOldest, QueueLimits::new(100, 100));
    let slow = sim.subscribe(on(&["a"]));
    sim.clients[slow].paused = true;
    let payload = "x".repeat(30);
    for _ in 0..5 {
        sim.publish_topic("a", &payload);
    }
    let id = sim.clients[slow].id.expect("connected");
    let (items, bytes) = sim.shards[0].queued(id).expect("queued");
    assert!(bytes <= 100, "{bytes}");
    let frame = sim.published[0].frame().len();
    assert_eq!(items - 1, 100 / frame, "a gap plus what fits");
    // An event larger than the whole budget is dropped with a notice, older ones stay.
    sim.publish_topic("a", &"y".repeat(200));
    sim.drain(slow);
    let got = &sim.clients[slow].got;
    assert_eq!(got.last(), Some(&gap(GapReason::Overflow, Some(1))));
}

#[test]
fn a_slow_subscriber_never_blocks_publishing_or_others() {
    let (mut sim, _) = slow_sim(OverflowPolicy::Disconnect, QueueLimits::new(2, 1 << 20));
    let slow: Vec<usize> = (0..50).map(|_| sim.subscribe(on(&["a"]))).collect();
    let fast = sim.subscribe(on(&["a"]));
    for &c in &slow {
        sim.clients[c].paused = true;
    }
    for _ in 0..100 {
        sim.publish_topic("a", "x");
        sim.drain(fast);
    }
    assert_eq!(sim.clients[fast].seqs().len(), 100);
    assert_eq!(sim.shards[0].stats().lag_disconnects, 50);
}

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_ids_are_short_ascii_and_strictly_increasing() {
    let mut sim = Sim::new(hub(), 1);
    let mut previous = String::new();
    for _ in 0..2_000 {
        let id = sim.publish_topic("a", "x").id().as_str().to_owned();
        assert!(id.is_ascii() && id.len() <= 10, "{id}");
        assert!(previous < id, "{previous} < {id}");
        previous = id;
    }
}

#[test]
fn publisher_supplied_ids_must_be_unique_in_retained_history() {
    let mut sim =
        Sim::new(HubConfig::new(7).retention(Retention::unlimited().max_events(Some(2))), 1);
    let with_id =
        |id: &str| Message::new(Event::new("x").with_id(EventId::new(id).expect("id"))).topic("a");
    let first = sim.publish_to_hub(with_id("order-1")).expect("publish");
    assert_eq!(first.id().as_str(), "order-1");
    assert_eq!(&first.frame()[..], b"id:order-1\ndata: x\n\n");
    match sim.publish_to_hub(with_id("order-1")) {
        Err(PublishError::DuplicateId { id, seq }) => {
            assert_eq!((id.as_str(), seq.get()), ("order-1", 1));
        }
        other => panic!("expected a duplicate id error, got {other:?}"),
    }
    assert!(matches!(sim.publish_to_hub(with_id("")), Err(PublishError::EmptyId)));
    let reserved = sim.hub.id_scheme().format(tidings_broker::Seq::new(99));
    assert!(matches!(
        sim.publish_to_hub(with_id(reserved.as_str())),
        Err(PublishError::ReservedId { .. })
    ));
    assert_eq!(sim.hub.stats().rejected, 3);
    assert_eq!(sim.hub.last_seq().get(), 1, "refused publishes use no sequence");

    // Once trimmed, the id is free again (and unknown for resumes).
    sim.publish_topic("a", "2");
    sim.publish_topic("a", "3");
    assert_eq!(sim.hub.resolve(&EventId::new("order-1").expect("id")).expect("resolve"), None);
    assert!(sim.publish_to_hub(with_id("order-1")).is_ok());
}

#[test]
fn batches_are_published_whole_or_not_at_all() {
    let mut sim = Sim::new(hub(), 2);
    let c = sim.subscribe(on(&["a"]));
    let with_id =
        |id: &str| Message::new(Event::new("x").with_id(EventId::new(id).expect("id"))).topic("a");
    let mut out = Vec::new();
    sim.hub
        .publish_batch(
            [with_id("k1"), Message::new(Event::new("y")).topic("a"), with_id("k2")],
            sim.now,
            &mut out,
        )
        .expect("batch");
    let seqs: Vec<u64> = out.iter().map(|p| p.seq().get()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    for shard in &mut sim.shards {
        for p in &out {
            shard.fan_out(p).expect("in order");
        }
    }
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1, 2, 3]);

    // A duplicate inside the batch, or of a retained id, refuses the whole batch.
    let mut refused = Vec::new();
    let inner = sim.hub.publish_batch([with_id("k3"), with_id("k3")], sim.now, &mut refused);
    assert!(matches!(inner, Err(PublishError::DuplicateId { .. })), "{inner:?}");
    let retained = sim.hub.publish_batch([with_id("k4"), with_id("k1")], sim.now, &mut refused);
    assert!(matches!(retained, Err(PublishError::DuplicateId { seq, .. }) if seq.get() == 1));
    assert!(refused.is_empty());
    assert_eq!(sim.hub.last_seq().get(), 3);
    assert_eq!(tidings_broker::History::len(sim.hub.history()), 3);
    assert_eq!((sim.hub.stats().published, sim.hub.stats().rejected), (3, 2));
    // And the refused ids stay free.
    assert!(sim.hub.publish_batch([with_id("k3"), with_id("k4")], sim.now, &mut out).is_ok());
}

#[test]
fn resume_from_a_publisher_supplied_id() {
    let mut sim = Sim::new(hub(), 1);
    let c = sim.subscribe(on(&["a"]));
    sim.publish(
        Message::new(Event::new("x").with_id(EventId::new("order-1").expect("id"))).topic("a"),
    );
    sim.run_until_idle();
    assert_eq!(sim.clients[c].last_id.as_ref().map(EventId::as_str), Some("order-1"));
    sim.disconnect(c);
    sim.publish_topic("a", "missed");
    sim.resume(c);
    sim.run_until_idle();
    assert_eq!(sim.clients[c].seqs(), [1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Driver interface: wake-ups, drain, keep-alive, order
// ---------------------------------------------------------------------------------------------

#[test]
fn woken_lists_each_subscriber_once_until_it_drains() {
    let mut sim = Sim::new(hub(), 1);
    let c = sim.subscribe(on(&["a"]));
    let d = sim.subscribe(on(&["b"]));
    let mut woken = Vec::new();
    sim.shards[0].take_woken(&mut woken);
    woken.clear();
    for _ in 0..3 {
        sim.publish_topic("a", "x");
    }
    sim.shards[0].take_woken(&mut woken);
    assert_eq!(woken, [sim.clients[c].id.expect("id")], "once, and not the non-matching one");
    let _ = d;
    woken.clear();
    sim.publish_topic("a", "x");
    sim.shards[0].take_woken(&mut woken);
    assert!(woken.is_empty(), "still undrained: no second wake-up");
    sim.drain(c);
    assert_eq!(sim.clients[c].seqs(), [1, 2, 3, 4], "one drain takes every ready item");
    sim.publish_topic("a", "x");
    sim.shards[0].take_woken(&mut woken);
    assert_eq!(woken.len(), 1, "woken again after draining");
}

#[test]
fn idle_subscribers_are_listed_for_keep_alives() {
    let mut sim = Sim::new(hub(), 1);
    let busy = sim.subscribe(on(&["a"]));
    let idle = sim.subscribe(on(&["b"]));
    let mut listed = Vec::new();
    sim.shards[0].take_idle(&mut listed);
    listed.clear();
    sim.publish_topic("a", "x");
    sim.shards[0].take_idle(&mut listed);
    assert_eq!(listed, [sim.clients[idle].id.expect("id")]);
    let _ = busy;
}

#[test]
fn fan_out_refuses_events_out_of_order() {
    let mut sim = Sim::new(hub(), 1);
    let first = sim.publish_to_hub(Message::new(Event::new("1"))).expect("publish");
    let second = sim.publish_to_hub(Message::new(Event::new("2"))).expect("publish");
    sim.fan_out_to(0, &second);
    assert!(matches!(sim.shards[0].fan_out(&first), Err(ShardError::OutOfOrder { .. })));
}

#[test]
fn stale_subscriber_ids_are_refused() {
    let mut sim = Sim::new(hub(), 2);
    let c = sim.subscribe(on(&["a"]));
    let old = sim.clients[c].id.expect("id");
    sim.disconnect(c);
    let d = sim.client_on(on(&["a"]), old.shard() as usize);
    sim.connect(d, Start::Live);
    sim.settle(d);
    let new = sim.clients[d].id.expect("id");
    assert_ne!(old, new, "the slot is reused with a new generation");
    let shard = &mut sim.shards[old.shard() as usize];
    assert_eq!(shard.drain(old, &mut Vec::new()), Err(ShardError::UnknownSubscriber(old)));
    let other = &mut sim.shards[1 - old.shard() as usize];
    assert!(other.drain(new, &mut Vec::new()).is_err(), "another shard's id is unknown here");
}

// ---------------------------------------------------------------------------------------------
// Hooks, counts, statistics
// ---------------------------------------------------------------------------------------------

#[test]
fn hooks_see_subscribe_unsubscribe_and_disconnect() {
    let (mut sim, recorder) = slow_sim(OverflowPolicy::Disconnect, QueueLimits::default());
    let c = sim.subscribe(on(&["a", "b/**"]));
    let id = sim.clients[c].id.expect("id");
    sim.shards[0].disconnect(id, DisconnectReason::Requested).expect("disconnect");
    sim.deliver();
    assert!(matches!(sim.clients[c].phase, Phase::Closed(DisconnectReason::Requested)));
    assert_eq!(
        recorder.take(),
        [
            format!("subscribe {id} [\"a\", \"b/**\"]"),
            format!("disconnect {id} Requested"),
            format!("unsubscribe {id}")
        ]
    );
}

#[test]
fn counts_and_subscription_listing() {
    let mut sim = Sim::new(hub(), 1);
    let alice = UserId::new("alice");
    sim.subscribe(on(&["a", "b"]).principal(alice.clone()));
    sim.subscribe(on(&["a"]).principal(alice.clone()));
    let c = sim.subscribe(on(&["*"]));
    let shard = &sim.shards[0];
    assert_eq!(shard.len(), 3);
    assert_eq!(shard.user_sessions(&alice), 2);
    assert_eq!(shard.users_online(), 1);
    assert_eq!(shard.selector_count("a"), 2);
    assert_eq!(shard.selector_count("b"), 1);
    assert_eq!(shard.subscribers_for_topic("a"), 3);
    assert_eq!(shard.subscribers_for_topic("b"), 2);
    let mut listed: Vec<Vec<String>> = shard
        .subscriptions()
        .map(|s| s.selectors.iter().map(|x| x.as_str().to_owned()).collect())
        .collect();
    listed.sort();
    assert_eq!(listed, [vec!["*"], vec!["a"], vec!["a", "b"]]);
    sim.disconnect(c);
    assert_eq!(sim.shards[0].len(), 2);
    assert_eq!(sim.shards[0].selector_count("*"), 0);
    assert_eq!(sim.shards[0].stats().online, 2);
}

#[test]
fn statistics_count_published_delivered_replayed_and_topics() {
    let mut sim = Sim::with_shards(hub().topic_stats(2), vec![ShardConfig::new(0).topic_stats(2)]);
    let c = sim.subscribe(on(&["a", "b"]));
    sim.subscribe(on(&["a"]));
    for topic in ["a", "a", "b", "c", "a"] {
        sim.publish_topic(topic, "x");
    }
    sim.run_until_idle();
    sim.disconnect(c);
    sim.publish_topic("b", "missed");
    sim.resume(c);
    sim.run_until_idle();
    let hub_stats = sim.hub.stats();
    assert_eq!(hub_stats.published, 6);
    assert_eq!(hub_stats.topics.total(), 6);
    assert_eq!(hub_stats.topics.count("a"), Some(3), "the heavy topic stays listed");
    let shard = sim.shards[0].stats();
    assert_eq!(shard.delivered, 3 * 2 + 1);
    assert_eq!(shard.replayed, 1);
    assert_eq!(shard.topics.count("a"), Some(6));
    assert_eq!(shard.topics.total(), 7);
    assert_eq!((shard.subscribed, shard.unsubscribed, shard.online), (3, 1, 2));
    let listed = shard.topics.sorted();
    assert!(listed.len() <= 2, "bounded cardinality: {listed:?}");
}

#[test]
fn audience_of_the_published_event_is_kept() {
    let mut sim = Sim::new(hub(), 1);
    let p = sim.publish(Message::new(Event::new("x")).topic("t").private());
    assert_eq!(p.audience(), &Audience::Topics { private: true });
}
