//! A stateful Buildium Open API fake, built from the vendor's spec
//! (`../shared/vendor-specs/buildium-openapi.json`): `GET /v1/leases` (`LeaseMessage[]`) and
//! `GET /v1/leases/tenants` (`TenantMessage[]`) with `propertyids`, `offset`, `limit` (1–1000),
//! `X-Total-Count`, header authentication and `ApiErrorResponse` bodies. Faults (401, 429 with
//! `Retry-After`, 5xx, slowness) are injected per property; every request is counted.
//!
//! `lastupdatedfrom` filters both listings as the spec describes: "records that were updated on or
//! after the specified date", the value "in UTC and formatted as YYYY-MM-DDTHH:MM:SSZ" (anything
//! else is a 400). A record counts as updated when its own message changes: a lease when its
//! fields or its tenants' statuses on it change, a tenant when their own fields change (not when a
//! lease they are on does). The fake notices a change at the first request after it and stamps
//! the record then. `GET /v1/leases/tenants/{tenantId}` answers one `TenantMessage` or a 404.
//!
//! Shared by the end-to-end tests and the `pms-sync-sandbox` binary of the local demo.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The PMS's data: properties with leases with tenants.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub properties: Vec<Property>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub id: i64,
    #[serde(default)]
    pub leases: Vec<Lease>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub id: i64,
    pub unit: String,
    /// `Active`, `Past` or `Future`.
    pub status: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub eviction_pending: bool,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// Guarantors (`CosignerMessage`); their `status` is ignored.
    #[serde(default)]
    pub cosigners: Vec<Tenant>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: i64,
    /// `Current`, `Future` or `MovedOut`.
    pub status: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `(number, type)` with Buildium's types: `Cell`, `Home`, `Office`, …
    #[serde(default)]
    pub phones: Vec<(String, String)>,
    #[serde(default)]
    pub move_in: Option<String>,
    #[serde(default)]
    pub move_out: Option<String>,
    #[serde(default)]
    pub notice_given: Option<String>,
}

impl Dataset {
    pub fn tenant_mut(&mut self, tenant_id: i64) -> impl Iterator<Item = &mut Tenant> {
        self.properties
            .iter_mut()
            .flat_map(|p| p.leases.iter_mut())
            .flat_map(|l| l.tenants.iter_mut())
            .filter(move |t| t.id == tenant_id)
    }

    pub fn lease_mut(&mut self, lease_id: i64) -> Option<&mut Lease> {
        self.properties.iter_mut().flat_map(|p| p.leases.iter_mut()).find(|l| l.id == lease_id)
    }
}

/// A fault injected for every request that asks for a given property.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 401 with an `ApiErrorResponse`.
    Unauthorized,
    /// 503, every time.
    ServerError,
    /// 429 with `Retry-After: seconds`, for the next `times` requests.
    RateLimited { times: u32, retry_after: u64 },
    /// Answers after this delay.
    Slow(Duration),
    /// The vendor's own application error (an error body, a SOAP fault, a license refusal).
    VendorError,
    /// HTTP 200 with a page that is not the API's (a proxy's HTML maintenance page).
    Malformed,
}

/// What a test controls in any of the fakes: the data, injected faults, a page cap, and the log
/// of requests received.
pub struct Controls {
    pub data: Dataset,
    pub faults: HashMap<i64, Fault>,
    /// Server-side cap on page size, so small datasets still page.
    pub max_page: usize,
    pub requests: Vec<String>,
}

impl Controls {
    pub fn new(data: Dataset) -> Self {
        Self { data, faults: HashMap::new(), max_page: 1000, requests: Vec::new() }
    }

    /// The fault of the first of `properties` that has one; a rate limit counts down and clears.
    pub fn take_fault(&mut self, properties: &[i64]) -> Option<Fault> {
        let (id, fault) = properties.iter().find_map(|id| self.faults.get(id).cloned().map(|f| (*id, f)))?;
        if let Fault::RateLimited { times, retry_after } = fault {
            if times <= 1 {
                self.faults.remove(&id);
            } else {
                self.faults.insert(id, Fault::RateLimited { times: times - 1, retry_after });
            }
        }
        Some(fault)
    }
}

/// The test-facing handle every fake offers.
pub trait ControlledFake {
    fn with_controls<R>(&self, f: impl FnOnce(&mut Controls) -> R) -> R;

    fn update(&self, change: impl FnOnce(&mut Dataset)) {
        self.with_controls(|c| change(&mut c.data));
    }

    fn set_fault(&self, property_id: i64, fault: Option<Fault>) {
        self.with_controls(|c| match fault {
            Some(f) => {
                c.faults.insert(property_id, f);
            }
            None => {
                c.faults.remove(&property_id);
            }
        });
    }

    fn set_max_page(&self, max: usize) {
        self.with_controls(|c| c.max_page = max);
    }

    /// Requests received so far.
    fn requests(&self) -> Vec<String> {
        self.with_controls(|c| c.requests.clone())
    }
}

struct Inner {
    controls: Controls,
    client_id: String,
    client_secret: String,
    /// When set, the dataset is reloaded from this file whenever it changes (sandbox).
    source: Option<(PathBuf, Option<SystemTime>)>,
    /// When each lease and tenant message last changed, with a hash of the message then.
    stamps: Stamps,
    /// The account's request budget, if one is enforced (`set_budget`), and the requests in its
    /// window.
    budget: Option<(usize, Duration, std::collections::VecDeque<std::time::Instant>)>,
    /// Whether the data may have changed since the stamps were last refreshed (set by every
    /// test's access and every reload): a large dataset is not re-hashed at every request.
    dirty: bool,
}

/// `LastUpdatedDateTime`, kept by the fake: record ID → (hash of its message, when it changed).
#[derive(Default)]
struct Stamps {
    leases: HashMap<i64, (u64, jiff::Timestamp)>,
    tenants: HashMap<i64, (u64, jiff::Timestamp)>,
}

impl Stamps {
    /// Stamps every record whose message differs from the one last seen.
    fn refresh(&mut self, data: &Dataset) {
        let now = jiff::Timestamp::now();
        let mark = |map: &mut HashMap<i64, (u64, jiff::Timestamp)>, id: i64, message: &Value| {
            let hash = hash_of(message);
            match map.get(&id) {
                Some((seen, _)) if *seen == hash => {}
                _ => {
                    map.insert(id, (hash, now));
                }
            }
        };
        for (p, l) in selected(data, &[]) {
            mark(&mut self.leases, l.id, &lease_message(p, l, false));
            for t in &l.tenants {
                mark(&mut self.tenants, t.id, &tenant_message(t, vec![]));
            }
        }
    }
}

/// Whether record `id` of `stamps` was updated on or after `since` (no filter: every record).
fn updated_since(stamps: &HashMap<i64, (u64, jiff::Timestamp)>, id: i64, since: Option<jiff::Timestamp>) -> bool {
    since.is_none_or(|since| stamps.get(&id).is_some_and(|(_, at)| *at >= since))
}

fn hash_of(message: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.to_string().hash(&mut hasher);
    hasher.finish()
}

/// A running fake. Dropping it stops the server.
pub struct BuildiumFake {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    traffic: Arc<crate::traffic::Traffic>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BuildiumFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BuildiumFake {
    pub async fn start(data: Dataset, client_id: &str, client_secret: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), data, client_id, client_secret, None).await
    }

    /// Starts on `addr`; with `source`, the dataset follows that YAML file.
    pub async fn start_on(
        addr: SocketAddr,
        data: Dataset,
        client_id: &str,
        client_secret: &str,
        source: Option<PathBuf>,
    ) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            controls: Controls::new(data),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            source: source.map(|p| (p, None)),
            stamps: Stamps::default(),
            dirty: true,
            budget: None,
        }));
        let app = Router::new()
            .route("/v1/leases", get(leases))
            .route("/v1/leases/tenants", get(tenants))
            .route("/v1/leases/tenants/{tenant_id}", get(tenant))
            .with_state(inner.clone());
        let traffic = Arc::new(crate::traffic::Traffic::default());
        let (addr, task) = serve(addr, crate::traffic::counted(app, traffic.clone())).await;
        Self { addr, inner, traffic, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Enforces a request budget on the account: past `calls` requests in any `per`, a 429 with
    /// `Retry-After: 1`. Buildium publishes no limit; integrators throttle to 10 requests a second
    /// and expect a 429 beyond (docs/pms-apis.md): an inference, used by the load bed to show that
    /// integrations sharing an account stay inside its budget together.
    pub fn set_budget(&self, calls: usize, per: Duration) {
        self.inner.lock().unwrap().budget = Some((calls, per, Default::default()));
    }

    /// Requests received, peak in flight and 429s, counted here.
    pub fn traffic(&self) -> &Arc<crate::traffic::Traffic> {
        &self.traffic
    }
}

/// Serves `app` on `addr` (port 0: any free port) until the task is aborted.
pub async fn serve(addr: SocketAddr, app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind a fake");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

impl ControlledFake for BuildiumFake {
    fn with_controls<R>(&self, f: impl FnOnce(&mut Controls) -> R) -> R {
        let mut inner = self.inner.lock().unwrap();
        inner.dirty = true;
        f(&mut inner.controls)
    }
}

type Shared = Arc<Mutex<Inner>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"UserMessage": message, "ErrorCode": code, "Errors": []}))).into_response()
}

/// What a listing request asked for.
struct Asked {
    property_ids: Vec<i64>,
    offset: usize,
    /// The page size served: the request's `limit`, capped by the test's `max_page`.
    size: usize,
    /// `lastupdatedfrom`.
    since: Option<jiff::Timestamp>,
}

/// Common request handling: log, reload, stamp changes, authenticate, parse paging and filters,
/// apply faults.
async fn admit(state: &Shared, path: &str, headers: &HeaderMap, query: Option<String>) -> Result<Asked, Response> {
    let query = query.unwrap_or_default();
    let (property_ids, offset, limit, since, fault, max_page) = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("{path}?{query}"));
        reload(&mut inner);
        let Inner { stamps, controls, dirty, .. } = &mut *inner;
        if std::mem::take(dirty) {
            stamps.refresh(&controls.data);
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        if header("x-buildium-client-id") != inner.client_id
            || header("x-buildium-client-secret") != inner.client_secret
        {
            return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized", "The API key couldn't be authorized."));
        }
        if let Some((calls, per, sent)) = &mut inner.budget {
            let now = std::time::Instant::now();
            while sent.front().is_some_and(|t| now.duration_since(*t) >= *per) {
                sent.pop_front();
            }
            if sent.len() >= *calls {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Rate limit exceeded.");
                response.headers_mut().insert("retry-after", "1".parse().unwrap());
                return Err(response);
            }
            sent.push_back(now);
        }
        let mut property_ids = Vec::new();
        let (mut offset, mut limit, mut since) = (0usize, 50usize, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || error(StatusCode::BAD_REQUEST, "InvalidParameter", "Invalid query parameter.");
            match key.to_ascii_lowercase().as_str() {
                "propertyids" => {
                    for v in value.split("%2C").flat_map(|v| v.split(',')) {
                        property_ids.push(v.parse().map_err(|_| bad())?);
                    }
                }
                "offset" => offset = value.parse().map_err(|_| bad())?,
                "lastupdatedfrom" => since = Some(utc_second(&value.replace("%3A", ":")).ok_or_else(bad)?),
                "limit" => limit = value.parse().map_err(|_| bad())?,
                _ => {}
            }
        }
        if !(1..=1000).contains(&limit) {
            return Err(error(StatusCode::BAD_REQUEST, "InvalidLimit", "limit must be between 1 and 1000."));
        }
        let fault = inner.controls.take_fault(&property_ids);
        let max_page = inner.controls.max_page;
        (property_ids, offset, limit, since, fault, max_page)
    };
    match fault {
        Some(Fault::Unauthorized) => {
            return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized", "The API key couldn't be authorized."));
        }
        Some(Fault::ServerError) => {
            return Err(error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "Try again later."));
        }
        Some(Fault::RateLimited { retry_after, .. }) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Rate limit exceeded.");
            response.headers_mut().insert("retry-after", retry_after.to_string().parse().unwrap());
            return Err(response);
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Malformed) => return Err(super::vendor_fakes::maintenance_page()),
        Some(Fault::VendorError) => {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidRequest",
                "The request data could not be used.",
            ));
        }
        None => {}
    }
    Ok(Asked { property_ids, offset, size: limit.min(max_page), since })
}

/// A time as the spec's filters take it: exactly `YYYY-MM-DDTHH:MM:SSZ`, UTC.
fn utc_second(value: &str) -> Option<jiff::Timestamp> {
    let b = value.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    shape.then(|| value.parse().ok()).flatten()
}

fn reload(inner: &mut Inner) {
    let Some((path, seen)) = &inner.source else {
        return;
    };
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified.is_some() && modified != *seen {
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_yaml::from_str::<Dataset>(&t).map_err(|e| e.to_string()))
        {
            Ok(data) => {
                eprintln!("[sandbox] reloaded {}", path.display());
                inner.controls.data = data;
                inner.dirty = true;
            }
            Err(e) => eprintln!("[sandbox] keeping the previous data: cannot read {}: {e}", path.display()),
        }
        let path = path.clone();
        inner.source = Some((path, modified));
    }
}

fn page(items: Vec<Value>, offset: usize, size: usize) -> Response {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut response = axum::Json(page).into_response();
    response.headers_mut().insert("x-total-count", total.to_string().parse().unwrap());
    response
}

fn selected<'a>(data: &'a Dataset, property_ids: &[i64]) -> impl Iterator<Item = (&'a Property, &'a Lease)> {
    data.properties
        .iter()
        .filter(move |p| property_ids.is_empty() || property_ids.contains(&p.id))
        .flat_map(|p| p.leases.iter().map(move |l| (p, l)))
}

fn phone_numbers(t: &Tenant) -> Value {
    t.phones.iter().map(|(number, kind)| json!({"Number": number, "Type": kind})).collect()
}

/// The spec types these fields as plain strings (not nullable): a value Buildium does not have is
/// left out rather than sent as `null` (the contract test validates these answers).
fn without_nulls(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.retain(|_, value| !value.is_null());
    }
    v
}

fn tenant_message(t: &Tenant, leases: Vec<Value>) -> Value {
    without_nulls(json!({
        "Id": t.id, "FirstName": t.first_name, "LastName": t.last_name, "Email": t.email,
        "PhoneNumbers": phone_numbers(t), "Leases": leases, "MailingPreference": "PrimaryAddress",
    }))
}

fn lease_message(p: &Property, l: &Lease, with_current_tenants: bool) -> Value {
    let current: Vec<Value> = if with_current_tenants {
        l.tenants.iter().filter(|t| t.status == "Current").map(|t| tenant_message(t, vec![])).collect()
    } else {
        vec![]
    };
    json!({
        "Id": l.id, "PropertyId": p.id, "UnitId": l.id * 10, "UnitNumber": l.unit,
        "LeaseFromDate": l.from, "LeaseToDate": l.to, "LeaseType": "Fixed", "LeaseStatus": l.status,
        "IsEvictionPending": l.eviction_pending, "TermType": "Standard",
        "CurrentTenants": current,
        "CurrentNumberOfOccupants": l.tenants.len(),
        "Cosigners": l.cosigners.iter().map(|c| json!({"Id": c.id, "FirstName": c.first_name, "LastName": c.last_name,
            "Email": c.email, "PhoneNumbers": phone_numbers(c)})).collect::<Vec<_>>(),
        "Tenants": l.tenants.iter().map(|t| json!({"Id": t.id, "Status": t.status, "MoveInDate": t.move_in})).collect::<Vec<_>>(),
        "MoveOutData": l.tenants.iter().filter(|t| t.move_out.is_some() || t.notice_given.is_some())
            .map(|t| json!({"TenantId": t.id, "MoveOutDate": t.move_out, "NoticeGivenDate": t.notice_given})).collect::<Vec<_>>(),
    })
}

async fn leases(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let asked = match admit(&state, "/v1/leases", &headers, query).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let inner = state.lock().unwrap();
    let mut items: Vec<(i64, Value)> = selected(&inner.controls.data, &asked.property_ids)
        .filter(|(_, l)| updated_since(&inner.stamps.leases, l.id, asked.since))
        .map(|(p, l)| (l.id, lease_message(p, l, true)))
        .collect();
    items.sort_by_key(|(id, _)| *id);
    page(items.into_iter().map(|(_, v)| v).collect(), asked.offset, asked.size)
}

/// Each tenant of `data`'s selected properties once, with every lease they are on.
fn tenants_of<'a>(data: &'a Dataset, property_ids: &[i64]) -> BTreeMap<i64, (&'a Tenant, Vec<Value>)> {
    let mut by_tenant: BTreeMap<i64, (&Tenant, Vec<Value>)> = BTreeMap::new();
    for (p, l) in selected(data, property_ids) {
        for t in &l.tenants {
            by_tenant.entry(t.id).or_insert_with(|| (t, Vec::new())).1.push(lease_message(p, l, false));
        }
    }
    by_tenant
}

async fn tenants(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let asked = match admit(&state, "/v1/leases/tenants", &headers, query).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let inner = state.lock().unwrap();
    let items = tenants_of(&inner.controls.data, &asked.property_ids)
        .into_iter()
        .filter(|(id, _)| updated_since(&inner.stamps.tenants, *id, asked.since))
        .map(|(_, (t, leases))| tenant_message(t, leases))
        .collect();
    page(items, asked.offset, asked.size)
}

async fn tenant(
    State(state): State<Shared>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = admit(&state, &format!("/v1/leases/tenants/{tenant_id}"), &headers, query).await {
        return response;
    }
    let Ok(tenant_id) = tenant_id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "InvalidParameter", "Invalid tenant id.");
    };
    let inner = state.lock().unwrap();
    match tenants_of(&inner.controls.data, &[]).remove(&tenant_id) {
        Some((t, leases)) => axum::Json(tenant_message(t, leases)).into_response(),
        None => error(StatusCode::NOT_FOUND, "NotFound", "The tenant was not found."),
    }
}
