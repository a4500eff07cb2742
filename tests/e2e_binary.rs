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

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    support::load_bed::status_kib(pid, "VmRSS:")
}

/// The receiver under a slow-client flood, measured on the binary: 2,000 clients trickling a
/// header byte every 2 s and 10 that send nothing, for 20 s (bounded, loopback only). The server
/// closes them (header timeout, eviction at its connection limit), its memory stays flat, and a
/// signed webhook sent in the middle of it is answered and its move-out reaches SCIM within
/// seconds. Before the bounds, every flood connection stayed open and each cost ~28 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_client_flood_neither_grows_memory_nor_keeps_a_signed_webhook_out() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SLOW: usize = 2_000;
    const SILENT: usize = 10;
    const FLOOD: Duration = Duration::from_secs(20);

    let client = client().await;
    let ns = namespace(&client, "flood").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    create_secret(&client, &ns, "hook", &[("token", WEBHOOK_TOKEN)]).await;
    let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
    manifest["spec"]["triggers"] = serde_json::json!({"webhook": {"secretRef": {"name": "hook"}}});
    apply_integration(&client, &ns, &manifest).await;
    let receiver = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pms-sync"))
        .args(["controller", "--watch-namespace", &ns])
        .env("KUBECONFIG", std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap())
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RECEIVER_ADDR", &receiver)
        .env("STARTUP_SPREAD_SECONDS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("start pms-sync controller");
    let pid = child.id();
    let synced = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    let path = synced.status.unwrap().webhook_path.expect("status.webhookPath");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_kib(pid);

    let closed = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let until = tokio::time::Instant::now() + FLOOD;
    let mut flood = Vec::new();
    for i in 0..SLOW + SILENT {
        let (receiver, closed, connected) = (receiver.clone(), closed.clone(), connected.clone());
        flood.push(tokio::spawn(async move {
            let connect = tokio::net::TcpStream::connect(&receiver);
            let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(5), connect).await else { return };
            connected.fetch_add(1, Ordering::SeqCst);
            let (mut read, mut write) = stream.into_split();
            let header = b"POST /hook/0000 HTTP/1.1\r\nHost: flood\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa";
            let mut sent = 0;
            let mut buf = [0u8; 512];
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => return,
                    got = read.read(&mut buf) => if matches!(got, Ok(0) | Err(_)) {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return;
                    },
                    _ = tokio::time::sleep(Duration::from_secs(2)), if i < SLOW => {
                        let byte = header[sent % header.len()..][..1].to_vec();
                        sent += 1;
                        if write.write_all(&byte).await.is_err() {
                            closed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            }
        }));
    }
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            while tokio::time::Instant::now() < until {
                peak.fetch_max(rss_kib(pid) as usize, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // In the middle of the flood: Siobhán (102) moves out, and a signed webhook says so.
    tokio::time::sleep(Duration::from_secs(8)).await;
    fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let body = br#"{"propertyIds": ["102"]}"#.to_vec();
    let sent = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("http://{receiver}{path}"))
        .header("X-Signature", pms_sync::receiver::signature(WEBHOOK_TOKEN, &body))
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the receiver answers during the flood");
    let answered = sent.elapsed();
    assert_eq!(answer.status(), 202);
    assert!(answered < Duration::from_secs(3), "answered after {answered:?}");
    while scim.users_by_key().await[&id(&ns, "102", 7)]["active"] != false {
        assert!(sent.elapsed() < Duration::from_secs(15), "the webhook's move-out did not reach SCIM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied = sent.elapsed();

    for task in flood {
        let _ = task.await;
    }
    let _ = sampler.await;
    let (connected, closed) = (connected.load(Ordering::SeqCst), closed.load(Ordering::SeqCst));
    let grown = (peak.load(Ordering::SeqCst) as u64).saturating_sub(baseline);
    eprintln!(
        "flood: {connected} connected, {closed} closed by the server; RSS {baseline} KiB, peak +{grown} KiB; webhook answered in {answered:?}, at SCIM in {applied:?}"
    );
    assert!(connected >= SLOW, "the flood reached the receiver: {connected}");
    assert!(closed >= connected * 9 / 10, "the server closed the slow and silent clients: {closed} of {connected}");
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB under the flood");
    let _ = child.kill();
    let _ = child.wait();
}
