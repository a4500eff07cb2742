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
    for _ in 0..61 {
        let answer = post(hook.clone(), Vec::new(), Some(signature(WEBHOOK_TOKEN, b""))).await;
        let retry_after = answer.headers().get("retry-after").is_some();
        answers.push((answer.status().as_u16(), retry_after));
    }
    assert_eq!(answers.last(), Some(&(429, true)), "{answers:?}");
    assert!(answers[..59].iter().all(|(s, _)| *s == 202), "{answers:?}");
}
