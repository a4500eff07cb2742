//! The pure diff between what should exist and what the destination holds.
//!
//! Safety rules encoded here (and only here):
//! - users without our identity prefix are never in a plan;
//! - users of a property whose fetch failed are held untouched (nothing of it is deprovisioned);
//! - users whose email another resident shares are held untouched until the PMS is fixed;
//! - a managed user whose resident vanished, was excluded, moved out or whose property was detached
//!   is deprovisioned according to the mode (subject to the breaker, `breaker.rs`);
//! - a user this integration deactivated longer ago than `deleteAfter` (`retention.rs`) and still
//!   gone is deleted, like any deprovisioning;
//! - a user already as desired produces no action, so a no-change run makes zero writes.

use std::collections::{BTreeSet, HashMap};

use super::desired::DesiredSet;
use super::user::{ManagedUser, Scope, UserRecord};

/// How deprovisioning is carried out (mirrors the spec's `deprovision.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeprovisionMode {
    Deactivate,
    Delete,
    Ignore,
}

/// One write to the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create(UserRecord),
    Update {
        existing: ManagedUser,
        desired: UserRecord,
    },
    /// Link an existing, not yet managed user to a resident (exact name and email match) and bring
    /// it to the desired state.
    Adopt {
        existing: ManagedUser,
        desired: UserRecord,
    },
    Deactivate(ManagedUser),
    Delete(ManagedUser),
}

impl Action {
    /// The identity the action is about.
    pub fn external_id(&self) -> &str {
        match self {
            Action::Create(u) => &u.external_id,
            Action::Update { desired, .. } | Action::Adopt { desired, .. } => &desired.external_id,
            Action::Deactivate(m) | Action::Delete(m) => &m.record.external_id,
        }
    }

    pub fn is_deprovision(&self) -> bool {
        matches!(self, Action::Deactivate(_) | Action::Delete(_))
    }

    /// A short lowercase name for tables and logs.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create(_) => "create",
            Action::Update { .. } => "update",
            Action::Adopt { .. } => "adopt",
            Action::Deactivate(_) => "deactivate",
            Action::Delete(_) => "delete",
        }
    }
}

/// The writes one run would make, and what it leaves alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Managed users already as desired (or deprovisioned already, or left by `Ignore`).
    pub unchanged: u64,
    /// Managed users of properties whose fetch failed, left untouched.
    pub held: u64,
    /// Every managed user seen, by property: the breaker's denominators.
    pub managed_by_property: HashMap<String, u64>,
    /// Of those, per property, the users not already deprovisioned (active, or desired): the
    /// breaker's denominator.
    pub live_by_property: HashMap<String, u64>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn count(&self, pred: impl Fn(&Action) -> bool) -> u64 {
        self.actions.iter().filter(|a| pred(a)).count() as u64
    }

    pub fn managed(&self) -> u64 {
        self.managed_by_property.values().sum()
    }

    /// Managed users not already deprovisioned: with access, or still desired.
    pub fn live(&self) -> u64 {
        self.live_by_property.values().sum()
    }
}

/// Computes the plan. `failed_properties` are attached properties whose fetch failed or was
/// incomplete in this run. A hash join: one pass to pair destination users with desired ones by
/// identity (borrowing, no copies), one pass to move records into actions. Linear in the number of
/// users; see `benches/plan.rs`.
pub fn plan(
    scope: &Scope,
    desired: DesiredSet,
    managed: Vec<ManagedUser>,
    failed_properties: &BTreeSet<String>,
    mode: DeprovisionMode,
) -> Plan {
    let same = |existing: &ManagedUser, want: &UserRecord| existing.record.differs_from(want);
    plan_with(scope, desired, managed, failed_properties, mode, &BTreeSet::new(), &same)
}

/// [`plan`] with the users due for deletion (`due_for_deletion`: destination IDs this integration
/// deactivated longer ago than `deleteAfter`; deleted if still inactive and gone) and the
/// destination's own notion of "must be rewritten" (DOOR compares grants, SCIM profiles).
pub fn plan_with(
    scope: &Scope,
    desired: DesiredSet,
    mut managed: Vec<ManagedUser>,
    failed_properties: &BTreeSet<String>,
    mode: DeprovisionMode,
    due_for_deletion: &BTreeSet<String>,
    differs: &(dyn Fn(&ManagedUser, &UserRecord) -> bool + Sync),
) -> Plan {
    let mut out = Plan::default();
    managed.retain(|u| scope.parse(&u.record.external_id).is_some());
    let DesiredSet { users, duplicate_emails, .. } = desired;

    // Pass 1: what each destination user is. Several may carry one identity (SCIM servers need not
    // keep externalId unique): the one with the lowest ID is the user, the others redundant copies.
    // (Copies of an identity that is not desired are deprovisioned either way.)
    let mut fate: Vec<Fate> = Vec::with_capacity(managed.len());
    let mut holder: Vec<Option<usize>> = vec![None; users.len()];
    {
        let by_identity: FastMap<&str, usize> =
            users.iter().enumerate().map(|(i, u)| (u.external_id.as_str(), i)).collect();
        // Few properties per integration: a short list beats hashing every user's property.
        let mut by_property: Vec<(&str, u64)> = Vec::new();
        for (i, user) in managed.iter().enumerate() {
            let identity = user.record.external_id.as_str();
            let Some((property, _)) = scope.parse(identity) else { unreachable!("retained above") };
            match by_property.iter_mut().find(|(p, _)| *p == property) {
                Some((_, n)) => *n += 1,
                None => by_property.push((property, 1)),
            }
            if failed_properties.contains(property) || duplicate_emails.contains(identity) {
                fate.push(Fate::Held);
                continue;
            }
            let Some(&j) = by_identity.get(identity) else {
                fate.push(Fate::Gone);
                continue;
            };
            match holder[j] {
                Some(other) if managed[other].id <= user.id => fate.push(Fate::Redundant),
                Some(other) => {
                    // This one has the lower ID: it becomes the user.
                    fate[other] = Fate::Redundant;
                    holder[j] = Some(i);
                    fate.push(Fate::Desired(j));
                }
                None => {
                    holder[j] = Some(i);
                    fate.push(Fate::Desired(j));
                }
            }
        }
        out.managed_by_property = by_property.into_iter().map(|(p, n)| (p.to_string(), n)).collect();
    }

    // Pass 2: move records into actions (a taken record leaves an empty default behind).
    let mut users = users;
    for (user, fate) in managed.into_iter().zip(fate) {
        if user.record.active || matches!(fate, Fate::Desired(_)) {
            let property = scope.parse(&user.record.external_id).map_or("", |(p, _)| p);
            match out.live_by_property.get_mut(property) {
                Some(n) => *n += 1,
                None => {
                    out.live_by_property.insert(property.to_string(), 1);
                }
            }
        }
        match fate {
            Fate::Held => out.held += 1,
            Fate::Redundant | Fate::Gone => deprovision(&mut out, user, mode, due_for_deletion),
            Fate::Desired(j) => {
                let want = std::mem::take(&mut users[j]);
                if differs(&user, &want) {
                    out.actions.push(Action::Update { existing: user, desired: want });
                } else {
                    out.unchanged += 1;
                }
            }
        }
    }
    // The rest has no destination user yet. Identities of failed properties never reach `desired`.
    let creates = users.into_iter().zip(holder).filter(|(_, h)| h.is_none()).map(|(u, _)| Action::Create(u));
    out.actions.extend(creates);
    out
}

/// What pass 1 decided for one destination user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Its property failed or its email is shared: left untouched.
    Held,
    /// Another destination user with the same identity and a lower ID is the user.
    Redundant,
    /// Its resident is gone, excluded or without access.
    Gone,
    /// It is the user of `desired.users[j]`.
    Desired(usize),
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn deprovision(out: &mut Plan, user: ManagedUser, mode: DeprovisionMode, due_for_deletion: &BTreeSet<String>) {
    match mode {
        DeprovisionMode::Deactivate if user.record.active => out.actions.push(Action::Deactivate(user)),
        DeprovisionMode::Deactivate if due_for_deletion.contains(&user.id) => out.actions.push(Action::Delete(user)),
        DeprovisionMode::Delete => out.actions.push(Action::Delete(user)),
        DeprovisionMode::Deactivate | DeprovisionMode::Ignore => out.unchanged += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::desired::{Exclusions, Policy, desired_users};
    use crate::domain::model::{Resident, ResidentStatus};
    use proptest::prelude::*;

    fn scope() -> Scope {
        Scope::new("ns", "it")
    }

    fn resident(property: &str, person: &str, status: ResidentStatus) -> Resident {
        let mut r = Resident::new(property, person, status.as_str(), status);
        r.first_name = format!("F{person}");
        r.last_name = format!("L{person}");
        r.emails = vec![format!("p{person}@example.org")];
        r
    }

    /// Applies a plan to an in-memory destination, the way a destination adapter would.
    fn apply(users: &mut Vec<ManagedUser>, plan: &Plan, next_id: &mut u32) {
        for action in &plan.actions {
            match action {
                Action::Create(record) => {
                    *next_id += 1;
                    users.push(ManagedUser { id: format!("u{next_id:05}"), record: record.clone() });
                }
                Action::Update { existing, desired } | Action::Adopt { existing, desired } => {
                    let u = users.iter_mut().find(|u| u.id == existing.id).unwrap();
                    u.record = desired.clone();
                }
                Action::Deactivate(m) => users.iter_mut().find(|u| u.id == m.id).unwrap().record.active = false,
                Action::Delete(m) => users.retain(|u| u.id != m.id),
            }
        }
    }

    fn foreign_user() -> ManagedUser {
        let record = UserRecord {
            external_id: "ns/other-integration/1/1".into(),
            user_name: "someone@example.org".into(),
            given_name: "Some".into(),
            family_name: "One".into(),
            emails: vec![],
            phones: vec![],
            active: true,
            ..UserRecord::default()
        };
        ManagedUser { id: "foreign".into(), record }
    }

    #[test]
    fn first_run_creates_then_second_run_is_empty() {
        let residents = [resident("1", "a", ResidentStatus::Current), resident("1", "b", ResidentStatus::Future)];
        let desired = desired_users(&scope(), residents.to_vec(), &Policy::default());
        let mut users = vec![foreign_user()];
        let first = plan(&scope(), desired.clone(), users.clone(), &BTreeSet::new(), DeprovisionMode::Deactivate);
        assert_eq!(first.count(|a| matches!(a, Action::Create(_))), 2);
        apply(&mut users, &first, &mut 0);
        let second = plan(&scope(), desired.clone(), users, &BTreeSet::new(), DeprovisionMode::Deactivate);
        assert!(second.is_empty(), "{second:?}");
        assert_eq!(second.unchanged, 2);
    }

    #[test]
    fn users_of_a_failed_property_are_held_untouched() {
        let residents = [resident("1", "a", ResidentStatus::Current), resident("2", "b", ResidentStatus::Current)];
        let desired = desired_users(&scope(), residents.to_vec(), &Policy::default());
        let mut users = vec![];
        let p0 = plan(&scope(), desired.clone(), vec![], &BTreeSet::new(), DeprovisionMode::Delete);
        apply(&mut users, &p0, &mut 0);
        // Property 2 fails next time: its resident is missing from the fetch, but must not be deleted.
        let only_first = desired_users(&scope(), residents[..1].to_vec(), &Policy::default());
        let failed = BTreeSet::from(["2".to_string()]);
        let p = plan(&scope(), only_first, users, &failed, DeprovisionMode::Delete);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.held, 1);
    }

    #[test]
    fn moved_out_resident_is_deactivated_once_or_deleted_or_ignored() {
        let current = [resident("1", "a", ResidentStatus::Current)];
        let moved = [resident("1", "a", ResidentStatus::Past)];
        let mut users = vec![];
        let d0 = desired_users(&scope(), current.to_vec(), &Policy::default());
        let p0 = plan(&scope(), d0, vec![], &BTreeSet::new(), DeprovisionMode::Deactivate);
        apply(&mut users, &p0, &mut 0);
        let d1 = desired_users(&scope(), moved.to_vec(), &Policy::default());
        let deactivate = plan(&scope(), d1.clone(), users.clone(), &BTreeSet::new(), DeprovisionMode::Deactivate);
        assert!(matches!(deactivate.actions.as_slice(), [Action::Deactivate(_)]));
        let delete = plan(&scope(), d1.clone(), users.clone(), &BTreeSet::new(), DeprovisionMode::Delete);
        assert!(matches!(delete.actions.as_slice(), [Action::Delete(_)]));
        let ignore = plan(&scope(), d1.clone(), users.clone(), &BTreeSet::new(), DeprovisionMode::Ignore);
        assert!(ignore.is_empty());
        apply(&mut users, &deactivate, &mut 1);
        let again = plan(&scope(), d1.clone(), users, &BTreeSet::new(), DeprovisionMode::Deactivate);
        assert!(again.is_empty(), "a deactivated user is not written again");
    }

    #[test]
    fn only_inactive_gone_users_due_for_deletion_are_deleted() {
        let d0 = desired_users(&scope(), vec![resident("1", "a", ResidentStatus::Current)], &Policy::default());
        let back = d0.get("ns/it/1/a").unwrap().clone();
        let inactive = |id: &str, person: &str| {
            let record = UserRecord { active: false, external_id: format!("ns/it/1/{person}"), ..back.clone() };
            ManagedUser { id: id.into(), record }
        };
        // u1: gone and due; u2: gone, not due; u3: due, but its resident is back (reactivated).
        let users = vec![inactive("u1", "x"), inactive("u2", "y"), inactive("u3", "a")];
        let due = BTreeSet::from(["u1".to_string(), "u3".to_string()]);
        let same = |e: &ManagedUser, w: &UserRecord| e.record.differs_from(w);
        let p =
            plan_with(&scope(), d0.clone(), users.clone(), &BTreeSet::new(), DeprovisionMode::Deactivate, &due, &same);
        assert!(
            matches!(&p.actions[..], [Action::Delete(gone), Action::Update { existing, .. }]
            if existing.id == "u3" && gone.id == "u1"),
            "{p:?}"
        );
        assert_eq!(p.unchanged, 1, "u2 stays as it is");
        let ignore = plan_with(&scope(), d0, users, &BTreeSet::new(), DeprovisionMode::Ignore, &due, &same);
        assert!(matches!(&ignore.actions[..], [Action::Update { .. }]), "Ignore deletes nobody");
    }

    #[test]
    fn duplicate_identities_keep_one_user() {
        let residents = [resident("1", "a", ResidentStatus::Current)];
        let desired = desired_users(&scope(), residents.to_vec(), &Policy::default());
        let record = desired.get("ns/it/1/a").unwrap().clone();
        let users =
            vec![ManagedUser { id: "2".into(), record: record.clone() }, ManagedUser { id: "1".into(), record }];
        let p = plan(&scope(), desired.clone(), users, &BTreeSet::new(), DeprovisionMode::Delete);
        assert_eq!(p.unchanged, 1);
        assert!(matches!(p.actions.as_slice(), [Action::Delete(m)] if m.id == "2"));
    }

    fn arb_status() -> impl Strategy<Value = ResidentStatus> {
        proptest::sample::select(ResidentStatus::ALL.to_vec())
    }

    fn arb_residents() -> impl Strategy<Value = Vec<Resident>> {
        proptest::collection::vec(("[1-3]", "[a-f]", arb_status(), "[xy]"), 0..30).prop_map(|rows| {
            rows.into_iter()
                .map(|(property, person, status, email)| {
                    let mut r = resident(&property, &person, status);
                    r.emails = vec![format!("{person}{email}@example.org")];
                    r
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn applying_a_plan_then_planning_again_gives_an_empty_plan(
            before in arb_residents(),
            after in arb_residents(),
            failed in proptest::collection::btree_set("[1-3]", 0..2),
            mode in proptest::sample::select(vec![DeprovisionMode::Deactivate, DeprovisionMode::Delete, DeprovisionMode::Ignore]),
        ) {
            let s = scope();
            let mut users = vec![foreign_user()];
            let mut next = 0;
            let d0 = desired_users(&s, before.clone(), &Policy::default());
            let p0 = plan(&s, d0.clone(), users.clone(), &BTreeSet::new(), mode);
            apply(&mut users, &p0, &mut next);
            let ok: Vec<Resident> = after.iter().filter(|r| !failed.contains(&r.property_id)).cloned().collect();
            let d1 = desired_users(&s, ok, &Policy { exclusions: Exclusions::new(&["past"]), ..Policy::default() });
            let p1 = plan(&s, d1.clone(), users.clone(), &failed, mode);
            for action in &p1.actions {
                prop_assert!(s.parse(action.external_id()).is_some(), "unmanaged user in plan");
                let (property, _) = s.parse(action.external_id()).unwrap();
                prop_assert!(!failed.contains(property), "failed property touched");
            }
            apply(&mut users, &p1, &mut next);
            let p2 = plan(&s, d1.clone(), users.clone(), &failed, mode);
            prop_assert!(p2.is_empty(), "second plan not empty: {:?}", p2);
            prop_assert!(users.iter().any(|u| u.id == "foreign" && u.record.active));
        }
    }
}
