//! `tidings`: the SSE hub and its command-line tools. Glue only: configuration and wiring of
//! the library crates (`tidings-server` does the work).

mod admin_token;
mod bench;
mod config;
mod contract_cmd;
mod pub_cmd;
mod serve;
mod sub;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (`serve`: stopped by SIGTERM or Ctrl-C after a graceful shutdown)
  1  runtime failure (for example, the address to listen on is taken)
  2  usage or configuration error (bad flag, unreadable or invalid configuration file,
     invalid value, unusable key or certificate)";

/// Server-Sent Events hub: publish over HTTP, subscribe with EventSource (Mercure-compatible).
#[derive(Debug, Parser)]
#[command(name = "tidings", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub. Without any configuration: on 127.0.0.1:8080, in-memory history, a random
    /// JWT key, and a publisher token printed with curl examples.
    #[command(after_help = EXIT_CODES)]
    Serve(Box<config::ServeArgs>),
    /// Measure a hub from outside: N SSE subscribers, M published events; reports loss,
    /// order, latency and (with --pid) the server's memory and CPU per delivery. Loopback only.
    #[command(after_help = EXIT_CODES)]
    Bench(Box<bench::BenchArgs>),
    /// Subscribe to an SSE stream and print its events; reconnects and resumes like a browser.
    #[command(after_help = sub::EXIT_CODES)]
    Sub(Box<sub::SubArgs>),
    /// Publish one event to a tidings hub (or, with --mercure, any Mercure hub); prints its id.
    #[command(after_help = EXIT_CODES)]
    Pub(Box<pub_cmd::PubArgs>),
    /// Mint a JWT for a hub and print it.
    #[command(after_help = EXIT_CODES)]
    Token(Box<token::TokenArgs>),
    /// Serve the test-service protocol of LaunchDarkly's SSE contract tests on 127.0.0.1,
    /// driving the tidings client, so the official harness can be pointed at it.
    #[command(after_help = EXIT_CODES)]
    ContractService(contract_cmd::ContractArgs),
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
enum Failure {
    /// Exit code 2.
    Config(anyhow::Error),
    /// Exit code 1.
    Runtime(anyhow::Error),
    /// Exit code 3 (`sub --timeout`).
    Timeout(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with success; usage errors exit with 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sub(args) => sub::run(&args),
        Command::Pub(args) => pub_cmd::run(&args),
        Command::Token(args) => token::run(&args),
        Command::ContractService(args) => contract_cmd::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(error)) => {
            eprintln!("tidings: configuration error: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("tidings: {error:#}");
            ExitCode::from(1)
        }
        Err(Failure::Timeout(error)) => {
            eprintln!("tidings: timed out: {error:#}");
            ExitCode::from(3)
        }
    }
}
