//! The `pms-sync` binary: `controller` runs the controller, `crd` prints the CRD, `plan` computes
//! a plan without writing, and `sync`, `approve`, `get`, `suspend`, `resume` operate integrations
//! in a cluster (`pms_sync::commands`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use pms_sync::commands;
use pms_sync::controller::{self, Settings};
use pms_sync::metrics::Metrics;
use pms_sync::plan_command::Output;
use pms_sync::telemetry::{self, LogFormat};
use tokio::sync::watch;

/// mimalloc: planning a large portfolio allocates and frees many small strings, where glibc's
/// allocator spends most of its time consolidating (see `benches/plan.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a stop waits for running syncs before abandoning them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

#[derive(Parser)]
#[command(
    name = "pms-sync",
    version,
    about = "Keeps access-control platforms in step with Property Management Systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (kubeconfig: in-cluster, then KUBECONFIG, then ~/.kube/config).
    Controller(ControllerArgs),
    /// Print the PmsIntegration CustomResourceDefinition as YAML.
    Crd,
    /// Compute and print the plan for one PmsIntegration without writing anything.
    /// Exit code: 0 no changes, 2 changes pending, 1 error.
    Plan(PlanArgs),
    /// Request a sync of one PmsIntegration now. With --wait, wait for it and print the outcome.
    /// Exit code (with --wait): 0 Ready, 1 failed or timed out, 2 deprovisioning held for approval.
    Sync(SyncArgs),
    /// Show the deprovisioning a PmsIntegration holds and approve exactly that plan.
    Approve(ApproveArgs),
    /// List PmsIntegrations: ready, reason, last and next sync, held deprovisioning.
    Get(GetArgs),
    /// Rebuild the lost DOOR identity map of a PmsIntegration (Ready=False, StateLost) from DOOR
    /// and the PMS: shows the plan, then saves it and requests a sync after confirmation.
    Recover(RecoverArgs),
    /// Stop a PmsIntegration's calls (spec.enabled: false); everything it made stays.
    Suspend(NameArgs),
    /// Resume a suspended PmsIntegration (spec.enabled: true).
    Resume(NameArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct NameArgs {
    /// The PmsIntegration's name.
    name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

impl NameArgs {
    fn target(self) -> pms_sync::commands::Target {
        pms_sync::commands::Target { name: self.name, namespace: self.namespace }
    }
}

#[derive(clap::Args)]
struct SyncArgs {
    #[command(flatten)]
    target: NameArgs,
    /// Wait until the controller handled the request, and print the outcome.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: std::time::Duration,
}

#[derive(clap::Args)]
struct ApproveArgs {
    #[command(flatten)]
    target: NameArgs,
    /// Approve without asking.
    #[arg(long)]
    yes: bool,
}

#[derive(clap::Args)]
struct RecoverArgs {
    #[command(flatten)]
    target: NameArgs,
    /// Our partner UUID in DOOR, when the building's grants come from several partners.
    #[arg(long)]
    granter: Option<String>,
    /// Save without asking.
    #[arg(long)]
    yes: bool,
    /// Namespace of the controller's state, where the DOOR identity maps are kept.
    #[arg(long, env = "STATE_NAMESPACE", default_value = pms_sync::controller::DEFAULT_STATE_NAMESPACE)]
    state_namespace: String,
}

#[derive(clap::Args)]
struct GetArgs {
    /// Namespace to list (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// List every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    controller::validate::parse_duration(text).ok_or_else(|| "not a duration such as 5m or 90s".into())
}

#[derive(clap::Args)]
struct PlanArgs {
    /// YAML file holding the PmsIntegration (other documents in it are ignored).
    #[arg(short = 'f', long = "filename")]
    file: std::path::PathBuf,
    /// Read the referenced Secrets from DIR/<secret name>/<key> (a mounted Secret's layout)
    /// instead of the cluster.
    #[arg(long = "secrets", value_name = "DIR")]
    secrets: Option<std::path::PathBuf>,
    /// Namespace of the integration (default: metadata.namespace, else "default").
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Namespace of the controller's state, where the DOOR identity maps are read from.
    #[arg(long, env = "STATE_NAMESPACE", default_value = pms_sync::controller::DEFAULT_STATE_NAMESPACE)]
    state_namespace: String,
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Address of the webhook receivers (`POST <status.webhookPath>`).
    #[arg(long, env = "RECEIVER_ADDR", default_value = pms_sync::receiver::DEFAULT_ADDR)]
    receiver_addr: SocketAddr,
    /// Webhook connections open at once; at the limit a new one evicts the oldest still waiting
    /// for its headers. Each must send its headers within 5 s and its whole request within 10 s.
    #[arg(long, env = "RECEIVER_MAX_CONNECTIONS", default_value_t = pms_sync::receiver::server::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u16).range(1..))]
    receiver_max_connections: u16,
    /// Also accept the first release's untimed webhook signatures (`X-Signature: sha256=…`),
    /// which can be replayed: for one release, while senders move to `t=…,v1=…`.
    #[arg(long, env = "RECEIVER_LEGACY_SIGNATURES", default_value_t = false)]
    receiver_legacy_signatures: bool,
    /// Watch only these namespaces, comma-separated (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE", value_delimiter = ',')]
    watch_namespace: Vec<String>,
    /// Integrations reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Syncs running at once against one vendor host (default: half of --concurrency, at least
    /// 1), so that a slow vendor leaves workers for the others.
    #[arg(long, env = "HOST_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..))]
    host_concurrency: Option<u16>,
    /// Serve only shard i of K (`i/K`, from 0): the integrations whose UID hashes to i modulo K.
    /// K controllers with 0/K … K-1/K together serve every integration exactly once.
    #[arg(long, env = "SHARD")]
    shard: Option<controller::Shard>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// Only reconcile PmsIntegrations matching this label selector (e.g. `shard=a`), so several
    /// controllers can share the work.
    #[arg(long, env = "LABEL_SELECTOR")]
    selector: Option<String>,
    /// Seconds over which scheduled syncs due at start are spread (0 = none).
    #[arg(long, env = "STARTUP_SPREAD_SECONDS", default_value_t = 60)]
    startup_spread_seconds: u64,
    /// Hold a Lease before reconciling, so that of several replicas exactly one is active.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "LEADER_ELECT_LEASE", default_value = "pms-sync-leader")]
    leader_elect_lease: String,
    /// Namespace of the leader Lease (in a cluster: the controller's own, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_elect_namespace: String,
    /// Lease duration in seconds: a standby takes over at most this long after the leader stops.
    #[arg(long, env = "LEADER_ELECT_LEASE_SECONDS", default_value_t = 15)]
    leader_elect_lease_seconds: u64,
    /// With leader election: label this replica's pod (POD_NAME, in POD_NAMESPACE)
    /// `pmssync.io/leader=true` while it leads, for the receiver Service to select on (needs
    /// `patch` on pods in that namespace; the chart grants it).
    #[arg(long, env = "LEADER_ELECT_LABEL_POD", default_value_t = false)]
    leader_elect_label_pod: bool,
    /// This instance's name in events and in the Lease (in a cluster: the pod name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
    /// Namespace of the controller's own state (DOOR identity maps), where tenants cannot write
    /// (default: the controller's namespace, POD_NAMESPACE).
    #[arg(long, env = "STATE_NAMESPACE")]
    state_namespace: Option<String>,
    /// Longest one sync may run (e.g. 15m): then it stops, reports SyncIncomplete and frees its
    /// slot for other integrations.
    #[arg(long, env = "SYNC_DEADLINE", default_value = "15m", value_parser = parse_deadline)]
    sync_deadline: std::time::Duration,
    /// Largest response body read from a PMS or destination, in MiB; a larger one fails the call
    /// (the property, for a PMS) with a clear reason instead of exhausting memory.
    #[arg(long, env = "MAX_BODY_MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_body_mib: u32,
    /// Runs kept in each integration's `status.history` (newest first).
    #[arg(long, env = "HISTORY_LIMIT", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=50))]
    history_limit: u16,
    /// How far before the PMS's clock (its Date header) the next incremental read starts: the
    /// margin against clock skew (e.g. 5m; 1s to 1h). Changes inside it are read twice, never missed.
    #[arg(long, env = "WATERMARK_OVERLAP", default_value = "5m", value_parser = parse_overlap)]
    watermark_overlap: std::time::Duration,
}

fn parse_overlap(text: &str) -> Result<std::time::Duration, String> {
    duration_within(text, (1, "1s"), (3600, "1h"), "5m or 30s")
}

fn parse_deadline(text: &str) -> Result<std::time::Duration, String> {
    duration_within(text, (30, "30s"), (24 * 3600, "24h"), "15m or 1h")
}

/// A duration flag from `min` to `max` seconds (each with how it is written), `examples` naming
/// valid values for the error.
fn duration_within(
    text: &str,
    (min, min_text): (u64, &str),
    (max, max_text): (u64, &str),
    examples: &str,
) -> Result<std::time::Duration, String> {
    let d = controller::validate::parse_duration(text).ok_or(format!("not a duration such as {examples}"))?;
    if d < std::time::Duration::from_secs(min) || d > std::time::Duration::from_secs(max) {
        return Err(format!("between {min_text} and {max_text}"));
    }
    Ok(d)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", pms_sync::crd_yaml());
            std::process::ExitCode::SUCCESS
        }
        Command::Plan(args) => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            let args = pms_sync::plan_command::PlanArgs {
                file: args.file,
                secrets_dir: args.secrets,
                namespace: args.namespace,
                output: args.output,
                state_namespace: args.state_namespace,
            };
            std::process::ExitCode::from(runtime.block_on(pms_sync::plan_command::run(args)))
        }
        Command::Controller(args) => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            runtime.block_on(run_controller(args))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "pms-sync", &mut std::io::stdout());
            std::process::ExitCode::SUCCESS
        }
        Command::Sync(a) => block_on(commands::sync(a.target.target(), a.wait, a.timeout)),
        Command::Approve(a) => block_on(commands::approve(a.target.target(), a.yes)),
        Command::Get(a) => block_on(commands::get(a.namespace, a.all_namespaces)),
        Command::Recover(a) => block_on(pms_sync::recover_command::run(pms_sync::recover_command::RecoverArgs {
            target: a.target.target(),
            granter: a.granter,
            yes: a.yes,
            state_namespace: a.state_namespace,
        })),
        Command::Suspend(a) => block_on(commands::set_enabled(a.target(), false)),
        Command::Resume(a) => block_on(commands::set_enabled(a.target(), true)),
    }
}

/// Runs an operator command to its exit code.
fn block_on(work: impl std::future::Future<Output = u8>) -> std::process::ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    std::process::ExitCode::from(runtime.block_on(work))
}

async fn run_controller(args: ControllerArgs) -> std::process::ExitCode {
    telemetry::init(args.log_format);
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(error = %error, "no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.metrics_addr).await {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(error = %error, addr = %args.metrics_addr, "cannot listen on the metrics address");
            return std::process::ExitCode::FAILURE;
        }
    };
    let receiver_listener = match tokio::net::TcpListener::bind(args.receiver_addr).await {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(error = %error, addr = %args.receiver_addr, "cannot listen on the receiver address");
            return std::process::ExitCode::FAILURE;
        }
    };
    let metrics = Metrics::default();
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing running syncs");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server =
        tokio::spawn(pms_sync::server::serve(listener, metrics.clone(), ready.clone(), stopped(stop_rx.clone())));
    let registry = Arc::new(pms_sync::receiver::Registry::default());
    registry.set_legacy_signatures(args.receiver_legacy_signatures);
    let limits = pms_sync::receiver::server::Limits {
        max_connections: usize::from(args.receiver_max_connections),
        ..Default::default()
    };
    let router = pms_sync::receiver::router(registry.clone());
    let receiver = pms_sync::receiver::server::serve(receiver_listener, router, limits, stopped(stop_rx.clone()));
    tokio::spawn(async move {
        if let Err(error) = receiver.await {
            tracing::error!(error = %error, "webhook receiver failed");
        }
    });
    let settings = Settings {
        watch_namespaces: args.watch_namespace,
        concurrency: args.concurrency,
        host_concurrency: usize::from(args.host_concurrency.unwrap_or((args.concurrency / 2).max(1))),
        shard: args.shard,
        label_selector: args.selector,
        startup_spread: std::time::Duration::from_secs(args.startup_spread_seconds),
        leader_election: args.leader_elect.then(|| controller::LeaderElection {
            lease_name: args.leader_elect_lease.clone(),
            namespace: args.leader_elect_namespace.clone(),
            identity: args.instance.clone().unwrap_or_else(|| format!("pms-sync-{:08x}", fastrand::u32(..))),
            lease_duration: std::time::Duration::from_secs(args.leader_elect_lease_seconds),
            renew_grace: std::time::Duration::from_secs((args.leader_elect_lease_seconds / 3).max(1)),
            pod: args.instance.clone().filter(|_| args.leader_elect_label_pod),
        }),
        instance: args.instance.clone(),
        sync_deadline: args.sync_deadline,
        history_limit: usize::from(args.history_limit),
        watermark_overlap: args.watermark_overlap,
        state_namespace: args.state_namespace.clone().unwrap_or_else(|| args.leader_elect_namespace.clone()),
        http: pms_sync::http::HttpSettings {
            max_body_bytes: args.max_body_mib as usize * 1024 * 1024,
            ..Default::default()
        },
        receiver: registry,
        ..Settings::default()
    };
    // A stop lets running syncs finish (each call is bounded by its timeouts); if they have not after
    // the grace period, or the controller is still waiting for its CRD, it is abandoned: every
    // sync is idempotent, so the next start converges.
    let grace = stopped(stop_rx.clone());
    let mut leader_lost = false;
    tokio::select! {
        kept = controller::run(client, settings, metrics, ready, stopped(stop_rx)) => leader_lost = !kept,
        _ = async move { grace.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "shutdown grace period over; abandoning running syncs");
        }
    }
    if leader_lost {
        // Restarted by Kubernetes, the process comes back as a standby.
        return std::process::ExitCode::FAILURE;
    }
    match server.await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(error)) => {
            tracing::error!(error = %error, addr = %args.metrics_addr, "metrics server failed");
            std::process::ExitCode::FAILURE
        }
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
