//! The Argo CD health check and the actions (sync now, suspend, resume) shipped in examples/argocd/, run in Lua (lupa)
//! the way Argo CD runs them: against their test cases, and against live objects the controller
//! wrote on the real apiserver.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

const CUSTOMIZATIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/argocd/resource_customizations/pmssync.io/PmsIntegration");
const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/argocd/run_lua_tests.py");

fn python() -> PathBuf {
    std::env::var("PMS_SYNC_HELM_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/pms-sync/venv-helm/bin/python")
    })
}

#[test]
fn health_check_and_action_pass_their_test_cases() {
    let out = Command::new(python()).args([HARNESS, CUSTOMIZATIONS]).output().expect("run the Lua harness");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("12 passed, 0 failed"), "{stdout}");
}

fn health_of(obj: &pms_sync::api::PmsIntegration) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(obj).unwrap()).unwrap();
    let out = Command::new(python())
        .args([HARNESS, "health", CUSTOMIZATIONS, file.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn live_objects_get_the_expected_health() {
    let world = World::start(ScimServer::full().await).await;
    let obj = world.first_sync().await;
    assert!(health_of(&obj).contains("status: Healthy"), "{}", health_of(&obj));

    world.fake.set_fault(101, Some(support::buildium_fake::Fault::Unauthorized));
    world.fake.set_fault(102, Some(support::buildium_fake::Fault::Unauthorized));
    let obj = request_sync(&world.client, &world.ns, NAME).await;
    assert!(health_of(&obj).contains("status: Degraded"), "{}", health_of(&obj));

    let mut manifest = world.manifest();
    manifest["spec"]["enabled"] = serde_json::json!(false);
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, &world.ns, NAME, "False", "Disabled").await;
    assert!(health_of(&obj).contains("status: Suspended"), "{}", health_of(&obj));
}
