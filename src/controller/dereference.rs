//! Reads the Secrets an integration references (same namespace only).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::credentials::SecretData;

/// The referenced Secrets as found now; `None` for one that does not exist.
pub struct Secrets {
    pub found: BTreeMap<String, Option<SecretData>>,
    /// Digest of names and resource versions: changes when a Secret is created, rotated or deleted.
    pub digest: String,
}

impl Secrets {
    pub fn get(&self, name: &str) -> Option<&SecretData> {
        self.found.get(name).and_then(|s| s.as_ref())
    }
}

pub async fn read(client: &Client, namespace: &str, names: &[&str]) -> Result<Secrets, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = BTreeMap::new();
    let mut hasher = Sha256::new();
    for name in names {
        if found.contains_key(*name) {
            continue;
        }
        let secret = api.get_opt(name).await?;
        let version = secret.as_ref().and_then(|s| s.metadata.resource_version.clone());
        hasher.update(format!("{name}={};", version.as_deref().unwrap_or("-")));
        found.insert(name.to_string(), secret.map(|s| decode(name, s)));
    }
    let digest = hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect::<String>();
    Ok(Secrets { found, digest: format!("sha256:{digest}") })
}

/// Keeps the UTF-8 values; credentials are text for every provider we support.
fn decode(name: &str, secret: Secret) -> SecretData {
    let values = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| String::from_utf8(v.0).ok().map(|v| (k, v)))
        .collect();
    SecretData::new(name, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn values_that_are_not_text_are_left_out_and_the_rest_kept() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                ("clientId".to_string(), ByteString(b"id-1".to_vec())),
                ("binary".to_string(), ByteString(vec![0xff, 0xfe])),
            ])),
            ..Secret::default()
        };
        let data = decode("pms", secret);
        assert_eq!(data.get("clientId").unwrap(), "id-1");
        assert!(data.get("binary").is_err(), "not UTF-8: absent, reported as a missing key by name");
        let empty = decode("pms", Secret::default());
        assert!(empty.get("clientId").is_err());
    }
}
