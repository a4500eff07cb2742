//! DOOR (formerly Latch) partner API as a destination (docs/destinations.md#door-formerly-latch).
//!
//! A resident with access is a DOOR user holding grants we made: their unit's door (by default the
//! building's PRIVATE door named like the unit) and the keys every resident gets, from now or from a
//! future move-in, until the day after move-out. DOOR stores no ID of ours, so the identity map
//! (resident → user, and which grants we made) is kept by a [`MappingStore`]; users are looked up
//! by email or phone before every create, so a crash between create and record never duplicates a
//! user. Only grants DOOR reports as made by a partner (ours, once our partner UUID is known) and
//! recorded or wanted by this integration are ever revoked; grants by people or other partners are
//! never touched.
//!
//! DOOR's partner API cannot edit a user's name or email: profile changes in the PMS are not
//! carried over; access follows the resident through the identity map.

pub mod client;
pub mod grants;
pub mod mapping;
mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Begun, Destination, DestinationError, DestinationRun};
use crate::credentials::Credentials;
use crate::domain::{Action, ManagedUser, UserRecord};
use crate::http::HttpClient;
pub use client::TokenCache;
use client::{Access, Client, PostUser, User};
use grants::Wanted;

/// Reported when DOOR holds (or just made) a second user for a resident's contact.
pub const SECOND_USER: &str = "DOOR_CREATED_SECOND_USER";
pub use mapping::{Mapping, MappingStore, MemoryStore};
use state::{State, learn_granter};

pub const SECRET_KEYS: [&str; 2] = ["clientId", "clientSecret"];

/// How one integration uses DOOR (from `spec.destination.latch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoorSettings {
    pub building_uuid: String,
    pub base_url: String,
    pub token_url: String,
    /// Keys (or doors) every resident gets, e.g. common areas.
    pub key_uuids: Vec<String>,
    /// Unit → door UUID, taking precedence over doors found by name.
    pub unit_doors: BTreeMap<String, String>,
    /// Whether a unit without an entry in `unit_doors` gets the PRIVATE door named like it.
    pub unit_doors_by_name: bool,
    pub passcode_type: String,
    pub role: String,
    pub shareable: bool,
    pub notify: bool,
}

pub struct DoorDestination {
    client: Client,
    settings: DoorSettings,
    store: Arc<dyn MappingStore>,
    state: Mutex<State>,
    /// Held while an incremental run reads every user before its first create.
    completing: tokio::sync::Mutex<()>,
    /// The integration synced before, so its identity map must exist: a missing one is lost
    /// state ([`DestinationError::StateLost`]), never "nothing is ours yet".
    expects_map: bool,
}

impl DoorDestination {
    /// The DOOR destination of checked settings (validation) and credentials ([`SECRET_KEYS`]).
    pub fn new(
        settings: DoorSettings,
        credentials: &Credentials,
        http: HttpClient,
        auth_http: HttpClient,
        tokens: Arc<TokenCache>,
        store: Arc<dyn MappingStore>,
    ) -> Self {
        let client = Client {
            http,
            auth_http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            token_url: settings.token_url.clone(),
            client_id: credentials.get("clientId").to_string(),
            client_secret: credentials.get("clientSecret").to_string(),
            tokens,
        };
        Self {
            client,
            settings,
            store,
            state: Mutex::new(State::default()),
            completing: Default::default(),
            expects_map: false,
        }
    }

    /// Whether the integration synced before (its history says so): then a missing identity map
    /// stops the run instead of starting afresh, which would leave every grant the lost map
    /// recorded open for good (only what the map records is ours to revoke).
    pub fn expecting_saved_map(mut self, expects: bool) -> Self {
        self.expects_map = expects;
        self
    }

    /// The saved identity map, which must exist once the integration has synced.
    async fn load_map(&self) -> Result<Option<Mapping>, DestinationError> {
        let saved = self.store.load().await?;
        if saved.is_none() && self.expects_map {
            return Err(DestinationError::StateLost(
                "the DOOR identity map of this integration is missing, though it synced before; restore it from a \
                 backup, or rebuild it from DOOR and the PMS with `pms-sync recover`"
                    .into(),
            ));
        }
        Ok(saved)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_key(&self, target: &str) -> bool {
        self.settings.key_uuids.iter().any(|k| k == target)
    }

    fn wanted(&self, state: &State, desired: &UserRecord) -> Wanted {
        let door = desired.unit.as_ref().and_then(|u| state.unit_doors.get(&u.trim().to_lowercase()));
        grants::wanted(desired, door.map(String::as_str), &self.settings.key_uuids, &state.tz(), state.now())
    }

    /// The identity key of `external_id` in the mapping (`<property>/<person>`).
    fn key<'a>(state: &State, external_id: &'a str) -> &'a str {
        external_id.strip_prefix(state.prefix.as_str()).unwrap_or(external_id)
    }

    /// Reads the building: its time zone, doors by unit, and checks the configured keys and doors.
    async fn load_building(&self) -> Result<(), DestinationError> {
        let building = &self.settings.building_uuid;
        let buildings = self.client.buildings().await?;
        let Some(found) = buildings.into_iter().find(|b| b.uuid == *building) else {
            return Err(DestinationError::NotFound(format!(
                "building {building}: not among the buildings this partner may use (check buildingUuid and the \
                 partner's enablement in DOOR)"
            )));
        };
        let tz = found.timezone.as_deref().and_then(|name| TimeZone::get(name).ok()).unwrap_or(TimeZone::UTC);
        let doors = self.client.doors(building).await?;
        let keys = self.client.keys(building).await?;
        let mut targets: HashSet<String> = doors.iter().map(|d| d.uuid.clone()).collect();
        targets.extend(keys.iter().map(|k| k.uuid.clone()));
        let missing: Vec<&str> = self
            .settings
            .key_uuids
            .iter()
            .chain(self.settings.unit_doors.values())
            .filter(|k| !targets.contains(*k))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(DestinationError::NotFound(format!(
                "doors or keys {} are not in building {building}",
                missing.join(", ")
            )));
        }
        let mut unit_doors = HashMap::new();
        if self.settings.unit_doors_by_name {
            for door in doors.iter().filter(|d| d.accessibility_type.as_deref() == Some("PRIVATE")) {
                unit_doors.insert(door.name.trim().to_lowercase(), door.uuid.clone());
            }
        }
        for (unit, door) in &self.settings.unit_doors {
            unit_doors.insert(unit.trim().to_lowercase(), door.clone());
        }
        let door_units: HashMap<String, String> = unit_doors.iter().map(|(u, d)| (d.clone(), u.clone())).collect();
        let mut state = self.state();
        state.tz = Some(tz);
        state.targets = targets;
        state.unit_doors = unit_doors;
        state.door_units = door_units;
        Ok(())
    }

    /// Reads every user of the partner (and, when rebuilding, who holds the configured keys).
    async fn load_users(&self, rebuild: bool) -> Result<(), DestinationError> {
        let users = self.client.users().await?;
        let mut extra: Vec<Access> = Vec::new();
        if rebuild {
            for key in &self.settings.key_uuids {
                extra.extend(self.client.key_accesses(key).await?);
            }
        }
        let mut by_uuid: HashMap<String, User> = users.into_iter().map(|u| (u.user_uuid.clone(), u)).collect();
        for access in extra {
            let Some(user) = access.user_uuid.as_ref().and_then(|u| by_uuid.get_mut(u)) else { continue };
            if !user.accesses.iter().any(|a| a.door_uuid == access.door_uuid) {
                user.accesses.push(access);
            }
        }
        self.state().put_users(by_uuid.into_values());
        Ok(())
    }

    fn managed_user(&self, state: &State, key: &str, entry: &mapping::Entry, user: &User) -> ManagedUser {
        let held = state.held(&user.user_uuid, &entry.grants);
        let tz = state.tz();
        let unit = held.keys().find_map(|d| state.door_units.get(d)).cloned();
        let start = held.values().map(|g| g.start).max().filter(|s| *s > state.now());
        let end = held.values().filter_map(|g| g.end).max();
        let date = |t: Timestamp| t.to_zoned(tz.clone()).date();
        ManagedUser {
            id: user.user_uuid.clone(),
            record: UserRecord {
                external_id: format!("{}{key}", state.prefix),
                user_name: user.email.clone().unwrap_or_default(),
                given_name: user.first_name.clone(),
                family_name: user.last_name.clone(),
                emails: user.email.iter().cloned().collect(),
                phones: Vec::new(),
                active: !held.is_empty(),
                unit,
                access_from: start.map(date),
                // Stored as the exclusive end (the day after move-out).
                access_until: end.map(date).and_then(|d| d.yesterday().ok()),
                role: None,
            },
        }
    }

    /// Creates the resident's user with its grants, after looking for one with its contact.
    async fn create(&self, desired: &UserRecord) -> Result<(), DestinationError> {
        self.all_users().await?;
        let email = desired.emails.first().map(String::as_str);
        let phone = desired.phones.first().map(|p| p.number.as_str());
        if email.is_none() && self.settings.passcode_type == "PERMANENT" && phone.is_some() {
            return Err(DestinationError::Unsendable("EMAIL_REQUIRED_FOR_PERMANENT"));
        }
        if email.is_none() && phone.is_none() {
            return Err(DestinationError::Unsendable("EMAIL_OR_PHONE_REQUIRED"));
        }
        if let Some(found) = self.look(desired, email, phone)? {
            return self.converge(&found, desired).await;
        }
        let wanted = self.wanted(&self.state(), desired);
        if wanted.targets.is_empty() {
            return Err(DestinationError::Unsendable("NO_DOOR_FOR_UNIT"));
        }
        let targets: Vec<String> = wanted.targets.iter().cloned().collect();
        let contact = Contact { first: &desired.given_name, last: &desired.family_name, email, phone };
        let body = self.grant_request(contact, &wanted, &targets, self.settings.notify);
        let created = match self.client.post_user(&body).await {
            Ok(Some(user)) => user,
            // Created without a body: the listing says who (and whether the contact is now
            // held twice, which is reported rather than guessed through).
            Ok(None) => {
                self.load_users(false).await?;
                let state = self.state();
                match state.all_with_contact(email, phone).as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(DestinationError::InvalidResponse(
                            "v2/users answered without a user, and no user holds the contact".into(),
                        ));
                    }
                    _ => return Err(DestinationError::Unsendable(SECOND_USER)),
                }
            }
            Err(error) if client::ambiguous(&error) => {
                // The create may have happened: look again before anyone tries it again.
                self.load_users(false).await?;
                match self.look(desired, email, phone)? {
                    Some(found) => return self.converge(&found, desired).await,
                    None => return Err(error),
                }
            }
            Err(error) => return Err(error),
        };
        let mut state = self.state();
        let key = Self::key(&state, &desired.external_id).to_string();
        // Two residents sharing a phone (emails are held back by the planner when shared) would be
        // one DOOR user: never record one user for two residents.
        if state.mapping.resident_of(&created.user_uuid).is_some_and(|holder| holder != key) {
            return Err(DestinationError::Conflict { scim_type: None });
        }
        learn_granter(&mut state.mapping, &created, &targets);
        let entry = mapping::Entry { user: created.user_uuid.clone(), grants: wanted.targets.clone() };
        state.mapping.entries.insert(key, entry);
        state.put_user(created);
        if wanted.missing_unit_door {
            return Err(DestinationError::Unsendable("NO_DOOR_FOR_UNIT"));
        }
        Ok(())
    }

    /// A user already holding the resident's contact: ours to link when the names match exactly
    /// and no other resident holds it; a conflict otherwise.
    fn look(
        &self,
        desired: &UserRecord,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<String>, DestinationError> {
        let state = self.state();
        let Some(user) = state.by_contact(email, phone) else { return Ok(None) };
        let key = Self::key(&state, &desired.external_id);
        let holder = state.mapping.resident_of(&user.user_uuid);
        let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
        if holder.is_none_or(|h| h == key)
            && same(&user.first_name, &desired.given_name)
            && same(&user.last_name, &desired.family_name)
        {
            Ok(Some(user.user_uuid.clone()))
        } else {
            Err(DestinationError::Conflict { scim_type: None })
        }
    }

    /// Links `user` to the resident and brings the grants we hold on it to what it should hold.
    async fn converge(&self, user: &str, desired: &UserRecord) -> Result<(), DestinationError> {
        let Convergence { key, wanted, changes, known } = {
            let mut state = self.state();
            let key = Self::key(&state, &desired.external_id).to_string();
            let recorded = state
                .mapping
                .entries
                .get(&key)
                .filter(|e| e.user == user)
                .map(|e| e.grants.clone())
                .unwrap_or_default();
            let held = state.held(user, &recorded);
            let wanted = self.wanted(&state, desired);
            let changes = grants::changes(&held, &wanted, state.now());
            // Linked now: what we hold is recorded before anything else is called.
            state
                .mapping
                .entries
                .insert(key.clone(), mapping::Entry { user: user.to_string(), grants: held.keys().cloned().collect() });
            let known = state.user(user).cloned();
            Convergence { key, wanted, changes, known }
        };
        for target in &changes.revoke {
            self.release(user, &key, target).await?;
        }
        if let Some(end) = wanted.end {
            for target in &changes.patch_end {
                // Another integration's resident holds this grant too: its own schedule governs.
                if !self.state().shared(user, target) {
                    self.client.patch_end(user, target, end).await?;
                }
            }
        }
        if !changes.grant.is_empty() {
            self.grant_more(user, &key, &wanted, &changes.grant, known).await?;
        }
        if wanted.missing_unit_door {
            return Err(DestinationError::Unsendable("NO_DOOR_FOR_UNIT"));
        }
        Ok(())
    }

    /// Grants `targets` to an existing user: DOOR grants through `POST /v2/users`, which is expected
    /// to find the user by its email (or phone); a second user is detected by its UUID.
    async fn grant_more(
        &self,
        user: &str,
        key: &str,
        wanted: &Wanted,
        targets: &[String],
        known: Option<User>,
    ) -> Result<(), DestinationError> {
        let Some(known) = known else {
            return Err(DestinationError::NotFound(format!("DOOR user {user}")));
        };
        let (email, phone) = (known.email.as_deref(), known.phone.as_deref());
        if email.is_none() && phone.is_none() {
            return Err(DestinationError::Unsendable("EMAIL_OR_PHONE_REQUIRED"));
        }
        let contact = Contact { first: &known.first_name, last: &known.last_name, email, phone };
        let body = self.grant_request(contact, wanted, targets, false);
        // Granting a door the user already holds changes nothing, so a retry is harmless here.
        let granted = match self.client.post_user(&body).await? {
            Some(granted) => granted,
            None => {
                // No body: the listing shows whether the grant went to our user or to a new one.
                self.load_users(false).await?;
                let state = self.state();
                let holders = state.all_with_contact(email, phone);
                match holders.iter().find(|u| u.user_uuid != user) {
                    Some(other) => (*other).clone(),
                    None => state
                        .user(user)
                        .cloned()
                        .ok_or_else(|| DestinationError::NotFound(format!("DOOR user {user}")))?,
                }
            }
        };
        if granted.user_uuid != user {
            return Err(self.undo_second_user(&granted.user_uuid, targets).await);
        }
        self.record(key, |grants| grants.extend(targets.iter().cloned()));
        let mut state = self.state();
        learn_granter(&mut state.mapping, &granted, targets);
        state.put_user(granted);
        Ok(())
    }

    /// DOOR answered a grant for an existing user's contact with another user: the spec only
    /// says `POST /v2/users` "creates a DOOR user and grants access", so it may create a second
    /// user with the same email instead of granting to the first. That user is not recorded as
    /// the resident's; the grants the POST just gave it are revoked (they are ours, made a moment
    /// ago, at most the resident's doors and keys), and the resident is reported with
    /// [`SECOND_USER`] until someone merges the users in DOOR.
    async fn undo_second_user(&self, stray: &str, targets: &[String]) -> DestinationError {
        for target in targets {
            if let Err(error) = self.client.revoke(stray, target).await {
                return error;
            }
        }
        DestinationError::Unsendable(SECOND_USER)
    }

    /// The `POST /v2/users` that grants `targets` over `wanted`'s window to the user with `contact`:
    /// email or phone, never both (`EMAIL_AND_PHONE_PROVIDED`); doors and keys in their own lists.
    fn grant_request<'a>(
        &'a self,
        contact: Contact<'a>,
        wanted: &Wanted,
        targets: &'a [String],
        notify: bool,
    ) -> PostUser<'a> {
        let (keys, doors): (Vec<&str>, Vec<&str>) = targets.iter().map(String::as_str).partition(|t| self.is_key(t));
        let now = self.state().now();
        PostUser {
            first_name: contact.first,
            last_name: contact.last,
            email: contact.email,
            phone: if contact.email.is_some() { None } else { contact.phone },
            passcode_type: &self.settings.passcode_type,
            shareable: self.settings.shareable,
            start_time: client::timestamp(wanted.start.unwrap_or(now)),
            end_time: wanted.end.map(client::timestamp),
            role: &self.settings.role,
            door_uuids: doors,
            key_uuids: keys,
            should_notify: notify,
        }
    }

    fn record(&self, key: &str, change: impl FnOnce(&mut BTreeSet<String>)) {
        if let Some(entry) = self.state().mapping.entries.get_mut(key) {
            change(&mut entry.grants);
        }
    }

    /// Stops holding `target` on `user`: revokes it, unless another integration of the building
    /// records it too (a resident who moved between them, a common key), and un-records it.
    async fn release(&self, user: &str, key: &str, target: &str) -> Result<(), DestinationError> {
        let shared = self.state().shared(user, target);
        if !shared {
            self.client.revoke(user, target).await?;
        }
        self.record(key, |grants| {
            grants.remove(target);
        });
        Ok(())
    }

    /// Revokes every grant we hold on `existing`; `forget` also drops it from the mapping.
    async fn revoke_all(&self, existing: &ManagedUser, forget: bool) -> Result<(), DestinationError> {
        let (key, held) = {
            let state = self.state();
            let key = Self::key(&state, &existing.record.external_id).to_string();
            let recorded = state.mapping.entries.get(&key).map(|e| &e.grants);
            let held = state.held(&existing.id, recorded.unwrap_or(&BTreeSet::new()));
            (key, held)
        };
        for target in held.keys() {
            self.release(&existing.id, &key, target).await?;
        }
        if forget {
            self.state().mapping.entries.remove(&key);
        }
        Ok(())
    }
}

/// Who a grant request is for.
/// What [`DoorDestination::converge`] works out under the state lock, before any call.
struct Convergence {
    /// The resident's key in the identity map.
    key: String,
    wanted: Wanted,
    changes: grants::GrantChanges,
    /// The DOOR user as listed, whose contact grants more doors.
    known: Option<User>,
}

struct Contact<'a> {
    first: &'a str,
    last: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
}

/// What [`DoorDestination::rebuild`] found: the identity map to save, and what it leaves out.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Residents matched to a DOOR user holding our partner's grants in the building, with them.
    pub mapping: Mapping,
    /// Residents with several DOOR users for their email: left out (never guessed between).
    pub ambiguous: Vec<String>,
    /// DOOR users (UUIDs) holding our partner's grants in the building whom no resident matched:
    /// not recorded, so never revoked by us (reported for a person to look at).
    pub unmatched_users: Vec<String>,
}

impl Rebuilt {
    /// Grants recorded.
    pub fn grants(&self) -> usize {
        self.mapping.entries.values().map(|e| e.grants.len()).sum()
    }
}

/// Why a rebuild refuses to guess.
pub const SEVERAL_PARTNERS: &str = "the building's grants come from several partners; name ours with --granter UUID";

impl DoorDestination {
    /// Rebuilds this integration's identity map from DOOR and the PMS (`pms-sync recover`), for
    /// when the saved map is lost: each resident (identity under `prefix`, and email) of the
    /// attached properties, current or past, whose email exactly one DOOR user holds becomes that
    /// user, with the grants our partner holds for them on the building's doors and keys. Only
    /// one partner's grants are taken: `granter` when given, else the only partner granting in
    /// the building (several: [`SEVERAL_PARTNERS`]). Reads only; [`save_rebuilt`](Self::save_rebuilt)
    /// writes.
    pub async fn rebuild(
        &self,
        prefix: &str,
        residents: &[(String, String)],
        granter: Option<&str>,
    ) -> Result<Rebuilt, DestinationError> {
        let others = self.open(prefix).await?;
        self.load_users(true).await?;
        let mut state = self.state();
        state.others = others;
        let everything: BTreeSet<String> = state.targets.iter().cloned().collect();
        let partners: BTreeSet<String> = state
            .users()
            .flat_map(|u| u.accesses.iter())
            .filter(|a| a.granter.kind == "PARTNER" && everything.contains(&a.door_uuid))
            .map(|a| a.granter.uuid.clone())
            .collect();
        let ours = match granter {
            Some(granter) => granter.to_string(),
            None => match partners.iter().collect::<Vec<_>>().as_slice() {
                [] => return Ok(Rebuilt::default()),
                [one] => one.to_string(),
                _ => return Err(DestinationError::Unsendable(SEVERAL_PARTNERS)),
            },
        };
        state.mapping = Mapping { granter: Some(ours), ..Mapping::default() };
        let mut rebuilt = Rebuilt { mapping: state.mapping.clone(), ..Rebuilt::default() };
        let mut claimed = BTreeSet::new();
        for (identity, email) in residents {
            let key = identity.strip_prefix(prefix).unwrap_or(identity).to_string();
            let uuid = match state.all_with_contact(Some(email), None).as_slice() {
                [] => continue,
                [one] => one.user_uuid.clone(),
                _ => {
                    rebuilt.ambiguous.push(identity.clone());
                    continue;
                }
            };
            let grants: BTreeSet<String> = state.held(&uuid, &everything).into_keys().collect();
            if grants.is_empty() {
                continue;
            }
            claimed.insert(uuid.clone());
            rebuilt.mapping.entries.insert(key, mapping::Entry { user: uuid, grants });
        }
        rebuilt.unmatched_users = state
            .users()
            .filter(|u| !claimed.contains(&u.user_uuid) && !state.held(&u.user_uuid, &everything).is_empty())
            .map(|u| u.user_uuid.clone())
            .collect();
        rebuilt.unmatched_users.sort();
        Ok(rebuilt)
    }

    /// Saves a [`rebuild`](Self::rebuild)'s map as this integration's.
    pub async fn save_rebuilt(&self, rebuilt: &Rebuilt) -> Result<(), DestinationError> {
        self.store.save(&rebuilt.mapping).await
    }
}

/// The calls of a run (see the [`Destination`] impl below).
impl DoorDestination {
    pub async fn list_managed(&self, prefix: &str) -> Result<Vec<ManagedUser>, DestinationError> {
        let saved = self.load_map().await?;
        self.list_managed_with(prefix, saved).await
    }

    /// What every run starts with: the run's prefix and clock, the building, and what the other
    /// integrations of this building record granting.
    async fn open(&self, prefix: &str) -> Result<HashMap<String, BTreeSet<String>>, DestinationError> {
        {
            let mut state = self.state();
            state.prefix = prefix.to_string();
            state.now = Some(Timestamp::now());
        }
        self.load_building().await?;
        self.store.others().await
    }

    /// [`list_managed`](Self::list_managed) with the identity map already read.
    async fn list_managed_with(
        &self,
        prefix: &str,
        saved: Option<Mapping>,
    ) -> Result<Vec<ManagedUser>, DestinationError> {
        let others = self.open(prefix).await?;
        self.load_users(saved.is_none()).await?;
        let mut state = self.state();
        state.others = others;
        let mut mapping = saved.clone().unwrap_or_default();
        // A user deleted in DOOR is no longer ours: the resident is created anew. A user we hold
        // and recorded no grant on (deprovisioned earlier) is forgotten, so the map only grows with
        // residents who have access; should one come back, the lookup by email finds the user again.
        mapping.entries.retain(|_, e| state.user(&e.user).is_some());
        state.mapping = mapping;
        let idle: Vec<String> = state
            .mapping
            .entries
            .iter()
            .filter(|(_, e)| e.grants.is_empty() && state.held(&e.user, &e.grants).is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            state.mapping.entries.remove(&key);
        }
        state.saved = saved;
        let managed = state
            .mapping
            .entries
            .iter()
            .filter_map(|(key, entry)| Some(self.managed_user(&state, key, entry, state.user(&entry.user)?)))
            .collect();
        Ok(managed)
    }

    /// An incremental run's start: the building, the identity map, and of the users only those
    /// the map records for `identities`, each read by `GET /v1/users/{uuid}`. Without a saved map
    /// (a first run, or a lost one) it reads everything, as a full run does.
    pub async fn find_managed(
        &self,
        prefix: &str,
        identities: &BTreeSet<String>,
    ) -> Result<Vec<ManagedUser>, DestinationError> {
        let Some(saved) = self.load_map().await? else {
            let mut managed = self.list_managed_with(prefix, None).await?;
            managed.retain(|u| identities.contains(&u.record.external_id));
            return Ok(managed);
        };
        let others = self.open(prefix).await?;
        let keys: Vec<&str> = identities.iter().filter_map(|e| e.strip_prefix(prefix)).collect();
        let mut found = Vec::new();
        let mut gone = Vec::new();
        for key in &keys {
            let Some(entry) = saved.entries.get(*key) else { continue };
            match self.client.user(&entry.user).await? {
                Some(user) => found.push(user),
                None => gone.push(key.to_string()),
            }
        }
        let mut state = self.state();
        state.partial = true;
        state.others = others;
        state.put_users(found);
        // A user deleted in DOOR is no longer ours (as in a full run); every other entry stays.
        let mut mapping = saved.clone();
        for key in &gone {
            mapping.entries.remove(key);
        }
        state.mapping = mapping;
        state.saved = Some(saved);
        let managed = keys
            .iter()
            .filter_map(|key| {
                let entry = state.mapping.entries.get(*key)?;
                Some(self.managed_user(&state, key, entry, state.user(&entry.user)?))
            })
            .collect();
        Ok(managed)
    }

    /// Before looking anyone up by contact, an incremental run reads every user (once).
    async fn all_users(&self) -> Result<(), DestinationError> {
        let _one_at_a_time = self.completing.lock().await;
        if !self.state().partial {
            return Ok(());
        }
        let everyone = self.client.users().await?;
        let mut state = self.state();
        state.put_users(everyone);
        state.partial = false;
        Ok(())
    }

    pub(crate) async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        self.all_users().await?;
        let wanted: HashSet<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
        let state = self.state();
        let holders: HashMap<&str, &str> =
            state.mapping.entries.iter().map(|(k, e)| (e.user.as_str(), k.as_str())).collect();
        let found = state
            .users()
            .filter(|u| u.email.as_deref().is_some_and(|e| wanted.contains(&e.trim().to_lowercase())))
            .map(|u| {
                let external_id =
                    holders.get(u.user_uuid.as_str()).map(|k| format!("{}{k}", state.prefix)).unwrap_or_default();
                ManagedUser {
                    id: u.user_uuid.clone(),
                    record: UserRecord {
                        external_id,
                        user_name: u.email.clone().unwrap_or_default(),
                        given_name: u.first_name.clone(),
                        family_name: u.last_name.clone(),
                        emails: u.email.iter().cloned().collect(),
                        ..UserRecord::default()
                    },
                }
            })
            .collect();
        Ok(found)
    }

    pub(crate) async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        match action {
            Action::Create(desired) => self.create(desired).await,
            Action::Update { existing, desired } | Action::Adopt { existing, desired } => {
                self.converge(&existing.id, desired).await
            }
            Action::Deactivate(existing) => self.revoke_all(existing, false).await,
            Action::Delete(existing) => self.revoke_all(existing, true).await,
        }
    }

    pub(crate) fn differs(&self, existing: &ManagedUser, desired: &UserRecord) -> bool {
        let state = self.state();
        let key = Self::key(&state, &desired.external_id);
        let empty = BTreeSet::new();
        let recorded = state.mapping.entries.get(key).map_or(&empty, |e| &e.grants);
        let held = state.held(&existing.id, recorded);
        let wanted = self.wanted(&state, desired);
        // A unit without a door is retried (and reported) every run until the mapping is fixed.
        wanted.missing_unit_door || !grants::satisfied(&held, &wanted, state.now()) || !recorded.iter().eq(held.keys())
    }

    /// DOOR has no user without a grant: a future resident with no move-in or lease start date
    /// cannot be scheduled yet.
    pub(crate) fn holds(&self, desired: &UserRecord) -> bool {
        desired.active || desired.access_from.is_some()
    }

    pub(crate) async fn finish(&self) -> Result<(), DestinationError> {
        let (mapping, changed) = {
            let state = self.state();
            (state.mapping.clone(), state.saved.as_ref() != Some(&state.mapping))
        };
        if !changed {
            return Ok(());
        }
        mapping::check_size(&mapping.render())?;
        self.store.save(&mapping).await?;
        self.state().saved = Some(mapping);
        Ok(())
    }
}

impl Destination for DoorDestination {
    type Run<'a> = &'a DoorDestination;

    async fn begin<'a>(&'a self, prefix: &'a str) -> Result<Begun<&'a DoorDestination>, DestinationError> {
        Ok(Begun { managed: self.list_managed(prefix).await?, run: self })
    }

    async fn begin_for<'a>(
        &'a self,
        prefix: &'a str,
        identities: &BTreeSet<String>,
    ) -> Result<Begun<&'a DoorDestination>, DestinationError> {
        Ok(Begun { managed: self.find_managed(prefix, identities).await?, run: self })
    }
}

impl DestinationRun for &DoorDestination {
    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        DoorDestination::find_by_emails(self, emails).await
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        DoorDestination::apply(self, action).await
    }

    fn differs(&self, existing: &ManagedUser, desired: &UserRecord) -> bool {
        DoorDestination::differs(self, existing, desired)
    }

    fn holds(&self, desired: &UserRecord) -> bool {
        DoorDestination::holds(self, desired)
    }

    fn schedules(&self) -> bool {
        true
    }

    async fn finish(self) -> Result<(), DestinationError> {
        DoorDestination::finish(self).await
    }
}
