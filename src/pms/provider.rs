//! What is known about a PMS provider before any call: its Secret keys, its `baseUrl` rule, its
//! default request budget and the form of its property IDs. Each connector declares one
//! [`Descriptor`]; the table of them (`pms::DESCRIPTORS`) drives configuration checks, the list of
//! supported providers in errors, and the README's credentials table (a test compares them).

use crate::api::PmsProvider;
use crate::credentials::{Credentials, SecretData};
use crate::http::RateLimit;

use super::ConnectorConfigError;

/// `spec.pms.baseUrl` for a provider.
#[derive(Clone, Copy, Debug)]
pub enum BaseUrl {
    /// Optional, with this default.
    Default(&'static str),
    /// Required; the text says what to put there.
    Required(&'static str),
}

/// The form of a provider's property IDs.
#[derive(Clone, Copy, Debug)]
pub enum PropertyIds {
    /// Whatever the PMS calls them (Yardi property codes, AppFolio IDs).
    Any,
    /// Digits only.
    Digits,
    /// A positive 32-bit integer (Buildium's `int32` IDs).
    PositiveInt,
}

/// One provider's static facts.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    pub provider: PmsProvider,
    /// The Secret's keys: one list per accepted way to authenticate, the first preferred (Entrata
    /// takes `apiKey`, or `username` and `password` on its legacy host).
    pub secret_keys: &'static [&'static [&'static str]],
    pub base_url: BaseUrl,
    pub default_limit: RateLimit,
    pub property_ids: PropertyIds,
    /// What the property IDs are called in errors ("RealPage site IDs").
    pub property_ids_are: &'static str,
}

/// A provider's configuration once checked: what a connector's constructor takes, so that
/// building a connector cannot fail.
#[derive(Clone, Debug)]
pub struct Config {
    /// The given base URL, or the provider's default.
    pub base_url: reqwest::Url,
    /// The keys of the first way of authenticating the Secret fully holds.
    pub credentials: Credentials,
}

impl Descriptor {
    /// Checks the base URL, the property IDs and the Secret's keys, without calling anyone.
    pub fn check(
        &self,
        base_url: Option<&str>,
        property_ids: &[String],
        secret: &SecretData,
    ) -> Result<Config, ConnectorConfigError> {
        let name = self.provider.as_str();
        let base_url = match (base_url, self.base_url) {
            (Some(url), _) => url,
            (None, BaseUrl::Default(url)) => url,
            (None, BaseUrl::Required(what)) => {
                return Err(ConnectorConfigError::Invalid(format!("spec.pms.baseUrl is required for {name}: {what}")));
            }
        };
        let base_url = reqwest::Url::parse(base_url)
            .map_err(|_| ConnectorConfigError::Invalid(format!("spec.pms.baseUrl {base_url:?} is not a URL")))?;
        let malformed = property_ids.iter().find(|id| match self.property_ids {
            PropertyIds::Any => false,
            PropertyIds::Digits => !id.bytes().all(|b| b.is_ascii_digit()),
            PropertyIds::PositiveInt => id.parse::<i32>().map_or(true, |n| n <= 0),
        });
        if let Some(bad) = malformed {
            let form = match self.property_ids {
                PropertyIds::PositiveInt => "positive integers",
                _ => "numeric",
            };
            return Err(ConnectorConfigError::Invalid(format!("{} are {form}; {bad:?} is not", self.property_ids_are)));
        }
        // The first way the Secret fully holds; otherwise the preferred way's missing key.
        let mut ways = self.secret_keys.iter().map(|keys| secret.take(keys));
        let preferred = ways.next().unwrap_or_else(|| Ok(Credentials::default()));
        let credentials = match preferred {
            Ok(credentials) => credentials,
            Err(missing) => ways.find_map(Result::ok).ok_or(missing)?,
        };
        Ok(Config { base_url, credentials })
    }

    /// Every key any way of authenticating uses, in order, without repeats.
    pub fn all_secret_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = Vec::new();
        for key in self.secret_keys.iter().flat_map(|k| k.iter()) {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SAMPLE: Descriptor = Descriptor {
        provider: PmsProvider::Entrata,
        secret_keys: &[&["apiKey"], &["username", "password"]],
        base_url: BaseUrl::Required("the organisation's API base"),
        default_limit: RateLimit::per_minute(60),
        property_ids: PropertyIds::Digits,
        property_ids_are: "Entrata property IDs",
    };

    fn secret(keys: &[&str]) -> SecretData {
        SecretData::new("s", keys.iter().map(|k| (k.to_string(), "v".to_string())).collect::<BTreeMap<_, _>>())
    }

    #[test]
    fn checks_base_url_ids_and_any_one_way_of_authenticating() {
        let ids = ["42".to_string()];
        let err = |r: Result<Config, ConnectorConfigError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(SAMPLE.check(None, &ids, &secret(&["apiKey"]))).contains("baseUrl is required for entrata"));
        assert!(err(SAMPLE.check(Some("https://x"), &["4a".into()], &secret(&["apiKey"]))).contains("are numeric"));
        assert!(SAMPLE.check(Some("https://x"), &ids, &secret(&["apiKey"])).is_ok());
        let basic = SAMPLE.check(Some("https://x"), &ids, &secret(&["username", "password"])).unwrap();
        assert!(basic.credentials.has("password") && !basic.credentials.has("apiKey"));
        assert!(err(SAMPLE.check(Some("not a url"), &ids, &secret(&["apiKey"]))).contains("is not a URL"));
        assert!(err(SAMPLE.check(Some("https://x"), &ids, &secret(&["username"]))).contains("\"apiKey\""));
        assert_eq!(SAMPLE.all_secret_keys(), ["apiKey", "username", "password"]);
    }
}
