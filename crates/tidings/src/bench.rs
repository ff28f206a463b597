//! `tidings bench`: flags in, a load run (`tidings-bench` does the work), a summary out.

use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::ValueEnum;
use tidings_bench::{BenchConfig, BenchError};
use tidings_server::jwt::{SigningKey, TokenBuilder};

use crate::Failure;

/// Which hub's URLs and publish body to start from; the explicit flags override them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// tidings: `GET :8080/events?topic=<channel>`, `POST :8080/publish` with JSON.
    Tidings,
    /// nchan (`../shared/peers/nchan.sh`): `GET :8081/sub/<channel>`, `POST :8081/pub/<channel>`
    /// with the data as the body.
    Nchan,
    /// pushpin (`../shared/peers/pushpin.sh`): `GET :7999/sub/<channel>`, `POST
    /// :5561/publish/` with a GRIP `http-stream` item.
    Pushpin,
}

/// The flags of `tidings bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Start from this hub's URLs, body and headers.
    #[arg(long, value_enum, default_value = "tidings")]
    preset: Preset,

    /// Topic or channel name used by the preset.
    #[arg(long, default_value = "bench", value_name = "NAME")]
    channel: String,

    /// Subscribe URL (http, loopback only) [default: the preset's].
    #[arg(long, value_name = "URL")]
    subscribe_url: Option<String>,

    /// Publish URL (http, loopback only) [default: the preset's].
    #[arg(long, value_name = "URL")]
    publish_url: Option<String>,

    /// Publish method.
    #[arg(long, default_value = "POST")]
    method: String,

    /// Publish body, with `{data}` where the event data goes [default: the preset's].
    #[arg(long, value_name = "TEMPLATE")]
    body: Option<String>,

    /// Extra header on subscribe requests, `Name: value`; repeat for more.
    #[arg(long = "subscribe-header", value_name = "HEADER")]
    subscribe_headers: Vec<String>,

    /// Extra header on publish requests, `Name: value`; repeat for more.
    #[arg(long = "publish-header", value_name = "HEADER")]
    publish_headers: Vec<String>,

    /// HS256 secret the hub verifies tokens with (`tidings serve --jwt-key`); a publisher
    /// token signed with it is sent on publish requests.
    #[arg(long, value_name = "SECRET", hide_env_values = true)]
    jwt_key: Option<String>,

    /// Subscriber connections (one TCP connection each).
    #[arg(long, short = 'n', default_value_t = 100)]
    connections: usize,

    /// Events to publish.
    #[arg(long, short = 'm', default_value_t = 1000)]
    events: u64,

    /// Events per second; without it, as fast as the server answers.
    #[arg(long, short = 'r', value_name = "PER_SECOND")]
    rate: Option<f64>,

    /// Most publish requests in flight (pipelined on one connection, in order) [default: 1
    /// without --rate, 1000 with it].
    #[arg(long, value_name = "N")]
    publish_window: Option<u64>,

    /// Bytes of data per event.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    data_size: usize,

    /// New connections per second at most.
    #[arg(long, default_value_t = 2000.0, value_name = "PER_SECOND")]
    connect_rate: f64,

    /// Connections waiting for their response head at once, at most.
    #[arg(long, default_value_t = 200, value_name = "N")]
    connect_concurrency: usize,

    /// Seconds a connect or a publish request may take.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    timeout: f64,

    /// Seconds between the last connection and the first publish (idle memory is read then).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    settle: f64,

    /// Seconds to wait for missing deliveries after the last publish.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    drain_timeout: f64,

    /// Seconds the whole run may take (at most 3600).
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    max_duration: f64,

    /// Server process ids whose RSS and CPU time to read from /proc (repeat or comma-separate).
    #[arg(long = "pid", value_delimiter = ',', value_name = "PID")]
    pids: Vec<u32>,

    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,

    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Runs `tidings bench` to the end.
pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    let config = config(args).map_err(Failure::Config)?;
    let summary = match tidings_bench::run(&config) {
        Ok(summary) => summary,
        Err(error @ (BenchError::NoConnection { .. } | BenchError::Io { .. })) => {
            return Err(Failure::Runtime(error.into()));
        }
        Err(error) => return Err(Failure::Config(error.into())),
    };
    if args.json {
        println!("{}", summary.to_json());
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn config(args: &BenchArgs) -> anyhow::Result<BenchConfig> {
    let channel = &args.channel;
    let (subscribe, publish, body, content_type) = match args.preset {
        Preset::Tidings => (
            format!("http://127.0.0.1:8080/events?topic={channel}"),
            "http://127.0.0.1:8080/publish".to_owned(),
            format!(r#"{{"topic":"{channel}","data":"{{data}}"}}"#),
            Some("application/json"),
        ),
        Preset::Nchan => (
            format!("http://127.0.0.1:8081/sub/{channel}"),
            format!("http://127.0.0.1:8081/pub/{channel}"),
            "{data}".to_owned(),
            None,
        ),
        Preset::Pushpin => (
            format!("http://127.0.0.1:7999/sub/{channel}"),
            "http://127.0.0.1:5561/publish/".to_owned(),
            // `\n` stays a JSON escape: pushpin writes the content, line breaks included.
            format!(
                r#"{{"items":[{{"channel":"{channel}","formats":{{"http-stream":{{"content":"data: {{data}}\n\n"}}}}}}]}}"#
            ),
            Some("application/json"),
        ),
    };
    let seconds = |name: &str, value: f64| {
        Duration::try_from_secs_f64(value).map_err(|_| anyhow!("--{name}: not a number of seconds"))
    };
    let mut config = BenchConfig::new(
        args.subscribe_url.clone().unwrap_or(subscribe),
        args.publish_url.clone().unwrap_or(publish),
    )
    .method(&args.method)
    .body_template(args.body.clone().unwrap_or(body))
    .connections(args.connections)
    .events(args.events)
    .rate(args.rate)
    .publish_window(args.publish_window)
    .data_size(args.data_size)
    .connect_rate(args.connect_rate)
    .connect_concurrency(args.connect_concurrency)
    .timeout(seconds("timeout", args.timeout)?)
    .settle(seconds("settle", args.settle)?)
    .drain_timeout(seconds("drain-timeout", args.drain_timeout)?)
    .max_duration(seconds("max-duration", args.max_duration)?)
    .server_pids(args.pids.clone())
    .progress(!args.quiet);
    let has_content_type =
        args.publish_headers.iter().any(|h| h.to_ascii_lowercase().starts_with("content-type:"));
    if let (Some(content_type), false) = (content_type, has_content_type) {
        config = config.publish_header("Content-Type", content_type);
    }
    for header in &args.subscribe_headers {
        let (name, value) = split_header(header)?;
        config = config.subscribe_header(name, value);
    }
    for header in &args.publish_headers {
        let (name, value) = split_header(header)?;
        config = config.publish_header(name, value);
    }
    if let Some(secret) = &args.jwt_key {
        let key = SigningKey::hs256(secret).context("--jwt-key")?;
        let token = TokenBuilder::publisher().sign(&key).context("minting the publisher token")?;
        config = config.publish_header("Authorization", format!("Bearer {token}"));
    }
    Ok(config)
}

fn split_header(header: &str) -> anyhow::Result<(&str, &str)> {
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| anyhow!("header {header:?}: expected `Name: value`"))?;
    Ok((name.trim(), value.trim()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(flags: &[&str]) -> BenchArgs {
        Wrap::try_parse_from(std::iter::once("bench").chain(flags.iter().copied()))
            .expect("flags")
            .args
    }

    #[test]
    fn presets_fill_urls_and_body_and_flags_override_them() {
        let c = config(&parse(&["--preset", "nchan", "-n", "7"])).expect("config");
        assert_eq!(c.connection_count(), 7);
        let text = format!("{c:?}");
        assert!(text.contains("http://127.0.0.1:8081/sub/bench"), "{text}");
        assert!(text.contains("http://127.0.0.1:8081/pub/bench"), "{text}");

        let c = config(&parse(&["--preset", "pushpin", "--channel", "c1"])).expect("config");
        let text = format!("{c:?}");
        assert!(text.contains(r#"\"channel\":\"c1\""#), "{text}");
        assert!(text.contains(r"data: {data}\\n\\n"), "{text}");

        let c = config(&parse(&[
            "--subscribe-url",
            "http://127.0.0.1:9/s",
            "--publish-header",
            "content-type: text/plain",
            "--jwt-key",
            "secret-secret-secret-secret-secret",
        ]))
        .expect("config");
        let text = format!("{c:?}");
        assert!(text.contains("http://127.0.0.1:9/s"), "{text}");
        assert!(!text.contains("application/json"), "an explicit content type wins: {text}");
        assert!(text.contains("Bearer ey"), "{text}");
    }

    #[test]
    fn bad_headers_and_durations_are_configuration_errors() {
        assert!(config(&parse(&["--publish-header", "no colon"])).is_err());
        assert!(config(&parse(&["--settle=-1"])).is_err());
    }
}
