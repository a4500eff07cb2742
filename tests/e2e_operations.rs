//! Operational behaviour on the real apiserver: kstatus `Reconciling` while a sync runs, and the
//! per-integration backoff of transient failures, separate from the interval.

mod support;

use std::time::Duration;

use pms_sync::api::REQUESTED_AT_ANNOTATION;
use support::buildium_fake::Fault;
use support::*;

#[tokio::test]
async fn a_running_sync_shows_reconciling_and_transient_failures_back_off() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.first_sync().await;

    // A slow PMS: the sync is visibly in progress, then Reconciling goes away.
    world.fake.set_fault(101, Some(Fault::Slow(Duration::from_secs(3))));
    annotate(&world.client, ns, NAME, REQUESTED_AT_ANNOTATION, "slow-1").await;
    wait_for(&world.client, ns, NAME, "Reconciling=True", |i| {
        i.status.as_ref().is_some_and(|s| {
            pms_sync::conditions::get(&s.conditions, "Reconciling").is_some_and(|c| c.status == "True")
        })
    })
    .await;
    let obj = wait_for(&world.client, ns, NAME, "the slow sync to finish", |i| {
        i.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("slow-1")
    })
    .await;
    let status = obj.status.unwrap();
    assert!(pms_sync::conditions::get(&status.conditions, "Reconciling").is_none());
    assert_eq!(pms_sync::conditions::get(&status.conditions, "Ready").unwrap().reason, "Succeeded", "{status:#?}");
    assert_eq!(status.observed_generation, obj.metadata.generation);

    // A PMS outage: not stalled, retried after about 30 s (not after the 1 h interval).
    world.fake.set_fault(101, Some(Fault::ServerError));
    world.fake.set_fault(102, Some(Fault::ServerError));
    let obj = request_sync(&world.client, ns, NAME).await;
    let status = obj.status.unwrap();
    assert_eq!(pms_sync::conditions::get(&status.conditions, "Ready").unwrap().reason, "PmsUnavailable");
    assert!(pms_sync::conditions::get(&status.conditions, "Stalled").is_none());
    assert_eq!(status.consecutive_failures, Some(1), "{status:#?}");
    let retry_in = status.next_sync_time.unwrap().0.duration_since(status.last_attempt_time.unwrap().0).as_secs();
    assert!((20..=45).contains(&retry_in), "retry in {retry_in}s");

    // Recovery resets the backoff.
    world.fake.set_fault(101, None);
    world.fake.set_fault(102, None);
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(obj.status.unwrap().consecutive_failures, None);
}
