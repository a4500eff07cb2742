//! The container image, as built by `scripts/image.sh` (offline, `buildah bud`, `FROM scratch`):
//! its configuration, its contents, and its own `pms-sync` run as the controller — chrooted into
//! the image's root filesystem as user 65532 — against the test apiserver, syncing a PMS and a
//! SCIM server it finds by host name through DNS. `scripts/test.sh` builds the image and names it
//! here with `PMS_SYNC_IMAGE_ROOTFS` (the unpacked layers) and `PMS_SYNC_IMAGE_CONFIG` (`buildah
//! inspect`). Runs as root: `chroot`, and a DNS server on port 53.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::buildium_fake::BuildiumFake;
use support::dns::{DnsServer, ZONE};
use support::*;

fn env_path(name: &str) -> PathBuf {
    let value = std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh, which builds the image"));
    PathBuf::from(value)
}

/// Every regular file under `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Whether an x86-64 ELF executable asks for a program interpreter (a dynamic loader): a static
/// binary does not, and needs no libc in the image.
fn wants_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3 // PT_INTERP
    })
}

/// The controller process; killed when the test ends, whatever happened.
struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?}: {status}");
}

#[tokio::test]
async fn the_image_is_a_static_scratch_image_whose_binary_syncs_resolving_names_through_dns() {
    let rootfs = env_path("PMS_SYNC_IMAGE_ROOTFS");
    let inspected: Value = serde_json::from_slice(&std::fs::read(env_path("PMS_SYNC_IMAGE_CONFIG")).unwrap()).unwrap();
    // What the script builds is what the chart installs by default.
    let chart_file = |name: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(format!("charts/pms-sync/{name}")).unwrap()).unwrap()
    };
    let (values, chart) = (chart_file("values.yaml"), chart_file("Chart.yaml"));
    let default_image =
        format!("{}:{}", values["image"]["repository"].as_str().unwrap(), chart["appVersion"].as_str().unwrap());
    assert_eq!(inspected["FromImage"], default_image.as_str());
    let config = &inspected["OCIv1"]["config"];
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/local/bin/pms-sync"]));
    assert_eq!(config["Cmd"], serde_json::json!(["controller"]));

    // Nothing but the binary and the CA bundle: no shell, no libc, no package manager.
    assert_eq!(files(&rootfs), ["etc/ssl/certs/ca-certificates.crt", "usr/local/bin/pms-sync"]);
    let binary = std::fs::read(rootfs.join("usr/local/bin/pms-sync")).unwrap();
    assert!(!wants_interpreter(&binary), "the binary must be statically linked");
    let bundle = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle.matches("BEGIN CERTIFICATE").count() > 50, "a CA bundle");

    // A root of the kubelet's making: the image's files, a resolv.conf naming our DNS server, and
    // a kubeconfig (the apiserver by IP, as in a pod: KUBERNETES_SERVICE_HOST is an IP).
    let dns = DnsServer::start("127.0.53.1:53").expect("a DNS server on 127.0.53.1:53 (the tests run as root)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    run("cp", &["-a", &format!("{}/.", rootfs.display()), &root.display().to_string()]);
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.53.1\noptions ndots:1\n").unwrap();
    let kubeconfig_path = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&kubeconfig_path).unwrap()).unwrap();
    let cluster = &mut kubeconfig["clusters"][0]["cluster"];
    let ca = cluster["certificate-authority"].as_str().expect("a CA file").to_string();
    std::fs::create_dir(root.join("kube")).unwrap();
    std::fs::copy(&ca, root.join("kube/ca.crt")).unwrap();
    cluster["certificate-authority"] = "/kube/ca.crt".into();
    std::fs::write(root.join("kube/config"), serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    run("chmod", &["-R", "a+rX", &dir.path().display().to_string()]);

    let client = client().await;
    let ns = namespace(&client, "image").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    let by_name = |url: String, host: &str| url.replace("127.0.0.1", &format!("{host}.{ZONE}"));
    let mut manifest =
        integration("harbor", &by_name(fake.url(), "buildium"), &by_name(scim.url(), "scim"), &["101", "102"]);
    manifest["spec"]["allowInsecureHttp"] = true.into();
    apply_integration(&client, &ns, &manifest).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _controller = Controller(
        // By path: the environment is cleared, so there is no PATH to search.
        Command::new(
            ["/usr/sbin/chroot", "/usr/bin/chroot"].into_iter().find(|p| Path::new(p).exists()).expect("chroot"),
        )
        .arg("--userspec=65532:65532")
        .arg(&root)
        .args(["/usr/local/bin/pms-sync", "controller", "--watch-namespace", &ns])
        .env_clear()
        .env("KUBECONFIG", "/kube/config")
        .env("METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("RECEIVER_ADDR", "127.0.0.1:0")
        .env("STATE_NAMESPACE", STATE_NAMESPACE)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("chroot into the image"),
    );

    let attempted =
        |i: &pms_sync::api::PmsIntegration| i.status.as_ref().is_some_and(|s| s.last_attempt_time.is_some());
    let obj = wait_for(&client, &ns, "harbor", "the image's controller to sync", attempted).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())), "{log}");
    assert_eq!(summary(&obj).created, 6, "{log}");
    assert_eq!(scim.users().await.len(), 6);
    let asked = dns.asked();
    for host in ["buildium", "scim"] {
        assert!(asked.contains(&format!("{host}.{ZONE}")), "{host} was resolved through DNS: {asked:?}");
    }
}
