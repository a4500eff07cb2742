//! Stateful fakes of Entrata, AppFolio, Yardi Voyager, RealPage OneSite, Rent Manager, ResMan
//! and MRI (the last three in `vendor_fakes/`). They serve the same
//! [`Dataset`] as the Buildium fake, in each vendor's vocabulary, with paging where the API pages,
//! errors in 200 bodies, SOAP faults, and injected faults (401, 429, 5xx, slowness).
//!
//! Built from the captured responses in `../shared/vendor-samples/` (issue 11), never from what
//! the connectors send or expect: answers reuse the captures' records as templates (Entrata's
//! r2 lease and customer, RealPage's resident) or their element and field names, nesting, types
//! and odd values (string and number IDs, `none@nowhere.com`, `0001-01-01`, `1970-01-01`,
//! labelled phones, "Last , First" names); requests are checked against what the evidence shows
//! (method version, arguments element, SOAPAction and parameter order, content type, auth), and
//! what a real server would refuse is refused. Where the evidence is silent (what Entrata answers
//! past the last page, AppFolio's `tenant_directory` columns, the email column's name) the choice
//! is named where it is made.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::buildium_fake::{ControlledFake, Controls, Dataset, Fault, Lease, Tenant};

mod mri;
mod rentmanager;
mod resman;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Entrata,
    Appfolio,
    Yardi,
    Realpage,
    Rentmanager,
    Resman,
    Mri,
}

impl Vendor {
    pub fn provider(self) -> &'static str {
        match self {
            Vendor::Entrata => "entrata",
            Vendor::Appfolio => "appfolio",
            Vendor::Yardi => "yardi",
            Vendor::Realpage => "realpage",
            Vendor::Rentmanager => "rentmanager",
            Vendor::Resman => "resman",
            Vendor::Mri => "mri",
        }
    }

    /// The Secret keys and values the fake accepts.
    pub fn credentials(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Vendor::Entrata => vec![("apiKey", "entrata-key-9Qd")],
            Vendor::Appfolio => vec![("clientId", "af-client"), ("clientSecret", "af-secret-77x")],
            Vendor::Yardi => vec![
                ("username", "yardi-user"),
                ("password", "yardi-pass-55k"),
                ("serverName", "afqoml_test"),
                ("database", "afqoml_test"),
                ("platform", "SQL Server"),
                ("interfaceEntity", "Door Sync"),
                ("interfaceLicense", "LICENSE-3Zt"),
            ],
            Vendor::Realpage => vec![("pmcId", "4248314"), ("licenseKey", "rp-license-8Hq")],
            Vendor::Rentmanager => vec![("username", "rm-user"), ("password", "rm-pass-4Lw"), ("locationId", "40177")],
            Vendor::Resman => {
                vec![("integrationPartnerId", "partner-31"), ("apiKey", "resman-key-6Tg"), ("accountId", "400")]
            }
            Vendor::Mri => vec![
                ("clientId", "C123"),
                ("databaseName", "GCDB"),
                ("username", "mri-user"),
                ("password", "mri-pass-2Pz"),
                ("partnerKey", "PK-77"),
            ],
        }
    }
}

struct Inner {
    controls: Controls,
    credentials: BTreeMap<String, String>,
    /// Each lease's household head for Yardi, fixed at start (a `t…` code does not move).
    heads: BTreeMap<i64, i64>,
    /// Rent Manager: logins so far, and the session tokens they issued.
    sessions: u32,
    tokens: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running vendor fake. Dropping it stops the server.
pub struct VendorFake {
    vendor: Vendor,
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VendorFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VendorFake {
    pub async fn start(vendor: Vendor, data: Dataset) -> Self {
        // The household head: the lease's first tenant who has not moved out.
        let heads = data
            .properties
            .iter()
            .flat_map(|p| &p.leases)
            .filter_map(|l| {
                let head = l.tenants.iter().find(|t| t.status != "MovedOut").or(l.tenants.first())?;
                Some((l.id, head.id))
            })
            .collect();
        let inner = Arc::new(Mutex::new(Inner {
            heads,
            controls: Controls::new(data),
            credentials: vendor.credentials().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            sessions: 0,
            tokens: Vec::new(),
        }));
        let app = Router::new()
            .route("/leases", post(entrata))
            .route("/api/v2/reports/tenant_directory.json", post(appfolio))
            .route("/WebServices/ItfResidentTransactions20.asmx", post(yardi))
            .route("/rpx", post(realpage))
            .route("/Authentication/AuthorizeUser", post(rentmanager::authorize))
            .route("/Tenants", axum::routing::get(rentmanager::tenants))
            .route("/MITS/GetResidentTransactions2_0", post(resman::transactions))
            .route("/mriapiservices/api.asp", axum::routing::get(mri::api))
            .with_state(inner.clone());
        let (addr, task) = super::buildium_fake::serve("127.0.0.1:0".parse().unwrap(), app).await;
        Self { vendor, addr, inner, task }
    }

    /// What to put in `spec.pms.baseUrl`.
    pub fn url(&self) -> String {
        match self.vendor {
            Vendor::Realpage => format!("http://{}/rpx", self.addr),
            Vendor::Yardi => format!("http://{}/WebServices", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }

    /// The vendor's ID of the dataset's tenant `id` (Yardi: a `t…` code for a household's lease
    /// holder, `r…` for a roommate; the others use the number).
    pub fn person_id(&self, id: i64) -> String {
        match self.vendor {
            Vendor::Yardi => yardi_code(&self.inner.lock().unwrap(), id),
            Vendor::Resman => resman::guid(2, id),
            Vendor::Mri => format!("{id:010}"),
            _ => id.to_string(),
        }
    }
}

impl ControlledFake for VendorFake {
    fn with_controls<R>(&self, f: impl FnOnce(&mut Controls) -> R) -> R {
        f(&mut self.inner.lock().unwrap().controls)
    }
}

/// The answer to a property's injected fault, consuming a rate-limit count: the vendor's own
/// refusal of the credentials, its own error, or a transport fault every vendor answers the same
/// way. `None` (after the delay of a slow fault): answer normally.
async fn injected_fault(
    state: &Shared,
    property: i64,
    unauthorized: impl FnOnce() -> Response,
    vendor_error: impl FnOnce() -> Response,
) -> Option<Response> {
    let fault = state.lock().unwrap().controls.take_fault(&[property]);
    match fault? {
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Fault::Unauthorized => Some(unauthorized()),
        Fault::VendorError => Some(vendor_error()),
        other => transport_fault(&other),
    }
}

/// What a proxy in front of any vendor may answer: 200, and HTML instead of the API's body.
pub(crate) fn maintenance_page() -> Response {
    let page = "<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>";
    (StatusCode::OK, [("content-type", "text/html")], page).into_response()
}

/// Transport-level faults every vendor answers the same way.
fn transport_fault(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::Malformed => Some(maintenance_page()),
        Fault::ServerError => Some((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()),
        Fault::RateLimited { retry_after, .. } => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded").into_response();
            r.headers_mut().insert("retry-after", retry_after.to_string().parse().unwrap());
            Some(r)
        }
        _ => None,
    }
}

/// A captured sample, read at fake start (`../shared/vendor-samples/<name>`).
fn sample(name: &str) -> Value {
    let path = format!("{}/../../shared/vendor-samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn us_date(iso: &Option<String>) -> Option<String> {
    let iso = iso.as_deref()?;
    let (y, rest) = iso.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    Some(format!("{m}/{d}/{y}"))
}

fn leases_of(data: &Dataset, property: i64) -> Vec<Lease> {
    data.properties.iter().filter(|p| p.id == property).flat_map(|p| p.leases.clone()).collect()
}

/// A tenant's status in the vendor's words; any other status passes through as written.
fn person_status(t: &Tenant, current: &str, future: &str, past: &str) -> String {
    match t.status.as_str() {
        "Current" => current,
        "Future" => future,
        "MovedOut" => past,
        other => other,
    }
    .to_string()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

// ---- Entrata: getLeases r2, errors in 200 bodies, page_no/per_page ----
// Shape: `entrata/getLeases-r2-response-property739084-93-leases.json` (its first lease and
// customers are the templates); request: `entrata/request-examples-and-notes.txt`.

fn entrata_error(code: u32, message: &str) -> Response {
    axum::Json(json!({"response": {"requestId": "15", "error": {"code": code, "message": message}}})).into_response()
}

/// The captured r2 response's first lease, with its Primary and a Guarantor customer (read once).
fn entrata_templates() -> &'static (Value, Value, Value) {
    static TEMPLATES: std::sync::OnceLock<(Value, Value, Value)> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(read_entrata_templates)
}

fn read_entrata_templates() -> (Value, Value, Value) {
    let capture = sample("entrata/getLeases-r2-response-property739084-93-leases.json");
    let leases = &capture["response"]["result"]["leases"]["lease"];
    let lease = leases[0].clone();
    let primary = lease["customers"]["customer"][0].clone();
    let guarantor = leases
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["customers"]["customer"].as_array().unwrap())
        .find(|c| c["customerType"] == "Guarantor")
        .expect("a captured guarantor")
        .clone();
    (lease, primary, guarantor)
}

async fn entrata(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return entrata_error(400, "Invalid JSON request."),
    };
    let property: i64 = request["method"]["params"]["propertyId"].as_str().and_then(|p| p.parse().ok()).unwrap_or(-1);
    let query = query.unwrap_or_default();
    let (ok, max_page) = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/leases?{query} property={property}"));
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        (Some(key) == inner.credentials.get("apiKey").map(String::as_str), inner.controls.max_page)
    };
    if !ok || request["auth"]["type"] != "apikey" {
        return entrata_error(113, "Username and/or password is incorrect.");
    }
    if request["method"]["name"] != "getLeases" {
        return entrata_error(301, "Method not found.");
    }
    // The captured shape is r2's; r1 answers another shape (flat leases, no customers).
    if request["method"]["version"] != "r2" {
        return entrata_error(302, "Invalid method version.");
    }
    if !request["method"]["params"]["propertyId"].is_string() {
        return entrata_error(303, "propertyId is required.");
    }
    if let Some(answer) = injected_fault(
        &state,
        property,
        || entrata_error(113, "Username and/or password is incorrect."),
        || entrata_error(500, "Internal error while processing the request"),
    )
    .await
    {
        return answer;
    }
    let param =
        |name: &str| between(&format!("&{query}&"), &format!("&{name}="), "&").and_then(|v| v.parse::<usize>().ok());
    let page_no = param("page_no").unwrap_or(1).max(1);
    let per_page = param("per_page").unwrap_or(usize::MAX).min(max_page);
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let templates = entrata_templates();
    let page: Vec<Value> = leases
        .iter()
        .skip((page_no - 1) * per_page)
        .take(per_page)
        .map(|l| entrata_lease(property, l, templates))
        .collect();
    // Past the last page: what r2 answers is not captured; this fake says so as an error
    // (the connector accepts that, an empty list, or a result without leases).
    if page.is_empty() && page_no > 1 {
        return entrata_error(301, "No leases found.");
    }
    axum::Json(json!({"response": {"requestId": "15", "code": 200,
        "result": {"leases": {"lease": page}}}}))
    .into_response()
}

fn entrata_lease(property: i64, l: &Lease, (lease, primary, guarantor): &(Value, Value, Value)) -> Value {
    let (type_id, interval) = match l.status.as_str() {
        "Active" => ("4", "Current"),
        "Future" => ("3", "Future"),
        _ => ("6", "Past"),
    };
    let customer = |template: &Value, t: &Tenant, kind: &str, relationship: &str, status: String| {
        let mut c = template.clone();
        c["id"] = json!(t.id); // an int, as captured (the lease ID is a string)
        c["customerType"] = json!(kind);
        c["relationshipName"] = json!(relationship);
        c["firstName"] = json!(t.first_name);
        c["lastName"] = json!(t.last_name);
        c["nameFull"] = json!(format!("{}, {}", t.last_name, t.first_name));
        c["leaseCustomerStatus"] = json!(status);
        c["moveInDate"] = json!(us_date(&t.move_in));
        let object = c.as_object_mut().unwrap();
        object.remove("middleName");
        // Absent, not null, when there is none (117 captured customers have no emailAddress, 90
        // no phones).
        match &t.email {
            Some(email) => drop(object.insert("emailAddress".into(), json!(email))),
            None => drop(object.remove("emailAddress")),
        }
        match t.phones.first() {
            Some((number, _)) => drop(object.insert(
                "phones".into(),
                json!({"phone": [{"phoneTypeName": "Primary", "phoneType": "mobile", "phoneNumber": number, "countryCode": 1}]}),
            )),
            None => drop(object.remove("phones")),
        }
        c
    };
    let mut customers: Vec<Value> = l
        .tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (kind, relationship) = if i == 0 { ("Primary", "Primary") } else { ("Co-Applicant", "Roommate") };
            customer(primary, t, kind, relationship, person_status(t, "Current", "Future", "Past"))
        })
        .collect();
    customers
        .extend(l.cosigners.iter().map(|c| customer(guarantor, c, "Guarantor", "Guarantor", interval.to_string())));
    let mut out = lease.clone();
    out["id"] = json!(l.id.to_string());
    out["propertyId"] = json!(property.to_string());
    out["leaseStatusTypeId"] = json!(type_id);
    out["leaseIntervalStatus"] = json!(interval);
    out["moveInDate"] = json!(us_date(&l.from));
    out["unitId"] = json!((l.id * 10).to_string());
    out["unitSpaces"] = json!({"unitSpace": [{"unitSpaceId": l.id * 11, "unitSpace": l.unit}]});
    out["customers"] = json!({"customer": customers});
    let mut interval_record = lease["leaseIntervals"]["leaseInterval"][0].clone();
    interval_record["id"] = json!(l.id * 7);
    interval_record["startDate"] = json!(us_date(&l.from));
    interval_record["endDate"] = json!(us_date(&l.to));
    interval_record["leaseIntervalStatusTypeName"] = json!(interval);
    out["leaseIntervals"] = json!({"leaseInterval": [interval_record]});
    out
}

// ---- AppFolio: Reports API v2, Basic auth, JSON bodies, next_page_url ----
// Shape: `appfolio/reports-v2-single-result-rows-by-report.json`. No tenant_directory row was
// captured: the rows carry the columns the captured reports share (`tenant_id`, `tenant_name`
// "Last, First", labelled `phone_numbers`, `occupancy_id`, `unit`, `status`, ISO dates,
// `property_id` as a number in some reports and a string in others, `move_in` 1970-01-01 when
// unknown). The email column is `email_address` (the guest-card reports'); no capture says more.

fn appfolio_refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

async fn appfolio(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let query = query.unwrap_or_default();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let (authorized, max_page) = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/api/v2/reports/tenant_directory.json?{query}"));
        let expected = format!("{}:{}", inner.credentials["clientId"], inner.credentials["clientSecret"]);
        (basic_auth(&headers).as_deref() == Some(expected.as_str()), inner.controls.max_page)
    };
    if !authorized {
        return appfolio_refusal(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    // Every POST, page links included, carries a JSON body (`{}` for a page link).
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let Ok(Value::Object(filters)) = serde_json::from_slice::<Value>(&body) else {
        return appfolio_refusal(StatusCode::NOT_ACCEPTABLE, "Not Acceptable");
    };
    if !json_body {
        return appfolio_refusal(StatusCode::NOT_ACCEPTABLE, "Not Acceptable");
    }
    // The first request names the property in its filters; page links carry it in the query.
    let page_link = between(&format!("&{query}&"), "&page=", "&").and_then(|v| v.parse().ok());
    let (property, page) = match page_link {
        Some(page) => {
            let p = between(&format!("&{query}&"), "&property=", "&").and_then(|v| v.parse().ok()).unwrap_or(-1);
            (p, page)
        }
        None => {
            let p =
                filters.get("properties").and_then(|p| p["properties_ids"][0].as_str()).and_then(|v| v.parse().ok());
            (p.unwrap_or(-1), 1usize)
        }
    };
    if let Some(answer) = injected_fault(
        &state,
        property,
        || appfolio_refusal(StatusCode::UNAUTHORIZED, "Unauthorized"),
        || appfolio_refusal(StatusCode::UNPROCESSABLE_ENTITY, "Invalid filters"),
    )
    .await
    {
        return answer;
    }
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let rows: Vec<Value> = leases
        .iter()
        .flat_map(|l| l.tenants.iter().map(move |t| (l, t)))
        .enumerate()
        .map(|(i, (l, t))| {
            // Both captured spellings of a name, and of a property ID.
            let separator = if i % 2 == 0 { ", " } else { " , " };
            let property_id = if i % 2 == 0 { json!(property) } else { json!(property.to_string()) };
            let phones: Vec<String> = t
                .phones
                .iter()
                .map(|(n, kind)| format!("{}: {n}", if kind == "Cell" { "Mobile" } else { "Phone" }))
                .collect();
            json!({"property_id": property_id, "occupancy_id": l.id, "unit_id": l.id * 10, "unit": l.unit,
                "tenant_id": t.id, "tenant_name": format!("{}{separator}{}", t.last_name, t.first_name),
                "email_address": t.email, "phone_numbers": (!phones.is_empty()).then(|| phones.join(", ")),
                "status": person_status(t, "Current", "Future", "Past"),
                "move_in": t.move_in.clone().unwrap_or_else(|| "1970-01-01".into()), "move_out": t.move_out,
                "lease_from": l.from, "lease_to": l.to, "tenant_tags": null})
        })
        .collect();
    let start = (page - 1) * max_page;
    let next = (start + max_page < rows.len())
        .then(|| format!("http://{host}/api/v2/reports/tenant_directory.json?page={}&property={property}", page + 1));
    let results: Vec<Value> = rows.into_iter().skip(start).take(max_page).collect();
    axum::Json(json!({"results": results, "next_page_url": next})).into_response()
}

/// The `user:password` of a Basic `Authorization` header.
fn basic_auth(headers: &HeaderMap) -> Option<String> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok())?.strip_prefix("Basic ")?;
    base64_decode(given)
}

fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn soap(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

fn soap_fault(message: &str) -> Response {
    let body = soap(&format!(
        "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{}</faultstring></soap:Fault>",
        xml(message)
    ));
    (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

fn soap_ok(body: String) -> Response {
    (StatusCode::OK, [("content-type", "text/xml; charset=utf-8")], soap(&body)).into_response()
}

fn is_xml_post(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/xml"))
}

// ---- Yardi Voyager: ItfResidentTransactions20 GetResidentTransactions_Login ----
// Shape: `yardi/ItfResidentTransactions20-GetResidentTransactions_Login-result-48-customers.xml`
// (households, `Customer@Type`, t/r codes, Address/Email, Phone@Type, `0001-01-01`); request:
// `yardi/request-examples-and-notes.txt` (WSDL parameter order, SOAPAction, errors in 200).

const YARDI_ACTION: &str =
    "\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentTransactions20/GetResidentTransactions_Login\"";
const YARDI_PARAMETERS: [&str; 8] = [
    "UserName",
    "Password",
    "ServerName",
    "Database",
    "Platform",
    "YardiPropertyId",
    "InterfaceEntity",
    "InterfaceLicense",
];

/// `t…` for the household's lease holder, `r…` for a roommate (the capture's codes).
fn yardi_code(inner: &Inner, id: i64) -> String {
    if inner.heads.values().any(|h| *h == id) { format!("t{id:07}") } else { format!("r{id:07}") }
}

fn yardi_result(inner: &str) -> String {
    format!(
        "<GetResidentTransactions_LoginResponse xmlns=\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentTransactions20\">\
         <GetResidentTransactions_LoginResult>{inner}</GetResidentTransactions_LoginResult></GetResidentTransactions_LoginResponse>"
    )
}

async fn yardi(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).to_string();
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let field = |name: &str| between(&body, &format!("<{name}>"), &format!("</{name}>")).unwrap_or("").to_string();
    let property: i64 = field("YardiPropertyId").parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/ItfResidentTransactions20.asmx {action} property={property}"));
        [
            ("UserName", "username"),
            ("Password", "password"),
            ("ServerName", "serverName"),
            ("Database", "database"),
            ("Platform", "platform"),
            ("InterfaceEntity", "interfaceEntity"),
            ("InterfaceLicense", "interfaceLicense"),
        ]
        .iter()
        .all(|(element, key)| field(element) == xml(&inner.credentials[*key]))
    };
    if action != YARDI_ACTION || !is_xml_post(&headers) {
        return soap_fault("Server did not recognize the value of HTTP Header SOAPAction.");
    }
    // ASMX binds parameters in the WSDL's order.
    let positions: Vec<Option<usize>> = YARDI_PARAMETERS.iter().map(|p| body.find(&format!("<{p}>"))).collect();
    if positions.iter().any(Option::is_none) || positions.windows(2).any(|w| w[0] > w[1]) {
        return soap_fault("Server was unable to read request. ---> There is an error in XML document.");
    }
    // Errors come in the 200 result as bare text (GetCovered checks for "Login failed.").
    if !authorized {
        return soap_ok(yardi_result("Login failed."));
    }
    if let Some(answer) = injected_fault(
        &state,
        property,
        || soap_ok(yardi_result("Login failed.")),
        || {
            soap_ok(yardi_result(&xml(
                "<Messages><Message messageType=\"Error\">Invalid YardiPropertyId</Message></Messages>",
            )))
        },
    )
    .await
    {
        return answer;
    }
    let inner = state.lock().unwrap();
    let leases = leases_of(&inner.controls.data, property);
    let mut households = String::new();
    for l in &leases {
        let head = inner.heads.get(&l.id).copied();
        let mut customers = String::new();
        for t in &l.tenants {
            let is_head = Some(t.id) == head;
            let kind = if is_head {
                person_status(t, "current resident", "future resident", "former resident")
            } else {
                "customer".to_string()
            };
            let email = t.email.as_ref().map(|e| format!("<Email>{}</Email>", xml(e))).unwrap_or_default();
            let phones: String = t
                .phones
                .iter()
                .map(|(n, kind)| {
                    let kind = if kind == "Cell" { "cell" } else { "home" };
                    format!("<Phone Type=\"{kind}\"><PhoneDescription>{kind}</PhoneDescription><PhoneNumber>{}</PhoneNumber></Phone>", xml(n))
                })
                .collect();
            let date = |name: &str, value: &Option<String>| {
                value.as_ref().map(|v| format!("<{name}>{v}</{name}>")).unwrap_or_default()
            };
            // A roommate who moved out carries their move-out; one who never moved in `0001-01-01`.
            let moved_out = if t.status == "MovedOut" {
                date("ActualMoveOut", &t.move_out.clone().or_else(|| Some("2025-06-30".into())))
            } else {
                String::new()
            };
            let lease = if is_head {
                format!(
                    "<Lease><CurrentRent>850.00</CurrentRent>{}{}{}{}{moved_out}<ResponsibleForLease>true</ResponsibleForLease></Lease>",
                    date("ExpectedMoveInDate", &t.move_in),
                    date("LeaseFromDate", &l.from),
                    date("LeaseToDate", &l.to),
                    date("ActualMoveIn", &t.move_in.clone().filter(|_| t.status != "Future")),
                )
            } else {
                let moved_in =
                    t.move_in.clone().filter(|_| t.status != "Future").unwrap_or_else(|| "0001-01-01".into());
                format!(
                    "<Lease><ActualMoveIn>{moved_in}</ActualMoveIn>{moved_out}<ResponsibleForLease>true</ResponsibleForLease></Lease>"
                )
            };
            let property_block = if is_head {
                format!(
                    "<Description>{}</Description><CustomerID>{}</CustomerID><Property><PrimaryID>{property}</PrimaryID>\
                     <MarketingName>Harbor View</MarketingName><UnitID>{}</UnitID></Property>",
                    18000 + t.id,
                    yardi_code(&inner, t.id),
                    xml(&l.unit)
                )
            } else {
                format!("<CustomerID>{}</CustomerID>", yardi_code(&inner, t.id))
            };
            customers.push_str(&format!(
                "<Customer Type=\"{kind}\">{property_block}<Name><FirstName>{}</FirstName><MiddleName/><LastName>{}</LastName></Name>\
                 <Address Type=\"current\"><Address1>1 Harbor Way</Address1>{email}<City>Boston</City><State>MA</State><PostalCode>02110</PostalCode></Address>\
                 {phones}{lease}</Customer>",
                xml(&t.first_name),
                xml(&t.last_name),
            ));
        }
        households.push_str(&format!(
            "<RT_Customer><CustomerID>{}</CustomerID><Customers>{customers}</Customers><RT_Unit><UnitID>{}</UnitID>\
             <NumberOccupants Total=\"{}\"/></RT_Unit><PaymentAccepted>0</PaymentAccepted><RTServiceTransactions/></RT_Customer>",
            head.map(|h| yardi_code(&inner, h)).unwrap_or_default(),
            xml(&l.unit),
            l.tenants.len(),
        ));
    }
    let document = format!(
        "<ResidentTransactions xmlns=\"http://yardi.com/ResidentTransactions20\" xmlns:MITS=\"http://my-company.com/namespace\">\
         <Property><PropertyID><Identification Type=\"other\"><PrimaryID>{property}</PrimaryID><MarketingName>Harbor View</MarketingName>\
         </Identification></PropertyID>{households}</Property></ResidentTransactions>"
    );
    // Odd property IDs get the result as an XML element, even ones as escaped text: both happen.
    let result = if property % 2 == 1 { document } else { xml(&document) };
    soap_ok(yardi_result(&result))
}

// ---- RealPage OneSite: RPX getresidentlist, auth block, faults in 500 and 200 ----
// Shape: `realpage/rpx-getresidentlistinfo-response-trimmed-300-of-962.json` (converted JSON: a
// captured resident is the template, turned back into XML by element name); faults:
// `realpage/rpx-error-and-fault-responses.json`; request: `realpage/request-examples-and-notes.txt`
// and the public callers' `<getresidentlistargs><ExtensionData/></getresidentlistargs>`.

/// A captured current head of household: every element a resident record has, in capture order
/// (read once).
fn realpage_template() -> &'static Value {
    static TEMPLATE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let capture = sample("realpage/rpx-getresidentlistinfo-response-trimmed-300-of-962.json");
        let residents = &capture["residents_info"]["data"]["getresidentlistinfoResult"]["residentlist"]["resident"];
        residents
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["leasestatus"] == "Current" && r["hohbit"] == "TRUE")
            .expect("a captured current resident")
            .clone()
    })
}

/// The captured faults (read once).
fn realpage_faults() -> &'static Value {
    static FAULTS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    FAULTS.get_or_init(|| sample("realpage/rpx-error-and-fault-responses.json"))
}

/// The captured HTTP 200 fault (`LicenseKey is not authorized to call the method.`).
fn realpage_license_fault() -> Response {
    soap_ok(pms_sync::fuzzing::rebuild_xml("s:Fault", &realpage_faults()["activity_types"]["data"]))
}

async fn realpage(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).to_string();
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let field =
        |name: &str| between(&body, &format!("<tem:{name}>"), &format!("</tem:{name}>")).unwrap_or("").to_string();
    let property: i64 = field("siteid").parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/rpx {action} site={property}"));
        field("pmcid") == inner.credentials["pmcId"] && field("licensekey") == xml(&inner.credentials["licenseKey"])
    };
    if action != "\"http://tempuri.org/IRPXService/getresidentlist\"" || !is_xml_post(&headers) {
        let raw = realpage_faults()["guest_cards"]["raw"].as_str().unwrap().to_string();
        return (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/xml; charset=utf-8")], raw).into_response();
    }
    // WCF binds the operation's arguments element; every public caller sends it.
    let args = between(&body, "<tem:getresidentlistargs>", "</tem:getresidentlistargs>");
    if !args.is_some_and(|a| a.contains("<tem:ExtensionData/>") || a.contains("<tem:ExtensionData>")) {
        return soap_fault("Object reference not set to an instance of an object.");
    }
    if !authorized {
        return soap_fault("Invalid LicenseKey or PMCID.");
    }
    if let Some(answer) =
        injected_fault(&state, property, || soap_fault("Invalid LicenseKey or PMCID."), realpage_license_fault).await
    {
        return answer;
    }
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let template = realpage_template();
    let mut residents = String::new();
    let mut member = |t: &Tenant, l: &Lease, head: bool, guarantor: bool| {
        let mut r = template.clone();
        let set = |r: &mut Value, k: &str, v: Value| {
            assert!(r.get(k).is_some(), "{k} is not a captured resident element");
            r[k] = v;
        };
        let lease_status = match (l.status.as_str(), t.status.as_str()) {
            ("Future", _) | (_, "Future") => "Future Lease",
            ("Past", _) => "Former",
            _ => "Current",
        };
        let contact = if guarantor {
            "Guarantor"
        } else if t.status == "MovedOut" {
            "Former resident"
        } else {
            "Lease signer"
        };
        let (relationship, kind) = match (guarantor, head) {
            (true, _) => ("Guarantor", "P0000013"),
            (false, true) => ("Head of household", "H"),
            (false, false) => ("Adult co-head of household", "ADULTCHH"),
        };
        let flag = |b: bool| json!(if b { "TRUE" } else { "FALSE" });
        set(&mut r, "residentmemberid", json!(t.id.to_string()));
        set(&mut r, "residenthouseholdid", json!(l.id.to_string()));
        set(&mut r, "leaseid", json!(l.id.to_string()));
        set(&mut r, "unitid", json!((l.id * 10).to_string()));
        set(&mut r, "unitnumber", json!(l.unit));
        set(&mut r, "firstname", json!(t.first_name));
        set(&mut r, "lastname", json!(t.last_name));
        set(&mut r, "billingname", json!(format!("{} {}", t.first_name, t.last_name)));
        // The capture's placeholder for "no email".
        set(&mut r, "email", json!(t.email.clone().unwrap_or_else(|| "none@nowhere.com".into())));
        set(&mut r, "cellphone", json!(t.phones.first().map(|(n, _)| n.clone())));
        set(&mut r, "homephone", Value::Null);
        set(&mut r, "workphone", Value::Null);
        set(&mut r, "leasestatus", json!(lease_status));
        set(&mut r, "contactstatus", json!(contact));
        set(&mut r, "residentrelationship", json!(relationship));
        set(&mut r, "residenttype", json!(kind));
        set(&mut r, "guarantorbit", flag(guarantor));
        set(&mut r, "hohbit", flag(head && !guarantor));
        set(&mut r, "occupantbit", flag(!guarantor));
        set(&mut r, "inevict", json!(if l.eviction_pending { "Y" } else { "N" }));
        set(&mut r, "begindate", json!(l.from));
        set(&mut r, "enddate", json!(l.to));
        set(&mut r, "moveindate", json!(t.move_in));
        set(&mut r, "moveoutdate", json!(t.move_out));
        set(&mut r, "noticegivendate", json!(t.notice_given));
        set(&mut r, "dateofbirth", json!("1900-01-01"));
        residents.push_str(&pms_sync::fuzzing::rebuild_xml("resident", &r));
    };
    for l in &leases {
        for (i, t) in l.tenants.iter().enumerate() {
            member(t, l, i == 0, false);
        }
        for c in &l.cosigners {
            member(c, l, false, true);
        }
    }
    soap_ok(format!(
        "<getresidentlistResponse xmlns=\"http://tempuri.org/\"><getresidentlistResult><residentlist>{residents}</residentlist>\
         </getresidentlistResult></getresidentlistResponse>"
    ))
}
