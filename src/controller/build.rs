//! From a validated integration to a ready connector, destination and sync configuration.
//! No Kubernetes types: the `plan` command uses it outside any cluster.

use std::sync::Arc;

use crate::destination::door::{DoorDestination, MappingStore, TokenCache};
use crate::destination::{Target, scim::Scim};
use crate::domain::Scope;
use crate::http::{HttpClient, RateLimit, RateLimiter};
use crate::pms::Connector;
use crate::sync::SyncConfig;

use super::budgets::account;
use super::validate::{Validated, ValidatedDestination, ValidatedSpec};

/// What a DOOR destination keeps beyond one run: its token cache and its identity map's store.
pub struct DoorParts {
    pub tokens: Arc<TokenCache>,
    pub store: Arc<dyn MappingStore>,
    /// The integration synced before: its identity map must exist (see
    /// [`DoorDestination::expecting_saved_map`]).
    pub expects_map: bool,
}

/// Builds both clients of a validated integration. Nothing is called, and nothing can fail:
/// validation checked every setting and key. `limiter` hands out the rate limiter of a vendor
/// account (`budgets::account`: system, base URL, credentials) for the budget this integration
/// states.
pub fn clients(
    validated: &Validated,
    http: impl Fn(&'static str) -> HttpClient,
    limiter: &dyn Fn(String, RateLimit) -> Arc<RateLimiter>,
    door_parts: impl FnOnce() -> DoorParts,
) -> (Connector, Target) {
    let spec = &validated.spec;
    let pms = &validated.pms;
    let pms_account = account("pms", pms.base_url().as_str(), pms.credentials());
    let connector = Connector::new(pms.clone(), http(spec.provider.as_str()), &|l| limiter(pms_account.clone(), l));
    let credentials = &validated.destination_credentials;
    let target = match &spec.destination {
        ValidatedDestination::Scim { url, groups, .. } => {
            Target::Scim(Box::new(Scim::new(url, credentials, http("scim")).with_groups(groups.clone())))
        }
        ValidatedDestination::Door { settings, max_requests_per_minute, .. } => {
            let parts = door_parts();
            let door_account = account("door", &settings.base_url, credentials);
            let budget = limiter(door_account, RateLimit::per_minute(*max_requests_per_minute));
            let (calls, auth) = (http("door").with_limiter(budget), http("door-auth"));
            let door = DoorDestination::new(settings.clone(), credentials, calls, auth, parts.tokens, parts.store)
                .expecting_saved_map(parts.expects_map);
            Target::Door(Box::new(door))
        }
    };
    (connector, target)
}

/// The configuration of one sync run (`crate::sync`) of `spec`, starting at `now`.
pub fn sync_config(
    spec: &ValidatedSpec,
    now: jiff::Timestamp,
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
        retention: None,
        only_properties: None,
        incremental: None,
        watermark_overlap: crate::sync::DEFAULT_WATERMARK_OVERLAP,
        time_zone: Some(spec.time_zone.clone()),
        now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PmsIntegrationSpec;
    use crate::controller::validate::validate;
    use crate::credentials::SecretData;
    use crate::destination::door::MemoryStore;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn secret(name: &str, keys: &[&str]) -> SecretData {
        SecretData::new(name, keys.iter().map(|k| (k.to_string(), "v".to_string())).collect::<BTreeMap<_, _>>())
    }

    /// Builds `spec`'s clients and says which rate budgets were asked for, by system.
    fn build(spec: serde_json::Value) -> (Target, Vec<(String, RateLimit)>) {
        let spec: PmsIntegrationSpec = serde_json::from_value(spec).unwrap();
        let secrets =
            [secret("pms", &["clientId", "clientSecret"]), secret("dest", &["token", "clientId", "clientSecret"])];
        let validated = validate(&spec, "ns", |name| secrets.iter().find(|s| s.name() == name)).unwrap();
        let asked = Mutex::new(Vec::new());
        let limiter = |account: String, limit: RateLimit| {
            let system = account.split(':').next().unwrap().to_string();
            asked.lock().unwrap().push((system, limit));
            Arc::new(RateLimiter::new(limit))
        };
        let http = |target: &'static str| HttpClient::new(target, Default::default(), Metrics::default());
        let parts =
            || DoorParts { tokens: Default::default(), store: Arc::new(MemoryStore::default()), expects_map: false };
        let (_connector, target) = clients(&validated, http, &limiter, parts);
        (target, asked.into_inner().unwrap())
    }

    fn spec(destination: serde_json::Value, max_requests_per_minute: Option<u32>) -> serde_json::Value {
        serde_json::json!({
            "pms": {"provider": "buildium", "credentialsSecretRef": {"name": "pms"},
                    "maxRequestsPerMinute": max_requests_per_minute},
            "propertyIds": ["7"],
            "destination": destination,
        })
    }

    #[test]
    fn each_destination_is_built_with_the_budgets_in_force() {
        let scim =
            serde_json::json!({"scim": {"url": "https://scim.example/v2", "credentialsSecretRef": {"name": "dest"}}});
        let (target, asked) = build(spec(scim, None));
        assert!(matches!(target, Target::Scim(_)));
        assert_eq!(asked, [("pms".into(), crate::pms::buildium::DESCRIPTOR.default_limit)], "the provider's default");

        let door = serde_json::json!({"latch": {
            "buildingUuid": "8a7c1e3b-0000-4000-8000-000000000001",
            "credentialsSecretRef": {"name": "dest"}, "maxRequestsPerMinute": 30}});
        let (target, asked) = build(spec(door, Some(5)));
        assert!(matches!(target, Target::Door(_)));
        assert_eq!(asked, [("pms".into(), RateLimit::per_minute(5)), ("door".into(), RateLimit::per_minute(30))]);
    }
}
