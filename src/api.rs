//! The `PmsIntegration` custom resource (`pmssync.io/v1alpha1`).
//!
//! These types are the resource's contract with its users: every field's doc comment becomes its
//! `kubectl explain` text, and `crds/pmsintegration.yaml` (with the chart's copy) is generated from
//! them by `scripts/crd.sh` (a test fails when they drift apart). The API server (1.20) enforces the schema's required
//! fields, enums, `minItems`, patterns and list-set uniqueness; everything else is validated again by
//! the controller (`controller::validate`) before any outbound call.

// kube's `printcolumn(...)` repeats `type_`/`json_path` keys by design; clippy reads them as
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every resource this controller owns.
pub const GROUP: &str = "pmssync.io";
/// Annotation whose every new value (an opaque token) requests a sync now.
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.pmssync.io/requestedAt";
/// Annotation releasing a held deprovisioning: its value must equal `status.heldDeprovision.planDigest`.
pub const APPROVE_DEPROVISION_ANNOTATION: &str = "pmssync.io/approve-deprovision";

/// Desired state of one PMS → access-control sync: which PMS properties feed which destination.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "pmssync.io",
    version = "v1alpha1",
    kind = "PmsIntegration",
    plural = "pmsintegrations",
    shortname = "pmsi",
    category = "pms",
    namespaced,
    status = "PmsIntegrationStatus",
    doc = "Keeps the residents of one or more PMS properties in step with a building's access-control destination.",
    printcolumn(name = "Enabled", type_ = "boolean", json_path = ".spec.enabled"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = "1"
    ),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.lastSyncTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PmsIntegrationSpec {
    /// Whether the integration syncs at all. `false` makes no PMS and no destination call; a
    /// requested sync token is still acknowledged in `status.lastHandledReconcileAt`.
    #[serde(default = "default_enabled")]
    pub enabled: bool,

    /// Time between scheduled syncs, as a duration such as `1h`, `30m` or `1h30m` (minimum `1m`,
    /// maximum `720h`, 30 days). Each run is jittered by ±10% so integrations created together do
    /// not call their PMS together.
    #[serde(default = "default_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(h|m|s))+$"), length(max = 32))]
    pub interval: String,

    /// How often a scheduled run reads every resident (default `24h`; `1m` to `720h`). In between,
    /// where the PMS filters by modification time (buildium), scheduled and webhook runs read only
    /// what changed since each property's watermark (`status.properties[].watermark`) and touch
    /// only those residents' users. A spec or Secret change, a requested sync and the first run
    /// always read everything. Residents deleted from the PMS (rather than moved out) are noticed
    /// by the next full read.
    #[serde(default = "default_full_sync_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(h|m|s))+$"), length(max = 32))]
    pub full_sync_interval: String,

    /// The properties' IANA time zone (e.g. `America/New_York`; default `UTC`), for dates at a
    /// SCIM destination: a future resident gets access from the start of their move-in day (else
    /// lease start) even while the PMS still says future (ending access stays with the status). A
    /// run is due at the next move-in day's start or move-out day's end
    /// (`status.nextBoundaryTime`) whatever the interval. DOOR schedules grants in its building's
    /// own time zone and needs neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,

    /// The Property Management System the residents come from.
    pub pms: PmsSpec,

    /// PMS property IDs whose residents are synced into this building: at least one, each unique.
    /// buildium: the rental property's integer ID; entrata: `propertyId`; appfolio: `property_id`;
    /// yardi: the `YardiPropertyId` code; realpage: the OneSite site ID; rentmanager: the numeric
    /// `PropertyID`; resman: the property's `PropertyID` (a GUID); mri: the `RMPROPID`.
    #[schemars(length(min = 1), extend("x-kubernetes-list-type" = "set"))]
    pub property_ids: Vec<String>,

    /// Lease statuses whose residents are not synced (and are deprovisioned if they were). Each entry
    /// matches, case-insensitively, either the PMS's own status (e.g. Buildium `MovedOut`, `Past`) or
    /// a normalized one: `applicant`, `future`, `current`, `notice`, `evicted`, `past`, `cancelled`,
    /// `unknown`.
    #[serde(default)]
    pub excluded_lease_statuses: Vec<String>,

    /// Roles on a lease that get access. Default: `Primary`, `CoResident`, `Occupant` — a
    /// `Guarantor` gets no user unless listed here.
    #[serde(default = "default_access_roles")]
    #[schemars(length(min = 1), extend("x-kubernetes-list-type" = "set"))]
    pub access_roles: Vec<AccessRole>,

    /// Where residents are provisioned. Exactly one destination must be set.
    pub destination: DestinationSpec,

    /// What happens to users whose residents moved out, were excluded or vanished from the PMS.
    #[serde(default)]
    pub deprovision: DeprovisionSpec,

    /// Compute the plan and report it in `status.plan` without writing anything to the destination.
    #[serde(default)]
    pub dry_run: bool,

    /// Allow plain `http://` URLs (`spec.pms.baseUrl`, the destination's URLs) to hosts other than
    /// loopback. Credentials then cross the network unencrypted: only for test servers on a
    /// trusted network. Default false: such URLs are refused as `InvalidSpec` before any call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,

    /// What starts a sync besides the schedule, a spec or Secret change and a `requestedAt`
    /// annotation: a signed webhook from the PMS side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<TriggersSpec>,
}

/// Change triggers.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggersSpec {
    /// A webhook receiver for this integration: `POST <status.webhookPath>` to the controller's
    /// receiver (`--receiver-addr`, the chart's receiver Service), signed with
    /// `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." and the raw body>` keyed with
    /// the Secret's `token` (the time within 5 minutes of the controller's; a signature is
    /// accepted once), starts a sync within a second. An optional JSON body `{"propertyIds": ["1001"]}` narrows
    /// the sync to those attached properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSpec>,
}

/// The webhook receiver of one integration.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// The Secret whose key `token` (at least 32 characters) signs requests and derives the
    /// unguessable path. Rotating it changes the path (`status.webhookPath`).
    pub secret_ref: SecretRef,
}

fn default_access_roles() -> Vec<AccessRole> {
    vec![AccessRole::Primary, AccessRole::CoResident, AccessRole::Occupant]
}

/// A person's role on a lease.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccessRole {
    /// The lease holder (head of household).
    Primary,
    /// Another lease signer.
    CoResident,
    /// Someone living in the unit without signing the lease.
    Occupant,
    /// A guarantor or cosigner, who does not live there.
    Guarantor,
}

fn default_enabled() -> bool {
    true
}

fn default_interval() -> String {
    "1h".to_string()
}

fn default_full_sync_interval() -> String {
    "24h".to_string()
}

/// The PMS connection: provider, credentials and an optional API base URL.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PmsSpec {
    /// Which PMS API to call.
    pub provider: PmsProvider,

    /// Secret in the same namespace holding the PMS credentials. Keys per provider: buildium
    /// `clientId`, `clientSecret`; entrata `apiKey` (gateway) or `username`, `password` (legacy
    /// host); appfolio `clientId`, `clientSecret`; yardi `username`, `password`, `serverName`,
    /// `database`, `platform`, `interfaceEntity`, `interfaceLicense`; realpage `pmcId`,
    /// `licenseKey` (property IDs are site IDs); rentmanager `username`, `password`, `locationId`
    /// (or `partnerToken`, `locationId`); resman `integrationPartnerId`, `apiKey`, `accountId`;
    /// mri `clientId`, `databaseName`, `username`, `password`, `partnerKey`.
    pub credentials_secret_ref: SecretRef,

    /// API base URL. buildium: default `https://api.buildium.com` (set it for the sandbox);
    /// entrata: required, the organisation's API base (e.g.
    /// `https://apis.entrata.com/ext/orgs/<org>/v1`, or `https://<subdomain>.entrata.com/api/v1`
    /// with username/password); appfolio: required, `https://<database>.appfolio.com`; yardi:
    /// required, the Voyager web-services base holding `ItfResidentTransactions20.asmx` (an
    /// `….asmx` URL under it is taken as that base); realpage: the RPX
    /// service URL (default: the RPX gateway's partner endpoint); rentmanager: required,
    /// `https://<company>.api.rentmanager.com`; resman: default `https://api.myresman.com`; mri:
    /// required, the API farm (e.g. `https://<farm>.saas.mrisoftware.com`; `/mriapiservices/api.asp`
    /// is added unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub base_url: Option<String>,

    /// Corrections of the built-in status mapping, for statuses a PMS names its own way: the PMS's
    /// raw status (matched case-insensitively) → `applicant`, `future`, `current`, `notice`,
    /// `evicted`, `past`, `cancelled` or `unknown`. Statuses the mapping does not know are
    /// `unknown`: counted in `status.summary.unknownStatuses` and never given access.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_mapping: BTreeMap<String, NormalizedStatus>,

    /// Requests per minute this integration may send to its PMS, shared by all of its runs.
    /// Defaults follow the vendors: buildium 300/min, entrata 60/min, appfolio 7 per 15 s (page
    /// links not counted), yardi 60/min, realpage 60/min, rentmanager 250/min (half the usual
    /// 500/min per credential), resman 60/min, mri 60/min. A vendor's own rate-limit headers and
    /// `Retry-After` are honoured on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_requests_per_minute: Option<u32>,
}

/// A normalized resident status.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NormalizedStatus {
    /// Applied, no lease yet: no access.
    Applicant,
    /// Signed, not moved in: a user without access.
    Future,
    /// Living there: access.
    Current,
    /// Gave notice, still living there: access.
    Notice,
    /// Under eviction, still living there: access until moved out.
    Evicted,
    /// Moved out: deprovisioned.
    Past,
    /// Cancelled or denied: deprovisioned.
    Cancelled,
    /// Not known: no access.
    Unknown,
}

/// The PMS providers. Each has a connector; the Secret keys and `baseUrl` rule of each are in the
/// README's credentials table.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PmsProvider {
    /// Buildium Open API (REST/JSON).
    Buildium,
    /// Entrata (JSON-RPC).
    Entrata,
    /// AppFolio Reports API v2.
    Appfolio,
    /// Yardi Voyager (SOAP ItfResidentTransactions20).
    Yardi,
    /// RealPage OneSite (RPX SOAP gateway).
    Realpage,
    /// Rent Manager 12 (REST/JSON: AuthorizeUser, then Tenants with embeds).
    Rentmanager,
    /// ResMan (MITS GetResidentTransactions2_0).
    Resman,
    /// MRI API Services (MRI_S-PMRM_ResidentLeaseDetailsByPropertyID, JSON).
    Mri,
}

impl PmsProvider {
    /// The lowercase name used in the spec, metrics and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buildium => "buildium",
            Self::Entrata => "entrata",
            Self::Appfolio => "appfolio",
            Self::Yardi => "yardi",
            Self::Realpage => "realpage",
            Self::Rentmanager => "rentmanager",
            Self::Resman => "resman",
            Self::Mri => "mri",
        }
    }
}

/// A reference to a Secret in the integration's own namespace. Cross-namespace references are
/// refused (a tenant must not read another namespace's credentials through the controller).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Must be omitted or equal the integration's own namespace; any other value is rejected with
    /// `InvalidSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The destination the residents are provisioned into. Exactly one field must be set.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct DestinationSpec {
    /// A SCIM 2.0 service provider (RFC 7643/7644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimDestinationSpec>,

    /// The DOOR (formerly Latch) partner REST API: residents become DOOR users holding grants to
    /// their unit's door and the configured keys. The field keeps the vendor's former name until
    /// an API version changes it (docs/decisions.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latch: Option<DoorDestinationSpec>,
}

/// A DOOR (formerly Latch) building, through the partner API. DOOR keeps no ID of ours: the
/// resident → DOOR user map (IDs only) is kept in the ConfigMap
/// `<namespace>.<integration>-door-identities` in the controller's namespace. Only grants this
/// integration made are ever revoked.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorDestinationSpec {
    /// UUID of the DOOR building the residents are granted access to.
    #[schemars(length(min = 1))]
    pub building_uuid: String,

    /// Secret in the same namespace with the partner's OAuth2 client credentials, keys `clientId`
    /// and `clientSecret`.
    pub credentials_secret_ref: SecretRef,

    /// Partner API base URL. Default `https://rest.latchaccess.com/access/sdk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub base_url: Option<String>,

    /// OAuth2 token endpoint (client credentials, audience
    /// `https://rest.latchaccess.com/access/sdk`). Default `https://auth.prod.latch.com/v1/oauth/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub token_url: Option<String>,

    /// Keys (or doors) of the building every resident gets, e.g. the lobby and common areas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_uuids: Vec<String>,

    /// How a resident's unit maps to a door.
    #[serde(default)]
    pub unit_doors: UnitDoorsSpec,

    /// Passcode type of the grants: `PERMANENT` (default; needs the resident's email), `DAILY` or
    /// `DAILY_SINGLE_USE`.
    #[serde(default)]
    pub passcode_type: PasscodeType,

    /// Role of the grants. Default `RESIDENT`.
    #[serde(default)]
    pub role: DoorRole,

    /// Whether residents may share their access with guests. Default false.
    #[serde(default)]
    pub shareable: bool,

    /// Whether DOOR sends its invitation to users this integration creates. Default false.
    #[serde(default)]
    pub notify: bool,

    /// Requests per minute this integration may send to DOOR, shared by all of its runs. DOOR
    /// publishes no number and rate-limits aggressively: default 60. `Retry-After` is honoured on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_requests_per_minute: Option<u32>,
}

/// Unit → door: by default the building's PRIVATE door whose name equals the unit
/// (case-insensitive); `doors` names doors explicitly and wins.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitDoorsSpec {
    /// Whether units without an entry in `doors` get the PRIVATE door named like the unit.
    /// Default true.
    #[serde(default = "default_true")]
    pub by_name: bool,

    /// Unit (as the PMS writes it) → DOOR door UUID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub doors: BTreeMap<String, String>,
}

impl Default for UnitDoorsSpec {
    fn default() -> Self {
        Self { by_name: true, doors: BTreeMap::new() }
    }
}

fn default_true() -> bool {
    true
}

/// DOOR passcode types.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PasscodeType {
    /// One code for good; DOOR needs the user's email.
    #[default]
    Permanent,
    /// A code that changes daily.
    Daily,
    /// A daily code usable once.
    DailySingleUse,
}

impl PasscodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "PERMANENT",
            Self::Daily => "DAILY",
            Self::DailySingleUse => "DAILY_SINGLE_USE",
        }
    }
}

/// DOOR grant roles.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DoorRole {
    /// A resident of the building.
    #[default]
    Resident,
    /// Someone with access who does not live there (staff, vendors).
    NonResident,
}

impl DoorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resident => "RESIDENT",
            Self::NonResident => "NON_RESIDENT",
        }
    }
}

/// A SCIM 2.0 endpoint. Users are matched by `externalId`
/// `<namespace>/<integration>/<property id>/<person id>`; users without that prefix are never touched.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimDestinationSpec {
    /// Base URL of the SCIM service, the one `/Users` and `/ServiceProviderConfig` are relative to
    /// (e.g. `https://access.example.com/scim/v2`).
    #[schemars(regex(pattern = r"^https?://"))]
    pub url: String,

    /// Secret in the same namespace whose key `token` is sent as a Bearer token.
    pub credentials_secret_ref: SecretRef,

    /// Groups whose membership follows access: access platforms that take users over SCIM (Kisi,
    /// Avigilon Alta, Verkada, Brivo) open doors through group membership mapped to access levels.
    /// A group is ours when its `externalId` is `<namespace>/<name>/group/<displayName>`: missing
    /// ones are created, and only the membership of users this integration manages is changed
    /// (PATCH add/remove). Groups are never renamed or deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub groups: Vec<ScimGroupSpec>,
}

/// One group, or one group per unit, property or role.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroupSpec {
    /// The group's name; `{unit}`, `{propertyId}` and `{role}` make one group per value (e.g.
    /// `Harbor View unit {unit}`). A resident without a value (no unit) is in no such group.
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,

    /// Who belongs: `access` (default), the residents with access now; `all`, every managed
    /// resident, future ones too.
    #[serde(default)]
    pub of: GroupMembers,

    /// Take over an existing group with this `displayName` and no `externalId` (setting ours on
    /// it). Without it such a group is reported as a conflict and left alone.
    #[serde(default)]
    pub adopt_existing: bool,
}

/// Who belongs to a SCIM group.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupMembers {
    /// Residents with access now.
    #[default]
    Access,
    /// Every managed resident, future ones too.
    All,
}

/// Deprovisioning behaviour.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeprovisionSpec {
    /// `Deactivate` (default) sets the user inactive, `Delete` removes it, `Ignore` leaves it as is.
    /// In DOOR both `Deactivate` and `Delete` revoke the grants this integration made (the partner
    /// API cannot delete users); `Delete` also forgets the user.
    #[serde(default)]
    pub mode: DeprovisionMode,

    /// Circuit breaker: a run that would deprovision more than this percentage of the users the
    /// integration manages — or any user of a property that suddenly returned no residents — holds
    /// its deprovisioning (creates and updates still apply) until the annotation
    /// `pmssync.io/approve-deprovision` names the held plan's digest. Default 20.
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_percent: u32,

    /// Deactivate, then delete (with `mode: Deactivate` only): users this integration deactivated
    /// longer ago than this duration (`720h`, `90m`, at least `1s`) are deleted by the next run,
    /// if their resident has not come back (a returning resident is reactivated, not recreated).
    /// Only deactivations made while this is set are recorded and ever deleted; deletions count in
    /// the circuit breaker like any deprovisioning. In DOOR a deactivated resident's grants are
    /// already revoked, and deleting forgets the DOOR user (the partner API cannot delete users).
    /// Absent: deactivated users are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<String>,
}

impl Default for DeprovisionSpec {
    fn default() -> Self {
        Self { mode: DeprovisionMode::default(), max_percent: default_max_percent(), delete_after: None }
    }
}

fn default_max_percent() -> u32 {
    20
}

/// How a user that should no longer have access is deprovisioned.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeprovisionMode {
    /// Keep the user but set it inactive (SCIM `active: false`).
    #[default]
    Deactivate,
    /// Delete the user from the destination.
    Delete,
    /// Leave the user untouched.
    Ignore,
}

/// Observed state, written by the controller only. Holds counts and IDs, never personal data.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PmsIntegrationStatus {
    /// The `metadata.generation` the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The last `reconcile.pmssync.io/requestedAt` token handled, copied verbatim. Written even when
    /// the sync failed or the integration is disabled, so `kubectl wait` on it never hangs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// When the last sync attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,

    /// When the last fully successful sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,

    /// When the last successful run that read every resident (not only changes) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync_time: Option<Time>,

    /// The next moment a user's access is due to change by the calendar (a move-in day starting, a
    /// move-out day ending, in `spec.timeZone`): a run reading every resident is due then, and
    /// `nextSyncTime` is no later. Absent when none is known, and for DOOR, which schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_boundary_time: Option<Time>,

    /// When the next scheduled sync (or retry after a transient failure) is due. Absent while the
    /// controller waits for a change (disabled, or an error that retrying cannot fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_time: Option<Time>,

    /// Number of sync attempts in a row that failed; drives the retry backoff. Reset on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,

    /// Digest of the referenced Secrets' names and resource versions at the last attempt; a change
    /// (rotation, creation) makes a sync due. Contains no secret material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_secrets_digest: Option<String>,

    /// kstatus conditions. `Ready` is always present.
    #[serde(default)]
    pub conditions: Vec<Condition>,

    /// Counts of the last sync attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SyncSummary>,

    /// Per-property results of the last sync attempt.
    #[serde(default)]
    pub properties: Vec<PropertyStatus>,

    /// Deprovisioning held by the circuit breaker; present only while held. Approve exactly this
    /// plan with `kubectl annotate pmsi NAME pmssync.io/approve-deprovision=<planDigest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_deprovision: Option<HeldDeprovision>,

    /// The plan of the last dry run (`spec.dryRun: true`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,

    /// The last runs, newest first (the controller's `--history-limit`, default 10): when, how
    /// long, what made each due and how it ended, with counts. IDs and numbers only; the
    /// controller's `audit` log lines hold every applied action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RunRecord>,

    /// With `spec.triggers.webhook`: the path to POST to on the controller's receiver
    /// (`/hook/<hex SHA-256 of token, namespace and name>`: unguessable without the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

/// One sync run.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// When the run started.
    pub started: Time,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What made it due: `First`, `SpecChange`, `Requested`, `SecretChange`, `Approval` or
    /// `Schedule`.
    pub trigger: String,
    /// The `Ready` reason it ended with (`Succeeded`, `DryRun`, `PmsUnavailable`, …).
    pub reason: String,
    /// Users created.
    #[serde(default)]
    pub created: u64,
    /// Users updated.
    #[serde(default)]
    pub updated: u64,
    /// Users deprovisioned.
    #[serde(default)]
    pub deprovisioned: u64,
    /// Writes that failed.
    #[serde(default)]
    pub failed: u64,
    /// Users left untouched (failed property, or deprovisioning held for approval).
    #[serde(default)]
    pub held: u64,
}

/// A deprovisioning waiting for approval.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldDeprovision {
    /// Users the held plan would deactivate or delete.
    pub count: u64,
    /// `sha256:…` of exactly which users and how; changes iff the held set changes.
    pub plan_digest: String,
    /// Why the breaker held it.
    pub reason: String,
}

/// Planned writes, in total and per property.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// Users that would be created.
    pub create: u64,
    /// Users that would be updated.
    pub update: u64,
    /// Existing users that would be adopted (linked by an exact name and email match).
    pub adopt: u64,
    /// Users that would be deactivated or deleted (including any held by the breaker).
    pub deprovision: u64,
    /// The same, per property with planned writes.
    #[serde(default)]
    pub properties: Vec<PropertyPlan>,
    /// Planned SCIM group changes (at most 50 groups, 50 users each), by group and user identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupPlan>,
}

/// Planned changes of one SCIM group.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupPlan {
    /// The group's `externalId` (`<namespace>/<name>/group/<displayName>`).
    pub external_id: String,
    /// Whether the group would be created (or adopted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create: bool,
    /// Identities of the users that would join.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Identities of the users that would leave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Planned writes of one property.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropertyPlan {
    /// The PMS property ID.
    pub id: String,
    /// Users that would be created.
    pub create: u64,
    /// Users that would be updated.
    pub update: u64,
    /// Users that would be adopted.
    pub adopt: u64,
    /// Users that would be deprovisioned.
    pub deprovision: u64,
}

/// Counts of one sync run.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSummary {
    /// Residents read from the PMS (one per person per property).
    pub fetched: u64,
    /// Residents not synced because of `excludedLeaseStatuses`.
    pub excluded: u64,
    /// Residents that should exist in the destination.
    pub desired: u64,
    /// Users created.
    pub created: u64,
    /// Users updated.
    pub updated: u64,
    /// Existing users linked to a resident by an exact first name, last name and email match.
    #[serde(default)]
    pub adopted: u64,
    /// Users deprovisioned (deactivated or deleted).
    pub deprovisioned: u64,
    /// Managed users already as they should be.
    pub unchanged: u64,
    /// Writes that failed.
    pub failed: u64,
    /// Managed users left untouched this run: their property could not be fetched, or their
    /// deprovisioning awaits approval.
    pub held: u64,
    /// Residents not created because a user with their email exists and is not an exact match
    /// (never merged; see the `Conflict` events for IDs).
    #[serde(default)]
    pub conflicts: u64,
    /// Residents held back because another resident shares their email (fix it in the PMS).
    #[serde(default)]
    pub duplicate_emails: u64,
    /// Residents whose PMS status is not in the mapping (never given access); the statuses are
    /// named in an `UnknownStatus` event. Add them to `spec.pms.statusMapping`.
    #[serde(default)]
    pub unknown_statuses: u64,
    /// PMS-future residents whose move-in date (else lease start) lies more than 3 days back:
    /// the date is not believed, so they get no access and no scheduled start until the PMS
    /// moves them in (see the `StaleMoveIn` event for IDs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stale_move_ins: u64,
    /// Users due for deletion after `deleteAfter` but kept (deactivated) this run, because our
    /// clock and the PMS's disagree by more than an hour: a delete cannot be undone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deletes_refused: u64,
    /// SCIM groups created.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub groups_created: u64,
    /// Group memberships added (residents who joined a group).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memberships_added: u64,
    /// Group memberships removed (residents who left a group).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memberships_removed: u64,
    /// Group memberships left in place because removing them would take more than
    /// `spec.deprovision.maxPercent` of this integration's memberships from residents who keep
    /// their access (a renamed group template, say).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memberships_held: u64,
    /// Groups not managed because one with the same `displayName` exists and is not ours (see the
    /// `Conflict` events; `adoptExisting` takes over one without an `externalId`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub group_conflicts: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The result of one attached property in the last run.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropertyStatus {
    /// The PMS property ID.
    pub id: String,
    /// Residents read for this property (0 when the fetch failed).
    pub residents: u64,
    /// Why the property could not be synced; its users were left untouched. Absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the next incremental read of this property starts: the PMS's clock (its `Date`
    /// header, else ours) at the last successful read, less a 5-minute overlap against clock
    /// skew. Absent for a PMS that cannot filter by modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Time>,
}
