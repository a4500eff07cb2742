//! The DOOR identity map of one integration, kept in a ConfigMap it owns (deleted with it).
//! IDs only (see `destination::door::mapping`); written by server-side apply, only when changed.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::destination::DestinationError;
use crate::destination::door::{Mapping, MappingStore};

const IDENTITIES: &str = "identities";
const GRANTER: &str = "granter";
const SUFFIX: &str = "-door-identities";

/// The ConfigMap holding `integration`'s map: `<integration>-door-identities`, shortened with a
/// digest when that would pass the 253-character limit of object names.
pub fn config_map_name(integration: &str) -> String {
    let name = format!("{integration}{SUFFIX}");
    if name.len() <= 253 {
        return name;
    }
    let digest = hex(&Sha256::digest(integration.as_bytes())[..6]);
    format!("{}-{digest}{SUFFIX}", &integration[..253 - SUFFIX.len() - 13])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    name: String,
    owner: Option<OwnerReference>,
}

impl ConfigMapStore {
    /// `owner` is the integration (`None` outside the controller: such a store is only read).
    pub fn new(client: kube::Client, namespace: &str, integration: &str, owner: Option<OwnerReference>) -> Self {
        Self { api: Api::namespaced(client, namespace), name: config_map_name(integration), owner }
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
            let Some(owner) = &self.owner else {
                return Err(failed("will not write", &self.name, "no owning integration"));
            };
            let body = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "labels": {"app.kubernetes.io/managed-by": "pms-sync"},
                    "ownerReferences": [owner],
                },
                "data": {
                    IDENTITIES: mapping.render(),
                    GRANTER: mapping.granter.clone().unwrap_or_default(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_within_the_limit() {
        assert_eq!(config_map_name("harbor"), "harbor-door-identities");
        let long = "a".repeat(250);
        let name = config_map_name(&long);
        assert_eq!(name.len(), 253);
        assert!(name.ends_with(SUFFIX));
        assert_ne!(name, config_map_name(&"b".repeat(250)));
    }
}
