//! Destination-neutral users and the identity that ties them to PMS residents.
//!
//! Identity is the PMS's own person ID, scoped to the integration and property:
//! `<namespace>/<integration name>/<property id>/<person id>`. In SCIM this is the `externalId`;
//! only users carrying our prefix are ever considered managed.

use super::model::{Date, Phone, ResidentRole};

/// The integration a sync runs for; the source of every identity it manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    prefix: String,
    namespace_len: usize,
}

impl Scope {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self { prefix: format!("{namespace}/{name}/"), namespace_len: namespace.len() }
    }

    pub fn namespace(&self) -> &str {
        &self.prefix[..self.namespace_len]
    }

    /// `<namespace>/<name>/`: every managed identity starts with it, and no other integration's does
    /// (namespace and object names cannot contain `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn external_id(&self, property_id: &str, person_id: &str) -> String {
        // Built by hand: this runs once per resident per sync, and `format!` is measurably slower.
        let mut id = String::with_capacity(self.prefix.len() + property_id.len() + 1 + person_id.len());
        id.push_str(&self.prefix);
        id.push_str(property_id);
        id.push('/');
        id.push_str(person_id);
        id
    }

    /// The property and person of one of our identities; `None` for anyone else's.
    pub fn parse<'a>(&self, external_id: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = external_id.strip_prefix(&self.prefix)?;
        let (property, person) = rest.split_once('/')?;
        if property.is_empty() || person.is_empty() || person.contains('/') {
            return None;
        }
        Some((property, person))
    }
}

/// What a destination user should look like (desired) or looks like (managed). `Debug` shows the
/// identity and access only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserRecord {
    pub external_id: String,
    /// The destination's user name as read from it; empty in desired records, where it is derived
    /// (see [`user_name`](Self::user_name)) rather than stored twice.
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    /// First is primary.
    pub emails: Vec<String>,
    /// First is primary.
    pub phones: Vec<Phone>,
    pub active: bool,
    /// The resident's unit, for destinations that grant a door per unit (DOOR).
    pub unit: Option<String>,
    /// For a resident who has not moved in yet: the day access starts (move-in, else lease start).
    /// `None` for residents with access now, and for future residents without either date.
    pub access_from: Option<Date>,
    /// The move-out date when the PMS knows it: access ends at the end of that day.
    pub access_until: Option<Date>,
    /// The resident's role on the lease (desired records; destinations do not store it): the
    /// `{role}` of a SCIM group name.
    pub role: Option<ResidentRole>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("external_id", &self.external_id)
            .field("active", &self.active)
            .field("access_from", &self.access_from)
            .field("access_until", &self.access_until)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// The user name: as stored, else the primary email, else the external ID. Desired records
    /// leave the field empty: one copy of the email per resident is enough (`benches/plan.rs`).
    pub fn user_name(&self) -> &str {
        if !self.user_name.is_empty() { &self.user_name } else { self.emails.first().unwrap_or(&self.external_id) }
    }

    /// Whether the destination copy must be rewritten to match `desired`. Only profile fields we own
    /// are compared, so a sync that changed nothing in the PMS makes no writes. `userName` is compared
    /// case-insensitively because SCIM defines it so. The access fields (unit and dates) are left to
    /// destinations that store them (`Destination::differs`).
    pub fn differs_from(&self, desired: &UserRecord) -> bool {
        !self.user_name().eq_ignore_ascii_case(desired.user_name())
            || self.given_name != desired.given_name
            || self.family_name != desired.family_name
            || self.emails != desired.emails
            || self.phones.iter().map(|p| &p.number).ne(desired.phones.iter().map(|p| &p.number))
            || self.active != desired.active
    }
}

/// A user that exists in the destination and carries our identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedUser {
    /// The destination's own ID (SCIM `id`).
    pub id: String,
    pub record: UserRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_only_its_own_identities() {
        let scope = Scope::new("acme", "harbor");
        let id = scope.external_id("1001", "42");
        assert_eq!(id, "acme/harbor/1001/42");
        assert_eq!(scope.parse(&id), Some(("1001", "42")));
        assert_eq!(scope.parse("acme/harbor-2/1001/42"), None);
        assert_eq!(scope.parse("other/harbor/1001/42"), None);
        assert_eq!(scope.parse("acme/harbor/1001"), None);
        assert_eq!(scope.parse("acme/harbor/1001/42/x"), None);
        assert_eq!(scope.parse("acme/harbor//42"), None);
    }
}
