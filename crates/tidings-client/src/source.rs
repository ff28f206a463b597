//! [`EventSource`]: the async driver that moves bytes between hyper, timers and the
//! [`Machine`].

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::EventSourceBuilder;
use crate::error::{Error, ErrorKind};
use crate::handlers::Handlers;
use crate::item::{ClientItem, Disconnect};
use crate::machine::{Machine, Next, Verdict};
use crate::transport::{Response, Transport, TransportSettings};

/// A reconnecting SSE client: a [`Stream`] of [`ClientItem`]s.
///
/// It connects when first polled, and from then on follows the spec's reconnection rules (see
/// [`crate::machine`]). The stream yields `Ok` items until the client stops: it ends (`None`)
/// after a `204` ([`ClientItem::Stopped`]) or a cancellation, and yields one `Err` and then
/// ends after a fatal error (a status other than 200, a wrong content type, a redirect
/// problem, a rejected response, a limit reached).
///
/// # Cancel safety
///
/// - Polling is cancel-safe: a `next()` future dropped in a `select!` loses nothing; the
///   connection and the read in progress live in the `EventSource`, not in the future.
/// - Dropping the `EventSource` closes the connection at once. Nothing about the position in
///   the stream survives except what you kept: resume later with
///   [`EventSourceBuilder::last_event_id`] set to the last [`Event::id`](crate::Event::id)
///   you processed.
/// - Cancelling the token given to [`EventSourceBuilder::cancellation`] (or calling
///   [`Controller::close`]) closes the connection and ends the stream at its next poll;
///   items already decoded but not yet yielded are dropped.
///
/// ```no_run
/// use futures_util::StreamExt as _;
/// use tidings_client::{ClientItem, EventSource};
///
/// # async fn demo() -> Result<(), tidings_client::Error> {
/// let mut source = EventSource::new("http://localhost:8080/events?topic=news/*")?;
/// while let Some(item) = source.next().await {
///     match item? {
///         ClientItem::Event(event) => println!("{}: {}", event.event_type(), event.data()),
///         ClientItem::Reconnecting(r) => eprintln!("reconnecting in {:?}: {:?}", r.delay, r.reason),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct EventSource {
    inner: Pin<Box<dyn Stream<Item = Result<ClientItem, Error>> + Send>>,
    controller: Controller,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource").finish_non_exhaustive()
    }
}

impl EventSource {
    /// A builder for a client of `url` (an absolute `http` or `https` URL).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::builder("http://localhost:8080/events?topic=a");
    /// # drop(builder);
    /// ```
    pub fn builder(url: impl AsRef<str>) -> EventSourceBuilder {
        EventSourceBuilder::new(url.as_ref())
    }

    /// A client of `url` with every default.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] when `url` is not an absolute `http`/`https` URL.
    ///
    /// ```
    /// assert!(tidings_client::EventSource::new("ftp://example.com/").is_err());
    /// ```
    pub fn new(url: impl AsRef<str>) -> Result<Self, Error> {
        Self::builder(url).build()
    }

    pub(crate) fn start(
        machine: Machine,
        transport: &TransportSettings,
        read_timeout: Option<Duration>,
        cancel: Option<CancellationToken>,
    ) -> Result<Self, Error> {
        let transport = Transport::new(transport)?;
        // A child token: `Controller::close` must not cancel the caller's token.
        let cancel = cancel.map_or_else(CancellationToken::new, |token| token.child_token());
        let controller = Controller { cancel, restart: Arc::new(Notify::new()) };
        let driver = Driver {
            machine,
            transport,
            read_timeout,
            controller: controller.clone(),
            phase: Phase::Connect,
            final_error: None,
        };
        let inner = futures_util::stream::unfold(driver, |mut driver| async move {
            let item = driver.next().await?;
            Some((item, driver))
        });
        Ok(Self { inner: Box::pin(inner), controller })
    }

    /// A handle to restart or close this client from elsewhere.
    ///
    /// ```
    /// let source = tidings_client::EventSource::new("http://localhost:8080/")?;
    /// let controller = source.controller();
    /// controller.close();
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn controller(&self) -> Controller {
        self.controller.clone()
    }

    /// Drives the client, handing every item to `handlers`, until it stops.
    ///
    /// # Errors
    /// The fatal error that stopped the client (after the error handlers saw it). `Ok` after a
    /// `204` or a cancellation.
    ///
    /// # Cancel safety
    /// Dropping the future drops the client (closing its connection); items not yet handled
    /// are lost.
    ///
    /// ```no_run
    /// use tidings_client::{EventSource, Handlers};
    ///
    /// # async fn demo() -> Result<(), tidings_client::Error> {
    /// let handlers = Handlers::new()
    ///     .on("price", |event| println!("price {}", event.data()))
    ///     .on_open(|open| eprintln!("connected to {}", open.url))
    ///     .on_disconnect(|r| eprintln!("lost connection: {:?}", r.reason))
    ///     .on_error(|error| eprintln!("error: {error}"));
    /// EventSource::new("http://localhost:8080/events?topic=prices")?.run(handlers).await
    /// # }
    /// ```
    pub async fn run(mut self, mut handlers: Handlers) -> Result<(), Error> {
        use futures_util::StreamExt as _;
        while let Some(item) = self.next().await {
            match item {
                Ok(item) => handlers.dispatch(&item),
                Err(error) => {
                    handlers.dispatch_error(&error);
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

impl Stream for EventSource {
    type Item = Result<ClientItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Restarts or closes an [`EventSource`] from another task. Cheap to clone.
///
/// ```
/// let source = tidings_client::EventSource::new("http://localhost:8080/")?;
/// let controller = source.controller();
/// controller.restart(); // drop the connection and reconnect at once, from the last event id
/// # Ok::<(), tidings_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Controller {
    cancel: CancellationToken,
    restart: Arc<Notify>,
}

impl Controller {
    /// Drops the current connection (or skips the wait before the next one) and reconnects
    /// at once with the last event id, without counting it as a failure. A restart asked for
    /// while none can happen yet is kept for the next chance.
    ///
    /// ```
    /// # let source = tidings_client::EventSource::new("http://localhost:8080/")?;
    /// source.controller().restart();
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn restart(&self) {
        self.restart.notify_one();
    }

    /// Stops the client: the connection closes and the stream ends at its next poll.
    ///
    /// ```
    /// # let source = tidings_client::EventSource::new("http://localhost:8080/")?;
    /// source.controller().close();
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn close(&self) {
        self.cancel.cancel();
    }

    /// Whether the client was closed (by [`Controller::close`] or its cancellation token).
    ///
    /// ```
    /// # let source = tidings_client::EventSource::new("http://localhost:8080/")?;
    /// let controller = source.controller();
    /// assert!(!controller.is_closed());
    /// controller.close();
    /// assert!(controller.is_closed());
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// What the driver is doing.
enum Phase {
    /// Start an attempt.
    Connect,
    /// Wait until the deadline, then connect.
    Wait(Instant),
    /// Read the body.
    Stream(Incoming),
    /// Stopped: yield the final error, if any, then end.
    Done,
}

/// Moves data between the transport, the timers and the machine. Every decision is the
/// machine's.
struct Driver {
    machine: Machine,
    transport: Transport,
    read_timeout: Option<Duration>,
    controller: Controller,
    phase: Phase,
    final_error: Option<Error>,
}

/// What woke the driver up while it waited on the network or a timer.
enum Wake<T> {
    Cancelled,
    Restart,
    Ready(T),
}

impl Driver {
    async fn next(&mut self) -> Option<Result<ClientItem, Error>> {
        loop {
            if self.controller.is_closed() {
                self.machine.close();
                self.phase = Phase::Done;
                return None;
            }
            if let Some(item) = self.machine.poll_item() {
                return Some(Ok(item));
            }
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return self.final_error.take().map(Err),
                Phase::Wait(deadline) => {
                    match Self::wake(&self.controller, tokio::time::sleep_until(deadline)).await {
                        Wake::Cancelled => {}
                        Wake::Restart | Wake::Ready(()) => self.phase = Phase::Connect,
                    }
                }
                Phase::Connect => self.connect().await,
                Phase::Stream(body) => self.read(body).await,
            }
        }
    }

    /// Awaits `future`, unless the client is closed or restarted first. (It borrows only the
    /// controller: the machine's jitter source need not be `Sync`.)
    async fn wake<F: Future>(controller: &Controller, future: F) -> Wake<F::Output> {
        tokio::select! {
            biased;
            () = controller.cancel.cancelled() => Wake::Cancelled,
            () = controller.restart.notified() => Wake::Restart,
            output = future => Wake::Ready(output),
        }
    }

    /// Awaits `future` within the read timeout, if one is set.
    async fn timed<F: Future>(
        read_timeout: Option<Duration>,
        future: F,
    ) -> Result<F::Output, tokio::time::error::Elapsed> {
        match read_timeout {
            Some(limit) => tokio::time::timeout(limit, future).await,
            None => Ok(future.await),
        }
    }

    /// One connection attempt: the request, then redirects, until a stream opens or the
    /// attempt ends.
    async fn connect(&mut self) {
        let mut request = self.machine.start_attempt(now());
        loop {
            let response = self.transport.send(request);
            let response = match Self::wake(
                &self.controller,
                Self::timed(self.read_timeout, response),
            )
            .await
            {
                Wake::Cancelled => return,
                Wake::Restart => return self.disconnect(Disconnect::Restart),
                Wake::Ready(Err(_elapsed)) => return self.disconnect(Disconnect::ReadTimeout),
                Wake::Ready(Ok(Err(error))) => {
                    let error = Error::with_source(ErrorKind::Connect, error);
                    return self.disconnect(Disconnect::Error(error));
                }
                Wake::Ready(Ok(Ok(response))) => response,
            };
            let (parts, body) = Response::into_parts(response);
            match self.machine.on_response(now(), &parts) {
                Verdict::Stream => {
                    self.phase = Phase::Stream(body);
                    return;
                }
                Verdict::Redirect(next) => request = *next,
                Verdict::Stop => return,
                Verdict::Fail(error) => {
                    self.final_error = Some(error);
                    return;
                }
            }
        }
    }

    /// Reads the next frame of the body.
    async fn read(&mut self, mut body: Incoming) {
        let frame = match Self::wake(&self.controller, Self::timed(self.read_timeout, body.frame()))
            .await
        {
            Wake::Cancelled => return,
            Wake::Restart => return self.disconnect(Disconnect::Restart),
            Wake::Ready(Err(_elapsed)) => return self.disconnect(Disconnect::ReadTimeout),
            Wake::Ready(Ok(None)) => return self.disconnect(Disconnect::Eof),
            Wake::Ready(Ok(Some(Err(error)))) => {
                let error = Error::with_source(ErrorKind::Body, error);
                return self.disconnect(Disconnect::Error(error));
            }
            Wake::Ready(Ok(Some(Ok(frame)))) => frame,
        };
        // Trailers carry nothing for an event stream.
        if let Ok(data) = frame.into_data() {
            self.machine.on_chunk(now(), data);
        }
        self.phase = Phase::Stream(body);
    }

    fn disconnect(&mut self, reason: Disconnect) {
        match self.machine.on_disconnect(now(), reason) {
            Next::Reconnect(delay) => self.phase = Phase::Wait(Instant::now() + delay),
            Next::GiveUp(error) => self.final_error = Some(error),
        }
    }
}

/// The machine's clock: tokio's, so paused-time tests move it too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}
