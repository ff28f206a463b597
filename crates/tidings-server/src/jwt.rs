//! JSON Web Tokens with Mercure's claims: the [`JwtAuthenticator`] the hub checks requests
//! with, and the [`TokenBuilder`] that mints tokens for publishers, subscribers and admins.
//!
//! # Keys
//!
//! Like a Mercure hub, tidings has a **publisher key** and a **subscriber key** (the same key
//! unless configured otherwise, see [`JwtConfig::subscriber_key`]). Each key has one
//! [`Algorithm`]; a token whose header names another algorithm is refused
//! ([`AuthError::WrongAlgorithm`]), which rules out `alg: none` and the HS256-with-a-public-key
//! confusion. HMAC keys are the raw bytes of the secret (as Mercure's `publisher_jwt` takes them:
//! not base64-decoded); RSA, ECDSA and EdDSA keys are PEM public keys ([`VerifyingKey`]) for
//! verification and PEM private keys ([`SigningKey`]) for minting.
//!
//! A token signed with the publisher key is trusted for everything its claims say. A token
//! signed only with the subscriber key is trusted for subscribing: its `mercure.publish` and
//! admin claims are ignored. (Mercure verifies publish requests with the publisher key and
//! subscribe requests with the subscriber key; tidings also accepts a publisher-key token for
//! subscribing, which grants nothing its holder could not already publish.)
//!
//! # Claims
//!
//! ```json
//! {
//!   "sub": "alice",
//!   "exp": 1767225600,
//!   "mercure": {
//!     "publish": ["https://example.com/books/{id}"],
//!     "subscribe": ["https://example.com/users/alice/{?topic}", "*"],
//!     "payload": {"name": "Alice"}
//!   },
//!   "tidings": {"admin": true}
//! }
//! ```
//!
//! | claim | becomes | notes |
//! |---|---|---|
//! | `mercure.publish` | [`Identity::publish`] | selectors ([`tidings_broker::Selector`] syntax: URI templates, wildcards); `*` is every topic; missing or `[]` is nothing |
//! | `mercure.subscribe` | [`Identity::subscribe`] | the topics whose **private** events the caller may receive; public events need no claim |
//! | `mercure.payload` | [`Identity::payload`] | any JSON, attached to the caller's subscriptions |
//! | `https://mercure.rocks/` | replaces `mercure` | the namespaced form the reference hub also accepts; it wins when both are present |
//! | `sub` | [`Identity::user`] | per-user delivery; empty means none |
//! | `tidings.admin` | [`Identity::admin`] | `true` opens the admin endpoints; only honoured in publisher-key tokens |
//! | `exp`, `nbf` | enforced | with [`JwtConfig::leeway`]; a token without `exp` never expires unless [`JwtConfig::require_exp`] |
//! | `aud`, `iss` | checked when configured | [`JwtConfig::audience`], [`JwtConfig::issuer`]; ignored otherwise, as Mercure does |
//!
//! Selectors in claims follow tidings' selector rules (`docs/TOPICS.md`): a brace-free
//! selector with a `*` segment is a wildcard, and a selector that does not parse makes the
//! token invalid ([`AuthError::InvalidClaims`]) rather than silently matching nothing. At most
//! [`DEFAULT_MAX_CLAIM_SELECTORS`] selectors per list, as in Mercure.
//!
//! # Where the token comes from
//!
//! In Mercure's order, and **the first source present is the only one used** (an invalid
//! header is not retried with the cookie): the `Authorization: Bearer <token>` header, then the
//! `authorization` query parameter (an `EventSource` cannot set headers), then the
//! `mercureAuthorization` cookie ([`JwtConfig::cookie_name`]). See [`find_token`]. A stale cookie
//! therefore locks an otherwise anonymous subscriber out (as in Mercure): the browser must drop
//! it.
//!
//! # Cookie CSRF protection
//!
//! A cookie is sent by the browser on requests that any web site can trigger. So a token from
//! the cookie is accepted for an unsafe method (anything but `GET`, `HEAD`, `OPTIONS`, `TRACE`,
//! that is, publishing) only when the request's `Origin` header — or, without one, the
//! `scheme://host[:port]` of its `Referer` — matches [`JwtConfig::publish_origins`]. Without
//! either header the request is refused ([`AuthError::OriginMissing`]); with a non-listed origin
//! too ([`AuthError::OriginNotAllowed`]). With no publish origins configured (the default),
//! publishing with the cookie is impossible. Tokens from the header or the query parameter are
//! not subject to this check: a foreign page cannot make a browser attach them.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tidings_server::Authenticator;
//! use tidings_server::jwt::{JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey};
//!
//! let secret = "a-long-random-secret-shared-with-the-app-server";
//! let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(secret)?));
//!
//! let token = TokenBuilder::new()
//!     .subject("alice")
//!     .subscribe(["books/{id}"])
//!     .ttl(Duration::from_secs(3600))
//!     .sign(&SigningKey::hs256(secret)?)?;
//!
//! let (head, ()) = http::Request::get("/.well-known/mercure?topic=books/1")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(())?
//!     .into_parts();
//! let identity = auth.authenticate(&head)?.expect("a token was presented");
//! assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("alice"));
//! assert!(identity.subscribe.allows("books/1"));
//! assert!(!identity.publish.allows("books/1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderValue, Method, header};
// Named explicitly rather than taken from jsonwebtoken's process-wide default, which panics at
// first use when feature unification enables both of its crypto providers.
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::{DecodingKey, DecodingKeyKind, EncodingKey};
use serde_json::{Map, Value};
use tidings_broker::{Selector, SelectorError, UserId};

use crate::auth::{AuthError, Authenticator, Grant, Identity};
use crate::cors::{OriginPattern, any_matches};

/// The cookie Mercure clients put the token in.
///
/// ```
/// use tidings_server::jwt::{DEFAULT_COOKIE_NAME, TokenSource, find_token};
/// let cookie = format!("{DEFAULT_COOKIE_NAME}=eyJ.e30.sig");
/// let (head, ()) = http::Request::get("/").header("cookie", cookie).body(())?.into_parts();
/// assert_eq!(find_token(&head, DEFAULT_COOKIE_NAME)?.map(|t| t.source), Some(TokenSource::Cookie));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_COOKIE_NAME: &str = "mercureAuthorization";
/// The query parameter an `EventSource` passes the token in.
///
/// ```
/// use tidings_server::jwt::{QUERY_PARAMETER, TokenSource, find_token};
/// let uri = format!("/.well-known/mercure?topic=a&{QUERY_PARAMETER}=eyJ.e30.sig");
/// let (head, ()) = http::Request::get(uri).body(())?.into_parts();
/// assert_eq!(find_token(&head, "c")?.map(|t| t.source), Some(TokenSource::Query));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const QUERY_PARAMETER: &str = "authorization";
/// Longest token accepted unless configured: 16 KiB, ample for claims with a payload, small
/// enough that a hostile token costs little to refuse.
///
/// ```
/// use std::time::SystemTime;
/// use tidings_server::AuthError;
/// use tidings_server::jwt::{DEFAULT_MAX_TOKEN_LEN, JwtAuthenticator, JwtConfig, VerifyingKey};
/// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("s")?));
/// let huge = "a".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
/// assert_eq!(auth.verify(&huge, SystemTime::now()).expect_err("refused"), AuthError::Malformed);
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// Most selectors per claim list unless configured (Mercure's limit).
///
/// ```
/// use std::time::SystemTime;
/// use tidings_server::AuthError;
/// use tidings_server::jwt::*;
/// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("s")?));
/// let selectors = (0..=DEFAULT_MAX_CLAIM_SELECTORS).map(|i| format!("topic/{i}"));
/// let token = TokenBuilder::new().subscribe(selectors).sign(&SigningKey::hs256("s")?)?;
/// assert!(matches!(auth.verify(&token, SystemTime::now()), Err(AuthError::InvalidClaims(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_MAX_CLAIM_SELECTORS: usize = 1000;
/// The claim holding Mercure's `publish`, `subscribe` and `payload`.
///
/// ```
/// use std::time::SystemTime;
/// use tidings_server::jwt::{MERCURE_CLAIM, TokenBuilder};
/// let claims = TokenBuilder::new().publish(["*"]).claims_at(SystemTime::now());
/// assert_eq!(claims[MERCURE_CLAIM]["publish"][0], "*");
/// ```
pub const MERCURE_CLAIM: &str = "mercure";
/// The namespaced form of [`MERCURE_CLAIM`]; wins when both are present.
///
/// ```
/// use std::time::SystemTime;
/// use tidings_server::jwt::*;
/// let key = SigningKey::hs256("s")?;
/// let token = key.sign_claims(&serde_json::json!({
///     MERCURE_CLAIM: {"publish": ["a"]},
///     MERCURE_NAMESPACED_CLAIM: {"publish": ["b"]},
/// }))?;
/// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("s")?));
/// let identity = auth.verify(&token, SystemTime::now())?;
/// assert!(identity.publish.allows("b") && !identity.publish.allows("a"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MERCURE_NAMESPACED_CLAIM: &str = "https://mercure.rocks/";
/// The claim holding tidings' own rights: `{"tidings": {"admin": true}}`.
///
/// ```
/// use std::time::SystemTime;
/// use tidings_server::jwt::{TIDINGS_CLAIM, TokenBuilder};
/// let claims = TokenBuilder::new().admin(true).claims_at(SystemTime::now());
/// assert_eq!(claims[TIDINGS_CLAIM]["admin"], true);
/// ```
pub const TIDINGS_CLAIM: &str = "tidings";

/// A JWS signature algorithm (RFC 7518 names).
///
/// [`FromStr`] accepts the names in any case, for configuration files; a token's header must
/// spell the name exactly.
///
/// ```
/// use tidings_server::jwt::Algorithm;
/// assert_eq!("es256".parse::<Algorithm>()?, Algorithm::Es256);
/// assert_eq!(Algorithm::Rs256.as_str(), "RS256");
/// assert!(Algorithm::Hs512.is_hmac());
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (Mercure's default).
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

const ALGORITHMS: [Algorithm; 12] = [
    Algorithm::Hs256,
    Algorithm::Hs384,
    Algorithm::Hs512,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Algorithm {
    /// The name in a token's `alg` header.
    ///
    /// ```
    /// assert_eq!(tidings_server::jwt::Algorithm::EdDsa.as_str(), "EdDSA");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Whether the key is a shared secret (HS256/384/512) rather than a key pair.
    ///
    /// ```
    /// assert!(!tidings_server::jwt::Algorithm::Es256.is_hmac());
    /// ```
    #[must_use]
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    const fn family(self) -> Family {
        match self {
            Self::Hs256 | Self::Hs384 | Self::Hs512 => Family::Hmac,
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                Family::Rsa
            }
            Self::Es256 | Self::Es384 => Family::Ec,
            Self::EdDsa => Family::Ed,
        }
    }

    const fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::Hs256 => A::HS256,
            Self::Hs384 => A::HS384,
            Self::Hs512 => A::HS512,
            Self::Rs256 => A::RS256,
            Self::Rs384 => A::RS384,
            Self::Rs512 => A::RS512,
            Self::Ps256 => A::PS256,
            Self::Ps384 => A::PS384,
            Self::Ps512 => A::PS512,
            Self::Es256 => A::ES256,
            Self::Es384 => A::ES384,
            Self::EdDsa => A::EdDSA,
        }
    }

    /// The algorithm a token header names, spelled exactly (RFC 7515: `alg` is case-sensitive).
    fn from_header_name(name: &str) -> Option<Self> {
        ALGORITHMS.into_iter().find(|alg| alg.as_str() == name)
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ALGORITHMS
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| KeyError::UnknownAlgorithm { name: name.to_owned() })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key could not be built.
///
/// ```
/// use tidings_server::jwt::{Algorithm, KeyError, VerifyingKey};
/// assert_eq!(VerifyingKey::hs256("").expect_err("refused"), KeyError::EmptySecret);
/// assert!(matches!(
///     VerifyingKey::from_pem(Algorithm::Hs256, "-----BEGIN PUBLIC KEY-----"),
///     Err(KeyError::NeedsSecret { .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An algorithm name that is not one of [`Algorithm`]'s.
    #[error("unknown JWT algorithm {name:?}")]
    UnknownAlgorithm {
        /// The name given.
        name: String,
    },
    /// An HMAC secret of length zero.
    #[error("the HMAC secret is empty")]
    EmptySecret,
    /// A PEM key given for an HMAC algorithm.
    #[error("{algorithm} uses a shared secret, not a PEM key")]
    NeedsSecret {
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// A secret given for an algorithm that uses a key pair.
    #[error("{algorithm} uses a PEM key, not a shared secret")]
    NeedsPem {
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// The PEM text is not a key of the kind the algorithm needs.
    #[error("not a PEM {kind} key usable with {algorithm}")]
    InvalidPem {
        /// The algorithm.
        algorithm: Algorithm,
        /// `"public"` or `"private"`: what was expected.
        kind: &'static str,
    },
    /// A private key where a public key is expected (verification needs only the public half:
    /// `openssl pkey -in private.pem -pubout`).
    #[error("a private key was given where a public key is expected")]
    PrivateKeyGiven,
    /// A public key or certificate where a private key is expected (minting signs).
    #[error("a public key was given where a private key is expected")]
    PublicKeyGiven,
    /// An elliptic-curve key on another curve than the algorithm's (P-256 for ES256, P-384 for
    /// ES384).
    #[error("the key's curve does not match {algorithm}")]
    WrongCurve {
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// An RSA key outside the 2048 to 8192 bits the crypto provider accepts.
    #[error("RSA keys must have 2048 to 8192 bits, this one has {bits}")]
    RsaKeySize {
        /// The modulus length.
        bits: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// A key that checks token signatures: an HMAC secret or a PEM public key, with the one
/// algorithm tokens must use.
///
/// ```
/// use tidings_server::jwt::{Algorithm, VerifyingKey};
///
/// let hmac = VerifyingKey::hs256("secret")?;
/// assert_eq!(hmac.algorithm(), Algorithm::Hs256);
///
/// let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/ec256-public.pem"));
/// let ec = VerifyingKey::from_pem(Algorithm::Es256, pem)?;
/// assert_eq!(ec.algorithm(), Algorithm::Es256);
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// An HMAC key (`HS256`, `HS384` or `HS512`) from the secret's raw bytes.
    ///
    /// # Errors
    /// [`KeyError::NeedsPem`] for a non-HMAC algorithm, [`KeyError::EmptySecret`].
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, VerifyingKey};
    /// let key = VerifyingKey::hmac(Algorithm::Hs512, b"secret")?;
    /// assert!(VerifyingKey::hmac(Algorithm::Rs256, b"secret").is_err());
    /// # let _ = key;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    pub fn hmac(algorithm: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = hmac_secret(algorithm, secret.as_ref())?;
        Ok(Self { algorithm, key: DecodingKey::from_secret(secret) })
    }

    /// An `HS256` key from the secret's raw bytes (Mercure's default).
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`].
    ///
    /// ```
    /// let key = tidings_server::jwt::VerifyingKey::hs256("secret")?;
    /// # let _ = key;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::Hs256, secret)
    }

    /// A public key in PEM form (`-----BEGIN PUBLIC KEY-----`, or `RSA PUBLIC KEY` for
    /// PKCS#1 RSA) for an RSA (`RS*`, `PS*`), ECDSA (`ES256` on P-256, `ES384` on P-384) or
    /// `EdDSA` (Ed25519) algorithm.
    ///
    /// # Errors
    /// [`KeyError::NeedsSecret`] for HMAC, [`KeyError::PrivateKeyGiven`],
    /// [`KeyError::InvalidPem`], [`KeyError::WrongCurve`], [`KeyError::RsaKeySize`].
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, KeyError, VerifyingKey};
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
    /// let public = std::fs::read(format!("{dir}/rsa-public.pem")).expect("key file");
    /// let key = VerifyingKey::from_pem(Algorithm::Rs256, &public)?;
    /// # let _ = key;
    /// let private = std::fs::read(format!("{dir}/rsa-private.pem")).expect("key file");
    /// assert_eq!(VerifyingKey::from_pem(Algorithm::Rs256, &private).expect_err("refused"), KeyError::PrivateKeyGiven);
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn from_pem(algorithm: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let pem = pem.as_ref();
        let invalid = KeyError::InvalidPem { algorithm, kind: "public" };
        if algorithm.is_hmac() {
            return Err(KeyError::NeedsSecret { algorithm });
        }
        match pem_label(pem) {
            Some(label) if label.contains("PRIVATE") => return Err(KeyError::PrivateKeyGiven),
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {}
            _ => return Err(invalid),
        }
        let key = match algorithm.family() {
            Family::Rsa => DecodingKey::from_rsa_pem(pem),
            Family::Ec => DecodingKey::from_ec_pem(pem),
            Family::Ed => DecodingKey::from_ed_pem(pem),
            Family::Hmac => return Err(KeyError::NeedsSecret { algorithm }),
        }
        .map_err(|_| invalid.clone())?;
        let DecodingKeyKind::SecretOrDer(der) = key.kind() else {
            return Err(invalid);
        };
        // The crypto provider would refuse a mismatched key only when verifying, which would
        // make every token look forged; say what is wrong at configuration time instead.
        match algorithm {
            Algorithm::Es256 if der.len() != 65 => return Err(KeyError::WrongCurve { algorithm }),
            Algorithm::Es384 if der.len() != 97 => return Err(KeyError::WrongCurve { algorithm }),
            Algorithm::EdDsa if der.len() != 32 => return Err(KeyError::WrongCurve { algorithm }),
            _ if algorithm.family() == Family::Rsa => {
                let bits = rsa_modulus_bits(der).ok_or(invalid)?;
                if !(2048..=8192).contains(&bits) {
                    return Err(KeyError::RsaKeySize { bits });
                }
            }
            _ => {}
        }
        Ok(Self { algorithm, key })
    }

    /// The algorithm tokens checked with this key must name.
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, VerifyingKey};
    /// assert_eq!(VerifyingKey::hs256("s")?.algorithm(), Algorithm::Hs256);
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` is this key's signature of `message`.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        (DEFAULT_PROVIDER.verifier_factory)(&self.algorithm.to_jwt(), &self.key)
            .is_ok_and(|verifier| verifier.verify(message, &signature.to_vec()).is_ok())
    }
}

/// A key that signs tokens: an HMAC secret or a PEM private key, with its algorithm.
///
/// ```
/// use tidings_server::jwt::{Algorithm, SigningKey};
///
/// let hmac = SigningKey::hs256("secret")?;
/// assert_eq!(hmac.algorithm(), Algorithm::Hs256);
///
/// let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/ec256-private.pem"));
/// let ec = SigningKey::from_pem(Algorithm::Es256, pem)?;
/// # let _ = ec;
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// An HMAC key (`HS256`, `HS384` or `HS512`) from the secret's raw bytes.
    ///
    /// # Errors
    /// [`KeyError::NeedsPem`] for a non-HMAC algorithm, [`KeyError::EmptySecret`].
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, SigningKey};
    /// let key = SigningKey::hmac(Algorithm::Hs384, "secret")?;
    /// # let _ = key;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    pub fn hmac(algorithm: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = hmac_secret(algorithm, secret.as_ref())?;
        Ok(Self { algorithm, key: EncodingKey::from_secret(secret) })
    }

    /// An `HS256` key from the secret's raw bytes.
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`].
    ///
    /// ```
    /// let key = tidings_server::jwt::SigningKey::hs256(tidings_server::jwt::generate_secret()?)?;
    /// # let _ = key;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::Hs256, secret)
    }

    /// A private key in PEM form: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, what
    /// `openssl genpkey` writes) for every algorithm, or PKCS#1 (`RSA PRIVATE KEY`) for RSA.
    /// The key is tried once here, so a key that cannot sign is refused now rather than at
    /// the first token.
    ///
    /// # Errors
    /// [`KeyError::NeedsSecret`] for HMAC, [`KeyError::PublicKeyGiven`],
    /// [`KeyError::InvalidPem`] (also for a key on the wrong curve or an RSA key under 2048
    /// bits, which the crypto provider cannot use).
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, KeyError, SigningKey};
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
    /// let private = std::fs::read(format!("{dir}/ed25519-private.pem")).expect("key file");
    /// let key = SigningKey::from_pem(Algorithm::EdDsa, &private)?;
    /// # let _ = key;
    /// let public = std::fs::read(format!("{dir}/ed25519-public.pem")).expect("key file");
    /// assert_eq!(SigningKey::from_pem(Algorithm::EdDsa, &public).expect_err("refused"), KeyError::PublicKeyGiven);
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn from_pem(algorithm: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let pem = pem.as_ref();
        let invalid = KeyError::InvalidPem { algorithm, kind: "private" };
        if algorithm.is_hmac() {
            return Err(KeyError::NeedsSecret { algorithm });
        }
        match pem_label(pem) {
            Some("PRIVATE KEY" | "RSA PRIVATE KEY") => {}
            Some(label) if label.contains("PUBLIC") || label == "CERTIFICATE" => {
                return Err(KeyError::PublicKeyGiven);
            }
            _ => return Err(invalid),
        }
        let key = match algorithm.family() {
            Family::Rsa => EncodingKey::from_rsa_pem(pem),
            Family::Ec => EncodingKey::from_ec_pem(pem),
            Family::Ed => EncodingKey::from_ed_pem(pem),
            Family::Hmac => return Err(KeyError::NeedsSecret { algorithm }),
        }
        .map_err(|_| invalid.clone())?;
        let key = Self { algorithm, key };
        key.signature(b"").map_err(|_| invalid)?;
        Ok(key)
    }

    /// The algorithm this key signs with.
    ///
    /// ```
    /// use tidings_server::jwt::{Algorithm, SigningKey};
    /// assert_eq!(SigningKey::hs256("s")?.algorithm(), Algorithm::Hs256);
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs a claims object as a compact JWS (`header.payload.signature`), the header being
    /// `{"alg": ..., "typ": "JWT"}`. [`TokenBuilder`] builds the usual claims; this is for
    /// anything else.
    ///
    /// # Errors
    /// [`MintError::NotAnObject`] when `claims` is not a JSON object, [`MintError::Signing`].
    ///
    /// ```
    /// use tidings_server::jwt::SigningKey;
    /// let token = SigningKey::hs256("secret")?
    ///     .sign_claims(&serde_json::json!({"mercure": {"publish": ["*"]}}))?;
    /// assert_eq!(token.split('.').count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_claims(&self, claims: &Value) -> Result<String, MintError> {
        if !claims.is_object() {
            return Err(MintError::NotAnObject);
        }
        let header = serde_json::json!({"alg": self.algorithm.as_str(), "typ": "JWT"});
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut token);
        let signature = self.signature(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        let signer = (DEFAULT_PROVIDER.signer_factory)(&self.algorithm.to_jwt(), &self.key)
            .map_err(|_| MintError::Signing)?;
        signer.try_sign(message).map_err(|_| MintError::Signing)
    }
}

fn hmac_secret(algorithm: Algorithm, secret: &[u8]) -> Result<&[u8], KeyError> {
    if !algorithm.is_hmac() {
        return Err(KeyError::NeedsPem { algorithm });
    }
    if secret.is_empty() {
        return Err(KeyError::EmptySecret);
    }
    Ok(secret)
}

/// The label of the first PEM block (`PUBLIC KEY` in `-----BEGIN PUBLIC KEY-----`).
fn pem_label(pem: &[u8]) -> Option<&str> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let start = pem.windows(BEGIN.len()).position(|w| w == BEGIN)? + BEGIN.len();
    let rest = &pem[start..];
    let end = rest.windows(5).position(|w| w == b"-----")?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The modulus length in bits of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    /// One DER tag-length header: returns the content and what follows it.
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        if first != tag {
            return None;
        }
        let (&len, mut rest) = rest.split_first()?;
        let len = if len < 0x80 {
            usize::from(len)
        } else {
            let count = usize::from(len & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (sequence, _) = element(der, 0x30)?;
    let (modulus, _) = element(sequence, 0x02)?;
    let first = modulus.iter().position(|&b| b != 0)?;
    let significant = &modulus[first..];
    let top = significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// A random secret for `HS256`: 32 bytes from the operating system, base64url-encoded (43
/// printable characters, usable as is in a configuration file or environment variable; the key
/// is the text's bytes, as Mercure takes it).
///
/// # Errors
/// [`KeyError::Random`] if the system's random number generator fails.
///
/// ```
/// use tidings_server::jwt::{SigningKey, VerifyingKey, generate_secret};
/// let secret = generate_secret()?;
/// assert_eq!(secret.len(), 43);
/// assert_ne!(secret, generate_secret()?);
/// let (signing, verifying) = (SigningKey::hs256(&secret)?, VerifyingKey::hs256(&secret)?);
/// # let _ = (signing, verifying);
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
pub fn generate_secret() -> Result<String, KeyError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| KeyError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Why a token could not be minted.
///
/// ```
/// use tidings_server::jwt::{MintError, SigningKey, TokenBuilder};
/// let error = TokenBuilder::new().publish(["books/{id"]).sign(&SigningKey::hs256("s")?).expect_err("refused");
/// assert!(matches!(error, MintError::InvalidSelector { claim: "mercure.publish", index: 0, .. }));
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A selector the hub would refuse, so the token would be useless.
    #[error("{claim}[{index}] {selector:?} is not a valid selector")]
    InvalidSelector {
        /// `mercure.publish` or `mercure.subscribe`.
        claim: &'static str,
        /// Position in the list.
        index: usize,
        /// The selector text.
        selector: String,
        /// Why it is invalid.
        #[source]
        source: SelectorError,
    },
    /// Claims that are not a JSON object.
    #[error("JWT claims must be a JSON object")]
    NotAnObject,
    /// The crypto provider could not sign with the key.
    #[error("signing failed")]
    Signing,
}

/// Builds and signs a token with Mercure's claims and tidings' admin claim.
///
/// By default the token grants nothing, names no subject and never expires; every setter
/// documents its claim. [`TokenBuilder::publisher`] is the first-run token: publish and
/// subscribe to everything.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tidings_server::jwt::{SigningKey, TokenBuilder};
///
/// let key = SigningKey::hs256("secret")?;
/// // What `tidings token --publish '*' --ttl 1h` would print:
/// let token = TokenBuilder::new()
///     .publish(["*"])
///     .ttl(Duration::from_secs(3600))
///     .sign(&key)?;
/// # let _ = token;
///
/// // A browser's token: private events of its own user, with data for presence.
/// let claims = TokenBuilder::new()
///     .subject("alice")
///     .subscribe(["https://example.com/users/alice/{?topic}"])
///     .payload(serde_json::json!({"name": "Alice"}))
///     .claims_at(SystemTime::UNIX_EPOCH);
/// assert_eq!(claims["mercure"]["payload"]["name"], "Alice");
/// assert_eq!(claims["sub"], "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct TokenBuilder {
    publish: Option<Vec<String>>,
    subscribe: Option<Vec<String>>,
    payload: Option<Value>,
    subject: Option<String>,
    admin: bool,
    ttl: Option<Duration>,
    issuer: Option<String>,
    audience: Vec<String>,
}

impl TokenBuilder {
    /// A token that grants nothing yet.
    ///
    /// ```
    /// let claims = tidings_server::jwt::TokenBuilder::new().claims_at(std::time::SystemTime::UNIX_EPOCH);
    /// assert!(claims.get("mercure").is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that may publish and subscribe to every topic (`mercure.publish` and
    /// `mercure.subscribe` both `["*"]`): what the hub prints on its first run.
    ///
    /// ```
    /// let claims = tidings_server::jwt::TokenBuilder::publisher().claims_at(std::time::SystemTime::UNIX_EPOCH);
    /// assert_eq!(claims["mercure"]["publish"], serde_json::json!(["*"]));
    /// assert_eq!(claims["mercure"]["subscribe"], serde_json::json!(["*"]));
    /// ```
    pub fn publisher() -> Self {
        Self::new().publish(["*"]).subscribe(["*"])
    }

    /// Adds selectors to `mercure.publish` (topics the holder may publish to; `*` is all).
    /// Default: no claim (may not publish).
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().publish(["books/{id}", "authors/*"]);
    /// # let _ = builder;
    /// ```
    pub fn publish<S: Into<String>>(mut self, selectors: impl IntoIterator<Item = S>) -> Self {
        self.publish.get_or_insert_with(Vec::new).extend(selectors.into_iter().map(Into::into));
        self
    }

    /// Adds selectors to `mercure.subscribe` (topics whose private events the holder may
    /// receive). Default: no claim (public events only).
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().subscribe(["users/alice/**"]);
    /// # let _ = builder;
    /// ```
    pub fn subscribe<S: Into<String>>(mut self, selectors: impl IntoIterator<Item = S>) -> Self {
        self.subscribe.get_or_insert_with(Vec::new).extend(selectors.into_iter().map(Into::into));
        self
    }

    /// Sets `mercure.payload`, data attached to the holder's subscriptions. Default: none.
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().payload(serde_json::json!({"team": 7}));
    /// # let _ = builder;
    /// ```
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets `sub`, the user events addressed to a user are delivered to. Default: none.
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().subject("alice");
    /// # let _ = builder;
    /// ```
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets `tidings.admin`: access to the admin endpoints (honoured only when signed with the
    /// publisher key). Default: `false` (no claim).
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().admin(true);
    /// # let _ = builder;
    /// ```
    pub fn admin(mut self, admin: bool) -> Self {
        self.admin = admin;
        self
    }

    /// Sets `exp` to signing time plus `ttl` (whole seconds). Default: no `exp`, the token never
    /// expires.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let claims = tidings_server::jwt::TokenBuilder::new()
    ///     .ttl(Duration::from_secs(60))
    ///     .claims_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1000));
    /// assert_eq!(claims["exp"], 1060);
    /// assert_eq!(claims["iat"], 1000);
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets `iss`. Default: none.
    ///
    /// ```
    /// let builder = tidings_server::jwt::TokenBuilder::new().issuer("https://app.example.com");
    /// # let _ = builder;
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds a value to `aud` (a string for one, an array for several). Default: none.
    ///
    /// ```
    /// let claims = tidings_server::jwt::TokenBuilder::new()
    ///     .audience("hub")
    ///     .claims_at(std::time::SystemTime::UNIX_EPOCH);
    /// assert_eq!(claims["aud"], "hub");
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// The claims object as signed at `now` (`iat` is `now`).
    ///
    /// ```
    /// let claims = tidings_server::jwt::TokenBuilder::new().admin(true).claims_at(std::time::SystemTime::UNIX_EPOCH);
    /// assert_eq!(claims["tidings"]["admin"], true);
    /// ```
    #[must_use]
    pub fn claims_at(&self, now: SystemTime) -> Value {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = Map::new();
        claims.insert("iat".into(), now.into());
        if let Some(ttl) = self.ttl {
            claims.insert("exp".into(), now.saturating_add(ttl.as_secs()).into());
        }
        if let Some(subject) = &self.subject {
            claims.insert("sub".into(), subject.clone().into());
        }
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), issuer.clone().into());
        }
        match self.audience.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".into(), one.clone().into());
            }
            many => {
                claims.insert("aud".into(), many.to_vec().into());
            }
        }
        let mut mercure = Map::new();
        if let Some(publish) = &self.publish {
            mercure.insert("publish".into(), publish.clone().into());
        }
        if let Some(subscribe) = &self.subscribe {
            mercure.insert("subscribe".into(), subscribe.clone().into());
        }
        if let Some(payload) = &self.payload {
            mercure.insert("payload".into(), payload.clone());
        }
        if !mercure.is_empty() {
            claims.insert(MERCURE_CLAIM.into(), mercure.into());
        }
        if self.admin {
            claims.insert(TIDINGS_CLAIM.into(), serde_json::json!({"admin": true}));
        }
        claims.into()
    }

    /// Signs the token now.
    ///
    /// # Errors
    /// [`MintError::InvalidSelector`] for a selector the hub would refuse,
    /// [`MintError::Signing`].
    ///
    /// ```
    /// use tidings_server::jwt::{SigningKey, TokenBuilder};
    /// let token = TokenBuilder::publisher().sign(&SigningKey::hs256("secret")?)?;
    /// assert!(token.starts_with("eyJ"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign(&self, key: &SigningKey) -> Result<String, MintError> {
        self.sign_at(key, SystemTime::now())
    }

    /// Signs the token as of `now` (`iat`, and `exp` when a TTL is set).
    ///
    /// # Errors
    /// As [`TokenBuilder::sign`].
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tidings_server::jwt::{SigningKey, TokenBuilder};
    /// let token = TokenBuilder::new()
    ///     .ttl(Duration::from_secs(60))
    ///     .sign_at(&SigningKey::hs256("secret")?, SystemTime::UNIX_EPOCH)?; // long expired
    /// # let _ = token;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_at(&self, key: &SigningKey, now: SystemTime) -> Result<String, MintError> {
        for (claim, list) in
            [("mercure.publish", &self.publish), ("mercure.subscribe", &self.subscribe)]
        {
            for (index, selector) in list.iter().flatten().enumerate() {
                Selector::parse(selector).map_err(|source| MintError::InvalidSelector {
                    claim,
                    index,
                    selector: selector.clone(),
                    source,
                })?;
            }
        }
        key.sign_claims(&self.claims_at(now))
    }
}

/// Where a request carried its token.
///
/// ```
/// use tidings_server::jwt::{TokenSource, find_token};
/// let (head, ()) = http::Request::get("/?authorization=abc").body(())?.into_parts();
/// let found = find_token(&head, "mercureAuthorization")?.expect("present");
/// assert_eq!(found.source, TokenSource::Query);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Header,
    /// The `authorization` query parameter.
    Query,
    /// The token cookie (`mercureAuthorization` by default).
    Cookie,
}

/// A token found in a request, not yet verified.
///
/// ```
/// use tidings_server::jwt::{FoundToken, TokenSource, find_token};
/// let (head, ()) = http::Request::get("/").header("authorization", "Bearer abc").body(())?.into_parts();
/// let found: FoundToken = find_token(&head, "c")?.expect("present");
/// assert_eq!((found.source, found.token.as_str()), (TokenSource::Header, "abc"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundToken {
    /// Where it was.
    pub source: TokenSource,
    /// The token text.
    pub token: String,
}

/// Finds the request's token in Mercure's order — `Authorization: Bearer` header,
/// `authorization` query parameter, then the cookie named `cookie_name` — and returns the first
/// source present, whether or not its token is valid.
///
/// `Ok(None)` when no source is present. A present source that cannot hold a token is an
/// error: several `Authorization` headers, a scheme other than `Bearer` (case-insensitive), an
/// empty token, the query parameter given twice or empty, a cookie value that is not ASCII.
///
/// # Errors
/// [`AuthError::Malformed`] as above.
///
/// ```
/// use tidings_server::AuthError;
/// use tidings_server::jwt::{TokenSource, find_token};
///
/// // The header wins over the cookie, even when it is unusable.
/// let (head, ()) = http::Request::get("/")
///     .header("authorization", "Basic dXNlcjpwYXNz")
///     .header("cookie", "mercureAuthorization=eyJ.x.y")
///     .body(())?
///     .into_parts();
/// assert_eq!(find_token(&head, "mercureAuthorization"), Err(AuthError::Malformed));
///
/// let (head, ()) = http::Request::get("/")
///     .header("cookie", "theme=dark; mercureAuthorization=eyJ.x.y")
///     .body(())?
///     .into_parts();
/// let found = find_token(&head, "mercureAuthorization")?.expect("present");
/// assert_eq!((found.source, found.token.as_str()), (TokenSource::Cookie, "eyJ.x.y"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn find_token(head: &Parts, cookie_name: &str) -> Result<Option<FoundToken>, AuthError> {
    let mut headers = head.headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = headers.next() {
        if headers.next().is_some() {
            return Err(AuthError::Malformed);
        }
        let token = bearer_token(value).ok_or(AuthError::Malformed)?;
        return Ok(Some(FoundToken { source: TokenSource::Header, token: token.to_owned() }));
    }
    if let Some(query) = head.uri.query() {
        let mut found: Option<Cow<'_, str>> = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name == QUERY_PARAMETER {
                if found.is_some() {
                    return Err(AuthError::Malformed);
                }
                found = Some(value);
            }
        }
        if let Some(token) = found {
            if token.is_empty() {
                return Err(AuthError::Malformed);
            }
            return Ok(Some(FoundToken { source: TokenSource::Query, token: token.into_owned() }));
        }
    }
    for value in head.headers.get_all(header::COOKIE) {
        if let Some(token) = cookie_value(value.as_bytes(), cookie_name.as_bytes()) {
            // RFC 6265: a cookie value may be wrapped in double quotes.
            let token =
                token.strip_prefix(b"\"").and_then(|t| t.strip_suffix(b"\"")).unwrap_or(token);
            let token = std::str::from_utf8(token)
                .ok()
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(AuthError::Malformed)?;
            return Ok(Some(FoundToken { source: TokenSource::Cookie, token: token.to_owned() }));
        }
    }
    Ok(None)
}

/// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1; the scheme is
/// case-insensitive per RFC 9110 §11.1).
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// The value of the first cookie named `name` in one `Cookie` header (`a=1; b=2`).
fn cookie_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (key, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        (key == name).then_some(value)
    })
}

/// Settings of the [`JwtAuthenticator`].
///
/// ```
/// use std::time::Duration;
/// use tidings_server::cors::OriginPattern;
/// use tidings_server::jwt::{Algorithm, JwtConfig, VerifyingKey};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
/// let config = JwtConfig::new(VerifyingKey::hs256("publisher secret")?)
///     .subscriber_key(VerifyingKey::from_pem(
///         Algorithm::Rs256,
///         std::fs::read(format!("{dir}/rsa-public.pem")).expect("key file"),
///     )?)
///     .leeway(Duration::from_secs(5))
///     .audience("https://hub.example.com")
///     .publish_origins([OriginPattern::parse("https://app.example.com").expect("origin")]);
/// # let _ = config;
/// # Ok::<(), tidings_server::jwt::KeyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwtConfig {
    publisher: VerifyingKey,
    subscriber: Option<VerifyingKey>,
    leeway: Duration,
    audiences: Vec<String>,
    issuers: Vec<String>,
    require_exp: bool,
    cookie_name: String,
    publish_origins: Vec<OriginPattern>,
    max_token_len: usize,
    max_claim_selectors: usize,
}

impl JwtConfig {
    /// Tokens are checked with `publisher` (also for subscribers, until
    /// [`JwtConfig::subscriber_key`] sets another key).
    ///
    /// ```
    /// use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("secret")?);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn new(publisher: VerifyingKey) -> Self {
        Self {
            publisher,
            subscriber: None,
            leeway: Duration::ZERO,
            audiences: Vec::new(),
            issuers: Vec::new(),
            require_exp: false,
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            publish_origins: Vec::new(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_claim_selectors: DEFAULT_MAX_CLAIM_SELECTORS,
        }
    }

    /// A separate key for subscriber tokens (Mercure's `subscriber_jwt`). Tokens it verifies
    /// may subscribe (with their `mercure.subscribe` rights) but never publish nor administer.
    /// Default: the publisher key.
    ///
    /// ```
    /// use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("pub")?).subscriber_key(VerifyingKey::hs256("sub")?);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn subscriber_key(mut self, key: VerifyingKey) -> Self {
        self.subscriber = Some(key);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`. Default: zero (as Mercure).
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).leeway(std::time::Duration::from_secs(30));
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Accepts tokens whose `aud` (a string or an array) contains `audience`; once any audience
    /// is configured, tokens without a matching `aud` are refused. Default: `aud` is not
    /// checked (as Mercure).
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).audience("hub-eu").audience("hub-us");
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens whose `iss` equals `issuer`; once any issuer is configured, tokens from
    /// other issuers or without `iss` are refused. Default: `iss` is not checked.
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).issuer("https://app.example.com");
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Refuses tokens without `exp`. Default: `false` — such tokens never expire, as in
    /// Mercure.
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).require_exp(true);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn require_exp(mut self, require: bool) -> Self {
        self.require_exp = require;
        self
    }

    /// The cookie holding the token. Default: [`DEFAULT_COOKIE_NAME`].
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).cookie_name("hubToken");
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Origins whose pages may publish with the cookie (the CSRF check described in the module
    /// docs); `*` allows all. Adds to the list. Default: none, so a cookie never authorizes
    /// publishing.
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// use tidings_server::cors::OriginPattern;
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?)
    ///     .publish_origins([OriginPattern::parse("https://*.example.com").expect("origin")]);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn publish_origins(mut self, origins: impl IntoIterator<Item = OriginPattern>) -> Self {
        self.publish_origins.extend(origins);
        self
    }

    /// Longest token accepted, in bytes. Default: [`DEFAULT_MAX_TOKEN_LEN`].
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).max_token_len(4096);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Most selectors in `mercure.publish` or `mercure.subscribe`; a token with more is
    /// refused. Default: [`DEFAULT_MAX_CLAIM_SELECTORS`].
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// let config = JwtConfig::new(VerifyingKey::hs256("s")?).max_claim_selectors(100);
    /// # let _ = config;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn max_claim_selectors(mut self, max: usize) -> Self {
        self.max_claim_selectors = max;
        self
    }

    /// The cookie name in use.
    ///
    /// ```
    /// # use tidings_server::jwt::{JwtConfig, VerifyingKey};
    /// assert_eq!(JwtConfig::new(VerifyingKey::hs256("s")?).cookie_name_str(), "mercureAuthorization");
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn cookie_name_str(&self) -> &str {
        &self.cookie_name
    }
}

/// How far a verified token is trusted: which key signed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    Publisher,
    Subscriber,
}

/// Authenticates requests with JWTs carrying Mercure's claims; see the [module docs](self).
///
/// `Ok(None)` when the request presents no token (anonymous). Every problem with a presented
/// token is an [`AuthError`], never a fall-back to anonymous.
///
/// ```
/// use tidings_server::{AuthError, Authenticator};
/// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, VerifyingKey};
///
/// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("secret")?));
/// let (head, ()) = http::Request::get("/events?topic=a").body(())?.into_parts();
/// assert!(auth.authenticate(&head)?.is_none());
///
/// let (head, ()) = http::Request::get("/events?topic=a&authorization=not-a-jwt").body(())?.into_parts();
/// assert_eq!(auth.authenticate(&head).expect_err("refused"), AuthError::Malformed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwtAuthenticator {
    config: Arc<JwtConfig>,
}

impl JwtAuthenticator {
    /// An authenticator with these settings.
    ///
    /// ```
    /// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, VerifyingKey};
    /// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("secret")?));
    /// # let _ = auth;
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn new(config: JwtConfig) -> Self {
        Self { config: Arc::new(config) }
    }

    /// The settings.
    ///
    /// ```
    /// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, VerifyingKey};
    /// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("secret")?));
    /// assert_eq!(auth.config().cookie_name_str(), "mercureAuthorization");
    /// # Ok::<(), tidings_server::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// [`Authenticator::authenticate`] with the clock passed in: finds the token, applies the
    /// cookie CSRF check, and verifies the token as of `now`.
    ///
    /// # Errors
    /// Every [`AuthError`] variant, as described in the module docs.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tidings_server::AuthError;
    /// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey};
    ///
    /// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("secret")?));
    /// let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// let token = TokenBuilder::new().ttl(Duration::from_secs(60)).sign_at(&SigningKey::hs256("secret")?, start)?;
    /// let (head, ()) = http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())?.into_parts();
    /// assert!(auth.authenticate_at(&head, start + Duration::from_secs(59))?.is_some());
    /// assert_eq!(auth.authenticate_at(&head, start + Duration::from_secs(60)).expect_err("refused"), AuthError::Expired);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authenticate_at(
        &self,
        head: &Parts,
        now: SystemTime,
    ) -> Result<Option<Identity>, AuthError> {
        let Some(found) = find_token(head, &self.config.cookie_name)? else {
            return Ok(None);
        };
        if found.source == TokenSource::Cookie && !is_safe(&head.method) {
            check_origin(head, &self.config.publish_origins)?;
        }
        self.verify(&found.token, now).map(Some)
    }

    /// Verifies one token as of `now` and returns who it identifies.
    ///
    /// # Errors
    /// [`AuthError::Malformed`], [`AuthError::WrongAlgorithm`], [`AuthError::BadSignature`],
    /// [`AuthError::Expired`], [`AuthError::NotYetValid`], [`AuthError::InvalidClaims`].
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tidings_server::AuthError;
    /// use tidings_server::jwt::{JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey};
    ///
    /// let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256("secret")?));
    /// let good = TokenBuilder::publisher().admin(true).sign(&SigningKey::hs256("secret")?)?;
    /// let identity = auth.verify(&good, SystemTime::now())?;
    /// assert!(identity.admin && identity.publish.allows("any/topic"));
    ///
    /// let forged = TokenBuilder::publisher().sign(&SigningKey::hs256("guess")?)?;
    /// assert_eq!(auth.verify(&forged, SystemTime::now()).expect_err("refused"), AuthError::BadSignature);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Identity, AuthError> {
        let config = &*self.config;
        if token.len() > config.max_token_len {
            return Err(AuthError::Malformed);
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header_json: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(AuthError::Malformed)?;
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; none are here.
        if header_json.contains_key("crit") {
            return Err(AuthError::Malformed);
        }
        let alg = header_json.get("alg").and_then(Value::as_str).ok_or(AuthError::Malformed)?;
        // The token may only pick among the configured keys' algorithms: this refuses `none`
        // and an HMAC token "signed" with an RSA public key before any crypto runs.
        let alg = Algorithm::from_header_name(alg).ok_or(AuthError::WrongAlgorithm)?;
        let mut keys = [(&config.publisher, Trust::Publisher)]
            .into_iter()
            .chain(config.subscriber.as_ref().map(|key| (key, Trust::Subscriber)))
            .filter(|(key, _)| key.algorithm == alg)
            .peekable();
        if keys.peek().is_none() {
            return Err(AuthError::WrongAlgorithm);
        }
        let payload_bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| AuthError::Malformed)?;
        let message = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let trust = keys
            .find(|(key, _)| key.verifies(message, &signature))
            .map(|(_, trust)| trust)
            .ok_or(AuthError::BadSignature)?;
        // Only now, with the signature verified, is the payload worth parsing.
        let claims: Value =
            serde_json::from_slice(&payload_bytes).map_err(|_| AuthError::Malformed)?;
        let Value::Object(claims) = claims else {
            return Err(invalid("the claims are not a JSON object"));
        };
        self.identity(&claims, trust, now)
    }

    fn identity(
        &self,
        claims: &Map<String, Value>,
        trust: Trust,
        now: SystemTime,
    ) -> Result<Identity, AuthError> {
        let config = &*self.config;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // RFC 7519 §4.1.4: valid only before `exp`.
        let exp = numeric_date(claims, "exp")?;
        match exp {
            Some(exp) if now >= exp.saturating_add(config.leeway) => {
                return Err(AuthError::Expired);
            }
            None if config.require_exp => return Err(invalid("exp is required")),
            _ => {}
        }
        // RFC 7519 §4.1.5: valid from `nbf` on.
        if let Some(nbf) = numeric_date(claims, "nbf")? {
            if now.saturating_add(config.leeway) < nbf {
                return Err(AuthError::NotYetValid);
            }
        }
        if !config.issuers.is_empty() {
            let issuer = claims.get("iss").and_then(Value::as_str);
            if !issuer.is_some_and(|iss| config.issuers.iter().any(|i| i == iss)) {
                return Err(invalid("iss is not an accepted issuer"));
            }
        }
        if !config.audiences.is_empty() {
            let accepted = |aud: &str| config.audiences.iter().any(|a| a == aud);
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !ok {
                return Err(invalid("aud does not name this hub"));
            }
        }
        let user = match claims.get("sub") {
            None | Some(Value::Null) => None,
            Some(Value::String(sub)) if sub.is_empty() => None,
            Some(Value::String(sub)) => Some(UserId::new(sub)),
            Some(_) => return Err(invalid("sub must be a string")),
        };
        // The reference hub lets the namespaced claim replace `mercure` when present.
        let (name, mercure) = match claims.get(MERCURE_NAMESPACED_CLAIM) {
            Some(value) if !value.is_null() => (MERCURE_NAMESPACED_CLAIM, Some(value)),
            _ => (MERCURE_CLAIM, claims.get(MERCURE_CLAIM)),
        };
        let empty = Map::new();
        let mercure = match mercure {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(mercure)) => mercure,
            Some(_) => return Err(AuthError::InvalidClaims(format!("{name} must be an object"))),
        };
        let publish = self.grant(mercure.get("publish"), name, "publish")?;
        let subscribe = self.grant(mercure.get("subscribe"), name, "subscribe")?;
        let payload = mercure.get("payload").filter(|v| !v.is_null()).cloned();
        let admin = match claims.get(TIDINGS_CLAIM) {
            None | Some(Value::Null) => false,
            Some(Value::Object(tidings)) => match tidings.get("admin") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(admin)) => *admin,
                Some(_) => return Err(invalid("tidings.admin must be true or false")),
            },
            Some(_) => return Err(invalid("tidings must be an object")),
        };
        let mut identity = Identity::default().with_subscribe(subscribe);
        identity.user = user;
        identity.payload = payload;
        identity.expires = exp.and_then(|exp| UNIX_EPOCH.checked_add(exp));
        if trust == Trust::Publisher {
            identity = identity.with_publish(publish).with_admin(admin);
        }
        Ok(identity)
    }

    /// A claim's selector list as a grant.
    fn grant(&self, list: Option<&Value>, claim: &str, field: &str) -> Result<Grant, AuthError> {
        let items = match list {
            None | Some(Value::Null) => return Ok(Grant::None),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(AuthError::InvalidClaims(format!(
                    "{claim}.{field} must be an array of selectors"
                )));
            }
        };
        let max = self.config.max_claim_selectors;
        if items.len() > max {
            return Err(AuthError::InvalidClaims(format!(
                "{claim}.{field} has {} selectors, more than {max}",
                items.len()
            )));
        }
        let mut selectors = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Some(text) = item.as_str() else {
                return Err(AuthError::InvalidClaims(format!(
                    "{claim}.{field}[{index}] is not a string"
                )));
            };
            let selector = Selector::parse(text).map_err(|error| {
                AuthError::InvalidClaims(format!(
                    "{claim}.{field}[{index}] {text:?} is not a valid selector: {error}"
                ))
            })?;
            selectors.push(selector);
        }
        Ok(Grant::selectors(selectors))
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, head: &Parts) -> Result<Option<Identity>, AuthError> {
        self.authenticate_at(head, SystemTime::now())
    }
}

fn invalid(reason: &str) -> AuthError {
    AuthError::InvalidClaims(reason.to_owned())
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly fractional) as a
/// duration since the epoch; a date before the epoch counts as the epoch.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<Duration>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(secs) = number.as_u64() {
                return Ok(Some(Duration::from_secs(secs)));
            }
            match number.as_f64() {
                Some(secs) if secs.is_finite() && secs <= 0.0 => Ok(Some(Duration::ZERO)),
                Some(secs) if secs.is_finite() => {
                    Ok(Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)))
                }
                _ => Err(AuthError::InvalidClaims(format!("{name} is not a number of seconds"))),
            }
        }
        Some(_) => Err(AuthError::InvalidClaims(format!("{name} must be a number"))),
    }
}

/// Methods a browser lets any page trigger without a CORS preflight carry no side effects here.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The cookie CSRF check: the request's `Origin`, or the origin of its `Referer`, must be in
/// `allowed`.
fn check_origin(head: &Parts, allowed: &[OriginPattern]) -> Result<(), AuthError> {
    let origin = match head.headers.get(header::ORIGIN) {
        Some(origin) => {
            Some(origin.to_str().map(str::to_owned).map_err(|_| AuthError::OriginNotAllowed)?)
        }
        None => match head.headers.get(header::REFERER) {
            Some(referer) => Some(referer_origin(referer).ok_or(AuthError::OriginNotAllowed)?),
            None => None,
        },
    };
    let origin = origin.ok_or(AuthError::OriginMissing)?;
    if any_matches(allowed, &origin) { Ok(()) } else { Err(AuthError::OriginNotAllowed) }
}

/// `scheme://host[:port]` of a `Referer` URL, without a default port (as an `Origin` header
/// would say it).
fn referer_origin(referer: &HeaderValue) -> Option<String> {
    let uri: http::Uri = referer.to_str().ok()?.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .filter(|&port| !matches!((scheme.as_str(), port), ("http", 80) | ("https", 443)));
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bits_of_the_test_keys() {
        let pem = include_bytes!("../tests/keys/rsa-public.pem");
        let key = DecodingKey::from_rsa_pem(pem).expect("rsa pem");
        let DecodingKeyKind::SecretOrDer(der) = key.kind() else { panic!("der") };
        assert_eq!(rsa_modulus_bits(der), Some(2048));
    }

    #[test]
    fn rsa_bits_refuses_truncated_der() {
        assert_eq!(rsa_modulus_bits(&[]), None);
        assert_eq!(rsa_modulus_bits(&[0x30]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x04, 0x02, 0x02, 0x00, 0x81]), Some(8));
        assert_eq!(rsa_modulus_bits(&[0x30, 0x80]), None);
    }

    #[test]
    fn pem_labels() {
        assert_eq!(pem_label(b"-----BEGIN PUBLIC KEY-----\nAAAA"), Some("PUBLIC KEY"));
        assert_eq!(pem_label(b"junk\n-----BEGIN RSA PRIVATE KEY-----"), Some("RSA PRIVATE KEY"));
        assert_eq!(pem_label(b"-----BEGIN "), None);
        assert_eq!(pem_label(b""), None);
    }

    #[test]
    fn referer_origins() {
        let origin = |text: &str| referer_origin(&HeaderValue::from_str(text).expect("value"));
        assert_eq!(
            origin("https://App.example.com/page?q=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(origin("https://a.test:443/x").as_deref(), Some("https://a.test"));
        assert_eq!(origin("http://a.test:8080/x").as_deref(), Some("http://a.test:8080"));
        assert_eq!(origin("/relative"), None);
        assert_eq!(origin("not a url"), None);
    }

    #[test]
    fn bearer_parsing() {
        let token = |text: &str| {
            bearer_token(&HeaderValue::from_str(text).expect("value")).map(str::to_owned)
        };
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer   abc").as_deref(), Some("abc"));
        assert_eq!(token("Bearer"), None);
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer a b"), None);
        assert_eq!(token("Basic abc"), None);
        assert_eq!(bearer_token(&HeaderValue::from_bytes(b"Bearer \xff").expect("value")), None);
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(cookie_value(b"a=1; t=x.y.z; t=other", b"t"), Some(&b"x.y.z"[..]));
        assert_eq!(cookie_value(b"at=1", b"t"), None);
        assert_eq!(cookie_value(b";;=;t", b"t"), None);
        assert_eq!(cookie_value(b"t=", b"t"), Some(&b""[..]));
    }

    #[test]
    fn numeric_dates() {
        let claims = |value: Value| {
            let Value::Object(map) = serde_json::json!({ "exp": value }) else { unreachable!() };
            numeric_date(&map, "exp")
        };
        assert_eq!(claims(serde_json::json!(10)), Ok(Some(Duration::from_secs(10))));
        assert_eq!(claims(serde_json::json!(1.5)), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(claims(serde_json::json!(-5)), Ok(Some(Duration::ZERO)));
        assert_eq!(claims(serde_json::json!(1e300)), Ok(Some(Duration::MAX)));
        assert!(claims(serde_json::json!("10")).is_err());
        assert_eq!(claims(Value::Null), Ok(None));
    }
}
