//! Secret material handed from the cluster to connectors and destinations.
//!
//! `SecretData` never prints its values: its `Debug` lists key names only, so a stray `{:?}` in a
//! log line cannot leak a credential.

use std::collections::BTreeMap;
use std::fmt;

/// The string values of one Secret, by key.
#[derive(Clone, Default)]
pub struct SecretData {
    name: String,
    values: BTreeMap<String, String>,
}

/// A key a provider needs is absent (or empty) in the referenced Secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Secret {secret:?} has no key {key:?}")]
pub struct MissingKey {
    pub secret: String,
    pub key: String,
}

impl SecretData {
    pub fn new(name: impl Into<String>, values: BTreeMap<String, String>) -> Self {
        Self { name: name.into(), values }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, trimmed of surrounding whitespace (a trailing newline from
    /// `kubectl create secret --from-file` is the usual culprit); empty counts as missing.
    pub fn get(&self, key: &str) -> Result<&str, MissingKey> {
        match self.values.get(key).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(MissingKey { secret: self.name.clone(), key: key.to_string() }),
        }
    }

    /// Checks that every key in `keys` is present, naming the first missing one.
    pub fn require(&self, keys: &[&str]) -> Result<(), MissingKey> {
        keys.iter().try_for_each(|k| self.get(k).map(|_| ()))
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretData")
            .field("name", &self.name)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_not_values_and_missing_keys_are_named() {
        let data = SecretData::new("creds", BTreeMap::from([("clientSecret".to_string(), "hunter2\n".to_string())]));
        assert!(!format!("{data:?}").contains("hunter2"));
        assert_eq!(data.get("clientSecret"), Ok("hunter2"));
        let err = data.require(&["clientSecret", "clientId"]).unwrap_err();
        assert_eq!(err.to_string(), "Secret \"creds\" has no key \"clientId\"");
    }
}
