//! The hub handle and the SSE body driven directly, with tokio's paused clock.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tidings_broker::{Message, OverflowPolicy, QueueLimits, Selector, SubscriptionConfig};
use tidings_codec::Event;
use tidings_server::{Hub, HubConfig, SseBody};

fn topic(name: &str) -> SubscriptionConfig {
    SubscriptionConfig::new().selector(Selector::parse(name).expect("selector"))
}

async fn next_frame(body: &mut SseBody) -> Option<Bytes> {
    let frame = tokio::time::timeout(Duration::from_secs(60), body.frame()).await.ok()??;
    frame.ok()?.into_data().ok()
}

#[tokio::test(start_paused = true)]
async fn keep_alive_goes_only_to_connections_idle_for_a_whole_period() {
    let start = tokio::time::Instant::now();
    let hub = Hub::new(HubConfig::default().keep_alive(Duration::from_secs(15)));
    let mut idle = hub.subscribe(topic("quiet")).expect("subscribe").into_body();
    let mut busy = hub.subscribe(topic("busy")).expect("subscribe").into_body();
    assert_eq!(next_frame(&mut idle).await.as_deref(), Some(&b":\n\n"[..]), "opening comment");
    assert_eq!(next_frame(&mut busy).await.as_deref(), Some(&b":\n\n"[..]));

    tokio::time::advance(Duration::from_secs(10)).await;
    hub.publish(Message::new(Event::new("work")).topic("busy")).expect("publish");
    assert!(next_frame(&mut busy).await.expect("event").ends_with(b"data: work\n\n"));

    // First tick at 15 s: `idle` got nothing in the period, `busy` got an event.
    let frame = next_frame(&mut idle).await.expect("keep-alive");
    assert_eq!(&frame[..], b":\n\n");
    assert_eq!(start.elapsed().as_secs(), 15, "keep-alive must come on the first tick");
    // `busy` stays silent until the second tick (30 s), then gets one keep-alive too.
    let before = tokio::time::Instant::now();
    let frame = next_frame(&mut busy).await.expect("keep-alive");
    assert_eq!(&frame[..], b":\n\n");
    assert!(before.elapsed() >= Duration::from_secs(14), "busy got a keep-alive too early");
}

#[tokio::test(start_paused = true)]
async fn keep_alives_can_be_disabled() {
    let hub = Hub::new(HubConfig::default().keep_alive(None));
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut body).await.expect("opening");
    let waited = tokio::time::timeout(Duration::from_secs(120), body.frame()).await;
    assert!(waited.is_err(), "a frame arrived with keep-alives disabled");
}

#[tokio::test(start_paused = true)]
async fn retry_hint_opens_the_stream() {
    let hub = Hub::new(HubConfig::default().retry_hint(Duration::from_millis(2500)));
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    assert_eq!(next_frame(&mut body).await.as_deref(), Some(&b"retry:2500\n\n"[..]));
}

#[tokio::test(start_paused = true)]
async fn ready_events_are_yielded_at_once_as_one_frame_in_order() {
    let hub = Hub::new(HubConfig::default());
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut body).await.expect("opening");
    for n in 0..100 {
        hub.publish(Message::new(Event::new(n.to_string())).topic("t")).expect("publish");
    }
    let frame = next_frame(&mut body).await.expect("frame");
    let text = String::from_utf8(frame.to_vec()).expect("UTF-8");
    let data: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("data: ")).collect();
    let expected: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    assert_eq!(data, expected, "every ready event, in order, in one frame");
    assert!(text.ends_with("data: 99\n\n"));
}

#[tokio::test(start_paused = true)]
async fn slow_subscriber_is_disconnected_while_others_keep_receiving() {
    let hub = Hub::new(
        HubConfig::default()
            .queue_limits(QueueLimits::new(4, 1 << 20))
            .overflow(OverflowPolicy::Disconnect),
    );
    let mut slow = hub.subscribe(topic("t")).expect("subscribe").into_body();
    let mut fast = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut slow).await.expect("opening");
    next_frame(&mut fast).await.expect("opening");
    for n in 0..20 {
        hub.publish(Message::new(Event::new(n.to_string())).topic("t")).expect("publish");
        // `fast` keeps up; `slow` reads nothing.
        assert!(
            next_frame(&mut fast)
                .await
                .expect("frame")
                .ends_with(format!("data: {n}\n\n").as_bytes())
        );
    }
    // The slow one gets what fit in its queue, then its stream ends (it will resume by id).
    let mut frames = 0;
    while next_frame(&mut slow).await.is_some() {
        frames += 1;
    }
    assert!(frames <= 4, "slow subscriber got {frames} frames past its queue bound");
    drop(slow);
    assert_eq!(hub.connections(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_ends_the_stream() {
    let hub = Hub::new(HubConfig::default().max_lifetime(Duration::from_secs(60)).keep_alive(None));
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut body).await.expect("opening");
    let started = tokio::time::Instant::now();
    assert!(body.frame().await.is_none(), "stream should end");
    assert!(started.elapsed() >= Duration::from_secs(59));
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_retry_after_pending_events_then_ends() {
    let hub = Hub::new(HubConfig::default());
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut body).await.expect("opening");
    hub.publish(Message::new(Event::new("last")).topic("t")).expect("publish");
    hub.shutdown(Duration::from_secs(3));
    let mut rest = Vec::new();
    while let Some(frame) = next_frame(&mut body).await {
        rest.extend_from_slice(&frame);
    }
    assert!(
        rest.ends_with(b"data: last\n\nretry:3000\n\n"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// A waker that counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_write_delay_holds_wake_ups_and_an_overdue_one_is_woken_by_the_next_publish() {
    use http_body::Body;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Waker};

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    runtime.block_on(async {
        let hub = Hub::new(HubConfig::default().write_delay(Duration::from_millis(30)));
        let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
        next_frame(&mut body).await.expect("opening");
        let counter = Arc::new(CountingWaker(0.into()));
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut body).poll_frame(&mut cx).is_pending());

        hub.publish(Message::new(Event::new("one")).topic("t")).expect("publish");
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "held back by the delay");
        // The runtime is blocked here, so the flush task cannot run: as when publishers keep
        // a saturated hub busy.
        std::thread::sleep(Duration::from_millis(40));
        hub.publish(Message::new(Event::new("two")).topic("t")).expect("publish");
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "overdue: woken by the publisher");

        let frame = next_frame(&mut body).await.expect("both events");
        assert!(frame.ends_with(b"data: two\n\n"), "{frame:?}");
        assert_eq!(String::from_utf8_lossy(&frame).matches("data: ").count(), 2, "{frame:?}");
    });
}

#[tokio::test]
async fn a_held_wake_up_is_woken_by_the_flush_task_after_the_delay() {
    let hub = Hub::new(HubConfig::default().write_delay(Duration::from_millis(20)));
    let mut body = hub.subscribe(topic("t")).expect("subscribe").into_body();
    next_frame(&mut body).await.expect("opening");
    // The reader waits first (its waker registered), as a connection task does.
    let reader = tokio::spawn(async move { next_frame(&mut body).await });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let published = std::time::Instant::now();
    hub.publish(Message::new(Event::new("later")).topic("t")).expect("publish");
    let frame = reader.await.expect("reader").expect("event");
    assert!(frame.ends_with(b"data: later\n\n"));
    assert!(published.elapsed() >= Duration::from_millis(20), "woken before the delay");
    assert!(published.elapsed() < Duration::from_secs(2), "woken long after the delay");
}
