//! Who is who in DOOR: DOOR keeps no ID of ours and offers no idempotency key, so the resident →
//! DOOR user mapping, and which grants we made, live with the integration (a ConfigMap in the
//! controller, memory elsewhere). IDs only: PMS property and person IDs, DOOR user, door and key
//! UUIDs, and the partner UUID DOOR records as granter.
//!
//! Text format, one resident per line, sorted, so a diff of the ConfigMap reads well:
//! `<property>/<person> <user uuid> <door-or-key uuid>,<door-or-key uuid>…`

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::destination::DestinationError;

/// A ConfigMap holds at most 1 MiB; the mapping stays well below it. At about 120 bytes per
/// resident that is some 7,000 residents per integration.
pub const MAX_BYTES: usize = 900 * 1024;

/// One resident's DOOR user and the grants we made to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub user: String,
    pub grants: BTreeSet<String>,
}

/// The whole mapping of one integration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Our partner UUID as DOOR reports it on grants (`granter.uuid`), once seen.
    pub granter: Option<String>,
    /// By `<property>/<person>` (the identity without the integration prefix).
    pub entries: BTreeMap<String, Entry>,
}

impl Mapping {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 120);
        for (key, entry) in &self.entries {
            out.push_str(key);
            out.push(' ');
            out.push_str(&entry.user);
            out.push(' ');
            for (i, g) in entry.grants.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(g);
            }
            out.push('\n');
        }
        out
    }

    /// Reads what [`render`](Self::render) wrote; lines it cannot read are an error, never skipped
    /// (a silently dropped line would make a duplicate user).
    pub fn parse(granter: Option<&str>, text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            let (Some(key), Some(user)) = (parts.next(), parts.next()) else {
                return Err(format!("line {} has no user", n + 1));
            };
            let grants: BTreeSet<String> =
                parts.next().unwrap_or("").split(',').filter(|g| !g.is_empty()).map(str::to_string).collect();
            // IDs are printable ASCII: anything else (control characters, stray spaces) would not
            // survive being written back, so the line is not what this controller wrote.
            let printable = |t: &str| t.bytes().all(|b| b.is_ascii_graphic());
            if key.is_empty() || user.is_empty() || !key.contains('/') || !printable(key) || !printable(user) {
                return Err(format!("line {} is malformed", n + 1));
            }
            if !grants.iter().all(|g| printable(g)) {
                return Err(format!("line {} has a malformed grant", n + 1));
            }
            entries.insert(key.to_string(), Entry { user: user.to_string(), grants });
        }
        Ok(Self { granter: granter.filter(|g| !g.is_empty()).map(str::to_string), entries })
    }

    /// The resident holding DOOR user `user`, if any.
    pub fn resident_of(&self, user: &str) -> Option<&str> {
        self.entries.iter().find(|(_, e)| e.user == user).map(|(k, _)| k.as_str())
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the mapping is kept between runs.
pub trait MappingStore: Send + Sync {
    /// The saved mapping, or `None` when there is none (first run, or it was deleted).
    fn load(&self) -> BoxFuture<'_, Result<Option<Mapping>, DestinationError>>;
    /// Replaces the saved mapping.
    fn save<'a>(&'a self, mapping: &'a Mapping) -> BoxFuture<'a, Result<(), DestinationError>>;
    /// What the other integrations of the same building record granting, by DOOR user UUID.
    fn others(&self) -> BoxFuture<'_, Result<Others, DestinationError>> {
        Box::pin(async { Ok(Others::new()) })
    }
}

/// Grants recorded by other integrations of one building: DOOR user UUID → door and key UUIDs.
pub type Others = std::collections::HashMap<String, BTreeSet<String>>;

/// A store in memory: for `pms-sync plan` (which saves nothing that matters) and tests.
#[derive(Debug, Default)]
pub struct MemoryStore(pub Mutex<Option<Mapping>>);

impl MappingStore for MemoryStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Mapping>, DestinationError>> {
        let mapping = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { Ok(mapping) })
    }

    fn save<'a>(&'a self, mapping: &'a Mapping) -> BoxFuture<'a, Result<(), DestinationError>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(mapping.clone());
        Box::pin(async { Ok(()) })
    }
}

/// Checks the size bound before a save.
pub fn check_size(rendered: &str) -> Result<(), DestinationError> {
    if rendered.len() > MAX_BYTES {
        return Err(DestinationError::InvalidResponse(format!(
            "the DOOR identity map would take {} bytes, above the {MAX_BYTES}-byte bound of one ConfigMap; \
             split the properties over several PmsIntegrations",
            rendered.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_back() {
        let mut m = Mapping { granter: Some("p-1".into()), ..Mapping::default() };
        m.entries
            .insert("1001/42".into(), Entry { user: "u-1".into(), grants: ["d-1", "k-1"].map(String::from).into() });
        m.entries.insert("1001/43".into(), Entry { user: "u-2".into(), grants: BTreeSet::new() });
        let text = m.render();
        assert_eq!(text, "1001/42 u-1 d-1,k-1\n1001/43 u-2 \n");
        assert_eq!(Mapping::parse(Some("p-1"), &text).unwrap(), m);
        assert_eq!(m.resident_of("u-2"), Some("1001/43"));
    }

    #[test]
    fn refuses_lines_it_cannot_read() {
        assert!(Mapping::parse(None, "1001/42\n").is_err());
        assert!(Mapping::parse(None, "nokey u-1 d\n").is_err());
    }
}
