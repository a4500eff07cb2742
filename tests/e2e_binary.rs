//! The shipped binary, black-box: `pms-sync controller` against the test apiserver, observed only
//! through the cluster, its HTTP endpoints and its output.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::buildium_fake::BuildiumFake;
use support::*;

#[tokio::test]
async fn the_controller_binary_syncs_serves_metrics_leaks_nothing_and_stops_on_sigterm() {
    let client = client().await;
    let ns = namespace(&client, "bin").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    apply_integration(&client, &ns, &integration("harbor", &fake.url(), &scim.url(), &["101", "102"])).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pms-sync"))
        .args(["controller", "--watch-namespace", &ns])
        .env("KUBECONFIG", std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap())
        .env("METRICS_ADDR", format!("127.0.0.1:{port}"))
        // Tests run side by side: no fixed port.
        .env("RECEIVER_ADDR", "127.0.0.1:0")
        // The most verbose level our code logs at: nothing sensitive may appear even here.
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start pms-sync controller");

    wait_ready(&client, &ns, "harbor", "True", "Succeeded").await;
    fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let obj = request_sync(&client, &ns, "harbor").await;
    assert_eq!(obj.status.unwrap().summary.unwrap().deprovisioned, 1);

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pms_sync_reconciles_total{result=\"synced\"} 2"), "{metrics}");
    assert!(metrics.contains("pms_sync_synced_objects_total{action=\"created\"} 6"), "{metrics}");
    assert!(metrics.contains("pms_sync_api_calls_total{target=\"buildium\",class=\"2xx\"}"), "{metrics}");
    assert!(metrics.contains("pms_sync_reconcile_duration_seconds_count 2"), "{metrics}");

    // SIGTERM: a graceful stop with exit code 0.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the controller did not stop within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "exit status {exit}");

    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(output.contains("sync succeeded"), "{output}");
    let kube_token = std::fs::read_to_string(std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap())
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: ").map(str::to_string))
        .unwrap();
    for secret in [BUILDIUM_SECRET, BUILDIUM_ID, SCIM_TOKEN, kube_token.as_str()] {
        assert!(!output.contains(secret), "the controller's output contains a credential");
    }
    for value in PERSONAL_VALUES {
        assert!(!output.contains(value), "the controller's output contains personal data {value:?}");
    }
    // Structured logs: every line is a JSON object.
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
    // The audit trail: one line per applied action, with the identity and the destination's ID.
    let audit: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    assert_eq!(audit.len(), 7, "six creates and one deprovisioning: {audit:?}");
    // (Events are flattened: fields sit beside `target`.)
    let gone = audit.iter().find(|v| v["action"] == "deactivate").expect("the deactivation");
    assert_eq!(gone["identity"], format!("{ns}/harbor/102/7"));
    assert_eq!(gone["outcome"], "applied");
    assert!(gone["user_id"].as_str().is_some_and(|id| id != "-" && !id.is_empty()), "{gone}");
    assert_eq!(audit.iter().filter(|v| v["action"] == "create" && v["user_id"] == "-").count(), 6);
}
