//! SCIM groups: which managed users belong in which group, and the membership changes that get a
//! group there without touching anyone else's members (docs/destinations.md#scim-groups).
//!
//! A group is named by a template (`"Harbor View unit {unit}"`); its identity is
//! `<namespace>/<name>/group/<rendered name>`, so only groups carrying it are ours. Members are
//! destination user IDs; the arithmetic is pure and property-tested.

use std::collections::{BTreeMap, BTreeSet};

use super::model::ResidentRole;
use super::user::{Scope, UserRecord};

/// The placeholders a group name may hold.
pub const PLACEHOLDERS: [&str; 3] = ["unit", "propertyId", "role"];
/// Longest group name, rendered or not: beyond any platform's display, and a bound on what a PMS
/// unit name can make of a template.
pub const MAX_NAME_LEN: usize = 200;

/// Who a group holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Members {
    /// Residents with access now (the default).
    #[default]
    Access,
    /// Every managed resident, future ones too.
    All,
}

/// One `spec.destination.scim.groups` entry, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTemplate {
    pub display_name: String,
    pub members: Members,
    /// Take over an unlinked group of the same name (`adoptExisting`).
    pub adopt_existing: bool,
}

/// A group the templates ask for: its members (user identities) and whether an unlinked group of
/// its name may be taken over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedGroup {
    pub members: BTreeSet<String>,
    pub adopt_existing: bool,
}

/// Why a template is refused, before any call.
pub fn check_template(template: &str) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("is empty".into());
    }
    if template.len() > MAX_NAME_LEN {
        return Err(format!("is longer than {MAX_NAME_LEN} characters"));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("has a '{' without its '}'")?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("has the unknown placeholder {{{name}}} (known: {{unit}}, {{propertyId}}, {{role}})"));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("has a '}' without its '{'".into());
    }
    Ok(())
}

/// The name of `template` for one user, or `None` when it cannot be rendered for them (a
/// `{unit}` group for a resident without a unit) or renders empty or too long.
pub fn render(template: &str, property_id: &str, unit: Option<&str>, role: Option<ResidentRole>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let value = match &after[..close] {
            "unit" => unit?.trim(),
            "propertyId" => property_id,
            "role" => role_name(role?),
            _ => return None,
        };
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let name = out.trim();
    (!name.is_empty() && name.len() <= MAX_NAME_LEN).then(|| name.to_string())
}

fn role_name(role: ResidentRole) -> &'static str {
    match role {
        ResidentRole::Primary => "primary",
        ResidentRole::CoResident => "co-resident",
        ResidentRole::Occupant => "occupant",
        ResidentRole::Guarantor => "guarantor",
        ResidentRole::Other => "other",
    }
}

/// The identity of our group named `display_name`.
pub fn group_external_id(scope: &Scope, display_name: &str) -> String {
    format!("{}group/{display_name}", scope.prefix())
}

/// Every group the templates make from `users` (the desired users), by name. A group named by
/// two templates is one group.
pub fn wanted(scope: &Scope, templates: &[GroupTemplate], users: &[UserRecord]) -> BTreeMap<String, WantedGroup> {
    let mut groups: BTreeMap<String, WantedGroup> = BTreeMap::new();
    for template in templates {
        // A static name is a group even with nobody in it yet.
        if !template.display_name.contains('{') {
            let group = groups.entry(template.display_name.trim().to_string()).or_default();
            group.adopt_existing |= template.adopt_existing;
        }
        for user in users.iter().filter(|u| u.active || template.members == Members::All) {
            let Some((property, _)) = scope.parse(&user.external_id) else { continue };
            if let Some(name) = render(&template.display_name, property, user.unit.as_deref(), user.role) {
                let group = groups.entry(name).or_default();
                group.adopt_existing |= template.adopt_existing;
                group.members.insert(user.external_id.clone());
            }
        }
    }
    groups
}

/// One group's planned change, in user identities (external IDs): what a dry run shows and what
/// the destination carries out after the user writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub display_name: String,
    /// The group's identity ([`group_external_id`]).
    pub external_id: String,
    /// The destination's group ID; `None` for a group to create.
    pub id: Option<String>,
    /// Link an existing group without an `externalId` (`adoptExisting`).
    pub adopt: bool,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// Every group change of a run, and the groups left alone because a group of their name is not
/// ours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPlan {
    pub changes: Vec<GroupChange>,
    /// Identities of the groups in conflict.
    pub conflicts: Vec<String>,
    /// Removals held by [`guard`].
    pub held: u64,
    /// This integration's memberships before the run (the guard's denominator).
    pub memberships: u64,
}

impl GroupPlan {
    pub fn removals(&self) -> u64 {
        self.changes.iter().map(|c| c.remove.len() as u64).sum()
    }
}

/// The breaker for memberships: removals of residents who keep their access (not deprovisioned in
/// this run, and not joining another group, as in a unit change) are losses of doors nobody in
/// the PMS asked for — a renamed template, say. When they pass `max_percent` of `memberships`
/// (this integration's memberships now), they are held: left in place and counted.
pub fn guard(plan: &mut GroupPlan, deprovisioned: &BTreeSet<String>, memberships: u64, max_percent: u32) {
    let joining: BTreeSet<&String> = plan.changes.iter().flat_map(|c| c.add.iter()).collect();
    let is_loss = |id: &String| !deprovisioned.contains(id) && !joining.contains(id);
    let losses = plan.changes.iter().flat_map(|c| c.remove.iter()).filter(|id| is_loss(id)).count() as u64;
    if losses == 0 || losses * 100 <= memberships.saturating_mul(u64::from(max_percent)) {
        return;
    }
    let joining: BTreeSet<String> = joining.into_iter().cloned().collect();
    for change in &mut plan.changes {
        change.remove.retain(|id| deprovisioned.contains(id) || joining.contains(id));
    }
    plan.held = losses;
}

/// The membership changes of one group, in destination user IDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberChanges {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl MemberChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// How to get a group from `current` members to `wanted`, touching only `ours` (the users this
/// integration manages) and never `frozen` ones (users whose property could not be read, or whose
/// change the breaker holds): they keep the membership they have.
pub fn changes(
    current: &BTreeSet<String>,
    ours: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
    frozen: &BTreeSet<String>,
) -> MemberChanges {
    let add = wanted.iter().filter(|id| !current.contains(*id) && !frozen.contains(*id)).cloned().collect();
    let remove = current
        .iter()
        .filter(|id| ours.contains(*id) && !wanted.contains(*id) && !frozen.contains(*id))
        .cloned()
        .collect();
    MemberChanges { add, remove }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn templates_are_checked_before_any_call() {
        assert!(check_template("Harbor View residents").is_ok());
        assert!(check_template("Harbor {propertyId} unit {unit} ({role})").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("Unit {unti}", "unknown placeholder {unti}"),
            ("Unit {unit", "without its '}'"),
            ("Unit unit}", "without its '{'"),
        ] {
            assert!(check_template(bad).unwrap_err().contains(why), "{bad:?}");
        }
        assert!(check_template(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn names_render_per_user_or_not_at_all() {
        let r = |t, unit| render(t, "101", unit, Some(ResidentRole::CoResident));
        assert_eq!(r("Unit {unit} of {propertyId}", Some(" 4B ")).as_deref(), Some("Unit 4B of 101"));
        assert_eq!(r("Unit {unit}", None), None, "no unit, no unit group");
        assert_eq!(r("{role}s", None).as_deref(), Some("co-residents"));
        assert_eq!(r("{unit}", Some("  ")), None, "renders empty");
        assert_eq!(r("Unit {unit}", Some(&"9".repeat(MAX_NAME_LEN))), None, "renders too long");
    }

    #[test]
    fn wanted_groups_follow_access_or_everyone() {
        let scope = Scope::new("acme", "harbor");
        let user = |person: &str, unit: Option<&str>, active| UserRecord {
            external_id: scope.external_id("101", person),
            unit: unit.map(String::from),
            active,
            role: Some(ResidentRole::Primary),
            ..UserRecord::default()
        };
        let users = [user("1", Some("1A"), true), user("2", Some("1A"), false), user("3", None, true)];
        let templates = [
            GroupTemplate { display_name: "Residents".into(), members: Members::Access, adopt_existing: false },
            GroupTemplate { display_name: "Unit {unit}".into(), members: Members::All, adopt_existing: true },
            GroupTemplate { display_name: "Empty {role}".into(), members: Members::Access, adopt_existing: false },
        ];
        let groups = wanted(&scope, &templates, &users);
        let ids = |ps: &[&str]| ps.iter().map(|p| scope.external_id("101", p)).collect::<BTreeSet<_>>();
        assert_eq!(groups["Residents"].members, ids(&["1", "3"]));
        assert_eq!(groups["Unit 1A"].members, ids(&["1", "2"]));
        assert!(groups["Unit 1A"].adopt_existing && !groups["Residents"].adopt_existing);
        assert_eq!(groups["Empty primary"].members, ids(&["1", "3"]));
        assert_eq!(groups.len(), 3);
        assert!(wanted(&scope, &templates[..1], &[])["Residents"].members.is_empty(), "a static group, empty");
        assert_eq!(group_external_id(&scope, "Unit 1A"), "acme/harbor/group/Unit 1A");
    }

    #[test]
    fn removals_from_residents_who_keep_access_are_held_past_the_share() {
        let change = |add: &[&str], remove: &[&str]| GroupChange {
            add: add.iter().map(|s| s.to_string()).collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
            ..GroupChange::default()
        };
        let deprovisioned: BTreeSet<String> = ["gone".to_string()].into();
        // A move (leaves 1A, joins 1B) and a deprovisioning are no losses.
        let mut plan =
            GroupPlan { changes: vec![change(&[], &["mover", "gone"]), change(&["mover"], &[])], ..Default::default() };
        guard(&mut plan, &deprovisioned, 4, 20);
        assert_eq!((plan.removals(), plan.held), (2, 0));
        // Three of ten memberships lost, over 20%: held; the deprovisioning still goes.
        let mut plan = GroupPlan { changes: vec![change(&[], &["a", "b", "c", "gone"])], ..Default::default() };
        guard(&mut plan, &deprovisioned, 10, 20);
        assert_eq!((plan.changes[0].remove.clone(), plan.held), (vec!["gone".to_string()], 3));
        // One of ten: within the share.
        let mut plan = GroupPlan { changes: vec![change(&[], &["a"])], ..Default::default() };
        guard(&mut plan, &deprovisioned, 10, 20);
        assert_eq!((plan.removals(), plan.held), (1, 0));
    }

    fn ids() -> impl Strategy<Value = BTreeSet<String>> {
        prop::collection::btree_set((0u8..24).prop_map(|n| format!("u{n}")), 0..16)
    }

    proptest! {
        /// Applying the changes reaches the wanted membership among ours (frozen users aside),
        /// never removes a member that is not ours or is frozen, and adds nobody already there.
        #[test]
        fn changes_reach_the_wanted_membership_and_spare_everyone_else(
            current in ids(), ours in ids(), wanted_raw in ids(), frozen in ids(),
        ) {
            let wanted: BTreeSet<String> = wanted_raw.intersection(&ours).cloned().collect();
            let c = changes(&current, &ours, &wanted, &frozen);
            let mut after = current.clone();
            for id in &c.remove { prop_assert!(after.remove(id)); }
            for id in &c.add { prop_assert!(after.insert(id.clone())); }
            for id in current.iter().filter(|id| !ours.contains(*id) || frozen.contains(*id)) {
                prop_assert!(after.contains(id), "{} was not ours to remove", id);
            }
            for id in ours.iter().filter(|id| !frozen.contains(*id)) {
                prop_assert_eq!(after.contains(id), wanted.contains(id));
            }
            // A second pass finds nothing to do.
            prop_assert!(changes(&after, &ours, &wanted, &frozen).is_empty());
        }
    }
}
