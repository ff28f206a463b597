//! Who is calling, and what they may do: [`Identity`], [`Grant`] and the [`Authenticator`]
//! trait the HTTP layer asks on every request.
//!
//! The hub ships a JWT authenticator with Mercure's claims; library users may plug their own
//! (qsse's `SetAuthenticatorFunc`) and grant per-topic rights with closures (its
//! `SetAuthorizerFunc`).

use std::fmt;
use std::sync::Arc;

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
    /// The token's signature or algorithm does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// The token's `exp` has passed (or `nbf` not yet come).
    #[error("token expired")]
    Expired,
    /// The token verified but its claims are unusable.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
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
