//! Mercure discovery: the `Link: <hub>; rel="mercure"` header value that tells clients where
//! to subscribe for updates of a resource.
//!
//! Applications send it on their own responses (the resource's page or API answer); the hub
//! can also send it on its own responses ([`super::ApiConfig::link_header`]).

use http::HeaderValue;

/// Why a discovery link could not be built. Offsets are byte offsets into the refused text.
///
/// ```
/// let error = tidings_server::api::mercure_link("https://x/a b").unwrap_err();
/// assert_eq!(error, tidings_server::api::LinkError::InvalidTarget { offset: 11 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The hub URL is empty or has a character a `<…>` link target cannot hold (space,
    /// control, `<`, `>`, non-ASCII).
    #[error("hub URL cannot be a link target (byte {offset})")]
    InvalidTarget {
        /// Where the offending character is.
        offset: usize,
    },
    /// An attribute value has a control character or non-ASCII text.
    #[error("link attribute {name} has a character a header cannot hold (byte {offset})")]
    InvalidAttribute {
        /// The attribute.
        name: &'static str,
        /// Where the offending character is.
        offset: usize,
    },
}

/// The value of a `Link` header announcing a Mercure hub, with its optional attributes.
///
/// ```
/// use tidings_server::api::MercureLink;
///
/// let value = MercureLink::new("https://example.com/.well-known/mercure")
///     .last_event_id("0-a5")
///     .to_header_value()?;
/// assert_eq!(
///     value,
///     r#"<https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="0-a5""#
/// );
/// # Ok::<(), tidings_server::api::LinkError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct MercureLink {
    hub: String,
    last_event_id: Option<String>,
    content_type: Option<String>,
}

impl MercureLink {
    /// A link to the hub at `hub_url` (absolute, or relative to the resource).
    pub fn new(hub_url: impl Into<String>) -> Self {
        Self { hub: hub_url.into(), last_event_id: None, content_type: None }
    }

    /// The `last-event-id` attribute: the id of the last event at the time the resource was
    /// rendered, which the client passes back as `lastEventID` so it misses nothing since.
    /// Default: none.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// The `content-type` attribute: the media type of the updates' data. Default: none.
    pub fn content_type(mut self, media_type: impl Into<String>) -> Self {
        self.content_type = Some(media_type.into());
        self
    }

    /// The header value.
    ///
    /// # Errors
    /// [`LinkError`] when the URL or an attribute cannot be written in a header.
    ///
    /// See [`MercureLink`] for an example.
    pub fn to_header_value(&self) -> Result<HeaderValue, LinkError> {
        if self.hub.is_empty() {
            return Err(LinkError::InvalidTarget { offset: 0 });
        }
        if let Some(offset) = self
            .hub
            .bytes()
            .position(|b| !b.is_ascii_graphic() || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(LinkError::InvalidTarget { offset });
        }
        let mut value = format!("<{}>; rel=\"mercure\"", self.hub);
        let attributes =
            [("last-event-id", &self.last_event_id), ("content-type", &self.content_type)];
        for (name, attribute) in attributes {
            if let Some(text) = attribute {
                value.push_str("; ");
                value.push_str(name);
                value.push_str("=\"");
                push_quoted(&mut value, name, text)?;
                value.push('"');
            }
        }
        HeaderValue::from_str(&value).map_err(|_| LinkError::InvalidTarget { offset: 0 })
    }
}

/// Appends `text` as the inside of an RFC 9110 quoted-string: `"` and `\` escaped.
fn push_quoted(out: &mut String, name: &'static str, text: &str) -> Result<(), LinkError> {
    for (offset, c) in text.char_indices() {
        if !(c == ' ' || c.is_ascii_graphic()) {
            return Err(LinkError::InvalidAttribute { name, offset });
        }
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(())
}

/// `Link: <hub_url>; rel="mercure"`, the header value most applications need.
///
/// # Errors
/// [`LinkError::InvalidTarget`] when the URL cannot be a link target.
///
/// ```
/// let value = tidings_server::api::mercure_link("/.well-known/mercure")?;
/// assert_eq!(value, r#"</.well-known/mercure>; rel="mercure""#);
/// # Ok::<(), tidings_server::api::LinkError>(())
/// ```
pub fn mercure_link(hub_url: &str) -> Result<HeaderValue, LinkError> {
    MercureLink::new(hub_url).to_header_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_quotes_and_backslashes_are_escaped() {
        let value = MercureLink::new("/hub").last_event_id(r#"a"b\c"#).to_header_value();
        assert_eq!(value.expect("valid"), r#"</hub>; rel="mercure"; last-event-id="a\"b\\c""#);
    }

    #[test]
    fn targets_and_attributes_that_would_break_the_header_are_refused() {
        assert_eq!(mercure_link(""), Err(LinkError::InvalidTarget { offset: 0 }));
        assert_eq!(mercure_link("/a>b"), Err(LinkError::InvalidTarget { offset: 2 }));
        assert_eq!(mercure_link("/a\nb"), Err(LinkError::InvalidTarget { offset: 2 }));
        let bad = MercureLink::new("/hub").content_type("text/plain\r\n").to_header_value();
        assert_eq!(bad, Err(LinkError::InvalidAttribute { name: "content-type", offset: 10 }));
    }
}
