//! `tidings pub`: flags in, one event published (`tidings::publish` does the work), its id out.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use tidings::publish::{Protocol, Publication, http_client, insecure_http_client};

use crate::Failure;
use crate::config::parse_duration;
use crate::token::{KeyArgs, publisher_token};

/// The flags of `tidings pub`.
#[derive(Debug, clap::Args)]
pub struct PubArgs {
    /// The hub's base URL, e.g. `http://localhost:8080` (or its publish URL itself).
    url: String,

    /// Topic of the event; repeat for more (for Mercure the first is canonical).
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    topics: Vec<String>,

    /// The event data [default: read from stdin].
    #[arg(long, value_name = "DATA", conflicts_with = "data_file")]
    data: Option<String>,

    /// Read the event data from this file (`-` for stdin). One trailing line break of a file
    /// or stdin is dropped.
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,

    /// The SSE event type (`event:`).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,

    /// A custom event id [default: the hub assigns one].
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// Deliver only to subscribers allowed to see private events of the topics.
    #[arg(long)]
    private: bool,

    /// A `retry:` hint for subscribers, e.g. `5s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    retry: Option<std::time::Duration>,

    /// Publish with Mercure's protocol (form POST to `/.well-known/mercure`) instead of the
    /// tidings native `/publish` (JSON).
    #[arg(long)]
    mercure: bool,

    /// Insecure: accept invalid TLS certificates (self-signed, expired, another name). For
    /// development hubs only (`tidings serve --dev-tls`).
    #[arg(long)]
    insecure: bool,

    /// Bearer token allowed to publish (see `tidings token`).
    #[arg(long, value_name = "JWT", conflicts_with_all = ["key", "key_file"])]
    token: Option<String>,

    #[command(flatten)]
    key: KeyArgs,
}

/// One trailing line break is how files and `echo` end text, not part of the data.
fn trim_final_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

fn read_data(args: &PubArgs) -> anyhow::Result<String> {
    if let Some(data) = &args.data {
        return Ok(data.clone());
    }
    let mut bytes = Vec::new();
    match &args.data_file {
        Some(path) if path.as_os_str() != "-" => {
            bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --data-file {}", path.display()))?;
        }
        _ => {
            std::io::stdin().read_to_end(&mut bytes).context("cannot read the data from stdin")?;
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("the event data is not UTF-8"))?;
    Ok(trim_final_newline(text))
}

/// Runs `tidings pub`.
pub fn run(args: &PubArgs) -> Result<(), Failure> {
    let protocol = if args.mercure { Protocol::Mercure } else { Protocol::Native };
    let url = protocol.publish_url(&args.url).map_err(|error| Failure::Config(error.into()))?;
    let token = match (&args.token, args.key.signing_key().map_err(Failure::Config)?) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(key)) => Some(publisher_token(&key).map_err(Failure::Config)?),
        (None, None) => None,
    };
    let data = read_data(args).map_err(Failure::Config)?;
    let mut publication = Publication::new(args.topics.iter().cloned(), data).private(args.private);
    if let Some(event_type) = &args.event_type {
        publication = publication.event_type(event_type.clone());
    }
    if let Some(id) = &args.id {
        publication = publication.id(id.clone());
    }
    if let Some(retry) = args.retry {
        publication = publication.retry(u64::try_from(retry.as_millis()).unwrap_or(u64::MAX));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    let id = runtime
        .block_on(async {
            let client = if args.insecure { insecure_http_client()? } else { http_client()? };
            publication.send(&client, protocol, &url, token.as_deref()).await
        })
        .map_err(|error| Failure::Runtime(error.into()))?;
    println!("{id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::trim_final_newline;

    #[test]
    fn only_one_final_line_break_is_dropped() {
        assert_eq!(trim_final_newline("a\n".into()), "a");
        assert_eq!(trim_final_newline("a\r\n".into()), "a");
        assert_eq!(trim_final_newline("a\n\n".into()), "a\n");
        assert_eq!(trim_final_newline("a\r".into()), "a\r");
    }
}
