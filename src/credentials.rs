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

    /// The values of `keys`, once every one is known to be present: what a connector or a
    /// destination is built from, so building cannot fail on a missing key.
    pub fn take(&self, keys: &[&'static str]) -> Result<Credentials, MissingKey> {
        let values = keys.iter().map(|k| Ok((*k, self.get(k)?.to_string()))).collect::<Result<_, MissingKey>>()?;
        Ok(Credentials { values })
    }
}

/// Checked credentials: the keys one way of authenticating needs, each present and non-empty.
/// Made only by [`SecretData::take`]; like `SecretData`, its `Debug` names keys, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    values: BTreeMap<&'static str, String>,
}

impl Credentials {
    /// Whether `key` was taken (Entrata: an `apiKey`, or a user name and password).
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The value of a taken key. Every constructor reads only the keys its descriptor declares
    /// (each connector's and destination's tests build one from a checked Secret), so the empty
    /// answer for another key is a bug that those tests catch, never a credential sent elsewhere.
    pub fn get(&self, key: &str) -> &str {
        debug_assert!(self.has(key), "credential {key:?} was not checked");
        self.values.get(key).map_or("", String::as_str)
    }

    /// Feeds every key and value to `hasher`: credentials compared by digest (which integrations
    /// share a vendor account), never kept or shown in the clear.
    pub fn digest_into(&self, hasher: &mut impl sha2::Digest) {
        for (key, value) in &self.values {
            for part in [key.as_bytes(), value.as_bytes()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("keys", &self.values.keys().collect::<Vec<_>>()).finish()
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
        let taken = data.take(&["clientSecret"]).unwrap();
        assert_eq!((taken.get("clientSecret"), taken.has("clientId")), ("hunter2", false));
        assert!(!format!("{taken:?}").contains("hunter2"));
        assert_eq!(data.take(&["clientSecret", "clientId"]).unwrap_err().key, "clientId");
    }
}
