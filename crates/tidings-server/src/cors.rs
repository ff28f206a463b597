//! Cross-origin access for browsers: an origin allow-list ([`OriginPattern`]) and the CORS
//! layer built from a [`CorsConfig`].
//!
//! A page on `https://app.example.com` that opens an `EventSource` on a hub at
//! `https://hub.example.com`, or publishes to it with `fetch`, is making a cross-origin
//! request. The browser only lets the page read the answer when the hub names the page's origin
//! in `Access-Control-Allow-Origin`; with `withCredentials` (cookies, the
//! `mercureAuthorization` cookie in particular) the hub must also say
//! `Access-Control-Allow-Credentials: true`, and may then **not** answer with the wildcard `*`.
//!
//! What this module does:
//! - **No origin is allowed by default.** A [`CorsConfig`] without origins adds no
//!   `Access-Control-Allow-Origin` header anywhere, so browsers refuse every cross-origin read.
//! - A listed origin is **echoed** back (never `*`), with `Vary: Origin` so caches keep the
//!   answers for different origins apart, and with `Access-Control-Allow-Credentials: true`
//!   unless credentials are turned off.
//! - The pattern `*` allows every origin, and then turns credentials off: the answer is a literal
//!   `Access-Control-Allow-Origin: *`, which browsers accept only for requests without cookies.
//!   Echoing any origin together with credentials would let every web site read a user's private
//!   streams with the user's own cookie, so that combination cannot be configured.
//! - Preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered with the methods an
//!   `EventSource` or a publisher needs (`GET`, `HEAD`, `POST`) and the request headers they send
//!   (`Authorization`, `Content-Type`, `Last-Event-ID`, `Cache-Control`, plus any added with
//!   [`CorsConfig::allow_header`]).
//!
//! The same [`OriginPattern`] type is used for the cookie CSRF check of
//! [`JwtConfig::publish_origins`](crate::jwt::JwtConfig::publish_origins).
//!
//! What it is not: an access control mechanism for non-browser clients. CORS only instructs
//! browsers; `curl` ignores it. Authentication is [`crate::Authenticator`]'s job.
//!
//! The layer is tower-http's `CorsLayer`, configured so that it cannot hit any of its
//! invalid-combination assertions (no wildcard together with credentials).
//!
//! ```
//! use tidings_server::cors::{CorsConfig, OriginPattern};
//!
//! let cors = CorsConfig::new()
//!     .allow_origin(OriginPattern::parse("https://app.example.com")?)
//!     .allow_origin(OriginPattern::parse("https://*.example.org")?);
//! assert!(cors.allows("https://app.example.com"));
//! assert!(cors.allows("https://eu.example.org"));
//! assert!(!cors.allows("https://evil.example.net"));
//! // An axum router applies it with `.layer(cors.layer())`.
//! let _layer = cors.layer();
//! # Ok::<(), tidings_server::cors::OriginPatternError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long browsers may cache a preflight answer unless configured: ten minutes, short enough
/// that a changed allow-list takes effect soon.
///
/// ```
/// use tidings_server::cors::{CorsConfig, DEFAULT_MAX_AGE};
/// let cors = CorsConfig::new().max_age(DEFAULT_MAX_AGE * 6); // an hour
/// # let _ = cors;
/// ```
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// One entry of an origin allow-list: `*` (every origin), an exact origin such as
/// `https://app.example.com`, or an origin with one `*` wildcard such as
/// `https://*.example.com` or `http://localhost:*`.
///
/// Matching ignores ASCII case (origins are case-insensitive in their scheme and host). The
/// wildcard stands for one or more characters among letters, digits, `-` and `.`, so
/// `https://*.example.com` matches `https://a.b.example.com` but not `https://.example.com` nor
/// `https://evil.com/x.example.com`.
///
/// ```
/// use tidings_server::cors::OriginPattern;
///
/// let exact = OriginPattern::parse("https://App.Example.com")?;
/// assert!(exact.matches("https://app.example.com"));
/// assert!(!exact.matches("http://app.example.com"));
///
/// let ports = OriginPattern::parse("http://localhost:*")?;
/// assert!(ports.matches("http://localhost:5173"));
/// assert!(!ports.matches("http://localhost"));
///
/// assert!(OriginPattern::any().matches("https://anything.test"));
/// assert!(OriginPattern::parse("https://example.com/").is_err()); // origins have no path
/// # Ok::<(), tidings_server::cors::OriginPatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPattern(Pattern);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    /// Lower-cased.
    Exact(String),
    /// Lower-cased text before and after the `*`.
    Wildcard {
        prefix: String,
        suffix: String,
    },
}

/// Why an origin pattern was refused.
///
/// ```
/// use tidings_server::cors::{OriginPattern, OriginPatternError};
/// assert_eq!(OriginPattern::parse("example.com"), Err(OriginPatternError::MissingScheme));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginPatternError {
    /// The pattern is empty.
    #[error("empty origin")]
    Empty,
    /// The pattern has no `scheme://` (an origin always has one), and is not `null` or `*`.
    #[error("an origin starts with a scheme, such as https://")]
    MissingScheme,
    /// The pattern has a path, even only `/`: an `Origin` header never has one, so it could
    /// never match.
    #[error("an origin has no path (remove the trailing '/' and anything after it)")]
    HasPath,
    /// More than one `*`.
    #[error("at most one '*' wildcard per origin")]
    MultipleWildcards,
    /// A character that cannot appear in an origin (space, control character, comma…).
    #[error("invalid character {found:?} at offset {offset}")]
    InvalidCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        found: char,
    },
}

impl OriginPattern {
    /// Every origin (`*`).
    ///
    /// ```
    /// assert!(tidings_server::cors::OriginPattern::any().is_any());
    /// ```
    #[must_use]
    pub fn any() -> Self {
        Self(Pattern::Any)
    }

    /// Parses one pattern (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`OriginPatternError`] when the text cannot be an origin or origin pattern.
    ///
    /// ```
    /// use tidings_server::cors::OriginPattern;
    /// assert!(OriginPattern::parse("*")?.is_any());
    /// assert!(OriginPattern::parse("null")?.matches("null"));
    /// assert!(OriginPattern::parse("https://*.*.example.com").is_err());
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, OriginPatternError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(OriginPatternError::Empty);
        }
        if text == "*" {
            return Ok(Self::any());
        }
        if let Some((offset, found)) =
            text.char_indices().find(|&(_, c)| !c.is_ascii_graphic() || c == ',' || c == '"')
        {
            return Err(OriginPatternError::InvalidCharacter { offset, found });
        }
        let lower = text.to_ascii_lowercase();
        // Sandboxed documents and some redirects send the opaque origin `null`.
        if lower == "null" {
            return Ok(Self(Pattern::Exact(lower)));
        }
        let Some((_, rest)) = lower.split_once("://") else {
            return Err(OriginPatternError::MissingScheme);
        };
        if rest.contains('/') {
            return Err(OriginPatternError::HasPath);
        }
        match lower.split_once('*') {
            None => Ok(Self(Pattern::Exact(lower))),
            Some((_, suffix)) if suffix.contains('*') => Err(OriginPatternError::MultipleWildcards),
            Some((prefix, suffix)) => {
                Ok(Self(Pattern::Wildcard { prefix: prefix.to_owned(), suffix: suffix.to_owned() }))
            }
        }
    }

    /// Whether this is `*`.
    ///
    /// ```
    /// use tidings_server::cors::OriginPattern;
    /// assert!(!OriginPattern::parse("https://a.test")?.is_any());
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    #[must_use]
    pub fn is_any(&self) -> bool {
        matches!(self.0, Pattern::Any)
    }

    /// Whether `origin` (an `Origin` header value) matches.
    ///
    /// ```
    /// use tidings_server::cors::OriginPattern;
    /// let pattern = OriginPattern::parse("https://*.example.com")?;
    /// assert!(pattern.matches("https://EU.example.com"));
    /// assert!(!pattern.matches("https://example.com"));
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    #[must_use]
    pub fn matches(&self, origin: &str) -> bool {
        match &self.0 {
            Pattern::Any => true,
            Pattern::Exact(exact) => origin.eq_ignore_ascii_case(exact),
            Pattern::Wildcard { prefix, suffix } => {
                let origin = origin.as_bytes();
                let (p, s) = (prefix.as_bytes(), suffix.as_bytes());
                if origin.len() <= p.len() + s.len() {
                    return false;
                }
                let (head, rest) = origin.split_at(p.len());
                let (middle, tail) = rest.split_at(rest.len() - s.len());
                head.eq_ignore_ascii_case(p)
                    && tail.eq_ignore_ascii_case(s)
                    && middle.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            }
        }
    }
}

impl FromStr for OriginPattern {
    type Err = OriginPatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Pattern::Any => f.write_str("*"),
            Pattern::Exact(exact) => f.write_str(exact),
            Pattern::Wildcard { prefix, suffix } => write!(f, "{prefix}*{suffix}"),
        }
    }
}

/// Whether any of `patterns` matches `origin`.
pub(crate) fn any_matches(patterns: &[OriginPattern], origin: &str) -> bool {
    patterns.iter().any(|pattern| pattern.matches(origin))
}

/// CORS settings for the hub's routes.
///
/// Defaults: no allowed origin (no CORS headers at all), credentials allowed for listed
/// origins, methods `GET`, `HEAD`, `POST`, request headers `Authorization`, `Content-Type`,
/// `Last-Event-ID`, `Cache-Control`, response header `Last-Event-ID` exposed to scripts (Mercure
/// answers a subscription with it), preflight cached for [`DEFAULT_MAX_AGE`].
///
/// ```
/// use std::time::Duration;
/// use tidings_server::cors::{CorsConfig, OriginPattern};
///
/// let cors = CorsConfig::new()
///     .allow_origins(["https://app.example.com", "http://localhost:*"]
///         .into_iter()
///         .map(OriginPattern::parse)
///         .collect::<Result<Vec<_>, _>>()?)
///     .max_age(Duration::from_secs(3600))
///     .allow_header(http::HeaderName::from_static("x-requested-with"));
/// assert!(cors.is_enabled());
/// assert!(!CorsConfig::new().is_enabled());
/// # Ok::<(), tidings_server::cors::OriginPatternError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CorsConfig {
    origins: Vec<OriginPattern>,
    credentials: bool,
    max_age: Duration,
    allow_headers: Vec<HeaderName>,
    expose_headers: Vec<HeaderName>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            credentials: true,
            max_age: DEFAULT_MAX_AGE,
            allow_headers: vec![
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
                header::CACHE_CONTROL,
            ],
            expose_headers: vec![HeaderName::from_static("last-event-id")],
        }
    }
}

impl CorsConfig {
    /// The defaults: no origin allowed.
    ///
    /// ```
    /// assert!(!tidings_server::cors::CorsConfig::new().allows("https://a.test"));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows one more origin pattern. Default: none.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// let cors = CorsConfig::new().allow_origin(OriginPattern::parse("https://a.test")?);
    /// assert!(cors.allows("https://a.test"));
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    #[must_use]
    pub fn allow_origin(mut self, pattern: OriginPattern) -> Self {
        self.origins.push(pattern);
        self
    }

    /// Allows several more origin patterns. Default: none.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// let cors = CorsConfig::new().allow_origins([OriginPattern::any()]);
    /// assert!(cors.allows("https://anyone.test"));
    /// ```
    #[must_use]
    pub fn allow_origins(mut self, patterns: impl IntoIterator<Item = OriginPattern>) -> Self {
        self.origins.extend(patterns);
        self
    }

    /// Whether listed origins may send credentials (cookies, HTTP authentication). Default:
    /// `true`, because browsers authenticate an `EventSource` with the `mercureAuthorization`
    /// cookie. Ignored (off) when the pattern `*` is configured.
    ///
    /// ```
    /// let cors = tidings_server::cors::CorsConfig::new().allow_credentials(false);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long a browser may cache a preflight answer (`Access-Control-Max-Age`, whole
    /// seconds). Default: [`DEFAULT_MAX_AGE`].
    ///
    /// ```
    /// let cors = tidings_server::cors::CorsConfig::new().max_age(std::time::Duration::ZERO);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Allows one more request header in preflight, besides the defaults.
    ///
    /// ```
    /// let cors = tidings_server::cors::CorsConfig::new()
    ///     .allow_header(http::HeaderName::from_static("x-request-id"));
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        if !self.allow_headers.contains(&name) {
            self.allow_headers.push(name);
        }
        self
    }

    /// Exposes one more response header to scripts, besides `Last-Event-ID`.
    ///
    /// ```
    /// let cors = tidings_server::cors::CorsConfig::new().expose_header(http::header::LINK);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn expose_header(mut self, name: HeaderName) -> Self {
        if !self.expose_headers.contains(&name) {
            self.expose_headers.push(name);
        }
        self
    }

    /// Whether any origin is allowed; without one the layer adds nothing useful and the router
    /// may skip it.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// assert!(CorsConfig::new().allow_origin(OriginPattern::any()).is_enabled());
    /// ```
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// Whether `origin` is on the allow-list.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// let cors = CorsConfig::new().allow_origin(OriginPattern::parse("https://a.test")?);
    /// assert!(cors.allows("HTTPS://A.TEST"));
    /// assert!(!cors.allows("https://b.test"));
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        any_matches(&self.origins, origin)
    }

    /// Whether responses carry `Access-Control-Allow-Credentials: true`: credentials are on and
    /// the allow-list has no `*`.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// assert!(CorsConfig::new().sends_credentials());
    /// assert!(!CorsConfig::new().allow_origin(OriginPattern::any()).sends_credentials());
    /// ```
    #[must_use]
    pub fn sends_credentials(&self) -> bool {
        self.credentials && !self.origins.iter().any(OriginPattern::is_any)
    }

    /// The tower layer implementing these settings; apply it to the hub's router
    /// (`router.layer(cors.layer())`).
    ///
    /// The layer answers every `OPTIONS` request itself (as a preflight), without calling the
    /// routes behind it.
    ///
    /// ```
    /// use tidings_server::cors::{CorsConfig, OriginPattern};
    /// let layer = CorsConfig::new().allow_origin(OriginPattern::parse("https://a.test")?).layer();
    /// # let _ = layer;
    /// # Ok::<(), tidings_server::cors::OriginPatternError>(())
    /// ```
    pub fn layer(&self) -> CorsLayer {
        let allow_origin = if self.origins.iter().any(OriginPattern::is_any) {
            AllowOrigin::any()
        } else {
            let origins = self.origins.clone();
            AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|origin| any_matches(&origins, origin))
            })
        };
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_credentials(self.sends_credentials())
            .allow_methods([Method::GET, Method::HEAD, Method::POST])
            .allow_headers(self.allow_headers.clone())
            .expose_headers(self.expose_headers.clone())
            .max_age(self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refusals() {
        assert_eq!(OriginPattern::parse("  "), Err(OriginPatternError::Empty));
        assert_eq!(OriginPattern::parse("https://a.test/x"), Err(OriginPatternError::HasPath));
        assert_eq!(
            OriginPattern::parse("https://a.test, https://b.test"),
            Err(OriginPatternError::InvalidCharacter { offset: 14, found: ',' })
        );
        assert_eq!(
            OriginPattern::parse("https://*.*.test"),
            Err(OriginPatternError::MultipleWildcards)
        );
        assert_eq!(
            OriginPattern::parse("https://caf\u{e9}.test"),
            Err(OriginPatternError::InvalidCharacter { offset: 11, found: '\u{e9}' })
        );
    }

    #[test]
    fn wildcard_needs_at_least_one_host_character_and_no_path() {
        let pattern = OriginPattern::parse("https://*.example.com").expect("pattern");
        assert!(pattern.matches("https://a.example.com"));
        assert!(pattern.matches("https://a-b.c.example.com"));
        assert!(!pattern.matches("https://.example.com"));
        assert!(!pattern.matches("https://evil.test/.example.com"));
        assert!(!pattern.matches("https://evil.test?.example.com"));
        assert!(!pattern.matches("http://a.example.com"));
        assert!(!pattern.matches("https://a.example.com.evil.test"));
        assert_eq!(pattern.to_string(), "https://*.example.com");
    }

    #[test]
    fn wildcard_matching_never_slices_inside_a_character() {
        let pattern = OriginPattern::parse("https://*.example.com").expect("pattern");
        assert!(!pattern.matches("https://\u{e9}\u{e9}.example.com"));
        assert!(!pattern.matches("h\u{e9}"));
        assert!(!pattern.matches(""));
    }

    #[test]
    fn any_turns_credentials_off() {
        let cors = CorsConfig::new()
            .allow_origin(OriginPattern::parse("https://a.test").expect("pattern"))
            .allow_origin(OriginPattern::any());
        assert!(!cors.sends_credentials());
        assert!(cors.allows("https://b.test"));
    }
}
