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

    let disconnects = Arc::new(AtomicU32::new(0));
    let publisher = {
        let disconnects = disconnects.clone();
        let url = Protocol::Native.publish_url(&hub.url).expect("publish URL");
        let token = publisher_token();
        tokio::spawn(async move {
            let client = http_client().expect("client");
            let mut ids = Vec::new();
            let mut restarts = 0;
            while disconnects.load(Ordering::SeqCst) < DISCONNECTS || ids.len() < MIN_EVENTS {
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
                assert!(ids.len() < 5_000, "the client never saw {DISCONNECTS} disconnections");
            }
            ids
        })
    };

    let mut received: Vec<String> = Vec::new();
    let mut reasons = Vec::new();
    let mut publisher = publisher;
    let collect = async {
        loop {
            // Polling the client is cancel-safe, so racing it against the publisher loses
            // nothing.
            let item = tokio::select! {
                ids = &mut publisher => return ids.expect("publisher"),
                item = source.next() => item,
            };
            match item.expect("the client does not stop").expect("no fatal error") {
                ClientItem::Event(event) => {
                    assert_eq!(
                        event.data(),
                        format!("event {}", received.len()),
                        "in order, none lost"
                    );
                    received.push(event.id().to_owned());
                }
                ClientItem::Reconnecting(reconnecting) => {
                    reasons.push(reconnecting.reason.clone());
                    disconnects.fetch_add(1, Ordering::SeqCst);
                }
                ClientItem::Gap(gap) => panic!("the hub reported lost events: {gap:?}"),
                _ => {}
            }
        }
    };
    let published = tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the publisher finishes");

    // Drain what was published after the last check.
    let drain = async {
        while received.len() < published.len() {
            match source.next().await.expect("open").expect("no error") {
                ClientItem::Event(event) => received.push(event.id().to_owned()),
                ClientItem::Gap(gap) => panic!("the hub reported lost events: {gap:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, drain).await.expect("every event arrives");

    assert!(reasons.len() >= DISCONNECTS as usize, "{reasons:?}");
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
