//! Is a sync due? Decided inside reconcile from status, so restarts cost nothing and our own
//! status writes (which re-trigger reconcile) never cause a sync (ESO's `shouldRefresh`).

use std::time::Duration;

use crate::api::PmsIntegrationStatus;
use crate::sync::Incremental;

/// What made a sync due: logged, and kept in `status.history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// No status yet: the integration is new.
    First,
    /// A new generation of the spec.
    SpecChange,
    /// `reconcile.pmssync.io/requestedAt` changed (`pms-sync sync`, a dashboard, a script).
    Requested,
    /// A referenced Secret was created, rotated or deleted.
    SecretChange,
    /// The held deprovisioning was approved.
    Approval,
    /// The interval passed.
    Schedule,
    /// A signed webhook arrived at the integration's receiver.
    Webhook,
    /// A move-in day started or a move-out day ended (`status.nextBoundaryTime`).
    Boundary,
}

impl Trigger {
    /// The name in `status.history`.
    pub fn name(self) -> &'static str {
        match self {
            Self::First => "First",
            Self::SpecChange => "SpecChange",
            Self::Requested => "Requested",
            Self::SecretChange => "SecretChange",
            Self::Approval => "Approval",
            Self::Schedule => "Schedule",
            Self::Webhook => "Webhook",
            Self::Boundary => "Boundary",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::First => "first sync",
            Self::SpecChange => "spec changed",
            Self::Requested => "sync requested",
            Self::SecretChange => "credentials changed",
            Self::Approval => "held deprovisioning approved",
            Self::Schedule => "interval elapsed",
            Self::Webhook => "webhook received",
            Self::Boundary => "a move-in or move-out day boundary passed",
        })
    }
}

/// The decision for one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Sync now, for this reason.
    Now(Trigger),
    /// Not yet: requeue after this long without calling anyone.
    After(Duration),
    /// Only a change (spec, token, Secret) can make a sync due: the last error needs a human.
    WaitForChange,
}

/// What the controller sees now.
pub struct Observed<'a> {
    pub generation: Option<i64>,
    pub token: Option<&'a str>,
    pub secrets_digest: &'a str,
    /// The value of `pmssync.io/approve-deprovision`.
    pub approval: Option<&'a str>,
    /// A webhook is pending for the integration.
    pub webhook: bool,
}

pub fn decide(status: &PmsIntegrationStatus, observed: &Observed<'_>, now: jiff::Timestamp) -> Due {
    if status.observed_generation.is_none() {
        return Due::Now(Trigger::First);
    }
    if observed.generation != status.observed_generation {
        return Due::Now(Trigger::SpecChange);
    }
    if observed.token.is_some() && observed.token != status.last_handled_reconcile_at.as_deref() {
        return Due::Now(Trigger::Requested);
    }
    if status.observed_secrets_digest.as_deref() != Some(observed.secrets_digest) {
        return Due::Now(Trigger::SecretChange);
    }
    if let (Some(held), Some(approval)) = (&status.held_deprovision, observed.approval)
        && held.plan_digest == approval.trim()
    {
        return Due::Now(Trigger::Approval);
    }
    if observed.webhook {
        return Due::Now(Trigger::Webhook);
    }
    // A boundary passed since the last attempt (never over an error that waits for a change).
    if let (Some(boundary), Some(_)) = (&status.next_boundary_time, &status.next_sync_time)
        && boundary.0 <= now
        && status.last_attempt_time.as_ref().is_none_or(|t| t.0 < boundary.0)
    {
        return Due::Now(Trigger::Boundary);
    }
    match &status.next_sync_time {
        Some(next) if next.0 <= now => Due::Now(Trigger::Schedule),
        Some(next) => Due::After(Duration::from_millis(next.0.duration_since(now).as_millis().max(0) as u64)),
        None => Due::WaitForChange,
    }
}

/// Whether a run may read only what changed, and from where: only scheduled and webhook runs,
/// inside `full_every` since the last full read, from each property's watermark. The first run,
/// a spec or Secret change and a requested sync read everything, and so does an approval: the
/// held plan may hold residents who vanished, which only a full read sees. (Whether the vendor
/// can filter at all is the connector's to say.)
pub fn incremental(
    status: &PmsIntegrationStatus,
    why: Trigger,
    full_every: Duration,
    now: jiff::Timestamp,
) -> Option<Incremental> {
    if !matches!(why, Trigger::Schedule | Trigger::Webhook) {
        return None;
    }
    let last_full = status.last_full_sync_time.as_ref()?.0;
    let full_every = jiff::SignedDuration::try_from(full_every).ok()?;
    // A full read ahead of our clock never happened: read everything.
    if last_full > now || last_full.checked_add(full_every).ok()? <= now {
        return None;
    }
    let since: std::collections::BTreeMap<String, jiff::Timestamp> =
        status.properties.iter().filter_map(|p| Some((p.id.clone(), p.watermark.as_ref()?.0))).collect();
    // Nor is a watermark ahead of our clock anyone's: reading changes since then reads nothing.
    if since.is_empty() || since.values().any(|w| *w > now) {
        return None;
    }
    Some(Incremental { since, building: status.properties.iter().map(|p| p.residents).sum() })
}

/// `d` scaled by a uniform factor in `[1 - fraction, 1 + fraction]`.
pub fn jittered(d: Duration, fraction: f64) -> Duration {
    // `mul_f64` panics on overflow; an unrepresentable product keeps `d` as it is.
    Duration::try_from_secs_f64(d.as_secs_f64() * (1.0 + fraction * (2.0 * fastrand::f64() - 1.0))).unwrap_or(d)
}

/// Retry delay after `failures` consecutive transient failures: 30 s doubling, capped at
/// `min(interval, 1h)`, jittered ±10%; separate from the interval itself.
pub fn retry_delay(failures: u32, interval: Duration) -> Duration {
    let cap = interval.min(Duration::from_secs(3600));
    let exp = Duration::from_secs(30).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    jittered(exp.min(cap), 0.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn now() -> jiff::Timestamp {
        "2026-11-27T10:00:00Z".parse().unwrap()
    }

    fn synced() -> PmsIntegrationStatus {
        PmsIntegrationStatus {
            observed_generation: Some(2),
            last_handled_reconcile_at: Some("t1".into()),
            observed_secrets_digest: Some("d1".into()),
            next_sync_time: Some(Time("2026-11-27T11:00:00Z".parse().unwrap())),
            ..Default::default()
        }
    }

    fn observed<'a>(generation: i64, token: Option<&'a str>, digest: &'a str) -> Observed<'a> {
        Observed { generation: Some(generation), token, secrets_digest: digest, approval: None, webhook: false }
    }

    #[test]
    fn nothing_changed_requeues_for_the_remaining_time() {
        assert_eq!(decide(&synced(), &observed(2, Some("t1"), "d1"), now()), Due::After(Duration::from_secs(3600)));
    }

    #[test]
    fn each_trigger_makes_a_sync_due() {
        assert_eq!(decide(&PmsIntegrationStatus::default(), &observed(1, None, "d"), now()), Due::Now(Trigger::First));
        assert_eq!(decide(&synced(), &observed(3, Some("t1"), "d1"), now()), Due::Now(Trigger::SpecChange));
        assert_eq!(decide(&synced(), &observed(2, Some("t2"), "d1"), now()), Due::Now(Trigger::Requested));
        assert_eq!(decide(&synced(), &observed(2, Some("t1"), "d2"), now()), Due::Now(Trigger::SecretChange));
        let later = "2026-11-27T11:00:01Z".parse().unwrap();
        assert_eq!(decide(&synced(), &observed(2, Some("t1"), "d1"), later), Due::Now(Trigger::Schedule));
    }

    #[test]
    fn approving_the_held_plan_makes_a_sync_due_and_another_digest_does_not() {
        let held = crate::api::HeldDeprovision { count: 3, plan_digest: "sha256:ab".into(), reason: String::new() };
        let status = PmsIntegrationStatus { held_deprovision: Some(held), ..synced() };
        let approve = |a| Observed { approval: Some(a), ..observed(2, Some("t1"), "d1") };
        assert_eq!(decide(&status, &approve("sha256:ab"), now()), Due::Now(Trigger::Approval));
        assert!(matches!(decide(&status, &approve("sha256:cd"), now()), Due::After(_)));
    }

    #[test]
    fn a_pending_webhook_makes_a_sync_due_even_when_waiting_for_a_change() {
        let hook = Observed { webhook: true, ..observed(2, Some("t1"), "d1") };
        assert_eq!(decide(&synced(), &hook, now()), Due::Now(Trigger::Webhook));
        let stalled = PmsIntegrationStatus { next_sync_time: None, ..synced() };
        assert_eq!(decide(&stalled, &hook, now()), Due::Now(Trigger::Webhook));
    }

    #[test]
    fn only_scheduled_and_webhook_runs_inside_the_full_interval_read_changes() {
        let watermark = |id: &str, at: &str| crate::api::PropertyStatus {
            id: id.into(),
            residents: 10,
            error: None,
            watermark: Some(Time(at.parse().unwrap())),
        };
        let status = PmsIntegrationStatus {
            last_full_sync_time: Some(Time("2026-11-27T00:00:00Z".parse().unwrap())),
            properties: vec![watermark("1", "2026-11-27T09:00:00Z"), watermark("2", "2026-11-27T09:30:00Z")],
            ..synced()
        };
        let day = Duration::from_secs(86_400);
        let read = incremental(&status, Trigger::Schedule, day, now()).expect("incremental");
        assert_eq!(read.since.len(), 2);
        assert_eq!(read.since["2"], "2026-11-27T09:30:00Z".parse::<jiff::Timestamp>().unwrap());
        assert_eq!(read.building, 20);
        assert!(incremental(&status, Trigger::Webhook, day, now()).is_some());
        let full_reads =
            [Trigger::First, Trigger::SpecChange, Trigger::SecretChange, Trigger::Requested, Trigger::Approval];
        for full in full_reads {
            assert!(incremental(&status, full, day, now()).is_none(), "{full:?}");
        }
        // Ten hours after the last full read, a 10h full interval makes the run full.
        assert!(incremental(&status, Trigger::Schedule, Duration::from_secs(36_000), now()).is_none());
        // Never read in full, or no watermark yet: full.
        let never = PmsIntegrationStatus { last_full_sync_time: None, ..status.clone() };
        assert!(incremental(&never, Trigger::Schedule, day, now()).is_none());
        let unmarked = PmsIntegrationStatus {
            properties: vec![crate::api::PropertyStatus { watermark: None, ..watermark("1", "2026-11-27T09:00:00Z") }],
            ..status.clone()
        };
        assert!(incremental(&unmarked, Trigger::Schedule, day, now()).is_none());
        // Marks ahead of our clock were never set by a read of ours: full.
        let ahead = || Some(Time("3000-01-01T00:00:00Z".parse().unwrap()));
        let full_ahead = PmsIntegrationStatus { last_full_sync_time: ahead(), ..status.clone() };
        assert!(incremental(&full_ahead, Trigger::Schedule, day, now()).is_none());
        let mut mark_ahead = status.clone();
        mark_ahead.properties[1].watermark = ahead();
        assert!(incremental(&mark_ahead, Trigger::Schedule, day, now()).is_none());
    }

    #[test]
    fn a_passed_boundary_makes_a_sync_due_once_and_never_over_a_permanent_error() {
        let at = |t: &str| Some(Time(t.parse().unwrap()));
        let status = PmsIntegrationStatus {
            next_boundary_time: at("2026-11-27T09:00:00Z"),
            last_attempt_time: at("2026-11-27T08:00:00Z"),
            ..synced()
        };
        let quiet = observed(2, Some("t1"), "d1");
        assert_eq!(decide(&status, &quiet, now()), Due::Now(Trigger::Boundary));
        let attempted = PmsIntegrationStatus { last_attempt_time: at("2026-11-27T09:00:05Z"), ..status.clone() };
        assert!(matches!(decide(&attempted, &quiet, now()), Due::After(_)));
        let stalled = PmsIntegrationStatus { next_sync_time: None, ..status.clone() };
        assert_eq!(decide(&stalled, &quiet, now()), Due::WaitForChange);
        let ahead = PmsIntegrationStatus { next_boundary_time: at("2026-11-27T10:30:00Z"), ..status };
        assert!(matches!(decide(&ahead, &quiet, now()), Due::After(_)));
    }

    #[test]
    fn a_permanent_error_waits_for_a_change() {
        let status = PmsIntegrationStatus { next_sync_time: None, ..synced() };
        assert_eq!(decide(&status, &observed(2, Some("t1"), "d1"), now()), Due::WaitForChange);
    }

    #[test]
    fn retry_delay_grows_and_is_capped_by_the_interval() {
        let hour = Duration::from_secs(3600);
        let first = retry_delay(1, hour);
        assert!(first >= Duration::from_secs(27) && first <= Duration::from_secs(33), "{first:?}");
        let tenth = retry_delay(10, Duration::from_secs(300));
        assert!(tenth <= Duration::from_secs(330) && tenth >= Duration::from_secs(270), "{tenth:?}");
        let j = jittered(hour, 0.1);
        assert!(j >= Duration::from_secs(3240) && j <= Duration::from_secs(3960));
    }
}
