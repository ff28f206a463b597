//! The publisher: one thread, one keep-alive connection, one request at a time, at a fixed
//! rate or as fast as the server answers. Blocking I/O is the cheapest way to do exactly one
//! thing at a time, and a thread of its own keeps its timing independent of the subscribers'
//! event loop.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    progress.done.store(true, Ordering::Release);
    outcome.err()
}

fn publish_all(plan: &PublishPlan, epoch: Instant, progress: &PublishProgress) -> io::Result<()> {
    let mut conn = None;
    let mut body = Vec::with_capacity(plan.data_size + 256);
    let mut request = Vec::with_capacity(plan.data_size + 1024);
    let mut buf = vec![0u8; 64 * 1024];
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
        let sent = nanos(epoch);
        plan.template.render(&mut body, seq, sent, plan.data_size);
        http::publish_request(&mut request, &plan.method, &plan.target, &plan.headers, &body);
        if seq == 0 {
            progress.first_ns.store(sent, Ordering::Release);
        }
        let stream = match &mut conn {
            Some(stream) => stream,
            None => conn.insert(connect(plan)?),
        };
        match exchange(stream, &request, &mut buf) {
            Ok((status, closes)) => {
                if (200..300).contains(&status) {
                    progress.ok.fetch_add(1, Ordering::AcqRel);
                } else {
                    progress.failed.fetch_add(1, Ordering::AcqRel);
                    progress.last_bad_status.store(u64::from(status), Ordering::Release);
                }
                if closes {
                    conn = None;
                }
            }
            Err(error) => {
                // A keep-alive connection the server closed between requests: this event counts
                // as failed and the next one goes on a fresh connection. Other errors (a timeout,
                // garbage) end the run's publishing.
                progress.failed.fetch_add(1, Ordering::AcqRel);
                conn = None;
                if error.kind() != io::ErrorKind::UnexpectedEof
                    && error.kind() != io::ErrorKind::ConnectionReset
                    && error.kind() != io::ErrorKind::BrokenPipe
                {
                    return Err(error);
                }
            }
        }
        progress.last_ns.store(nanos(epoch), Ordering::Release);
    }
    Ok(())
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

/// Sends one request and reads its whole response; returns the status and whether the
/// server closes the connection after it.
fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut [u8]) -> io::Result<(u16, bool)> {
    stream.write_all(request)?;
    let mut filled = 0;
    let (head, body_start) = loop {
        if filled == buf.len() {
            return Err(invalid(HeadError::TooLong));
        }
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if let Some(parsed) = http::parse_head(&buf[..filled]).map_err(invalid)? {
            break parsed;
        }
    };
    let mut leftover = body_start..filled;
    match head.framing {
        Framing::Length(mut left) => loop {
            left = left.saturating_sub(leftover.len() as u64);
            if left == 0 {
                break;
            }
            let n = stream.read(buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            leftover = 0..n;
        },
        Framing::Chunked => {
            let mut chunks = Dechunk::new();
            loop {
                chunks
                    .feed(&buf[leftover.clone()], |_| {})
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if chunks.is_done() {
                    break;
                }
                let n = stream.read(buf)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                leftover = 0..n;
            }
        }
        Framing::Close => while stream.read(buf)? > 0 {},
    }
    Ok((head.status, head.closes))
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
