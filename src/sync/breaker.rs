//! The deprovisioning circuit breaker (Entra's accidental-deletion threshold, Okta's import
//! safeguard), bound to an exact plan like a Terraform plan file.
//!
//! A run holds its deprovisioning part when it would deprovision more than `max_percent` of the
//! users it manages, or when a property that had managed users came back with no resident at all
//! (the classic PMS outage that answers 200 with an empty list). Creates and updates still apply.
//! The held part carries a digest of exactly which users it would deprovision and how; an approval
//! naming that digest releases that plan and no other.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::plan::{Action, Plan};
use super::user::Scope;

/// Why a deprovisioning was held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// `count` of `managed` users is more than `max_percent`.
    TooMany { count: u64, managed: u64, max_percent: u32 },
    /// Properties that had managed users and returned no resident.
    PropertiesEmptied(Vec<String>),
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldReason::TooMany { count, managed, max_percent } => {
                write!(f, "{count} of {managed} managed users is more than deprovision.maxPercent ({max_percent}%)")
            }
            HoldReason::PropertiesEmptied(ids) => {
                write!(f, "properties {} returned no residents but have managed users", ids.join(", "))
            }
        }
    }
}

/// The outcome of guarding one plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Nothing to hold: deprovisioning proceeds.
    Clear,
    /// The breaker tripped, but the approval names exactly this plan: it proceeds.
    Released { count: u64, digest: String },
    /// The deprovisioning part was removed from the plan and waits for approval.
    Held { actions: Vec<Action>, digest: String, reasons: Vec<HoldReason> },
}

/// Applies the breaker to `plan`. `fetched_by_property` holds the residents returned by each
/// property fetched successfully in this run.
pub fn guard(
    plan: &mut Plan,
    scope: &Scope,
    max_percent: u32,
    fetched_by_property: &HashMap<String, u64>,
    approval: Option<&str>,
) -> Guard {
    let count = plan.count(Action::is_deprovision);
    if count == 0 {
        return Guard::Clear;
    }
    let mut reasons = Vec::new();
    let managed = plan.managed();
    if count * 100 > u64::from(max_percent) * managed {
        reasons.push(HoldReason::TooMany { count, managed, max_percent });
    }
    let deprovisioned_properties: BTreeSet<&str> = plan
        .actions
        .iter()
        .filter(|a| a.is_deprovision())
        .filter_map(|a| scope.parse(a.external_id()).map(|(p, _)| p))
        .collect();
    let emptied: Vec<String> = deprovisioned_properties
        .into_iter()
        .filter(|p| fetched_by_property.get(*p) == Some(&0))
        .filter(|p| plan.managed_by_property.get(*p).is_some_and(|m| *m > 0))
        .map(str::to_string)
        .collect();
    if !emptied.is_empty() {
        reasons.push(HoldReason::PropertiesEmptied(emptied));
    }
    if reasons.is_empty() {
        return Guard::Clear;
    }
    let digest = digest(plan.actions.iter().filter(|a| a.is_deprovision()));
    if approval.map(str::trim) == Some(digest.as_str()) {
        return Guard::Released { count, digest };
    }
    let (held, kept): (Vec<Action>, Vec<Action>) =
        std::mem::take(&mut plan.actions).into_iter().partition(Action::is_deprovision);
    plan.actions = kept;
    Guard::Held { actions: held, digest, reasons }
}

/// `sha256:<hex>` of the sorted (verb, destination ID, identity) triples: equal iff the held set
/// and what would be done to each member are equal.
pub fn digest<'a>(actions: impl Iterator<Item = &'a Action>) -> String {
    let mut lines: Vec<String> = actions
        .filter_map(|a| match a {
            Action::Deactivate(m) | Action::Delete(m) => {
                Some(format!("{}\t{}\t{}\n", a.verb(), m.id, m.record.external_id))
            }
            _ => None,
        })
        .collect();
    lines.sort_unstable();
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
