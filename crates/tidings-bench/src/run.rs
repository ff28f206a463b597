//! A run: connect the subscribers, settle, publish, drain, and sum up.
//!
//! Every subscriber is a task on one current-thread runtime; they share one read buffer and
//! a set of counters in `Cell`s (one thread, so no atomics or locks on the hot path). The
//! coordinator is a task on the same runtime that wakes every few milliseconds to check the
//! counters, print progress and decide when the run is over. The publisher is a thread.

use std::cell::{Cell, RefCell};
use std::io::{IsTerminal, Read, Write};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::BenchError;
use crate::config::BenchConfig;
use crate::http::{self, Framing};
use crate::publish::{self, PublishPlan, PublishProgress, Template, nanos};
use crate::scan::Scanner;
use crate::summary::{Connections, Deliveries, Latency, Publish, Server, Summary};
use crate::system;
use crate::target::Target;

/// Size of the read buffer all subscribers share.
const READ_BUFFER: usize = 256 * 1024;
/// How often the coordinator looks at the counters.
const TICK: Duration = Duration::from_millis(10);

/// Runs the load described by `config` and returns what it measured. Blocks until the run is
/// over (at most the configured maximum duration plus one request timeout).
///
/// # Errors
/// A setting out of bounds, a URL that is not `http://` on loopback, a body template without
/// `{data}`, too few file descriptors, unreadable `/proc` entries of the given pids, or no
/// subscriber connection at all. Failures during the run are figures in the [`Summary`].
///
/// ```
/// use tidings_bench::{BenchConfig, BenchError, run};
///
/// let config = BenchConfig::new("http://127.0.0.1:1/s", "http://127.0.0.1:1/p").body_template("no placeholder");
/// assert!(matches!(run(&config), Err(BenchError::Template)));
/// ```
pub fn run(config: &BenchConfig) -> Result<Summary, BenchError> {
    config.check()?;
    let subscribe = Target::parse(&config.subscribe_url)?;
    let plan = PublishPlan {
        target: Target::parse(&config.publish_url)?,
        method: config.method.clone(),
        headers: config.publish_headers.clone(),
        template: Template::parse(&config.body_template).ok_or(BenchError::Template)?,
        events: config.events,
        rate: config.rate,
        data_size: config.data_size,
        timeout: config.timeout,
        window: config.publish_window.unwrap_or(if config.rate.is_some() { 1000 } else { 1 }),
    };
    // Each connection is one descriptor; the publisher, the runtime and stdio need a few more.
    system::raise_fd_limit(config.connections as u64 + 64)?;
    let pids = config.server_pids.clone();
    let before = if pids.is_empty() { None } else { Some(system::usage(&pids)?) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io { what: "starting the runtime", source })?;
    let local = tokio::task::LocalSet::new();
    let epoch = Instant::now();
    let progress = Arc::new(PublishProgress::new());
    let mut publisher = None;
    let outcome =
        local.block_on(&runtime, drive(config, subscribe, plan, epoch, &progress, &mut publisher));
    // Dropping the runtime closes every subscriber connection; the publisher stops at its next
    // event (or when its current request times out).
    progress.stop.store(true, Ordering::Release);
    drop(local);
    drop(runtime);
    if let Some(thread) = publisher {
        let _ = thread.join();
    }
    let mut summary = outcome?;
    // The publisher may have ended (and said why) after the summary was taken.
    if let Some(error) = progress.error.lock().unwrap_or_else(PoisonError::into_inner).clone() {
        summary.publish.error = Some(error);
    }
    if let (Some(before), Some(server)) = (before, summary.server.as_mut()) {
        server.rss_before = before.rss;
        let added = server.rss_connected.saturating_sub(before.rss) as f64;
        server.rss_per_connection = added / summary.connections.established.max(1) as f64;
    }
    summary.duration_s = epoch.elapsed().as_secs_f64();
    Ok(summary)
}

/// Counters every subscriber task updates.
struct Shared {
    epoch: Instant,
    established: Cell<u64>,
    failed: Cell<u64>,
    closed_early: Cell<u64>,
    received: Cell<u64>,
    out_of_order: Cell<u64>,
    /// When the last bench event arrived, run-clock nanoseconds.
    last_delivery_ns: Cell<u64>,
    first_error: RefCell<Option<String>>,
    /// Publish-to-receive latency, nanoseconds.
    latency: RefCell<Histogram<u64>>,
    buffer: RefCell<Box<[u8]>>,
    /// The run is over: connections closing now are not "closed early".
    over: Cell<bool>,
}

impl Shared {
    fn fail(&self, error: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(error);
    }
}

/// How subscribers connect.
struct ConnectPlan {
    target: Target,
    request: Vec<u8>,
    start: Instant,
    rate: f64,
    timeout: Duration,
    permits: Semaphore,
}

async fn drive(
    config: &BenchConfig,
    subscribe: Target,
    plan: PublishPlan,
    epoch: Instant,
    progress: &Arc<PublishProgress>,
    publisher: &mut Option<std::thread::JoinHandle<Option<std::io::Error>>>,
) -> Result<Summary, BenchError> {
    // Microsecond resolution would do, but nanoseconds cost nothing more at 3 significant
    // digits; an hour is the longest a run may take.
    let latency = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|_| BenchError::Setting { setting: "latency histogram", bounds: "valid" })?;
    let shared = Rc::new(Shared {
        epoch,
        established: Cell::new(0),
        failed: Cell::new(0),
        closed_early: Cell::new(0),
        received: Cell::new(0),
        out_of_order: Cell::new(0),
        last_delivery_ns: Cell::new(0),
        first_error: RefCell::new(None),
        latency: RefCell::new(latency),
        buffer: RefCell::new(vec![0; READ_BUFFER].into_boxed_slice()),
        over: Cell::new(false),
    });
    let connect = Rc::new(ConnectPlan {
        request: http::subscribe_request(&subscribe, &config.subscribe_headers),
        target: subscribe,
        start: Instant::now(),
        rate: config.connect_rate,
        timeout: config.timeout,
        permits: Semaphore::new(config.connect_concurrency),
    });
    let deadline = epoch + config.max_duration;
    let requested = config.connections as u64;
    for index in 0..requested {
        tokio::task::spawn_local(subscriber(Rc::clone(&shared), Rc::clone(&connect), index));
    }
    let mut meter = Meter::new(config.progress, requested, config.events, epoch);
    let mut ended_by = "complete";

    // Connect.
    while shared.established.get() + shared.failed.get() < requested {
        if Instant::now() >= deadline {
            ended_by = "max-duration";
            break;
        }
        tokio::time::sleep(TICK).await;
        meter.tick(&shared, progress);
    }
    let connect_s = connect.start.elapsed().as_secs_f64();
    let established = shared.established.get();
    if established == 0 {
        meter.finish();
        return Err(BenchError::NoConnection { first_error: shared.first_error.borrow().clone() });
    }

    // Settle, then read the idle server's memory.
    let settled = Instant::now() + config.settle;
    while Instant::now() < settled.min(deadline) {
        tokio::time::sleep(TICK).await;
        meter.tick(&shared, progress);
    }
    let pids = &config.server_pids;
    let usage =
        |pids: &[u32]| if pids.is_empty() { Ok(None) } else { system::usage(pids).map(Some) };
    let connected = usage(pids)?;
    let own_start = system::own_ticks()?;
    let window_start = Instant::now();

    // Publish and drain.
    let thread_progress = Arc::clone(progress);
    if ended_by == "complete" {
        *publisher = Some(
            std::thread::Builder::new()
                .name("bench-publisher".into())
                .spawn(move || publish::publish(&plan, epoch, &thread_progress))
                .map_err(|source| BenchError::Io {
                    what: "starting the publisher thread",
                    source,
                })?,
        );
    }
    let mut done_at = None;
    while ended_by == "complete" {
        let ok = progress.ok.load(Ordering::Acquire);
        let done = progress.done.load(Ordering::Acquire);
        if done && shared.received.get() >= ok * established {
            break;
        }
        let now = Instant::now();
        if done && *done_at.get_or_insert(now) + config.drain_timeout <= now {
            ended_by = "drain-timeout";
        } else if now >= deadline {
            ended_by = "max-duration";
        } else {
            tokio::time::sleep(TICK).await;
            meter.tick(&shared, progress);
        }
    }
    let window = window_start.elapsed().as_secs_f64();
    let own_end = system::own_ticks()?;
    let end = usage(pids)?;
    shared.over.set(true);
    progress.stop.store(true, Ordering::Release);
    meter.finish();

    let ticks = system::ticks_per_second() as f64;
    let ok = progress.ok.load(Ordering::Acquire);
    let received = shared.received.get();
    let expected = ok * established;
    let first_ns = progress.first_ns.load(Ordering::Acquire);
    let last_publish_ns = progress.last_ns.load(Ordering::Acquire);
    let delivery_s = if first_ns == u64::MAX {
        0.0
    } else {
        shared.last_delivery_ns.get().saturating_sub(first_ns) as f64 / 1e9
    };
    let publish_s = if first_ns == u64::MAX {
        0.0
    } else {
        last_publish_ns.saturating_sub(first_ns) as f64 / 1e9
    };
    let per_s = |count: u64, seconds: f64| if seconds > 0.0 { count as f64 / seconds } else { 0.0 };
    let histogram = shared.latency.borrow();
    let quantile = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let server = match (connected, end) {
        (Some(connected), Some(end)) => {
            let cpu_s = end.ticks.saturating_sub(connected.ticks) as f64 / ticks;
            Some(Server {
                pids: pids.clone(),
                rss_before: 0,
                rss_connected: connected.rss,
                rss_end: end.rss,
                rss_per_connection: 0.0,
                cpu_s,
                cpu_ms_per_1000_deliveries: if received > 0 {
                    cpu_s * 1e6 / received as f64
                } else {
                    0.0
                },
                cpu_utilisation: if window > 0.0 { cpu_s / window } else { 0.0 },
            })
        }
        _ => None,
    };
    Ok(Summary {
        connections: Connections {
            requested,
            established,
            failed: shared.failed.get(),
            closed_early: shared.closed_early.get(),
            connect_s,
            first_error: shared.first_error.borrow().clone(),
        },
        publish: Publish {
            requested: config.events,
            ok,
            failed: progress.failed.load(Ordering::Acquire),
            last_bad_status: u16::try_from(progress.last_bad_status.load(Ordering::Acquire))
                .ok()
                .filter(|&s| s != 0),
            error: progress.error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            duration_s: publish_s,
            per_s: per_s(ok, publish_s),
        },
        deliveries: Deliveries {
            expected,
            received,
            lost: expected.saturating_sub(received),
            out_of_order: shared.out_of_order.get(),
            duration_s: delivery_s,
            per_s: per_s(received, delivery_s),
        },
        latency_us: if histogram.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: quantile(0.5),
                p90: quantile(0.9),
                p99: quantile(0.99),
                p999: quantile(0.999),
                max: histogram.max() as f64 / 1000.0,
            }
        },
        server,
        client_cpu_utilisation: if window > 0.0 {
            own_end.saturating_sub(own_start) as f64 / ticks / window
        } else {
            0.0
        },
        duration_s: 0.0,
        ended_by: ended_by.into(),
    })
}

/// One subscriber: paced connect, request, response head, then events until the run ends.
async fn subscriber(shared: Rc<Shared>, plan: Rc<ConnectPlan>, index: u64) {
    let due = plan.start + Duration::from_secs_f64(index as f64 / plan.rate);
    tokio::time::sleep_until(due.into()).await;
    let opened = {
        let Ok(_permit) = plan.permits.acquire().await else { return };
        tokio::time::timeout(plan.timeout, open(&shared, &plan)).await
    };
    let (stream, mut scanner) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) => return shared.fail(error),
        Err(_) => return shared.fail(format!("no response head within {:?}", plan.timeout)),
    };
    // Reading goes through `AsyncFd` so that a short read (the socket drained) can clear the
    // readiness at once: with `TcpStream::try_read` only an extra read returning `WouldBlock`
    // does, which doubles the reads per wake-up. `with_interest` is deprecated because a
    // borrowed descriptor could be closed while registered; here the `AsyncFd` owns the
    // `std::net::TcpStream`, so the descriptor lives exactly as long as the registration (and
    // its replacement is `unsafe`, which the workspace forbids).
    #[allow(deprecated)]
    let socket = match stream.into_std().and_then(|socket| {
        socket.set_nonblocking(true)?;
        AsyncFd::with_interest(socket, Interest::READABLE)
    }) {
        Ok(socket) => socket,
        Err(error) => return shared.fail(format!("registering the socket: {error}")),
    };
    shared.established.set(shared.established.get() + 1);
    let mut last_seq = None;
    loop {
        let Ok(mut ready) = socket.readable().await else { break };
        let mut buffer = shared.buffer.borrow_mut();
        match socket.get_ref().read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if n < buffer.len() {
                    ready.clear_ready();
                }
                if !receive(&shared, &mut scanner, &mut last_seq, &buffer[..n]) {
                    break;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if !shared.over.get() {
        shared.closed_early.set(shared.closed_early.get() + 1);
    }
}

/// Connects, sends the request and reads the response head; returns the stream and the
/// scanner for its body (already fed with any body bytes that came with the head).
async fn open(shared: &Shared, plan: &ConnectPlan) -> Result<(TcpStream, Scanner), String> {
    let stream = TcpStream::connect(plan.target.addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    // Close with a reset at the end of the run: thousands of sockets in TIME_WAIT would
    // exhaust the loopback port range for the next run.
    let _ = stream.set_zero_linger();
    let mut sent = 0;
    while sent < plan.request.len() {
        stream.writable().await.map_err(|e| format!("write: {e}"))?;
        match stream.try_write(&plan.request[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    let mut head = Vec::new();
    loop {
        stream.readable().await.map_err(|e| format!("read: {e}"))?;
        {
            let mut buffer = shared.buffer.borrow_mut();
            match stream.try_read(&mut buffer) {
                Ok(0) => return Err("closed before the response head".into()),
                Ok(n) => head.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        match http::parse_head(&head) {
            Ok(None) => {}
            Ok(Some((parsed, len))) => {
                if parsed.status != 200 {
                    return Err(format!("status {}", parsed.status));
                }
                let mut scanner = Scanner::new(parsed.framing == Framing::Chunked);
                let mut last = None;
                if !receive(shared, &mut scanner, &mut last, &head[len..]) {
                    return Err("the stream ended with its head".into());
                }
                return Ok((stream, scanner));
            }
            Err(error) => return Err(format!("response head: {error:?}")),
        }
    }
}

/// Scans received bytes, records every bench event; `false` when the stream is over (ended
/// or broken).
fn receive(
    shared: &Shared,
    scanner: &mut Scanner,
    last_seq: &mut Option<u64>,
    bytes: &[u8],
) -> bool {
    // One clock reading per read: every event in it arrived at the same moment.
    let now = nanos(shared.epoch);
    let mut latency = shared.latency.borrow_mut();
    let mut count = 0u64;
    let mut out_of_order = 0u64;
    let scanned = scanner.feed(bytes, &mut |seq, sent| {
        count += 1;
        match *last_seq {
            Some(last) if seq <= last => out_of_order += 1,
            _ => *last_seq = Some(seq),
        }
        latency.saturating_record(now.saturating_sub(sent).max(1));
    });
    if count > 0 {
        shared.received.set(shared.received.get() + count);
        shared.out_of_order.set(shared.out_of_order.get() + out_of_order);
        shared.last_delivery_ns.set(now);
    }
    scanned.is_ok() && !scanner.is_ended()
}

/// The progress line.
struct Meter {
    on: bool,
    terminal: bool,
    epoch: Instant,
    next: Instant,
    connections: u64,
    events: u64,
    last_published: u64,
    last_received: u64,
    printed: bool,
}

impl Meter {
    fn new(on: bool, connections: u64, events: u64, epoch: Instant) -> Self {
        Self {
            on,
            terminal: std::io::stderr().is_terminal(),
            epoch,
            next: Instant::now() + Duration::from_secs(1),
            connections,
            events,
            last_published: 0,
            last_received: 0,
            printed: false,
        }
    }

    fn tick(&mut self, shared: &Shared, progress: &PublishProgress) {
        let now = Instant::now();
        if !self.on || now < self.next {
            return;
        }
        self.next += Duration::from_secs(1);
        let published =
            progress.ok.load(Ordering::Acquire) + progress.failed.load(Ordering::Acquire);
        let received = shared.received.get();
        let p99 = shared.latency.borrow().value_at_quantile(0.99) as f64 / 1e6;
        let line = format!(
            "[{:6.1}s] connected {}/{} ({} failed) · published {}/{} ({}/s) · delivered {} ({}/s) · p99 {:.2} ms",
            self.epoch.elapsed().as_secs_f64(),
            shared.established.get(),
            self.connections,
            shared.failed.get(),
            published,
            self.events,
            published - self.last_published,
            received,
            received - self.last_received,
            p99,
        );
        self.last_published = published;
        self.last_received = received;
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
        self.printed = true;
    }

    fn finish(&mut self) {
        if self.on && self.terminal && self.printed {
            let _ = writeln!(std::io::stderr());
        }
    }
}
