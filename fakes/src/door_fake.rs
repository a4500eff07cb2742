//! A stateful DOOR (formerly Latch) partner API fake, held to the vendor's spec
//! (`../shared/vendor-specs/door-partner-openapi.json`, `door-authentication-openapi.json`):
//! client-credentials tokens with the documented audience; buildings, doors and keys; users with
//! accesses; `POST /v1|v2/users` (a user is found by email or phone, else created, and granted),
//! `PATCH` and `DELETE /v1/users/{u}/doors/{d}`; `{"message": "ENUM"}` errors; `pageSize` +
//! `pageToken` paging. Request bodies are checked against the spec's schemas (required fields,
//! enums, formats, no unknown fields) and every request is kept, so the contract test can replay
//! them against an OpenAPI validator.
//!
//! Shared by the tests and the `pms-sync-sandbox` binary of the local demo.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

pub const CLIENT_ID: &str = "door-sandbox-client";
pub const CLIENT_SECRET: &str = "door-sandbox-secret-Pq93";
pub const AUDIENCE: &str = "https://rest.latchaccess.com/access/sdk";
pub const BUILDING: &str = "8a7c0000-0000-4000-8000-0000000000b1";
pub const PARTNER: &str = "9b1d0000-0000-4000-8000-0000000000a1";
pub const OTHER_PARTNER: &str = "9b1d0000-0000-4000-8000-0000000000a2";
pub const MANAGER: &str = "9b1d0000-0000-4000-8000-0000000000c1";
pub const KEY_LOBBY: &str = "6c6b0000-0000-4000-8000-00000000000a";
pub const KEY_GYM: &str = "6c6b0000-0000-4000-8000-00000000000b";
pub const TIMEZONE: &str = "America/New_York";

/// The door UUID of a unit's PRIVATE door in the standard building.
pub fn unit_door(unit: &str) -> String {
    let n: u64 = unit.bytes().fold(0, |a, b| a * 256 + u64::from(b));
    format!("d0000000-0000-4000-8000-{n:012x}")
}

/// One grant of a door or key.
#[derive(Clone, Debug, PartialEq)]
pub struct Access {
    pub door: String,
    pub start: String,
    pub end: Option<String>,
    pub granter_type: String,
    pub granter: String,
    pub passcode_type: String,
    pub role: String,
    pub shareable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub uuid: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub accesses: Vec<Access>,
}

impl User {
    pub fn access(&self, door: &str) -> Option<&Access> {
        self.accesses.iter().find(|a| a.door == door)
    }

    pub fn doors(&self) -> Vec<String> {
        let mut d: Vec<String> = self.accesses.iter().map(|a| a.door.clone()).collect();
        d.sort();
        d
    }
}

/// A fault for the next create (`POST /v*/users`).
#[derive(Clone, Debug, PartialEq)]
pub enum CreateFault {
    /// The user is created, then the answer is a 503: the client cannot know it worked.
    CommitThenFail,
    /// The user is created, then no answer ever comes (the controller is killed meanwhile).
    CommitThenHang,
}

/// How the fake answers where the vendor's spec leaves the behaviour open (issue 11). The
/// default is the spec's strict reading where it has one: open grants carry the required
/// `endTime` as a far-future sentinel (`UserAccess.endTime` is a required date-time), and the
/// token response has no `expires_in` (`AuthorizationResponseParams` requires only
/// `access_token` and `token_type`). The adapter is tested under every alternative.
#[derive(Clone, Debug)]
pub struct SpecReading {
    /// `endTime` of an open-ended grant: `Some(sentinel)`, or `None` for JSON `null`.
    pub open_end: Option<&'static str>,
    /// Whether the token response carries `expires_in`.
    pub token_expires_in: bool,
    /// `POST /v2/users` for an existing user's email creates a second user (the spec says only
    /// "Create DOOR user and grant access") instead of granting to the first.
    pub post_creates_second_user: bool,
    /// `POST /v2/users` answers `201 Created` with no body (the spec lists a bare 201).
    pub post_answers_empty_201: bool,
}

/// The sentinel a spec-conforming server reports for "no end".
pub const OPEN_END_SENTINEL: &str = "9999-12-31T23:59:59Z";

impl Default for SpecReading {
    fn default() -> Self {
        SpecReading {
            open_end: Some(OPEN_END_SENTINEL),
            token_expires_in: false,
            post_creates_second_user: false,
            post_answers_empty_201: false,
        }
    }
}

/// One request as received (for the contract replay).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub body: Option<String>,
}

pub struct Door {
    pub users: Vec<User>,
    pub doors: Vec<(String, String, &'static str)>,
    pub keys: Vec<String>,
    pub tokens: Vec<String>,
    pub tokens_issued: u32,
    pub create_fault: Option<CreateFault>,
    /// 429s (with `Retry-After: 1`) still to send.
    pub rate_limited: u32,
    pub max_page: usize,
    pub requests: Vec<Recorded>,
    pub reading: SpecReading,
    next_id: u64,
}

type Shared = Arc<Mutex<Door>>;

pub struct DoorFake {
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DoorFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DoorFake {
    /// A building with PRIVATE doors for `units`, a COMMUNAL door "Lobby", and two keys.
    pub async fn start(units: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), units).await
    }

    /// Like [`start`](Self::start), on `addr` (the sandbox's fixed port).
    pub async fn start_on(addr: SocketAddr, units: &[&str]) -> Self {
        let mut doors: Vec<(String, String, &'static str)> =
            units.iter().map(|u| (unit_door(u), u.to_string(), "PRIVATE")).collect();
        doors.push(("d0000000-0000-4000-8000-00000000ffff".into(), "Lobby".into(), "COMMUNAL"));
        let inner = Arc::new(Mutex::new(Door {
            users: Vec::new(),
            doors,
            keys: vec![KEY_LOBBY.into(), KEY_GYM.into()],
            tokens: Vec::new(),
            tokens_issued: 0,
            create_fault: None,
            rate_limited: 0,
            max_page: 2,
            requests: Vec::new(),
            reading: SpecReading::default(),
            next_id: 1,
        }));
        let app = Router::new()
            .route("/v1/oauth/token", post(token))
            .route("/v1/buildings", get(buildings))
            .route("/v1/doors", get(list_doors))
            .route("/v1/keys", get(list_keys))
            .route("/v1/keys/{key}/accesses", get(key_accesses))
            .route("/v1/users", get(list_users).post(create_user))
            .route("/v2/users", post(create_user))
            .route("/v1/users/{user}", get(get_user))
            .route("/v1/users/{user}/doors/{door}", delete(revoke).patch(patch_access))
            .layer(axum::middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());
        let (addr, task) = super::buildium_fake::serve(addr, app).await;
        Self { addr, inner, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/v1/oauth/token", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Door) -> R) -> R {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn users(&self) -> Vec<User> {
        self.with(|d| d.users.clone())
    }

    pub fn user_by_email(&self, email: &str) -> Option<User> {
        self.users().into_iter().find(|u| u.email.as_deref() == Some(email))
    }

    /// Requests received so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|d| d.requests.iter().map(|r| format!("{} {}", r.method, r.path_and_query)).collect())
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.with(|d| d.requests.clone())
    }

    /// Writes (POST, PATCH, DELETE) received so far.
    pub fn writes(&self) -> Vec<String> {
        self.requests().into_iter().filter(|r| !r.starts_with("GET ")).filter(|r| !r.contains("/oauth/")).collect()
    }

    /// Invalidates every token handed out (the next API call gets a 401).
    pub fn expire_tokens(&self) {
        self.with(|d| d.tokens.clear());
    }

    /// Grants `door` to `user` as someone else (a property manager or another partner).
    pub fn grant_as(&self, user: &str, door: &str, granter_type: &str, granter: &str) {
        self.with(|d| {
            let u = d.users.iter_mut().find(|u| u.uuid == user).expect("user");
            u.accesses.push(Access {
                door: door.into(),
                start: "2025-01-01T00:00:00Z".into(),
                end: None,
                granter_type: granter_type.into(),
                granter: granter.into(),
                passcode_type: "PERMANENT".into(),
                role: "RESIDENT".into(),
                shareable: false,
            });
        });
    }
}

/// `v` sorted: what [`User::doors`] returns for those doors.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Every request: recorded (for the contract replay), then authenticated and rate-limited, except
/// the token endpoint.
async fn gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return error(StatusCode::BAD_REQUEST, "INVALID_BODY");
    };
    let token_call = parts.uri.path() == "/v1/oauth/token";
    state.lock().unwrap().requests.push(Recorded {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        body: (!bytes.is_empty() && !token_call).then(|| String::from_utf8_lossy(&bytes).into_owned()),
    });
    if !token_call && let Some(refusal) = admit(&state, &parts.headers) {
        return refusal;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Authenticates and applies the rate limit: the refusal, if any. DOOR's errors are
/// `{"message": ENUM}`.
fn admit(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut door = state.lock().unwrap();
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| door.tokens.iter().any(|k| k == t)) {
        return Some(error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    }
    if door.rate_limited > 0 {
        door.rate_limited -= 1;
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "INTERNAL_SERVER_ERROR");
        response.headers_mut().insert("retry-after", "1".parse().unwrap());
        return Some(response);
    }
    None
}

async fn token(State(state): State<Shared>, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials"
        || field("client_id") != CLIENT_ID
        || field("client_secret") != CLIENT_SECRET
        || field("audience") != AUDIENCE
        || body.len() != 4
    {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let mut door = state.lock().unwrap();
    door.tokens_issued += 1;
    let token = format!("eyJ.fake-{}-{}", door.tokens_issued, fastrand::u32(..));
    door.tokens.push(token.clone());
    let mut body = json!({"access_token": token, "token_type": "Bearer"});
    if door.reading.token_expires_in {
        body["expires_in"] = json!(86400);
    }
    axum::Json(body).into_response()
}

/// `pageSize` and `pageToken` (an offset here); the fake's own cap keeps pages small.
fn paged(state: &Shared, query: &Option<String>, key: &str, items: Vec<Value>) -> Response {
    let params = parse_query(query);
    let max = state.lock().unwrap().max_page;
    let size = params.get("pageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(100).clamp(1, max);
    let offset = match params.get("pageToken") {
        Some(t) => match t.parse::<usize>() {
            Ok(o) => o,
            Err(_) => return error(StatusCode::BAD_REQUEST, "INVALID_PAGE_TOKEN"),
        },
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut body = Map::new();
    body.insert(key.into(), Value::Array(page));
    if offset + size < total {
        body.insert("nextPageToken".into(), json!((offset + size).to_string()));
    }
    axum::Json(Value::Object(body)).into_response()
}

fn parse_query(query: &Option<String>) -> BTreeMap<String, String> {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

async fn buildings() -> Response {
    // `Building` requires `address`, and `Address` every one of its fields (the spec's schemas;
    // the contract test validates these answers through Prism).
    let address = |line1: &str, city: &str, state: &str, zip: &str| {
        json!({"addressLine1": line1, "addressLine2": "", "addressLine3": "", "city": city, "state": state,
               "postalCode": zip, "country": "US"})
    };
    axum::Json(json!({"buildings": [
        {"uuid": "8a7c0000-0000-4000-8000-0000000000b2", "name": "Elsewhere", "timezone": "UTC",
         "address": address("2 Elsewhere Rd", "Albany", "NY", "12207")},
        {"uuid": BUILDING, "name": "Harbor View", "timezone": TIMEZONE,
         "address": address("1 Harbor Way", "Boston", "MA", "02110"),
         "portfolio": {"uuid": "70000000-0000-4000-8000-000000000001", "name": "Acme"}},
    ]}))
    .into_response()
}

async fn list_doors(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let params = parse_query(&q);
    let doors: Vec<Value> = state
        .lock()
        .unwrap()
        .doors
        .iter()
        .filter(|_| params.get("buildingUuid").is_none_or(|b| b == BUILDING))
        .map(|(uuid, name, kind)| {
            json!({"uuid": uuid, "name": name, "type": "DOOR", "buildingUuid": BUILDING,
                   "accessibilityType": kind, "isConnected": true, "sdkDoorUuid": uuid})
        })
        .collect();
    paged(&state, &q, "doors", doors)
}

async fn list_keys(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let keys: Vec<Value> = state
        .lock()
        .unwrap()
        .keys
        .iter()
        .map(|k| json!({"uuid": k, "name": format!("key {k}"), "buildingUuid": BUILDING, "keyType": "REGULAR", "doorsType": "DOOR"}))
        .collect();
    paged(&state, &q, "keys", keys)
}

fn access_json(user: &str, a: &Access, reading: &SpecReading) -> Value {
    json!({
        "userUuid": user, "doorUuid": a.door, "sdkDoorUuid": a.door, "startTime": a.start, "endTime": end_time(a, reading),
        "passcodeType": a.passcode_type, "role": a.role, "shareable": a.shareable,
        "granter": {"type": a.granter_type, "uuid": a.granter},
    })
}

/// An access's `endTime` as this reading of the spec reports it.
fn end_time(a: &Access, reading: &SpecReading) -> Value {
    match (&a.end, reading.open_end) {
        (Some(end), _) => json!(end),
        (None, Some(sentinel)) => json!(sentinel),
        (None, None) => Value::Null,
    }
}

fn user_json(u: &User, reading: &SpecReading) -> Value {
    let mut v = json!({
        "userUuid": u.uuid, "firstName": u.first_name, "lastName": u.last_name,
        "email": u.email.clone().unwrap_or_default(),
        "accesses": u.accesses.iter().map(|a| access_json(&u.uuid, a, reading)).collect::<Vec<_>>(),
    });
    if let Some(phone) = &u.phone {
        v["phone"] = json!(phone);
    }
    v
}

async fn key_accesses(State(state): State<Shared>, Path(key): Path<String>) -> Response {
    let door = state.lock().unwrap();
    if !door.keys.contains(&key) {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let accesses: Vec<Value> = door
        .users
        .iter()
        .flat_map(|u| u.accesses.iter().filter(|a| a.door == key).map(move |a| (u, a)))
        .map(|(u, a)| {
            json!({"userUuid": u.uuid, "keyUuid": key, "role": a.role, "passcodeType": a.passcode_type,
                   "shareable": a.shareable, "startTime": a.start, "endTime": end_time(a, &door.reading),
                   "granter": {"type": a.granter_type, "uuid": a.granter}, "doors": []})
        })
        .collect();
    axum::Json(json!({ "accesses": accesses })).into_response()
}

async fn list_users(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let users: Vec<Value> = {
        let door = state.lock().unwrap();
        door.users.iter().map(|u| user_json(u, &door.reading)).collect()
    };
    paged(&state, &q, "users", users)
}

async fn get_user(State(state): State<Shared>, Path(user): Path<String>) -> Response {
    let door = state.lock().unwrap();
    match door.users.iter().find(|u| u.uuid == user) {
        Some(u) => axum::Json(user_json(u, &door.reading)).into_response(),
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND"),
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn is_date_time(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok()
}

/// `PostUserRequest`, checked as the spec describes it, plus the API's documented rules.
fn check_post_user(body: &Map<String, Value>) -> Result<(), &'static str> {
    const KNOWN: [&str; 12] = [
        "doorUuids",
        "keyUuids",
        "email",
        "endTime",
        "firstName",
        "lastName",
        "passcodeType",
        "phone",
        "role",
        "shareable",
        "shouldNotify",
        "startTime",
    ];
    if body.keys().any(|k| !KNOWN.contains(&k.as_str())) {
        return Err("UNKNOWN_FIELD");
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    for k in ["firstName", "lastName"] {
        if text(k).is_none_or(str::is_empty) {
            return Err("MISSING_NAME");
        }
    }
    if !matches!(text("passcodeType"), Some("DAILY" | "DAILY_SINGLE_USE" | "PERMANENT")) {
        return Err("INVALID_PASSCODE_TYPE");
    }
    if !body.get("shareable").is_some_and(Value::is_boolean) {
        return Err("SHAREABLE_REQUIRED");
    }
    if body.get("shouldNotify").is_some_and(|v| !v.is_boolean()) {
        return Err("INVALID_SHOULD_NOTIFY");
    }
    let start = text("startTime").filter(|s| is_date_time(s)).ok_or("INVALID_START_TIME")?;
    if let Some(end) = body.get("endTime") {
        let end = end.as_str().filter(|s| is_date_time(s)).ok_or("INVALID_END_TIME")?;
        if end.parse::<jiff::Timestamp>().unwrap() <= start.parse::<jiff::Timestamp>().unwrap() {
            return Err("INVALID_END_TIME");
        }
    }
    if let Some(role) = body.get("role")
        && !matches!(role.as_str(), Some("GUEST" | "NON_RESIDENT" | "RESIDENT" | "TOURER"))
    {
        return Err("INVALID_ROLE");
    }
    for k in ["doorUuids", "keyUuids"] {
        if let Some(v) = body.get(k)
            && !v.as_array().is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(is_uuid)))
        {
            return Err("INVALID_UUID");
        }
    }
    match (text("email"), text("phone")) {
        (Some(_), Some(_)) => return Err("EMAIL_AND_PHONE_PROVIDED"),
        (None, None) => return Err("EMAIL_OR_PHONE_REQUIRED"),
        (Some(""), _) => return Err("EMAIL_CAN_NOT_BE_EMPTY"),
        (None, Some(_)) if text("passcodeType") == Some("PERMANENT") => return Err("EMAIL_REQUIRED_FOR_PERMANENT"),
        _ => {}
    }
    Ok(())
}

async fn create_user(State(state): State<Shared>, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_BODY");
    };
    if let Err(message) = check_post_user(&body) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let targets: Vec<String> = ["doorUuids", "keyUuids"]
        .iter()
        .flat_map(|k| body.get(*k).and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let (fault, result) = {
        let mut door = state.lock().unwrap();
        let known = |t: &String| door.keys.contains(t) || door.doors.iter().any(|(d, _, _)| d == t);
        if !targets.iter().all(known) {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        let email = text("email");
        let phone = text("phone");
        let existing = door.users.iter().position(|u| match (&email, &phone) {
            (Some(e), _) => u.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)),
            (None, Some(p)) => u.phone.as_deref() == Some(p.as_str()),
            _ => false,
        });
        let index = match existing {
            Some(i) if !door.reading.post_creates_second_user => i,
            _ => {
                let uuid = format!("a0000000-0000-4000-8000-{:012x}", door.next_id);
                door.next_id += 1;
                door.users.push(User {
                    uuid,
                    first_name: text("firstName").unwrap(),
                    last_name: text("lastName").unwrap(),
                    email,
                    phone,
                    accesses: Vec::new(),
                });
                door.users.len() - 1
            }
        };
        let user = &mut door.users[index];
        for target in targets {
            user.accesses.retain(|a| !(a.door == target && a.granter == PARTNER));
            user.accesses.push(Access {
                door: target,
                start: text("startTime").unwrap(),
                end: text("endTime"),
                granter_type: "PARTNER".into(),
                granter: PARTNER.into(),
                passcode_type: text("passcodeType").unwrap(),
                role: text("role").unwrap_or_else(|| "RESIDENT".into()),
                shareable: body["shareable"].as_bool().unwrap(),
            });
        }
        let reading = door.reading.clone();
        let result = user_json(&door.users[index], &reading);
        let result = if reading.post_answers_empty_201 { None } else { Some(result) };
        (door.create_fault.take(), result)
    };
    match fault {
        Some(CreateFault::CommitThenFail) => error(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR"),
        Some(CreateFault::CommitThenHang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            error(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR")
        }
        None => match result {
            Some(result) => axum::Json(result).into_response(),
            None => StatusCode::CREATED.into_response(),
        },
    }
}

async fn patch_access(
    State(state): State<Shared>,
    Path((user, target)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_BODY");
    };
    if body.keys().any(|k| !["endTime", "role", "shareable"].contains(&k.as_str())) {
        return error(StatusCode::BAD_REQUEST, "UNKNOWN_FIELD");
    }
    let end = body.get("endTime").map(|v| v.as_str().filter(|s| is_date_time(s)).map(str::to_string));
    if end == Some(None) {
        return error(StatusCode::BAD_REQUEST, "INVALID_END_TIME");
    }
    let mut door = state.lock().unwrap();
    let Some(u) = door.users.iter_mut().find(|u| u.uuid == user) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    let Some(access) = u.accesses.iter_mut().find(|a| a.door == target && a.granter == PARTNER) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    if let Some(Some(end)) = end {
        access.end = Some(end);
    }
    let reading = door.reading.clone();
    let u = door.users.iter().find(|u| u.uuid == user).expect("found above");
    axum::Json(user_json(u, &reading)).into_response()
}

async fn revoke(State(state): State<Shared>, Path((user, target)): Path<(String, String)>) -> Response {
    let mut door = state.lock().unwrap();
    let Some(u) = door.users.iter_mut().find(|u| u.uuid == user) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    let before = u.accesses.len();
    // Revoking takes the user's access to that door, whoever granted it: a client that revokes
    // what it did not grant is caught by the tests.
    u.accesses.retain(|a| a.door != target);
    if u.accesses.len() == before {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    axum::Json(json!({})).into_response()
}
