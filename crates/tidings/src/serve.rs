//! `tidings serve`: settings in, a running hub out. Builds the library pieces from
//! [`Settings`] (hub, API router, JWT, CORS, TLS, server limits), prints how to use the hub,
//! and serves until SIGTERM or Ctrl-C.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tidings_broker::{QueueLimits, Retention, Selector};
use tidings_server::admin::{self, AdminConfig};
use tidings_server::api::{ApiConfig, mercure_link, router};
use tidings_server::client_addr::{ForwardedHeader, IpNet, TrustedProxies};
use tidings_server::cors::{CorsConfig, OriginPattern};
use tidings_server::jwt::{
    Algorithm, JwtAuthenticator, JwtConfig, SigningKey, TokenBuilder, VerifyingKey, generate_secret,
};
use tidings_server::metrics::{self, MetricsConfig};
use tidings_server::serve::{ServeConfig, Server, TlsConfig, shutdown_signal};
use tidings_server::{Authenticator, Hub, HubConfig};
use tracing_subscriber::filter::Targets;

use crate::Failure;
use crate::admin_token::AdminToken;
use crate::config::{FileConfig, KeySource, ServeArgs, Settings, TlsMode};

/// The topic the first-run examples use.
const EXAMPLE_TOPIC: &str = "greetings";

/// Runs `tidings serve` to the end.
pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(Failure::Config)?,
        None => FileConfig::default(),
    };
    let settings = Settings::resolve(args, &file).map_err(Failure::Config)?;
    if args.print_config {
        let text = settings.to_toml().map_err(Failure::Config)?;
        let _ = std::io::stdout().write_all(text.as_bytes());
        return Ok(());
    }
    let filter = Targets::from_str(&settings.log)
        .map_err(|error| Failure::Config(anyhow!("log: {error}")))?;
    init_logging(filter);
    // Everything that can be checked before binding is checked here, so a configuration error
    // exits with 2 and never leaves a half-started hub.
    let parts = Parts::build(&settings).map_err(Failure::Config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(serve(&settings, parts))
}

fn init_logging(filter: Targets) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Logs go to stderr; stdout carries only what the user asked for (the first-run banner).
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours only for a person at a terminal, not in files or journald.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .try_init();
}

/// The library configuration built from the settings, before anything runs.
struct Parts {
    hub: HubConfig,
    api: ApiConfig,
    metrics: MetricsConfig,
    admin: AdminConfig,
    cors: CorsConfig,
    serve: ServeConfig,
    /// The dev certificate, to write where clients can trust it.
    dev_certificate: Option<String>,
    /// With no JWT key configured: the random key this run signs its publisher token with.
    first_run_key: Option<SigningKey>,
}

impl Parts {
    fn build(settings: &Settings) -> anyhow::Result<Self> {
        let retention = Retention::default()
            .max_events(settings.history_max_events)
            .max_bytes(settings.history_max_bytes)
            .event_ttl(settings.history_max_age);
        let hub = HubConfig::default()
            .retention(retention)
            .keep_alive(settings.keep_alive)
            .retry_hint(settings.retry)
            .max_connections(settings.max_connections)
            .max_lifetime(settings.max_lifetime)
            .write_delay(settings.write_delay)
            .queue_limits(QueueLimits::new(settings.queue_max_events, settings.queue_max_bytes));

        let (jwt, first_run_key) = jwt_config(settings)?;
        let jwt = JwtAuthenticator::new(jwt);
        let mut api = ApiConfig::default()
            .authenticator(jwt.clone())
            .allow_anonymous(settings.anonymous)
            .max_topics(settings.max_topics)
            .max_body(settings.max_body)
            .max_data(settings.max_data)
            .topic_field(settings.topic_field)
            .base64_data(settings.base64_data)
            .subscriptions(settings.subscriptions);
        if let Some(topics) = &settings.allowed_topics {
            let selectors = topics
                .iter()
                .map(|text| {
                    Selector::parse(text)
                        .with_context(|| format!("streams.allowed_topics: {text:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            api = api.allowed_topics(selectors);
        }
        if let Some(url) = &settings.public_url {
            let hub_url = format!("{}/.well-known/mercure", url.trim_end_matches('/'));
            api = api.link_header(mercure_link(&hub_url).context("public_url")?);
        }

        let cors =
            CorsConfig::new().allow_origins(origins("cors.origins", &settings.cors_origins)?);

        if let Some(proxies) = trusted_proxies(settings)? {
            api = api.trusted_proxies(proxies);
        }
        // Admins: JWTs with the `tidings.admin` claim, and the static token if configured.
        let admins: Arc<dyn Authenticator> = match &settings.admin_token {
            Some(token) => Arc::new(AdminToken::new(token.clone(), jwt)),
            None => Arc::new(jwt),
        };
        let mut metrics = MetricsConfig::default()
            .namespace(&settings.metrics_prefix)
            .context("metrics.prefix")?
            .subsystem(&settings.metrics_subsystem)
            .context("metrics.subsystem")?;
        if settings.metrics_admin_only {
            let admins = Arc::clone(&admins);
            metrics =
                metrics.admin_only(move |head: &http::request::Parts| admins.authenticate(head));
        }
        let admin =
            AdminConfig::default().shared_authenticator(admins).node(settings.admin_node.clone());

        let mut serve = ServeConfig::default()
            .header_read_timeout(settings.header_read_timeout)
            .max_header_size(settings.max_header_size)
            .max_sockets(settings.max_sockets)
            .shutdown_timeout(settings.shutdown_timeout)
            .shutdown_retry(settings.shutdown_retry)
            .direct_event_streams(settings.direct_http1);
        let mut dev_certificate = None;
        match &settings.tls {
            TlsMode::Off => {}
            TlsMode::Files { cert, key } => {
                serve = serve.tls(TlsConfig::from_pem_files(cert, key).context("tls")?);
            }
            TlsMode::Dev => {
                let tls =
                    TlsConfig::dev_self_signed(dev_names(&settings.listen)).context("tls.dev")?;
                dev_certificate = tls.dev_certificate_pem().map(str::to_owned);
                serve = serve.tls(tls);
            }
        }
        Ok(Self { hub, api, metrics, admin, cors, serve, dev_certificate, first_run_key })
    }
}

/// The JWT configuration, and the signing key when this run generated one.
fn jwt_config(settings: &Settings) -> anyhow::Result<(JwtConfig, Option<SigningKey>)> {
    let algorithm: Algorithm = settings.jwt_algorithm.parse().context("auth.jwt_algorithm")?;
    let (publisher, first_run_key) = match &settings.jwt_key {
        Some(source) => (verifying_key(source, algorithm).context("auth.jwt_key")?, None),
        None => {
            if !algorithm.is_hmac() {
                bail!("auth.jwt_algorithm {algorithm} needs auth.jwt_key (a PEM public key)");
            }
            let secret = generate_secret().context("generating a JWT key")?;
            let verifying = VerifyingKey::hmac(algorithm, &secret)?;
            (verifying, Some(SigningKey::hmac(algorithm, &secret)?))
        }
    };
    let mut jwt = JwtConfig::new(publisher)
        .publish_origins(origins("auth.publish_origins", &settings.publish_origins)?);
    if let Some(source) = &settings.subscriber_jwt_key {
        let algorithm = match &settings.subscriber_jwt_algorithm {
            Some(name) => name.parse().context("auth.subscriber_jwt_algorithm")?,
            None => algorithm,
        };
        jwt = jwt
            .subscriber_key(verifying_key(source, algorithm).context("auth.subscriber_jwt_key")?);
    }
    Ok((jwt, first_run_key))
}

fn verifying_key(source: &KeySource, algorithm: Algorithm) -> anyhow::Result<VerifyingKey> {
    let mut bytes = match source {
        KeySource::Inline(text) => text.clone().into_bytes(),
        KeySource::File(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
    };
    if algorithm.is_hmac() {
        if matches!(source, KeySource::File(_)) {
            // `echo secret > file` adds a line break that is not part of the secret.
            while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                bytes.pop();
            }
        }
        Ok(VerifyingKey::hmac(algorithm, bytes)?)
    } else {
        Ok(VerifyingKey::from_pem(algorithm, bytes)?)
    }
}

fn origins(key: &str, texts: &[String]) -> anyhow::Result<Vec<OriginPattern>> {
    texts
        .iter()
        .map(|text| OriginPattern::parse(text).with_context(|| format!("{key}: {text:?}")))
        .collect()
}

fn trusted_proxies(settings: &Settings) -> anyhow::Result<Option<TrustedProxies>> {
    if settings.trusted_proxies.is_empty() {
        return Ok(None);
    }
    let nets = settings
        .trusted_proxies
        .iter()
        .map(|text| IpNet::parse(text).with_context(|| format!("proxy.trusted: {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let header = match settings.forwarded_header.as_str() {
        "forwarded" => ForwardedHeader::Forwarded,
        _ => ForwardedHeader::XForwardedFor,
    };
    Ok(Some(TrustedProxies::none().trust_nets(nets).header(header)))
}

/// Names for the development certificate: loopback, plus the listen host when it is a
/// specific one.
fn dev_names(listen: &str) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    let host = listen.rsplit_once(':').map_or(listen, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let unspecified = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    if !host.is_empty() && !unspecified && !names.iter().any(|n| n == host) {
        names.push(host.to_owned());
    }
    names
}

async fn serve(settings: &Settings, parts: Parts) -> Result<(), Failure> {
    let Parts { hub, api, metrics, admin, cors, serve, dev_certificate, first_run_key } = parts;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))
        .map_err(Failure::Runtime)?;
    let hub = Hub::new(hub);
    let mut app = router(hub.clone(), api)
        .merge(metrics::router(hub.clone(), metrics))
        .merge(admin::router(hub.clone(), admin));
    if cors.is_enabled() {
        app = app.layer(cors.layer());
    }
    let tls = serve.is_tls();
    let server = Server::new(listener, serve).hub(hub);
    let addr = server.local_addr().context("listener address").map_err(Failure::Runtime)?;
    let certificate_file = match dev_certificate {
        Some(pem) => Some(write_dev_certificate(addr, &pem).map_err(Failure::Runtime)?),
        None => None,
    };
    let banner = Banner {
        url: base_url(addr, tls),
        certificate_file,
        first_run: match &first_run_key {
            Some(key) => Some(FirstRunTokens::mint(key).map_err(Failure::Runtime)?),
            None => None,
        },
    };
    // A closed stdout (`tidings serve | head -1`) must not stop the hub.
    let _ = banner.write(&mut std::io::stdout().lock());
    let report = server.serve(app, shutdown_signal()).await;
    if report.forced() > 0 {
        tracing::warn!(
            forced = report.forced(),
            "some connections were cut at the shutdown timeout"
        );
    }
    Ok(())
}

/// Writes the development certificate where `curl --cacert` can read it.
fn write_dev_certificate(addr: SocketAddr, pem: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("tidings-dev-cert-{}.pem", addr.port()));
    std::fs::write(&path, pem).with_context(|| {
        format!("cannot write the development certificate to {}", path.display())
    })?;
    Ok(path)
}

/// The URL clients use: the bound address, with loopback for an unspecified one.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    // Name the host `localhost` under TLS too: the development certificate covers it.
    let host = match ip {
        IpAddr::V4(ip) if tls && ip.is_loopback() => "localhost".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("{scheme}://{host}:{}", addr.port())
}

/// The tokens a run without a configured JWT key prints, signed with its random key.
struct FirstRunTokens {
    /// May publish and subscribe to every topic.
    publisher: String,
    /// Opens the admin page and nothing else.
    admin: String,
}

impl FirstRunTokens {
    fn mint(key: &SigningKey) -> anyhow::Result<Self> {
        Ok(Self {
            publisher: TokenBuilder::publisher()
                .sign(key)
                .context("minting the publisher token")?,
            admin: TokenBuilder::new().admin(true).sign(key).context("minting the admin token")?,
        })
    }
}

/// What `tidings serve` prints on stdout once it listens.
struct Banner {
    url: String,
    certificate_file: Option<PathBuf>,
    first_run: Option<FirstRunTokens>,
}

impl Banner {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let url = &self.url;
        let protocols = if self.certificate_file.is_some() || url.starts_with("https") {
            "HTTP/1.1 and HTTP/2 over TLS"
        } else {
            "HTTP/1.1 and HTTP/2"
        };
        writeln!(out, "tidings {} is listening on {url} ({protocols})", env!("CARGO_PKG_VERSION"))?;
        let curl = match &self.certificate_file {
            Some(path) => {
                writeln!(out)?;
                writeln!(out, "Development certificate (self-signed): {}", path.display())?;
                format!("curl --cacert {}", path.display())
            }
            None => "curl".to_owned(),
        };
        writeln!(out)?;
        writeln!(out, "Subscribe:")?;
        writeln!(out)?;
        writeln!(out, "    {curl} -N '{url}/events?topic={EXAMPLE_TOPIC}'")?;
        if let Some(FirstRunTokens { publisher: token, admin }) = &self.first_run {
            writeln!(out)?;
            writeln!(
                out,
                "No JWT key is configured, so this run signs with a random key that lives only in"
            )?;
            writeln!(
                out,
                "this process. Publisher token (may publish and subscribe to every topic):"
            )?;
            writeln!(out)?;
            writeln!(out, "    {token}")?;
            writeln!(out)?;
            writeln!(out, "Publish (in another terminal):")?;
            writeln!(out)?;
            writeln!(
                out,
                "    {curl} -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\"
            )?;
            writeln!(
                out,
                "      -d '{{\"topic\": \"{EXAMPLE_TOPIC}\", \"data\": \"hello\"}}' {url}/publish"
            )?;
            writeln!(out)?;
            writeln!(out, "Admin page (connections and totals, live):")?;
            writeln!(out)?;
            writeln!(out, "    {url}/admin?authorization={admin}")?;
            writeln!(out)?;
            writeln!(out, "Metrics: {url}/metrics    Health: {url}/healthz")?;
            writeln!(out)?;
            writeln!(
                out,
                "Set auth.jwt_key (TIDINGS_JWT_KEY) to keep tokens valid across restarts."
            )?;
        } else {
            writeln!(out)?;
            writeln!(out, "Admin page: {url}/admin (needs an admin token)")?;
            writeln!(out, "Metrics: {url}/metrics    Health: {url}/healthz")?;
            writeln!(out)?;
        }
        writeln!(out, "Stop with Ctrl-C or SIGTERM (graceful: streams are told to come back).")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback_and_tls_uses_localhost() {
        let any4: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let any6: SocketAddr = "[::]:8443".parse().expect("addr");
        assert_eq!(base_url(any4, false), "http://127.0.0.1:8080");
        assert_eq!(base_url(any4, true), "https://localhost:8080");
        assert_eq!(base_url(any6, true), "https://[::1]:8443");
        let lan: SocketAddr = "192.0.2.7:80".parse().expect("addr");
        assert_eq!(base_url(lan, false), "http://192.0.2.7:80");
    }

    #[test]
    fn dev_certificate_names_include_a_specific_listen_host() {
        assert_eq!(dev_names("127.0.0.1:8080").len(), 3);
        assert_eq!(dev_names("0.0.0.0:8080").len(), 3);
        assert!(dev_names("hub.local:8443").contains(&"hub.local".to_owned()));
        assert!(dev_names("[2001:db8::1]:8443").contains(&"2001:db8::1".to_owned()));
    }

    #[test]
    fn first_run_banner_has_the_token_and_copy_paste_examples() {
        let banner = Banner {
            url: "http://127.0.0.1:8080".into(),
            certificate_file: None,
            first_run: Some(FirstRunTokens {
                publisher: "eyJtoken".into(),
                admin: "eyJadmin".into(),
            }),
        };
        let mut out = Vec::new();
        banner.write(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("tidings "), "{text}");
        assert!(text.contains("listening on http://127.0.0.1:8080 "), "{text}");
        assert!(text.contains("\n    eyJtoken\n"), "{text}");
        assert!(text.contains("curl -N 'http://127.0.0.1:8080/events?topic=greetings'"), "{text}");
        assert!(text.contains("-H 'Authorization: Bearer eyJtoken'"), "{text}");
        assert!(text.contains("http://127.0.0.1:8080/publish"), "{text}");
        assert!(
            text.contains("\n    http://127.0.0.1:8080/admin?authorization=eyJadmin\n"),
            "{text}"
        );
    }

    #[test]
    fn a_configured_asymmetric_algorithm_without_a_key_is_an_error() {
        let args = ServeArgs { jwt_algorithm: Some("RS256".into()), ..ServeArgs::default() };
        let settings = Settings::resolve(&args, &FileConfig::default()).expect("settings");
        assert!(Parts::build(&settings).is_err());
    }

    #[test]
    fn no_configuration_generates_a_key_and_a_configured_one_does_not() {
        let settings =
            Settings::resolve(&ServeArgs::default(), &FileConfig::default()).expect("settings");
        assert!(Parts::build(&settings).expect("parts").first_run_key.is_some());
        let args = ServeArgs { jwt_key: Some("configured".into()), ..ServeArgs::default() };
        let settings = Settings::resolve(&args, &FileConfig::default()).expect("settings");
        assert!(Parts::build(&settings).expect("parts").first_run_key.is_none());
    }
}
