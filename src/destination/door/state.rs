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
    /// Everything this integration grants in the building: the configured keys and the unit doors.
    pub claimable: HashSet<String>,
    /// Every user of the partner, by UUID, with accesses to the building only (see
    /// [`put_user`](Self::put_user)).
    users: HashMap<String, User>,
    /// User UUID by lowercase email, and by phone: the lookup before every create.
    by_email: HashMap<String, String>,
    by_phone: HashMap<String, String>,
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
    pub fn held(&self, user: &str, recorded: &BTreeSet<String>) -> BTreeMap<String, Grant> {
        let Some(user) = self.users.get(user) else { return BTreeMap::new() };
        let granter = self.mapping.granter.as_deref();
        user.accesses
            .iter()
            .filter(|a| a.granter.kind == "PARTNER")
            .filter(|a| match granter {
                Some(ours) => {
                    a.granter.uuid == ours && (recorded.contains(&a.door_uuid) || self.claimable.contains(&a.door_uuid))
                }
                None => recorded.contains(&a.door_uuid),
            })
            .map(|a| (a.door_uuid.clone(), Grant { start: a.start_time, end: a.end_time }))
            .collect()
    }

    /// The unmapped-or-mapped user holding `contact` (an email, case-insensitive, or a phone).
    pub fn by_contact(&self, email: Option<&str>, phone: Option<&str>) -> Option<&User> {
        let uuid = match (email, phone) {
            (Some(e), _) => self.by_email.get(&e.trim().to_lowercase()),
            (None, Some(p)) => self.by_phone.get(p.trim()),
            (None, None) => None,
        };
        uuid.and_then(|u| self.users.get(u))
    }

    pub fn user(&self, uuid: &str) -> Option<&User> {
        self.users.get(uuid)
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Keeps `user` as DOOR just reported it, with its accesses to this building only.
    pub fn put_user(&mut self, mut user: User) {
        user.accesses.retain(|a| self.targets.contains(&a.door_uuid));
        if let Some(email) = &user.email {
            self.by_email.insert(email.trim().to_lowercase(), user.user_uuid.clone());
        }
        if let Some(phone) = &user.phone {
            self.by_phone.insert(phone.trim().to_string(), user.user_uuid.clone());
        }
        self.users.insert(user.user_uuid.clone(), user);
    }

    /// Replaces every user with a fresh listing.
    pub fn put_users(&mut self, users: impl IntoIterator<Item = User>) {
        self.users.clear();
        self.by_email.clear();
        self.by_phone.clear();
        for user in users {
            self.put_user(user);
        }
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
