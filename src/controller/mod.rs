//! The `PmsIntegration` controller: kube-runtime wiring and the reconcile pipeline.
//!
//! reconcile = gate (enabled?) → dereference Secrets → validate (spec, provider, every Secret
//! key) → due? → build connector and destination (cannot fail) → sync (fetch → plan → apply, in
//! `crate::sync`) → status and events.
//! Every step but the Kubernetes reads and writes is a pure or Kubernetes-free function.

pub mod budgets;
pub mod build;
pub mod deactivation_store;
pub mod dereference;
pub mod due;
pub mod identity_store;
pub mod lease;
pub mod relay;
pub mod shard;
pub mod state_map;
pub mod status;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::api::{APPROVE_DEPROVISION_ANNOTATION, PmsIntegration, PmsIntegrationStatus, REQUESTED_AT_ANNOTATION};
use crate::conditions::{self, Reason};
use crate::destination::door::TokenCache;
use crate::domain::Scope;
use crate::http::{HttpClient, HttpSettings};
use crate::metrics::Metrics;
use crate::receiver::{Pending, Registry};
use crate::sync::{self, SyncReport};
use due::{Due, Observed};
pub use shard::Shard;
use status::{Acknowledgement, Failure};
use validate::Validated;

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "pms-sync";

/// Tunables of the controller process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Only watch these namespaces (all namespaces when empty).
    pub watch_namespaces: Vec<String>,
    /// Integrations reconciled at once.
    pub concurrency: u16,
    /// Syncs running at once against one vendor host (`budgets::HostSlots`): below
    /// `concurrency`, so a slow vendor leaves workers for the others.
    pub host_concurrency: usize,
    /// Serve only this shard of the integrations (`--shard i/K`).
    pub shard: Option<Shard>,
    /// PMS calls in flight per integration.
    pub fetch_concurrency: usize,
    /// Destination writes in flight per integration.
    pub write_concurrency: usize,
    pub http: HttpSettings,
    /// Only integrations with these labels (a Kubernetes label selector), to shard the work
    /// between several controllers.
    pub label_selector: Option<String>,
    /// Scheduled syncs that are due when the controller starts are spread over this window, so a
    /// restart does not call every PMS at once. Requested and changed integrations are not delayed.
    pub startup_spread: Duration,
    /// Run only while holding this Lease (several replicas, one active).
    pub leader_election: Option<LeaderElection>,
    /// Names this instance in events (`reportingInstance`); the pod name in a cluster.
    pub instance: Option<String>,
    /// Namespace of the controller's own state (DOOR identity maps): the controller's namespace,
    /// where tenants cannot write.
    pub state_namespace: String,
    /// Longest one sync may run: then it stops, reports `SyncIncomplete` and frees its slot, so a
    /// vendor that answers slowly forever cannot hold a worker.
    pub sync_deadline: Duration,
    /// Runs kept in `status.history` (newest first).
    pub history_limit: usize,
    /// How long a sync runs before its `Reconciling` condition is written: a quicker sync costs
    /// one status write, not two.
    pub reconciling_after: Duration,
    /// How far before the PMS's clock an incremental read's next watermark is set: the margin
    /// against clock skew and against changes stamped while a read was under way.
    pub watermark_overlap: Duration,
    /// The webhook receivers of the integrations this controller serves (`crate::receiver`),
    /// shared with the receiver's HTTP server.
    pub receiver: Arc<Registry>,
}

/// Default [`Settings::history_limit`].
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// Default [`Settings::reconciling_after`]: most syncs of a building take a few seconds.
pub const DEFAULT_RECONCILING_AFTER: Duration = Duration::from_secs(10);

/// Default [`Settings::state_namespace`] (the chart's usual release namespace).
pub const DEFAULT_STATE_NAMESPACE: &str = "pms-system";

/// Default [`Settings::sync_deadline`]: a 10,000-resident building at vendors' rate limits reads
/// in a few minutes.
pub const DEFAULT_SYNC_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Leader election over a `coordination.k8s.io` Lease (kube-lease-manager): the standby takes
/// over within one lease duration after the leader stops renewing.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub lease_name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_grace: Duration,
    /// This replica's pod (in `namespace`), labelled [`lease::LEADER_LABEL`] while it leads: the
    /// receiver Service selects on the label, so webhooks reach only a replica that acts on them
    /// while every replica, standbys too, passes readiness. `None`: no label.
    pub pod: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            watch_namespaces: Vec::new(),
            concurrency: 4,
            host_concurrency: 2,
            shard: None,
            fetch_concurrency: 2,
            write_concurrency: 4,
            http: HttpSettings::default(),
            label_selector: None,
            startup_spread: Duration::from_secs(60),
            leader_election: None,
            instance: None,
            sync_deadline: DEFAULT_SYNC_DEADLINE,
            state_namespace: DEFAULT_STATE_NAMESPACE.to_string(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            reconciling_after: DEFAULT_RECONCILING_AFTER,
            watermark_overlap: sync::DEFAULT_WATERMARK_OVERLAP,
            receiver: Arc::new(Registry::default()),
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub settings: Settings,
    /// The rate limiters of vendor accounts, shared by the integrations of each.
    pub budgets: budgets::Budgets,
    /// Syncs running per vendor host.
    pub hosts: budgets::HostSlots,
    /// When this controller started (for the startup spread).
    pub started: std::time::Instant,
    /// The last status written after an attempt, per integration (`namespace/name`), with the UID
    /// it was written for (a recreated integration of the same name starts afresh).
    pub last_written: std::sync::Mutex<std::collections::HashMap<String, (String, PmsIntegrationStatus)>>,
    /// DOOR tokens per integration, reused across runs until shortly before they expire.
    pub door_tokens: std::sync::Mutex<std::collections::HashMap<String, Arc<TokenCache>>>,
    /// With `--shard`: hands webhooks for other shards' integrations over to them.
    pub relay: Option<Arc<relay::ShardRelay>>,
}

impl Context {
    fn written(&self, key: &str, uid: &str) -> Option<PmsIntegrationStatus> {
        let written = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        written.get(key).filter(|(u, _)| u == uid).map(|(_, status)| status.clone())
    }

    fn remember(&self, key: &str, uid: &str, status: PmsIntegrationStatus) {
        self.last_written.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), (uid.to_string(), status));
    }

    /// Forgets everything held for integrations (`namespace/name`) that `in_scope` covers and
    /// that are not `live`: deleted integrations leave no limiter, token, status or metric behind.
    pub fn prune(&self, in_scope: impl Fn(&str) -> bool, live: &std::collections::HashSet<String>) {
        let gone = |key: &str| {
            let integration = key.split('#').next().unwrap_or(key);
            let namespace = integration.split('/').next().unwrap_or_default();
            in_scope(namespace) && !live.contains(integration)
        };
        let mut forgotten = Vec::new();
        self.last_written.lock().unwrap_or_else(|e| e.into_inner()).retain(|key, _| {
            let keep = !gone(key);
            if !keep {
                forgotten.push(key.clone());
            }
            keep
        });
        self.budgets.release(gone);
        self.door_tokens.lock().unwrap_or_else(|e| e.into_inner()).retain(|key, _| !gone(key));
        self.settings.receiver.retain(|key| !gone(key));
        for key in forgotten {
            if let Some((namespace, name)) = key.split_once('/') {
                self.metrics.forget_integration(namespace, name);
            }
        }
    }

    fn door_tokens(&self, key: &str) -> Arc<TokenCache> {
        let mut tokens = self.door_tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.entry(key.to_string()).or_default().clone()
    }
}

/// Failures of the reconcile itself (not of a sync, which is reported in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("PmsIntegration has no namespace")]
    NotNamespaced,
    #[error("the reconcile panicked (a bug: please report it); other integrations are unaffected")]
    Panicked,
}

/// Runs the controller until `shutdown` resolves; running reconciles are allowed to finish.
/// `ready` turns true once the CRD is served and the controller watches. With leader election it
/// first waits to hold the Lease; when it loses the Lease, or can no longer prove it holds it
/// (see [`lease::hold`]), it cancels every running sync at once and returns `false`, so that the
/// process restarts as a standby; only the holder ever reconciles or writes.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> bool {
    let Some(election) = settings.leader_election.clone() else {
        run_controller(client, settings, metrics, ready, shutdown).await;
        return true;
    };
    let mut shutdown = Box::pin(shutdown);
    let manager = loop {
        let built = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &election.lease_name)
            .with_namespace(&election.namespace)
            .with_identity(&election.identity)
            .with_duration(election.lease_duration.as_secs().max(2))
            .with_grace(election.renew_grace.as_secs().max(1))
            .build()
            .await;
        match built {
            Ok(manager) => break manager,
            Err(error) => {
                warn!(error = %error, "cannot set up leader election; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = &mut shutdown => return true,
                }
            }
        }
    };
    let (mut leading, _lease_task) = manager.watch().await;
    // A standby is ready: healthy, and able to take over (readiness that only the leader passed
    // kept every rolling upgrade from finishing). The label a previous run of this pod may have
    // left is cleared: only a leader carries it.
    lease::label_pod(&client, &election, false).await;
    ready.store(true, Ordering::SeqCst);
    info!(lease = %election.lease_name, identity = %election.identity, "waiting to become the leader");
    while !*leading.borrow_and_update() {
        tokio::select! {
            changed = leading.changed() => if changed.is_err() { return false },
            _ = &mut shutdown => return true,
        }
    }
    info!(lease = %election.lease_name, "became the leader");
    lease::label_pod(&client, &election, true).await;
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        while leading.changed().await.is_ok() {
            if !*leading.borrow() {
                break;
            }
        }
        let _ = lost_tx.send(());
    });
    // Losing the Lease cancels every sync under way at once (dropping the controller drops its
    // reconciles), before another replica could take the Lease over: never two writers. A graceful
    // stop would let a long sync write on while the new leader starts its own.
    let monitor = lease::hold(client.clone(), election.clone());
    let stopped_cleanly = tokio::select! {
        _ = run_controller(client.clone(), settings, metrics, ready, shutdown) => true,
        _ = lost_rx => {
            warn!("lost the leader lease; cancelling running syncs and stopping");
            false
        }
        expired = monitor => {
            warn!(reason = %expired, "cannot prove the leader lease is still held; cancelling running syncs and stopping");
            false
        }
    };
    lease::label_pod(&client, &election, false).await;
    stopped_cleanly
}

async fn run_controller(
    client: Client,
    settings: Settings,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    // All namespaces, or one watch per listed namespace (so RBAC can stay namespaced).
    let scopes: Vec<Option<String>> = match settings.watch_namespaces.as_slice() {
        [] => vec![None],
        namespaces => namespaces.iter().cloned().map(Some).collect(),
    };
    let api = |ns: &Option<String>| -> Api<PmsIntegration> {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    };
    for scope in &scopes {
        wait_for_crd(&api(scope)).await;
    }

    let reporter = Reporter { controller: "pms-sync".into(), instance: settings.instance.clone() };
    let host_concurrency = settings.host_concurrency;
    let relay = settings.shard.map(|shard| Arc::new(relay::ShardRelay::new(client.clone(), shard)));
    if let Some(relay) = &relay {
        settings.receiver.set_relay(relay.clone());
    }
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        metrics,
        settings,
        budgets: Default::default(),
        hosts: budgets::HostSlots::new(host_concurrency),
        started: std::time::Instant::now(),
        last_written: Default::default(),
        door_tokens: Default::default(),
        relay,
    });
    let shutdown = futures::FutureExt::shared(futures::FutureExt::boxed(shutdown));
    let controllers = scopes.iter().map(|scope| {
        let secrets: Api<PartialObjectMeta<Secret>> = match scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        watch_scope(scope.clone(), api(scope), secrets, ctx.clone(), shutdown.clone())
    });
    ready.store(true, Ordering::SeqCst);
    ctx.settings.receiver.set_active(true);
    info!(namespaces = ?ctx.settings.watch_namespaces, concurrency = ctx.settings.concurrency, "controller started");
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = sweep_periodically(ctx.clone()) => {}
    }
    ctx.settings.receiver.set_active(false);
    info!("controller stopped");
}

/// One kube-runtime controller over one scope (a namespace, or all of them).
async fn watch_scope(
    scope_namespace: Option<String>,
    integrations: Api<PmsIntegration>,
    secrets: Api<PartialObjectMeta<Secret>>,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let selection = match &ctx.settings.label_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    // Only a new generation or annotation (a spec change, a requested sync, an approval), or an
    // integration seen for the first time, queues a reconcile: our own status writes do not. The
    // reconcile that wrote one already set when to look again; reconciling once more per run
    // would only read its Secrets again (halving the controller's apiserver reads at scale).
    let (reader, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(integrations, selection))
        .applied_objects()
        .predicate_filter(predicates::generation.combine(predicates::annotations), Default::default());
    let controller = Controller::for_stream(changes, reader);
    let store = controller.store();
    if let Some(relay) = &ctx.relay {
        relay.watch(store.clone());
    }
    let concurrency = ctx.settings.concurrency;
    // Webhooks accepted by the receiver queue a reconcile of their integration.
    let webhooks = ctx.settings.receiver.subscribe(scope_namespace.clone());
    let webhooks = futures::stream::unfold(webhooks, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    let pruning = prune_periodically(store.clone(), scope_namespace, ctx.clone());
    let running = controller
        // A created or rotated Secret makes every integration that references it due. Watched as
        // metadata only: the data of every Secret in scope is never held here; a sync reads the
        // Secrets it references with a `get`.
        .watches(secrets, watcher::Config::default(), move |secret: PartialObjectMeta<Secret>| {
            let namespace = secret.namespace();
            let name = secret.name_any();
            store
                .state()
                .into_iter()
                .filter(|i| i.namespace() == namespace && references_secret(i, &name))
                .map(|i| ObjectRef::from_obj(&*i))
                .collect::<Vec<_>>()
        })
        .reconcile_on(webhooks)
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile_isolated, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(error = %error, "reconcile failed");
            }
        });
    // The pruner runs as long as the controller does.
    tokio::select! {
        _ = running => {}
        _ = pruning => {}
    }
}

/// How often state maps of deleted integrations are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Deletes the state maps (DOOR identity maps, records of deactivations) of integrations that are
/// gone (see [`state_map::sweep`]).
async fn sweep_periodically(ctx: Arc<Context>) {
    loop {
        let scope = &ctx.settings.watch_namespaces;
        // A shard sweeps the maps of its own integrations only (a map's UID is its integration's).
        let shard = ctx.settings.shard;
        let in_scope = |ns: &str, uid: Option<&str>| {
            (scope.is_empty() || scope.iter().any(|s| s == ns))
                && shard.is_none_or(|shard| uid.is_none_or(|uid| shard.owns(uid)))
        };
        match state_map::sweep(&ctx.client, &ctx.settings.state_namespace, in_scope).await {
            Ok(0) => {}
            Ok(n) => info!(deleted = n, "deleted the state maps of deleted integrations"),
            Err(error) => warn!(error = %error, "cannot sweep state maps"),
        }
        tokio::time::sleep(due::jittered(SWEEP_EVERY, 0.1)).await;
    }
}

/// How often state held for deleted integrations is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Drops what the context holds for integrations of this scope that are gone from the watch
/// cache (kube-runtime does not reconcile a deleted object without a finalizer, and a finalizer
/// would need write access to every integration's metadata).
async fn prune_periodically(
    store: kube::runtime::reflector::Store<PmsIntegration>,
    namespace: Option<String>,
    ctx: Arc<Context>,
) {
    let _ = store.wait_until_ready().await;
    loop {
        tokio::time::sleep(PRUNE_EVERY).await;
        let live: std::collections::HashSet<String> =
            store.state().iter().map(|i| format!("{}/{}", i.namespace().unwrap_or_default(), i.name_any())).collect();
        ctx.prune(|ns| namespace.as_deref().is_none_or(|scope| scope == ns), &live);
    }
}

/// How long a scheduled sync waits after a controller start: each integration gets a stable slot
/// in the startup window (by UID), so restarts spread the load instead of calling every PMS at once.
fn startup_delay(ctx: &Context, uid: &str) -> Option<Duration> {
    let window = ctx.settings.startup_spread;
    let uptime = ctx.started.elapsed();
    if window.is_zero() || uptime >= window {
        return None;
    }
    spread_slot(uid, window).checked_sub(uptime).filter(|d| !d.is_zero())
}

/// A stable slot in `window` for `key` (FNV-1a), so integrations spread evenly and each keeps its
/// place across restarts.
fn spread_slot(key: &str, window: Duration) -> Duration {
    Duration::from_millis(shard::fnv1a(key) % window.as_millis().max(1) as u64)
}

/// Whether `integration` reads the Secret `name`: every Secret a sync reads (credentials and the
/// webhook token alike), so a rotated token re-registers the receiver's path at once.
fn references_secret(integration: &PmsIntegration, name: &str) -> bool {
    validate::secret_names(&integration.spec).contains(&name)
}

/// Waits until the CRD is served, without exiting: it may be installed after the controller.
async fn wait_for_crd(api: &Api<PmsIntegration>) {
    let mut logged = false;
    loop {
        match api.list(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => return,
            Err(error) => {
                if !logged {
                    warn!(error = %error, "waiting for the PmsIntegration CRD (install it with: pms-sync crd | kubectl apply -f -)");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

fn error_policy(_obj: Arc<PmsIntegration>, error: &Error, ctx: Arc<Context>) -> Action {
    if let Error::Panicked = error {
        // A bug, not a passing fault: retry, but not often.
        ctx.metrics.record_error(Reason::InternalError);
        warn!(error = %error, "reconcile panicked; retrying later");
        return Action::requeue(due::jittered(PANIC_RETRY, 0.2));
    }
    ctx.metrics.record_error(Reason::KubernetesApiError);
    warn!(error = %error, "reconcile error; retrying");
    Action::requeue(due::jittered(Duration::from_secs(15), 0.2))
}

/// Retry delay after a reconcile panicked.
const PANIC_RETRY: Duration = Duration::from_secs(300);

/// [`reconcile`], with a panic kept inside the integration that caused it: kube-runtime polls
/// every reconcile in one task, so an unwinding reconcile would stop the controller for all.
async fn reconcile_isolated(obj: Arc<PmsIntegration>, ctx: Arc<Context>) -> Result<Action, Error> {
    isolate(reconcile(obj, ctx)).await
}

/// Runs `work`, turning a panic into [`Error::Panicked`].
async fn isolate(work: impl Future<Output = Result<Action, Error>>) -> Result<Action, Error> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(work).catch_unwind().await.unwrap_or(Err(Error::Panicked))
}

async fn reconcile(obj: Arc<PmsIntegration>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NotNamespaced)?;
    let name = obj.name_any();
    let api: Api<PmsIntegration> = Api::namespaced(ctx.client.clone(), &namespace);
    // The watch cache can lag behind our own last status write; a reconcile queued by an earlier
    // event would then see an older status and run the same sync twice. The status we wrote last
    // wins when it is newer (attempt times only grow).
    let key = format!("{namespace}/{name}");
    let uid = obj.metadata.uid.clone().unwrap_or_else(|| key.clone());
    // Another shard's integration: nothing is read, written or held for it here.
    if ctx.settings.shard.is_some_and(|shard| !shard.owns(&uid)) {
        return Ok(Action::await_change());
    }
    let token = obj.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let seen =
        Acknowledgement { generation: obj.metadata.generation, token: token.as_deref(), now: jiff::Timestamp::now() };
    // The status we wrote last is what we rely on; the object's is an observation (a tenant may
    // have written it, and the watch cache can lag behind our own write).
    let (mut previous, own) = status::starting_point(obj.status.clone(), ctx.written(&key, &uid), seen.now);

    // Gate: a disabled integration acknowledges requests and calls nobody (its receiver too).
    if !obj.spec.enabled {
        ctx.settings.receiver.unregister(&key);
        // Its budget claims end too: a suspended integration's budget lowers nobody's share.
        ctx.budgets.release(|integration| integration == key);
        ctx.metrics.forget_integration(&namespace, &name);
        let next = status::disabled(&previous, &seen);
        write_status(&api, &name, &previous, &next).await?;
        ctx.remember(&key, &uid, next);
        ctx.metrics.record_reconcile("disabled");
        return Ok(Action::await_change());
    }

    let secrets = dereference::read(&ctx.client, &namespace, &validate::secret_names(&obj.spec)).await?;
    let validated = validate::validate(&obj.spec, &namespace, |name| secrets.get(name));
    let digest = secrets.digest;
    // The receiver serves a valid integration with a webhook, whether a sync is due or not.
    let webhook_path = match &validated {
        Ok(v) => v.webhook_token.as_ref().map(|token| {
            let token = token.get(validate::WEBHOOK_TOKEN_KEY);
            ctx.settings.receiver.register(&namespace, &name, token, &v.spec.property_ids)
        }),
        Err(_) => None,
    };
    if webhook_path.is_none() {
        ctx.settings.receiver.unregister(&key);
    }

    if !own && let Ok(v) = &validated {
        status::bound_schedule(&mut previous, seen.now, v.spec.interval);
    }
    let approval = obj.annotations().get(APPROVE_DEPROVISION_ANNOTATION).cloned();
    let observed = Observed {
        generation: seen.generation,
        token: seen.token,
        secrets_digest: &digest,
        approval: approval.as_deref(),
        webhook: ctx.settings.receiver.is_pending(&key),
    };
    let why = match due::decide(&previous, &observed, seen.now) {
        Due::Now(why) => why,
        Due::After(wait) => {
            ctx.metrics.record_reconcile("skipped");
            return Ok(Action::requeue(wait));
        }
        Due::WaitForChange => {
            ctx.metrics.record_reconcile("skipped");
            return Ok(Action::await_change());
        }
    };
    if why == due::Trigger::Schedule
        && let Some(wait) = startup_delay(&ctx, &uid)
    {
        return Ok(Action::requeue(wait));
    }
    // Fair scheduling: a vendor host already running its share of syncs does not get this worker
    // too; the sync is tried again shortly (nothing taken, no status written).
    let host = validated.as_ref().ok().map(|v| v.pms.host());
    let _slot = match host.as_deref().map(|host| ctx.hosts.try_take(host, &namespace)) {
        Some(None) => {
            ctx.metrics.record_reconcile("deferred");
            return Ok(Action::requeue(due::jittered(HOST_BUSY_RETRY, 0.5)));
        }
        Some(Some(slot)) => Some(slot),
        None => None,
    };
    // Whatever made it due, this run serves the webhooks received so far; only a run due to them
    // alone may be narrowed to the properties they named.
    let narrowed = match ctx.settings.receiver.take_pending(&key) {
        Some(Pending::Only(properties)) if why == due::Trigger::Webhook => Some(properties),
        _ => None,
    };
    info!(namespace, name, why = %why, narrowed = narrowed.as_ref().map_or(0, |p| p.len()), "sync due");
    // kstatus: Reconciling while a sync runs, removed by the status written after it. Written only
    // once the sync outlasts `reconciling_after`: a quick sync costs one status write, not two.
    let mut running = previous.clone();
    conditions::set(
        &mut running.conditions,
        conditions::RECONCILING,
        true,
        Reason::Progressing,
        format!("sync running ({why})"),
        seen.generation,
        seen.now,
    );

    let started = jiff::Timestamp::now();
    let timer = std::time::Instant::now();
    let attempt = match validated {
        Err(failure) => status::Attempt {
            webhook_path: None,
            partial: false,
            started,
            trigger: why,
            history_limit: ctx.settings.history_limit,
            interval: validate::MIN_INTERVAL,
            dry_run: false,
            report: None,
            failure: Some(failure),
        },
        Ok(validated) => {
            let scope = Scope::new(&namespace, &name);
            let partial = narrowed.is_some();
            let incremental = due::incremental(&previous, why, validated.spec.full_sync_interval, seen.now)
                .filter(|_| !validated.spec.dry_run);
            let asked = RunInputs {
                approval: approval.clone(),
                only_properties: narrowed,
                incremental,
                synced_before: status::synced_before(&previous),
            };
            let sync = run_sync(&ctx, &obj, scope, &validated, asked);
            let show = write_status(&api, &name, &previous, &running);
            let (report, shown) = while_showing(sync, ctx.settings.reconciling_after, show).await;
            if shown {
                previous = running.clone();
            }
            let failure = status::classify(&report);
            let spec = &validated.spec;
            status::Attempt {
                webhook_path,
                partial,
                started,
                trigger: why,
                history_limit: ctx.settings.history_limit,
                interval: spec.interval,
                dry_run: spec.dry_run,
                report: Some(report),
                failure,
            }
        }
    };
    let seen = Acknowledgement { now: jiff::Timestamp::now(), ..seen };
    let (next_status, next) = status::after_attempt(&previous, &seen, &digest, &attempt);
    let status::Attempt { report, failure, .. } = attempt;
    // Metrics first: whoever sees the new status sees the gauge that goes with it.
    ctx.metrics.observe_duration(timer.elapsed().as_secs_f64());
    ctx.metrics.set_ready(&namespace, &name, failure.is_none());
    write_status(&api, &name, &previous, &next_status).await?;
    ctx.remember(&key, &uid, next_status);
    publish(&ctx, &obj, report.as_ref(), failure.as_ref()).await;

    match &failure {
        None => info!(namespace, name, "sync succeeded"),
        Some(f) => warn!(namespace, name, reason = f.reason.as_str(), message = %f.message, "sync failed"),
    }
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// How soon a sync whose vendor host is busy is tried again (jittered by half).
const HOST_BUSY_RETRY: Duration = Duration::from_secs(5);

/// Runs `work`; once it has run for `after`, `show` runs too (the `Reconciling` write), while
/// `work` goes on. Returns `work`'s output and whether `show` succeeded. A failed `show` is logged
/// only: the status written after the sync is the one that matters.
async fn while_showing<T>(
    work: impl Future<Output = T>,
    after: Duration,
    show: impl Future<Output = Result<(), kube::Error>>,
) -> (T, bool) {
    tokio::pin!(work);
    tokio::select! {
        biased;
        done = &mut work => return (done, false),
        _ = tokio::time::sleep(after) => {}
    }
    let (shown, done) = tokio::join!(show, work);
    if let Err(error) = &shown {
        warn!(error = %error, "cannot mark the integration Reconciling; the sync goes on");
    }
    (done, shown.is_ok())
}

/// What one run of a reconcile asks for, beside the integration itself.
struct RunInputs {
    /// The plan digest an operator approved.
    approval: Option<String>,
    /// A webhook's narrowing to some properties.
    only_properties: Option<std::collections::BTreeSet<String>>,
    /// An incremental read, when the run may be one.
    incremental: Option<sync::Incremental>,
    /// The integration synced before (its DOOR identity map must exist).
    synced_before: bool,
}

/// Builds the connector and destination of a validated integration and runs one sync.
async fn run_sync(
    ctx: &Context,
    obj: &PmsIntegration,
    scope: Scope,
    validated: &Validated,
    asked: RunInputs,
) -> SyncReport {
    let RunInputs { approval, only_properties, incremental, synced_before } = asked;
    let spec = &validated.spec;
    let http = |target| HttpClient::new(target, ctx.settings.http.clone(), ctx.metrics.clone());
    let key = scope.prefix().trim_end_matches('/').to_string();
    let limiter = |account: String, limit| ctx.budgets.claim(&account, &key, limit);
    let door_parts = || build::DoorParts {
        tokens: ctx.door_tokens(&key),
        store: Arc::new(identity_store::ConfigMapStore::new(
            ctx.client.clone(),
            &ctx.settings.state_namespace,
            scope.namespace(),
            &obj.name_any(),
            obj.metadata.uid.clone(),
            &spec.door_building().map(|(url, uuid)| identity_store::building_key(url, uuid)).unwrap_or_default(),
        )),
        expects_map: synced_before,
    };
    let (connector, target) = build::clients(validated, http, &limiter, door_parts);
    let deadline = tokio::time::Instant::now().checked_add(ctx.settings.sync_deadline);
    let mut config = build::sync_config(
        spec,
        jiff::Timestamp::now(),
        scope,
        approval,
        ctx.settings.fetch_concurrency,
        ctx.settings.write_concurrency,
        deadline,
    );
    config.only_properties = only_properties;
    config.incremental = incremental.filter(|_| crate::pms::PmsSource::reads_changes(&connector));
    config.watermark_overlap = ctx.settings.watermark_overlap;
    let Some(delete_after) = spec.delete_after else {
        return sync::run(&connector, &target, &config).await;
    };
    // Deactivate, then delete: the record of this integration's deactivations is read before the
    // run and kept after it. Unreadable, it fails the run like DOOR's identity map: deleting or
    // recording without it could lose track of who was deactivated when.
    let store = deactivation_store::DeactivationStore::new(
        ctx.client.clone(),
        &ctx.settings.state_namespace,
        config.scope.namespace(),
        &obj.name_any(),
        obj.metadata.uid.clone(),
    );
    let loaded = match store.load().await {
        Ok(record) => record,
        Err(error) => return SyncReport { fatal: Some(sync::RunError::Destination(error)), ..SyncReport::default() },
    };
    let now = config.now.as_second();
    config.retention = Some(sync::Retention { deactivations: loaded.clone(), delete_after, now });
    let mut report = sync::run(&connector, &target, &config).await;
    if report.unrecorded_deactivations > 0 {
        warn!(
            namespace = config.scope.namespace(),
            name = obj.name_any(),
            count = report.unrecorded_deactivations,
            "deactivations beyond the record's bound are not recorded; those users are kept, not deleted"
        );
    }
    if let Some(record) = report.deactivations.as_ref().filter(|_| !config.dry_run)
        && let Err(error) = store.save(&loaded, record).await
    {
        report.write_errors.push(error);
    }
    report
}

/// Writes status by server-side apply, only when it changed (an unchanged status is no write,
/// so our own writes settle instead of looping).
async fn write_status(
    api: &Api<PmsIntegration>,
    name: &str,
    previous: &PmsIntegrationStatus,
    next: &PmsIntegrationStatus,
) -> Result<(), kube::Error> {
    if previous == next {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": PmsIntegration::api_version(&()),
        "kind": PmsIntegration::kind(&()),
        "status": next,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Records metrics and events for an attempt: Normal when users changed, Warning on failure, on
/// conflicts and on residents sharing an email (IDs only, bounded).
async fn publish(ctx: &Context, obj: &PmsIntegration, report: Option<&SyncReport>, failure: Option<&Failure>) {
    let warning = |reason: Reason, note: String| Event {
        type_: EventType::Warning,
        reason: reason.as_str().into(),
        note: Some(truncate(&note, 1000)),
        action: "Sync".into(),
        secondary: None,
    };
    let mut events = Vec::new();
    if let Some(report) = report {
        let c = &report.counts;
        ctx.metrics.record_objects("created", c.created);
        ctx.metrics.record_objects("updated", c.updated);
        ctx.metrics.record_objects("adopted", c.adopted);
        ctx.metrics.record_objects("deprovisioned", c.deprovisioned);
        ctx.metrics.record_objects("failed", c.failed);
        if failure.is_none() && c.created + c.updated + c.adopted + c.deprovisioned > 0 {
            events.push(Event {
                type_: EventType::Normal,
                reason: Reason::Synced.as_str().into(),
                note: Some(format!(
                    "{} created, {} updated, {} adopted, {} deprovisioned",
                    c.created, c.updated, c.adopted, c.deprovisioned
                )),
                action: "Sync".into(),
                secondary: None,
            });
        }
        if !report.conflicts.is_empty() {
            let ids = report.conflicts.iter().map(|c| match &c.user_id {
                Some(user) => format!("{} (user {user})", c.external_id),
                None => c.external_id.clone(),
            });
            let note = format!(
                "{} residents not created: a user with the same email exists and is not an exact name match; never merged: {}",
                report.conflicts.len(),
                bounded_list(ids)
            );
            events.push(warning(Reason::Conflict, note));
        }
        if !report.groups.conflicts.is_empty() {
            let note = format!(
                "{} groups not managed: a group with the same displayName exists and is not ours (adoptExisting takes over one without an externalId): {}",
                report.groups.conflicts.len(),
                bounded_list(report.groups.conflicts.iter().cloned())
            );
            events.push(warning(Reason::Conflict, note));
        }
        if !report.unknown_statuses.is_empty() {
            let statuses = report.unknown_statuses.iter().map(|(raw, n)| format!("{raw:?} ({n})"));
            let note = format!(
                "{} residents have PMS statuses the mapping does not know and get no access: {}; map them in spec.pms.statusMapping",
                report.counts.unknown_statuses,
                bounded_list(statuses)
            );
            events.push(warning(Reason::UnknownStatus, note));
        }
        if !report.duplicate_emails.is_empty() {
            let note = format!(
                "{} residents share an email with another resident and are held back until the PMS is fixed: {}",
                report.duplicate_emails.len(),
                bounded_list(report.duplicate_emails.iter().cloned())
            );
            events.push(warning(Reason::DuplicateEmail, note));
        }
        if !report.stale_move_ins.is_empty() {
            let note = format!(
                "{} future residents have a move-in date more than {} days back and get no access until the PMS moves them in: {}",
                report.stale_move_ins.len(),
                crate::domain::desired::DEFAULT_STALE_MOVE_IN_DAYS,
                bounded_list(report.stale_move_ins.iter().cloned())
            );
            events.push(warning(Reason::StaleMoveIn, note));
        }
        if let Some(refused) = &report.deletes_refused {
            let note = format!(
                "{} deletions after deleteAfter refused: the PMS's clock is {}s from ours (more than an hour); the users stay deactivated",
                refused.users,
                refused.skew.as_secs()
            );
            events.push(warning(Reason::ClockSkew, note));
        }
    }
    match failure {
        Some(f) => {
            ctx.metrics.record_reconcile("failed");
            ctx.metrics.record_error(f.reason);
            events.push(warning(f.reason, f.message.clone()));
        }
        None if report.is_some() => ctx.metrics.record_reconcile("synced"),
        None => {}
    }
    for event in events {
        if let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(error = %error, "could not publish event");
        }
    }
}

/// At most ten items, then a count of the rest.
fn bounded_list(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut shown: Vec<String> = items.take(10).collect();
    if total > shown.len() {
        shown.push(format!("and {} more", total - shown.len()));
    }
    shown.join(", ")
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_is_an_error_of_that_reconcile_only() {
        let panicking = async { panic!("boom") };
        assert!(matches!(isolate(panicking).await, Err(Error::Panicked)));
        let fine = async { Ok(Action::await_change()) };
        assert!(isolate(fine).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn reconciling_is_shown_only_for_a_sync_that_outlasts_the_threshold() {
        let shows = std::sync::atomic::AtomicUsize::new(0);
        let show = || async {
            shows.fetch_add(1, Ordering::SeqCst);
            Ok::<(), kube::Error>(())
        };
        let quick = tokio::time::sleep(Duration::from_secs(9));
        assert_eq!(while_showing(quick, Duration::from_secs(10), show()).await, ((), false));
        assert_eq!(shows.load(Ordering::SeqCst), 0, "a quick sync: one status write, after it");
        let started = tokio::time::Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(30));
        assert_eq!(while_showing(slow, Duration::from_secs(10), show()).await, ((), true));
        assert_eq!(shows.load(Ordering::SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(30), "the sync went on while it was shown");
    }

    #[test]
    fn startup_slots_are_stable_inside_the_window_and_spread_out() {
        let window = Duration::from_secs(60);
        let slots: Vec<Duration> = (0..1000).map(|i| spread_slot(&format!("uid-{i}"), window)).collect();
        assert!(slots.iter().all(|s| *s < window));
        assert_eq!(spread_slot("uid-7", window), slots[7], "stable across restarts");
        // Each tenth of the window gets roughly a tenth of a thousand integrations.
        for tenth in 0..10 {
            let n = slots.iter().filter(|s| s.as_secs() / 6 == tenth).count();
            assert!((50..150).contains(&n), "tenth {tenth}: {n}");
        }
    }
}
