//! End to end: the client library subscribed to a running hub, over HTTP/1.1 and over HTTP/2
//! (h2c with prior knowledge), receives every event a concurrent publisher publishes across
//! three forced disconnects, with no loss and no duplicate: the received ids are exactly the
//! published ids, in order.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use support::{Hub, PATIENCE, publisher_token};
use tidings::publish::{Protocol, Publication, http_client};
use tidings_client::{ClientItem, Disconnect, EventSource};

const TOPIC: &str = "e2e";
const DISCONNECTS: u32 = 3;
/// Publish at least this many events, so some land in every connection and every gap.
const MIN_EVENTS: usize = 60;

/// Events published after the last of the forced disconnections.
const TAIL: u32 = 5;

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    /// Event ids, in arrival order.
    received: Vec<String>,
    /// Why each connection ended.
    reasons: Vec<Disconnect>,
    /// Connections opened after the first.
    resumed: u32,
}

impl Seen {
    fn take(&mut self, item: ClientItem) {
        match item {
            ClientItem::Event(event) => {
                let n = self.received.len();
                assert_eq!(event.data(), format!("event {n}"), "in order, none lost");
                self.received.push(event.id().to_owned());
            }
            ClientItem::Reconnecting(reconnecting) => self.reasons.push(reconnecting.reason),
            ClientItem::Open(open) => {
                // Each new connection resumes from the last event handed over.
                let last = self.received.last().map_or("", String::as_str);
                assert_eq!(open.last_event_id.as_str(), last, "resumed from the last event");
                self.resumed += 1;
            }
            ClientItem::Gap(gap) => panic!("the hub reported lost events: {gap:?}"),
            _ => {}
        }
    }
}

/// How the disconnections are forced.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Force {
    /// The hub ends every stream after `--max-lifetime`; the client resumes.
    HubMaxLifetime,
    /// The client restarts its own connection through its `Controller`.
    ClientRestart,
}

async fn no_loss_no_duplicate(http2: bool, force: Force) {
    let hub = match force {
        Force::HubMaxLifetime => Hub::start(&["--max-lifetime", "600ms"]).await,
        Force::ClientRestart => Hub::start(&[]).await,
    };
    let mut builder = EventSource::tidings_hub(&hub.url, [TOPIC]).retry(Duration::from_millis(30));
    if http2 {
        builder = builder.http2_prior_knowledge();
    }
    let mut source = builder.build().expect("client");
    let controller = source.controller();

    // Publish only once the first stream is open: events before it are not the client's.
    let first = tokio::time::timeout(PATIENCE, source.next()).await.expect("opens in time");
    match first {
        Some(Ok(ClientItem::Open(open))) => {
            let expected = if http2 { http::Version::HTTP_2 } else { http::Version::HTTP_11 };
            assert_eq!(open.version, expected);
        }
        other => panic!("expected the stream to open, got {other:?}"),
    }

    // Resumed connections so far, for the publisher to know when to stop.
    let resumed = Arc::new(AtomicU32::new(0));
    let publisher = {
        let resumed = resumed.clone();
        let url = Protocol::Native.publish_url(&hub.url).expect("publish URL");
        let token = publisher_token();
        tokio::spawn(async move {
            let client = http_client().expect("client");
            let mut ids = Vec::new();
            let mut restarts = 0;
            let mut tail = TAIL;
            // Until the third resumed connection, then a few more so the last connection
            // carries events too.
            while tail > 0 {
                if resumed.load(Ordering::SeqCst) >= DISCONNECTS && ids.len() >= MIN_EVENTS {
                    tail -= 1;
                }
                let n = ids.len();
                let id = Publication::new([TOPIC], format!("event {n}"))
                    .send(&client, Protocol::Native, &url, Some(&token))
                    .await
                    .expect("published");
                ids.push(id);
                if force == Force::ClientRestart && n % 25 == 12 && restarts < DISCONNECTS {
                    controller.restart();
                    restarts += 1;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
                assert!(ids.len() < 5_000, "the client never resumed {DISCONNECTS} times");
            }
            ids
        })
    };

    let mut seen = Seen::default();
    let mut publisher = publisher;
    let collect = async {
        loop {
            // Polling the client is cancel-safe, so racing it against the publisher loses
            // nothing.
            let item = tokio::select! {
                ids = &mut publisher => return ids.expect("publisher"),
                item = source.next() => item,
            };
            seen.take(item.expect("the client does not stop").expect("no fatal error"));
            resumed.store(seen.resumed, Ordering::SeqCst);
        }
    };
    let published = tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the publisher finishes");

    // Take what was published after the last item.
    let drain = async {
        while seen.received.len() < published.len() {
            seen.take(source.next().await.expect("open").expect("no error"));
        }
    };
    tokio::time::timeout(PATIENCE, drain).await.expect("every event arrives");
    let Seen { received, reasons, resumed } = seen;

    assert!(reasons.len() >= DISCONNECTS as usize, "{reasons:?}");
    assert!(resumed >= DISCONNECTS, "{resumed} resumed connections");
    eprintln!(
        "{force:?} over {}: {} events, {} disconnections, {resumed} resumed connections",
        if http2 { "HTTP/2" } else { "HTTP/1.1" },
        published.len(),
        reasons.len()
    );
    let expected_reason = match force {
        Force::HubMaxLifetime => Disconnect::Eof,
        Force::ClientRestart => Disconnect::Restart,
    };
    assert!(reasons.iter().all(|reason| *reason == expected_reason), "{reasons:?}");
    assert_eq!(received, published, "exactly the published ids, in order");

    // And nothing extra follows.
    let extra = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(Ok(ClientItem::Event(event))) = source.next().await {
                return event;
            }
        }
    })
    .await;
    assert!(extra.is_err(), "a duplicate arrived: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_subscriber_gets_every_event_across_three_hub_disconnects() {
    no_loss_no_duplicate(false, Force::HubMaxLifetime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_subscriber_gets_every_event_across_three_hub_disconnects() {
    no_loss_no_duplicate(true, Force::HubMaxLifetime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_subscriber_gets_every_event_across_three_client_restarts() {
    no_loss_no_duplicate(true, Force::ClientRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_subscriber_gets_every_event_across_three_client_restarts() {
    no_loss_no_duplicate(false, Force::ClientRestart).await;
}
