//! End-to-end test harness: the real test apiserver (started by `scripts/test.sh`), a real
//! `scim2-server` per test, the Buildium fake, and the controller scoped to a fresh namespace.

#![allow(dead_code)]

pub use pms_sync_fakes::buildium_fake::ControlledFake;
#[allow(unused_imports)] // each test binary uses some of them
pub use pms_sync_fakes::{buildium_fake, door_fake, vendor_fakes};
pub mod dns;
pub mod hostile;
pub mod load_bed;
pub mod prism;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use pms_sync::api::{PmsIntegration, REQUESTED_AT_ANNOTATION};
use pms_sync::controller::{self, Settings};
use pms_sync::http::HttpSettings;
use pms_sync::metrics::Metrics;
use serde_json::{Value, json};

use buildium_fake::{BuildiumFake, Dataset, Lease, Property, Tenant};

pub const WAIT: Duration = Duration::from_secs(60);
pub const BUILDIUM_ID: &str = "e2e-client-id";
pub const BUILDIUM_SECRET: &str = "e2e-client-secret-Zq81";
pub const SCIM_TOKEN: &str = "e2e-scim-token-Hk27";
/// The controller's own namespace in the tests: its state (DOOR identity maps) lives here, apart
/// from the integrations' namespaces.
pub const STATE_NAMESPACE: &str = "pms-sync-state";

/// A client for the test apiserver named by `PMS_SYNC_TEST_KUBECONFIG`, with the CRD installed.
pub async fn client() -> Client {
    let path = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap_or_else(|_| {
        panic!(
            "end-to-end tests need the project's test apiserver: run scripts/test.sh (it sets PMS_SYNC_TEST_KUBECONFIG)"
        )
    });
    let kubeconfig = Kubeconfig::read_from(&path).expect("read the test kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable test kubeconfig");
    let client = Client::try_from(config).expect("a kube client");
    install_crd(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let state: Namespace = serde_json::from_value(json!({"metadata": {"name": STATE_NAMESPACE}})).unwrap();
    namespaces
        .patch(STATE_NAMESPACE, &PatchParams::apply("pms-sync-tests").force(), &Patch::Apply(&state))
        .await
        .expect("the state namespace");
    client
}

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_yaml::from_str(&pms_sync::crd_yaml()).unwrap();
    crds.patch("pmsintegrations.pmssync.io", &PatchParams::apply("pms-sync-tests").force(), &Patch::Apply(&crd))
        .await
        .expect("apply the CRD");
    let deadline = Instant::now() + WAIT;
    loop {
        let crd = crds.get("pmsintegrations.pmssync.io").await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(Instant::now() < deadline, "CRD not established");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client for the test apiserver reached at `server` (a relay in front of it).
pub async fn client_at(server: &str) -> Client {
    let path = std::env::var("PMS_SYNC_TEST_KUBECONFIG").expect("run scripts/test.sh");
    let kubeconfig = Kubeconfig::read_from(&path).expect("read the test kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable test kubeconfig");
    config.cluster_url = server.parse().expect("a server URL");
    Client::try_from(config).expect("a kube client")
}

/// Creates a namespace with a unique name.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{:08x}", fastrand::u32(..));
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.expect("create namespace");
    name
}

pub async fn create_secret(client: &Client, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let string_data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": string_data})).unwrap();
    api.patch(name, &PatchParams::apply("pms-sync-tests").force(), &Patch::Apply(&secret)).await.expect("apply Secret");
}

/// Creates the two credential Secrets the standard integration references.
pub async fn standard_secrets(client: &Client, namespace: &str) {
    create_secret(client, namespace, "buildium", &[("clientId", BUILDIUM_ID), ("clientSecret", BUILDIUM_SECRET)]).await;
    create_secret(client, namespace, "scim", &[("token", SCIM_TOKEN)]).await;
}

/// A `PmsIntegration` manifest for Buildium → SCIM; tweak it before applying.
pub fn integration(name: &str, buildium_url: &str, scim_url: &str, property_ids: &[&str]) -> Value {
    json!({
        "apiVersion": "pmssync.io/v1alpha1",
        "kind": "PmsIntegration",
        "metadata": {"name": name},
        "spec": {
            "interval": "1h",
            "pms": {"provider": "buildium", "credentialsSecretRef": {"name": "buildium"}, "baseUrl": buildium_url},
            "propertyIds": property_ids,
            "excludedLeaseStatuses": ["Past"],
            "destination": {"scim": {"url": scim_url, "credentialsSecretRef": {"name": "scim"}}},
        }
    })
}

pub async fn apply_integration(client: &Client, namespace: &str, manifest: &Value) {
    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
    let name = manifest["metadata"]["name"].as_str().unwrap();
    api.patch(name, &PatchParams::apply("pms-sync-tests").force(), &Patch::Apply(manifest))
        .await
        .expect("apply PmsIntegration");
}

/// Sets a new `requestedAt` token and waits until the controller echoes it.
pub async fn request_sync(client: &Client, namespace: &str, name: &str) -> PmsIntegration {
    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
    let token = format!("{}-{:x}", jiff::Timestamp::now().as_nanosecond(), fastrand::u32(..));
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    wait_for(client, namespace, name, "the token echo", |i| {
        i.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some(token.as_str())
    })
    .await
}

/// Polls the integration until `predicate` holds (60 s at most).
pub async fn wait_for(
    client: &Client,
    namespace: &str,
    name: &str,
    what: &str,
    predicate: impl Fn(&PmsIntegration) -> bool,
) -> PmsIntegration {
    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + WAIT;
    loop {
        let current = api.get_opt(name).await.expect("get PmsIntegration");
        if let Some(obj) = &current
            && predicate(obj)
        {
            return obj.clone();
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last status: {:#?}", current.and_then(|o| o.status));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn ready(obj: &PmsIntegration) -> Option<(String, String)> {
    let status = obj.status.as_ref()?;
    let c = pms_sync::conditions::get(&status.conditions, pms_sync::conditions::READY)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// Waits for `Ready` with the given status and reason.
pub async fn wait_ready(client: &Client, namespace: &str, name: &str, status: &str, reason: &str) -> PmsIntegration {
    wait_for(client, namespace, name, &format!("Ready={status} ({reason})"), |i| {
        ready(i) == Some((status.to_string(), reason.to_string()))
    })
    .await
}

/// The controller, in-process, watching one namespace. Stops when dropped.
pub struct RunningController {
    task: tokio::task::JoinHandle<bool>,
}

impl Drop for RunningController {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn start_controller(client: &Client, namespace: &str) -> RunningController {
    start_controller_with(client, namespace, Metrics::default(), |_| {})
}

/// [`start_controller`] with `metrics` (to read them) and `tweak` applied to the test settings.
pub fn start_controller_with(
    client: &Client,
    namespace: &str,
    metrics: Metrics,
    tweak: impl FnOnce(&mut Settings),
) -> RunningController {
    let mut settings = Settings {
        watch_namespaces: vec![namespace.to_string()],
        http: HttpSettings {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
            ..HttpSettings::default()
        },
        startup_spread: Duration::ZERO,
        state_namespace: STATE_NAMESPACE.into(),
        // Slow syncs in these tests take seconds, not the default's ten.
        reconciling_after: Duration::from_secs(1),
        ..Settings::default()
    };
    tweak(&mut settings);
    let ready = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(controller::run(client.clone(), settings, metrics, ready, std::future::pending::<()>()));
    RunningController { task }
}

impl RunningController {
    /// Whether the controller is still running (it never stops by itself in the tests).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

/// A real `scim2-server` on a free loopback port. Killed when dropped.
pub struct ScimServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scim_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("PMS_SYNC_SCIM_SERVER") {
        return path.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let path = PathBuf::from(home).join(".cache/pms-sync/venv-scim/bin/scim2-server");
    assert!(path.exists(), "scim2-server not installed: run scripts/test-env.sh install (or scripts/test.sh)");
    path
}

/// A loopback port free just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ScimServer {
    /// Every feature of scim2-server.
    pub async fn full() -> Self {
        Self::start(None).await
    }

    /// A weaker peer: no PATCH, bulk, sort or ETag, and pages of at most 5.
    pub async fn reduced() -> Self {
        Self::start(Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": false},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": 5},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "bearer_token", "description": "HTTP Bearer Token"}]
        })))
        .await
    }

    async fn start(config: Option<Value>) -> Self {
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let mut command = Command::new(scim_server_binary());
            command
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", SCIM_TOKEN])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(config) = &config {
                let file = dir.path().join("spc.json");
                std::fs::write(&file, serde_json::to_vec(config).unwrap()).unwrap();
                command.arg("--service-provider-config").arg(&file);
            }
            let child = command.spawn().expect("start scim2-server");
            let mut server = ScimServer { child, port, _dir: dir, http: reqwest::Client::new() };
            if server.wait_until_serving().await {
                return server;
            }
        }
        panic!("scim2-server did not start");
    }

    async fn wait_until_serving(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/ServiceProviderConfig", self.url());
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// Every user, read page by page (the reduced server caps pages at 5).
    pub async fn users(&self) -> Vec<Value> {
        self.list("Users").await
    }

    /// Every group, read page by page.
    pub async fn groups(&self) -> Vec<Value> {
        self.list("Groups").await
    }

    async fn list(&self, path: &str) -> Vec<Value> {
        let mut resources = Vec::new();
        loop {
            let url = format!("{}/{path}?startIndex={}&count=5", self.url(), resources.len() + 1);
            let page: Value = self.http.get(&url).bearer_auth(SCIM_TOKEN).send().await.unwrap().json().await.unwrap();
            let received = page["Resources"].as_array().cloned().unwrap_or_default();
            let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
            if received.is_empty() {
                return resources;
            }
            resources.extend(received);
            if resources.len() >= total {
                return resources;
            }
        }
    }

    /// POSTs a resource (as someone other than pms-sync would) and returns what the server made.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/{path}", self.url()))
            .bearer_auth(SCIM_TOKEN)
            .header("content-type", "application/scim+json")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create {path}");
        response.json().await.unwrap()
    }

    /// Users by externalId (users without one are keyed by userName).
    pub async fn users_by_key(&self) -> BTreeMap<String, Value> {
        self.users()
            .await
            .into_iter()
            .map(|u| {
                let key = u["externalId"].as_str().or(u["userName"].as_str()).unwrap_or_default().to_string();
                (key, u)
            })
            .collect()
    }

    pub async fn create_user(&self, body: Value) {
        self.post("Users", body).await;
    }
}

pub fn tenant(id: i64, status: &str, first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> Tenant {
    Tenant {
        id,
        status: status.into(),
        first_name: first.into(),
        last_name: last.into(),
        email: email.map(Into::into),
        phones: phone.map(|p| vec![(p.to_string(), "Cell".to_string())]).unwrap_or_default(),
        move_in: Some("2025-01-01".into()),
        move_out: None,
        notice_given: None,
    }
}

pub fn lease(id: i64, unit: &str, status: &str, tenants: Vec<Tenant>) -> Lease {
    Lease {
        id,
        unit: unit.into(),
        status: status.into(),
        from: Some("2025-01-01".into()),
        to: Some("2026-12-31".into()),
        eviction_pending: false,
        tenants,
        cosigners: vec![],
    }
}

/// Three properties: 101 and 102 are attached in the tests, 103 never is.
///
/// Expected with `excludedLeaseStatuses: [Past]`: active users 1, 2, 6, 7, 8; inactive (future) 3,
/// whose move-in is years away; excluded 4 (moved out, past lease) and 5 (moved out of an active
/// lease); 9 is not attached.
pub fn dataset() -> Dataset {
    let mut data = unscheduled_dataset();
    data.tenant_mut(3).for_each(|t| t.move_in = Some("2099-06-01".into()));
    data
}

fn unscheduled_dataset() -> Dataset {
    Dataset {
        properties: vec![
            Property {
                id: 101,
                leases: vec![
                    lease(
                        1,
                        "1A",
                        "Active",
                        vec![
                            tenant(1, "Current", "Zoë", "Ångström", Some("zoe@example.org"), Some("555-0001")),
                            tenant(2, "Current", "José", "Núñez", Some("jose@example.org"), Some("555-0002")),
                        ],
                    ),
                    lease(2, "1B", "Future", vec![tenant(3, "Future", "Mei", "Wáng", Some("mei@example.org"), None)]),
                    lease(3, "1C", "Past", vec![tenant(4, "MovedOut", "Olaf", "Past", Some("olaf@example.org"), None)]),
                    lease(
                        4,
                        "1D",
                        "Active",
                        vec![
                            tenant(5, "MovedOut", "Rémi", "Gone", Some("remi@example.org"), None),
                            tenant(6, "Current", "Ørjan", "Søreide", None, Some("555-0006")),
                        ],
                    ),
                ],
            },
            Property {
                id: 102,
                leases: vec![
                    lease(
                        5,
                        "2A",
                        "Active",
                        vec![tenant(
                            7,
                            "Current",
                            "Siobhán",
                            "Ó Briain",
                            Some("siobhan@example.org"),
                            Some("555-0007"),
                        )],
                    ),
                    lease(
                        6,
                        "2B",
                        "Active",
                        vec![tenant(8, "Current", "Kofi", "Mensah", Some("kofi@example.org"), None)],
                    ),
                ],
            },
            Property {
                id: 103,
                leases: vec![lease(
                    7,
                    "3A",
                    "Active",
                    vec![tenant(9, "Current", "Not", "Attached", Some("not@example.org"), None)],
                )],
            },
        ],
    }
}

/// Runs the shipped `pms-sync plan` with `args`, against the cluster of `kubeconfig` if given
/// (otherwise with no cluster at all).
pub fn run_plan(args: &[&str], kubeconfig: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pms-sync"));
    command.arg("plan").args(args).env_remove("KUBECONFIG").env("STATE_NAMESPACE", STATE_NAMESPACE);
    if let Some(path) = kubeconfig {
        command.env("KUBECONFIG", path);
    }
    command.output().expect("run pms-sync plan")
}

/// Warning events of an integration's namespace with `reason`, as (reason, note).
pub async fn warnings(client: &Client, namespace: &str, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    let events = api.list(&Default::default()).await.expect("list events");
    events
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some(reason))
        .map(|e| e.note.unwrap_or_default())
        .collect()
}

/// Sets an annotation on the integration.
pub async fn annotate(client: &Client, namespace: &str, name: &str, key: &str, value: &str) {
    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
}

/// A new tenant for change scenarios.
pub fn new_tenant(id: i64, first: &str, last: &str, email: &str) -> Tenant {
    tenant(id, "Current", first, last, Some(email), None)
}

/// Every personal value in [`dataset`] and [`new_tenant`] calls of the tests, for leak checks.
pub const PERSONAL_VALUES: &[&str] = &[
    "Zoë",
    "Ångström",
    "zoe@example.org",
    "José",
    "Núñez",
    "jose@example.org",
    "Mei",
    "Wáng",
    "mei@example.org",
    "Ørjan",
    "Søreide",
    "Siobhán",
    "Ó Briain",
    "siobhan@example.org",
    "Kofi",
    "Mensah",
    "kofi@example.org",
    "555-0001",
    "555-0002",
    "555-0006",
    "555-0007",
];

/// The standard scenario: one integration named [`NAME`] over properties 101 and 102.
pub const NAME: &str = "harbor";

pub fn id(ns: &str, property: &str, person: i64) -> String {
    format!("{ns}/{NAME}/{property}/{person}")
}

/// Everything one scenario needs, started and wired.
pub struct World {
    pub client: kube::Client,
    pub ns: String,
    pub fake: BuildiumFake,
    pub scim: ScimServer,
    pub _controller: RunningController,
}

impl World {
    pub async fn start(scim: ScimServer) -> Self {
        let client = client().await;
        let ns = namespace(&client, "e2e").await;
        let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
        // Tiny pages, so every listing needs several requests.
        fake.set_max_page(2);
        standard_secrets(&client, &ns).await;
        let controller = start_controller(&client, &ns);
        World { client, ns, fake, scim, _controller: controller }
    }

    pub fn manifest(&self) -> Value {
        integration(NAME, &self.fake.url(), &self.scim.url(), &["101", "102"])
    }

    pub async fn apply(&self, manifest: &Value) {
        apply_integration(&self.client, &self.ns, manifest).await;
    }

    /// Requests a sync with nothing changed in the PMS: every managed user is unchanged and the
    /// destination is exactly as before (no write touched a timestamp or version).
    pub async fn assert_idle_sync_writes_nothing(&self, managed: u64) {
        let before = self.scim.users_by_key().await;
        let obj = request_sync(&self.client, &self.ns, NAME).await;
        let s = summary(&obj);
        assert_eq!((s.created, s.updated, s.deprovisioned, s.failed, s.unchanged), (0, 0, 0, 0, managed));
        assert_eq!(before, self.scim.users_by_key().await);
    }

    pub async fn first_sync(&self) -> pms_sync::api::PmsIntegration {
        self.apply(&self.manifest()).await;
        wait_ready(&self.client, &self.ns, NAME, "True", "Succeeded").await
    }
}

/// The webhook token of [`Hooked`] integrations.
pub const WEBHOOK_TOKEN: &str = "e2e-webhook-token-0123456789abcdef";

/// An integration ([`NAME`], properties 101 and 102) with a webhook trigger, synced once; its
/// controller, and the controller's receiver on a loopback port.
pub struct Hooked {
    pub client: Client,
    pub ns: String,
    pub fake: BuildiumFake,
    pub scim: ScimServer,
    /// Where the receiver listens.
    pub receiver: std::net::SocketAddr,
    /// The integration after its first sync.
    pub synced: PmsIntegration,
    _controller: RunningController,
}

impl Hooked {
    /// `tweak` edits the manifest before it is applied.
    pub async fn start(tweak: impl FnOnce(&mut Value)) -> Self {
        Self::start_with(tweak, |_| {}, Metrics::default()).await
    }

    /// [`start`](Self::start) with the controller's settings edited by `settings` and its
    /// metrics kept in `metrics`.
    pub async fn start_with(
        tweak: impl FnOnce(&mut Value),
        settings: impl FnOnce(&mut Settings),
        metrics: Metrics,
    ) -> Self {
        let client = client().await;
        let ns = namespace(&client, "hook").await;
        let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
        let scim = ScimServer::full().await;
        standard_secrets(&client, &ns).await;
        create_secret(&client, &ns, "hook", &[("token", WEBHOOK_TOKEN)]).await;
        let mut registry = None;
        let controller = start_controller_with(&client, &ns, metrics, |s| {
            registry = Some(s.receiver.clone());
            settings(s);
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = listener.local_addr().unwrap();
        tokio::spawn(pms_sync::receiver::serve(listener, registry.unwrap(), std::future::pending()));
        let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
        manifest["spec"]["triggers"] = json!({"webhook": {"secretRef": {"name": "hook"}}});
        tweak(&mut manifest);
        apply_integration(&client, &ns, &manifest).await;
        let synced = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
        Hooked { client, ns, fake, scim, receiver, synced, _controller: controller }
    }

    /// `status.webhookPath` after the first sync.
    pub fn path(&self) -> String {
        self.synced.status.as_ref().and_then(|s| s.webhook_path.clone()).expect("status.webhookPath")
    }

    /// Sends one signed webhook for every property and waits for its run to be recorded.
    pub async fn webhook_run(&self) -> PmsIntegration {
        let api: Api<PmsIntegration> = Api::namespaced(self.client.clone(), &self.ns);
        let runs = |i: &PmsIntegration| i.status.as_ref().map_or(0, |s| s.history.len());
        let before = runs(&api.get(NAME).await.unwrap());
        // A body of its own: two runs asked for within one second are two requests, not a replay.
        let body = format!("run {}", jiff::Timestamp::now().as_nanosecond()).into_bytes();
        let answer = reqwest::Client::new()
            .post(format!("http://{}{}", self.receiver, self.path()))
            .header("X-Signature", pms_sync::receiver::signature(WEBHOOK_TOKEN, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        wait_for(&self.client, &self.ns, NAME, "the webhook's run", |i| runs(i) > before).await
    }
}

/// Calls the controller made to `target` (`buildium`, `scim`, …), whatever their outcome.
pub fn api_calls(metrics: &Metrics, target: &str) -> u64 {
    let prefix = format!("pms_sync_api_calls_total{{target=\"{target}\"");
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

pub fn summary(obj: &pms_sync::api::PmsIntegration) -> pms_sync::api::SyncSummary {
    obj.status.as_ref().and_then(|s| s.summary.clone()).expect("summary")
}

pub fn assert_no_personal_data(obj: &pms_sync::api::PmsIntegration) {
    let status = serde_json::to_string(&obj.status).unwrap();
    for value in PERSONAL_VALUES.iter().chain([BUILDIUM_SECRET, SCIM_TOKEN].iter()) {
        assert!(!status.contains(value), "status contains {value:?}: {status}");
    }
}
