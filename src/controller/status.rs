//! The status an attempt leaves behind: pure functions from the previous status and what happened.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::due::{jittered, retry_delay};
use crate::api::{
    APPROVE_DEPROVISION_ANNOTATION, HeldDeprovision, PlanStatus, PmsIntegrationStatus, PropertyPlan, PropertyStatus,
    SyncSummary,
};
use crate::conditions::{self, READY, STALLED, reason};
use crate::domain::Guard;
use crate::pms::PmsError;
use crate::sync::{Counts, SyncReport};

/// When to try again after an attempt that did not fully succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Transient: exponential backoff, separate from the interval.
    Backoff,
    /// Not an error of the run (e.g. deprovisioning held for approval): the normal interval.
    Interval,
    /// Retrying cannot fix it: wait for a change of spec, Secret or token.
    WaitForChange,
    /// Credentials rejected: wait for a change, but also retry once a day in case the vendor
    /// was at fault (Entra's quarantine), never more often.
    Quarantine,
}

/// Retry period while quarantined.
pub const QUARANTINE: Duration = Duration::from_secs(24 * 3600);

/// Why an attempt did not fully succeed. `message` holds IDs and counts only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
    pub retry: Retry,
}

impl Failure {
    pub fn permanent(reason: &'static str, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), retry: Retry::WaitForChange }
    }

    pub fn transient(reason: &'static str, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), retry: Retry::Backoff }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self.retry, Retry::WaitForChange | Retry::Quarantine)
    }
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

/// Disabled: acknowledge the token and generation, make no calls, schedule nothing.
pub fn disabled(previous: &PmsIntegrationStatus, seen: &Acknowledgement<'_>) -> PmsIntegrationStatus {
    let mut status = acknowledge(previous, seen);
    status.next_sync_time = None;
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        reason::DISABLED,
        "spec.enabled is false: no PMS or destination calls are made".into(),
        seen.generation,
        seen.now,
    );
    conditions::remove(&mut status.conditions, STALLED);
    status
}

/// After a sync attempt (or a failure to start one). Returns the status and when to run next
/// (`None`: wait for a change).
#[allow(clippy::too_many_arguments)]
pub fn after_attempt(
    previous: &PmsIntegrationStatus,
    seen: &Acknowledgement<'_>,
    started: jiff::Timestamp,
    secrets_digest: &str,
    interval: Duration,
    dry_run: bool,
    report: Option<&SyncReport>,
    failure: Option<&Failure>,
) -> (PmsIntegrationStatus, Option<Duration>) {
    let mut status = acknowledge(previous, seen);
    let now = seen.now;
    status.last_attempt_time = Some(Time(started));
    status.observed_secrets_digest = Some(secrets_digest.to_string());
    if let Some(report) = report {
        status.summary = Some(summary(&report.counts));
        status.properties = report
            .properties
            .iter()
            .map(|p| PropertyStatus {
                id: p.id.clone(),
                residents: p.residents,
                error: p.error.as_ref().map(|e| e.to_string()),
            })
            .collect();
        status.held_deprovision = held(report);
        status.plan = dry_run.then(|| plan_status(report));
    } else {
        status.plan = None;
    }

    let next = match failure {
        None => {
            let (reason, message) = if dry_run {
                (reason::DRY_RUN, report.map(dry_run_message).unwrap_or_default())
            } else {
                status.last_sync_time = Some(Time(now));
                (reason::SUCCEEDED, report.map(success_message).unwrap_or_default())
            };
            status.consecutive_failures = None;
            conditions::set(&mut status.conditions, READY, true, reason, message, seen.generation, now);
            conditions::remove(&mut status.conditions, STALLED);
            Some(jittered(interval, 0.1))
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
    (status, next)
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
    }
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
        reason::PMS_NOT_LICENSED
    } else if pms_permanent {
        reason::PMS_AUTHENTICATION_FAILED
    } else {
        reason::PMS_UNAVAILABLE
    };
    let failure = |why: &'static str, permanent: bool, message: String| {
        let auth = why == reason::PMS_AUTHENTICATION_FAILED || why == reason::DESTINATION_AUTHENTICATION_FAILED;
        let retry = match (permanent, auth) {
            (true, true) => Retry::Quarantine,
            (true, false) => Retry::WaitForChange,
            (false, _) => Retry::Backoff,
        };
        Some(Failure { reason: why, message, retry })
    };
    match &report.fatal {
        Some(RunError::AllPropertiesFailed) => {
            return failure(
                pms_reason,
                pms_permanent,
                format!("no property could be fetched; nothing was changed ({})", failed.join("; ")),
            );
        }
        Some(RunError::DeadlineExceeded) => {
            return failure(reason::SYNC_INCOMPLETE, false, RunError::DeadlineExceeded.to_string());
        }
        Some(RunError::Destination(e)) => {
            let reason = if e.is_permanent() {
                reason::DESTINATION_AUTHENTICATION_FAILED
            } else {
                reason::DESTINATION_UNAVAILABLE
            };
            return failure(reason, e.is_permanent(), format!("{e}; nothing was changed"));
        }
        None => {}
    }
    if report.not_started > 0 {
        return failure(
            reason::SYNC_INCOMPLETE,
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
        let reason = if permanent { reason::DESTINATION_AUTHENTICATION_FAILED } else { reason::SYNC_INCOMPLETE };
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
        return Some(Failure {
            reason: reason::DEPROVISION_HELD,
            message: format!(
                "deprovisioning of {} users held: {why}; creates and updates were applied. Approve exactly this plan \
                 with the annotation {APPROVE_DEPROVISION_ANNOTATION}={digest}",
                actions.len()
            ),
            retry: Retry::Interval,
        });
    }
    None
}

#[cfg(test)]
mod overflow_tests {
    use super::*;
    use crate::destination::DestinationError;
    use crate::sync::PropertyResult;

    fn property(id: &str, error: Option<PmsError>) -> PropertyResult {
        PropertyResult { id: id.into(), residents: 0, error }
    }

    #[test]
    fn one_unlicensed_property_does_not_stall_the_others() {
        let unlicensed = || Some(PmsError::NotLicensed("not enabled".into()));
        let partial =
            SyncReport { properties: vec![property("1", None), property("2", unlicensed())], ..Default::default() };
        let f = classify(&partial).unwrap();
        assert_eq!((f.reason, f.retry), (reason::PMS_NOT_LICENSED, Retry::Backoff));
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
        assert_eq!((f.reason, f.retry), (reason::SYNC_INCOMPLETE, Retry::Backoff));
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
