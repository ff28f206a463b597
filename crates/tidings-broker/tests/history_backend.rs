//! The history trait with a backend that fails: the broker's behaviour when storage does
//! (what a durable or remote history will do).

use std::cell::Cell;
use std::rc::Rc;

use tidings_broker::{
    Broker, BrokerConfig, BrokerError, History, HistoryError, MemoryHistory, Message, PublishError,
    Published, Retention, Selector, Seq, Start, SubscriptionConfig, Timestamp, Trimmed,
};
use tidings_codec::{Event, EventId};

/// Which operations fail.
#[derive(Clone, Default)]
struct Faults {
    append: Rc<Cell<bool>>,
    read: Rc<Cell<bool>>,
    trim: Rc<Cell<bool>>,
}

/// A memory history whose operations fail on demand.
struct Flaky {
    inner: MemoryHistory,
    faults: Faults,
}

fn io_error() -> HistoryError {
    HistoryError::backend(std::io::Error::other("backend down"))
}

impl History for Flaky {
    fn append(&mut self, events: &[Published]) -> Result<(), HistoryError> {
        if self.faults.append.get() {
            return Err(io_error());
        }
        self.inner.append(events)
    }

    fn read_after(
        &self,
        after: Seq,
        limit: usize,
        not_before: Option<Timestamp>,
        out: &mut Vec<Published>,
    ) -> Result<(), HistoryError> {
        if self.faults.read.get() {
            return Err(io_error());
        }
        self.inner.read_after(after, limit, not_before, out)
    }

    fn trim(&mut self, retention: &Retention, now: Timestamp) -> Result<Trimmed, HistoryError> {
        if self.faults.trim.get() {
            return Err(io_error());
        }
        self.inner.trim(retention, now)
    }

    fn position_of(&self, id: &EventId) -> Result<Option<Seq>, HistoryError> {
        self.inner.position_of(id)
    }

    fn first_since(&self, time: Timestamp) -> Result<Option<Seq>, HistoryError> {
        self.inner.first_since(time)
    }

    fn first_seq(&self) -> Option<Seq> {
        self.inner.first_seq()
    }

    fn last_seq(&self) -> Option<Seq> {
        self.inner.last_seq()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn bytes(&self) -> usize {
        self.inner.bytes()
    }
}

fn broker(retention: Retention) -> (Broker<Flaky>, Faults) {
    let faults = Faults::default();
    let history = Flaky { inner: MemoryHistory::new(), faults: faults.clone() };
    (Broker::with_history(BrokerConfig::new(9).retention(retention), history), faults)
}

fn on_t() -> SubscriptionConfig {
    SubscriptionConfig::new().selector(Selector::parse("t").expect("selector"))
}

#[test]
fn a_failed_append_publishes_nothing_and_uses_no_sequence() {
    let (mut broker, faults) = broker(Retention::unlimited());
    let sub = broker.subscribe(on_t(), Timestamp::ZERO).expect("subscribe");
    faults.append.set(true);
    let err = broker.publish(Message::new(Event::new("lost?")).topic("t"), Timestamp::ZERO);
    assert!(matches!(err, Err(PublishError::History(HistoryError::Backend(_)))), "{err:?}");
    assert_eq!(broker.shard().queued(sub), Some((0, 0)), "not fanned out");
    faults.append.set(false);
    let ok =
        broker.publish(Message::new(Event::new("x")).topic("t"), Timestamp::ZERO).expect("publish");
    assert_eq!(ok.seq(), Seq::new(1), "the failed publish used no sequence");
    assert_eq!((broker.hub().stats().published, broker.hub().stats().rejected), (1, 1));
}

#[test]
fn a_failed_trim_does_not_fail_the_publish() {
    let (mut broker, faults) = broker(Retention::unlimited().max_events(Some(1)));
    let sub = broker.subscribe(on_t(), Timestamp::ZERO).expect("subscribe");
    faults.trim.set(true);
    for _ in 0..3 {
        broker
            .publish(Message::new(Event::new("x")).topic("t"), Timestamp::ZERO)
            .expect("published");
    }
    assert_eq!(
        broker.shard().queued(sub).map(|(n, _)| n),
        Some(3),
        "every event reached the subscriber"
    );
    assert_eq!(broker.hub().stats().trim_errors, 3);
    assert_eq!(broker.hub().history().len(), 3, "history over its limit until a trim succeeds");
    faults.trim.set(false);
    broker.hub_mut().trim(Timestamp::ZERO).expect("trim");
    assert_eq!(broker.hub().history().len(), 1);
}

#[test]
fn a_failed_read_fails_the_subscribe_and_leaves_no_subscriber() {
    let (mut broker, faults) = broker(Retention::unlimited());
    let first =
        broker.publish(Message::new(Event::new("1")).topic("t"), Timestamp::ZERO).expect("publish");
    broker.publish(Message::new(Event::new("2")).topic("t"), Timestamp::ZERO).expect("publish");
    faults.read.set(true);
    let resume = on_t().start(Start::Resume(first.id().clone()));
    let err = broker.subscribe(resume, Timestamp::ZERO);
    assert!(matches!(err, Err(BrokerError::History(_))), "{err:?}");
    assert!(broker.shard().is_empty());
    assert_eq!(broker.shard().stats().unsubscribed, 1);
    // A live-only subscription reads no history, so it still works.
    assert!(broker.subscribe(on_t(), Timestamp::ZERO).is_ok());
}
