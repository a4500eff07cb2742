//! The operator commands, black-box: the shipped binary against the real apiserver with the
//! controller running — `sync --wait` (Ready → 0, held → 2), `approve` releasing exactly the held
//! plan, `get`, `suspend`/`resume`, and shell completions.

mod support;

use std::process::Output;

use support::*;

/// Runs the binary with `args` against the test apiserver. Blocking: call it from
/// `spawn_blocking`, the controller runs on the same runtime.
async fn pms_sync(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pms-sync"))
            .args(&args)
            .env("KUBECONFIG", std::env::var("PMS_SYNC_TEST_KUBECONFIG").expect("run scripts/test.sh"))
            .output()
            .expect("run pms-sync")
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_wait_approve_get_suspend_and_resume() {
    let world = World::start(ScimServer::full().await).await;
    let ns = world.ns.clone();
    world.first_sync().await;

    // A sync that succeeds: exit 0, the outcome in counts (no names).
    let out = pms_sync(&["sync", NAME, "-n", &ns, "--wait", "--timeout", "60s"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ready: Succeeded") && text(&out).contains("6 unchanged"), "{}", text(&out));
    for value in PERSONAL_VALUES {
        assert!(!text(&out).contains(value), "{value:?} in the output");
    }

    // Property 102 answers with nobody: its deprovisioning is held → exit 2.
    world.fake.update(|d| d.properties[1].leases.clear());
    let out = pms_sync(&["sync", NAME, "-n", &ns, "--wait", "--timeout", "60s"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("deprovisioning of 2 users held for approval"), "{}", text(&out));

    // get: one row with its reason and held count.
    let out = pms_sync(&["get", "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let row = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.contains(NAME)).unwrap_or_default().to_string();
    assert!(row.contains("False") && row.contains("DeprovisionHeld") && row.trim_end().ends_with(" 2"), "{row}");

    // approve without --yes and no "y" on stdin: nothing happens.
    let out = pms_sync(&["approve", NAME, "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let digest = world_digest(&world).await;
    assert!(annotation(&world, pms_sync::api::APPROVE_DEPROVISION_ANNOTATION).await.is_none());
    // approve --yes: exactly that plan's digest; the next sync deprovisions the two.
    let out = pms_sync(&["approve", NAME, "-n", &ns, "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&digest), "{}", text(&out));
    assert_eq!(
        annotation(&world, pms_sync::api::APPROVE_DEPROVISION_ANNOTATION).await.as_deref(),
        Some(digest.as_str())
    );
    let obj = wait_for(&world.client, &ns, NAME, "the approved deprovisioning", |i| {
        i.status
            .as_ref()
            .is_some_and(|s| s.held_deprovision.is_none() && s.summary.as_ref().is_some_and(|s| s.deprovisioned == 2))
    })
    .await;
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())));

    // suspend: spec.enabled false, Ready False Disabled, get says suspended; resume: back.
    let out = pms_sync(&["suspend", NAME, "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    wait_ready(&world.client, &ns, NAME, "False", "Disabled").await;
    let out = pms_sync(&["get", "-n", &ns]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("suspended"), "{}", text(&out));
    let out = pms_sync(&["resume", NAME, "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let obj = wait_ready(&world.client, &ns, NAME, "True", "Succeeded").await;

    // The history: every run, newest first, with what made it due and how it ended.
    let runs: Vec<(String, String)> = obj.status.unwrap().history.into_iter().map(|r| (r.trigger, r.reason)).collect();
    let expected = [
        ("SpecChange", "Succeeded"),
        ("Approval", "Succeeded"),
        ("Requested", "DeprovisionHeld"),
        ("Requested", "Succeeded"),
        ("First", "Succeeded"),
    ];
    assert_eq!(runs, expected.map(|(t, r)| (t.to_string(), r.to_string())));

    // An integration that does not exist: a clear error, exit 1.
    let out = pms_sync(&["sync", "absent", "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no PmsIntegration \"absent\""), "{}", text(&out));

    // Shell completions name the commands.
    let out = pms_sync(&["completions", "bash"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("approve"));
}

async fn world_digest(world: &World) -> String {
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get(NAME).await.unwrap().status.unwrap().held_deprovision.unwrap().plan_digest
}

async fn annotation(world: &World, key: &str) -> Option<String> {
    let api: kube::Api<pms_sync::api::PmsIntegration> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get(NAME).await.unwrap().metadata.annotations.and_then(|a| a.get(key).cloned())
}

/// A scheduled run, for real: with the shortest interval (1m) the controller runs again by itself,
/// and the history records why.
#[tokio::test]
async fn a_scheduled_run_is_recorded_in_the_history() {
    let world = World::start(ScimServer::full().await).await;
    let mut manifest = world.manifest();
    manifest["spec"]["interval"] = "1m".into();
    world.apply(&manifest).await;
    wait_ready(&world.client, &world.ns, NAME, "True", "Succeeded").await;
    // The interval is jittered by up to 10%: the run comes 54 to 66 s after the first.
    tokio::time::sleep(std::time::Duration::from_secs(45)).await;
    let obj = wait_for(&world.client, &world.ns, NAME, "the scheduled run", |i| {
        i.status.as_ref().is_some_and(|s| s.history.len() == 2)
    })
    .await;
    let runs: Vec<(String, String)> = obj.status.unwrap().history.into_iter().map(|r| (r.trigger, r.reason)).collect();
    let expected = [("Schedule", "Succeeded"), ("First", "Succeeded")];
    assert_eq!(runs, expected.map(|(t, r)| (t.to_string(), r.to_string())));
}
