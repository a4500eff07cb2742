//! Prism (`PMS_SYNC_PRISM`, installed by `scripts/test-env.sh`): the OpenAPI validator the
//! contract tests put between the code and the vendor fakes, or serve a spec with.

#![allow(dead_code)]

use std::time::Duration;

/// The vendor spec of `name` in `../shared/vendor-specs/`.
pub fn spec(name: &str) -> String {
    format!("{}/../shared/vendor-specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The violations Prism logged (request or response bodies, parameters, headers).
pub fn violations(log: &std::path::Path) -> Vec<String> {
    let report = std::fs::read_to_string(log).unwrap_or_default();
    report.lines().filter(|l| l.contains("VIOLATIONS") || l.contains("Violation")).map(String::from).collect()
}

/// Prism (`PMS_SYNC_PRISM`, installed by `scripts/test-env.sh`) serving the vendor's spec, with
/// request validation on. Killed when dropped.
pub struct Prism {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prism {
    /// `prism mock` of `spec`, validating requests.
    pub async fn mock(spec: &str) -> Self {
        Self::spawn(&["mock", "--errors"], spec, None, None).await
    }

    /// `prism proxy` of `spec` in front of `upstream`: requests and the upstream's responses are
    /// validated, and a violation of either is answered with an error (`--errors`). What Prism
    /// reports goes to `log`.
    pub async fn proxy(spec: &str, upstream: &str, log: &std::path::Path) -> Self {
        Self::spawn(&["proxy", "--errors"], spec, Some(upstream), Some(log)).await
    }

    pub async fn spawn(mode: &[&str], spec: &str, upstream: Option<&str>, log: Option<&std::path::Path>) -> Self {
        let bin = std::env::var("PMS_SYNC_PRISM").expect("PMS_SYNC_PRISM: run the tests through scripts/test.sh");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let output = || match log {
            Some(path) => std::process::Stdio::from(
                std::fs::OpenOptions::new().create(true).append(true).open(path).expect("prism log"),
            ),
            None => std::process::Stdio::null(),
        };
        let port_text = port.to_string();
        let mut args: Vec<&str> = mode.to_vec();
        args.extend(["-h", "127.0.0.1", "-p", &port_text, spec]);
        args.extend(upstream);
        let child =
            std::process::Command::new(bin).args(&args).stdout(output()).stderr(output()).spawn().expect("start prism");
        let prism = Prism { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while client.get(format!("{}/v1/buildings", prism.url)).bearer_auth("t").send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "prism did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prism
    }
}
