//! Validation, once and completely, before anything is called: the spec's own rules, then its
//! provider and the keys of the Secrets it references. The API server (1.20) enforces the schema
//! but not CEL rules, and objects may predate a schema change: everything is checked here again,
//! with messages that name the field. What passes is a [`Validated`], from which building the
//! connector and the destination cannot fail (`build`).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::api::{
    AccessRole, DeprovisionMode as SpecMode, DeprovisionSpec, DoorDestinationSpec, GroupMembers, NormalizedStatus,
    PmsIntegrationSpec, PmsProvider, ScimGroupSpec,
};
use crate::conditions::Reason;
use crate::credentials::{Credentials, SecretData};
use crate::destination::door::{self, DoorSettings, client as door_client};
use crate::destination::scim;
use crate::domain::groups::{self, GroupTemplate, Members};
use crate::domain::{DeprovisionMode, Exclusions, Policy, ResidentRole, ResidentStatus};
use crate::pms::{ConnectorConfig, ConnectorConfigError, ConnectorOptions};

use super::status::Failure;

pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Longest interval: 30 days. Far beyond any sensible schedule, and far inside every clock's range.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longest `deprovision.deleteAfter`: 10 years, far inside every clock's range.
pub const MAX_DELETE_AFTER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A spec that passed validation; later steps read only this.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedSpec {
    pub interval: Duration,
    /// `spec.fullSyncInterval`: the longest time between runs that read everything.
    pub full_sync_interval: Duration,
    /// `spec.timeZone` (UTC by default).
    pub time_zone: jiff::tz::TimeZone,
    pub provider: PmsProvider,
    pub pms_secret: String,
    pub pms_base_url: Option<String>,
    pub max_requests_per_minute: Option<u32>,
    pub property_ids: Vec<String>,
    pub policy: Policy,
    pub mode: DeprovisionMode,
    pub max_percent: u32,
    /// `deprovision.deleteAfter`: delete what this integration deactivated this long ago.
    pub delete_after: Option<Duration>,
    /// `triggers.webhook.secretRef.name`.
    pub webhook_secret: Option<String>,
    pub dry_run: bool,
    pub destination: ValidatedDestination,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidatedDestination {
    Scim { url: String, secret: String, groups: Vec<GroupTemplate> },
    Door { settings: DoorSettings, secret: String, max_requests_per_minute: u32 },
}

/// DOOR publishes no rate limit and watches partner traffic closely: one call a second.
pub const DOOR_DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

impl ValidatedSpec {
    /// The DOOR API base URL and building UUID of a `latch` destination.
    pub fn door_building(&self) -> Option<(&str, &str)> {
        match &self.destination {
            ValidatedDestination::Door { settings, .. } => Some((&settings.base_url, &settings.building_uuid)),
            ValidatedDestination::Scim { .. } => None,
        }
    }

    fn destination_secret(&self) -> &str {
        match &self.destination {
            ValidatedDestination::Scim { secret, .. } | ValidatedDestination::Door { secret, .. } => secret,
        }
    }
}

/// An integration ready to run: its spec, and its PMS and destination configurations checked
/// against the Secrets as they were read. Building clients from it cannot fail.
#[derive(Clone, Debug)]
pub struct Validated {
    pub spec: ValidatedSpec,
    pub pms: ConnectorConfig,
    /// The destination Secret's keys ([`scim::SECRET_KEYS`] or [`door::SECRET_KEYS`]).
    pub destination_credentials: Credentials,
    /// With a webhook trigger: its Secret's [`WEBHOOK_TOKEN_KEY`].
    pub webhook_token: Option<Credentials>,
}

/// The names of the Secrets `spec` references, PMS first, without repeats: what to read before
/// [`validate`]. A name that is no valid Secret name is left out (never looked up or used as a
/// path); [`validate`] reports it.
pub fn secret_names(spec: &PmsIntegrationSpec) -> Vec<&str> {
    let destination = [
        spec.destination.scim.as_ref().map(|d| &d.credentials_secret_ref),
        spec.destination.latch.as_ref().map(|d| &d.credentials_secret_ref),
        webhook_ref(spec),
    ];
    let mut names: Vec<&str> = Vec::new();
    for r in std::iter::once(&spec.pms.credentials_secret_ref).chain(destination.into_iter().flatten()) {
        if is_secret_name(&r.name) && !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
}

/// Validates everything about one integration: the spec's rules ([`validate_spec`]), then its
/// provider, base URL and property IDs, then the referenced Secrets and every key they must
/// hold. `secret` finds a Secret by name (`None`: it does not exist). The failure's reason says
/// which: `InvalidSpec`, `ProviderNotSupported` or `CredentialsNotFound`; all are permanent until
/// the spec or a Secret changes.
pub fn validate<'a>(
    spec: &PmsIntegrationSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<&'a SecretData>,
) -> Result<Validated, Failure> {
    let invalid = |message: String| Failure::permanent(Reason::InvalidSpec, message);
    let spec = validate_spec(spec, namespace).map_err(|e| invalid(e.0))?;
    let found = |name: &str| {
        secret(name).ok_or_else(|| {
            let message = format!("Secret {name:?} not found in namespace {namespace:?}");
            Failure::permanent(Reason::CredentialsNotFound, message)
        })
    };
    let options = ConnectorOptions {
        provider: spec.provider,
        base_url: spec.pms_base_url.as_deref(),
        property_ids: &spec.property_ids,
        max_requests_per_minute: spec.max_requests_per_minute,
    };
    let pms = crate::pms::check(&options, found(&spec.pms_secret)?).map_err(|e| match e {
        ConnectorConfigError::Unsupported(e) => Failure::permanent(Reason::ProviderNotSupported, e.to_string()),
        other => invalid(other.to_string()),
    })?;
    let keys: &[&'static str] = match spec.destination {
        ValidatedDestination::Scim { .. } => &scim::SECRET_KEYS,
        ValidatedDestination::Door { .. } => &door::SECRET_KEYS,
    };
    let destination_credentials =
        found(spec.destination_secret())?.take(keys).map_err(|missing| invalid(missing.to_string()))?;
    let webhook_token = match &spec.webhook_secret {
        Some(name) => {
            let token = found(name)?.take(&[WEBHOOK_TOKEN_KEY]).map_err(|missing| invalid(missing.to_string()))?;
            if token.get(WEBHOOK_TOKEN_KEY).len() < MIN_WEBHOOK_TOKEN {
                let message = format!(
                    "Secret {name:?} key {WEBHOOK_TOKEN_KEY:?} must hold at least {MIN_WEBHOOK_TOKEN} characters"
                );
                return Err(invalid(message));
            }
            Some(token)
        }
        None => None,
    };
    Ok(Validated { spec, pms, destination_credentials, webhook_token })
}

/// The webhook Secret's key.
pub const WEBHOOK_TOKEN_KEY: &str = "token";
/// Shortest webhook token: it keys the HMAC and derives the path, so it must not be guessable.
pub const MIN_WEBHOOK_TOKEN: usize = 32;

fn webhook_ref(spec: &PmsIntegrationSpec) -> Option<&crate::api::SecretRef> {
    spec.triggers.as_ref().and_then(|t| t.webhook.as_ref()).map(|w| &w.secret_ref)
}

/// The name of the webhook Secret of `spec`, when it has one and the name is a valid Secret name.
pub fn webhook_secret_name(spec: &PmsIntegrationSpec) -> Option<&str> {
    webhook_ref(spec).map(|r| r.name.as_str()).filter(|name| is_secret_name(name))
}

/// A spec problem, phrased for `kubectl describe`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

/// The spec's own rules, without its Secrets.
pub fn validate_spec(spec: &PmsIntegrationSpec, namespace: &str) -> Result<ValidatedSpec, InvalidSpec> {
    let refs = [
        Some(("spec.pms.credentialsSecretRef", &spec.pms.credentials_secret_ref)),
        spec.destination
            .scim
            .as_ref()
            .map(|d| ("spec.destination.scim.credentialsSecretRef", &d.credentials_secret_ref)),
        spec.destination
            .latch
            .as_ref()
            .map(|d| ("spec.destination.latch.credentialsSecretRef", &d.credentials_secret_ref)),
        webhook_ref(spec).map(|r| ("spec.triggers.webhook.secretRef", r)),
    ];
    for (field, secret) in refs.into_iter().flatten() {
        if let Some(other) = secret.namespace.as_deref().filter(|n| *n != namespace) {
            return Err(InvalidSpec(format!(
                "{field}.namespace {other:?}: cross-namespace references are not allowed; use a Secret in {namespace:?}"
            )));
        }
    }
    let interval = parse_duration(&spec.interval).ok_or_else(|| {
        InvalidSpec(format!("spec.interval {:?} is not a duration such as 1h, 30m or 1h30m", spec.interval))
    })?;
    if interval < MIN_INTERVAL {
        return Err(InvalidSpec(format!("spec.interval {:?} is below the minimum of 1m", spec.interval)));
    }
    if interval > MAX_INTERVAL {
        return Err(InvalidSpec(format!("spec.interval {:?} is above the maximum of 720h (30 days)", spec.interval)));
    }
    let full_sync_interval = parse_duration(&spec.full_sync_interval)
        .filter(|d| (MIN_INTERVAL..=MAX_INTERVAL).contains(d))
        .ok_or_else(|| {
            InvalidSpec(format!(
                "spec.fullSyncInterval {:?} is not a duration from 1m to 720h such as 24h",
                spec.full_sync_interval
            ))
        })?;
    let time_zone = match spec.time_zone.as_deref() {
        None => jiff::tz::TimeZone::UTC,
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
            InvalidSpec(format!("spec.timeZone {name:?} is not an IANA time zone such as America/New_York"))
        })?,
    };
    let insecure = spec.allow_insecure_http;

    if spec.property_ids.is_empty() {
        return Err(InvalidSpec("spec.propertyIds must list at least one property".into()));
    }
    let mut seen = BTreeSet::new();
    for id in &spec.property_ids {
        if id.trim().is_empty() || id.trim() != id || id.contains('/') {
            return Err(InvalidSpec(format!(
                "spec.propertyIds entry {id:?} must be non-empty, without surrounding spaces or '/'"
            )));
        }
        if !seen.insert(id.as_str()) {
            return Err(InvalidSpec(format!("spec.propertyIds lists {id:?} more than once")));
        }
    }
    if let Some(bad) = spec.excluded_lease_statuses.iter().find(|s| s.trim().is_empty()) {
        return Err(InvalidSpec(format!("spec.excludedLeaseStatuses has an empty entry {bad:?}")));
    }

    if let Some(bad) = spec.pms.status_mapping.keys().find(|k| k.trim().is_empty()) {
        return Err(InvalidSpec(format!("spec.pms.statusMapping has an empty status {bad:?}")));
    }
    if spec.pms.max_requests_per_minute == Some(0) {
        return Err(InvalidSpec("spec.pms.maxRequestsPerMinute must be at least 1".into()));
    }
    if spec.access_roles.is_empty() {
        return Err(InvalidSpec("spec.accessRoles must name at least one role".into()));
    }
    if spec.deprovision.max_percent > 100 {
        return Err(InvalidSpec(format!("spec.deprovision.maxPercent {} is above 100", spec.deprovision.max_percent)));
    }
    let delete_after = delete_after(&spec.deprovision)?;
    let webhook_secret = match webhook_ref(spec) {
        Some(r) => Some(secret_name(&r.name, "spec.triggers.webhook.secretRef.name")?),
        None => None,
    };

    let pms_secret = secret_name(&spec.pms.credentials_secret_ref.name, "spec.pms.credentialsSecretRef.name")?;
    let pms_base_url = match &spec.pms.base_url {
        Some(url) => Some(http_url(url, "spec.pms.baseUrl", insecure)?),
        None => None,
    };

    let destination = match (&spec.destination.scim, &spec.destination.latch) {
        (Some(scim), None) => ValidatedDestination::Scim {
            url: http_url(&scim.url, "spec.destination.scim.url", insecure)?,
            secret: secret_name(&scim.credentials_secret_ref.name, "spec.destination.scim.credentialsSecretRef.name")?,
            groups: scim_groups(&scim.groups)?,
        },
        (None, Some(latch)) => door(latch, insecure)?,
        _ => {
            return Err(InvalidSpec("spec.destination must set exactly one destination (scim or latch)".into()));
        }
    };

    Ok(ValidatedSpec {
        interval,
        full_sync_interval,
        time_zone,
        provider: spec.pms.provider,
        pms_secret,
        pms_base_url,
        max_requests_per_minute: spec.pms.max_requests_per_minute,
        property_ids: spec.property_ids.clone(),
        policy: Policy {
            // The run sets the date and whether dates start access (`sync::SyncConfig::now`).
            today: None,
            dates_start_access: false,
            stale_move_in_days: crate::domain::desired::DEFAULT_STALE_MOVE_IN_DAYS,
            exclusions: Exclusions::new(&spec.excluded_lease_statuses),
            access_roles: spec
                .access_roles
                .iter()
                .map(|r| match r {
                    AccessRole::Primary => ResidentRole::Primary,
                    AccessRole::CoResident => ResidentRole::CoResident,
                    AccessRole::Occupant => ResidentRole::Occupant,
                    AccessRole::Guarantor => ResidentRole::Guarantor,
                })
                .collect(),
            status_overrides: spec
                .pms
                .status_mapping
                .iter()
                .map(|(raw, status)| (raw.trim().to_lowercase(), normalized(*status)))
                .collect(),
        },
        mode: match spec.deprovision.mode {
            SpecMode::Deactivate => DeprovisionMode::Deactivate,
            SpecMode::Delete => DeprovisionMode::Delete,
            SpecMode::Ignore => DeprovisionMode::Ignore,
        },
        max_percent: spec.deprovision.max_percent,
        delete_after,
        webhook_secret,
        dry_run: spec.dry_run,
        destination,
    })
}

/// `deprovision.deleteAfter`: a duration, and only with `mode: Deactivate` (`Delete` deletes at
/// once, `Ignore` never deactivates).
fn delete_after(spec: &DeprovisionSpec) -> Result<Option<Duration>, InvalidSpec> {
    let Some(text) = &spec.delete_after else { return Ok(None) };
    let field = "spec.deprovision.deleteAfter";
    let after = parse_duration(text)
        .ok_or_else(|| InvalidSpec(format!("{field} {text:?} is not a duration such as 720h, 90m or 30s")))?;
    if after > MAX_DELETE_AFTER {
        return Err(InvalidSpec(format!("{field} {text:?} is above the maximum of 87600h (10 years)")));
    }
    if spec.mode != SpecMode::Deactivate {
        return Err(InvalidSpec(format!("{field} applies to mode Deactivate only, not {:?}", spec.mode)));
    }
    Ok(Some(after))
}

fn door(spec: &DoorDestinationSpec, insecure: bool) -> Result<ValidatedDestination, InvalidSpec> {
    let field = "spec.destination.latch";
    let uuid = |value: &str, what: &str| -> Result<String, InvalidSpec> {
        let ok = value.len() == 36 && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if ok {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(InvalidSpec(format!("{field}.{what} {value:?} is not a UUID")))
        }
    };
    let building_uuid = uuid(&spec.building_uuid, "buildingUuid")?;
    let mut key_uuids = Vec::new();
    for key in &spec.key_uuids {
        let key = uuid(key, "keyUuids")?;
        if key_uuids.contains(&key) {
            return Err(InvalidSpec(format!("{field}.keyUuids lists {key:?} more than once")));
        }
        key_uuids.push(key);
    }
    let mut unit_doors = std::collections::BTreeMap::new();
    for (unit, door) in &spec.unit_doors.doors {
        if unit.trim().is_empty() {
            return Err(InvalidSpec(format!("{field}.unitDoors.doors has an empty unit")));
        }
        unit_doors.insert(unit.trim().to_string(), uuid(door, "unitDoors.doors")?);
    }
    if spec.max_requests_per_minute == Some(0) {
        return Err(InvalidSpec(format!("{field}.maxRequestsPerMinute must be at least 1")));
    }
    let url = |value: &Option<String>, what: &str, default: &str| match value {
        Some(v) => http_url(v, &format!("{field}.{what}"), insecure),
        None => Ok(default.to_string()),
    };
    Ok(ValidatedDestination::Door {
        settings: DoorSettings {
            building_uuid,
            base_url: url(&spec.base_url, "baseUrl", door_client::DEFAULT_BASE_URL)?,
            token_url: url(&spec.token_url, "tokenUrl", door_client::DEFAULT_TOKEN_URL)?,
            key_uuids,
            unit_doors,
            unit_doors_by_name: spec.unit_doors.by_name,
            passcode_type: spec.passcode_type.as_str().to_string(),
            role: spec.role.as_str().to_string(),
            shareable: spec.shareable,
            notify: spec.notify,
        },
        secret: secret_name(&spec.credentials_secret_ref.name, &format!("{field}.credentialsSecretRef.name"))?,
        max_requests_per_minute: spec.max_requests_per_minute.unwrap_or(DOOR_DEFAULT_REQUESTS_PER_MINUTE),
    })
}

/// The group templates, each checked and named once.
fn scim_groups(groups: &[ScimGroupSpec]) -> Result<Vec<GroupTemplate>, InvalidSpec> {
    let mut out: Vec<GroupTemplate> = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group.display_name.trim();
        groups::check_template(name).map_err(|why| {
            InvalidSpec(format!("spec.destination.scim.groups[{i}].displayName {:?} {why}", group.display_name))
        })?;
        if out.iter().any(|g| g.display_name == name) {
            return Err(InvalidSpec(format!("spec.destination.scim.groups lists {name:?} more than once")));
        }
        let members = match group.of {
            GroupMembers::Access => Members::Access,
            GroupMembers::All => Members::All,
        };
        out.push(GroupTemplate { display_name: name.to_string(), members, adopt_existing: group.adopt_existing });
    }
    Ok(out)
}

fn normalized(status: NormalizedStatus) -> ResidentStatus {
    match status {
        NormalizedStatus::Applicant => ResidentStatus::Applicant,
        NormalizedStatus::Future => ResidentStatus::Future,
        NormalizedStatus::Current => ResidentStatus::Current,
        NormalizedStatus::Notice => ResidentStatus::Notice,
        NormalizedStatus::Evicted => ResidentStatus::Evicted,
        NormalizedStatus::Past => ResidentStatus::Past,
        NormalizedStatus::Cancelled => ResidentStatus::Cancelled,
        NormalizedStatus::Unknown => ResidentStatus::Unknown,
    }
}

fn secret_name(name: &str, field: &str) -> Result<String, InvalidSpec> {
    if is_secret_name(name) {
        Ok(name.to_string())
    } else {
        Err(InvalidSpec(format!("{field} {name:?} is not a valid Secret name")))
    }
}

/// A DNS subdomain name, as Kubernetes names Secrets: never a path or an empty lookup.
fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// An `https://` URL, or `http://` to loopback (test servers, sidecars) or with
/// `allowInsecureHttp`: credentials must not cross a network in clear text by accident.
fn http_url(url: &str, field: &str, allow_insecure: bool) -> Result<String, InvalidSpec> {
    let parsed = reqwest::Url::parse(url).map_err(|_| InvalidSpec(format!("{field} {url:?} is not a URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(InvalidSpec(format!("{field} {url:?} must be an http(s) URL with a host")));
    }
    if parsed.scheme() == "http" && !allow_insecure && !is_loopback(&parsed) {
        return Err(InvalidSpec(format!(
            "{field} {url:?} is plain http to a non-loopback host: use https, or set spec.allowInsecureHttp: true to send credentials unencrypted"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(InvalidSpec(format!("{field} must not carry credentials; use the Secret")));
    }
    Ok(url.to_string())
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses Go-style durations made of `h`, `m` and `s` parts (`1h30m`, `90s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (digits.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestinationSpec, PmsSpec, ScimDestinationSpec, SecretRef};

    fn spec() -> PmsIntegrationSpec {
        PmsIntegrationSpec {
            enabled: true,
            interval: "1h".into(),
            full_sync_interval: "24h".into(),
            time_zone: None,
            pms: PmsSpec {
                provider: PmsProvider::Buildium,
                credentials_secret_ref: SecretRef { name: "buildium".into(), namespace: None },
                base_url: None,
                status_mapping: Default::default(),
                max_requests_per_minute: None,
            },
            property_ids: vec!["1".into(), "2".into()],
            excluded_lease_statuses: vec!["Past".into()],
            destination: DestinationSpec {
                scim: Some(ScimDestinationSpec {
                    url: "http://127.0.0.1:1/v2".into(),
                    credentials_secret_ref: SecretRef { name: "scim".into(), namespace: None },
                    groups: Vec::new(),
                }),
                latch: None,
            },
            access_roles: vec![AccessRole::Primary],
            deprovision: Default::default(),
            dry_run: false,
            allow_insecure_http: false,
            triggers: None,
        }
    }

    fn group(name: &str) -> ScimGroupSpec {
        ScimGroupSpec { display_name: name.into(), of: GroupMembers::Access, adopt_existing: false }
    }

    #[test]
    fn a_good_spec_validates() {
        let v = validate_spec(&spec(), "ns").unwrap();
        assert_eq!(v.interval, Duration::from_secs(3600));
        assert_eq!(secret_names(&spec()), ["buildium", "scim"]);
    }

    fn latch() -> DoorDestinationSpec {
        serde_json::from_value(serde_json::json!({
            "buildingUuid": "8A7C1E3B-0000-4000-8000-000000000001",
            "credentialsSecretRef": {"name": "door"},
        }))
        .unwrap()
    }

    #[test]
    fn a_latch_destination_gets_its_defaults() {
        let mut s = spec();
        s.destination.scim = None;
        s.destination.latch = Some(latch());
        let v = validate_spec(&s, "ns").unwrap();
        let ValidatedDestination::Door { settings, secret, max_requests_per_minute } = v.destination else {
            panic!("a DOOR destination")
        };
        assert_eq!(settings.building_uuid, "8a7c1e3b-0000-4000-8000-000000000001");
        assert_eq!(settings.base_url, "https://rest.latchaccess.com/access/sdk");
        assert_eq!(settings.token_url, "https://auth.prod.latch.com/v1/oauth/token");
        assert_eq!((settings.passcode_type.as_str(), settings.role.as_str()), ("PERMANENT", "RESIDENT"));
        assert!(settings.unit_doors_by_name);
        assert_eq!((secret.as_str(), max_requests_per_minute), ("door", 60));
    }

    #[test]
    fn plain_http_is_for_loopback_or_an_explicit_opt_in() {
        for url in ["http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9/", "http://127.3.4.5"] {
            let mut s = spec();
            s.pms.base_url = Some(url.into());
            assert!(validate_spec(&s, "ns").is_ok(), "{url}");
        }
        let mut s = spec();
        s.pms.base_url = Some("http://pms.internal:8080".into());
        assert!(validate_spec(&s, "ns").is_err());
        s.allow_insecure_http = true;
        assert!(validate_spec(&s, "ns").is_ok());
        assert_eq!(validate_spec(&spec(), "ns").unwrap().interval, Duration::from_secs(3600));
        let mut s = spec();
        s.interval = "720h".into();
        assert_eq!(validate_spec(&s, "ns").unwrap().interval, MAX_INTERVAL);
    }

    fn secret(name: &str, keys: &[&str]) -> SecretData {
        SecretData::new(name, keys.iter().map(|k| (k.to_string(), "v".to_string())).collect())
    }

    /// What validating `spec` with these Secrets gives: the failure's reason, or `None`.
    fn outcome(spec: &PmsIntegrationSpec, secrets: &[SecretData]) -> Option<Reason> {
        let find = |name: &str| secrets.iter().find(|s| s.name() == name);
        validate(spec, "ns", find).err().map(|f| {
            assert!(f.is_permanent(), "{}: configuration errors wait for a change", f.message);
            f.reason
        })
    }

    #[test]
    fn a_webhook_needs_its_secret_with_a_long_token() {
        use crate::api::{SecretRef, TriggersSpec, WebhookSpec};
        let mut hooked = spec();
        let secret_ref = SecretRef { name: "hook".into(), namespace: None };
        hooked.triggers = Some(TriggersSpec { webhook: Some(WebhookSpec { secret_ref }) });
        assert_eq!(secret_names(&hooked), ["buildium", "scim", "hook"]);
        let base = [secret("buildium", &["clientId", "clientSecret"]), secret("scim", &["token"])];
        assert_eq!(outcome(&hooked, &base), Some(Reason::CredentialsNotFound));
        let with = |token: &str| {
            let hook = SecretData::new("hook", [("token".to_string(), token.to_string())].into());
            base.iter().cloned().chain([hook]).collect::<Vec<_>>()
        };
        assert_eq!(outcome(&hooked, &with("short")), Some(Reason::InvalidSpec));
        assert_eq!(outcome(&hooked, &with(&"x".repeat(MIN_WEBHOOK_TOKEN))), None);
    }

    #[test]
    fn each_configuration_error_has_its_reason() {
        let pms = secret("buildium", &["clientId", "clientSecret"]);
        let scim = secret("scim", &["token"]);
        let both = [pms.clone(), scim.clone()];
        assert_eq!(outcome(&spec(), &both), None);
        assert_eq!(outcome(&spec(), std::slice::from_ref(&scim)), Some(Reason::CredentialsNotFound));
        assert_eq!(outcome(&spec(), std::slice::from_ref(&pms)), Some(Reason::CredentialsNotFound));
        assert_eq!(outcome(&spec(), &[secret("buildium", &["clientId"]), scim.clone()]), Some(Reason::InvalidSpec));
        assert_eq!(outcome(&spec(), &[pms.clone(), secret("scim", &["tokn"])]), Some(Reason::InvalidSpec));
        let mut bad_ids = spec();
        bad_ids.property_ids = vec!["0".into()];
        assert_eq!(outcome(&bad_ids, &both), Some(Reason::InvalidSpec));
        let mut entrata_without_url = spec();
        entrata_without_url.pms.provider = PmsProvider::Entrata;
        assert_eq!(
            outcome(&entrata_without_url, &[secret("buildium", &["apiKey"]), scim.clone()]),
            Some(Reason::InvalidSpec)
        );
        let mut mri = spec();
        mri.pms.provider = PmsProvider::Mri;
        assert_eq!(outcome(&mri, &both), Some(Reason::InvalidSpec), "an MRI farm URL is required");
        mri.pms.base_url = Some("https://farm.example".into());
        let mri_keys = ["clientId", "databaseName", "username", "password", "partnerKey"];
        assert_eq!(outcome(&mri, &[secret("buildium", &mri_keys), scim.clone()]), None);
        let mut door = spec();
        door.destination.scim = None;
        door.destination.latch = Some(latch());
        let door_secret = secret("door", &["clientId", "clientSecret"]);
        assert_eq!(outcome(&door, &[pms.clone(), door_secret]), None);
        let only_token = [pms, secret("door", &["token"])];
        assert_eq!(outcome(&door, &only_token), Some(Reason::InvalidSpec));
        let find = |name: &str| only_token.iter().find(|s| s.name() == name);
        let refused = validate(&door, "ns", find).unwrap_err().message;
        assert_eq!(refused, r#"Secret "door" has no key "clientId""#, "named, the value never shown");
        let mut bad_name = spec();
        bad_name.pms.credentials_secret_ref.name = "../etc".into();
        assert_eq!(outcome(&bad_name, &both), Some(Reason::InvalidSpec));
    }

    #[test]
    fn only_well_formed_secret_names_are_read_and_each_once() {
        let mut s = spec();
        s.destination.scim.as_mut().unwrap().credentials_secret_ref.name = "buildium".into();
        assert_eq!(secret_names(&s), ["buildium"]);
        for bad in ["", "../x", ".", "..", "A", "a/b"] {
            s.pms.credentials_secret_ref.name = bad.into();
            assert_eq!(secret_names(&s), ["buildium"], "{bad:?}");
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn bad_specs_name_the_field() {
        type Mutation = fn(&mut PmsIntegrationSpec);
        let cases: Vec<(Mutation, &str)> = vec![
            (|s| s.interval = "30s".into(), "spec.interval"),
            (|s| s.interval = "soon".into(), "spec.interval"),
            (|s| s.full_sync_interval = "30s".into(), "spec.fullSyncInterval"),
            (|s| s.full_sync_interval = "721h".into(), "spec.fullSyncInterval"),
            (|s| s.full_sync_interval = "daily".into(), "spec.fullSyncInterval"),
            (|s| s.time_zone = Some("Mars/Olympus_Mons".into()), "spec.timeZone"),
            (|s| s.deprovision.delete_after = Some("30d".into()), "spec.deprovision.deleteAfter"),
            (|s| s.deprovision.delete_after = Some("900000h".into()), "spec.deprovision.deleteAfter"),
            (
                |s| {
                    s.deprovision.delete_after = Some("720h".into());
                    s.deprovision.mode = SpecMode::Delete;
                },
                "mode Deactivate only",
            ),
            (|s| s.property_ids.clear(), "spec.propertyIds"),
            (|s| s.property_ids.push("1".into()), "more than once"),
            (|s| s.property_ids.push(" 3".into()), "spec.propertyIds"),
            (|s| s.excluded_lease_statuses.push(" ".into()), "spec.excludedLeaseStatuses"),
            (|s| s.destination.scim = None, "spec.destination"),
            (|s| s.destination.scim.as_mut().unwrap().url = "ftp://x".into(), "spec.destination.scim.url"),
            (|s| s.pms.base_url = Some("https://user:pw@x".into()), "spec.pms.baseUrl"),
            (
                |s| s.destination.scim.as_mut().unwrap().groups = vec![group("Unit {unti}")],
                "spec.destination.scim.groups[0].displayName \"Unit {unti}\" has the unknown placeholder",
            ),
            (
                |s| s.destination.scim.as_mut().unwrap().groups = vec![group("Residents"), group(" Residents")],
                "lists \"Residents\" more than once",
            ),
            (|s| s.destination.latch = Some(latch()), "exactly one destination"),
            (
                |s| {
                    s.destination.scim = None;
                    s.destination.latch = Some(DoorDestinationSpec { building_uuid: "b-1".into(), ..latch() });
                },
                "spec.destination.latch.buildingUuid",
            ),
            (
                |s| {
                    s.destination.scim = None;
                    let mut l = latch();
                    l.key_uuids = vec![l.building_uuid.clone(), l.building_uuid.clone()];
                    s.destination.latch = Some(l);
                },
                "more than once",
            ),
            (|s| s.pms.credentials_secret_ref.name = "Bad_Name".into(), "spec.pms.credentialsSecretRef.name"),
            (|s| s.access_roles.clear(), "spec.accessRoles"),
            (|s| s.pms.credentials_secret_ref.namespace = Some("other".into()), "cross-namespace"),
            (|s| s.deprovision.max_percent = 101, "spec.deprovision.maxPercent"),
            (|s| s.interval = "70000000h".into(), "maximum of 720h"),
            (|s| s.interval = "721h".into(), "maximum of 720h"),
            (|s| s.interval = "99999999999999999999h".into(), "spec.interval"),
            (|s| s.pms.base_url = Some("http://pms.example.com".into()), "spec.allowInsecureHttp"),
            (|s| s.destination.scim.as_mut().unwrap().url = "http://10.0.0.1/v2".into(), "spec.allowInsecureHttp"),
            (
                |s| {
                    s.destination.scim = None;
                    s.destination.latch =
                        Some(DoorDestinationSpec { token_url: Some("http://auth.example.com/t".into()), ..latch() });
                },
                "spec.destination.latch.tokenUrl",
            ),
        ];
        for (mutate, needle) in cases {
            let mut s = spec();
            mutate(&mut s);
            let err = validate_spec(&s, "ns").unwrap_err();
            assert!(err.0.contains(needle), "{err} should mention {needle}");
        }
    }
}
