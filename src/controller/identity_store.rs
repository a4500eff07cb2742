//! The DOOR identity map of one integration, kept in a ConfigMap in the **controller's own
//! namespace** (`--state-namespace`), never in the integration's.
//!
//! The map decides which DOOR user a resident is and which grants are ours to revoke, so whoever
//! can write it can make the controller grant a unit door to an address of their choosing, or
//! revoke someone's access. A tenant who may write ConfigMaps in their own namespace (common: it
//! takes no Secret access) must not be able to: the map lives where only the controller (and the
//! cluster's administrators) can write, and the chart grants ConfigMap access there only.
//!
//! A ConfigMap cannot be owned across namespaces, so instead of garbage collection by owner
//! reference a sweeper ([`sweep`]) deletes maps whose integration is gone or was recreated. The
//! integration's UID is recorded in the map: a map whose UID differs is treated as absent (and
//! rebuilt from DOOR), so a new integration of the same name never inherits an old one's grants.
//!
//! IDs only (see `destination::door::mapping`); written by server-side apply, only when changed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::PmsIntegration;
use crate::destination::DestinationError;
use crate::destination::door::mapping::Others;
use crate::destination::door::{Mapping, MappingStore};

const IDENTITIES: &str = "identities";
const GRANTER: &str = "granter";
const UID: &str = "integrationUid";
const SUFFIX: &str = "-door-identities";
/// Label selecting every identity map (for the sweeper).
pub const STATE_LABEL: &str = "pmssync.io/state";
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
const NAMESPACE_ANNOTATION: &str = "pmssync.io/integration-namespace";
const NAME_ANNOTATION: &str = "pmssync.io/integration-name";

/// The ConfigMap holding the map of integration `namespace/integration`:
/// `<namespace>.<integration>-door-identities` (a namespace has no dot, so the name is unique),
/// shortened with a digest when that would pass the 253-character limit of object names.
pub fn config_map_name(namespace: &str, integration: &str) -> String {
    let name = format!("{namespace}.{integration}{SUFFIX}");
    if name.len() <= 253 {
        return name;
    }
    let digest = hex(&Sha256::digest(format!("{namespace}/{integration}").as_bytes())[..6]);
    let mut head = format!("{namespace}.{integration}");
    head.truncate(253 - SUFFIX.len() - 13);
    format!("{}-{digest}{SUFFIX}", head.trim_end_matches(['.', '-']))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where one integration's map is kept.
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    name: String,
    namespace: String,
    integration: String,
    /// The integration's UID: `None` outside the controller (such a store is only read, and
    /// cannot check that the map is this integration's).
    uid: Option<String>,
    /// The [`building_key`] of the DOOR building the integration grants in.
    building: String,
}

impl ConfigMapStore {
    /// The map of `namespace/integration`, granting in the DOOR building of [`building_key`]
    /// `building`, kept in `state_namespace`.
    pub fn new(
        client: kube::Client,
        state_namespace: &str,
        namespace: &str,
        integration: &str,
        uid: Option<String>,
        building: &str,
    ) -> Self {
        Self {
            api: Api::namespaced(client, state_namespace),
            name: config_map_name(namespace, integration),
            namespace: namespace.to_string(),
            integration: integration.to_string(),
            uid,
            building: building.to_string(),
        }
    }
}

fn failed(what: &str, name: &str, error: impl std::fmt::Display) -> DestinationError {
    DestinationError::Store(format!("{what} ConfigMap {name:?}: {error}"))
}

impl MappingStore for ConfigMapStore {
    fn load(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<Mapping>, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            let Some(map) = self.api.get_opt(&self.name).await.map_err(|e| failed("cannot read", &self.name, e))?
            else {
                return Ok(None);
            };
            let data = map.data.unwrap_or_default();
            // Another integration's map under this name (deleted and recreated before the
            // sweeper ran): not ours, rebuilt from DOOR like a lost one.
            if let Some(uid) = &self.uid
                && data.get(UID) != Some(uid)
            {
                tracing::info!(map = %self.name, "identity map belongs to an earlier integration of this name; rebuilding");
                return Ok(None);
            }
            let text = data.get(IDENTITIES).map(String::as_str).unwrap_or("");
            Mapping::parse(data.get(GRANTER).map(String::as_str), text)
                .map(Some)
                .map_err(|e| failed("unreadable", &self.name, e))
        })
    }

    fn save<'a>(
        &'a self,
        mapping: &'a Mapping,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), DestinationError>> + Send + 'a>> {
        Box::pin(async move {
            let Some(uid) = &self.uid else {
                return Err(failed("will not write", &self.name, "no owning integration"));
            };
            let body = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "labels": {
                        "app.kubernetes.io/managed-by": "pms-sync",
                        STATE_LABEL: STATE_KIND,
                        BUILDING_LABEL: self.building,
                    },
                    "annotations": {NAMESPACE_ANNOTATION: self.namespace, NAME_ANNOTATION: self.integration},
                },
                "data": {
                    IDENTITIES: mapping.render(),
                    GRANTER: mapping.granter.clone().unwrap_or_default(),
                    UID: uid,
                },
            });
            let params = PatchParams::apply("pms-sync").force();
            self.api
                .patch(&self.name, &params, &Patch::Apply(body))
                .await
                .map_err(|e| failed("cannot write", &self.name, e))?;
            Ok(())
        })
    }

    fn others(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Others, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            let selector = format!("{STATE_LABEL}={STATE_KIND},{BUILDING_LABEL}={}", self.building);
            let listed = self
                .api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| failed("cannot list", "identity maps", e))?;
            let mut others = Others::new();
            for map in listed.into_iter().filter(|m| m.name_any() != self.name) {
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

/// Deletes the identity maps in `state` whose integration, in a namespace `in_scope` covers, no
/// longer exists or was recreated (another UID). Asks the API server, not a watch cache, so that
/// controllers sharding one namespace by label never delete each other's maps. Returns how many
/// were deleted.
pub async fn sweep(client: &kube::Client, state: &str, in_scope: impl Fn(&str) -> bool) -> Result<usize, kube::Error> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), state);
    let listed = maps.list(&ListParams::default().labels(&format!("{STATE_LABEL}={STATE_KIND}"))).await?;
    let mut deleted = 0;
    for map in listed {
        let annotations = map.annotations();
        let (Some(namespace), Some(name)) = (annotations.get(NAMESPACE_ANNOTATION), annotations.get(NAME_ANNOTATION))
        else {
            continue;
        };
        if !in_scope(namespace) {
            continue;
        }
        let recorded_uid = map.data.as_ref().and_then(|d: &BTreeMap<String, String>| d.get(UID));
        let integrations: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
        let live_uid = integrations.get_opt(name).await?.and_then(|i| i.metadata.uid);
        if live_uid.is_none() || live_uid.as_ref() != recorded_uid {
            match maps.delete(&map.name_any(), &DeleteParams::default()).await {
                Ok(_) => deleted += 1,
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_namespace_and_stay_within_the_limit() {
        assert_eq!(config_map_name("acme", "harbor"), "acme.harbor-door-identities");
        let long = "a".repeat(250);
        let name = config_map_name("acme", &long);
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with(SUFFIX));
        assert_ne!(name, config_map_name("acme", &"a".repeat(249)));
        assert_ne!(name, config_map_name("acmf", &long));
    }
}
