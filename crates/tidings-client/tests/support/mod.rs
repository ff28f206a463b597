//! A scripted HTTP/1.1 server over raw TCP, and client helpers, for the integration tests.
//!
//! The server accepts connections on `127.0.0.1:0`, reads each connection's request (method,
//! target, headers, body by `Content-Length`) and hands the test a [`Conn`]. The test then
//! writes exactly the bytes it wants, in the pieces it wants, and closes or resets the
//! connection when it wants: nothing is framed or buffered behind its back.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use tidings_client::{Backoff, ClientItem, Error, Event, EventSource, EventSourceBuilder, Jitter};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a test waits for something that should happen before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The head of a streaming response: no length, so the body runs until the connection closes
/// and every byte the test writes reaches the client as it is.
pub const STREAM_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The server: accepted connections arrive in order through [`ScriptServer::accept`].
pub struct ScriptServer {
    pub addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<Conn>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, conns) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let tx = tx.clone();
                tokio::spawn(async move {
                    stream.set_nodelay(true).expect("nodelay");
                    if let Some(conn) = Conn::read_request(stream).await {
                        let _ = tx.send(conn);
                    }
                });
            }
        });
        Self { addr, conns, task }
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next connection (with its request), or a panic after [`PATIENCE`].
    pub async fn accept(&mut self) -> Conn {
        tokio::time::timeout(PATIENCE, self.conns.recv())
            .await
            .expect("no connection in time")
            .expect("server stopped")
    }

    /// Asserts that no new connection arrives within `within`.
    pub async fn expect_no_connection(&mut self, within: Duration) {
        if let Ok(Some(conn)) = tokio::time::timeout(within, self.conns.recv()).await {
            panic!("unexpected connection: {:?}", conn.request);
        }
    }
}

/// One accepted connection and the request read from it.
pub struct Conn {
    pub request: Request,
    stream: TcpStream,
}

impl Conn {
    async fn read_request(mut stream: TcpStream) -> Option<Self> {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let method = request_line.next()?.to_owned();
        let target = request_line.next()?.to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Self { request: Request { method, target, headers, body }, stream })
    }

    /// Writes `bytes` and flushes them.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        // A client that went away is not the test's concern here; assertions are elsewhere.
        let _ = self.stream.write_all(bytes.as_ref()).await;
        let _ = self.stream.flush().await;
    }

    /// Writes `bytes` in pieces of `size`, pausing between them so each travels on its own.
    pub async fn send_in_chunks(&mut self, bytes: impl AsRef<[u8]>, size: usize) {
        for piece in bytes.as_ref().chunks(size) {
            self.send(piece).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Starts a `200 text/event-stream` response.
    pub async fn open_stream(&mut self) {
        self.send(STREAM_HEAD).await;
    }

    /// Closes the connection cleanly (FIN): a normal end of the stream.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Breaks the connection (RST): a network error for the client.
    pub fn reset(self) {
        // Linger zero turns the close into a reset.
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }

    /// Waits until the client closes its side (reads until EOF or an error).
    pub async fn wait_closed_by_client(&mut self) {
        let mut sink = [0u8; 1024];
        tokio::time::timeout(PATIENCE, async {
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await
        .expect("the client did not close the connection");
    }
}

/// A builder for `url` with test-friendly timing: 10 ms reconnection time, no jitter.
pub fn client(url: &str) -> EventSourceBuilder {
    EventSource::builder(url)
        .retry(Duration::from_millis(10))
        .backoff(Backoff::default().jitter(Jitter::None).max_delay(Duration::from_millis(50)))
        .native_roots(false)
}

/// The next item, or a panic after [`PATIENCE`].
pub async fn next_item(source: &mut EventSource) -> Option<Result<ClientItem, Error>> {
    tokio::time::timeout(PATIENCE, source.next()).await.expect("no item in time")
}

/// The next event, skipping notices; panics on an error or the end of the stream.
pub async fn next_event(source: &mut EventSource) -> Event {
    loop {
        match next_item(source).await {
            Some(Ok(ClientItem::Event(event))) => return event,
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("stream failed: {error:?}"),
            None => panic!("stream ended"),
        }
    }
}

/// Items up to and including the next `Reconnecting` (or the end), skipping `Open`s.
pub async fn items_until_reconnect(source: &mut EventSource) -> Vec<ClientItem> {
    let mut items = Vec::new();
    loop {
        match next_item(source).await {
            Some(Ok(ClientItem::Open(_))) => {}
            Some(Ok(item @ ClientItem::Reconnecting(_))) => {
                items.push(item);
                return items;
            }
            Some(Ok(item)) => items.push(item),
            Some(Err(error)) => panic!("stream failed: {error:?}"),
            None => return items,
        }
    }
}

/// The terminal error the stream ends with, skipping items.
pub async fn final_error(source: &mut EventSource) -> Error {
    loop {
        match next_item(source).await {
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                assert!(next_item(source).await.is_none(), "the stream goes on after an error");
                return error;
            }
            None => panic!("stream ended without an error"),
        }
    }
}

/// `(type, data, id)` of an event, for compact assertions.
pub fn triple(event: &Event) -> (String, String, String) {
    (event.event_type().to_owned(), event.data().to_owned(), event.id().to_owned())
}

/// Sends `input` over a fresh stream, in pieces of `chunk` bytes (all at once when `None`),
/// closes it, and returns the events the client decoded before reconnecting.
pub async fn events_of(input: &[u8], chunk: Option<usize>) -> Vec<Event> {
    let mut server = ScriptServer::start().await;
    let mut source = client(&server.url("/")).build().expect("client");
    let input = input.to_vec();
    let script = tokio::spawn(async move {
        let mut conn = server.accept().await;
        conn.open_stream().await;
        match chunk {
            Some(size) => conn.send_in_chunks(&input, size).await,
            None => conn.send(&input).await,
        }
        conn.close().await;
        server
    });
    let items = items_until_reconnect(&mut source).await;
    drop(script.await.expect("script"));
    items
        .into_iter()
        .filter_map(|item| match item {
            ClientItem::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// The data of each event.
pub fn data_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|event| event.data().to_owned()).collect()
}
