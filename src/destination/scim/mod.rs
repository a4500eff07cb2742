//! SCIM 2.0 destination (RFC 7643/7644; docs/destinations.md#scim-20).
//!
//! - discovers `/ServiceProviderConfig` once per run: PATCH when supported, else PUT; server-side
//!   filtering when supported, else client-side;
//! - lists only users whose `externalId` starts with our prefix, paging with `startIndex`/`count`
//!   until `totalResults` is reached, never assuming a full page;
//! - bearer token from Secret key `token`; 409 and 429 are handled (429 by the shared retry layer).

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

mod groups;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::{Begun, Destination, DestinationError, DestinationRun, GroupOutcome};
use crate::credentials::Credentials;
use crate::domain::groups::{GroupPlan, GroupTemplate};
use crate::domain::{Action, ManagedUser, Phone, PhoneKind, Scope, UserRecord};
use crate::http::HttpClient;
use crate::pms::join_url;

/// The keys of a SCIM destination's Secret: a bearer token.
pub const SECRET_KEYS: [&str; 1] = ["token"];
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CONTENT_TYPE: &str = "application/scim+json";
const PAGE_SIZE: u64 = 100;
/// Emails looked up per filtered query (two clauses each), keeping URLs short.
const EMAILS_PER_QUERY: usize = 10;
/// Identities looked up per filtered query (`externalId eq … or …`), keeping URLs short.
const IDENTITIES_PER_QUERY: usize = 20;
/// Bound on pages read in one listing, so a server that never ends its listing cannot hang a run.
const MAX_PAGES: usize = 10_000;

/// What the service provider says it supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub filter: bool,
    pub max_results: u64,
}

pub struct Scim {
    http: HttpClient,
    base_url: String,
    token: String,
    capabilities: OnceCell<Capabilities>,
    /// `spec.destination.scim.groups`.
    groups: Vec<GroupTemplate>,
    /// The run's managed users, identity → SCIM `id`, from the listing and this run's creates
    /// (group members are IDs).
    ids: Mutex<HashMap<String, String>>,
    /// This integration's identity prefix, from `begin`.
    prefix: std::sync::OnceLock<String>,
}

impl Scim {
    /// A client for the SCIM service at `url` (checked by validation), authenticating with the
    /// checked [`SECRET_KEYS`].
    pub fn new(url: &str, credentials: &Credentials, http: HttpClient) -> Self {
        Self {
            http,
            base_url: url.trim_end_matches('/').to_string(),
            token: credentials.get("token").to_string(),
            capabilities: OnceCell::new(),
            groups: Vec::new(),
            ids: Mutex::new(HashMap::new()),
            prefix: std::sync::OnceLock::new(),
        }
    }

    /// The groups whose membership this destination keeps (`spec.destination.scim.groups`).
    pub fn with_groups(mut self, groups: Vec<GroupTemplate>) -> Self {
        self.groups = groups;
        self
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Discovers the provider's capabilities (once per client).
    pub async fn capabilities(&self) -> Result<Capabilities, DestinationError> {
        self.capabilities
            .get_or_try_init(|| async {
                let response = self.call(|c| c.get(self.url("ServiceProviderConfig"))).await?;
                let spc: ServiceProviderConfig = read_json(&self.http, response).await?;
                Ok(Capabilities {
                    patch: spc.patch.supported,
                    filter: spc.filter.supported,
                    max_results: spc.filter.max_results.filter(|m| *m > 0).unwrap_or(PAGE_SIZE),
                })
            })
            .await
            .copied()
    }

    fn url(&self, path: &str) -> String {
        join_url(&self.base_url, path)
    }

    /// Sends with auth and maps the statuses every call shares.
    async fn call(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DestinationError> {
        let response =
            self.http.send(|c| build(c).bearer_auth(&self.token).header(reqwest::header::ACCEPT, CONTENT_TYPE)).await?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(response),
            401 | 403 => Err(DestinationError::Unauthorized { status }),
            409 => Err(DestinationError::Conflict { scim_type: scim_error(response).await }),
            _ => Err(DestinationError::Rejected { status, detail: scim_error(response).await }),
        }
    }

    /// Sends `body` as SCIM JSON to `path`; the response, for a caller that reads the resource.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, DestinationError> {
        let url = self.url(path);
        let body = serde_json::to_vec(body).expect("a serde_json::Value always serializes");
        self.call(|c| {
            c.request(method.clone(), &url).header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE).body(body.clone())
        })
        .await
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<(), DestinationError> {
        self.send(method, path, body).await.map(|_| ())
    }

    /// Writes every attribute we own; `link` also sets `externalId` (adoption).
    async fn replace(&self, id: &str, desired: &UserRecord, link: bool) -> Result<(), DestinationError> {
        let path = format!("Users/{}", encode_path(id));
        if self.capabilities().await?.patch {
            self.send_json(reqwest::Method::PATCH, &path, &patch_body(desired, link)).await
        } else {
            self.send_json(reqwest::Method::PUT, &path, &user_body(desired)).await
        }
    }

    /// Reads users page by page, with `filter` when the provider supports filtering (else
    /// everything), keeping those `keep` accepts.
    async fn list_users(
        &self,
        filter: &str,
        keep: impl Fn(&ManagedUser) -> bool,
    ) -> Result<Vec<ManagedUser>, DestinationError> {
        let users = self.list::<UserResource>("Users", filter).await?;
        Ok(users.into_iter().map(to_user).filter(|u| keep(u)).collect())
    }

    /// Reads the resources at `path` page by page (`startIndex`/`count`, never assuming a full
    /// page), with `filter` when the provider supports filtering (else everything).
    async fn list<T: serde::de::DeserializeOwned + Listed>(
        &self,
        path: &str,
        filter: &str,
    ) -> Result<Vec<T>, DestinationError> {
        let caps = self.capabilities().await?;
        let count = PAGE_SIZE.min(caps.max_results).to_string();
        let url = self.url(path);
        let mut resources = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut start_index: u64 = 1;
        for _ in 0..MAX_PAGES {
            let start = start_index.to_string();
            let response = self
                .call(|c| {
                    let mut query = vec![("startIndex", start.as_str()), ("count", count.as_str())];
                    if caps.filter && !filter.is_empty() {
                        query.push(("filter", filter));
                    }
                    c.get(&url).query(&query)
                })
                .await?;
            let page: ListResponse<T> = read_json(&self.http, response).await?;
            let received = page.resources.len() as u64;
            // A resource seen on an earlier page means the pages shifted: another may have been
            // skipped, and a managed user missing from the listing would be created twice.
            if let Some(repeated) = page.resources.iter().find(|r| !seen.insert(r.id().to_string())) {
                let kind = if path == "Users" { "user" } else { "resource" };
                return Err(DestinationError::InvalidResponse(format!(
                    "the {path} listing returned {kind} {} twice (paging is inconsistent)",
                    encode_path(repeated.id())
                )));
            }
            resources.extend(page.resources);
            start_index += received;
            if received == 0 || start_index > page.total_results {
                return Ok(resources);
            }
        }
        Err(DestinationError::InvalidResponse(format!("{path} listing exceeded {MAX_PAGES} pages")))
    }
}

/// The calls of a run (see the [`Destination`] impl below).
impl Scim {
    pub async fn list_managed(&self, prefix: &str) -> Result<Vec<ManagedUser>, DestinationError> {
        let filter = format!("externalId sw {}", quote(prefix));
        let users = self
            .list_users(&filter, |u| !u.record.external_id.is_empty() && u.record.external_id.starts_with(prefix))
            .await?;
        self.ids().extend(users.iter().map(|u| (u.record.external_id.clone(), u.id.clone())));
        Ok(users)
    }

    /// The managed users carrying one of `identities` (ours: each starts with `prefix`), looked
    /// up with `externalId eq` filters joined by `or`, [`IDENTITIES_PER_QUERY`] at a time; a
    /// provider without filtering is listed in full instead.
    pub async fn find_managed(
        &self,
        prefix: &str,
        identities: &BTreeSet<String>,
    ) -> Result<Vec<ManagedUser>, DestinationError> {
        if !self.capabilities().await?.filter {
            let mut users = self.list_managed(prefix).await?;
            users.retain(|u| identities.contains(&u.record.external_id));
            return Ok(users);
        }
        let ours: Vec<&String> = identities.iter().filter(|e| e.starts_with(prefix)).collect();
        let mut found: Vec<ManagedUser> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for chunk in ours.chunks(IDENTITIES_PER_QUERY) {
            let filter = chunk.iter().map(|e| format!("externalId eq {}", quote(e))).collect::<Vec<_>>().join(" or ");
            let users = self.list_users(&filter, |u| identities.contains(&u.record.external_id)).await?;
            found.extend(users.into_iter().filter(|u| seen.insert(u.id.clone())));
        }
        self.ids().extend(found.iter().map(|u| (u.record.external_id.clone(), u.id.clone())));
        Ok(found)
    }

    pub(crate) async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        let wanted: std::collections::HashSet<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
        let matches = |u: &ManagedUser| {
            wanted.contains(&u.record.user_name().trim().to_lowercase())
                || u.record.emails.iter().any(|e| wanted.contains(&e.trim().to_lowercase()))
        };
        let mut found: Vec<ManagedUser> = Vec::new();
        if !self.capabilities().await?.filter {
            // `list_users` reads everything without a filter; match locally.
            return self.list_users("", matches).await;
        }
        let mut sorted: Vec<&String> = wanted.iter().collect();
        sorted.sort();
        for chunk in sorted.chunks(EMAILS_PER_QUERY) {
            let filter = chunk
                .iter()
                .map(|e| format!("userName eq {q} or emails.value eq {q}", q = quote(e)))
                .collect::<Vec<_>>()
                .join(" or ");
            for user in self.list_users(&filter, matches).await? {
                if !found.iter().any(|f| f.id == user.id) {
                    found.push(user);
                }
            }
        }
        Ok(found)
    }

    pub(crate) async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        match action {
            Action::Create(user) => {
                let response = self.send(reqwest::Method::POST, "Users", &user_body(user)).await?;
                // The new user's ID, for group membership; a body without one is looked up later.
                if let Ok(created) = read_json::<UserResource>(&self.http, response).await {
                    self.ids().insert(user.external_id.clone(), created.id);
                }
                Ok(())
            }
            Action::Update { existing, desired } => self.replace(&existing.id, desired, false).await,
            Action::Adopt { existing, desired } => {
                self.replace(&existing.id, desired, true).await?;
                self.ids().insert(desired.external_id.clone(), existing.id.clone());
                Ok(())
            }
            Action::Deactivate(existing) => {
                let record = UserRecord { active: false, ..existing.record.clone() };
                self.replace(&existing.id, &record, false).await
            }
            Action::Delete(existing) => {
                let url = self.url(&format!("Users/{}", encode_path(&existing.id)));
                match self.call(|c| c.delete(&url)).await {
                    Ok(_) | Err(DestinationError::Rejected { status: 404, .. }) => {
                        self.ids().remove(&existing.record.external_id);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

impl Destination for Scim {
    type Run<'a> = &'a Scim;

    async fn begin<'a>(&'a self, prefix: &'a str) -> Result<Begun<&'a Scim>, DestinationError> {
        let _ = self.prefix.set(prefix.to_string());
        Ok(Begun { managed: self.list_managed(prefix).await?, run: self })
    }

    async fn begin_for<'a>(
        &'a self,
        prefix: &'a str,
        identities: &BTreeSet<String>,
    ) -> Result<Begun<&'a Scim>, DestinationError> {
        let _ = self.prefix.set(prefix.to_string());
        Ok(Begun { managed: self.find_managed(prefix, identities).await?, run: self })
    }
}

impl DestinationRun for &Scim {
    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        Scim::find_by_emails(self, emails).await
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        Scim::apply(self, action).await
    }

    async fn plan_groups(
        &self,
        scope: &Scope,
        users: &[UserRecord],
        frozen: &BTreeSet<String>,
    ) -> Result<GroupPlan, DestinationError> {
        Scim::plan_groups(self, scope, users, frozen).await
    }

    async fn apply_groups(&self, plan: &GroupPlan) -> GroupOutcome {
        Scim::apply_groups(self, plan).await
    }
}

/// The full SCIM representation of a user (POST and PUT).
pub fn user_body(user: &UserRecord) -> Value {
    let mut body = json!({
        "schemas": [USER_SCHEMA],
        "externalId": user.external_id,
        "userName": user.user_name(),
        "active": user.active,
    });
    let name = name_value(user);
    if !name.as_object().is_some_and(|o| o.is_empty()) {
        body["name"] = name;
    }
    if !user.emails.is_empty() {
        body["emails"] = emails_value(user);
    }
    if !user.phones.is_empty() {
        body["phoneNumbers"] = phones_value(&user.phones);
    }
    body
}

/// A PATCH that sets every attribute we own: `replace` for present values, `remove` for absent
/// multi-valued ones (an empty list is not a valid replace value everywhere).
pub fn patch_body(user: &UserRecord, link: bool) -> Value {
    let mut ops = Vec::new();
    if link {
        ops.push(json!({"op": "replace", "path": "externalId", "value": user.external_id}));
    }
    ops.extend([
        json!({"op": "replace", "path": "userName", "value": user.user_name()}),
        json!({"op": "replace", "path": "active", "value": user.active}),
        json!({"op": "replace", "path": "name", "value": name_value(user)}),
    ]);
    ops.push(if user.emails.is_empty() {
        json!({"op": "remove", "path": "emails"})
    } else {
        json!({"op": "replace", "path": "emails", "value": emails_value(user)})
    });
    ops.push(if user.phones.is_empty() {
        json!({"op": "remove", "path": "phoneNumbers"})
    } else {
        json!({"op": "replace", "path": "phoneNumbers", "value": phones_value(&user.phones)})
    });
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

fn name_value(user: &UserRecord) -> Value {
    let mut name = serde_json::Map::new();
    if !user.given_name.is_empty() {
        name.insert("givenName".into(), json!(user.given_name));
    }
    if !user.family_name.is_empty() {
        name.insert("familyName".into(), json!(user.family_name));
    }
    Value::Object(name)
}

fn emails_value(user: &UserRecord) -> Value {
    user.emails
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"value": e, "type": if i == 0 { "home" } else { "other" }, "primary": i == 0}))
        .collect()
}

fn phones_value(phones: &[Phone]) -> Value {
    phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"value": p.number, "type": p.kind.scim_type(), "primary": i == 0}))
        .collect()
}

/// Reads one SCIM user resource; a missing `externalId` reads as empty (then it is not ours).
fn to_user(resource: UserResource) -> ManagedUser {
    let external_id = resource.external_id.unwrap_or_default();
    let mut emails = resource.emails;
    emails.sort_by_key(|e| !e.primary.unwrap_or(false));
    let mut phones = resource.phone_numbers;
    phones.sort_by_key(|p| !p.primary.unwrap_or(false));
    let name = resource.name.unwrap_or_default();
    ManagedUser {
        id: resource.id,
        record: UserRecord {
            external_id,
            user_name: resource.user_name.unwrap_or_default(),
            given_name: name.given_name.unwrap_or_default(),
            family_name: name.family_name.unwrap_or_default(),
            emails: emails.into_iter().filter_map(|e| e.value).collect(),
            phones: phones
                .into_iter()
                .filter_map(|p| {
                    let kind = match p.kind.as_deref() {
                        Some("mobile") => PhoneKind::Mobile,
                        Some("home") => PhoneKind::Home,
                        Some("work") => PhoneKind::Work,
                        _ => PhoneKind::Other,
                    };
                    Some(Phone { number: p.value?, kind })
                })
                .collect(),
            // RFC 7643 leaves an absent `active` to the provider; treat it as active so that
            // deprovisioning is never skipped by mistake.
            active: resource.active.unwrap_or(true),
            ..UserRecord::default()
        },
    }
}

/// Reads a `ListResponse` page (of users, and of groups) and a `ServiceProviderConfig` from raw bytes, as the client does
/// (for the fuzz targets: arbitrary bytes must give users or an error, never a panic).
pub(crate) fn parse_for_fuzzing(bytes: &[u8]) -> usize {
    let users = serde_json::from_slice::<ListResponse<UserResource>>(bytes)
        .map(|p| p.resources.into_iter().map(to_user).count());
    let spc = serde_json::from_slice::<ServiceProviderConfig>(bytes).map(|s| s.filter.max_results.unwrap_or(0));
    let groups = serde_json::from_slice::<ListResponse<groups::GroupResource>>(bytes)
        .map(|p| p.resources.iter().map(groups::GroupResource::member_count).sum::<usize>());
    users.unwrap_or(0) + spc.map_or(0, |m| m.min(1) as usize) + groups.unwrap_or(0)
}

/// A SCIM filter string literal.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    response: reqwest::Response,
) -> Result<T, DestinationError> {
    http.json(response).await.map_err(|e| match e {
        Some(e) => DestinationError::InvalidResponse(format!("SCIM response: {e}")),
        None => DestinationError::InvalidResponse("not the expected SCIM JSON".into()),
    })
}

/// The `scimType` of a SCIM error body (never `detail`, which may echo personal data).
async fn scim_error(response: reqwest::Response) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ScimError {
        scim_type: Option<String>,
    }
    let body = crate::http::read_capped(response, crate::http::ERROR_BODY_LIMIT).await.ok()?;
    serde_json::from_slice::<ScimError>(&body).ok()?.scim_type.as_deref().and_then(crate::http::vendor_code)
}

/// Percent-encodes a server-assigned ID for use as one path segment.
fn encode_path(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ServiceProviderConfig {
    patch: Supported,
    filter: FilterSupport,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Supported {
    supported: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FilterSupport {
    supported: bool,
    max_results: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse<T> {
    #[serde(default)]
    total_results: u64,
    #[serde(rename = "Resources", default = "Vec::new")]
    resources: Vec<T>,
}

/// A listed resource: every one has an `id`.
trait Listed {
    fn id(&self) -> &str;
}

impl Listed for UserResource {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserResource {
    id: String,
    external_id: Option<String>,
    user_name: Option<String>,
    name: Option<NameResource>,
    #[serde(default)]
    emails: Vec<MultiValue>,
    #[serde(default)]
    phone_numbers: Vec<MultiValue>,
    active: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NameResource {
    given_name: Option<String>,
    family_name: Option<String>,
}

#[derive(Deserialize)]
struct MultiValue {
    value: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    primary: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UserRecord {
        UserRecord {
            external_id: "ns/it/1/2".into(),
            user_name: "a@example.org".into(),
            given_name: "Łukasz".into(),
            family_name: "".into(),
            emails: vec!["a@example.org".into(), "b@example.org".into()],
            phones: vec![Phone { number: "555".into(), kind: PhoneKind::Mobile }],
            active: false,
            ..UserRecord::default()
        }
    }

    #[test]
    fn user_body_round_trips_through_the_reader() {
        let mut body = user_body(&record());
        assert_eq!(body["name"], json!({"givenName": "Łukasz"}));
        body["id"] = json!("x");
        let resource: UserResource = serde_json::from_value(body).unwrap();
        let back = to_user(resource);
        assert!(!back.record.differs_from(&record()));
    }

    #[test]
    fn patch_removes_absent_multi_valued_attributes() {
        let mut r = record();
        r.phones.clear();
        let ops = patch_body(&r, false)["Operations"].clone();
        assert!(ops.as_array().unwrap().contains(&json!({"op": "remove", "path": "phoneNumbers"})));
    }

    #[test]
    fn ids_are_encoded_as_one_path_segment() {
        assert_eq!(encode_path("a/b c"), "a%2Fb%20c");
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn a_listing_that_repeats_a_user_is_refused() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/ServiceProviderConfig"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 1}}),
            ))
            .mount(&server)
            .await;
        // A server ignoring startIndex: every page is the first one.
        Mock::given(method("GET"))
            .and(path("/Users"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "totalResults": 3,
                "Resources": [{"id": "u1", "externalId": "ns/it/1/1", "userName": "a@example.org"}]
            })))
            .mount(&server)
            .await;
        let secret = crate::credentials::SecretData::new("s", BTreeMap::from([("token".into(), "t".into())]));
        let credentials = secret.take(&SECRET_KEYS).unwrap();
        let scim =
            Scim::new(&server.uri(), &credentials, HttpClient::new("scim", Default::default(), Metrics::default()));
        let err = scim.list_managed("ns/it/").await.unwrap_err();
        assert!(err.to_string().contains("returned user u1 twice"), "{err}");
    }
}
