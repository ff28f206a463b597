//! [`Handlers`]: callbacks by event type, by topic, and for connection notices.

use std::collections::HashMap;
use std::fmt;

use crate::error::Error;
use crate::item::{ClientItem, Event, Gap, Open, Reconnecting};

type Callback<T> = Box<dyn FnMut(&T) + Send + 'static>;

/// A registry of callbacks that [`EventSource::run`](crate::EventSource::run) (or your own
/// loop, through [`Handlers::dispatch`]) calls for each item.
///
/// - [`Handlers::on`] registers a handler for one event type, like a browser's
///   `addEventListener(type, …)`: events without an `event:` field have type `"message"`
///   ([`Handlers::on_message`]).
/// - [`Handlers::on_topic`] registers a handler for one topic, for hubs that say each
///   event's topics ([`Event::topics`]). An event listing several topics reaches the handlers
///   of each of them; type handlers and topic handlers both run.
/// - [`Handlers::on_any`] sees every event; [`Handlers::on_open`], [`Handlers::on_disconnect`],
///   [`Handlers::on_error`], [`Handlers::on_gap`], [`Handlers::on_retry`] and
///   [`Handlers::on_comment`] see the notices.
///
/// Several handlers for the same key run in registration order. Handlers run on the task
/// that drives the client: keep them short, or hand work to another task.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tidings_client::{ClientItem, Event, Handlers};
/// use tidings_codec::Decoder;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let mut handlers = Handlers::new()
///     .on("greet", move |event| log.lock().expect("lock").push(event.data().to_owned()))
///     .on_message(|_| panic!("not a plain message"));
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"event: greet\ndata: hi\n\n");
/// let message = decoder.next_item()?.and_then(|i| i.into_event()).expect("an event");
/// handlers.dispatch(&ClientItem::Event(Event::new(message)));
/// assert_eq!(*seen.lock().expect("lock"), ["hi"]);
/// # Ok::<(), tidings_codec::DecodeError>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct Handlers {
    by_type: HashMap<String, Vec<Callback<Event>>>,
    by_topic: HashMap<String, Vec<Callback<Event>>>,
    any: Vec<Callback<Event>>,
    open: Vec<Callback<Open>>,
    disconnect: Vec<Callback<Reconnecting>>,
    error: Vec<Callback<Error>>,
    gap: Vec<Callback<Gap>>,
    retry: Vec<Callback<std::time::Duration>>,
    comment: Vec<Callback<String>>,
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers")
            .field("types", &self.by_type.keys().collect::<Vec<_>>())
            .field("topics", &self.by_topic.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Handlers {
    /// No handlers.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new();
    /// # drop(handlers);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `handler` for events of type `event_type`.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on("update", |event| println!("{}", event.data()));
    /// # drop(handlers);
    /// ```
    pub fn on(
        mut self,
        event_type: impl Into<String>,
        handler: impl FnMut(&Event) + Send + 'static,
    ) -> Self {
        self.by_type.entry(event_type.into()).or_default().push(Box::new(handler));
        self
    }

    /// Calls `handler` for events without an `event:` field (type `"message"`).
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_message(|event| println!("{}", event.data()));
    /// # drop(handlers);
    /// ```
    pub fn on_message(self, handler: impl FnMut(&Event) + Send + 'static) -> Self {
        self.on("message", handler)
    }

    /// Calls `handler` for events that list `topic` among their topics (exact match).
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new()
    ///     .on_topic("news/sport", |event| println!("sport: {}", event.data()));
    /// # drop(handlers);
    /// ```
    pub fn on_topic(
        mut self,
        topic: impl Into<String>,
        handler: impl FnMut(&Event) + Send + 'static,
    ) -> Self {
        self.by_topic.entry(topic.into()).or_default().push(Box::new(handler));
        self
    }

    /// Calls `handler` for every event, before the type and topic handlers.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_any(|event| println!("{}", event.id()));
    /// # drop(handlers);
    /// ```
    pub fn on_any(mut self, handler: impl FnMut(&Event) + Send + 'static) -> Self {
        self.any.push(Box::new(handler));
        self
    }

    /// Calls `handler` each time a stream opens (the first connection and every reconnection).
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_open(|open| println!("open {}", open.url));
    /// # drop(handlers);
    /// ```
    pub fn on_open(mut self, handler: impl FnMut(&Open) + Send + 'static) -> Self {
        self.open.push(Box::new(handler));
        self
    }

    /// Calls `handler` each time the connection ends or fails and the client will reconnect.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_disconnect(|r| println!("retry in {:?}", r.delay));
    /// # drop(handlers);
    /// ```
    pub fn on_disconnect(mut self, handler: impl FnMut(&Reconnecting) + Send + 'static) -> Self {
        self.disconnect.push(Box::new(handler));
        self
    }

    /// Calls `handler` for errors: lost events ([`ClientItem::EventError`]), and the fatal
    /// error that stops the client.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_error(|error| eprintln!("{error}"));
    /// # drop(handlers);
    /// ```
    pub fn on_error(mut self, handler: impl FnMut(&Error) + Send + 'static) -> Self {
        self.error.push(Box::new(handler));
        self
    }

    /// Calls `handler` for gap notices from a tidings hub.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_gap(|gap| eprintln!("missed {:?}", gap.missed));
    /// # drop(handlers);
    /// ```
    pub fn on_gap(mut self, handler: impl FnMut(&Gap) + Send + 'static) -> Self {
        self.gap.push(Box::new(handler));
        self
    }

    /// Calls `handler` when the server changes the reconnection time.
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_retry(|retry| println!("retry now {retry:?}"));
    /// # drop(handlers);
    /// ```
    pub fn on_retry(mut self, handler: impl FnMut(&std::time::Duration) + Send + 'static) -> Self {
        self.retry.push(Box::new(handler));
        self
    }

    /// Calls `handler` for comment lines (only delivered when
    /// [`EventSourceBuilder::comments`](crate::EventSourceBuilder::comments) is on).
    ///
    /// ```
    /// let handlers = tidings_client::Handlers::new().on_comment(|text| println!(": {text}"));
    /// # drop(handlers);
    /// ```
    pub fn on_comment(mut self, handler: impl FnMut(&String) + Send + 'static) -> Self {
        self.comment.push(Box::new(handler));
        self
    }

    /// Hands `item` to the handlers registered for it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings_client::{ClientItem, Handlers};
    ///
    /// let mut handlers = Handlers::new().on_retry(|retry| assert_eq!(*retry, Duration::from_secs(1)));
    /// handlers.dispatch(&ClientItem::Retry(Duration::from_secs(1)));
    /// ```
    pub fn dispatch(&mut self, item: &ClientItem) {
        fn call<T>(handlers: &mut [Callback<T>], value: &T) {
            for handler in handlers {
                handler(value);
            }
        }
        match item {
            ClientItem::Event(event) => {
                call(&mut self.any, event);
                if let Some(handlers) = self.by_type.get_mut(event.event_type()) {
                    call(handlers, event);
                }
                for (index, topic) in event.topics().iter().enumerate() {
                    // A topic listed twice reaches its handlers once.
                    if event.topics()[..index].contains(topic) {
                        continue;
                    }
                    if let Some(handlers) = self.by_topic.get_mut(topic) {
                        call(handlers, event);
                    }
                }
            }
            ClientItem::Open(open) => call(&mut self.open, open),
            ClientItem::Reconnecting(reconnecting) => call(&mut self.disconnect, reconnecting),
            ClientItem::EventError(error) => call(&mut self.error, error),
            ClientItem::Gap(gap) => call(&mut self.gap, gap),
            ClientItem::Retry(retry) => call(&mut self.retry, retry),
            ClientItem::Comment(text) => call(&mut self.comment, text),
            ClientItem::Stopped(_) => {}
        }
    }

    /// Hands a fatal error to the error handlers.
    ///
    /// ```
    /// use tidings_client::{Error, ErrorKind, Handlers};
    /// let mut handlers = Handlers::new().on_error(|error| assert!(error.is_fatal()));
    /// handlers.dispatch_error(&Error::from(ErrorKind::InvalidUrl));
    /// ```
    pub fn dispatch_error(&mut self, error: &Error) {
        for handler in &mut self.error {
            handler(error);
        }
    }
}
