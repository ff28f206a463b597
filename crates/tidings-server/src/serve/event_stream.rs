//! The direct HTTP/1.1 path for event streams.
//!
//! hyper keeps a read buffer (8 to 16 KiB) and a write buffer (8 KiB) for the whole life of an
//! HTTP/1.1 connection, in case another request follows. An SSE response never ends on its
//! own, so on a hub those buffers are most of the memory of every idle subscriber. This module
//! reads the first request head itself (with `httparse`, the parser hyper uses), and when the
//! request is a plain `GET` whose response turns out to be `text/event-stream`, it writes the
//! response itself: the head once, then each batch of ready frames as one HTTP/1.1 chunk in one
//! vectored write, holding no buffer between batches. Everything else (other methods, bodies,
//! upgrades, HTTP/2, parse errors, responses that are not event streams) goes to hyper with
//! the bytes already read put back in front of the connection, and a response already made
//! for the first request handed over as is, so the service is never called twice.
//!
//! What it does not do: keep the connection for another request once the stream ends (it
//! closes it; an `EventSource` reconnects on a new connection anyway), or serve HTTP/1.0.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most headers a request may have on this path; a request with more goes to hyper, which
/// applies its own limit.
const MAX_HEADERS: usize = 64;

/// The first read's buffer; it grows (up to the head size limit) only for large heads.
const FIRST_READ: usize = 2048;

/// Stop gathering frames for one write beyond this many bytes, so a subscriber with a long
/// queue is written in bounded steps.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Most slices one vectored write is given (Linux accepts up to 1 024).
const MAX_SLICES: usize = 64;

/// What the first bytes of a connection turned out to be.
#[allow(clippy::large_enum_variant, reason = "a short-lived value, moved once")]
pub(super) enum Head {
    /// A complete `GET` head this path can serve; `buffered` is every byte read so far (the
    /// head and anything after it), for hyper if the response is not an event stream.
    Eligible { request: Request<()>, buffered: Bytes },
    /// Anything else; hyper reads it again from `buffered`.
    Other { buffered: Bytes },
    /// The client closed or failed before sending a complete head.
    Gone,
}

/// Reads until the first request head is complete (or clearly not for this path).
///
/// Cancel safety: not cancel safe (bytes read are lost); callers select on it only to
/// abandon the connection.
pub(super) async fn read_head<I>(io: &mut I, max_head: usize) -> Head
where
    I: AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut buffer = Vec::with_capacity(FIRST_READ.min(max_head.max(1)));
    // How far the buffer has been searched for the blank line that ends a head: a client
    // trickling its head a byte at a time must not make each byte re-parse everything.
    let mut searched: usize = 0;
    loop {
        if buffer.len() == buffer.capacity() {
            if buffer.len() >= max_head {
                // hyper answers 431 for it.
                return Head::Other { buffered: buffer.into() };
            }
            buffer.reserve((buffer.len()).min(max_head - buffer.len()).max(1));
        }
        match io.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return Head::Gone,
            Ok(_) => {}
        }
        let from = searched.saturating_sub(3);
        searched = buffer.len();
        if !ends_a_head(&buffer[from..]) {
            continue;
        }
        match parse(&buffer) {
            Parsed::Partial => {}
            Parsed::Eligible(request) => {
                return Head::Eligible { request, buffered: buffer.into() };
            }
            Parsed::Other => return Head::Other { buffered: buffer.into() },
        }
    }
}

/// Whether `bytes` hold a blank line (`\n\n` or `\n\r\n`), without which no request head is
/// complete (the HTTP/2 preface has one too).
fn ends_a_head(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|pair| pair == b"\n\n")
        || bytes.windows(3).any(|triple| triple == b"\n\r\n")
}

#[allow(clippy::large_enum_variant, reason = "a short-lived value, moved once")]
enum Parsed {
    Partial,
    Eligible(Request<()>),
    Other,
}

/// Parses `buffer` as an HTTP/1.1 request head and decides whether this path may serve it.
fn parse(buffer: &[u8]) -> Parsed {
    // The HTTP/2 connection preface starts like a request line; hyper takes it from here.
    if buffer.starts_with(b"PRI ") {
        return Parsed::Other;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    match head.parse(buffer) {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(_)) => {
            eligible(&head).map_or(Parsed::Other, Parsed::Eligible)
        }
        // Errors (and too many headers) get hyper's answer.
        Err(_) => Parsed::Other,
    }
}

/// The request, if it is a bodyless HTTP/1.1 `GET` that asks for nothing special.
fn eligible(head: &httparse::Request<'_, '_>) -> Option<Request<()>> {
    if head.method != Some("GET") || head.version != Some(1) {
        return None;
    }
    let uri: Uri = head.path?.parse().ok()?;
    let mut headers = HeaderMap::with_capacity(head.headers.len());
    for header in head.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(header.value).ok()?;
        let refused = match name.as_str() {
            // A body, an upgrade or an interim response: hyper's job.
            "content-length" => value.as_bytes() != b"0",
            "transfer-encoding" | "upgrade" | "expect" => true,
            _ => false,
        };
        if refused {
            return None;
        }
        headers.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Some(request)
}

/// Whether this path streams `response` itself: a 200 `text/event-stream` response.
pub(super) fn is_event_stream<B>(response: &Response<B>) -> bool {
    response.status() == StatusCode::OK
        && response.headers().get(CONTENT_TYPE).is_some_and(|value| {
            let value = value.as_bytes();
            value.len() >= 17 && value[..17].eq_ignore_ascii_case(b"text/event-stream")
        })
}

/// The response head: status line, the response's headers, `date`, and chunked framing.
fn response_head(parts: &http::response::Parts) -> Bytes {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        // The framing is this writer's: a stream has no length.
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    head.into()
}

/// Writes `response` (an event stream) on `io` until the body ends, the client goes away or
/// the connection fails, then closes the connection.
///
/// Cancel safety: dropping the future drops the body (which unsubscribes) and the connection.
pub(super) async fn stream<I, B>(io: I, response: Response<B>) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = response.into_parts();
    let mut writer = Writer {
        io,
        head: Some(response_head(&parts)),
        wire: VecDeque::new(),
        staged: Vec::new(),
        staged_bytes: 0,
        body_ended: false,
        terminated: false,
        flushed: false,
    };
    drop(parts);
    let mut body = std::pin::pin!(body);
    std::future::poll_fn(|cx| writer.poll(cx, body.as_mut())).await?;
    std::future::poll_fn(|cx| Pin::new(&mut writer.io).poll_shutdown(cx)).await
}

/// The state of one streamed response between polls.
struct Writer<I> {
    io: I,
    /// The response head, until it goes out with the first chunk.
    head: Option<Bytes>,
    /// Bytes accepted for the wire, in order, not yet written (a framed batch).
    wire: VecDeque<Bytes>,
    /// Frames taken from the body, to go out as the next chunk.
    staged: Vec<Bytes>,
    staged_bytes: usize,
    body_ended: bool,
    /// The last chunk is on the wire: nothing follows.
    terminated: bool,
    /// Whether everything written has been flushed (matters for TLS, which buffers records).
    flushed: bool,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Writer<I> {
    fn poll<B>(&mut self, cx: &mut Context<'_>, mut body: Pin<&mut B>) -> Poll<io::Result<()>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if self.poll_peer(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        loop {
            // Take every frame the body has ready (bounded), so they share one write.
            while !self.body_ended && self.staged_bytes < MAX_BATCH_BYTES {
                match body.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(mut data) = frame.into_data() {
                            let len = data.remaining();
                            if len > 0 {
                                self.staged.push(data.copy_to_bytes(len));
                                self.staged_bytes += len;
                            }
                        }
                    }
                    Poll::Ready(Some(Err(error))) => {
                        // No terminating chunk: the client sees a cut stream and reconnects.
                        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
                        tracing::debug!(%error, "event stream body failed");
                        return Poll::Ready(Err(io::Error::other("event stream body failed")));
                    }
                    Poll::Ready(None) => self.body_ended = true,
                    Poll::Pending => break,
                }
            }
            if self.wire.is_empty() {
                self.frame_staged();
            }
            if self.wire.is_empty() {
                if !self.flushed {
                    ready!(Pin::new(&mut self.io).poll_flush(cx))?;
                    self.flushed = true;
                }
                return if self.terminated { Poll::Ready(Ok(())) } else { Poll::Pending };
            }
            ready!(self.poll_write_wire(cx))?;
        }
    }

    /// Notices a client that went away (end of file or error). Bytes a client sends after
    /// its request are read and dropped: no other request is served on this connection.
    fn poll_peer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0_u8; 256];
        loop {
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Moves the staged frames onto the wire as one chunk (and the last chunk at the end).
    fn frame_staged(&mut self) {
        if let Some(head) = self.head.take() {
            self.wire.push_back(head);
        }
        if self.staged_bytes > 0 {
            self.wire.push_back(Bytes::from(format!("{:x}\r\n", self.staged_bytes)));
            self.wire.extend(self.staged.drain(..));
            self.wire.push_back(Bytes::from_static(b"\r\n"));
            self.staged_bytes = 0;
        }
        if self.body_ended && !self.terminated {
            self.wire.push_back(Bytes::from_static(b"0\r\n\r\n"));
            self.terminated = true;
        }
    }

    /// Writes as much of the wire as the socket takes now; `Ready(Ok)` after progress.
    fn poll_write_wire(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = self.wire.len().min(MAX_SLICES);
        for (slice, bytes) in slices.iter_mut().zip(self.wire.iter()) {
            *slice = IoSlice::new(bytes);
        }
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        self.flushed = false;
        let mut left = written;
        while left > 0 {
            let Some(front) = self.wire.front_mut() else { break };
            if front.len() <= left {
                left -= front.len();
                self.wire.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_only_at_a_blank_line() {
        assert!(ends_a_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(ends_a_head(b"GET / HTTP/1.1\nHost: x\n\n"));
        assert!(ends_a_head(b"\n\r\n"));
        assert!(!ends_a_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!ends_a_head(b"\r\n\r"));
    }

    #[test]
    fn only_plain_http11_gets_without_a_body_are_eligible() {
        let eligible = |head: &[u8]| matches!(parse(head), Parsed::Eligible(_));
        let other = |head: &[u8]| matches!(parse(head), Parsed::Other);
        assert!(eligible(b"GET /events?topic=a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
        assert!(other(b"POST /publish HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
        assert!(other(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(other(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial));
    }

    #[test]
    fn the_request_keeps_method_path_query_and_headers() {
        let Parsed::Eligible(request) = parse(
            b"GET /events/a%20b?topic=t&x=1 HTTP/1.1\r\nHost: hub\r\nLast-Event-ID: 7\r\n\r\n",
        ) else {
            panic!("eligible");
        };
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), "/events/a%20b");
        assert_eq!(request.uri().query(), Some("topic=t&x=1"));
        assert_eq!(request.headers()["last-event-id"], "7");
        assert_eq!(request.headers()["host"], "hub");
    }

    #[test]
    fn event_streams_are_told_by_status_and_content_type() {
        let response = |status: u16, content_type: &str| {
            Response::builder()
                .status(status)
                .header(CONTENT_TYPE, content_type)
                .body(())
                .expect("response")
        };
        assert!(is_event_stream(&response(200, "text/event-stream")));
        assert!(is_event_stream(&response(200, "Text/Event-Stream; charset=utf-8")));
        assert!(!is_event_stream(&response(204, "text/event-stream")));
        assert!(!is_event_stream(&response(200, "text/plain")));
        assert!(!is_event_stream(&response(200, "text/event")));
    }
}
