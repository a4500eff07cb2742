//! Condition types and the stable reasons used in conditions, events and metrics.
//!
//! Conditions follow kstatus: `Ready` is always present; `Stalled` only while true (an error that
//! retrying cannot fix). `lastTransitionTime` moves only when a condition's status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const STALLED: &str = "Stalled";
pub const RECONCILING: &str = "Reconciling";

/// Stable PascalCase reasons. Tests, alerts and users match on these; never rename one.
pub mod reason {
    pub const SUCCEEDED: &str = "Succeeded";
    /// `Reconciling` while a sync runs.
    pub const PROGRESSING: &str = "Progressing";
    pub const DISABLED: &str = "Disabled";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const CREDENTIALS_NOT_FOUND: &str = "CredentialsNotFound";
    pub const PROVIDER_NOT_SUPPORTED: &str = "ProviderNotSupported";
    pub const PMS_UNAVAILABLE: &str = "PmsUnavailable";
    pub const PMS_AUTHENTICATION_FAILED: &str = "PmsAuthenticationFailed";
    /// The PMS license (e.g. a RealPage license key) does not allow the call.
    pub const PMS_NOT_LICENSED: &str = "PmsNotLicensed";
    pub const DESTINATION_UNAVAILABLE: &str = "DestinationUnavailable";
    pub const DESTINATION_AUTHENTICATION_FAILED: &str = "DestinationAuthenticationFailed";
    pub const SYNC_INCOMPLETE: &str = "SyncIncomplete";
    pub const KUBERNETES_API_ERROR: &str = "KubernetesApiError";
    /// A reconcile panicked (a bug); metrics only, the integration is retried later.
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const DEPROVISION_HELD: &str = "DeprovisionHeld";
    pub const DRY_RUN: &str = "DryRun";
    /// Event reason: residents not created because their email belongs to a non-matching user.
    pub const CONFLICT: &str = "Conflict";
    /// Event reason: residents held back because they share an email.
    pub const DUPLICATE_EMAIL: &str = "DuplicateEmail";
    /// Event reason: PMS statuses the mapping does not know.
    pub const UNKNOWN_STATUS: &str = "UnknownStatus";
    /// Event reason for a run that changed users.
    pub const SYNCED: &str = "Synced";
}

/// Sets `type_` to the given state, keeping `lastTransitionTime` unless the status changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let transition = conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: transition,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Removes `type_` (abnormal-true conditions are absent rather than False).
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let mut c = Vec::new();
        set(&mut c, READY, false, reason::PMS_UNAVAILABLE, "a".into(), Some(1), t0);
        set(&mut c, READY, false, reason::SYNC_INCOMPLETE, "b".into(), Some(2), t1);
        assert_eq!(c[0].last_transition_time.0, t0);
        assert_eq!(c[0].reason, reason::SYNC_INCOMPLETE);
        set(&mut c, READY, true, reason::SUCCEEDED, "c".into(), Some(2), t1);
        assert_eq!(c[0].last_transition_time.0, t1);
        assert_eq!(c.len(), 1);
    }
}
