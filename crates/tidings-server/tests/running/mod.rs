//! A server under test on 127.0.0.1:0, shared by the `serve_*` and `ops_*` support modules
//! (each includes this file with `#[path]`).

use std::net::SocketAddr;

use tidings_server::Hub;
use tidings_server::serve::{ServeConfig, ServeReport, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and the handles to stop and inspect it. Dropping it starts the graceful
/// shutdown.
pub struct Running {
    pub addr: SocketAddr,
    pub hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    pub serving: JoinHandle<ServeReport>,
}

impl Running {
    /// Completes the shutdown future.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// `http://` + the server's address + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `app` on 127.0.0.1:0 with `config`, shutting `hub` down with the server.
pub async fn serve(config: ServeConfig, hub: Hub, app: axum::Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = Server::new(listener, config).hub(hub.clone());
    let addr = server.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(app, async {
        let _ = stopped.await;
    }));
    Running { addr, hub, stop: Some(stop), serving }
}
