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
    /// The property's local date on the day of the run. It judges move-in dates: a PMS-future
    /// resident whose move-in date (else lease start) lies more than
    /// [`stale_move_in_days`](Self::stale_move_in_days) before it is a stale move-in (captures
    /// hold future residents and signed applicants with move-in dates years old): no access, no
    /// scheduled start, reported. `None`: no date is judged (the status alone decides).
    pub today: Option<Date>,
    /// Whether a date starts access on its own (a destination that does not schedule access
    /// itself): a future resident's access starts on their move-in day (else lease start) even
    /// while the PMS still says future, for at most `stale_move_in_days` after it. Ending access
    /// stays with the status: a move-out date the PMS has not acted on may be stale (captures
    /// show current residents with move-out dates long past), and a stale date must not lock
    /// anyone out.
    pub dates_start_access: bool,
    /// How many days after a move-in date a PMS-future status may still start access from it (a
    /// PMS that records the move-in late, over a weekend); past them the status rules.
    pub stale_move_in_days: u16,
}

/// The default of [`Policy::stale_move_in_days`]: a PMS that lags by a long weekend.
pub const DEFAULT_STALE_MOVE_IN_DAYS: u16 = 3;

impl Default for Policy {
    fn default() -> Self {
        Self {
            exclusions: Exclusions::default(),
            access_roles: ResidentRole::DEFAULT_ACCESS.to_vec(),
            status_overrides: Vec::new(),
            today: None,
            dates_start_access: false,
            stale_move_in_days: DEFAULT_STALE_MOVE_IN_DAYS,
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
        let Some(today) = self.today.filter(|_| self.dates_start_access) else { return by_status };
        let arrived = resident.move_in.or(resident.lease_start).is_some_and(|d| d <= today);
        let left = resident.move_out.is_some_and(|d| d < today);
        match by_status {
            Entitlement::Scheduled if arrived && !left && !self.stale_move_in(resident) => Entitlement::Granted,
            other => other,
        }
    }

    /// A PMS-future resident whose move-in date (else lease start) lies further back than the
    /// window: the date is not believed, to start access now or to schedule it.
    fn stale_move_in(&self, resident: &Resident) -> bool {
        let Some(today) = self.today else { return false };
        if resident.status.access() != Entitlement::Scheduled {
            return false;
        }
        let Some(start) = resident.move_in.or(resident.lease_start) else { return false };
        let cutoff = today.checked_sub(jiff::Span::new().days(i64::from(self.stale_move_in_days)));
        // A date so early the calendar cannot count back to the cutoff is as stale as can be.
        cutoff.map_or(true, |cutoff| start < cutoff)
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
    /// Identities of stale move-ins ([`Policy::today`]): a user without access and without a
    /// scheduled start.
    pub stale_move_ins: BTreeSet<String>,
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
        let stale = policy.stale_move_in(&resident);
        let mut user = to_user(scope, resident, active);
        if stale {
            // No start from a date nobody believes: DOOR would grant from it at once.
            user.access_from = None;
            set.stale_move_ins.insert(user.external_id.clone());
        }
        set.users.push(user);
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

/// For connector tests over real captures: every PMS-future resident of `residents` whose
/// move-in date (else lease start) lies before `today` less the window gets a user without
/// access and without a scheduled start, at a destination where dates start access and at one
/// that schedules it, and is reported; returns how many there were.
#[cfg(test)]
pub fn assert_stale_move_ins_get_no_access(residents: &[Resident], today: Date) -> usize {
    let scope = Scope::new("ns", "it");
    let cutoff = today - jiff::Span::new().days(i64::from(DEFAULT_STALE_MOVE_IN_DAYS));
    let id = |r: &Resident| scope.external_id(&r.property_id, &r.person_id);
    // A person renewing holds a current lease beside the future one: the current one rules.
    let current: BTreeSet<String> =
        residents.iter().filter(|r| r.status.access() == Entitlement::Granted).map(id).collect();
    let stale: BTreeSet<String> = residents
        .iter()
        .filter(|r| r.status == ResidentStatus::Future && r.move_in.or(r.lease_start).is_some_and(|d| d < cutoff))
        .map(id)
        .filter(|id| !current.contains(id))
        .collect();
    for dates_start_access in [true, false] {
        let policy = Policy { today: Some(today), dates_start_access, ..Policy::default() };
        let set = desired_users(&scope, residents.to_vec(), &policy);
        for id in &stale {
            let user = set.get(id).unwrap_or_else(|| panic!("{id}: a user without access is still kept"));
            assert!(!user.active && user.access_from.is_none(), "{id}: a stale move-in opened a door");
        }
        let reported: BTreeSet<String> =
            set.stale_move_ins.iter().filter(|id| !set.duplicate_emails.contains(*id)).cloned().collect();
        assert_eq!(reported, stale.iter().filter(|id| set.get(id).is_some()).cloned().collect());
    }
    stale.len()
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

    /// Real captures hold future residents whose move-in dates are long past (an Entrata
    /// co-applicant, Future, moving in 08/16/2024): the date starts no access, anywhere, beyond
    /// the window; inside it (a PMS that lags by a weekend) it does where dates start access.
    #[test]
    fn a_stale_move_in_date_starts_no_access_and_is_reported() {
        let scope = Scope::new("ns", "it");
        let today = jiff::civil::date(2026, 12, 8);
        let future = |person: &str, move_in: Option<Date>, lease_start: Option<Date>| {
            let mut r = resident(person, "Future", ResidentStatus::Future);
            r.role = ResidentRole::CoResident;
            (r.move_in, r.lease_start) = (move_in, lease_start);
            r
        };
        let residents = vec![
            future("co-applicant", Some(jiff::civil::date(2024, 8, 16)), None),
            future("by-lease-start", None, Some(jiff::civil::date(2008, 12, 15))),
            future("three-days-late", Some(jiff::civil::date(2026, 12, 5)), None),
            future("four-days-late", Some(jiff::civil::date(2026, 12, 4)), None),
            future("next-month", Some(jiff::civil::date(2027, 1, 1)), None),
            future("year-one", Some(jiff::civil::date(1, 1, 1)), None),
        ];
        let user = |set: &DesiredSet, p: &str| set.get(&format!("ns/it/1001/{p}")).unwrap().clone();
        let stale = ["by-lease-start", "co-applicant", "four-days-late"];
        for dates_start_access in [true, false] {
            let policy = Policy { today: Some(today), dates_start_access, ..Policy::default() };
            let set = desired_users(&scope, residents.clone(), &policy);
            for p in stale {
                let u = user(&set, p);
                assert!(!u.active && u.access_from.is_none(), "{p} at {dates_start_access}: {u:?}");
            }
            let reported: Vec<&str> = set.stale_move_ins.iter().map(|id| &id["ns/it/1001/".len()..]).collect();
            assert_eq!(reported, stale);
            let late = user(&set, "three-days-late");
            assert_eq!(late.active, dates_start_access, "within the window a date starts access");
            assert_eq!(late.access_from.is_some(), !dates_start_access, "or schedules it");
            let placeholder = user(&set, "year-one");
            assert!(!placeholder.active && placeholder.access_from.is_none(), "0001-01-01 is no date at all");
            let later = user(&set, "next-month");
            assert!(!later.active && later.access_from == Some(jiff::civil::date(2027, 1, 1)));
        }
        // Without a date nothing is judged: the status alone decides, as before.
        let set = desired_users(&scope, residents, &Policy::default());
        assert!(set.stale_move_ins.is_empty() && !user(&set, "co-applicant").active);
        // A wider window believes more.
        let wide = Policy { today: Some(today), stale_move_in_days: 4, dates_start_access: true, ..Policy::default() };
        assert!(
            user(&desired_users(&scope, vec![future("x", Some(jiff::civil::date(2026, 12, 4)), None)], &wide), "x")
                .active
        );
    }
}
