//! `pms-sync-sandbox`: a local Buildium-compatible API with sample residents, for trying pms-sync
//! without a Buildium account (README "Try it locally"). Edit the data file while it runs: the next
//! sync sees the change.
//!
//!     pms-sync-sandbox --data examples/sandbox/residents.yaml --addr 127.0.0.1:18090
//!
//! Credentials it accepts come from `--client-id` / `--client-secret` (or the environment).

#[path = "../../tests/support/buildium_fake.rs"]
mod buildium_fake;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pms-sync-sandbox", about = "A local Buildium-compatible API serving residents from a YAML file")]
struct Args {
    /// YAML file with the properties, leases and tenants to serve; reloaded when it changes.
    #[arg(long, env = "SANDBOX_DATA")]
    data: PathBuf,
    /// Address to listen on (loopback by default).
    #[arg(long, env = "SANDBOX_ADDR", default_value = "127.0.0.1:18090")]
    addr: SocketAddr,
    /// The client ID requests must carry in `x-buildium-client-id`.
    #[arg(long, env = "SANDBOX_CLIENT_ID", default_value = "sandbox-client")]
    client_id: String,
    /// The secret requests must carry in `x-buildium-client-secret`.
    #[arg(long, env = "SANDBOX_CLIENT_SECRET", default_value = "sandbox-secret")]
    client_secret: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.data) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.data.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let data: buildium_fake::Dataset = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{} is not a sandbox dataset: {e}", args.data.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let fake = buildium_fake::BuildiumFake::start_on(
        args.addr,
        data,
        &args.client_id,
        &args.client_secret,
        Some(args.data.clone()),
    )
    .await;
    eprintln!("[sandbox] Buildium-compatible API on {} serving {}", fake.url(), args.data.display());
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
