//! From fetched residents to the users that should exist: merge, exclude, decide access, and
//! hold back residents whose email another resident shares.

use std::collections::{BTreeSet, HashMap};

use super::model::{Access, Resident, ResidentRole, ResidentStatus};
use super::user::{Scope, UserRecord};

/// The `excludedLeaseStatuses` of a spec, matched case-insensitively against a resident's raw
/// vendor status or its normalized name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exclusions(Vec<String>);

impl Exclusions {
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        Self(entries.iter().map(|e| e.as_ref().trim().to_lowercase()).collect())
    }

    pub fn excludes(&self, resident: &Resident) -> bool {
        let raw = resident.status_raw.trim();
        let normalized = resident.status.as_str();
        // Compare lowercase without allocating: this runs once per resident.
        self.0.iter().any(|e| e == normalized || raw.chars().flat_map(char::to_lowercase).eq(e.chars()))
    }
}

/// Who gets a user, and with access or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub exclusions: Exclusions,
    /// Roles that get access; other roles get no user.
    pub access_roles: Vec<ResidentRole>,
}

impl Default for Policy {
    fn default() -> Self {
        Self { exclusions: Exclusions::default(), access_roles: ResidentRole::DEFAULT_ACCESS.to_vec() }
    }
}

impl Policy {
    fn access(&self, resident: &Resident) -> Access {
        if self.access_roles.contains(&resident.role) { resident.status.access() } else { Access::None }
    }

    /// Order of leases of one person: what access they give first, then the status rank.
    fn rank(&self, resident: &Resident) -> (u8, u8) {
        let access = match self.access(resident) {
            Access::Granted => 2,
            Access::Scheduled => 1,
            Access::None => 0,
        };
        (access, resident.status.access_rank())
    }
}

/// Users that should exist after this run, keyed by identity, with the counts status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredSet {
    pub users: HashMap<String, UserRecord>,
    /// Identities held back because another resident shares their email: neither created,
    /// updated nor deprovisioned until the PMS is fixed.
    pub duplicate_emails: BTreeSet<String>,
    /// Distinct residents (persons per property) seen.
    pub fetched: u64,
    /// Residents dropped by `excludedLeaseStatuses`.
    pub excluded: u64,
}

impl DesiredSet {
    pub fn desired(&self) -> u64 {
        self.users.len() as u64
    }
}

/// Builds the desired users from the residents of the properties that were fetched completely.
///
/// One person on several leases of one property (renewal, transfer) is one resident: the lease
/// giving the most access wins (highest status rank among equals), and exclusions apply to it.
pub fn desired_users<'a>(
    scope: &Scope,
    residents: impl IntoIterator<Item = &'a Resident>,
    policy: &Policy,
) -> DesiredSet {
    let mut winners: HashMap<String, &Resident> = HashMap::new();
    for resident in residents {
        let id = scope.external_id(&resident.property_id, &resident.person_id);
        match winners.get_mut(&id) {
            Some(current) if policy.rank(current) >= policy.rank(resident) => {}
            Some(current) => *current = resident,
            None => {
                winners.insert(id, resident);
            }
        }
    }

    let mut set = DesiredSet { fetched: winners.len() as u64, ..DesiredSet::default() };
    set.users.reserve(winners.len());
    for (external_id, resident) in winners {
        if policy.exclusions.excludes(resident) {
            set.excluded += 1;
            continue;
        }
        let active = match policy.access(resident) {
            Access::Granted => true,
            Access::Scheduled => false,
            Access::None => continue,
        };
        let user = to_user(external_id, resident, active);
        set.users.insert(user.external_id.clone(), user);
    }
    hold_shared_emails(&mut set);
    set
}

/// Two residents with one email cannot both be users (userName is unique) and must never be merged
/// by guesswork: both are held back until the PMS is fixed (Latch's "Duplicate Emails" alert).
fn hold_shared_emails(set: &mut DesiredSet) {
    let mut by_email: HashMap<String, &str> = HashMap::new();
    let mut shared: BTreeSet<String> = BTreeSet::new();
    for user in set.users.values() {
        let Some(email) = user.emails.first() else { continue };
        if let Some(other) = by_email.insert(email.to_lowercase(), &user.external_id) {
            shared.insert(other.to_string());
            shared.insert(user.external_id.clone());
        }
    }
    for id in &shared {
        set.users.remove(id);
    }
    set.duplicate_emails = shared;
}

fn to_user(external_id: String, resident: &Resident, active: bool) -> UserRecord {
    let emails: Vec<String> = dedup(resident.emails.iter().map(|e| e.trim().to_string()));
    let mut phones = Vec::with_capacity(resident.phones.len());
    for phone in &resident.phones {
        let number = phone.number.trim();
        if !number.is_empty() && !phones.iter().any(|p: &super::model::Phone| p.number == number) {
            phones.push(super::model::Phone { number: number.to_string(), kind: phone.kind });
        }
    }
    UserRecord {
        user_name: emails.first().cloned().unwrap_or_else(|| external_id.clone()),
        external_id,
        given_name: resident.first_name.trim().to_string(),
        family_name: resident.last_name.trim().to_string(),
        emails,
        phones,
        active,
    }
}

fn dedup(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !v.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&v)) {
            out.push(v);
        }
    }
    out
}

/// Whether an `excludedLeaseStatuses` entry names one of the normalized statuses.
pub fn is_normalized_name(entry: &str) -> bool {
    let entry = entry.trim().to_lowercase();
    ResidentStatus::ALL.iter().any(|s| s.as_str() == entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::model::{Phone, PhoneKind};

    fn policy(exclusions: &[&str]) -> Policy {
        Policy { exclusions: Exclusions::new(exclusions), ..Policy::default() }
    }

    fn resident(person: &str, raw: &str, status: ResidentStatus) -> Resident {
        let mut r = Resident::new("1001", person, raw, status);
        r.first_name = "Zoë".into();
        r.last_name = "Øster".into();
        r.emails = vec![format!("{person}@example.org")];
        r.phones = vec![Phone { number: "555-0100".into(), kind: PhoneKind::Mobile }];
        r
    }

    #[test]
    fn current_is_active_future_is_inactive_past_is_absent() {
        let scope = Scope::new("ns", "it");
        let residents = [
            resident("1", "Current", ResidentStatus::Current),
            resident("2", "Future", ResidentStatus::Future),
            resident("3", "MovedOut", ResidentStatus::Past),
        ];
        let set = desired_users(&scope, &residents, &Policy::default());
        assert_eq!(set.fetched, 3);
        assert_eq!(set.excluded, 0);
        assert!(set.users["ns/it/1001/1"].active);
        assert!(!set.users["ns/it/1001/2"].active);
        assert!(!set.users.contains_key("ns/it/1001/3"));
        assert_eq!(set.users["ns/it/1001/1"].given_name, "Zoë");
        assert_eq!(set.users["ns/it/1001/1"].user_name, "1@example.org");
    }

    #[test]
    fn exclusions_match_raw_or_normalized_case_insensitively() {
        let scope = Scope::new("ns", "it");
        let residents = [
            resident("1", "Current", ResidentStatus::Current),
            resident("2", "Future", ResidentStatus::Future),
            resident("3", "Notice", ResidentStatus::Notice),
        ];
        let set = desired_users(&scope, &residents, &policy(&[" FUTURE ", "notice"]));
        assert_eq!(set.excluded, 2);
        assert_eq!(set.users.len(), 1);
        let by_raw = desired_users(&scope, &residents, &policy(&["current"]));
        assert!(!by_raw.users.contains_key("ns/it/1001/1"));
    }

    #[test]
    fn one_person_on_two_leases_keeps_the_highest_access_status() {
        let scope = Scope::new("ns", "it");
        let residents = [
            resident("1", "MovedOut", ResidentStatus::Past),
            resident("1", "Current", ResidentStatus::Current),
            resident("1", "Future", ResidentStatus::Future),
        ];
        let set = desired_users(&scope, &residents, &policy(&["Past"]));
        assert_eq!(set.fetched, 1);
        assert_eq!(set.excluded, 0);
        assert!(set.users["ns/it/1001/1"].active);
    }

    #[test]
    fn a_resident_without_email_is_named_by_identity() {
        let scope = Scope::new("ns", "it");
        let mut r = resident("7", "Current", ResidentStatus::Current);
        r.emails.clear();
        let set = desired_users(&scope, [&r], &Policy::default());
        assert_eq!(set.users["ns/it/1001/7"].user_name, "ns/it/1001/7");
    }

    #[test]
    fn guarantors_get_no_user_unless_their_role_is_granted_access() {
        let scope = Scope::new("ns", "it");
        let mut g = resident("9", "Current", ResidentStatus::Current);
        g.role = ResidentRole::Guarantor;
        assert!(desired_users(&scope, [&g], &Policy::default()).users.is_empty());
        let with = Policy { access_roles: vec![ResidentRole::Guarantor], ..Policy::default() };
        assert!(desired_users(&scope, [&g], &with).users["ns/it/1001/9"].active);
    }

    #[test]
    fn a_guarantor_lease_does_not_hide_a_resident_lease_of_the_same_person() {
        let scope = Scope::new("ns", "it");
        let mut g = resident("9", "Current", ResidentStatus::Current);
        g.role = ResidentRole::Guarantor;
        let f = resident("9", "Future", ResidentStatus::Future);
        let set = desired_users(&scope, [&g, &f], &Policy::default());
        assert!(!set.users["ns/it/1001/9"].active, "the future lease as a resident wins");
    }

    #[test]
    fn residents_sharing_an_email_are_both_held_back() {
        let scope = Scope::new("ns", "it");
        let a = resident("1", "Current", ResidentStatus::Current);
        let mut b = resident("2", "Current", ResidentStatus::Current);
        b.emails = vec!["1@EXAMPLE.org".into()];
        let c = resident("3", "Current", ResidentStatus::Current);
        let set = desired_users(&scope, [&a, &b, &c], &Policy::default());
        assert_eq!(set.users.keys().collect::<Vec<_>>(), ["ns/it/1001/3"]);
        assert_eq!(
            set.duplicate_emails.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ns/it/1001/1", "ns/it/1001/2"]
        );
    }
}
