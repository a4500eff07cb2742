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
