//! The status an attempt leaves behind: pure functions from the previous status and what happened.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::due::{jittered, retry_delay};
use crate::api::{
    APPROVE_DEPROVISION_ANNOTATION, GroupPlan, HeldDeprovision, PlanStatus, PmsIntegrationStatus, PropertyPlan,
    PropertyStatus, RunRecord, SyncSummary,
};
pub use crate::conditions::Retry;
use crate::conditions::{self, READY, Reason, STALLED};
use crate::domain::Guard;
use crate::pms::PmsError;
use crate::sync::{Counts, SyncReport};

/// Retry period while quarantined.
pub const QUARANTINE: Duration = Duration::from_secs(24 * 3600);

/// Why an attempt did not fully succeed. `message` holds IDs and counts only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
    pub retry: Retry,
}

impl Failure {
    /// A failure whose retry policy is `reason`'s ([`Reason::retry`]).
    pub fn new(reason: Reason, permanent: bool, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), retry: reason.retry(permanent) }
    }

    pub fn permanent(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(reason, true, message)
    }

    pub fn transient(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(reason, false, message)
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self.retry, Retry::WaitForChange | Retry::Quarantine)
    }
}

/// What one attempt produced, for the status written after it.
pub struct Attempt {
    pub started: jiff::Timestamp,
    /// What made the run due.
    pub trigger: super::due::Trigger,
    /// Runs `status.history` keeps.
    pub history_limit: usize,
    /// The interval in force (the minimum for an invalid spec, which has none).
    pub interval: Duration,
    pub dry_run: bool,
    /// The run's report; `None` when no run could start (invalid spec, missing credentials).
    pub report: Option<SyncReport>,
    /// Why it did not fully succeed; `None` for a full success.
    pub failure: Option<Failure>,
    /// The receiver's path, with a webhook trigger (`status.webhookPath`).
    pub webhook_path: Option<String>,
    /// A run narrowed by a webhook to some properties: the others keep their status, and the
    /// schedule of full runs is not moved.
    pub partial: bool,
}

/// What a status acknowledges as handled: the generation and sync request acted on, and when.
pub struct Acknowledgement<'a> {
    pub generation: Option<i64>,
    pub token: Option<&'a str>,
    pub now: jiff::Timestamp,
}

fn acknowledge(previous: &PmsIntegrationStatus, seen: &Acknowledgement<'_>) -> PmsIntegrationStatus {
    let mut status = previous.clone();
    conditions::remove(&mut status.conditions, conditions::RECONCILING);
    status.observed_generation = seen.generation;
    if let Some(token) = seen.token {
        status.last_handled_reconcile_at = Some(token.to_string());
    }
    status
}

/// Whether the integration of `status` has synced before: a run succeeded, or wrote users. Then
/// its DOOR identity map must exist.
pub fn synced_before(status: &PmsIntegrationStatus) -> bool {
    status.history.iter().any(|run| run.reason == "Succeeded" || run.created > 0)
}

/// The status a reconcile starts from, and whether it is the controller's own.
///
/// Status is an observation, never an input the controller trusts: anyone who may write the
/// status subresource can set it. The controller's own last write (`own`, kept in memory) is what
/// it relies on; the object's status (`observed`) is taken instead when there is no own copy
/// (after a restart, a leader change or a shard move) or when it shows a later attempt (another
/// replica's, before a leader change) that is not ahead of our clock. Taken so, it is
/// [`distrusted`].
pub fn starting_point(
    observed: Option<PmsIntegrationStatus>,
    own: Option<PmsIntegrationStatus>,
    now: jiff::Timestamp,
) -> (PmsIntegrationStatus, bool) {
    let observed = observed.unwrap_or_default();
    let attempted = |s: &PmsIntegrationStatus| s.last_attempt_time.as_ref().map(|t| t.0);
    match own {
        Some(own) if attempted(&observed).filter(|t| *t <= now) <= attempted(&own) => (own, true),
        _ => (distrusted(observed), false),
    }
}

/// A status the controller did not write itself: the marks that let a run skip reading (each
/// property's watermark, `lastFullSyncTime`) are dropped, so the next run reads everything and
/// sets them afresh. A forged watermark (the year 3000) would otherwise read nothing, and a
/// forged full-sync time would put off every full read.
fn distrusted(mut status: PmsIntegrationStatus) -> PmsIntegrationStatus {
    status.last_full_sync_time = None;
    for property in &mut status.properties {
        property.watermark = None;
    }
    status
}

/// The schedule of a distrusted status, for a valid integration running every `interval`: a
/// next sync further away than any schedule of ours sets (the interval, or a day's quarantine),
/// or none at all (waiting for a change that, for a valid spec, already came), is not honoured:
/// the sync is due now.
pub fn bound_schedule(status: &mut PmsIntegrationStatus, now: jiff::Timestamp, interval: Duration) {
    let furthest = interval.max(Duration::from_secs(24 * 3600));
    let latest = jiff::SignedDuration::try_from(furthest).ok().and_then(|d| now.checked_add(d).ok());
    let honoured = status.next_sync_time.as_ref().is_some_and(|next| latest.is_some_and(|l| next.0 <= l));
    if !honoured {
        status.next_sync_time = Some(Time(now));
    }
}

/// Disabled: acknowledge the token and generation, make no calls, schedule nothing.
pub fn disabled(previous: &PmsIntegrationStatus, seen: &Acknowledgement<'_>) -> PmsIntegrationStatus {
    let mut status = acknowledge(previous, seen);
    status.next_sync_time = None;
    status.webhook_path = None;
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        Reason::Disabled,
        "spec.enabled is false: no PMS or destination calls are made".into(),
        seen.generation,
        seen.now,
    );
    conditions::remove(&mut status.conditions, STALLED);
    status
}

/// After a sync attempt (or a failure to start one). Returns the status and when to run next
/// (`None`: wait for a change).
pub fn after_attempt(
    previous: &PmsIntegrationStatus,
    seen: &Acknowledgement<'_>,
    secrets_digest: &str,
    attempt: &Attempt,
) -> (PmsIntegrationStatus, Option<Duration>) {
    let Attempt { started, interval, dry_run, trigger, history_limit, partial, .. } = *attempt;
    let (report, failure) = (attempt.report.as_ref(), attempt.failure.as_ref());
    let mut status = acknowledge(previous, seen);
    let now = seen.now;
    status.last_attempt_time = Some(Time(started));
    status.observed_secrets_digest = Some(secrets_digest.to_string());
    status.webhook_path = attempt.webhook_path.clone();
    if let Some(report) = report {
        status.summary = Some(summary(&report.counts));
        let before = |id: &str| previous.properties.iter().find(|p| p.id == id);
        // A watermark moves only past changes that were all carried out: after a failed write,
        // a held deprovisioning or a dry run, the next run reads the same changes again.
        let advance = !dry_run && settled(report);
        let fetched: Vec<PropertyStatus> = report
            .properties
            .iter()
            .map(|p| PropertyStatus {
                id: p.id.clone(),
                // An incremental run counts changes only: the building's size is the last full
                // read's.
                residents: match before(&p.id) {
                    Some(b) if report.incremental => b.residents,
                    _ => p.residents,
                },
                error: p.error.as_ref().map(|e| e.to_string()),
                watermark: match p.watermark {
                    Some(w) if advance => Some(Time(w)),
                    _ => before(&p.id).and_then(|b| b.watermark.clone()),
                },
            })
            .collect();
        if advance && !report.incremental && !partial {
            status.last_full_sync_time = Some(Time(started));
        }
        if failure.is_none() {
            // A full run knows every resident's dates; a run that read fewer keeps the boundary
            // it already knew of, unless theirs comes first.
            let known = previous.next_boundary_time.as_ref().map(|t| t.0).filter(|_| report.incremental || partial);
            let next = [known.filter(|b| *b > now), report.next_boundary].into_iter().flatten().min();
            status.next_boundary_time = next.map(Time);
        }
        // A narrowed run: the properties it did not read keep what the last full run found.
        let kept: Vec<PropertyStatus> =
            previous.properties.iter().filter(|p| partial && !fetched.iter().any(|f| f.id == p.id)).cloned().collect();
        let mut properties: Vec<PropertyStatus> = kept.into_iter().chain(fetched).collect();
        if partial {
            properties.sort_by(|a, b| a.id.cmp(&b.id));
        }
        status.properties = properties;
        status.held_deprovision = held(report);
        status.plan = dry_run.then(|| plan_status(report));
    } else {
        status.plan = None;
    }

    let next = match failure {
        None => {
            let (reason, message) = if dry_run {
                (Reason::DryRun, report.map(dry_run_message).unwrap_or_default())
            } else {
                // `lastSyncTime` is the last full run.
                if !partial {
                    status.last_sync_time = Some(Time(now));
                }
                (Reason::Succeeded, report.map(success_message).unwrap_or_default())
            };
            status.consecutive_failures = None;
            conditions::set(&mut status.conditions, READY, true, reason, message, seen.generation, now);
            conditions::remove(&mut status.conditions, STALLED);
            // A narrowed run leaves the next full run where it was.
            let scheduled = previous.next_sync_time.as_ref().filter(|_| partial).map(|t| t.0.duration_since(now));
            let next = match scheduled.and_then(|d| Duration::try_from(d).ok()) {
                Some(remaining) => remaining,
                None => jittered(interval, 0.1),
            };
            // No later than the next access boundary, spread over the two minutes after it: many
            // integrations share a midnight, their vendors should not see them all at once.
            let boundary =
                status.next_boundary_time.as_ref().and_then(|b| Duration::try_from(b.0.duration_since(now)).ok());
            let boundary = boundary.map(|b| b + Duration::from_millis(fastrand::u64(0..=BOUNDARY_SPREAD_MS)));
            Some(boundary.map_or(next, |b| b.min(next)))
        }
        Some(failure) => {
            let message = failure.message.clone();
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                failure.reason,
                message.clone(),
                seen.generation,
                now,
            );
            if failure.is_permanent() {
                conditions::set(&mut status.conditions, STALLED, true, failure.reason, message, seen.generation, now);
            } else {
                conditions::remove(&mut status.conditions, STALLED);
            }
            match failure.retry {
                Retry::Interval => {
                    status.consecutive_failures = None;
                    Some(jittered(interval, 0.1))
                }
                Retry::Backoff | Retry::WaitForChange | Retry::Quarantine => {
                    let failures = previous.consecutive_failures.unwrap_or(0).saturating_add(1);
                    status.consecutive_failures = Some(failures);
                    match failure.retry {
                        Retry::Backoff => Some(retry_delay(failures, interval)),
                        Retry::Quarantine => Some(jittered(QUARANTINE, 0.1)),
                        _ => None,
                    }
                }
            }
        }
    };
    status.next_sync_time = next.map(|d| Time(after(now, d)));
    record_run(&mut status, started, now, trigger.name(), report, history_limit);
    (status, next)
}

/// How long after an access boundary its run may start (spread, so that a shared midnight is not
/// one burst of calls).
const BOUNDARY_SPREAD_MS: u64 = 120_000;

/// Whether every change the run read was carried out: nothing fatal, held, failed or left
/// unstarted.
fn settled(report: &SyncReport) -> bool {
    report.fatal.is_none()
        && report.hold().is_none()
        && report.write_errors.is_empty()
        && report.counts.failed == 0
        && report.not_started == 0
}

/// Adds the run to `status.history` (newest first, at most `limit`): when, how long, why, how it
/// ended, and its counts — IDs and numbers only.
fn record_run(
    status: &mut PmsIntegrationStatus,
    started: jiff::Timestamp,
    now: jiff::Timestamp,
    trigger: &str,
    report: Option<&SyncReport>,
    limit: usize,
) {
    let reason = conditions::get(&status.conditions, READY).map(|c| c.reason.clone()).unwrap_or_default();
    let c = report.map(|r| r.counts).unwrap_or_default();
    let duration_ms = now.duration_since(started).as_millis().clamp(0, i128::from(u64::MAX)) as u64;
    let record = RunRecord {
        started: Time(started),
        duration_ms,
        trigger: trigger.to_string(),
        reason,
        created: c.created,
        updated: c.updated,
        deprovisioned: c.deprovisioned,
        failed: c.failed,
        held: c.held,
    };
    status.history.insert(0, record);
    status.history.truncate(limit.max(1));
}

/// `now + d`, saturating at the end of time instead of panicking (validation bounds every
/// interval; this keeps a future caller from turning an overflow into a crash).
fn after(now: jiff::Timestamp, d: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| now.checked_add(d).ok()).unwrap_or(jiff::Timestamp::MAX)
}

fn held(report: &SyncReport) -> Option<HeldDeprovision> {
    match &report.guard {
        Some(Guard::Held { actions, digest, reasons }) => Some(HeldDeprovision {
            count: actions.len() as u64,
            plan_digest: digest.clone(),
            reason: reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        }),
        _ => None,
    }
}

fn plan_status(report: &SyncReport) -> PlanStatus {
    let total = report.planned_total();
    let held = report.hold().map_or(0, |(count, _)| count);
    PlanStatus {
        create: total.create,
        update: total.update,
        adopt: total.adopt,
        deprovision: total.deprovision + held,
        properties: report
            .planned
            .iter()
            .map(|(id, p)| PropertyPlan {
                id: id.clone(),
                create: p.create,
                update: p.update,
                adopt: p.adopt,
                deprovision: p.deprovision,
            })
            .collect(),
        groups: group_plans(&report.groups),
    }
}

/// Most groups, and users per group and side, a planned status lists (the counts stay whole).
const PLANNED_GROUPS: usize = 50;
const PLANNED_MEMBERS: usize = 50;

fn group_plans(plan: &crate::domain::groups::GroupPlan) -> Vec<GroupPlan> {
    let ids = |list: &[String]| list.iter().take(PLANNED_MEMBERS).cloned().collect();
    plan.changes
        .iter()
        .take(PLANNED_GROUPS)
        .map(|c| GroupPlan {
            external_id: c.external_id.clone(),
            create: c.id.is_none() || c.adopt,
            add: ids(&c.add),
            remove: ids(&c.remove),
        })
        .collect()
}

fn dry_run_message(report: &SyncReport) -> String {
    let t = report.planned_total();
    let held = report.hold().map_or(String::new(), |(count, _)| format!(" ({count} more held by the breaker)"));
    format!(
        "dry run: would create {}, update {}, adopt {}, deprovision {}{held}; nothing was written",
        t.create, t.update, t.adopt, t.deprovision
    )
}

fn summary(c: &Counts) -> SyncSummary {
    SyncSummary {
        fetched: c.fetched,
        excluded: c.excluded,
        desired: c.desired,
        created: c.created,
        updated: c.updated,
        adopted: c.adopted,
        deprovisioned: c.deprovisioned,
        unchanged: c.unchanged,
        failed: c.failed,
        held: c.held,
        conflicts: c.conflicts,
        duplicate_emails: c.duplicate_emails,
        unknown_statuses: c.unknown_statuses,
        stale_move_ins: c.stale_move_ins,
        deletes_refused: c.deletes_refused,
        groups_created: c.groups_created,
        memberships_added: c.memberships_added,
        memberships_removed: c.memberships_removed,
        memberships_held: c.memberships_held,
        group_conflicts: c.group_conflicts,
    }
}

fn success_message(report: &SyncReport) -> String {
    let c = &report.counts;
    let mut message = format!(
        "synced {} properties: {} created, {} updated, {} deprovisioned, {} unchanged",
        report.properties.len(),
        c.created,
        c.updated,
        c.deprovisioned,
        c.unchanged
    );
    if c.adopted > 0 {
        message.push_str(&format!(", {} adopted", c.adopted));
    }
    if c.conflicts + c.duplicate_emails > 0 {
        message.push_str(&format!(
            "; {} conflicts and {} residents sharing an email held back (see events)",
            c.conflicts, c.duplicate_emails
        ));
    }
    if c.stale_move_ins > 0 {
        message.push_str(&format!(
            "; {} future residents with a stale move-in date get no access (see events)",
            c.stale_move_ins
        ));
    }
    if c.deletes_refused > 0 {
        message.push_str(&format!(
            "; {} deletions refused: our clock and the PMS's disagree by more than an hour",
            c.deletes_refused
        ));
    }
    if c.groups_created + c.memberships_added + c.memberships_removed > 0 {
        message.push_str(&format!(
            "; groups: {} created, {} memberships added, {} removed",
            c.groups_created, c.memberships_added, c.memberships_removed
        ));
    }
    if c.memberships_held + c.group_conflicts > 0 {
        message.push_str(&format!(
            "; {} group memberships held by the breaker, {} groups in conflict (see events)",
            c.memberships_held, c.group_conflicts
        ));
    }
    message
}

/// Classifies a finished run. `None` means full success.
pub fn classify(report: &SyncReport) -> Option<Failure> {
    use crate::sync::RunError;
    let failed: Vec<String> =
        report.properties.iter().filter_map(|p| p.error.as_ref().map(|e| format!("{}: {e}", p.id))).collect();
    let errors = || report.properties.iter().filter_map(|p| p.error.as_ref());
    let pms_permanent = errors().any(|e| e.is_permanent());
    let pms_reason = if errors().any(|e| matches!(e, PmsError::NotLicensed(_))) {
        Reason::PmsNotLicensed
    } else if pms_permanent {
        Reason::PmsAuthenticationFailed
    } else {
        Reason::PmsUnavailable
    };
    let failure = |why: Reason, permanent: bool, message: String| Some(Failure::new(why, permanent, message));
    match &report.fatal {
        Some(RunError::AllPropertiesFailed) => {
            return failure(
                pms_reason,
                pms_permanent,
                format!("no property could be fetched; nothing was changed ({})", failed.join("; ")),
            );
        }
        Some(RunError::DeadlineExceeded) => {
            return failure(Reason::SyncIncomplete, false, RunError::DeadlineExceeded.to_string());
        }
        Some(RunError::Destination(e @ crate::destination::DestinationError::StateLost(_))) => {
            return failure(Reason::StateLost, true, format!("{e}; nothing was changed"));
        }
        Some(RunError::Destination(e)) => {
            let reason =
                if e.is_permanent() { Reason::DestinationAuthenticationFailed } else { Reason::DestinationUnavailable };
            return failure(reason, e.is_permanent(), format!("{e}; nothing was changed"));
        }
        None => {}
    }
    if report.not_started > 0 {
        return failure(
            Reason::SyncIncomplete,
            false,
            format!(
                "the sync deadline passed: {} planned destination writes were not started; the next run continues",
                report.not_started
            ),
        );
    }
    if let Some(first) = report.write_errors.first() {
        // Refused credentials stall the integration only when nothing could be written: a 403 on
        // one door, while other writes pass, is that write's problem, not the integration's.
        let written =
            report.counts.created + report.counts.updated + report.counts.adopted + report.counts.deprovisioned;
        let permanent = written == 0 && report.write_errors.iter().any(|e| e.is_permanent());
        let reason = if permanent { Reason::DestinationAuthenticationFailed } else { Reason::SyncIncomplete };
        let total = report.counts.created + report.counts.updated + report.counts.deprovisioned + report.counts.failed;
        return failure(
            reason,
            permanent,
            format!("{} of {total} destination writes failed (first: {first})", report.write_errors.len()),
        );
    }
    if !failed.is_empty() {
        // Some properties were read: the integration is working, and retrying on the normal
        // backoff keeps their residents in step while the others' license or access is fixed.
        return failure(
            pms_reason,
            false,
            format!(
                "{} of {} properties could not be fetched and were left untouched ({})",
                failed.len(),
                report.properties.len(),
                failed.join("; ")
            ),
        );
    }
    if let Some(Guard::Held { actions, digest, reasons }) = &report.guard {
        let why = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return failure(
            Reason::DeprovisionHeld,
            false,
            format!(
                "deprovisioning of {} users held: {why}; creates and updates were applied. Approve exactly this plan \
                 with the annotation {APPROVE_DEPROVISION_ANNOTATION}={digest}",
                actions.len()
            ),
        );
    }
    None
}

#[cfg(test)]
mod overflow_tests {
    use super::*;
    use crate::destination::DestinationError;
    use crate::sync::PropertyResult;

    fn property(id: &str, error: Option<PmsError>) -> PropertyResult {
        PropertyResult { id: id.into(), residents: 0, error, watermark: None }
    }

    #[test]
    fn one_unlicensed_property_does_not_stall_the_others() {
        let unlicensed = || Some(PmsError::NotLicensed("not enabled".into()));
        let partial =
            SyncReport { properties: vec![property("1", None), property("2", unlicensed())], ..Default::default() };
        let f = classify(&partial).unwrap();
        assert_eq!((f.reason, f.retry), (Reason::PmsNotLicensed, Retry::Backoff));
        let all = SyncReport {
            properties: vec![property("1", unlicensed()), property("2", unlicensed())],
            fatal: Some(crate::sync::RunError::AllPropertiesFailed),
            ..Default::default()
        };
        assert!(classify(&all).unwrap().is_permanent());
    }

    #[test]
    fn a_refused_write_quarantines_only_when_nothing_could_be_written() {
        let refused = || DestinationError::Unauthorized { status: 403 };
        let mut report = SyncReport { properties: vec![property("1", None)], ..Default::default() };
        report.counts.created = 3;
        report.counts.failed = 1;
        report.write_errors.push(refused());
        let f = classify(&report).unwrap();
        assert_eq!((f.reason, f.retry), (Reason::SyncIncomplete, Retry::Backoff));
        report.counts.created = 0;
        assert_eq!(classify(&report).unwrap().retry, Retry::Quarantine);
    }

    #[test]
    fn a_huge_delay_saturates_instead_of_panicking() {
        let now: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        assert_eq!(after(now, Duration::from_secs(60)), "2026-11-27T10:01:00Z".parse().unwrap());
        assert_eq!(after(now, Duration::from_secs(70_000_000 * 3600)), jiff::Timestamp::MAX);
        assert_eq!(after(now, Duration::MAX), jiff::Timestamp::MAX);
        // Jitter of the largest duration stays within ±10% (or keeps it), never panics.
        let j = jittered(Duration::MAX, 0.1);
        assert!(j >= Duration::MAX.mul_f64(0.89), "{j:?}");
    }
}

#[cfg(test)]
mod outcome_table {
    use super::*;
    use crate::destination::DestinationError;
    use crate::domain::{Guard, HoldReason};
    use crate::sync::{PropertyResult, RunError};

    fn property(id: &str, error: Option<PmsError>) -> PropertyResult {
        PropertyResult { id: id.into(), residents: 0, error, watermark: None }
    }

    #[derive(Debug, PartialEq)]
    enum Requeue {
        Interval,
        Backoff,
        Quarantine,
        Never,
    }

    /// One table from report shapes to what the user sees and when the next try is: (`Ready`
    /// reason, `Stalled`, requeue).
    #[test]
    fn every_report_shape_has_its_reason_stall_and_requeue() {
        let ok = || property("1", None);
        let down = || Some(PmsError::Unavailable(crate::http::HttpError::Exhausted { status: 503, attempts: 4 }));
        let refused = || Some(PmsError::Unauthorized { status: 401 });
        let all_failed = || Some(RunError::AllPropertiesFailed);
        let mut wrote_nothing = SyncReport { properties: vec![ok()], ..Default::default() };
        wrote_nothing.write_errors.push(DestinationError::Unauthorized { status: 403 });
        let held = Guard::Held {
            actions: vec![],
            digest: "d".into(),
            reasons: vec![HoldReason::PropertiesEmptied(vec!["1".into()])],
        };
        let cases: Vec<(&str, SyncReport, (Reason, bool, Requeue))> = vec![
            (
                "success",
                SyncReport { properties: vec![ok()], ..Default::default() },
                (Reason::Succeeded, false, Requeue::Interval),
            ),
            (
                "one property down",
                SyncReport { properties: vec![ok(), property("2", down())], ..Default::default() },
                (Reason::PmsUnavailable, false, Requeue::Backoff),
            ),
            (
                "every property down",
                SyncReport { properties: vec![property("1", down())], fatal: all_failed(), ..Default::default() },
                (Reason::PmsUnavailable, false, Requeue::Backoff),
            ),
            (
                "PMS credentials refused everywhere",
                SyncReport { properties: vec![property("1", refused())], fatal: all_failed(), ..Default::default() },
                (Reason::PmsAuthenticationFailed, true, Requeue::Quarantine),
            ),
            (
                "PMS credentials refused for one property",
                SyncReport { properties: vec![ok(), property("2", refused())], ..Default::default() },
                (Reason::PmsAuthenticationFailed, false, Requeue::Backoff),
            ),
            (
                "destination refused every write",
                wrote_nothing,
                (Reason::DestinationAuthenticationFailed, true, Requeue::Quarantine),
            ),
            (
                "destination unreachable",
                SyncReport {
                    properties: vec![ok()],
                    fatal: Some(RunError::Destination(DestinationError::InvalidResponse("x".into()))),
                    ..Default::default()
                },
                (Reason::DestinationUnavailable, false, Requeue::Backoff),
            ),
            (
                "deadline",
                SyncReport { properties: vec![ok()], fatal: Some(RunError::DeadlineExceeded), ..Default::default() },
                (Reason::SyncIncomplete, false, Requeue::Backoff),
            ),
            (
                "deprovisioning held",
                SyncReport { properties: vec![ok()], guard: Some(held), ..Default::default() },
                (Reason::DeprovisionHeld, false, Requeue::Interval),
            ),
        ];
        let now: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        let interval = Duration::from_secs(3600);
        for (name, report, (reason, stalled, requeue)) in cases {
            let failure = classify(&report);
            let seen = Acknowledgement { generation: Some(1), token: None, now };
            let retry = failure.as_ref().map(|f| f.retry);
            let attempt = Attempt {
                webhook_path: None,
                partial: false,
                started: now,
                trigger: super::super::due::Trigger::Schedule,
                history_limit: 10,
                interval,
                dry_run: false,
                report: Some(report),
                failure,
            };
            let (status, next) = after_attempt(&PmsIntegrationStatus::default(), &seen, "digest", &attempt);
            let ready = conditions::get(&status.conditions, READY).unwrap();
            assert_eq!(ready.reason, reason.as_str(), "{name}");
            assert_eq!(conditions::get(&status.conditions, STALLED).is_some(), stalled, "{name}");
            let got = match (next, retry) {
                (None, _) => Requeue::Never,
                (Some(_), Some(Retry::Quarantine)) => Requeue::Quarantine,
                (Some(_), Some(Retry::Backoff)) => Requeue::Backoff,
                (Some(_), _) => Requeue::Interval,
            };
            assert_eq!(got, requeue, "{name}");
        }
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use crate::controller::due::Trigger;

    #[test]
    fn history_keeps_the_newest_runs_with_trigger_reason_and_counts() {
        let mut status = PmsIntegrationStatus::default();
        let start: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        let triggers = [Trigger::First, Trigger::Requested, Trigger::SpecChange, Trigger::Schedule];
        for (i, trigger) in triggers.into_iter().enumerate() {
            let mut report = SyncReport::default();
            report.counts.created = i as u64;
            let attempt = Attempt {
                webhook_path: None,
                partial: false,
                started: start,
                trigger,
                history_limit: 3,
                interval: Duration::from_secs(3600),
                dry_run: false,
                report: Some(report),
                failure: None,
            };
            let now = start + jiff::SignedDuration::from_millis(1500);
            let seen = Acknowledgement { generation: Some(1), token: None, now };
            status = after_attempt(&status, &seen, "d", &attempt).0;
        }
        let got: Vec<_> = status.history.iter().map(|r| (r.trigger.as_str(), r.reason.as_str(), r.created)).collect();
        assert_eq!(got, [("Schedule", "Succeeded", 3), ("SpecChange", "Succeeded", 2), ("Requested", "Succeeded", 1)]);
        assert_eq!(status.history[0].duration_ms, 1500);
    }
}

#[cfg(test)]
mod incremental_tests {
    use super::*;
    use crate::controller::due::Trigger;
    use crate::sync::PropertyResult;

    fn attempt(report: SyncReport, now: jiff::Timestamp) -> Attempt {
        Attempt {
            webhook_path: None,
            partial: false,
            started: now,
            trigger: Trigger::Schedule,
            history_limit: 10,
            interval: Duration::from_secs(3600),
            dry_run: false,
            failure: classify(&report),
            report: Some(report),
        }
    }

    fn read(watermark: &str) -> PropertyResult {
        PropertyResult { id: "1".into(), residents: 3, error: None, watermark: Some(watermark.parse().unwrap()) }
    }

    /// A full run sets the building's size, the watermark, `lastFullSyncTime` and the next
    /// boundary, and runs again no later than it. An incremental run keeps the size and an
    /// earlier boundary it did not see, and moves the watermark; one whose write failed does not.
    #[test]
    fn watermarks_sizes_and_boundaries_follow_what_each_run_read_and_did() {
        let now: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let seen = Acknowledgement { generation: Some(1), token: None, now };
        let boundary: jiff::Timestamp = "2026-11-30T10:20:00Z".parse().unwrap();
        let full = SyncReport {
            properties: vec![PropertyResult { residents: 10, ..read("2026-11-30T09:55:00Z") }],
            next_boundary: Some(boundary),
            ..Default::default()
        };
        let (after_full, next) = after_attempt(&PmsIntegrationStatus::default(), &seen, "d", &attempt(full, now));
        let next = next.unwrap();
        let (at, spread) = (Duration::from_secs(20 * 60), Duration::from_millis(BOUNDARY_SPREAD_MS));
        assert!(next >= at && next <= at + spread, "the boundary comes before the hourly run: {next:?}");
        assert_eq!(after_full.next_boundary_time, Some(Time(boundary)));
        assert_eq!(after_full.last_full_sync_time, Some(Time(now)));
        assert_eq!(after_full.properties[0].residents, 10);

        let later = Acknowledgement { now: "2026-11-30T10:05:00Z".parse().unwrap(), ..seen };
        let changes =
            SyncReport { properties: vec![read("2026-11-30T10:00:00Z")], incremental: true, ..Default::default() };
        let (after_changes, _) = after_attempt(&after_full, &later, "d", &attempt(changes, later.now));
        assert_eq!(after_changes.properties[0].residents, 10, "the last full read's size");
        assert_eq!(after_changes.properties[0].watermark, Some(Time("2026-11-30T10:00:00Z".parse().unwrap())));
        assert_eq!(after_changes.next_boundary_time, Some(Time(boundary)), "kept: this run read fewer residents");
        assert_eq!(after_changes.last_full_sync_time, Some(Time(now)));

        let mut failed_write =
            SyncReport { properties: vec![read("2026-11-30T10:01:00Z")], incremental: true, ..Default::default() };
        failed_write.counts.failed = 1;
        failed_write.write_errors.push(crate::destination::DestinationError::NotFound("user".into()));
        let (after_failure, _) = after_attempt(&after_changes, &later, "d", &attempt(failed_write, later.now));
        assert_eq!(after_failure.properties[0].watermark, after_changes.properties[0].watermark);
    }
}

#[cfg(test)]
mod trust_tests {
    use super::*;
    use crate::api::PropertyStatus;

    fn at(t: &str) -> Option<Time> {
        Some(Time(t.parse().unwrap()))
    }

    fn now() -> jiff::Timestamp {
        "2026-12-08T10:00:00Z".parse().unwrap()
    }

    /// A status as a tenant forges it: everything in the year 3000.
    fn forged() -> PmsIntegrationStatus {
        PmsIntegrationStatus {
            last_attempt_time: at("3000-01-01T00:00:00Z"),
            last_full_sync_time: at("3000-01-01T00:00:00Z"),
            next_sync_time: at("3000-01-01T00:00:00Z"),
            properties: vec![PropertyStatus {
                id: "1".into(),
                residents: 3,
                error: None,
                watermark: at("3000-01-01T00:00:00Z"),
            }],
            ..Default::default()
        }
    }

    fn ours() -> PmsIntegrationStatus {
        PmsIntegrationStatus {
            last_attempt_time: at("2026-12-08T09:00:00Z"),
            last_full_sync_time: at("2026-12-08T09:00:00Z"),
            next_sync_time: at("2026-12-08T10:30:00Z"),
            properties: vec![PropertyStatus {
                id: "1".into(),
                residents: 3,
                error: None,
                watermark: at("2026-12-08T08:55:00Z"),
            }],
            ..Default::default()
        }
    }

    /// Without an own copy (a restart) the object's status is used without its marks; with one,
    /// ours wins over anything but a plausible later attempt (another replica's), which is again
    /// used without its marks.
    #[test]
    fn only_the_controllers_own_status_carries_watermarks_and_full_sync_times() {
        let (after_restart, own) = starting_point(Some(forged()), None, now());
        assert!(!own);
        assert_eq!(after_restart.last_full_sync_time, None);
        assert!(after_restart.properties.iter().all(|p| p.watermark.is_none() && p.residents == 3));

        let (running, own) = starting_point(Some(forged()), Some(ours()), now());
        assert!(own && running == ours(), "a forged attempt time ahead of our clock is nobody's");

        let lagging = PmsIntegrationStatus { last_attempt_time: at("2026-12-08T08:00:00Z"), ..forged() };
        assert_eq!(starting_point(Some(lagging), Some(ours()), now()), (ours(), true), "the watch cache lags");

        let other_replica = PmsIntegrationStatus { last_attempt_time: at("2026-12-08T09:30:00Z"), ..forged() };
        let (taken, own) = starting_point(Some(other_replica), Some(ours()), now());
        assert!(!own && taken.last_full_sync_time.is_none() && taken.properties[0].watermark.is_none());
        assert_eq!(starting_point(None, None, now()), (PmsIntegrationStatus::default(), false));
    }

    #[test]
    fn a_distrusted_schedule_is_bounded_by_the_interval_or_a_day() {
        let hour = Duration::from_secs(3600);
        for next in [at("3000-01-01T00:00:00Z"), at("2026-12-09T10:00:01Z"), None] {
            let mut status = PmsIntegrationStatus { next_sync_time: next.clone(), ..Default::default() };
            bound_schedule(&mut status, now(), hour);
            assert_eq!(status.next_sync_time, Some(Time(now())), "{next:?}");
        }
        for next in ["2026-12-08T10:30:00Z", "2026-12-09T10:00:00Z", "2026-12-01T00:00:00Z"] {
            let mut status = PmsIntegrationStatus { next_sync_time: at(next), ..Default::default() };
            bound_schedule(&mut status, now(), hour);
            assert_eq!(status.next_sync_time, at(next), "a quarantine's day, or a time already due");
        }
        let mut monthly = PmsIntegrationStatus { next_sync_time: at("2027-01-01T00:00:00Z"), ..Default::default() };
        bound_schedule(&mut monthly, now(), Duration::from_secs(720 * 3600));
        assert_eq!(monthly.next_sync_time, at("2027-01-01T00:00:00Z"));
    }
}
