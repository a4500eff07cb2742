//! The DOOR identity map of one integration: a state map (`state_map`: a ConfigMap in the
//! controller's own namespace, bound to the integration's UID, swept with it).
//!
//! The map decides which DOOR user a resident is and which grants are ours to revoke, so whoever
//! can write it can make the controller grant a unit door to an address of their choosing, or
//! revoke someone's access: it never lives where a tenant can write.
//!
//! IDs only (see `destination::door::mapping`); written by server-side apply, only when changed.

use kube::ResourceExt;
use kube::api::ListParams;
use sha2::{Digest, Sha256};

use super::state_map::{STATE_LABEL, StateMap, hex, state_name};
use crate::destination::DestinationError;
use crate::destination::door::mapping::Others;
use crate::destination::door::{Mapping, MappingStore};

const IDENTITIES: &str = "identities";
const GRANTER: &str = "granter";
const SUFFIX: &str = "-door-identities";
const STATE_KIND: &str = "door-identities";
/// Label naming the DOOR building a map grants in (a digest of the API base URL and the building
/// UUID: the same UUID on another DOOR environment is another building): the maps of one building
/// are read together.
const BUILDING_LABEL: &str = "pmssync.io/door-building";

/// The [`BUILDING_LABEL`] value of `building` at `base_url`.
pub fn building_key(base_url: &str, building: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{building}", base_url.trim_end_matches('/')).as_bytes());
    hex(&digest[..16])
}

/// The ConfigMap holding the map of integration `namespace/integration`:
/// `<namespace>.<integration>-door-identities`.
pub fn config_map_name(namespace: &str, integration: &str) -> String {
    state_name(namespace, integration, SUFFIX)
}

/// Where one integration's map is kept.
pub struct ConfigMapStore {
    map: StateMap,
    /// The [`building_key`] of the DOOR building the integration grants in.
    building: String,
}

impl ConfigMapStore {
    /// The map of `namespace/integration`, granting in the DOOR building of [`building_key`]
    /// `building`, kept in `state_namespace`. `uid`: the integration's (`None` outside the
    /// controller: such a store is only read).
    pub fn new(
        client: kube::Client,
        state_namespace: &str,
        namespace: &str,
        integration: &str,
        uid: Option<String>,
        building: &str,
    ) -> Self {
        let map = StateMap::new(client, state_namespace, (namespace, integration), uid, (STATE_KIND, SUFFIX));
        Self { map, building: building.to_string() }
    }
}

impl MappingStore for ConfigMapStore {
    fn load(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<Mapping>, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            // Absent, or an earlier integration's: rebuilt from DOOR like a lost one.
            let Some(data) = self.map.read().await? else { return Ok(None) };
            let text = data.get(IDENTITIES).map(String::as_str).unwrap_or("");
            Mapping::parse(data.get(GRANTER).map(String::as_str), text)
                .map(Some)
                .map_err(|e| self.map.failed("unreadable", e))
        })
    }

    fn save<'a>(
        &'a self,
        mapping: &'a Mapping,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), DestinationError>> + Send + 'a>> {
        Box::pin(async move {
            let labels = [(BUILDING_LABEL, self.building.as_str())].into();
            let data = [(IDENTITIES, mapping.render()), (GRANTER, mapping.granter.clone().unwrap_or_default())].into();
            self.map.write(labels, data).await
        })
    }

    fn others(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Others, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            let selector = format!("{STATE_LABEL}={STATE_KIND},{BUILDING_LABEL}={}", self.building);
            let listed = self
                .map
                .api()
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| DestinationError::Store(format!("cannot list identity maps: {e}")))?;
            let mut others = Others::new();
            for map in listed.into_iter().filter(|m| m.name_any() != self.map.name()) {
                let data = map.data.unwrap_or_default();
                // Another integration's unreadable map cannot be honoured: a sync of ours failing
                // over it would be worse than that integration's own run reporting it.
                let Ok(mapping) = Mapping::parse(None, data.get(IDENTITIES).map(String::as_str).unwrap_or("")) else {
                    continue;
                };
                for entry in mapping.entries.into_values() {
                    others.entry(entry.user).or_default().extend(entry.grants);
                }
            }
            Ok(others)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_named_after_its_integration() {
        assert_eq!(config_map_name("acme", "harbor"), "acme.harbor-door-identities");
    }
}
