//! Subscribing to topics on a tidings hub or a Mercure hub.

use url::Url;

use crate::builder::EventSourceBuilder;
use crate::error::{Error, ErrorKind};
use crate::item::TOPIC_FIELD;
use crate::source::EventSource;

/// Which hub protocol to subscribe with.
///
/// ```
/// use tidings_client::HubKind;
///
/// let url = HubKind::Tidings.subscribe_url("http://localhost:8080", ["news/*", "a+b"])?;
/// assert_eq!(url, "http://localhost:8080/events?topic=news%2F*&topic=a%2Bb");
/// let url = HubKind::Mercure.subscribe_url("https://hub.example/base/", ["https://example.com/books/{id}"])?;
/// assert_eq!(
///     url,
///     "https://hub.example/base/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D"
/// );
/// # Ok::<(), tidings_client::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubKind {
    /// A tidings hub's native route: `{base}/events?topic=…`.
    Tidings,
    /// The Mercure route: `{base}/.well-known/mercure?topic=…` (a tidings hub serves it
    /// too).
    Mercure,
}

impl HubKind {
    /// The path under the hub's base URL.
    fn path(self) -> &'static str {
        match self {
            HubKind::Tidings => "events",
            HubKind::Mercure => ".well-known/mercure",
        }
    }

    /// The subscription URL for `topics` (selectors: exact topics, wildcards, URI templates)
    /// on the hub at `base`. `base` may carry a path prefix; the hub's route goes below it.
    /// Topics are form-encoded (`+` as `%2B`), which is how the hub decodes them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] when `base` is not an absolute `http`/`https` URL.
    ///
    /// ```
    /// use tidings_client::HubKind;
    /// let url = HubKind::Tidings.subscribe_url("http://localhost:8080/prefix", ["a", "b c"])?;
    /// assert_eq!(url, "http://localhost:8080/prefix/events?topic=a&topic=b+c");
    /// # Ok::<(), tidings_client::Error>(())
    /// ```
    pub fn subscribe_url<I>(self, base: &str, topics: I) -> Result<String, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.url(base, topics).map(String::from)
    }

    fn url<I>(self, base: &str, topics: I) -> Result<Url, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut base =
            Url::parse(base).map_err(|error| Error::with_source(ErrorKind::InvalidUrl, error))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::new(ErrorKind::InvalidUrl));
        }
        // Joining "events" onto "http://h/prefix" would replace "prefix"; a trailing slash
        // makes the base a directory.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        let mut url = base
            .join(self.path())
            .map_err(|error| Error::with_source(ErrorKind::InvalidUrl, error))?;
        {
            let mut query = url.query_pairs_mut();
            for topic in topics {
                query.append_pair("topic", topic.as_ref());
            }
        }
        Ok(url)
    }
}

impl EventSource {
    /// A builder subscribed to `topics` on the tidings hub at `base`
    /// (`{base}/events?topic=…`), reading each event's topics from the hub's `topic` field
    /// and its gap notices. Add `.bearer_token(…)` when the hub wants credentials, and
    /// `.data_encoding(DataEncoding::Base64)` when it encodes data.
    ///
    /// ```no_run
    /// use tidings_client::{EventSource, Handlers};
    ///
    /// # async fn demo() -> Result<(), tidings_client::Error> {
    /// let handlers = Handlers::new()
    ///     .on_topic("news/sport", |event| println!("sport: {}", event.data()))
    ///     .on_topic("news/weather", |event| println!("weather: {}", event.data()))
    ///     .on_gap(|gap| eprintln!("missed events: {:?}", gap.reason));
    /// EventSource::tidings_hub("http://localhost:8080", ["news/*"]).build()?.run(handlers).await
    /// # }
    /// ```
    pub fn tidings_hub<I>(base: impl AsRef<str>, topics: I) -> EventSourceBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::hub(HubKind::Tidings, base.as_ref(), topics)
    }

    /// A builder subscribed to `topics` on the Mercure hub at `base`
    /// (`{base}/.well-known/mercure?topic=…`). Topics are read from a `topic` field when the
    /// hub sends one (a tidings hub can; other Mercure hubs do not).
    ///
    /// ```
    /// let builder = tidings_client::EventSource::mercure_hub("https://hub.example", ["https://example.com/books/{id}"])
    ///     .bearer_token("eyJ…");
    /// # drop(builder);
    /// ```
    pub fn mercure_hub<I>(base: impl AsRef<str>, topics: I) -> EventSourceBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::hub(HubKind::Mercure, base.as_ref(), topics)
    }

    fn hub<I>(kind: HubKind, base: &str, topics: I) -> EventSourceBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        EventSourceBuilder::from_url(kind.url(base, topics))
            .topic_field(TOPIC_FIELD)
            .gap_events(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_kept_and_queries_dropped() {
        let url = HubKind::Tidings.subscribe_url("http://h:1/prefix?x=1#f", ["a"]);
        assert_eq!(url.ok().as_deref(), Some("http://h:1/prefix/events?topic=a"));
    }

    #[test]
    fn spaces_and_reserved_characters_are_form_encoded() {
        let url = HubKind::Tidings.subscribe_url("http://h", ["a b", "c&d=e"]);
        assert_eq!(url.ok().as_deref(), Some("http://h/events?topic=a+b&topic=c%26d%3De"));
    }

    #[test]
    fn non_http_bases_are_refused() {
        for base in ["ftp://h/", "not a url", "/relative"] {
            let error = HubKind::Mercure.subscribe_url(base, ["a"]).expect_err(base);
            assert_eq!(error.kind(), &ErrorKind::InvalidUrl);
        }
    }

    #[test]
    fn an_invalid_base_fails_the_build() {
        let error = EventSource::tidings_hub("nope", ["a"]).build().expect_err("invalid");
        assert_eq!(error.kind(), &ErrorKind::InvalidUrl);
    }
}
