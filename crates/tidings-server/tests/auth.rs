//! Authentication and request plumbing: JWT verification and minting for every algorithm and
//! every failure, token sources and their precedence, the cookie CSRF check, claims to grants,
//! CORS over a real socket, and the client address behind trusted proxies.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tidings_server::client_addr::{ForwardedHeader, IpNet, TrustedProxies};
use tidings_server::cors::{CorsConfig, OriginPattern};
use tidings_server::jwt::{
    Algorithm, JwtAuthenticator, JwtConfig, KeyError, SigningKey, TokenBuilder, TokenSource,
    VerifyingKey, find_token,
};
use tidings_server::{AuthError, Authenticator, Grant, Identity};

const SECRET: &str = "test secret, long enough to look like a real one";

fn key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A fixed "now", so expiry tests do not depend on the clock.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn hs256() -> (SigningKey, JwtAuthenticator) {
    let signing = SigningKey::hs256(SECRET).expect("signing key");
    let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")));
    (signing, auth)
}

/// Every algorithm with its signing key and the matching verification key.
fn every_algorithm() -> Vec<(Algorithm, SigningKey, VerifyingKey)> {
    let mut keys = Vec::new();
    for alg in [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512] {
        keys.push((
            alg,
            SigningKey::hmac(alg, SECRET).expect("hmac"),
            VerifyingKey::hmac(alg, SECRET).expect("hmac"),
        ));
    }
    let pairs = [
        (Algorithm::Rs256, "rsa"),
        (Algorithm::Rs384, "rsa"),
        (Algorithm::Rs512, "rsa"),
        (Algorithm::Ps256, "rsa"),
        (Algorithm::Ps384, "rsa"),
        (Algorithm::Ps512, "rsa"),
        (Algorithm::Es256, "ec256"),
        (Algorithm::Es384, "ec384"),
        (Algorithm::EdDsa, "ed25519"),
    ];
    for (alg, name) in pairs {
        let private = key_file(&format!("{name}-private"));
        let public = key_file(&format!("{name}-public"));
        keys.push((
            alg,
            SigningKey::from_pem(alg, &private).unwrap_or_else(|e| panic!("{alg} private: {e}")),
            VerifyingKey::from_pem(alg, &public).unwrap_or_else(|e| panic!("{alg} public: {e}")),
        ));
    }
    keys
}

fn request(builder: http::request::Builder) -> Parts {
    builder.body(()).expect("request").into_parts().0
}

/// A compact JWS with arbitrary header and payload bytes, HMAC-signed with `SECRET`.
fn hand_made(header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{signature}")
}

/// `Ok(true)` identified, `Ok(false)` anonymous (identities hold closures, so they cannot be
/// compared).
fn summary(result: Result<Option<Identity>, AuthError>) -> Result<bool, AuthError> {
    result.map(|identity| identity.is_some())
}

const HS256_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

// ---------------------------------------------------------------------------------------------
// Algorithms and keys
// ---------------------------------------------------------------------------------------------

#[test]
fn every_algorithm_signs_and_verifies() {
    for (alg, signing, verifying) in every_algorithm() {
        assert_eq!(signing.algorithm(), alg);
        assert_eq!(verifying.algorithm(), alg);
        let token =
            TokenBuilder::publisher().subject("ann").sign_at(&signing, now()).expect("sign");
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(token.split('.').next().expect("header")).expect("base64"),
        )
        .expect("json");
        assert_eq!(header["alg"], alg.as_str(), "{alg}");
        let auth = JwtAuthenticator::new(JwtConfig::new(verifying));
        let identity = auth.verify(&token, now()).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert!(identity.publish.allows("any/topic"), "{alg}");
        assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("ann"), "{alg}");
    }
}

#[test]
fn a_token_signed_with_another_key_is_a_bad_signature() {
    let others = [
        (Algorithm::Rs256, "rsa-other-private", "rsa-public"),
        (Algorithm::Ps256, "rsa-other-private", "rsa-public"),
        (Algorithm::Es256, "ec256-other-private", "ec256-public"),
    ];
    for (alg, private, public) in others {
        let signing = SigningKey::from_pem(alg, key_file(private)).expect("signing");
        let auth = JwtAuthenticator::new(JwtConfig::new(
            VerifyingKey::from_pem(alg, key_file(public)).expect("verifying"),
        ));
        let token = TokenBuilder::publisher().sign_at(&signing, now()).expect("sign");
        assert_eq!(
            auth.verify(&token, now()).expect_err("refused"),
            AuthError::BadSignature,
            "{alg}"
        );
    }
    let (_, auth) = hs256();
    let token = TokenBuilder::publisher()
        .sign_at(&SigningKey::hs256("another secret").expect("key"), now())
        .expect("sign");
    assert_eq!(auth.verify(&token, now()).expect_err("refused"), AuthError::BadSignature);
}

#[test]
fn key_construction_errors_are_precise() {
    assert_eq!(VerifyingKey::hs256("").expect_err("refused"), KeyError::EmptySecret);
    assert_eq!(SigningKey::hmac(Algorithm::Hs256, []).expect_err("refused"), KeyError::EmptySecret);
    assert_eq!(
        VerifyingKey::hmac(Algorithm::Es256, SECRET).expect_err("refused"),
        KeyError::NeedsPem { algorithm: Algorithm::Es256 }
    );
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::Hs256, key_file("rsa-public")).expect_err("refused"),
        KeyError::NeedsSecret { algorithm: Algorithm::Hs256 }
    );
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::Rs256, key_file("rsa-private")).expect_err("refused"),
        KeyError::PrivateKeyGiven
    );
    assert_eq!(
        SigningKey::from_pem(Algorithm::Rs256, key_file("rsa-public")).expect_err("refused"),
        KeyError::PublicKeyGiven
    );
    // A key of another family.
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::Rs256, key_file("ec256-public")).expect_err("refused"),
        KeyError::InvalidPem { algorithm: Algorithm::Rs256, kind: "public" }
    );
    assert_eq!(
        SigningKey::from_pem(Algorithm::Es256, key_file("rsa-private")).expect_err("refused"),
        KeyError::InvalidPem { algorithm: Algorithm::Es256, kind: "private" }
    );
    // The right family on the wrong curve.
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::Es256, key_file("ec384-public")).expect_err("refused"),
        KeyError::WrongCurve { algorithm: Algorithm::Es256 }
    );
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::Es384, key_file("ec256-public")).expect_err("refused"),
        KeyError::WrongCurve { algorithm: Algorithm::Es384 }
    );
    assert_eq!(
        SigningKey::from_pem(Algorithm::Es384, key_file("ec256-private")).expect_err("refused"),
        KeyError::InvalidPem { algorithm: Algorithm::Es384, kind: "private" }
    );
    // Not PEM at all, or a truncated one.
    for garbage in
        [&b""[..], b"hello", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
    {
        assert!(matches!(
            VerifyingKey::from_pem(Algorithm::Es256, garbage),
            Err(KeyError::InvalidPem { .. })
        ));
    }
    for garbage in
        [&b""[..], b"hello", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
    {
        assert!(matches!(
            SigningKey::from_pem(Algorithm::Rs256, garbage),
            Err(KeyError::InvalidPem { .. })
        ));
    }
    assert_eq!(
        "HS999".parse::<Algorithm>().expect_err("refused"),
        KeyError::UnknownAlgorithm { name: "HS999".into() }
    );
    assert_eq!("eddsa".parse::<Algorithm>(), Ok(Algorithm::EdDsa));
}

#[test]
fn generated_secrets_are_distinct_and_usable() {
    let a = tidings_server::jwt::generate_secret().expect("secret");
    let b = tidings_server::jwt::generate_secret().expect("secret");
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
    assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    let token = TokenBuilder::publisher().sign(&SigningKey::hs256(&a).expect("key")).expect("sign");
    let auth = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(&a).expect("key")));
    assert!(auth.verify(&token, SystemTime::now()).is_ok());
    let other = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(&b).expect("key")));
    assert_eq!(
        other.verify(&token, SystemTime::now()).expect_err("refused"),
        AuthError::BadSignature
    );
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[test]
fn expiry_is_enforced_to_the_second() {
    let (key, auth) = hs256();
    let token = TokenBuilder::new().ttl(secs(60)).sign_at(&key, now()).expect("sign");
    let identity = auth.verify(&token, now() + secs(59)).expect("valid");
    assert_eq!(identity.expires, Some(now() + secs(60)));
    assert_eq!(auth.verify(&token, now() + secs(60)).expect_err("refused"), AuthError::Expired);
    assert_eq!(auth.verify(&token, now() + secs(3600)).expect_err("refused"), AuthError::Expired);
}

#[test]
fn leeway_extends_exp_and_advances_nbf() {
    let key = SigningKey::hs256(SECRET).expect("key");
    let auth = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")).leeway(secs(30)),
    );
    let token = TokenBuilder::new().ttl(secs(60)).sign_at(&key, now()).expect("sign");
    assert!(auth.verify(&token, now() + secs(89)).is_ok());
    assert_eq!(auth.verify(&token, now() + secs(90)).expect_err("refused"), AuthError::Expired);

    let nbf = key.sign_claims(&json!({"nbf": 1_800_000_100})).expect("sign");
    assert_eq!(auth.verify(&nbf, now() + secs(69)).expect_err("refused"), AuthError::NotYetValid);
    assert!(auth.verify(&nbf, now() + secs(70)).is_ok());
}

#[test]
fn not_yet_valid_tokens_are_refused_until_nbf() {
    let (key, auth) = hs256();
    let token =
        key.sign_claims(&json!({"nbf": 1_800_000_010, "exp": 1_800_000_100})).expect("sign");
    assert_eq!(auth.verify(&token, now()).expect_err("refused"), AuthError::NotYetValid);
    assert_eq!(auth.verify(&token, now() + secs(9)).expect_err("refused"), AuthError::NotYetValid);
    assert!(auth.verify(&token, now() + secs(10)).is_ok());
    assert_eq!(auth.verify(&token, now() + secs(100)).expect_err("refused"), AuthError::Expired);
}

#[test]
fn tokens_without_exp_never_expire_unless_exp_is_required() {
    let (key, auth) = hs256();
    let token = TokenBuilder::publisher().sign_at(&key, now()).expect("sign");
    let far_future = now() + secs(100 * 365 * 86_400);
    assert_eq!(auth.verify(&token, far_future).expect("valid").expires, None);
    let strict = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")).require_exp(true),
    );
    assert!(matches!(strict.verify(&token, now()), Err(AuthError::InvalidClaims(_))));
}

#[test]
fn fractional_and_odd_numeric_dates() {
    let (key, auth) = hs256();
    let fractional = key.sign_claims(&json!({"exp": 1_800_000_000.5})).expect("sign");
    assert!(auth.verify(&fractional, now()).is_ok());
    assert_eq!(auth.verify(&fractional, now() + secs(1)).expect_err("refused"), AuthError::Expired);
    let negative = key.sign_claims(&json!({"exp": -1})).expect("sign");
    assert_eq!(auth.verify(&negative, now()).expect_err("refused"), AuthError::Expired);
    let huge = key.sign_claims(&json!({"exp": 1e300})).expect("sign");
    assert!(auth.verify(&huge, now()).is_ok());
    for bad in [json!({"exp": "soon"}), json!({"nbf": [1]}), json!({"exp": true})] {
        let token = key.sign_claims(&bad).expect("sign");
        assert!(matches!(auth.verify(&token, now()), Err(AuthError::InvalidClaims(_))), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Algorithm confusion and malformed tokens
// ---------------------------------------------------------------------------------------------

#[test]
fn alg_none_is_a_wrong_algorithm() {
    let (_, auth) = hs256();
    let claims = URL_SAFE_NO_PAD.encode(br#"{"mercure":{"publish":["*"]}}"#);
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"None"}"#, r#"{"alg":"NONE","typ":"JWT"}"#] {
        let header = URL_SAFE_NO_PAD.encode(header);
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            let expected =
                if token.ends_with('.') { AuthError::WrongAlgorithm } else { AuthError::Malformed };
            assert_eq!(auth.verify(&token, now()).expect_err("refused"), expected, "{token}");
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion: the attacker knows the public key and uses it as an HMAC secret.
    let public = key_file("rsa-public");
    let auth = JwtAuthenticator::new(JwtConfig::new(
        VerifyingKey::from_pem(Algorithm::Rs256, &public).expect("key"),
    ));
    let forged = TokenBuilder::publisher()
        .sign_at(&SigningKey::hs256(&public).expect("key"), now())
        .expect("sign");
    assert_eq!(auth.verify(&forged, now()).expect_err("refused"), AuthError::WrongAlgorithm);
    // The other way round: an RS256 token where HS256 is configured.
    let (_, hs_auth) = hs256();
    let rs = TokenBuilder::publisher()
        .sign_at(
            &SigningKey::from_pem(Algorithm::Rs256, key_file("rsa-private")).expect("key"),
            now(),
        )
        .expect("sign");
    assert_eq!(hs_auth.verify(&rs, now()).expect_err("refused"), AuthError::WrongAlgorithm);
}

#[test]
fn another_algorithm_of_the_same_family_is_refused() {
    let auth = JwtAuthenticator::new(JwtConfig::new(
        VerifyingKey::from_pem(Algorithm::Rs256, key_file("rsa-public")).expect("key"),
    ));
    for alg in [Algorithm::Rs512, Algorithm::Ps256] {
        let token = TokenBuilder::publisher()
            .sign_at(&SigningKey::from_pem(alg, key_file("rsa-private")).expect("key"), now())
            .expect("sign");
        assert_eq!(
            auth.verify(&token, now()).expect_err("refused"),
            AuthError::WrongAlgorithm,
            "{alg}"
        );
    }
    let (_, hs) = hs256();
    let hs512 = TokenBuilder::publisher()
        .sign_at(&SigningKey::hmac(Algorithm::Hs512, SECRET).expect("key"), now())
        .expect("sign");
    assert_eq!(hs.verify(&hs512, now()).expect_err("refused"), AuthError::WrongAlgorithm);
    // The algorithm name is case-sensitive in a token.
    let lower = hand_made(br#"{"alg":"hs256"}"#, b"{}");
    assert_eq!(hs.verify(&lower, now()).expect_err("refused"), AuthError::WrongAlgorithm);
}

#[test]
fn malformed_tokens() {
    let (_, auth) = hs256();
    let good = hand_made(HS256_HEADER, b"{}");
    assert!(auth.verify(&good, now()).is_ok());
    let (h, rest) = good.split_once('.').expect("dot");
    let (p, s) = rest.split_once('.').expect("dot");
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "abc".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("!{h}.{p}.{s}"),
        format!("{}.{p}.{s}", b64(b"not json")),
        format!("{}.{p}.{s}", b64(b"[\"alg\",\"HS256\"]")),
        format!("{}.{p}.{s}", b64(br#"{"typ":"JWT"}"#)),
        format!("{}.{p}.{s}", b64(br#"{"alg":256}"#)),
        format!("{h}.{p}.{}", "%%%"),
        format!("{h}.{p}.{s}\u{e9}"),
    ];
    for token in cases {
        assert_eq!(
            auth.verify(&token, now()).expect_err("refused"),
            AuthError::Malformed,
            "{token:?}"
        );
    }
    // A critical header extension nobody here understands.
    let crit = hand_made(br#"{"alg":"HS256","crit":["b64"],"b64":false}"#, b"{}");
    assert_eq!(auth.verify(&crit, now()).expect_err("refused"), AuthError::Malformed);
    // Correctly signed, but the payload is not JSON, or not an object.
    assert_eq!(
        auth.verify(&hand_made(HS256_HEADER, b"{"), now()).expect_err("refused"),
        AuthError::Malformed
    );
    assert!(matches!(
        auth.verify(&hand_made(HS256_HEADER, b"[1,2]"), now()),
        Err(AuthError::InvalidClaims(_))
    ));
}

#[test]
fn oversized_tokens_are_refused_before_any_work() {
    let key = SigningKey::hs256(SECRET).expect("key");
    let auth = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")).max_token_len(512),
    );
    let small = TokenBuilder::new().payload(json!("x".repeat(100))).sign(&key).expect("sign");
    assert!(auth.verify(&small, now()).is_ok());
    let big = TokenBuilder::new().payload(json!("x".repeat(1000))).sign(&key).expect("sign");
    assert_eq!(auth.verify(&big, now()).expect_err("refused"), AuthError::Malformed);
}

#[test]
fn every_mutation_of_a_valid_token_is_refused_without_panicking() {
    let (key, auth) = hs256();
    let token = TokenBuilder::publisher().subject("ann").sign_at(&key, now()).expect("sign");
    let replacements = ['A', 'z', '0', '-', '_', '.', '=', '+', '/', ' ', '\u{0}', '\u{e9}'];
    let mut checked = 0;
    for (index, original) in token.char_indices() {
        for &replacement in &replacements {
            if replacement == original {
                continue;
            }
            let mut mutated = token.clone();
            mutated.replace_range(
                index..index + original.len_utf8(),
                replacement.encode_utf8(&mut [0; 4]),
            );
            assert!(auth.verify(&mutated, now()).is_err(), "{mutated}");
            checked += 1;
        }
        assert!(auth.verify(&token[..index], now()).is_err(), "prefix {index}");
    }
    assert!(checked > 1000);
    assert!(auth.verify(&token, now()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

#[test]
fn claims_become_grants_with_uri_templates_and_wildcards() {
    let (key, auth) = hs256();
    let token = TokenBuilder::new()
        .publish(["https://example.com/books/{id}", "pets/**"])
        .subscribe(["https://example.com/users/alice/{?topic}", "ride.*.start"])
        .payload(json!({"name": "Alice"}))
        .subject("alice")
        .sign_at(&key, now())
        .expect("sign");
    let identity = auth.verify(&token, now()).expect("valid");
    assert!(identity.publish.allows("https://example.com/books/1"));
    assert!(identity.publish.allows("https://example.com/books/caf%C3%A9"));
    assert!(!identity.publish.allows("https://example.com/books/1/reviews"));
    assert!(identity.publish.allows("pets/cats/tom"));
    assert!(!identity.publish.allows("pets"));
    assert!(
        identity
            .subscribe
            .allows("https://example.com/users/alice/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1")
    );
    assert!(!identity.subscribe.allows("https://example.com/users/bob/"));
    assert!(identity.subscribe.allows("ride.driver.start"));
    assert!(!identity.subscribe.allows("https://example.com/books/1"));
    assert_eq!(identity.payload, Some(json!({"name": "Alice"})));
    assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("alice"));
    assert!(!identity.admin);
}

#[test]
fn star_missing_and_empty_claim_lists() {
    let (key, auth) = hs256();
    let verify = |claims: Value| auth.verify(&key.sign_claims(&claims).expect("sign"), now());

    let all = verify(json!({"mercure": {"publish": ["*"], "subscribe": ["a", "*"]}})).expect("ok");
    assert!(matches!(all.publish, Grant::All));
    assert!(matches!(all.subscribe, Grant::All));

    let none = verify(json!({"mercure": {"publish": [], "subscribe": null}})).expect("ok");
    assert!(none.publish.is_none() && none.subscribe.is_none());

    let bare = verify(json!({})).expect("ok");
    assert!(bare.publish.is_none() && bare.subscribe.is_none());
    assert_eq!(bare.user, None);
    assert_eq!(bare.payload, None);

    let empty_sub = verify(json!({"sub": ""})).expect("ok");
    assert_eq!(empty_sub.user, None);
}

#[test]
fn the_namespaced_mercure_claim_is_accepted_and_wins() {
    let (key, auth) = hs256();
    let verify = |claims: Value| auth.verify(&key.sign_claims(&claims).expect("sign"), now());
    let namespaced = verify(json!({"https://mercure.rocks/": {"publish": ["a"]}})).expect("ok");
    assert!(namespaced.publish.allows("a"));
    let both = verify(json!({
        "mercure": {"publish": ["a"]},
        "https://mercure.rocks/": {"publish": ["b"]}
    }))
    .expect("ok");
    assert!(both.publish.allows("b") && !both.publish.allows("a"));
}

#[test]
fn the_admin_claim() {
    let (key, auth) = hs256();
    let admin = TokenBuilder::new().admin(true).sign_at(&key, now()).expect("sign");
    assert!(auth.verify(&admin, now()).expect("ok").admin);
    let claims = TokenBuilder::new().admin(true).claims_at(now());
    assert_eq!(claims["tidings"], json!({"admin": true}));
    let plain = TokenBuilder::new().sign_at(&key, now()).expect("sign");
    assert!(!auth.verify(&plain, now()).expect("ok").admin);
    let explicit_false = key.sign_claims(&json!({"tidings": {"admin": false}})).expect("sign");
    assert!(!auth.verify(&explicit_false, now()).expect("ok").admin);
}

#[test]
fn unusable_claims_are_invalid_claims_naming_the_claim() {
    let (key, auth) = hs256();
    let cases = [
        (json!({"mercure": "publish everything"}), "mercure must be an object"),
        (json!({"mercure": {"publish": "*"}}), "mercure.publish must be an array"),
        (json!({"mercure": {"subscribe": [1]}}), "mercure.subscribe[0] is not a string"),
        (json!({"mercure": {"publish": ["ok", "books/{id"]}}), "mercure.publish[1] \"books/{id\""),
        (json!({"mercure": {"publish": [""]}}), "mercure.publish[0]"),
        (json!({"https://mercure.rocks/": 7}), "https://mercure.rocks/ must be an object"),
        (json!({"sub": 42}), "sub must be a string"),
        (json!({"tidings": {"admin": "yes"}}), "tidings.admin"),
        (json!({"tidings": true}), "tidings must be an object"),
    ];
    for (claims, expected) in cases {
        let token = key.sign_claims(&claims).expect("sign");
        match auth.verify(&token, now()) {
            Err(AuthError::InvalidClaims(reason)) => {
                assert!(reason.contains(expected), "{claims}: {reason}");
            }
            other => panic!("{claims}: {other:?}"),
        }
    }
}

#[test]
fn more_selectors_than_allowed_invalidate_the_token() {
    let (key, auth) = hs256();
    let at_limit: Vec<String> = (0..1000).map(|i| format!("t/{i}")).collect();
    let token = key.sign_claims(&json!({"mercure": {"subscribe": at_limit}})).expect("sign");
    assert!(auth.verify(&token, now()).expect("ok").subscribe.allows("t/999"));
    let over: Vec<String> = (0..1001).map(|i| format!("t/{i}")).collect();
    let token = key.sign_claims(&json!({"mercure": {"subscribe": over}})).expect("sign");
    assert!(matches!(auth.verify(&token, now()), Err(AuthError::InvalidClaims(_))));
}

#[test]
fn audience_and_issuer_are_checked_only_when_configured() {
    let key = SigningKey::hs256(SECRET).expect("key");
    let open = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")));
    let strict = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key"))
            .audience("hub-eu")
            .issuer("https://app.example.com"),
    );
    let good = TokenBuilder::new()
        .audience("other")
        .audience("hub-eu")
        .issuer("https://app.example.com")
        .sign_at(&key, now())
        .expect("sign");
    assert!(strict.verify(&good, now()).is_ok());
    assert!(open.verify(&good, now()).is_ok());
    let cases = [
        TokenBuilder::new().issuer("https://app.example.com"),
        TokenBuilder::new().audience("hub-us").issuer("https://app.example.com"),
        TokenBuilder::new().audience("hub-eu"),
        TokenBuilder::new().audience("hub-eu").issuer("https://evil.example.com"),
    ];
    for builder in cases {
        let token = builder.sign_at(&key, now()).expect("sign");
        assert!(open.verify(&token, now()).is_ok());
        assert!(matches!(strict.verify(&token, now()), Err(AuthError::InvalidClaims(_))));
    }
}

#[test]
fn a_subscriber_key_token_may_subscribe_but_never_publish_or_administer() {
    let publisher = SigningKey::hs256("publisher secret").expect("key");
    let subscriber =
        SigningKey::from_pem(Algorithm::Es256, key_file("ec256-private")).expect("key");
    let auth = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256("publisher secret").expect("key")).subscriber_key(
            VerifyingKey::from_pem(Algorithm::Es256, key_file("ec256-public")).expect("key"),
        ),
    );
    let everything = TokenBuilder::publisher().admin(true).subject("ann");
    let from_subscriber_key = everything.sign_at(&subscriber, now()).expect("sign");
    let identity = auth.verify(&from_subscriber_key, now()).expect("valid");
    assert!(identity.publish.is_none());
    assert!(!identity.admin);
    assert!(identity.subscribe.allows("private/topic"));
    assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("ann"));

    let from_publisher_key = everything.sign_at(&publisher, now()).expect("sign");
    let identity = auth.verify(&from_publisher_key, now()).expect("valid");
    assert!(identity.publish.allows("t") && identity.admin && identity.subscribe.allows("t"));

    // Same algorithm, different secrets: both keys are tried, in order.
    let two_secrets = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256("publisher secret").expect("key"))
            .subscriber_key(VerifyingKey::hs256("subscriber secret").expect("key")),
    );
    let token = everything
        .sign_at(&SigningKey::hs256("subscriber secret").expect("key"), now())
        .expect("sign");
    let identity = two_secrets.verify(&token, now()).expect("valid");
    assert!(identity.publish.is_none() && identity.subscribe.allows("t"));
    let stranger =
        everything.sign_at(&SigningKey::hs256("neither").expect("key"), now()).expect("sign");
    assert_eq!(two_secrets.verify(&stranger, now()).expect_err("refused"), AuthError::BadSignature);
    let rs = everything
        .sign_at(
            &SigningKey::from_pem(Algorithm::Rs256, key_file("rsa-private")).expect("key"),
            now(),
        )
        .expect("sign");
    assert_eq!(auth.verify(&rs, now()).expect_err("refused"), AuthError::WrongAlgorithm);
}

// ---------------------------------------------------------------------------------------------
// Token sources
// ---------------------------------------------------------------------------------------------

#[test]
fn each_source_alone() {
    let (key, auth) = hs256();
    let token = TokenBuilder::new().subject("ann").sign_at(&key, now()).expect("sign");
    let sources = [
        (
            TokenSource::Header,
            request(http::Request::get("/").header("authorization", format!("Bearer {token}"))),
        ),
        (
            TokenSource::Query,
            request(http::Request::get(format!("/e?topic=a&authorization={token}"))),
        ),
        (
            TokenSource::Cookie,
            request(
                http::Request::get("/")
                    .header("cookie", format!("a=b; mercureAuthorization={token}")),
            ),
        ),
    ];
    for (source, head) in sources {
        let found = find_token(&head, "mercureAuthorization").expect("ok").expect("present");
        assert_eq!(found.source, source);
        assert_eq!(found.token, token);
        let identity = auth.authenticate_at(&head, now()).expect("ok").expect("identified");
        assert_eq!(identity.user.as_ref().map(|u| u.as_str()), Some("ann"), "{source:?}");
    }
    let nothing = request(http::Request::get("/e?topic=a").header("cookie", "other=1"));
    assert_eq!(summary(auth.authenticate_at(&nothing, now())), Ok(false));
}

#[test]
fn header_then_query_then_cookie_and_no_fallback() {
    let (key, auth) = hs256();
    let token_for =
        |user: &str| TokenBuilder::new().subject(user).sign_at(&key, now()).expect("sign");
    let (header, query, cookie) = (token_for("header"), token_for("query"), token_for("cookie"));
    let user = |head: &Parts| {
        auth.authenticate_at(head, now()).map(|id| id.and_then(|id| id.user).map(|u| u.to_string()))
    };

    let all = request(
        http::Request::get(format!("/?authorization={query}"))
            .header("authorization", format!("Bearer {header}"))
            .header("cookie", format!("mercureAuthorization={cookie}")),
    );
    assert_eq!(user(&all), Ok(Some("header".into())));

    let query_and_cookie = request(
        http::Request::get(format!("/?authorization={query}"))
            .header("cookie", format!("mercureAuthorization={cookie}")),
    );
    assert_eq!(user(&query_and_cookie), Ok(Some("query".into())));

    // An unusable first source is final: the valid cookie behind it is not consulted.
    let bad_header = request(
        http::Request::get("/")
            .header("authorization", "Bearer not.a.token")
            .header("cookie", format!("mercureAuthorization={cookie}")),
    );
    assert_eq!(user(&bad_header), Err(AuthError::Malformed));
    let expired = TokenBuilder::new().ttl(secs(1)).sign_at(&key, now() - secs(10)).expect("sign");
    let expired_query = request(
        http::Request::get(format!("/?authorization={expired}"))
            .header("cookie", format!("mercureAuthorization={cookie}")),
    );
    assert_eq!(user(&expired_query), Err(AuthError::Expired));
    let forged = TokenBuilder::new()
        .subject("mallory")
        .sign_at(&SigningKey::hs256("guess").expect("key"), now())
        .expect("sign");
    let forged_cookie =
        request(http::Request::get("/").header("cookie", format!("mercureAuthorization={forged}")));
    assert_eq!(user(&forged_cookie), Err(AuthError::BadSignature));
}

#[test]
fn unusable_sources_are_malformed() {
    let (key, auth) = hs256();
    let token = TokenBuilder::new().sign_at(&key, now()).expect("sign");
    let cases = [
        request(http::Request::get("/").header("authorization", "Basic dXNlcjpwYXNz")),
        request(http::Request::get("/").header("authorization", "Bearer")),
        request(http::Request::get("/").header("authorization", "")),
        request(
            http::Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .header("authorization", format!("Bearer {token}")),
        ),
        request(http::Request::get("/?authorization=")),
        request(http::Request::get(format!("/?authorization={token}&authorization={token}"))),
        request(http::Request::get("/").header("cookie", "mercureAuthorization=")),
        request(http::Request::get("/").header(
            "cookie",
            http::HeaderValue::from_bytes(b"mercureAuthorization=\xff").expect("v"),
        )),
    ];
    for head in cases {
        assert_eq!(
            summary(auth.authenticate_at(&head, now())),
            Err(AuthError::Malformed),
            "{head:?}"
        );
    }
    // Case-insensitive scheme, quoted cookie values, and cookies split over several headers
    // (HTTP/2 does that) are fine.
    let fine = [
        request(http::Request::get("/").header("authorization", format!("bearer {token}"))),
        request(
            http::Request::get("/").header("cookie", format!("mercureAuthorization=\"{token}\"")),
        ),
        request(
            http::Request::get("/")
                .header("cookie", "a=1")
                .header("cookie", format!("mercureAuthorization={token}")),
        ),
    ];
    for head in fine {
        assert!(auth.authenticate_at(&head, now()).expect("ok").is_some(), "{head:?}");
    }
}

#[test]
fn the_cookie_name_is_configurable() {
    let key = SigningKey::hs256(SECRET).expect("key");
    let auth = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")).cookie_name("hubToken"),
    );
    let token = TokenBuilder::new().sign_at(&key, now()).expect("sign");
    let custom = request(http::Request::get("/").header("cookie", format!("hubToken={token}")));
    assert!(auth.authenticate_at(&custom, now()).expect("ok").is_some());
    let default =
        request(http::Request::get("/").header("cookie", format!("mercureAuthorization={token}")));
    assert_eq!(summary(auth.authenticate_at(&default, now())), Ok(false));
}

// ---------------------------------------------------------------------------------------------
// Cookie CSRF
// ---------------------------------------------------------------------------------------------

fn csrf_auth(origins: &[&str]) -> (SigningKey, JwtAuthenticator) {
    let patterns = origins.iter().map(|o| OriginPattern::parse(o).expect("origin"));
    let auth = JwtAuthenticator::new(
        JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")).publish_origins(patterns),
    );
    (SigningKey::hs256(SECRET).expect("key"), auth)
}

fn cookie_post(token: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::post("/.well-known/mercure")
        .header("cookie", format!("mercureAuthorization={token}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    request(builder)
}

#[test]
fn a_cookie_post_needs_an_allowed_origin() {
    let (key, auth) = csrf_auth(&["https://app.example.com", "https://*.example.org"]);
    let token = TokenBuilder::publisher().sign_at(&key, now()).expect("sign");
    let check =
        |headers: &[(&str, &str)]| auth.authenticate_at(&cookie_post(&token, headers), now());

    assert!(check(&[("origin", "https://app.example.com")]).expect("ok").is_some());
    assert!(check(&[("origin", "https://eu.example.org")]).expect("ok").is_some());
    assert!(check(&[("referer", "https://app.example.com/page?x=1")]).expect("ok").is_some());
    assert!(check(&[("referer", "https://app.example.com:443/")]).expect("ok").is_some());

    assert_eq!(summary(check(&[])), Err(AuthError::OriginMissing));
    assert_eq!(
        summary(check(&[("origin", "https://evil.example.net")])),
        Err(AuthError::OriginNotAllowed)
    );
    assert_eq!(summary(check(&[("origin", "null")])), Err(AuthError::OriginNotAllowed));
    assert_eq!(
        summary(check(&[("origin", "http://app.example.com")])),
        Err(AuthError::OriginNotAllowed)
    );
    assert_eq!(
        summary(check(&[("referer", "https://evil.example.net/")])),
        Err(AuthError::OriginNotAllowed)
    );
    assert_eq!(summary(check(&[("referer", "/relative")])), Err(AuthError::OriginNotAllowed));
    // Origin is what the browser vouches for; a matching Referer does not rescue a foreign Origin.
    assert_eq!(
        summary(check(&[
            ("origin", "https://evil.example.net"),
            ("referer", "https://app.example.com/")
        ])),
        Err(AuthError::OriginNotAllowed)
    );
    // The check runs before the token is even verified.
    let forged = cookie_post("x.y.z", &[("origin", "https://evil.example.net")]);
    assert_eq!(summary(auth.authenticate_at(&forged, now())), Err(AuthError::OriginNotAllowed));
}

#[test]
fn the_csrf_check_only_concerns_cookies_on_unsafe_methods() {
    let (key, auth) = csrf_auth(&[]);
    let token = TokenBuilder::publisher().sign_at(&key, now()).expect("sign");
    // No publish origins: a cookie never publishes…
    assert_eq!(
        summary(auth.authenticate_at(&cookie_post(&token, &[("origin", "https://a.test")]), now())),
        Err(AuthError::OriginNotAllowed)
    );
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let head = request(
            http::Request::builder()
                .method(method.clone())
                .uri("/")
                .header("cookie", format!("mercureAuthorization={token}")),
        );
        assert_eq!(
            summary(auth.authenticate_at(&head, now())),
            Err(AuthError::OriginMissing),
            "{method}"
        );
    }
    // …but subscribes, from any page.
    for method in [Method::GET, Method::HEAD] {
        let head = request(
            http::Request::builder()
                .method(method)
                .uri("/.well-known/mercure?topic=a")
                .header("origin", "https://anyone.test")
                .header("cookie", format!("mercureAuthorization={token}")),
        );
        assert!(auth.authenticate_at(&head, now()).expect("ok").is_some());
    }
    // A bearer header or query token cannot be attached by a foreign page: no check.
    let header = request(
        http::Request::post("/.well-known/mercure")
            .header("authorization", format!("Bearer {token}")),
    );
    assert!(auth.authenticate_at(&header, now()).expect("ok").is_some());
    let query = request(http::Request::post(format!("/.well-known/mercure?authorization={token}")));
    assert!(auth.authenticate_at(&query, now()).expect("ok").is_some());
}

#[test]
fn star_publish_origin_allows_every_origin_but_still_needs_one() {
    let (key, auth) = csrf_auth(&["*"]);
    let token = TokenBuilder::publisher().sign_at(&key, now()).expect("sign");
    let anywhere = cookie_post(&token, &[("origin", "https://anyone.test")]);
    assert!(auth.authenticate_at(&anywhere, now()).expect("ok").is_some());
    assert_eq!(
        summary(auth.authenticate_at(&cookie_post(&token, &[]), now())),
        Err(AuthError::OriginMissing)
    );
}

// ---------------------------------------------------------------------------------------------
// Custom authenticators
// ---------------------------------------------------------------------------------------------

#[test]
fn closures_are_authenticators_and_grants_can_be_functions() {
    let by_header =
        |head: &Parts| -> Result<Option<Identity>, AuthError> {
            match head.headers.get("x-team").map(|v| v.to_str()) {
                None => Ok(None),
                Some(Ok(team)) => {
                    let prefix = format!("teams/{team}/");
                    Ok(Some(Identity::default().with_user(team.into()).with_publish(
                        Grant::custom(move |topic: &str| topic.starts_with(&prefix)),
                    )))
                }
                Some(Err(_)) => Err(AuthError::Malformed),
            }
        };
    fn takes_any(authenticator: impl Authenticator) -> Box<dyn Authenticator> {
        Box::new(authenticator)
    }
    let boxed = takes_any(by_header);
    let head = request(http::Request::get("/").header("x-team", "red"));
    let identity = boxed.authenticate(&head).expect("ok").expect("identified");
    assert!(identity.publish.allows("teams/red/score"));
    assert!(!identity.publish.allows("teams/blue/score"));
    assert_eq!(
        boxed.authenticate(&request(http::Request::get("/"))).expect("ok").map(|_| ()),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Over real sockets
// ---------------------------------------------------------------------------------------------

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    format!("http://{addr}")
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(bytes::Bytes::from(body.to_owned()))).expect("request");
    let response = client.request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn cors_app(cors: &CorsConfig) -> axum::Router {
    axum::Router::new()
        .route("/events", axum::routing::get(|| async { "events" }))
        .route("/publish", axum::routing::post(|| async { "published" }))
        .layer(cors.layer())
}

#[tokio::test]
async fn cors_preflight_and_simple_requests_from_listed_origins() {
    let cors = CorsConfig::new()
        .allow_origin(OriginPattern::parse("https://app.example.com").expect("origin"))
        .allow_origin(OriginPattern::parse("http://localhost:*").expect("origin"));
    let base = serve(cors_app(&cors)).await;
    let client = client();

    let (status, headers, _) = send(
        &client,
        Method::OPTIONS,
        &format!("{base}/publish"),
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization, content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"));
    let methods = header(&headers, "access-control-allow-methods").expect("methods").to_lowercase();
    for method in ["get", "head", "post"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&headers, "access-control-allow-headers").expect("headers").to_lowercase();
    for name in ["authorization", "content-type", "last-event-id", "cache-control"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    assert!(header(&headers, "vary").expect("vary").to_lowercase().contains("origin"));

    // A simple request (what an EventSource sends): the origin is echoed, never `*`.
    let (status, headers, body) = send(
        &client,
        Method::GET,
        &format!("{base}/events"),
        &[("origin", "http://localhost:5173"), ("last-event-id", "x")],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "events"));
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("http://localhost:5173"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"));
    assert!(header(&headers, "vary").expect("vary").to_lowercase().contains("origin"));
    assert!(
        header(&headers, "access-control-expose-headers")
            .is_some_and(|h| h.to_lowercase().contains("last-event-id"))
    );
}

#[tokio::test]
async fn cors_says_nothing_to_unlisted_origins() {
    let cors =
        CorsConfig::new().allow_origin(OriginPattern::parse("https://app.example.com").expect("o"));
    let base = serve(cors_app(&cors)).await;
    let client = client();
    let (status, headers, _) = send(
        &client,
        Method::OPTIONS,
        &format!("{base}/publish"),
        &[("origin", "https://evil.example.net"), ("access-control-request-method", "POST")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    let (status, headers, body) = send(
        &client,
        Method::GET,
        &format!("{base}/events"),
        &[("origin", "https://evil.example.net")],
        "",
    )
    .await;
    // The request itself is served (CORS restricts what the page may read, not the server).
    assert_eq!((status, body.as_str()), (StatusCode::OK, "events"));
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    // Caches must still key on Origin, or an allowed origin's answer could be served to others.
    assert!(header(&headers, "vary").expect("vary").to_lowercase().contains("origin"));

    let (_, headers, _) = send(&client, Method::GET, &format!("{base}/events"), &[], "").await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_defaults_allow_no_origin_and_star_drops_credentials() {
    let client = client();
    let closed = serve(cors_app(&CorsConfig::new())).await;
    let (_, headers, _) = send(
        &client,
        Method::GET,
        &format!("{closed}/events"),
        &[("origin", "https://app.example.com")],
        "",
    )
    .await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    let open = serve(cors_app(&CorsConfig::new().allow_origin(OriginPattern::any()))).await;
    for method in [Method::GET, Method::OPTIONS] {
        let (_, headers, _) = send(
            &client,
            method.clone(),
            &format!("{open}/events"),
            &[("origin", "https://anyone.test"), ("access-control-request-method", "GET")],
            "",
        )
        .await;
        assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"), "{method}");
        assert_eq!(header(&headers, "access-control-allow-credentials"), None, "{method}");
    }
}

#[tokio::test]
async fn jwt_protected_publishing_over_http() {
    use tidings_server::api::{ApiConfig, router};
    use tidings_server::{Hub, HubConfig};

    let (key, auth) = hs256();
    let hub = Hub::new(HubConfig::default());
    let base = serve(router(hub, ApiConfig::default().authenticator(auth))).await;
    let client = client();
    let publish = |token: Option<String>| {
        let client = client.clone();
        let url = format!("{base}/publish");
        async move {
            let authorization = token.map(|t| format!("Bearer {t}"));
            let mut headers = vec![("content-type", "application/json")];
            if let Some(value) = authorization.as_deref() {
                headers.push(("authorization", value));
            }
            send(&client, Method::POST, &url, &headers, r#"{"topic": "books/1", "data": "x"}"#)
                .await
                .0
        }
    };
    let now = SystemTime::now();
    let valid = TokenBuilder::new().publish(["books/*"]).ttl(secs(60)).sign_at(&key, now);
    assert_eq!(publish(Some(valid.expect("sign"))).await, StatusCode::OK);
    assert_eq!(publish(None).await, StatusCode::UNAUTHORIZED);
    let expired = TokenBuilder::new().publish(["*"]).ttl(secs(60)).sign_at(&key, now - secs(120));
    assert_eq!(publish(Some(expired.expect("sign"))).await, StatusCode::UNAUTHORIZED);
    let forged = TokenBuilder::publisher().sign(&SigningKey::hs256("guess").expect("key"));
    assert_eq!(publish(Some(forged.expect("sign"))).await, StatusCode::UNAUTHORIZED);
    let elsewhere = TokenBuilder::new().publish(["authors/*"]).sign_at(&key, now);
    assert!(publish(Some(elsewhere.expect("sign"))).await.is_client_error());
}

#[tokio::test]
async fn client_address_from_a_real_connection() {
    use axum::extract::ConnectInfo;
    use axum::http::HeaderMap as Headers;

    let app = |proxies: TrustedProxies| {
        axum::Router::new().route(
            "/ip",
            axum::routing::get(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: Headers| {
                    let client = proxies.client_ip(peer.ip(), &headers).to_string();
                    async move { client }
                },
            ),
        )
    };
    let client = client();
    let spoof = [("x-forwarded-for", "203.0.113.9")];

    let untrusting = serve(app(TrustedProxies::none())).await;
    let (_, _, ip) = send(&client, Method::GET, &format!("{untrusting}/ip"), &spoof, "").await;
    assert_eq!(ip, "127.0.0.1");

    let behind_local_proxy =
        serve(app(TrustedProxies::none().trust(IpNet::parse("127.0.0.0/8").expect("net")))).await;
    let (_, _, ip) =
        send(&client, Method::GET, &format!("{behind_local_proxy}/ip"), &spoof, "").await;
    assert_eq!(ip, "203.0.113.9");
    let (_, _, ip) = send(&client, Method::GET, &format!("{behind_local_proxy}/ip"), &[], "").await;
    assert_eq!(ip, "127.0.0.1");
}

// ---------------------------------------------------------------------------------------------
// Client address
// ---------------------------------------------------------------------------------------------

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    map
}

#[test]
fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let proxies = TrustedProxies::none();
    let spoofed = headers(&[
        ("x-forwarded-for", "10.0.0.1"),
        ("forwarded", "for=10.0.0.1"),
        ("x-real-ip", "10.0.0.1"),
    ]);
    assert_eq!(proxies.client_ip(ip("198.51.100.7"), &spoofed), ip("198.51.100.7"));
    assert_eq!(proxies.client_ip(ip("127.0.0.1"), &spoofed), ip("127.0.0.1"));
    // Dual-stack sockets report IPv4 peers as mapped IPv6.
    assert_eq!(proxies.client_ip(ip("::ffff:198.51.100.7"), &spoofed), ip("198.51.100.7"));
}

#[test]
fn the_walk_stops_at_the_first_untrusted_hop_from_the_right() {
    let proxies = TrustedProxies::none()
        .trust(IpNet::parse("10.0.0.0/8").expect("net"))
        .trust(IpNet::parse("2001:db8:ffff::/48").expect("net"));
    let peer = ip("10.0.0.3");
    let client = |xff: &str| proxies.client_ip(peer, &headers(&[("x-forwarded-for", xff)]));
    assert_eq!(client("203.0.113.7"), ip("203.0.113.7"));
    assert_eq!(client("1.1.1.1, 203.0.113.7, 10.0.0.2"), ip("203.0.113.7"));
    // A client pretending to be behind a trusted proxy gains nothing: the walk stops at itself.
    assert_eq!(client("10.9.9.9, 203.0.113.7"), ip("203.0.113.7"));
    // Only trusted proxies: the leftmost hop is as far as anyone knows.
    assert_eq!(client("10.0.0.5, 10.0.0.4"), ip("10.0.0.5"));
    assert_eq!(client("2001:db8::1, 2001:db8:ffff::2"), ip("2001:db8::1"));
    assert_eq!(client("[2001:db8::1]:4711"), ip("2001:db8::1"));
    assert_eq!(client("203.0.113.7:51234"), ip("203.0.113.7"));
    assert_eq!(client("::ffff:203.0.113.7"), ip("203.0.113.7"));
    // Empty entries are skipped; garbage ends the walk at the last trusted hop.
    assert_eq!(client("203.0.113.7, , 10.0.0.2"), ip("203.0.113.7"));
    assert_eq!(client("203.0.113.7, unknown, 10.0.0.2"), ip("10.0.0.2"));
    assert_eq!(client("203.0.113.7, localhost"), peer);
    assert_eq!(client(""), peer);
    // No header at all: the proxy itself is the client (a health check, say).
    assert_eq!(proxies.client_ip(peer, &HeaderMap::new()), peer);
}

#[test]
fn several_header_lines_form_one_list() {
    let proxies = TrustedProxies::none().trust(IpNet::parse("10.0.0.0/8").expect("net"));
    let lines = headers(&[
        ("x-forwarded-for", "198.51.100.1"),
        ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
    ]);
    assert_eq!(proxies.client_ip(ip("10.0.0.3"), &lines), ip("203.0.113.7"));
    let all_trusted = headers(&[("x-forwarded-for", "10.1.1.1"), ("x-forwarded-for", "10.0.0.9")]);
    assert_eq!(proxies.client_ip(ip("10.0.0.3"), &all_trusted), ip("10.1.1.1"));
    let mut binary = HeaderMap::new();
    binary.append("x-forwarded-for", "203.0.113.7".parse().expect("value"));
    binary.append("x-forwarded-for", http::HeaderValue::from_bytes(b"\xff\xfe").expect("value"));
    assert_eq!(proxies.client_ip(ip("10.0.0.3"), &binary), ip("10.0.0.3"));
}

#[test]
fn the_forwarded_header_when_configured() {
    let proxies = TrustedProxies::none()
        .trust(IpNet::parse("10.0.0.0/8").expect("net"))
        .header(ForwardedHeader::Forwarded);
    let peer = ip("10.0.0.3");
    let client = |value: &str| proxies.client_ip(peer, &headers(&[("forwarded", value)]));
    assert_eq!(
        client(r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#),
        ip("2001:db8:cafe::17")
    );
    assert_eq!(client("for=192.0.2.60, for=10.0.0.2;proto=https"), ip("192.0.2.60"));
    assert_eq!(client("for=192.0.2.60, for=_hidden, for=10.0.0.2"), ip("10.0.0.2"));
    assert_eq!(client("for=unknown"), peer);
    assert_eq!(client("proto=https"), peer);
    // A comma inside a quoted string does not start a new element.
    assert_eq!(client(r#"for="192.0.2.60, for=10.0.0.2""#), peer);
    // Broken syntax: nothing in the line can be attributed to a hop.
    assert_eq!(client(r#"for="192.0.2.60"#), peer);
    // The header the proxies do not write is ignored, whatever it says.
    let spoof = headers(&[("x-forwarded-for", "192.0.2.99")]);
    assert_eq!(proxies.client_ip(peer, &spoof), peer);
    let xff_proxies = TrustedProxies::none().trust(IpNet::parse("10.0.0.0/8").expect("net"));
    assert_eq!(xff_proxies.client_ip(peer, &headers(&[("forwarded", "for=192.0.2.99")])), peer);
}

#[test]
fn ip_nets_parse_defensively() {
    for bad in [
        "",
        "/",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0.0/8/8",
        "10.0.0/8",
        "::/129",
        "10.0.0.0/33",
        "1.2.3.4 /8",
        "zzz",
    ] {
        assert!(IpNet::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        IpNet::parse("10.0.0.0/99999999999999999999"),
        Err(tidings_server::client_addr::IpNetError::InvalidPrefix)
    );
    let net = IpNet::parse("192.0.2.77/24").expect("net");
    assert_eq!(net.to_string(), "192.0.2.0/24");
    assert_eq!(net.prefix_len(), 24);
    assert!(net.contains(ip("::ffff:192.0.2.1")));
    assert!(IpNet::parse("::ffff:192.0.2.1").expect("net").contains(ip("192.0.2.1")));
}
