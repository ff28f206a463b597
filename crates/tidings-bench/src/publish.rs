//! The publisher: one thread, one keep-alive connection, one request at a time, at a fixed
//! rate or as fast as the server answers. Blocking I/O is the cheapest way to do exactly one
//! thing at a time, and a thread of its own keeps its timing independent of the subscribers'
//! event loop.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::http::{self, Framing, HeadError};
use crate::scan::{Dechunk, write_payload};
use crate::target::Target;

/// The body template's placeholder for the event data.
pub(crate) const DATA: &str = "{data}";

/// A body template split around its `{data}` placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    before: Vec<u8>,
    after: Vec<u8>,
}

impl Template {
    /// `None` unless `template` holds `{data}` exactly once.
    pub fn parse(template: &str) -> Option<Self> {
        let (before, after) = template.split_once(DATA)?;
        (!after.contains(DATA)).then(|| Self { before: before.into(), after: after.into() })
    }

    /// Writes the body for one event into `out` (cleared first).
    pub fn render(&self, out: &mut Vec<u8>, seq: u64, sent_ns: u64, data_size: usize) {
        out.clear();
        out.extend_from_slice(&self.before);
        write_payload(out, seq, sent_ns, data_size);
        out.extend_from_slice(&self.after);
    }
}

/// What the publisher does.
#[derive(Clone, Debug)]
pub(crate) struct PublishPlan {
    pub target: Target,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub template: Template,
    pub events: u64,
    /// Events per second; `None` as fast as possible.
    pub rate: Option<f64>,
    pub data_size: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// Most requests sent and not yet answered.
    pub window: u64,
}

/// What the publisher has done so far, read by the coordinator while it runs.
#[derive(Debug, Default)]
pub(crate) struct PublishProgress {
    /// Answered 2xx.
    pub ok: AtomicU64,
    /// Answered otherwise, or failed.
    pub failed: AtomicU64,
    /// The last non-2xx status seen (0 for none).
    pub last_bad_status: AtomicU64,
    /// Send time of the first event, nanoseconds on the run clock (`u64::MAX` until then).
    pub first_ns: AtomicU64,
    /// When the last answer arrived, nanoseconds on the run clock.
    pub last_ns: AtomicU64,
    /// Set by the publisher when it stops.
    pub done: AtomicBool,
    /// Set by the coordinator to stop the publisher early.
    pub stop: AtomicBool,
    /// Why publishing ended early, if it did.
    pub error: Mutex<Option<String>>,
}

impl PublishProgress {
    pub fn new() -> Self {
        Self { first_ns: AtomicU64::new(u64::MAX), ..Self::default() }
    }
}

/// Publishes the plan's events, recording into `progress`; `epoch` is the run clock's zero.
/// Returns the first I/O error that ended publishing early, if any.
pub(crate) fn publish(
    plan: &PublishPlan,
    epoch: Instant,
    progress: &Arc<PublishProgress>,
) -> Option<io::Error> {
    let outcome = publish_all(plan, epoch, progress);
    if let Err(error) = &outcome {
        *progress.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }
    progress.done.store(true, Ordering::Release);
    outcome.err()
}

/// Requests sent and answered on one publish connection, shared by its writer and reader.
#[derive(Debug, Default)]
struct Flight {
    sent: u64,
    /// Answered, or given up on (failed).
    answered: u64,
    /// Real answers received.
    replies: u64,
    /// The writer sends nothing more on this connection.
    writer_done: bool,
    /// The connection is over (the server said `Connection: close`, or it broke): nothing
    /// more is sent on it; requests still unanswered count as failed.
    over: bool,
}

type Shared = Arc<(Mutex<Flight>, Condvar)>;

fn lock(flight: &Shared) -> std::sync::MutexGuard<'_, Flight> {
    flight.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One publish connection: the writer's end and the thread reading its answers.
struct Connection {
    stream: TcpStream,
    flight: Shared,
    reader: std::thread::JoinHandle<io::Result<()>>,
}

impl Connection {
    fn open(
        plan: &PublishPlan,
        progress: &Arc<PublishProgress>,
        epoch: Instant,
    ) -> io::Result<Self> {
        let stream = connect(plan)?;
        let flight: Shared = Arc::default();
        let reader = {
            let stream = stream.try_clone()?;
            let flight = Arc::clone(&flight);
            let progress = Arc::clone(progress);
            std::thread::Builder::new()
                .name("bench-publish-reader".into())
                .spawn(move || read_answers(stream, &flight, &progress, epoch))?
        };
        Ok(Self { stream, flight, reader })
    }

    /// Waits for the answers still due (or the end of the connection), then stops the reader.
    /// Returns how many answers arrived on this connection and the reader's outcome.
    fn close(self, timeout: Duration) -> (u64, io::Result<()>) {
        {
            let mut state = lock(&self.flight);
            state.writer_done = true;
            let deadline = Instant::now() + timeout;
            while state.answered < state.sent && !state.over {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = self
                    .flight
                    .1
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        // Wakes the reader from its read; it then finds its work done (or counts what is
        // missing as failed).
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let outcome = self
            .reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reader thread panicked")));
        (lock(&self.flight).replies, outcome)
    }
}

/// Connections in a row that ended without a single answer before publishing gives up.
const MAX_BARREN_CONNECTIONS: u32 = 3;

/// The writer: this thread sends requests on schedule, at most `window` unanswered at once
/// (HTTP/1.1 pipelining keeps them in order on one connection, so the server sees events in
/// publication order); a reader thread counts the answers. `window` 1 is one request at a time.
/// A server that closes the connection (pushpin does after every publish) gets a new one.
fn publish_all(
    plan: &PublishPlan,
    epoch: Instant,
    progress: &Arc<PublishProgress>,
) -> io::Result<()> {
    let mut conn = Connection::open(plan, progress, epoch)?;
    let mut barren = 0;
    let mut body = Vec::with_capacity(plan.data_size + 256);
    let mut request = Vec::with_capacity(plan.data_size + 1024);
    let start = Instant::now();
    for seq in 0..plan.events {
        if progress.stop.load(Ordering::Acquire) {
            break;
        }
        if let Some(rate) = plan.rate {
            // A fixed schedule: a late event goes at once, the next ones keep their slots.
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        loop {
            let over = {
                let mut state = lock(&conn.flight);
                while state.sent - state.answered >= plan.window && !state.over {
                    state = conn.flight.1.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                state.over
            };
            if !over {
                break;
            }
            let (answered, outcome) = conn.close(plan.timeout);
            barren = if answered == 0 { barren + 1 } else { 0 };
            if barren >= MAX_BARREN_CONNECTIONS {
                return outcome
                    .and(Err(io::Error::other("publish connections end without answers")));
            }
            conn = Connection::open(plan, progress, epoch)?;
        }
        let sent = nanos(epoch);
        plan.template.render(&mut body, seq, sent, plan.data_size);
        http::publish_request(&mut request, &plan.method, &plan.target, &plan.headers, &body);
        if seq == 0 {
            progress.first_ns.store(sent, Ordering::Release);
        }
        // Counted as sent before the write, so the reader never sees more answers than sends.
        lock(&conn.flight).sent += 1;
        conn.flight.1.notify_all();
        if let Err(error) = (&conn.stream).write_all(&request) {
            // The reader sees the connection end too, and counts this request as failed.
            lock(&conn.flight).over = true;
            if barren + 1 >= MAX_BARREN_CONNECTIONS {
                let _ = conn.close(plan.timeout);
                return Err(error);
            }
        }
    }
    conn.close(plan.timeout).1
}

/// Reads answers until the writer is done and everything sent is answered, or the connection
/// ends; requests left unanswered then count as failed.
fn read_answers(
    stream: TcpStream,
    flight: &Shared,
    progress: &PublishProgress,
    epoch: Instant,
) -> io::Result<()> {
    let mut answers = Answers { stream, buf: vec![0; 64 * 1024], start: 0, end: 0 };
    let finished = |state: &Flight| state.writer_done && state.answered == state.sent;
    let outcome = loop {
        match answers.next() {
            Ok((status, closes)) => {
                if (200..300).contains(&status) {
                    progress.ok.fetch_add(1, Ordering::AcqRel);
                } else {
                    progress.failed.fetch_add(1, Ordering::AcqRel);
                    progress.last_bad_status.store(u64::from(status), Ordering::Release);
                }
                progress.last_ns.store(nanos(epoch), Ordering::Release);
                let mut state = lock(flight);
                state.answered += 1;
                state.replies += 1;
                if closes {
                    break Ok(());
                }
                if finished(&state) {
                    break Ok(());
                }
                drop(state);
                flight.1.notify_all();
            }
            Err(error) => {
                let state = lock(flight);
                if finished(&state) {
                    break Ok(());
                }
                // A read timeout with nothing in flight is only a slow schedule.
                let timed_out =
                    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut);
                if !timed_out || state.sent != state.answered {
                    break Err(error);
                }
            }
        }
    };
    let mut state = lock(flight);
    state.over = true;
    let unanswered = state.sent - state.answered;
    progress.failed.fetch_add(unanswered, Ordering::AcqRel);
    state.answered = state.sent;
    drop(state);
    flight.1.notify_all();
    outcome
}

/// Nanoseconds since `epoch`, the run clock that subscribers read too.
pub(crate) fn nanos(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn connect(plan: &PublishPlan) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&plan.target.addr, plan.timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(plan.timeout))?;
    stream.set_write_timeout(Some(plan.timeout))?;
    Ok(stream)
}

/// Responses read one after another from a connection, bytes of the next kept between calls.
struct Answers {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Answers {
    /// Reads more bytes after the buffered ones (moving them to the front when needed).
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && (self.start == self.end || self.end == self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(invalid(HeadError::TooLong));
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    /// The next whole response: its status and whether the server closes after it.
    fn next(&mut self) -> io::Result<(u16, bool)> {
        let head = loop {
            if let Some((head, len)) =
                http::parse_head(&self.buf[self.start..self.end]).map_err(invalid)?
            {
                self.start += len;
                break head;
            }
            self.fill()?;
        };
        match head.framing {
            Framing::Length(mut left) => loop {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(self.end - self.start);
                self.start += take;
                left -= take as u64;
                if left == 0 {
                    break;
                }
                self.fill()?;
            },
            Framing::Chunked => {
                let mut chunks = Dechunk::new();
                loop {
                    let used = chunks
                        .feed(&self.buf[self.start..self.end], |_| {})
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    self.start += used;
                    if chunks.is_done() {
                        break;
                    }
                    self.fill()?;
                }
            }
            Framing::Close => loop {
                self.start = self.end;
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            },
        }
        Ok((head.status, head.closes))
    }
}

fn invalid(error: HeadError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("publish response: {error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_exactly_one_placeholder() {
        assert!(Template::parse("no placeholder").is_none());
        assert!(Template::parse("{data}{data}").is_none());
        let template = Template::parse(r#"{"topic":"bench","data":"{data}"}"#).expect("template");
        let mut out = Vec::new();
        template.render(&mut out, 3, 77, 10);
        assert_eq!(out, br#"{"topic":"bench","data":"3:77:xxxxx"}"#);
    }
}
