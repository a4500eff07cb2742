//! The load bed (issue 17, BENCHMARKS.md "Scale"): N integrations in M namespaces against
//! Buildium fakes on one or more vendor hosts and a SCIM destination, run by the real controller
//! binary as its own process on the test apiserver, and what that costs, measured from outside
//! the controller:
//!
//! - memory and CPU from `/proc/<pid>` (`VmRSS`, `VmHWM`, `utime + stime`);
//! - apiserver requests from the apiserver's own `apiserver_request_total`, and the writes to the
//!   bed's own integrations from a watch of them (the apiserver's totals count every test's);
//! - PMS requests, peak requests in flight and 429s at each Buildium fake (one per vendor host,
//!   each serving one account whose budget it enforces);
//! - readiness and runs from the integrations' status.
//!
//! Used by `tests/e2e_load.rs` (50 integrations, in CI) and `benches/load.rs` (1,000, by hand).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use pms_sync::api::PmsIntegration;
use pms_sync_fakes::scim_fake::ScimFake;
use pms_sync_fakes::traffic::Counts;
use serde_json::json;

use super::buildium_fake::{BuildiumFake, Dataset, Property};
use super::{BUILDIUM_ID, BUILDIUM_SECRET, SCIM_TOKEN, STATE_NAMESPACE, ScimServer, create_secret, lease, tenant};

/// Label on every object of one bed, valued with the bed's id.
const BED_LABEL: &str = "pmssync.io/load-bed";

/// What to build.
#[derive(Clone, Debug)]
pub struct Shape {
    pub integrations: usize,
    pub namespaces: usize,
    /// Residents per integration (one property each, one tenant per lease).
    pub residents: usize,
    /// Vendor hosts: Buildium fakes, one account each; integration `k` calls host `k % hosts`.
    pub hosts: usize,
    /// The budget each fake enforces (requests per second, then 429).
    pub host_budget_per_second: usize,
    /// `spec.pms.maxRequestsPerMinute` of every integration.
    pub max_requests_per_minute: u32,
    /// The fast in-memory SCIM fake instead of scim2-server.
    pub fast_scim: bool,
}

/// The SCIM destination the bed writes to.
enum Scim {
    Fast(ScimFake),
    Server(ScimServer),
}

/// A bed: its fakes, its integrations and, while one runs, the controller process.
pub struct Bed {
    pub client: Client,
    pub shape: Shape,
    pub id: String,
    pub hosts: Vec<BuildiumFake>,
    scim: Scim,
    pub namespaces: Vec<String>,
    controller: Option<Child>,
    pub log: PathBuf,
    /// `LIST pmsintegrations` calls the bed itself made (not the controller's).
    own_lists: AtomicU64,
    /// Modifications of the bed's integrations a watch saw after listing them.
    modified: Arc<AtomicU64>,
    /// Those the bed made itself.
    own_writes: AtomicU64,
    watching: tokio::task::JoinHandle<()>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.stop_controller();
        self.watching.abort();
    }
}

/// The controller process's resources at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub cpu_seconds: f64,
}

impl Bed {
    /// Starts the fakes and creates the namespaces, Secrets and integrations (no controller yet).
    pub async fn build(client: Client, shape: Shape) -> Self {
        let id = format!("{:08x}", fastrand::u32(..));
        let mut hosts = Vec::new();
        for host in 0..shape.hosts {
            let properties = (0..shape.integrations)
                .filter(|k| k % shape.hosts == host)
                .map(|k| building(k as i64 + 1, shape.residents))
                .collect();
            let fake = BuildiumFake::start(Dataset { properties }, BUILDIUM_ID, BUILDIUM_SECRET).await;
            fake.set_budget(shape.host_budget_per_second, Duration::from_secs(1));
            hosts.push(fake);
        }
        let scim = if shape.fast_scim {
            Scim::Fast(ScimFake::start_on("127.0.0.1:0".parse().unwrap(), SCIM_TOKEN).await)
        } else {
            Scim::Server(ScimServer::full().await)
        };
        let scim_url = match &scim {
            Scim::Fast(fake) => fake.url(),
            Scim::Server(server) => server.url(),
        };
        let namespaces: Vec<String> = (0..shape.namespaces).map(|n| format!("load-{id}-{n}")).collect();
        let ns_api: Api<Namespace> = Api::all(client.clone());
        for ns in &namespaces {
            let body: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns, "labels": {BED_LABEL: id}}})).unwrap();
            ns_api.create(&PostParams::default(), &body).await.expect("create a bed namespace");
            create_secret(&client, ns, "buildium", &[("clientId", BUILDIUM_ID), ("clientSecret", BUILDIUM_SECRET)])
                .await;
            create_secret(&client, ns, "scim", &[("token", SCIM_TOKEN)]).await;
        }
        let manifests: Vec<(String, serde_json::Value)> = (0..shape.integrations)
            .map(|k| {
                let ns = namespaces[k % namespaces.len()].clone();
                let manifest = json!({
                    "apiVersion": "pmssync.io/v1alpha1",
                    "kind": "PmsIntegration",
                    "metadata": {"name": format!("building-{k}"), "labels": {BED_LABEL: id}},
                    "spec": {
                        "interval": "1h",
                        "pms": {"provider": "buildium", "credentialsSecretRef": {"name": "buildium"},
                                "baseUrl": hosts[k % shape.hosts].url(),
                                "maxRequestsPerMinute": shape.max_requests_per_minute},
                        "propertyIds": [(k + 1).to_string()],
                        "destination": {"scim": {"url": scim_url, "credentialsSecretRef": {"name": "scim"}}},
                    }
                });
                (ns, manifest)
            })
            .collect();
        futures::stream::iter(manifests)
            .map(|(ns, manifest)| {
                let api: Api<PmsIntegration> = Api::namespaced(client.clone(), &ns);
                async move {
                    let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
                    api.patch(&name, &PatchParams::apply("pms-sync-load-bed").force(), &Patch::Apply(&manifest)).await
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await
            .expect("create the bed's integrations");
        let log = std::env::temp_dir().join(format!("pms-sync-load-{id}.log"));
        let (modified, listed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let selector = format!("{BED_LABEL}={id}");
        let watching = tokio::spawn(count_modifications(client.clone(), selector, modified.clone(), listed.clone()));
        while !listed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let own_lists = AtomicU64::new(0);
        let own_writes = AtomicU64::new(0);
        Self {
            client,
            shape,
            id,
            hosts,
            scim,
            namespaces,
            controller: None,
            log,
            own_lists,
            modified,
            own_writes,
            watching,
        }
    }

    /// Writes to the bed's integrations by others than the bed (the controller's status writes)
    /// since they were created.
    pub fn writes(&self) -> u64 {
        self.modified.load(Ordering::SeqCst).saturating_sub(self.own_writes.load(Ordering::SeqCst))
    }

    /// Starts the controller binary (`binary`, the one cargo built) with the bed's settings and
    /// `args`, logging to [`Bed::log`].
    pub fn start_controller(&mut self, binary: &str, args: &[&str]) {
        let kubeconfig = std::env::var("PMS_SYNC_TEST_KUBECONFIG").expect("run scripts/test.sh");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(binary)
            .arg("controller")
            .args(["--metrics-addr", "127.0.0.1:0", "--receiver-addr", "127.0.0.1:0", "--log-format", "text"])
            .args(["--state-namespace", STATE_NAMESPACE, "--selector", &format!("{BED_LABEL}={}", self.id)])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the controller");
        self.controller = Some(child);
    }

    /// Stops the controller (SIGKILL: what a node loss or an OOM kill does).
    pub fn stop_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The controller's memory and CPU now (`status_kib`, and CPU from `/proc/<pid>/stat`).
    pub fn usage(&self) -> Usage {
        let Some(pid) = self.controller.as_ref().map(Child::id) else { return Usage::default() };
        let field = |name: &str| status_kib(pid, name);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Usage { rss_kib: field("VmRSS:"), peak_rss_kib: field("VmHWM:"), cpu_seconds: ticks as f64 / clock_ticks() }
    }

    /// The bed's integrations as the apiserver has them.
    pub async fn integrations(&self) -> Vec<PmsIntegration> {
        self.own_lists.fetch_add(1, Ordering::SeqCst);
        let api: Api<PmsIntegration> = Api::all(self.client.clone());
        let selector = format!("{BED_LABEL}={}", self.id);
        api.list(&ListParams::default().labels(&selector)).await.expect("list the bed's integrations").items
    }

    /// How many integrations are Ready after at least `runs` runs each.
    pub async fn ready_after(&self, runs: usize) -> usize {
        self.integrations()
            .await
            .iter()
            .filter(|i| {
                super::ready(i).is_some_and(|(status, _)| status == "True")
                    && i.status.as_ref().is_some_and(|s| s.history.len() >= runs)
            })
            .count()
    }

    /// Waits until every integration is Ready after at least `runs` runs; panics after
    /// `timeout`. Returns the time it took.
    pub async fn wait_all_ready(&self, runs: usize, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let ready = self.ready_after(runs).await;
            if ready == self.shape.integrations {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "{ready} of {} integrations Ready after {timeout:?} (controller log: {})",
                self.shape.integrations,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Runs recorded in the integrations' history, in all.
    pub async fn runs(&self) -> usize {
        self.integrations().await.iter().map(|i| i.status.as_ref().map_or(0, |s| s.history.len())).sum()
    }

    /// Makes every integration's scheduled sync due now, as if the controller had been down for
    /// an hour (only while it is stopped: it would write its own `nextSyncTime` back).
    pub async fn make_all_due(&self) {
        assert!(self.controller.is_none(), "stop the controller first");
        let now = jiff::Timestamp::now().to_string();
        let integrations = self.integrations().await;
        self.own_writes.fetch_add(integrations.len() as u64, Ordering::SeqCst);
        futures::stream::iter(integrations)
            .map(|i| {
                let api: Api<PmsIntegration> = Api::namespaced(self.client.clone(), &i.namespace().unwrap());
                let patch = json!({"status": {"nextSyncTime": now}});
                async move { api.patch_status(&i.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await
            .expect("make the integrations due");
    }

    /// PMS traffic at each vendor host, counted by the fakes.
    pub fn pms(&self) -> Vec<Counts> {
        self.hosts.iter().map(|h| h.traffic().counts()).collect()
    }

    /// PMS requests at all hosts so far.
    pub fn pms_requests(&self) -> u64 {
        self.pms().iter().map(|c| c.requests).sum()
    }

    /// Starts counting each host's peak concurrency afresh.
    pub fn reset_peaks(&self) {
        self.hosts.iter().for_each(|h| h.traffic().reset_peak());
    }

    /// Users at the SCIM destination.
    pub async fn scim_users(&self) -> usize {
        match &self.scim {
            Scim::Fast(fake) => fake.users(),
            Scim::Server(server) => server.users().await.len(),
        }
    }

    /// Time the SCIM destination spent answering (the fast fake measures it; zero for
    /// scim2-server, which does not).
    pub fn scim_busy(&self) -> Duration {
        match &self.scim {
            Scim::Fast(fake) => fake.traffic().counts().busy,
            Scim::Server(_) => Duration::ZERO,
        }
    }

    /// SCIM requests so far (the fast fake counts them; scim2-server does not).
    pub fn scim_requests(&self) -> Option<u64> {
        match &self.scim {
            Scim::Fast(fake) => Some(fake.traffic().counts().requests),
            Scim::Server(_) => None,
        }
    }

    /// The apiserver's request counts so far, by `VERB resource[/subresource]`, without the
    /// bed's own listings.
    pub async fn apiserver_requests(&self) -> BTreeMap<String, u64> {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let text = self.client.request_text(request).await.expect("read the apiserver's metrics");
        let mut counts = parse_request_totals(&text);
        let own = self.own_lists.load(Ordering::SeqCst);
        if let Some(lists) = counts.get_mut("LIST pmsintegrations") {
            *lists = lists.saturating_sub(own);
        }
        counts
    }

    /// Deletes the bed's namespaces (and so its integrations and Secrets).
    pub async fn delete(&self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        for ns in &self.namespaces {
            let _ = api.delete(ns, &Default::default()).await;
        }
    }
}

/// Counts into `count` the modifications of the integrations `selector` selects, once a watch has
/// listed them (then `listed`).
async fn count_modifications(client: Client, selector: String, count: Arc<AtomicU64>, listed: Arc<AtomicBool>) {
    use kube::runtime::watcher::{self, Event};
    let api: Api<PmsIntegration> = Api::all(client);
    let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default().labels(&selector)));
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::InitDone) => listed.store(true, Ordering::SeqCst),
            Ok(Event::Apply(_)) if listed.load(Ordering::SeqCst) => {
                count.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// One Buildium property of `residents` leases of one current tenant each (`r<id>@example.org`,
/// IDs from `property` × 100,000).
pub fn building(property: i64, residents: usize) -> Property {
    let leases = (0..residents as i64)
        .map(|i| {
            let id = property * 100_000 + i;
            let email = format!("r{id}@example.org");
            lease(
                id,
                &format!("{property}-{i}"),
                "Active",
                vec![tenant(id, "Current", "F", &format!("L{id}"), Some(&email), None)],
            )
        })
        .collect();
    Property { id: property, leases }
}

/// `apiserver_request_total` summed by `VERB resource[/subresource]`.
pub fn parse_request_totals(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
            labels[start..].split('"').next()
        };
        let (Some(verb), Some(resource)) = (label("verb"), label("resource")) else { continue };
        let key = match label("subresource").filter(|s| !s.is_empty()) {
            Some(sub) => format!("{verb} {resource}/{sub}"),
            None => format!("{verb} {resource}"),
        };
        *counts.entry(key).or_default() += value.parse::<f64>().unwrap_or(0.0) as u64;
    }
    counts
}

/// Status writes among `requests` (server-side apply or patch of `pmsintegrations/status`).
pub fn status_writes(requests: &BTreeMap<String, u64>) -> u64 {
    ["APPLY", "PATCH"].iter().filter_map(|verb| requests.get(&format!("{verb} pmsintegrations/status"))).sum()
}

/// The difference of two [`Bed::apiserver_requests`] readings (non-zero entries only).
pub fn since(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux this runs on; `getconf CLK_TCK` confirms it when available.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A KiB field (`VmRSS:`, `VmHWM:`) of process `pid`'s `/proc/<pid>/status`; 0 when unreadable.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
