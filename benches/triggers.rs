//! How long a PMS change takes to reach the destination, by trigger: a signed webhook to the
//! receiver, and the `requestedAt` annotation bump (`pms-sync sync`). Each sample: one resident
//! moves out (or back in) in the Buildium fake, the trigger is sent, and the clock stops when
//! scim2-server shows the user's new `active`. Runs against the real test environment
//! (`scripts/bench-triggers.sh` starts it); figures in BENCHMARKS.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use pms_sync::receiver::signature;
use serde_json::json;
use support::*;

const SAMPLES: usize = 20;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<18} n={} median={:>6.0} ms p95={:>6.0} ms max={:>6.0} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.95).as_secs_f64() * 1000.0,
        at(1.0).as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    // Moving one of six residents in and out is a sixth of the users: allowed explicitly.
    let world = Hooked::start(|m| m["spec"]["deprovision"] = json!({"maxPercent": 100})).await;
    let (client, ns, fake, scim, addr) = (&world.client, &world.ns, &world.fake, &world.scim, world.receiver);
    let hook = world.path();
    let http = reqwest::Client::new();
    let user = id(ns, "102", 7);

    let mut by_webhook = Vec::new();
    let mut by_annotation = Vec::new();
    for i in 0..SAMPLES * 2 {
        let active = i % 2 == 1;
        fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = if active { "Current" } else { "MovedOut" }.into()));
        let started = Instant::now();
        if i % 4 < 2 {
            // A field of its own per request: the same request twice is a replay (409).
            let body = format!(r#"{{"propertyIds": ["102"], "event": {i}}}"#).into_bytes();
            let sent = http
                .post(format!("http://{addr}{hook}"))
                .header("X-Signature", signature(WEBHOOK_TOKEN, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(sent.status(), 202);
        } else {
            annotate(client, ns, NAME, pms_sync::api::REQUESTED_AT_ANNOTATION, &format!("bench-{i}")).await;
        }
        while scim.users_by_key().await[&user]["active"] != active {
            assert!(started.elapsed() < Duration::from_secs(60), "sample {i} never reached the destination");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed();
        if i % 4 < 2 {
            by_webhook.push(took)
        } else {
            by_annotation.push(took)
        }
        // Let the run finish writing its status before the next change.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("change → scim2-server, {SAMPLES} changes per trigger, loopback:");
    summary("webhook", by_webhook);
    summary("annotation bump", by_annotation);
}
