//! Operator commands against a cluster (`pms-sync sync | approve | get | suspend | resume`), the
//! way `flux reconcile`, `flux get` and `flux suspend` work: they change annotations or
//! `spec.enabled` and read status; the controller does the work. Output holds IDs and counts only.
//!
//! Exit codes: `sync --wait` 0 Ready, 1 failed (or the wait timed out, or the cluster could not
//! be reached), 2 deprovisioning held for approval; every other command 0 done, 1 error.

use std::io::{BufRead, Write};
use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::api::{APPROVE_DEPROVISION_ANNOTATION, PmsIntegration, PmsIntegrationStatus, REQUESTED_AT_ANNOTATION};
use crate::conditions;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const HELD: u8 = 2;

/// How often `--wait` reads the status.
const POLL: Duration = Duration::from_millis(500);

/// Where an integration is: `namespace` (default: the kubeconfig's, else "default") and `name`.
pub struct Target {
    pub name: String,
    pub namespace: Option<String>,
}

async fn api(target: &Target) -> Result<(Api<PmsIntegration>, String), String> {
    let client = kube::Client::try_default().await.map_err(|e| format!("no cluster to talk to: {e}"))?;
    let namespace = target.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    Ok((Api::namespaced(client, &namespace), namespace))
}

fn report(result: Result<u8, String>) -> u8 {
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        FAILED
    })
}

/// Requests a sync now; with `wait`, waits until the controller handled it (or `timeout`) and
/// prints the outcome.
pub async fn sync(target: Target, wait: bool, timeout: Duration) -> u8 {
    report(sync_inner(&target, wait, timeout).await)
}

async fn sync_inner(target: &Target, wait: bool, timeout: Duration) -> Result<u8, String> {
    let (api, namespace) = api(target).await?;
    let name = &target.name;
    let token = jiff::Timestamp::now().to_string();
    annotate(&api, name, REQUESTED_AT_ANNOTATION, &token).await?;
    println!("requested a sync of {namespace}/{name} ({REQUESTED_AT_ANNOTATION}={token})");
    if !wait {
        return Ok(OK);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut said_running = false;
    loop {
        let obj = api.get(name).await.map_err(|e| format!("cannot read {namespace}/{name}: {e}"))?;
        let status = obj.status.unwrap_or_default();
        let running = conditions::get(&status.conditions, conditions::RECONCILING).is_some_and(|c| c.status == "True");
        if running && !said_running {
            println!("sync running …");
            said_running = true;
        }
        if status.last_handled_reconcile_at.as_deref() == Some(token.as_str()) && !running {
            return Ok(outcome(&status));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the sync was not handled within {}s", timeout.as_secs()));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints a handled sync's outcome and returns its exit code.
fn outcome(status: &PmsIntegrationStatus) -> u8 {
    let ready = conditions::get(&status.conditions, conditions::READY);
    let (is_ready, reason, message) = match ready {
        Some(c) => (c.status == "True", c.reason.as_str(), c.message.as_str()),
        None => (false, "Unknown", ""),
    };
    println!("{}: {reason}: {message}", if is_ready { "ready" } else { "not ready" });
    if let Some(s) = &status.summary {
        println!(
            "fetched {}, desired {}: {} created, {} updated, {} adopted, {} deprovisioned, {} unchanged, {} failed, {} held",
            s.fetched, s.desired, s.created, s.updated, s.adopted, s.deprovisioned, s.unchanged, s.failed, s.held
        );
    }
    match &status.held_deprovision {
        Some(held) => {
            println!(
                "deprovisioning of {} users held for approval ({}); review and release it with: pms-sync approve NAME",
                held.count, held.reason
            );
            HELD
        }
        None if is_ready => OK,
        None => FAILED,
    }
}

/// Shows the held deprovisioning and approves exactly that plan (its digest), after confirmation
/// unless `yes`.
pub async fn approve(target: Target, yes: bool) -> u8 {
    report(approve_inner(&target, yes).await)
}

async fn approve_inner(target: &Target, yes: bool) -> Result<u8, String> {
    let (api, namespace) = api(target).await?;
    let name = &target.name;
    let obj = api.get(name).await.map_err(|e| format!("cannot read {namespace}/{name}: {e}"))?;
    let Some(held) = obj.status.and_then(|s| s.held_deprovision) else {
        println!("{namespace}/{name} holds no deprovisioning: nothing to approve");
        return Ok(OK);
    };
    println!("{namespace}/{name} holds the deprovisioning of {} users: {}", held.count, held.reason);
    println!("plan digest: {}", held.plan_digest);
    println!("(`pms-sync plan -f FILE` lists the identities)");
    if !yes && !confirm("approve exactly this plan? [y/N] ")? {
        println!("not approved");
        return Ok(FAILED);
    }
    annotate(&api, name, APPROVE_DEPROVISION_ANNOTATION, &held.plan_digest).await?;
    println!("approved: the next sync deprovisions exactly these {} users (a different plan stays held)", held.count);
    Ok(OK)
}

pub(crate) fn confirm(question: &str) -> Result<bool, String> {
    print!("{question}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| format!("no answer ({e}); use --yes"))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Sets `spec.enabled`: a suspended integration makes no calls and keeps everything it made.
pub async fn set_enabled(target: Target, enabled: bool) -> u8 {
    report(
        async {
            let (api, namespace) = api(&target).await?;
            let patch = json!({"spec": {"enabled": enabled}});
            api.patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| format!("cannot update {namespace}/{}: {e}", target.name))?;
            let what = if enabled { "resumed" } else { "suspended: no PMS or destination calls until resumed" };
            println!("{namespace}/{} {what}", target.name);
            Ok(OK)
        }
        .await,
    )
}

/// Lists integrations (one namespace, or all) like `flux get`: ready, reason, last and next sync,
/// held count.
pub async fn get(namespace: Option<String>, all_namespaces: bool) -> u8 {
    report(
        async {
            let client = kube::Client::try_default().await.map_err(|e| format!("no cluster to talk to: {e}"))?;
            let api: Api<PmsIntegration> = if all_namespaces {
                Api::all(client)
            } else {
                let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
                Api::namespaced(client, &ns)
            };
            let list = api.list(&ListParams::default()).await.map_err(|e| format!("cannot list integrations: {e}"))?;
            print!("{}", table(&list.items));
            Ok(OK)
        }
        .await,
    )
}

/// The `get` table.
pub fn table(items: &[PmsIntegration]) -> String {
    let mut out = format!(
        "{:<20} {:<24} {:<6} {:<24} {:<21} {:<21} {}\n",
        "NAMESPACE", "NAME", "READY", "REASON", "LAST SYNC", "NEXT SYNC", "HELD"
    );
    for obj in items {
        let status = obj.status.clone().unwrap_or_default();
        let ready = conditions::get(&status.conditions, conditions::READY);
        let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.as_ref().map_or("-".to_string(), |t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        };
        out.push_str(&format!(
            "{:<20} {:<24} {:<6} {:<24} {:<21} {:<21} {}\n",
            obj.metadata.namespace.as_deref().unwrap_or("-"),
            obj.metadata.name.as_deref().unwrap_or("-"),
            ready.map_or("-", |c| c.status.as_str()),
            ready.map_or("-", |c| c.reason.as_str()),
            time(&status.last_sync_time),
            if obj.spec.enabled { time(&status.next_sync_time) } else { "suspended".into() },
            status.held_deprovision.as_ref().map_or(0, |h| h.count),
        ));
    }
    out
}

pub(crate) async fn annotate(api: &Api<PmsIntegration>, name: &str, key: &str, value: &str) -> Result<(), String> {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()).map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => format!("no PmsIntegration {name:?} in that namespace"),
        other => format!("cannot annotate {name}: {other}"),
    })
}
