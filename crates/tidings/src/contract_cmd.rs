//! `tidings contract-service`: the SSE contract-test harness's test service on loopback
//! (`tidings::contract` does the work).

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use tidings::contract::ContractService;

use crate::Failure;

/// The flags of `tidings contract-service`.
#[derive(Debug, clap::Args)]
pub struct ContractArgs {
    /// Port to listen on, on 127.0.0.1 (0 picks a free one, printed on stdout).
    #[arg(long, value_name = "PORT", default_value_t = 8000)]
    port: u16,
}

/// Runs `tidings contract-service` until the harness sends `DELETE /` or Ctrl-C.
pub fn run(args: &ContractArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let service = ContractService::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
            .map_err(Failure::Runtime)?;
        println!("tidings contract-service is listening on http://{}", service.local_addr());
        let stop = service.shutdown_token();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        });
        service.run().await.context("the contract service failed").map_err(Failure::Runtime)
    })
}
