//! The broker against a naive reference model.
//!
//! For arbitrary interleavings of subscribe, step-by-step resume, unsubscribe, publish (to
//! topics, private, users, one subscriber, everyone), drain, clock advances and trims, every
//! client must receive exactly what the model says, in order, once. The model matches by
//! brute force (every selector against every topic with `Selector::matches`), keeps history
//! as a plain list, and states the resume rule directly: after registering, a client gets
//! every event it may see after its resume position; history read in batches covers the
//! events up to the registration point, and any event it can no longer read there is reported
//! as one gap per hole.

mod sim;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use sim::{Got, Phase, Sim};
use tidings_broker::{
    Gap, GapReason, HubConfig, Message, Retention, Selector, SelectorAuthorizer, Start,
    SubscriptionConfig, UserId,
};
use tidings_codec::Event;

const TOPICS: [&str; 5] = ["a", "b", "c", "x/1", "x/2"];
const SELECTORS: [&str; 6] = ["a", "b", "c", "*", "x/*", "x/1"];
const AUTHORIZED: [&str; 2] = ["a", "x/*"];
const USERS: [&str; 2] = ["u0", "u1"];
const CLIENTS: usize = 4;
const BATCH: usize = 2;
const TTL_SECS: u64 = 10;

#[derive(Clone, Debug)]
struct ClientSpec {
    selectors: Vec<usize>,
    user: Option<usize>,
    authorized: bool,
}

#[derive(Clone, Debug)]
enum Aud {
    Topics { private: bool },
    Everyone,
    Users(Vec<usize>),
    Subscriber(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Connect(usize),
    Step(usize),
    Disconnect(usize),
    Publish { topics: Vec<usize>, aud: Aud },
    Drain(usize),
    Advance(u64),
    Trim,
}

fn client_spec() -> impl Strategy<Value = ClientSpec> {
    (
        prop::collection::vec(0..SELECTORS.len(), 0..3),
        prop::option::of(0..USERS.len()),
        any::<bool>(),
    )
        .prop_map(|(selectors, user, authorized)| ClientSpec { selectors, user, authorized })
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    let aud = prop_oneof![
        4 => any::<bool>().prop_map(|private| Aud::Topics { private }),
        1 => Just(Aud::Everyone),
        1 => prop::collection::vec(0..USERS.len(), 1..3).prop_map(Aud::Users),
        1 => (0..CLIENTS).prop_map(Aud::Subscriber),
    ];
    prop_oneof![
        2 => c.clone().prop_map(Op::Connect),
        6 => c.clone().prop_map(Op::Step),
        1 => c.clone().prop_map(Op::Disconnect),
        6 => (prop::collection::vec(0..TOPICS.len(), 1..3), aud).prop_map(|(topics, aud)| Op::Publish { topics, aud }),
        3 => c.prop_map(Op::Drain),
        1 => (1..6u64).prop_map(Op::Advance),
        1 => Just(Op::Trim),
    ]
}

// --- the model --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MEvent {
    seq: u64,
    time: u64,
    topics: Vec<usize>,
    aud: Aud,
    /// For `Aud::Subscriber`: the connection it was sent to.
    target_conn: Option<u32>,
}

#[derive(Clone, Debug)]
enum MPhase {
    Offline,
    Planning,
    Registering { after: Option<u64> },
    Replaying { cursor: u64, upto: u64, anchored: bool, batch: Option<Vec<u64>> },
    Live,
}

struct MClient {
    spec: ClientSpec,
    phase: MPhase,
    conn: u32,
    /// Events after this are delivered live.
    live_after: u64,
    replay_items: Vec<Got>,
    replay_done: bool,
    live: Vec<Got>,
    got: Vec<Got>,
    last: Option<u64>,
}

struct Model {
    now: u64,
    max_events: usize,
    events: Vec<MEvent>,
    /// Events before this index are trimmed.
    first: usize,
    clients: Vec<MClient>,
}

impl Model {
    fn head(&self) -> u64 {
        self.events.len() as u64
    }

    fn trim(&mut self) {
        let not_before = self.now.saturating_sub(TTL_SECS * 1000);
        while self.events.len() - self.first > self.max_events
            || (self.first < self.events.len() && self.events[self.first].time < not_before)
        {
            self.first += 1;
        }
    }

    fn sees(&self, c: usize, e: &MEvent, live: bool) -> bool {
        let client = &self.clients[c];
        let spec = &client.spec;
        match &e.aud {
            Aud::Topics { private } => {
                let matched = e
                    .topics
                    .iter()
                    .any(|&t| spec.selectors.iter().any(|&s| selector(s).matches(TOPICS[t])));
                let authorized = spec.authorized
                    && e.topics
                        .iter()
                        .any(|&t| AUTHORIZED.iter().any(|a| selector_text(a).matches(TOPICS[t])));
                matched && (!private || authorized)
            }
            Aud::Everyone => true,
            Aud::Users(users) => spec.user.is_some_and(|u| users.contains(&u)),
            Aud::Subscriber(target) => live && *target == c && e.target_conn == Some(client.conn),
        }
    }

    fn is_registered(&self, c: usize) -> bool {
        matches!(self.clients[c].phase, MPhase::Replaying { .. } | MPhase::Live)
    }

    fn publish(&mut self, topics: Vec<usize>, aud: Aud) {
        let target_conn = match aud {
            Aud::Subscriber(c) => Some(self.clients[c].conn),
            _ => None,
        };
        let event = MEvent { seq: self.head() + 1, time: self.now, topics, aud, target_conn };
        for c in 0..self.clients.len() {
            if self.is_registered(c)
                && event.seq > self.clients[c].live_after
                && self.sees(c, &event, true)
            {
                self.clients[c].live.push(Got::Event(event.seq));
            }
        }
        self.events.push(event);
        self.trim();
    }

    /// Retained, unexpired events after `after`, at most `BATCH`.
    fn read(&self, after: u64) -> Vec<u64> {
        let not_before = self.now.saturating_sub(TTL_SECS * 1000);
        self.events[self.first..]
            .iter()
            .filter(|e| e.seq > after && e.time >= not_before)
            .take(BATCH)
            .map(|e| e.seq)
            .collect()
    }

    fn connect(&mut self, c: usize) {
        if matches!(self.clients[c].phase, MPhase::Offline) {
            self.clients[c].phase = MPhase::Planning;
        }
    }

    fn disconnect(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.phase = MPhase::Offline;
        client.replay_items.clear();
        client.live.clear();
    }

    fn step(&mut self, c: usize) {
        let head = self.head();
        let phase = self.clients[c].phase.clone();
        match phase {
            MPhase::Offline | MPhase::Live => {}
            MPhase::Planning => {
                // Every id the model's clients hold is a broker id that was issued: known.
                let after = self.clients[c].last;
                self.clients[c].phase = MPhase::Registering { after };
            }
            MPhase::Registering { after } => {
                let client = &mut self.clients[c];
                client.conn += 1;
                client.live_after = after.map_or(head, |a| a.max(head));
                client.replay_done = true;
                client.phase = MPhase::Live;
                if let Some(after) = after
                    && after < head
                {
                    client.replay_done = false;
                    client.phase = MPhase::Replaying {
                        cursor: after,
                        upto: head,
                        anchored: true,
                        batch: None,
                    };
                }
            }
            MPhase::Replaying { cursor, upto, anchored, batch: None } => {
                let batch = self.read(cursor);
                self.clients[c].phase =
                    MPhase::Replaying { cursor, upto, anchored, batch: Some(batch) };
            }
            MPhase::Replaying { mut cursor, upto, anchored, batch: Some(batch) } => {
                let mut items = Vec::new();
                let mut done = false;
                if batch.is_empty() {
                    if cursor < upto {
                        items.push(Got::Gap(Gap::new(GapReason::Trimmed, Some(upto - cursor))));
                    }
                    done = true;
                }
                for seq in batch {
                    if seq > upto {
                        if cursor < upto {
                            items.push(Got::Gap(Gap::new(GapReason::Trimmed, Some(upto - cursor))));
                        }
                        done = true;
                        break;
                    }
                    if seq != cursor + 1 {
                        items.push(Got::Gap(Gap::new(GapReason::Trimmed, Some(seq - cursor - 1))));
                    }
                    cursor = seq;
                    let event = self.events[seq as usize - 1].clone();
                    if self.sees(c, &event, false) {
                        items.push(Got::Event(seq));
                    }
                    if seq == upto {
                        done = true;
                        break;
                    }
                }
                let client = &mut self.clients[c];
                client.replay_items.extend(items);
                if done {
                    client.replay_done = true;
                    client.phase = MPhase::Live;
                } else {
                    client.phase = MPhase::Replaying { cursor, upto, anchored, batch: None };
                }
            }
        }
    }

    fn drain(&mut self, c: usize) {
        if !self.is_registered(c) {
            return;
        }
        let client = &mut self.clients[c];
        let mut items = std::mem::take(&mut client.replay_items);
        if client.replay_done {
            items.append(&mut client.live);
        }
        for item in items {
            if let Got::Event(seq) = item {
                client.last = Some(seq);
            }
            client.got.push(item);
        }
    }
}

fn selector(i: usize) -> Selector {
    selector_text(SELECTORS[i])
}

fn selector_text(text: &str) -> Selector {
    Selector::parse(text).expect("valid selector")
}

fn config(spec: &ClientSpec) -> SubscriptionConfig {
    let mut config =
        SubscriptionConfig::new().selectors(spec.selectors.iter().map(|&s| selector(s)));
    if let Some(u) = spec.user {
        config = config.principal(UserId::new(USERS[u]));
    }
    if spec.authorized {
        config = config.authorizer(Arc::new(SelectorAuthorizer::new(
            AUTHORIZED.iter().map(|a| selector_text(a)),
        )));
    }
    config
}

fn run(specs: Vec<ClientSpec>, max_events: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let hub = HubConfig::new(3).retention(
        Retention::unlimited()
            .max_events(Some(max_events))
            .event_ttl(Some(Duration::from_secs(TTL_SECS))),
    );
    let mut sim = Sim::new(hub, 2);
    sim.batch = BATCH;
    let mut model = Model {
        now: sim.now.as_millis(),
        max_events,
        events: Vec::new(),
        first: 0,
        clients: Vec::new(),
    };
    for spec in &specs {
        sim.client(config(spec));
        model.clients.push(MClient {
            spec: spec.clone(),
            phase: MPhase::Offline,
            conn: 0,
            live_after: 0,
            replay_items: Vec::new(),
            replay_done: true,
            live: Vec::new(),
            got: Vec::new(),
            last: None,
        });
    }
    let check = |sim: &Sim, model: &Model, when: &str| -> Result<(), TestCaseError> {
        for c in 0..CLIENTS {
            prop_assert_eq!(&sim.clients[c].got, &model.clients[c].got, "client {} {}", c, when);
        }
        Ok(())
    };
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Connect(c) => {
                if matches!(sim.clients[c].phase, Phase::Offline) {
                    let start = match &sim.clients[c].last_id {
                        Some(id) => Start::Resume(id.clone()),
                        None => Start::Live,
                    };
                    sim.connect(c, start);
                    model.connect(c);
                }
            }
            Op::Step(c) => {
                sim.step(c);
                model.step(c);
            }
            Op::Disconnect(c) => {
                sim.disconnect(c);
                model.disconnect(c);
            }
            Op::Publish { topics, aud } => {
                let mut message =
                    Message::new(Event::new("x")).topics(topics.iter().map(|&t| TOPICS[t]));
                message = match &aud {
                    Aud::Topics { private: false } => message,
                    Aud::Topics { private: true } => message.private(),
                    Aud::Everyone => message.to_everyone(),
                    Aud::Users(users) => {
                        message.to_users(users.iter().map(|&u| UserId::new(USERS[u])))
                    }
                    Aud::Subscriber(c) => match sim.clients[*c].id {
                        Some(id) => message.to_subscriber(id),
                        // Not connected: address a subscriber that does not exist.
                        None => message.to_users([UserId::new("nobody")]),
                    },
                };
                let aud = match aud {
                    Aud::Subscriber(c) if sim.clients[c].id.is_none() => Aud::Users(Vec::new()),
                    aud => aud,
                };
                sim.publish(message);
                model.publish(topics, aud);
            }
            Op::Drain(c) => {
                sim.drain(c);
                model.drain(c);
                check(&sim, &model, &format!("after op {i} (drain)"))?;
            }
            Op::Advance(secs) => {
                sim.advance(Duration::from_secs(secs));
                model.now += secs * 1000;
            }
            Op::Trim => {
                sim.hub.trim(sim.now).expect("trim");
                model.trim();
            }
        }
    }
    // Finish every connection in progress, then drain everyone.
    for c in 0..CLIENTS {
        for _ in 0..10_000 {
            let moved = sim.step(c);
            model.step(c);
            if !moved {
                break;
            }
        }
        sim.drain(c);
        model.drain(c);
    }
    check(&sim, &model, "at the end")?;
    // Sanity of the stream itself: strictly increasing sequences.
    for c in 0..CLIENTS {
        let seqs = sim.clients[c].seqs();
        prop_assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "client {} in order, once: {:?}",
            c,
            seqs
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_the_reference_model(
        specs in prop::collection::vec(client_spec(), CLIENTS),
        max_events in 1usize..8,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        run(specs, max_events, ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    /// The same property, longer: `cargo test -p tidings-broker --release --test model -- --ignored`.
    #[test]
    #[ignore = "slow stress run; see the doc comment for the command"]
    fn broker_matches_the_reference_model_long(
        specs in prop::collection::vec(client_spec(), CLIENTS),
        max_events in 1usize..12,
        ops in prop::collection::vec(op(), 1..400),
    ) {
        run(specs, max_events, ops)?;
    }
}
