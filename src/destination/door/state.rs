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
    /// What the other integrations of this building record granting, by DOOR user.
    pub others: HashMap<String, BTreeSet<String>>,
    /// Every user of the partner, by UUID, with accesses to the building only (see
    /// [`put_user`](Self::put_user)).
    users: HashMap<String, User>,
    /// User UUID by lowercase email, and by phone: the lookup before every create.
    by_email: HashMap<String, String>,
    by_phone: HashMap<String, String>,
    pub mapping: Mapping,
    /// What the store held when the run started (`None`: nothing).
    pub saved: Option<Mapping>,
    /// Only the users of an incremental run's identities were read: the lookup by contact before
    /// a create needs every user first.
    pub partial: bool,
}

impl State {
    pub fn tz(&self) -> TimeZone {
        self.tz.clone().unwrap_or(TimeZone::UTC)
    }

    pub fn now(&self) -> Timestamp {
        self.now.unwrap_or_else(Timestamp::now)
    }

    /// The grants of `user` this integration holds: recorded in its own identity map, made by a
    /// partner, and — once our partner UUID is known — by that partner. Ownership is per
    /// integration: several integrations of one building share the partner UUID, the common keys
    /// and the residents who move between them, so what another integration granted (or what a
    /// crash kept us from recording) is never ours to revoke; a grant we need and did not record
    /// is granted again, which DOOR takes as the same grant.
    pub fn held(&self, user: &str, recorded: &BTreeSet<String>) -> BTreeMap<String, Grant> {
        let Some(user) = self.users.get(user) else { return BTreeMap::new() };
        let granter = self.mapping.granter.as_deref();
        user.accesses
            .iter()
            .filter(|a| a.granter.kind == "PARTNER" && recorded.contains(&a.door_uuid))
            .filter(|a| granter.is_none_or(|ours| a.granter.uuid == ours))
            .map(|a| {
                (
                    a.door_uuid.clone(),
                    Grant { start: a.start_time, end: super::grants::open_end(a.end_time, self.now()) },
                )
            })
            .collect()
    }

    /// Whether another integration of this building records granting `target` to `user`: then
    /// the grant is theirs as much as ours, and we only stop recording it, never revoke it.
    pub fn shared(&self, user: &str, target: &str) -> bool {
        self.others.get(user).is_some_and(|grants| grants.contains(target))
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

    /// Every user holding `email` (case-insensitive) or, without one, `phone`: more than one means
    /// DOOR keeps several users for one contact.
    pub fn all_with_contact(&self, email: Option<&str>, phone: Option<&str>) -> Vec<&User> {
        let email = email.map(|e| e.trim().to_lowercase());
        let mut found: Vec<&User> = self
            .users
            .values()
            .filter(|u| match (&email, phone) {
                (Some(e), _) => u.email.as_deref().is_some_and(|m| m.trim().to_lowercase() == *e),
                (None, Some(p)) => u.phone.as_deref().is_some_and(|m| m.trim() == p.trim()),
                (None, None) => false,
            })
            .collect();
        found.sort_by(|a, b| a.user_uuid.cmp(&b.user_uuid));
        found
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::door::client::{Access, Granter};

    fn access(target: &str, kind: &str, granter: &str) -> Access {
        Access {
            door_uuid: target.into(),
            user_uuid: None,
            start_time: "2026-01-01T00:00:00Z".parse().unwrap(),
            end_time: None,
            granter: Granter { kind: kind.into(), uuid: granter.into() },
        }
    }

    fn user(uuid: &str, email: Option<&str>, accesses: Vec<Access>) -> User {
        User {
            user_uuid: uuid.into(),
            first_name: "F".into(),
            last_name: "L".into(),
            email: email.map(String::from),
            phone: None,
            accesses,
        }
    }

    #[test]
    fn held_grants_are_recorded_partner_grants_of_our_partner_in_this_building() {
        let mut state = State { targets: ["d1", "d2", "k1"].map(String::from).into(), ..State::default() };
        state.put_user(user(
            "u1",
            Some("A@example.org"),
            vec![
                access("d1", "PARTNER", "us"),
                access("d2", "PARTNER", "another-partner"),
                access("k1", "USER", "a-manager"),
                access("elsewhere", "PARTNER", "us"),
            ],
        ));
        let recorded: BTreeSet<String> = ["d1", "d2", "k1", "elsewhere"].map(String::from).into();
        // Before our partner UUID is known, every recorded partner grant counts.
        assert_eq!(state.held("u1", &recorded).keys().collect::<Vec<_>>(), ["d1", "d2"]);
        state.mapping.granter = Some("us".into());
        assert_eq!(state.held("u1", &recorded).keys().collect::<Vec<_>>(), ["d1"]);
        assert!(state.held("u1", &BTreeSet::new()).is_empty(), "only what the map records");
        assert!(
            state.user("u1").unwrap().accesses.iter().all(|a| a.door_uuid != "elsewhere"),
            "other buildings dropped"
        );
    }

    #[test]
    fn a_contact_held_by_two_users_is_seen_as_two() {
        let mut state = State::default();
        state.put_users([user("u2", Some("a@example.org"), vec![]), user("u1", Some(" A@EXAMPLE.org"), vec![])]);
        let both: Vec<&str> =
            state.all_with_contact(Some("a@example.org"), None).iter().map(|u| u.user_uuid.as_str()).collect();
        assert_eq!(both, ["u1", "u2"]);
        assert!(state.by_contact(Some("a@example.org"), None).is_some());
        assert!(state.all_with_contact(None, None).is_empty());
    }
}
