//! Condition types and the stable reasons used in conditions, events and metrics.
//!
//! Conditions follow kstatus: `Ready` is always present; `Stalled` only while true (an error that
//! retrying cannot fix). `lastTransitionTime` moves only when a condition's status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const STALLED: &str = "Stalled";
pub const RECONCILING: &str = "Reconciling";

/// The stable PascalCase reasons of conditions, events and metrics. Tests, alerts and users match
/// on their names (`as_str`); never rename one. The README's list is checked against [`Reason::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Succeeded,
    /// `Reconciling` while a sync runs.
    Progressing,
    Disabled,
    InvalidSpec,
    CredentialsNotFound,
    ProviderNotSupported,
    PmsUnavailable,
    PmsAuthenticationFailed,
    /// The PMS license (e.g. a RealPage license key) does not allow the call.
    PmsNotLicensed,
    DestinationUnavailable,
    DestinationAuthenticationFailed,
    SyncIncomplete,
    KubernetesApiError,
    /// A reconcile panicked (a bug); metrics only, the integration is retried later.
    InternalError,
    DeprovisionHeld,
    DryRun,
    /// Event reason: residents not created because their email belongs to a non-matching user.
    Conflict,
    /// Event reason: residents held back because they share an email.
    DuplicateEmail,
    /// Event reason: PMS statuses the mapping does not know.
    UnknownStatus,
    /// The controller's record of which destination users and grants are its own is missing
    /// though the integration synced before: nothing is written until it is restored or rebuilt.
    StateLost,
    /// Event reason: future residents whose move-in date is too old to believe (no access).
    StaleMoveIn,
    /// Event reason: irreversible writes refused because our clock and the vendor's disagree.
    ClockSkew,
    /// Event reason for a run that changed users.
    Synced,
}

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

impl Reason {
    pub const ALL: [Reason; 23] = [
        Self::Succeeded,
        Self::Progressing,
        Self::Disabled,
        Self::InvalidSpec,
        Self::CredentialsNotFound,
        Self::ProviderNotSupported,
        Self::PmsUnavailable,
        Self::PmsAuthenticationFailed,
        Self::PmsNotLicensed,
        Self::DestinationUnavailable,
        Self::DestinationAuthenticationFailed,
        Self::SyncIncomplete,
        Self::KubernetesApiError,
        Self::InternalError,
        Self::DeprovisionHeld,
        Self::DryRun,
        Self::Conflict,
        Self::DuplicateEmail,
        Self::UnknownStatus,
        Self::StateLost,
        Self::StaleMoveIn,
        Self::ClockSkew,
        Self::Synced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Progressing => "Progressing",
            Self::Disabled => "Disabled",
            Self::InvalidSpec => "InvalidSpec",
            Self::CredentialsNotFound => "CredentialsNotFound",
            Self::ProviderNotSupported => "ProviderNotSupported",
            Self::PmsUnavailable => "PmsUnavailable",
            Self::PmsAuthenticationFailed => "PmsAuthenticationFailed",
            Self::PmsNotLicensed => "PmsNotLicensed",
            Self::DestinationUnavailable => "DestinationUnavailable",
            Self::DestinationAuthenticationFailed => "DestinationAuthenticationFailed",
            Self::SyncIncomplete => "SyncIncomplete",
            Self::KubernetesApiError => "KubernetesApiError",
            Self::InternalError => "InternalError",
            Self::DeprovisionHeld => "DeprovisionHeld",
            Self::DryRun => "DryRun",
            Self::Conflict => "Conflict",
            Self::DuplicateEmail => "DuplicateEmail",
            Self::UnknownStatus => "UnknownStatus",
            Self::StateLost => "StateLost",
            Self::StaleMoveIn => "StaleMoveIn",
            Self::ClockSkew => "ClockSkew",
            Self::Synced => "Synced",
        }
    }

    /// The retry policy of a failure with this reason; `permanent` when retrying the same inputs
    /// cannot succeed. Rejected credentials are quarantined (retried once a day besides waiting
    /// for a change); configuration errors always wait for a change; a held deprovisioning waits
    /// for the normal interval (or the approval).
    pub fn retry(self, permanent: bool) -> Retry {
        match self {
            Self::DeprovisionHeld => Retry::Interval,
            Self::InvalidSpec | Self::CredentialsNotFound | Self::ProviderNotSupported | Self::StateLost => {
                Retry::WaitForChange
            }
            Self::PmsAuthenticationFailed | Self::DestinationAuthenticationFailed if permanent => Retry::Quarantine,
            _ if permanent => Retry::WaitForChange,
            _ => Retry::Backoff,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets `type_` to the given state, keeping `lastTransitionTime` unless the status changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: Reason,
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
        reason: reason.as_str().to_string(),
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
        set(&mut c, READY, false, Reason::PmsUnavailable, "a".into(), Some(1), t0);
        set(&mut c, READY, false, Reason::SyncIncomplete, "b".into(), Some(2), t1);
        assert_eq!(c[0].last_transition_time.0, t0);
        assert_eq!(c[0].reason, "SyncIncomplete");
        set(&mut c, READY, true, Reason::Succeeded, "c".into(), Some(2), t1);
        assert_eq!(c[0].last_transition_time.0, t1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn reasons_are_pascal_case_unique_and_listed_in_the_readme() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let name = r.as_str();
            assert!(
                name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_alphanumeric())
            );
            assert!(seen.insert(name), "{name} twice");
            assert!(readme.contains(&format!("`{name}`")), "README does not list the reason {name}");
        }
    }

    #[test]
    fn each_reason_has_its_retry_policy() {
        use Reason::*;
        assert_eq!(InvalidSpec.retry(false), Retry::WaitForChange);
        assert_eq!(PmsAuthenticationFailed.retry(true), Retry::Quarantine);
        assert_eq!(DestinationAuthenticationFailed.retry(true), Retry::Quarantine);
        assert_eq!(PmsNotLicensed.retry(true), Retry::WaitForChange);
        assert_eq!(PmsNotLicensed.retry(false), Retry::Backoff);
        assert_eq!(SyncIncomplete.retry(false), Retry::Backoff);
        assert_eq!(DeprovisionHeld.retry(false), Retry::Interval);
    }
}
