//! The deprovisioning circuit breaker (Entra's accidental-deletion threshold, Okta's import
//! safeguard), bound to an exact plan like a Terraform plan file.
//!
//! A run holds its deprovisioning part when it would deprovision more than `max_percent` of the
//! users it manages (not counting those already deprovisioned), and a property's part when the
//! property had users with access and came back with no resident at all (the classic PMS outage
//! that answers 200 with an empty list) or with mostly unknown statuses. Creates and updates
//! still apply.
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
    /// Properties where most residents came with statuses the mapping does not know: a vendor
    /// that renamed its statuses looks like everyone moving out.
    UnknownStatusSurge(Vec<String>),
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
            HoldReason::UnknownStatusSurge(ids) => write!(
                f,
                "properties {}: most residents have statuses the mapping does not know (map them in spec.pms.statusMapping)",
                ids.join(", ")
            ),
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

/// What one run read from the PMS, per property fetched successfully.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// Residents returned.
    pub residents: HashMap<String, u64>,
    /// Of those, residents whose status the mapping does not know.
    pub unknown: HashMap<String, u64>,
    /// An incremental run sees only the users whose residents changed: the size of the whole
    /// building (as its last full read found it) is the threshold's denominator at least.
    pub building: u64,
}

/// Applies the breaker to `plan`.
///
/// First per property, where the cause is the property's own data: a property that had users
/// with access and returned nobody, or mostly unknown statuses, has its deprovisioning held while
/// the other properties' move-outs proceed. Then over the integration: the remaining
/// deprovisioning may not exceed `max_percent` of the users not already deprovisioned (a building
/// with years of deactivated former residents must not dilute the threshold), else all of it is
/// held.
pub fn guard(plan: &mut Plan, scope: &Scope, max_percent: u32, fetched: &Fetched, approval: Option<&str>) -> Guard {
    let count = plan.count(Action::is_deprovision);
    if count == 0 {
        return Guard::Clear;
    }
    let property_of = |a: &Action| scope.parse(a.external_id()).map(|(p, _)| p.to_string());
    let deprovisioned_properties: BTreeSet<String> =
        plan.actions.iter().filter(|a| a.is_deprovision()).filter_map(property_of).collect();
    let live = |p: &str| plan.live_by_property.get(p).is_some_and(|m| *m > 0);
    let emptied: Vec<String> =
        deprovisioned_properties.iter().filter(|p| fetched.residents.get(*p) == Some(&0) && live(p)).cloned().collect();
    let surged: Vec<String> = deprovisioned_properties
        .iter()
        .filter(|p| {
            let total = fetched.residents.get(*p).copied().unwrap_or(0);
            let unknown = fetched.unknown.get(*p).copied().unwrap_or(0);
            total > 0 && unknown * 2 > total && live(p)
        })
        .cloned()
        .collect();
    let mut reasons = Vec::new();
    let held_properties: BTreeSet<&String> = emptied.iter().chain(&surged).collect();
    let elsewhere = plan
        .actions
        .iter()
        .filter(|a| a.is_deprovision() && property_of(a).is_none_or(|p| !held_properties.contains(&p)))
        .count() as u64;
    let managed = plan.live().max(fetched.building);
    let too_many = elsewhere * 100 > u64::from(max_percent) * managed;
    if too_many {
        reasons.push(HoldReason::TooMany { count, managed, max_percent });
    }
    if !emptied.is_empty() {
        reasons.push(HoldReason::PropertiesEmptied(emptied.clone()));
    }
    if !surged.is_empty() {
        reasons.push(HoldReason::UnknownStatusSurge(surged.clone()));
    }
    if reasons.is_empty() {
        return Guard::Clear;
    }
    let held =
        |a: &Action| a.is_deprovision() && (too_many || property_of(a).is_some_and(|p| held_properties.contains(&p)));
    let digest = digest(plan.actions.iter().filter(|a| held(a)));
    if approval.map(str::trim) == Some(digest.as_str()) {
        return Guard::Released { count: plan.count(held), digest };
    }
    let (held, kept): (Vec<Action>, Vec<Action>) = std::mem::take(&mut plan.actions).into_iter().partition(held);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::desired::{Policy, desired_users};
    use crate::domain::model::{Resident, ResidentStatus};
    use crate::domain::plan::{DeprovisionMode, plan};
    use crate::domain::user::{ManagedUser, UserRecord};
    use proptest::prelude::*;

    fn scope() -> Scope {
        Scope::new("ns", "it")
    }

    fn user(property: u8, person: u8, active: bool) -> ManagedUser {
        let external_id = scope().external_id(&property.to_string(), &person.to_string());
        ManagedUser {
            id: format!("id-{property}-{person}"),
            record: UserRecord {
                user_name: format!("{property}-{person}@example.org"),
                external_id,
                given_name: "G".into(),
                family_name: "F".into(),
                emails: vec![format!("{property}-{person}@example.org")],
                phones: vec![],
                active,
                ..UserRecord::default()
            },
        }
    }

    fn resident(property: u8, person: u8) -> Resident {
        let mut r = Resident::new(&property.to_string(), &person.to_string(), "Current", ResidentStatus::Current);
        r.first_name = "G".into();
        r.last_name = "F".into();
        r.emails = vec![format!("{property}-{person}@example.org")];
        r
    }

    #[test]
    fn a_property_that_returns_nobody_is_held_even_under_the_percentage() {
        let managed: Vec<ManagedUser> = (0..50).map(|p| user(1, p, true)).chain([user(2, 0, true)]).collect();
        let residents: Vec<Resident> = (0..50).map(|p| resident(1, p)).collect();
        let desired = desired_users(&scope(), residents.clone(), &Policy::default());
        let mut p = plan(&scope(), desired, managed, &BTreeSet::new(), DeprovisionMode::Deactivate);
        let fetched = counts(&[("1", 50), ("2", 0)]);
        let Guard::Held { actions, reasons, .. } = guard(&mut p, &scope(), 20, &fetched, None) else { panic!() };
        assert_eq!(actions.len(), 1);
        assert_eq!(reasons, [HoldReason::PropertiesEmptied(vec!["2".into()])]);
        assert!(p.is_empty());
    }

    #[test]
    fn an_approval_releases_exactly_the_plan_it_names() {
        let managed: Vec<ManagedUser> = (0..10).map(|p| user(1, p, true)).collect();
        let residents: Vec<Resident> = (0..7).map(|p| resident(1, p)).collect();
        let fetched = counts(&[("1", 7)]);
        let make = || {
            let desired = desired_users(&scope(), residents.clone(), &Policy::default());
            plan(&scope(), desired, managed.clone(), &BTreeSet::new(), DeprovisionMode::Deactivate)
        };
        let Guard::Held { digest, .. } = guard(&mut make(), &scope(), 20, &fetched, None) else { panic!() };
        let mut approved = make();
        assert_eq!(guard(&mut approved, &scope(), 20, &fetched, Some(&digest)), Guard::Released { count: 3, digest });
        assert_eq!(approved.count(Action::is_deprovision), 3);
        let mut other = make();
        assert!(matches!(guard(&mut other, &scope(), 20, &fetched, Some("sha256:other")), Guard::Held { .. }));
    }

    fn counts(pairs: &[(&str, u64)]) -> Fetched {
        Fetched { residents: pairs.iter().map(|(p, n)| (p.to_string(), *n)).collect(), ..Default::default() }
    }

    #[test]
    fn users_already_deprovisioned_do_not_dilute_the_threshold() {
        // 10 residents with access and 90 former residents deactivated long ago: 3 move-outs at
        // once are 30% of the users with access, not 3% of every user ever managed.
        let managed: Vec<ManagedUser> =
            (0..10).map(|p| user(1, p, true)).chain((10..100).map(|p| user(1, p, false))).collect();
        let residents: Vec<Resident> = (0..7).map(|p| resident(1, p)).collect();
        let desired = desired_users(&scope(), residents, &Policy::default());
        let mut p = plan(&scope(), desired, managed, &BTreeSet::new(), DeprovisionMode::Deactivate);
        let Guard::Held { actions, reasons, .. } = guard(&mut p, &scope(), 20, &counts(&[("1", 7)]), None) else {
            panic!("held")
        };
        assert_eq!(actions.len(), 3);
        assert_eq!(reasons, [HoldReason::TooMany { count: 3, managed: 10, max_percent: 20 }]);
    }

    #[test]
    fn an_emptied_property_holds_only_its_own_deprovisioning() {
        // Property 2 answers with nobody (an outage); property 1 has one real move-out.
        let managed: Vec<ManagedUser> =
            (0..10).map(|p| user(1, p, true)).chain((0..5).map(|p| user(2, p, true))).collect();
        let residents: Vec<Resident> = (0..9).map(|p| resident(1, p)).collect();
        let desired = desired_users(&scope(), residents, &Policy::default());
        let mut p = plan(&scope(), desired, managed, &BTreeSet::new(), DeprovisionMode::Deactivate);
        let Guard::Held { actions, reasons, .. } = guard(&mut p, &scope(), 20, &counts(&[("1", 9), ("2", 0)]), None)
        else {
            panic!("held")
        };
        assert_eq!(actions.len(), 5, "property 2's users wait");
        assert_eq!(reasons, [HoldReason::PropertiesEmptied(vec!["2".into()])]);
        assert_eq!(p.count(Action::is_deprovision), 1, "property 1's move-out proceeds");
    }

    #[test]
    fn a_surge_of_unknown_statuses_is_held_like_an_emptied_property() {
        let managed: Vec<ManagedUser> = (0..10).map(|p| user(1, p, true)).collect();
        let residents: Vec<Resident> = (0..10)
            .map(|p| Resident { status: ResidentStatus::Unknown, status_raw: "Renamed".into(), ..resident(1, p) })
            .collect();
        let desired = desired_users(&scope(), residents, &Policy::default());
        let mut p = plan(&scope(), desired, managed, &BTreeSet::new(), DeprovisionMode::Deactivate);
        let fetched = Fetched { unknown: HashMap::from([("1".to_string(), 10)]), ..counts(&[("1", 10)]) };
        let Guard::Held { actions, reasons, .. } = guard(&mut p, &scope(), 100, &fetched, None) else { panic!("held") };
        assert_eq!(actions.len(), 10);
        assert_eq!(reasons, [HoldReason::UnknownStatusSurge(vec!["1".into()])]);
    }

    proptest! {
        #[test]
        fn the_breaker_holds_exactly_when_it_should(
            managed_people in proptest::collection::btree_set((1u8..4, 0u8..20), 0..40),
            kept in proptest::collection::vec(any::<bool>(), 40),
            max_percent in 0u32..=100,
            delete in any::<bool>(),
        ) {
            let managed: Vec<ManagedUser> = managed_people.iter().map(|(p, n)| user(*p, *n, true)).collect();
            let residents: Vec<Resident> = managed_people.iter().zip(&kept).filter(|(_, k)| **k).map(|((p, n), _)| resident(*p, *n)).collect();
            let mode = if delete { DeprovisionMode::Delete } else { DeprovisionMode::Deactivate };
            let mut fetched = Fetched::default();
            for p in 1u8..4 {
                fetched.residents.insert(p.to_string(), residents.iter().filter(|r| r.property_id == p.to_string()).count() as u64);
            }
            // The oracle, from the inputs alone: emptied properties hold their own part; the rest
            // is held whole when it is too much.
            let gone: Vec<&(u8, u8)> = managed_people.iter().zip(&kept).filter(|(_, k)| !**k).map(|(m, _)| m).collect();
            let emptied = |p: u8| fetched.residents[&p.to_string()] == 0;
            let elsewhere = gone.iter().filter(|(p, _)| !emptied(*p)).count() as u64;
            let too_many = elsewhere * 100 > u64::from(max_percent) * managed.len() as u64;
            let expected_held = if too_many { gone.len() } else { gone.iter().filter(|(p, _)| emptied(*p)).count() };

            let desired = desired_users(&scope(), residents.clone(), &Policy::default());
            let mut p = plan(&scope(), desired, managed, &BTreeSet::new(), mode);
            let result = guard(&mut p, &scope(), max_percent, &fetched, None);
            prop_assert_eq!(matches!(result, Guard::Held { .. }), expected_held > 0);
            if let Guard::Held { actions, .. } = &result {
                prop_assert_eq!(actions.len(), expected_held);
            }
            prop_assert_eq!(p.count(Action::is_deprovision), (gone.len() - expected_held) as u64, "held actions left in the plan");
        }

        #[test]
        fn the_digest_changes_iff_the_held_set_changes(
            a in proptest::collection::btree_set((1u8..3, 0u8..6, any::<bool>()), 1..8),
            b in proptest::collection::btree_set((1u8..3, 0u8..6, any::<bool>()), 1..8),
        ) {
            let actions = |set: &BTreeSet<(u8, u8, bool)>| -> Vec<Action> {
                set.iter().map(|(p, n, delete)| if *delete { Action::Delete(user(*p, *n, true)) } else { Action::Deactivate(user(*p, *n, true)) }).collect()
            };
            let (xa, xb) = (actions(&a), actions(&b));
            let forward = digest(xa.iter());
            prop_assert_eq!(&forward, &digest(xa.iter().rev()), "order must not matter");
            prop_assert_eq!(forward == digest(xb.iter()), a == b);
        }
    }
}
