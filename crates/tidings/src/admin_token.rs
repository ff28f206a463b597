//! The `admin.token` setting: a static bearer token that opens the admin endpoints, accepted
//! beside JWTs with the `tidings.admin` claim.

use tidings_server::jwt::{JwtAuthenticator, find_token};
use tidings_server::{AuthError, Authenticator, Identity};

/// Admin identity for requests that carry the configured static token (where the hub looks for
/// any token: `Authorization: Bearer`, the `authorization` query parameter, the cookie); every
/// other request is up to the JWT authenticator.
#[derive(Clone)]
pub struct AdminToken {
    token: String,
    jwt: JwtAuthenticator,
}

impl AdminToken {
    pub fn new(token: String, jwt: JwtAuthenticator) -> Self {
        Self { token, jwt }
    }
}

impl Authenticator for AdminToken {
    fn authenticate(&self, head: &http::request::Parts) -> Result<Option<Identity>, AuthError> {
        if let Ok(Some(found)) = find_token(head, self.jwt.config().cookie_name_str()) {
            if same_secret(found.token.as_bytes(), self.token.as_bytes()) {
                return Ok(Some(Identity::default().with_admin(true)));
            }
        }
        self.jwt.authenticate(head)
    }
}

/// Compares without an early exit on the first differing byte, so response times do not tell
/// an attacker how much of a guess was right (only the length leaks).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use tidings_server::jwt::{JwtConfig, SigningKey, TokenBuilder, VerifyingKey};

    use super::*;

    const SECRET: &str = "a jwt secret that is long enough for HS256";

    fn auth() -> AdminToken {
        let jwt = JwtAuthenticator::new(JwtConfig::new(VerifyingKey::hs256(SECRET).expect("key")));
        AdminToken::new("static-admin".into(), jwt)
    }

    fn head(uri: &str, bearer: Option<&str>) -> http::request::Parts {
        let mut request = http::Request::get(uri);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn the_static_token_is_an_admin_in_the_header_or_the_query() {
        let by_header = auth().authenticate(&head("/admin", Some("static-admin")));
        assert!(by_header.expect("ok").expect("identified").admin);
        let by_query = auth().authenticate(&head("/admin?authorization=static-admin", None));
        assert!(by_query.expect("ok").expect("identified").admin);
    }

    #[test]
    fn other_tokens_go_to_the_jwt_authenticator() {
        let key = SigningKey::hs256(SECRET).expect("key");
        let admin_jwt = TokenBuilder::new().admin(true).sign(&key).expect("token");
        let identity = auth().authenticate(&head("/admin", Some(&admin_jwt))).expect("ok");
        assert!(identity.expect("identified").admin);
        let plain_jwt = TokenBuilder::publisher().sign(&key).expect("token");
        let identity = auth().authenticate(&head("/admin", Some(&plain_jwt))).expect("ok");
        assert!(!identity.expect("identified").admin);
        assert!(auth().authenticate(&head("/admin", Some("static-admin-but-longer"))).is_err());
        assert!(auth().authenticate(&head("/admin", None)).expect("ok").is_none());
    }

    #[test]
    fn secrets_compare_by_every_byte() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
