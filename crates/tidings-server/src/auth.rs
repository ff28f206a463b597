//! Who is calling, and what they may do: [`Identity`], [`Grant`] and the [`Authenticator`]
//! trait the HTTP layer asks on every request.
//!
//! The hub ships a JWT authenticator with Mercure's claims
//! ([`JwtAuthenticator`](crate::jwt::JwtAuthenticator)); library users may plug their own
//! (qsse's `SetAuthenticatorFunc`) and grant per-topic rights with closures (its
//! `SetAuthorizerFunc`). A plain function or closure taking the request head is an
//! [`Authenticator`] already:
//!
//! ```
//! use tidings_server::{AuthError, Authenticator, Grant, Identity};
//!
//! // An API key in a header; each key sees the private events of its own tenant only.
//! let authenticator = |head: &http::request::Parts| -> Result<Option<Identity>, AuthError> {
//!     let Some(key) = head.headers.get("x-api-key") else { return Ok(None) };
//!     let tenant = match key.as_bytes() {
//!         b"key-of-acme" => "acme",
//!         b"key-of-globex" => "globex",
//!         _ => return Err(AuthError::BadSignature),
//!     };
//!     let prefix = format!("tenants/{tenant}/");
//!     let own_topics = Grant::custom(move |topic: &str| topic.starts_with(&prefix));
//!     Ok(Some(Identity::default().with_user(tenant.into()).with_subscribe(own_topics)))
//! };
//!
//! let (head, ()) = http::Request::get("/events").header("x-api-key", "key-of-acme").body(())?.into_parts();
//! let identity = authenticator.authenticate(&head)?.expect("identified");
//! assert!(identity.subscribe.allows("tenants/acme/orders"));
//! assert!(!identity.subscribe.allows("tenants/globex/orders"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The router takes such a closure like any other authenticator (`ApiConfig::authenticator`).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tidings_broker::{Authorizer, Selector, UserId};

/// A set of topics someone may publish to or see privately.
///
/// ```
/// use tidings_broker::Selector;
/// use tidings_server::Grant;
///
/// let grant = Grant::selectors([Selector::parse("books/*")?]);
/// assert!(grant.allows("books/1"));
/// assert!(!grant.allows("users/1"));
/// assert!(Grant::All.allows("anything"));
/// assert!(!Grant::None.allows("anything"));
/// assert!(Grant::custom(|topic: &str| topic.starts_with("public/")).allows("public/x"));
/// # Ok::<(), tidings_broker::SelectorError>(())
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Grant {
    /// Nothing.
    #[default]
    None,
    /// Every topic.
    All,
    /// Topics matched by any of these selectors (Mercure's claim lists).
    Selectors(Arc<[Selector]>),
    /// Topics a user function accepts.
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Grant {
    /// Topics matched by any of `selectors`; a lone `*` selector becomes [`Grant::All`].
    pub fn selectors(selectors: impl IntoIterator<Item = Selector>) -> Self {
        let selectors: Arc<[Selector]> = selectors.into_iter().collect();
        if selectors.iter().any(|s| s.as_str() == "*") {
            Self::All
        } else if selectors.is_empty() {
            Self::None
        } else {
            Self::Selectors(selectors)
        }
    }

    /// Topics `allows` accepts.
    pub fn custom(allows: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(allows))
    }

    /// Whether `topic` is granted.
    #[must_use]
    pub fn allows(&self, topic: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Selectors(selectors) => selectors.iter().any(|s| s.matches(topic)),
            Self::Custom(allows) => allows(topic),
        }
    }

    /// Whether nothing at all is granted.
    #[must_use]
    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::All => f.write_str("All"),
            Self::Selectors(selectors) => {
                f.debug_list().entries(selectors.iter().map(Selector::as_str)).finish()
            }
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Authorizer for Grant {
    fn can_see_private(&self, topic: &str) -> bool {
        self.allows(topic)
    }
}

/// The authenticated caller of a request.
///
/// ```
/// use tidings_server::{Grant, Identity};
///
/// let anonymous = Identity::anonymous();
/// assert!(!anonymous.publish.allows("t"));
/// let publisher = Identity::default().with_publish(Grant::All);
/// assert!(publisher.publish.allows("t"));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Identity {
    /// The user the connection belongs to (per-user delivery), if known.
    pub user: Option<UserId>,
    /// Topics this caller may publish to.
    pub publish: Grant,
    /// Topics whose private events this caller may receive.
    pub subscribe: Grant,
    /// Free-form data attached to the caller's subscriptions (Mercure's `mercure.payload`).
    pub payload: Option<serde_json::Value>,
    /// Whether this caller may use the admin endpoints.
    pub admin: bool,
    /// When the credentials stop being valid (a JWT's `exp`), if they do. A streaming
    /// connection should end by then (Mercure closes it at `exp`) so the client comes back with
    /// fresh credentials.
    pub expires: Option<SystemTime>,
}

impl Identity {
    /// A caller without credentials: may subscribe to public events only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the publish grant.
    #[must_use]
    pub fn with_publish(mut self, grant: Grant) -> Self {
        self.publish = grant;
        self
    }

    /// Sets the private-subscribe grant.
    #[must_use]
    pub fn with_subscribe(mut self, grant: Grant) -> Self {
        self.subscribe = grant;
        self
    }

    /// Marks the caller as an administrator.
    #[must_use]
    pub fn with_admin(mut self, admin: bool) -> Self {
        self.admin = admin;
        self
    }

    /// Sets the free-form subscription payload.
    ///
    /// ```
    /// let identity = tidings_server::Identity::default().with_payload(serde_json::json!({"n": 1}));
    /// assert_eq!(identity.payload, Some(serde_json::json!({"n": 1})));
    /// ```
    #[must_use]
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets when the credentials expire.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let at = SystemTime::UNIX_EPOCH + Duration::from_secs(60);
    /// assert_eq!(tidings_server::Identity::default().with_expires(at).expires, Some(at));
    /// ```
    #[must_use]
    pub fn with_expires(mut self, expires: SystemTime) -> Self {
        self.expires = Some(expires);
        self
    }
}

/// Why a request's credentials were refused. Every variant answers 401.
///
/// ```
/// let error = tidings_server::AuthError::Expired;
/// assert_eq!(error.to_string(), "token expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials, where they are required.
    #[error("missing credentials")]
    Missing,
    /// The token could not be parsed.
    #[error("malformed token")]
    Malformed,
    /// The token's signature does not verify with the configured key.
    #[error("invalid token signature")]
    BadSignature,
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token verified but its claims are unusable.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// The token names a signature algorithm no configured key uses (including `none`).
    #[error("token signed with an algorithm this hub does not accept")]
    WrongAlgorithm,
    /// The token's `nbf` has not come yet.
    #[error("token not valid yet")]
    NotYetValid,
    /// A cookie-authenticated request that changes state came without `Origin` or `Referer`
    /// (cookie CSRF protection).
    #[error("a cookie-authenticated publish needs an Origin or Referer header")]
    OriginMissing,
    /// A cookie-authenticated request that changes state came from an origin not allowed to
    /// publish (cookie CSRF protection).
    #[error("origin not allowed to publish with a cookie")]
    OriginNotAllowed,
}

/// Decides who is calling from the request head (headers, cookies, query).
///
/// `Ok(None)` means "no credentials presented": anonymous; the HTTP layer decides whether that
/// is allowed for the operation. Present but bad credentials are an error, never anonymous.
///
/// ```
/// use tidings_server::{AuthError, Authenticator, Grant, Identity};
///
/// /// Trusts a header set by an upstream gateway.
/// struct GatewayHeader;
/// impl Authenticator for GatewayHeader {
///     fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
///         Ok(head.headers.get("x-user").and_then(|v| v.to_str().ok()).map(|user| {
///             Identity::default().with_user(user.into()).with_subscribe(Grant::All)
///         }))
///     }
/// }
/// let (head, ()) = http::Request::builder().header("x-user", "ann").body(()).expect("request").into_parts();
/// let identity = GatewayHeader.authenticate(&head)?.expect("identified");
/// assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("ann"));
/// # Ok::<(), AuthError>(())
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Identifies the caller of the request whose head is `head`.
    ///
    /// # Errors
    /// [`AuthError`] when credentials are present but invalid.
    fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError>;
}

/// Any function or closure from the request head to an identity is an authenticator.
///
/// ```
/// use tidings_server::{AuthError, Authenticator, Grant, Identity};
///
/// fn everyone_publishes(_: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
///     Ok(Some(Identity::default().with_publish(Grant::All)))
/// }
/// let (head, ()) = http::Request::new(()).into_parts();
/// assert!(everyone_publishes.authenticate(&head)?.is_some_and(|id| id.publish.allows("t")));
/// # Ok::<(), AuthError>(())
/// ```
impl<F> Authenticator for F
where
    F: Fn(&http::request::Parts) -> Result<Option<Identity>, AuthError> + Send + Sync + 'static,
{
    fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
        self(head)
    }
}

/// Treats everyone as anonymous. Publishing is then impossible over HTTP; useful for a hub fed
/// only in-process.
///
/// ```
/// use tidings_server::{Anonymous, Authenticator};
/// let (head, ()) = http::Request::new(()).into_parts();
/// assert!(Anonymous.authenticate(&head)?.is_none());
/// # Ok::<(), tidings_server::AuthError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous;

impl Authenticator for Anonymous {
    fn authenticate(&self, _head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
        Ok(None)
    }
}
