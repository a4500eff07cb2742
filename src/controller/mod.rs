//! The `PmsIntegration` controller: kube-runtime wiring and the reconcile pipeline.
//!
//! reconcile = gate (enabled?) → validate → dereference Secrets → due? → build connector and
//! destination → sync (fetch → plan → apply, in `engine`) → status and events.
//! Every step but the Kubernetes reads and writes is a pure or Kubernetes-free function.

pub mod dereference;
pub mod due;
pub mod status;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::api::{PmsIntegration, PmsIntegrationStatus, REQUESTED_AT_ANNOTATION};
use crate::conditions::reason;
use crate::destination::{self, DestinationConfigError, Target};
use crate::engine::{self, SyncConfig, SyncReport};
use crate::http::{HttpClient, HttpSettings};
use crate::metrics::Metrics;
use crate::pms::{Connector, ConnectorConfigError};
use crate::sync::Scope;
use due::{Due, Observed};
use status::{Failure, Observation};
use validate::{ValidatedDestination, ValidatedSpec};

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "pms-sync";

/// Tunables of the controller process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Only watch this namespace (all namespaces when `None`).
    pub watch_namespace: Option<String>,
    /// Integrations reconciled at once.
    pub concurrency: u16,
    /// PMS calls in flight per integration.
    pub fetch_concurrency: usize,
    /// Destination writes in flight per integration.
    pub write_concurrency: usize,
    pub http: HttpSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            watch_namespace: None,
            concurrency: 4,
            fetch_concurrency: 2,
            write_concurrency: 4,
            http: HttpSettings::default(),
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub settings: Settings,
}

/// Failures of the reconcile itself (not of a sync, which is reported in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("PmsIntegration has no namespace")]
    NotNamespaced,
}

/// Runs the controller until `shutdown` resolves; running reconciles are allowed to finish.
/// `ready` turns true once the CRD is served and the controller watches.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (integrations, secrets): (Api<PmsIntegration>, Api<Secret>) = match &settings.watch_namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    wait_for_crd(&integrations).await;

    let reporter = Reporter { controller: "pms-sync".into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context { recorder: Recorder::new(client.clone(), reporter), client, metrics, settings });
    let concurrency = ctx.settings.concurrency;
    let controller = Controller::new(integrations, watcher::Config::default());
    let store = controller.store();
    ready.store(true, Ordering::SeqCst);
    info!(namespace = ?ctx.settings.watch_namespace, concurrency, "controller started");
    controller
        // A created or rotated Secret makes every integration that references it due.
        .watches(secrets, watcher::Config::default(), move |secret: Secret| {
            let namespace = secret.namespace();
            let name = secret.name_any();
            store
                .state()
                .into_iter()
                .filter(|i| i.namespace() == namespace && references_secret(i, &name))
                .map(|i| ObjectRef::from_obj(&*i))
                .collect::<Vec<_>>()
        })
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(error = %error, "reconcile failed");
            }
        })
        .await;
    info!("controller stopped");
}

fn references_secret(integration: &PmsIntegration, name: &str) -> bool {
    let spec = &integration.spec;
    spec.pms.credentials_secret_ref.name == name
        || spec.destination.scim.as_ref().is_some_and(|s| s.credentials_secret_ref.name == name)
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
    ctx.metrics.record_error(reason::KUBERNETES_API_ERROR);
    warn!(error = %error, "reconcile error; retrying");
    Action::requeue(due::jittered(Duration::from_secs(15), 0.2))
}

async fn reconcile(obj: Arc<PmsIntegration>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NotNamespaced)?;
    let name = obj.name_any();
    let api: Api<PmsIntegration> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = obj.status.clone().unwrap_or_default();
    let token = obj.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let seen =
        Observation { generation: obj.metadata.generation, token: token.as_deref(), now: jiff::Timestamp::now() };

    // Gate: a disabled integration acknowledges requests and calls nobody.
    if !obj.spec.enabled {
        write_status(&api, &name, &previous, &status::disabled(&previous, &seen)).await?;
        ctx.metrics.record_reconcile("disabled");
        return Ok(Action::await_change());
    }

    let validated = validate::validate(&obj.spec);
    let secrets = match &validated {
        Ok(spec) => Some(dereference::read(&ctx.client, &namespace, &spec.secret_names()).await?),
        Err(_) => None,
    };
    let digest = secrets.as_ref().map_or("none", |s| s.digest.as_str()).to_string();

    let observed = Observed { generation: seen.generation, token: seen.token, secrets_digest: &digest };
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
    info!(namespace, name, why, "sync due");

    let started = jiff::Timestamp::now();
    let timer = std::time::Instant::now();
    let (report, failure, interval) = match validated {
        Err(invalid) => (None, Some(Failure::permanent(reason::INVALID_SPEC, invalid.0)), validate::MIN_INTERVAL),
        Ok(spec) => {
            let secrets = secrets.expect("secrets are read for every valid spec");
            let (report, failure) = sync(&ctx, &namespace, &name, &spec, &secrets).await;
            (report, failure, spec.interval)
        }
    };
    let seen = Observation { now: jiff::Timestamp::now(), ..seen };
    let (next_status, next) =
        status::after_attempt(&previous, &seen, started, &digest, interval, report.as_ref(), failure.as_ref());
    write_status(&api, &name, &previous, &next_status).await?;
    ctx.metrics.observe_duration(timer.elapsed().as_secs_f64());
    publish(&ctx, &obj, report.as_ref(), failure.as_ref()).await;

    match &failure {
        None => info!(namespace, name, "sync succeeded"),
        Some(f) => warn!(namespace, name, reason = f.reason, message = %f.message, "sync failed"),
    }
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Builds the connector and destination and runs one sync. Configuration errors are permanent.
async fn sync(
    ctx: &Context,
    namespace: &str,
    name: &str,
    spec: &ValidatedSpec,
    secrets: &dereference::Secrets,
) -> (Option<SyncReport>, Option<Failure>) {
    let missing = |secret: &str| {
        Failure::permanent(
            reason::CREDENTIALS_NOT_FOUND,
            format!("Secret {secret:?} not found in namespace {namespace:?}"),
        )
    };
    if let Err(unsupported) = crate::pms::check_supported(spec.provider) {
        return (None, Some(Failure::permanent(reason::PROVIDER_NOT_SUPPORTED, unsupported.to_string())));
    }
    let Some(pms_secret) = secrets.get(&spec.pms_secret) else {
        return (None, Some(missing(&spec.pms_secret)));
    };
    let http = |target| HttpClient::new(target, ctx.settings.http.clone(), ctx.metrics.clone());
    let connector = match Connector::new(
        spec.provider,
        spec.pms_base_url.as_deref(),
        &spec.property_ids,
        pms_secret,
        http(spec.provider.as_str()),
    ) {
        Ok(c) => c,
        Err(ConnectorConfigError::Unsupported(e)) => {
            return (None, Some(Failure::permanent(reason::PROVIDER_NOT_SUPPORTED, e.to_string())));
        }
        Err(e) => {
            return (None, Some(Failure::permanent(reason::INVALID_SPEC, e.to_string())));
        }
    };
    let target = match &spec.destination {
        ValidatedDestination::Scim { url, secret } => {
            let Some(data) = secrets.get(secret) else {
                return (None, Some(missing(secret)));
            };
            match destination::scim::Scim::new(url, data, http("scim")) {
                Ok(d) => Target::Scim(d),
                Err(DestinationConfigError::MissingKey(e)) => {
                    return (None, Some(Failure::permanent(reason::INVALID_SPEC, e.to_string())));
                }
                Err(e) => {
                    return (None, Some(Failure::permanent(reason::INVALID_SPEC, e.to_string())));
                }
            }
        }
    };

    let config = SyncConfig {
        scope: Scope::new(namespace, name),
        property_ids: spec.property_ids.clone(),
        exclusions: spec.exclusions.clone(),
        mode: spec.mode,
        fetch_concurrency: ctx.settings.fetch_concurrency,
        write_concurrency: ctx.settings.write_concurrency,
    };
    let report = engine::run(&connector, &target, &config).await;
    let failure = status::classify(&report);
    (Some(report), failure)
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

/// Records metrics and events for an attempt: Normal when users changed, Warning on failure.
async fn publish(ctx: &Context, obj: &PmsIntegration, report: Option<&SyncReport>, failure: Option<&Failure>) {
    if let Some(report) = report {
        let c = &report.counts;
        ctx.metrics.record_objects("created", c.created);
        ctx.metrics.record_objects("updated", c.updated);
        ctx.metrics.record_objects("deprovisioned", c.deprovisioned);
        ctx.metrics.record_objects("failed", c.failed);
    }
    let event = match (failure, report) {
        (Some(f), _) => {
            ctx.metrics.record_reconcile("failed");
            ctx.metrics.record_error(f.reason);
            Some(Event {
                type_: EventType::Warning,
                reason: f.reason.into(),
                note: Some(truncate(&f.message, 1000)),
                action: "Sync".into(),
                secondary: None,
            })
        }
        (None, Some(r)) => {
            ctx.metrics.record_reconcile("synced");
            let c = &r.counts;
            (c.created + c.updated + c.deprovisioned > 0).then(|| Event {
                type_: EventType::Normal,
                reason: reason::SYNCED.into(),
                note: Some(format!("{} created, {} updated, {} deprovisioned", c.created, c.updated, c.deprovisioned)),
                action: "Sync".into(),
                secondary: None,
            })
        }
        (None, None) => None,
    };
    if let Some(event) = event
        && let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await
    {
        warn!(error = %error, "could not publish event");
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
