//! `tidings sub`: flags in, a `tidings-client` stream out, events printed as they arrive.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use futures_util::StreamExt as _;
use tidings_client::{ClientItem, Disconnect, Event, EventSource, HubKind};

use crate::Failure;
use crate::config::parse_duration;

/// Exit codes of `tidings sub`, shown by its `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success: --max-events reached, the server answered 204 (\"stop\"), or stdout was closed
     (e.g. `| head -1`)
  1  fatal error: a status other than 200/204, a content type other than text/event-stream,
     an invalid redirect, or the reconnection limits reached
  2  usage error (bad flag, invalid URL or header)
  3  --timeout elapsed";

/// The flags of `tidings sub`.
#[derive(Debug, clap::Args)]
pub struct SubArgs {
    /// The stream URL; with --topic, the hub's base URL (e.g. `http://localhost:8080`).
    url: String,

    /// Subscribe to this topic selector on a tidings hub (`{url}/events?topic=…`, or Mercure's
    /// route with --mercure); repeat for more.
    #[arg(long, value_name = "SELECTOR")]
    topic: Vec<String>,

    /// With --topic: use the Mercure route (`{url}/.well-known/mercure?topic=…`).
    #[arg(long, requires = "topic")]
    mercure: bool,

    /// Print one JSON object per line: `{"event": type, "data": text, "id": last event id}`.
    #[arg(long)]
    json: bool,

    /// Extra request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// Resume after this event id (sent as `Last-Event-ID` on the first request).
    #[arg(long, value_name = "ID")]
    last_event_id: Option<String>,

    /// Send `Authorization: Bearer <JWT>` (see `tidings token`).
    #[arg(long, value_name = "JWT")]
    token: Option<String>,

    /// Exit with success after this many events.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,

    /// Give up after this long overall, e.g. `30s`, and exit with code 3.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// Reconnect when nothing (not even a keep-alive) arrived for this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    read_timeout: Option<Duration>,

    /// Initial reconnection delay, until the server sends `retry:` [default: 3s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    retry: Option<Duration>,

    /// Insecure: accept invalid TLS certificates (self-signed, expired, another name). For
    /// development servers only.
    #[arg(long)]
    insecure: bool,

    /// Speak HTTP/2 without negotiating it (h2c on `http://` URLs).
    #[arg(long)]
    http2_prior_knowledge: bool,

    /// Print no connection notices (connected, reconnecting, gaps) on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// How the stream ended, when it did not fail.
enum End {
    /// --max-events reached, a 204, the stream closed, or stdout closed.
    Done,
    /// --timeout elapsed.
    TimedOut,
}

/// One event as `--json` prints it.
#[derive(serde::Serialize)]
struct JsonEvent<'a> {
    event: &'a str,
    data: &'a str,
    id: &'a str,
}

/// The text printed for one event: a JSON line, or the event in SSE form (the fields that are
/// set, then a blank line), which reads well and can be fed to another SSE parser.
fn render(event: &Event, json: bool) -> String {
    if json {
        let line = JsonEvent { event: event.event_type(), data: event.data(), id: event.id() };
        // Serialising three strings cannot fail.
        return serde_json::to_string(&line).unwrap_or_default() + "\n";
    }
    let mut text = String::new();
    if !event.id().is_empty() {
        text.push_str(&format!("id: {}\n", event.id()));
    }
    if event.event_type() != "message" {
        text.push_str(&format!("event: {}\n", event.event_type()));
    }
    for line in event.data().split('\n') {
        text.push_str(&format!("data: {line}\n"));
    }
    text.push('\n');
    text
}

fn builder(args: &SubArgs) -> anyhow::Result<tidings_client::EventSourceBuilder> {
    let mut builder = if args.topic.is_empty() {
        EventSource::builder(&args.url)
    } else if args.mercure {
        EventSource::mercure_hub(&args.url, &args.topic)
    } else {
        EventSource::tidings_hub(&args.url, &args.topic)
    };
    // Validate the URL now, so a bad one is a usage error rather than a failed stream.
    if args.topic.is_empty() {
        url::Url::parse(&args.url).with_context(|| format!("invalid URL {:?}", args.url))?;
    } else {
        HubKind::Tidings.subscribe_url(&args.url, &args.topic).context("invalid hub URL")?;
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow!("header {header:?} is not `Name: value`"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    if let Some(id) = &args.last_event_id {
        builder = builder.last_event_id(id);
    }
    if let Some(token) = &args.token {
        builder = builder.bearer_token(token);
    }
    if let Some(timeout) = args.read_timeout {
        builder = builder.read_timeout(timeout);
    }
    if let Some(retry) = args.retry {
        builder = builder.retry(retry);
    }
    if args.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if args.http2_prior_knowledge {
        builder = builder.http2_prior_knowledge();
    }
    Ok(builder)
}

/// Writes to stdout; `Ok(false)` when the reader went away (a closed pipe ends `sub` quietly).
fn print(text: &str) -> anyhow::Result<bool> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error).context("cannot write to stdout"),
    }
}

/// Resolves when stdout is a pipe or socket whose reader has gone (the kernel reports an
/// error condition on it); never for files, terminals, or when the check is unavailable.
async fn stdout_closed() {
    #[cfg(unix)]
    {
        use tokio::io::Interest;
        use tokio::io::unix::AsyncFd;
        // Registering fails for regular files and `/dev/null`, which have no reader to lose.
        // `with_interest` is deprecated because the registered descriptor could be closed
        // under it; stdout's descriptor stays open for the whole process (nothing here closes
        // it), which is the invariant its safe replacement (an `unsafe fn`) asks for.
        #[allow(deprecated)]
        let registered = AsyncFd::with_interest(std::io::stdout(), Interest::ERROR);
        if let Ok(stdout) = registered {
            if stdout.ready(Interest::ERROR).await.is_ok() {
                return;
            }
        }
    }
    std::future::pending::<()>().await;
}

async fn follow(mut source: EventSource, args: &SubArgs) -> Result<End, Failure> {
    let notice = |text: String| {
        if !args.quiet {
            eprintln!("tidings sub: {text}");
        }
    };
    let mut received = 0u64;
    if args.max_events == Some(0) {
        return Ok(End::Done);
    }
    // A reader that went away while no event arrives must end `sub` too (`| head -1` after
    // the last event of a quiet stream), not only a failed write.
    let closed = stdout_closed();
    tokio::pin!(closed);
    loop {
        let item = tokio::select! {
            biased;
            item = source.next() => item,
            () = &mut closed => return Ok(End::Done),
        };
        let Some(item) = item else { break };
        match item {
            Ok(ClientItem::Event(event)) => {
                if !print(&render(&event, args.json)).map_err(Failure::Runtime)? {
                    return Ok(End::Done);
                }
                received += 1;
                if args.max_events.is_some_and(|max| received >= max) {
                    return Ok(End::Done);
                }
            }
            Ok(ClientItem::Open(open)) => {
                notice(format!("connected to {} ({:?})", open.url, open.version))
            }
            Ok(ClientItem::Reconnecting(reconnecting)) => {
                let reason = match &reconnecting.reason {
                    Disconnect::Eof => "the server ended the stream".to_owned(),
                    Disconnect::ReadTimeout => "read timeout".to_owned(),
                    Disconnect::Error(error) => format!("{:#}", anyhow::Error::new(error.clone())),
                    other => format!("{other:?}"),
                };
                notice(format!("{reason}; reconnecting in {:?}", reconnecting.delay));
            }
            Ok(ClientItem::Gap(gap)) => {
                notice(format!("the hub lost events ({:?}, missed {:?})", gap.reason, gap.missed));
            }
            Ok(ClientItem::EventError(error)) => notice(format!("an event was lost: {error}")),
            Ok(ClientItem::Stopped(_)) => {
                notice("the server answered 204: not reconnecting".to_owned());
                return Ok(End::Done);
            }
            Ok(_) => {}
            Err(error) => return Err(Failure::Runtime(anyhow::Error::new(error))),
        }
    }
    Ok(End::Done)
}

/// Runs `tidings sub`.
pub fn run(args: &SubArgs) -> Result<(), Failure> {
    let source = builder(args).and_then(|builder| Ok(builder.build()?)).map_err(Failure::Config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    let end = runtime.block_on(async {
        match args.timeout {
            Some(limit) => {
                tokio::time::timeout(limit, follow(source, args)).await.unwrap_or(Ok(End::TimedOut))
            }
            None => follow(source, args).await,
        }
    })?;
    match end {
        End::Done => Ok(()),
        End::TimedOut => Err(Failure::Timeout(anyhow!(
            "no end after {}",
            args.timeout.map(|limit| format!("{limit:?}")).unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(wire: &[u8]) -> Event {
        let mut decoder = tidings_codec::Decoder::new();
        decoder.push(wire);
        let item = decoder.next_item().expect("decodes").expect("an item");
        Event::new(item.into_event().expect("an event"))
    }

    #[test]
    fn json_lines_name_message_for_untyped_events_and_escape_line_breaks() {
        let line = render(&event(b"id: 7\ndata: a\ndata: b\n\n"), true);
        assert_eq!(line, "{\"event\":\"message\",\"data\":\"a\\nb\",\"id\":\"7\"}\n");
        let line = render(&event(b"event: tick\ndata:\n\n"), true);
        assert_eq!(line, "{\"event\":\"tick\",\"data\":\"\",\"id\":\"\"}\n");
    }

    #[test]
    fn plain_output_is_the_event_in_sse_form() {
        assert_eq!(
            render(&event(b"id: 7\nevent: t\ndata: a\ndata: b\n\n"), false),
            "id: 7\nevent: t\ndata: a\ndata: b\n\n"
        );
        assert_eq!(render(&event(b"data: x\n\n"), false), "data: x\n\n");
    }
}
