//! A fast, in-memory SCIM 2.0 service provider for the load bed, where scim2-server (a Python
//! server that scans every user for each filtered query) would be what is measured: 1,000
//! integrations × 100 residents is 100,000 users and about 12,000 filtered queries per round.
//!
//! Built from RFC 7643 (the User resource, `caseExact` of `userName`, `externalId` and
//! `emails.value`) and RFC 7644 (§3.3 create with `201` and `Location`, §3.4.2 filtering with
//! `eq`/`sw`/`co` joined by `and`/`or` and `startIndex`/`count` paging, §3.5.1 replace with PUT,
//! §3.5.2 PATCH `add`/`replace`/`remove` on plain attribute paths, §3.6 delete, §3.12 errors, §5
//! `ServiceProviderConfig`), never from what pms-sync sends. What it leaves out, it refuses as the
//! RFC says: other filter operators and grouping are `400 invalidFilter`, PATCH paths with value
//! filters `400 invalidPath`, Groups and `/Bulk` are absent (404). The end-to-end tests use the
//! real scim2-server; this fake serves only benchmarks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::traffic::{Traffic, counted};

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Most resources returned per page (`filter.maxResults`).
const MAX_RESULTS: usize = 200;

/// A running fake; dropping it stops the server.
pub struct ScimFake {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    traffic: Arc<Traffic>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScimFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Store {
    token: String,
    next_id: u64,
    /// By `id`; ids are zero-padded counters, so this is creation order.
    users: BTreeMap<String, Map<String, Value>>,
    /// `externalId` (case-exact) → id.
    by_external_id: BTreeMap<String, String>,
    /// Lowercased `userName` → id (unique, case-insensitive).
    by_user_name: HashMap<String, String>,
    /// Lowercased `emails.value` → ids (not unique).
    by_email: HashMap<String, BTreeSet<String>>,
}

type Shared = Arc<Mutex<Store>>;

impl ScimFake {
    /// Serves on `addr` (port 0: any), accepting `Authorization: Bearer <token>`.
    pub async fn start_on(addr: SocketAddr, token: &str) -> Self {
        let store = Arc::new(Mutex::new(Store { token: token.to_string(), ..Store::default() }));
        let traffic = Arc::new(Traffic::default());
        let app = Router::new()
            .route("/ServiceProviderConfig", get(service_provider_config))
            .route("/Users", get(list).post(create))
            .route("/Users/{id}", get(read).put(replace).patch(patch).delete(delete))
            .with_state(store.clone());
        let (addr, task) = crate::buildium_fake::serve(addr, counted(app, traffic.clone())).await;
        Self { addr, store, traffic, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Users held.
    pub fn users(&self) -> usize {
        self.store.lock().unwrap().users.len()
    }

    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }
}

/// An error response (§3.12): status, `scimType` and detail.
#[derive(Debug)]
struct Refusal(StatusCode, Option<&'static str>, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, scim_type, detail) = self;
        let mut body = json!({"schemas": [ERROR_SCHEMA], "status": status.as_u16().to_string(), "detail": detail});
        if let Some(t) = scim_type {
            body["scimType"] = json!(t);
        }
        (status, [("content-type", "application/scim+json")], body.to_string()).into_response()
    }
}

fn error(status: StatusCode, scim_type: Option<&'static str>, detail: &'static str) -> Refusal {
    Refusal(status, scim_type, detail)
}

type Answer = Result<Response, Refusal>;

fn scim(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/scim+json")], body.to_string()).into_response()
}

/// The bearer token, or the 401 the RFC's authentication section calls for.
fn authorize(store: &Store, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    match given.strip_prefix("Bearer ") {
        Some(token) if token == store.token => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, None, "Authorization failure")),
    }
}

async fn service_provider_config(State(store): State<Shared>, headers: HeaderMap) -> Answer {
    authorize(&store.lock().unwrap(), &headers)?;
    Ok(scim(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                                       "description": "Authentication with a bearer token"}],
        }),
    ))
}

/// One comparison of a filter: `attrPath op "value"`.
#[derive(Debug, PartialEq)]
struct Comparison {
    path: String,
    op: String,
    value: String,
}

/// A filter in disjunctive form: any of the groups, each all of its comparisons.
type Filter = Vec<Vec<Comparison>>;

/// Parses the subset of RFC 7644 §3.4.2.2 this fake serves: comparisons `eq`, `sw`, `co` of
/// string values on `userName`, `externalId`, `id`, `emails.value`, joined by `and` (binding
/// tighter) and `or`. Anything else is `None` (`400 invalidFilter`).
fn parse_filter(text: &str) -> Option<Filter> {
    let mut tokens = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => value.push(chars.next()?.1),
                    (_, c) => value.push(c),
                }
            };
            tokens.push((true, value));
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            tokens.push((false, rest[..end].to_string()));
            rest = rest[end..].trim_start();
        }
    }
    let mut filter: Filter = vec![Vec::new()];
    let mut i = 0;
    loop {
        let [(false, path), (false, op), (true, value)] = tokens.get(i..i + 3)? else { return None };
        let path = path.to_ascii_lowercase();
        let op = op.to_ascii_lowercase();
        let known = ["username", "externalid", "id", "emails.value"].contains(&path.as_str());
        if !known || !["eq", "sw", "co"].contains(&op.as_str()) {
            return None;
        }
        filter.last_mut()?.push(Comparison { path, op, value: value.clone() });
        i += 3;
        match tokens.get(i) {
            None => return Some(filter),
            Some((false, joint)) if joint.eq_ignore_ascii_case("and") => {}
            Some((false, joint)) if joint.eq_ignore_ascii_case("or") => filter.push(Vec::new()),
            _ => return None,
        }
        i += 1;
    }
}

impl Comparison {
    fn matches(&self, user: &Map<String, Value>) -> bool {
        // RFC 7643 §4.1: userName and emails.value are caseExact false; id and externalId true.
        let (values, exact): (Vec<&str>, bool) = match self.path.as_str() {
            "username" => (user.get("userName").and_then(Value::as_str).into_iter().collect(), false),
            "externalid" => (user.get("externalId").and_then(Value::as_str).into_iter().collect(), true),
            "id" => (user.get("id").and_then(Value::as_str).into_iter().collect(), true),
            _ => {
                let emails = user.get("emails").and_then(Value::as_array);
                (emails.into_iter().flatten().filter_map(|e| e.get("value")?.as_str()).collect(), false)
            }
        };
        values.into_iter().any(|v| {
            let (v, wanted) =
                if exact { (v.to_string(), self.value.clone()) } else { (v.to_lowercase(), self.value.to_lowercase()) };
            match self.op.as_str() {
                "eq" => v == wanted,
                "sw" => v.starts_with(&wanted),
                _ => v.contains(&wanted),
            }
        })
    }
}

impl Store {
    /// The ids a one-comparison group can only be among, from the indexes; `None`: scan all.
    fn candidates(&self, group: &[Comparison]) -> Option<BTreeSet<String>> {
        let first = group.first()?;
        match (first.path.as_str(), first.op.as_str()) {
            ("externalid", "eq") => Some(self.by_external_id.get(&first.value).cloned().into_iter().collect()),
            ("externalid", "sw") => Some(
                self.by_external_id
                    .range(first.value.clone()..)
                    .take_while(|(e, _)| e.starts_with(&first.value))
                    .map(|(_, id)| id.clone())
                    .collect(),
            ),
            ("username", "eq") => {
                Some(self.by_user_name.get(&first.value.to_lowercase()).cloned().into_iter().collect())
            }
            ("id", "eq") => {
                Some(self.users.contains_key(&first.value).then(|| first.value.clone()).into_iter().collect())
            }
            ("emails.value", "eq") => Some(self.by_email.get(&first.value.to_lowercase()).cloned().unwrap_or_default()),
            _ => None,
        }
    }

    /// The ids of users matching `filter`, in creation order.
    fn select(&self, filter: &Filter) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for group in filter {
            let all = |user: &Map<String, Value>| group.iter().all(|c| c.matches(user));
            match self.candidates(group) {
                Some(candidates) => ids.extend(candidates.into_iter().filter(|id| all(&self.users[id]))),
                None => ids.extend(self.users.iter().filter(|(_, u)| all(u)).map(|(id, _)| id.clone())),
            }
        }
        ids.into_iter().collect()
    }

    fn emails(user: &Map<String, Value>) -> Vec<String> {
        let emails = user.get("emails").and_then(Value::as_array).into_iter().flatten();
        emails.filter_map(|e| Some(e.get("value")?.as_str()?.to_lowercase())).collect()
    }

    fn index(&mut self, id: &str, user: &Map<String, Value>) {
        for email in Self::emails(user) {
            self.by_email.entry(email).or_default().insert(id.to_string());
        }
        if let Some(external) = user.get("externalId").and_then(Value::as_str) {
            self.by_external_id.insert(external.to_string(), id.to_string());
        }
        if let Some(name) = user.get("userName").and_then(Value::as_str) {
            self.by_user_name.insert(name.to_lowercase(), id.to_string());
        }
    }

    fn unindex(&mut self, user: &Map<String, Value>) {
        let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        for email in Self::emails(user) {
            if let Some(ids) = self.by_email.get_mut(&email) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_email.remove(&email);
                }
            }
        }
        if let Some(external) = user.get("externalId").and_then(Value::as_str) {
            self.by_external_id.remove(external);
        }
        if let Some(name) = user.get("userName").and_then(Value::as_str) {
            self.by_user_name.remove(&name.to_lowercase());
        }
    }

    /// Stores `attributes` as user `id` (new or replaced), checking what the RFC requires.
    fn put(&mut self, id: &str, mut attributes: Map<String, Value>, base: &str) -> Result<Value, Refusal> {
        let Some(user_name) = attributes.get("userName").and_then(Value::as_str).map(str::to_lowercase) else {
            return Err(error(StatusCode::BAD_REQUEST, Some("invalidValue"), "userName is required"));
        };
        if self.by_user_name.get(&user_name).is_some_and(|owner| owner != id) {
            return Err(error(StatusCode::CONFLICT, Some("uniqueness"), "userName is already taken"));
        }
        let now = jiff::Timestamp::now().to_string();
        let created = self.users.get(id).and_then(|u| u.get("meta")?.get("created").cloned()).unwrap_or(json!(now));
        attributes.insert("id".into(), json!(id));
        attributes.insert("schemas".into(), json!([USER_SCHEMA]));
        attributes.insert(
            "meta".into(),
            json!({"resourceType": "User", "created": created, "lastModified": now, "location": format!("{base}/Users/{id}")}),
        );
        if let Some(old) = self.users.remove(id) {
            self.unindex(&old);
        }
        self.index(id, &attributes);
        self.users.insert(id.to_string(), attributes.clone());
        Ok(Value::Object(attributes))
    }
}

fn base(headers: &HeaderMap) -> String {
    format!("http://{}", headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"))
}

async fn list(State(store): State<Shared>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Answer {
    let store = store.lock().unwrap();
    authorize(&store, &headers)?;
    let ids = match query.get("filter").filter(|f| !f.trim().is_empty()) {
        None => store.users.keys().cloned().collect(),
        Some(text) => match parse_filter(text) {
            Some(filter) => store.select(&filter),
            None => return Err(error(StatusCode::BAD_REQUEST, Some("invalidFilter"), "filter not supported")),
        },
    };
    // §3.4.2.4: startIndex is 1-based (less than 1 means 1); a negative count means 0.
    let start = query.get("startIndex").and_then(|s| s.parse::<i64>().ok()).unwrap_or(1).max(1) as usize;
    let count = query.get("count").and_then(|s| s.parse::<i64>().ok()).map_or(MAX_RESULTS, |c| c.max(0) as usize);
    let page: Vec<Value> = ids
        .iter()
        .skip(start - 1)
        .take(count.min(MAX_RESULTS))
        .map(|id| Value::Object(store.users[id].clone()))
        .collect();
    Ok(scim(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": ids.len(), "startIndex": start,
               "itemsPerPage": page.len(), "Resources": page}),
    ))
}

/// The request's JSON object, or `400 invalidSyntax`.
fn object(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(StatusCode::BAD_REQUEST, Some("invalidSyntax"), "the body is not a JSON object")),
    }
}

async fn create(State(store): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Answer {
    let mut store = store.lock().unwrap();
    authorize(&store, &headers)?;
    let attributes = object(&body)?;
    let id = format!("{:012}", store.next_id + 1);
    let user = store.put(&id, attributes, &base(&headers))?;
    store.next_id += 1;
    let location = format!("{}/Users/{id}", base(&headers));
    let mut response = scim(StatusCode::CREATED, user);
    response.headers_mut().insert("location", location.parse().unwrap());
    Ok(response)
}

async fn read(State(store): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let store = store.lock().unwrap();
    authorize(&store, &headers)?;
    Ok(scim(StatusCode::OK, Value::Object(known(&store, &id)?.clone())))
}

/// User `id`, or `404`.
fn known<'a>(store: &'a Store, id: &str) -> Result<&'a Map<String, Value>, Refusal> {
    store.users.get(id).ok_or_else(|| error(StatusCode::NOT_FOUND, None, "no such user"))
}

async fn replace(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let mut store = store.lock().unwrap();
    authorize(&store, &headers)?;
    known(&store, &id)?;
    let attributes = object(&body)?;
    Ok(scim(StatusCode::OK, store.put(&id, attributes, &base(&headers))?))
}

async fn patch(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let mut store = store.lock().unwrap();
    authorize(&store, &headers)?;
    let mut user = known(&store, &id)?.clone();
    let request = object(&body)?;
    let operations = request.get("Operations").and_then(Value::as_array).cloned().unwrap_or_default();
    if operations.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, Some("invalidSyntax"), "no Operations"));
    }
    for operation in operations {
        let op = operation.get("op").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        let value = operation.get("value").cloned();
        let path = operation.get("path").and_then(Value::as_str);
        if path.is_some_and(|p| p.contains('[') || p.contains(':')) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                Some("invalidPath"),
                "paths with filters or URNs are not supported",
            ));
        }
        let applied = match (op.as_str(), path, value) {
            ("add" | "replace", Some(path), Some(value)) => set(&mut user, path, value),
            ("add" | "replace", None, Some(Value::Object(values))) => {
                values.into_iter().try_for_each(|(name, value)| set(&mut user, &name, value))
            }
            ("remove", Some(path), _) => {
                remove(&mut user, path);
                Some(())
            }
            ("remove", None, _) => {
                return Err(error(StatusCode::BAD_REQUEST, Some("noTarget"), "remove needs a path"));
            }
            _ => None,
        };
        if applied.is_none() {
            return Err(error(StatusCode::BAD_REQUEST, Some("invalidValue"), "operation not understood"));
        }
    }
    let base = base(&headers);
    Ok(scim(StatusCode::OK, store.put(&id, user, &base)?))
}

/// Sets attribute `path` (`name` or `name.sub`; names case-insensitive, RFC 7643 §2.1).
fn set(user: &mut Map<String, Value>, path: &str, value: Value) -> Option<()> {
    let (name, sub) = match path.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (path, None),
    };
    let key = existing_key(user, name);
    match sub {
        None => {
            user.insert(key, value);
        }
        Some(sub) => {
            let parent = user.entry(key).or_insert_with(|| json!({}));
            let parent = parent.as_object_mut()?;
            let sub_key = existing_key(parent, sub);
            parent.insert(sub_key, value);
        }
    }
    Some(())
}

fn remove(user: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            let key = existing_key(user, path);
            user.remove(&key);
        }
        Some((name, sub)) => {
            let key = existing_key(user, name);
            if let Some(parent) = user.get_mut(&key).and_then(Value::as_object_mut) {
                let sub_key = existing_key(parent, sub);
                parent.remove(&sub_key);
            }
        }
    }
}

/// The key spelled as already stored when it matches `name` case-insensitively, else `name`.
fn existing_key(map: &Map<String, Value>, name: &str) -> String {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_string())
}

async fn delete(State(store): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let mut store = store.lock().unwrap();
    authorize(&store, &headers)?;
    match store.users.remove(&id) {
        Some(user) => {
            store.unindex(&user);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(error(StatusCode::NOT_FOUND, None, "no such user")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_the_rfc_writes_them_and_others_are_refused() {
        let filter =
            parse_filter(r#"userName eq "a@x.org" or emails.value eq "a@x.org" and externalId sw "p/""#).unwrap();
        assert_eq!(filter.len(), 2);
        assert_eq!(filter[1].len(), 2, "and binds tighter than or");
        assert_eq!(parse_filter(r#"externalId eq "say \"hi\"""#).unwrap()[0][0].value, r#"say "hi""#);
        for refused in [
            r#"title pr"#,
            r#"(userName eq "a")"#,
            r#"userName gt "a""#,
            r#"userName eq"#,
            r#"userName eq "a" xor id eq "b""#,
            r#"userName eq "unterminated"#,
        ] {
            assert!(parse_filter(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn user_name_and_emails_compare_without_case_and_external_ids_exactly() {
        let user: Map<String, Value> = serde_json::from_value(
            json!({"userName": "Ann@X.org", "externalId": "Ns/A", "emails": [{"value": "Ann@X.org"}]}),
        )
        .unwrap();
        let holds = |text: &str| parse_filter(text).unwrap().iter().any(|g| g.iter().all(|c| c.matches(&user)));
        assert!(holds(r#"userName eq "ann@x.org""#));
        assert!(holds(r#"emails.value eq "ANN@x.org""#));
        assert!(holds(r#"externalId sw "Ns/""#));
        assert!(!holds(r#"externalId sw "ns/""#));
    }

    #[test]
    fn indexed_lookups_follow_replacements_and_deletions() {
        let mut store = Store::default();
        let user = |email: &str| -> Map<String, Value> {
            serde_json::from_value(json!({"userName": email, "externalId": "ns/a/1", "emails": [{"value": email}]}))
                .unwrap()
        };
        let find = |store: &Store, filter: &str| store.select(&parse_filter(filter).unwrap());
        store.put("000000000001", user("Old@x.org"), "http://h").unwrap();
        assert_eq!(find(&store, r#"emails.value eq "old@X.org""#), ["000000000001"]);
        store.put("000000000001", user("new@x.org"), "http://h").unwrap();
        assert!(find(&store, r#"emails.value eq "old@x.org" or userName eq "old@x.org""#).is_empty());
        assert_eq!(find(&store, r#"externalId sw "ns/a/""#), ["000000000001"]);
        let taken = store.put("000000000002", user("NEW@x.org"), "http://h");
        assert!(taken.is_err(), "userName is unique without regard to case");
        let removed = store.users.remove("000000000001").unwrap();
        store.unindex(&removed);
        assert!(find(&store, r#"emails.value eq "new@x.org""#).is_empty());
    }
}
