//! `pms-sync plan -f FILE`, black-box: the binary against the Buildium fake and a real
//! scim2-server, with Secrets from a directory or from the test apiserver.

mod support;

use std::path::Path;

use support::buildium_fake::{BuildiumFake, Fault};
use support::*;

fn write_manifest(dir: &Path, namespace: &str, fake: &BuildiumFake, scim: &ScimServer) -> std::path::PathBuf {
    let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
    manifest["metadata"]["namespace"] = namespace.into();
    let file = dir.join("integration.yaml");
    // A multi-document file, like examples/: the Secret documents are ignored.
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: ignored}}\n---\n{}",
        serde_yaml::to_string(&manifest).unwrap()
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn secrets_dir(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("secrets");
    for (secret, key, value) in [
        ("buildium", "clientId", BUILDIUM_ID),
        ("buildium", "clientSecret", BUILDIUM_SECRET),
        ("scim", "token", SCIM_TOKEN),
    ] {
        std::fs::create_dir_all(root.join(secret)).unwrap();
        std::fs::write(root.join(secret).join(key), format!("{value}\n")).unwrap();
    }
    root
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// The binary runs blocking in this thread; the fakes answer from the runtime's other workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_prints_what_a_sync_would_do_and_exits_by_outcome() {
    let world = World::start(ScimServer::full().await).await;
    let ns = world.ns.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = write_manifest(dir.path(), &ns, &world.fake, &world.scim);
    let secrets = secrets_dir(dir.path());
    let file_arg = file.to_str().unwrap();
    let secrets_arg = secrets.to_str().unwrap();

    // Nothing synced yet: six creates pending, exit code 2, nothing written.
    let out = run_plan(&["-f", file_arg, "--secrets", secrets_arg], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains(&format!("create      {}", id(&ns, "101", 1))), "{table}");
    assert!(text(&out.stderr).contains("fetched property 101: 6 residents"), "{}", text(&out.stderr));
    assert!(world.scim.users().await.is_empty());
    for value in PERSONAL_VALUES.iter().chain([BUILDIUM_SECRET, SCIM_TOKEN].iter()) {
        assert!(!table.contains(value) && !text(&out.stderr).contains(value), "plan output contains {value:?}");
    }

    // The JSON form, for machines.
    let out = run_plan(&["-f", file_arg, "--secrets", secrets_arg, "-o", "json"], None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["actions"].as_array().unwrap().len(), 6);
    assert_eq!(doc["properties"][0]["create"], 4);

    // After a real sync the plan is empty: exit code 0. Secrets read from the cluster this time.
    apply_integration(&world.client, &ns, &world.manifest()).await;
    wait_ready(&world.client, &ns, NAME, "True", "Succeeded").await;
    let kubeconfig = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let out = run_plan(&["-f", file_arg], Some(&kubeconfig));
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    // A move-out shows as one pending deactivation, held by nobody (1 of 6 is under 20%).
    world.fake.update(|d| d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into()));
    let out = run_plan(&["-f", file_arg, "--secrets", secrets_arg], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains(&format!("deactivate  {}", id(&ns, "101", 2))), "{}", text(&out.stdout));

    // A PMS outage for one property: the plan says so, and the exit code is 1.
    world.fake.set_fault(102, Some(Fault::Unauthorized));
    let out = run_plan(&["-f", file_arg, "--secrets", secrets_arg], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("failed, left untouched"), "{}", text(&out.stdout));
}

#[tokio::test]
async fn plan_reports_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run_plan(&["-f", dir.path().join("nope.yaml").to_str().unwrap()], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read"), "{}", text(&missing.stderr));

    let file = dir.path().join("bad.yaml");
    let mut manifest = integration(NAME, "http://127.0.0.1:1", "http://127.0.0.1:1/v2", &["101"]);
    manifest["spec"]["interval"] = "10s".into();
    std::fs::write(&file, serde_yaml::to_string(&manifest).unwrap()).unwrap();
    let invalid = run_plan(&["-f", file.to_str().unwrap(), "--secrets", dir.path().to_str().unwrap()], None);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(text(&invalid.stderr).contains("spec.interval"), "{}", text(&invalid.stderr));

    manifest["spec"]["interval"] = "1h".into();
    std::fs::write(&file, serde_yaml::to_string(&manifest).unwrap()).unwrap();
    let no_secret = run_plan(&["-f", file.to_str().unwrap(), "--secrets", dir.path().to_str().unwrap()], None);
    assert_eq!(no_secret.status.code(), Some(1));
    assert!(text(&no_secret.stderr).contains("CredentialsNotFound"), "{}", text(&no_secret.stderr));
}
