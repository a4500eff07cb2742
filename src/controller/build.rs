//! From a validated spec and its Secrets to a ready connector, destination and sync config.
//! No Kubernetes types: the `plan` command uses it outside any cluster.

use crate::credentials::SecretData;
use crate::destination::door::{DoorDestination, MappingStore, TokenCache};
use crate::destination::{DestinationConfigError, Target, scim::Scim};
use crate::sync::SyncConfig;
use std::sync::Arc;

use crate::domain::Scope;
use crate::http::{HttpClient, RateLimit, RateLimiter};
use crate::pms::{Connector, ConnectorConfigError, ConnectorOptions, check_supported};

use super::status::Failure;
use super::validate::{ValidatedDestination, ValidatedSpec};
use crate::conditions::Reason;

/// What a DOOR destination keeps beyond one run: its token cache and its identity map's store.
pub struct DoorParts {
    pub tokens: Arc<TokenCache>,
    pub store: Arc<dyn MappingStore>,
}

/// Checks provider support and credentials, then builds both clients. Nothing is called.
/// `limiter` hands out the integration's rate limiter per system (`"pms"`, `"door"`).
pub fn clients<'a>(
    spec: &ValidatedSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<&'a SecretData>,
    http: impl Fn(&'static str) -> HttpClient,
    limiter: &dyn Fn(&'static str, RateLimit) -> Arc<RateLimiter>,
    door_parts: impl FnOnce() -> DoorParts,
) -> Result<(Connector, Target), Failure> {
    let missing = |name: &str| {
        Failure::permanent(Reason::CredentialsNotFound, format!("Secret {name:?} not found in namespace {namespace:?}"))
    };
    check_supported(spec.provider).map_err(|e| Failure::permanent(Reason::ProviderNotSupported, e.to_string()))?;
    let pms_secret = secret(&spec.pms_secret).ok_or_else(|| missing(&spec.pms_secret))?;
    let options = ConnectorOptions {
        provider: spec.provider,
        base_url: spec.pms_base_url.as_deref(),
        property_ids: &spec.property_ids,
        max_requests_per_minute: spec.max_requests_per_minute,
    };
    let connector = Connector::new(&options, pms_secret, http(spec.provider.as_str()), &|l| limiter("pms", l))
        .map_err(|e| match e {
            ConnectorConfigError::Unsupported(e) => Failure::permanent(Reason::ProviderNotSupported, e.to_string()),
            other => Failure::permanent(Reason::InvalidSpec, other.to_string()),
        })?;
    let target = match &spec.destination {
        ValidatedDestination::Scim { url, secret: name } => {
            let data = secret(name).ok_or_else(|| missing(name))?;
            Target::Scim(Box::new(
                Scim::new(url, data, http("scim"))
                    .map_err(|e: DestinationConfigError| Failure::permanent(Reason::InvalidSpec, e.to_string()))?,
            ))
        }
        ValidatedDestination::Door { settings, secret: name, max_requests_per_minute } => {
            let data = secret(name).ok_or_else(|| missing(name))?;
            let parts = door_parts();
            let budget = limiter("door", RateLimit::per_minute(*max_requests_per_minute));
            let door = DoorDestination::new(
                settings.clone(),
                data,
                http("door").with_limiter(budget),
                http("door-auth"),
                parts.tokens,
                parts.store,
            )
            .map_err(|e| Failure::permanent(Reason::InvalidSpec, e.to_string()))?;
            Target::Door(Box::new(door))
        }
    };
    Ok((connector, target))
}

/// The configuration of one sync run (`crate::sync`) of `spec`.
pub fn sync_config(
    spec: &ValidatedSpec,
    scope: Scope,
    approval: Option<String>,
    fetch_concurrency: usize,
    write_concurrency: usize,
    deadline: Option<tokio::time::Instant>,
) -> SyncConfig {
    SyncConfig {
        scope,
        property_ids: spec.property_ids.clone(),
        policy: spec.policy.clone(),
        mode: spec.mode,
        max_percent: spec.max_percent,
        approval,
        dry_run: spec.dry_run,
        fetch_concurrency,
        write_concurrency,
        deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PmsProvider;
    use crate::destination::door::MemoryStore;
    use crate::domain::{DeprovisionMode, Policy};
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn spec(provider: PmsProvider, base_url: Option<&str>, ids: &[&str]) -> ValidatedSpec {
        ValidatedSpec {
            interval: Duration::from_secs(3600),
            provider,
            pms_secret: "pms".into(),
            pms_base_url: base_url.map(String::from),
            max_requests_per_minute: None,
            property_ids: ids.iter().map(|i| i.to_string()).collect(),
            policy: Policy::default(),
            mode: DeprovisionMode::Deactivate,
            max_percent: 20,
            dry_run: false,
            destination: ValidatedDestination::Scim { url: "https://scim.example/v2".into(), secret: "scim".into() },
        }
    }

    fn secret(name: &str, keys: &[&str]) -> SecretData {
        SecretData::new(name, keys.iter().map(|k| (k.to_string(), "v".to_string())).collect::<BTreeMap<_, _>>())
    }

    /// What building gives for `spec` with these Secrets: the failure's reason, or `None`.
    fn outcome(spec: &ValidatedSpec, secrets: &[SecretData]) -> Option<Reason> {
        let http = |target: &'static str| HttpClient::new(target, Default::default(), Metrics::default());
        let limiter = |_: &'static str, limit| Arc::new(RateLimiter::new(limit));
        let parts = || DoorParts { tokens: Default::default(), store: Arc::new(MemoryStore::default()) };
        let find = |name: &str| secrets.iter().find(|s| s.name() == name);
        clients(spec, "ns", find, http, &limiter, parts).err().map(|f| f.reason)
    }

    #[test]
    fn each_configuration_error_has_its_reason() {
        let buildium = spec(PmsProvider::Buildium, None, &["7"]);
        let scim = secret("scim", &["token"]);
        assert_eq!(outcome(&buildium, &[secret("pms", &["clientId", "clientSecret"]), scim.clone()]), None);
        assert_eq!(outcome(&buildium, std::slice::from_ref(&scim)), Some(Reason::CredentialsNotFound));
        assert_eq!(outcome(&buildium, &[secret("pms", &["clientId"]), scim.clone()]), Some(Reason::InvalidSpec));
        let no_scim_secret = [secret("pms", &["clientId", "clientSecret"])];
        assert_eq!(outcome(&buildium, &no_scim_secret), Some(Reason::CredentialsNotFound));
        let bad_ids = spec(PmsProvider::Buildium, None, &["0"]);
        let pms = secret("pms", &["clientId", "clientSecret"]);
        assert_eq!(outcome(&bad_ids, &[pms.clone(), scim.clone()]), Some(Reason::InvalidSpec));
        let entrata_without_url = spec(PmsProvider::Entrata, None, &["7"]);
        assert_eq!(
            outcome(&entrata_without_url, &[secret("pms", &["apiKey"]), scim.clone()]),
            Some(Reason::InvalidSpec)
        );
        let mri = spec(PmsProvider::Mri, Some("https://mri.example"), &["7"]);
        assert_eq!(outcome(&mri, &[pms, scim]), Some(Reason::ProviderNotSupported));
    }
}
