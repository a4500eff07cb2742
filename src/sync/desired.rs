//! From fetched residents to the users that should exist: merge, exclude, decide access.

use std::collections::BTreeMap;

use super::model::{Access, Resident, ResidentStatus};
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
        let raw = resident.status_raw.trim().to_lowercase();
        self.0.iter().any(|e| *e == raw || e == resident.status.as_str())
    }
}

/// Users that should exist after this run, keyed by identity, with the counts status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredSet {
    pub users: BTreeMap<String, UserRecord>,
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
/// One person on several leases of one property (renewal, transfer) is one resident: the lease with
/// the highest-access status wins, and exclusions apply to that winning status.
pub fn desired_users<'a>(
    scope: &Scope,
    residents: impl IntoIterator<Item = &'a Resident>,
    exclusions: &Exclusions,
) -> DesiredSet {
    let mut winners: BTreeMap<String, &Resident> = BTreeMap::new();
    for resident in residents {
        let id = scope.external_id(&resident.property_id, &resident.person_id);
        match winners.get(&id) {
            Some(current) if current.status.access_rank() >= resident.status.access_rank() => {}
            _ => {
                winners.insert(id, resident);
            }
        }
    }

    let mut set = DesiredSet { fetched: winners.len() as u64, ..DesiredSet::default() };
    for (external_id, resident) in winners {
        if exclusions.excludes(resident) {
            set.excluded += 1;
            continue;
        }
        let active = match resident.status.access() {
            Access::Granted => true,
            Access::Scheduled => false,
            Access::None => continue,
        };
        set.users.insert(external_id.clone(), to_user(external_id, resident, active));
    }
    set
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

/// Whether a raw status string names one of the normalized statuses; used by validation to tell a
/// user which entries of `excludedLeaseStatuses` can only match raw vendor strings.
pub fn is_normalized_name(entry: &str) -> bool {
    let entry = entry.trim().to_lowercase();
    ResidentStatus::ALL.iter().any(|s| s.as_str() == entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::model::{Phone, PhoneKind};

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
        let set = desired_users(&scope, &residents, &Exclusions::default());
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
        let set = desired_users(&scope, &residents, &Exclusions::new(&[" FUTURE ", "notice"]));
        assert_eq!(set.excluded, 2);
        assert_eq!(set.users.len(), 1);
        let by_raw = desired_users(&scope, &residents, &Exclusions::new(&["current"]));
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
        let set = desired_users(&scope, &residents, &Exclusions::new(&["Past"]));
        assert_eq!(set.fetched, 1);
        assert_eq!(set.excluded, 0);
        assert!(set.users["ns/it/1001/1"].active);
    }

    #[test]
    fn a_resident_without_email_is_named_by_identity() {
        let scope = Scope::new("ns", "it");
        let mut r = resident("7", "Current", ResidentStatus::Current);
        r.emails.clear();
        let set = desired_users(&scope, [&r], &Exclusions::default());
        assert_eq!(set.users["ns/it/1001/7"].user_name, "ns/it/1001/7");
    }
}
