//! Webhooks end to end: the controller's receiver on loopback, the real apiserver, the Buildium
//! fake and scim2-server. A signed webhook narrowed to one property gets a move-out to the
//! destination within seconds; forged, altered, unsigned, oversized and unknown-path requests are
//! refused and trigger nothing; the rate per integration is bounded.

mod support;

use std::time::{Duration, Instant};

use pms_sync::receiver::{path, signature};
use support::*;

fn history(obj: &pms_sync::api::PmsIntegration) -> Vec<String> {
    obj.status.as_ref().map(|s| s.history.iter().map(|r| r.trigger.clone()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_signed_webhook_syncs_its_property_within_seconds_and_forged_ones_trigger_nothing() {
    let world = Hooked::start(|_| {}).await;
    let (client, ns, fake, scim, addr) = (&world.client, &world.ns, &world.fake, &world.scim, world.receiver);
    let hook = world.path();
    assert_eq!(hook, path(WEBHOOK_TOKEN, ns, NAME));
    let next_full_run = world.synced.status.as_ref().unwrap().next_sync_time.clone();

    let http = reqwest::Client::new();
    let post = |path: String, body: Vec<u8>, signature: Option<String>| {
        let mut request = http.post(format!("http://{addr}{path}")).body(body);
        if let Some(signature) = signature {
            request = request.header("X-Signature", signature);
        }
        async move { request.send().await.unwrap() }
    };

    // Resident 7 (property 102) moves out. Nothing below may make that reach the destination.
    fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let narrowed = br#"{"propertyIds": ["102"]}"#.to_vec();
    let forged = signature("not-the-token-not-the-token-00000", &narrowed);
    let for_another_body = signature(WEBHOOK_TOKEN, br#"{"propertyIds": ["101"]}"#);
    let refused = [
        (hook.clone(), narrowed.clone(), None, 401),
        (hook.clone(), narrowed.clone(), Some(forged), 401),
        (hook.clone(), narrowed.clone(), Some(for_another_body), 401),
        (hook.clone(), narrowed.clone(), Some("sha256=".to_string()), 401),
        (format!("/hook/{}", "0".repeat(64)), narrowed.clone(), Some(signature(WEBHOOK_TOKEN, &narrowed)), 404),
        (hook.clone(), vec![b' '; 65 * 1024], Some(signature(WEBHOOK_TOKEN, &vec![b' '; 65 * 1024])), 413),
    ];
    for (path, body, signature, status) in refused {
        assert_eq!(post(path, body, signature).await.status(), status);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), ns);
    assert_eq!(history(&api.get(NAME).await.unwrap()), ["First"], "no refused request started a sync");
    assert_eq!(scim.users_by_key().await[&id(ns, "102", 7)]["active"], true);

    // Signed and narrowed to 102: the move-out is in scim2-server within seconds.
    let sent = Instant::now();
    let answer = post(hook.clone(), narrowed.clone(), Some(signature(WEBHOOK_TOKEN, &narrowed))).await;
    assert_eq!(answer.status(), 202);
    while scim.users_by_key().await[&id(ns, "102", 7)]["active"] != false {
        assert!(sent.elapsed() < Duration::from_secs(30), "the webhook's sync did not reach the destination");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let obj = wait_for(client, ns, NAME, "the webhook's run in the history", |i| history(i).len() == 2).await;
    assert_eq!(history(&obj), ["Webhook", "First"]);
    let status = obj.status.unwrap();
    assert_eq!(status.history[0].deprovisioned, 1);
    assert_eq!(status.properties.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["101", "102"]);
    assert_eq!(status.next_sync_time, next_full_run, "a narrowed run does not move the next full run");

    // The rate per integration: at most 60 accepted a minute, then 429 with Retry-After.
    let mut answers = Vec::new();
    for i in 0..61 {
        // Distinct requests: the same one sent again is a replay (409), not counted.
        let body = format!("event {i}").into_bytes();
        let answer = post(hook.clone(), body.clone(), Some(signature(WEBHOOK_TOKEN, &body))).await;
        let retry_after = answer.headers().get("retry-after").is_some();
        answers.push((answer.status().as_u16(), retry_after));
    }
    assert_eq!(answers.last(), Some(&(429, true)), "{answers:?}");
    assert!(answers[..59].iter().all(|(s, _)| *s == 202), "{answers:?}");
}

/// Runs between full reads read only what changed (the Buildium fake honours `lastupdatedfrom`)
/// and touch only those users: with nothing changed, one request per listing and no destination
/// call at all; with two changes, two writes and lookups for those two. The first run is full and
/// sets `lastFullSyncTime` and a watermark per property; later runs move the watermarks and keep
/// the building's resident counts.
#[tokio::test]
async fn runs_between_full_reads_read_and_touch_only_what_changed() {
    let metrics = pms_sync::metrics::Metrics::default();
    // A one-second overlap, so that the fake's first stamps fall behind a watermark in seconds.
    let world = Hooked::start_with(|_| {}, |s| s.watermark_overlap = Duration::from_secs(1), metrics.clone()).await;
    let (ns, fake, scim) = (&world.ns, &world.fake, &world.scim);
    let first = world.synced.status.clone().unwrap();
    let last_full = first.last_full_sync_time.clone().expect("the first run reads everything");
    let residents =
        |s: &pms_sync::api::PmsIntegrationStatus| s.properties.iter().map(|p| p.residents).collect::<Vec<_>>();
    assert_eq!(residents(&first), [6, 2]);
    assert!(first.properties.iter().all(|p| p.watermark.is_some()), "{:?}", first.properties);
    let trigger = || world.webhook_run();

    // Let the first run's stamps fall behind the next watermark, then settle it with one run
    // (which re-reads what the overlap covers and writes nothing).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let settled = trigger().await.status.unwrap();
    assert_eq!(settled.history[0].trigger, "Webhook");
    assert_eq!((settled.history[0].created, settled.history[0].updated, settled.history[0].deprovisioned), (0, 0, 0));

    // Nothing changed: one request per listing for both properties together, with the filter,
    // and no destination call.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (pms_before, scim_before) = (fake.requests().len(), api_calls(&metrics, "scim"));
    let quiet = trigger().await.status.unwrap();
    let requests = fake.requests()[pms_before..].to_vec();
    assert_eq!(requests.len(), 2, "leases and tenants, both properties at once: {requests:?}");
    let together = |r: &String| r.contains("propertyids=101&propertyids=102") && r.contains("lastupdatedfrom=");
    assert!(requests.iter().all(together), "{requests:?}");
    assert_eq!(api_calls(&metrics, "scim"), scim_before, "a quiet incremental run calls no destination");
    assert_eq!(quiet.summary.as_ref().unwrap().fetched, 0);
    assert_eq!(residents(&quiet), [6, 2], "the building's size is the last full read's");
    assert!(quiet.properties[0].watermark > settled.properties[0].watermark, "{:?}", quiet.properties);
    assert_eq!(quiet.last_full_sync_time, Some(last_full.clone()));

    // Two changes: Siobhán (102) moves out, Zoë (101) changes her last name.
    fake.update(|d| {
        d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into());
        d.tenant_mut(1).for_each(|t| t.last_name = "Lindqvist".into());
    });
    let scim_before = api_calls(&metrics, "scim");
    let changed = trigger().await.status.unwrap();
    let run = &changed.history[0];
    assert_eq!((run.created, run.updated, run.deprovisioned, run.failed), (0, 1, 1, 0), "{run:?}");
    // Capabilities, lookups for the changed residents (one filtered page), two writes.
    let calls = api_calls(&metrics, "scim") - scim_before;
    assert!(calls <= 5, "{calls} SCIM calls for two changes");
    let users = scim.users_by_key().await;
    assert_eq!(users[&id(ns, "102", 7)]["active"], false);
    assert_eq!(users[&id(ns, "101", 1)]["name"]["familyName"], "Lindqvist");
    assert_eq!(users[&id(ns, "102", 8)]["active"], true);
    assert_eq!(changed.last_full_sync_time, Some(last_full));
}

/// SCIM groups in a run that read only what changed: the changed resident leaves their groups,
/// every other membership (of residents the run never looked up) stays exactly as it was.
#[tokio::test]
async fn an_incremental_run_changes_only_the_changed_residents_memberships() {
    let groups = serde_json::json!([{"displayName": "HV residents"}, {"displayName": "HV unit {unit}"}]);
    let world = Hooked::start_with(
        |m| m["spec"]["destination"]["scim"]["groups"] = groups,
        |s| s.watermark_overlap = Duration::from_secs(1),
        pms_sync::metrics::Metrics::default(),
    )
    .await;
    let (ns, fake, scim) = (&world.ns, &world.fake, &world.scim);
    let members = || async {
        let mut by_name = std::collections::BTreeMap::new();
        for g in scim.groups().await {
            let ids: std::collections::BTreeSet<String> = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["value"].as_str().map(String::from))
                .collect();
            by_name.insert(g["displayName"].as_str().unwrap_or_default().to_string(), ids);
        }
        by_name
    };
    let trigger = || world.webhook_run();
    // Let the first run's stamps age past the overlap, and settle once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    trigger().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = members().await;
    let kofi = scim.users_by_key().await[&id(ns, "102", 8)]["id"].as_str().unwrap().to_string();
    assert!(before["HV residents"].contains(&kofi) && before["HV unit 2B"].contains(&kofi));

    fake.update(|d| d.tenant_mut(8).for_each(|t| t.status = "MovedOut".into()));
    let obj = trigger().await;
    let summary = summary(&obj);
    assert_eq!((summary.fetched, summary.deprovisioned, summary.memberships_removed), (1, 1, 2), "{summary:?}");
    let after = members().await;
    for (name, was) in &before {
        let mut expected = was.clone();
        expected.remove(&kofi);
        assert_eq!(&after[name], &expected, "{name}");
    }
}

/// A rotated token takes effect at once: within seconds of the Secret's change the integration
/// serves the new token's path (`status.webhookPath`), the old path with the old token answers
/// 404, and the new one is accepted. A deleted Secret stops the receiver serving the path; the
/// recreated one serves it again.
#[tokio::test]
async fn a_rotated_webhook_token_takes_effect_within_seconds() {
    let world = Hooked::start(|_| {}).await;
    let (client, ns, addr) = (&world.client, &world.ns, world.receiver);
    let old = world.path();
    let http = reqwest::Client::new();
    let send = |path: String, token: &str| {
        let request = http.post(format!("http://{addr}{path}")).header("X-Signature", signature(token, b""));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let webhook_path = |i: &pms_sync::api::PmsIntegration| i.status.as_ref().and_then(|s| s.webhook_path.clone());

    const ROTATED: &str = "e2e-rotated-webhook-token-fedcba9876543210";
    let rotated_at = Instant::now();
    create_secret(client, ns, "hook", &[("token", ROTATED)]).await;
    let new = path(ROTATED, ns, NAME);
    let obj =
        wait_for(client, ns, NAME, "the rotated path", |i| webhook_path(i).as_deref() == Some(new.as_str())).await;
    assert!(rotated_at.elapsed() < Duration::from_secs(10), "took {:?}", rotated_at.elapsed());
    assert_eq!(send(old.clone(), WEBHOOK_TOKEN).await, 404, "the leaked token's path is gone");
    assert_eq!(send(new.clone(), WEBHOOK_TOKEN).await, 401, "the old token signs nothing now");
    assert_eq!(send(new.clone(), ROTATED).await, 202);
    assert!(webhook_path(&obj).is_some());

    // Deleted: the path stops answering; recreated: it answers again.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client.clone(), ns);
    secrets.delete("hook", &Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(new.clone(), ROTATED).await != 404 {
        assert!(Instant::now() < deadline, "a deleted webhook Secret still serves its path");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    create_secret(client, ns, "hook", &[("token", ROTATED)]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(new.clone(), ROTATED).await == 404 {
        assert!(Instant::now() < deadline, "a recreated webhook Secret is not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
