//! How long this replica may still act as the leader, read from the Lease itself.
//!
//! kube-lease-manager renews the Lease and says when leadership changes hands, but only once it
//! sees the change: a leader cut off from the API server keeps believing it leads while a standby
//! takes the expired Lease over. Syncs write to door systems, so the leader must stop *before*
//! the Lease could expire: [`hold`] resolves as soon as it cannot prove, from a recent read of the
//! Lease, that this replica holds it for a while longer.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use super::LeaderElection;

/// Why [`hold`] resolved.
#[derive(Debug, thiserror::Error)]
pub enum LeaseLost {
    #[error("another replica ({0}) holds the lease")]
    TakenBy(String),
    #[error("the lease was not renewed in time (renew deadline passed)")]
    NotRenewed,
}

/// Resolves when this replica can no longer be sure it holds `election`'s Lease: another
/// identity holds it, or the last renewal seen is about to expire (the renew deadline: the
/// Lease's renew time plus its duration, less half the grace, which also absorbs clock skew).
pub async fn hold(client: kube::Client, election: LeaderElection) -> LeaseLost {
    let leases: Api<Lease> = Api::namespaced(client, &election.namespace);
    let margin = election.renew_grace / 2;
    // Several reads within the margin, so a renewal is seen before the deadline it moves.
    let poll = (margin / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
    // Until a first read, only as long as one lease duration from now.
    let mut valid_until = SystemTime::now() + election.lease_duration.saturating_sub(margin);
    loop {
        if let Ok(Ok(lease)) = tokio::time::timeout(poll, leases.get(&election.lease_name)).await
            && let Some(spec) = lease.spec
        {
            let holder = spec.holder_identity.unwrap_or_default();
            if holder != election.identity {
                return LeaseLost::TakenBy(holder);
            }
            let duration =
                spec.lease_duration_seconds.map_or(election.lease_duration, |s| Duration::from_secs(s.max(0) as u64));
            if let Some(renewed) = spec.renew_time {
                valid_until = deadline(renewed.0, duration, margin);
            }
        }
        let now = SystemTime::now();
        match valid_until.duration_since(now) {
            Ok(left) if !left.is_zero() => tokio::time::sleep(left.min(poll)).await,
            _ => return LeaseLost::NotRenewed,
        }
    }
}

/// The label of the leader's pod: the receiver Service selects on it (the chart), so that
/// webhooks reach the replica that acts on them.
pub const LEADER_LABEL: &str = "pmssync.io/leader";

/// Sets (`leading`) or removes [`LEADER_LABEL`] on this replica's pod, if it has one. Best
/// effort and bounded: a failure is logged (the receiver Service then has no endpoint until the
/// next change, and senders retry); it never stops the controller.
pub async fn label_pod(client: &kube::Client, election: &LeaderElection, leading: bool) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Patch, PatchParams};
    let Some(pod) = election.pod.as_deref() else { return };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &election.namespace);
    let value = if leading { serde_json::json!("true") } else { serde_json::Value::Null };
    let patch = serde_json::json!({"metadata": {"labels": {LEADER_LABEL: value}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    match tokio::time::timeout(Duration::from_secs(5), pods.patch(pod, &params, &patch)).await {
        Ok(Ok(_)) => tracing::info!(pod, leading, "leader label set on this replica's pod"),
        Ok(Err(error)) => tracing::warn!(pod, leading, error = %error, "cannot label this replica's pod"),
        Err(_) => tracing::warn!(pod, leading, "labelling this replica's pod timed out"),
    }
}

/// The moment this replica must stop acting: `renewed + duration - margin`.
fn deadline(renewed: jiff::Timestamp, duration: Duration, margin: Duration) -> SystemTime {
    let renewed = SystemTime::from(renewed);
    renewed.checked_add(duration.saturating_sub(margin)).unwrap_or(renewed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_comes_before_the_lease_expires() {
        let renewed: jiff::Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
        let d = deadline(renewed, Duration::from_secs(15), Duration::from_millis(2500));
        let expiry = SystemTime::from(renewed) + Duration::from_secs(15);
        assert!(d < expiry);
        assert_eq!(expiry.duration_since(d).unwrap(), Duration::from_millis(2500));
    }
}
