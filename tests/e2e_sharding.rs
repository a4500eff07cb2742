//! Several controllers share the work: by label selector (each reconciles only its own shard), or
//! by a hash of the integration's UID (`--shard i/K`: K controllers together serve every
//! integration exactly once, with no labels).

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kube::ResourceExt;
use pms_sync::controller::{self, Settings};
use pms_sync::metrics::Metrics;
use serde_json::json;
use support::buildium_fake::BuildiumFake;
use support::*;

fn shard(client: &kube::Client, ns: &str, selector: &str, metrics: Metrics) -> tokio::task::JoinHandle<bool> {
    run(
        client,
        Settings {
            watch_namespaces: vec![ns.to_string()],
            label_selector: Some(selector.to_string()),
            ..Settings::default()
        },
        metrics,
    )
}

fn run(client: &kube::Client, settings: Settings, metrics: Metrics) -> tokio::task::JoinHandle<bool> {
    let settings = Settings { startup_spread: Duration::ZERO, state_namespace: STATE_NAMESPACE.into(), ..settings };
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

#[tokio::test]
async fn hash_shards_together_serve_every_integration_exactly_once() {
    use pms_sync::controller::Shard;
    let client = client().await;
    let ns = namespace(&client, "hash-shards").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    const K: u32 = 3;
    let shards: Vec<(Shard, Metrics, tokio::task::JoinHandle<bool>)> = (0..K)
        .map(|index| {
            let shard = Shard { index, count: K };
            let metrics = Metrics::default();
            let settings = Settings { watch_namespaces: vec![ns.clone()], shard: Some(shard), ..Settings::default() };
            let task = run(&client, settings, metrics.clone());
            (shard, metrics, task)
        })
        .collect();

    let names: Vec<String> = (0..12).map(|i| format!("building-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let property = if i % 2 == 0 { "101" } else { "102" };
        apply_integration(&client, &ns, &integration(name, &fake.url(), &scim.url(), &[property])).await;
    }
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), &ns);
    for name in &names {
        let obj = wait_ready(&client, &ns, name, "True", "Succeeded").await;
        let uid = obj.metadata.uid.clone().unwrap();
        // Served by exactly one controller: the one whose shard the UID hashes to.
        let series = format!("pms_sync_integration_ready{{namespace=\"{ns}\",name=\"{name}\"}}");
        let serving: Vec<Shard> =
            shards.iter().filter(|(_, metrics, _)| metrics.encode().contains(&series)).map(|(s, _, _)| *s).collect();
        assert_eq!(serving.len(), 1, "{name}: served by {serving:?}");
        assert!(serving[0].owns(&uid), "{name} ({uid}) served by {}", serving[0]);
        assert_eq!(api.get(name).await.unwrap().status.unwrap().history.len(), 1, "{name} synced once");
    }
    let synced: usize = shards
        .iter()
        .map(|(_, metrics, _)| {
            let text = metrics.encode();
            let line = text.lines().find(|l| l.starts_with("pms_sync_reconciles_total{result=\"synced\"}"));
            line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0) as usize
        })
        .sum();
    assert_eq!(synced, names.len(), "every integration synced once in all");
    for (_, _, task) in shards {
        task.abort();
    }
}

#[tokio::test]
async fn a_webhook_reaching_another_hash_shard_is_handed_over_to_the_one_serving_it() {
    use pms_sync::controller::Shard;
    use pms_sync::receiver::{Registry, signature};
    let client = client().await;
    let ns = namespace(&client, "hash-hooks").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    create_secret(&client, &ns, "hook", &[("token", WEBHOOK_TOKEN)]).await;
    // Two shards, each with its own receiver, as two pods behind one Service.
    let mut shards = Vec::new();
    for index in 0..2 {
        let registry = Arc::new(Registry::default());
        let shard = Shard { index, count: 2 };
        let settings = Settings {
            watch_namespaces: vec![ns.clone()],
            shard: Some(shard),
            receiver: registry.clone(),
            ..Settings::default()
        };
        let task = run(&client, settings, Metrics::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(pms_sync::receiver::serve(listener, registry, std::future::pending()));
        shards.push((shard, addr, task));
    }
    let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
    manifest["spec"]["triggers"] = json!({"webhook": {"secretRef": {"name": "hook"}}});
    apply_integration(&client, &ns, &manifest).await;
    let synced = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    let uid = synced.metadata.uid.clone().unwrap();
    let path = synced.status.as_ref().and_then(|s| s.webhook_path.clone()).unwrap();
    let serving = shards.iter().find(|(s, _, _)| s.owns(&uid)).unwrap().1;
    let other = shards.iter().find(|(s, _, _)| !s.owns(&uid)).unwrap().1;
    let post = |addr: std::net::SocketAddr, path: String, signature: String| async move {
        let answer = reqwest::Client::new()
            .post(format!("http://{addr}{path}"))
            .header("X-Signature", signature)
            .send()
            .await
            .unwrap();
        answer.status().as_u16()
    };
    let runs = |i: &pms_sync::api::PmsIntegration| i.status.as_ref().map_or(0, |s| s.history.len());

    // Forged or unknown at the other shard: refused, nothing handed over.
    assert_eq!(post(other, path.clone(), signature("not-the-token-0123456789", b"")).await, 401);
    assert_eq!(post(other, format!("/hook/{}", "0".repeat(64)), signature(WEBHOOK_TOKEN, b"")).await, 404);
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), &ns);
    assert!(api.get(NAME).await.unwrap().annotations().get(pms_sync::api::REQUESTED_AT_ANNOTATION).is_none());

    // Signed, at the other shard: accepted and handed over; the serving shard runs it.
    assert_eq!(post(other, path.clone(), signature(WEBHOOK_TOKEN, b"")).await, 202);
    let handed = wait_for(&client, &ns, NAME, "the handed-over webhook's run", |i| runs(i) == 2).await;
    let token = handed.annotations().get(pms_sync::api::REQUESTED_AT_ANNOTATION).cloned().unwrap();
    assert!(token.starts_with("webhook-"), "{token}");
    let status = handed.status.unwrap();
    assert_eq!(status.last_handled_reconcile_at.as_deref(), Some(token.as_str()));
    assert_eq!(status.history[0].trigger, "Requested");

    // At the serving shard itself: a webhook run, as without shards.
    assert_eq!(post(serving, path.clone(), signature(WEBHOOK_TOKEN, b"")).await, 202);
    let direct = wait_for(&client, &ns, NAME, "the direct webhook's run", |i| runs(i) == 3).await;
    assert_eq!(direct.status.unwrap().history[0].trigger, "Webhook");
    for (_, _, task) in shards {
        task.abort();
    }
}
