//! Hostile input end to end: one controller on the real apiserver, a well-behaved integration, and
//! beside it integrations whose vendor endpoints (or spec) are hostile: a body of hundreds of MB,
//! deeply nested XML, redirects to a second host that records what it receives, a token endpoint
//! with an absurd `expires_in`, a body that drips one byte a second, and an absurd interval.
//!
//! Each hostile integration must report a clear reason; the controller must stay up; the
//! well-behaved integration must keep syncing; no credential may reach the second host.

mod support;

use std::time::Duration;

use pms_sync::metrics::Metrics;
use serde_json::{Value, json};
use support::hostile::{Behaviour, HostileServer};
use support::vendor_fakes::Vendor;
use support::*;

/// An integration called `name` whose PMS is `provider` at `base_url`, into the SCIM server.
fn hostile(name: &str, provider: &str, base_url: &str, scim: &str) -> Value {
    let mut m = integration(name, base_url, scim, &["101"]);
    m["spec"]["pms"]["provider"] = provider.into();
    m["spec"]["pms"]["credentialsSecretRef"]["name"] = provider.into();
    m
}

fn condition(obj: &pms_sync::api::PmsIntegration) -> (String, String, String) {
    let c = pms_sync::conditions::get(&obj.status.as_ref().unwrap().conditions, "Ready").unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Waits until `name` has a `Ready=False` condition and returns (reason, message).
async fn failed(w: &World, name: &str) -> (String, String) {
    let obj = wait_for(&w.client, &w.ns, name, "a failure", |i| ready(i).is_some_and(|(s, _)| s == "False")).await;
    assert_no_personal_data(&obj);
    let (_, reason, message) = condition(&obj);
    (reason, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_endpoints_fail_only_their_own_integration_and_receive_no_credential() {
    let client = client().await;
    let ns = namespace(&client, "e2e-hostile").await;
    let fake = buildium_fake::BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    for vendor in [Vendor::Entrata, Vendor::Yardi] {
        create_secret(&client, &ns, vendor.provider(), &vendor.credentials()).await;
    }
    create_secret(&client, &ns, "door", &[("clientId", "door-id-hostile"), ("clientSecret", "door-secret-Wz4")]).await;
    let controller = start_controller_with(&client, &ns, Metrics::default(), |s| {
        s.sync_deadline = Duration::from_secs(20);
        s.concurrency = 8;
    });
    let w = World { client: client.clone(), ns: ns.clone(), fake, scim, _controller: controller };

    // The second host: whatever a redirect would carry lands here.
    let recorder = HostileServer::start(Behaviour::Record).await;
    let redirect = HostileServer::start(Behaviour::Redirect { status: 307, to: recorder.url() }).await;
    let huge = HostileServer::start(Behaviour::HugeJsonArray { megabytes: 300 }).await;
    let deep = HostileServer::start(Behaviour::DeepXml { depth: 250_000 }).await;
    let drip = HostileServer::start(Behaviour::Drip).await;
    let stall = HostileServer::start(Behaviour::Stall).await;
    let token = HostileServer::start(Behaviour::AbsurdToken).await;

    w.apply(&w.manifest()).await;
    w.apply(&hostile("huge", "buildium", &huge.url(), &w.scim.url())).await;
    w.apply(&hostile("deep", "yardi", &deep.url(), &w.scim.url())).await;
    w.apply(&hostile("drip", "buildium", &drip.url(), &w.scim.url())).await;
    w.apply(&hostile("stall", "buildium", &stall.url(), &w.scim.url())).await;
    for provider in ["buildium", "entrata", "yardi"] {
        w.apply(&hostile(&format!("redirect-{provider}"), provider, &redirect.url(), &w.scim.url())).await;
    }
    let mut door = integration("redirect-door", &w.fake.url(), "http://unused.invalid", &["101"]);
    door["spec"]["destination"] = json!({"latch": {
        "buildingUuid": "8a7c0000-0000-4000-8000-0000000000b1",
        "credentialsSecretRef": {"name": "door"},
        "baseUrl": recorder.url(),
        "tokenUrl": format!("{}/oauth/token", redirect.url()),
    }});
    w.apply(&door).await;
    let mut absurd_token = door.clone();
    absurd_token["metadata"]["name"] = "absurd-token".into();
    absurd_token["spec"]["destination"]["latch"]["tokenUrl"] = format!("{}/oauth/token", token.url()).into();
    absurd_token["spec"]["destination"]["latch"]["baseUrl"] = recorder.url().into();
    w.apply(&absurd_token).await;
    let mut absurd_interval = hostile("absurd-interval", "buildium", &w.fake.url(), &w.scim.url());
    absurd_interval["spec"]["interval"] = "70000000h".into();
    w.apply(&absurd_interval).await;

    // The well-behaved integration syncs, and keeps syncing while the hostile ones run.
    wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;

    let (reason, message) = failed(&w, "huge").await;
    assert_eq!(reason, "PmsUnavailable", "{message}");
    assert!(message.contains("larger than the limit"), "{message}");

    let (reason, message) = failed(&w, "deep").await;
    assert_eq!(reason, "PmsUnavailable", "{message}");
    assert!(message.contains("nested deeper than"), "{message}");

    for name in ["redirect-buildium", "redirect-entrata", "redirect-yardi"] {
        let (_, message) = failed(&w, name).await;
        assert!(message.contains("redirect not followed"), "{name}: {message}");
    }
    let (reason, message) = failed(&w, "redirect-door").await;
    assert_eq!(reason, "DestinationUnavailable", "{message}");
    assert!(message.contains("redirect not followed"), "{message}");

    // A token no clock can hold: the token is used (and refused by the listing), the process lives.
    let (reason, message) = failed(&w, "absurd-token").await;
    assert_eq!(reason, "DestinationUnavailable", "{message}");
    assert!(token.received().iter().any(|r| r.uri.contains("/oauth/token")));
    let (reason, message) = failed(&w, "absurd-interval").await;
    assert_eq!(reason, "InvalidSpec", "{message}");
    assert!(message.contains("maximum of 720h"), "{message}");

    // A body that drips is cut off by the request timeout; a server that never answers (each
    // attempt timing out and retried) by the sync deadline, which frees the worker.
    let (reason, message) = failed(&w, "drip").await;
    assert_eq!(reason, "PmsUnavailable", "{message}");
    assert!(message.contains("could not be read (timed out)"), "{message}");
    let (reason, message) = failed(&w, "stall").await;
    assert_eq!(reason, "SyncIncomplete", "{message}");
    assert!(message.contains("deadline"), "{message}");

    // The second host of every redirect received nothing at all, let alone a credential.
    let received = recorder.received();
    let secrets = [BUILDIUM_SECRET, SCIM_TOKEN, "entrata-key-9Qd", "yardi-pass-55k", "LICENSE-3Zt", "door-secret-Wz4"];
    for secret in secrets {
        assert!(!received.iter().any(|r| r.contains(secret)), "{secret} reached the second host");
    }
    // What it did receive is the absurd-token integration's own DOOR calls (its baseUrl).
    assert!(
        received.iter().all(|r| r.method == "GET" && r.headers.contains("hostile-token")),
        "no redirected call reached the second host: {received:?}"
    );
    assert!(redirect.received().len() >= 4, "every redirecting integration called its own host first");

    // Still up, still syncing on request.
    assert!(w._controller.is_running(), "the controller survived");
    let obj = request_sync(&w.client, &w.ns, NAME).await;
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())));
    assert_eq!(summary(&obj).failed, 0);
}

/// The readiness gauge has a series for each integration that can be ready: a disabled one has
/// none (it is not failing, so the shipped "not ready" alert must not fire), and a deleted one's
/// series goes, with everything else the controller held for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_and_deleted_integrations_leave_no_readiness_series() {
    let client = client().await;
    let ns = namespace(&client, "e2e-gauge").await;
    let fake = buildium_fake::BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    let metrics = Metrics::default();
    let controller = start_controller_with(&client, &ns, metrics.clone(), |_| {});
    let w = World { client: client.clone(), ns: ns.clone(), fake, scim, _controller: controller };
    let series = format!("pms_sync_integration_ready{{namespace=\"{ns}\",name=\"{NAME}\"}}");
    let has_series = || metrics.encode().lines().any(|l| l.starts_with(&series));

    w.first_sync().await;
    assert!(metrics.encode().contains(&format!("{series} 1")), "{}", metrics.encode());

    let mut manifest = w.manifest();
    manifest["spec"]["enabled"] = false.into();
    w.apply(&manifest).await;
    wait_ready(&w.client, &w.ns, NAME, "False", "Disabled").await;
    assert!(!has_series(), "a disabled integration is not 'not ready': {}", metrics.encode());

    w.apply(&w.manifest()).await;
    wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    // The gauge is set right after the status is written: allow the moment between.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !has_series() {
        assert!(std::time::Instant::now() < deadline, "no series once ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), &ns);
    api.delete(NAME, &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while has_series() {
        assert!(std::time::Instant::now() < deadline, "the deleted integration's series stayed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes `edit` over the integration's status as a tenant with write access to the status
/// subresource would (a merge patch, not the controller's field manager).
async fn forge_status(client: &kube::Client, ns: &str, edit: impl FnOnce(&mut Value)) {
    use kube::api::{Patch, PatchParams};
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), ns);
    let mut status = serde_json::to_value(api.get(NAME).await.unwrap().status).unwrap();
    edit(&mut status);
    api.patch_status(NAME, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await.unwrap();
}

/// Status is an observation, never an input. A status forged while the controller is stopped
/// (watermarks and `lastFullSyncTime` in the year 3000) fools no run after the restart: the
/// first run reads everything (no read asks for changes since a future time), applies the
/// move-out recorded meanwhile, and leaves no forged time behind. A `nextSyncTime` forged into
/// the year 3000 does not stop the integration either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_forged_while_the_controller_is_stopped_fools_no_run_after_the_restart() {
    const FORGED: &str = "3000-01-01T00:00:00Z";
    let client = client().await;
    let ns = namespace(&client, "forged").await;
    let fake = buildium_fake::BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    let controller = start_controller(&client, &ns);
    apply_integration(&client, &ns, &integration(NAME, &fake.url(), &scim.url(), &["101", "102"])).await;
    let synced = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    let runs = |i: &pms_sync::api::PmsIntegration| i.status.as_ref().map_or(0, |s| s.history.len());
    let first_runs = runs(&synced);
    drop(controller);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While it is stopped: the marks move to the year 3000 and the next run falls due (as an
    // hour's schedule would make it); Siobhán (102) moves out.
    forge_status(&client, &ns, |s| {
        s["lastFullSyncTime"] = json!(FORGED);
        s["nextSyncTime"] = json!("2000-01-01T00:00:00Z");
        s["properties"].as_array_mut().unwrap().iter_mut().for_each(|p| p["watermark"] = json!(FORGED));
    })
    .await;
    fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let asked_before = fake.requests().len();
    let restarted = start_controller(&client, &ns);
    let after = wait_for(&client, &ns, NAME, "the run after the restart", |i| runs(i) > first_runs).await;
    let status = after.status.clone().unwrap();
    let asked = fake.requests()[asked_before..].to_vec();
    assert!(!asked.is_empty() && asked.iter().all(|r| !r.contains("lastupdatedfrom")), "a full read: {asked:?}");
    assert_eq!(scim.users_by_key().await[&id(&ns, "102", 7)]["active"], false, "the move-out reached SCIM");
    let now = jiff::Timestamp::now();
    let last_full = status.last_full_sync_time.as_ref().expect("a full read sets it").0;
    assert!(last_full <= now, "the forged full-sync time did not survive the run: {last_full}");
    assert!(
        status.properties.iter().all(|p| p.watermark.as_ref().is_some_and(|w| w.0 <= now)),
        "{:?}",
        status.properties
    );
    drop(restarted);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Stopped again: the next sync (and the last attempt) forged into the year 3000; Kofi moves out.
    forge_status(&client, &ns, |s| {
        s["nextSyncTime"] = json!(FORGED);
        s["lastAttemptTime"] = json!(FORGED);
    })
    .await;
    fake.update(|d| d.tenant_mut(8).for_each(|t| t.status = "MovedOut".into()));
    let before = runs(&after);
    let _again = start_controller(&client, &ns);
    let last = wait_for(&client, &ns, NAME, "a run despite a forged schedule", |i| runs(i) > before).await;
    assert_eq!(scim.users_by_key().await[&id(&ns, "102", 8)]["active"], false);
    let status = last.status.unwrap();
    assert!(status.next_sync_time.is_some_and(|t| t.0 <= now + jiff::SignedDuration::from_hours(2)));
    assert!(status.last_attempt_time.is_some_and(|t| t.0 <= jiff::Timestamp::now()));
}

/// One tenant cannot stall another: a noisy namespace (two integrations on the victim's own
/// Buildium account and host, each stating 1 request a minute over ten properties, a sync
/// requested every 2 s) beside a victim namespace. The victim's move-out reaches SCIM within 30 s:
/// the noisy namespace holds at most its share of the host's slots, and its budget of 1 a minute
/// lowers only its own share of the account. (Before: both slots held for a quarter of an hour,
/// the whole account at 1 a minute, the victim deferred.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_namespace_cannot_keep_a_victims_move_out_from_the_doors() {
    let client = client().await;
    let victim = namespace(&client, "victim").await;
    let noisy = namespace(&client, "noisy").await;
    let fake = buildium_fake::BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &victim).await;
    standard_secrets(&client, &noisy).await;
    let _controller = start_controller_with(&client, &victim, Metrics::default(), |s| {
        s.watch_namespaces = vec![victim.clone(), noisy.clone()];
        (s.concurrency, s.host_concurrency) = (4, 2);
    });
    apply_integration(&client, &victim, &integration(NAME, &fake.url(), &scim.url(), &["101", "102"])).await;
    wait_ready(&client, &victim, NAME, "True", "Succeeded").await;

    let ten: Vec<String> = (101..111).map(|p| p.to_string()).collect();
    let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
    for name in ["noisy-a", "noisy-b"] {
        let mut manifest = integration(name, &fake.url(), &scim.url(), &ten);
        manifest["spec"]["pms"]["maxRequestsPerMinute"] = json!(1);
        apply_integration(&client, &noisy, &manifest).await;
    }
    let bumping = {
        let (client, noisy) = (client.clone(), noisy.clone());
        tokio::spawn(async move {
            for i in 0..60 {
                for name in ["noisy-a", "noisy-b"] {
                    annotate(&client, &noisy, name, pms_sync::api::REQUESTED_AT_ANNOTATION, &format!("noise-{i}"))
                        .await;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };
    // Let the noise take what it can.
    tokio::time::sleep(Duration::from_secs(6)).await;

    fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let asked = std::time::Instant::now();
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(client.clone(), &victim);
    let token = format!("victim-{}", jiff::Timestamp::now().as_nanosecond());
    annotate(&client, &victim, NAME, pms_sync::api::REQUESTED_AT_ANNOTATION, &token).await;
    while scim.users_by_key().await[&id(&victim, "102", 7)]["active"] != false {
        let waited = asked.elapsed();
        if waited > Duration::from_secs(30) {
            let status = api.get(NAME).await.unwrap().status;
            panic!("the victim's move-out did not reach SCIM within 30 s ({waited:?}); status: {status:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("victim's move-out at SCIM after {:?} beside the noisy namespace", asked.elapsed());
    bumping.abort();
}
