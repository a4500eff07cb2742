//! High availability on the real apiserver: of two controllers with leader election, only the
//! Lease holder reconciles; when it dies without releasing, the standby takes over within one
//! lease duration.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
}

impl Replica {
    fn start(ns: &str, identity: &str, metrics: Metrics) -> Self {
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let (ns, identity) = (ns.to_string(), identity.to_string());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = client().await;
                let settings = Settings {
                    watch_namespaces: vec![ns.clone()],
                    startup_spread: Duration::ZERO,
                    instance: Some(identity.clone()),
                    leader_election: Some(LeaderElection {
                        lease_name: "pms-sync-leader".into(),
                        namespace: ns,
                        identity,
                        lease_duration: LEASE,
                        renew_grace: Duration::from_secs(1),
                    }),
                    ..Settings::default()
                };
                let ready = Arc::new(AtomicBool::new(false));
                tokio::select! {
                    _ = controller::run(client, settings, metrics, ready, std::future::pending()) => {}
                    _ = killed => {}
                }
            });
            runtime.shutdown_background();
        });
        Self { kill: Some(kill), thread: Some(thread) }
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

    let (metrics_a, metrics_b) = (Metrics::default(), Metrics::default());
    let mut a = Replica::start(&ns, "replica-a", metrics_a.clone());
    let deadline = Instant::now() + WAIT;
    while holder(&client, &ns).await.as_deref() != Some("replica-a") {
        assert!(Instant::now() < deadline, "replica-a never became the leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _b = Replica::start(&ns, "replica-b", metrics_b.clone());

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
}
