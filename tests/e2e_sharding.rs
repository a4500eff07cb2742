//! Several controllers share the work by label selector: each reconciles only its own shard.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pms_sync::controller::{self, Settings};
use pms_sync::metrics::Metrics;
use serde_json::json;
use support::buildium_fake::BuildiumFake;
use support::*;

fn shard(client: &kube::Client, ns: &str, selector: &str, metrics: Metrics) -> tokio::task::JoinHandle<bool> {
    let settings = Settings {
        watch_namespaces: vec![ns.to_string()],
        label_selector: Some(selector.to_string()),
        startup_spread: Duration::ZERO,
        ..Settings::default()
    };
    tokio::spawn(controller::run(
        client.clone(),
        settings,
        metrics,
        Arc::new(AtomicBool::new(false)),
        std::future::pending(),
    ))
}

fn synced(metrics: &Metrics) -> bool {
    metrics.encode().contains("pms_sync_reconciles_total{result=\"synced\"}")
}

#[tokio::test]
async fn each_controller_reconciles_only_its_label_shard() {
    let client = client().await;
    let ns = namespace(&client, "shards").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    let (metrics_a, metrics_b) = (Metrics::default(), Metrics::default());
    let a = shard(&client, &ns, "shard=a", metrics_a.clone());
    let b = shard(&client, &ns, "shard=b", metrics_b.clone());

    let mut first = integration("first", &fake.url(), &scim.url(), &["101"]);
    first["metadata"]["labels"] = json!({"shard": "a"});
    apply_integration(&client, &ns, &first).await;
    wait_ready(&client, &ns, "first", "True", "Succeeded").await;
    assert!(synced(&metrics_a) && !synced(&metrics_b), "only shard a works on 'first'");

    let mut second = integration("second", &fake.url(), &scim.url(), &["102"]);
    second["metadata"]["labels"] = json!({"shard": "b"});
    apply_integration(&client, &ns, &second).await;
    wait_ready(&client, &ns, "second", "True", "Succeeded").await;
    assert!(synced(&metrics_b));

    // Unlabelled: nobody's shard, never reconciled.
    apply_integration(&client, &ns, &integration("orphan", &fake.url(), &scim.url(), &["101"])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let orphan: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), &ns);
    assert!(orphan.get("orphan").await.unwrap().status.is_none());
    a.abort();
    b.abort();
}
