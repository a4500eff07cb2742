//! From fetched residents to the users that should exist: merge, exclude, decide access, and
//! hold back residents whose email another resident shares.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::{Date, Entitlement, Resident, ResidentRole, ResidentStatus};
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
    /// The user's corrections of the vendor mapping (`spec.pms.statusMapping`): raw status,
    /// lowercase and trimmed, to the normalized status it means.
    pub status_overrides: Vec<(String, ResidentStatus)>,
    /// The property's local date, where a date starts access on its own (a destination that does
    /// not schedule access itself): a future resident's access starts on their move-in day (else
    /// lease start) even while the PMS still says future. Ending access stays with the status: a
    /// move-out date the PMS has not acted on may be stale (captures show current residents with
    /// move-out dates long past), and a stale date must not lock anyone out. `None`: the status
    /// alone decides.
    pub today: Option<Date>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            exclusions: Exclusions::default(),
            access_roles: ResidentRole::DEFAULT_ACCESS.to_vec(),
            status_overrides: Vec::new(),
            today: None,
        }
    }
}

impl Policy {
    fn override_for(&self, raw: &str) -> Option<ResidentStatus> {
        let raw = raw.trim();
        self.status_overrides
            .iter()
            .find(|(r, _)| raw.chars().flat_map(char::to_lowercase).eq(r.chars()))
            .map(|(_, s)| *s)
    }

    fn access(&self, resident: &Resident) -> Entitlement {
        if !self.access_roles.contains(&resident.role) {
            return Entitlement::None;
        }
        let by_status = resident.status.access();
        let Some(today) = self.today else { return by_status };
        let arrived = resident.move_in.or(resident.lease_start).is_some_and(|d| d <= today);
        let left = resident.move_out.is_some_and(|d| d < today);
        match by_status {
            Entitlement::Scheduled if arrived && !left => Entitlement::Granted,
            other => other,
        }
    }

    /// Order of leases of one person: what access they give first, then the status rank.
    fn rank(&self, resident: &Resident) -> (u8, u8) {
        let access = match self.access(resident) {
            Entitlement::Granted => 2,
            Entitlement::Scheduled => 1,
            Entitlement::None => 0,
        };
        (access, resident.status.access_rank())
    }
}

/// Users that should exist after this run, with the counts status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredSet {
    /// Each identity once, in the order the residents came.
    pub users: Vec<UserRecord>,
    /// Identities held back because another resident shares their email: neither created,
    /// updated nor deprovisioned until the PMS is fixed.
    pub duplicate_emails: BTreeSet<String>,
    /// Distinct residents (persons per property) seen.
    pub fetched: u64,
    /// Residents dropped by `excludedLeaseStatuses`.
    pub excluded: u64,
    /// Raw statuses the connector could not normalize (never given access), with how many
    /// residents had each; at most [`MAX_UNKNOWN_STATUSES`] distinct ones are kept.
    pub unknown_statuses: BTreeMap<String, u64>,
    /// Residents with unknown statuses, per property (for the breaker).
    pub unknown_by_property: HashMap<String, u64>,
}

/// Bound on the distinct unknown statuses reported, whatever a PMS sends.
pub const MAX_UNKNOWN_STATUSES: usize = 20;

impl DesiredSet {
    pub fn desired(&self) -> u64 {
        self.users.len() as u64
    }

    /// The desired user with this identity (a linear search: for tests and tools, not the hot path).
    pub fn get(&self, external_id: &str) -> Option<&UserRecord> {
        self.users.iter().find(|u| u.external_id == external_id)
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Builds the desired users from the residents of the properties that were fetched completely.
/// Takes the residents by value so that their strings move into the users (this runs for every
/// resident of a portfolio, hourly: see `benches/plan.rs`).
///
/// One person on several leases of one property (renewal, transfer) is one resident: the lease
/// giving the most access wins (highest status rank among equals), and exclusions apply to it.
pub fn desired_users(scope: &Scope, mut residents: Vec<Resident>, policy: &Policy) -> DesiredSet {
    let overrides = !policy.status_overrides.is_empty();
    for resident in &mut residents {
        super::placeholder::scrub(resident);
        if overrides && let Some(status) = policy.override_for(&resident.status_raw) {
            resident.status = status;
        }
    }
    // Pick each person's winning lease by index, borrowing the IDs: no key is allocated.
    let mut winners: FastMap<(&str, &str), usize> = FastMap::default();
    winners.reserve(residents.len());
    for (i, resident) in residents.iter().enumerate() {
        let key = (resident.property_id.as_str(), resident.person_id.as_str());
        match winners.get_mut(&key) {
            Some(current) if policy.rank(&residents[*current]) >= policy.rank(resident) => {}
            Some(current) => *current = i,
            None => {
                winners.insert(key, i);
            }
        }
    }
    let mut winning = vec![false; residents.len()];
    for i in winners.into_values() {
        winning[i] = true;
    }

    let mut set = DesiredSet::default();
    set.users.reserve(residents.len());
    for (resident, won) in residents.into_iter().zip(winning) {
        if !won {
            continue;
        }
        set.fetched += 1;
        if resident.status == ResidentStatus::Unknown {
            *set.unknown_by_property.entry(resident.property_id.clone()).or_default() += 1;
            let raw = resident.status_raw.trim();
            if let Some(n) = set.unknown_statuses.get_mut(raw) {
                *n += 1;
            } else if set.unknown_statuses.len() < MAX_UNKNOWN_STATUSES {
                set.unknown_statuses.insert(raw.to_string(), 1);
            }
        }
        if policy.exclusions.excludes(&resident) {
            set.excluded += 1;
            continue;
        }
        let active = match policy.access(&resident) {
            Entitlement::Granted => true,
            Entitlement::Scheduled => false,
            Entitlement::None => continue,
        };
        set.users.push(to_user(scope, resident, active));
    }
    hold_shared_emails(&mut set);
    set
}

/// Two residents with one email cannot both be users (userName is unique) and must never be merged
/// by guesswork: both are held back until the PMS is fixed (reported as duplicate emails).
fn hold_shared_emails(set: &mut DesiredSet) {
    let mut by_email: FastMap<Cow<'_, str>, usize> = FastMap::default();
    by_email.reserve(set.users.len());
    let mut shared = vec![false; set.users.len()];
    for (i, user) in set.users.iter().enumerate() {
        let Some(email) = user.emails.first() else { continue };
        let key = if email.bytes().any(|b| !b.is_ascii_lowercase() && b.is_ascii_alphabetic() || !b.is_ascii()) {
            Cow::Owned(email.to_lowercase())
        } else {
            Cow::Borrowed(email.as_str())
        };
        if let Some(other) = by_email.insert(key, i) {
            shared[other] = true;
            shared[i] = true;
        }
    }
    drop(by_email);
    if !shared.contains(&true) {
        return;
    }
    let mut flags = shared.into_iter();
    let users = std::mem::take(&mut set.users);
    for user in users {
        if flags.next() == Some(true) {
            set.duplicate_emails.insert(user.external_id);
        } else {
            set.users.push(user);
        }
    }
}

fn to_user(scope: &Scope, resident: Resident, active: bool) -> UserRecord {
    // Dates only schedule: access starts at move-in (else lease start) for residents without access
    // yet, and ends at move-out whenever the PMS knows it.
    let access_from = if active { None } else { resident.move_in.or(resident.lease_start) };
    let access_until = resident.move_out;
    let mut unit = resident.unit;
    if let Some(u) = unit.as_mut() {
        trim_in_place(u);
    }
    let unit = unit.filter(|u| !u.is_empty());
    let external_id = scope.external_id(&resident.property_id, &resident.person_id);
    let mut emails = resident.emails;
    emails.iter_mut().for_each(trim_in_place);
    dedup(&mut emails);
    let mut phones = resident.phones;
    phones.iter_mut().for_each(|p| trim_in_place(&mut p.number));
    // Residents have one to three numbers: a quadratic dedup without allocation is the cheapest.
    let mut i = 0;
    while i < phones.len() {
        if phones[i].number.is_empty() || phones[..i].iter().any(|p| p.number == phones[i].number) {
            phones.remove(i);
        } else {
            i += 1;
        }
    }
    let (mut given_name, mut family_name) = (resident.first_name, resident.last_name);
    trim_in_place(&mut given_name);
    trim_in_place(&mut family_name);
    UserRecord {
        user_name: String::new(),
        external_id,
        given_name,
        family_name,
        emails,
        phones,
        active,
        unit,
        access_from,
        access_until,
        role: Some(resident.role),
    }
}

fn trim_in_place(text: &mut String) {
    let trimmed = text.trim();
    if trimmed.len() != text.len() {
        *text = trimmed.to_string();
    }
}

fn dedup(values: &mut Vec<String>) {
    let mut i = 0;
    while i < values.len() {
        if values[i].is_empty() || values[..i].iter().any(|o| o.eq_ignore_ascii_case(&values[i])) {
            values.remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Phone, PhoneKind};

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
        let set = desired_users(&scope, residents.to_vec(), &Policy::default());
        assert_eq!(set.fetched, 3);
        assert_eq!(set.excluded, 0);
        assert!(set.get("ns/it/1001/1").unwrap().active);
        assert!(!set.get("ns/it/1001/2").unwrap().active);
        assert!(set.get("ns/it/1001/3").is_none());
        assert_eq!(set.get("ns/it/1001/1").unwrap().given_name, "Zoë");
        assert_eq!(set.get("ns/it/1001/1").unwrap().user_name(), "1@example.org");
    }

    #[test]
    fn exclusions_match_raw_or_normalized_case_insensitively() {
        let scope = Scope::new("ns", "it");
        let residents = [
            resident("1", "Current", ResidentStatus::Current),
            resident("2", "Future", ResidentStatus::Future),
            resident("3", "Notice", ResidentStatus::Notice),
        ];
        let set = desired_users(&scope, residents.to_vec(), &policy(&[" FUTURE ", "notice"]));
        assert_eq!(set.excluded, 2);
        assert_eq!(set.users.len(), 1);
        let by_raw = desired_users(&scope, residents.to_vec(), &policy(&["current"]));
        assert!(by_raw.get("ns/it/1001/1").is_none());
    }

    #[test]
    fn one_person_on_two_leases_keeps_the_highest_access_status() {
        let scope = Scope::new("ns", "it");
        let residents = [
            resident("1", "MovedOut", ResidentStatus::Past),
            resident("1", "Current", ResidentStatus::Current),
            resident("1", "Future", ResidentStatus::Future),
        ];
        let set = desired_users(&scope, residents.to_vec(), &policy(&["Past"]));
        assert_eq!(set.fetched, 1);
        assert_eq!(set.excluded, 0);
        assert!(set.get("ns/it/1001/1").unwrap().active);
    }

    #[test]
    fn a_resident_without_email_is_named_by_identity() {
        let scope = Scope::new("ns", "it");
        let mut r = resident("7", "Current", ResidentStatus::Current);
        r.emails.clear();
        let set = desired_users(&scope, vec![r], &Policy::default());
        assert_eq!(set.get("ns/it/1001/7").unwrap().user_name(), "ns/it/1001/7");
    }

    #[test]
    fn status_overrides_correct_the_vendor_mapping_and_unknown_statuses_are_counted() {
        let scope = Scope::new("ns", "it");
        let a = resident("1", "Pending Renewal", ResidentStatus::Unknown);
        let b = resident("2", "Weird", ResidentStatus::Unknown);
        let plain = desired_users(&scope, vec![a.clone(), b.clone()], &Policy::default());
        assert!(plain.users.is_empty(), "unknown never gets access");
        assert_eq!(
            plain.unknown_statuses.into_iter().collect::<Vec<_>>(),
            [("Pending Renewal".to_string(), 1), ("Weird".to_string(), 1)]
        );
        let with =
            Policy { status_overrides: vec![("pending renewal".into(), ResidentStatus::Current)], ..Policy::default() };
        let set = desired_users(&scope, vec![a, b], &with);
        assert!(set.get("ns/it/1001/1").unwrap().active);
        assert_eq!(set.unknown_statuses.len(), 1);
    }

    #[test]
    fn guarantors_get_no_user_unless_their_role_is_granted_access() {
        let scope = Scope::new("ns", "it");
        let mut g = resident("9", "Current", ResidentStatus::Current);
        g.role = ResidentRole::Guarantor;
        assert!(desired_users(&scope, vec![g.clone()], &Policy::default()).users.is_empty());
        let with = Policy { access_roles: vec![ResidentRole::Guarantor], ..Policy::default() };
        assert!(desired_users(&scope, vec![g], &with).get("ns/it/1001/9").unwrap().active);
    }

    #[test]
    fn a_guarantor_lease_does_not_hide_a_resident_lease_of_the_same_person() {
        let scope = Scope::new("ns", "it");
        let mut g = resident("9", "Current", ResidentStatus::Current);
        g.role = ResidentRole::Guarantor;
        let f = resident("9", "Future", ResidentStatus::Future);
        let set = desired_users(&scope, vec![g, f], &Policy::default());
        assert!(!set.get("ns/it/1001/9").unwrap().active, "the future lease as a resident wins");
    }

    #[test]
    fn residents_sharing_an_email_are_both_held_back() {
        let scope = Scope::new("ns", "it");
        let a = resident("1", "Current", ResidentStatus::Current);
        let mut b = resident("2", "Current", ResidentStatus::Current);
        b.emails = vec!["1@EXAMPLE.org".into()];
        let c = resident("3", "Current", ResidentStatus::Current);
        let set = desired_users(&scope, vec![a, b, c], &Policy::default());
        assert_eq!(set.users.iter().map(|u| u.external_id.as_str()).collect::<Vec<_>>(), ["ns/it/1001/3"]);
        assert_eq!(
            set.duplicate_emails.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ns/it/1001/1", "ns/it/1001/2"]
        );
    }

    #[test]
    fn a_placeholder_email_is_no_email_and_no_duplicate_and_a_sentinel_move_out_ends_nothing() {
        let scope = Scope::new("ns", "it");
        let mut a = resident("1", "Current", ResidentStatus::Current);
        let mut b = resident("2", "Current", ResidentStatus::Current);
        a.emails = vec!["none@nowhere.com".into()];
        b.emails = vec!["NONE@nowhere.com".into(), "2@example.org".into()];
        a.move_out = Some(jiff::civil::date(1, 1, 1));
        let set = desired_users(&scope, vec![a, b], &Policy::default());
        assert!(set.duplicate_emails.is_empty());
        let a = set.get("ns/it/1001/1").unwrap();
        assert!(a.emails.is_empty() && a.access_until.is_none() && a.active);
        assert_eq!(set.get("ns/it/1001/2").unwrap().emails, ["2@example.org"]);
    }
}
