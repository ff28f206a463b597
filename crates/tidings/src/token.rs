//! `tidings token`: mint a JWT for a hub (`tidings_server::jwt::TokenBuilder` does the work),
//! and the signing-key flags `tidings pub --key` shares.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tidings_server::jwt::{Algorithm, SigningKey, TokenBuilder};

use crate::Failure;
use crate::config::parse_optional_duration;

/// The key to sign with: the hub's HMAC secret, or the PEM private key matching its public key.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// Signing key: the hub's HMAC secret (`tidings serve --jwt-key`), or a PEM private key
    /// for RS/PS/ES/EdDSA.
    #[arg(long, value_name = "KEY", conflicts_with = "key_file")]
    pub key: Option<String>,

    /// Read the signing key from this file (a trailing line break of a secret is dropped).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// JWT algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA.
    #[arg(long, value_name = "ALG", default_value = "HS256")]
    pub alg: String,
}

impl KeyArgs {
    /// The signing key, `None` when neither `--key` nor `--key-file` was given.
    pub fn signing_key(&self) -> anyhow::Result<Option<SigningKey>> {
        let algorithm: Algorithm =
            self.alg.parse().with_context(|| format!("--alg {:?}", self.alg))?;
        let text = match (&self.key, &self.key_file) {
            (Some(key), _) => key.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --key-file {}", path.display()))?;
                if text.contains("-----BEGIN") {
                    text
                } else {
                    // Editors end files with a line break that is not part of the secret.
                    text.strip_suffix('\n')
                        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
                        .unwrap_or(&text)
                        .to_owned()
                }
            }
            (None, None) => return Ok(None),
        };
        let key = if text.contains("-----BEGIN") {
            SigningKey::from_pem(algorithm, text.as_bytes())
        } else {
            SigningKey::hmac(algorithm, text.as_bytes())
        };
        key.map(Some).context("unusable signing key")
    }
}

/// The flags of `tidings token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    key: KeyArgs,

    /// Topic selector the holder may publish to (`mercure.publish`); repeat for more, `*` for
    /// all.
    #[arg(long, value_name = "SELECTOR")]
    publish: Vec<String>,

    /// Topic selector whose private events the holder may receive (`mercure.subscribe`);
    /// repeat for more.
    #[arg(long, value_name = "SELECTOR")]
    subscribe: Vec<String>,

    /// Lifetime (`exp`), e.g. `15m`, `1h`, `7d`; `off` for a token that never expires.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    ttl: Ttl,

    /// Subject (`sub`): the user events addressed to a user reach.
    #[arg(long, value_name = "USER")]
    sub: Option<String>,

    /// Grant the admin endpoints (`tidings.admin`).
    #[arg(long)]
    admin: bool,

    /// Data attached to the holder's subscriptions (`mercure.payload`), as JSON.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,

    /// Issuer (`iss`).
    #[arg(long, value_name = "ISSUER")]
    iss: Option<String>,

    /// Audience (`aud`); repeat for more.
    #[arg(long, value_name = "AUDIENCE")]
    aud: Vec<String>,
}

/// A token lifetime, `None` for no `exp` (a newtype: clap reads a bare `Option` as "flag may
/// be absent").
#[derive(Debug, Clone, Copy)]
struct Ttl(Option<Duration>);

fn parse_ttl(text: &str) -> Result<Ttl, String> {
    parse_optional_duration(text).map(Ttl)
}

/// Mints a publisher token for one request of `tidings pub`: allowed to publish anywhere (the
/// key's holder could mint that anyway), and valid for a minute only.
pub fn publisher_token(key: &SigningKey) -> anyhow::Result<String> {
    TokenBuilder::new()
        .publish(["*"])
        .ttl(Duration::from_secs(60))
        .sign(key)
        .context("cannot sign the token")
}

/// Runs `tidings token`.
pub fn run(args: &TokenArgs) -> Result<(), Failure> {
    let key = args
        .key
        .signing_key()
        .map_err(Failure::Config)?
        .ok_or_else(|| Failure::Config(anyhow!("--key or --key-file is required")))?;
    let mut builder = TokenBuilder::new();
    if !args.publish.is_empty() {
        builder = builder.publish(args.publish.iter().cloned());
    }
    if !args.subscribe.is_empty() {
        builder = builder.subscribe(args.subscribe.iter().cloned());
    }
    if let Ttl(Some(ttl)) = args.ttl {
        builder = builder.ttl(ttl);
    }
    if let Some(subject) = &args.sub {
        builder = builder.subject(subject.clone());
    }
    if let Some(payload) = &args.payload {
        let payload = serde_json::from_str(payload)
            .context("--payload is not valid JSON")
            .map_err(Failure::Config)?;
        builder = builder.payload(payload);
    }
    if let Some(issuer) = &args.iss {
        builder = builder.issuer(issuer.clone());
    }
    for audience in &args.aud {
        builder = builder.audience(audience.clone());
    }
    let token = builder.admin(args.admin).sign(&key).context("cannot mint the token");
    let token = token.map_err(Failure::Config)?;
    println!("{token}");
    Ok(())
}
