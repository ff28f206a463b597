//! A deterministic simulator for the broker core, after quinn-proto's test `Pair`: a virtual
//! clock, one hub, several shards, and scripted clients that run the subscribe/resume protocol
//! one step at a time, so a test can publish between any two steps. `run_until_idle` steps
//! every client and delivers every woken queue until nothing moves.

#![allow(dead_code, missing_docs)]

use std::time::Duration;

use tidings_broker::{
    DisconnectReason, Drained, Gap, Hub, HubConfig, Item, Message, Published, ReplayCursor,
    ReplayPlan, ReplayStep, Shard, ShardConfig, Start, SubscriberId, SubscriptionConfig, Timestamp,
};
use tidings_codec::{Event, EventId};

/// What a client saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Event(u64),
    Gap(Gap),
}

impl Got {
    pub fn seq(&self) -> Option<u64> {
        match self {
            Got::Event(seq) => Some(*seq),
            Got::Gap(_) => None,
        }
    }
}

/// Where a client stands in the protocol.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Not connected.
    Offline,
    /// About to ask the hub for a plan.
    Planning(Start),
    /// Has a plan; about to register with its shard.
    Registering(ReplayPlan),
    /// About to read the next history batch.
    Reading(ReplayCursor),
    /// Holds a batch; about to push it to the shard.
    Pushing(Vec<Published>),
    /// Live.
    Live,
    /// Disconnected by the broker.
    Closed(DisconnectReason),
}

pub struct Client {
    pub config: SubscriptionConfig,
    pub shard: usize,
    pub id: Option<SubscriberId>,
    pub phase: Phase,
    pub got: Vec<Got>,
    /// Everything received across connections, with the connection number.
    pub last_id: Option<EventId>,
    /// A paused client does not drain its queue (a slow subscriber).
    pub paused: bool,
}

impl Client {
    pub fn seqs(&self) -> Vec<u64> {
        self.got.iter().filter_map(Got::seq).collect()
    }

    pub fn gaps(&self) -> Vec<Gap> {
        self.got
            .iter()
            .filter_map(|g| match g {
                Got::Gap(gap) => Some(*gap),
                Got::Event(_) => None,
            })
            .collect()
    }

    pub fn is_connected(&self) -> bool {
        !matches!(self.phase, Phase::Offline | Phase::Closed(_))
    }
}

pub struct Sim {
    pub now: Timestamp,
    pub hub: Hub,
    pub shards: Vec<Shard>,
    pub clients: Vec<Client>,
    /// History batch size used by replays (small, so a replay has many steps).
    pub batch: usize,
    /// Published events by sequence, for assertions.
    pub published: Vec<Published>,
    woken: Vec<SubscriberId>,
}

pub type ClientId = usize;

impl Sim {
    pub fn new(hub: HubConfig, shards: usize) -> Self {
        Self::with_shards(hub, (0..shards).map(|i| ShardConfig::new(i as u16)).collect())
    }

    pub fn with_shards(hub: HubConfig, shards: Vec<ShardConfig>) -> Self {
        Self {
            now: Timestamp::from_millis(1_000),
            hub: Hub::new(hub),
            shards: shards.into_iter().map(Shard::new).collect(),
            clients: Vec::new(),
            batch: 1,
            published: Vec::new(),
            woken: Vec::new(),
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Publishes and fans out to every shard, in order.
    pub fn publish(&mut self, message: Message) -> Published {
        let published = self.publish_to_hub(message).expect("publish");
        for shard in &mut self.shards {
            shard.fan_out(&published).expect("in order");
        }
        published
    }

    /// Publishes `data` on `topic`.
    pub fn publish_topic(&mut self, topic: &str, data: &str) -> Published {
        self.publish(Message::new(Event::new(data)).topic(topic))
    }

    /// Publishes to the hub only; fan out later with [`Sim::fan_out_to`].
    pub fn publish_to_hub(
        &mut self,
        message: Message,
    ) -> Result<Published, tidings_broker::PublishError> {
        let published = self.hub.publish(message, self.now)?;
        self.published.push(published.clone());
        Ok(published)
    }

    pub fn fan_out_to(&mut self, shard: usize, event: &Published) {
        self.shards[shard].fan_out(event).expect("in order");
    }

    /// Adds a client on shard `client index % shards`, not yet connected.
    pub fn client(&mut self, config: SubscriptionConfig) -> ClientId {
        let shard = self.clients.len() % self.shards.len();
        self.client_on(config, shard)
    }

    pub fn client_on(&mut self, config: SubscriptionConfig, shard: usize) -> ClientId {
        self.clients.push(Client {
            config,
            shard,
            id: None,
            phase: Phase::Offline,
            got: Vec::new(),
            last_id: None,
            paused: false,
        });
        self.clients.len() - 1
    }

    /// Adds a client and connects it live, to completion.
    pub fn subscribe(&mut self, config: SubscriptionConfig) -> ClientId {
        let c = self.client(config);
        self.connect(c, Start::Live);
        self.settle(c);
        c
    }

    /// Starts connecting (nothing happens until the client is stepped).
    pub fn connect(&mut self, c: ClientId, start: Start) {
        self.clients[c].phase = Phase::Planning(start);
    }

    /// Reconnects with the client's last id (live only when it has none).
    pub fn resume(&mut self, c: ClientId) {
        self.disconnect(c);
        let start = match &self.clients[c].last_id {
            Some(id) => Start::Resume(id.clone()),
            None => Start::Live,
        };
        self.connect(c, start);
    }

    /// The client goes away (its connection closes).
    pub fn disconnect(&mut self, c: ClientId) {
        let client = &mut self.clients[c];
        if let Some(id) = client.id.take() {
            let _ = self.shards[client.shard].unsubscribe(id);
        }
        client.phase = Phase::Offline;
    }

    /// Runs one protocol step of client `c`; returns whether it did anything.
    pub fn step(&mut self, c: ClientId) -> bool {
        let now = self.now;
        let client = &mut self.clients[c];
        let shard = &mut self.shards[client.shard];
        let next = match std::mem::replace(&mut client.phase, Phase::Offline) {
            Phase::Planning(start) => Phase::Registering(self.hub.plan(&start, now).expect("plan")),
            Phase::Registering(plan) => {
                let config = client.config.clone();
                let subscribed = shard.subscribe(config, &plan, now).expect("subscribe");
                client.id = Some(subscribed.id());
                match subscribed.replay() {
                    Some(cursor) => Phase::Reading(cursor),
                    None => Phase::Live,
                }
            }
            Phase::Reading(cursor) => {
                let mut batch = Vec::new();
                self.hub.read(cursor.after(), self.batch, now, &mut batch).expect("read");
                Phase::Pushing(batch)
            }
            Phase::Pushing(batch) => {
                let id = client.id.expect("registered");
                match shard.push_replay(id, &batch).expect("push") {
                    ReplayStep::Continue(cursor) => Phase::Reading(cursor),
                    ReplayStep::Done => Phase::Live,
                }
            }
            other => {
                client.phase = other;
                return false;
            }
        };
        client.phase = next;
        true
    }

    /// Steps client `c` until it is live (or closed), delivering as it goes.
    pub fn settle(&mut self, c: ClientId) {
        while self.step(c) {}
        self.deliver();
    }

    /// Drains every woken, unpaused subscriber; handles broker disconnects.
    pub fn deliver(&mut self) -> bool {
        let mut moved = false;
        for s in 0..self.shards.len() {
            self.shards[s].take_woken(&mut self.woken);
        }
        let woken = std::mem::take(&mut self.woken);
        let mut pending = Vec::new();
        for id in woken {
            let Some(c) = self.clients.iter().position(|cl| cl.id == Some(id)) else { continue };
            if self.clients[c].paused {
                // Stays queued; a paused client is re-checked by `flush`.
                pending.push(id);
                continue;
            }
            moved |= self.drain(c);
        }
        // Keep paused clients' wake-ups for when they resume draining.
        self.woken = pending;
        moved
    }

    /// Drains client `c` now (also when paused).
    pub fn drain(&mut self, c: ClientId) -> bool {
        let client = &mut self.clients[c];
        let Some(id) = client.id else { return false };
        let mut items = Vec::new();
        let status = self.shards[client.shard].drain(id, &mut items).expect("drain");
        let moved = !items.is_empty();
        for item in items {
            match item {
                Item::Event(event) => {
                    client.last_id = Some(event.id().clone());
                    client.got.push(Got::Event(event.seq().get()));
                }
                Item::Gap(gap) => client.got.push(Got::Gap(gap)),
                other => panic!("unexpected item {other:?}"),
            }
        }
        if let Drained::Closed(reason) = status {
            self.shards[client.shard].unsubscribe(id).expect("unsubscribe");
            client.id = None;
            client.phase = Phase::Closed(reason);
            return true;
        }
        moved
    }

    /// Steps every connecting client and delivers until nothing moves.
    pub fn run_until_idle(&mut self) {
        loop {
            let mut moved = false;
            for c in 0..self.clients.len() {
                moved |= self.step(c);
            }
            moved |= self.deliver();
            if !moved {
                break;
            }
        }
    }

    /// Sequences of published events a predicate selects, after `after`.
    pub fn seqs_where(&self, after: u64, keep: impl Fn(&Published) -> bool) -> Vec<u64> {
        self.published
            .iter()
            .filter(|p| p.seq().get() > after && keep(p))
            .map(|p| p.seq().get())
            .collect()
    }

    pub fn on_topic(topic: &'static str) -> impl Fn(&Published) -> bool {
        move |p| p.topics().iter().any(|t| &**t == topic)
    }
}
