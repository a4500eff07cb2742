//! `pms-sync-sandbox`: a local Buildium-compatible API with sample residents, and a local
//! DOOR-compatible partner API for the same building, for trying pms-sync without either account
//! (README "Try it locally"). Edit the data file while it runs: the next sync sees the change.
//!
//!     pms-sync-sandbox --data examples/sandbox/residents.yaml --addr 127.0.0.1:18090 --door-addr 127.0.0.1:18093
//!
//! Buildium credentials it accepts come from `--client-id` / `--client-secret` (or the
//! environment); DOOR's are those of `examples/sandbox/buildium-door.yaml`. The DOOR building has a
//! PRIVATE door per unit of the data file as it was at start.

use pms_sync_fakes::{buildium_fake, door_fake};

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
    /// Address of the DOOR-compatible partner API (token endpoint at `/v1/oauth/token`).
    #[arg(long, env = "SANDBOX_DOOR_ADDR", default_value = "127.0.0.1:18093")]
    door_addr: SocketAddr,
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
    let mut units: Vec<String> = data.properties.iter().flat_map(|p| p.leases.iter().map(|l| l.unit.clone())).collect();
    units.sort_unstable();
    units.dedup();
    let door =
        door_fake::DoorFake::start_on(args.door_addr, &units.iter().map(String::as_str).collect::<Vec<_>>()).await;
    door.with(|d| d.max_page = 100);
    let fake = buildium_fake::BuildiumFake::start_on(
        args.addr,
        data,
        &args.client_id,
        &args.client_secret,
        Some(args.data.clone()),
    )
    .await;
    eprintln!("[sandbox] Buildium-compatible API on {} serving {}", fake.url(), args.data.display());
    eprintln!("[sandbox] DOOR-compatible partner API on {} ({} unit doors)", door.url(), units.len());
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
