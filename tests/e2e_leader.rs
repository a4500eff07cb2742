//! High availability on the real apiserver: of two controllers with leader election, only the
//! Lease holder reconciles; when it dies without releasing, the standby takes over within one
//! lease duration.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use pms_sync::controller::{self, LeaderElection, Settings};
use pms_sync::metrics::Metrics;
use support::buildium_fake::BuildiumFake;
use support::*;

const LEASE: Duration = Duration::from_secs(4);

/// A replica in its own runtime on its own thread, so that killing it stops everything it runs
/// (its Lease renewals included), as a crashed pod would.
struct Replica {
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What the replica's `/readyz` answers.
    ready: Arc<AtomicBool>,
}

impl Replica {
    fn start(ns: &str, identity: &str, metrics: Metrics) -> Self {
        Self::start_via(ns, identity, metrics, None)
    }

    /// Like [`start`](Self::start), reaching the API server at `server` when given.
    fn start_via(ns: &str, identity: &str, metrics: Metrics, server: Option<String>) -> Self {
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let (ns, identity) = (ns.to_string(), identity.to_string());
        let ready = Arc::new(AtomicBool::new(false));
        let shown = ready.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = match server {
                    None => client().await,
                    Some(server) => client_at(&server).await,
                };
                let settings = Settings {
                    watch_namespaces: vec![ns.clone()],
                    startup_spread: Duration::ZERO,
                    state_namespace: STATE_NAMESPACE.into(),
                    instance: Some(identity.clone()),
                    leader_election: Some(LeaderElection {
                        lease_name: "pms-sync-leader".into(),
                        identity: identity.clone(),
                        lease_duration: LEASE,
                        renew_grace: Duration::from_secs(1),
                        // The replica's pod (created by the test, when it wants to see the label).
                        pod: Some(identity.clone()),
                        namespace: ns,
                    }),
                    ..Settings::default()
                };
                tokio::select! {
                    _ = controller::run(client, settings, metrics, ready, std::future::pending()) => {}
                    _ = killed => {}
                }
            });
            runtime.shutdown_background();
        });
        Self { kill: Some(kill), thread: Some(thread), ready: shown }
    }

    fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn holder(client: &kube::Client, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get_opt("pms-sync-leader").await.ok().flatten()?.spec?.holder_identity
}

/// A pod object named `name` (no kubelet runs it here: it stands for the replica's pod).
async fn create_pod(client: &kube::Client, ns: &str, name: &str) {
    use k8s_openapi::api::core::v1::Pod;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "controller", "image": "pms-sync"}]},
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), ns).create(&Default::default(), &pod).await.unwrap();
}

/// Whether pod `name` carries the leader label.
async fn labelled(client: &kube::Client, ns: &str, name: &str) -> bool {
    let pod = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), ns).get(name).await.unwrap();
    pod.metadata.labels.unwrap_or_default().get(pms_sync::controller::lease::LEADER_LABEL).map(String::as_str)
        == Some("true")
}

/// Polls `check` for up to 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reconciles(metrics: &Metrics) -> usize {
    metrics.encode().lines().filter(|l| l.starts_with("pms_sync_reconciles_total{")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let client = client().await;
    let ns = namespace(&client, "leader").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;

    create_pod(&client, &ns, "replica-a").await;
    create_pod(&client, &ns, "replica-b").await;
    let (metrics_a, metrics_b) = (Metrics::default(), Metrics::default());
    let mut a = Replica::start(&ns, "replica-a", metrics_a.clone());
    let deadline = Instant::now() + WAIT;
    while holder(&client, &ns).await.as_deref() != Some("replica-a") {
        assert!(Instant::now() < deadline, "replica-a never became the leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b = Replica::start(&ns, "replica-b", metrics_b.clone());
    // Both replicas pass readiness (a standby too: else a rolling upgrade never finishes); only
    // the leader's pod carries the label the receiver Service selects on.
    eventually("both replicas are ready", || async {
        a.ready.load(Ordering::SeqCst) && b.ready.load(Ordering::SeqCst)
    })
    .await;
    eventually("the leader's pod is labelled", || labelled(&client, &ns, "replica-a")).await;
    assert!(!labelled(&client, &ns, "replica-b").await, "a standby's pod is not labelled");

    apply_integration(&client, &ns, &integration(NAME, &fake.url(), &scim.url(), &["101", "102"])).await;
    wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    request_sync(&client, &ns, NAME).await;
    assert!(reconciles(&metrics_a) > 0);
    assert_eq!(reconciles(&metrics_b), 0, "the standby reconciled");
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-a"));

    // The leader dies without releasing its Lease: the standby takes over after it expires.
    a.kill();
    let died = Instant::now();
    let obj = request_sync(&client, &ns, NAME).await;
    let took = died.elapsed();
    assert!(took < LEASE * 4, "takeover took {took:?}");
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-b"));
    assert!(reconciles(&metrics_b) > 0);
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())));
    eventually("the new leader's pod is labelled", || labelled(&client, &ns, "replica-b")).await;
    // The crashed replica's pod kept its label (its process died); restarted, as a standby, it
    // clears it, and is ready.
    let restarted = Replica::start(&ns, "replica-a", Metrics::default());
    eventually("the restarted standby clears its label", || async { !labelled(&client, &ns, "replica-a").await }).await;
    eventually("the restarted standby is ready", || async { restarted.ready.load(Ordering::SeqCst) }).await;
    assert!(labelled(&client, &ns, "replica-b").await);
}

/// A TCP relay to the test apiserver that can be cut, as a network partition would: the replica
/// behind it can no longer renew its Lease, while its syncs could still reach PMS and destination.
struct Partition {
    port: u16,
    cut: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Partition {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(tokio::sync::Notify::new());
        let stop = cut.clone();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.notified() => return, // drops the listener and every relay
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let upstream = upstream.clone();
                        relays.spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
        });
        Self { port, cut, task }
    }

    fn cut(&self) {
        self.cut.notify_one();
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A SCIM service provider that takes its time over every create (and keeps nothing), so that a
/// sync writes for many seconds.
async fn slow_scim() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/v2/ServiceProviderConfig",
            get(|| async {
                axum::Json(serde_json::json!({"patch": {"supported": false}, "filter": {"supported": true, "maxResults": 100}}))
            }),
        )
        .route(
            "/v2/Users",
            get(|| async { axum::Json(serde_json::json!({"totalResults": 0, "Resources": []})) }).post(|| async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                (axum::http::StatusCode::CREATED, axum::Json(serde_json::json!({"id": format!("{:x}", fastrand::u64(..))})))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, task)
}

fn scim_writes(metrics: &Metrics) -> u64 {
    api_calls(metrics, "scim")
}

/// A leader cut off from the API server cannot renew its Lease. It must stop writing before the
/// Lease could expire and the standby take over: its syncs are cancelled at the renew deadline,
/// not left to finish. The old leader's last write comes before the new leader's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_writing_before_the_standby_starts() {
    let client = client().await;
    let ns = namespace(&client, "leader-cut").await;
    let mut data = buildium_fake::Dataset::default();
    let leases = (1..=120)
        .map(|i| {
            lease(i, &format!("U{i}"), "Active", vec![new_tenant(i, "Res", "Ident", &format!("r{i}@example.org"))])
        })
        .collect();
    data.properties.push(buildium_fake::Property { id: 101, leases });
    let fake = BuildiumFake::start(data, BUILDIUM_ID, BUILDIUM_SECRET).await;
    let (scim_url, _scim) = slow_scim().await;
    standard_secrets(&client, &ns).await;

    let kubeconfig = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let config = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let server = config.clusters[0].cluster.as_ref().unwrap().server.clone().unwrap();
    let upstream = server.trim_start_matches("https://").trim_end_matches('/').to_string();
    let partition = Partition::start(upstream).await;
    let (metrics_a, metrics_b) = (Metrics::default(), Metrics::default());
    let _a =
        Replica::start_via(&ns, "replica-a", metrics_a.clone(), Some(format!("https://127.0.0.1:{}", partition.port)));
    let deadline = Instant::now() + WAIT;
    while holder(&client, &ns).await.as_deref() != Some("replica-a") {
        assert!(Instant::now() < deadline, "replica-a never became the leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _b = Replica::start(&ns, "replica-b", metrics_b.clone());

    let mut manifest = integration(NAME, &fake.url(), &scim_url, &["101"]);
    manifest["spec"]["deprovision"] = serde_json::json!({"maxPercent": 100});
    apply_integration(&client, &ns, &manifest).await;
    // A is writing (120 slow creates take several seconds): cut it off mid-sync.
    while scim_writes(&metrics_a) < 10 {
        assert!(Instant::now() < deadline, "replica-a never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    partition.cut();
    let cut = Instant::now();

    // Watch both until B has written for a while: A's count must not move once B's has.
    let mut a_at_b_start = None;
    let mut a_stopped_at = (scim_writes(&metrics_a), Instant::now());
    while Instant::now() < cut + LEASE * 4 {
        let (a, b) = (scim_writes(&metrics_a), scim_writes(&metrics_b));
        if a != a_stopped_at.0 {
            a_stopped_at = (a, Instant::now());
        }
        if b > 0 && a_at_b_start.is_none() {
            a_at_b_start = Some(a);
        }
        if let Some(before) = a_at_b_start {
            assert_eq!(a, before, "the old leader wrote after the new leader had started");
            if b >= 10 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(a_at_b_start.is_some(), "the standby never took over");
    assert!(a_stopped_at.1 < cut + LEASE, "the old leader wrote until {:?} after the cut", a_stopped_at.1 - cut);
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-b"));
}
