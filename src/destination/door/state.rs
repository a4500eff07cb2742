//! What one run learned from DOOR (building, users, the identity map) and the rules over it that
//! need no call: which grants are ours, who holds a contact, our partner UUID.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::client::User;
use super::grants::Grant;
use super::mapping::Mapping;

/// What one run learned from DOOR, kept between its calls.
#[derive(Default)]
pub(super) struct State {
    pub prefix: String,
    pub tz: Option<TimeZone>,
    pub now: Option<Timestamp>,
    /// Lowercase unit → door UUID.
    pub unit_doors: HashMap<String, String>,
    /// Door UUID → unit, for the doors above.
    pub door_units: HashMap<String, String>,
    /// The doors and keys of the building: accesses to anything else are not looked at.
    pub targets: HashSet<String>,
    /// Every user of the partner, by UUID, with accesses to the building only.
    pub users: HashMap<String, User>,
    pub mapping: Mapping,
    /// What the store held when the run started (`None`: nothing).
    pub saved: Option<Mapping>,
}

impl State {
    pub fn tz(&self) -> TimeZone {
        self.tz.clone().unwrap_or(TimeZone::UTC)
    }

    pub fn now(&self) -> Timestamp {
        self.now.unwrap_or_else(Timestamp::now)
    }

    /// The grants of `user` we hold: made by a partner, on a door or key we recorded granting to
    /// it, or — once our partner UUID is known — made by us on anything this integration grants
    /// (`claimable`; this recovers grants made just before a crash). Until that UUID is known (a
    /// fresh or lost identity map) nothing unrecorded is claimed: another partner's grant could
    /// look the same, and it must never be revoked.
    pub fn held(&self, user: &str, recorded: &BTreeSet<String>, claimable: &HashSet<&str>) -> BTreeMap<String, Grant> {
        let Some(user) = self.users.get(user) else { return BTreeMap::new() };
        let granter = self.mapping.granter.as_deref();
        user.accesses
            .iter()
            .filter(|a| a.granter.kind == "PARTNER")
            .filter(|a| match granter {
                Some(ours) => {
                    a.granter.uuid == ours
                        && (recorded.contains(&a.door_uuid) || claimable.contains(a.door_uuid.as_str()))
                }
                None => recorded.contains(&a.door_uuid),
            })
            .map(|a| (a.door_uuid.clone(), Grant { start: a.start_time, end: a.end_time }))
            .collect()
    }

    /// The unmapped-or-mapped user holding `contact` (an email, case-insensitive, or a phone).
    pub fn by_contact(&self, email: Option<&str>, phone: Option<&str>) -> Option<&User> {
        let email = email.map(|e| e.trim().to_lowercase());
        self.users.values().find(|u| match (&email, phone) {
            (Some(e), _) => u.email.as_deref().is_some_and(|x| x.trim().to_lowercase() == *e),
            (None, Some(p)) => u.phone.as_deref().is_some_and(|x| x.trim() == p.trim()),
            (None, None) => false,
        })
    }

    pub fn keep_building_accesses(&self, mut user: User) -> User {
        user.accesses.retain(|a| self.targets.contains(&a.door_uuid));
        user
    }
}

/// Our partner UUID, from the grants DOOR just reported for a request of ours: the partner grant on
/// a door or key we asked for. Learned once, kept in the identity map.
pub(super) fn learn_granter(mapping: &mut Mapping, user: &User, requested: &[String]) {
    if mapping.granter.is_some() {
        return;
    }
    let mut granters: Vec<&str> = user
        .accesses
        .iter()
        .filter(|a| a.granter.kind == "PARTNER" && requested.contains(&a.door_uuid))
        .map(|a| a.granter.uuid.as_str())
        .collect();
    granters.sort_unstable();
    granters.dedup();
    // Another partner holding the same door on this user would make the answer ambiguous.
    if let [only] = granters.as_slice() {
        mapping.granter = Some(only.to_string());
    }
}
