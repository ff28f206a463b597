//! `tidings serve` configuration: a TOML file, `TIDINGS_*` environment variables and flags,
//! merged into one [`Settings`]. Flags win over the environment (clap resolves that), the
//! environment over the file, the file over the defaults. A list given by a flag or variable
//! replaces the file's list; it does not extend it.
//!
//! Durations are written `500ms`, `15s`, `2m`, `1h`, `1d` (a bare number is seconds); the
//! optional ones also take `off`. Sizes are bytes, or `64KiB`, `1MiB`, `1GiB` (`KB`, `MB`,
//! `GB` are powers of 1000).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use clap::builder::BoolishValueParser;
use serde::{Deserialize, Serialize};

/// Where `tidings serve` listens without configuration.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The flags of `tidings serve`. Every setting can also come from `TIDINGS_<NAME>` (shown in
/// `--help`) or from the configuration file (the key in brackets).
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "TIDINGS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the effective configuration (secrets redacted) as TOML, and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Address to listen on, e.g. `0.0.0.0:8080` or `[::]:443` [listen; default 127.0.0.1:8080].
    #[arg(long, env = "TIDINGS_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// Log filter: a level, or target=level pairs, e.g. `info,tidings_server=debug`
    /// [log; default info].
    #[arg(long, env = "TIDINGS_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// The hub's public URL, e.g. `https://hub.example.com`; sets Mercure's discovery `Link`
    /// header [public_url; default none].
    #[arg(long, env = "TIDINGS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Most events kept for resuming clients, or `unlimited` [history.max_events; default 1000].
    #[arg(long, env = "TIDINGS_HISTORY_MAX_EVENTS", value_name = "N", help_heading = "History")]
    pub history_max_events: Option<String>,

    /// Most bytes of history, or `unlimited` [history.max_bytes; default 16MiB].
    #[arg(long, env = "TIDINGS_HISTORY_MAX_BYTES", value_name = "SIZE", help_heading = "History")]
    pub history_max_bytes: Option<String>,

    /// Age after which an event is no longer replayed, or `off` [history.max_age; default off].
    #[arg(
        long,
        env = "TIDINGS_HISTORY_MAX_AGE",
        value_name = "DURATION",
        help_heading = "History"
    )]
    pub history_max_age: Option<String>,

    /// Keep-alive comment period, or `off` [streams.keep_alive; default 15s].
    #[arg(long, env = "TIDINGS_KEEP_ALIVE", value_name = "DURATION", help_heading = "Streams")]
    pub keep_alive: Option<String>,

    /// `retry:` hint sent when a stream opens, or `off` [streams.retry; default off].
    #[arg(long, env = "TIDINGS_RETRY", value_name = "DURATION", help_heading = "Streams")]
    pub retry: Option<String>,

    /// Streams end after this long and clients resume, or `off` [streams.max_lifetime;
    /// default off].
    #[arg(long, env = "TIDINGS_MAX_LIFETIME", value_name = "DURATION", help_heading = "Streams")]
    pub max_lifetime: Option<String>,

    /// Let events gather this long before a connection writes them (fewer, larger writes),
    /// or `off` [streams.write_delay; default 1ms].
    #[arg(long, env = "TIDINGS_WRITE_DELAY", value_name = "DURATION", help_heading = "Streams")]
    pub write_delay: Option<String>,

    /// Write HTTP/1.1 event streams directly instead of through hyper's connection (about
    /// 18 KiB less memory per idle subscriber) [streams.direct_http1; default true].
    #[arg(long, env = "TIDINGS_DIRECT_HTTP1", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Streams")]
    pub direct_http1: Option<bool>,

    /// Send a `topic:` line with every event [streams.topic_field; default false].
    #[arg(long, env = "TIDINGS_TOPIC_FIELD", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Streams")]
    pub topic_field: Option<bool>,

    /// Send event data base64-encoded [streams.base64_data; default false].
    #[arg(long, env = "TIDINGS_BASE64_DATA", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Streams")]
    pub base64_data: Option<bool>,

    /// Mercure's subscriptions API and presence events [streams.subscriptions; default false].
    #[arg(long, env = "TIDINGS_SUBSCRIPTIONS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Streams")]
    pub subscriptions: Option<bool>,

    /// Restrict topics to these selectors; repeat, or comma-separate in the variable
    /// [streams.allowed_topics; default any topic].
    #[arg(
        long = "allowed-topic",
        env = "TIDINGS_ALLOWED_TOPICS",
        value_name = "SELECTOR",
        value_delimiter = ',',
        help_heading = "Streams"
    )]
    pub allowed_topics: Option<Vec<String>>,

    /// Most open streams; more are answered 503 [limits.max_connections; default 100000].
    #[arg(long, env = "TIDINGS_MAX_CONNECTIONS", value_name = "N", help_heading = "Limits")]
    pub max_connections: Option<String>,

    /// Most open TCP connections; beyond, new ones wait [limits.max_sockets; default 100000].
    #[arg(long, env = "TIDINGS_MAX_SOCKETS", value_name = "N", help_heading = "Limits")]
    pub max_sockets: Option<String>,

    /// Most topics per subscription or event [limits.max_topics; default 100].
    #[arg(long, env = "TIDINGS_MAX_TOPICS", value_name = "N", help_heading = "Limits")]
    pub max_topics: Option<String>,

    /// Largest event data [limits.max_data; default 512KiB].
    #[arg(long, env = "TIDINGS_MAX_DATA", value_name = "SIZE", help_heading = "Limits")]
    pub max_data: Option<String>,

    /// Largest publish request body [limits.max_body; default 1MiB].
    #[arg(long, env = "TIDINGS_MAX_BODY", value_name = "SIZE", help_heading = "Limits")]
    pub max_body: Option<String>,

    /// Most events queued for one subscriber before its overflow policy applies (it is
    /// disconnected and resumes from history) [limits.queue_max_events; default 1024].
    #[arg(long, env = "TIDINGS_QUEUE_MAX_EVENTS", value_name = "N", help_heading = "Limits")]
    pub queue_max_events: Option<String>,

    /// Most frame bytes queued for one subscriber [limits.queue_max_bytes; default 4MiB].
    #[arg(long, env = "TIDINGS_QUEUE_MAX_BYTES", value_name = "SIZE", help_heading = "Limits")]
    pub queue_max_bytes: Option<String>,

    /// Largest request head; larger is answered 431 [limits.max_header_size; default 64KiB].
    #[arg(long, env = "TIDINGS_MAX_HEADER_SIZE", value_name = "SIZE", help_heading = "Limits")]
    pub max_header_size: Option<String>,

    /// Time for the TLS handshake and a request head (slowloris), or `off`
    /// [limits.header_read_timeout; default 10s].
    #[arg(
        long,
        env = "TIDINGS_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        help_heading = "Limits"
    )]
    pub header_read_timeout: Option<String>,

    /// Longest wait for connections to finish on shutdown [shutdown.timeout; default 10s].
    #[arg(
        long,
        env = "TIDINGS_SHUTDOWN_TIMEOUT",
        value_name = "DURATION",
        help_heading = "Shutdown"
    )]
    pub shutdown_timeout: Option<String>,

    /// `retry:` sent to open streams on shutdown [shutdown.retry; default 2s].
    #[arg(
        long,
        env = "TIDINGS_SHUTDOWN_RETRY",
        value_name = "DURATION",
        help_heading = "Shutdown"
    )]
    pub shutdown_retry: Option<String>,

    /// Accept subscribers without a token (they see public events only) [auth.anonymous;
    /// default true].
    #[arg(long, env = "TIDINGS_ANONYMOUS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Auth")]
    pub anonymous: Option<bool>,

    /// JWT key: the HMAC secret, or a PEM public key for RS/PS/ES/EdDSA [auth.jwt_key;
    /// default a random HMAC secret for this run].
    #[arg(
        long,
        env = "TIDINGS_JWT_KEY",
        value_name = "KEY",
        hide_env_values = true,
        help_heading = "Auth"
    )]
    pub jwt_key: Option<String>,

    /// Read the JWT key from this file (a trailing line break of a secret is dropped)
    /// [auth.jwt_key_file].
    #[arg(long, env = "TIDINGS_JWT_KEY_FILE", value_name = "FILE", help_heading = "Auth")]
    pub jwt_key_file: Option<PathBuf>,

    /// JWT algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA
    /// [auth.jwt_algorithm; default HS256].
    #[arg(long, env = "TIDINGS_JWT_ALGORITHM", value_name = "ALG", help_heading = "Auth")]
    pub jwt_algorithm: Option<String>,

    /// A separate key for subscriber tokens [auth.subscriber_jwt_key; default the JWT key].
    #[arg(
        long,
        env = "TIDINGS_SUBSCRIBER_JWT_KEY",
        value_name = "KEY",
        hide_env_values = true,
        help_heading = "Auth"
    )]
    pub subscriber_jwt_key: Option<String>,

    /// Read the subscriber key from this file [auth.subscriber_jwt_key_file].
    #[arg(
        long,
        env = "TIDINGS_SUBSCRIBER_JWT_KEY_FILE",
        value_name = "FILE",
        help_heading = "Auth"
    )]
    pub subscriber_jwt_key_file: Option<PathBuf>,

    /// The subscriber key's algorithm [auth.subscriber_jwt_algorithm; default the JWT
    /// algorithm].
    #[arg(
        long,
        env = "TIDINGS_SUBSCRIBER_JWT_ALGORITHM",
        value_name = "ALG",
        help_heading = "Auth"
    )]
    pub subscriber_jwt_algorithm: Option<String>,

    /// Origins allowed to publish with the cookie; repeat [auth.publish_origins; default none].
    #[arg(
        long = "publish-origin",
        env = "TIDINGS_PUBLISH_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ',',
        help_heading = "Auth"
    )]
    pub publish_origins: Option<Vec<String>>,

    /// Origins browsers may call the hub from (CORS); repeat, `*` for any (then without
    /// credentials) [cors.origins; default none].
    #[arg(
        long = "cors-origin",
        env = "TIDINGS_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ',',
        help_heading = "Network"
    )]
    pub cors_origins: Option<Vec<String>>,

    /// Proxies trusted to report the client address (address or CIDR); repeat
    /// [proxy.trusted; default none].
    #[arg(
        long = "trusted-proxy",
        env = "TIDINGS_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ',',
        help_heading = "Network"
    )]
    pub trusted_proxies: Option<Vec<String>>,

    /// The header trusted proxies write: x-forwarded-for or forwarded [proxy.header; default
    /// x-forwarded-for].
    #[arg(long, env = "TIDINGS_FORWARDED_HEADER", value_name = "NAME", help_heading = "Network")]
    pub forwarded_header: Option<String>,

    /// TLS certificate chain (PEM) [tls.cert].
    #[arg(long, env = "TIDINGS_TLS_CERT", value_name = "FILE", help_heading = "Network")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) [tls.key].
    #[arg(long, env = "TIDINGS_TLS_KEY", value_name = "FILE", help_heading = "Network")]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a generated self-signed certificate, for development [tls.dev; default
    /// false].
    #[arg(long, env = "TIDINGS_DEV_TLS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Network")]
    pub dev_tls: Option<bool>,

    /// First part of every metric name, empty for none (qsse's namespace) [metrics.prefix;
    /// default tidings].
    #[arg(long, env = "TIDINGS_METRICS_PREFIX", value_name = "PREFIX", help_heading = "Admin")]
    pub metrics_prefix: Option<String>,

    /// Second part of every metric name (qsse's subsystem) [metrics.subsystem; default none].
    #[arg(long, env = "TIDINGS_METRICS_SUBSYSTEM", value_name = "NAME", help_heading = "Admin")]
    pub metrics_subsystem: Option<String>,

    /// Serve /metrics to admins only (per-topic series name topics) [metrics.admin_only;
    /// default false].
    #[arg(long, env = "TIDINGS_METRICS_ADMIN_ONLY", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), help_heading = "Admin")]
    pub metrics_admin_only: Option<bool>,

    /// Node name on the admin page [admin.node; default tidings].
    #[arg(long, env = "TIDINGS_ADMIN_NODE", value_name = "NAME", help_heading = "Admin")]
    pub admin_node: Option<String>,

    /// A static bearer token for /admin and /metrics, besides JWTs with the `tidings.admin`
    /// claim [admin.token; default none].
    #[arg(
        long,
        env = "TIDINGS_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "Admin"
    )]
    pub admin_token: Option<String>,
}

/// A number or text in the file, for keys that take units (`15s`, `64KiB`) or words
/// (`off`, `unlimited`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Raw {
    /// A bare number.
    Number(u64),
    /// Text.
    Text(String),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// The configuration file. Unknown keys are errors, so a typo does not silently leave a
/// default in place.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    #[serde(default)]
    history: HistorySection,
    #[serde(default)]
    streams: StreamsSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    shutdown: ShutdownSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    cors: CorsSection,
    #[serde(default)]
    proxy: ProxySection,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    admin: AdminSection,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct HistorySection {
    max_events: Option<Raw>,
    max_bytes: Option<Raw>,
    max_age: Option<Raw>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StreamsSection {
    keep_alive: Option<Raw>,
    retry: Option<Raw>,
    max_lifetime: Option<Raw>,
    write_delay: Option<Raw>,
    direct_http1: Option<bool>,
    topic_field: Option<bool>,
    base64_data: Option<bool>,
    subscriptions: Option<bool>,
    allowed_topics: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_connections: Option<Raw>,
    max_sockets: Option<Raw>,
    max_topics: Option<Raw>,
    max_data: Option<Raw>,
    max_body: Option<Raw>,
    queue_max_events: Option<Raw>,
    queue_max_bytes: Option<Raw>,
    max_header_size: Option<Raw>,
    header_read_timeout: Option<Raw>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ShutdownSection {
    timeout: Option<Raw>,
    retry: Option<Raw>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    anonymous: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwt_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwt_key_file: Option<PathBuf>,
    jwt_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriber_jwt_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriber_jwt_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriber_jwt_algorithm: Option<String>,
    publish_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CorsSection {
    origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ProxySection {
    trusted: Option<Vec<String>>,
    header: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<PathBuf>,
    dev: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    prefix: Option<String>,
    subsystem: Option<String>,
    admin_only: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AdminSection {
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// The file cannot be read, or is not valid TOML of this shape.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// Not valid TOML of this shape (unknown keys included).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

/// Where a JWT key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key itself.
    Inline(String),
    /// A file holding it.
    File(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// TLS mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Clear text.
    Off,
    /// Certificate chain and key files.
    Files {
        /// Certificate chain (PEM).
        cert: PathBuf,
        /// Private key (PEM).
        key: PathBuf,
    },
    /// A generated self-signed certificate.
    Dev,
}

/// The effective configuration of `tidings serve`: every value known, checked for syntax
/// (keys, selectors and addresses are checked when the hub is built from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub listen: String,
    pub log: String,
    pub public_url: Option<String>,
    pub history_max_events: Option<usize>,
    pub history_max_bytes: Option<usize>,
    pub history_max_age: Option<Duration>,
    pub keep_alive: Option<Duration>,
    pub retry: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub write_delay: Option<Duration>,
    pub direct_http1: bool,
    pub topic_field: bool,
    pub base64_data: bool,
    pub subscriptions: bool,
    pub allowed_topics: Option<Vec<String>>,
    pub max_connections: usize,
    pub max_sockets: usize,
    pub max_topics: usize,
    pub max_data: usize,
    pub max_body: usize,
    pub queue_max_events: usize,
    pub queue_max_bytes: usize,
    pub max_header_size: usize,
    pub header_read_timeout: Option<Duration>,
    pub shutdown_timeout: Duration,
    pub shutdown_retry: Duration,
    pub anonymous: bool,
    pub jwt_key: Option<KeySource>,
    pub jwt_algorithm: String,
    pub subscriber_jwt_key: Option<KeySource>,
    pub subscriber_jwt_algorithm: Option<String>,
    pub publish_origins: Vec<String>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub forwarded_header: String,
    pub tls: TlsMode,
    pub metrics_prefix: String,
    pub metrics_subsystem: String,
    pub metrics_admin_only: bool,
    pub admin_node: String,
    pub admin_token: Option<String>,
}

impl Settings {
    /// Merges flags and environment (`args`, already merged by clap) over `file` over the
    /// defaults.
    ///
    /// # Errors
    /// A value that does not parse (the message names the file key), or two sources of one
    /// key at the same level (a key and a key file).
    pub fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let h = &file.history;
        let s = &file.streams;
        let l = &file.limits;
        let a = &file.auth;
        let tls_dev = args.dev_tls.or(file.tls.dev).unwrap_or(false);
        let tls_cert = args.tls_cert.clone().or_else(|| file.tls.cert.clone());
        let tls_key = args.tls_key.clone().or_else(|| file.tls.key.clone());
        let tls = match (tls_dev, tls_cert, tls_key) {
            (true, None, None) => TlsMode::Dev,
            (true, _, _) => bail!("tls.dev and tls.cert/tls.key exclude each other"),
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (false, None, None) => TlsMode::Off,
            (false, Some(_), None) => bail!("tls.cert is set but tls.key is not"),
            (false, None, Some(_)) => bail!("tls.key is set but tls.cert is not"),
        };
        let forwarded_header = pick_text(&args.forwarded_header, &file.proxy.header)
            .unwrap_or_else(|| "x-forwarded-for".to_owned())
            .to_ascii_lowercase();
        if !matches!(forwarded_header.as_str(), "x-forwarded-for" | "forwarded") {
            bail!("proxy.header: {forwarded_header:?} is neither x-forwarded-for nor forwarded");
        }
        Ok(Self {
            listen: pick_text(&args.listen, &file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            log: pick_text(&args.log, &file.log).unwrap_or_else(|| "info".to_owned()),
            public_url: pick_text(&args.public_url, &file.public_url),
            history_max_events: limit(
                "history.max_events",
                pick(&args.history_max_events, &h.max_events),
                Some(1_000),
                parse_count,
            )?,
            history_max_bytes: limit(
                "history.max_bytes",
                pick(&args.history_max_bytes, &h.max_bytes),
                Some(16 << 20),
                parse_size,
            )?,
            history_max_age: optional_duration(
                "history.max_age",
                pick(&args.history_max_age, &h.max_age),
                None,
            )?,
            keep_alive: optional_duration(
                "streams.keep_alive",
                pick(&args.keep_alive, &s.keep_alive),
                Some(Duration::from_secs(15)),
            )?,
            retry: optional_duration("streams.retry", pick(&args.retry, &s.retry), None)?,
            max_lifetime: optional_duration(
                "streams.max_lifetime",
                pick(&args.max_lifetime, &s.max_lifetime),
                None,
            )?,
            write_delay: optional_duration(
                "streams.write_delay",
                pick(&args.write_delay, &s.write_delay),
                Some(Duration::from_millis(1)),
            )?,
            direct_http1: args.direct_http1.or(s.direct_http1).unwrap_or(true),
            topic_field: args.topic_field.or(s.topic_field).unwrap_or(false),
            base64_data: args.base64_data.or(s.base64_data).unwrap_or(false),
            subscriptions: args.subscriptions.or(s.subscriptions).unwrap_or(false),
            allowed_topics: args.allowed_topics.clone().or_else(|| s.allowed_topics.clone()),
            max_connections: value(
                "limits.max_connections",
                pick(&args.max_connections, &l.max_connections),
                100_000,
                parse_count,
            )?,
            max_sockets: value(
                "limits.max_sockets",
                pick(&args.max_sockets, &l.max_sockets),
                100_000,
                parse_count,
            )?,
            max_topics: value(
                "limits.max_topics",
                pick(&args.max_topics, &l.max_topics),
                100,
                parse_count,
            )?,
            max_data: value(
                "limits.max_data",
                pick(&args.max_data, &l.max_data),
                512 << 10,
                parse_size,
            )?,
            max_body: value(
                "limits.max_body",
                pick(&args.max_body, &l.max_body),
                1 << 20,
                parse_size,
            )?,
            queue_max_events: value(
                "limits.queue_max_events",
                pick(&args.queue_max_events, &l.queue_max_events),
                tidings_broker::DEFAULT_QUEUE_ITEMS,
                parse_count,
            )?,
            queue_max_bytes: value(
                "limits.queue_max_bytes",
                pick(&args.queue_max_bytes, &l.queue_max_bytes),
                tidings_broker::DEFAULT_QUEUE_BYTES,
                parse_size,
            )?,
            max_header_size: value(
                "limits.max_header_size",
                pick(&args.max_header_size, &l.max_header_size),
                64 << 10,
                parse_size,
            )?,
            header_read_timeout: optional_duration(
                "limits.header_read_timeout",
                pick(&args.header_read_timeout, &l.header_read_timeout),
                Some(Duration::from_secs(10)),
            )?,
            shutdown_timeout: value(
                "shutdown.timeout",
                pick(&args.shutdown_timeout, &file.shutdown.timeout),
                Duration::from_secs(10),
                parse_duration,
            )?,
            shutdown_retry: value(
                "shutdown.retry",
                pick(&args.shutdown_retry, &file.shutdown.retry),
                Duration::from_secs(2),
                parse_duration,
            )?,
            anonymous: args.anonymous.or(a.anonymous).unwrap_or(true),
            jwt_key: key_source(
                "auth.jwt_key",
                (&args.jwt_key, &args.jwt_key_file),
                (&a.jwt_key, &a.jwt_key_file),
            )?,
            jwt_algorithm: pick_text(&args.jwt_algorithm, &a.jwt_algorithm)
                .unwrap_or_else(|| "HS256".to_owned()),
            subscriber_jwt_key: key_source(
                "auth.subscriber_jwt_key",
                (&args.subscriber_jwt_key, &args.subscriber_jwt_key_file),
                (&a.subscriber_jwt_key, &a.subscriber_jwt_key_file),
            )?,
            subscriber_jwt_algorithm: pick_text(
                &args.subscriber_jwt_algorithm,
                &a.subscriber_jwt_algorithm,
            ),
            publish_origins: pick_list(&args.publish_origins, &a.publish_origins),
            cors_origins: pick_list(&args.cors_origins, &file.cors.origins),
            trusted_proxies: pick_list(&args.trusted_proxies, &file.proxy.trusted),
            forwarded_header,
            tls,
            metrics_prefix: pick_text(&args.metrics_prefix, &file.metrics.prefix)
                .unwrap_or_else(|| "tidings".to_owned()),
            metrics_subsystem: pick_text(&args.metrics_subsystem, &file.metrics.subsystem)
                .unwrap_or_default(),
            metrics_admin_only: args
                .metrics_admin_only
                .or(file.metrics.admin_only)
                .unwrap_or(false),
            admin_node: pick_text(&args.admin_node, &file.admin.node)
                .unwrap_or_else(|| "tidings".to_owned()),
            admin_token: pick_text(&args.admin_token, &file.admin.token),
        })
    }

    /// The settings as a configuration file, secrets replaced by `<redacted>`.
    ///
    /// # Errors
    /// Serialization failure (not expected: every value is plain data).
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let redacted = || "<redacted>".to_owned();
        let key = |source: &Option<KeySource>| match source {
            Some(KeySource::Inline(_)) => (Some(redacted()), None),
            Some(KeySource::File(path)) => (None, Some(path.clone())),
            None => (None, None),
        };
        let (jwt_key, jwt_key_file) = key(&self.jwt_key);
        let (subscriber_jwt_key, subscriber_jwt_key_file) = key(&self.subscriber_jwt_key);
        let (cert, key) = match &self.tls {
            TlsMode::Files { cert, key } => (Some(cert.clone()), Some(key.clone())),
            TlsMode::Off | TlsMode::Dev => (None, None),
        };
        let count = |n: Option<usize>| {
            Some(n.map_or_else(|| Raw::Text("unlimited".into()), |n| Raw::Number(n as u64)))
        };
        let size_or_unlimited = |n: Option<usize>| {
            Some(n.map_or_else(|| Raw::Text("unlimited".into()), |n| Raw::Text(format_size(n))))
        };
        let file = FileConfig {
            listen: Some(self.listen.clone()),
            log: Some(self.log.clone()),
            public_url: self.public_url.clone(),
            history: HistorySection {
                max_events: count(self.history_max_events),
                max_bytes: size_or_unlimited(self.history_max_bytes),
                max_age: Some(Raw::Text(format_optional_duration(self.history_max_age))),
            },
            streams: StreamsSection {
                keep_alive: Some(Raw::Text(format_optional_duration(self.keep_alive))),
                retry: Some(Raw::Text(format_optional_duration(self.retry))),
                max_lifetime: Some(Raw::Text(format_optional_duration(self.max_lifetime))),
                write_delay: Some(Raw::Text(format_optional_duration(self.write_delay))),
                direct_http1: Some(self.direct_http1),
                topic_field: Some(self.topic_field),
                base64_data: Some(self.base64_data),
                subscriptions: Some(self.subscriptions),
                allowed_topics: self.allowed_topics.clone(),
            },
            limits: LimitsSection {
                max_connections: Some(Raw::Number(self.max_connections as u64)),
                max_sockets: Some(Raw::Number(self.max_sockets as u64)),
                max_topics: Some(Raw::Number(self.max_topics as u64)),
                max_data: Some(Raw::Text(format_size(self.max_data))),
                max_body: Some(Raw::Text(format_size(self.max_body))),
                queue_max_events: Some(Raw::Number(self.queue_max_events as u64)),
                queue_max_bytes: Some(Raw::Text(format_size(self.queue_max_bytes))),
                max_header_size: Some(Raw::Text(format_size(self.max_header_size))),
                header_read_timeout: Some(Raw::Text(format_optional_duration(
                    self.header_read_timeout,
                ))),
            },
            shutdown: ShutdownSection {
                timeout: Some(Raw::Text(format_duration(self.shutdown_timeout))),
                retry: Some(Raw::Text(format_duration(self.shutdown_retry))),
            },
            auth: AuthSection {
                anonymous: Some(self.anonymous),
                jwt_key,
                jwt_key_file,
                jwt_algorithm: Some(self.jwt_algorithm.clone()),
                subscriber_jwt_key,
                subscriber_jwt_key_file,
                subscriber_jwt_algorithm: self.subscriber_jwt_algorithm.clone(),
                publish_origins: Some(self.publish_origins.clone()),
            },
            cors: CorsSection { origins: Some(self.cors_origins.clone()) },
            proxy: ProxySection {
                trusted: Some(self.trusted_proxies.clone()),
                header: Some(self.forwarded_header.clone()),
            },
            tls: TlsSection { cert, key, dev: Some(self.tls == TlsMode::Dev) },
            metrics: MetricsSection {
                prefix: Some(self.metrics_prefix.clone()),
                subsystem: Some(self.metrics_subsystem.clone()),
                admin_only: Some(self.metrics_admin_only),
            },
            admin: AdminSection {
                node: Some(self.admin_node.clone()),
                token: self.admin_token.as_ref().map(|_| redacted()),
            },
        };
        Ok(toml::to_string(&file)?)
    }
}

fn pick(flag: &Option<String>, file: &Option<Raw>) -> Option<Raw> {
    flag.clone().map(Raw::Text).or_else(|| file.clone())
}

fn pick_text(flag: &Option<String>, file: &Option<String>) -> Option<String> {
    flag.clone().or_else(|| file.clone())
}

fn pick_list(flag: &Option<Vec<String>>, file: &Option<Vec<String>>) -> Vec<String> {
    let list = flag.clone().or_else(|| file.clone()).unwrap_or_default();
    list.into_iter().map(|item| item.trim().to_owned()).filter(|item| !item.is_empty()).collect()
}

fn key_source(
    key: &str,
    (flag_key, flag_file): (&Option<String>, &Option<PathBuf>),
    (file_key, file_file): (&Option<String>, &Option<PathBuf>),
) -> anyhow::Result<Option<KeySource>> {
    let level = |inline: &Option<String>, path: &Option<PathBuf>, level: &str| match (inline, path)
    {
        (Some(_), Some(_)) => Err(anyhow!("{key} and {key}_file are both set {level}")),
        (Some(inline), None) => Ok(Some(KeySource::Inline(inline.clone()))),
        (None, Some(path)) => Ok(Some(KeySource::File(path.clone()))),
        (None, None) => Ok(None),
    };
    Ok(level(flag_key, flag_file, "by flags or environment")?.or(level(
        file_key,
        file_file,
        "in the configuration file",
    )?))
}

fn value<T>(
    key: &str,
    raw: Option<Raw>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<T> {
    match raw {
        None => Ok(default),
        Some(raw) => parse(&raw.to_string()).map_err(|why| anyhow!("{key}: {why}")),
    }
}

/// A limit that may be `unlimited`.
fn limit(
    key: &str,
    raw: Option<Raw>,
    default: Option<usize>,
    parse: impl Fn(&str) -> Result<usize, String>,
) -> anyhow::Result<Option<usize>> {
    value(key, raw, default, |text| {
        if text.trim().eq_ignore_ascii_case("unlimited") { Ok(None) } else { parse(text).map(Some) }
    })
}

fn optional_duration(
    key: &str,
    raw: Option<Raw>,
    default: Option<Duration>,
) -> anyhow::Result<Option<Duration>> {
    value(key, raw, default, parse_optional_duration)
}

/// A count: a non-negative integer (`_` separators allowed).
fn parse_count(text: &str) -> Result<usize, String> {
    let digits: String = text.trim().chars().filter(|&c| c != '_').collect();
    digits.parse().map_err(|_| format!("{text:?} is not a count"))
}

/// A size in bytes: a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number = parse_count(number).map_err(|_| format!("{text:?} is not a size"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("{text:?}: unknown size unit {unit:?} (B, KiB, MiB, GiB)")),
    };
    number.checked_mul(factor).ok_or_else(|| format!("{text:?} is too large"))
}

/// A duration: a number with a unit (ms, s, m, h, d); a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number = parse_count(number).map_err(|_| format!("{text:?} is not a duration"))? as u64;
    let millis: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown duration unit {unit:?} (ms, s, m, h, d)")),
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// A duration, or `off` (also `0`) for none.
pub fn parse_optional_duration(text: &str) -> Result<Option<Duration>, String> {
    if matches!(text.trim().to_ascii_lowercase().as_str(), "off" | "none" | "false") {
        return Ok(None);
    }
    let duration = parse_duration(text)?;
    Ok((!duration.is_zero()).then_some(duration))
}

/// The shortest exact spelling `parse_duration` reads back.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if millis != 0 && millis % size == 0 {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

fn format_optional_duration(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "off".to_owned(), format_duration)
}

/// The shortest exact spelling `parse_size` reads back.
pub fn format_size(bytes: usize) -> String {
    for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &ServeArgs, toml: &str) -> Settings {
        Settings::resolve(args, &FileConfig::parse(toml).expect("toml")).expect("settings")
    }

    #[test]
    fn defaults_without_any_configuration() {
        let s = settings(&ServeArgs::default(), "");
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.history_max_events, Some(1_000));
        assert_eq!(s.keep_alive, Some(Duration::from_secs(15)));
        assert_eq!(s.header_read_timeout, Some(Duration::from_secs(10)));
        assert_eq!(s.max_header_size, 64 * 1024);
        assert_eq!(s.write_delay, Some(Duration::from_millis(1)));
        assert!(s.direct_http1);
        assert_eq!((s.queue_max_events, s.queue_max_bytes), (1024, 4 << 20));
        assert!(s.anonymous);
        assert_eq!(s.jwt_key, None);
        assert_eq!(s.tls, TlsMode::Off);
        assert!(s.cors_origins.is_empty() && s.trusted_proxies.is_empty());
    }

    #[test]
    fn queue_bounds_come_from_the_file_or_flags() {
        let file = "[limits]\nqueue_max_events = 8192\nqueue_max_bytes = \"16MiB\"\n";
        let s = settings(&ServeArgs::default(), file);
        assert_eq!((s.queue_max_events, s.queue_max_bytes), (8192, 16 << 20));
        let args = ServeArgs { queue_max_events: Some("100".into()), ..ServeArgs::default() };
        assert_eq!(settings(&args, file).queue_max_events, 100);
        let bad = ServeArgs { queue_max_bytes: Some("lots".into()), ..ServeArgs::default() };
        assert!(Settings::resolve(&bad, &FileConfig::default()).is_err());
    }

    #[test]
    fn write_delay_and_the_direct_http1_path_come_from_the_file_or_flags() {
        let file = "[streams]\nwrite_delay = \"5ms\"\ndirect_http1 = false\n";
        let s = settings(&ServeArgs::default(), file);
        assert_eq!(s.write_delay, Some(Duration::from_millis(5)));
        assert!(!s.direct_http1);
        let args = ServeArgs {
            write_delay: Some("off".into()),
            direct_http1: Some(true),
            ..ServeArgs::default()
        };
        let s = settings(&args, file);
        assert_eq!(s.write_delay, None);
        assert!(s.direct_http1);
        assert!(
            Settings::resolve(
                &ServeArgs { write_delay: Some("soon".into()), ..ServeArgs::default() },
                &FileConfig::default()
            )
            .is_err()
        );
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:1".into()),
            keep_alive: Some("off".into()),
            cors_origins: Some(vec!["https://flag.test".into()]),
            anonymous: Some(true),
            ..ServeArgs::default()
        };
        let file = r#"
            listen = "127.0.0.1:2"
            [streams]
            keep_alive = "30s"
            retry = 1
            [cors]
            origins = ["https://file.test", "https://other.test"]
            [auth]
            anonymous = false
            jwt_algorithm = "ES256"
        "#;
        let s = settings(&args, file);
        assert_eq!(s.listen, "0.0.0.0:1");
        assert_eq!(s.keep_alive, None);
        assert_eq!(s.retry, Some(Duration::from_secs(1)), "from the file");
        assert_eq!(s.cors_origins, ["https://flag.test"], "a flag list replaces the file's");
        assert!(s.anonymous);
        assert_eq!(s.jwt_algorithm, "ES256");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let error = FileConfig::parse("[limits]\nmax_conections = 5\n").expect_err("typo");
        assert!(error.to_string().contains("max_conections"), "{error}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let file = FileConfig::parse("[history]\nmax_age = \"5 fortnights\"\n").expect("toml");
        let error = Settings::resolve(&ServeArgs::default(), &file).expect_err("bad duration");
        assert!(error.to_string().starts_with("history.max_age:"), "{error}");
    }

    #[test]
    fn a_key_and_a_key_file_at_one_level_conflict_but_a_higher_level_wins() {
        let file =
            FileConfig::parse("[auth]\njwt_key = \"a\"\njwt_key_file = \"b\"\n").expect("toml");
        assert!(Settings::resolve(&ServeArgs::default(), &file).is_err());
        let file = FileConfig::parse("[auth]\njwt_key_file = \"from-file\"\n").expect("toml");
        let args = ServeArgs { jwt_key: Some("from-flag".into()), ..ServeArgs::default() };
        let s = Settings::resolve(&args, &file).expect("settings");
        assert_eq!(s.jwt_key, Some(KeySource::Inline("from-flag".into())));
    }

    #[test]
    fn tls_needs_both_files_or_dev_mode_alone() {
        assert!(
            Settings::resolve(
                &ServeArgs::default(),
                &FileConfig::parse("[tls]\ncert = \"c\"\n").expect("toml")
            )
            .is_err()
        );
        let both = settings(&ServeArgs::default(), "[tls]\ncert = \"c\"\nkey = \"k\"\n");
        assert_eq!(both.tls, TlsMode::Files { cert: "c".into(), key: "k".into() });
        let dev = ServeArgs { dev_tls: Some(true), ..ServeArgs::default() };
        assert_eq!(settings(&dev, "").tls, TlsMode::Dev);
        assert!(
            Settings::resolve(
                &dev,
                &FileConfig::parse("[tls]\ncert = \"c\"\nkey = \"k\"\n").expect("toml")
            )
            .is_err()
        );
    }

    #[test]
    fn sizes_and_durations_parse_and_format_back() {
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1_000"), Ok(1_000));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_optional_duration("off"), Ok(None));
        assert_eq!(parse_optional_duration("0"), Ok(None));
        for d in [1, 999, 1_000, 90_000, 3_600_000, 86_400_000].map(Duration::from_millis) {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        for n in [0, 1, 1023, 1024, 1536, 1 << 20, 3 << 30] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }

    #[test]
    fn printed_configuration_reads_back_to_the_same_settings_without_secrets() {
        let args = ServeArgs {
            jwt_key: Some("s3cret".into()),
            admin_token: Some("adm1n".into()),
            history_max_events: Some("unlimited".into()),
            ..ServeArgs::default()
        };
        let s = settings(&args, "[limits]\nmax_body = \"3MiB\"\n");
        let printed = s.to_toml().expect("toml");
        assert!(!printed.contains("s3cret") && !printed.contains("adm1n"), "{printed}");
        let mut back = settings(&ServeArgs::default(), &printed);
        // Secrets come back as the placeholder; everything else is the same.
        back.jwt_key = s.jwt_key.clone();
        back.admin_token = s.admin_token.clone();
        assert_eq!(back, s);
    }
}
