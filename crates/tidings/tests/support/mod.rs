//! Shared by the client-side tests: the built binary with a clean environment, and a running
//! hub with a known JWT key so tests can mint tokens.

#![allow(dead_code)] // each test file uses a different part

use std::process::Stdio;
use std::time::Duration;

use tidings_server::jwt::{SigningKey, TokenBuilder};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const PATIENCE: Duration = Duration::from_secs(15);

/// The HMAC secret every test hub verifies tokens with.
pub const KEY: &str = "client-tests-secret";

/// The binary, with no `TIDINGS_*` variable from the caller's environment.
pub fn tidings() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidings"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TIDINGS_") {
            command.env_remove(name);
        }
    }
    command.kill_on_drop(true);
    command
}

/// A `tidings serve` process on a free loopback port; killed when dropped.
pub struct Hub {
    pub url: String,
    _child: Child,
}

impl Hub {
    /// Starts a hub with [`KEY`] and `extra` flags, and waits until it listens.
    pub async fn start(extra: &[&str]) -> Self {
        let mut child = tidings()
            .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
            .args(extra)
            .env("TIDINGS_JWT_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tidings serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if let Some(rest) = line.split(" is listening on ").nth(1) {
                    return rest.split(' ').next().expect("a URL").to_owned();
                }
            }
            panic!("the hub exited before listening");
        })
        .await
        .expect("the hub listens in time");
        // Keep reading so the hub never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { url, _child: child }
    }
}

/// A token that may publish and subscribe everywhere, signed with [`KEY`].
pub fn publisher_token() -> String {
    TokenBuilder::publisher()
        .ttl(Duration::from_secs(600))
        .sign(&SigningKey::hs256(KEY).expect("key"))
        .expect("token")
}
