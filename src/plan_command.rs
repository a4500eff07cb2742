//! `pms-sync plan -f FILE`: what a sync of one `PmsIntegration` would do, computed outside any
//! controller and without writing anything. Exit code 0 = no changes, 2 = changes pending,
//! 1 = error. Output names identities and destination IDs only, never personal data.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{APPROVE_DEPROVISION_ANNOTATION, PmsIntegration};
use crate::controller::deactivation_store::DeactivationStore;
use crate::controller::identity_store::ConfigMapStore;
use crate::controller::{build, dereference, validate};
use crate::credentials::SecretData;
use crate::destination::door::{MappingStore, MemoryStore};
use crate::domain::{Action, Guard, Plan, Scope};
use crate::http::{HttpClient, HttpSettings};
use crate::metrics::Metrics;
use crate::pms::PmsError;
use crate::sync::{self, Progress, SyncReport};

/// How to print the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Exit codes of `pms-sync plan`.
pub const NO_CHANGES: u8 = 0;
pub const ERROR: u8 = 1;
pub const CHANGES_PENDING: u8 = 2;

pub struct PlanArgs {
    pub file: PathBuf,
    pub secrets_dir: Option<PathBuf>,
    pub namespace: Option<String>,
    pub output: Output,
    /// Where the controller keeps its state (the DOOR identity maps).
    pub state_namespace: String,
}

/// Prints progress on stderr while properties are fetched (counts and IDs only).
struct StderrProgress;

impl Progress for StderrProgress {
    fn property_fetched(&self, id: &str, result: Result<usize, &PmsError>) {
        match result {
            Ok(residents) => eprintln!("fetched property {id}: {residents} residents"),
            Err(e) => eprintln!("property {id} failed: {e}"),
        }
    }
}

pub async fn run(args: PlanArgs) -> u8 {
    match plan(&args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ERROR
        }
    }
}

async fn plan(args: &PlanArgs) -> Result<u8, String> {
    let integration = read_integration(&args.file)?;
    let name = integration.metadata.name.clone().ok_or("the PmsIntegration has no metadata.name")?;
    let namespace = args
        .namespace
        .clone()
        .or_else(|| integration.metadata.namespace.clone())
        .unwrap_or_else(|| "default".to_string());
    // The spec's own rules first, so a broken spec is reported without reaching for a cluster;
    // `validate` below checks them again with the Secrets.
    validate::validate_spec(&integration.spec, &namespace).map_err(|e| format!("invalid spec: {e}"))?;
    let names = validate::secret_names(&integration.spec);
    let (secrets, cluster) = match &args.secrets_dir {
        Some(dir) => (read_secret_dir(dir, &names)?, None),
        None => {
            eprintln!("reading Secrets {names:?} from namespace {namespace:?}");
            let client = kube::Client::try_default()
                .await
                .map_err(|e| format!("no cluster to read Secrets from ({e}); use --secrets DIR"))?;
            let read = dereference::read(&client, &namespace, &names).await.map_err(|e| e.to_string())?;
            (read.found.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect(), Some(client))
        }
    };
    let validated = validate::validate(&integration.spec, &namespace, |n| secrets.get(n))
        .map_err(|f| format!("{}: {}", f.reason, f.message))?;

    let http = |target| HttpClient::new(target, HttpSettings::default(), Metrics::default());
    let limiter = |_: String, limit| std::sync::Arc::new(crate::http::RateLimiter::new(limit));
    // DOOR's identity map: read from the cluster when there is one (never written: a plan writes
    // nothing); with --secrets it starts empty and existing DOOR users show up as adoptions.
    let store: std::sync::Arc<dyn MappingStore> = match &cluster {
        Some(client) => {
            let building = validated
                .spec
                .door_building()
                .map(|(url, uuid)| crate::controller::identity_store::building_key(url, uuid))
                .unwrap_or_default();
            let building = building.as_str();
            let store = ConfigMapStore::new(client.clone(), &args.state_namespace, &namespace, &name, None, building);
            std::sync::Arc::new(store)
        }
        None => std::sync::Arc::new(MemoryStore::default()),
    };
    // A plan of an integration whose map is lost says so, as the controller's run would.
    let synced_before =
        cluster.is_some() && integration.status.as_ref().is_some_and(crate::controller::status::synced_before);
    let door_parts = || build::DoorParts { tokens: Default::default(), store, expects_map: synced_before };
    let (connector, target) = build::clients(&validated, http, &limiter, door_parts);
    let approval =
        integration.metadata.annotations.as_ref().and_then(|a| a.get(APPROVE_DEPROVISION_ANNOTATION)).cloned();
    let scope = Scope::new(&namespace, &name);
    let mut config = build::sync_config(&validated.spec, jiff::Timestamp::now(), scope, approval, 2, 1, None);
    // Deactivate, then delete: the deletions due come from the controller's record (read only).
    if let (Some(delete_after), Some(client)) = (validated.spec.delete_after, &cluster) {
        let store = DeactivationStore::new(client.clone(), &args.state_namespace, &namespace, &name, None);
        let deactivations = store.load().await.map_err(|e| e.to_string())?;
        let now = config.now.as_second();
        config.retention = Some(sync::Retention { deactivations, delete_after, now });
    }
    let (report, plan) = sync::fetch_and_plan(&connector, &target, &config, &StderrProgress).await;

    let document = describe(&namespace, &name, &report, plan.as_ref());
    let mut out = std::io::stdout().lock();
    let printed = match args.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&document).unwrap_or_default()),
        Output::Table => write!(out, "{}", table(&document)),
    };
    printed.map_err(|e| format!("cannot write the plan: {e}"))?;

    let failed = report.fatal.is_some() || report.properties.iter().any(|p| p.error.is_some());
    let pending = plan.as_ref().is_some_and(|p| !p.is_empty()) || report.hold().is_some();
    Ok(if failed {
        ERROR
    } else if pending {
        CHANGES_PENDING
    } else {
        NO_CHANGES
    })
}

fn read_integration(path: &Path) -> Result<PmsIntegration, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut found = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|e| format!("{} is not YAML: {e}", path.display()))?;
        if value["kind"] == "PmsIntegration" {
            found.push(value);
        }
    }
    match found.len() {
        1 => serde_json::from_value(found.remove(0)).map_err(|e| format!("not a valid PmsIntegration: {e}")),
        0 => Err(format!("{} holds no PmsIntegration", path.display())),
        n => Err(format!("{} holds {n} PmsIntegrations; plan one file per integration", path.display())),
    }
}

/// `DIR/<secret name>/<key>`: the layout of a mounted Secret volume, one directory per Secret.
fn read_secret_dir(dir: &Path, names: &[&str]) -> Result<BTreeMap<String, SecretData>, String> {
    let mut out = BTreeMap::new();
    for name in names {
        let path = dir.join(name);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(_) => continue, // reported as CredentialsNotFound by `validate`
        };
        let mut values = BTreeMap::new();
        for entry in entries.flatten() {
            let file = entry.path();
            if file.is_file()
                && let (Some(key), Ok(value)) =
                    (file.file_name().and_then(|k| k.to_str()), std::fs::read_to_string(&file))
            {
                values.insert(key.to_string(), value);
            }
        }
        out.insert(name.to_string(), SecretData::new(*name, values));
    }
    Ok(out)
}

/// The plan as a JSON document (the `--output json` form, and the table's source).
fn describe(namespace: &str, name: &str, report: &SyncReport, plan: Option<&Plan>) -> Value {
    let action = |a: &Action, held: bool| {
        let user_id = match a {
            Action::Create(_) => None,
            Action::Update { existing, .. } | Action::Adopt { existing, .. } => Some(existing.id.clone()),
            Action::Deactivate(m) | Action::Delete(m) => Some(m.id.clone()),
        };
        json!({"action": a.verb(), "externalId": a.external_id(), "userId": user_id, "held": held})
    };
    let mut actions: Vec<Value> =
        plan.map(|p| p.actions.iter().map(|a| action(a, false)).collect()).unwrap_or_default();
    let breaker = match &report.guard {
        Some(Guard::Held { actions: held, digest, reasons }) => {
            actions.extend(held.iter().map(|a| action(a, true)));
            json!({"state": "held", "count": held.len(), "planDigest": digest,
                   "reason": reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")})
        }
        Some(Guard::Released { count, digest }) => json!({"state": "released", "count": count, "planDigest": digest}),
        _ => json!({"state": "clear"}),
    };
    let c = &report.counts;
    json!({
        "integration": format!("{namespace}/{name}"),
        "properties": report.properties.iter().map(|p| {
            let planned = report.planned.get(&p.id).cloned().unwrap_or_default();
            json!({"id": p.id, "residents": p.residents, "error": p.error.as_ref().map(|e| e.to_string()),
                   "create": planned.create, "update": planned.update, "adopt": planned.adopt, "deprovision": planned.deprovision})
        }).collect::<Vec<_>>(),
        "actions": actions,
        "breaker": breaker,
        "conflicts": report.conflicts.iter().map(|c| json!({"externalId": c.external_id, "userId": c.user_id})).collect::<Vec<_>>(),
        "duplicateEmails": report.duplicate_emails,
        "groups": report.groups.changes.iter().map(|g| json!({"externalId": g.external_id, "create": g.id.is_none() || g.adopt,
            "add": g.add, "remove": g.remove})).collect::<Vec<_>>(),
        "groupConflicts": report.groups.conflicts,
        "groupMembershipsHeld": report.groups.held,
        "summary": {"fetched": c.fetched, "excluded": c.excluded, "desired": c.desired, "unchanged": c.unchanged,
                    "held": c.held, "conflicts": c.conflicts, "duplicateEmails": c.duplicate_emails},
        "error": report.fatal.as_ref().map(|e| e.to_string()),
    })
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn table(doc: &Value) -> String {
    let mut out =
        format!("Plan for PmsIntegration {} (nothing was written)\n\n", doc["integration"].as_str().unwrap_or(""));
    out.push_str(&format!(
        "{:<14} {:>9} {:>7} {:>7} {:>6} {:>12}  STATUS\n",
        "PROPERTY", "RESIDENTS", "CREATE", "UPDATE", "ADOPT", "DEPROVISION"
    ));
    for p in doc["properties"].as_array().into_iter().flatten() {
        let status = p["error"].as_str().map_or("ok".to_string(), |e| format!("failed, left untouched: {e}"));
        out.push_str(&format!(
            "{:<14} {:>9} {:>7} {:>7} {:>6} {:>12}  {status}\n",
            p["id"].as_str().unwrap_or(""),
            n(&p["residents"]),
            n(&p["create"]),
            n(&p["update"]),
            n(&p["adopt"]),
            n(&p["deprovision"])
        ));
    }
    let actions = doc["actions"].as_array().cloned().unwrap_or_default();
    if !actions.is_empty() {
        out.push_str(&format!("\n{:<11} {:<50} {}\n", "ACTION", "IDENTITY (externalId)", "DESTINATION USER"));
        for a in &actions {
            let verb = a["action"].as_str().unwrap_or("");
            let verb = if a["held"] == true { format!("{verb}*") } else { verb.to_string() };
            out.push_str(&format!(
                "{verb:<11} {:<50} {}\n",
                a["externalId"].as_str().unwrap_or(""),
                a["userId"].as_str().unwrap_or("-")
            ));
        }
    }
    let groups = doc["groups"].as_array().cloned().unwrap_or_default();
    if !groups.is_empty() {
        out.push_str(&format!("\n{:<8} {:<50} {}\n", "GROUP", "IDENTITY (externalId)", "MEMBERS (+ join, - leave)"));
        for g in &groups {
            let ids = |side: &str, sign: char| -> Vec<String> {
                g[side]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .map(|id| format!("{sign}{id}"))
                    .collect()
            };
            let members = [ids("add", '+'), ids("remove", '-')].concat().join(" ");
            let verb = if g["create"] == true { "create" } else { "update" };
            out.push_str(&format!("{verb:<8} {:<50} {members}\n", g["externalId"].as_str().unwrap_or("")));
        }
    }
    for g in doc["groupConflicts"].as_array().into_iter().flatten() {
        out.push_str(&format!("group conflict: {} (a group of that name is not ours)\n", g.as_str().unwrap_or("")));
    }
    if n(&doc["groupMembershipsHeld"]) > 0 {
        out.push_str(&format!("{} group memberships held by the breaker\n", n(&doc["groupMembershipsHeld"])));
    }
    let s = &doc["summary"];
    out.push_str(&format!(
        "\nfetched {}, excluded {}, desired {}; {} writes planned, {} unchanged, {} held, {} conflicts, {} sharing an email\n",
        s["fetched"], s["excluded"], s["desired"], actions.iter().filter(|a| a["held"] != true).count(), s["unchanged"], s["held"], s["conflicts"], s["duplicateEmails"]
    ));
    let b = &doc["breaker"];
    let (ns, name) = doc["integration"].as_str().unwrap_or("").split_once('/').unwrap_or(("", ""));
    match b["state"].as_str() {
        Some("held") => out.push_str(&format!(
            "\n* held by the deprovisioning breaker: {} ({} users). A sync applies everything else; approve exactly this plan with\n  kubectl -n {ns} annotate pmsintegration {name} {APPROVE_DEPROVISION_ANNOTATION}={} --overwrite\n",
            b["reason"].as_str().unwrap_or(""),
            b["count"],
            b["planDigest"].as_str().unwrap_or("")
        )),
        Some("released") => out.push_str("\nthe approval annotation names this plan: its deprovisioning would proceed\n"),
        _ => {}
    }
    for c in doc["conflicts"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "conflict: {} (destination user {})\n",
            c["externalId"].as_str().unwrap_or(""),
            c["userId"].as_str().unwrap_or("?")
        ));
    }
    for d in doc["duplicateEmails"].as_array().into_iter().flatten() {
        out.push_str(&format!("shares an email, held back: {}\n", d.as_str().unwrap_or("")));
    }
    if let Some(error) = doc["error"].as_str() {
        out.push_str(&format!("\nerror: {error}\n"));
    }
    out
}
